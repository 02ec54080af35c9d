//! Render: deployment request + environment + profile + package -> a Terraform root module in JSON
//! syntax with vendored module code and a manifest. Everything is resolved and checked in memory
//! first; only a fully valid render is written, through a temporary directory and a rename.
//!
//! The steps of one render, each in its own file: `wiring.rs` checks the package's module wiring,
//! `precedence.rs` decides every module input (and explains it), `emit.rs` builds the root module
//! (`main.tf.json`), `output.rs` writes or compares the files. The operations of the command line
//! are `single.rs` (one deployment: render, explain, check, write) and `fleet.rs` (many in
//! parallel); `affected.rs` selects what a commit range affects.

pub mod affected;
mod dependencies;
mod emit;
mod fleet;
mod output;
mod precedence;
mod single;
mod wiring;

pub use emit::{backend_settings, escape_template, BackendVars};
pub use fleet::{render_fleet, FleetEntry, FleetOptions, FleetReport, FleetWritten, Selection};
pub use output::{
    check, store_source, to_json_bytes, tree_files, write, RENDERED_DIR_LOCK, STORE_DIR,
};
pub use precedence::{Explained, Layer};
pub use single::{
    check_deployment, explain, render_deployment, write_deployment, CheckReport, ExplainReport,
    WriteReport,
};
pub(crate) use wiring::module_expr;

use crate::error::{ConfigError, Error, Result};
use crate::exec::modcache::ModuleCache;
use crate::model::interface::ModuleInterface;
use crate::model::load::SourceFile;
use crate::model::names::shown;
use crate::model::profile::{self, ResolvedProfile};
use crate::model::sot::{DeploymentId, SourceRepo};
use crate::model::{Deployment, Environment, Package};
use precedence::InputContext;
use wiring::check_wiring;

use crate::model::ResolvedModule;
pub use crate::records::manifest::Manifest;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Module name -> the module as resolved at its pinned tag.
type Modules = BTreeMap<String, ResolvedModule>;
/// Module name -> its interface (variables and outputs).
type Interfaces = BTreeMap<String, Arc<ModuleInterface>>;

pub const TOOLKIT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Settings that are not in any file.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub build_tag: String,
    pub state_dir: Option<PathBuf>,
    /// Vendor module code into the output (default) or emit `git::` sources.
    pub vendor: bool,
    /// With `vendor`: each module tree goes once into the output root's module store
    /// (`<out>/.modules/<git tree id>`, see [`output::store_source`]) and the deployments of a
    /// fleet render (`<out>/<env>/<name>`) point at it; without it every deployment gets its own
    /// copy under `modules/` (a standalone directory).
    pub module_store: bool,
    /// Which guards apply (see [`crate::guard`]).
    pub stage: crate::guard::Stage,
    /// A revoked package only warns (`gitops-rollback --allow-revoked`).
    pub allow_revoked: bool,
}

/// A render held in memory, ready to be written or compared.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub id: DeploymentId,
    pub main_tf_json: Vec<u8>,
    pub manifest: Manifest,
    pub manifest_json: Vec<u8>,
    /// Module name -> cached module directory to vendor.
    pub vendor: BTreeMap<String, PathBuf>,
    /// With [`RenderOptions::module_store`]: git tree id -> cached module directory, for the
    /// output root's module store; `vendor` is then not copied into the deployment.
    pub store: BTreeMap<String, PathBuf>,
    pub explain: Vec<Explained>,
    /// How the profile's layers were merged (`model::profile::ResolvedProfile::notes`).
    pub profile_notes: Vec<String>,
    /// Guard warnings (e.g. an uncertified package in an unprotected environment).
    pub warnings: Vec<String>,
}

/// Context shared by the renders of one run (one repo, one cache, one HEAD).
pub struct Renderer<'a> {
    pub repo: &'a SourceRepo,
    pub cache: &'a ModuleCache,
    pub options: RenderOptions,
    pub commit: String,
    pub dirty: bool,
    /// The `terraform.backend` block to emit instead of the one `gitops.toml` gives: a drift
    /// check renders an older commit, but its state lives where the current render says.
    pub backend: Option<serde_json::Value>,
}

impl<'a> Renderer<'a> {
    pub fn new(
        repo: &'a SourceRepo,
        cache: &'a ModuleCache,
        options: RenderOptions,
    ) -> Result<Self> {
        let (commit, dirty) = repo.head()?;
        Ok(Renderer {
            repo,
            cache,
            options,
            commit,
            dirty,
            backend: None,
        })
    }

    /// A renderer for a snapshot of the files at `commit` (not a work tree: never dirty).
    pub fn at_commit(
        repo: &'a SourceRepo,
        cache: &'a ModuleCache,
        options: RenderOptions,
        commit: String,
    ) -> Self {
        Renderer {
            repo,
            cache,
            options,
            commit,
            dirty: false,
            backend: None,
        }
    }

