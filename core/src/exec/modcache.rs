//! The shared module cache: module repositories are mirrored with git2 and every pinned commit is
//! exported once per machine into `trees/<commit>`, from which render vendors module code into its
//! output. Tags are treated as immutable: a tag found in the mirror is not fetched again unless
//! `refresh` is asked for.

use crate::error::{ConfigError, Error, GitError, Result};
use crate::model::interface::ModuleInterface;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::model::ResolvedModule;

/// Location of the cache: `--cache-dir`, `GITOPS_CACHE_DIR`, `$XDG_CACHE_HOME/gitops-toolkit`, or
/// `~/.cache/gitops-toolkit`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("GITOPS_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("gitops-toolkit");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("gitops-toolkit")
}

/// The module cache, shared by the threads of one process.
pub struct ModuleCache {
    dir: PathBuf,
    refresh: bool,
    resolved: Mutex<HashMap<(String, String, String), ResolvedModule>>,
    fetched: Mutex<HashMap<String, ()>>,
    interfaces: Mutex<HashMap<String, Arc<ModuleInterface>>>,
    /// What the user should know but that did not stop a resolution (an unreachable repository
    /// whose cached tag was used); drained by [`ModuleCache::take_warnings`].
    warnings: Mutex<Vec<String>>,
}

fn url_key(url: &str) -> String {
    crate::model::load::sha256_hex(url.as_bytes())[..24].to_owned()
}

impl ModuleCache {
    pub fn new(dir: PathBuf, refresh: bool) -> ModuleCache {
        ModuleCache {
            dir,
            refresh,
            resolved: Mutex::default(),
            fetched: Mutex::default(),
            interfaces: Mutex::default(),
            warnings: Mutex::default(),
        }
    }

