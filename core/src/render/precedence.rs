//! The input-precedence engine: for every module of a package, which value each input gets and
//! from which layer (toolkit, package, profile, environment, deployment, wiring, tags), with the
//! explanation `--explain` prints. Pure data in, data out: no I/O.

use super::emit::escape_templates;
use crate::error::{Error, Result};
use crate::model::interface::ModuleInterface;
use crate::model::load::SourceFile;
use crate::model::names::shown;
use crate::model::profile::ResolvedProfile;
use crate::model::sot::DeploymentId;
use crate::model::ResolvedModule;
use crate::model::{Deployment, Environment, Package, PackageModule};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

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
    /// An output of another deployment (`[wiring]` of the request, through `[dependencies]`).
    Dependency,
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

/// Module name -> the inputs of its `module` block.
pub(super) type ModuleBlocks = BTreeMap<String, Map<String, Value>>;

pub(super) struct InputContext<'c> {
    pub(super) id: &'c DeploymentId,
    pub(super) dep: &'c Deployment,
    pub(super) dep_src: &'c SourceFile,
    pub(super) env: &'c Environment,
    pub(super) env_src: &'c SourceFile,
    pub(super) profile: &'c ResolvedProfile,
    pub(super) profile_inputs: &'c crate::model::Inputs,
    pub(super) package: &'c Package,
    pub(super) pkg_src: &'c SourceFile,
    pub(super) modules: &'c BTreeMap<String, ResolvedModule>,
    pub(super) interfaces: &'c BTreeMap<String, Arc<ModuleInterface>>,
    pub(super) tags: &'c BTreeMap<String, String>,
}

/// One value offered for an input, with the file and key that offered it.
struct Offer<'v> {
    layer: Layer,
    value: Value,
    src: Option<&'v SourceFile>,
    key: Vec<String>,
    /// Must the module declare this input (strict), or is it skipped when it does not (offered)?
    strict: bool,
    /// Notes on values this one replaced within its layer (a profile's lower layers).
    overrode: Vec<String>,
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

/// The input chosen so far for each input name, with the notes of the offers it overrode.
type Chosen<'v> = BTreeMap<String, (Offer<'v>, Vec<String>)>;

