//! The one place that runs Terraform. No shell: an argument vector, stdin closed, a pinned
//! environment (`TF_IN_AUTOMATION`, `TF_INPUT=0`, a shared plugin cache), credentials only in the
//! child's environment, and every line we echo passed through a [`Masker`].

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

pub use crate::error::TerraformError;

/// Replaces secret values in text before it is printed or stored.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    secrets: Vec<String>,
}

impl Masker {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Masker {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 4).collect();
        // The lines of a multi-line secret (a PEM key) too, for text masked line by line.
        let lines: Vec<String> = secrets
            .iter()
            .filter(|s| s.contains('\n'))
            .flat_map(|s| {
                s.lines()
                    .map(str::trim)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .filter(|l| l.len() >= 8)
            .collect();
        secrets.extend(lines);
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
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

/// How long Terraform gets to stop after the forwarded SIGINT before it is killed.
pub const INTERRUPT_GRACE: Duration = Duration::from_secs(60);

/// Reads a child's pipe to the end in a thread (so the child never blocks on a full pipe); with
/// `log`, each line is also appended there, masked, as it arrives (what an apply created is on
/// disk even if this process is killed).
fn drain<R: Read + Send + 'static>(
    pipe: Option<R>,
    log: Option<File>,
    masker: Masker,
) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut all = Vec::new();
        if let Some(pipe) = pipe {
            let mut reader = BufReader::new(pipe);
            let mut log = log;
            loop {
                let start = all.len();
                match reader.read_until(b'\n', &mut all) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if let Some(f) = log.as_mut() {
                            let line = masker.mask(&String::from_utf8_lossy(&all[start..]));
                            if f.write_all(line.as_bytes()).is_err() {
                                log = None;
                            }
                        }
                    }
                }
            }
        }
        let _ = tx.send(all);
    });
    rx
}

/// The masked text a [`drain`] thread read; waits `limit` at most (`None`: until the pipe ends).
fn collect(rx: mpsc::Receiver<Vec<u8>>, limit: Option<Duration>, masker: &Masker) -> String {
    let bytes = match limit {
        Some(limit) => rx.recv_timeout(limit).unwrap_or_default(),
        None => rx.recv().unwrap_or_default(),
    };
    masker.mask(&String::from_utf8_lossy(&bytes))
}

fn pid_of(child: &Child) -> Option<rustix::process::Pid> {
    rustix::process::Pid::from_raw(i32::try_from(child.id()).ok()?)
}

/// Waits for `child`; on SIGTERM/SIGINT forwards SIGINT once and waits [`INTERRUPT_GRACE`], then
/// kills it. Returns the exit status and, when interrupted, the signal and what was done.
fn wait(child: &mut Child) -> std::io::Result<(ExitStatus, Option<(i32, String)>)> {
    let pid = pid_of(child);
    let mut forwarded: Option<(i32, Instant)> = None;
    let mut killed = false;
    loop {
        if let Some(status) = child.try_wait()? {
            let how = forwarded.map(|(sig, _)| {
                let how = if killed {
                    format!(
                        "the toolkit forwarded SIGINT, then killed it after {} s",
                        INTERRUPT_GRACE.as_secs()
                    )
                } else {
                    "the toolkit forwarded SIGINT and waited for it".to_owned()
                };
                (sig, how)
            });
            return Ok((status, how));
        }
        match (forwarded, crate::exec::signal::received()) {
            (None, Some(sig)) => {
                if let Some(pid) = pid {
                    // Our own child, not reaped yet (try_wait above said it runs).
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
                }
                forwarded = Some((sig, Instant::now()));
            }
            (Some((_, since)), _) if !killed && since.elapsed() >= INTERRUPT_GRACE => {
                child.kill()?;
                killed = true;
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(10));
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
    /// Where the output of `apply`/`destroy` runs is appended, masked, line by line.
    log: Option<ApplyLog>,
    /// SIGTERM/SIGINT are handled (forwarded, then unwound) while Terraform can run.
    _deferred: Arc<crate::exec::signal::Deferred>,
}

/// The log of `apply`/`destroy` runs and what to do before one starts.
#[derive(Clone)]
struct ApplyLog {
    path: PathBuf,
    prepare: Arc<dyn Fn() -> Result<()> + Send + Sync>,
}

impl std::fmt::Debug for ApplyLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplyLog")
            .field("path", &self.path)
            .finish()
    }
}

/// Output of one run.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Variables never passed on to Terraform: the toolkit's own Vault login material.
pub(crate) const WITHHELD: [&str; 8] = [
    "VAULT_TOKEN",
    "VAULT_SECRET_ID",
    "VAULT_ROLE_ID",
    "VAULT_JWT",
    "VAULT_SECRET_ID_FILE",
    "VAULT_ROLE_ID_FILE",
    "VAULT_JWT_FILE",
    "VAULT_ADDR",
];

