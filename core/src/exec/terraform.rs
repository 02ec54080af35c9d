//! The one place that runs Terraform. No shell: an argument vector, stdin closed, a pinned
//! environment (`TF_IN_AUTOMATION`, `TF_INPUT=0`, a shared plugin cache), credentials only in the
//! child's environment, and every line we echo passed through a [`Masker`].

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use crate::error::TerraformError;

/// Replaces secret values in text before it is printed or stored.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    secrets: Vec<String>,
}

impl Masker {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Masker {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 4).collect();
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Masker { secrets }
    }

    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "****");
            }
        }
        out
    }
}

/// A Terraform (or OpenTofu) executable and the environment its runs get.
#[derive(Debug, Clone)]
pub struct Terraform {
    pub program: PathBuf,
    /// Extra environment for the child (credentials); never logged, never in argv.
    secret_env: BTreeMap<String, String>,
    plugin_cache: Option<PathBuf>,
    masker: Masker,
}

/// Output of one run.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Variables never passed on to Terraform: the toolkit's own Vault login material.
const WITHHELD: [&str; 8] = [
    "VAULT_TOKEN",
    "VAULT_SECRET_ID",
    "VAULT_ROLE_ID",
    "VAULT_JWT",
    "VAULT_SECRET_ID_FILE",
    "VAULT_ROLE_ID_FILE",
    "VAULT_JWT_FILE",
    "VAULT_ADDR",
];

impl Terraform {
    /// `GITOPS_TERRAFORM`, else `terraform`, else `tofu` on PATH.
    pub fn find() -> Result<Terraform> {
        let program = match std::env::var_os("GITOPS_TERRAFORM").filter(|p| !p.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => which::which("terraform")
                .or_else(|_| which::which("tofu"))
                .map_err(|_| TerraformError::NotFound)?,
        };
        Ok(Terraform {
            program,
            secret_env: BTreeMap::new(),
            plugin_cache: None,
            masker: Masker::default(),
        })
    }

    /// Credentials for the child's environment; their values are masked in every message.
    pub fn with_secret_env(mut self, env: BTreeMap<String, String>, masker: Masker) -> Terraform {
        self.secret_env = env;
        self.masker = masker;
        self
    }

    /// Shares provider downloads between runs (`TF_PLUGIN_CACHE_DIR`).
    pub fn with_plugin_cache(mut self, dir: PathBuf) -> Terraform {
        self.plugin_cache = Some(dir);
        self
    }

    pub fn masker(&self) -> &Masker {
        &self.masker
    }

    fn env(&self) -> Result<BTreeMap<OsString, OsString>> {
        let mut env: BTreeMap<OsString, OsString> = std::env::vars_os()
            .filter(|(k, _)| !WITHHELD.iter().any(|w| k == w))
            .collect();
        env.insert("TF_IN_AUTOMATION".into(), "1".into());
        env.insert("TF_INPUT".into(), "0".into());
        env.insert("CHECKPOINT_DISABLE".into(), "1".into());
        if !env.contains_key(&OsString::from("TF_CLI_CONFIG_FILE")) {
            env.insert("TF_CLI_CONFIG_FILE".into(), "/dev/null".into());
        }
        if let Some(cache) = &self.plugin_cache {
            std::fs::create_dir_all(cache).map_err(Error::io(cache))?;
            env.insert("TF_PLUGIN_CACHE_DIR".into(), cache.clone().into_os_string());
        }
        for (k, v) in &self.secret_env {
            env.insert(k.into(), v.into());
        }
        Ok(env)
    }

    /// Runs `terraform -chdir=<dir> <args>` and returns its output whatever the exit code.
    pub fn run(&self, dir: &Path, args: &[&str]) -> Result<RunOutput> {
        let mut argv: Vec<OsString> = vec![format!("-chdir={}", dir.display()).into()];
        argv.extend(args.iter().map(OsString::from));
        let out = duct::cmd(&self.program, &argv)
            .full_env(self.env()?)
            .stdin_null()
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .map_err(|source| TerraformError::Spawn {
                program: self.program.display().to_string(),
                source,
            })?;
        Ok(RunOutput {
            code: out.status.code().unwrap_or(-1),
            stdout: self.masker.mask(&String::from_utf8_lossy(&out.stdout)),
            stderr: self.masker.mask(&String::from_utf8_lossy(&out.stderr)),
        })
    }

    /// Like [`Terraform::run`], but a non-zero exit is an error carrying Terraform's stderr.
    pub fn run_ok(&self, dir: &Path, args: &[&str]) -> Result<RunOutput> {
        let out = self.run(dir, args)?;
        if out.code != 0 {
            return Err(TerraformError::Exit {
                command: args.first().copied().unwrap_or("").to_owned(),
                dir: dir.display().to_string(),
                code: out.code,
                stderr: tail(&out.stderr, 40),
            }
            .into());
        }
        Ok(out)
    }

    /// `terraform version -json` -> "1.11.4".
    pub fn version(&self) -> Result<String> {
        let out = self.run_ok(Path::new("."), &["version", "-json"])?;
        let v: serde_json::Value = serde_json::from_str(&out.stdout)
            .map_err(|e| Error::Process(format!("terraform version -json: {e}")))?;
        Ok(v["terraform_version"]
            .as_str()
            .unwrap_or("unknown")
            .to_owned())
    }
}

/// The last `n` lines of a text (Terraform errors come last).
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masker_masks_longest_first_and_ignores_tiny_values() {
        let m = Masker::new(["abcdef".to_owned(), "abcdefgh".to_owned(), "ab".to_owned()]);
        assert_eq!(
            m.mask("key=abcdefgh and abcdef, ab"),
            "key=**** and ****, ab"
        );
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
