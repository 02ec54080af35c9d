//! Crash-safe state (local backend): Terraform killed while it writes the state file can leave
//! it truncated or empty. Before a plan's `terraform init` and before an apply, [`check`] reads
//! the state file named in `main.tf.json`; a damaged one is a refusal (exit 3) that names the
//! file, the copy to restore and the resources the apply log shows created since that copy,
//! instead of Terraform's "could not be parsed as JSON".
//!
//! [`before_apply`] also keeps what that recovery needs: a copy of the state as it was before the
//! apply (`<state>.gitops-before-apply`, written to a temporary file, synced and renamed into
//! place) and the apply's output (`<state>.gitops-apply.log`, masked, appended line by line as
//! Terraform prints it, so it survives a kill of either process). Terraform's own
//! `<state>.backup` is the other candidate copy. Remote backends keep their own history: nothing
//! is checked there.

use crate::error::{Error, Result};
use crate::exec::terraform::Terraform;
use crate::model::names::list_or_none;
use crate::plan::rendered::RenderedDir;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Suffix of the toolkit's copy of the state taken before each apply.
pub const BEFORE_APPLY: &str = ".gitops-before-apply";
/// Suffix of the apply log.
pub const APPLY_LOG: &str = ".gitops-apply.log";

/// The local state file of a rendered directory (`None`: another backend or workspace).
pub fn state_path(rendered: &RenderedDir) -> Option<PathBuf> {
    if std::env::var("TF_WORKSPACE").is_ok_and(|w| !w.is_empty() && w != "default") {
        return None;
    }
    let backends = rendered.main["terraform"]["backend"].as_object()?;
    if backends.len() != 1 {
        return None;
    }
    let path = Path::new(backends.get("local")?["path"].as_str()?);
    Some(if path.is_absolute() {
        path.to_path_buf()
    } else {
        rendered.dir.join(path)
    })
}

fn with_suffix(state: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", state.display()))
}

/// What a state file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StateFile {
    Missing,
    /// Zero bytes or only whitespace (what Terraform reads as "no state").
    Empty,
    Valid {
        serial: u64,
        resources: usize,
    },
    Damaged(String),
}

fn read_state(path: &Path) -> StateFile {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return StateFile::Missing,
        Err(e) => return StateFile::Damaged(format!("unreadable: {e}")),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return StateFile::Empty;
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Err(e) => StateFile::Damaged(format!("not valid JSON ({e}; {} bytes)", bytes.len())),
        Ok(v) if !v["lineage"].is_string() || !v["serial"].is_u64() || !v["version"].is_u64() => {
            StateFile::Damaged(format!(
                "JSON but not a Terraform state (no version, serial or lineage; {} bytes)",
                bytes.len()
            ))
        }
        Ok(v) => StateFile::Valid {
            serial: v["serial"].as_u64().unwrap_or(0),
            resources: resource_count(&v),
        },
    }
}

