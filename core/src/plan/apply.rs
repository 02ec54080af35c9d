//! The apply operation behind `gitops-apply`: applies exactly the plan `gitops-plan` saved, after
//! proving nothing it was computed from has changed (plan digest, manifest, rendered tree,
//! plan.bin, state), and writes outputs.json with the non-sensitive outputs.

use crate::error::{Error, Result};
use crate::exec::terraform::Terraform;
use crate::model::load::sha256_hex;
use crate::model::sot::SourceRepo;
use crate::plan::rendered::{state_identity, state_outputs, RenderedDir};
use crate::plan::summary::PlanRecord;
use crate::report::Reporter;
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::time::Duration;

/// Who holds the deployment lock during an apply.
const COMMAND: &str = "gitops-apply";

/// What to apply, and who approved it.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The rendered directory holding plan.bin and plan.digest (`gitops-plan`).
    pub dir: PathBuf,
    /// The source-of-truth repository (environments).
    pub repo: PathBuf,
    /// Who approved this apply; required for protected environments, recorded in outputs.json.
    /// The caller checks it is a name (`model::names::check_person`).
    pub approved_by: Option<String>,
    /// How long to wait for a deployment lock held by another run.
    pub lock_timeout: Duration,
    /// Module and plugin cache directory.
    pub cache_dir: PathBuf,
}

/// What an apply did: the contents of outputs.json, and the `--json` output of `gitops-apply`.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    pub deployment: String,
    /// The digest of the plan applied.
    pub plan_digest: String,
    pub approved_by: Option<String>,
    pub build_tag: String,
    pub source_commit: String,
    /// When the apply finished (RFC 3339, UTC).
    pub applied_at: String,
    /// Whether Terraform applied anything (false: the plan had no changes).
    pub applied: bool,
    /// The root module's non-sensitive outputs, name -> value.
    pub outputs: Map<String, Value>,
}

fn refuse(msg: String) -> Error {
    Error::Refused(msg)
}

/// Applies the saved plan of `opts.dir`. Every reason not to apply (missing approval, guard,
/// altered or stale plan, policy denial) is an [`Error::Refused`].
pub fn apply(opts: &ApplyOptions, reporter: &dyn Reporter) -> Result<ApplyReport> {
    let rendered = RenderedDir::open(&opts.dir)?;
    let repo = SourceRepo::open(&opts.repo)?;
    let id = rendered.deployment();
    if rendered.protected() && opts.approved_by.is_none() {
        return Err(refuse(format!(
            "{id} is in protected environment {}: an approval is required (--approved-by <who>)",
            rendered.environment()
        )));
    }
    rendered.guard(&repo, crate::guard::Stage::Apply, reporter)?;
    let record = read_record(&rendered)?;
    let _lock = rendered.lock(COMMAND, opts.lock_timeout)?;
    let (tf, vault) = rendered.terraform(&repo, &opts.cache_dir)?;
    // The session ends (leases revoked, failures reported) whether the apply succeeded or not.
    let applied = run(&rendered, &tf, &record, opts, reporter);
    crate::exec::vault::finish(vault, reporter);
    applied
}

/// `gitops-apply --force-unlock LOCK_ID`: releases the state lock `lock_id` of a remote backend
/// that a killed run left behind (Terraform cannot release a lock when it is SIGKILLed; S3's
/// `<key>.tflock` stays). Takes the deployment lock first and needs the approval a protected
/// environment needs for an apply: releasing a live run's lock would let two runs write the state.
pub fn force_unlock(
    opts: &ApplyOptions,
    lock_id: &str,
    reporter: &dyn Reporter,
) -> Result<UnlockReport> {
    let rendered = RenderedDir::open(&opts.dir)?;
    let repo = SourceRepo::open(&opts.repo)?;
    let id = rendered.deployment();
    if lock_id.trim().is_empty() || lock_id.starts_with('-') {
        return Err(Error::Usage(format!(
            "--force-unlock {}: expected the lock ID Terraform printed (\"Lock Info: ID: ...\")",
            crate::model::names::shown(lock_id)
        )));
    }
    if rendered.protected() && opts.approved_by.is_none() {
        return Err(refuse(format!(
            "{id} is in protected environment {}: releasing its state lock needs an approval (--approved-by <who>)",
            rendered.environment()
        )));
    }
    let _lock = rendered.lock(COMMAND, opts.lock_timeout)?;
    let (tf, vault) = rendered.terraform(&repo, &opts.cache_dir)?;
    let released = crate::plan::run::init(&tf, &rendered.dir).and_then(|()| {
        reporter.progress(&format!("{id}: terraform force-unlock {lock_id}"));
        tf.run_ok(&rendered.dir, &["force-unlock", "-force", "--", lock_id])
    });
    crate::exec::vault::finish(vault, reporter);
    released.map(|_| UnlockReport {
        deployment: id.to_owned(),
        lock_id: lock_id.to_owned(),
    })
}

/// What `--force-unlock` released (its `--json` output).
#[derive(Debug, Clone, Serialize)]
pub struct UnlockReport {
    pub deployment: String,
    pub lock_id: String,
}

