//! `gitops-apply`: applies exactly the plan `gitops-plan` saved, after proving nothing it was
//! computed from has changed.

use clap::Parser;
use gitops_cli::{print_json, progress};
use gitops_core::error::{exit, Error, Result};
use gitops_core::exec::modcache::default_cache_dir;
use gitops_core::model::load::sha256_hex;
use gitops_core::model::sot::SourceRepo;
use gitops_core::plan::rendered::{state_identity, RenderedDir};
use gitops_core::plan::summary::PlanRecord;
use std::path::PathBuf;
use std::time::Duration;

const PROGRAM: &str = "gitops-apply";

/// Apply the saved plan of a rendered deployment, exactly.
///
/// Refuses (exit 3) when plan.digest does not match the plan, when the rendered directory or its
/// manifest changed since the plan, when the state moved on since the plan (stale plan), when a
/// policy denied the plan, or when the environment is protected and no --approved-by is given.
/// Writes outputs.json with the non-sensitive outputs.
///
/// Exit codes: 0 applied, 3 refused, 2 invalid input, 1 failure.
#[derive(Debug, Parser)]
#[command(
    name = "gitops-apply",
    version,
    after_help = "Examples:
  gitops-apply --repo platform-live build/dev/web-frontend
  gitops-apply --repo platform-live build/prod/orders-api --approved-by alice --json"
)]
pub struct Cli {
    /// The rendered directory holding plan.bin and plan.digest (gitops-plan).
    #[arg(value_name = "RENDERED_DIR")]
    pub dir: PathBuf,
    /// The source-of-truth repository (environments).
    #[arg(long, env = "GITOPS_REPO", default_value = ".", value_name = "DIR")]
    pub repo: PathBuf,
    /// Who approved this apply; required for protected environments, recorded in outputs.json.
    #[arg(long, value_name = "WHO")]
    pub approved_by: Option<String>,
    /// Seconds to wait for a deployment lock held by another run.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub lock_timeout: u64,
    /// Module and plugin cache directory [default: $GITOPS_CACHE_DIR, else ~/.cache/gitops-toolkit].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Machine-readable output on stdout.
    #[arg(long)]
    pub json: bool,
}

fn refuse(msg: String) -> Error {
    Error::Refused(msg)
}

pub fn run(cli: Cli) -> Result<u8> {
    if let Some(who) = &cli.approved_by {
        if who.is_empty() || who.len() > 128 || who.chars().any(char::is_control) {
            return Err(Error::Usage(format!(
                "--approved-by {}: allowed is a 1-128 character name without control characters",
                gitops_core::model::names::shown(who)
            )));
        }
    }
    let rendered = RenderedDir::open(&cli.dir)?;
    let repo = SourceRepo::open(&cli.repo)?;
    let dir = rendered.dir.clone();
    let id = rendered.deployment().to_owned();
    if rendered.protected() && cli.approved_by.is_none() {
        return Err(refuse(format!(
            "{id} is in protected environment {}: an approval is required (--approved-by <who>)",
            rendered.environment()
        )));
    }
    for w in gitops_core::guard::check(&gitops_core::guard::GuardContext {
        repo: &repo,
        stage: gitops_core::guard::Stage::Apply,
        environment: rendered.environment(),
        protected: rendered.protected(),
        deployment: rendered.deployment(),
        component: &rendered.manifest.component,
        version: &rendered.manifest.package,
        modules: &rendered.manifest.modules,
        allow_revoked: false,
    })? {
        progress(PROGRAM, &format!("warning: {}: {w}", rendered.deployment()));
    }
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
    let _lock = rendered.lock(PROGRAM, Duration::from_secs(cli.lock_timeout))?;
    let cache = cli.cache_dir.clone().unwrap_or_else(default_cache_dir);
    let (tf, vault) = rendered.terraform(&repo, &cache)?;
    // The plan file itself must be the one the digest names, byte for byte.
    let plan_bin = std::fs::read(dir.join("plan.bin")).map_err(|_| {
        Error::Usage(format!(
            "{}: no plan.bin: run gitops-plan first",
            dir.display()
        ))
    })?;
    if sha256_hex(&plan_bin) != record.plan_bin_sha256 {
        return Err(refuse(format!("{id}: plan.bin is not the plan gitops-plan recorded (tampered or replaced): plan again")));
    }
    let (lineage, serial) = state_identity(&tf, &dir)?;
    if (lineage.as_str(), serial) != (record.state_lineage.as_str(), record.state_serial) {
        return Err(refuse(format!("{id}: stale plan: the state moved on since the plan (serial {} -> {serial}): plan again", record.state_serial)));
    }
    if !record.changes {
        if !cli.json {
            progress(
                PROGRAM,
                &format!("{id}: the plan has no changes; nothing to apply"),
            );
        }
    } else {
        if !cli.json {
            progress(PROGRAM, &format!("{id}: terraform apply plan.bin"));
        }
        let lock_timeout = format!("-lock-timeout={}s", cli.lock_timeout);
        tf.run_ok(
            &dir,
            &[
                "apply",
                "-input=false",
                "-no-color",
                &lock_timeout,
                "plan.bin",
            ],
        )?;
    }
    let outputs = gitops_core::plan::rendered::state_outputs(&tf, &dir)?;
    let visible: serde_json::Map<String, serde_json::Value> = outputs
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, o)| o["sensitive"].as_bool() != Some(true))
        .map(|(k, o)| (k.clone(), o["value"].clone()))
        .collect();
    let result = serde_json::json!({
        "deployment": id,
        "plan_digest": record.digest,
        "approved_by": cli.approved_by,
        "build_tag": rendered.manifest.build_tag,
        "source_commit": rendered.manifest.source_commit,
        "applied": record.changes,
        "outputs": visible,
    });
    let path = dir.join("outputs.json");
    std::fs::write(&path, gitops_core::render::to_json_bytes(&result)).map_err(Error::io(&path))?;
    let _ = std::fs::remove_file(dir.join("plan.bin"));
    if let Some(v) = vault {
        for e in v.close() {
            progress(PROGRAM, &format!("warning: {e}"));
        }
    }
    if cli.json {
        print_json(&result)?;
    } else {
        println!(
            "applied {id} (plan {}){}",
            &record.digest[..19.min(record.digest.len())],
            cli.approved_by
                .as_deref()
                .map(|w| format!(", approved by {w}"))
                .unwrap_or_default()
        );
        for (k, v) in &visible {
            println!("  {k} = {v}");
        }
    }
    Ok(exit::OK)
}
