//! The certification guard: the state of a package version (certified, stale, revoked,
//! uncertified) for the modules a deployment resolved, and what render, plan and apply do with it.
//! Protected environments refuse anything but certified (exit 3); unprotected ones warn.

use crate::error::{ConfigError, Error, Result};
use crate::guard::GuardContext;
use crate::model::sot::SourceRepo;
use crate::model::ResolvedModule;
use crate::model::{Cloud, Package};
use crate::records::certification as record;
use crate::records::digest;
use crate::records::revocation::{self, RevokedList, Subject};
use std::collections::BTreeMap;

/// The certification state of one package version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Certified,
    /// A record exists, but the package or a module moved since; the detail names what.
    Stale(String),
    /// The package or one of its module versions is revoked; the detail names it and the reason.
    Revoked(String),
    /// No record (or none for this cloud).
    Uncertified(String),
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Certified => "certified",
            State::Stale(_) => "stale",
            State::Revoked(_) => "revoked",
            State::Uncertified(_) => "uncertified",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            State::Certified => "",
            State::Stale(d) | State::Revoked(d) | State::Uncertified(d) => d,
        }
    }
}

fn short(s: &str) -> &str {
    crate::model::names::short_id(s, 8)
}

/// The state of `component@version` for a deployment on `cloud` whose modules resolved to `modules`.
pub fn state(
    repo: &SourceRepo,
    revoked: &RevokedList,
    component: &str,
    version: &str,
    package: &Package,
    cloud: Cloud,
    modules: &BTreeMap<String, ResolvedModule>,
) -> Result<State> {
    if let Some(why) = revoked.first_hit(&Subject::package(component, version, package)) {
        return Ok(State::Revoked(why));
    }
    let path = record::record_path(component, version);
    let Some(rec) = record::read_record(repo, component, version)? else {
        return Ok(State::Uncertified(format!("no {}", path.display())));
    };
    let cloud_name = cloud.to_string();
    if !rec.clouds.contains(&cloud_name) {
        return Ok(State::Uncertified(format!(
            "{} covers {}, not cloud {cloud}",
            path.display(),
            rec.clouds.join(", ")
        )));
    }
    let mut why = Vec::new();
    if digest::package_file_digest(package)? != rec.package_file_digest {
        why.push(format!(
            "packages/{component}/{version}.toml changed since certification"
        ));
    }
    let recorded: BTreeMap<&str, &record::RecordModule> = rec
        .modules
        .iter()
        .filter(|m| m.cloud == cloud_name)
        .map(|m| (m.name.as_str(), m))
        .collect();
    for (name, now) in modules {
        match recorded.get(name.as_str()) {
            None => why.push(format!("module {name} was added since certification")),
            Some(r) if r.git_ref != now.git_ref || r.commit != now.commit => why.push(format!(
                "module {name} moved: record has {} at {}, now {} at {}",
                r.git_ref,
                short(&r.commit),
                now.git_ref,
                short(&now.commit)
            )),
            Some(r) if r.tree != now.tree || r.path != now.path => why.push(format!(
                "module {name} code changed: record has tree {} at {}, now tree {}",
                short(&r.tree),
                r.git_ref,
                short(&now.tree)
            )),
            Some(_) => {}
        }
    }
    for name in recorded.keys() {
        if !modules.contains_key(*name) {
            why.push(format!("module {name} was removed since certification"));
        }
    }
    if why.is_empty() {
        Ok(State::Certified)
    } else {
        Ok(State::Stale(why.join("; ")))
    }
}

/// The guard called by render, plan and apply (see `crate::guard`).
pub fn enforce(ctx: &GuardContext<'_>) -> Result<Vec<String>> {
    // Certification runs render into the certification environments: nothing to enforce there.
    if ctx
        .repo
        .config
        .certification
        .environments
        .iter()
        .any(|e| e == ctx.environment)
    {
        return Ok(Vec::new());
    }
    let env_name = ctx.environment.to_owned();
    let (env, _) = ctx.repo.environment(&env_name, |known| {
        ConfigError::new(
            format!("environments/{env_name}.toml"),
            None,
            "no such file",
            format!("an environment of the repository: {known}"),
        )
    })?;
    let revoked = revocation::read(&ctx.repo.root)?;
    let pkg = ctx.repo.package(ctx.component, ctx.version, |allowed| {
        ConfigError::new(
            format!("packages/{}/{}.toml", ctx.component, ctx.version),
            None,
            "no such file",
            allowed,
        )
    });
    let state = match pkg {
        Ok((package, _)) => state(
            ctx.repo,
            &revoked,
            ctx.component,
            ctx.version,
            &package,
            env.cloud,
            ctx.modules,
        )?,
        Err(Error::Config(_)) => State::Uncertified(format!(
            "no packages/{}/{}.toml",
            ctx.component, ctx.version
        )),
        Err(e) => return Err(e),
    };
    let what = format!("{}@{}", ctx.component, ctx.version);
    let text = match &state {
        State::Certified => return Ok(Vec::new()),
        State::Uncertified(d) => format!("package {what} is not certified ({d})"),
        State::Stale(d) => format!("the certification of package {what} is stale: {d}"),
        State::Revoked(d) => format!("package {what} is revoked: {d}"),
    };
    let allowed_revoked = ctx.allow_revoked && matches!(state, State::Revoked(_));
    if ctx.protected && !allowed_revoked {
        let fix = match &state {
            State::Revoked(_) => "use a package version without the revoked module".to_owned(),
            _ => format!(
                "certify it: gitops-certify run {} {}",
                ctx.component, ctx.version
            ),
        };
        Err(Error::Refused(format!(
            "{}: {text}; protected environment {} needs a certified package: {fix}",
            ctx.deployment, ctx.environment
        )))
    } else {
        let why = if ctx.protected {
            "--allow-revoked".to_owned()
        } else {
            format!("environment {} is not protected", ctx.environment)
        };
        Ok(vec![format!("{text} (allowed: {why})")])
    }
}
