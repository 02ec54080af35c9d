//! `gitops-apply`: applies exactly the plan `gitops-plan` saved, after proving nothing it was
//! computed from has changed. The work is [`gitops_core::plan::apply::apply`]; this file parses
//! and prints.

use clap::Parser;
use gitops_cli::{print_json, ApproverArg, CacheDirArg, JsonArg, LockTimeoutArg, Output, RepoArg};
use gitops_core::error::{exit, Result};
use gitops_core::model::names::short_id;
use gitops_core::plan::apply::{apply, force_unlock, ApplyOptions};
use std::path::PathBuf;

const PROGRAM: &str = "gitops-apply";

/// Apply the saved plan of a rendered deployment, exactly.
///
/// Refuses (exit 3) when plan.digest does not match the plan, when the rendered directory or its
/// manifest changed since the plan, when the state moved on since the plan (stale plan), when a
/// policy denied the plan, or when the environment is protected and no --approved-by is given.
/// Writes outputs.json with the non-sensitive outputs.
///
/// With a remote backend (S3 with use_lockfile) Terraform holds a state lock while it writes. A
/// run that was killed leaves it behind; the next plan or apply is refused naming the holder and
/// the lock ID, and `--force-unlock LOCK_ID` releases it (only when that run is gone).
///
/// Exit codes: 0 applied (or unlocked), 3 refused, 2 invalid input, 1 failure.
#[derive(Debug, Parser)]
#[command(
    name = "gitops-apply",
    version,
    mut_arg("repo", |a| a.help("The source-of-truth repository (environments)")),
    mut_arg("approved_by", |a| a.help(
        "Who approved this apply; required for protected environments, recorded in outputs.json"
    )),
    after_help = "Examples:
  gitops-apply --repo platform-live build/dev/web-frontend
  gitops-apply --repo platform-live build/prod/orders-api --approved-by alice --json
  gitops-apply --repo platform-aws build/aws-dev/orders-api --force-unlock 5e1c0a0e-3f0e"
)]
pub struct Cli {
    /// The rendered directory holding plan.bin and plan.digest (gitops-plan).
    #[arg(value_name = "RENDERED_DIR")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub repo: RepoArg,
    #[command(flatten)]
    pub approved_by: ApproverArg,
    #[command(flatten)]
    pub lock_timeout: LockTimeoutArg,
    #[command(flatten)]
    pub cache_dir: CacheDirArg,
    #[command(flatten)]
    pub json: JsonArg,
    /// Release the remote state lock LOCK_ID that a killed run left behind (the ID a refused plan
    /// or apply printed), instead of applying.
    #[arg(long, value_name = "LOCK_ID")]
    pub force_unlock: Option<String>,
}

pub fn run(cli: Cli) -> Result<u8> {
    let approved_by = cli.approved_by.checked()?.map(str::to_owned);
    let json = cli.json.json;
    let opts = ApplyOptions {
        dir: cli.dir,
        repo: cli.repo.repo,
        approved_by,
        lock_timeout: cli.lock_timeout.duration(),
        cache_dir: cli.cache_dir.dir(),
    };
    if let Some(lock_id) = &cli.force_unlock {
        let report = force_unlock(&opts, lock_id, &Output::new(PROGRAM, json))?;
        if json {
            print_json(&report)?;
        } else {
            gitops_cli::outln!(
                "released the state lock {} of {}",
                report.lock_id,
                report.deployment
            );
        }
        return Ok(exit::OK);
    }
    let report = apply(&opts, &Output::new(PROGRAM, json))?;
    if json {
        print_json(&report)?;
    } else {
        gitops_cli::outln!(
            "applied {} (plan {}){}",
            report.deployment,
            short_id(&report.plan_digest, 19),
            report
                .approved_by
                .as_deref()
                .map(|w| format!(", approved by {w}"))
                .unwrap_or_default()
        );
        for (k, v) in &report.outputs {
            gitops_cli::outln!("  {k} = {v}");
        }
    }
    Ok(exit::OK)
}
