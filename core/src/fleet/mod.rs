//! The fleet report (`gitops-report`): what runs where, which package version, since when, in one
//! page. [`collect::collect`] reads the repository, its tags, its certification records, the
//! local state of each deployment and optionally the drift files of a drift run into one
//! [`model::FleetReport`] (read-only: nothing runs, nothing is locked or written); the writers
//! only lay it out: JSON (serde of the model), [`markdown::markdown`] and [`html::html`] (one
//! self-contained page). [`write`] puts the three files into a directory.

pub mod collect;
pub mod html;
pub mod markdown;
pub mod model;

use crate::error::{Error, Result};
use model::FleetReport;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The files [`write`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    pub html: PathBuf,
    pub json: PathBuf,
    pub md: PathBuf,
}

/// `report.json` of a report: pretty JSON, every object's keys sorted (as every JSON the
/// toolkit prints), ending with a newline.
pub fn json(report: &FleetReport) -> Result<String> {
    let value = serde_json::to_value(report).map_err(|e| Error::Process(e.to_string()))?;
    let text = serde_json::to_string_pretty(&value).map_err(|e| Error::Process(e.to_string()))?;
    Ok(text + "\n")
}

/// Writes `report.json`, `report.md` and `report.html` into `dir` (created when missing). Each
/// file is written to a temporary file beside it and renamed into place: a reader (the HTML
/// Publisher, a browser) sees the old file or the new one, never half of one.
pub fn write(report: &FleetReport, dir: &Path) -> Result<Written> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let written = Written {
        html: dir.join("report.html"),
        json: dir.join("report.json"),
        md: dir.join("report.md"),
    };
    // Everything is laid out (the three at once) before the first file is written.
    let (json, (md, html)) = rayon::join(
        || json(report),
        || rayon::join(|| markdown::markdown(report), || html::html(report)),
    );
    let files = [
        (&written.json, json?),
        (&written.md, md),
        (&written.html, html),
    ];
    for (path, text) in files {
        atomic_write(path, text.as_bytes())?;
    }
    Ok(written)
}

/// `bytes` into `path` through a synced temporary file in the same directory, renamed.
fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".gitops-report-")
        .tempfile_in(parent)
        .map_err(Error::io(parent))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(Error::io(tmp.path()))?;
    // Readable like any report (a temporary file is created 0600).
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(Error::io(tmp.path()))?;
    }
    tmp.persist(path).map_err(|e| Error::io(path)(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fleet_files_are_written_whole_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/report.md");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        atomic_write(&path, b"one").unwrap();
        atomic_write(&path, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 1, "no temporary file left: {left:?}");
    }
}
