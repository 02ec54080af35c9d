//! `gitops-tag`: verifying the deployment tags on every managed resource of a state (`terraform
//! show -json`), recording an applied deployment as an annotated git tag ([`record`]) and listing
//! the records of a deployment ([`history`]).

use crate::error::{exit, Error, Result};
use crate::exec::git::GitRepo;
use crate::exec::lock::DeploymentLock;
use crate::model::names::short_id;
use crate::model::sot::{DeploymentId, SourceRepo};
use crate::plan::rendered::RenderedDir;
use crate::records::deployment::{self as meta, DeployMeta, DeploymentRecord, PUSH_ATTEMPTS};
use crate::report::Reporter;
use serde::{Serialize, Serializer};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The command named in the deployment lock.
const PROGRAM: &str = "gitops-tag";

/// A resource that lacks a required tag or carries a wrong value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offender {
    pub address: String,
    pub problems: Vec<String>,
}

/// The result of a tag check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TagCheck {
    /// Managed resources whose tags were checked.
    pub checked: usize,
    /// Resources that cannot carry tags (exempt), with the reason.
    pub exempt: Vec<String>,
    pub offenders: Vec<Offender>,
}

/// Resource types that cannot carry tags.
fn untaggable(ty: &str) -> bool {
    ty == "null_resource"
        || ty.starts_with("random_")
        || ty.starts_with("time_")
        || ty.ends_with("_attachment")
}

fn resources<'a>(module: &'a Value, out: &mut Vec<&'a Value>) {
    out.extend(module["resources"].as_array().into_iter().flatten());
    for child in module["child_modules"].as_array().into_iter().flatten() {
        resources(child, out);
    }
}

/// Where a resource keeps its tags: sandbox `terraform_data` in `input.tags`; AWS in `tags_all`
/// (provider default tags included) else `tags`; Azure and others in `tags`. `None`: the type has
/// no tags attribute at all.
fn tags_of(rc: &Value) -> Option<&Value> {
    let values = &rc["values"];
    if rc["type"].as_str() == Some("terraform_data") {
        return Some(&values["input"]["tags"]);
    }
    let obj = values.as_object()?;
    match (obj.get("tags_all"), obj.get("tags")) {
        (Some(all), _) if all.is_object() => Some(all),
        (_, Some(t)) => Some(t),
        (Some(all), None) => Some(all),
        (None, None) => None,
    }
}

/// Checks every managed resource of `state` for every tag of `required` with its value.
pub fn check(state: &Value, required: &BTreeMap<String, String>) -> TagCheck {
    let mut all = Vec::new();
    resources(&state["values"]["root_module"], &mut all);
    let mut out = TagCheck::default();
    for rc in all {
        if rc["mode"].as_str() != Some("managed") {
            continue;
        }
        let address = rc["address"].as_str().unwrap_or("?").to_owned();
        let ty = rc["type"].as_str().unwrap_or("");
        if untaggable(ty) {
            out.exempt
                .push(format!("{address} ({ty} cannot carry tags)"));
            continue;
        }
        let Some(tags) = tags_of(rc) else {
            out.exempt
                .push(format!("{address} ({ty} has no tags attribute)"));
            continue;
        };
        out.checked += 1;
        let mut problems = Vec::new();
        for (key, want) in required {
            match tags.get(key).and_then(Value::as_str) {
                None => problems.push(format!("missing tag {key}")),
                Some(have) if have != want => {
                    problems.push(format!("tag {key} = {have:?}, expected {want:?}"))
                }
                Some(_) => {}
            }
        }
        if !problems.is_empty() {
            out.offenders.push(Offender { address, problems });
        }
    }
    out.offenders.sort_by(|a, b| a.address.cmp(&b.address));
    out
}

/// What `gitops-tag RENDERED_DIR` is asked to do.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// The source-of-truth repository (where the tag is created and pushed).
    pub repo: PathBuf,
    /// The rendered directory that gitops-apply applied (holds outputs.json).
    pub dir: PathBuf,
    pub cache_dir: PathBuf,
    /// How long to wait for the deployment lock.
    pub lock_timeout: Duration,
}

/// The outcome of [`record`]: recorded, or refused because resources lack deployment tags.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum RecordReport {
    Recorded(Box<Recorded>),
    Untagged(Untagged),
}

