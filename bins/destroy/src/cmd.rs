//! `gitops-destroy`: guarded destruction of a deployment, recorded as a tombstone tag, its request
//! removed from git; `--orphans` lists deployments whose request is gone but whose resources live.
//! The operations are `gitops_core::lifecycle::{destroy, orphans}`; this is their command line and
//! printing.

use clap::Parser;
use gitops_cli::{
    print_json, ApproverArg, BuildTagArg, CacheDirArg, JsonArg, LockTimeoutArg, Output, RepoArg,
    StateDirArg,
};
use gitops_core::error::{exit, Error, Result};
use gitops_core::lifecycle::destroy::{self, DestroyOptions};
use gitops_core::lifecycle::orphans::{self, OrphansOptions};
use gitops_core::model::sot::DeploymentId;
use std::path::PathBuf;

const PROGRAM: &str = "gitops-destroy";

/// Destroy a deployment, guarded; or list orphaned deployments (--orphans).
///
/// Requires --confirm <name> (the deployment's name) and, in a protected environment,
/// --approved-by. Renders the deployment (from its request at HEAD; when HEAD no longer has the
/// request, from the commit of its last recorded deployment), plans the destroy (`terraform plan
/// -destroy`), prints the summary, refuses stateful destruction (databases, volumes) without
/// --allow-data-loss, destroys, verifies that the state is empty, records the tombstone tag
/// `destroyed/<env>/<name>/<seq>` and removes the request from git in a commit (or reports that
/// HEAD already removed it: deleting the request file is how a commit asks for destruction).
///
/// --orphans lists deployments with a live recorded deployment (a deploy/ tag without a later
/// destroyed/ tag) but no request at HEAD; with --since REV also the requests deleted in REV..HEAD.
///
/// --out defaults to <state-dir>/work/destroy/<env>/<name>, else build/destroy/<env>/<name>.
///
/// --plan-only plans the destroy and stops (the review of a change request that deletes a request).
///
/// Exit codes: 0 destroyed (or orphans listed), 3 refused (no or wrong --confirm, no approval,
/// data loss, policy deny, lock held), 2 invalid input, 1 failure.
#[derive(Debug, Parser)]
#[command(
    name = "gitops-destroy",
    version,
    mut_arg("approved_by", |a| a.help(
        "Who approved the destruction; required for protected environments, recorded in the tombstone"
    )),
    mut_arg("build_tag", |a| a.help("Build tag recorded in the tombstone (Jenkins sets BUILD_TAG)")),
    after_help = "Examples:
  gitops-destroy --repo platform-live dev/web-frontend --confirm web-frontend
  gitops-destroy --repo platform-live dev/orders-db --confirm orders-db --allow-data-loss
  gitops-destroy --repo platform-live prod/orders-api --confirm orders-api --approved-by alice --json
  gitops-destroy --repo platform-live --orphans --since HEAD~1
  gitops-destroy --repo platform-live --plan-only --json -- dev/web-frontend"
)]
pub struct Cli {
    /// The deployment, as <env>/<name>.
    #[arg(value_name = "ENV/NAME", required_unless_present = "orphans")]
    pub deployment: Option<String>,
    /// The deployment's name, typed again: nothing is destroyed without it.
    #[arg(long, value_name = "NAME")]
    pub confirm: Option<String>,
    #[command(flatten)]
    pub approved_by: ApproverArg,
    /// Proceed although stateful resources (databases, volumes) are destroyed.
    #[arg(long)]
    pub allow_data_loss: bool,
    /// List orphaned deployments (request deleted, resources still recorded) instead.
    #[arg(long, conflicts_with_all = ["deployment", "confirm", "approved_by", "allow_data_loss"])]
    pub orphans: bool,
    /// Only plan the destroy, for a review: needs no --confirm or approval; destroys, records
    /// and commits nothing. Prints the plan (with --json: the gitops-plan --json report, with
    /// "destroy": true). Exit 0 nothing to destroy, 4 resources to destroy, 3 policy deny.
    #[arg(long, conflicts_with_all = ["orphans", "confirm", "approved_by", "allow_data_loss"])]
    pub plan_only: bool,
    /// With --orphans: also the requests deleted in the commits since REV.
    #[arg(long, value_name = "REV", requires = "orphans")]
    pub since: Option<String>,
    #[command(flatten)]
    pub repo: RepoArg,
    /// Where the deployment is rendered and the destroy planned (see above for the default).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
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
    if cli.orphans {
        return list_orphans(&cli);
    }
    let Some(dep) = &cli.deployment else {
        return Err(Error::Usage("give <env>/<name> or --orphans".into()));
    };
    let deployment = DeploymentId::parse(dep)?;
    let build_tag = cli.build_tag.checked()?.to_owned();
    let approved_by = cli.approved_by.checked()?.map(str::to_owned);
    let opts = DestroyOptions {
        repo: cli.repo.repo.clone(),
        deployment,
        confirm: cli.confirm.clone(),
        approved_by,
        allow_data_loss: cli.allow_data_loss,
        out: cli.out.clone(),
        build_tag,
        state_dir: cli.state_dir.absolute()?,
        cache_dir: cli.cache_dir.dir(),
        lock_timeout: cli.lock_timeout.duration(),
        plan_only: cli.plan_only,
    };
    let json = cli.json.json;
    let output = Output::new(PROGRAM, json);
    let plan = destroy::plan(&opts, &output)?;
    if cli.plan_only {
        let report = destroy::plan_only(plan, &output);
        if json {
            print_json(&report.json())?;
        } else {
            gitops_cli::out!("{}", report.markdown);
        }
        return Ok(report.exit_code());
    }
    if !json {
        gitops_cli::out!("{}", plan.markdown());
    }
    let report = destroy::destroy(plan, &output)?;
    if json {
        print_json(&report)?;
    } else {
        gitops_cli::outln!("{}", report.line());
    }
    Ok(exit::OK)
}

/// `gitops-destroy --orphans [--since REV]`.
fn list_orphans(cli: &Cli) -> Result<u8> {
    let report = orphans::orphans(&OrphansOptions {
        repo: cli.repo.repo.clone(),
        since: cli.since.clone(),
    })?;
    if cli.json.json {
        print_json(&report)?;
    } else if report.orphans.is_empty() {
        gitops_cli::outln!("no orphaned deployment");
    } else {
        for o in &report.orphans {
            gitops_cli::outln!(
                "destroy  {}  ({})\n         {}",
                o.deployment,
                o.reason,
                o.destroy
            );
        }
    }
    Ok(exit::OK)
}
