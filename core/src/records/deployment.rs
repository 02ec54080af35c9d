//! The deployment record: the message of the annotated tags `deploy/<env>/<name>/<seq>` and
//! `destroyed/<env>/<name>/<seq>`. A summary line, a blank line, then a TOML body that the
//! promotion guard, `gitops-tag history`, rollback, destroy and the orphan report parse.

use crate::error::{Error, Result};
use crate::exec::git::{GitRepo, TagInfo};
use crate::model::load::sha256_hex;
use crate::model::sot::{DeploymentId, SourceRepo};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Attempts for a push rejected by a concurrent writer.
pub const PUSH_ATTEMPTS: u32 = 5;

/// The TOML body of a deployment (or tombstone) tag. Every field defaults, so a hand-written or
/// older record still parses; what is missing is shown as empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeployMeta {
    /// `<env>/<name>`
    pub deployment: String,
    /// `<component>@<version>`
    pub package: String,
    pub profile: String,
    pub plan_digest: String,
    /// `sha256:` of the canonical JSON of the non-sensitive outputs.
    pub outputs_digest: String,
    pub build_tag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// RFC 3339, UTC, milliseconds: sorts as text.
    pub time: String,
    pub source_commit: String,
    /// `sha256:` of the deployment request at `source_commit` ("" when it had none).
    pub request_sha256: String,
    /// Tombstones only.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub destroyed: bool,
}

impl DeployMeta {
    /// The full tag message.
    pub fn message(&self) -> String {
        let summary = if self.destroyed {
            format!("destroyed {} ({})", self.deployment, self.package)
        } else {
            format!(
                "deploy {}: {} (profile {})",
                self.deployment, self.package, self.profile
            )
        };
        let body = toml::to_string(self).unwrap_or_default();
        format!("{summary}\n\n{body}")
    }

    /// Parses a tag message; `None` when it carries no TOML body.
    pub fn parse(message: &str) -> Option<DeployMeta> {
        let (_, body) = message.split_once("\n\n")?;
        toml::from_str(body).ok()
    }
}

/// One recorded deployment or tombstone.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentRecord {
    pub tag: String,
    pub seq: u32,
    /// The commit the tag points to.
    pub commit: String,
    pub tagger: String,
    #[serde(flatten)]
    pub meta: DeployMeta,
}

impl DeploymentRecord {
    /// The moment used to order deployments and tombstones: the body's time, else the tagger's.
    pub fn when(&self) -> String {
        if self.meta.time.is_empty() {
            rfc3339(UNIX_EPOCH + std::time::Duration::from_secs(0))
        } else {
            self.meta.time.clone()
        }
    }
}

pub fn deploy_prefix(id: &DeploymentId) -> String {
    format!("deploy/{}/{}/", id.env, id.name)
}

pub fn destroyed_prefix(id: &DeploymentId) -> String {
    format!("destroyed/{}/{}/", id.env, id.name)
}

fn to_record(prefix: &str, t: TagInfo) -> Option<DeploymentRecord> {
    let seq = t.name.strip_prefix(prefix)?.parse::<u32>().ok()?;
    let mut meta = DeployMeta::parse(&t.message).unwrap_or_default();
    if meta.time.is_empty() {
        meta.time = rfc3339(UNIX_EPOCH + std::time::Duration::from_secs(t.time.max(0) as u64));
    }
    Some(DeploymentRecord {
        tag: t.name,
        seq,
        commit: t.target,
        tagger: t.tagger,
        meta,
    })
}

/// The records under `prefix` (`deploy/dev/web/`), by sequence number.
pub fn records(git: &GitRepo, prefix: &str) -> Result<Vec<DeploymentRecord>> {
    let mut out: Vec<DeploymentRecord> = git
        .tags(prefix)?
        .into_iter()
        .filter_map(|t| to_record(prefix, t))
        .collect();
    out.sort_by_key(|r| r.seq);
    Ok(out)
}

/// Deployments and tombstones of one deployment, oldest first.
pub fn history(git: &GitRepo, id: &DeploymentId) -> Result<Vec<DeploymentRecord>> {
    let mut all = records(git, &deploy_prefix(id))?;
    all.extend(records(git, &destroyed_prefix(id))?);
    sort_history(&mut all);
    Ok(all)
}

/// The [`history`] of every deployment that has a record, from one listing of the `deploy/` and
/// one of the `destroyed/` tags: what the fleet report reads. Asking [`history`] once per
/// deployment lists every tag each time (a 10,000-deployment fleet took 17 minutes that way).
pub fn histories(git: &GitRepo) -> Result<BTreeMap<DeploymentId, Vec<DeploymentRecord>>> {
    let mut out: BTreeMap<DeploymentId, Vec<DeploymentRecord>> = BTreeMap::new();
    for kind in ["deploy", "destroyed"] {
        for t in git.tags(&format!("{kind}/"))? {
            let [_, env, name, _] = t.name.split('/').collect::<Vec<_>>()[..] else {
                continue;
            };
            let Ok(id) = DeploymentId::parse(&format!("{env}/{name}")) else {
                continue;
            };
            let prefix = format!("{kind}/{env}/{name}/");
            if let Some(record) = to_record(&prefix, t) {
                out.entry(id).or_default().push(record);
            }
        }
    }
    for all in out.values_mut() {
        sort_history(all);
    }
    Ok(out)
}

/// Oldest first; records of the same instant by tag name.
fn sort_history(all: &mut [DeploymentRecord]) {
    all.sort_by(|a, b| a.when().cmp(&b.when()).then(a.tag.cmp(&b.tag)));
}

