//! Writing to the source-of-truth repository with git2: commits of a few files, annotated tags, and
//! pushes that survive a concurrent writer (on rejection: fetch, re-apply our change on the new
//! remote head, push again). Pushes and fetches go through the `git` program (exec/transport.rs).

use crate::error::{Error, GitError, Result};
use crate::exec::transport::Pushed;
use crate::model::sot::SourceRepo;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One file change, relative to the source-of-truth repo root; `None` deletes the file.
#[derive(Debug, Clone)]
pub struct Change {
    pub path: PathBuf,
    pub contents: Option<Vec<u8>>,
}

/// An annotated tag: its name, the commit it points to, and its message.
#[derive(Debug, Clone)]
pub struct TagInfo {
    pub name: String,
    pub target: String,
    pub message: String,
    pub tagger: String,
    pub time: i64,
}

pub struct GitRepo {
    pub repo: git2::Repository,
    /// The source-of-truth root relative to the git work tree ("" when they are the same).
    pub prefix: PathBuf,
    pub root: PathBuf,
}

fn err(op: &'static str, target: impl std::fmt::Display) -> impl FnOnce(git2::Error) -> Error {
    let f = GitError::op(op, target);
    move |e| Error::Git(f(e))
}

impl GitRepo {
    pub fn open(sot: &SourceRepo) -> Result<GitRepo> {
        let (repo, prefix) = sot.git()?;
        Ok(GitRepo {
            repo,
            prefix,
            root: sot.root.clone(),
        })
    }

