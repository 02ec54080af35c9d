//! `gitops-certify status`: every package of the repository, its certification state for the
//! clouds of the certification environments, and the deployments that use it.

use super::revoke::all_packages;
use crate::error::Result;
use crate::exec::modcache::ModuleCache;
use crate::guard::certification::{self as enforce, State};
use crate::model::sot::SourceRepo;
use crate::model::{Cloud, Package};
use crate::records::revocation::{self, RevokedList};
use crate::report::Reporter;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One deployment using a package.
#[derive(Debug, Clone, Serialize)]
pub struct Use {
    pub deployment: String,
    pub protected: bool,
}

/// One package and its state.
#[derive(Debug, Clone, Serialize)]
pub struct PackageStatus {
    pub component: String,
    pub version: String,
    /// certified | stale | revoked | uncertified | invalid (the package does not resolve)
    pub state: String,
    pub detail: String,
    pub deployments: Vec<Use>,
}

fn rank(s: &State) -> u8 {
    match s {
        State::Certified => 0,
        State::Uncertified(_) => 1,
        State::Stale(_) => 2,
        State::Revoked(_) => 3,
    }
}

/// What `gitops-certify status` is asked to do.
#[derive(Debug, Clone)]
pub struct StatusOptions {
    /// The source-of-truth repository.
    pub repo: PathBuf,
    /// The module cache; module tags are fetched again, so a moved tag shows as stale.
    pub cache_dir: PathBuf,
}

/// The report of `gitops-certify status`: every package, sorted by component and version. Its
/// JSON is the array of packages.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct StatusReport {
    pub packages: Vec<PackageStatus>,
}

/// `gitops-certify status`: the state of every package of the repository.
pub fn status(opts: &StatusOptions, reporter: &dyn Reporter) -> Result<StatusReport> {
    let repo = SourceRepo::open(&opts.repo)?;
    let cache = ModuleCache::new(opts.cache_dir.clone(), true);
    let packages = package_states(&repo, &cache)?;
    cache.report_warnings(reporter);
    Ok(StatusReport { packages })
}

/// The state of every package (module tags are fetched again when the cache was made with
/// `refresh`, so a moved tag shows as stale).
pub fn package_states(repo: &SourceRepo, cache: &ModuleCache) -> Result<Vec<PackageStatus>> {
    let revoked = revocation::read(&repo.root)?;
    let envs = environments(repo);
    let mut uses = uses(repo, &envs);
    let clouds = certification_clouds(repo, &envs);
    let mut out = Vec::new();
    for (c, v, package) in all_packages(repo) {
        let (state, detail) = package_state(repo, cache, &revoked, &clouds, &c, &v, &package)?;
        out.push(PackageStatus {
            deployments: uses.remove(&(c.clone(), v.clone())).unwrap_or_default(),
            component: c,
            version: v,
            state,
            detail,
        });
    }
    Ok(out)
}

/// Environment name -> (protected, cloud), for the environments that load.
fn environments(repo: &SourceRepo) -> BTreeMap<String, (bool, Cloud)> {
    let mut out = BTreeMap::new();
    for name in repo.environment_names() {
        if let Ok((env, _)) = repo.environment(&name, |_| {
            crate::error::ConfigError::new("environments", None, "", "")
        }) {
            out.insert(name, (env.protected, env.cloud));
        }
    }
    out
}

/// (component, package version) -> the deployments that use it.
fn uses(
    repo: &SourceRepo,
    envs: &BTreeMap<String, (bool, Cloud)>,
) -> BTreeMap<(String, String), Vec<Use>> {
    let mut uses: BTreeMap<(String, String), Vec<Use>> = BTreeMap::new();
    for id in repo.deployments().unwrap_or_default() {
        if let Ok((d, _)) = repo.deployment(&id) {
            uses.entry((d.component, d.package)).or_default().push(Use {
                deployment: id.to_string(),
                protected: envs.get(&id.env).is_some_and(|p| p.0),
            });
        }
    }
    uses
}

