//! Output I/O: writing a render into its directory (atomically), comparing a directory with what
//! would be written (`--check`), and the deterministic JSON bytes.

use super::Rendered;
use crate::error::{Error, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Pretty JSON with sorted keys and a final newline: the same value always gives the same bytes.
pub fn to_json_bytes(v: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).unwrap_or_default();
    out.push(b'\n');
    out
}

/// How long a render waits for another one writing the same output directory.
const SWAP_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Writes the files of a render into an empty directory.
fn write_into(r: &Rendered, dir: &Path) -> Result<()> {
    std::fs::write(dir.join("main.tf.json"), &r.main_tf_json)
        .map_err(Error::io(dir.join("main.tf.json")))?;
    let meta = dir.join(".gitops");
    std::fs::create_dir_all(&meta).map_err(Error::io(&meta))?;
    std::fs::write(meta.join("manifest.json"), &r.manifest_json)
        .map_err(Error::io(meta.join("manifest.json")))?;
    if r.store.is_empty() {
        for (name, from) in &r.vendor {
            crate::exec::modcache::copy_tree(from, &dir.join("modules").join(name))?;
        }
    }
    Ok(())
}

/// The module store of an output root: `<out>/.modules/<git tree id>/`, one copy of each module
/// tree however many deployments use it (bench B2: 10,000 deployments had 357,275 files, ~35 of
/// them vendored per deployment). Content-addressed: a tree id names exactly one content, so an
/// entry is written once and never changes.
pub const STORE_DIR: &str = ".modules";

/// The module source a deployment at `<out>/<env>/<name>` uses for the store entry `tree`: a
/// relative path, so the output root can be moved, archived or stashed as a whole.
pub fn store_source(tree: &str) -> String {
    format!("../../{STORE_DIR}/{tree}")
}

/// Every store entry `rendered` use: tree id -> the cached module directory, each once.
fn store_entries(rendered: &[Rendered]) -> BTreeMap<&str, &Path> {
    rendered
        .iter()
        .flat_map(|r| r.store.iter().map(|(t, p)| (t.as_str(), p.as_path())))
        .collect()
}

/// Writes the store entries `rendered` need into `<root>/.modules` (those already there are
/// complete: each is written into a staging directory and renamed into place).
pub fn write_store(rendered: &[Rendered], root: &Path) -> Result<usize> {
    let store = root.join(STORE_DIR);
    let missing: Vec<(&str, &Path)> = store_entries(rendered)
        .into_iter()
        .filter(|(tree, _)| !store.join(tree).is_dir())
        .collect();
    if missing.is_empty() {
        return Ok(0);
    }
    std::fs::create_dir_all(&store).map_err(Error::io(&store))?;
    for (tree, from) in &missing {
        let staging = tempfile::Builder::new()
            .prefix(".staging-")
            .tempdir_in(&store)
            .map_err(Error::io(&store))?;
        let into = staging.path().join("tree");
        crate::exec::modcache::copy_tree(from, &into)?;
        let entry = store.join(tree);
        if let Err(e) = std::fs::rename(&into, &entry) {
            // Another render wrote the same entry first: the same bytes, by construction.
            if !entry.is_dir() {
                return Err(Error::io(&entry)(e));
            }
        }
    }
    Ok(missing.len())
}

/// Files of the store entries `rendered` need that differ from (or are missing in) `<root>`'s
/// store, as paths relative to the root (`.modules/<tree>/<file>`).
pub fn check_store(rendered: &[Rendered], root: &Path) -> Result<Vec<String>> {
    let mut diff = Vec::new();
    for (tree, from) in store_entries(rendered) {
        let staging = tempfile::tempdir().map_err(Error::io(std::env::temp_dir()))?;
        let into = staging.path().join("tree");
        crate::exec::modcache::copy_tree(from, &into)?;
        let want = tree_files(&into)?;
        let entry = root.join(STORE_DIR).join(tree);
        let have = if entry.is_dir() {
            tree_files(&entry)?
        } else {
            BTreeMap::new()
        };
        let rel = |p: &String| format!("{STORE_DIR}/{tree}/{p}");
        diff.extend(
            want.iter()
                .filter(|(p, d)| have.get(*p) != Some(d))
                .map(|(p, _)| rel(p)),
        );
        diff.extend(have.keys().filter(|p| !want.contains_key(*p)).map(rel));
    }
    diff.sort();
    Ok(diff)
}

