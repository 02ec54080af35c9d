//! Conventions shared by every binary: error-to-exit-code mapping, `--json` output, progress lines.

use gitops_core::error::{Error, Result};
use std::io::Write;
use std::process::ExitCode;

/// Runs a binary's body: prints the error (with a hint for usage errors) and returns the
/// documented exit code. `main` of every binary is one call to this.
pub fn run(program: &str, body: impl FnOnce() -> Result<u8>) -> ExitCode {
    let code = match body() {
        Ok(code) => code,
        Err(e) => {
            let mut stderr = std::io::stderr().lock();
            for line in e.to_string().lines() {
                let _ = writeln!(stderr, "{program}: error: {line}");
            }
            if matches!(e, Error::Usage(_)) {
                let _ = writeln!(stderr, "Try '{program} --help' for more information.");
            }
            e.exit_code()
        }
    };
    let _ = std::io::stdout().flush();
    ExitCode::from(code)
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json(v: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| Error::Process(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(Error::io("<stdout>"))
}

/// A progress line on stderr (stdout is reserved for results).
pub fn progress(program: &str, message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{program}: {message}");
}
