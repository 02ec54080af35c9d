//! A source-of-truth repository: its settings, its files by kind, and its git state.

use crate::error::{ConfigError, Error, GitError, Result};
use crate::model::load::{self, SourceFile};
use crate::model::names::{self, shown};
use crate::model::{Deployment, Environment, GitopsConfig, Package};
use std::fmt;
use std::path::{Path, PathBuf};

/// `<env>/<name>`: one deployment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct DeploymentId {
    pub env: String,
    pub name: String,
}

impl DeploymentId {
    /// Parses `<env>/<name>` as given on a command line.
    pub fn parse(s: &str) -> Result<DeploymentId> {
        let (env, name) = s.split_once('/').ok_or_else(|| {
            Error::Usage(format!(
                "deployment {}: expected <env>/<name>, e.g. dev/web-frontend",
                shown(s)
            ))
        })?;
        for (what, v) in [("environment", env), ("name", name)] {
            if !names::is_dns_label(v) {
                return Err(Error::Usage(format!(
                    "deployment {}: {what} {} is not {}",
                    shown(s),
                    shown(v),
                    names::DNS_LABEL_RULE
                )));
            }
        }
        Ok(DeploymentId {
            env: env.to_owned(),
            name: name.to_owned(),
        })
    }

    pub fn path(&self) -> PathBuf {
        load::deployment_path(&self.env, &self.name)
    }
}

impl fmt::Display for DeploymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.env, self.name)
    }
}

/// An opened source-of-truth repository.
#[derive(Debug, Clone)]
pub struct SourceRepo {
    pub root: PathBuf,
    /// What relative `module_roots` resolve against: `root`, except for a snapshot of an older
    /// commit ([`SourceRepo::open_snapshot`]), whose module roots are still the live repo's.
    pub module_base: PathBuf,
    pub config: GitopsConfig,
    pub config_src: SourceFile,
}

/// The directories of a source-of-truth repository whose files the toolkit reads (with
/// `gitops.toml` at the root, its inputs).
pub const INPUT_DIRS: [&str; 6] = [
    "deployments",
    "environments",
    "profiles",
    "packages",
    "policies",
    "certifications",
];

/// Whether `rel` (relative to the repo root) is a file the toolkit would read: `gitops.toml`, a
/// `*.toml` or `*.rego` below one of the [`INPUT_DIRS`]. Editor backups (`x.toml~`, `.x.swp`)
/// are not.
fn is_ignored_input(rel: &Path) -> bool {
    let under_inputs = rel
        .components()
        .next()
        .is_some_and(|c| INPUT_DIRS.iter().any(|d| c.as_os_str() == *d));
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    rel == Path::new("gitops.toml")
        || (under_inputs && (name.ends_with(".toml") || name.ends_with(".rego")))
}

/// Whether the index or HEAD of `repo` holds `path` (relative to its work tree).
fn tracks(repo: &git2::Repository, path: &Path) -> bool {
    let in_index = repo
        .index()
        .ok()
        .is_some_and(|i| i.get_path(path, 0).is_some());
    in_index
        || repo
            .head()
            .and_then(|h| h.peel_to_tree())
            .is_ok_and(|t| t.get_path(path).is_ok())
}

/// The commit HEAD points to; a repository without one is exit 2 ("no commit yet"), not a git
/// failure: the renders of a source of truth name the commit they come from.
pub fn head_commit<'r>(repo: &'r git2::Repository, root: &Path) -> Result<git2::Commit<'r>> {
    match repo.head() {
        Err(e) if e.code() == git2::ErrorCode::UnbornBranch => Err(Error::Usage(format!(
            "--repo {}: no commit yet: git is the source of truth and a render names the commit \
             it comes from; commit the repository's files first",
            root.display()
        ))),
        head => head
            .and_then(|h| h.peel_to_commit())
            .map_err(|e| GitError::op("read HEAD of", root.display())(e).into()),
    }
}

