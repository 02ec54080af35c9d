//! A rendered directory as plan and apply see it: its manifest, its digest, its lock, and the
//! Terraform (with credentials from Vault) that runs in it.

use crate::error::{ConfigError, Error, Result};
use crate::exec::lock::{holder_text, DeploymentLock};
use crate::exec::terraform::Terraform;
use crate::exec::vault::VaultSession;
use crate::model::load::sha256_hex;
use crate::model::sot::SourceRepo;
use crate::records::manifest::Manifest;
use crate::report::Reporter;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::records::manifest::MANIFEST;

/// A rendered deployment directory.
#[derive(Debug, Clone)]
pub struct RenderedDir {
    pub dir: PathBuf,
    pub manifest: Manifest,
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
        let manifest = Manifest::parse(&manifest_path, &manifest_bytes)?;
        let main_bytes =
            std::fs::read(dir.join("main.tf.json")).map_err(Error::io(dir.join("main.tf.json")))?;
        let digest = format!("sha256:{}", sha256_hex(&main_bytes));
        if manifest.root_module_digest != digest {
            return Err(Error::Refused(format!("{}: main.tf.json was changed after gitops-render wrote it (digest {digest}, manifest says {}); render again", dir.display(), manifest.root_module_digest)));
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
        &self.manifest.deployment
    }
    pub fn environment(&self) -> &str {
        &self.manifest.environment
    }
    pub fn protected(&self) -> bool {
        self.manifest.protected
    }

    /// Runs the guards of `stage` on this render (certification, revocation, promotion); each
    /// warning goes to `reporter` as `<deployment>: <warning>`, a refusal is the error.
    pub fn guard(
        &self,
        repo: &SourceRepo,
        stage: crate::guard::Stage,
        reporter: &dyn Reporter,
    ) -> Result<()> {
        let m = &self.manifest;
        let (id, env) = (&m.deployment, &m.environment);
        crate::model::sot::refuse_dirty_protected(id, env, m.protected, m.source_dirty)?;
        for w in crate::guard::check(&crate::guard::GuardContext {
            repo,
            stage,
            environment: self.environment(),
            protected: self.protected(),
            deployment: self.deployment(),
            component: &self.manifest.component,
            version: &self.manifest.package,
            modules: &self.manifest.modules,
            allow_revoked: false,
        })? {
            reporter.warning(&format!("{}: {w}", self.deployment()));
        }
        Ok(())
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
            None => self.dir.join(crate::render::RENDERED_DIR_LOCK),
        };
        DeploymentLock::acquire(&path, timeout, &holder_text(command, self.deployment()))
    }

    /// Terraform for this deployment: credentials from Vault when the environment declares any.
    /// The returned session must live as long as Terraform runs; end it with
    /// [`VaultSession::finish`] (dropping it revokes too, without reporting failures).
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
                    crate::model::names::shown(&env_name),
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