/// Jenkins finds the processes of an aborted step by this variable and signals each of them;
/// Terraform must get the abort once, forwarded by the toolkit (a second interrupt makes it stop
/// at once, leaving the state half written), and dies with the toolkit anyway.
pub(crate) const JENKINS_COOKIE: &str = "JENKINS_NODE_COOKIE";

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
            log: None,
            _deferred: Arc::new(crate::exec::signal::Deferred::new()),
        })
    }

    /// Appends the (masked) output of every `apply` and `destroy` run to `path` as it arrives;
    /// `prepare` runs just before each such run starts (an error stops it from starting).
    pub fn with_apply_log(
        mut self,
        path: PathBuf,
        prepare: impl Fn() -> Result<()> + Send + Sync + 'static,
    ) -> Terraform {
        self.log = Some(ApplyLog {
            path,
            prepare: Arc::new(prepare),
        });
        self
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

    /// The value `name` has in the child's environment: a credential given with
    /// [`Terraform::with_secret_env`], else the process's own (the withheld variables aside).
    /// For a step that asks the cloud itself with the credentials Terraform gets (`gitops-tag`'s
    /// check in AWS); the value must never be logged, written or put in argv.
    pub fn child_var(&self, name: &str) -> Option<String> {
        if let Some(v) = self.secret_env.get(name) {
            return Some(v.clone());
        }
        if WITHHELD.contains(&name) || name == JENKINS_COOKIE {
            return None;
        }
        std::env::var(name).ok()
    }

    fn env(&self) -> Result<BTreeMap<OsString, OsString>> {
        let mut env: BTreeMap<OsString, OsString> = std::env::vars_os()
            .filter(|(k, _)| !WITHHELD.iter().any(|w| k == w) && k != JENKINS_COOKIE)
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
    ///
    /// Aborts ([`crate::exec::signal`]): nothing starts once SIGTERM/SIGINT was received; a
    /// signal received while Terraform runs is forwarded to it once as SIGINT (its graceful
    /// stop), Terraform is waited for (up to [`INTERRUPT_GRACE`], then SIGKILL) and the run ends
    /// with [`Error::Interrupted`]. Terraform runs in its own process group (a terminal's Ctrl-C
    /// reaches it once, through the toolkit). It inherits the deployment lock's descriptor
    /// ([`crate::exec::lock`]): if the toolkit process is killed, the lock stays held until
    /// Terraform (which then ends at its next line of output, on the broken pipe) has exited.
    pub fn run(&self, dir: &Path, args: &[&str]) -> Result<RunOutput> {
        let what = format!(
            "terraform {} in {}",
            args.first().copied().unwrap_or(""),
            dir.display()
        );
        crate::exec::signal::check(&what)?;
        // Terraform's plugin cache is not safe for installs at once (two inits filling it: "still
        // not detected in .terraform/providers"): inits sharing a cache take turns, across
        // processes (certification's parallel profiles, pipeline lanes on one agent).
        let _cache_turn = match (args.first().copied(), &self.plugin_cache) {
            (Some("init"), Some(cache)) => Some(plugin_cache_turn(cache)?),
            _ => None,
        };
        let log = match (&self.log, args.first().copied()) {
            (Some(log), Some("apply" | "destroy")) => {
                (log.prepare)()?;
                Some(
                    OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&log.path)
                        .map_err(Error::io(&log.path))?,
                )
            }
            _ => None,
        };
        let mut cmd = Command::new(&self.program);
        cmd.arg(format!("-chdir={}", dir.display()))
            .args(args)
            .env_clear()
            .envs(self.env()?)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group: a terminal's Ctrl-C reaches it once, through the toolkit.
        cmd.process_group(0);
        let mut child = cmd.spawn().map_err(|source| TerraformError::Spawn {
            program: self.program.display().to_string(),
            source,
        })?;
        let stdout = drain(child.stdout.take(), log, self.masker.clone());
        let stderr = drain(child.stderr.take(), None, self.masker.clone());
        let (status, stopped_by) = wait(&mut child).map_err(Error::io(&self.program))?;
        if let Some((sig, how)) = stopped_by {
            // Leftovers of Terraform's process group (providers, provisioner commands) go too,
            // so nothing keeps the output pipes open.
            if let Some(group) = pid_of(&child) {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
            let grace = Some(Duration::from_secs(5));
            let _ = collect(stdout, grace, &self.masker);
            let err = collect(stderr, grace, &self.masker);
            let code = status
                .code()
                .map_or_else(|| "was killed".to_owned(), |c| format!("exited with {c}"));
            let mut detail = format!("{what} stopped: {how}; it {code}");
            let last = tail(&err, 10);
            if !last.trim().is_empty() {
                detail.push_str(&format!("; its last words:\n{last}"));
            }
            return Err(crate::exec::signal::interrupted(sig, detail));
        }
        Ok(RunOutput {
            code: status.code().unwrap_or(-1),
            stdout: collect(stdout, None, &self.masker),
            stderr: collect(stderr, None, &self.masker),
        })
    }

    /// Like [`Terraform::run`], but a non-zero exit is an error carrying Terraform's stderr.
    pub fn run_ok(&self, dir: &Path, args: &[&str]) -> Result<RunOutput> {
        let out = self.run(dir, args)?;
        if out.code != 0 {
            return Err(failed(args.first().copied().unwrap_or(""), dir, &out));
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

/// The error of a Terraform command that exited non-zero: a refusal (exit 3) naming the holder
/// when another run holds the state lock of a remote backend (S3's `<key>.tflock`, ...), else
/// [`TerraformError::Exit`] with the tail of its stderr.
pub fn failed(command: &str, dir: &Path, out: &RunOutput) -> Error {
    state_lock_refusal(command, dir, &out.stderr).unwrap_or_else(|| {
        TerraformError::Exit {
            command: command.to_owned(),
            dir: dir.display().to_string(),
            code: out.code,
            stderr: tail(&out.stderr, 40),
        }
        .into()
    })
}

/// "Error acquiring the state lock" with Terraform's "Lock Info" (ID, Operation, Who, Created): a
/// refusal that names the holder and, for a holder that was killed, the way to release its lock.
fn state_lock_refusal(command: &str, dir: &Path, stderr: &str) -> Option<Error> {
    if !stderr.contains("Error acquiring the state lock") {
        return None;
    }
    let field = |name: &str| {
        stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_owned()))
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "unknown".to_owned())
    };
    let id = field("ID:");
    Some(Error::Refused(format!(
        "terraform {command} in {}: the state is locked by {} ({}, since {}, lock ID {id}): \
         another run of this deployment holds it; wait for it, or, if that run was killed, \
         release its lock: gitops-apply --force-unlock {id} {}",
        dir.display(),
        field("Who:"),
        field("Operation:"),
        field("Created:"),
        dir.display()
    )))
}

/// An exclusive lock on `<cache>/.gitops-init.lock`, held while one `terraform init` may write
/// into the plugin cache (released when the returned file is dropped).
fn plugin_cache_turn(cache: &Path) -> Result<File> {
    std::fs::create_dir_all(cache).map_err(Error::io(cache))?;
    let path = cache.join(".gitops-init.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(Error::io(&path))?;
    file.lock().map_err(Error::io(&path))?;
    Ok(file)
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
    fn inits_sharing_a_plugin_cache_take_turns() {
        let cache = tempfile::tempdir().unwrap();
        let first = plugin_cache_turn(cache.path()).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let dir = cache.path().to_path_buf();
        let second = std::thread::spawn(move || {
            let turn = plugin_cache_turn(&dir).unwrap();
            tx.send(()).unwrap();
            drop(turn);
        });
        // The second waits while the first holds its turn, and goes once it is released.
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
        drop(first);
        rx.recv_timeout(Duration::from_secs(30)).unwrap();
        second.join().unwrap();
    }

    #[test]
    fn masker_masks_longest_first_and_ignores_tiny_values() {
        let m = Masker::new(["abcdef".to_owned(), "abcdefgh".to_owned(), "ab".to_owned()]);
        assert_eq!(
            m.mask("key=abcdefgh and abcdef, ab"),
            "key=**** and ****, ab"
        );
    }

    #[test]
    fn after_a_signal_no_terraform_starts() {
        let dir = tempfile::tempdir().unwrap();
        let tf = Terraform {
            program: "touch".into(),
            secret_env: BTreeMap::new(),
            plugin_cache: None,
            masker: Masker::default(),
            log: None,
            _deferred: Arc::new(crate::exec::signal::Deferred::new()),
        };
        crate::exec::signal::set_received(libc::SIGTERM);
        let marker = dir.path().join("ran");
        let e = tf.run(dir.path(), &[marker.to_str().unwrap()]).unwrap_err();
        crate::exec::signal::set_received(0);
        assert_eq!(e.exit_code(), 1);
        assert!(
            e.to_string()
                .starts_with("interrupted by SIGTERM: terraform /")
                && e.to_string().ends_with("was not started"),
            "{e}"
        );
        assert!(!marker.exists(), "nothing ran");
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
