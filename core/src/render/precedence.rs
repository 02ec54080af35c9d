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
use crate::model::{Deployment, Environment, Package};
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
    pub(super) fn module_inputs(&self) -> Result<(ModuleBlocks, Vec<Explained>)> {
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
