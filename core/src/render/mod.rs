//! Render: deployment request + environment + profile + package -> a Terraform root module in JSON
//! syntax with vendored module code and a manifest. Everything is resolved and checked in memory
//! first; only a fully valid render is written, through a temporary directory and a rename.

pub mod affected;

use crate::error::{ConfigError, Error, Result};
use crate::exec::modcache::{ModuleCache, ResolvedModule};
use crate::model::interface::ModuleInterface;
use crate::model::load::SourceFile;
use crate::model::names::shown;
use crate::model::profile::{self, ResolvedProfile};
use crate::model::sot::{DeploymentId, SourceRepo};
use crate::model::{BackendKind, Cloud, Deployment, Environment, Package};
use serde::Serialize;

pub use crate::records::manifest::Manifest;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const TOOLKIT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Settings that are not in any file.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub build_tag: String,
    pub state_dir: Option<PathBuf>,
    /// Vendor module code into the output (default) or emit `git::` sources.
    pub vendor: bool,
    /// Which guards apply (see [`crate::guard`]).
    pub stage: crate::guard::Stage,
    /// A revoked package only warns (`gitops-rollback --allow-revoked`).
    pub allow_revoked: bool,
}

/// Where one module input value came from, lowest precedence first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layer {
    ModuleDefault,
    Toolkit,
    Package,
    Profile,
    Environment,
    Deployment,
    Wiring,
    Tags,
}

