//! Many deployments at once (`--all`, `--changed-since`): render them all in parallel, report the
//! configuration errors together (each once), group identical warnings, then write every render
//! (with progress) or compare each with its output directory.

use super::single::CheckReport;
use super::{Rendered, Renderer};
use crate::error::{Error, Result};
use crate::model::sot::{DeploymentId, SourceRepo};
use crate::report::Reporter;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A progress line every this many renders written.
const PROGRESS_EVERY: usize = 500;

/// Which deployments a fleet run renders, and why.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub deployments: Vec<DeploymentId>,
    /// `<env>/<name>` -> why it is affected (empty for `--all`).
    pub reasons: BTreeMap<String, Vec<String>>,
    /// Deleted requests (reported, not rendered).
    pub destroy: Vec<String>,
}

impl Selection {
    /// Every deployment of the repository.
    pub fn all(repo: &SourceRepo) -> Result<Self> {
        Ok(Selection {
            deployments: repo.deployments()?,
            ..Selection::default()
        })
    }

    /// The deployments affected by the commits since `rev` (see [`super::affected`]).
    pub fn changed_since(repo: &SourceRepo, rev: &str, cache_dir: Option<&Path>) -> Result<Self> {
        Self::of(super::affected::changed_since(repo, rev, cache_dir)?)
    }

    /// The deployments of an affected set.
    pub fn of(affected: super::affected::Affected) -> Result<Self> {
        let deployments = affected
            .render
            .keys()
            .map(|s| DeploymentId::parse(s))
            .collect::<Result<Vec<_>>>()?;
        Ok(Selection {
            deployments,
            reasons: affected.render,
            destroy: affected.destroy,
        })
    }
}

/// Settings of a fleet run.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub selection: Selection,
    /// The output root: each deployment goes to `<out>/<env>/<name>`.
    pub out: PathBuf,
    /// Compare instead of writing.
    pub check: bool,
}

/// What a fleet run did.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum FleetReport {
    /// `check`: each render compared with its directory.
    Checked(Vec<CheckReport>),
    Written(FleetWritten),
}

impl FleetReport {
    /// Whether nothing differs (always true for a written run).
    pub fn up_to_date(&self) -> bool {
        match self {
            FleetReport::Checked(checks) => checks.iter().all(|c| c.up_to_date),
            FleetReport::Written(_) => true,
        }
    }
}

/// The renders written, and the deleted requests of the selection.
#[derive(Debug, Clone, Serialize)]
pub struct FleetWritten {
    pub destroy: Vec<String>,
    pub rendered: Vec<FleetEntry>,
}

/// One render written.
#[derive(Debug, Clone, Serialize)]
pub struct FleetEntry {
    pub component: String,
    pub deployment: String,
    pub out: PathBuf,
    pub package: String,
    pub profile: String,
    pub reasons: Vec<String>,
    pub warnings: Vec<String>,
}

/// Renders the selected deployments. Nothing is written unless every one of them renders: the
/// configuration errors of all of them come back together, each distinct message once.
pub fn render_fleet(
    renderer: &Renderer<'_>,
    options: &FleetOptions,
    reporter: &dyn Reporter,
) -> Result<FleetReport> {
    let ids = &options.selection.deployments;
    reporter.progress(&format!("rendering {} deployment(s)", ids.len()));
    let rendered = render_all(renderer, ids)?;
    renderer.cache.report_warnings(reporter);
    report_warnings(&rendered, reporter);
    let target = |r: &Rendered| options.out.join(&r.id.env).join(&r.id.name);
    if options.check {
        // A store file that differs is reported with every deployment that uses its tree.
        let store = super::output::check_store(&rendered, &options.out)?;
        let checks = rendered
            .par_iter()
            .map(|r| {
                let mut c = super::single::check_deployment(r, &target(r))?;
                let uses = |p: &&String| {
                    r.store
                        .keys()
                        .any(|t| p.starts_with(&format!("{}/{t}/", super::output::STORE_DIR)))
                };
                // Relative to the deployment, like its own files.
                c.differs
                    .extend(store.iter().filter(uses).map(|p| format!("../../{p}")));
                c.up_to_date = c.differs.is_empty();
                Ok(c)
            })
            .collect::<Result<Vec<_>>>()?;
        return Ok(FleetReport::Checked(checks));
    }
    let stored = super::output::write_store(&rendered, &options.out)?;
    if stored > 0 {
        reporter.progress(&format!(
            "{stored} module tree(s) written to {}",
            options.out.join(super::output::STORE_DIR).display()
        ));
    }
    write_all(&rendered, &target, reporter)?;
    let entries = rendered
        .iter()
        .map(|r| FleetEntry {
            component: r.manifest.component.clone(),
            deployment: r.id.to_string(),
            out: target(r),
            package: r.manifest.package.clone(),
            profile: r.manifest.profile.clone(),
            reasons: options
                .selection
                .reasons
                .get(&r.id.to_string())
                .cloned()
                .unwrap_or_default(),
            warnings: r.warnings.clone(),
        })
        .collect();
    Ok(FleetReport::Written(FleetWritten {
        destroy: options.selection.destroy.clone(),
        rendered: entries,
    }))
}

