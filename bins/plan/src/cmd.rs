//! `gitops-plan`: `terraform init` + `plan -out` of a rendered directory with credentials from Vault;
//! writes plan.bin, plan.json, plan.md, plan.policy.json and plan.digest; policy gate; drift mode.
//! The work is [`gitops_core::plan::op::plan`]; this file parses, prints and maps the exit code.

use clap::Parser;
use gitops_cli::{print_json, CacheDirArg, JsonArg, LockTimeoutArg, Output, RepoArg};
use gitops_core::error::Result;
use gitops_core::plan::op::{plan, PlanOptions};
use std::path::PathBuf;

const PROGRAM: &str = "gitops-plan";

/// Plan a rendered deployment: init, plan, policy gate, readable summary, plan digest.
///
/// Credentials the deployment's environment declares are read from Vault (VAULT_ADDR; auth by
/// VAULT_TOKEN, AppRole VAULT_ROLE_ID/VAULT_SECRET_ID, or JWT VAULT_JWT) and handed to Terraform
/// only through its environment. Leases are revoked when the run ends.
///
/// Exit codes: 0 no changes, 4 changes present (or drift, with --drift), 3 refused (policy deny,
/// lock held), 2 invalid input, 1 failure (terraform, Vault, I/O).
#[derive(Debug, Parser)]
#[command(
    name = "gitops-plan",
    version,
    mut_arg("repo", |a| a.help("The source-of-truth repository (environments, policies)")),
    after_help = "Examples:
  gitops-plan --repo platform-live build/dev/web-frontend
  gitops-plan --repo platform-live build/prod/orders-api --json
  gitops-plan --repo platform-live build/prod/orders-api --drift --junit drift.xml"
)]
pub struct Cli {
    /// The rendered directory (gitops-render --out).
    #[arg(value_name = "RENDERED_DIR")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub repo: RepoArg,
    /// Drift check: plan the deployment as its latest deploy/ record says it was deployed
    /// (request, package, profile, environment, commit and build tag of that record, whatever
    /// HEAD and BUILD_TAG are now) against the state RENDERED_DIR names, and write drift.md,
    /// drift.json and drift.xml there. Exit 4 when drift exists; 0 in sync, never deployed or
    /// destroyed.
    #[arg(long)]
    pub drift: bool,
    /// With --drift: also write the JUnit XML report here (it is always written to drift.xml).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    #[command(flatten)]
    pub lock_timeout: LockTimeoutArg,
    #[command(flatten)]
    pub cache_dir: CacheDirArg,
    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(cli: Cli) -> Result<u8> {
    let json = cli.json.json;
    let opts = PlanOptions {
        dir: cli.dir,
        repo: cli.repo.repo,
        drift: cli.drift,
        junit: cli.junit,
        lock_timeout: cli.lock_timeout.duration(),
        cache_dir: cli.cache_dir.dir(),
    };
    let report = plan(&opts, &Output::new(PROGRAM, json))?;
    let code = report.exit_code();
    if json {
        print_json(&report.json())?;
    } else {
        gitops_cli::out!("{}", report.markdown);
        for d in &report.policy.denials {
            let resource = if d.resource.is_empty() {
                "(plan)"
            } else {
                &d.resource
            };
            eprintln!(
                "{PROGRAM}: denied by {} ({}): {resource}: {}",
                d.policy, d.rule, d.message
            );
        }
    }
    Ok(code)
}