/// One line of `--explain`.
#[derive(Debug, Clone, Serialize)]
pub struct Explained {
    pub module: String,
    pub input: String,
    pub value: Value,
    pub layer: Layer,
    /// The file (and key) that set it.
    pub source: String,
    /// Values offered by a lower layer, or not applied (`skipped: ...`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
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
    pub explain: Vec<Explained>,
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
        })
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
        let dep_src = dep_src.clone();
        let dep = dep.clone();
        let (env, env_src) = self.repo.environment(&id.env, |known| {
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
        })?;
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
        let Some(profile_inputs) = profile.profile.cloud(env.cloud) else {
            let clouds: Vec<&str> = profile
                .profile
                .clouds()
                .iter()
                .map(|c| c.as_str())
                .collect();
            return Err(dep_src
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
                .into());
        };
        let (package, pkg_src) = self.repo.package(&dep.component, &dep.package, |allowed| {
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
        })?;
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

        // Resolve every module at its pinned tag and read its interface.
        let mut modules = BTreeMap::new();
        let mut interfaces: BTreeMap<String, Arc<ModuleInterface>> = BTreeMap::new();
        for (name, m) in &package.modules {
            let url = self.repo.module_url(root, &m.repo);
            let resolved = self.cache.resolve_with(
                &url,
                &m.git_ref,
                &m.path,
                env.protected,
                |found, allowed| pkg_src.error(&["modules", name, "ref"], found, allowed),
            )?;
            interfaces.insert(name.clone(), self.cache.interface(&resolved)?);
            modules.insert(name.clone(), resolved);
        }
        check_wiring(&package, &pkg_src, &modules, &interfaces)?;
        let warnings = crate::guard::check(&crate::guard::GuardContext {
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

        let tags = self.tags(id, &dep);
        let ctx = InputContext {
            id,
            dep: &dep,
            dep_src: &dep_src,
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

        let main = self.root_module(id, &dep, &env, &package, &modules, module_blocks, &tags)?;
        let main_tf_json = to_json_bytes(&main);
        let mut inputs = BTreeMap::new();
        for src in [&self.repo.config_src, &env_src, &pkg_src, &dep_src]
            .into_iter()
            .chain(profile.sources.iter())
        {
            inputs.insert(src.shown.display().to_string(), src.digest.clone());
        }
        let manifest = Manifest {
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
            tags: tags.clone(),
            root_module_digest: format!("sha256:{}", crate::model::load::sha256_hex(&main_tf_json)),
        };
        let manifest_json = to_json_bytes(
            &serde_json::to_value(&manifest).map_err(|e| Error::Process(e.to_string()))?,
        );
        let vendor = if self.options.vendor {
            modules
                .iter()
                .map(|(n, m)| (n.clone(), self.cache.module_dir(m)))
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
            explain,
            warnings,
        })
    }

    fn tags(&self, id: &DeploymentId, dep: &Deployment) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("gitops:commit".to_owned(), self.commit.clone()),
            ("gitops:build".to_owned(), self.options.build_tag.clone()),
            ("gitops:deployment".to_owned(), id.to_string()),
            ("gitops:environment".to_owned(), id.env.clone()),
            (
                "gitops:package".to_owned(),
                format!("{}@{}", dep.component, dep.package),
            ),
            ("gitops:profile".to_owned(), dep.profile.clone()),
            ("managed-by".to_owned(), "gitops-toolkit".to_owned()),
        ])
    }

    #[allow(clippy::too_many_arguments)]
    fn root_module(
        &self,
        id: &DeploymentId,
        dep: &Deployment,
        env: &Environment,
        package: &Package,
        modules: &BTreeMap<String, ResolvedModule>,
        mut blocks: BTreeMap<String, Map<String, Value>>,
        tags: &BTreeMap<String, String>,
    ) -> Result<Value> {
        for (name, m) in modules {
            let source = if self.options.vendor {
                format!("./modules/{name}")
            } else {
                let sub = if m.path.is_empty() {
                    String::new()
                } else {
                    format!("//{}", m.path)
                };
                format!(
                    "git::{}{sub}?ref={}",
                    if m.url.contains("://") || m.url.contains('@') {
                        m.url.clone()
                    } else {
                        format!("file://{}", m.url)
                    },
                    m.git_ref
                )
            };
            if let Some(block) = blocks.get_mut(name) {
                block.insert("source".into(), Value::String(source));
            }
        }
        let mut terraform = json!({ "required_version": ">= 1.9" });
        terraform["backend"] = self.backend(id, dep)?;
        let mut root = json!({
            "//": format!("Rendered by gitops-render {TOOLKIT_VERSION} for {id} ({}@{}, profile {}). Do not edit: change the source-of-truth repository.", dep.component, dep.package, dep.profile),
            "terraform": terraform,
            "module": blocks,
        });
        match env.cloud {
            Cloud::Sandbox => {}
            Cloud::Aws => {
                root["terraform"]["required_providers"] =
                    json!({ "aws": { "source": "hashicorp/aws", "version": ">= 5.0" } });
                root["provider"] = json!({ "aws": { "region": env.region, "allowed_account_ids": [env.account], "default_tags": { "tags": tags } } });
            }
            Cloud::Azure => {
                root["terraform"]["required_providers"] =
                    json!({ "azurerm": { "source": "hashicorp/azurerm", "version": ">= 4.0" } });
                root["provider"] =
                    json!({ "azurerm": { "features": {}, "subscription_id": env.account } });
            }
        }
        if !package.outputs.is_empty() {
            let outputs: Map<String, Value> = package
                .outputs
                .iter()
                .map(|(name, target)| {
                    let (m, o) = target.split_once('.').unwrap_or((target, ""));
                    (
                        name.clone(),
                        json!({ "value": format!("${{module.{m}.{o}}}") }),
                    )
                })
                .collect();
            root["output"] = Value::Object(outputs);
        }
        Ok(root)
    }

    fn backend(&self, id: &DeploymentId, dep: &Deployment) -> Result<Value> {
        let backend = &self.repo.config.backend;
        let mut config = Map::new();
        for (key, template) in &backend.config {
            let mut value = template
                .replace("{env}", &id.env)
                .replace("{name}", &id.name)
                .replace("{component}", &dep.component);
            if value.contains("{state_dir}") {
                let dir = self.options.state_dir.as_ref().ok_or_else(|| {
                    self.repo.config_src.error(
                        &["backend", "config", key],
                        format!(
                            "{} which uses {{state_dir}}, but no state directory is set",
                            shown(template)
                        ),
                        "--state-dir DIR or GITOPS_STATE_DIR",
                    )
                })?;
                value = value.replace("{state_dir}", &dir.display().to_string());
            }
            config.insert(key.clone(), Value::String(escape_template(&value)));
        }
        Ok(json!({ backend.kind.as_str(): config }))
    }
}

impl BackendKind {
    /// Whether Terraform keeps this backend's state on the local disk.
    pub fn is_local(self) -> bool {
        self == BackendKind::Local
    }
}

