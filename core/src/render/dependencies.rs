//! Dependencies between deployments: a request's `[dependencies]` resolved against the other
//! requests of its environment, and the `terraform_remote_state` data sources through which
//! Terraform itself reads the dependencies' applied outputs (never mock values).
//!
//! The render checks what the files tell: every dependency has a request in the same environment,
//! every wired output is one its package exports, and no request depends on itself through
//! others. Whether the dependency was applied is the plan's check (`plan::dependencies`): that is
//! a fact of the records, not of the files.

use crate::error::Result;
use crate::model::load::SourceFile;
use crate::model::names::{list_or_none, shown};
use crate::model::sot::{DeploymentId, SourceRepo};
use crate::model::{Deployment, APP_CONFIG_WIRING};
use crate::records::manifest::ManifestDependency;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// One entry of `[dependencies]`, resolved.
#[derive(Debug, Clone)]
pub(super) struct Dependency {
    /// The name the request gives it (`db`): the data source's name.
    pub(super) local: String,
    pub(super) id: DeploymentId,
    pub(super) component: String,
    pub(super) package: String,
    /// The outputs this request wires (sorted, each once).
    pub(super) outputs: Vec<String>,
}

/// The expression of output `output` of dependency `local` in the root module.
pub(super) fn output_expr(local: &str, output: &str) -> String {
    format!("${{data.terraform_remote_state.{local}.outputs.{output}}}")
}

/// How `--explain` names the source of a value wired from a dependency:
/// `output db_endpoint of dev/orders-db (deployments/dev/orders-api.toml [wiring.compute.db])`.
pub(super) fn explain_source(
    id: &DeploymentId,
    dep: &Deployment,
    dep_src: &SourceFile,
    keys: [&str; 2],
    target: &str,
) -> String {
    let (local, output) = target.split_once('.').unwrap_or((target, ""));
    let name = dep.dependencies.get(local).map_or(local, String::as_str);
    format!(
        "output {output} of {}/{name} ({} [wiring.{}.{}])",
        id.env,
        dep_src.shown.display(),
        keys[0],
        keys[1]
    )
}

/// Resolves the request's dependencies: each must be a request of the same environment whose
/// package exports every output wired from it, and following dependencies from it must not lead
/// back to this request. Errors name this request's file and key (exit 2).
pub(super) fn resolve(
    repo: &SourceRepo,
    id: &DeploymentId,
    dep: &Deployment,
    dep_src: &SourceFile,
) -> Result<Vec<Dependency>> {
    let mut wired: BTreeMap<&str, Vec<(String, String, &str)>> = BTreeMap::new();
    for (module, inputs) in &dep.wiring {
        for (input, target) in inputs {
            if let Some((local, output)) = target.split_once('.') {
                wired
                    .entry(local)
                    .or_default()
                    .push((module.clone(), input.clone(), output));
            }
        }
    }
    let mut out = Vec::new();
    for (local, name) in &dep.dependencies {
        let key = ["dependencies", local.as_str()];
        let other = DeploymentId {
            env: id.env.clone(),
            name: name.clone(),
        };
        if other == *id {
            return Err(dep_src
                .error(
                    &key,
                    format!("{id} itself"),
                    "another deployment of the environment",
                )
                .into());
        }
        let Some((request, _)) = repo.request(&other)? else {
            let known: Vec<String> = repo
                .deployment_names(&id.env)
                .into_iter()
                .filter(|n| *n != id.name)
                .collect();
            return Err(dep_src
                .error(
                    &key,
                    format!(
                        "{}, which has no request deployments/{}/{name}.toml",
                        shown(name),
                        id.env
                    ),
                    format!(
                        "a deployment of environment {}: {}",
                        id.env,
                        list_or_none(&known)
                    ),
                )
                .into());
        };
        if let Some(cycle) = cycle_through(repo, id, &other) {
            let path: Vec<String> = std::iter::once(id.to_string())
                .chain(cycle.iter().map(ToString::to_string))
                .collect();
            return Err(dep_src
                .error(
                    &key,
                    format!("a dependency cycle: {}", path.join(" -> ")),
                    "dependencies without cycles",
                )
                .into());
        }
        let (package, _) = repo.package(&request.component, &request.package, |allowed| {
            dep_src.error(
                &key,
                format!(
                    "{other}, whose package {}@{} has no file",
                    request.component, request.package
                ),
                allowed,
            )
        })?;
        let mut outputs = Vec::new();
        for (module, input, output) in wired.remove(local.as_str()).unwrap_or_default() {
            if !package.outputs.contains_key(output) {
                let exported: Vec<&str> = package.outputs.keys().map(String::as_str).collect();
                return Err(dep_src
                    .error(
                        &["wiring", &module, &input],
                        format!(
                            "output `{output}` of {other}, which its package {}@{} does not export",
                            request.component, request.package
                        ),
                        format!(
                            "an output of {}@{}: {}",
                            request.component,
                            request.package,
                            list_or_none(&exported)
                        ),
                    )
                    .into());
            }
            outputs.push(output.to_owned());
        }
        outputs.sort();
        outputs.dedup();
        out.push(Dependency {
            local: local.clone(),
            id: other,
            component: request.component,
            package: request.package,
            outputs,
        });
    }
    Ok(out)
}

