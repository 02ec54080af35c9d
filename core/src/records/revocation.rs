//! Revocations as rollback sees them: `certifications/revoked.toml` (written by `gitops-certify
//! revoke`), read here directly so rollback does not depend on the certification code. Every array
//! of tables in the file is read; an entry has `kind = "module" | "package"`, `target =
//! "<name>@<version>"` and `reason`.

use crate::error::{ConfigError, Result};
use crate::model::load::SourceFile;
use crate::records::manifest::Manifest;
use std::path::Path;

pub const REVOKED_FILE: &str = "certifications/revoked.toml";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Revocation {
    pub kind: String,
    pub target: String,
    pub reason: String,
}

/// The revocations of the repository at `root` (none when the file does not exist).
pub fn read(root: &Path) -> Result<Vec<Revocation>> {
    let Some(src) = SourceFile::read(root, Path::new(REVOKED_FILE))? else {
        return Ok(Vec::new());
    };
    let doc: toml::Table = toml::from_str(&src.text).map_err(|e| {
        ConfigError::new(
            REVOKED_FILE,
            None,
            format!("invalid TOML: {}", e.message()),
            "the revocation list written by gitops-certify revoke",
        )
    })?;
    let mut out = Vec::new();
    for value in doc.values() {
        for entry in value.as_array().into_iter().flatten() {
            let s = |k: &str| {
                entry
                    .get(k)
                    .and_then(toml::Value::as_str)
                    .map(str::to_owned)
            };
            if let (Some(kind), Some(target)) = (s("kind"), s("target")) {
                out.push(Revocation {
                    kind,
                    target,
                    reason: s("reason").unwrap_or_default(),
                });
            }
        }
    }
    Ok(out)
}

fn same_version(revoked: &str, git_ref: &str) -> bool {
    let plain = |v: &str| {
        v.rsplit('/')
            .next()
            .unwrap_or(v)
            .trim_start_matches('v')
            .to_owned()
    };
    plain(revoked) == plain(git_ref)
}

/// The revocations that hit a render: its package, or one of its modules (by module name or
/// repository name, at the pinned ref).
pub fn hits<'a>(list: &'a [Revocation], manifest: &Manifest) -> Vec<&'a Revocation> {
    let package = manifest.package_ref();
    let modules: Vec<(String, String, String)> = manifest
        .modules
        .iter()
        .map(|(name, m)| {
            let repo = m.url.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            (
                name.clone(),
                repo.trim_end_matches(".git").to_owned(),
                m.git_ref.clone(),
            )
        })
        .collect();
    list.iter()
        .filter(|r| match r.kind.as_str() {
            "package" => r.target == package,
            "module" => r.target.split_once('@').is_some_and(|(name, v)| {
                modules.iter().any(|(m, repo, git_ref)| {
                    (name == m || name == repo) && same_version(v, git_ref)
                })
            }),
            _ => false,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A manifest with the given component, package and modules (the rest does not matter here).
    fn manifest(partial: serde_json::Value) -> Manifest {
        let mut m = json!({
            "toolkit_version": "0", "deployment": "dev/x", "environment": "dev", "name": "x",
            "profile": "p", "cloud": "sandbox", "protected": false, "source_commit": "",
            "source_dirty": false, "build_tag": "local", "inputs": {}, "tags": {},
            "root_module_digest": "",
        });
        for (k, v) in partial.as_object().into_iter().flatten() {
            m[k] = v.clone();
        }
        for module in m["modules"]
            .as_object_mut()
            .into_iter()
            .flat_map(|o| o.values_mut())
        {
            module["commit"] = json!("");
            module["tree"] = json!("");
        }
        serde_json::from_value(m).unwrap()
    }

    #[test]
    fn packages_and_modules_are_matched() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(dir.path().join("certifications")).unwrap_or_default();
        std::fs::write(
            dir.path().join(REVOKED_FILE),
            "[[revoked]]\nkind = \"package\"\ntarget = \"web-service@1.0.0\"\nreason = \"CVE\"\n\n[[revoked]]\nkind = \"module\"\ntarget = \"database@v1.1.0\"\nreason = \"data loss\"\n",
        )
        .unwrap_or_default();
        let list = read(dir.path()).unwrap_or_default();
        assert_eq!(list.len(), 2);
        let web = manifest(json!({"component": "web-service", "package": "1.0.0", "modules": {}}));
        assert_eq!(hits(&list, &web).len(), 1);
        let db = manifest(
            json!({"component": "data-store", "package": "1.1.0", "modules": {
            "database": {"url": "/x/modules/database", "ref": "v1.1.0"}}}),
        );
        assert_eq!(hits(&list, &db)[0].reason, "data loss");
        let old = manifest(
            json!({"component": "data-store", "package": "1.0.0", "modules": {
            "database": {"url": "/x/modules/database", "ref": "v1.0.0"}}}),
        );
        assert!(hits(&list, &old).is_empty());
        assert!(read(&dir.path().join("none"))
            .unwrap_or_default()
            .is_empty());
    }
}
