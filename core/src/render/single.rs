//! One deployment: render it (reporting the guard's warnings), explain its inputs, compare it with
//! its output directory or write it there. Each operation returns a typed report.

use super::{Explained, Manifest, Rendered, Renderer};
use crate::error::Result;
use crate::model::sot::DeploymentId;
use crate::report::Reporter;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Where every module input of one deployment came from (`--explain`).
#[derive(Debug, Clone, Serialize)]
pub struct ExplainReport {
    pub deployment: String,
    /// How the request's profile was put together: which repo file merges over which built-in,
    /// which profile a file extends (empty for a built-in used as it is).
    pub profile: Vec<String>,
    pub inputs: Vec<Explained>,
}

/// One render compared with its output directory (`--check`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub deployment: String,
    pub up_to_date: bool,
    /// Files that differ, are missing or are extra (relative paths, sorted).
    pub differs: Vec<String>,
}

/// One render written to its output directory.
#[derive(Debug, Clone, Serialize)]
pub struct WriteReport {
    pub deployment: String,
    pub out: PathBuf,
    pub manifest: Manifest,
}

/// Renders one deployment of the repository; the guard's warnings go to `reporter`
/// (`<env>/<name>: <warning>`).
pub fn render_deployment(
    renderer: &Renderer<'_>,
    id: &DeploymentId,
    reporter: &dyn Reporter,
) -> Result<Rendered> {
    let rendered = renderer.render(id)?;
    renderer.cache.report_warnings(reporter);
    for w in &rendered.warnings {
        reporter.warning(&format!("{}: {w}", rendered.id));
    }
    Ok(rendered)
}

/// The explanation of every module input of a render.
pub fn explain(rendered: &Rendered) -> ExplainReport {
    ExplainReport {
        deployment: rendered.id.to_string(),
        profile: rendered.profile_notes.clone(),
        inputs: rendered.explain.clone(),
    }
}

/// Compares a render with `out`; writes nothing.
pub fn check_deployment(rendered: &Rendered, out: &Path) -> Result<CheckReport> {
    let differs = super::check(rendered, out)?;
    Ok(CheckReport {
        deployment: rendered.id.to_string(),
        up_to_date: differs.is_empty(),
        differs,
    })
}

/// Writes a render to `out` (see [`super::write`]).
pub fn write_deployment(rendered: &Rendered, out: &Path) -> Result<WriteReport> {
    super::write(rendered, out)?;
    Ok(WriteReport {
        deployment: rendered.id.to_string(),
        out: out.to_path_buf(),
        manifest: rendered.manifest.clone(),
    })
}
