//! `--changed-since REV`: which deployments a commit range affects. A changed request renders that
//! deployment; a changed package, profile, environment or `gitops.toml` renders every deployment
//! that uses it; a deleted request is reported for destruction.

use crate::error::{Error, GitError, Result};
use crate::sot::{DeploymentId, SourceRepo};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Debug, Default, Clone, Serialize)]
pub struct Affected {
    /// Deployment -> why it must be rendered.
    pub render: BTreeMap<String, Vec<String>>,
    /// Deployments whose request was deleted: their resources must be destroyed.
    pub destroy: Vec<String>,
}

/// What a deployment depends on, read from its request at HEAD.
struct Uses {
    component: String,
    package: String,
    /// The request's profile (its `extends` chain is looked up once per profile).
    profiles: Vec<String>,
}

fn profile_chain(root: &Path, name: &str) -> Vec<String> {
    let mut chain = vec![name.to_owned()];
    let mut current = name.to_owned();
    while chain.len() < 9 {
        let Ok(Some(src)) = crate::load::SourceFile::read(
            root,
            &Path::new("profiles").join(format!("{current}.toml")),
        ) else {
            break;
        };
        let Ok(p) = crate::load::profile(&src) else {
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

pub fn changed_since(repo: &SourceRepo, rev: &str) -> Result<Affected> {
    let (git, prefix) = repo.git()?;
    let old = git
        .revparse_single(rev)
        .and_then(|o| o.peel_to_tree())
        .map_err(|_| {
            Error::Usage(format!(
                "--changed-since {}: not a commit of {}",
                crate::names::shown(rev),
                repo.root.display()
            ))
        })?;
    let new = git
        .head()
        .and_then(|h| h.peel_to_tree())
        .map_err(GitError::op("read HEAD of", repo.root.display()))?;
    let mut opts = git2::DiffOptions::new();
    if !prefix.as_os_str().is_empty() {
        opts.pathspec(prefix.to_string_lossy().as_ref());
    }
    let diff = git
        .diff_tree_to_tree(Some(&old), Some(&new), Some(&mut opts))
        .map_err(GitError::op("diff", rev))?;

    let mut all_reason: Option<String> = None;
    let mut envs: BTreeMap<String, String> = BTreeMap::new();
    let mut packages: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut profiles: BTreeMap<String, String> = BTreeMap::new();
    let mut requests: BTreeMap<DeploymentId, String> = BTreeMap::new();
    let mut deleted: BTreeSet<DeploymentId> = BTreeSet::new();
    for delta in diff.deltas() {
        for (file, is_new) in [(delta.old_file(), false), (delta.new_file(), true)] {
            let Some(path) = file.path() else { continue };
            let Ok(rel) = path.strip_prefix(&prefix) else {
                continue;
            };
            let parts: Vec<&str> = rel.iter().filter_map(|p| p.to_str()).collect();
            let stem = |s: &str| s.strip_suffix(".toml").map(str::to_owned);
            match parts.as_slice() {
                ["gitops.toml"] => all_reason = Some("gitops.toml changed".into()),
                ["policies", ..] => all_reason = Some(format!("policy {} changed", rel.display())),
                ["environments", f] => {
                    if let Some(env) = stem(f) {
                        envs.insert(env.clone(), format!("environment {env} changed"));
                    }
                }
                ["profiles", f] => {
                    if let Some(p) = stem(f) {
                        profiles.insert(p.clone(), format!("profile {p} changed"));
                    }
                }
                ["packages", component, f] => {
                    if let Some(v) = stem(f) {
                        packages.insert(
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
                        if delta.status() == git2::Delta::Deleted && !is_new {
                            deleted.insert(id);
                        } else if is_new {
                            let what = if delta.status() == git2::Delta::Added {
                                "request added"
                            } else {
                                "request changed"
                            };
                            requests.insert(id, what.into());
                        }
                    }
                }
                _ => {}
            }
        }
    }

    let mut affected = Affected::default();
    let head_deployments = repo.deployments()?;
    let needs_uses = !packages.is_empty() || !profiles.is_empty();
    // What each request uses, read in parallel: a package change means parsing every request.
    // A request that does not parse is rendered, so that render reports the error.
    let uses: Vec<Option<Uses>> = if needs_uses {
        use rayon::prelude::*;
        head_deployments
            .par_iter()
            .map(|id| {
                let src = crate::load::SourceFile::read(&repo.root, &id.path())
                    .ok()
                    .flatten()?;
                let d = crate::load::deployment(&src).ok()?;
                Some(Uses {
                    profiles: vec![d.profile],
                    component: d.component,
                    package: d.package,
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut chains: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, id) in head_deployments.iter().enumerate() {
        let mut reasons = Vec::new();
        if let Some(r) = &all_reason {
            reasons.push(r.clone());
        }
        if let Some(r) = envs.get(&id.env) {
            reasons.push(r.clone());
        }
        if let Some(r) = requests.get(id) {
            reasons.push(r.clone());
        }
        if needs_uses {
            match &uses[i] {
                Some(u) => {
                    if let Some(r) = packages.get(&(u.component.clone(), u.package.clone())) {
                        reasons.push(r.clone());
                    }
                    let chain = chains
                        .entry(u.profiles[0].clone())
                        .or_insert_with(|| profile_chain(&repo.root, &u.profiles[0]));
                    for p in chain.iter() {
                        if let Some(r) = profiles.get(p) {
                            reasons.push(r.clone());
                        }
                    }
                }
                None => reasons.push("request does not parse".into()),
            }
        }
        if !reasons.is_empty() {
            affected.render.insert(id.to_string(), reasons);
        }
    }
    let at_head: BTreeSet<&DeploymentId> = head_deployments.iter().collect();
    affected.destroy = deleted
        .into_iter()
        .filter(|id| !at_head.contains(id))
        .map(|id| id.to_string())
        .collect();
    Ok(affected)
}