/// Resolves and checks every deployment first: one invalid request writes nothing at all. A
/// mistake in a shared file (gitops.toml, a package) fails every deployment that uses it with the
/// same message: it is reported once. Any other error is returned as is.
fn render_all(renderer: &Renderer<'_>, ids: &[DeploymentId]) -> Result<Vec<Rendered>> {
    // A fleet holds every render until all have succeeded: keep only what is written (bench B7).
    // `--explain` and the profile notes are for one deployment; with the module store nothing is
    // vendored per deployment; the JSON buffers grew by doubling.
    let results: Vec<Result<Rendered>> = ids
        .par_iter()
        .map(|id| {
            renderer.render(id).map(|mut r| {
                r.explain = Vec::new();
                r.profile_notes = Vec::new();
                if !r.store.is_empty() {
                    r.vendor = BTreeMap::new();
                }
                r.main_tf_json.shrink_to_fit();
                r.manifest_json.shrink_to_fit();
                // The manifest is written from manifest_json; the fleet report reads only the
                // deployment's component, package and profile of the structured one.
                r.manifest.inputs = BTreeMap::new();
                r.manifest.modules = BTreeMap::new();
                r.manifest.tags = BTreeMap::new();
                r.manifest.dependencies = BTreeMap::new();
                r
            })
        })
        .collect();
    let mut rendered = Vec::new();
    let mut config_errors = Vec::new();
    let mut seen = HashSet::new();
    for r in results {
        match r {
            Ok(r) => rendered.push(r),
            Err(Error::Config(e)) => {
                if seen.insert(e.to_string()) {
                    config_errors.push(*e)
                }
            }
            Err(e) => return Err(e),
        }
    }
    if !config_errors.is_empty() {
        return Err(Error::Configs(config_errors));
    }
    Ok(rendered)
}

/// The same warning (an uncertified package, say) for many deployments is reported once, with how
/// many deployments it concerns and the first few of them.
fn report_warnings(rendered: &[Rendered], reporter: &dyn Reporter) {
    let mut warned: BTreeMap<&str, Vec<&DeploymentId>> = BTreeMap::new();
    for r in rendered {
        for w in &r.warnings {
            warned.entry(w.as_str()).or_default().push(&r.id);
        }
    }
    for (w, ids) in &warned {
        match ids.as_slice() {
            [id] => reporter.warning(&format!("{id}: {w}")),
            _ => {
                let first: Vec<String> = ids.iter().take(3).map(|i| i.to_string()).collect();
                let more = if ids.len() > 3 { ", ..." } else { "" };
                reporter.warning(&format!(
                    "{w}: {} deployments ({}{more})",
                    ids.len(),
                    first.join(", ")
                ));
            }
        }
    }
}

/// Writes every render in parallel, with a progress line every [`PROGRESS_EVERY`].
fn write_all(
    rendered: &[Rendered],
    target: &(dyn Fn(&Rendered) -> PathBuf + Sync),
    reporter: &dyn Reporter,
) -> Result<()> {
    let done = AtomicUsize::new(0);
    rendered.par_iter().try_for_each(|r| {
        super::write(r, &target(r))?;
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(PROGRESS_EVERY) {
            reporter.progress(&format!("{n}/{} written", rendered.len()));
        }
        Ok::<_, Error>(())
    })
}
