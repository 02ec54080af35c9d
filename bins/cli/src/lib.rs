//! The command layer every gitops-toolkit binary shares: the argument groups (each flag and its
//! value check defined once, flattened into each binary's `Cli`), the error-to-exit-code mapping,
//! `--json` output and the [`Output`] reporter that prints the library's progress and warnings.

use clap::Args;
use gitops_core::error::{Error, Result};
use gitops_core::model::names;
use gitops_core::report::Reporter;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Runs a binary's body: prints the error (with a hint for usage errors) and returns the
/// documented exit code. `main` of every binary is one call to this. SIGTERM/SIGINT are handled
/// from here on (`gitops_core::exec::signal`): outside a Terraform section they end the process
/// as before; inside one, Terraform is stopped and the operation unwinds with exit 1.
pub fn run(program: &str, body: impl FnOnce() -> Result<u8>) -> ExitCode {
    if std::env::var_os(gitops_core::exec::vault::WARDEN_ENV).is_some() {
        // Started by a run of this binary as its Vault lease warden (exec/vault.rs).
        return ExitCode::from(gitops_core::exec::vault::warden());
    }
    if std::env::var_os(gitops_core::exec::transport::ASKPASS_ENV).is_some() {
        // Started by git as its GIT_ASKPASS program (exec/transport.rs).
        return ExitCode::from(gitops_core::exec::transport::askpass());
    }
    gitops_core::exec::signal::install();
    let code = match body() {
        Ok(code) => {
            if let Some(sig) = gitops_core::exec::signal::received() {
                progress(
                    program,
                    &format!(
                        "{} received after the last Terraform run; the operation had completed",
                        gitops_core::exec::signal::name(sig)
                    ),
                );
            }
            code
        }
        Err(e) => {
            let mut stderr = std::io::stderr().lock();
            for line in e.to_string().lines() {
                let _ = writeln!(stderr, "{program}: error: {line}");
            }
            if matches!(e, Error::Usage(_)) {
                let _ = writeln!(stderr, "Try '{program} --help' for more information.");
            }
            drop(stderr);
            if json_requested(std::env::args_os().skip(1)) {
                let _ = print_json(&ErrorJson {
                    error: e.to_string(),
                    exit_code: e.exit_code(),
                    status: status_of(e.exit_code()),
                });
            }
            e.exit_code()
        }
    };
    let _ = std::io::stdout().flush();
    ExitCode::from(code)
}

/// The `--json` output of a run that failed: the message (as on stderr), the exit code and its
/// word, so a caller reading stdout (a Jenkins step, the review) has the reason without the log.
#[derive(serde::Serialize)]
struct ErrorJson {
    error: String,
    exit_code: u8,
    status: &'static str,
}

/// The word for an exit code, as the Jenkins steps and the review show it.
pub fn status_of(code: u8) -> &'static str {
    match code {
        gitops_core::exit::OK => "ok",
        gitops_core::exit::INVALID => "invalid",
        gitops_core::exit::REFUSED => "refused",
        gitops_core::exit::CHANGES => "changes",
        _ => "failed",
    }
}

/// Whether the command line asks for `--json` (before a `--`, after which arguments are values).
fn json_requested(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    args.take_while(|a| a != "--").any(|a| a == "--json")
}

/// Writes to stdout, for [`outln!`] and [`out!`]. A reader that went away (`gitops-x | head -1`)
/// is not an error: the rest of the output is dropped and the exit code stays the operation's.
/// Any other write error (a full disk behind a redirect) ends the process with exit 1.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    match std::io::stdout().lock().write_fmt(args) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "error: <stdout>: {e}");
            std::process::exit(i32::from(gitops_core::exit::FAILED));
        }
    }
}

/// `println!` for results on stdout, through [`write_stdout`] (no panic when the reader closed
/// the pipe).
#[macro_export]
macro_rules! outln {
    () => {
        $crate::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for results on stdout, through [`write_stdout`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!($($arg)*))
    };
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json(v: &impl serde::Serialize) -> Result<()> {
    // Through a JSON value: every object's keys come out sorted, whatever the order of a report's
    // fields (the shape of the JSON output since the first release).
    let value = serde_json::to_value(v).map_err(|e| Error::Process(e.to_string()))?;
    let text = serde_json::to_string_pretty(&value).map_err(|e| Error::Process(e.to_string()))?;
    write_stdout(format_args!("{text}\n"));
    Ok(())
}

/// A progress line on stderr (stdout is reserved for results).
pub fn progress(program: &str, message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{program}: {message}");
}

/// Prints what the library reports: progress lines on stderr unless `--json` (stdout is for
/// results), warnings on stderr always, each prefixed with the program's name.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub program: &'static str,
    pub json: bool,
}