/// The clouds of the certification environments (sandbox when none resolves).
fn certification_clouds(repo: &SourceRepo, envs: &BTreeMap<String, (bool, Cloud)>) -> Vec<Cloud> {
    let mut v: Vec<Cloud> = repo
        .config
        .certification
        .environments
        .iter()
        .filter_map(|e| envs.get(e).map(|p| p.1))
        .collect();
    v.sort();
    v.dedup();
    if v.is_empty() {
        vec![Cloud::Sandbox]
    } else {
        v
    }
}

/// The state name and detail of one package: the worst over the certification clouds, or
/// `invalid` when a module does not resolve.
fn package_state(
    repo: &SourceRepo,
    cache: &ModuleCache,
    revoked: &RevokedList,
    clouds: &[Cloud],
    c: &str,
    v: &str,
    package: &Package,
) -> Result<(String, String)> {
    let mut worst: Option<State> = None;
    let mut invalid = None;
    for cloud in clouds {
        let Some(root) = repo.config.module_roots.get(cloud) else {
            continue;
        };
        let mut modules = BTreeMap::new();
        for (name, m) in &package.modules {
            let url = repo.module_url(root, &m.repo);
            match cache.resolve(&url, &m.git_ref, &m.path, |found, allowed| {
                crate::error::ConfigError::new(
                    format!("packages/{c}/{v}.toml"),
                    Some(name),
                    found,
                    allowed,
                )
            }) {
                Ok(r) => {
                    modules.insert(name.clone(), r);
                }
                Err(e) => invalid = Some(e.to_string()),
            }
        }
        if invalid.is_some() {
            break;
        }
        let s = enforce::state(repo, revoked, c, v, package, *cloud, &modules)?;
        if worst.as_ref().is_none_or(|w| rank(&s) > rank(w)) {
            worst = Some(s);
        }
    }
    Ok(match (invalid, worst) {
        (Some(e), _) => ("invalid".to_owned(), e),
        (None, Some(s)) => (s.name().to_owned(), s.detail().to_owned()),
        (None, None) => (
            "uncertified".to_owned(),
            "no module root for the certification clouds".to_owned(),
        ),
    })
}

/// The text of `gitops-certify status`: one line per package (state and the deployments using
/// it), the detail on the next line when there is one.
pub fn table(packages: &[PackageStatus]) -> String {
    let mut out = String::new();
    for r in packages {
        let deps: Vec<String> = r
            .deployments
            .iter()
            .map(|d| {
                if d.protected {
                    format!("{} (protected)", d.deployment)
                } else {
                    d.deployment.clone()
                }
            })
            .collect();
        out.push_str(&format!(
            "{:<28} {:<12} used by: {}\n",
            format!("{}@{}", r.component, r.version),
            r.state,
            if deps.is_empty() {
                "-".to_owned()
            } else {
                deps.join(", ")
            }
        ));
        if !r.detail.is_empty() {
            out.push_str(&format!("{:<28} {}\n", "", r.detail));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certify_status_table_lists_uses_and_details() {
        let row = |version: &str, state: &str, detail: &str, deployments: Vec<Use>| PackageStatus {
            component: "web-service".into(),
            version: version.into(),
            state: state.into(),
            detail: detail.into(),
            deployments,
        };
        let rows = vec![
            row(
                "1.0.0",
                "certified",
                "",
                vec![
                    Use {
                        deployment: "prod/web".into(),
                        protected: true,
                    },
                    Use {
                        deployment: "dev/web".into(),
                        protected: false,
                    },
                ],
            ),
            row("1.1.0", "stale", "module network moved", vec![]),
        ];
        let pad = " ".repeat(28);
        assert_eq!(
            table(&rows),
            format!(
                "web-service@1.0.0            certified    used by: prod/web (protected), dev/web\n\
                 web-service@1.1.0            stale        used by: -\n\
                 {pad} module network moved\n"
            )
        );
        let json = serde_json::to_value(StatusReport { packages: rows }).unwrap();
        assert_eq!(json[1]["state"], "stale");
    }
}