    /// Who commits and tags: `GIT_AUTHOR_NAME`/`GIT_AUTHOR_EMAIL`, else the repository's git
    /// config, else `gitops-toolkit`.
    pub fn signature(&self) -> Result<git2::Signature<'static>> {
        let name = std::env::var("GIT_AUTHOR_NAME")
            .ok()
            .filter(|s| !s.is_empty());
        let email = std::env::var("GIT_AUTHOR_EMAIL")
            .ok()
            .filter(|s| !s.is_empty());
        if let (Some(n), Some(e)) = (&name, &email) {
            return git2::Signature::now(n, e).map_err(err("make signature", n));
        }
        match self.repo.signature() {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => git2::Signature::now(
                name.as_deref().unwrap_or("gitops-toolkit"),
                email.as_deref().unwrap_or("gitops-toolkit@localhost"),
            )
            .map_err(err("make signature", "gitops-toolkit")),
        }
    }

    pub fn head(&self) -> Result<git2::Oid> {
        crate::model::sot::head_commit(&self.repo, &self.root).map(|c| c.id())
    }

    fn in_tree(&self, rel: &Path) -> PathBuf {
        self.prefix.join(rel)
    }

    /// Builds a tree from `base` with `changes` applied (without touching the work tree).
    fn tree_with(&self, base: Option<&git2::Tree<'_>>, changes: &[Change]) -> Result<git2::Oid> {
        let mut index = git2::Index::new().map_err(err("create index", "memory"))?;
        if let Some(t) = base {
            index.read_tree(t).map_err(err("read tree", t.id()))?;
        }
        for c in changes {
            let path = self.in_tree(&c.path);
            match &c.contents {
                Some(bytes) => {
                    // An in-memory index cannot hash buffers itself: write the blob first.
                    let blob = self
                        .repo
                        .blob(bytes)
                        .map_err(err("write blob", path.display()))?;
                    let entry = git2::IndexEntry {
                        ctime: git2::IndexTime::new(0, 0),
                        mtime: git2::IndexTime::new(0, 0),
                        dev: 0,
                        ino: 0,
                        mode: 0o100644,
                        uid: 0,
                        gid: 0,
                        file_size: bytes.len() as u32,
                        id: blob,
                        flags: 0,
                        flags_extended: 0,
                        path: path.to_string_lossy().as_bytes().to_vec(),
                    };
                    index.add(&entry).map_err(err("stage", path.display()))?;
                }
                None => {
                    let _ = index.remove_path(&path);
                }
            }
        }
        index
            .write_tree_to(&self.repo)
            .map_err(err("write tree", self.root.display()))
    }

    /// Commits `changes` on top of HEAD (branch updated, work tree and index brought along).
    pub fn commit(&self, changes: &[Change], message: &str) -> Result<git2::Oid> {
        let head = self
            .repo
            .head()
            .and_then(|h| h.peel_to_commit())
            .map_err(err("read HEAD of", self.root.display()))?;
        let parent_tree = head.tree().map_err(err("read tree of", head.id()))?;
        let tree_id = self.tree_with(Some(&parent_tree), changes)?;
        let tree = self
            .repo
            .find_tree(tree_id)
            .map_err(err("find tree", tree_id))?;
        let sig = self.signature()?;
        let id = self
            .repo
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &[&head])
            .map_err(err("commit in", self.root.display()))?;
        self.sync_worktree(changes)?;
        Ok(id)
    }

    /// Writes the changed files into the work tree and the index, so `git status` stays clean.
    fn sync_worktree(&self, changes: &[Change]) -> Result<()> {
        let mut index = self
            .repo
            .index()
            .map_err(err("open index of", self.root.display()))?;
        for c in changes {
            let file = self.root.join(&c.path);
            let in_tree = self.in_tree(&c.path);
            match &c.contents {
                Some(bytes) => {
                    if let Some(parent) = file.parent() {
                        std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
                    }
                    std::fs::write(&file, bytes).map_err(Error::io(&file))?;
                    index
                        .add_path(&in_tree)
                        .map_err(err("stage", in_tree.display()))?;
                }
                None => {
                    if file.exists() {
                        std::fs::remove_file(&file).map_err(Error::io(&file))?;
                    }
                    let _ = index.remove_path(&in_tree);
                }
            }
        }
        index
            .write()
            .map_err(err("write index of", self.root.display()))
    }

    /// Creates the annotated tag `name` on `target`. An existing tag is an error.
    pub fn tag(&self, name: &str, target: git2::Oid, message: &str) -> Result<git2::Oid> {
        let obj = self
            .repo
            .find_object(target, None)
            .map_err(err("find", target))?;
        let sig = self.signature()?;
        self.repo
            .tag(name, &obj, &sig, message, false)
            .map_err(err("create tag", name))
    }

    /// Annotated and lightweight tags under `prefix` (e.g. `deploy/dev/web/`), sorted by name.
    pub fn tags(&self, prefix: &str) -> Result<Vec<TagInfo>> {
        // One walk of the references (loose and packed) that yields each reference itself:
        // listing tag names first and looking each up again read packed-refs once per tag.
        let references = self
            .repo
            .references_glob(&format!("refs/tags/{prefix}*"))
            .map_err(err("list tags of", self.root.display()))?;
        let mut out = Vec::new();
        for reference in references.flatten() {
            let Some(name) = reference
                .name()
                .and_then(|n| n.strip_prefix("refs/tags/"))
                .map(str::to_owned)
            else {
                continue;
            };
            let Ok(commit) = reference.peel_to_commit() else {
                continue;
            };
            let (message, tagger, time) = match reference.peel_to_tag() {
                Ok(tag) => (
                    tag.message().unwrap_or("").to_owned(),
                    tag.tagger()
                        .map(|t| t.name().unwrap_or("").to_owned())
                        .unwrap_or_default(),
                    tag.tagger().map(|t| t.when().seconds()).unwrap_or(0),
                ),
                Err(_) => (String::new(), String::new(), commit.time().seconds()),
            };
            out.push(TagInfo {
                name,
                target: commit.id().to_string(),
                message,
                tagger,
                time,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The next free sequence number under `prefix` (`deploy/dev/web/` -> 1, 2, ...).
    pub fn next_seq(&self, prefix: &str) -> Result<u32> {
        Ok(self
            .tags(prefix)?
            .iter()
            .filter_map(|t| t.name.strip_prefix(prefix)?.parse::<u32>().ok())
            .max()
            .unwrap_or(0)
            + 1)
    }

    /// The parents of `commit`, first parent first (a merge commit has two or more).
    pub fn parents(&self, commit: git2::Oid) -> Result<Vec<git2::Oid>> {
        Ok(self
            .repo
            .find_commit(commit)
            .map_err(err("find commit", commit))?
            .parent_ids()
            .collect())
    }

    /// The name of the remote to push to (`origin`), if the repository has one.
    pub fn remote(&self) -> Option<String> {
        self.repo
            .find_remote("origin")
            .ok()
            .map(|_| "origin".to_owned())
    }

    /// The branch HEAD is on. A detached HEAD is exit 2: a commit made there belongs to no
    /// branch (and cannot be pushed), so every command that commits asks this before it writes.
    pub fn branch(&self) -> Result<String> {
        self.head()?;
        let head = self
            .repo
            .head()
            .map_err(err("read HEAD of", self.root.display()))?;
        Some(head)
            .filter(git2::Reference::is_branch)
            .and_then(|h| h.shorthand().map(str::to_owned))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "{}: HEAD is detached (not on a branch): a commit made here would belong to \
                     no branch; check out a branch first (git switch <branch>); nothing was \
                     changed",
                    self.root.display()
                ))
            })
    }

    /// Where git runs for this repository: its work tree, or the git directory of a bare one.
    fn git_dir(&self) -> &Path {
        self.repo.workdir().unwrap_or_else(|| self.repo.path())
    }

    fn push_once(&self, remote: &str, refspecs: &[String]) -> Result<Pushed> {
        crate::exec::transport::push(self.git_dir(), remote, refspecs)
    }

    /// Fetches `specs` (the remote's tags always come along) from `remote`.
    fn fetch_refs(&self, remote: &str, specs: &[&str]) -> Result<()> {
        let mut all = specs.to_vec();
        all.push("+refs/tags/*:refs/tags/*");
        crate::exec::transport::fetch(self.git_dir(), remote, &all)
    }

    fn fetch(&self, remote: &str, branch: &str) -> Result<git2::Oid> {
        let spec = format!("+refs/heads/{branch}:refs/remotes/{remote}/{branch}");
        self.fetch_refs(remote, &[spec.as_str()])?;
        self.repo
            .refname_to_id(&format!("refs/remotes/{remote}/{branch}"))
            .map_err(err("read remote branch", branch))
    }

    /// Commits `changes` and pushes the branch when there is a remote. A rejected push (someone
    /// pushed first) is retried: fetch, re-apply the same changes on the new remote head, push.
    /// A detached HEAD is refused before anything is written ([`GitRepo::branch`]).
    pub fn commit_and_push(
        &self,
        changes: &[Change],
        message: &str,
        attempts: u32,
    ) -> Result<git2::Oid> {
        let branch = self.branch()?;
        let mut id = self.commit(changes, message)?;
        let Some(remote) = self.remote() else {
            return Ok(id);
        };
        let mut last = String::new();
        for _ in 0..attempts.max(1) {
            match self.push_once(
                &remote,
                &[format!("refs/heads/{branch}:refs/heads/{branch}")],
            )? {
                Pushed::Ok => return Ok(id),
                Pushed::Rejected(msg) => last = msg,
            }
            let upstream = self.fetch(&remote, &branch)?;
            let base = self
                .repo
                .find_commit(upstream)
                .map_err(err("find commit", upstream))?;
            let base_tree = base.tree().map_err(err("read tree of", upstream))?;
            let tree_id = self.tree_with(Some(&base_tree), changes)?;
            let tree = self
                .repo
                .find_tree(tree_id)
                .map_err(err("find tree", tree_id))?;
            let sig = self.signature()?;
            id = self
                .repo
                .commit(None, &sig, &sig, message, &tree, &[&base])
                .map_err(err("commit in", self.root.display()))?;
            // Bring the work tree from our local commit to the new one (their files arrive), then
            // move the branch and reset the index to the new tree.
            let mut co = git2::build::CheckoutBuilder::new();
            co.safe();
            self.repo
                .checkout_tree(tree.as_object(), Some(&mut co))
                .map_err(err("check out", &branch))?;
            self.repo
                .reference(
                    &format!("refs/heads/{branch}"),
                    id,
                    true,
                    "gitops: re-apply on the new remote head",
                )
                .map_err(err("update branch", &branch))?;
            let mut index = self
                .repo
                .index()
                .map_err(err("open index of", self.root.display()))?;
            index.read_tree(&tree).map_err(err("read tree", tree_id))?;
            index
                .write()
                .map_err(err("write index of", self.root.display()))?;
        }
        Err(Error::Process(format!(
            "git: push of {branch} to {remote} still rejected after {attempts} attempts: {last}"
        )))
    }

    /// Creates an annotated tag named by `name_for` (called again after a rejected push, e.g. to
    /// take the next sequence number once another run's tag arrived) and pushes it.
    pub fn tag_and_push(
        &self,
        name_for: &dyn Fn(&GitRepo) -> Result<String>,
        target: git2::Oid,
        message: &str,
        attempts: u32,
    ) -> Result<String> {
        let mut name = name_for(self)?;
        self.tag(&name, target, message)?;
        let Some(remote) = self.remote() else {
            return Ok(name);
        };
        let mut last = String::new();
        for _ in 0..attempts.max(1) {
            match self.push_once(&remote, &[format!("refs/tags/{name}:refs/tags/{name}")])? {
                Pushed::Ok => return Ok(name),
                Pushed::Rejected(msg) => last = msg,
            }
            // Someone else took this name: drop ours, learn theirs (the remote's tags: no branch
            // needed, a detached HEAD can record), pick again.
            let _ = self.repo.tag_delete(&name);
            self.fetch_refs(&remote, &[])?;
            name = name_for(self)?;
            self.tag(&name, target, message)?;
        }
        Err(Error::Process(format!(
            "git: push of tag {name} to {remote} still rejected after {attempts} attempts: {last}"
        )))
    }
}

