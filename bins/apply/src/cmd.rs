//! `gitops-apply`: applies exactly the plan `gitops-plan` saved, after proving nothing it was
//! computed from has changed. The work is [`gitops_core::plan::apply::apply`]; this file parses
//! and prints.

use clap::Parser;
use gitops_cli::{print_json, ApproverArg, CacheDirArg, JsonArg, LockTimeoutArg, Output, RepoArg};
use gitops_core::error::{exit, Result};
use gitops_core::model::names::short_id;
use gitops_core::plan::apply::{apply, ApplyOptions};
use std::path::PathBuf;

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
    mut_arg("repo", |a| a.help("The source-of-truth repository (environments)")),
    mut_arg("approved_by", |a| a.help(
        "Who approved this apply; required for protected environments, recorded in outputs.json"
    )),
    after_help = "Examples:
  gitops-apply --repo platform-live build/dev/web-frontend
  gitops-apply --repo platform-live build/prod/orders-api --approved-by alice --json"
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
