//! Promotion order: with `promotion = ["dev", "staging", "prod"]` in `gitops.toml`, a package
//! version of a component reaches an environment only after a recorded deployment
//! (`deploy/<prev>/<name>/<seq>`, written by `gitops-tag`) of that same package version to the
//! previous environment. Environments not in the list, and the first one, are not restricted.

use crate::error::{Error, Result};
use crate::guard::GuardContext;

/// Promotion guard, for plan and apply: a refusal names the missing environment and package.
pub fn enforce(ctx: &GuardContext<'_>) -> Result<Vec<String>> {
    let order = &ctx.repo.config.promotion;
    let Some(pos) = order.iter().position(|e| e == ctx.environment) else {
        return Ok(Vec::new());
    };
    if pos == 0 {
        return Ok(Vec::new());
    }
    let previous = &order[pos - 1];
    let package = format!("{}@{}", ctx.component, ctx.version);
    if crate::records::deployment::package_recorded_in(ctx.repo, previous, &package)? {
        return Ok(Vec::new());
    }
    Err(Error::Refused(format!(
            "promotion: {package} has no recorded deployment to {previous}, which comes before {} in gitops.toml's promotion order ({}); deploy {package} to {previous} and record it with gitops-tag first ({} needs it)",
            ctx.environment,
            order.join(" -> "),
            ctx.deployment
    )))
}
