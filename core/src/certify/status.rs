//! `gitops-certify status`: every package of the repository, its certification state for the
//! clouds of the certification environments, and the deployments that use it.

use super::revoke::all_packages;
use crate::error::Result;
use crate::exec::modcache::ModuleCache;
use crate::guard::certification::{self as enforce, State};
use crate::model::sot::SourceRepo;
use crate::model::Cloud;
use crate::records::certification as record;
use serde::Serialize;
use std::collections::BTreeMap;

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

/// The state of every package (module tags are fetched again when the cache was made with
/// `refresh`, so a moved tag shows as stale).
pub fn status(repo: &SourceRepo, cache: &ModuleCache) -> Result<Vec<PackageStatus>> {
    let revoked = record::read_revoked(repo)?;
    let mut protected: BTreeMap<String, (bool, Cloud)> = BTreeMap::new();
    for name in repo.environment_names() {
        if let Ok((env, _)) = repo.environment(&name, |_| {
            crate::error::ConfigError::new("environments", None, "", "")
        }) {
            protected.insert(name, (env.protected, env.cloud));
        }
    }
    let mut uses: BTreeMap<(String, String), Vec<Use>> = BTreeMap::new();
    for id in repo.deployments().unwrap_or_default() {
        if let Ok((d, _)) = repo.deployment(&id) {
            uses.entry((d.component, d.package)).or_default().push(Use {
                deployment: id.to_string(),
                protected: protected.get(&id.env).is_some_and(|p| p.0),
            });
        }
    }
    let cert_clouds: Vec<Cloud> = {
        let mut v: Vec<Cloud> = repo
            .config
            .certification
            .environments
            .iter()
            .filter_map(|e| protected.get(e).map(|p| p.1))
            .collect();
        v.sort();
        v.dedup();
        if v.is_empty() {
            vec![Cloud::Sandbox]
        } else {
            v
        }
    };
    let mut out = Vec::new();
    for (c, v, package) in all_packages(repo) {
        let mut worst: Option<State> = None;
        let mut invalid = None;
        for cloud in &cert_clouds {
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
            let s = enforce::state(repo, &revoked, &c, &v, &package, *cloud, &modules)?;
            if worst.as_ref().is_none_or(|w| rank(&s) > rank(w)) {
                worst = Some(s);
            }
        }
        let (state, detail) = match (&invalid, &worst) {
            (Some(e), _) => ("invalid".to_owned(), e.clone()),
            (None, Some(s)) => (s.name().to_owned(), s.detail().to_owned()),
            (None, None) => (
                "uncertified".to_owned(),
                "no module root for the certification clouds".to_owned(),
            ),
        };
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
