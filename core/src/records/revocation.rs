//! The revocation list `certifications/revoked.toml`, written by `gitops-certify revoke`: one
//! type, one reader and one matcher, used by the certification guard (render, plan, apply),
//! certify (revoke, run, status, matrix) and rollback.
//!
//! The rule: a revocation `<name>@<version>` of kind `package` hits the package version
//! `<component>@<version>`; of kind `module` it hits every package with a module whose repository
//! name (package `repo`) or module name is `<name>` at the ref `<version>`. Versions and refs
//! compare after [`normalize_ref`]: `v1.0.0`, `1.0.0` and `refs/tags/v1.0.0` are the same ref;
//! `network/v1.4.0` (a monorepo tag) is `network/1.4.0`, not `1.4.0`.

use crate::error::{ConfigError, Result};
use crate::model::load::SourceFile;
use crate::model::Package;
use crate::records::manifest::Manifest;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The revocation list, relative to the source-of-truth root.
pub const REVOKED_FILE: &str = "certifications/revoked.toml";

/// `certifications/revoked.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokedList {
    #[serde(default)]
    pub revoked: Vec<Revocation>,
}

/// What a revocation revokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A module version: `<repo>@<ref>`.
    Module,
    /// A package version: `<component>@<version>`.
    Package,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Module => "module",
            Kind::Package => "package",
        })
    }
}

/// One revocation: a module version (`<repo>@<ref>`) or a package (`<component>@<version>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// module | package
    pub kind: Kind,
    /// `network@v1.0.0` (module repo at ref) or `web-service@1.0.0`.
    pub target: String,
    pub reason: String,
    pub by: String,
    /// RFC 3339, UTC.
    pub at: String,
}

impl Revocation {
    /// The target as `(name, version)`; `None` when it has no `@`.
    pub fn name_version(&self) -> Option<(&str, &str)> {
        self.target.split_once('@')
    }

    /// True when this entry revokes `kind` `name@version` (a second revocation of it is a no-op).
    pub fn is_for(&self, kind: Kind, name: &str, version: &str) -> bool {
        self.kind == kind
            && self
                .name_version()
                .is_some_and(|(n, v)| n == name && same_ref(v, version))
    }

    /// True when this entry hits `subject` (see the module docs for the rule).
    pub fn hits(&self, subject: &Subject<'_>) -> bool {
        let Some((name, version)) = self.name_version() else {
            return false;
        };
        match self.kind {
            Kind::Package => name == subject.component && same_ref(version, subject.version),
            Kind::Module => subject
                .modules
                .iter()
                .any(|m| (name == m.repo || name == m.name) && same_ref(version, m.git_ref)),
        }
    }

    /// `module network@v1.0.0 was revoked by bob at 2026-03-02T09:00:00Z: CVE-...`
    pub fn describe(&self) -> String {
        format!(
            "{} {} was revoked by {} at {}: {}",
            self.kind, self.target, self.by, self.at, self.reason
        )
    }
}

/// A module as a revocation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModuleRef<'a> {
    /// The module's name in the package.
    pub name: &'a str,
    /// Its repository name under the cloud's module root.
    pub repo: &'a str,
    /// The ref it is pinned to.
    pub git_ref: &'a str,
}

/// What a revocation is matched against: a package version and its modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject<'a> {
    pub component: &'a str,
    pub version: &'a str,
    pub modules: Vec<ModuleRef<'a>>,
}

impl<'a> Subject<'a> {
    /// A package file's version and the modules it names.
    pub fn package(component: &'a str, version: &'a str, package: &'a Package) -> Self {
        Subject {
            component,
            version,
            modules: package
                .modules
                .iter()
                .map(|(name, m)| ModuleRef {
                    name,
                    repo: &m.repo,
                    git_ref: &m.git_ref,
                })
                .collect(),
        }
    }