/// A deployment recorded (or found already recorded). JSON: `{"commit", "deployment",
/// "exit_code", "pushed", "record", "recorded", "tag", "tags"}`.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub deployment: String,
    /// False when the last record already was this apply (nothing new was tagged).
    pub recorded: bool,
    /// `deploy/<env>/<name>/<seq>`
    pub tag: String,
    /// The source commit tagged.
    pub commit: String,
    pub pushed: bool,
    pub record: DeployMeta,
    pub tags: TagCheck,
}

impl Serialize for Recorded {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        json!({
            "deployment": self.deployment, "recorded": self.recorded, "tag": self.tag,
            "commit": self.commit, "pushed": self.pushed, "record": self.record,
            "tags": self.tags, "exit_code": exit::OK,
        })
        .serialize(s)
    }
}

/// Refused (exit 3): resources lack deployment tags. JSON: `{"deployment", "exit_code",
/// "recorded": false, "tags"}`.
#[derive(Debug, Clone)]
pub struct Untagged {
    pub deployment: String,
    pub tags: TagCheck,
    /// The refusal, one offender a line.
    pub message: String,
}

impl Serialize for Untagged {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        json!({
            "deployment": self.deployment, "recorded": false, "tags": self.tags,
            "exit_code": exit::REFUSED,
        })
        .serialize(s)
    }
}

/// An applied render: its directory, the repository and what `outputs.json` says.
struct Applied {
    rendered: RenderedDir,
    repo: SourceRepo,
    id: DeploymentId,
    outputs: Value,
}

/// Opens the render and checks that `outputs.json` is from an apply of it, from a commit.
fn applied(opts: &RecordOptions) -> Result<Applied> {
    let rendered = RenderedDir::open(&opts.dir)?;
    let repo = SourceRepo::open(&opts.repo)?;
    let id = DeploymentId::parse(rendered.deployment())?;
    let m = &rendered.manifest;
    let outputs_path = rendered.dir.join("outputs.json");
    if !outputs_path.is_file() {
        return Err(Error::Usage(format!(
            "{}: no outputs.json: run gitops-apply first (gitops-tag records applied deployments)",
            rendered.dir.display()
        )));
    }
    let outputs = meta::read_json(&outputs_path)?;
    if outputs["source_commit"].as_str() != Some(m.source_commit.as_str())
        || outputs["deployment"].as_str() != Some(id.to_string().as_str())
    {
        return Err(Error::Refused(format!(
            "{id}: outputs.json was not written by an apply of this render (source commit {} vs {}): render, plan and apply again",
            outputs["source_commit"], json!(m.source_commit)
        )));
    }
    if m.source_dirty {
        return Err(Error::Refused(format!(
            "{id}: the render was made from uncommitted files (source_dirty): a deployment is recorded only against a commit"
        )));
    }
    Ok(Applied {
        rendered,
        repo,
        id,
        outputs,
    })
}

/// Takes the deployment lock and reads the state (`terraform show -json`).
fn read_state(
    a: &Applied,
    opts: &RecordOptions,
    reporter: &dyn Reporter,
) -> Result<(DeploymentLock, Value)> {
    let lock = a.rendered.lock(PROGRAM, opts.lock_timeout)?;
    let (tf, vault) = a.rendered.terraform(&a.repo, &opts.cache_dir)?;
    super::say(reporter, &a.id, "reading the state (terraform show -json)");
    let shown = tf.run_ok(&a.rendered.dir, &["show", "-json", "-no-color"]);
    crate::exec::vault::finish(vault, reporter);
    let state = serde_json::from_str(&shown?.stdout)
        .map_err(|e| Error::Process(format!("terraform show -json: {e}")))?;
    Ok((lock, state))
}

