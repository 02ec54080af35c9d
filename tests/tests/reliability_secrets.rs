//! Reliability (issue 8): secret canaries over a full lifecycle, and rollback fidelity.
//!
//! An OpenBao dev server serves canary values (unique random strings) for every credential the
//! example environments map, and dev also takes database credentials from OpenBao's database
//! secrets engine on a real PostgreSQL: their passwords (new on every run, known only once Vault
//! issued them) reach the test through a FIFO from a launcher in front of Terraform and join the
//! canaries. One run certifies a package, deploys a request, updates it twice
//! (three distinct requests: package 1.0.0, 1.1.0, 1.1.0 with other overrides), rolls back twice
//! (`--to previous`, then `--to 1`), runs a drift check and destroys, all with the real binaries and
//! real Terraform. Meanwhile a poller thread reads `/proc/*/cmdline` of every process every 20 ms:
//! no canary may ever appear in a command line, and it must have seen Terraform processes (so the
//! check cannot pass vacuously). Afterwards every file under the example (source-of-truth work
//! tree and `.git`, module repos, module cache, state, rendered and work directories, plan files
//! and JSON, JUnit and Markdown reports), every captured stdout/stderr and every git object of the
//! source-of-truth repository (`git cat-file --batch-all-objects --batch`) is searched: zero
//! occurrences of any canary.
//!
//! Rollback fidelity: after each rollback is applied, the outputs and every resource's tags (other
//! than `gitops:commit` and `gitops:build`) equal those recorded for the target deployment.
//!
//! The Groovy end-to-end pipeline is not run here: `tests/tests/groovy.rs` already runs it (JVM
//! start-up and four pipeline commits cost more than this whole test), and it uses the same
//! binaries and the same Vault path that this test scans.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use gitops_tests::postgres::Postgres;
use gitops_tests::vault::{StandinConfig, TestVault};
use gitops_tests::{
    scan_files_for, stderr, stdout, terraform, tf_ok, write_executable, Needles, ProcPoller,
    SecretTap, VaultWorld, WEB_FRONTEND_1_0,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// Request C: web-service 1.1.0 with other overrides and app config than B (the example's).
const REQ_C: &str = r#"component = "web-service"
package = "1.1.0"
profile = "internal-tooling"

[overrides.compute]
desired_capacity = 1
health_check_grace_seconds = 120

[overrides.load-balancer]
health_check_path = "/healthz"

[app_config]
LOG_LEVEL = "info"
FEATURE_NEW_CHECKOUT = "false"
"#;

struct World {
    /// Example, Vault and real Terraform; `w.ex` and `w.vault` reach through.
    world: VaultWorld,
    /// Every stdout and stderr captured from a toolkit binary.
    captured: std::cell::RefCell<Vec<u8>>,
}

impl std::ops::Deref for World {
    type Target = VaultWorld;
    fn deref(&self) -> &VaultWorld {
        &self.world
    }
}

impl World {
    fn cmd(&self, bin: &str, build: &str) -> Command {
        let mut c = self.world.cmd(bin);
        c.env("BUILD_TAG", build);
        c
    }

    fn run(&self, bin: &str, args: &[&str]) -> Output {
        let o = self.cmd(bin, "build-x").args(args).output().unwrap();
        let mut cap = self.captured.borrow_mut();
        cap.extend_from_slice(&o.stdout);
        cap.extend_from_slice(&o.stderr);
        o
    }

    fn ok(&self, bin: &str, args: &[&str], codes: &[i32]) -> Output {
        let o = self.run(bin, args);
        assert!(
            codes.contains(&o.status.code().unwrap_or(-1)),
            "{bin} {args:?}: exit {:?}\n{}{}",
            o.status.code(),
            stdout(&o),
            stderr(&o)
        );
        o
    }

    fn plan_apply_tag(&self, dir: &Path) -> Value {
        let d = dir.to_str().unwrap();
        self.ok("gitops-plan", &[d, "--json"], &[0, 4]);
        self.ok("gitops-apply", &[d, "--json"], &[0]);
        json(&self.ok("gitops-tag", &[d, "--json"], &[0]).stdout)
    }

    fn deploy(&self, id: &str) -> (Value, Recorded) {
        let dir = self.ex.out().join(id);
        self.ok("gitops-render", &[id, "--out", dir.to_str().unwrap()], &[0]);
        let tag = self.plan_apply_tag(&dir);
        (tag, Recorded::of(&dir))
    }
}

/// What a deployment looked like: outputs, and tags without commit and build.
#[derive(Debug, PartialEq)]
struct Recorded {
    outputs: Value,
    tags: BTreeMap<String, Value>,
}

impl Recorded {
    fn of(dir: &Path) -> Recorded {
        let outputs = json(&std::fs::read(dir.join("outputs.json")).unwrap())["outputs"].clone();
        fn walk(m: &Value, out: &mut BTreeMap<String, Value>) {
            for r in m["resources"].as_array().into_iter().flatten() {
                let mut tags = r["values"]["input"]["tags"].clone();
                if let Some(o) = tags.as_object_mut() {
                    o.remove("gitops:commit");
                    o.remove("gitops:build");
                }
                out.insert(r["address"].as_str().unwrap().to_owned(), tags);
            }
            for c in m["child_modules"].as_array().into_iter().flatten() {
                walk(c, out);
            }
        }
        let state: Value = serde_json::from_str(&tf_ok(dir, &["show", "-json"])).unwrap();
        let mut tags = BTreeMap::new();
        walk(&state["values"]["root_module"], &mut tags);
        assert!(!tags.is_empty(), "no resources in the state of {dir:?}");
        Recorded { outputs, tags }
    }
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// `git cat-file --batch-all-objects --batch` of a repository: every object, loose or packed,
/// reachable or not.
fn all_git_objects(repo: &Path) -> Vec<u8> {
    let o = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["cat-file", "--batch-all-objects", "--batch"])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    o.stdout
}

#[test]
fn full_lifecycle_leaks_no_canary_and_rollbacks_restore_outputs_and_tags() {
    let pg = Postgres::start();
    let tap_dir = tempfile::tempdir().unwrap();
    let fifo = tap_dir.path().join("secrets.fifo");
    let w = World {
        world: VaultWorld::with_vault(
            |ex| {
                // Hands PGPASSWORD to the tap (printf is a builtin: no argv), then runs Terraform.
                let p = ex.dir.path().join("tapping-terraform");
                write_executable(
                    &p,
                    &format!(
                        "#!/usr/bin/env bash\nif [ -n \"${{PGPASSWORD:-}}\" ]; then printf '%s\\n' \"$PGPASSWORD\" > '{}'; fi\nexec '{}' \"$@\"\n",
                        fifo.display(),
                        terraform().display()
                    ),
                );
                p
            },
            |_| TestVault::start(StandinConfig::canary().with_database(&pg, 3600, 7200)),
        ),
        captured: Default::default(),
    };
    let env = w.ex.repo().join("environments/dev.toml");
    w.ex.commit_file(
        "environments/dev.toml",
        &(std::fs::read_to_string(&env).unwrap()
            + "\n[[credentials]]\nengine = \"database\"\nmount = \"database\"\nrole = \"app\"\nenv = { PGUSER = \"username\", PGPASSWORD = \"password\" }\n"),
        "dev: database credentials from Vault",
    );
    let fixed = w.vault.config().canary_values();
    assert!(fixed.len() >= 6, "{fixed:?}");
    let needles = Needles::new(fixed.clone());
    let tap = SecretTap::new(&fifo, needles.clone());
    let poller = ProcPoller::start_shared(needles, Duration::from_millis(20));

    let id = "dev/web-frontend";
    let req = "deployments/dev/web-frontend.toml";
    let req_b = std::fs::read_to_string(w.ex.repo().join(req)).unwrap();
    assert_ne!(req_b, REQ_C);
    let reports = w.ex.dir.path().join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    let r = |f: &str| reports.join(f).to_str().unwrap().to_owned();

    // Certify the package of request A (Vault credentials for every certification deploy).
    let work = w.ex.dir.path().join("certify-work");
    w.ok(
        "gitops-certify",
        &[
            "run",
            "web-service",
            "1.0.0",
            "--json",
            "--work-dir",
            work.to_str().unwrap(),
            "--junit",
            &r("certify.xml"),
            "--summary",
            &r("certify.md"),
        ],
        &[0],
    );

    // Three distinct requests: A, B, C.
    w.ex.commit_file(req, WEB_FRONTEND_1_0, "web-frontend: A (1.0.0)");
    let (t1, a) = w.deploy(id);
    assert_eq!(t1["tag"], "deploy/dev/web-frontend/1");
    w.ex.commit_file(req, &req_b, "web-frontend: B (1.1.0)");
    let (t2, b) = w.deploy(id);
    assert_eq!(t2["tag"], "deploy/dev/web-frontend/2");
    w.ex.commit_file(req, REQ_C, "web-frontend: C (1.1.0, other overrides)");
    let (t3, c) = w.deploy(id);
    assert_eq!(t3["tag"], "deploy/dev/web-frontend/3");
    assert_ne!(
        a, b,
        "A and B must differ for the rollback check to mean something"
    );
    assert_ne!(b, c, "B and C must differ");
    assert_ne!(a, c);

    // Roll back to B (previous), then to A (sequence 1): each applied state equals the target's.
    for (to, target, expected_tag, what) in [
        ("previous", &b, "deploy/dev/web-frontend/4", "B"),
        ("1", &a, "deploy/dev/web-frontend/5", "A"),
    ] {
        let rb = w.ok("gitops-rollback", &[id, "--to", to, "--json"], &[0]);
        let out = PathBuf::from(json(&rb.stdout)["out"].as_str().unwrap());
        let tag = w.plan_apply_tag(&out);
        assert_eq!(tag["tag"], expected_tag);
        let now = Recorded::of(&out);
        assert_eq!(
            now.outputs, target.outputs,
            "outputs after rolling back to {what}"
        );
        assert_eq!(
            now.tags, target.tags,
            "resource tags after rolling back to {what}"
        );
    }

    // A drift check (JUnit report), then destroy.
    let live = w.ex.out().join("drift");
    w.ok(
        "gitops-render",
        &[id, "--out", live.to_str().unwrap()],
        &[0],
    );
    w.ok(
        "gitops-plan",
        &[
            live.to_str().unwrap(),
            "--drift",
            "--junit",
            &r("drift.xml"),
        ],
        &[0, 4],
    );
    w.ok(
        "gitops-destroy",
        &[id, "--confirm", "web-frontend", "--json"],
        &[0],
    );

    let procs = poller.stop();
    let passwords = tap.stop();
    // Every dev run (3 deploys, 2 rollbacks: plan + apply each; drift; destroy) got its own.
    assert!(
        passwords.len() >= 8,
        "distinct database passwords seen by Terraform: {}",
        passwords.len()
    );
    let canaries: Vec<String> = fixed.iter().chain(&passwords).cloned().collect();
    assert_eq!(w.vault.live_leases(""), Vec::<String>::new(), "leases left");
    assert_eq!(w.vault.live_tokens(), 0, "login tokens left");
    assert_eq!(
        pg.roles_like("v-"),
        Vec::<String>::new(),
        "dynamic roles left"
    );
    assert!(
        procs.hits.is_empty(),
        "a canary appeared in a process command line: {:?}",
        procs.hits
    );
    assert!(
        procs.terraform_pids.len() >= 10,
        "the poller saw only {} terraform process(es) in {} polls: the check would be vacuous",
        procs.terraform_pids.len(),
        procs.polls
    );

    // Every file, every captured output, every git object.
    for f in ["certify.xml", "certify.md", "drift.xml"] {
        assert!(reports.join(f).is_file(), "{f} was not written");
    }
    let (mut hits, scanned) = scan_files_for(w.ex.dir.path(), &canaries);
    assert!(scanned > 200, "scanned only {scanned} files");
    let captured = w.captured.borrow();
    let objects = all_git_objects(&w.ex.repo());
    assert!(
        objects.len() > 10_000,
        "git objects: {} bytes",
        objects.len()
    );
    for (i, c) in canaries.iter().enumerate() {
        if gitops_tests::contains_bytes(&captured, c.as_bytes()) {
            hits.push(format!("captured stdout/stderr contains canary #{i}"));
        }
        if gitops_tests::contains_bytes(&objects, c.as_bytes()) {
            hits.push(format!("a git object contains canary #{i}"));
        }
    }
    assert!(hits.is_empty(), "canary leaks: {hits:#?}");
    eprintln!(
        "secret canaries: {} canaries ({} database passwords), {scanned} files, {} bytes of git objects, {} bytes of output, {} /proc polls, {} terraform processes seen",
        canaries.len(),
        passwords.len(),
        objects.len(),
        captured.len(),
        procs.polls,
        procs.terraform_pids.len()
    );
}