/// Resource instances in a state.
fn resource_count(state: &Value) -> usize {
    state["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["instances"].as_array().map_or(0, Vec::len))
        .sum()
}

/// What the apply log says happened, by address.
#[derive(Debug, Default, PartialEq, Eq)]
struct Logged {
    created: Vec<String>,
    changed: Vec<String>,
    destroyed: Vec<String>,
}

fn read_log(text: &str) -> Logged {
    let mut logged = Logged::default();
    for line in text.lines() {
        for (marker, list) in [
            (": Creation complete after", &mut logged.created),
            (": Modifications complete after", &mut logged.changed),
            (": Destruction complete after", &mut logged.destroyed),
        ] {
            if let Some((address, _)) = line.split_once(marker) {
                list.push(address.trim().to_owned());
            }
        }
    }
    logged
}

/// Refuses (exit 3) when the local state of `rendered` is damaged, with the exact recovery.
/// Called before a plan's `terraform init` and before an apply runs Terraform.
pub fn check(rendered: &RenderedDir) -> Result<()> {
    let Some(state) = state_path(rendered) else {
        return Ok(());
    };
    let problem = match read_state(&state) {
        StateFile::Missing | StateFile::Valid { .. } => return Ok(()),
        StateFile::Damaged(why) => why,
        // An empty file is "no state" to Terraform; after an apply that is a truncation, and
        // planning from it would create everything again.
        StateFile::Empty => {
            let applied_before = [BEFORE_APPLY, ".backup"].iter().any(|s| {
                matches!(read_state(&with_suffix(&state, s)), StateFile::Valid { resources, .. } if resources > 0)
            }) || std::fs::read_to_string(with_suffix(&state, APPLY_LOG))
                .is_ok_and(|t| !read_log(&t).created.is_empty());
            if !applied_before {
                return Ok(());
            }
            "empty, but an earlier apply of this deployment recorded resources".to_owned()
        }
    };
    Err(Error::Refused(recovery_text(
        rendered.deployment(),
        &state,
        &problem,
    )))
}

/// The refusal's text: the file, the copy to restore, what the log shows since.
fn recovery_text(id: &str, state: &Path, problem: &str) -> String {
    let mut text = format!(
        "{id}: the Terraform state {} is damaged: {problem}. An apply was stopped while Terraform wrote it; nothing was run now.\nTo recover:",
        state.display()
    );
    // The copy: the newest valid one (ours first when both have the same serial).
    let copies: Vec<(PathBuf, u64, usize)> = [BEFORE_APPLY, ".backup"]
        .iter()
        .map(|s| with_suffix(state, s))
        .filter_map(|p| match read_state(&p) {
            StateFile::Valid { serial, resources } => Some((p, serial, resources)),
            _ => None,
        })
        .collect();
    let best = copies
        .iter()
        .enumerate()
        .max_by_key(|(i, (_, serial, _))| (*serial, std::cmp::Reverse(*i)))
        .map(|(_, c)| c);
    match best {
        Some((copy, serial, resources)) => text.push_str(&format!(
            "\n  1. restore the last good copy (serial {serial}, {resources} resource instance(s)): cp {} {}",
            copy.display(),
            state.display()
        )),
        None if std::fs::read_to_string(with_suffix(state, APPLY_LOG))
            .is_ok_and(|l| l.lines().next().is_some_and(|h| h.contains("state serial none"))) =>
        {
            text.push_str(&format!(
                "\n  1. there was no state before that apply (the apply log says so): move the damaged file away: mv {} {}.damaged",
                state.display(),
                state.display()
            ))
        }
        None => text.push_str(&format!(
            "\n  1. there is no good copy ({} nor {}): move the damaged file away and import the deployment's resources (terraform import) into a new state",
            with_suffix(state, BEFORE_APPLY).display(),
            with_suffix(state, ".backup").display()
        )),
    }
    let log_path = with_suffix(state, APPLY_LOG);
    match std::fs::read_to_string(&log_path) {
        Ok(log) => {
            let logged = read_log(&log);
            text.push_str(&format!(
                "\n  2. the apply log {} shows, since that copy: created {}; changed {}; destroyed {}. The restored state does not know these changes: import what was created (terraform import) or delete it, before applying again",
                log_path.display(),
                list_or_none(&logged.created),
                list_or_none(&logged.changed),
                list_or_none(&logged.destroyed)
            ));
        }
        Err(_) => text.push_str(&format!(
            "\n  2. there is no apply log ({}): compare the restored state with the infrastructure",
            log_path.display()
        )),
    }
    text.push_str("\n  3. run gitops-plan again");
    text
}

/// Before `gitops-apply` runs Terraform: [`check`]; returns the Terraform to apply with: `tf`,
/// which, when its `apply` starts (not before, so a refused apply writes nothing), copies the
/// state to `<state>.gitops-before-apply` (atomically) and starts a new apply log its output is
/// appended to.
pub fn before_apply(rendered: &RenderedDir, tf: &Terraform) -> Result<Terraform> {
    check(rendered)?;
    let Some(state) = state_path(rendered) else {
        return Ok(tf.clone());
    };
    let log = with_suffix(&state, APPLY_LOG);
    let id = rendered.deployment().to_owned();
    let log_for_prepare = log.clone();
    Ok(tf
        .clone()
        .with_apply_log(log, move || prepare_apply(&id, &state, &log_for_prepare)))
}

/// The copy of the state and the header of a new apply log.
fn prepare_apply(id: &str, state: &Path, log: &Path) -> Result<()> {
    let copy = with_suffix(state, BEFORE_APPLY);
    let serial = match read_state(state) {
        StateFile::Valid { serial, .. } => {
            atomic_copy(state, &copy)?;
            serial.to_string()
        }
        // No state yet: no copy either (an old one would be a wrong one).
        _ => {
            let _ = std::fs::remove_file(&copy);
            "none".to_owned()
        }
    };
    let header = format!(
        "# gitops-apply {id}: apply started {}; state serial {serial} (copy {})\n",
        crate::time::rfc3339(
            std::time::SystemTime::now(),
            crate::time::Precision::Seconds
        ),
        copy.display()
    );
    std::fs::write(log, header).map_err(Error::io(log))
}

/// `from` copied to `to` through a synced temporary file renamed into place: `to` is always
/// either the old copy or the complete new one.
fn atomic_copy(from: &Path, to: &Path) -> Result<()> {
    let parent = to.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".gitops-state-copy-")
        .tempfile_in(parent)
        .map_err(Error::io(parent))?;
    let bytes = std::fs::read(from).map_err(Error::io(from))?;
    tmp.write_all(&bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(Error::io(tmp.path()))?;
    tmp.persist(to).map_err(|e| Error::io(to)(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_files_are_classified() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.tfstate");
        assert_eq!(read_state(&p), StateFile::Missing);
        std::fs::write(&p, " \n").unwrap();
        assert_eq!(read_state(&p), StateFile::Empty);
        std::fs::write(&p, r#"{"version": 4, "serial": 3, "lineage": "l", "resources": [{"instances": [{}, {}]}, {"instances": [{}]}]}"#).unwrap();
        assert_eq!(
            read_state(&p),
            StateFile::Valid {
                serial: 3,
                resources: 3
            }
        );
        std::fs::write(&p, r#"{"version": 4, "serial": 3, "lin"#).unwrap();
        assert!(matches!(read_state(&p), StateFile::Damaged(w) if w.contains("not valid JSON")));
        std::fs::write(&p, r#"{"a": 1}"#).unwrap();
        assert!(
            matches!(read_state(&p), StateFile::Damaged(w) if w.contains("not a Terraform state"))
        );
    }

    #[test]
    fn the_log_names_what_was_created_changed_and_destroyed() {
        let log = "# gitops-apply dev/x: apply started\nmodule.a.terraform_data.x[0]: Creating...\nmodule.a.terraform_data.x[0]: Creation complete after 0s [id=1]\nmodule.b.terraform_data.y: Modifications complete after 1s [id=2]\nmodule.c.terraform_data.z: Destruction complete after 0s\n";
        assert_eq!(
            read_log(log),
            Logged {
                created: vec!["module.a.terraform_data.x[0]".into()],
                changed: vec!["module.b.terraform_data.y".into()],
                destroyed: vec!["module.c.terraform_data.z".into()],
            }
        );
    }

    #[test]
    fn the_recovery_names_the_file_the_newest_copy_and_the_log() {
        let d = tempfile::tempdir().unwrap();
        let state = d.path().join("s.tfstate");
        std::fs::write(&state, r#"{"version": 4, "ser"#).unwrap();
        std::fs::write(
            with_suffix(&state, ".backup"),
            r#"{"version": 4, "serial": 2, "lineage": "l", "resources": []}"#,
        )
        .unwrap();
        std::fs::write(
            with_suffix(&state, BEFORE_APPLY),
            r#"{"version": 4, "serial": 2, "lineage": "l", "resources": []}"#,
        )
        .unwrap();
        std::fs::write(
            with_suffix(&state, APPLY_LOG),
            "m.t.x: Creation complete after 0s [id=1]\n",
        )
        .unwrap();
        let text = recovery_text("dev/x", &state, "not valid JSON");
        let copy = with_suffix(&state, BEFORE_APPLY);
        assert!(
            text.contains(&format!("cp {} {}", copy.display(), state.display())),
            "{text}"
        );
        assert!(text.contains("created m.t.x;"), "{text}");
        // Terraform's backup when it is newer.
        std::fs::write(
            with_suffix(&state, ".backup"),
            r#"{"version": 4, "serial": 3, "lineage": "l", "resources": []}"#,
        )
        .unwrap();
        let text = recovery_text("dev/x", &state, "not valid JSON");
        assert!(
            text.contains(&format!("cp {}.backup ", state.display())),
            "{text}"
        );
    }
}
