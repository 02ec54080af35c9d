//! The certification record (`certifications/<component>/<version>.toml`) and reading it from the
//! source-of-truth repository. The revocation list is [`crate::records::revocation`].

use crate::error::{ConfigError, Error, Result};
use crate::model::load::SourceFile;
use crate::model::sot::SourceRepo;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Directory of the records, relative to the source-of-truth root.
pub const DIR: &str = "certifications";

/// `certifications/<component>/<version>.toml`: what was certified, with what, by whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub component: String,
    pub version: String,
    /// `sha256:` over the normalized package file and every module's repo, ref, commit and tree
    /// (for every cloud covered); see `docs/certification.md`.
    pub package_digest: String,
    /// `sha256:` of the normalized package file alone (canonical JSON of the parsed file).
    pub package_file_digest: String,
    pub terraform_version: String,
    pub toolkit_version: String,
    /// RFC 3339, UTC.
    pub started: String,
    /// RFC 3339, UTC.
    pub finished: String,
    /// `--build-tag`, else `BUILD_TAG`, else `local`.
    pub build_tag: String,
    /// `--by`, else `BUILD_USER`, else `USER`.
    pub certified_by: String,
    /// Profiles certified (every profile supporting the component).
    pub profiles: Vec<String>,
    /// Clouds covered.
    pub clouds: Vec<String>,
    /// Certification environments rendered into.
    pub environments: Vec<String>,
    /// Every module as resolved, per cloud.
    pub modules: Vec<RecordModule>,
    /// Every step of the run, in order.
    pub steps: Vec<StepResult>,
}

/// One module of the package as certified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordModule {
    /// Module name in the package.
    pub name: String,
    pub cloud: String,
    /// Repository name under the cloud's module root.
    pub repo: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    pub commit: String,
    /// Git tree id of the module directory: a digest of the vendored module code.
    pub tree: String,
}

/// One step of a certification run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepResult {
    /// `<profile>/<env>` for deployment steps, `module/<name>@<ref>` for module checks.
    pub profile: String,
    /// render, init, validate, plan, policy, apply, verify, test, destroy (module checks:
    /// validate, test).
    pub step: String,
    /// passed | failed | skipped
    pub result: String,
    pub duration_ms: u64,
    /// What failed (empty when passed).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

pub fn record_path(component: &str, version: &str) -> PathBuf {
    Path::new(DIR)
        .join(component)
        .join(format!("{version}.toml"))
}

/// Reads the record of a package version, if there is one. A record that does not parse is
/// invalid input (exit 2), naming the file and line.
pub fn read_record(repo: &SourceRepo, component: &str, version: &str) -> Result<Option<Record>> {
    let Some(src) = SourceFile::read(&repo.root, &record_path(component, version))? else {
        return Ok(None);
    };
    let record = src.parse::<Record>()?;
    check_ids(&src, &record)?;
    Ok(Some(record))
}

/// Commit and tree ids of a record are git object ids (40 or 64 hex digits): the file is edited
/// by people, and a short id would match the wrong commit or none.
fn check_ids(src: &SourceFile, record: &Record) -> Result<(), ConfigError> {
    for (i, m) in record.modules.iter().enumerate() {
        for (key, id) in [("commit", &m.commit), ("tree", &m.tree)] {
            if !crate::model::names::is_object_id(id) {
                return Err(ConfigError::new(
                    &src.shown,
                    Some(&format!("modules[{i}].{key}")),
                    format!("{} (module {})", crate::model::names::shown(id), m.name),
                    "a full git object id: 40 (or 64) hexadecimal digits",
                )
                .at_line(nth_table_key_line(src, "modules", i, key)));
            }
        }
    }
    Ok(())
}

/// The line of `key` in the `i`-th `[[table]]` of a TOML file, when it can be found.
fn nth_table_key_line(src: &SourceFile, table: &str, i: usize, key: &str) -> Option<usize> {
    let header = format!("[[{table}]]");
    let mut seen = None;
    for (n, line) in src.text.lines().enumerate() {
        let t = line.trim();
        if t == header {
            seen = Some(seen.map_or(0, |k: usize| k + 1));
        } else if t.starts_with('[') {
            if seen == Some(i) {
                return None;
            }
        } else if seen == Some(i) && t.split('=').next().is_some_and(|k| k.trim() == key) {
            return Some(n + 1);
        }
    }
    None
}

/// Every record of the repository (optionally of one component), sorted by component and version.
pub fn all_records(repo: &SourceRepo, component: Option<&str>) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    let base = repo.root.join(DIR);
    let Ok(dirs) = std::fs::read_dir(&base) else {
        return Ok(out);
    };
    let mut comps: Vec<String> = dirs
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|c| component.is_none_or(|want| want == c))
        .collect();
    comps.sort();
    for c in comps {
        let versions =
            crate::model::sot::version_stems(&base.join(&c)).map_err(Error::io(base.join(&c)))?;
        for v in versions {
            if let Some(r) = read_record(repo, &c, &v)? {
                out.push(r);
            }
        }
    }
    Ok(out)
}

/// TOML text of a value (records and the revocation list), with a header comment.
pub fn to_toml<T: Serialize>(header: &str, v: &T) -> Result<Vec<u8>> {
    let body = toml::to_string(v).map_err(|e| Error::Process(format!("TOML: {e}")))?;
    Ok(format!("{header}\n{body}").into_bytes())
}

/// RFC 3339 UTC (`2026-03-01T12:00:00Z`) of a time.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    crate::time::rfc3339(t, crate::time::Precision::Seconds)
}

/// Who runs this: `explicit`, else `BUILD_USER`, else `USER`, else `unknown`.
pub fn who(explicit: Option<&str>) -> String {
    explicit
        .map(str::to_owned)
        .or_else(|| std::env::var("BUILD_USER").ok())
        .or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn certify_rfc3339_formats_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_772_323_200 + 46_923)),
            "2026-03-01T13:02:03Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn certify_record_roundtrips_through_toml() {
        let r = Record {
            component: "web".into(),
            version: "1.0.0".into(),
            package_digest: "sha256:aa".into(),
            package_file_digest: "sha256:bb".into(),
            terraform_version: "1.11.4".into(),
            toolkit_version: "0.1.0".into(),
            started: "2026-03-01T13:02:03Z".into(),
            finished: "2026-03-01T13:03:03Z".into(),
            build_tag: "local".into(),
            certified_by: "alice".into(),
            profiles: vec!["p".into()],
            clouds: vec!["sandbox".into()],
            environments: vec!["certify".into()],
            modules: vec![RecordModule {
                name: "network".into(),
                cloud: "sandbox".into(),
                repo: "network".into(),
                git_ref: "v1.0.0".into(),
                path: String::new(),
                commit: "c".into(),
                tree: "t".into(),
            }],
            steps: vec![StepResult {
                profile: "p/certify".into(),
                step: "apply".into(),
                result: "passed".into(),
                duration_ms: 12,
                message: String::new(),
            }],
        };
        let text = String::from_utf8(to_toml("# x", &r).unwrap()).unwrap();
        let back: Record = toml::from_str(&text).unwrap();
        assert_eq!(back, r);
    }
}
