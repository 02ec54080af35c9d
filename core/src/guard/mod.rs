//! Guards run before a deployment is rendered, planned or applied. A refusal is exit 3; a warning
//! is reported and the run goes on.
//!
//! - certification ([`certification::enforce`]): protected environments refuse a package version without a
//!   valid certification record (missing, stale digest, revoked); unprotected ones warn;
//! - promotion ([`promotion::enforce`], plan and apply only): a package version reaches an environment
//!   only after a recorded deployment to the previous environment of `gitops.toml`'s `promotion`.

pub mod certification;
pub mod promotion;

use crate::error::Result;
use crate::model::sot::SourceRepo;
use crate::model::ResolvedModule;
use std::collections::BTreeMap;

/// Which command asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Render,
    Plan,
    Apply,
    /// Destruction: never blocked by certification or promotion (removing a deployment whose
    /// package was revoked must always be possible; destroy has its own guards).
    Destroy,
}

/// What the guards look at.
pub struct GuardContext<'a> {
    pub repo: &'a SourceRepo,
    pub stage: Stage,
    pub environment: &'a str,
    pub protected: bool,
    pub deployment: &'a str,
    pub component: &'a str,
    pub version: &'a str,
    /// The package's modules as resolved (commit and tree of each).
    pub modules: &'a BTreeMap<String, ResolvedModule>,
    /// A revoked package only warns (`gitops-rollback --allow-revoked`).
    pub allow_revoked: bool,
}

/// Runs every guard; returns the warnings, or the first refusal.
pub fn check(ctx: &GuardContext<'_>) -> Result<Vec<String>> {
    if ctx.stage == Stage::Destroy {
        return Ok(Vec::new());
    }
    let mut warnings = crate::guard::certification::enforce(ctx)?;
    if ctx.stage != Stage::Render {
        warnings.extend(crate::guard::promotion::enforce(ctx)?);
    }
    Ok(warnings)
}