/// Protected environments are rendered, planned and applied only from what git holds: a render
/// from a dirty source of truth (`source_dirty`: a modified, staged, untracked or git-ignored
/// input file) of a deployment in a protected environment is refused (exit 3). The one check for
/// `gitops-render`, `gitops-plan` and `gitops-apply`.
pub fn refuse_dirty_protected(
    deployment: &str,
    environment: &str,
    protected: bool,
    dirty: bool,
) -> Result<()> {
    if protected && dirty {
        return Err(Error::Refused(format!(
            "{deployment} is in protected environment {environment}, and its render comes from a \
             source of truth with uncommitted changes (source_dirty: a modified, untracked or \
             git-ignored input file): protected environments are rendered, planned and applied \
             only from committed files; commit (or remove) the changes and render again"
        )));
    }
    Ok(())
}

/// The names of the `.toml` files in `dir`, without the extension, in directory order.
fn toml_stems(dir: &Path) -> std::io::Result<Vec<String>> {
    Ok(std::fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".toml"))
                .map(str::to_owned)
        })
        .collect())
}

fn file_stems(dir: &Path) -> Vec<String> {
    let mut out = toml_stems(dir).unwrap_or_default();
    out.sort();
    out
}

/// The versions of the `<version>.toml` files in `dir` (a component's packages or certification
/// records), in semver order; names that are not versions sort after by their text.
pub fn version_stems(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut versions = toml_stems(dir)?;
    versions.sort_by(
        |a, b| match (semver::Version::parse(a), semver::Version::parse(b)) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => a.cmp(b),
        },
    );
    Ok(versions)
}

impl SourceRepo {
    /// Opens the repository at `root` and reads `gitops.toml`.
    pub fn open(root: &Path) -> Result<SourceRepo> {
        let root = std::path::absolute(root).map_err(Error::io(root))?;
        if !root.is_dir() {
            return Err(Error::Usage(format!(
                "--repo {}: not a directory",
                root.display()
            )));
        }
        let config_src = SourceFile::read(&root, Path::new("gitops.toml"))?.ok_or_else(|| {
            Error::Usage(format!(
                "--repo {}: no gitops.toml (is this a source-of-truth repository?)",
                root.display()
            ))
        })?;
        let config = load::gitops(&config_src)?;
        Ok(SourceRepo {
            module_base: root.clone(),
            root,
            config,
            config_src,
        })
    }

    /// Opens `dir`, a copy of this repository's files at some commit (a drift check renders the
    /// deployed commit from one): its relative module roots still resolve against this repo.
    pub fn open_snapshot(&self, dir: &Path) -> Result<SourceRepo> {
        let mut snapshot = SourceRepo::open(dir)?;
        snapshot.module_base = self.module_base.clone();
        Ok(snapshot)
    }

    /// Names of the environments that have a file.
    pub fn environment_names(&self) -> Vec<String> {
        file_stems(&self.root.join("environments"))
    }

    /// Reads `environments/<env>.toml`; `blame` builds the error when it does not exist.
    pub fn environment(
        &self,
        env: &str,
        blame: impl FnOnce(String) -> ConfigError,
    ) -> Result<(Environment, SourceFile)> {
        let rel = Path::new("environments").join(format!("{env}.toml"));
        let src = SourceFile::read(&self.root, &rel)?
            .ok_or_else(|| blame(self.environment_names().join(", ")))?;
        Ok((load::environment(&src)?, src))
    }

    /// Reads `packages/<component>/<version>.toml`.
    pub fn package(
        &self,
        component: &str,
        version: &str,
        blame: impl FnOnce(String) -> ConfigError,
    ) -> Result<(Package, SourceFile)> {
        let rel = Path::new("packages")
            .join(component)
            .join(format!("{version}.toml"));
        let src = SourceFile::read(&self.root, &rel)?.ok_or_else(|| {
            let versions = file_stems(&self.root.join("packages").join(component));
            blame(if versions.is_empty() {
                format!(
                    "a component with packages: {}",
                    self.components().join(", ")
                )
            } else {
                format!("a version of {component}: {}", versions.join(", "))
            })
        })?;
        Ok((load::package(&src)?, src))
    }