/// The path from `from` back to `start` through the requests' dependencies, if there is one
/// (`from` first, `start` last). Requests that cannot be read end the walk there: their own render
/// reports them.
fn cycle_through(
    repo: &SourceRepo,
    start: &DeploymentId,
    from: &DeploymentId,
) -> Option<Vec<DeploymentId>> {
    fn walk(
        repo: &SourceRepo,
        start: &DeploymentId,
        node: &DeploymentId,
        path: &mut Vec<DeploymentId>,
        seen: &mut Vec<DeploymentId>,
    ) -> bool {
        path.push(node.clone());
        if node == start {
            return true;
        }
        if !seen.contains(node) {
            seen.push(node.clone());
            if let Ok(Some((d, _))) = repo.request(node) {
                for name in d.dependencies.values() {
                    let next = DeploymentId {
                        env: node.env.clone(),
                        name: name.clone(),
                    };
                    if walk(repo, start, &next, path, seen) {
                        return true;
                    }
                }
            }
        }
        path.pop();
        false
    }
    let mut path = Vec::new();
    walk(repo, start, from, &mut path, &mut Vec::new()).then_some(path)
}

/// The `data.terraform_remote_state` blocks: one per dependency, with the backend `gitops.toml`
/// gives that deployment.
pub(super) fn remote_state_blocks(
    deps: &[Dependency],
    backend: impl Fn(&Dependency) -> Result<Value>,
) -> Result<Map<String, Value>> {
    let mut blocks = Map::new();
    for d in deps {
        let b = backend(d)?;
        let (kind, config) = b
            .as_object()
            .and_then(|o| o.iter().next())
            .map(|(k, v)| (k.clone(), v.clone()))
            .unwrap_or_default();
        blocks.insert(
            d.local.clone(),
            json!({ "backend": kind, "config": config }),
        );
    }
    Ok(blocks)
}

/// What the manifest records of the dependencies (`plan::dependencies` checks it).
pub(super) fn manifest_entries(deps: &[Dependency]) -> BTreeMap<String, ManifestDependency> {
    deps.iter()
        .map(|d| {
            (
                d.local.clone(),
                ManifestDependency {
                    deployment: d.id.to_string(),
                    package: format!("{}@{}", d.component, d.package),
                    outputs: d.outputs.clone(),
                },
            )
        })
        .collect()
}

/// The `[wiring.app_config]` settings of a request: setting -> `<dependency>.<output>`.
pub(super) fn app_config_wiring(dep: &Deployment) -> Option<&BTreeMap<String, String>> {
    dep.wiring.get(APP_CONFIG_WIRING).filter(|m| !m.is_empty())
}
