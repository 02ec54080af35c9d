//! The plan step of gitops-plan, rollback and destroy: init, plan
//! `-out=plan.bin`, show -json, policy gate, plan digest) writing the same artifacts, so
//! `gitops-apply` accepts a directory planned here exactly as one planned by `gitops-plan`.

use crate::error::{Error, Result};
use crate::exec::terraform::Terraform;
use crate::model::sot::SourceRepo;
use crate::plan::policy::PolicyReport;
use crate::plan::rendered::{state_identity, RenderedDir};
use crate::plan::summary::{self as plan, PlanRecord, Summary};
use serde_json::Value;

/// What a plan said.
#[derive(Debug)]
pub struct Planned {
    pub summary: Summary,
    pub plan: Value,
    pub record: PlanRecord,
    pub policy: PolicyReport,
    /// plan.md
    pub markdown: String,
}

/// Writes one plan artifact (plan.json, plan.md, drift.xml, ...).
pub(super) fn write(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(Error::io(path))
}

/// init + plan (`-destroy` when `destroy`) of `rendered`; the caller holds the deployment lock.
pub fn plan(
    rendered: &RenderedDir,
    repo: &SourceRepo,
    tf: &Terraform,
    destroy: bool,
    lock_timeout: u64,
    title: &str,
) -> Result<Planned> {
    let dir = &rendered.dir;
    // A broken repository policy is invalid input, reported before init (and before the old plan
    // artifacts are removed).
    crate::plan::policy::check(&repo.root)?;
    crate::plan::recovery::check(rendered)?;
    crate::plan::dependencies::check(rendered, repo)?;
    for f in [
        "plan.bin",
        "plan.json",
        "plan.md",
        "plan.digest",
        "plan.policy.json",
    ] {
        // Not outputs.json: it records the last apply, and gitops-tag reads it also after a
        // no-change plan or a drift check of the applied directory (docs/lifecycle.md).
        let _ = std::fs::remove_file(dir.join(f));
    }
    tf.run_ok(dir, &["init", "-input=false", "-no-color"])?;
    let lock = format!("-lock-timeout={lock_timeout}s");
    let mut args = vec![
        "plan",
        "-input=false",
        "-no-color",
        "-detailed-exitcode",
        &lock,
        "-out=plan.bin",
    ];
    if destroy {
        args.push("-destroy");
    }
    let out = tf.run(dir, &args)?;
    if out.code != 0 && out.code != 2 {
        return Err(crate::exec::terraform::TerraformError::Exit {
            command: "plan".into(),
            dir: dir.display().to_string(),
            code: out.code,
            stderr: crate::exec::terraform::tail(&out.stderr, 40),
        }
        .into());
    }
    let plan_json = tf
        .run_ok(dir, &["show", "-json", "plan.bin"])?
        .stdout
        .into_bytes();
    let plan_value: Value = serde_json::from_slice(&plan_json)
        .map_err(|e| Error::Process(format!("terraform show -json: {e}")))?;
    write(&dir.join("plan.json"), &plan_json)?;
    let summary = plan::summarize(&plan_value);
    let manifest =
        serde_json::to_value(&rendered.manifest).map_err(|e| Error::Process(e.to_string()))?;
    let policy =
        crate::plan::policy::evaluate(&repo.root, &plan_value, &summary.changes, &manifest)?;
    let policy_json = serde_json::to_value(&policy).map_err(|e| Error::Process(e.to_string()))?;
    write(
        &dir.join("plan.policy.json"),
        &crate::render::to_json_bytes(&policy_json),
    )?;
    let (lineage, serial) = state_identity(tf, dir)?;
    let plan_bin = std::fs::read(dir.join("plan.bin")).map_err(Error::io(dir.join("plan.bin")))?;
    let record = PlanRecord::new(
        rendered.deployment(),
        &plan_json,
        &plan_bin,
        &rendered.manifest_bytes,
        &rendered.tree_digest()?,
        &lineage,
        serial,
        summary.has_changes(),
        policy.denials.len(),
    );
    let record_json = serde_json::to_value(&record).map_err(|e| Error::Process(e.to_string()))?;
    write(
        &dir.join("plan.digest"),
        &crate::render::to_json_bytes(&record_json),
    )?;
    let markdown = plan::markdown(title, &summary, Some(&policy));
    write(&dir.join("plan.md"), markdown.as_bytes())?;
    Ok(Planned {
        summary,
        plan: plan_value,
        record,
        policy,
        markdown,
    })
}

/// The refusal for a plan that destroys or replaces stateful resources, naming them.
pub fn data_loss_refusal(id: &str, summary: &Summary, what: &str) -> Option<Error> {
    let loss = summary.data_loss();
    if loss.is_empty() {
        return None;
    }
    let list: Vec<String> = loss
        .iter()
        .map(|c| format!("{} ({})", c.address, c.action))
        .collect();
    Some(Error::Refused(format!(
        "{id}: {what} destroys or replaces stateful resources (data loss): {}; give --allow-data-loss to proceed",
        list.join(", ")
    )))
}

/// The refusal for a plan a policy denied.
pub fn policy_refusal(id: &str, policy: &PolicyReport) -> Option<Error> {
    if policy.denials.is_empty() {
        return None;
    }
    let list: Vec<String> = policy
        .denials
        .iter()
        .map(|d| format!("{} ({}): {}", d.policy, d.rule, d.message))
        .collect();
    Some(Error::Refused(format!(
        "{id}: the plan was denied by policy: {}",
        list.join("; ")
    )))
}
