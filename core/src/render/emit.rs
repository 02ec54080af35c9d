//! Emission of the root module (`main.tf.json`): module blocks with their sources, the backend,
//! the provider of the environment's cloud, the package outputs and the deployment tags.

use super::dependencies::{remote_state_blocks, Dependency};
use super::Renderer;
use super::TOOLKIT_VERSION;
use crate::error::Result;
use crate::model::names::shown;
use crate::model::sot::DeploymentId;
use crate::model::tags;
use crate::model::ResolvedModule;
use crate::model::{BackendKind, Cloud, Deployment, Environment, Package};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

impl Renderer<'_> {
    pub(super) fn tags(&self, id: &DeploymentId, dep: &Deployment) -> BTreeMap<String, String> {
        BTreeMap::from([
            (tags::COMMIT.to_owned(), self.commit.clone()),
            (tags::BUILD.to_owned(), self.options.build_tag.clone()),
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
    pub(super) fn root_module(
        &self,
        id: &DeploymentId,
        dep: &Deployment,
        env: &Environment,
        package: &Package,
        modules: &BTreeMap<String, ResolvedModule>,
        mut blocks: BTreeMap<String, Map<String, Value>>,
        tags: &BTreeMap<String, String>,
        deps: &[Dependency],
    ) -> Result<Value> {
        for (name, m) in modules {
            let source = if self.options.vendor && self.options.module_store {
                super::output::store_source(&m.tree)
            } else if self.options.vendor {
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
        if !deps.is_empty() {
            let blocks = remote_state_blocks(deps, |d| self.dependency_backend(id, d))?;
            root["data"] = json!({ "terraform_remote_state": blocks });
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
        if let Some(backend) = &self.backend {
            return Ok(backend.clone());
        }
        self.backend_of(id, &dep.component)
    }

    /// The backend a dependency's state lives in, as `gitops.toml` gives it for that deployment.
    /// A relative local path is relative to the dependency's own rendered directory, which the
    /// dependent's cannot know: refused.
    fn dependency_backend(&self, id: &DeploymentId, d: &Dependency) -> Result<Value> {
        let backend = &self.repo.config.backend;
        if backend.kind.is_local() {
            // Terraform's default path is `terraform.tfstate` in the working directory.
            let path = backend
                .config
                .get("path")
                .map_or("terraform.tfstate", String::as_str);
            if !path.starts_with("{state_dir}") && !path.starts_with('/') {
                return Err(self
                    .repo
                    .config_src
                    .error(
                        &["backend", "config", "path"],
                        format!(
                            "{}, a path relative to each rendered directory, while {id} \
                             reads the state of {}",
                            shown(path),
                            d.id
                        ),
                        "a state path under {state_dir} or an absolute path, so that \
                         dependents can read their dependencies' state",
                    )
                    .into());
            }
        }
        self.backend_of(&d.id, &d.component)
    }

    fn backend_of(&self, id: &DeploymentId, component: &str) -> Result<Value> {
        let backend = &self.repo.config.backend;
        let settings = backend_settings(backend, id, component, self.options.state_dir.as_deref())
            .map_err(|key| {
                self.repo.config_src.error(
                    &["backend", "config", &key],
                    format!(
                        "{} which uses {{state_dir}}, but no state directory is set",
                        shown(&backend.config[&key])
                    ),
                    "--state-dir DIR or GITOPS_STATE_DIR",
                )
            })?;
        let mut config = Map::new();
        for (key, value) in settings {
            config.insert(key, Value::String(escape_template(&value)));
        }
        Ok(json!({ backend.kind.as_str(): config }))
    }
}

/// A deployment's backend settings: the `gitops.toml` template with `{env}`, `{name}`,
/// `{component}` and `{state_dir}` filled in (not yet escaped for Terraform's JSON). The one place
/// that rule lives: the render writes it, the fleet report finds local states with it. Err: the
/// key whose template uses `{state_dir}` while no state directory is set.
pub fn backend_settings(
    backend: &crate::model::Backend,
    id: &DeploymentId,
    component: &str,
    state_dir: Option<&std::path::Path>,
) -> std::result::Result<std::collections::BTreeMap<String, String>, String> {
    let mut out = std::collections::BTreeMap::new();
    for (key, template) in &backend.config {
        let mut value = template
            .replace("{env}", &id.env)
            .replace("{name}", &id.name)
            .replace("{component}", component);
        if value.contains("{state_dir}") {
            let dir = state_dir.ok_or_else(|| key.clone())?;
            value = value.replace("{state_dir}", &dir.display().to_string());
        }
        out.insert(key.clone(), value);
    }
    Ok(out)
}

impl BackendKind {
    /// Whether Terraform keeps this backend's state on the local disk.
    pub fn is_local(self) -> bool {
        self == BackendKind::Local
    }
}

/// In Terraform's JSON syntax every string is a template: `${` and `%{` in a user value would be
/// evaluated. Escape them so values are always data.
pub fn escape_template(s: &str) -> String {
    s.replace("${", "$${").replace("%{", "%%{")
}

pub(super) fn escape_templates(v: Value) -> Value {
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
