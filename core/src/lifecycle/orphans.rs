//! Orphans: deployments whose request is gone from HEAD while their resources are still recorded
//! as deployed (a `deploy/` tag without a later `destroyed/` tombstone). Resources must never
//! outlive their request: each orphan is reported for `gitops-destroy`.

use crate::error::Result;
use crate::exec::git::GitRepo;
use crate::model::sot::{DeploymentId, SourceRepo};
use crate::records::deployment::{self as meta, DeploymentRecord};
use serde::{Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct Orphan {
    pub deployment: String,
    /// The last recorded deployment, if any.
    pub last_deploy: Option<String>,
    pub package: Option<String>,
    pub reason: String,
    /// The command that destroys it.
    pub destroy: String,
}

/// What `gitops-destroy --orphans` is asked to list.
#[derive(Debug, Clone)]
pub struct OrphansOptions {
    pub repo: PathBuf,
    /// Also the requests deleted in `since..HEAD`.
    pub since: Option<String>,
}

/// The orphans of a repository. JSON: `{"orphans": [...]}`.
#[derive(Debug, Clone)]
pub struct OrphansReport {
    pub orphans: Vec<Orphan>,
}

impl Serialize for OrphansReport {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        // Through a JSON value: every object's keys sorted, as this report has always printed.
        serde_json::json!({ "orphans": self.orphans }).serialize(s)
    }
}

/// `gitops-destroy --orphans [--since REV]`.
pub fn orphans(opts: &OrphansOptions) -> Result<OrphansReport> {
    let repo = SourceRepo::open(&opts.repo)?;
    Ok(OrphansReport {
        orphans: find(&repo, opts.since.as_deref())?,
    })
}

/// The orphans of the repository; with `since`, also the requests deleted in `since..HEAD`.
pub fn find(repo: &SourceRepo, since: Option<&str>) -> Result<Vec<Orphan>> {
    let git = GitRepo::open(repo)?;
    find_among(repo, since, &meta::histories(&git)?)
}

/// [`find`], given the history of every deployment that has a record
/// ([`meta::histories`]; the fleet report reads it once for everything it shows).
pub fn find_among(
    repo: &SourceRepo,
    since: Option<&str>,
    histories: &BTreeMap<DeploymentId, Vec<DeploymentRecord>>,
) -> Result<Vec<Orphan>> {
    let git = GitRepo::open(repo)?;
    let head = git.head()?;
    let mut ids: BTreeSet<DeploymentId> = histories.keys().cloned().collect();
    let deleted: BTreeSet<String> = match since {
        Some(rev) => crate::render::affected::changed_since(repo, rev, None)?
            .destroy
            .into_iter()
            .collect(),
        None => BTreeSet::new(),
    };
    for d in &deleted {
        if let Ok(id) = DeploymentId::parse(d) {
            ids.insert(id);
        }
    }
    let mut out = Vec::new();
    let requests = git.files_under(head, Path::new("deployments"))?;
    for id in ids {
        if requests.contains(&id.path()) {
            continue;
        }
        let history = histories.get(&id).map_or(&[][..], Vec::as_slice);
        let live = meta::is_live(history);
        let in_range = deleted.contains(&id.to_string());
        let unrecorded = in_range && history.is_empty();
        if !live && !unrecorded {
            continue;
        }
        let last = history.iter().rev().find(|r| !r.meta.destroyed);
        let reason = match (live, last) {
            (true, Some(r)) => format!(
                "request deleted; resources recorded by {} ({}) and not destroyed",
                r.tag, r.meta.package
            ),
            _ => format!(
                "request deleted since {}; no recorded deployment",
                since.unwrap_or("?")
            ),
        };
        out.push(Orphan {
            deployment: id.to_string(),
            last_deploy: last.map(|r| r.tag.clone()),
            package: last.map(|r| r.meta.package.clone()),
            reason,
            destroy: format!("gitops-destroy {id} --confirm {}", id.name),
        });
    }
    Ok(out)
}
