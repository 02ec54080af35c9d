//! The review record: what a change-request build reviewed, as the annotated tag
//! `review/<commit>/<seq>` on the reviewed head commit. A summary line, a blank line, then a JSON
//! body: per deployment the action and the fingerprint of its planned change set. The branch build
//! after the merge finds it from HEAD (a fast-forward merge) or HEAD's other parents (a merge
//! commit) and compares each new plan with it ([`status`]). A squash merge makes a new commit with
//! no link to the reviewed one: its plans are "not reviewed".
//!
//! Tags, like the deployment records: they travel with every fetch of tags the builds already do,
//! and concurrent reviews never conflict (each takes the next free sequence number).

use crate::error::{Error, Result};
use crate::exec::git::GitRepo;
use crate::model::names;
use crate::model::sot::SourceRepo;
use crate::records::deployment::PUSH_ATTEMPTS;
use crate::review::fingerprint::{self, Fingerprint};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The tag namespace of review records.
pub const PREFIX: &str = "review/";
/// The body format this version writes.
pub const FORMAT: u32 = 1;

/// One deployment as reviewed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reviewed {
    /// deploy or destroy
    pub action: String,
    pub fingerprint: Fingerprint,
}

/// The JSON body of a review tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewRecord {
    pub format: u32,
    /// The reviewed head commit (the tag's target).
    pub commit: String,
    /// The merge base the affected set was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The change request (pull request number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// The branch the change request merges into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub build_tag: String,
    /// RFC 3339 UTC.
    pub time: String,
    /// SUCCESS, FAILURE or ACTION_REQUIRED.
    pub conclusion: String,
    /// By `<env>/<name>`: the plans that had a fingerprint (a failed plan has none).
    pub deployments: BTreeMap<String, Reviewed>,
}

impl ReviewRecord {
    /// The full tag message.
    pub fn message(&self) -> String {
        let change = match (&self.change, &self.target) {
            (Some(c), Some(t)) => format!(" (change {c} into {t})"),
            (Some(c), None) => format!(" (change {c})"),
            _ => String::new(),
        };
        let body = serde_json::to_string_pretty(self).unwrap_or_default();
        format!(
            "review of {}{change}: {} deployment(s), {}\n\n{body}\n",
            names::short_id(&self.commit, 12),
            self.deployments.len(),
            self.conclusion
        )
    }

    /// Parses a tag message; `None` when it is not a review record of a known format.
    pub fn parse(message: &str) -> Option<ReviewRecord> {
        let (_, body) = message.split_once("\n\n")?;
        serde_json::from_str::<ReviewRecord>(body)
            .ok()
            .filter(|r| r.format == FORMAT)
    }
}

/// `review/<commit>/`
pub fn prefix(commit: &str) -> String {
    format!("{PREFIX}{commit}/")
}

/// Records `record` as the next `review/<commit>/<seq>` tag on its commit and pushes it to
/// `origin` when there is one (a concurrent review of the same commit takes the next number).
pub fn record(repo: &SourceRepo, record: &ReviewRecord) -> Result<String> {
    let git = GitRepo::open(repo)?;
    let target = git2::Oid::from_str(&record.commit)
        .map_err(|e| Error::Usage(format!("review record of {}: {e}", record.commit)))?;
    let prefix = prefix(&record.commit);
    git.tag_and_push(
        &|g: &GitRepo| Ok(format!("{prefix}{}", g.next_seq(&prefix)?)),
        target,
        &record.message(),
        PUSH_ATTEMPTS,
    )
}

/// The latest review record of `commit`, with its tag.
fn latest(git: &GitRepo, commit: git2::Oid) -> Result<Option<(String, ReviewRecord)>> {
    let prefix = prefix(&commit.to_string());
    let mut found: Vec<(u32, String, ReviewRecord)> = git
        .tags(&prefix)?
        .into_iter()
        .filter_map(|t| {
            let seq = t.name.strip_prefix(&prefix)?.parse::<u32>().ok()?;
            Some((seq, t.name, ReviewRecord::parse(&t.message)?))
        })
        .collect();
    found.sort_by_key(|(seq, _, _)| *seq);
    Ok(found.pop().map(|(_, name, r)| (name, r)))
}

