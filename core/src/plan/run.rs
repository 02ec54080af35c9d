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
    init(tf, dir)?;
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
        return Err(crate::exec::terraform::failed("plan", dir, &out));
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

/// Where a successful `terraform init` leaves the digest of what it initialised for.
const INIT_MARK: &str = ".terraform/gitops-init.sha256";

/// `terraform init`, unless the directory is initialised for exactly this render: the same root
/// module and vendored modules (which hold the backend configuration and the module sources), the
/// same lock file, the same Terraform and plugin settings, and Terraform's own records of the
/// backend and the modules still there. A render carries `.terraform` over (render::write), so
/// the second plan of an unchanged render, or a plan after a drift check, skips init.
pub(crate) fn init(tf: &Terraform, dir: &std::path::Path) -> Result<()> {
    let mark = dir.join(INIT_MARK);
    let initialised = dir.join(".terraform/terraform.tfstate").is_file()
        || !std::fs::read(dir.join("main.tf.json"))
            .unwrap_or_default()
            .windows(9)
            .any(|w| w == b"\"backend\"");
    if initialised && providers_present(&dir.join(".terraform/providers")) {
        if let (Ok(was), Ok(now)) = (std::fs::read_to_string(&mark), init_digest(tf, dir)) {
            if was.trim() == now {
                return Ok(());
            }
        }
    }
    let _ = std::fs::remove_file(&mark);
    tf.run_ok(dir, &["init", "-input=false", "-no-color"])?;
    // After init: it may have written the lock file the digest covers.
    write(&mark, init_digest(tf, dir)?.as_bytes())
}

/// Every provider init installed is still there: the plugin cache the links point into may
/// have been cleaned since.
fn providers_present(dir: &std::path::Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return true;
    };
    entries.flatten().all(|e| {
        let path = e.path();
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => providers_present(&path),
            Ok(_) => true,
            Err(_) => false,
        }
    })
}

/// The digest [`init`] compares: the root module files, everything under `modules/`, the lock
/// file, the Terraform program and the settings that change what init installs.
fn init_digest(tf: &Terraform, dir: &std::path::Path) -> Result<String> {
    let mut text = format!("terraform {}\n", tf.program.display());
    for var in ["TF_CLI_CONFIG_FILE", "TF_PLUGIN_CACHE_DIR", "TF_DATA_DIR"] {
        text.push_str(&format!(
            "{var} {}\n",
            std::env::var(var).unwrap_or_default()
        ));
    }
    for (file, digest) in crate::render::tree_files(dir)? {
        let root_module =
            !file.contains('/') && (file.ends_with(".tf") || file.ends_with(".tf.json"));
        if root_module || file.starts_with("modules/") {
            text.push_str(&format!("{file} {digest}\n"));
        }
    }
    if let Ok(lock) = std::fs::read(dir.join(".terraform.lock.hcl")) {
        text.push_str(&format!(
            ".terraform.lock.hcl {}\n",
            crate::model::load::sha256_hex(&lock)
        ));
    }
    let stored = std::fs::read(dir.join("main.tf.json"))
        .unwrap_or_default()
        .windows(crate::render::STORE_DIR.len() + 1)
        .any(|w| w.ends_with(b"/") && &w[..w.len() - 1] == crate::render::STORE_DIR.as_bytes());
    if !dir.join(".terraform/modules/modules.json").is_file()
        && (dir.join("modules").is_dir() || stored)
    {
        // Modules vendored (into the directory or the output root's store) but not installed:
        // init must run.
        text.push_str("modules not installed\n");
    }
    Ok(crate::model::load::sha256_hex(text.as_bytes()))
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