    /// The warnings collected since the last call, oldest first (the library does not print:
    /// callers hand them to their [`crate::report::Reporter`]).
    pub fn take_warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }

    /// Hands the collected warnings to `reporter` (call it after resolving modules).
    pub fn report_warnings(&self, reporter: &dyn crate::report::Reporter) {
        for w in self.take_warnings() {
            reporter.warning(&w);
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Opens (creating it on first use) the mirror of `url`. Creation and fetches hold a lock file
    /// next to the mirror, so concurrent processes do not trip over each other's ref updates; the
    /// in-process mutex does the same for threads.
    fn mirror(&self, url: &str) -> Result<git2::Repository> {
        let repos = self.dir.join("repos");
        let path = repos.join(format!("{}.git", url_key(url)));
        if let Ok(r) = git2::Repository::open_bare(&path) {
            return Ok(r);
        }
        let _guard = self.lock(url)?;
        match git2::Repository::open_bare(&path) {
            Ok(r) => Ok(r),
            Err(_) => Ok(git2::Repository::init_bare(&path)
                .map_err(GitError::op("init cache mirror", path.display()))?),
        }
    }

    fn lock(&self, url: &str) -> Result<(std::sync::MutexGuard<'_, HashMap<String, ()>>, File)> {
        let guard = self.fetched.lock().map_err(|_| poisoned())?;
        let repos = self.dir.join("repos");
        std::fs::create_dir_all(&repos).map_err(Error::io(&repos))?;
        let lock_path = repos.join(format!("{}.lock", url_key(url)));
        let lock = File::create(&lock_path).map_err(Error::io(&lock_path))?;
        lock.lock().map_err(Error::io(&lock_path))?;
        Ok((guard, lock))
    }

    /// Fetches all tags of `url` into its mirror.
    fn fetch(&self, repo: &git2::Repository, url: &str) -> Result<()> {
        let (mut fetched, _lock) = self.lock(url)?;
        // A local path is fetched as git fetches it (file://); a relative one from where we run.
        let source = match Path::new(url) {
            p if p.is_relative() && p.exists() => std::path::absolute(p)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| url.to_owned()),
            _ => url.to_owned(),
        };
        crate::exec::transport::fetch(repo.path(), &source, &["+refs/tags/*:refs/tags/*"])?;
        fetched.insert(url.to_owned(), ());
        Ok(())
    }

    fn tags(repo: &git2::Repository) -> Vec<String> {
        let mut tags: Vec<String> = repo
            .tag_names(None)
            .map(|t| t.iter().flatten().map(str::to_owned).collect())
            .unwrap_or_default();
        tags.sort();
        tags
    }

    /// Resolves `git_ref` (a tag) of `url` to a commit and exports its tree into the cache.
    /// `origin` is the package file and key to blame when the tag or path does not exist.
    pub fn resolve(
        &self,
        url: &str,
        git_ref: &str,
        path: &str,
        origin: impl Fn(String, String) -> ConfigError,
    ) -> Result<ResolvedModule> {
        self.resolve_with(url, git_ref, path, false, origin)
    }

    /// Like [`ModuleCache::resolve`], but with `fresh` the tags are fetched again (once per
    /// process and repository) even when the cache has the tag: protected environments must see a
    /// tag that moved since certification.
    pub fn resolve_with(
        &self,
        url: &str,
        git_ref: &str,
        path: &str,
        fresh: bool,
        origin: impl Fn(String, String) -> ConfigError,
    ) -> Result<ResolvedModule> {
        let key = (url.to_owned(), git_ref.to_owned(), path.to_owned());
        let fresh = self.refresh || fresh;
        let fetched_now = self
            .fetched
            .lock()
            .map_err(|_| poisoned())?
            .contains_key(url);
        // A memo made without fetching must not answer a request that wants fresh tags.
        if !fresh || fetched_now {
            if let Some(r) = self.resolved.lock().map_err(|_| poisoned())?.get(&key) {
                return Ok(r.clone());
            }
        }
        let repo = self.mirror(url)?;
        fn lookup<'r>(repo: &'r git2::Repository, git_ref: &str) -> Option<git2::Commit<'r>> {
            repo.revparse_single(&format!("refs/tags/{git_ref}"))
                .ok()
                .and_then(|o| o.peel_to_commit().ok())
        }
        let already_fetched = self
            .fetched
            .lock()
            .map_err(|_| poisoned())?
            .contains_key(url);
        let mut commit = if fresh && !already_fetched {
            None
        } else {
            lookup(&repo, git_ref)
        };
        if commit.is_none() && !already_fetched {
            match self.fetch(&repo, url) {
                Ok(()) => commit = lookup(&repo, git_ref),
                // Fresh tags were wanted (a protected render) but the repository is unreachable:
                // the cached commit is the one that was resolved (and certified) before, so
                // deploying it is safe; say so instead of failing. An explicit --refresh fails.
                Err(e) if !self.refresh && lookup(&repo, git_ref).is_some() => {
                    self.warnings.lock().map_err(|_| poisoned())?.push(format!(
                        "cannot fetch tags of {url} ({e}); using the cached {git_ref}"
                    ));
                    self.fetched
                        .lock()
                        .map_err(|_| poisoned())?
                        .insert(url.to_owned(), ());
                    commit = lookup(&repo, git_ref);
                }
                Err(e) => return Err(e),
            }
        }
        let Some(commit) = commit else {
            let tags = Self::tags(&repo);
            let allowed = if tags.is_empty() {
                format!("a tag of {url} (it has none)")
            } else {
                format!("a tag of {url}: {}", tags.join(", "))
            };
            return Err(origin(
                format!(
                    "tag {}, which {url} does not have",
                    crate::model::names::shown(git_ref)
                ),
                allowed,
            )
            .into());
        };
        let root_tree = commit
            .tree()
            .map_err(GitError::op("read tree of", commit.id()))?;
        let tree_id = if path.is_empty() {
            root_tree.id()
        } else {
            match root_tree.get_path(Path::new(path)) {
                Ok(entry) if entry.kind() == Some(git2::ObjectType::Tree) => entry.id(),
                _ => {
                    return Err(origin(
                        format!(
                            "path {} not found in {url} at {git_ref}",
                            crate::model::names::shown(path)
                        ),
                        "a directory of the module repository".into(),
                    )
                    .into())
                }
            }
        };
        self.export(&repo, &commit.id().to_string(), &root_tree)?;
        let resolved = ResolvedModule {
            url: url.to_owned(),
            git_ref: git_ref.to_owned(),
            commit: commit.id().to_string(),
            tree: tree_id.to_string(),
            path: path.to_owned(),
            root_tree: if path.is_empty() {
                String::new()
            } else {
                root_tree.id().to_string()
            },
        };
        self.resolved
            .lock()
            .map_err(|_| poisoned())?
            .insert(key, resolved.clone());
        Ok(resolved)
    }

    /// Directory holding what vendoring copies of a resolved module: the module directory, or the
    /// whole repository tree for a module in a sub-directory ([`ResolvedModule::vendored_tree`]).
    pub fn vendored_dir(&self, m: &ResolvedModule) -> PathBuf {
        if m.path.is_empty() {
            self.module_dir(m)
        } else {
            self.repo_dir(m)
        }
    }

    /// Directory holding the whole repository tree of a resolved module's commit.
    fn repo_dir(&self, m: &ResolvedModule) -> PathBuf {
        self.dir.join("trees").join(&m.commit)
    }

    /// Directory holding the module code of a resolved module.
    pub fn module_dir(&self, m: &ResolvedModule) -> PathBuf {
        let base = self.repo_dir(m);
        if m.path.is_empty() {
            base
        } else {
            base.join(&m.path)
        }
    }

    /// The module's variables and outputs, and the remote module sources its code reaches,
    /// parsed once per process.
    pub fn interface(&self, m: &ResolvedModule) -> Result<Arc<ModuleInterface>> {
        let key = format!("{}:{}", m.commit, m.path);
        if let Some(i) = self.interfaces.lock().map_err(|_| poisoned())?.get(&key) {
            return Ok(i.clone());
        }
        let mut parsed = ModuleInterface::read(&self.module_dir(m))?;
        parsed.remote_sources =
            crate::model::interface::remote_sources(&self.repo_dir(m), &m.path, &parsed);
        let parsed = Arc::new(parsed);
        self.interfaces
            .lock()
            .map_err(|_| poisoned())?
            .insert(key, parsed.clone());
        Ok(parsed)
    }

    /// Writes the tree of `commit` to `trees/<commit>` once: into a temporary directory first, then
    /// renamed, so a reader never sees half a tree.
    fn export(&self, repo: &git2::Repository, commit: &str, tree: &git2::Tree<'_>) -> Result<()> {
        let trees = self.dir.join("trees");
        let dest = trees.join(commit);
        if dest.is_dir() {
            return Ok(());
        }
        std::fs::create_dir_all(&trees).map_err(Error::io(&trees))?;
        let tmp = tempfile::Builder::new()
            .prefix(".export-")
            .tempdir_in(&trees)
            .map_err(Error::io(&trees))?;
        let mut failure: Option<Error> = None;
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            let Some(name) = entry.name() else {
                return git2::TreeWalkResult::Skip;
            };
            let target = tmp.path().join(dir).join(name);
            let result = match entry.kind() {
                Some(git2::ObjectType::Tree) => {
                    std::fs::create_dir_all(&target).map_err(Error::io(&target))
                }
                // Symlinks and submodules are not vendored: module code must be self-contained.
                Some(git2::ObjectType::Blob) if entry.filemode() != 0o120000 => {
                    write_blob(repo, entry, &target)
                }
                _ => Ok(()),
            };
            match result {
                Ok(()) => git2::TreeWalkResult::Ok,
                Err(e) => {
                    failure = Some(e);
                    git2::TreeWalkResult::Abort
                }
            }
        })
        .map_err(|e| {
            failure
                .take()
                .unwrap_or_else(|| GitError::op("export tree of", commit)(e).into())
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        let staged = tmp.keep();
        if std::fs::rename(&staged, &dest).is_err() {
            // Another process exported the same commit first; theirs is identical.
            let _ = std::fs::remove_dir_all(&staged);
        }
        Ok(())
    }
}

