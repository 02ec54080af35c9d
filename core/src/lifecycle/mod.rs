//! Deployment lifecycle after apply: record (`gitops-tag`, [`tag`]), return to an earlier recorded
//! deployment (`gitops-rollback`, [`rollback`]), guarded destruction and orphans
//! (`gitops-destroy`, [`destroy`], [`orphans`]). Every record is an annotated git tag whose message
//! is a [`crate::records::deployment::DeployMeta`]; every change of the desired state is a git
//! commit.

pub mod destroy;
pub mod orphans;
pub mod rollback;
pub mod tag;

use crate::error::{Error, Result};
use crate::model::sot::DeploymentId;
use crate::report::Reporter;
use std::path::{Path, PathBuf};

/// Where rollback and destroy render when no `--out` is given: `<state-dir>/work/<verb>/<env>/<name>`
/// when a state directory is set, else `build/<verb>/<env>/<name>` under the current directory.
pub fn default_out(verb: &str, state_dir: Option<&Path>, id: &DeploymentId) -> PathBuf {
    let base = match state_dir {
        Some(s) => s.join("work"),
        None => PathBuf::from("build"),
    };
    base.join(verb).join(&id.env).join(&id.name)
}

/// `out` as an absolute path, else the absolute [`default_out`].
fn out_dir(
    out: Option<&Path>,
    verb: &str,
    state_dir: Option<&Path>,
    id: &DeploymentId,
) -> Result<PathBuf> {
    match out {
        Some(o) => std::path::absolute(o).map_err(Error::io(o)),
        None => std::path::absolute(default_out(verb, state_dir, id)).map_err(Error::io("build")),
    }
}

/// Progress about one deployment: `<env>/<name>: <message>`.
fn say(reporter: &dyn Reporter, id: &DeploymentId, message: &str) {
    reporter.progress(&format!("{id}: {message}"));
}
