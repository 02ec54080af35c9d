//! Reliability (issue 8): concurrent runs.
//!
//! - Two `gitops-apply` of one planned deployment started together (`--lock-timeout 0`): exactly
//!   one applies (exit 0), the other is refused (exit 3) naming the holder; the state stays valid
//!   (`terraform state list` parses, every resource exactly once, a new plan has no changes).
//! - Eight different deployments (the example's dev deployments plus synthetic ones) rendered,
//!   planned and applied in parallel: all succeed, each state holds its own resources.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use gitops_tests::vault::{StandinConfig, TestVault};
use gitops_tests::{stderr, stdout, terraform, tf_ok, write_executable, Example};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct World {
    ex: Example,
    vault: TestVault,
    tf: PathBuf,
}

impl World {
    /// `slow_apply`: a launcher that sleeps 2 s before `terraform apply`, so two runs started
    /// together certainly overlap.
    fn new(slow_apply: bool) -> World {
        let ex = Example::new();
        let tf = if slow_apply {
            let p = ex.dir.path().join("slow-terraform");
            write_executable(
                &p,
                &format!(
                    "#!/usr/bin/env bash\nfor a in \"$@\"; do [ \"$a\" = apply ] && sleep 2; done\nexec {} \"$@\"\n",
                    terraform().display()
                ),
            );
            p
        } else {
            terraform()
        };
        World {
            ex,
            vault: TestVault::start(StandinConfig::canary()),
            tf,
        }
    }

    fn cmd(&self, bin: &str) -> Command {
        let mut c = self.ex.cmd(bin);
        let role = &self.vault.config().approle[0];
        c.env("VAULT_ADDR", self.vault.addr())
            .env("VAULT_ROLE_ID", &role.role_id)
            .env("VAULT_SECRET_ID", &role.secret_id)
            .env("GITOPS_TERRAFORM", &self.tf)
            .arg("--repo")
            .arg(self.ex.repo());
        c
    }

    fn run(&self, bin: &str, args: &[&str]) -> Output {
        self.cmd(bin).args(args).output().unwrap()
    }

    fn render(&self, id: &str) -> PathBuf {
        let dir = self.ex.out().join(id);
        let o = self.run("gitops-render", &[id, "--out", dir.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "render {id}: {}", stderr(&o));
        dir
    }
}

fn show(o: &Output) -> String {
    format!("exit {:?}\n{}{}", o.status.code(), stdout(o), stderr(o))
}

/// `terraform state list` of a rendered directory: every address once.
fn state_list(dir: &Path) -> Vec<String> {
    let list = tf_ok(dir, &["state", "list"]);
    let mut addrs: Vec<String> = list.lines().map(str::to_owned).collect();
    let n = addrs.len();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), n, "duplicate addresses in the state: {list}");
    addrs
}

#[test]
fn two_applies_of_one_plan_exactly_one_applies_the_other_is_refused_naming_the_holder() {
    let w = World::new(true);
    let dir = w.render("dev/orders-api");
    let d = dir.to_str().unwrap();
    let p = w.run("gitops-plan", &[d, "--json"]);
    assert_eq!(p.status.code(), Some(4), "{}", show(&p));
    let planned: serde_json::Value = serde_json::from_slice(&p.stdout).unwrap();
    let adds = planned["summary"]["add"].as_u64().unwrap() as usize;

    let (a, b) = std::thread::scope(|s| {
        let one = s.spawn(|| w.run("gitops-apply", &[d, "--lock-timeout", "0"]));
        let two = s.spawn(|| w.run("gitops-apply", &[d, "--lock-timeout", "0"]));
        (one.join().unwrap(), two.join().unwrap())
    });
    let codes = [a.status.code(), b.status.code()];
    let (won, lost) = match codes {
        [Some(0), Some(3)] => (&a, &b),
        [Some(3), Some(0)] => (&b, &a),
        _ => panic!(
            "expected one 0 and one 3:\n--- first\n{}\n--- second\n{}",
            show(&a),
            show(&b)
        ),
    };
    assert!(
        stderr(lost).contains("locked by gitops-apply"),
        "the refusal names the holder: {}",
        show(lost)
    );
    assert!(dir.join("outputs.json").is_file(), "{}", show(won));

    // The state is valid and holds every planned resource once; nothing is left to do.
    assert_eq!(state_list(&dir).len(), adds);
    let again = w.run("gitops-plan", &[d, "--lock-timeout", "0"]);
    assert_eq!(again.status.code(), Some(0), "{}", show(&again));
}

#[test]
fn eight_deployments_plan_and_apply_in_parallel() {
    let w = World::new(false);
    // The example's dev deployments plus synthetic copies under new names.
    let mut ids: Vec<String> = ["orders-api", "orders-db", "tools-db", "web-frontend"]
        .iter()
        .map(|n| format!("dev/{n}"))
        .collect();
    for (i, src) in ["orders-api", "web-frontend", "orders-api", "tools-db"]
        .iter()
        .enumerate()
    {
        let text = std::fs::read_to_string(w.ex.repo().join(format!("deployments/dev/{src}.toml")))
            .unwrap();
        let name = format!("synthetic-{i}");
        w.ex.commit_file(
            &format!("deployments/dev/{name}.toml"),
            &text,
            &format!("add {name}"),
        );
        ids.push(format!("dev/{name}"));
    }
    assert_eq!(ids.len(), 8);
    let dirs: Vec<PathBuf> = ids.iter().map(|id| w.render(id)).collect();

    let results: Vec<(Output, Output)> = std::thread::scope(|s| {
        let handles: Vec<_> = dirs
            .iter()
            .map(|dir| {
                let w = &w;
                s.spawn(move || {
                    let d = dir.to_str().unwrap();
                    let p = w.run("gitops-plan", &[d, "--lock-timeout", "0"]);
                    let a = w.run("gitops-apply", &[d, "--lock-timeout", "0"]);
                    (p, a)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for ((id, dir), (p, a)) in ids.iter().zip(&dirs).zip(&results) {
        assert_eq!(p.status.code(), Some(4), "plan {id}: {}", show(p));
        assert_eq!(a.status.code(), Some(0), "apply {id}: {}", show(a));
        let addrs = state_list(dir);
        assert!(!addrs.is_empty(), "{id}: empty state");
    }
    // Each deployment has its own state file.
    let states: Vec<_> = std::fs::read_dir(w.ex.state().join("dev"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tfstate"))
        .collect();
    assert_eq!(states.len(), 8, "{states:?}");
}
