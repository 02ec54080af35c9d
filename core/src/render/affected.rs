//! `--changed-since REV`: which deployments a commit range affects. A changed request renders that
//! deployment; a changed package, profile, environment or `gitops.toml` renders every deployment
//! that uses it; a deployment that depends on an affected one (`[dependencies]`) is affected too;
//! a deleted request is reported for destruction.
//!
//! The affected set is a graph: [`Affected::waves`] orders it so that each deployment comes after
//! the affected deployments it depends on (a wave's deployments can run in parallel), and
//! [`Affected::destroy`] lists deleted requests dependents first. Deleting a request that a
//! remaining request depends on is refused (exit 3).

use crate::error::{Error, GitError, Result};
use crate::model::sot::{DeploymentId, SourceRepo};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Debug, Default, Clone, Serialize)]
pub struct Affected {
    /// Deployment -> why it must be rendered.
    pub render: BTreeMap<String, Vec<String>>,
    /// The deployments of `render` in order: each wave holds deployments whose affected
    /// dependencies are all in earlier waves (sorted within a wave).
    pub waves: Vec<Vec<String>>,
    /// Deployment of `render` -> the deployments of `render` it depends on (only those with
    /// some): a pipeline skips a deployment whose dependency failed.
    pub needs: BTreeMap<String, Vec<String>>,
    /// Deployments whose request was deleted: their resources must be destroyed, in this order
    /// (a deployment before the deleted deployments it depended on).
    pub destroy: Vec<String>,
}

/// What a deployment depends on, read from its request at HEAD.
#[derive(Clone)]
struct Uses {
    component: String,
    package: String,
    /// The request's profile (its `extends` chain is looked up once per profile).
    profiles: Vec<String>,
    /// Names of the deployments of its environment it depends on (`[dependencies]` values).
    dependencies: Vec<String>,
}

fn profile_chain(root: &Path, name: &str) -> Vec<String> {
    let mut chain = vec![name.to_owned()];
    let mut current = name.to_owned();
    while chain.len() < 9 {
        let Ok(Some(src)) = crate::model::load::SourceFile::read(
            root,
            &Path::new("profiles").join(format!("{current}.toml")),
        ) else {
            break;
        };
        let Ok(p) = crate::model::load::profile(&src) else {
            break;
        };
        match p.extends {
            Some(parent) if !chain.contains(&parent) => {
                chain.push(parent.clone());
                current = parent;
            }
            _ => break,
        }
    }
    chain
}

/// `index_dir`: where the request index is kept (the module cache directory), or `None` to parse
/// every request each time.
pub fn changed_since(repo: &SourceRepo, rev: &str, index_dir: Option<&Path>) -> Result<Affected> {
    let (git, prefix) = repo.git()?;
    let (diff, new) = diff_since(repo, &git, &prefix, rev)?;
    let changes = Changes::of(&diff, &prefix);

    let head_deployments = repo.deployments()?;
    let needs_uses = !changes.packages.is_empty() || !changes.profiles.is_empty();
    // What each request uses, from the request index: a package change means knowing every
    // request's component and package, and any change its dependents. A request that does not
    // parse is rendered, so that render reports the error.
    let uses: Vec<Option<Uses>> =
        request_uses(repo, &git, &prefix, &new, &head_deployments, index_dir);
    let mut chains: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut render: BTreeMap<DeploymentId, Vec<String>> = BTreeMap::new();
    for (i, id) in head_deployments.iter().enumerate() {
        let uses = needs_uses.then(|| &uses[i]);
        let reasons = changes.reasons(id, uses, &mut chains, &repo.root);
        if !reasons.is_empty() {
            render.insert(id.clone(), reasons);
        }
    }
    let graph = Graph::of(&head_deployments, &uses);
    graph.add_dependents(&mut render);
    let mut affected = graph.affected(repo, render)?;

    let at_head: BTreeSet<&DeploymentId> = head_deployments.iter().collect();
    let deleted: BTreeMap<DeploymentId, Vec<String>> = changes
        .deleted
        .into_iter()
        .filter(|(id, _)| !at_head.contains(id))
        .map(|(id, oid)| {
            let deps = git
                .find_blob(oid)
                .ok()
                .and_then(|b| String::from_utf8(b.content().to_vec()).ok())
                .and_then(|t| parse_uses(&crate::model::load::SourceFile::from_text(id.path(), t)))
                .map(|u| u.dependencies)
                .unwrap_or_default();
            (id, deps)
        })
        .collect();
    affected.destroy = graph.destroys(&deleted)?;
    Ok(affected)
}