/// True when some deployment of the environment `env` was recorded with `package`
/// (`<component>@<version>`): what the promotion guard asks of the previous environment.
pub fn package_recorded_in(repo: &SourceRepo, env: &str, package: &str) -> Result<bool> {
    let git = GitRepo::open(repo)?;
    Ok(git
        .tags(&format!("deploy/{env}/"))?
        .into_iter()
        .any(|t| DeployMeta::parse(&t.message).is_some_and(|m| m.package == package)))
}

/// The source-of-truth files of a recorded commit, written to a temporary directory (removed on
/// drop) and opened as a repository whose module roots are still the live one's: what a drift
/// check and the destroy of a deleted request render.
#[derive(Debug)]
pub struct Snapshot {
    pub repo: SourceRepo,
    pub commit: String,
    _dir: tempfile::TempDir,
}

/// The files of `record`'s commit. A commit missing from the clone (shallow, or tags fetched
/// without their history) is an error saying how to fetch it.
pub fn snapshot(live: &SourceRepo, git: &GitRepo, record: &DeploymentRecord) -> Result<Snapshot> {
    let oid = git2::Oid::from_str(&record.commit)
        .map_err(|e| Error::Process(format!("{}: {e}", record.tag)))?;
    if git.repo.find_commit(oid).is_err() {
        return Err(Error::Process(format!(
            "{}: its commit {} is not in this clone{}: fetch it (git fetch --tags --unshallow, or a deeper --depth)",
            record.tag,
            record.commit,
            if git.repo.is_shallow() { " (a shallow clone)" } else { "" }
        )));
    }
    let dir = tempfile::Builder::new()
        .prefix(".gitops-snapshot-")
        .tempdir()
        .map_err(Error::io(std::env::temp_dir()))?;
    git.materialize(oid, dir.path())?;
    Ok(Snapshot {
        repo: live.open_snapshot(dir.path())?,
        commit: record.commit.clone(),
        _dir: dir,
    })
}

/// True when the last event of `history` is a deployment (not a tombstone).
pub fn is_live(history: &[DeploymentRecord]) -> bool {
    history.last().is_some_and(|r| !r.meta.destroyed)
}

/// JSON with object keys sorted and no whitespace: the same value always gives the same bytes.
pub fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        Value::String((*k).clone()),
                        canonical_json(&map[*k])
                    )
                })
                .collect();
            format!("{{{}}}", items.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(canonical_json)
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

/// `sha256:` of the canonical JSON of a deployment's outputs.
pub fn outputs_digest(outputs: &Value) -> String {
    format!("sha256:{}", sha256_hex(canonical_json(outputs).as_bytes()))
}

/// `sha256:` of a request's bytes.
pub fn request_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// Now, as RFC 3339 UTC with milliseconds.
pub fn now() -> String {
    rfc3339(SystemTime::now())
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-03-01T10:00:00.123Z` (sorts as text).
pub fn rfc3339(t: SystemTime) -> String {
    crate::time::rfc3339(t, crate::time::Precision::Millis)
}

/// Reads a JSON file written by the toolkit.
pub fn read_json(path: &std::path::Path) -> Result<Value> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::Process(format!("{}: invalid JSON: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn message_round_trips_and_omits_empty_optionals() {
        let m = DeployMeta {
            deployment: "dev/web".into(),
            package: "web-service@1.1.0".into(),
            profile: "internal-tooling".into(),
            plan_digest: "sha256:ab".into(),
            outputs_digest: "sha256:cd".into(),
            build_tag: "jenkins-42".into(),
            approved_by: None,
            time: "2026-03-01T10:00:00.000Z".into(),
            source_commit: "0123".into(),
            request_sha256: "sha256:ef".into(),
            destroyed: false,
        };
        let text = m.message();
        assert!(
            text.starts_with("deploy dev/web: web-service@1.1.0 (profile internal-tooling)\n\n")
        );
        assert!(text.contains("package = \"web-service@1.1.0\""));
        assert!(!text.contains("approved_by") && !text.contains("destroyed"));
        assert_eq!(DeployMeta::parse(&text), Some(m.clone()));
        let t = DeployMeta {
            destroyed: true,
            approved_by: Some("alice".into()),
            ..m
        };
        let text = t.message();
        assert!(text.contains("destroyed = true") && text.contains("approved_by = \"alice\""));
        assert_eq!(DeployMeta::parse(&text), Some(t));
        // A minimal hand-written record parses too.
        let min = DeployMeta::parse("x\n\npackage = \"a@1.0.0\"\n").unwrap();
        assert_eq!(min.package, "a@1.0.0");
        assert_eq!(DeployMeta::parse("no body"), None);
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = json!({"b": 1, "a": {"y": [1, {"d": 2, "c": "x"}], "x": null}});
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":null,"y":[1,{"c":"x","d":2}]},"b":1}"#
        );
        assert_eq!(
            outputs_digest(&a),
            outputs_digest(&json!({"a": {"x": null, "y": [1, {"c": "x", "d": 2}]}, "b": 1}))
        );
    }

    #[test]
    fn time_is_rfc3339_utc_and_sorts_as_text() {
        let t = UNIX_EPOCH + std::time::Duration::from_millis(1_772_359_200_123);
        assert_eq!(rfc3339(t), "2026-03-01T10:00:00.123Z");
        assert!(rfc3339(UNIX_EPOCH) < rfc3339(t));
    }
}