/// Writes a render to `out`, replacing what was there only once the new tree is complete: the new
/// tree is written next to `out` and renamed into place, so a failure (a full disk, say) leaves the
/// previous output intact. Terraform's own `.terraform` directory and lock file are carried over.
/// Renders into the same `out` at the same time take turns for the swap (a lock next to `out`),
/// so none loses `.terraform` to another or finds `out` moved away under it.
pub fn write(r: &Rendered, out: &Path) -> Result<()> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".gitops-render-")
        .tempdir_in(parent)
        .map_err(Error::io(parent))?;
    write_into(r, staging.path())?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let _turn = crate::exec::lock::DeploymentLock::acquire(
        &parent.join(format!(".{name}.gitops-render.lock")),
        SWAP_WAIT,
        &crate::exec::lock::holder_text("gitops-render", &out.display().to_string()),
    )?;
    if out.exists() {
        for keep in [".terraform", ".terraform.lock.hcl"] {
            let old = out.join(keep);
            if old.exists() {
                std::fs::rename(&old, staging.path().join(keep)).map_err(Error::io(&old))?;
            }
        }
        let trash = tempfile::Builder::new()
            .prefix(".gitops-old-")
            .tempdir_in(parent)
            .map_err(Error::io(parent))?;
        let old_place = trash.path().join("old");
        std::fs::rename(out, &old_place).map_err(Error::io(out))?;
        if let Err(e) = std::fs::rename(staging.path(), out) {
            let _ = std::fs::rename(&old_place, out);
            return Err(Error::io(out)(e));
        }
    } else {
        std::fs::rename(staging.path(), out).map_err(Error::io(out))?;
    }
    let _ = staging.keep();
    Ok(())
}

/// Files that differ between what `r` would write and what `out` holds (Terraform's working files
/// aside). Empty means `out` is up to date.
pub fn check(r: &Rendered, out: &Path) -> Result<Vec<String>> {
    let staging = tempfile::tempdir().map_err(Error::io(std::env::temp_dir()))?;
    write_into(r, staging.path())?;
    let want = tree_files(staging.path())?;
    let have = if out.is_dir() {
        tree_files(out)?
    } else {
        BTreeMap::new()
    };
    let mut diff: Vec<String> = want
        .iter()
        .filter(|(p, d)| have.get(*p) != Some(d))
        .map(|(p, _)| p.clone())
        .collect();
    diff.extend(have.keys().filter(|p| !want.contains_key(*p)).cloned());
    diff.sort();
    Ok(diff)
}

/// The deployment lock of a rendered directory whose state is remote (the local backend's lock
/// sits next to its state file): a run's own file, never part of what was rendered.
pub const RENDERED_DIR_LOCK: &str = ".gitops/lock";

/// Relative path -> sha256 of every file under `dir`, skipping Terraform's working files and the
/// deployment lock ([`RENDERED_DIR_LOCK`]).
pub fn tree_files(dir: &Path) -> Result<BTreeMap<String, String>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) -> Result<()> {
        for entry in std::fs::read_dir(dir).map_err(Error::io(dir))?.flatten() {
            let path = entry.path();
            let rel = path
                .strip_prefix(base)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            if rel == ".terraform"
                || rel == ".terraform.lock.hcl"
                || rel.starts_with("plan.")
                || rel == "terraform.tfstate"
                || rel == RENDERED_DIR_LOCK
            {
                continue;
            }
            if path.is_dir() {
                walk(base, &path, out)?;
            } else {
                let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
                out.insert(rel, crate::model::load::sha256_hex(&bytes));
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out)?;
    Ok(out)
}