/// The dependencies of the requests at HEAD: deployment -> the deployments it depends on.
struct Graph {
    deps: BTreeMap<DeploymentId, Vec<DeploymentId>>,
    dependents: BTreeMap<DeploymentId, Vec<DeploymentId>>,
}

impl Graph {
    fn of(ids: &[DeploymentId], uses: &[Option<Uses>]) -> Graph {
        let mut g = Graph {
            deps: BTreeMap::new(),
            dependents: BTreeMap::new(),
        };
        for (id, u) in ids.iter().zip(uses) {
            for name in u.iter().flat_map(|u| &u.dependencies) {
                let dep = DeploymentId {
                    env: id.env.clone(),
                    name: name.clone(),
                };
                g.dependents
                    .entry(dep.clone())
                    .or_default()
                    .push(id.clone());
                g.deps.entry(id.clone()).or_default().push(dep);
            }
        }
        g
    }

    /// Every deployment that depends, directly or through others, on an affected one is
    /// affected: it reads outputs that may change.
    fn add_dependents(&self, render: &mut BTreeMap<DeploymentId, Vec<String>>) {
        let mut todo: Vec<DeploymentId> = render.keys().cloned().collect();
        while let Some(id) = todo.pop() {
            for d in self.dependents.get(&id).into_iter().flatten() {
                let why = format!("depends on {id}, which is affected");
                match render.get_mut(d) {
                    Some(reasons) => {
                        if !reasons.contains(&why) {
                            reasons.push(why);
                        }
                    }
                    None => {
                        render.insert(d.clone(), vec![why]);
                        todo.push(d.clone());
                    }
                }
            }
        }
    }

    /// The deployments to render (with why), in waves and with their needs; nothing to destroy.
    /// A cycle is the render's own error for it.
    fn affected(
        &self,
        repo: &SourceRepo,
        render: BTreeMap<DeploymentId, Vec<String>>,
    ) -> Result<Affected> {
        let waves = self
            .waves(&render)
            .map_err(|cycle| cycle_error(repo, &cycle))?
            .into_iter()
            .map(|w| w.iter().map(ToString::to_string).collect())
            .collect();
        Ok(Affected {
            waves,
            needs: self.needs_within(&render),
            render: render
                .into_iter()
                .map(|(id, why)| (id.to_string(), why))
                .collect(),
            destroy: Vec::new(),
        })
    }

    /// [`Affected::needs`]: the dependencies of each of `render` that are in `render`.
    fn needs_within(
        &self,
        render: &BTreeMap<DeploymentId, Vec<String>>,
    ) -> BTreeMap<String, Vec<String>> {
        render
            .keys()
            .filter_map(|id| {
                let mut in_set: Vec<String> = self
                    .deps
                    .get(id)?
                    .iter()
                    .filter(|d| render.contains_key(*d))
                    .map(ToString::to_string)
                    .collect();
                in_set.sort();
                (!in_set.is_empty()).then(|| (id.to_string(), in_set))
            })
            .collect()
    }

    /// The deployments of `render` in waves (see [`Affected::waves`]); Err: the deployments
    /// left on a cycle.
    fn waves(
        &self,
        render: &BTreeMap<DeploymentId, Vec<String>>,
    ) -> std::result::Result<Vec<Vec<DeploymentId>>, Vec<DeploymentId>> {
        let mut left: BTreeSet<&DeploymentId> = render.keys().collect();
        let mut waves = Vec::new();
        while !left.is_empty() {
            let wave: Vec<DeploymentId> = left
                .iter()
                .filter(|id| {
                    self.deps
                        .get(**id)
                        .into_iter()
                        .flatten()
                        .all(|d| !left.contains(d))
                })
                .map(|id| (*id).clone())
                .collect();
            if wave.is_empty() {
                return Err(left.into_iter().cloned().collect());
            }
            for id in &wave {
                left.remove(id);
            }
            waves.push(wave);
        }
        Ok(waves)
    }