fn write_blob(repo: &git2::Repository, entry: &git2::TreeEntry<'_>, target: &Path) -> Result<()> {
    let blob = repo
        .find_blob(entry.id())
        .map_err(GitError::op("read blob", entry.id()))?;
    std::fs::write(target, blob.content()).map_err(Error::io(target))?;
    if entry.filemode() == 0o100755 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o755))
            .map_err(Error::io(target))?;
    }
    Ok(())
}

fn poisoned() -> Error {
    Error::Process("internal error: a worker thread panicked".into())
}

/// Copies a directory tree (regular files and directories only), keeping each file's permission
/// bits. The source tree is read once per process and kept in memory: `render --all` vendors the
/// same few module trees into thousands of deployments, and writing from memory spares the
/// per-file open, stat, read and chmod of the source (bench/ B2).
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let tree = MemTree::load(from)?;
    std::fs::create_dir_all(to).map_err(Error::io(to))?;
    for entry in tree.entries.iter() {
        match entry {
            MemEntry::Dir(rel) => {
                let dir = to.join(rel);
                std::fs::create_dir(&dir).map_err(Error::io(&dir))?;
            }
            MemEntry::File { rel, bytes, mode } => {
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                let target = to.join(rel);
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(*mode)
                    .open(&target)
                    .map_err(Error::io(&target))?;
                f.write_all(bytes).map_err(Error::io(&target))?;
            }
        }
    }
    Ok(())
}

