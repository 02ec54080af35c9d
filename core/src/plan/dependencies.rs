//! The plan's check of a render's dependencies (`[dependencies]` of the request, recorded in the
//! manifest): each must have been applied (its last record a deployment, not a tombstone) with
//! a package that exports every output wired from it. Terraform then reads those outputs from
//! the dependency's state through `terraform_remote_state`; this check turns "Unsupported
//! attribute" deep in Terraform's output into a refusal that names both deployments, before
//! anything runs or is written.

use crate::error::{Error, Result};
use crate::exec::git::GitRepo;
use crate::model::sot::{DeploymentId, SourceRepo};
use crate::plan::rendered::RenderedDir;
use crate::records::deployment::{history, is_live};

/// Exit 3 when a dependency of `rendered` was never applied (or was destroyed), or its applied
/// package does not export an output this deployment reads.
pub fn check(rendered: &RenderedDir, repo: &SourceRepo) -> Result<()> {
    let deps = &rendered.manifest.dependencies;
    if deps.is_empty() {
        return Ok(());
    }
    let me = rendered.deployment();
    let git = GitRepo::open(repo)?;
    for d in deps.values() {
        let id = DeploymentId::parse(&d.deployment)?;
        let records = history(&git, &id)?;
        let wanted = d.outputs.join(", ");
        if !is_live(&records) {
            let why = match records.last() {
                Some(r) => format!("was destroyed ({})", r.tag),
                None => "has never been applied (no deploy/ record)".to_owned(),
            };
            return Err(Error::Refused(format!(
                "{me} depends on {id} (outputs: {}), which {why}: apply {id} first",
                if wanted.is_empty() {
                    "none wired"
                } else {
                    &wanted
                }
            )));
        }
        let Some(live) = records.last() else { continue };
        let Some((component, version)) = live.meta.package.split_once('@') else {
            continue;
        };
        // A package file that is gone says nothing about the outputs: Terraform will tell.
        let Ok((package, _)) = repo.package(component, version, |allowed| {
            crate::error::ConfigError::new(&rendered.dir, None, "", allowed)
        }) else {
            continue;
        };
        let missing: Vec<&str> = d
            .outputs
            .iter()
            .filter(|o| !package.outputs.contains_key(*o))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(Error::Refused(format!(
                "{me} reads output {} of {id}, which {id} does not have: it runs {} ({}), \
                 whose package does not export it; apply {id} with a package that does first",
                missing.join(", "),
                live.meta.package,
                live.tag
            )));
        }
    }
    Ok(())
}
