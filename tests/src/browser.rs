//! Headless Chromium for tests that look at HTML as a person would: the DOM after the page ran
//! (`--dump-dom`) and screenshots (PNG). Debian's `chromium` (`make tools` installs it), or
//! `GITOPS_TEST_CHROMIUM`. Every run gets a fresh profile directory and the flags that keep an
//! offline machine from trying the network.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Chromium binary, or why there is none.
pub fn chromium() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("GITOPS_TEST_CHROMIUM").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            "Chromium not found: `make tools` installs Debian's chromium, or set GITOPS_TEST_CHROMIUM"
                .to_owned()
        })
}

/// Runs headless Chromium on `page` (a local file) with `extra` arguments; its stdout.
fn run(page: &Path, extra: &[String]) -> Result<String, String> {
    let bin = chromium()?;
    let profile = tempfile::Builder::new()
        .prefix("gitops-chromium-")
        .tempdir()
        .map_err(|e| format!("tempdir: {e}"))?;
    let url = format!("file://{}", page.display());
    let out = Command::new(&bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(&url)
        .env_clear()
        .env("HOME", profile.path())
        .env("PATH", "/usr/bin:/bin")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} {url} failed ({}): {}",
            bin.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The page's DOM as Chromium serializes it after loading it (scripts run).
pub fn dump_dom(page: &Path) -> Result<String, String> {
    run(page, &["--dump-dom".to_owned()])
}

/// A PNG screenshot of `page` at `width` x `height` CSS pixels into `png`.
pub fn screenshot(page: &Path, png: &Path, width: u32, height: u32) -> Result<(), String> {
    if let Some(dir) = png.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    run(
        page,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={width},{height}"),
        ],
    )?;
    let bytes = std::fs::read(png).map_err(|e| format!("{}: {e}", png.display()))?;
    if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Err(format!("{} is not a PNG", png.display()));
    }
    Ok(())
}

/// `target/<dir>`: where tests keep artifacts (screenshots) for people to look at.
pub fn artifact_dir(dir: &str) -> PathBuf {
    crate::toolkit_root().join("target").join(dir)
}
