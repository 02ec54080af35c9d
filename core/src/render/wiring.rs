//! The wiring check: every wired input and output exists, every module has a `tags` variable
//! (unless the provider tags every resource), and the wiring has no cycle.

use crate::error::Result;
use crate::model::interface::ModuleInterface;
use crate::model::load::SourceFile;
use crate::model::Package;
use crate::model::ResolvedModule;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The Terraform expression of a wiring target (checked by `load::package`):
/// `${module.<module>.<output><path>}`. The one place a target becomes an expression.
pub(crate) fn module_expr(target: &str) -> String {
    format!("${{module.{target}}}")
}

/// One line per module call of the package's module code that `terraform init` would fetch
/// (not vendored, not pinned by the package): the module, the file, the call and its source.
pub(super) fn remote_sources(
    package: &Package,
    modules: &BTreeMap<String, ResolvedModule>,
    interfaces: &BTreeMap<String, Arc<ModuleInterface>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for name in package.modules.keys() {
        for r in &interfaces[name].remote_sources {
            out.push(format!(
                "module {name}@{} calls module \"{}\" from {} ({}): terraform init fetches it, \
                 outside the package's pins",
                modules[name].git_ref, r.module, r.source, r.file
            ));
        }
    }
    out
}

pub(super) fn check_wiring(
    package: &Package,
    pkg_src: &SourceFile,
    modules: &BTreeMap<String, ResolvedModule>,
    interfaces: &BTreeMap<String, Arc<ModuleInterface>>,
    provider_tags: bool,
) -> Result<()> {
    for (name, m) in &package.modules {
        let iface = &interfaces[name];
        // Where the provider tags every resource (AWS `default_tags`), a module without a `tags`
        // variable is still tagged; gitops-tag's check after the apply proves it.
        if !provider_tags && !iface.variables.contains_key("tags") {
            return Err(pkg_src
                .error(
                    &["modules", name],
                    format!("module {name}@{} without a `tags` variable", m.git_ref),
                    "modules with a `tags` variable: every resource must carry the deployment tags \
                     (only a provider that tags every resource, AWS's default_tags, makes it optional)",
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
            let (src_module, output, _) =
                crate::model::names::wiring_target(target).unwrap_or((target, "", ""));
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
            let dep = target.split_once('.').map_or(target.as_str(), |(m, _)| m);
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

#[cfg(test)]
mod tests {
    use super::*;

    const PACKAGE: &str = r#"[modules.vpc]
repo = "vpc"
ref = "v1.0.0"

[modules.app]
repo = "app"
ref = "v1.0.0"
wiring = { vpc_id = "vpc.vpc_id" }
"#;

    fn world(
        vpc_tf: &str,
    ) -> (
        Package,
        SourceFile,
        BTreeMap<String, ResolvedModule>,
        BTreeMap<String, Arc<ModuleInterface>>,
    ) {
        let src = SourceFile::from_text("packages/web/1.0.0.toml", PACKAGE.to_owned());
        let package: Package = src.parse().unwrap();
        let mut modules = BTreeMap::new();
        let mut interfaces = BTreeMap::new();
        for (name, tf) in [
            ("vpc", vpc_tf),
            ("app", "variable \"vpc_id\" {}\nvariable \"tags\" {}\n"),
        ] {
            modules.insert(
                name.to_owned(),
                ResolvedModule {
                    url: format!("/modules/{name}"),
                    git_ref: "v1.0.0".into(),
                    commit: "0123456789abcdef".into(),
                    tree: "fedcba9876543210".into(),
                    path: String::new(),
                    root_tree: String::new(),
                },
            );
            let mut iface = ModuleInterface::default();
            iface.add(tf).unwrap();
            interfaces.insert(name.to_owned(), Arc::new(iface));
        }
        (package, src, modules, interfaces)
    }

    #[test]
    fn a_module_without_tags_needs_a_provider_that_tags() {
        // terraform-aws-modules and Azure Verified Modules often have no `tags` variable.
        let (p, src, m, i) = world("output \"vpc_id\" { value = 1 }\n");
        let e = check_wiring(&p, &src, &m, &i, false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("packages/web/1.0.0.toml")
                && e.contains("modules.vpc")
                && e.contains("without a `tags` variable"),
            "{e}"
        );
        check_wiring(&p, &src, &m, &i, true).unwrap();
    }

    #[test]
    fn a_wired_output_must_exist_whatever_the_provider() {
        let (p, src, m, i) = world("variable \"tags\" {}\noutput \"id\" { value = 1 }\n");
        let e = check_wiring(&p, &src, &m, &i, true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("output `vpc_id`") && e.contains("an output of vpc@v1.0.0: id"),
            "{e}"
        );
    }
}