fn offenders_text(c: &TagCheck) -> String {
    c.offenders
        .iter()
        .map(|o| format!("  {}: {}", o.address, o.problems.join("; ")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The commit a deployment is recorded on: the render's `source_commit`, which must hold what was
/// applied. It must be a commit of this repository, HEAD or in HEAD's history (a record on a
/// commit of no branch would be lost to `history`, `rollback` and drift checks), and hold every
/// input file of the render byte for byte (the manifest's digest of each; built-in profiles
/// aside). A render from uncommitted files (`source_dirty`) was refused before. Each failure is
/// a refusal (exit 3), before the lock is taken or anything is written.
fn recorded_commit(a: &Applied, git: &GitRepo) -> Result<git2::Oid> {
    let (id, m) = (&a.id, &a.rendered.manifest);
    let again = "render, plan and apply again from this repository";
    let commit = git2::Oid::from_str(&m.source_commit)
        .ok()
        .filter(|c| git.repo.find_commit(*c).is_ok())
        .ok_or_else(|| {
            Error::Refused(format!(
                "{id}: the render's source_commit {} is not a commit of {}: {again}",
                json!(m.source_commit),
                a.repo.root.display()
            ))
        })?;
    let head = git.head()?;
    if head != commit && !git.repo.graph_descendant_of(head, commit).unwrap_or(false) {
        return Err(Error::Refused(format!(
            "{id}: the render's source commit {} is not HEAD ({}) nor in its history: a \
             deployment is recorded on a commit of the checked-out branch; check out the branch \
             the render was made from, or {again}",
            short_id(&commit.to_string(), 12),
            short_id(&head.to_string(), 12)
        )));
    }
    for (path, digest) in &m.inputs {
        if path.starts_with("builtin:") {
            continue;
        }
        let at_commit = git.file_at(commit, std::path::Path::new(path))?;
        let found = at_commit.map(|b| format!("sha256:{}", crate::model::load::sha256_hex(&b)));
        if found.as_deref() != Some(digest.as_str()) {
            return Err(Error::Refused(format!(
                "{id}: commit {} does not hold the {path} that was rendered and applied ({}): \
                 the render was not made from that commit; {again}",
                short_id(&commit.to_string(), 12),
                match found {
                    Some(f) => format!("its digest is {f}, the manifest records {digest}"),
                    None => "the commit has no such file".to_owned(),
                }
            )));
        }
    }
    Ok(commit)
}

/// The deployment record of an applied render on `commit` ([`recorded_commit`]).
fn deploy_meta(a: &Applied, git: &GitRepo, commit: git2::Oid) -> Result<DeployMeta> {
    let (id, m) = (&a.id, &a.rendered.manifest);
    let request = git.file_at(commit, &id.path())?.ok_or_else(|| {
        Error::Refused(format!(
            "{id}: commit {commit} has no {}: the render is not from a commit of this repository",
            id.path().display()
        ))
    })?;
    let record = DeployMeta {
        deployment: id.to_string(),
        package: m.package_ref(),
        profile: m.profile.clone(),
        plan_digest: a.outputs["plan_digest"].as_str().unwrap_or("").to_owned(),
        outputs_digest: meta::outputs_digest(&a.outputs["outputs"]),
        build_tag: m.build_tag.clone(),
        approved_by: a.outputs["approved_by"].as_str().map(str::to_owned),
        time: meta::now(),
        source_commit: commit.to_string(),
        request_sha256: meta::request_digest(&request),
        destroyed: false,
    };
    Ok(record)
}

/// `gitops-tag RENDERED_DIR`: verifies the deployment tags of every resource of the applied state,
/// then records the deployment as the annotated tag `deploy/<env>/<name>/<seq>` on the source
/// commit (pushed when there is a remote). Recording the same apply again tags nothing new.
pub fn record(opts: &RecordOptions, reporter: &dyn Reporter) -> Result<RecordReport> {
    let a = applied(opts)?;
    let git = GitRepo::open(&a.repo)?;
    let commit = recorded_commit(&a, &git)?;
    let (_lock, state) = read_state(&a, opts, reporter)?;
    let tags = check(&state, &a.rendered.manifest.tags);
    let id = &a.id;
    if !tags.offenders.is_empty() {
        let message = format!(
            "{id}: {} of {} resources lack deployment tags; the deployment is not recorded:\n{}",
            tags.offenders.len(),
            tags.checked,
            offenders_text(&tags)
        );
        return Ok(RecordReport::Untagged(Untagged {
            deployment: id.to_string(),
            tags,
            message,
        }));
    }
    let record = deploy_meta(&a, &git, commit)?;
    let prefix = meta::deploy_prefix(id);
    let previous = meta::records(&git, &prefix)?;
    let same = previous.last().filter(|r| {
        r.meta.plan_digest == record.plan_digest && r.meta.source_commit == record.source_commit
    });
    let (tag, recorded) = match same {
        Some(same) => (same.tag.clone(), false),
        None => {
            let name = git.tag_and_push(
                &|g: &GitRepo| Ok(format!("{prefix}{}", g.next_seq(&prefix)?)),
                commit,
                &record.message(),
                PUSH_ATTEMPTS,
            )?;
            (name, true)
        }
    };
    Ok(RecordReport::Recorded(Box::new(Recorded {
        deployment: id.to_string(),
        recorded,
        tag,
        commit: commit.to_string(),
        pushed: recorded && git.remote().is_some(),
        record,
        tags,
    })))
}

impl Recorded {
    /// `recorded deploy/dev/web/3 on 0123456789ab (web-service@1.1.0, 4 resources tagged, pushed)`
    pub fn line(&self) -> String {
        format!(
            "{} {} on {} ({}, {} resources tagged{})",
            if self.recorded {
                "recorded"
            } else {
                "already recorded:"
            },
            self.tag,
            short_id(&self.commit, 12),
            self.record.package,
            self.tags.checked,
            if self.pushed { ", pushed" } else { "" }
        )
    }
}

/// What `gitops-tag history` is asked to list.
#[derive(Debug, Clone)]
pub struct HistoryOptions {
    pub repo: PathBuf,
    pub deployment: DeploymentId,
}

/// The recorded deployments and tombstones of one deployment, oldest first. JSON:
/// `{"deployment", "live", "records"}`.
#[derive(Debug, Clone)]
pub struct HistoryReport {
    pub deployment: String,
    /// True when the last record is a deployment, not a tombstone.
    pub live: bool,
    pub records: Vec<DeploymentRecord>,
}

impl Serialize for HistoryReport {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        json!({"deployment": self.deployment, "live": self.live, "records": self.records})
            .serialize(s)
    }
}

/// `gitops-tag history <env>/<name>`.
pub fn history(opts: &HistoryOptions) -> Result<HistoryReport> {
    let repo = SourceRepo::open(&opts.repo)?;
    let git = GitRepo::open(&repo)?;
    let records = meta::history(&git, &opts.deployment)?;
    Ok(HistoryReport {
        deployment: opts.deployment.to_string(),
        live: meta::is_live(&records),
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn required() -> BTreeMap<String, String> {
        [("gitops:commit", "abc"), ("managed-by", "gitops-toolkit")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn finds_missing_and_wrong_tags_in_nested_modules_and_exempts_untaggable_types() {
        let good = json!({"gitops:commit": "abc", "managed-by": "gitops-toolkit"});
        let state = json!({"values": {"root_module": {
            "resources": [
                {"address": "random_id.x", "mode": "managed", "type": "random_id", "values": {}},
                {"address": "data.aws_region.r", "mode": "data", "type": "aws_region", "values": {}}
            ],
            "child_modules": [{
                "resources": [
                    {"address": "module.a.terraform_data.ok", "mode": "managed", "type": "terraform_data", "values": {"input": {"tags": good}}},
                    {"address": "module.a.terraform_data.bad", "mode": "managed", "type": "terraform_data", "values": {"input": {"tags": {"gitops:commit": "old"}}}},
                    {"address": "module.a.aws_vpc.v", "mode": "managed", "type": "aws_vpc", "values": {"tags": null, "tags_all": good}},
                    {"address": "module.a.azurerm_resource_group.g", "mode": "managed", "type": "azurerm_resource_group", "values": {"tags": {}}},
                    {"address": "module.a.aws_route_table_association.r", "mode": "managed", "type": "aws_route_table_association", "values": {"id": "x"}}
                ]
            }]
        }}});
        let c = check(&state, &required());
        assert_eq!(c.checked, 4);
        assert_eq!(c.exempt.len(), 2, "{:?}", c.exempt);
        let addrs: Vec<&str> = c.offenders.iter().map(|o| o.address.as_str()).collect();
        assert_eq!(
            addrs,
            vec![
                "module.a.azurerm_resource_group.g",
                "module.a.terraform_data.bad"
            ]
        );
        let bad = &c.offenders[1].problems;
        assert!(
            bad.iter().any(|p| p.contains("expected \"abc\"")),
            "{bad:?}"
        );
        assert!(bad.iter().any(|p| p == "missing tag managed-by"), "{bad:?}");
    }

    #[test]
    fn an_empty_state_has_nothing_to_check() {
        let c = check(&json!({"format_version": "1.0"}), &required());
        assert_eq!((c.checked, c.offenders.len()), (0, 0));
    }
}