    /// The deleted requests in destroy order; exit 3 when one is a dependency of a request that
    /// remains.
    fn destroys(&self, deleted: &BTreeMap<DeploymentId, Vec<String>>) -> Result<Vec<String>> {
        self.refuse_orphaned_dependents(deleted)?;
        Ok(destroy_order(deleted)
            .into_iter()
            .map(|id| id.to_string())
            .collect())
    }

    /// Exit 3 when a deleted request is a dependency of a request that remains.
    fn refuse_orphaned_dependents(
        &self,
        deleted: &BTreeMap<DeploymentId, Vec<String>>,
    ) -> Result<()> {
        for id in deleted.keys() {
            let remaining: Vec<String> = self
                .dependents
                .get(id)
                .into_iter()
                .flatten()
                .map(ToString::to_string)
                .collect();
            if !remaining.is_empty() {
                return Err(Error::Refused(format!(
                    "the request of {id} is deleted, but {} still depend{} on it \
                     ([dependencies] of {}): delete {} in the same change, or remove the \
                     dependency first",
                    remaining.join(", "),
                    if remaining.len() == 1 { "s" } else { "" },
                    remaining
                        .iter()
                        .map(|r| format!("deployments/{r}.toml"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if remaining.len() == 1 { "it" } else { "them" }
                )));
            }
        }
        Ok(())
    }
}

/// Deleted requests in destroy order: each before the deleted deployments it depended on (its
/// request as it was before the deletion), else by name.
fn destroy_order(deleted: &BTreeMap<DeploymentId, Vec<String>>) -> Vec<DeploymentId> {
    let mut left: BTreeSet<&DeploymentId> = deleted.keys().collect();
    let mut out = Vec::new();
    while !left.is_empty() {
        // Next: the deployments no remaining deleted deployment depends on.
        let depended: BTreeSet<DeploymentId> = left
            .iter()
            .flat_map(|id| {
                deleted[*id].iter().map(|name| DeploymentId {
                    env: id.env.clone(),
                    name: name.clone(),
                })
            })
            .collect();
        let mut next: Vec<&DeploymentId> = left
            .iter()
            .copied()
            .filter(|id| !depended.contains(*id))
            .collect();
        if next.is_empty() {
            // A cycle in requests that are gone (never rendered as such): by name.
            next = left.iter().copied().collect();
        }
        for id in next {
            left.remove(id);
            out.push(id.clone());
        }
    }
    out
}

/// The render's own error for a deployment on a dependency cycle (file, key, the cycle).
fn cycle_error(repo: &SourceRepo, cycle: &[DeploymentId]) -> Error {
    for id in cycle {
        if let Ok((d, src)) = repo.deployment(id) {
            if let Err(e) = super::dependencies::resolve(repo, id, &d, &src) {
                return e;
            }
        }
    }
    let names: Vec<String> = cycle.iter().map(ToString::to_string).collect();
    Error::Usage(format!("a dependency cycle among {}", names.join(", ")))
}

/// Every deployment with a request, as `--all --list` lists them: in dependency waves (a first
/// build deploys everything, and a dependent still comes after what it depends on). A request that
/// does not parse is listed (its render reports it) without dependencies.
pub fn all(repo: &SourceRepo) -> Result<Affected> {
    let ids = repo.deployments()?;
    let uses: Vec<Option<Uses>> = ids
        .iter()
        .map(|id| {
            crate::model::load::SourceFile::read(&repo.root, &id.path())
                .ok()
                .flatten()
                .as_ref()
                .and_then(parse_uses)
        })
        .collect();
    let render: BTreeMap<DeploymentId, Vec<String>> = ids
        .iter()
        .map(|id| (id.clone(), vec!["every deployment".to_owned()]))
        .collect();
    Graph::of(&ids, &uses).affected(repo, render)
}

/// `--changed-since REV --by-render`: renders every request at REV and in the work tree (HEAD)
/// and compares the rendered root modules, so a change is found whatever file it touched and
/// however Terraform reads it (a template read through a function, a nested local module, a
/// globbed file: everything the render puts into the root module or vendors), and a change that
/// alters nothing Terraform sees (a comment, a reformatted request) affects nothing. Dependents
/// of an affected deployment are affected; requests gone since REV are to destroy, as in the
/// path-based mode.
///
/// Both sides render with the same commit and build tag (the per-deploy tags would make every
/// render differ) and without guards (a refusal is the render's own business later); a request
/// that fails to render on either side is affected, so that its render reports the error.
pub fn changed_by_render(
    repo: &SourceRepo,
    rev: &str,
    cache: &crate::exec::modcache::ModuleCache,
    state_dir: Option<std::path::PathBuf>,
) -> Result<Affected> {
    use rayon::prelude::*;
    let (git, _) = repo.git()?;
    let base_commit = git
        .revparse_single(rev)
        .and_then(|o| o.peel_to_commit())
        .map_err(|_| not_a_commit(repo, &git, rev))?
        .id();
    let dir = tempfile::Builder::new()
        .prefix(".gitops-base-")
        .tempdir()
        .map_err(Error::io(std::env::temp_dir()))?;
    crate::exec::git::GitRepo::open(repo)?.materialize(base_commit, dir.path())?;
    let base = repo.open_snapshot(dir.path())?;
    let options = super::RenderOptions {
        build_tag: "review".into(),
        state_dir,
        vendor: true,
        module_store: false,
        stage: crate::guard::Stage::Destroy,
        allow_revoked: true,
    };
    const SAME_COMMIT: &str = "0000000000000000000000000000000000000000";
    // Each vendored module directory is read once, however many deployments vendor it.
    let trees = ModuleTrees::default();
    let digests = |r: &SourceRepo,
                   ids: &[DeploymentId]|
     -> BTreeMap<DeploymentId, Option<String>> {
        let renderer = super::Renderer::at_commit(r, cache, options.clone(), SAME_COMMIT.into());
        ids.par_iter()
            .map(|id| {
                let digest = renderer
                    .render(id)
                    .ok()
                    .and_then(|x| root_module_digest(&x, &trees).ok());
                (id.clone(), digest)
            })
            .collect()
    };
    let head_ids = repo.deployments()?;
    let base_ids = base.deployments()?;
    let now = digests(repo, &head_ids);
    let before = digests(&base, &base_ids);
    let short = crate::model::names::short_id(rev, 12).to_owned();
    let mut render: BTreeMap<DeploymentId, Vec<String>> = BTreeMap::new();
    for (id, digest) in &now {
        let why = match (before.get(id), digest) {
            (None, _) => "new request".to_owned(),
            (Some(_), None) => "does not render at HEAD".to_owned(),
            (Some(None), Some(_)) => format!("did not render at {short}"),
            (Some(Some(b)), Some(n)) if b != n => {
                format!("rendered root module differs from {short}")
            }
            _ => continue,
        };
        render.insert(id.clone(), vec![why]);
    }
    let uses_of = |r: &SourceRepo, id: &DeploymentId| {
        crate::model::load::SourceFile::read(&r.root, &id.path())
            .ok()
            .flatten()
            .as_ref()
            .and_then(parse_uses)
    };
    let uses: Vec<Option<Uses>> = head_ids.iter().map(|id| uses_of(repo, id)).collect();
    let graph = Graph::of(&head_ids, &uses);
    graph.add_dependents(&mut render);
    let mut affected = graph.affected(repo, render)?;
    let deleted: BTreeMap<DeploymentId, Vec<String>> = base_ids
        .iter()
        .filter(|id| !now.contains_key(*id))
        .map(|id| {
            let deps = uses_of(&base, id)
                .map(|u| u.dependencies)
                .unwrap_or_default();
            (id.clone(), deps)
        })
        .collect();
    affected.destroy = graph.destroys(&deleted)?;
    Ok(affected)
}

/// The digest of each vendored module directory, computed once.
#[derive(Default)]
struct ModuleTrees(std::sync::Mutex<BTreeMap<std::path::PathBuf, String>>);

impl ModuleTrees {
    fn digest(&self, dir: &Path) -> Result<String> {
        if let Some(d) = self.0.lock().ok().and_then(|m| m.get(dir).cloned()) {
            return Ok(d);
        }
        let files = super::output::tree_files(dir)?;
        let text: String = files.iter().map(|(f, d)| format!("{f} {d}\n")).collect();
        let digest = crate::model::load::sha256_hex(text.as_bytes());
        if let Ok(mut m) = self.0.lock() {
            m.insert(dir.to_path_buf(), digest.clone());
        }
        Ok(digest)
    }
}

/// `sha256:` of what Terraform would see of a render: the root module and the contents of the
/// vendored module trees; and of what the guards read, the manifest without the digests of the
/// input files (a comment changes those and nothing else).
fn root_module_digest(r: &super::Rendered, trees: &ModuleTrees) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(&r.main_tf_json);
    h.update([0]);
    let mut manifest = r.manifest.clone();
    manifest.inputs.clear();
    let manifest = serde_json::to_vec(&manifest).map_err(|e| Error::Process(e.to_string()))?;
    h.update(&manifest);
    for (name, dir) in &r.vendor {
        h.update([0]);
        h.update(name.as_bytes());
        h.update([0]);
        h.update(trees.digest(dir)?.as_bytes());
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

/// The diff from `rev` to HEAD (limited to the repository's directory), and HEAD's tree.
fn diff_since<'g>(
    repo: &SourceRepo,
    git: &'g git2::Repository,
    prefix: &Path,
    rev: &str,
) -> Result<(git2::Diff<'g>, git2::Tree<'g>)> {
    let new = crate::model::sot::head_commit(git, &repo.root)?
        .tree()
        .map_err(GitError::op("read HEAD of", repo.root.display()))?;
    let old = git
        .revparse_single(rev)
        .and_then(|o| o.peel_to_tree())
        .map_err(|_| not_a_commit(repo, git, rev))?;
    let mut opts = git2::DiffOptions::new();
    if !prefix.as_os_str().is_empty() {
        opts.pathspec(prefix.to_string_lossy().as_ref());
    }
    let diff = git
        .diff_tree_to_tree(Some(&old), Some(&new), Some(&mut opts))
        .map_err(GitError::op("diff", rev))?;
    Ok((diff, new))
}

/// `--changed-since REV`: REV is no commit of the clone (perhaps a shallow one).
fn not_a_commit(repo: &SourceRepo, git: &git2::Repository, rev: &str) -> Error {
    // A shallow clone (Jenkins' default "shallow clone" option, `git clone --depth N`) lacks the
    // history REV needs: say so, and how to get it.
    let shallow = if git.is_shallow() {
        "; the clone is shallow (its history stops after the commits it was cloned with): \
         fetch more history with `git fetch --deepen=<N>` (N more commits) or all of it \
         with `git fetch --unshallow`"
    } else {
        ""
    };
    Error::Usage(format!(
        "--changed-since {}: not a commit of {}{shallow}",
        crate::model::names::shown(rev),
        repo.root.display()
    ))
}

/// The files a diff changed, by what they are, each with the reason a deployment using it gives.
#[derive(Default)]
struct Changes {
    /// `gitops.toml` or a policy: every deployment.
    all: Option<String>,
    envs: BTreeMap<String, String>,
    packages: BTreeMap<(String, String), String>,
    profiles: BTreeMap<String, String>,
    requests: BTreeMap<DeploymentId, String>,
    /// Deleted requests, with the blob the old side had.
    deleted: BTreeMap<DeploymentId, git2::Oid>,
}

impl Changes {
    fn of(diff: &git2::Diff<'_>, prefix: &Path) -> Changes {
        let mut changes = Changes::default();
        for delta in diff.deltas() {
            for (file, is_new) in [(delta.old_file(), false), (delta.new_file(), true)] {
                let Some(path) = file.path() else { continue };
                let Ok(rel) = path.strip_prefix(prefix) else {
                    continue;
                };
                changes.add(rel, delta.status(), is_new, file.id());
            }
        }
        changes
    }

    /// One side (old or new) of one changed file, relative to the repository's directory.
    fn add(&mut self, rel: &Path, status: git2::Delta, is_new: bool, blob: git2::Oid) {
        let parts: Vec<&str> = rel.iter().filter_map(|p| p.to_str()).collect();
        let stem = |s: &str| s.strip_suffix(".toml").map(str::to_owned);
        match parts.as_slice() {
            ["gitops.toml"] => self.all = Some("gitops.toml changed".into()),
            ["policies", ..] => self.all = Some(format!("policy {} changed", rel.display())),
            ["environments", f] => {
                if let Some(env) = stem(f) {
                    self.envs
                        .insert(env.clone(), format!("environment {env} changed"));
                }
            }
            ["profiles", f] => {
                if let Some(p) = stem(f) {
                    self.profiles
                        .insert(p.clone(), format!("profile {p} changed"));
                }
            }
            ["packages", component, f] => {
                if let Some(v) = stem(f) {
                    self.packages.insert(
                        ((*component).to_owned(), v.clone()),
                        format!("package {component}@{v} changed"),
                    );
                }
            }
            ["deployments", env, f] => {
                if let Some(name) = stem(f) {
                    let id = DeploymentId {
                        env: (*env).to_owned(),
                        name,
                    };
                    if status == git2::Delta::Deleted && !is_new {
                        self.deleted.insert(id, blob);
                    } else if is_new {
                        let what = if status == git2::Delta::Added {
                            "request added"
                        } else {
                            "request changed"
                        };
                        self.requests.insert(id, what.into());
                    }
                }
            }
            _ => {}
        }
    }

    /// Why deployment `id` must be rendered (empty: it need not). `uses` is what its request uses,
    /// when a package or profile changed (`None` inside: the request does not parse); `chains`
    /// caches the `extends` chain of each profile.
    fn reasons(
        &self,
        id: &DeploymentId,
        uses: Option<&Option<Uses>>,
        chains: &mut BTreeMap<String, Vec<String>>,
        root: &Path,
    ) -> Vec<String> {
        let mut reasons = Vec::new();
        if let Some(r) = &self.all {
            reasons.push(r.clone());
        }
        if let Some(r) = self.envs.get(&id.env) {
            reasons.push(r.clone());
        }
        if let Some(r) = self.requests.get(id) {
            reasons.push(r.clone());
        }
        match uses {
            None => {}
            Some(Some(u)) => {
                if let Some(r) = self.packages.get(&(u.component.clone(), u.package.clone())) {
                    reasons.push(r.clone());
                }
                let chain = chains
                    .entry(u.profiles[0].clone())
                    .or_insert_with(|| profile_chain(root, &u.profiles[0]));
                for p in chain.iter() {
                    if let Some(r) = self.profiles.get(p) {
                        reasons.push(r.clone());
                    }
                }
            }
            Some(None) => reasons.push("request does not parse".into()),
        }
        reasons
    }
}

/// What each of `ids` uses, as committed at HEAD (`head`), in the order of `ids`.
///
/// Requests are looked up by git blob id in a content-addressed index kept under `index_dir`
/// (`requests/<repo>.idx`), so a package change in a fleet of 10,000 deployments reads and parses
/// only the requests the index has not seen (bench/ B1). A blob id names its content, so an entry
/// cannot go stale; the index is a cache: unreadable or absent, everything is parsed and it is
/// written again. A request that is not committed (a new file in the work tree) is read from disk.
fn request_uses(
    repo: &SourceRepo,
    git: &git2::Repository,
    prefix: &Path,
    head: &git2::Tree<'_>,
    ids: &[DeploymentId],
    index_dir: Option<&Path>,
) -> Vec<Option<Uses>> {
    use rayon::prelude::*;
    let blobs = head_request_blobs(git, prefix, head);
    let index_path = index_dir.map(|d| {
        let root = repo
            .root
            .canonicalize()
            .unwrap_or_else(|_| repo.root.clone());
        let key = crate::model::load::sha256_hex(root.as_os_str().as_encoded_bytes());
        d.join("requests")
            .join(format!("{}.idx", crate::model::names::short_id(&key, 16)))
    });
    let index = index_path.as_deref().map(read_index).unwrap_or_default();
    // Misses: committed blobs are read here (a git2 repository is not shared between threads),
    // then everything is parsed in parallel.
    enum Text {
        Known(Uses),
        Blob(git2::Oid, String),
        WorkTree,
        Unreadable,
    }
    let texts: Vec<Text> = ids
        .iter()
        .map(|id| match blobs.get(id) {
            Some(oid) => match index.get(oid) {
                Some(u) => Text::Known(u.clone()),
                None => match git.find_blob(*oid) {
                    Ok(b) => match String::from_utf8(b.content().to_vec()) {
                        Ok(t) => Text::Blob(*oid, t),
                        Err(_) => Text::Unreadable,
                    },
                    Err(_) => Text::WorkTree,
                },
            },
            None => Text::WorkTree,
        })
        .collect();
    let parsed: Vec<(Option<Uses>, Option<git2::Oid>)> = texts
        .into_par_iter()
        .zip(ids.par_iter())
        .map(|(text, id)| match text {
            Text::Known(u) => (Some(u), None),
            Text::Unreadable => (None, None),
            Text::Blob(oid, t) => {
                let src = crate::model::load::SourceFile::from_text(id.path(), t);
                (parse_uses(&src), Some(oid))
            }
            Text::WorkTree => {
                let src = crate::model::load::SourceFile::read(&repo.root, &id.path())
                    .ok()
                    .flatten();
                (src.as_ref().and_then(parse_uses), None)
            }
        })
        .collect();
    let missed = parsed.iter().any(|(u, oid)| u.is_some() && oid.is_some());
    if let (true, Some(path)) = (missed, index_path.as_deref()) {
        // Only what HEAD holds is kept, so the index does not grow with history.
        let mut lines = String::from(INDEX_HEADER);
        for (id, (u, _)) in ids.iter().zip(&parsed) {
            if let (Some(u), Some(oid)) = (u, blobs.get(id)) {
                let deps = if u.dependencies.is_empty() {
                    "-".to_owned()
                } else {
                    u.dependencies.join(",")
                };
                lines.push_str(&format!(
                    "{oid} {} {} {} {deps}\n",
                    u.component, u.package, u.profiles[0]
                ));
            }
        }
        write_index(path, &lines);
    }
    parsed.into_iter().map(|(u, _)| u).collect()
}

fn parse_uses(src: &crate::model::load::SourceFile) -> Option<Uses> {
    let d = crate::model::load::deployment(src).ok()?;
    Some(Uses {
        profiles: vec![d.profile],
        component: d.component,
        package: d.package,
        dependencies: d.dependencies.into_values().collect(),
    })
}

/// Blob id of every `deployments/<env>/<name>.toml` in the tree `head`.
fn head_request_blobs(
    git: &git2::Repository,
    prefix: &Path,
    head: &git2::Tree<'_>,
) -> BTreeMap<DeploymentId, git2::Oid> {
    let mut out = BTreeMap::new();
    let Some(deployments) = head
        .get_path(&prefix.join("deployments"))
        .ok()
        .and_then(|e| git.find_tree(e.id()).ok())
    else {
        return out;
    };
    for env in deployments.iter() {
        let (Some(env_name), Ok(tree)) = (env.name(), git.find_tree(env.id())) else {
            continue;
        };
        for file in tree.iter() {
            let Some(name) = file.name().and_then(|n| n.strip_suffix(".toml")) else {
                continue;
            };
            if file.kind() == Some(git2::ObjectType::Blob) {
                out.insert(
                    DeploymentId {
                        env: env_name.to_owned(),
                        name: name.to_owned(),
                    },
                    file.id(),
                );
            }
        }
    }
    out
}

/// First line of an index file: a toolkit version change discards the index (the rules of what a
/// valid request is may have changed).
const INDEX_HEADER: &str = concat!(
    "gitops-toolkit requests index 2 ",
    env!("CARGO_PKG_VERSION"),
    "\n"
);

/// `<blob id> <component> <package> <profile> <dependencies>` lines (names are DNS labels and
/// versions: no spaces; dependencies comma-separated, `-` for none). Any line that does not read
/// back is ignored; a wrong header ignores the file.
fn read_index(path: &Path) -> std::collections::HashMap<git2::Oid, Uses> {
    let mut out = std::collections::HashMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return out;
    };
    let Some(body) = text.strip_prefix(INDEX_HEADER) else {
        return out;
    };
    for line in body.lines() {
        let mut f = line.split(' ');
        if let (Some(oid), Some(c), Some(p), Some(pr), Some(deps), None) =
            (f.next(), f.next(), f.next(), f.next(), f.next(), f.next())
        {
            if let Ok(oid) = git2::Oid::from_str(oid) {
                let dependencies = if deps == "-" {
                    Vec::new()
                } else {
                    deps.split(',').map(str::to_owned).collect()
                };
                out.insert(
                    oid,
                    Uses {
                        component: c.to_owned(),
                        package: p.to_owned(),
                        profiles: vec![pr.to_owned()],
                        dependencies,
                    },
                );
            }
        }
    }
    out
}

/// Writes the index atomically (a temporary file renamed into place); a failure only costs the
/// next run a full parse, so it is not an error.
fn write_index(path: &Path, text: &str) {
    use std::io::Write;
    let Some(dir) = path.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) {
        if tmp.write_all(text.as_bytes()).is_ok() {
            let _ = tmp.persist(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> DeploymentId {
        DeploymentId {
            env: "dev".into(),
            name: name.into(),
        }
    }

    /// `(name, its dependencies)` as requests at HEAD.
    fn graph(requests: &[(&str, &[&str])]) -> Graph {
        let ids: Vec<DeploymentId> = requests.iter().map(|(n, _)| id(n)).collect();
        let uses: Vec<Option<Uses>> = requests
            .iter()
            .map(|(_, deps)| {
                Some(Uses {
                    component: "c".into(),
                    package: "1.0.0".into(),
                    profiles: vec!["p".into()],
                    dependencies: deps.iter().map(|d| (*d).to_owned()).collect(),
                })
            })
            .collect();
        Graph::of(&ids, &uses)
    }

    fn names(waves: &[Vec<DeploymentId>]) -> Vec<Vec<&str>> {
        waves
            .iter()
            .map(|w| w.iter().map(|i| i.name.as_str()).collect())
            .collect()
    }

    #[test]
    fn affected_dependents_follow_in_waves_through_a_diamond() {
        // net <- db, net <- cache; db + cache <- api; api <- web; tools alone.
        let g = graph(&[
            ("net", &[]),
            ("db", &["net"]),
            ("cache", &["net"]),
            ("api", &["db", "cache"]),
            ("web", &["api"]),
            ("tools", &[]),
        ]);
        let mut render = BTreeMap::from([(id("net"), vec!["request changed".to_owned()])]);
        g.add_dependents(&mut render);
        assert_eq!(render.len(), 5, "{render:?}");
        let mut api = render[&id("api")].clone();
        api.sort();
        assert_eq!(
            api,
            [
                "depends on dev/cache, which is affected",
                "depends on dev/db, which is affected"
            ]
        );
        assert!(!render.contains_key(&id("tools")));
        let waves = g.waves(&render).unwrap();
        assert_eq!(
            names(&waves),
            vec![vec!["net"], vec!["cache", "db"], vec!["api"], vec!["web"]]
        );
        // Only the middle changed: what it depends on is not affected.
        let mut render = BTreeMap::from([(id("db"), vec!["request changed".to_owned()])]);
        g.add_dependents(&mut render);
        assert_eq!(
            names(&g.waves(&render).unwrap()),
            vec![vec!["db"], vec!["api"], vec!["web"]]
        );
    }

    #[test]
    fn affected_cycle_is_reported_with_the_deployments_on_it() {
        let g = graph(&[("a", &["b"]), ("b", &["a"]), ("c", &[])]);
        let mut render = BTreeMap::from([(id("a"), vec![]), (id("c"), vec![])]);
        g.add_dependents(&mut render);
        let left = g.waves(&render).unwrap_err();
        assert_eq!(left, vec![id("a"), id("b")]);
    }

    #[test]
    fn affected_deleted_requests_are_destroyed_dependents_first() {
        let deleted = BTreeMap::from([
            (id("db"), vec!["net".to_owned()]),
            (id("net"), vec![]),
            (id("api"), vec!["db".to_owned(), "gone-long-ago".to_owned()]),
        ]);
        let order: Vec<String> = destroy_order(&deleted)
            .iter()
            .map(|i| i.name.clone())
            .collect();
        assert_eq!(order, ["api", "db", "net"]);
        // A remaining request that depends on a deleted one: refused, naming it.
        let g = graph(&[("web", &["api"])]);
        let e = g.refuse_orphaned_dependents(&deleted).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::REFUSED);
        assert!(e.to_string().contains("dev/web still depends on it"), "{e}");
    }
}