/// The steps that run Terraform: the plan and state checks, the apply, outputs.json.
fn run(
    rendered: &RenderedDir,
    tf: &Terraform,
    record: &PlanRecord,
    opts: &ApplyOptions,
    reporter: &dyn Reporter,
) -> Result<ApplyReport> {
    let tf = &crate::plan::recovery::before_apply(rendered, tf)?;
    check_plan_and_state(rendered, tf, record)?;
    run_apply(rendered, tf, record, opts.lock_timeout, reporter)?;
    let report = ApplyReport {
        deployment: rendered.deployment().to_owned(),
        plan_digest: record.digest.clone(),
        approved_by: opts.approved_by.clone(),
        build_tag: rendered.manifest.build_tag.clone(),
        source_commit: rendered.manifest.source_commit.clone(),
        applied_at: crate::records::deployment::now(),
        applied: record.changes,
        outputs: visible_outputs(&state_outputs(tf, &rendered.dir)?),
    };
    let value = serde_json::to_value(&report).map_err(|e| Error::Process(e.to_string()))?;
    let path = rendered.dir.join("outputs.json");
    std::fs::write(&path, crate::render::to_json_bytes(&value)).map_err(Error::io(&path))?;
    let _ = std::fs::remove_file(rendered.dir.join("plan.bin"));
    Ok(report)
}

/// plan.digest, checked against itself, the policy verdict, the manifest and the rendered tree.
fn read_record(rendered: &RenderedDir) -> Result<PlanRecord> {
    let (dir, id) = (&rendered.dir, rendered.deployment());
    let record_bytes = std::fs::read(dir.join("plan.digest")).map_err(|_| {
        Error::Usage(format!(
            "{}: no plan.digest: run gitops-plan first",
            dir.display()
        ))
    })?;
    let record: PlanRecord = serde_json::from_slice(&record_bytes).map_err(|e| {
        refuse(format!(
            "{}: plan.digest is not a plan record ({e})",
            dir.display()
        ))
    })?;
    if record.compute() != record.digest || record.deployment != id {
        return Err(refuse(format!(
            "{}: plan.digest does not match its own contents: it was altered",
            dir.display()
        )));
    }
    if record.policy_denials > 0 {
        return Err(refuse(format!(
            "{id}: the plan was denied by {} policy rule(s); see plan.md",
            record.policy_denials
        )));
    }
    if sha256_hex(&rendered.manifest_bytes) != record.manifest_sha256 {
        return Err(refuse(format!(
            "{id}: the render manifest changed since the plan: plan again"
        )));
    }
    if rendered.tree_digest()? != record.tree_sha256 {
        return Err(refuse(format!(
            "{id}: the rendered directory changed since the plan: plan again"
        )));
    }
    Ok(record)
}

/// plan.bin must be the one the digest names, byte for byte, and the state where it was.
fn check_plan_and_state(rendered: &RenderedDir, tf: &Terraform, record: &PlanRecord) -> Result<()> {
    let (dir, id) = (&rendered.dir, rendered.deployment());
    let plan_bin = std::fs::read(dir.join("plan.bin")).map_err(|_| {
        consumed_by_another_apply(rendered, record).unwrap_or_else(|| {
            Error::Usage(format!(
                "{}: no plan.bin: run gitops-plan first",
                dir.display()
            ))
        })
    })?;
    if sha256_hex(&plan_bin) != record.plan_bin_sha256 {
        return Err(refuse(format!("{id}: plan.bin is not the plan gitops-plan recorded (tampered or replaced): plan again")));
    }
    let (lineage, serial) = state_identity(tf, dir)?;
    if (lineage.as_str(), serial) != (record.state_lineage.as_str(), record.state_serial) {
        return Err(refuse(format!("{id}: stale plan: the state moved on since the plan (serial {} -> {serial}): plan again", record.state_serial)));
    }
    Ok(())
}

/// The refusal for a plan without plan.bin that outputs.json records as applied: another apply
/// (e.g. one this run waited for on the lock) consumed it. A plan is applied once.
fn consumed_by_another_apply(rendered: &RenderedDir, record: &PlanRecord) -> Option<Error> {
    let outputs: Value =
        serde_json::from_slice(&std::fs::read(rendered.dir.join("outputs.json")).ok()?).ok()?;
    if outputs["plan_digest"].as_str() != Some(record.digest.as_str()) {
        return None;
    }
    Some(refuse(format!(
        "{}: the plan {} was already applied by another run at {} (outputs.json); a plan is \
         applied once: plan again",
        rendered.deployment(),
        record.digest,
        outputs["applied_at"]
            .as_str()
            .unwrap_or("an unrecorded time")
    )))
}

/// `terraform apply plan.bin`, unless the plan has no changes.
fn run_apply(
    rendered: &RenderedDir,
    tf: &Terraform,
    record: &PlanRecord,
    lock_timeout: Duration,
    reporter: &dyn Reporter,
) -> Result<()> {
    let id = rendered.deployment();
    if !record.changes {
        reporter.progress(&format!("{id}: the plan has no changes; nothing to apply"));
        return Ok(());
    }
    reporter.progress(&format!("{id}: terraform apply plan.bin"));
    let lock_timeout = format!("-lock-timeout={}s", lock_timeout.as_secs());
    tf.run_ok(
        &rendered.dir,
        &[
            "apply",
            "-input=false",
            "-no-color",
            &lock_timeout,
            "plan.bin",
        ],
    )?;
    Ok(())
}

/// name -> value of the outputs not marked sensitive (`terraform output -json` shape).
fn visible_outputs(outputs: &Value) -> Map<String, Value> {
    outputs
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, o)| o["sensitive"].as_bool() != Some(true))
        .map(|(k, o)| (k.clone(), o["value"].clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_outputs_are_left_out() {
        let outputs = serde_json::json!({
            "endpoint": {"value": "db.example", "type": "string"},
            "password": {"value": "s3cret", "type": "string", "sensitive": true},
            "port": {"value": 5432, "type": "number", "sensitive": false},
        });
        let visible = visible_outputs(&outputs);
        assert_eq!(
            Value::Object(visible),
            serde_json::json!({"endpoint": "db.example", "port": 5432})
        );
        assert!(visible_outputs(&Value::Null).is_empty());
    }
}
