//! Errors of the core library, one enum per concern, and the exit-code contract shared by every
//! binary. The meaning of each exit code is documented once, here.

use std::fmt;
use std::path::PathBuf;

/// Exit codes of every gitops-toolkit binary.
pub mod exit {
    /// Success (for plan: no changes).
    pub const OK: u8 = 0;
    /// The operation failed: terraform, git, Vault, I/O.
    pub const FAILED: u8 = 1;
    /// Invalid input or usage; the message names file, key and line; nothing was written.
    pub const INVALID: u8 = 2;
    /// Refused by a guard (uncertified package, policy deny, missing approval, lock held).
    pub const REFUSED: u8 = 3;
    /// plan/drift only: changes present.
    pub const CHANGES: u8 = 4;
}

/// A problem with an input file: which file, which key, which line, what was found and what is
/// allowed. Always exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, relative to the repository root where possible.
    pub file: PathBuf,
    /// Dotted key path (`overrides.compute.desired_capacity`), when the problem has one.
    pub key: Option<String>,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What was found.
    pub found: String,
    /// What is allowed instead.
    pub allowed: String,
}

impl ConfigError {
    pub fn new(
        file: impl Into<PathBuf>,
        key: Option<&str>,
        found: impl Into<String>,
        allowed: impl Into<String>,
    ) -> Self {
        ConfigError {
            file: file.into(),
            key: key.map(str::to_owned),
            line: None,
            found: found.into(),
            allowed: allowed.into(),
        }
    }

    /// Sets the line (1-based) when it is known.
    pub fn at_line(mut self, line: Option<usize>) -> Self {
        self.line = line.or(self.line);
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": found {}", self.found)?;
        if !self.allowed.is_empty() {
            write!(f, "; allowed: {}", self.allowed)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Git operations (module repositories and the source-of-truth repository).
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("git: {op} {target}: {source}")]
    Op {
        op: &'static str,
        target: String,
        #[source]
        source: git2::Error,
    },
    #[error("git: {target}: {message}")]
    Other { target: String, message: String },
}

impl GitError {
    pub fn op(op: &'static str, target: impl fmt::Display) -> impl FnOnce(git2::Error) -> GitError {
        let target = target.to_string();
        move |source| GitError::Op { op, target, source }
    }
}

/// Terraform failures: "not found on PATH" and "exited non-zero" are different problems.
/// (Defined here, re-exported by `exec::terraform`, so this module depends on nothing
/// else in the crate.)
#[derive(Debug, thiserror::Error)]
pub enum TerraformError {
    #[error("no terraform or tofu found on PATH (set GITOPS_TERRAFORM to choose one)")]
    NotFound,
    #[error("could not run {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("terraform {command} in {dir} exited with {code}:\n{stderr}")]
    Exit {
        command: String,
        dir: String,
        code: i32,
        stderr: String,
    },
}

/// Vault failures: configuration (no address, nothing to log in with, a bad setting), a request
/// that failed (after its retries), a secret without the field a credential maps, credentials or
/// a token that would expire before the step may end. Re-exported by `exec::vault`.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("Vault: no address for the credentials of environment {env}: set VAULT_ADDR or [vault] address in gitops.toml")]
    NoAddress { env: String },
    #[error("Vault {addr}: nothing to log in with: set VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID (or VAULT_ROLE_ID_FILE/VAULT_SECRET_ID_FILE), or VAULT_JWT (or VAULT_JWT_FILE) with a JWT role")]
    NoAuth { addr: String },
    #[error("Vault {addr}: {what}: {message}{}", if *.attempts > 1 { format!(" (after {} attempts)", .attempts) } else { String::new() })]
    Request {
        addr: String,
        what: String,
        message: String,
        attempts: u32,
    },
    #[error("Vault {addr}: {path}: the secret has no field `{field}` (it has: {fields})")]
    MissingField {
        addr: String,
        path: String,
        field: String,
        fields: String,
    },
    #[error("Vault: cannot read {what} from {file}: {source}")]
    File {
        what: &'static str,
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// A setting of the environment that is not valid (`GITOPS_VAULT_MIN_TTL=soon`); exit 2.
    #[error("{var}: found {found}; allowed: {allowed}")]
    Setting {
        var: &'static str,
        found: String,
        allowed: &'static str,
    },
    /// Credentials (or the token that holds them) expire in `ttl` seconds, less than the `min`
    /// (`[vault] min_ttl`, `GITOPS_VAULT_MIN_TTL`) the step needs, and renewing could not extend
    /// them: `why` says what Vault did, `fix` what to change.
    #[error("Vault {addr}: {what} expire{} in {ttl} s ({why}), less than the {min} s this step needs; {fix}", if .what.starts_with("credentials") { "" } else { "s" })]
    ShortLifetime {
        addr: String,
        /// `credentials from database/creds/app`, `the login token`, `the token of VAULT_TOKEN`.
        what: String,
        ttl: u64,
        min: u64,
        why: String,
        fix: String,
    },
}

/// Any error of the core library; [`Error::exit_code`] maps it to the documented exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid input file.
    #[error("{0}")]
    Config(Box<ConfigError>),
    /// Several invalid input files at once (fleet operations collect them all).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Configs(Vec<ConfigError>),
    /// Invalid command-line usage.
    #[error("{0}")]
    Usage(String),
    /// A module file the toolkit cannot read (a module's `.tf` or `.tf.json`): the caller names
    /// the package and module it belongs to (`render::resolve_modules`).
    #[error("{0}")]
    Parse(String),
    /// Refused by a guard.
    #[error("refused: {0}")]
    Refused(String),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Terraform(#[from] TerraformError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A child process could not run or failed.
    #[error("{0}")]
    Process(String),
    /// `--check` found a difference.
    #[error("{0}")]
    CheckFailed(String),
    /// Stopped by SIGTERM/SIGINT (`exec::signal`): what was stopped or not started.
    #[error("interrupted by {signal}: {detail}")]
    Interrupted {
        signal: &'static str,
        detail: String,
    },
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(Box::new(e))
    }
}

impl Error {
    /// The documented exit code for this error (see [`exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_)
            | Error::Configs(_)
            | Error::Usage(_)
            | Error::Parse(_)
            | Error::Vault(VaultError::Setting { .. }) => exit::INVALID,
            Error::Refused(_) => exit::REFUSED,
            Error::Git(_)
            | Error::Terraform(_)
            | Error::Vault(_)
            | Error::Io { .. }
            | Error::Process(_)
            | Error::CheckFailed(_)
            | Error::Interrupted { .. } => exit::FAILED,
        }
    }

    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
