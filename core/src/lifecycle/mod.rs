//! Deployment lifecycle after apply: record (`gitops-tag`), return to an earlier recorded
//! deployment (`gitops-rollback`), guarded destruction and orphans (`gitops-destroy`). Every
//! record is an annotated git tag whose message is a [`meta::DeployMeta`]; every change of the
//! desired state is a git commit.

pub mod orphans;

pub mod tag;

use crate::model::sot::DeploymentId;
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

/// Checks an `--approved-by` value (same rule as gitops-apply).
pub fn check_approver(who: Option<&str>) -> crate::Result<()> {
    if let Some(who) = who {
        if who.is_empty() || who.len() > 128 || who.chars().any(char::is_control) {
            return Err(crate::Error::Usage(format!(
                "--approved-by {}: allowed is a 1-128 character name without control characters",
                crate::model::names::shown(who)
            )));
        }
    }
    Ok(())
}