    /// Resolves and checks one deployment.
    pub fn render(&self, id: &DeploymentId) -> Result<Rendered> {
        let (dep, dep_src) = self.repo.deployment(id)?;
        self.render_request(id, &dep, &dep_src)
    }

    /// Renders a request that is not (or not yet) a file of the repository, e.g. the synthetic
    /// requests of a certification run. `dep_src` is what error messages blame.
    pub fn render_request(
        &self,
        id: &DeploymentId,
        dep: &Deployment,
        dep_src: &SourceFile,
    ) -> Result<Rendered> {
        let (env, env_src) = self.environment(id, dep_src)?;
        let deployment = id.to_string();
        crate::model::sot::refuse_dirty_protected(&deployment, &id.env, env.protected, self.dirty)?;
        let profile = self.profile(dep, dep_src)?;
        let profile_inputs = profile_inputs(&profile, id, dep, dep_src, &env)?;
        let (package, pkg_src) = self.package(dep, dep_src)?;
        let (modules, interfaces) = self.resolve_modules(id, &env, &package, &pkg_src)?;
        check_wiring(
            &package,
            &pkg_src,
            &modules,
            &interfaces,
            env.cloud.provider_tags(),
        )?;
        let deps = dependencies::resolve(self.repo, id, dep, dep_src)?;
        let remote = wiring::remote_sources(&package, &modules, &interfaces);
        if !remote.is_empty() && env.protected && !self.repo.config.allow_remote_module_sources {
            return Err(Error::Refused(format!(
                "{id}: environment {} is protected and {}; vendor that code into a module of the \
                 package, or set allow_remote_module_sources = true in gitops.toml",
                id.env,
                remote.join("; ")
            )));
        }
        let mut warnings = crate::guard::check(&crate::guard::GuardContext {
            repo: self.repo,
            stage: self.options.stage,
            environment: &id.env,
            protected: env.protected,
            deployment: &id.to_string(),
            component: &dep.component,
            version: &dep.package,
            modules: &modules,
            allow_revoked: self.options.allow_revoked,
        })?;

        warnings.extend(remote);
        let tags = self.tags(id, dep);
        let ctx = InputContext {
            id,
            dep,
            dep_src,
            env: &env,
            env_src: &env_src,
            profile: &profile,
            profile_inputs,
            package: &package,
            pkg_src: &pkg_src,
            modules: &modules,
            interfaces: &interfaces,
            tags: &tags,
        };
        let (module_blocks, explain) = ctx.module_inputs()?;

        let main = self.root_module(
            id,
            dep,
            &env,
            &package,
            &modules,
            module_blocks,
            &tags,
            &deps,
        )?;
        let main_tf_json = to_json_bytes(&main);
        let sources = [&self.repo.config_src, &env_src, &pkg_src, dep_src]
            .into_iter()
            .chain(profile.sources.iter());
        let mut manifest = self.manifest(id, dep, &env, sources, &modules, tags, &main_tf_json);
        manifest.dependencies = dependencies::manifest_entries(&deps);
        let manifest_json = to_json_bytes(
            &serde_json::to_value(&manifest).map_err(|e| Error::Process(e.to_string()))?,
        );
        let vendor = if self.options.vendor {
            modules
                .iter()
                .map(|(n, m)| (n.clone(), self.cache.vendored_dir(m)))
                .collect()
        } else {
            BTreeMap::new()
        };
        let store = if self.options.vendor && self.options.module_store {
            modules
                .values()
                .map(|m| (m.vendored_tree().0.to_owned(), self.cache.vendored_dir(m)))
                .collect()
        } else {
            BTreeMap::new()
        };
        Ok(Rendered {
            id: id.clone(),
            main_tf_json,
            manifest,
            manifest_json,
            vendor,
            store,
            explain,
            profile_notes: profile.notes.clone(),
            warnings,
        })
    }

    /// `environments/<env>.toml` of the deployment's directory.
    fn environment(
        &self,
        id: &DeploymentId,
        dep_src: &SourceFile,
    ) -> Result<(Environment, SourceFile)> {
        self.repo.environment(&id.env, |known| {
            ConfigError::new(
                &dep_src.shown,
                None,
                format!(
                    "environment {} (from the file's directory) without environments/{}.toml",
                    shown(&id.env),
                    id.env
                ),
                format!("an environment with a file: {known}"),
            )
        })
    }

