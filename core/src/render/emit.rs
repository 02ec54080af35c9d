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
            let (tree, sub) = m.vendored_tree();
            let source = if self.options.vendor && self.options.module_store {
                format!("{}{sub}", super::output::store_source(tree))
            } else if self.options.vendor {
                format!("./modules/{name}{sub}")
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
        terraform["backend"] = self.backend(id, dep, env)?;
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
            let blocks = remote_state_blocks(deps, |d| self.dependency_backend(id, d, env))?;
            root["data"] = json!({ "terraform_remote_state": blocks });
        }
        if !package.outputs.is_empty() {
            let outputs: Map<String, Value> = package
                .outputs
                .iter()
                .map(|(name, output)| {
                    let mut block = json!({ "value": super::wiring::module_expr(output.target()) });
                    if output.sensitive() {
                        block["sensitive"] = Value::Bool(true);
                    }
                    (name.clone(), block)
                })
                .collect();
            root["output"] = Value::Object(outputs);
        }
        Ok(root)
    }

    fn backend(&self, id: &DeploymentId, dep: &Deployment, env: &Environment) -> Result<Value> {
        if let Some(backend) = &self.backend {
            return Ok(backend.clone());
        }
        self.backend_of(id, &dep.component, env)
    }

    /// The backend a dependency's state lives in, as `gitops.toml` gives it for that deployment
    /// (same environment, so the same backend template). A relative local path is relative to
    /// the dependency's own rendered directory, which the dependent's cannot know: refused.
    fn dependency_backend(
        &self,
        id: &DeploymentId,
        d: &Dependency,
        env: &Environment,
    ) -> Result<Value> {
        let (backend, at) = self.repo.config.backend_for(&id.env, env.cloud);
        if backend.kind.is_local() {
            // Terraform's default path is `terraform.tfstate` in the working directory.
            let path = backend
                .config
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or("terraform.tfstate");
            if !path.starts_with("{state_dir}") && !path.starts_with('/') {
                let mut key: Vec<&str> = at.iter().map(String::as_str).collect();
                key.extend(["config", "path"]);
                return Err(self
                    .repo
                    .config_src
                    .error(
                        &key,
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
        self.backend_of(&d.id, &d.component, env)
    }

    fn backend_of(&self, id: &DeploymentId, component: &str, env: &Environment) -> Result<Value> {
        let (backend, at) = self.repo.config.backend_for(&id.env, env.cloud);
        let vars = BackendVars {
            id,
            component,
            env,
            state_dir: self.options.state_dir.as_deref(),
        };
        let config = backend_settings(backend, &vars).map_err(|key| {
            let mut path: Vec<&str> = at.iter().map(String::as_str).collect();
            path.push("config");
            path.extend(key.iter().map(String::as_str));
            let value = key[1..]
                .iter()
                .try_fold(&backend.config[&key[0]], |v, k| v.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default();
            self.repo.config_src.error(
                &path,
                format!(
                    "{} which uses {{state_dir}}, but no state directory is set",
                    shown(value)
                ),
                "--state-dir DIR or GITOPS_STATE_DIR",
            )
        })?;
        let config: Map<String, Value> = config
            .into_iter()
            .map(|(k, v)| (k, escape_templates(v)))
            .collect();
        Ok(json!({ backend.kind.as_str(): config }))
    }
}

/// What a backend template's placeholders stand for: the deployment, its component, its
/// environment (`{region}`, `{account}`) and the state directory (`{state_dir}`).
pub struct BackendVars<'a> {
    pub id: &'a DeploymentId,
    pub component: &'a str,
    pub env: &'a Environment,
    pub state_dir: Option<&'a std::path::Path>,
}

/// A deployment's backend settings: the `gitops.toml` template with the placeholders of
/// [`crate::model::BACKEND_PLACEHOLDERS`] filled in, in every string at any depth (not yet
/// escaped for Terraform's JSON); numbers, booleans, lists and tables stay what they are. The one
/// place that rule lives: the render writes it, the fleet report finds local states with it.
/// Err: the key path of a string that uses `{state_dir}` while no state directory is set.
pub fn backend_settings(
    backend: &crate::model::Backend,
    vars: &BackendVars<'_>,
) -> std::result::Result<BTreeMap<String, Value>, Vec<String>> {
    fn fill(
        v: &Value,
        vars: &BackendVars<'_>,
        path: &mut Vec<String>,
    ) -> std::result::Result<Value, Vec<String>> {
        Ok(match v {
            Value::String(template) => {
                let mut value = template
                    .replace("{env}", &vars.id.env)
                    .replace("{name}", &vars.id.name)
                    .replace("{component}", vars.component)
                    .replace("{region}", &vars.env.region)
                    .replace("{account}", &vars.env.account);
                if value.contains("{state_dir}") {
                    let dir = vars.state_dir.ok_or_else(|| path.clone())?;
                    value = value.replace("{state_dir}", &dir.display().to_string());
                }
                Value::String(value)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|x| fill(x, vars, path))
                    .collect::<std::result::Result<_, _>>()?,
            ),
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, x) in map {
                    path.push(k.clone());
                    out.insert(k.clone(), fill(x, vars, path)?);
                    path.pop();
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
    let mut out = BTreeMap::new();
    for (key, template) in &backend.config {
        let mut path = vec![key.clone()];
        out.insert(key.clone(), fill(template, vars, &mut path)?);
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
