//! `gitops-rollback`: return a deployment to an earlier recorded deployment with a forward git
//! commit that restores its request. The operation is `gitops_core::lifecycle::rollback`; this is
//! its command line and printing.

use clap::Parser;
use gitops_cli::{
    print_json, BuildTagArg, CacheDirArg, JsonArg, LockTimeoutArg, Output, RepoArg, StateDirArg,
};
use gitops_core::error::{exit, Result};
use gitops_core::lifecycle::rollback::{rollback, RollbackOptions, RollbackReport};
use gitops_core::model::names::short_id;
use gitops_core::model::sot::DeploymentId;
use std::path::PathBuf;

const PROGRAM: &str = "gitops-rollback";

/// Return a deployment to an earlier recorded deployment, as a new git commit.
///
/// Finds the target deployment tag (--to previous: the one before the latest recorded deployment;
/// a sequence number; or a tag name), reads the deployment request as it was at that tag's commit,
/// renders and plans it against the current state, and refuses (exit 3) when the plan destroys or
/// replaces a stateful resource (database, volume) without --allow-data-loss, when the package (or
/// one of its modules) is revoked in certifications/revoked.toml without --allow-revoked, or when a
/// policy denies the plan. Only then does it commit the restored request (message naming both
/// tags; pushed when there is a remote), render it again at the new commit into --out and plan it
/// there: `gitops-apply --repo REPO OUT` applies it (or the pipeline the commit triggers does).
///
/// --dry-run renders and plans from a temporary directory, prints the summary and commits nothing.
///
/// --out defaults to <state-dir>/work/rollback/<env>/<name> (state dir from --state-dir or
/// GITOPS_STATE_DIR), else build/rollback/<env>/<name>.
///
/// Exit codes: 0 rolled back (committed and planned) or dry run done, 3 refused, 2 invalid input,
/// 1 failure.
#[derive(Debug, Parser)]
#[command(
    name = "gitops-rollback",
    version,
    after_help = "Examples:
  gitops-rollback --repo platform-live dev/web-frontend --to previous --dry-run
  gitops-rollback --repo platform-live dev/web-frontend --to previous
  gitops-rollback --repo platform-live dev/orders-db --to 3 --allow-data-loss --json
  gitops-rollback --repo platform-live prod/orders-api --to deploy/prod/orders-api/7"
)]
pub struct Cli {
    /// The deployment, as <env>/<name>.
    #[arg(value_name = "ENV/NAME")]
    pub deployment: String,
    /// The recorded deployment to return to: `previous`, a sequence number, or a tag name.
    #[arg(long, value_name = "previous|SEQ|TAG")]
    pub to: String,
    #[command(flatten)]
    pub repo: RepoArg,
    /// Where the rollback is rendered and planned (see above for the default).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Proceed although the plan destroys or replaces stateful resources.
    #[arg(long)]
    pub allow_data_loss: bool,
    /// Proceed although the target package or one of its modules is revoked.
    #[arg(long)]
    pub allow_revoked: bool,
    /// Render and plan, print the summary, commit nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub build_tag: BuildTagArg,
    #[command(flatten)]
    pub state_dir: StateDirArg,
    #[command(flatten)]
    pub cache_dir: CacheDirArg,
    #[command(flatten)]
    pub lock_timeout: LockTimeoutArg,
    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(cli: Cli) -> Result<u8> {
    let build_tag = cli.build_tag.checked()?.to_owned();
    let opts = RollbackOptions {
        deployment: DeploymentId::parse(&cli.deployment)?,
        repo: cli.repo.repo.clone(),
        to: cli.to.clone(),
        out: cli.out.clone(),
        allow_data_loss: cli.allow_data_loss,
        allow_revoked: cli.allow_revoked,
        dry_run: cli.dry_run,
        build_tag,
        state_dir: cli.state_dir.absolute()?,
        cache_dir: cli.cache_dir.dir(),
        lock_timeout: cli.lock_timeout.duration(),
    };
    let report = rollback(&opts, &Output::new(PROGRAM, cli.json.json))?;
    if cli.json.json {
        print_json(&report)?;
    } else {
        print_text(&report);
    }
    Ok(exit::OK)
}

fn print_text(r: &RollbackReport) {
    gitops_cli::out!("{}", r.markdown);
    if r.dry_run {
        gitops_cli::outln!(
            "\ndry run: nothing committed (would restore {} to {} from {})",
            r.request.display(),
            r.target,
            r.from
        );
        return;
    }
    match &r.commit {
        Some(c) => gitops_cli::outln!(
            "\nrolled back {} to {} (from {}) in commit {}",
            r.deployment,
            r.target,
            r.from,
            short_id(c, 12)
        ),
        None => gitops_cli::outln!(
            "\n{}: the request already equals {}; no commit",
            r.deployment,
            r.target
        ),
    }
    gitops_cli::outln!(
        "planned in {}: apply with gitops-apply --repo {} {}",
        r.out.display(),
        r.repo.display(),
        r.out.display()
    );
}