    /// The request's profile with its layers merged; it must support the request's component.
    fn profile(&self, dep: &Deployment, dep_src: &SourceFile) -> Result<ResolvedProfile> {
        let blame_profile = |known: String| {
            dep_src.error(
                &["profile"],
                shown(&dep.profile),
                format!("a profile: {known}"),
            )
        };
        let profile = profile::resolve(&self.repo.root, &dep.profile, &blame_profile)?;
        if !profile.profile.components.is_empty()
            && !profile.profile.components.contains(&dep.component)
        {
            return Err(dep_src
                .error(
                    &["profile"],
                    format!(
                        "profile {} which does not support component {}",
                        shown(&dep.profile),
                        shown(&dep.component)
                    ),
                    format!(
                        "a profile supporting it; {} supports: {}",
                        dep.profile,
                        profile.profile.components.join(", ")
                    ),
                )
                .into());
        }
        Ok(profile)
    }

    /// `packages/<component>/<version>.toml`, blaming the request's key that names it.
    fn package(&self, dep: &Deployment, dep_src: &SourceFile) -> Result<(Package, SourceFile)> {
        self.repo.package(&dep.component, &dep.package, |allowed| {
            let key = if self.repo.components().contains(&dep.component) {
                "package"
            } else {
                "component"
            };
            let found = if key == "package" {
                shown(&dep.package)
            } else {
                shown(&dep.component)
            };
            dep_src.error(&[key], found, allowed)
        })
    }

    /// Resolves every module of the package at its pinned tag and reads its interface.
    fn resolve_modules(
        &self,
        id: &DeploymentId,
        env: &Environment,
        package: &Package,
        pkg_src: &SourceFile,
    ) -> Result<(Modules, Interfaces)> {
        let root = self
            .repo
            .config
            .module_roots
            .get(&env.cloud)
            .ok_or_else(|| {
                self.repo.config_src.error(
                    &["module_roots"],
                    format!(
                        "no module root for cloud `{}` (used by environment {})",
                        env.cloud, id.env
                    ),
                    "a [module_roots] entry for every cloud an environment uses",
                )
            })?;
        let mut modules = BTreeMap::new();
        let mut interfaces: Interfaces = BTreeMap::new();
        for (name, m) in &package.modules {
            let url = self.repo.module_url(root, &m.repo);
            let resolved = self.cache.resolve_with(
                &url,
                &m.git_ref,
                &m.path,
                env.protected,
                |found, allowed| pkg_src.error(&["modules", name, "ref"], found, allowed),
            )?;
            let interface = self.cache.interface(&resolved).map_err(|e| match e {
                Error::Parse(message) => pkg_src
                    .error(
                        &["modules", name],
                        format!("module {name}@{}: {message}", m.git_ref),
                        "a module whose .tf and .tf.json files Terraform can read",
                    )
                    .into(),
                other => other,
            })?;
            interfaces.insert(name.clone(), interface);
            modules.insert(name.clone(), resolved);
        }
        Ok((modules, interfaces))
    }

    /// The manifest of a render: what was rendered, from which files (path -> digest), at which
    /// commit and build.
    #[allow(clippy::too_many_arguments)]
    fn manifest<'s>(
        &self,
        id: &DeploymentId,
        dep: &Deployment,
        env: &Environment,
        sources: impl Iterator<Item = &'s SourceFile>,
        modules: &Modules,
        tags: BTreeMap<String, String>,
        main_tf_json: &[u8],
    ) -> Manifest {
        let inputs = sources
            .map(|src| (src.shown.display().to_string(), src.digest.clone()))
            .collect();
        Manifest {
            toolkit_version: TOOLKIT_VERSION.to_owned(),
            deployment: id.to_string(),
            environment: id.env.clone(),
            name: id.name.clone(),
            component: dep.component.clone(),
            package: dep.package.clone(),
            profile: dep.profile.clone(),
            cloud: env.cloud,
            protected: env.protected,
            source_commit: self.commit.clone(),
            source_dirty: self.dirty,
            build_tag: self.options.build_tag.clone(),
            inputs,
            modules: modules.clone(),
            tags,
            root_module_digest: format!("sha256:{}", crate::model::load::sha256_hex(main_tf_json)),
            dependencies: BTreeMap::new(),
        }
    }
}

/// The profile's section for the environment's cloud.
fn profile_inputs<'p>(
    profile: &'p ResolvedProfile,
    id: &DeploymentId,
    dep: &Deployment,
    dep_src: &SourceFile,
    env: &Environment,
) -> Result<&'p crate::model::Inputs> {
    profile.profile.cloud(env.cloud).ok_or_else(|| {
        let clouds: Vec<&str> = profile
            .profile
            .clouds()
            .iter()
            .map(|c| c.as_str())
            .collect();
        dep_src
            .error(
                &["profile"],
                format!(
                    "profile {} without a `{}` section, but environment {} runs on {}",
                    shown(&dep.profile),
                    env.cloud,
                    id.env,
                    env.cloud
                ),
                format!(
                    "a profile with a `{}` section (this one has: {})",
                    env.cloud,
                    clouds.join(", ")
                ),
            )
            .into()
    })
}