    /// What a render resolved: its package and modules (the repository name is the last segment
    /// of the module URL, without `.git`).
    pub fn manifest(m: &'a Manifest) -> Self {
        Subject {
            component: &m.component,
            version: &m.package,
            modules: m
                .modules
                .iter()
                .map(|(name, r)| {
                    let last = r.url.trim_end_matches('/').rsplit('/').next().unwrap_or("");
                    ModuleRef {
                        name,
                        repo: last.strip_suffix(".git").unwrap_or(last),
                        git_ref: &r.git_ref,
                    }
                })
                .collect(),
        }
    }
}

impl RevokedList {
    /// The entries that hit `subject`, in file order.
    pub fn hits(&self, subject: &Subject<'_>) -> Vec<&Revocation> {
        self.revoked.iter().filter(|r| r.hits(subject)).collect()
    }

    /// The first entry that hits `subject`, described (see [`Revocation::describe`]).
    pub fn first_hit(&self, subject: &Subject<'_>) -> Option<String> {
        self.revoked
            .iter()
            .find(|r| r.hits(subject))
            .map(Revocation::describe)
    }
}

/// `refs/tags/v1.0.0`, `v1.0.0` and `1.0.0` are one ref; `network/v1.4.0` is `network/1.4.0`:
/// a `refs/tags/` prefix and a leading `v` of the last path segment are ignored.
pub fn normalize_ref(r: &str) -> String {
    let r = r.strip_prefix("refs/tags/").unwrap_or(r);
    let (dir, last) = match r.rsplit_once('/') {
        Some((d, l)) => (Some(d), l),
        None => (None, r),
    };
    let last = last.strip_prefix('v').unwrap_or(last);
    match dir {
        Some(d) => format!("{d}/{last}"),
        None => last.to_owned(),
    }
}

/// True when two refs (or versions) are the same after [`normalize_ref`].
pub fn same_ref(a: &str, b: &str) -> bool {
    normalize_ref(a) == normalize_ref(b)
}