fn check_wiring(
    package: &Package,
    pkg_src: &SourceFile,
    modules: &BTreeMap<String, ResolvedModule>,
    interfaces: &BTreeMap<String, Arc<ModuleInterface>>,
) -> Result<()> {
    for (name, m) in &package.modules {
        let iface = &interfaces[name];
        if !iface.variables.contains_key("tags") {
            return Err(pkg_src
                .error(
                    &["modules", name],
                    format!("module {name}@{} without a `tags` variable", m.git_ref),
                    "modules with a `tags` variable: every resource must carry the deployment tags",
                )
                .into());
        }
        for (input, target) in &m.wiring {
            let path = ["modules", name.as_str(), "wiring", input.as_str()];
            if !iface.variables.contains_key(input) {
                return Err(pkg_src
                    .error(
                        &path,
                        format!(
                            "input `{input}`, which {name}@{} does not declare",
                            m.git_ref
                        ),
                        format!(
                            "an input of {name}@{}: {}",
                            m.git_ref,
                            iface
                                .variables
                                .keys()
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                    .into());
            }
            let (src_module, output) = target.split_once('.').unwrap_or((target, ""));
            let src_iface = &interfaces[src_module];
            if !src_iface.outputs.contains_key(output) {
                return Err(pkg_src
                    .error(
                        &path,
                        format!(
                            "output `{output}`, which {src_module}@{} does not declare",
                            modules[src_module].git_ref
                        ),
                        format!(
                            "an output of {src_module}@{}: {}",
                            modules[src_module].git_ref,
                            src_iface
                                .outputs
                                .keys()
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                    .into());
            }
        }
    }
    // Wiring must be acyclic: Terraform would reject the cycle much later and less clearly.
    fn visit<'p>(
        package: &'p Package,
        node: &'p str,
        stack: &mut Vec<&'p str>,
        done: &mut Vec<&'p str>,
    ) -> Option<Vec<String>> {
        if done.contains(&node) {
            return None;
        }
        if let Some(pos) = stack.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = stack[pos..].iter().map(|s| (*s).to_owned()).collect();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        stack.push(node);
        for target in package.modules[node].wiring.values() {
            let dep = target.split_once('.').map(|(m, _)| m).unwrap_or(target);
            if let Some(c) = visit(package, dep, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.push(node);
        None
    }
    let mut done = Vec::new();
    for name in package.modules.keys() {
        if let Some(cycle) = visit(package, name, &mut Vec::new(), &mut done) {
            return Err(pkg_src
                .error(
                    &["modules", &cycle[0], "wiring"],
                    format!("a wiring cycle: {}", cycle.join(" -> ")),
                    "wiring without cycles",
                )
                .into());
        }
    }
    Ok(())
}

/// Module name -> the inputs of its `module` block.
type ModuleBlocks = BTreeMap<String, Map<String, Value>>;

struct InputContext<'c> {
    id: &'c DeploymentId,
    dep: &'c Deployment,
    dep_src: &'c SourceFile,
    env: &'c Environment,
    env_src: &'c SourceFile,
    profile: &'c ResolvedProfile,
    profile_inputs: &'c crate::model::Inputs,
    package: &'c Package,
    pkg_src: &'c SourceFile,
    modules: &'c BTreeMap<String, ResolvedModule>,
    interfaces: &'c BTreeMap<String, Arc<ModuleInterface>>,
    tags: &'c BTreeMap<String, String>,
}

/// One value offered for an input, with the file and key that offered it.
struct Offer<'v> {
    layer: Layer,
    value: Value,
    src: Option<&'v SourceFile>,
    key: Vec<String>,
    /// Must the module declare this input (strict), or is it skipped when it does not (offered)?
    strict: bool,
}

impl Offer<'_> {
    fn source(&self) -> String {
        match self.src {
            Some(src) => format!("{} [{}]", src.shown.display(), self.key.join(".")),
            None => match self.layer {
                Layer::Toolkit if self.key.first().map(String::as_str) == Some("name") => {
                    "toolkit: the deployment name".into()
                }
                Layer::Toolkit => "toolkit: the environment's region".into(),
                Layer::ModuleDefault => "module default".into(),
                Layer::Tags => "toolkit tags".into(),
                _ => "package wiring".into(),
            },
        }
    }

    fn error(&self, found: String, allowed: String) -> Error {
        let key: Vec<&str> = self.key.iter().map(String::as_str).collect();
        match self.src {
            Some(src) => src.error(&key, found, allowed).into(),
            None => Error::Process(format!("{found}; {allowed}")),
        }
    }
}

impl InputContext<'_> {
    fn offers(&self, module: &str) -> Vec<Offer<'_>> {
        let k = |parts: &[&str]| parts.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let mut offers = vec![Offer {
            layer: Layer::Toolkit,
            value: Value::String(self.id.name.clone()),
            src: None,
            key: k(&["name"]),
            strict: false,
        }];
        for input in ["region", "location"] {
            offers.push(Offer {
                layer: Layer::Toolkit,
                value: Value::String(self.env.region.clone()),
                src: None,
                key: k(&[input]),
                strict: false,
            });
        }
        if let Some(m) = self.package.modules.get(module) {
            for (input, v) in &m.inputs {
                offers.push(Offer {
                    layer: Layer::Package,
                    value: v.clone(),
                    src: Some(self.pkg_src),
                    key: k(&["modules", module, "inputs", input]),
                    strict: true,
                });
            }
        }
        if let Some(values) = self.profile_inputs.get(module) {
            let cloud = self.env.cloud;
            for (input, v) in values {
                let file = self
                    .profile
                    .origin
                    .get(&(cloud, module.to_owned(), input.clone()));
                let src = self
                    .profile
                    .sources
                    .iter()
                    .rev()
                    .find(|s| Some(&s.shown.display().to_string()) == file);
                offers.push(Offer {
                    layer: Layer::Profile,
                    value: v.clone(),
                    src,
                    key: k(&[cloud.as_str(), module, input]),
                    strict: false,
                });
            }
        }
        if let Some(values) = self.env.inputs.get(module) {
            for (input, v) in values {
                offers.push(Offer {
                    layer: Layer::Environment,
                    value: v.clone(),
                    src: Some(self.env_src),
                    key: k(&["inputs", module, input]),
                    strict: false,
                });
            }
        }
        if let Some(values) = self.dep.overrides.get(module) {
            for (input, v) in values {
                offers.push(Offer {
                    layer: Layer::Deployment,
                    value: v.clone(),
                    src: Some(self.dep_src),
                    key: k(&["overrides", module, input]),
                    strict: true,
                });
            }
        }
        if module == "app-config" && !self.dep.app_config.is_empty() {
            let settings: Map<String, Value> = self
                .dep
                .app_config
                .iter()
                .map(|(a, b)| (a.clone(), Value::String(b.clone())))
                .collect();
            offers.push(Offer {
                layer: Layer::Deployment,
                value: Value::Object(settings),
                src: Some(self.dep_src),
                key: k(&["app_config"]),
                strict: true,
            });
        }
        if module == "monitoring" {
            for (input, v) in &self.dep.monitoring {
                offers.push(Offer {
                    layer: Layer::Deployment,
                    value: v.clone(),
                    src: Some(self.dep_src),
                    key: k(&["monitoring", input]),
                    strict: true,
                });
            }
        }
        offers
    }

    fn input_name(offer: &Offer<'_>) -> String {
        if offer.key.first().map(String::as_str) == Some("app_config") {
            "settings".to_owned()
        } else {
            offer.key.last().cloned().unwrap_or_default()
        }
    }

    /// The inputs of every module block, and the explanation of each.
    fn module_inputs(&self) -> Result<(ModuleBlocks, Vec<Explained>)> {
        for module in self.dep.overrides.keys() {
            if !self.package.modules.contains_key(module) {
                return Err(self
                    .dep_src
                    .error(
                        &["overrides", module],
                        format!(
                            "module {}, which package {}@{} does not contain",
                            shown(module),
                            self.dep.component,
                            self.dep.package
                        ),
                        format!(
                            "a module of the package: {}",
                            self.package
                                .modules
                                .keys()
                                .cloned()
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                    .into());
            }
        }
        for (key, module) in [("app_config", "app-config"), ("monitoring", "monitoring")] {
            let used = if key == "app_config" {
                !self.dep.app_config.is_empty()
            } else {
                !self.dep.monitoring.is_empty()
            };
            if used && !self.package.modules.contains_key(module) {
                return Err(self
                    .dep_src
                    .error(
                        &[key],
                        format!(
                            "[{key}], but package {}@{} has no `{module}` module",
                            self.dep.component, self.dep.package
                        ),
                        format!("[{key}] only with packages that contain `{module}`"),
                    )
                    .into());
            }
        }
        let mut blocks = BTreeMap::new();
        let mut explain = Vec::new();
        for (module, pinned) in &self.package.modules {
            let iface = &self.interfaces[module];
            let at = format!("{module}@{}", self.modules[module].git_ref);
            let mut chosen: BTreeMap<String, (Offer<'_>, Vec<String>)> = BTreeMap::new();
            let mut skipped: Vec<Explained> = Vec::new();
            for offer in self.offers(module) {
                let input = Self::input_name(&offer);
                let Some(var) = iface.variables.get(&input) else {
                    if offer.strict {
                        return Err(offer.error(
                            format!("input `{input}`, which {at} does not declare"),
                            format!(
                                "an input of {at}: {}",
                                iface
                                    .variables
                                    .keys()
                                    .filter(|v| *v != "tags")
                                    .cloned()
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                    }
                    if offer.layer != Layer::Toolkit {
                        skipped.push(Explained {
                            module: module.clone(),
                            input,
                            value: offer.value.clone(),
                            layer: offer.layer.clone(),
                            source: offer.source(),
                            notes: vec![format!("skipped: {at} does not declare this input")],
                        });
                    }
                    continue;
                };
                if pinned.wiring.contains_key(&input) {
                    if offer.strict {
                        return Err(offer.error(
                            format!(
                                "a value for `{input}`, which the package wires to {}",
                                pinned.wiring[&input]
                            ),
                            "no value: wired inputs come from the package wiring".into(),
                        ));
                    }
                    continue;
                }
                if let Some(problem) = var.ty.mismatch(&offer.value) {
                    return Err(offer.error(
                        format!("{problem} for input `{input}`"),
                        format!("a value of type {} ({at})", var.ty),
                    ));
                }
                let notes = match chosen.remove(&input) {
                    Some((prev, mut notes)) => {
                        notes.push(format!(
                            "over {} from {}",
                            compact(&prev.value),
                            prev.source()
                        ));
                        notes
                    }
                    None => Vec::new(),
                };
                chosen.insert(input, (offer, notes));
            }
            let mut block = Map::new();
            for (input, var) in &iface.variables {
                if input == "tags" {
                    block.insert(input.clone(), escape_templates(json!(self.tags)));
                    explain.push(Explained {
                        module: module.clone(),
                        input: input.clone(),
                        value: json!(self.tags),
                        layer: Layer::Tags,
                        source: "toolkit tags".into(),
                        notes: vec![],
                    });
                } else if let Some(target) = pinned.wiring.get(input) {
                    let (m, o) = target.split_once('.').unwrap_or((target, ""));
                    let expr = format!("${{module.{m}.{o}}}");
                    block.insert(input.clone(), Value::String(expr.clone()));
                    explain.push(Explained {
                        module: module.clone(),
                        input: input.clone(),
                        value: Value::String(expr),
                        layer: Layer::Wiring,
                        source: format!(
                            "{} [modules.{module}.wiring.{input}]",
                            self.pkg_src.shown.display()
                        ),
                        notes: vec![],
                    });
                } else if let Some((offer, notes)) = chosen.remove(input) {
                    block.insert(input.clone(), escape_templates(offer.value.clone()));
                    explain.push(Explained {
                        module: module.clone(),
                        input: input.clone(),
                        source: offer.source(),
                        value: offer.value,
                        layer: offer.layer,
                        notes,
                    });
                } else if let Some(default) = &var.default {
                    explain.push(Explained {
                        module: module.clone(),
                        input: input.clone(),
                        value: default.clone(),
                        layer: Layer::ModuleDefault,
                        source: format!("module default ({at})"),
                        notes: vec![],
                    });
                } else {
                    return Err(self.dep_src.error(&["overrides", module], format!("no value for required input `{input}` of {at} (type {})", var.ty), format!("a value from the package, the profile, the environment or [overrides.{module}] {input} = ...")).into());
                }
            }
            explain.extend(skipped);
            blocks.insert(module.clone(), block);
        }
        Ok((blocks, explain))
    }
}

fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 60 {
        format!(
            "{}...",
            &s[..s.char_indices().nth(57).map(|(i, _)| i).unwrap_or(s.len())]
        )
    } else {
        s
    }
}

/// In Terraform's JSON syntax every string is a template: `${` and `%{` in a user value would be
/// evaluated. Escape them so values are always data.
pub fn escape_template(s: &str) -> String {
    s.replace("${", "$${").replace("%{", "%%{")
}

fn escape_templates(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(escape_template(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(escape_templates).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (escape_template(&k), escape_templates(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Pretty JSON with sorted keys and a final newline: the same value always gives the same bytes.
pub fn to_json_bytes(v: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Writes the files of a render into an empty directory.
fn write_into(r: &Rendered, dir: &Path) -> Result<()> {
    std::fs::write(dir.join("main.tf.json"), &r.main_tf_json)
        .map_err(Error::io(dir.join("main.tf.json")))?;
    let meta = dir.join(".gitops");
    std::fs::create_dir_all(&meta).map_err(Error::io(&meta))?;
    std::fs::write(meta.join("manifest.json"), &r.manifest_json)
        .map_err(Error::io(meta.join("manifest.json")))?;
    for (name, from) in &r.vendor {
        crate::exec::modcache::copy_tree(from, &dir.join("modules").join(name))?;
    }
    Ok(())
}

/// Writes a render to `out`, replacing what was there only once the new tree is complete: the new
/// tree is written next to `out` and renamed into place, so a failure (a full disk, say) leaves the
/// previous output intact. Terraform's own `.terraform` directory and lock file are carried over.
pub fn write(r: &Rendered, out: &Path) -> Result<()> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".gitops-render-")
        .tempdir_in(parent)
        .map_err(Error::io(parent))?;
    write_into(r, staging.path())?;
    if out.exists() {
        for keep in [".terraform", ".terraform.lock.hcl"] {
            let old = out.join(keep);
            if old.exists() {
                std::fs::rename(&old, staging.path().join(keep)).map_err(Error::io(&old))?;
            }
        }
        let trash = tempfile::Builder::new()
            .prefix(".gitops-old-")
            .tempdir_in(parent)
            .map_err(Error::io(parent))?;
        let old_place = trash.path().join("old");
        std::fs::rename(out, &old_place).map_err(Error::io(out))?;
        if let Err(e) = std::fs::rename(staging.path(), out) {
            let _ = std::fs::rename(&old_place, out);
            return Err(Error::io(out)(e));
        }
    } else {
        std::fs::rename(staging.path(), out).map_err(Error::io(out))?;
    }
    let _ = staging.keep();
    Ok(())
}

/// Files that differ between what `r` would write and what `out` holds (Terraform's working files
/// aside). Empty means `out` is up to date.
pub fn check(r: &Rendered, out: &Path) -> Result<Vec<String>> {
    let staging = tempfile::tempdir().map_err(Error::io(std::env::temp_dir()))?;
    write_into(r, staging.path())?;
    let want = tree_files(staging.path())?;
    let have = if out.is_dir() {
        tree_files(out)?
    } else {
        BTreeMap::new()
    };
    let mut diff: Vec<String> = want
        .iter()
        .filter(|(p, d)| have.get(*p) != Some(d))
        .map(|(p, _)| p.clone())
        .collect();
    diff.extend(have.keys().filter(|p| !want.contains_key(*p)).cloned());
    diff.sort();
    Ok(diff)
}

/// Relative path -> sha256 of every file under `dir`, skipping Terraform's working files.
pub fn tree_files(dir: &Path) -> Result<BTreeMap<String, String>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) -> Result<()> {
        for entry in std::fs::read_dir(dir).map_err(Error::io(dir))?.flatten() {
            let path = entry.path();
            let rel = path
                .strip_prefix(base)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            if rel == ".terraform"
                || rel == ".terraform.lock.hcl"
                || rel.starts_with("plan.")
                || rel == "terraform.tfstate"
            {
                continue;
            }
            if path.is_dir() {
                walk(base, &path, out)?;
            } else {
                let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
                out.insert(rel, crate::model::load::sha256_hex(&bytes));
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out)?;
    Ok(out)
}