/// The review that HEAD carries: its own (a fast-forward merge, or the change-request build
/// itself), else that of a merged parent (HEAD a merge commit: the reviewed head is a parent
/// after the first).
pub fn find(git: &GitRepo) -> Result<Option<(String, ReviewRecord)>> {
    let head = git.head()?;
    if let Some(found) = latest(git, head)? {
        return Ok(Some(found));
    }
    for parent in git.parents(head)?.into_iter().skip(1) {
        if let Some(found) = latest(git, parent)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// How a plan compares with its review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewStatus {
    /// "as reviewed", "changed since review" or "not reviewed".
    pub status: &'static str,
    /// The review tag compared with.
    pub record: Option<String>,
    pub reviewed_commit: Option<String>,
    /// What differs from the reviewed change set, one line per resource (empty: as reviewed).
    pub differences: Vec<String>,
}

pub const AS_REVIEWED: &str = "as reviewed";
pub const CHANGED: &str = "changed since review";
pub const NOT_REVIEWED: &str = "not reviewed";

/// Compares the plan of `deployment` (`action` deploy or destroy) with the review HEAD carries.
pub fn status(
    found: Option<&(String, ReviewRecord)>,
    deployment: &str,
    action: &str,
    now: &Fingerprint,
) -> ReviewStatus {
    let not_reviewed = |record: Option<&(String, ReviewRecord)>| ReviewStatus {
        status: NOT_REVIEWED,
        record: record.map(|(t, _)| t.clone()),
        reviewed_commit: record.map(|(_, r)| r.commit.clone()),
        differences: Vec::new(),
    };
    let Some((tag, record)) = found else {
        return not_reviewed(None);
    };
    let Some(reviewed) = record.deployments.get(deployment) else {
        return not_reviewed(found);
    };
    let mut differences = Vec::new();
    if reviewed.action != action {
        differences.push(format!("reviewed as {}, now {action}", reviewed.action));
    }
    differences.extend(fingerprint::differences(&reviewed.fingerprint, now));
    ReviewStatus {
        status: if differences.is_empty() {
            AS_REVIEWED
        } else {
            CHANGED
        },
        record: Some(tag.clone()),
        reviewed_commit: Some(record.commit.clone()),
        differences,
    }
}

/// [`status`] of a plan against the review HEAD of `git` carries; a repository whose tags cannot
/// be read (no git) has no review.
pub fn status_at_head(
    git: Option<&GitRepo>,
    deployment: &str,
    action: &str,
    now: &Fingerprint,
) -> ReviewStatus {
    let found = git.and_then(|g| find(g).ok().flatten());
    status(found.as_ref(), deployment, action, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::fingerprint::ResourcePrint;

    fn print(digest: &str) -> Fingerprint {
        let resources = vec![ResourcePrint {
            address: "terraform_data.web".into(),
            action: "update".into(),
            digest: digest.into(),
        }];
        Fingerprint {
            digest: format!("all-{digest}"),
            resources,
            tag_only: 0,
        }
    }

    fn record(fp: Fingerprint) -> ReviewRecord {
        ReviewRecord {
            format: FORMAT,
            commit: "a".repeat(40),
            base: Some("b".repeat(40)),
            change: Some("12".into()),
            target: Some("main".into()),
            build_tag: "jenkins-pr-12-1".into(),
            time: "2026-12-02T10:00:00.000Z".into(),
            conclusion: "SUCCESS".into(),
            deployments: [(
                "dev/web".to_owned(),
                Reviewed {
                    action: "deploy".into(),
                    fingerprint: fp,
                },
            )]
            .into(),
        }
    }

    #[test]
    fn message_round_trips() {
        let r = record(print("x"));
        let m = r.message();
        assert!(
            m.starts_with(
                "review of aaaaaaaaaaaa (change 12 into main): 1 deployment(s), SUCCESS\n\n"
            ),
            "{m}"
        );
        assert_eq!(ReviewRecord::parse(&m), Some(r));
        assert_eq!(ReviewRecord::parse("deploy dev/web\n\nx = 1"), None);
    }

    #[test]
    fn status_compares_the_fingerprints() {
        let found = ("review/a/1".to_owned(), record(print("x")));
        let same = status(Some(&found), "dev/web", "deploy", &print("x"));
        assert_eq!((same.status, same.differences.len()), (AS_REVIEWED, 0));
        let other = status(Some(&found), "dev/web", "deploy", &print("y"));
        assert_eq!(other.status, CHANGED);
        assert_eq!(
            other.differences,
            ["~ update terraform_data.web: other values than reviewed"]
        );
        let destroy = status(Some(&found), "dev/web", "destroy", &print("x"));
        assert_eq!(destroy.differences, ["reviewed as deploy, now destroy"]);
        assert_eq!(
            status(Some(&found), "dev/db", "deploy", &print("x")).status,
            NOT_REVIEWED
        );
        assert_eq!(
            status(None, "dev/web", "deploy", &print("x")).status,
            NOT_REVIEWED
        );
    }
}