/// A directory tree read into memory, in pre-order (a directory before what it holds), sorted.
struct MemTree {
    entries: Vec<MemEntry>,
}

enum MemEntry {
    Dir(PathBuf),
    File {
        rel: PathBuf,
        bytes: Vec<u8>,
        mode: u32,
    },
}

/// Trees already read by this process, by source path. Sources are exports of a pinned commit
/// (immutable once renamed into place) or checked-out working copies read within one run.
static MEM_TREES: std::sync::OnceLock<Mutex<HashMap<PathBuf, Arc<MemTree>>>> =
    std::sync::OnceLock::new();

/// Largest tree kept in memory; a bigger one is read again for each copy.
const MEM_TREE_MAX_BYTES: usize = 16 * 1024 * 1024;

impl MemTree {
    fn load(from: &Path) -> Result<Arc<MemTree>> {
        let trees = MEM_TREES.get_or_init(Default::default);
        if let Some(t) = trees.lock().map_err(|_| poisoned())?.get(from) {
            return Ok(t.clone());
        }
        let mut tree = MemTree {
            entries: Vec::new(),
        };
        let mut bytes = 0;
        tree.read(from, Path::new(""), &mut bytes)?;
        let tree = Arc::new(tree);
        if bytes <= MEM_TREE_MAX_BYTES {
            trees
                .lock()
                .map_err(|_| poisoned())?
                .insert(from.to_path_buf(), tree.clone());
        }
        Ok(tree)
    }

    fn read(&mut self, base: &Path, rel: &Path, total: &mut usize) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir = base.join(rel);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(Error::io(&dir))?
            .collect::<std::io::Result<_>>()
            .map_err(Error::io(&dir))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let kind = entry.file_type().map_err(Error::io(entry.path()))?;
            let child = rel.join(entry.file_name());
            if kind.is_dir() {
                self.entries.push(MemEntry::Dir(child.clone()));
                self.read(base, &child, total)?;
            } else if kind.is_file() {
                let path = entry.path();
                let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
                let mode = entry
                    .metadata()
                    .map_err(Error::io(&path))?
                    .permissions()
                    .mode()
                    & 0o7777;
                *total += bytes.len();
                self.entries.push(MemEntry::File {
                    rel: child,
                    bytes,
                    mode,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module repository with one commit tagged `v1.0.0`.
    fn module_repo(dir: &Path) {
        let repo = git2::Repository::init(dir).unwrap();
        std::fs::write(dir.join("main.tf"), "variable \"x\" {}\n").unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new("main.tf")).unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        let commit = repo
            .commit(Some("HEAD"), &sig, &sig, "m", &tree, &[])
            .unwrap();
        repo.tag_lightweight("v1.0.0", &repo.find_object(commit, None).unwrap(), false)
            .unwrap();
    }

    #[test]
    fn an_unreachable_repository_with_a_cached_tag_is_a_warning_not_a_print() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("module");
        module_repo(&src);
        let url = format!("file://{}", src.display());
        let origin =
            |found: String, allowed: String| ConfigError::new("p.toml", None, found, allowed);
        let first = ModuleCache::new(tmp.path().join("cache"), false)
            .resolve(&url, "v1.0.0", "", origin)
            .unwrap();
        std::fs::remove_dir_all(&src).unwrap();
        let cache = ModuleCache::new(tmp.path().join("cache"), false);
        let again = cache
            .resolve_with(&url, "v1.0.0", "", true, origin)
            .unwrap();
        assert_eq!(again.commit, first.commit);
        let warnings = cache.take_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with(&format!("cannot fetch tags of {url} ("))
                && warnings[0].ends_with("); using the cached v1.0.0"),
            "{}",
            warnings[0]
        );
        assert!(cache.take_warnings().is_empty(), "taken once");
        // An explicit refresh fails instead.
        assert!(ModuleCache::new(tmp.path().join("cache"), true)
            .resolve(&url, "v1.0.0", "", origin)
            .is_err());
    }
}
