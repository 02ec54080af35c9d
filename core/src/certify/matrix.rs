//! `gitops-certify matrix`: which module versions were certified together, from the records.

use crate::error::Result;
use crate::model::names;
use crate::model::sot::SourceRepo;
use crate::records::certification::{self as record, Record};
use crate::records::revocation::{self, ModuleRef, RevokedList, Subject};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// One certified package version and its modules.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub component: String,
    pub version: String,
    pub certified: String,
    pub certified_by: String,
    pub profiles: Vec<String>,
    pub clouds: Vec<String>,
    /// Module name -> `ref` (and commit) as certified (first cloud).
    pub modules: BTreeMap<String, MatrixModule>,
    /// The revocations that hit this record (empty: still valid as far as revocation goes).
    pub revoked: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MatrixModule {
    pub repo: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub commit: String,
}

fn revoked_by(list: &RevokedList, r: &Record) -> Vec<String> {
    let subject = Subject {
        component: &r.component,
        version: &r.version,
        modules: r
            .modules
            .iter()
            .map(|m| ModuleRef {
                name: &m.name,
                repo: &m.repo,
                git_ref: &m.git_ref,
            })
            .collect(),
    };
    list.hits(&subject)
        .into_iter()
        .map(|x| format!("{} {}: {}", x.kind, x.target, x.reason))
        .collect()
}

/// What `gitops-certify matrix` is asked to show.
#[derive(Debug, Clone)]
pub struct MatrixOptions {
    /// The source-of-truth repository.
    pub repo: PathBuf,
    /// Only this component.
    pub component: Option<String>,
}

/// The report of `gitops-certify matrix`: one row per certified package version, sorted by
/// component and version. Its JSON is the array of rows.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct MatrixReport {
    pub rows: Vec<Row>,
}

/// `gitops-certify matrix`: which module versions were certified together.
pub fn matrix(opts: &MatrixOptions) -> Result<MatrixReport> {
    let repo = SourceRepo::open(&opts.repo)?;
    Ok(MatrixReport {
        rows: rows(&repo, opts.component.as_deref())?,
    })
}

/// The rows of the matrix, sorted by component and version.
pub fn rows(repo: &SourceRepo, component: Option<&str>) -> Result<Vec<Row>> {
    let revoked = revocation::read(&repo.root)?;
    Ok(record::all_records(repo, component)?
        .into_iter()
        .map(|r| {
            let first_cloud = r.clouds.first().cloned().unwrap_or_default();
            let modules = r
                .modules
                .iter()
                .filter(|m| m.cloud == first_cloud)
                .map(|m| {
                    (
                        m.name.clone(),
                        MatrixModule {
                            repo: m.repo.clone(),
                            git_ref: m.git_ref.clone(),
                            commit: m.commit.clone(),
                        },
                    )
                })
                .collect();
            Row {
                revoked: revoked_by(&revoked, &r),
                component: r.component,
                version: r.version,
                certified: r.finished,
                certified_by: r.certified_by,
                profiles: r.profiles,
                clouds: r.clouds,
                modules,
            }
        })
        .collect())
}

/// A table per component: one row per certified version, one column per module.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let components: BTreeSet<&str> = rows.iter().map(|r| r.component.as_str()).collect();
    for c in components {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.component == c).collect();
        let modules: BTreeSet<&str> = mine
            .iter()
            .flat_map(|r| r.modules.keys().map(String::as_str))
            .collect();
        let mut header = vec!["version".to_owned()];
        header.extend(modules.iter().map(|m| (*m).to_owned()));
        header.extend(["certified".to_owned(), "state".to_owned()]);
        let mut lines = vec![header];
        for r in &mine {
            let mut line = vec![r.version.clone()];
            for m in &modules {
                line.push(
                    r.modules
                        .get(*m)
                        .map(|x| format!("{} ({})", x.git_ref, names::short_id(&x.commit, 7)))
                        .unwrap_or_else(|| "-".into()),
                );
            }
            line.push(format!("{} by {}", r.certified, r.certified_by));
            line.push(if r.revoked.is_empty() {
                "valid".into()
            } else {
                format!("revoked ({})", r.revoked.join("; "))
            });
            lines.push(line);
        }
        let widths: Vec<usize> = (0..lines[0].len())
            .map(|i| lines.iter().map(|l| l[i].len()).max().unwrap_or(0))
            .collect();
        out.push_str(&format!("{c}\n"));
        for l in &lines {
            let cells: Vec<String> = l
                .iter()
                .zip(&widths)
                .map(|(s, w)| format!("{s:<w$}"))
                .collect();
            out.push_str(&format!("  {}\n", cells.join("  ").trim_end()));
        }
    }
    if out.is_empty() {
        out.push_str("no certification records\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certify_matrix_table_shortens_ids_safely() {
        let module = |commit: &str| MatrixModule {
            repo: "network".into(),
            git_ref: "v1.0.0".into(),
            commit: commit.into(),
        };
        let row = |version: &str, commit: &str, revoked: Vec<String>| Row {
            component: "web".into(),
            version: version.into(),
            certified: "2026-03-01T12:00:00Z".into(),
            certified_by: "alice".into(),
            profiles: vec!["p".into()],
            clouds: vec!["sandbox".into()],
            modules: BTreeMap::from([("network".to_owned(), module(commit))]),
            revoked,
        };
        let rows = vec![
            row("1.0.0", "0123456789abcdef", vec![]),
            row("1.1.0", "é", vec!["module network@v1.0.0: cve".into()]),
        ];
        let t = table(&rows);
        assert!(t.starts_with("web\n  version  network"), "{t}");
        assert!(t.contains("v1.0.0 (0123456)"), "{t}");
        assert!(t.contains("v1.0.0 (é)"), "{t}");
        assert!(t.contains("revoked (module network@v1.0.0: cve)"), "{t}");
        assert_eq!(table(&[]), "no certification records\n");
    }
}