impl Output {
    pub fn new(program: &'static str, json: bool) -> Self {
        Output { program, json }
    }
}

impl Reporter for Output {
    fn progress(&self, message: &str) {
        if !self.json {
            progress(self.program, message);
        }
    }
    fn warning(&self, message: &str) {
        progress(self.program, &format!("warning: {message}"));
    }
}

/// `--repo DIR`.
#[derive(Debug, Clone, Args)]
pub struct RepoArg {
    /// The source-of-truth repository.
    #[arg(long, env = "GITOPS_REPO", default_value = ".", value_name = "DIR")]
    pub repo: PathBuf,
}

/// `--cache-dir DIR`.
#[derive(Debug, Clone, Args)]
pub struct CacheDirArg {
    /// Module and plugin cache directory [default: $GITOPS_CACHE_DIR, else ~/.cache/gitops-toolkit].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl CacheDirArg {
    /// The directory given, else the default one.
    pub fn dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(gitops_core::exec::modcache::default_cache_dir)
    }
}

/// `--json`.
#[derive(Debug, Clone, Copy, Args)]
pub struct JsonArg {
    /// Machine-readable output on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `--build-tag TAG` (Jenkins sets `BUILD_TAG`).
#[derive(Debug, Clone, Args)]
pub struct BuildTagArg {
    /// Build tag put on every resource (Jenkins sets BUILD_TAG).
    #[arg(long, env = "BUILD_TAG", default_value = "local", value_name = "TAG")]
    pub build_tag: String,
}

impl BuildTagArg {
    /// The tag, checked (exit 2 naming the flag when it is not a build tag).
    pub fn checked(&self) -> Result<&str> {
        names::check_build_tag("--build-tag", &self.build_tag)?;
        Ok(&self.build_tag)
    }
}

/// `--state-dir DIR`.
#[derive(Debug, Clone, Args)]
pub struct StateDirArg {
    /// Directory for local Terraform state, used by `{state_dir}` in the backend template.
    #[arg(long, env = "GITOPS_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

impl StateDirArg {
    /// The directory as an absolute path (the backend template needs one).
    pub fn absolute(&self) -> Result<Option<PathBuf>> {
        self.state_dir
            .as_deref()
            .map(|d| std::path::absolute(d).map_err(Error::io(d)))
            .transpose()
    }
}

/// `--lock-timeout SECONDS`.
#[derive(Debug, Clone, Copy, Args)]
pub struct LockTimeoutArg {
    /// Seconds to wait for a deployment lock held by another run.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub lock_timeout: u64,
}

impl LockTimeoutArg {
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.lock_timeout)
    }
}

/// `--approved-by WHO`.
#[derive(Debug, Clone, Args)]
pub struct ApproverArg {
    /// Who approved; required for protected environments, recorded with the run.
    #[arg(long, value_name = "WHO")]
    pub approved_by: Option<String>,
}

impl ApproverArg {
    /// The approver, checked (exit 2 naming the flag when it is not a name).
    pub fn checked(&self) -> Result<Option<&str>> {
        if let Some(who) = &self.approved_by {
            names::check_person("--approved-by", who)?;
        }
        Ok(self.approved_by.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_name_the_flag() {
        let tag = BuildTagArg {
            build_tag: "a b".into(),
        };
        let e = tag.checked().unwrap_err();
        assert!(
            matches!(e, Error::Usage(_)) && e.to_string().starts_with("--build-tag "),
            "{e}"
        );
        let who = ApproverArg {
            approved_by: Some("x\ny".into()),
        };
        assert!(who
            .checked()
            .unwrap_err()
            .to_string()
            .starts_with("--approved-by "));
        assert_eq!(ApproverArg { approved_by: None }.checked().ok(), Some(None));
    }

    #[test]
    fn json_is_asked_before_the_values() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert!(json_requested(
            args(&["--repo", "x", "--json", "dir"]).into_iter()
        ));
        assert!(!json_requested(
            args(&["--repo", "x", "--", "--json"]).into_iter()
        ));
        assert!(!json_requested(args(&["--jsonx"]).into_iter()));
    }
}