    pub fn components(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.root.join("packages"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().is_dir())
                    .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Names of the deployments of `env` that have a request.
    pub fn deployment_names(&self, env: &str) -> Vec<String> {
        file_stems(&self.root.join("deployments").join(env))
    }

    /// Reads `deployments/<env>/<name>.toml`; `None` when there is no such request.
    pub fn request(&self, id: &DeploymentId) -> Result<Option<(Deployment, SourceFile)>> {
        match SourceFile::read(&self.root, &id.path())? {
            Some(src) => Ok(Some((load::deployment(&src)?, src))),
            None => Ok(None),
        }
    }

    /// Reads `deployments/<env>/<name>.toml`.
    pub fn deployment(&self, id: &DeploymentId) -> Result<(Deployment, SourceFile)> {
        let src = SourceFile::read(&self.root, &id.path())?.ok_or_else(|| {
            let known: Vec<String> = self
                .deployments()
                .unwrap_or_default()
                .iter()
                .map(ToString::to_string)
                .collect();
            Error::Usage(format!(
                "unknown deployment {id}: no {}; known deployments: {}",
                id.path().display(),
                names::list_or_none(&known)
            ))
        })?;
        Ok((load::deployment(&src)?, src))
    }

    /// Every deployment with a request file, sorted. Files whose names are not valid names are
    /// reported, not skipped: a request nobody renders would be silently ignored forever.
    pub fn deployments(&self) -> Result<Vec<DeploymentId>> {
        let base = self.root.join("deployments");
        let mut out = Vec::new();
        let Ok(envs) = std::fs::read_dir(&base) else {
            return Ok(out);
        };
        for env in envs.flatten().filter(|e| e.path().is_dir()) {
            let env_name = env.file_name().to_string_lossy().into_owned();
            for file in std::fs::read_dir(env.path())
                .map_err(Error::io(env.path()))?
                .flatten()
            {
                let file_name = file.file_name().to_string_lossy().into_owned();
                let Some(name) = file_name.strip_suffix(".toml") else {
                    continue;
                };
                if !names::is_dns_label(&env_name) || !names::is_dns_label(name) {
                    let rel = Path::new("deployments").join(&env_name).join(&file_name);
                    return Err(ConfigError::new(
                        rel,
                        None,
                        format!("file name {}", shown(&format!("{env_name}/{file_name}"))),
                        format!(
                            "deployments/<env>/<name>.toml where env and name are {}",
                            names::DNS_LABEL_RULE
                        ),
                    )
                    .into());
                }
                out.push(DeploymentId {
                    env: env_name.clone(),
                    name: name.to_owned(),
                });
            }
        }
        out.sort();
        Ok(out)
    }

    /// The git repository containing the source-of-truth repo, and the repo root relative to its
    /// work tree (empty when they are the same). A repo root below the work tree's top (a
    /// monorepo's subdirectory) must be tracked there: an untracked folder inside another
    /// repository is refused (exit 2) instead of recording that repository's HEAD.
    pub fn git(&self) -> Result<(git2::Repository, PathBuf)> {
        let repo = git2::Repository::discover(&self.root).map_err(|_| {
            Error::Usage(format!(
                "--repo {}: not inside a git repository: git is the source of truth",
                self.root.display()
            ))
        })?;
        let workdir = repo.workdir().map(Path::to_path_buf).ok_or_else(|| {
            Error::Usage("the source-of-truth repository must not be bare".into())
        })?;
        let workdir = workdir.canonicalize().map_err(Error::io(&workdir))?;
        let root = self.root.canonicalize().map_err(Error::io(&self.root))?;
        let prefix = root
            .strip_prefix(&workdir)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        if !prefix.as_os_str().is_empty() && !tracks(&repo, &prefix.join("gitops.toml")) {
            return Err(Error::Usage(format!(
                "--repo {}: its gitops.toml is not tracked by the git repository at {}, which \
                 encloses it (an untracked folder inside another repository): git is the source \
                 of truth, and that repository's HEAD does not hold these files; make {} a \
                 repository of its own (git init, commit) or add and commit it to {}",
                self.root.display(),
                workdir.display(),
                self.root.display(),
                workdir.display()
            )));
        }
        Ok((repo, prefix))
    }

    /// `HEAD` commit, and whether the files under the repo root differ from it: a modified,
    /// staged or untracked file anywhere under the root, or a git-ignored input file (see
    /// [`is_ignored_input`]) under one of the [`INPUT_DIRS`]: render reads it, git does not hold it.
    pub fn head(&self) -> Result<(String, bool)> {
        let (repo, prefix) = self.git()?;
        let head = head_commit(&repo, &self.root)?;
        let mut opts = git2::StatusOptions::new();
        opts.include_untracked(true).exclude_submodules(true);
        if !prefix.as_os_str().is_empty() {
            opts.pathspec(prefix.to_string_lossy().as_ref());
        }
        let status = GitError::op("read status of", self.root.display());
        let dirty = !repo.statuses(Some(&mut opts)).map_err(status)?.is_empty();
        Ok((
            head.id().to_string(),
            dirty || self.ignored_input(&repo, &prefix)?,
        ))
    }

    /// Whether a git-ignored file under the input directories is one the toolkit reads. Ignored
    /// files elsewhere (a `build/` output directory, `target/`) are not inputs and not looked at.
    fn ignored_input(&self, repo: &git2::Repository, prefix: &Path) -> Result<bool> {
        let mut opts = git2::StatusOptions::new();
        opts.include_untracked(false)
            .include_ignored(true)
            .recurse_ignored_dirs(true)
            .exclude_submodules(true);
        for input in INPUT_DIRS.iter().chain(["gitops.toml"].iter()) {
            opts.pathspec(prefix.join(input).to_string_lossy().as_ref());
        }
        let statuses = repo
            .statuses(Some(&mut opts))
            .map_err(GitError::op("read status of", self.root.display()))?;
        Ok(statuses.iter().any(|e| {
            e.status().is_ignored()
                && e.path()
                    .and_then(|p| Path::new(p).strip_prefix(prefix).ok())
                    .is_some_and(is_ignored_input)
        }))
    }

    /// The git URL of a module repository for `cloud`.
    pub fn module_url(&self, root: &str, repo: &str) -> String {
        let is_url = ["https://", "http://", "ssh://", "file://", "git://"]
            .iter()
            .any(|p| root.starts_with(p))
            || root.contains('@');
        if is_url {
            format!("{}/{repo}", root.trim_end_matches('/'))
        } else {
            // Lexical, not canonicalize(): the URL names the cache mirror, and it must stay the same
            // when the repository is (temporarily) unreachable and the cache is all we have.
            normalize(&self.module_base.join(root).join(repo))
                .display()
                .to_string()
        }
    }
}

/// Resolves `.` and `..` components without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::git;