fn key(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

impl InputContext<'_> {
    /// Every value offered for the inputs of `module`, lowest precedence first.
    fn offers(&self, module: &str) -> Vec<Offer<'_>> {
        let mut offers = self.toolkit_offers();
        self.package_offers(module, &mut offers);
        self.profile_offers(module, &mut offers);
        self.environment_offers(module, &mut offers);
        self.deployment_offers(module, &mut offers);
        offers
    }

    /// `name` (the deployment name) and `region`/`location` (the environment's region), for the
    /// modules that declare them.
    fn toolkit_offers(&self) -> Vec<Offer<'_>> {
        let mut offers = vec![Offer {
            layer: Layer::Toolkit,
            value: Value::String(self.id.name.clone()),
            src: None,
            key: key(&["name"]),
            strict: false,
            overrode: Vec::new(),
        }];
        for input in ["region", "location"] {
            offers.push(Offer {
                layer: Layer::Toolkit,
                value: Value::String(self.env.region.clone()),
                src: None,
                key: key(&[input]),
                strict: false,
                overrode: Vec::new(),
            });
        }
        offers
    }

    /// `[modules.<module>.inputs]` of the package: strict (the module must declare them).
    fn package_offers<'s>(&'s self, module: &str, offers: &mut Vec<Offer<'s>>) {
        if let Some(m) = self.package.modules.get(module) {
            for (input, v) in &m.inputs {
                offers.push(Offer {
                    layer: Layer::Package,
                    value: v.clone(),
                    src: Some(self.pkg_src),
                    key: key(&["modules", module, "inputs", input]),
                    strict: true,
                    overrode: Vec::new(),
                });
            }
        }
    }

    /// The profile's section for the environment's cloud, blamed on the layer file that set each
    /// value: offered (skipped for modules that do not declare the input).
    fn profile_offers<'s>(&'s self, module: &str, offers: &mut Vec<Offer<'s>>) {
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
                let at = (cloud, module.to_owned(), input.clone());
                let overrode = self
                    .profile
                    .overridden
                    .get(&at)
                    .into_iter()
                    .flatten()
                    .map(|(file, old)| {
                        format!(
                            "over {} from {file} [{cloud}.{module}.{input}]",
                            compact(old)
                        )
                    })
                    .collect();
                offers.push(Offer {
                    layer: Layer::Profile,
                    value: v.clone(),
                    src,
                    key: key(&[cloud.as_str(), module, input]),
                    strict: false,
                    overrode,
                });
            }
        }
    }

    /// `[inputs.<module>]` of the environment: offered.
    fn environment_offers<'s>(&'s self, module: &str, offers: &mut Vec<Offer<'s>>) {
        if let Some(values) = self.env.inputs.get(module) {
            for (input, v) in values {
                offers.push(Offer {
                    layer: Layer::Environment,
                    value: v.clone(),
                    src: Some(self.env_src),
                    key: key(&["inputs", module, input]),
                    strict: false,
                    overrode: Vec::new(),
                });
            }
        }
    }

    /// `[overrides.<module>]`, `[app_config]` (input `settings` of `app-config`) and
    /// `[monitoring]` of the deployment request: strict.
    fn deployment_offers<'s>(&'s self, module: &str, offers: &mut Vec<Offer<'s>>) {
        if let Some(values) = self.dep.overrides.get(module) {
            for (input, v) in values {
                offers.push(Offer {
                    layer: Layer::Deployment,
                    value: v.clone(),
                    src: Some(self.dep_src),
                    key: key(&["overrides", module, input]),
                    strict: true,
                    overrode: Vec::new(),
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
                key: key(&["app_config"]),
                strict: true,
                overrode: Vec::new(),
            });
        }
        if module == "monitoring" {
            for (input, v) in &self.dep.monitoring {
                offers.push(Offer {
                    layer: Layer::Deployment,
                    value: v.clone(),
                    src: Some(self.dep_src),
                    key: key(&["monitoring", input]),
                    strict: true,
                    overrode: Vec::new(),
                });
            }
        }
    }

    fn input_name(offer: &Offer<'_>) -> String {
        if offer.key.first().map(String::as_str) == Some("app_config") {
            "settings".to_owned()
        } else {
            offer.key.last().cloned().unwrap_or_default()
        }
    }

    /// The inputs of every module block, and the explanation of each.
    pub(super) fn module_inputs(&self) -> Result<(ModuleBlocks, Vec<Explained>)> {
        self.check_request_modules()?;
        let mut blocks = BTreeMap::new();
        let mut explain = Vec::new();
        for (module, pinned) in &self.package.modules {
            let iface = &self.interfaces[module];
            let at = format!("{module}@{}", self.modules[module].git_ref);
            let (chosen, skipped) = self.choose(module, pinned, iface, &at)?;
            let block = self.block(module, pinned, iface, &at, chosen, &mut explain)?;
            explain.extend(skipped);
            blocks.insert(module.clone(), block);
        }
        Ok((blocks, explain))
    }

    /// The request names only modules of its package: `[overrides.<module>]`, `[app_config]`
    /// (needs `app-config`) and `[monitoring]` (needs `monitoring`).
    fn check_request_modules(&self) -> Result<()> {
        for module in self.dep.overrides.keys() {
            if !self.package.modules.contains_key(module) {
                return Err(self.not_in_package(&["overrides", module], module));
            }
        }
        self.check_dependency_wiring()?;
        for (key, module) in [("app_config", "app-config"), ("monitoring", "monitoring")] {
            let used = if key == "app_config" {
                !self.dep.app_config.is_empty()
                    || super::dependencies::app_config_wiring(self.dep).is_some()
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
        Ok(())
    }

    /// The request names a module its package does not contain (at `key`).
    fn not_in_package(&self, key: &[&str], module: &str) -> Error {
        let known: Vec<&str> = self.package.modules.keys().map(String::as_str).collect();
        self.dep_src
            .error(
                key,
                format!(
                    "module {}, which package {}@{} does not contain",
                    shown(module),
                    self.dep.component,
                    self.dep.package
                ),
                format!("a module of the package: {}", known.join(", ")),
            )
            .into()
    }

    /// `[wiring.<module>]` of the request names a module of the package and an input it declares
    /// that the package does not wire itself.
    fn check_dependency_wiring(&self) -> Result<()> {
        for (module, inputs) in &self.dep.wiring {
            if module == crate::model::APP_CONFIG_WIRING {
                continue;
            }
            let Some(pinned) = self.package.modules.get(module) else {
                return Err(self.not_in_package(&["wiring", module], module));
            };
            let iface = &self.interfaces[module];
            let at = format!("{module}@{}", self.modules[module].git_ref);
            for input in inputs.keys() {
                let key = ["wiring", module.as_str(), input.as_str()];
                if !iface.variables.contains_key(input) {
                    let (found, allowed) = undeclared(input, iface, &at);
                    return Err(self.dep_src.error(&key, found, allowed).into());
                }
                if let Some(target) = pinned.wiring.get(input) {
                    return Err(self
                        .dep_src
                        .error(
                            &key,
                            format!("`{input}`, which the package wires to {target}"),
                            "an input the package does not wire",
                        )
                        .into());
                }
            }
        }
        Ok(())
    }

    /// The input of `module` wired from a dependency, if any: `<dependency>.<output>`.
    fn dependency_target(&self, module: &str, input: &str) -> Option<&str> {
        self.dep
            .wiring
            .get(module)
            .and_then(|m| m.get(input))
            .map(String::as_str)
    }

    /// Goes through the offers for `module` in precedence order: the highest offer of each
    /// declared input wins (with a note for each value it overrode); an offered value for an input
    /// the module does not declare is skipped with a note, a strict one is an error, and so is a
    /// value for a wired input or a value of the wrong type.
    fn choose(
        &self,
        module: &str,
        pinned: &PackageModule,
        iface: &ModuleInterface,
        at: &str,
    ) -> Result<(Chosen<'_>, Vec<Explained>)> {
        let mut chosen: Chosen<'_> = BTreeMap::new();
        let mut skipped: Vec<Explained> = Vec::new();
        for offer in self.offers(module) {
            let input = Self::input_name(&offer);
            let Some(var) = iface.variables.get(&input) else {
                if offer.strict {
                    let (found, allowed) = undeclared(&input, iface, at);
                    return Err(offer.error(found, allowed));
                }
                if offer.layer != Layer::Toolkit {
                    skipped.push(Explained {
                        module: module.to_owned(),
                        input,
                        value: offer.value.clone(),
                        layer: offer.layer.clone(),
                        source: offer.source(),
                        notes: vec![format!("skipped: {at} does not declare this input")],
                    });
                }
                continue;
            };
            if self.dependency_target(module, &input).is_some() {
                // Lower layers' values give way to the request's wiring (its own values for the
                // input are refused when the file is read).
                continue;
            }
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
            let mut notes = match chosen.remove(&input) {
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
            notes.extend(offer.overrode.iter().cloned());
            chosen.insert(input, (offer, notes));
        }
        Ok((chosen, skipped))
    }

    /// The `module` block of one module: every declared variable gets the deployment tags, its
    /// wiring, the chosen offer, or (not written) its default; a required input without any is an
    /// error.
    fn block(
        &self,
        module: &str,
        pinned: &PackageModule,
        iface: &ModuleInterface,
        at: &str,
        mut chosen: Chosen<'_>,
        explain: &mut Vec<Explained>,
    ) -> Result<Map<String, Value>> {
        let mut block = Map::new();
        for (input, var) in &iface.variables {
            if input == "tags" {
                block.insert(input.clone(), escape_templates(json!(self.tags)));
                explain.push(Explained {
                    module: module.to_owned(),
                    input: input.clone(),
                    value: json!(self.tags),
                    layer: Layer::Tags,
                    source: "toolkit tags".into(),
                    notes: vec![],
                });
            } else if let Some(target) = self.dependency_target(module, input) {
                let (local, output) = target.split_once('.').unwrap_or((target, ""));
                let expr = super::dependencies::output_expr(local, output);
                block.insert(input.clone(), Value::String(expr.clone()));
                explain.push(Explained {
                    module: module.to_owned(),
                    input: input.clone(),
                    value: Value::String(expr),
                    layer: Layer::Dependency,
                    source: super::dependencies::explain_source(
                        self.id,
                        self.dep,
                        self.dep_src,
                        [module, input],
                        target,
                    ),
                    notes: vec![],
                });
            } else if let Some(target) = pinned.wiring.get(input) {
                let expr = super::wiring::module_expr(target);
                block.insert(input.clone(), Value::String(expr.clone()));
                explain.push(Explained {
                    module: module.to_owned(),
                    input: input.clone(),
                    value: Value::String(expr),
                    layer: Layer::Wiring,
                    source: format!(
                        "{} [modules.{module}.wiring.{input}]",
                        self.pkg_src.shown.display()
                    ),
                    notes: vec![],
                });
            } else if let Some((offer, mut notes)) = chosen.remove(input) {
                let mut value = escape_templates(offer.value.clone());
                if module == "app-config" && input == "settings" {
                    self.wire_settings(&mut value, &mut notes);
                }
                block.insert(input.clone(), value);
                explain.push(Explained {
                    module: module.to_owned(),
                    input: input.clone(),
                    source: offer.source(),
                    value: offer.value,
                    layer: offer.layer,
                    notes,
                });
            } else if module == "app-config"
                && input == "settings"
                && super::dependencies::app_config_wiring(self.dep).is_some()
            {
                let mut value = var
                    .default
                    .as_ref()
                    .map_or_else(|| json!({}), |d| escape_templates(d.clone()));
                let mut notes = Vec::new();
                self.wire_settings(&mut value, &mut notes);
                block.insert(input.clone(), value.clone());
                explain.push(Explained {
                    module: module.to_owned(),
                    input: input.clone(),
                    value,
                    layer: Layer::Dependency,
                    source: format!("{} [wiring.app_config]", self.dep_src.shown.display()),
                    notes,
                });
            } else if let Some(default) = &var.default {
                explain.push(Explained {
                    module: module.to_owned(),
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
        Ok(block)
    }
}

impl InputContext<'_> {
    /// Adds the settings of `[wiring.app_config]` to the (escaped) `settings` map of the
    /// `app-config` module: each is an expression reading the dependency's output.
    fn wire_settings(&self, settings: &mut Value, notes: &mut Vec<String>) {
        let Some(wired) = super::dependencies::app_config_wiring(self.dep) else {
            return;
        };
        let Value::Object(map) = settings else { return };
        for (key, target) in wired {
            let (local, output) = target.split_once('.').unwrap_or((target, ""));
            map.insert(
                key.clone(),
                Value::String(super::dependencies::output_expr(local, output)),
            );
            notes.push(format!(
                "{key} <- {}",
                super::dependencies::explain_source(
                    self.id,
                    self.dep,
                    self.dep_src,
                    [crate::model::APP_CONFIG_WIRING, key],
                    target,
                )
            ));
        }
    }
}

/// What an error says of an input the module does not declare: (found, allowed).
fn undeclared(input: &str, iface: &ModuleInterface, at: &str) -> (String, String) {
    let inputs: Vec<&str> = iface
        .variables
        .keys()
        .map(String::as_str)
        .filter(|v| *v != "tags")
        .collect();
    (
        format!("input `{input}`, which {at} does not declare"),
        format!("an input of {at}: {}", inputs.join(", ")),
    )
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

#[cfg(test)]
mod tests {
    //! The engine on a small package of four modules: `app` (wired to `db`), `db`, `app-config`
    //! and `monitoring`, with a two-layer profile, one environment and one request. Each test
    //! changes one file and looks at the values, layers, sources and notes that come out.

    use super::*;
    use crate::error::ConfigError;
    use crate::model::{Cloud, Profile};
    use std::path::Path;

    const ENV: &str = r#"cloud = "sandbox"
region = "eu-test-1"
account = "sandbox"

[inputs.app]
size = "env-size"
env_only = "from-env"

[inputs.db]
not_in_db = 1
"#;

    const PACKAGE: &str = r#"[modules.app]
repo = "app"
ref = "v1.0.0"
inputs = { size = "pkg-size", replicas = 2 }
wiring = { db_endpoint = "db.endpoint" }

[modules.db]
repo = "db"
ref = "v2.0.0"
inputs = { engine = "postgres" }

[modules.app-config]
repo = "app-config"
ref = "v1.0.0"

[modules.monitoring]
repo = "monitoring"
ref = "v1.0.0"
"#;

    const DEPLOYMENT: &str = r#"component = "web"
package = "1.0.0"
profile = "team"

[overrides.app]
size = "dep-size"

[app_config]
LOG_FORMAT = "%{time} ${level}"

[monitoring]
alert_route = "slack:#web"
"#;

    /// The base layer of the profile (what `team` extends).
    const PROFILE_BASE: &str = r#"[sandbox.app]
size = "profile-size"
replicas = 1

[sandbox.db]
size = "small"
"#;

    /// The repo layer: overrides `replicas` of the base, and offers a value for the wired input.
    const PROFILE_TEAM: &str = r#"extends = "base"

[sandbox.app]
replicas = 3
db_endpoint = "ignored"
"#;

    const APP_TF: &str = r#"
variable "name" { type = string }
variable "region" { type = string }
variable "size" { type = string }
variable "replicas" { type = number }
variable "env_only" { type = string }
variable "tier" {
  type    = string
  default = "silver"
}
variable "db_endpoint" { type = string }
variable "tags" { type = map(string) }
"#;

    const DB_TF: &str = r#"
variable "name" { type = string }
variable "engine" { type = string }
variable "port" {
  type    = number
  default = 5432
}
variable "tags" { type = map(string) }
output "endpoint" { value = "db.internal" }
"#;

    const APP_CONFIG_TF: &str = r#"
variable "settings" { type = map(string) }
variable "tags" { type = map(string) }
"#;

    const MONITORING_TF: &str = r#"
variable "alert_route" { type = string }
variable "tags" { type = map(string) }
"#;

    struct World {
        id: DeploymentId,
        dep: Deployment,
        dep_src: SourceFile,
        env: Environment,
        env_src: SourceFile,
        profile: ResolvedProfile,
        package: Package,
        pkg_src: SourceFile,
        modules: BTreeMap<String, ResolvedModule>,
        interfaces: BTreeMap<String, Arc<ModuleInterface>>,
        tags: BTreeMap<String, String>,
    }

    impl World {
        fn new(env: &str, package: &str, deployment: &str) -> World {
            let env_src = SourceFile::from_text("environments/dev.toml", env.to_owned());
            let pkg_src = SourceFile::from_text("packages/web/1.0.0.toml", package.to_owned());
            let dep_src = SourceFile::from_text("deployments/dev/web.toml", deployment.to_owned());
            let package: Package = pkg_src.parse().unwrap();
            let mut modules = BTreeMap::new();
            let mut interfaces = BTreeMap::new();
            for (name, m) in &package.modules {
                modules.insert(
                    name.clone(),
                    ResolvedModule {
                        url: format!("/modules/{}", m.repo),
                        git_ref: m.git_ref.clone(),
                        commit: "0123456789abcdef".into(),
                        tree: "fedcba9876543210".into(),
                        path: String::new(),
                        root_tree: String::new(),
                    },
                );
                let mut iface = ModuleInterface::default();
                iface
                    .add(match name.as_str() {
                        "app" => APP_TF,
                        "db" => DB_TF,
                        "app-config" => APP_CONFIG_TF,
                        _ => MONITORING_TF,
                    })
                    .unwrap();
                interfaces.insert(name.clone(), Arc::new(iface));
            }
            World {
                id: DeploymentId::parse("dev/web").unwrap(),
                dep: dep_src.parse().unwrap(),
                dep_src,
                env: env_src.parse().unwrap(),
                env_src,
                profile: profile(),
                package,
                pkg_src,
                modules,
                interfaces,
                tags: BTreeMap::from([("managed-by".to_owned(), "gitops-toolkit".to_owned())]),
            }
        }

        fn default() -> World {
            World::new(ENV, PACKAGE, DEPLOYMENT)
        }

        fn run(&self) -> Result<(ModuleBlocks, Vec<Explained>)> {
            InputContext {
                id: &self.id,
                dep: &self.dep,
                dep_src: &self.dep_src,
                env: &self.env,
                env_src: &self.env_src,
                profile: &self.profile,
                profile_inputs: self.profile.profile.cloud(self.env.cloud).unwrap(),
                package: &self.package,
                pkg_src: &self.pkg_src,
                modules: &self.modules,
                interfaces: &self.interfaces,
                tags: &self.tags,
            }
            .module_inputs()
        }

        fn explained(&self) -> Vec<Explained> {
            self.run().unwrap().1
        }

        /// The configuration error of a run that must fail.
        fn config_error(&self) -> ConfigError {
            match self.run() {
                Err(Error::Config(e)) => *e,
                other => panic!("expected a configuration error, got {other:?}"),
            }
        }
    }

    /// `team` extending `base`, merged as `model::profile` does, with the origin of each value.
    fn profile() -> ResolvedProfile {
        let base = SourceFile::from_text("builtin:profiles/base.toml", PROFILE_BASE.into());
        let team = SourceFile::from_text("profiles/team.toml", PROFILE_TEAM.into());
        let mut merged: Profile = base.parse().unwrap();
        let layer: Profile = team.parse().unwrap();
        let mut origin = BTreeMap::new();
        for (src, p) in [(&base, &merged.clone()), (&team, &layer)] {
            for (module, inputs) in p.sandbox.iter().flatten() {
                for input in inputs.keys() {
                    origin.insert(
                        (Cloud::Sandbox, module.clone(), input.clone()),
                        src.shown.display().to_string(),
                    );
                }
            }
        }
        let sandbox = merged.sandbox.get_or_insert_with(Default::default);
        for (module, inputs) in layer.sandbox.iter().flatten() {
            sandbox
                .entry(module.clone())
                .or_default()
                .extend(inputs.clone());
        }
        // `team` replaces the base's `replicas`.
        let replicas = (Cloud::Sandbox, "app".to_owned(), "replicas".to_owned());
        let overridden =
            BTreeMap::from([(replicas, vec![(base.shown.display().to_string(), json!(1))])]);
        ResolvedProfile {
            name: "team".into(),
            profile: merged,
            sources: vec![base, team],
            origin,
            overridden,
            notes: vec![],
        }
    }

    fn entry<'e>(explained: &'e [Explained], module: &str, input: &str) -> &'e Explained {
        let found: Vec<&Explained> = explained
            .iter()
            .filter(|e| e.module == module && e.input == input)
            .collect();
        assert_eq!(found.len(), 1, "{module}.{input} in {explained:#?}");
        found[0]
    }

    fn assert_entry(e: &Explained, layer: Layer, value: Value, source: &str, notes: &[&str]) {
        assert_eq!(
            (&e.layer, &e.value, e.source.as_str()),
            (&layer, &value, source),
            "{}.{}",
            e.module,
            e.input
        );
        assert_eq!(e.notes, notes, "{}.{}", e.module, e.input);
    }

    #[test]
    fn toolkit_layer_gives_name_and_region() {
        let explained = World::default().explained();
        assert_entry(
            entry(&explained, "app", "name"),
            Layer::Toolkit,
            json!("web"),
            "toolkit: the deployment name",
            &[],
        );
        assert_entry(
            entry(&explained, "app", "region"),
            Layer::Toolkit,
            json!("eu-test-1"),
            "toolkit: the environment's region",
            &[],
        );
        // `db` declares `name` but not `region`: the toolkit's offers are not even skipped.
        assert_eq!(entry(&explained, "db", "name").value, json!("web"));
        assert!(!explained
            .iter()
            .any(|e| e.input == "region" && e.module != "app" || e.input == "location"));
    }

    #[test]
    fn package_value_stands_when_nothing_overrides_it() {
        let explained = World::default().explained();
        assert_entry(
            entry(&explained, "db", "engine"),
            Layer::Package,
            json!("postgres"),
            "packages/web/1.0.0.toml [modules.db.inputs.engine]",
            &[],
        );
    }

    #[test]
    fn profile_overrides_package_and_names_its_layer_file() {
        let explained = World::default().explained();
        // `replicas`: package 2, base profile 1, team profile 3 (the layer that set it wins; the
        // merged profile offers one value, blamed on the file that set it, with a note for the
        // value of the profile layer it replaced).
        assert_entry(
            entry(&explained, "app", "replicas"),
            Layer::Profile,
            json!(3),
            "profiles/team.toml [sandbox.app.replicas]",
            &[
                "over 2 from packages/web/1.0.0.toml [modules.app.inputs.replicas]",
                "over 1 from builtin:profiles/base.toml [sandbox.app.replicas]",
            ],
        );
    }

    #[test]
    fn environment_value_is_used_when_only_it_sets_an_input() {
        let explained = World::default().explained();
        assert_entry(
            entry(&explained, "app", "env_only"),
            Layer::Environment,
            json!("from-env"),
            "environments/dev.toml [inputs.app.env_only]",
            &[],
        );
    }

    #[test]
    fn deployment_override_wins_over_every_lower_layer_with_a_note_for_each() {
        let explained = World::default().explained();
        assert_entry(
            entry(&explained, "app", "size"),
            Layer::Deployment,
            json!("dep-size"),
            "deployments/dev/web.toml [overrides.app.size]",
            &[
                r#"over "pkg-size" from packages/web/1.0.0.toml [modules.app.inputs.size]"#,
                r#"over "profile-size" from builtin:profiles/base.toml [sandbox.app.size]"#,
                r#"over "env-size" from environments/dev.toml [inputs.app.size]"#,
            ],
        );
    }

    #[test]
    fn without_the_override_the_environment_wins() {
        let world = World::new(ENV, PACKAGE, &DEPLOYMENT.replace("size = \"dep-size\"", ""));
        let (blocks, explained) = world.run().unwrap();
        assert_eq!(blocks["app"]["size"], json!("env-size"));
        assert_entry(
            entry(&explained, "app", "size"),
            Layer::Environment,
            json!("env-size"),
            "environments/dev.toml [inputs.app.size]",
            &[
                r#"over "pkg-size" from packages/web/1.0.0.toml [modules.app.inputs.size]"#,
                r#"over "profile-size" from builtin:profiles/base.toml [sandbox.app.size]"#,
            ],
        );
    }

    #[test]
    fn app_config_and_monitoring_are_deployment_values() {
        let (blocks, explained) = World::default().run().unwrap();
        assert_entry(
            entry(&explained, "app-config", "settings"),
            Layer::Deployment,
            json!({ "LOG_FORMAT": "%{time} ${level}" }),
            "deployments/dev/web.toml [app_config]",
            &[],
        );
        // The block holds data, never a template: `${` and `%{` are escaped there only.
        assert_eq!(
            blocks["app-config"]["settings"],
            json!({ "LOG_FORMAT": "%%{time} $${level}" })
        );
        assert_entry(
            entry(&explained, "monitoring", "alert_route"),
            Layer::Deployment,
            json!("slack:#web"),
            "deployments/dev/web.toml [monitoring.alert_route]",
            &[],
        );
    }

    #[test]
    fn wired_input_is_an_expression_and_ignores_offered_values() {
        let (blocks, explained) = World::default().run().unwrap();
        assert_eq!(blocks["app"]["db_endpoint"], json!("${module.db.endpoint}"));
        // The profile offers `db_endpoint` too: an offered value for a wired input is dropped
        // without a note; the wiring is the only value.
        assert_entry(
            entry(&explained, "app", "db_endpoint"),
            Layer::Wiring,
            json!("${module.db.endpoint}"),
            "packages/web/1.0.0.toml [modules.app.wiring.db_endpoint]",
            &[],
        );
    }

    #[test]
    fn tags_come_from_the_toolkit() {
        let (blocks, explained) = World::default().run().unwrap();
        for module in ["app", "db", "app-config", "monitoring"] {
            assert_eq!(
                blocks[module]["tags"],
                json!({ "managed-by": "gitops-toolkit" })
            );
            assert_entry(
                entry(&explained, module, "tags"),
                Layer::Tags,
                json!({ "managed-by": "gitops-toolkit" }),
                "toolkit tags",
                &[],
            );
        }
    }

    #[test]
    fn module_default_is_explained_but_not_written() {
        let (blocks, explained) = World::default().run().unwrap();
        assert_entry(
            entry(&explained, "app", "tier"),
            Layer::ModuleDefault,
            json!("silver"),
            "module default (app@v1.0.0)",
            &[],
        );
        assert_entry(
            entry(&explained, "db", "port"),
            Layer::ModuleDefault,
            json!(5432),
            "module default (db@v2.0.0)",
            &[],
        );
        assert!(!blocks["app"].contains_key("tier"));
        assert!(!blocks["db"].contains_key("port"));
    }

    #[test]
    fn blocks_hold_exactly_the_chosen_values() {
        let (blocks, _) = World::default().run().unwrap();
        assert_eq!(
            Value::Object(blocks["app"].clone()),
            json!({
                "db_endpoint": "${module.db.endpoint}",
                "env_only": "from-env",
                "name": "web",
                "region": "eu-test-1",
                "replicas": 3,
                "size": "dep-size",
                "tags": { "managed-by": "gitops-toolkit" },
            })
        );
        assert_eq!(
            Value::Object(blocks["db"].clone()),
            json!({ "engine": "postgres", "name": "web", "tags": { "managed-by": "gitops-toolkit" } })
        );
        assert_eq!(
            blocks.keys().collect::<Vec<_>>(),
            ["app", "app-config", "db", "monitoring"]
        );
    }

    #[test]
    fn explanation_order_is_modules_then_inputs_then_skipped_offers() {
        let explained = World::default().explained();
        let order: Vec<String> = explained
            .iter()
            .map(|e| format!("{}.{}", e.module, e.input))
            .collect();
        assert_eq!(
            order,
            [
                "app.db_endpoint",
                "app.env_only",
                "app.name",
                "app.region",
                "app.replicas",
                "app.size",
                "app.tags",
                "app.tier",
                "app-config.settings",
                "app-config.tags",
                "db.engine",
                "db.name",
                "db.port",
                "db.tags",
                "db.size",
                "db.not_in_db",
                "monitoring.alert_route",
                "monitoring.tags",
            ]
        );
    }

    #[test]
    fn offered_value_for_an_undeclared_input_is_skipped_with_a_note() {
        let explained = World::default().explained();
        assert_entry(
            entry(&explained, "db", "size"),
            Layer::Profile,
            json!("small"),
            "builtin:profiles/base.toml [sandbox.db.size]",
            &["skipped: db@v2.0.0 does not declare this input"],
        );
        assert_entry(
            entry(&explained, "db", "not_in_db"),
            Layer::Environment,
            json!(1),
            "environments/dev.toml [inputs.db.not_in_db]",
            &["skipped: db@v2.0.0 does not declare this input"],
        );
    }

    #[test]
    fn strict_package_value_for_an_undeclared_input_is_an_error() {
        let world = World::new(
            ENV,
            &PACKAGE.replace("engine = \"postgres\"", "engine = \"postgres\", bogus = 1"),
            DEPLOYMENT,
        );
        let e = world.config_error();
        assert_eq!(e.file, Path::new("packages/web/1.0.0.toml"));
        assert_eq!(e.key.as_deref(), Some("modules.db.inputs.bogus"));
        assert_eq!(e.found, "input `bogus`, which db@v2.0.0 does not declare");
        assert_eq!(e.allowed, "an input of db@v2.0.0: engine, name, port");
    }

    #[test]
    fn strict_override_for_an_undeclared_input_is_an_error() {
        let world = World::new(
            ENV,
            PACKAGE,
            &DEPLOYMENT.replace("size = \"dep-size\"", "sise = \"dep-size\""),
        );
        let e = world.config_error();
        assert_eq!(e.file, Path::new("deployments/dev/web.toml"));
        assert_eq!(e.key.as_deref(), Some("overrides.app.sise"));
        assert_eq!(e.line, Some(6));
        assert_eq!(e.found, "input `sise`, which app@v1.0.0 does not declare");
        assert_eq!(
            e.allowed,
            "an input of app@v1.0.0: db_endpoint, env_only, name, region, replicas, size, tier"
        );
    }

    #[test]
    fn strict_value_for_a_wired_input_is_an_error() {
        let world = World::new(
            ENV,
            PACKAGE,
            &DEPLOYMENT.replace("size = \"dep-size\"", "db_endpoint = \"elsewhere\""),
        );
        let e = world.config_error();
        assert_eq!(e.key.as_deref(), Some("overrides.app.db_endpoint"));
        assert_eq!(
            e.found,
            "a value for `db_endpoint`, which the package wires to db.endpoint"
        );
        assert_eq!(
            e.allowed,
            "no value: wired inputs come from the package wiring"
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_is_an_error_in_any_layer() {
        // An offered (environment) value is checked as strictly as an override.
        let world = World::new(
            &ENV.replace(
                "env_only = \"from-env\"",
                "replicas = [1, 2]\nenv_only = \"x\"",
            ),
            PACKAGE,
            DEPLOYMENT,
        );
        let e = world.config_error();
        assert_eq!(e.file, Path::new("environments/dev.toml"));
        assert_eq!(e.key.as_deref(), Some("inputs.app.replicas"));
        assert_eq!(e.found, "an array for input `replicas`");
        assert_eq!(e.allowed, "a value of type number (app@v1.0.0)");
    }

    #[test]
    fn a_required_input_without_a_value_is_an_error() {
        let world = World::new(
            ENV,
            &PACKAGE.replace("inputs = { engine = \"postgres\" }", ""),
            DEPLOYMENT,
        );
        let e = world.config_error();
        assert_eq!(e.file, Path::new("deployments/dev/web.toml"));
        assert_eq!(e.key.as_deref(), Some("overrides.db"));
        assert_eq!(
            e.found,
            "no value for required input `engine` of db@v2.0.0 (type string)"
        );
    }

    #[test]
    fn the_request_names_only_modules_of_its_package() {
        let world = World::new(
            ENV,
            PACKAGE,
            &format!("{DEPLOYMENT}\n[overrides.cache]\nsize = 1\n"),
        );
        let e = world.config_error();
        assert_eq!(e.key.as_deref(), Some("overrides.cache"));
        assert_eq!(
            e.found,
            "module \"cache\", which package web@1.0.0 does not contain"
        );
        assert_eq!(
            e.allowed,
            "a module of the package: app, app-config, db, monitoring"
        );

        let without_monitoring = PACKAGE.replace(
            "[modules.monitoring]\nrepo = \"monitoring\"\nref = \"v1.0.0\"\n",
            "",
        );
        let e = World::new(ENV, &without_monitoring, DEPLOYMENT).config_error();
        assert_eq!(e.key.as_deref(), Some("monitoring"));
        assert_eq!(
            e.found,
            "[monitoring], but package web@1.0.0 has no `monitoring` module"
        );
    }

    #[test]
    fn explained_serializes_kebab_case_layers_and_omits_empty_notes() {
        let explained = World::default().explained();
        let tier = serde_json::to_value(entry(&explained, "app", "tier")).unwrap();
        assert_eq!(
            tier,
            json!({
                "module": "app",
                "input": "tier",
                "value": "silver",
                "layer": "module-default",
                "source": "module default (app@v1.0.0)",
            })
        );
        let size = serde_json::to_value(entry(&explained, "app", "size")).unwrap();
        assert_eq!(size["notes"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn layers_are_ordered_by_precedence() {
        let layers = [
            Layer::ModuleDefault,
            Layer::Toolkit,
            Layer::Package,
            Layer::Profile,
            Layer::Environment,
            Layer::Deployment,
            Layer::Wiring,
            Layer::Tags,
        ];
        assert!(layers.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn long_values_are_shortened_in_notes() {
        assert_eq!(compact(&json!("short")), "\"short\"");
        let long = json!("é".repeat(100));
        let shown = compact(&long);
        assert!(
            shown.ends_with("...") && shown.chars().count() == 60,
            "{shown}"
        );
    }
}
