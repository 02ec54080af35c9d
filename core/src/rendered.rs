//! A rendered directory as plan and apply see it: its manifest, its digest, its lock, and the
//! Terraform (with credentials from Vault) that runs in it.

use crate::error::{ConfigError, Error, Result};
use crate::load::sha256_hex;
use crate::lock::{holder_text, DeploymentLock};
use crate::sot::SourceRepo;
use crate::terraform::Terraform;
use crate::vault::VaultSession;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const MANIFEST: &str = ".gitops/manifest.json";

/// A rendered deployment directory.
#[derive(Debug, Clone)]
pub struct RenderedDir {
    pub dir: PathBuf,
    pub manifest: Value,
    pub manifest_bytes: Vec<u8>,
    pub main: Value,
}

impl RenderedDir {
    /// Opens `dir`; it must hold a render whose `main.tf.json` matches its manifest.
    pub fn open(dir: &Path) -> Result<RenderedDir> {
        let dir = std::path::absolute(dir).map_err(Error::io(dir))?;
        let manifest_path = dir.join(MANIFEST);
        let manifest_bytes = std::fs::read(&manifest_path).map_err(|_| {
            Error::Usage(format!(
                "{}: not a rendered directory (no {MANIFEST}); run gitops-render first",
                dir.display()
            ))
        })?;
        let manifest: Value = serde_json::from_slice(&manifest_bytes).map_err(|e| {
            ConfigError::new(
                &manifest_path,
                None,
                format!("invalid JSON: {e}"),
                "a manifest written by gitops-render",
            )
        })?;
        let main_bytes =
            std::fs::read(dir.join("main.tf.json")).map_err(Error::io(dir.join("main.tf.json")))?;
        let digest = format!("sha256:{}", sha256_hex(&main_bytes));
        if manifest["root_module_digest"].as_str() != Some(digest.as_str()) {
            return Err(Error::Refused(format!("{}: main.tf.json was changed after gitops-render wrote it (digest {digest}, manifest says {}); render again", dir.display(), manifest["root_module_digest"])));
        }
        let main = serde_json::from_slice(&main_bytes)
            .map_err(|e| Error::Process(format!("{}: main.tf.json: {e}", dir.display())))?;
        Ok(RenderedDir {
            dir,
            manifest,
            manifest_bytes,
            main,
        })
    }

    pub fn deployment(&self) -> &str {
        self.manifest["deployment"].as_str().unwrap_or("?")
    }
    pub fn environment(&self) -> &str {
        self.manifest["environment"].as_str().unwrap_or("?")
    }
    pub fn protected(&self) -> bool {
        self.manifest["protected"].as_bool().unwrap_or(true)
    }

    /// sha256 over every file of the rendered tree (Terraform's working files and the plan
    /// artifacts aside): what plan saw must be what apply applies.
    pub fn tree_digest(&self) -> Result<String> {
        let files = crate::render::tree_files(&self.dir)?;
        let mut text = String::new();
        for (path, digest) in files {
            if path.starts_with("plan.") || path == "outputs.json" || path.starts_with("drift.") {
                continue;
            }
            text.push_str(&format!("{digest}  {path}\n"));
        }
        Ok(format!("sha256:{}", sha256_hex(text.as_bytes())))
    }

    /// The lock for this deployment: next to the state file for the local backend, else inside
    /// the rendered directory (Terraform's backend lock guards remote state).
    pub fn lock(&self, command: &str, timeout: Duration) -> Result<DeploymentLock> {
        let path = match self.main["terraform"]["backend"]["local"]["path"].as_str() {
            Some(state) => {
                let state = Path::new(state);
                let state = if state.is_absolute() {
                    state.to_path_buf()
                } else {
                    self.dir.join(state)
                };
                PathBuf::from(format!("{}.gitops.lock", state.display()))
            }
            None => self.dir.join(".gitops/lock"),
        };
        DeploymentLock::acquire(&path, timeout, &holder_text(command, self.deployment()))
    }

    /// Terraform for this deployment: credentials from Vault when the environment declares any.
    /// The returned session must live as long as Terraform runs (it revokes leases on drop).
    pub fn terraform(
        &self,
        repo: &SourceRepo,
        cache_dir: &Path,
    ) -> Result<(Terraform, Option<VaultSession>)> {
        let env_name = self.environment().to_owned();
        let (env, _) = repo.environment(&env_name, |known| {
            ConfigError::new(
                self.dir.join(MANIFEST),
                Some("environment"),
                format!(
                    "environment {}, which {} has no file for",
                    crate::names::shown(&env_name),
                    repo.root.display()
                ),
                format!("an environment of the repository: {known}"),
            )
        })?;
        let tf = Terraform::find()?.with_plugin_cache(cache_dir.join("plugins"));
        if env.credentials.is_empty() {
            return Ok((tf, None));
        }
        let mut session =
            VaultSession::login(&repo.config.vault, &env_name, env.vault_role.as_deref())?;
        let creds = session.credentials(&env)?;
        session.keep_alive();
        Ok((tf.with_secret_env(creds.env, creds.masker), Some(session)))
    }
}

/// `terraform state pull` -> (lineage, serial); empty state -> ("", 0).
pub fn state_identity(tf: &Terraform, dir: &Path) -> Result<(String, u64)> {
    let out = tf.run_ok(dir, &["state", "pull"])?;
    if out.stdout.trim().is_empty() {
        return Ok((String::new(), 0));
    }
    let v: Value = serde_json::from_str(&out.stdout)
        .map_err(|e| Error::Process(format!("terraform state pull: {e}")))?;
    Ok((
        v["lineage"].as_str().unwrap_or("").to_owned(),
        v["serial"].as_u64().unwrap_or(0),
    ))
}