/// The state's (lineage, serial); no state yet -> ("", 0).
///
/// With the `local` backend in the default workspace the state file named by `main.tf.json` is
/// read directly: it is the file `terraform state pull` would print, without a Terraform process
/// (about 90 ms; plan and apply each ask once, bench/ B3). Any other backend or workspace, or a file
/// that does not read as a state, asks Terraform.
pub fn state_identity(tf: &Terraform, dir: &Path) -> Result<(String, u64)> {
    if let Some(identity) = local_state_identity(dir) {
        return Ok(identity);
    }
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

/// The root module's outputs as `terraform output -json` gives them (name -> value, type,
/// sensitive). Read from the state file under the same conditions as [`state_identity`] (one
/// Terraform process fewer per apply); otherwise Terraform is asked.
pub fn state_outputs(tf: &Terraform, dir: &Path) -> Result<Value> {
    match local_state(dir) {
        Some(None) => return Ok(Value::Object(Default::default())),
        Some(Some(bytes)) => {
            if let Some(outputs) = outputs_of_state(&bytes) {
                return Ok(outputs);
            }
        }
        None => {}
    }
    serde_json::from_str(&tf.run_ok(dir, &["output", "-json"])?.stdout)
        .map_err(|e| Error::Process(format!("terraform output -json: {e}")))
}

/// The `outputs` object of a state file (`{}` when it has none); `None` when it is not a state.
fn outputs_of_state(bytes: &[u8]) -> Option<Value> {
    let Ok(Value::Object(mut state)) = serde_json::from_slice::<Value>(bytes) else {
        return None;
    };
    state.get("lineage")?;
    match state.remove("outputs") {
        Some(Value::Object(o)) => Some(Value::Object(o)),
        None => Some(Value::Object(Default::default())),
        Some(_) => None,
    }
}

/// The bytes of the state when the backend is `local` in the default workspace: `Some(None)` when
/// there is no state yet, `None` when Terraform must be asked (another backend or workspace, an
/// unreadable file).
fn local_state(dir: &Path) -> Option<Option<Vec<u8>>> {
    if std::env::var("TF_WORKSPACE").is_ok_and(|w| !w.is_empty() && w != "default") {
        return None;
    }
    let main: Value =
        serde_json::from_slice(&std::fs::read(dir.join("main.tf.json")).ok()?).ok()?;
    let backends = main["terraform"]["backend"].as_object()?;
    if backends.len() != 1 {
        return None;
    }
    let path = backends.get("local")?["path"].as_str()?;
    // The workspace Terraform selected in this directory, if any, must be the default one.
    match std::fs::read_to_string(dir.join(".terraform/environment")) {
        Ok(w) if w.trim() != "default" => return None,
        _ => {}
    }
    match std::fs::read(dir.join(path)) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Some(None),
        Ok(bytes) => Some(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(None),
        Err(_) => None,
    }
}

fn local_state_identity(dir: &Path) -> Option<(String, u64)> {
    #[derive(serde::Deserialize)]
    struct Identity {
        lineage: String,
        serial: u64,
    }
    match local_state(dir)? {
        None => Some((String::new(), 0)),
        Some(bytes) => {
            let id: Identity = serde_json::from_slice(&bytes).ok()?;
            Some((id.lineage, id.serial))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(backend: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("main.tf.json"),
            format!(r#"{{"terraform": {{"backend": {backend}}}}}"#),
        )
        .unwrap();
        d
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn local_state_is_read_directly_and_anything_else_asks_terraform() {
        let d = dir_with(r#"{"local": {"path": "state/x.tfstate"}}"#);
        assert_eq!(local_state_identity(d.path()), Some((String::new(), 0)));
        std::fs::create_dir_all(d.path().join("state")).unwrap();
        std::fs::write(
            d.path().join("state/x.tfstate"),
            r#"{"version": 4, "serial": 7, "lineage": "abc", "resources": []}"#,
        )
        .unwrap();
        assert_eq!(local_state_identity(d.path()), Some(("abc".into(), 7)));
        // A half-written file is not guessed at: Terraform is asked.
        std::fs::write(d.path().join("state/x.tfstate"), r#"{"version": 4, "ser"#).unwrap();
        assert_eq!(local_state_identity(d.path()), None);
        // Another workspace selected in the directory: Terraform knows where its state is.
        std::fs::write(
            d.path().join("state/x.tfstate"),
            r#"{"serial": 1, "lineage": "l"}"#,
        )
        .unwrap();
        std::fs::create_dir_all(d.path().join(".terraform")).unwrap();
        std::fs::write(d.path().join(".terraform/environment"), "blue").unwrap();
        assert_eq!(local_state_identity(d.path()), None);
        std::fs::write(d.path().join(".terraform/environment"), "default").unwrap();
        assert_eq!(local_state_identity(d.path()), Some(("l".into(), 1)));
        // Outputs as terraform output -json gives them (value, type, sensitive when set).
        let state = br#"{"lineage": "l", "serial": 3, "outputs": {"endpoint": {"value": "x.example", "type": "string"}, "pw": {"value": "s", "type": "string", "sensitive": true}}}"#;
        let o = outputs_of_state(state).unwrap();
        assert_eq!(o["endpoint"]["value"], "x.example");
        assert_eq!(o["pw"]["sensitive"], true);
        assert_eq!(
            outputs_of_state(br#"{"lineage": "l", "serial": 1}"#),
            Some(serde_json::json!({}))
        );
        assert_eq!(outputs_of_state(br#"{"version": 4, "ser"#), None);
        // A remote backend.
        let s3 = dir_with(r#"{"s3": {"bucket": "b", "key": "k"}}"#);
        assert_eq!(local_state_identity(s3.path()), None);
    }
}
