//! The plan operation behind `gitops-plan`: guards, the repository policy, the deployment lock,
//! credentials from Vault, `terraform init` + `plan -out`, the artifacts (plan.bin, plan.json,
//! plan.md, plan.policy.json, plan.digest) and, in a drift check, the drift reports.

use crate::error::Result;
use crate::exec::terraform::Terraform;
use crate::model::sot::SourceRepo;
use crate::plan::policy::PolicyReport;
use crate::plan::rendered::RenderedDir;
use crate::plan::run::{write, Planned};
use crate::plan::summary::{self, Change};
use crate::report::Reporter;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Who holds the deployment lock during a plan.
const COMMAND: &str = "gitops-plan";

/// What to plan, and how.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// The rendered directory (`gitops-render --out`).
    pub dir: PathBuf,
    /// The source-of-truth repository (environments, policies).
    pub repo: PathBuf,
    /// Drift check: plan the deployed commit and report differences (drift.xml, drift.md,
    /// drift.json); a policy denial does not refuse it.
    pub drift: bool,
    /// With `drift`: also write the JUnit XML report here.
    pub junit: Option<PathBuf>,
    /// How long to wait for a deployment lock held by another run.
    pub lock_timeout: Duration,
    /// Module and plugin cache directory.
    pub cache_dir: PathBuf,
}

/// Resource counts of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlanCounts {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub replace: usize,
}

/// The files a plan wrote.
#[derive(Debug, Clone, Serialize)]
pub struct PlanFiles {
    pub plan: PathBuf,
    pub json: PathBuf,
    pub summary: PathBuf,
    pub digest: PathBuf,
}

/// What a plan found. Serialized, it is the `--json` output of `gitops-plan` (with the exit code
/// the caller derives from `refused` and `changes`).
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    pub deployment: String,
    /// The plan changes something.
    pub changes: bool,
    /// A drift check found drift (changes).
    pub drift: bool,
    pub summary: PlanCounts,
    /// Every planned change, stateful replacements and deletions first.
    pub resources: Vec<Change>,
    /// Stateful resources the plan deletes or replaces.
    pub data_loss: Vec<Change>,
    pub policy: PolicyReport,
    /// The plan digest (plan.digest) that `gitops-apply` checks.
    pub digest: String,
    pub files: PlanFiles,
    /// plan.md (also drift.md in a drift check).
    #[serde(skip)]
    pub markdown: String,
    /// This was a drift check.
    #[serde(skip)]
    pub drift_check: bool,
    /// A policy denied the plan and this was not a drift check: the plan must not be applied
    /// (`gitops-plan` exits 3; `gitops-apply` refuses it).
    #[serde(skip)]
    pub refused: bool,
}

/// Plans the rendered deployment `opts.dir`. A refusal of a guard, a held lock or a broken
/// policy is an error; a policy denial of the plan itself is in the report (`refused`).
pub fn plan(opts: &PlanOptions, reporter: &dyn Reporter) -> Result<PlanReport> {
    let rendered = RenderedDir::open(&opts.dir)?;
    let repo = SourceRepo::open(&opts.repo)?;
    rendered.guard(&repo, crate::guard::Stage::Plan, reporter)?;
    // A broken repository policy is invalid input: found before Vault, Terraform or any write.
    crate::plan::policy::check(&repo.root)?;
    let _lock = rendered.lock(COMMAND, opts.lock_timeout)?;
    let (tf, vault) = rendered.terraform(&repo, &opts.cache_dir)?;
    let id = rendered.deployment();
    if let Some(v) = &vault {
        reporter.progress(&format!("{id}: credentials from Vault {}", v.address()));
    }
    // The session ends (leases revoked, failures reported) whether the plan succeeded or not.
    let planned = run(&rendered, &repo, &tf, opts, reporter);
    crate::exec::vault::finish(vault, reporter);
    Ok(report(&rendered, opts.drift, planned?))
}

/// init + plan, the plan artifacts and, in a drift check, the drift reports.
fn run(
    rendered: &RenderedDir,
    repo: &SourceRepo,
    tf: &Terraform,
    opts: &PlanOptions,
    reporter: &dyn Reporter,
) -> Result<Planned> {
    let id = rendered.deployment();
    reporter.progress(&format!("{id}: terraform init + plan"));
    let planned = crate::plan::run::plan(
        rendered,
        repo,
        tf,
        false,
        opts.lock_timeout.as_secs(),
        &title(rendered, opts.drift),
    )?;
    if opts.drift {
        write_drift(&rendered.dir, id, opts.junit.as_deref(), &planned)?;
    }
    Ok(planned)
}

/// The title of plan.md.
fn title(rendered: &RenderedDir, drift: bool) -> String {
    format!(
        "{} {} ({}@{}, profile {})",
        if drift { "Drift check:" } else { "Plan:" },
        rendered.deployment(),
        rendered.manifest.component,
        rendered.manifest.package,
        rendered.manifest.profile
    )
}

/// drift.xml (and `junit`), drift.md and drift.json of a drift check.
fn write_drift(dir: &Path, id: &str, junit: Option<&Path>, planned: &Planned) -> Result<()> {
    let xml = summary::drift_junit(id, &planned.summary);
    write(&dir.join("drift.xml"), xml.as_bytes())?;
    if let Some(j) = junit {
        write(j, xml.as_bytes())?;
    }
    write(&dir.join("drift.md"), planned.markdown.as_bytes())?;
    let drift = serde_json::json!({
        "deployment": id,
        "drift": planned.summary.has_changes(),
        "resources": planned.summary.changes,
    });
    write(
        &dir.join("drift.json"),
        &crate::render::to_json_bytes(&drift),
    )
}

fn report(rendered: &RenderedDir, drift: bool, planned: Planned) -> PlanReport {
    let dir = &rendered.dir;
    let s = &planned.summary;
    let changes = s.has_changes();
    PlanReport {
        deployment: rendered.deployment().to_owned(),
        changes,
        drift: drift && changes,
        summary: PlanCounts {
            add: s.add,
            change: s.change,
            destroy: s.destroy,
            replace: s.replace,
        },
        data_loss: s.data_loss().into_iter().cloned().collect(),
        resources: planned.summary.changes.clone(),
        refused: !planned.policy.denials.is_empty() && !drift,
        policy: planned.policy,
        digest: planned.record.digest,
        files: PlanFiles {
            plan: dir.join("plan.bin"),
            json: dir.join("plan.json"),
            summary: dir.join("plan.md"),
            digest: dir.join("plan.digest"),
        },
        markdown: planned.markdown,
        drift_check: drift,
    }
}