/// The revocation list of the repository at `root` (empty when the file does not exist). A list
/// that does not parse, or an entry whose target is not `<name>@<version>`, is invalid input
/// (exit 2) naming the file, the key and the line.
pub fn read(root: &Path) -> Result<RevokedList> {
    let Some(src) = SourceFile::read(root, Path::new(REVOKED_FILE))? else {
        return Ok(RevokedList::default());
    };
    let list: RevokedList = src.parse()?;
    for (i, r) in list.revoked.iter().enumerate() {
        if !r
            .name_version()
            .is_some_and(|(n, v)| !n.is_empty() && !v.is_empty())
        {
            return Err(ConfigError::new(
                REVOKED_FILE,
                Some(&format!("revoked[{i}].target")),
                format!("{:?}", r.target),
                "<name>@<version>, as written by gitops-certify revoke",
            )
            .into());
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn revocation(kind: Kind, target: &str) -> Revocation {
        Revocation {
            kind,
            target: target.into(),
            reason: "why".into(),
            by: "bob".into(),
            at: "2026-03-02T09:00:00Z".into(),
        }
    }

    fn subject<'a>(version: &'a str, modules: &[(&'a str, &'a str, &'a str)]) -> Subject<'a> {
        Subject {
            component: "data-store",
            version,
            modules: modules
                .iter()
                .map(|&(name, repo, git_ref)| ModuleRef {
                    name,
                    repo,
                    git_ref,
                })
                .collect(),
        }
    }

    #[test]
    fn refs_normalize() {
        assert!(same_ref("v1.0.0", "1.0.0"));
        assert!(same_ref("refs/tags/v1.0.0", "1.0.0"));
        assert!(same_ref("refs/tags/1.0.0", "v1.0.0"));
        assert_eq!(normalize_ref("network/v1.4.0"), "network/1.4.0");
        assert!(!same_ref("network/v1.4.0", "v1.4.0"));
        assert!(!same_ref("v1.0.0", "v1.0.1"));
    }

    /// The cases where the three matchers this one replaces disagreed: rollback's (`hits` on the
    /// manifest: module or repository name, last ref segment), the guard's and certify's
    /// (repository name only, `refs/tags/` not stripped, any kind but `package` a module).
    #[test]
    fn the_one_rule_where_the_old_matchers_disagreed() {
        let module = |t| revocation(Kind::Module, t);
        // By module name (old guard: no), by repository name (all: yes).
        let db = subject("1.1.0", &[("db", "database", "v1.1.0")]);
        assert!(module("db@v1.1.0").hits(&db));
        assert!(module("database@1.1.0").hits(&db));
        // A module pinned as refs/tags/v1.1.0 (old guard: no; old rollback: yes).
        let full = subject("1.1.0", &[("db", "database", "refs/tags/v1.1.0")]);
        assert!(module("database@v1.1.0").hits(&full));
        // A monorepo tag is its own ref (old rollback: `network@v1.4.0` hit `network/v1.4.0`).
        let mono = subject("1.0.0", &[("network", "infra", "network/v1.4.0")]);
        assert!(!module("network@v1.4.0").hits(&mono));
        assert!(!module("infra@v1.4.0").hits(&mono));
        assert!(module("infra@network/1.4.0").hits(&mono));
        // A package version compares like a ref (old: exact text only).
        let pkg = |t| revocation(Kind::Package, t);
        assert!(pkg("data-store@1.1.0").hits(&db));
        assert!(pkg("data-store@v1.1.0").hits(&db));
        assert!(!pkg("data-store@1.0.0").hits(&db));
        // A package revocation never hits a module of the same name, and the reverse.
        assert!(!pkg("database@1.1.0").hits(&db));
        assert!(!module("data-store@1.1.0").hits(&db));
        // Revoking twice: the same entry, whatever the spelling of the version.
        assert!(module("database@v1.1.0").is_for(Kind::Module, "database", "1.1.0"));
        assert!(!module("database@v1.1.0").is_for(Kind::Package, "database", "1.1.0"));
    }

    #[test]
    fn the_list_is_read_strictly() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().revoked.is_empty());
        std::fs::create_dir_all(dir.path().join("certifications")).unwrap();
        let file = dir.path().join(REVOKED_FILE);
        let entry = |kind: &str, target: &str| {
            format!("[[revoked]]\nkind = \"{kind}\"\ntarget = \"{target}\"\nreason = \"r\"\nby = \"bob\"\nat = \"2026-03-02T09:00:00Z\"\n")
        };
        std::fs::write(&file, entry("package", "web-service@1.0.0")).unwrap();
        let list = read(dir.path()).unwrap();
        assert_eq!(list.revoked[0].kind, Kind::Package);
        // An unknown kind (the old guard took it for a module, rollback ignored it) is invalid.
        std::fs::write(&file, entry("pkg", "web-service@1.0.0")).unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("revoked.toml") && e.contains("kind"), "{e}");
        std::fs::write(&file, entry("module", "network")).unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("revoked[0].target"), "{e}");
    }

    #[test]
    fn a_manifest_names_its_modules_and_repositories() {
        let m: Manifest = serde_json::from_value(json!({
            "toolkit_version": "0", "deployment": "dev/x", "environment": "dev", "name": "x",
            "component": "data-store", "package": "1.1.0", "profile": "p", "cloud": "sandbox",
            "protected": false, "source_commit": "", "source_dirty": false, "build_tag": "local",
            "inputs": {}, "tags": {}, "root_module_digest": "",
            "modules": {"db": {"url": "/x/modules/database.git/", "ref": "v1.1.0", "commit": "", "tree": ""}},
        }))
        .unwrap();
        let s = Subject::manifest(&m);
        assert_eq!(
            s.modules,
            vec![ModuleRef {
                name: "db",
                repo: "database",
                git_ref: "v1.1.0"
            }]
        );
        let list = RevokedList {
            revoked: vec![revocation(Kind::Module, "database@1.1.0")],
        };
        assert_eq!(list.hits(&s).len(), 1);
        assert!(list
            .first_hit(&s)
            .unwrap()
            .starts_with("module database@1.1.0 was revoked by bob at 2026-03-02T09:00:00Z: why"));
    }
}
