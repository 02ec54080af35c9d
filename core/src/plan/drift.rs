//! The drift check behind `gitops-plan --drift`: the deployment is planned *as recorded* (the
//! request, package, profile, environment and tags of its latest `deploy/` record, commit and
//! build tag included), whatever the run's HEAD and `BUILD_TAG`, against the state where the
//! current render says it lives. Any difference is drift, reported attribute by attribute in
//! drift.md, drift.json and drift.xml (JUnit). A deployment with no record is "never deployed",
//! one whose last record is a tombstone "destroyed": neither is drift.

use crate::error::{Error, Result};
use crate::exec::git::GitRepo;
use crate::exec::modcache::ModuleCache;
use crate::model::names::short_id;
use crate::model::sot::{DeploymentId, SourceRepo};
use crate::plan::op::PlanOptions;
use crate::plan::rendered::RenderedDir;
use crate::plan::run::{write, Planned};
use crate::plan::summary::{self, Summary};
use crate::records::deployment::{self as meta, DeploymentRecord};
use crate::render::{RenderOptions, Renderer};
use crate::report::Reporter;
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Who holds the deployment lock during a drift check.
const COMMAND: &str = "gitops-plan --drift";

/// What a drift check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftStatus {
    /// The infrastructure matches the recorded deployment.
    InSync,
    /// It does not: `resources` says where.
    Drift,
    /// No `deploy/` record: nothing to compare with.
    NeverDeployed,
    /// The last record is a tombstone (`destroyed/`).
    Destroyed,
}

impl DriftStatus {
    pub fn text(self) -> &'static str {
        match self {
            DriftStatus::InSync => "in sync",
            DriftStatus::Drift => "drift",
            DriftStatus::NeverDeployed => "never deployed",
            DriftStatus::Destroyed => "destroyed",
        }
    }
}

/// The record a drift check compared with.
#[derive(Debug, Clone, Serialize)]
pub struct RecordRef {
    pub tag: String,
    pub commit: String,
    pub build_tag: String,
    pub package: String,
    pub time: String,
}

impl RecordRef {
    fn of(r: &DeploymentRecord) -> RecordRef {
        RecordRef {
            tag: r.tag.clone(),
            commit: r.commit.clone(),
            build_tag: r.meta.build_tag.clone(),
            package: r.meta.package.clone(),
            time: r.meta.time.clone(),
        }
    }
}

/// The drift reports written into the rendered directory.
#[derive(Debug, Clone, Serialize)]
pub struct DriftFiles {
    pub markdown: PathBuf,
    pub json: PathBuf,
    pub junit: PathBuf,
}

/// The outcome of a drift check; `planned` is `None` when there was nothing to plan.
#[derive(Debug)]
pub struct Drift {
    pub status: DriftStatus,
    pub record: Option<RecordRef>,
    pub planned: Option<Planned>,
    pub markdown: String,
    pub files: DriftFiles,
}

