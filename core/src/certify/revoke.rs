//! `gitops-certify revoke`: a module version (`<repo>@<ref>`) or a package (`<component>@<version>`)
//! goes into `certifications/revoked.toml`, committed (and pushed); every package containing it
//! is refused by protected environments from then on.

use crate::error::{Error, Result};
use crate::exec::git::{Change, GitRepo};
use crate::guard::certification::revocation;
use crate::model::names;
use crate::model::sot::SourceRepo;
use crate::model::Package;
use crate::records::certification::{self as record, normalize_ref, Revocation, RevokedList};
use std::path::Path;

/// Every package of the repository: (component, version, package). Packages that do not load
/// are skipped (render reports them).
pub fn all_packages(repo: &SourceRepo) -> Vec<(String, String, Package)> {
    let mut out = Vec::new();
    for c in repo.components() {
        let versions = crate::model::sot::version_stems(&repo.root.join("packages").join(&c))
            .unwrap_or_default();
        for v in versions {
            let rel = Path::new("packages").join(&c).join(format!("{v}.toml"));
            if let Ok(Some(src)) = crate::model::load::SourceFile::read(&repo.root, &rel) {
                if let Ok(p) = crate::model::load::package(&src) {
                    out.push((c.clone(), v, p));
                }
            }
        }
    }
    out
}

/// The result of a revocation.
pub struct Revoked {
    pub entry: Revocation,
    /// False when the target was already revoked (nothing written).
    pub new: bool,
    /// `component@version` of every package it hits.
    pub packages: Vec<String>,
    pub commit: Option<String>,
}

/// Revokes `target` (`<module repo>@<ref>` or `<component>@<version>`).
pub fn revoke(repo: &SourceRepo, target: &str, reason: &str, by: Option<&str>) -> Result<Revoked> {
    let (name, version) = target
        .split_once('@')
        .filter(|(n, v)| !n.is_empty() && !v.is_empty())
        .ok_or_else(|| {
            Error::Usage(format!(
                "revoke {}: expected <module>@<version> (network@v1.0.0) or <component>@<version> (web-service@1.0.0)",
                names::shown(target)
            ))
        })?;
    if !names::is_dns_label(name) || !(names::is_module_ref(version) || names::is_semver(version)) {
        return Err(Error::Usage(format!(
            "revoke {}: the name must be {} and the version a tag or semver",
            names::shown(target),
            names::DNS_LABEL_RULE
        )));
    }
    if reason.trim().is_empty() || reason.len() > 1000 || reason.contains('\0') {
        return Err(Error::Usage("--reason: say why (1-1000 characters)".into()));
    }
    let is_package = repo
        .root
        .join("packages")
        .join(name)
        .join(format!("{version}.toml"))
        .is_file();
    let kind = if is_package { "package" } else { "module" };
    let mut list = record::read_revoked(repo)?;
    let same = |r: &Revocation| {
        r.kind == kind
            && match r.target.split_once('@') {
                Some((n, v)) => n == name && normalize_ref(v) == normalize_ref(version),
                None => false,
            }
    };
    let entry = Revocation {
        kind: kind.to_owned(),
        target: target.to_owned(),
        reason: reason.trim().to_owned(),
        by: record::who(by),
        at: record::rfc3339(std::time::SystemTime::now()),
    };
    let existing = list.revoked.iter().find(|r| same(r)).cloned();
    let only = RevokedList {
        revoked: vec![existing.clone().unwrap_or_else(|| entry.clone())],
    };
    let packages: Vec<String> = all_packages(repo)
        .into_iter()
        .filter(|(c, v, p)| revocation(&only, c, v, p).is_some())
        .map(|(c, v, _)| format!("{c}@{v}"))
        .collect();
    if let Some(entry) = existing {
        return Ok(Revoked {
            entry,
            new: false,
            packages,
            commit: None,
        });
    }
    list.revoked.push(entry.clone());
    let text = record::to_toml(
        "# Revoked module versions and packages, written by gitops-certify revoke. Protected\n# environments refuse every package containing one of them.",
        &list,
    )?;
    let git = GitRepo::open(repo)?;
    let id = git.commit_and_push(
        &[Change {
            path: record::REVOKED.into(),
            contents: Some(text),
        }],
        &format!(
            "Revoke {kind} {target}\n\nReason: {}\nRevoked by: {}\nPackages affected: {}\n",
            entry.reason,
            entry.by,
            if packages.is_empty() {
                "none".to_owned()
            } else {
                packages.join(", ")
            }
        ),
        3,
    )?;
    Ok(Revoked {
        entry,
        new: true,
        packages,
        commit: Some(id.to_string()),
    })
}