/// Reading the source-of-truth repository at an earlier commit (rollback, destroy).
impl GitRepo {
    /// The tree of `commit`.
    fn tree_of(&self, commit: git2::Oid) -> Result<git2::Tree<'_>> {
        self.repo
            .find_commit(commit)
            .map_err(err("find commit", commit))?
            .tree()
            .map_err(err("read tree of", commit))
    }

    /// The entry at `rel` (relative to the source-of-truth root) in the tree of `commit`.
    fn entry_at(&self, commit: git2::Oid, rel: &Path) -> Result<Option<git2::TreeEntry<'static>>> {
        match self.tree_of(commit)?.get_path(&self.in_tree(rel)) {
            Ok(e) => Ok(Some(e)),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(err("read", rel.display())(e)),
        }
    }

    /// The bytes of `rel` (relative to the source-of-truth root) in `commit`; `None` when the
    /// commit has no such file.
    pub fn file_at(&self, commit: git2::Oid, rel: &Path) -> Result<Option<Vec<u8>>> {
        let Some(entry) = self.entry_at(commit, rel)? else {
            return Ok(None);
        };
        let obj = entry
            .to_object(&self.repo)
            .map_err(err("read", rel.display()))?;
        Ok(obj.as_blob().map(|b| b.content().to_vec()))
    }

    /// The paths (relative to the source-of-truth root) of the files under `dir` as of `commit`,
    /// from one walk of its tree: asking [`GitRepo::file_at`] path by path re-reads (and
    /// re-hashes) the directory's tree each time, quadratic in a fleet of thousands of requests.
    pub fn files_under(&self, commit: git2::Oid, dir: &Path) -> Result<BTreeSet<PathBuf>> {
        let Some(sub) = self.entry_at(commit, dir)? else {
            return Ok(BTreeSet::new());
        };
        let Ok(sub) = sub.to_object(&self.repo).and_then(|o| o.peel_to_tree()) else {
            return Ok(BTreeSet::new());
        };
        let mut out = BTreeSet::new();
        sub.walk(git2::TreeWalkMode::PreOrder, |parent, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob) {
                if let Some(name) = entry.name() {
                    out.insert(dir.join(parent).join(name));
                }
            }
            git2::TreeWalkResult::Ok
        })
        .map_err(err("walk", dir.display()))?;
        Ok(out)
    }

    /// Writes the files of the source-of-truth root as of `commit` into `dest` (regular files
    /// only: symlinks and submodules are skipped), without touching the work tree or HEAD.
    pub fn materialize(&self, commit: git2::Oid, dest: &Path) -> Result<()> {
        let mut tree = self.tree_of(commit)?;
        if !self.prefix.as_os_str().is_empty() {
            let sub = tree
                .get_path(&self.prefix)
                .and_then(|e| e.to_object(&self.repo))
                .and_then(|o| o.peel_to_tree())
                .map_err(err("read tree", self.prefix.display()))?;
            tree = sub;
        }
        let mut failure = None;
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() != Some(git2::ObjectType::Blob) || entry.filemode() == 0o120000 {
                return git2::TreeWalkResult::Ok;
            }
            let path = dest.join(dir).join(entry.name().unwrap_or("_"));
            let written = entry
                .to_object(&self.repo)
                .map_err(err("read", path.display()))
                .and_then(|o| {
                    let bytes = o
                        .as_blob()
                        .map(|b| b.content().to_vec())
                        .unwrap_or_default();
                    if let Some(parent) = path.parent() {
                        std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
                    }
                    std::fs::write(&path, bytes).map_err(Error::io(&path))
                });
            match written {
                Ok(()) => git2::TreeWalkResult::Ok,
                Err(e) => {
                    failure = Some(e);
                    git2::TreeWalkResult::Abort
                }
            }
        })
        .or_else(|e| {
            if failure.is_some() {
                Ok(())
            } else {
                Err(err("walk tree of", commit)(e))
            }
        })?;
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::git;

    fn setup() -> (tempfile::TempDir, SourceRepo) {
        let dir = tempfile::tempdir().unwrap();
        let origin = dir.path().join("origin.git");
        std::fs::create_dir_all(&origin).unwrap();
        git(&origin, &["init", "-q", "--bare"]);
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "-q"]);
        std::fs::write(
            work.join("gitops.toml"),
            "[module_roots]\nsandbox = \"../m\"\n[backend]\ntype = \"local\"\n",
        )
        .unwrap();
        git(&work, &["add", "."]);
        git(&work, &["commit", "-q", "-m", "init"]);
        git(
            &work,
            &["remote", "add", "origin", origin.to_str().unwrap()],
        );
        git(&work, &["push", "-q", "origin", "main"]);
        let sot = SourceRepo::open(&work).unwrap();
        (dir, sot)
    }

    #[test]
    fn commit_and_push_reapplies_on_a_rejected_push() {
        let (dir, sot) = setup();
        // Another clone pushes first.
        let other = dir.path().join("other");
        git(
            dir.path(),
            &[
                "clone",
                "-q",
                dir.path().join("origin.git").to_str().unwrap(),
                other.to_str().unwrap(),
            ],
        );
        std::fs::write(other.join("theirs.txt"), "theirs\n").unwrap();
        git(&other, &["add", "."]);
        git(&other, &["commit", "-q", "-m", "theirs"]);
        git(&other, &["push", "-q", "origin", "main"]);

        let g = GitRepo::open(&sot).unwrap();
        let change = Change {
            path: "records/ours.txt".into(),
            contents: Some(b"ours\n".to_vec()),
        };
        g.commit_and_push(&[change], "ours", 3).unwrap();
        let log = git(
            &dir.path().join("origin.git"),
            &["log", "--format=%s", "main"],
        );
        assert_eq!(
            log.lines().collect::<Vec<_>>(),
            vec!["ours", "theirs", "init"]
        );
        assert_eq!(
            git(&sot.root, &["status", "--porcelain"]),
            "",
            "work tree clean"
        );
        assert!(
            sot.root.join("theirs.txt").is_file() && sot.root.join("records/ours.txt").is_file()
        );
    }

    #[test]
    fn tag_and_push_takes_the_next_sequence_when_its_name_was_taken() {
        let (dir, sot) = setup();
        let other = dir.path().join("other");
        git(
            dir.path(),
            &[
                "clone",
                "-q",
                dir.path().join("origin.git").to_str().unwrap(),
                other.to_str().unwrap(),
            ],
        );
        git(&other, &["tag", "-a", "deploy/dev/web/1", "-m", "theirs"]);
        git(&other, &["push", "-q", "origin", "deploy/dev/web/1"]);

        let g = GitRepo::open(&sot).unwrap();
        let head = g.head().unwrap();
        let name = g
            .tag_and_push(
                &|g: &GitRepo| Ok(format!("deploy/dev/web/{}", g.next_seq("deploy/dev/web/")?)),
                head,
                "ours",
                3,
            )
            .unwrap();
        assert_eq!(name, "deploy/dev/web/2");
        let tags = git(&dir.path().join("origin.git"), &["tag", "-l"]);
        assert_eq!(
            tags.lines().collect::<Vec<_>>(),
            vec!["deploy/dev/web/1", "deploy/dev/web/2"]
        );
        let info = g.tags("deploy/dev/web/").unwrap();
        assert_eq!(info[1].message.trim(), "ours");
    }
}
