//! The plan operation behind `gitops-plan`: guards, the repository policy, the deployment lock,
//! credentials from Vault, `terraform init` + `plan -out`, the artifacts (plan.bin, plan.json,
//! plan.md, plan.policy.json, plan.digest) and, in a drift check, the drift reports.

use crate::error::Result;
use crate::model::sot::SourceRepo;
use crate::plan::drift::{Drift, DriftFiles, DriftStatus, RecordRef};
use crate::plan::policy::PolicyReport;
use crate::plan::rendered::RenderedDir;
use crate::plan::summary::{Change, Summary};
use crate::report::Reporter;
use crate::review::fingerprint::Fingerprint;
use crate::review::record::ReviewStatus;
use serde::Serialize;
use std::path::PathBuf;
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
    /// Updates in place, tag-only ones included.
    pub change: usize,
    pub destroy: usize,
    pub replace: usize,
    /// The updates that change only the per-deploy tags.
    pub tag_only: usize,
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
    /// The plan changes something (tag-only updates included; in a drift check: drift).
    pub changes: bool,
    /// Something changes beyond the per-deploy tags.
    pub real_changes: bool,
    /// The real change in one line, as approvals quote it: "1 to add, 0 to change, 0 to destroy,
    /// 0 to replace (and 21 tag-only updates)".
    pub change_summary: String,
    /// A drift check found drift (changes).
    pub drift: bool,
    /// A drift check's outcome: in_sync, drift, never_deployed, destroyed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift_status: Option<DriftStatus>,
    /// The `deploy/` record a drift check compared with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded: Option<RecordRef>,
    pub summary: PlanCounts,
    /// Every planned change, stateful replacements and deletions first.
    pub resources: Vec<Change>,
    /// Stateful resources the plan deletes or replaces.
    pub data_loss: Vec<Change>,
    /// Root outputs the plan changes: what deployments depending on this one would read
    /// differently (empty: they need no new plan).
    pub outputs_changed: Vec<String>,
    pub policy: PolicyReport,
    /// The plan digest (plan.digest) that `gitops-apply` checks ("" in a drift check: its plan
    /// is not kept).
    pub digest: String,
    /// The plan artifacts (not in a drift check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<PlanFiles>,
    /// The fingerprint of the planned change set (empty in a drift check): what a review
    /// records and a later plan is compared with.
    pub fingerprint: Fingerprint,
    /// How this plan compares with the review HEAD carries (not in a drift check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewStatus>,
    /// A destroy plan (`gitops-destroy --plan-only`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub destroy: bool,
    /// The drift reports of a drift check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift_files: Option<DriftFiles>,
    /// plan.md (drift.md in a drift check).
    #[serde(skip)]
    pub markdown: String,
    /// A policy denied the plan and this was not a drift check: the plan must not be applied
    /// (`gitops-plan` exits 3; `gitops-apply` refuses it).
    #[serde(skip)]
    pub refused: bool,
}

/// Plans the rendered deployment `opts.dir` (or, with `opts.drift`, the deployment as recorded:
/// [`crate::plan::drift`]). A refusal of a guard, a held lock or a broken policy is an error; a
/// policy denial of the plan itself is in the report (`refused`).
pub fn plan(opts: &PlanOptions, reporter: &dyn Reporter) -> Result<PlanReport> {
    let rendered = RenderedDir::open(&opts.dir)?;
    let repo = SourceRepo::open(&opts.repo)?;
    if opts.drift {
        let drift = crate::plan::drift::check(&rendered, &repo, opts, reporter)?;
        return Ok(drift_report(&rendered, drift));
    }
    rendered.guard(&repo, crate::guard::Stage::Plan, reporter)?;
    // A broken repository policy is invalid input: found before Vault, Terraform or any write.
    crate::plan::policy::check(&repo.root)?;
    let _lock = rendered.lock(COMMAND, opts.lock_timeout)?;
    let (tf, vault) = rendered.terraform(&repo, &opts.cache_dir)?;
    let id = rendered.deployment();
    if let Some(v) = &vault {
        reporter.progress(&format!("{id}: credentials from Vault {}", v.address()));
    }
    reporter.progress(&format!("{id}: terraform init + plan"));
    // The session ends (leases revoked, failures reported) whether the plan succeeded or not.
    let title = format!(
        "Plan: {} ({}@{}, profile {})",
        rendered.deployment(),
        rendered.manifest.component,
        rendered.manifest.package,
        rendered.manifest.profile
    );
    let planned = crate::plan::run::plan(
        &rendered,
        &repo,
        &tf,
        false,
        opts.lock_timeout.as_secs(),
        &title,
    );
    crate::exec::vault::finish(vault, reporter);
    let planned = planned?;
    let git = crate::exec::git::GitRepo::open(&repo).ok();
    Ok(planned_report(
        rendered.deployment(),
        &rendered.dir,
        &planned,
        git.as_ref(),
        false,
    ))
}

