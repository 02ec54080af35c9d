//! `gitops-certify revoke`: a module version (`<repo>@<ref>`) or a package (`<component>@<version>`)
//! goes into `certifications/revoked.toml`, committed (and pushed); every package containing it
//! is refused by protected environments from then on.

use crate::error::{Error, Result};
use crate::exec::git::{Change, GitRepo};
use crate::model::names;
use crate::model::sot::SourceRepo;
use crate::model::Package;
use crate::records::certification as record;
use crate::records::revocation::{self, Kind, Revocation, RevokedList, Subject};
use serde::{Serialize, Serializer};
use std::path::{Path, PathBuf};

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

/// What `gitops-certify revoke` is asked to do.
#[derive(Debug, Clone)]
pub struct RevokeOptions {
    /// The source-of-truth repository.
    pub repo: PathBuf,
    /// `<module repo>@<ref>` or `<component>@<version>`.
    pub target: String,
    /// Why (recorded in the list and the commit message).
    pub reason: String,
    /// Who revokes (checked by the caller); default `BUILD_USER`, else `USER`.
    pub by: Option<String>,
}

/// The report of a revocation. Its JSON: `{"commit", "new", "packages", "revoked"}`.
#[derive(Debug, Clone)]
pub struct RevokeReport {
    /// The entry written, or the one that already revoked the target.
    pub entry: Revocation,
    /// False when the target was already revoked (nothing written).
    pub new: bool,
    /// `component@version` of every package it hits.
    pub packages: Vec<String>,
    pub commit: Option<String>,
}

impl Serialize for RevokeReport {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        // Through a JSON value: every object's keys sorted, as this report has always printed.
        serde_json::json!({
            "revoked": self.entry, "new": self.new, "packages": self.packages,
            "commit": self.commit,
        })
        .serialize(s)
    }
}

/// `gitops-certify revoke`: revokes a module version or a package (see the module docs). A target
/// already revoked is reported (`new: false`), not written again.
pub fn revoke(opts: &RevokeOptions) -> Result<RevokeReport> {
    let repo = SourceRepo::open(&opts.repo)?;
    let (target, reason) = (opts.target.as_str(), opts.reason.as_str());
    let (name, version) = parse_target(target)?;
    if reason.trim().is_empty() || reason.len() > 1000 || reason.contains('\0') {
        return Err(Error::Usage("--reason: say why (1-1000 characters)".into()));
    }
    let is_package = repo
        .root
        .join("packages")
        .join(name)
        .join(format!("{version}.toml"))
        .is_file();
    let kind = if is_package {
        Kind::Package
    } else {
        Kind::Module
    };
    let mut list = revocation::read(&repo.root)?;
    let existing = list
        .revoked
        .iter()
        .find(|r| r.is_for(kind, name, version))
        .cloned();
    let entry = existing.clone().unwrap_or_else(|| Revocation {
        kind,
        target: target.to_owned(),
        reason: reason.trim().to_owned(),
        by: record::who(opts.by.as_deref()),
        at: record::rfc3339(std::time::SystemTime::now()),
    });
    let packages = hit_packages(&repo, &entry);
    if existing.is_some() {
        return Ok(RevokeReport {
            entry,
            new: false,
            packages,
            commit: None,
        });
    }
    list.revoked.push(entry.clone());
    let commit = commit_list(&repo, &list, &entry, &packages)?;
    Ok(RevokeReport {
        entry,
        new: true,
        packages,
        commit: Some(commit),
    })
}

/// `<name>@<version>`: a DNS-label name, a module ref or semver version (exit 2 otherwise).
fn parse_target(target: &str) -> Result<(&str, &str)> {
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
    Ok((name, version))
}

/// `component@version` of every package of the repository the revocation hits.
fn hit_packages(repo: &SourceRepo, entry: &Revocation) -> Vec<String> {
    all_packages(repo)
        .into_iter()
        .filter(|(c, v, p)| entry.hits(&Subject::package(c, v, p)))
        .map(|(c, v, _)| format!("{c}@{v}"))
        .collect()
}

/// Writes the revocation list, commits it (pushed when there is a remote); the commit id.
fn commit_list(
    repo: &SourceRepo,
    list: &RevokedList,
    entry: &Revocation,
    packages: &[String],
) -> Result<String> {
    let text = record::to_toml(
        "# Revoked module versions and packages, written by gitops-certify revoke. Protected\n# environments refuse every package containing one of them.",
        list,
    )?;
    let git = GitRepo::open(repo)?;
    let id = git.commit_and_push(
        &[Change {
            path: revocation::REVOKED_FILE.into(),
            contents: Some(text),
        }],
        &format!(
            "Revoke {} {}\n\nReason: {}\nRevoked by: {}\nPackages affected: {}\n",
            entry.kind,
            entry.target,
            entry.reason,
            entry.by,
            crate::model::names::list_or_none(packages)
        ),
        3,
    )?;
    Ok(id.to_string())
}
