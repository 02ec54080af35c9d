//! `gitops-plan`: `terraform init` + `plan -out` of a rendered directory with credentials from Vault;
//! writes plan.bin, plan.json, plan.md, plan.policy.json and plan.digest; policy gate; drift mode.

use clap::Parser;
use gitops_cli::{print_json, progress};
use gitops_core::error::{exit, Error, Result};
use gitops_core::exec::modcache::default_cache_dir;
use gitops_core::model::sot::SourceRepo;
use gitops_core::plan::rendered::RenderedDir;
use gitops_core::plan::summary as plan;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    after_help = "Examples:
  gitops-plan --repo platform-live build/dev/web-frontend
  gitops-plan --repo platform-live build/prod/orders-api --json
  gitops-plan --repo platform-live build/prod/orders-api --drift --junit drift.xml"
)]
pub struct Cli {
    /// The rendered directory (gitops-render --out).
    #[arg(value_name = "RENDERED_DIR")]
    pub dir: PathBuf,
    /// The source-of-truth repository (environments, policies).
    #[arg(long, env = "GITOPS_REPO", default_value = ".", value_name = "DIR")]
    pub repo: PathBuf,
    /// Drift check: plan the deployed commit and report differences (exit 4 when drift exists).
    #[arg(long)]
    pub drift: bool,
    /// With --drift: also write the JUnit XML report here (it is always written to drift.xml).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
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

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(Error::io(path))
}

pub fn run(cli: Cli) -> Result<u8> {
    let rendered = RenderedDir::open(&cli.dir)?;
    let repo = SourceRepo::open(&cli.repo)?;
    let dir = rendered.dir.clone();
    let id = rendered.deployment().to_owned();
    for w in gitops_core::guard::check(&gitops_core::guard::GuardContext {
        repo: &repo,
        stage: gitops_core::guard::Stage::Plan,
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
    // A broken repository policy is invalid input: found before Vault, Terraform or any write.
    gitops_core::plan::policy::check(&repo.root)?;
    let _lock = rendered.lock(PROGRAM, Duration::from_secs(cli.lock_timeout))?;
    let cache = cli.cache_dir.clone().unwrap_or_else(default_cache_dir);
    let (tf, vault) = rendered.terraform(&repo, &cache)?;
    let say = |m: &str| {
        if !cli.json {
            progress(PROGRAM, &format!("{id}: {m}"));
        }
    };
    if let Some(v) = &vault {
        say(&format!("credentials from Vault {}", v.address()));
    }
    let title = format!(
        "{} {id} ({}@{}, profile {})",
        if cli.drift { "Drift check:" } else { "Plan:" },
        rendered.manifest.component,
        rendered.manifest.package,
        rendered.manifest.profile
    );
    say("terraform init + plan");
    let planned =
        gitops_core::plan::run::plan(&rendered, &repo, &tf, false, cli.lock_timeout, &title)?;
    let (summary, report, record, md) = (
        planned.summary,
        planned.policy,
        planned.record,
        planned.markdown,
    );
    if cli.drift {
        let xml = plan::drift_junit(&id, &summary);
        write(&dir.join("drift.xml"), xml.as_bytes())?;
        if let Some(j) = &cli.junit {
            write(j, xml.as_bytes())?;
        }
        write(&dir.join("drift.md"), md.as_bytes())?;
        let drift = serde_json::json!({ "deployment": id, "drift": summary.has_changes(), "resources": summary.changes });
        write(
            &dir.join("drift.json"),
            &gitops_core::render::to_json_bytes(&drift),
        )?;
    }
    if let Some(v) = vault {
        for e in v.close() {
            progress(PROGRAM, &format!("warning: {e}"));
        }
    }
    let code = if !report.denials.is_empty() && !cli.drift {
        exit::REFUSED
    } else if summary.has_changes() {
        exit::CHANGES
    } else {
        exit::OK
    };
    if cli.json {
        print_json(&serde_json::json!({
            "deployment": id,
            "changes": summary.has_changes(),
            "drift": cli.drift && summary.has_changes(),
            "summary": { "add": summary.add, "change": summary.change, "destroy": summary.destroy, "replace": summary.replace },
            "resources": summary.changes,
            "data_loss": summary.data_loss(),
            "policy": report,
            "digest": record.digest,
            "exit_code": code,
            "files": { "plan": dir.join("plan.bin"), "json": dir.join("plan.json"), "summary": dir.join("plan.md"), "digest": dir.join("plan.digest") },
        }))?;
    } else {
        print!("{md}");
        if !report.denials.is_empty() {
            for d in &report.denials {
                eprintln!(
                    "{PROGRAM}: denied by {} ({}): {}: {}",
                    d.policy,
                    d.rule,
                    if d.resource.is_empty() {
                        "(plan)"
                    } else {
                        &d.resource
                    },
                    d.message
                );
            }
        }
    }
    Ok(code)
}
