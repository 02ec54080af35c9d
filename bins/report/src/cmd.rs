//! `gitops-report`: the fleet report of a source-of-truth repository, written as report.html,
//! report.json and report.md. The collection is `gitops_core::fleet::collect`, the writers are
//! `gitops_core::fleet`; this is their command line and printing.

use clap::Parser;
use gitops_cli::{print_json, CacheDirArg, JsonArg, Output, RepoArg, StateDirArg};
use gitops_core::error::{exit, Error, Result};
use gitops_core::fleet::{self, collect};
use std::path::PathBuf;

const PROGRAM: &str = "gitops-report";

/// Write the fleet report: what runs where, which version, since when, in one page.
///
/// Reads the source-of-truth repository (requests, environments, promotion order; a warning when
/// the work tree differs from HEAD), its deploy/ and destroyed/ tags, its certification records
/// and revocations, the Terraform state of each deployment (read-only: no Terraform runs, no lock
/// is taken, nothing is written there) and, with --drift-dir, the drift files of the latest drift
/// run. Writes report.html (one self-contained page), report.json and report.md into --out
/// (each file replaced whole).
///
/// Per deployment: environment, component, profile, requested and deployed package version, the
/// last deploy record (time, build, commit, approver), age, resources by type, the certification
/// of its package (valid, stale, revoked, none), drift (in sync, drift with the count, unknown),
/// the lock when held and the last failed apply. Then the versions per component and
/// environment with what waits for promotion, orphans (state without a request, request never
/// applied, destroyed with state left), the certification matrix, resources per environment, the
/// oldest deployments and deployed packages that are revoked or not certified.
///
/// State: the local backend's state file is read where the backend template of gitops.toml puts
/// it ({state_dir}: --state-dir or GITOPS_STATE_DIR), and beside it the lock (<state>.gitops.lock)
/// and the log of the last apply (<state>.gitops-apply.log). s3 and azurerm state is not read
/// (that needs Terraform and the environment's credentials): resources unknown. Certification
/// states resolve module tags through the module cache (--cache-dir), as `gitops-certify status`
/// does, without fetching tags the cache has.
///
/// --drift-dir DIR: the directory a drift run rendered the fleet into, with the drift.json that
/// `gitops-plan --drift` writes into each rendered directory: DIR/<env>/<name>/drift.json. A
/// deployment without one, or whose drift.json checked an older record than the one deployed
/// now, shows drift unknown.
///
/// Exit codes: 0 written, 2 invalid input (not a source-of-truth repository, a file that does not
/// parse, --drift-dir not a directory; nothing written), 1 failure (git, I/O).
#[derive(Debug, Parser)]
#[command(
    name = "gitops-report",
    version,
    after_help = "Examples:
  gitops-report --repo platform-live
  gitops-report --repo platform-live --out public/fleet --state-dir /var/lib/gitops/state
  gitops-report --repo platform-live --drift-dir build --json"
)]
pub struct Cli {
    #[command(flatten)]
    pub repo: RepoArg,
    /// Directory the report is written to (report.html, report.json, report.md).
    #[arg(long, value_name = "DIR", default_value = "report")]
    pub out: PathBuf,
    /// The drift run's directory: DIR/<env>/<name>/drift.json (see above).
    #[arg(long, value_name = "DIR")]
    pub drift_dir: Option<PathBuf>,
    #[command(flatten)]
    pub state_dir: StateDirArg,
    #[command(flatten)]
    pub cache_dir: CacheDirArg,
    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(cli: Cli) -> Result<u8> {
    if let Some(d) = &cli.drift_dir {
        if !d.is_dir() {
            return Err(Error::Usage(format!(
                "--drift-dir {}: not a directory (the directory a drift run rendered into, with \
                 <env>/<name>/drift.json)",
                d.display()
            )));
        }
    }
    let opts = collect::CollectOptions {
        repo: cli.repo.repo.clone(),
        state_dir: cli.state_dir.absolute()?,
        cache_dir: cli.cache_dir.dir(),
        drift_dir: cli.drift_dir.clone(),
        now: std::time::SystemTime::now(),
    };
    let json = cli.json.json;
    let report = collect::collect(&opts, &Output::new(PROGRAM, json))?;
    let written = fleet::write(&report, &cli.out)?;
    if json {
        print_json(&serde_json::json!({
            "html": written.html,
            "json": written.json,
            "md": written.md,
            "totals": report.totals,
        }))?;
    } else {
        let t = &report.totals;
        gitops_cli::outln!(
            "{} deployments ({} deployed, {} resources), {} drifted, {} orphans, {} at risk, {} locked",
            t.deployments,
            t.deployed,
            t.resources,
            t.drifted,
            t.orphans,
            t.at_risk,
            t.locked
        );
        for path in [&written.html, &written.json, &written.md] {
            gitops_cli::outln!("{}", path.display());
        }
    }
    Ok(exit::OK)
}
