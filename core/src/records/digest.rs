//! The package digest: what a certification record binds. It covers the package file (parsed and
//! re-serialized canonically, so comments and formatting do not matter) and, for every module, the
//! repository name, ref, sub-path, commit and tree (the git tree id is a digest of the vendored
//! code). The module URL is left out: it differs between machines.

use crate::error::{Error, Result};
use crate::model::load::sha256_hex;
use crate::model::ResolvedModule;
use crate::model::{Cloud, Package};
use crate::records::certification::RecordModule;
use serde_json::Value;
use std::collections::BTreeMap;

/// Sorts object keys recursively: the same value always gives the same text, whatever serde_json's
/// map order is.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Canonical JSON text of a package.
pub fn package_text(package: &Package) -> Result<String> {
    let v = serde_json::to_value(package).map_err(|e| Error::Process(e.to_string()))?;
    serde_json::to_string(&canonical(&v)).map_err(|e| Error::Process(e.to_string()))
}

/// `sha256:` of the canonical package text.
pub fn package_file_digest(package: &Package) -> Result<String> {
    Ok(format!(
        "sha256:{}",
        sha256_hex(package_text(package)?.as_bytes())
    ))
}

/// The record entries of a package's modules as resolved for `cloud`.
pub fn record_modules(
    package: &Package,
    cloud: Cloud,
    resolved: &BTreeMap<String, ResolvedModule>,
) -> Vec<RecordModule> {
    package
        .modules
        .iter()
        .filter_map(|(name, m)| {
            let r = resolved.get(name)?;
            Some(RecordModule {
                name: name.clone(),
                cloud: cloud.to_string(),
                repo: m.repo.clone(),
                git_ref: r.git_ref.clone(),
                path: r.path.clone(),
                commit: r.commit.clone(),
                tree: r.tree.clone(),
            })
        })
        .collect()
}

/// The package digest over the package text and every module entry (sorted by cloud and name).
pub fn package_digest(package: &Package, modules: &[RecordModule]) -> Result<String> {
    let mut text = package_text(package)?;
    text.push('\n');
    let mut sorted: Vec<&RecordModule> = modules.iter().collect();
    sorted.sort_by(|a, b| (&a.cloud, &a.name).cmp(&(&b.cloud, &b.name)));
    for m in sorted {
        text.push_str(&format!(
            "module {} cloud={} repo={} ref={} path={} commit={} tree={}\n",
            m.name, m.cloud, m.repo, m.git_ref, m.path, m.commit, m.tree
        ));
    }
    Ok(format!("sha256:{}", sha256_hex(text.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(text: &str) -> Package {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn certify_digest_ignores_formatting_and_follows_content() {
        let a = pkg("[modules.network]\nrepo = \"network\"\nref = \"v1.0.0\"\n");
        let b =
            pkg("# comment\n[modules.network]\nref = \"v1.0.0\"   # pinned\nrepo = \"network\"\n");
        assert_eq!(
            package_file_digest(&a).unwrap(),
            package_file_digest(&b).unwrap()
        );
        let c = pkg("[modules.network]\nrepo = \"network\"\nref = \"v1.1.0\"\n");
        assert_ne!(
            package_file_digest(&a).unwrap(),
            package_file_digest(&c).unwrap()
        );
        let m = |commit: &str| {
            vec![RecordModule {
                name: "network".into(),
                cloud: "sandbox".into(),
                repo: "network".into(),
                git_ref: "v1.0.0".into(),
                path: String::new(),
                commit: commit.into(),
                tree: "t".into(),
            }]
        };
        assert_ne!(
            package_digest(&a, &m("c1")).unwrap(),
            package_digest(&a, &m("c2")).unwrap()
        );
        assert_eq!(
            package_digest(&a, &m("c1")).unwrap(),
            package_digest(&b, &m("c1")).unwrap()
        );
    }
}
