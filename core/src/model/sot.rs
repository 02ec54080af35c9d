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
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
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
    /// work tree (empty when they are the same).
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
        Ok((repo, prefix))
    }

    /// `HEAD` commit, and whether the files under the repo root differ from it.
    pub fn head(&self) -> Result<(String, bool)> {
        let (repo, prefix) = self.git()?;
        let head = repo
            .head()
            .and_then(|h| h.peel_to_commit())
            .map_err(GitError::op("read HEAD of", self.root.display()))?;
        let mut opts = git2::StatusOptions::new();
        opts.include_untracked(true).exclude_submodules(true);
        if !prefix.as_os_str().is_empty() {
            opts.pathspec(prefix.to_string_lossy().as_ref());
        }
        let dirty = repo
            .statuses(Some(&mut opts))
            .map(|s| !s.is_empty())
            .map_err(GitError::op("read status of", self.root.display()))?;
        Ok((head.id().to_string(), dirty))
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