    /// A source-of-truth repo at `<tmp>/<sub>` (the work tree's top when `sub` is empty) with
    /// gitops.toml and one request, committed.
    fn repo(sub: &str) -> (tempfile::TempDir, SourceRepo) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(sub);
        std::fs::create_dir_all(root.join("deployments/dev")).unwrap();
        std::fs::write(
            root.join("gitops.toml"),
            "[module_roots]\nsandbox = \"../m\"\n[backend]\ntype = \"local\"\n",
        )
        .unwrap();
        std::fs::write(root.join("deployments/dev/web.toml"), "x = 1\n").unwrap();
        git(dir.path(), &["init", "-q"]);
        git(dir.path(), &["add", "."]);
        git(dir.path(), &["commit", "-q", "-m", "init"]);
        let sot = SourceRepo::open(&root).unwrap();
        (dir, sot)
    }

    fn dirty(sot: &SourceRepo) -> bool {
        sot.head().unwrap().1
    }

    #[test]
    fn a_git_ignored_input_makes_the_render_dirty_an_ignored_output_does_not() {
        let (dir, sot) = repo("");
        assert!(!dirty(&sot));
        std::fs::write(
            dir.path().join(".gitignore"),
            "build/\ndeployments/dev/*.local.toml\n*.swp\n",
        )
        .unwrap();
        git(dir.path(), &["add", ".gitignore"]);
        git(dir.path(), &["commit", "-q", "-m", "ignore"]);
        // An ignored build output, an ignored editor file under the inputs: not inputs.
        std::fs::create_dir_all(dir.path().join("build/dev/web")).unwrap();
        std::fs::write(dir.path().join("build/dev/web/main.tf.json"), "{}").unwrap();
        std::fs::write(dir.path().join("deployments/dev/.web.toml.swp"), "x").unwrap();
        assert!(!dirty(&sot), "ignored files that are no inputs");
        // An ignored request: render reads it, git does not hold it.
        std::fs::write(dir.path().join("deployments/dev/api.local.toml"), "y = 2\n").unwrap();
        assert!(dirty(&sot), "an ignored input");
    }

    #[test]
    fn an_ignored_input_directory_makes_it_dirty_and_so_does_an_untracked_file() {
        let (dir, sot) = repo("");
        std::fs::write(dir.path().join(".gitignore"), "profiles/\n").unwrap();
        git(dir.path(), &["add", ".gitignore"]);
        git(dir.path(), &["commit", "-q", "-m", "ignore"]);
        std::fs::create_dir_all(dir.path().join("profiles/team")).unwrap();
        std::fs::write(dir.path().join("profiles/team/x.toml"), "").unwrap();
        assert!(dirty(&sot));
        std::fs::remove_dir_all(dir.path().join("profiles")).unwrap();
        assert!(!dirty(&sot));
        std::fs::write(dir.path().join("environments.toml"), "").unwrap();
        assert!(dirty(&sot), "an untracked file");
    }

    #[test]
    fn is_ignored_input_knows_the_files_the_toolkit_reads() {
        for yes in [
            "gitops.toml",
            "deployments/dev/web.toml",
            "policies/deny.rego",
            "certifications/web/1.0.0.toml",
        ] {
            assert!(is_ignored_input(Path::new(yes)), "{yes}");
        }
        for no in [
            "build/gitops.toml",
            "deployments/dev/web.toml~",
            "notes.toml",
            "deployments/.DS_Store",
        ] {
            assert!(!is_ignored_input(Path::new(no)), "{no}");
        }
    }

    #[test]
    fn a_tracked_subdirectory_of_a_monorepo_is_a_source_of_truth() {
        let (dir, sot) = repo("platform/live");
        let (_, prefix) = sot.git().unwrap();
        assert_eq!(prefix, Path::new("platform/live"));
        assert!(!dirty(&sot));
        // Ignored inputs are looked for below the prefix too.
        std::fs::write(dir.path().join(".gitignore"), "*.local.toml\n").unwrap();
        git(dir.path(), &["add", ".gitignore"]);
        git(dir.path(), &["commit", "-q", "-m", "ignore"]);
        std::fs::write(sot.root.join("deployments/dev/x.local.toml"), "").unwrap();
        assert!(dirty(&sot));
    }

    #[test]
    fn an_untracked_folder_inside_another_repository_is_refused() {
        let (dir, _) = repo("");
        let inner = dir.path().join("elsewhere/live");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::copy(dir.path().join("gitops.toml"), inner.join("gitops.toml")).unwrap();
        let sot = SourceRepo::open(&inner).unwrap();
        let err = sot.head().unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let text = err.to_string();
        assert!(
            text.contains("its gitops.toml is not tracked by the git repository at")
                && text.contains("an untracked folder inside another repository"),
            "{text}"
        );
        // Staged is tracked: a new subdirectory on its way into the monorepo.
        git(dir.path(), &["add", "elsewhere"]);
        assert!(sot.head().unwrap().1, "tracked, not committed yet: dirty");
    }

    #[test]
    fn a_repository_without_a_commit_is_invalid_input() {
        let (dir, sot) = repo("");
        std::fs::remove_dir_all(dir.path().join(".git")).unwrap();
        git(dir.path(), &["init", "-q"]);
        let err = sot.head().unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
        assert!(err.to_string().contains("no commit yet"), "{err}");
    }

    #[test]
    fn protected_environments_refuse_dirty_renders() {
        assert!(refuse_dirty_protected("prod/web", "prod", true, false).is_ok());
        assert!(refuse_dirty_protected("dev/web", "dev", false, true).is_ok());
        let err = refuse_dirty_protected("prod/web", "prod", true, true).unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(
            err.to_string()
                .contains("prod/web is in protected environment prod"),
            "{err}"
        );
    }
}