/// The report of a saved plan (`gitops-plan`, `gitops-destroy --plan-only`) of `dir`: counts,
/// policy, digest, files, fingerprint, and how it compares with the review HEAD of `git`
/// carries.
pub(crate) fn planned_report(
    id: &str,
    dir: &std::path::Path,
    planned: &crate::plan::run::Planned,
    git: Option<&crate::exec::git::GitRepo>,
    destroy: bool,
) -> PlanReport {
    let mut report = report(id, &planned.summary, planned.policy.clone());
    report.destroy = destroy;
    report.refused = !report.policy.denials.is_empty();
    report.digest = planned.record.digest.clone();
    report.files = Some(PlanFiles {
        plan: dir.join("plan.bin"),
        json: dir.join("plan.json"),
        summary: dir.join("plan.md"),
        digest: dir.join("plan.digest"),
    });
    report.markdown = planned.markdown.clone();
    report.fingerprint = crate::review::fingerprint::of(&planned.plan, &planned.summary);
    let action = if destroy { "destroy" } else { "deploy" };
    report.review = Some(crate::review::record::status_at_head(
        git,
        id,
        action,
        &report.fingerprint,
    ));
    report
}

impl PlanReport {
    /// 3 when a policy denied the plan (not in a drift check), else 4 with changes, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.refused {
            crate::exit::REFUSED
        } else if self.changes {
            crate::exit::CHANGES
        } else {
            crate::exit::OK
        }
    }

    /// The `--json` output: the report and its exit code.
    pub fn json(&self) -> PlanJson<'_> {
        PlanJson {
            report: self,
            exit_code: self.exit_code(),
        }
    }
}

/// What `gitops-plan --json` (and `gitops-destroy --plan-only --json`) prints.
#[derive(Serialize)]
pub struct PlanJson<'a> {
    #[serde(flatten)]
    report: &'a PlanReport,
    exit_code: u8,
}

/// The report of a drift check.
fn drift_report(rendered: &RenderedDir, drift: Drift) -> PlanReport {
    let (summary, policy) = match drift.planned {
        Some(p) => (p.summary, p.policy),
        None => (Summary::default(), PolicyReport::default()),
    };
    let mut report = report(rendered.deployment(), &summary, policy);
    report.drift = drift.status == DriftStatus::Drift;
    report.drift_status = Some(drift.status);
    report.recorded = drift.record;
    report.drift_files = Some(drift.files);
    report.markdown = drift.markdown;
    report
}

/// What every report has: the counts, the changes, the policy verdict.
fn report(deployment: &str, s: &Summary, policy: PolicyReport) -> PlanReport {
    PlanReport {
        deployment: deployment.to_owned(),
        changes: s.has_changes(),
        real_changes: s.has_real_changes(),
        change_summary: s.real_line(),
        drift: false,
        drift_status: None,
        recorded: None,
        summary: PlanCounts {
            add: s.add,
            change: s.change,
            destroy: s.destroy,
            replace: s.replace,
            tag_only: s.tag_only,
        },
        data_loss: s.data_loss().into_iter().cloned().collect(),
        resources: s.changes.clone(),
        outputs_changed: s.outputs_changed.clone(),
        refused: false,
        policy,
        digest: String::new(),
        files: None,
        fingerprint: Fingerprint::default(),
        review: None,
        destroy: false,
        drift_files: None,
        markdown: String::new(),
    }
}