/// Runs the drift check of the deployment rendered in `rendered` (only its deployment and its
/// backend are used). Writes drift.md, drift.json and drift.xml (and `opts.junit`) into it.
pub fn check(
    rendered: &RenderedDir,
    repo: &SourceRepo,
    opts: &PlanOptions,
    reporter: &dyn Reporter,
) -> Result<Drift> {
    crate::plan::policy::check(&repo.root)?;
    let id = DeploymentId::parse(rendered.deployment())?;
    let git = GitRepo::open(repo)?;
    let history = meta::history(&git, &id)?;
    let files = DriftFiles {
        markdown: rendered.dir.join("drift.md"),
        json: rendered.dir.join("drift.json"),
        junit: rendered.dir.join("drift.xml"),
    };
    let last = match history.last() {
        None => return not_planned(&id, DriftStatus::NeverDeployed, None, files, opts),
        Some(r) if r.meta.destroyed => {
            return not_planned(&id, DriftStatus::Destroyed, Some(r), files, opts)
        }
        Some(r) => r,
    };
    reporter.progress(&format!(
        "{id}: drift check as recorded by {} (commit {}, build {})",
        last.tag,
        short_id(&last.commit, 12),
        last.meta.build_tag
    ));
    let snapshot = meta::snapshot(repo, &git, last)?;
    let cache = ModuleCache::new(opts.cache_dir.clone(), false);
    let mut renderer = Renderer::at_commit(
        &snapshot.repo,
        &cache,
        RenderOptions {
            build_tag: last.meta.build_tag.clone(),
            state_dir: None,
            vendor: true,
            module_store: false,
            // A drift check changes nothing: a package revoked since it was deployed is still
            // what runs, and is what the check compares with.
            stage: crate::guard::Stage::Render,
            allow_revoked: true,
        },
        last.commit.clone(),
    );
    renderer.backend = Some(backend_of(rendered)?);
    let recorded = renderer.render(&id)?;
    cache.report_warnings(reporter);
    for w in &recorded.warnings {
        reporter.warning(&format!("{id}: {w}"));
    }
    let parent = rendered.dir.parent().unwrap_or(Path::new("/"));
    let scratch = tempfile::Builder::new()
        .prefix(".gitops-drift-")
        .tempdir_in(parent)
        .map_err(Error::io(parent))?;
    let out = scratch.path().join("render");
    crate::render::write(&recorded, &out)?;
    let recorded_dir = RenderedDir::open(&out)?;
    // The current render's lock: the state is the one it names.
    let _lock = rendered.lock(COMMAND, opts.lock_timeout)?;
    let (tf, vault) = recorded_dir.terraform(repo, &opts.cache_dir)?;
    if let Some(v) = &vault {
        reporter.progress(&format!("{id}: credentials from Vault {}", v.address()));
    }
    reporter.progress(&format!("{id}: terraform init + plan (as recorded)"));
    let title = format!(
        "Drift check: {id} as recorded by {} ({}, profile {}, commit {}, build {})",
        last.tag,
        recorded.manifest.package_ref(),
        recorded.manifest.profile,
        short_id(&last.commit, 12),
        last.meta.build_tag
    );
    let planned = crate::plan::run::plan(
        &recorded_dir,
        repo,
        &tf,
        false,
        opts.lock_timeout.as_secs(),
        &title,
    );
    crate::exec::vault::finish(vault, reporter);
    let mut planned = planned?;
    // In a drift check every difference is drift: a tag removed out of band is not "tag-only".
    as_drift(&mut planned.summary);
    let status = if planned.summary.has_changes() {
        DriftStatus::Drift
    } else {
        DriftStatus::InSync
    };
    let markdown = summary::markdown(&title, &planned.summary, Some(&planned.policy));
    let drift = Drift {
        status,
        record: Some(RecordRef::of(last)),
        planned: Some(planned),
        markdown,
        files,
    };
    write_reports(&id, &drift, opts)?;
    Ok(drift)
}

/// The current render's backend block, a relative local state path made absolute (the recorded
/// render is planned from another directory).
fn backend_of(rendered: &RenderedDir) -> Result<Value> {
    let mut backend = rendered.main["terraform"]["backend"].clone();
    if !backend.is_object() {
        return Err(Error::Process(format!(
            "{}: main.tf.json has no terraform.backend block",
            rendered.dir.display()
        )));
    }
    if let Some(path) = backend["local"]["path"].as_str() {
        let path = Path::new(path);
        if path.is_relative() {
            backend["local"]["path"] = Value::String(rendered.dir.join(path).display().to_string());
        }
    }
    Ok(backend)
}

/// Drift reports every difference as drift, attributes included.
fn as_drift(s: &mut Summary) {
    s.tag_only = 0;
    for c in &mut s.changes {
        c.tag_only = false;
        for a in &mut c.attributes {
            a.per_deploy_tag = false;
        }
    }
}

/// Never deployed or destroyed: the reports say so, and nothing is planned.
fn not_planned(
    id: &DeploymentId,
    status: DriftStatus,
    record: Option<&DeploymentRecord>,
    files: DriftFiles,
    opts: &PlanOptions,
) -> Result<Drift> {
    let record = record.map(RecordRef::of);
    let markdown = match &record {
        Some(r) => format!(
            "# Drift check: {id}\n\n{id} was destroyed ({}, {}): there is nothing to compare.\n",
            r.tag, r.time
        ),
        None => format!(
            "# Drift check: {id}\n\n{id} was never deployed: it has no `deploy/{}/` record (gitops-tag writes one after an apply), so there is nothing to compare.\n",
            id
        ),
    };
    let drift = Drift {
        status,
        record,
        planned: None,
        markdown,
        files,
    };
    write_reports(id, &drift, opts)?;
    Ok(drift)
}

/// drift.md, drift.json, drift.xml (and `opts.junit`) of `drift`.
fn write_reports(id: &DeploymentId, drift: &Drift, opts: &PlanOptions) -> Result<()> {
    let nothing = Summary::default();
    let s = drift.planned.as_ref().map_or(&nothing, |p| &p.summary);
    let (status, files) = (drift.status, &drift.files);
    let xml = summary::drift_junit(&id.to_string(), s, status.text());
    write(&files.junit, xml.as_bytes())?;
    if let Some(j) = &opts.junit {
        write(j, xml.as_bytes())?;
    }
    write(&files.markdown, drift.markdown.as_bytes())?;
    let json = serde_json::json!({
        "deployment": id.to_string(),
        "status": status,
        "drift": status == DriftStatus::Drift,
        "record": drift.record,
        "resources": s.changes,
    });
    write(&files.json, &crate::render::to_json_bytes(&json))
}
