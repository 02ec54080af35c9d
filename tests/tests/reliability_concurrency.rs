//! Reliability (issue 8): concurrent runs.
//!
//! - Two `gitops-apply` of one planned deployment started together (`--lock-timeout 0`; the
//!   launcher holds each `terraform apply` until the test releases it, after one run ended, so the
//!   two overlap whatever the machine's load): exactly one applies (exit 0), the other is refused
//!   (exit 3) naming the holder; the state stays valid
//!   (`terraform state list` parses, every resource exactly once, a new plan has no changes).
//! - Eight different deployments (the example's dev deployments plus synthetic ones) rendered,
//!   planned and applied in parallel: all succeed, each state holds its own resources.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use gitops_tests::{show, state_list, stderr, terraform, write_executable, VaultWorld as World};
use std::path::PathBuf;
use std::process::Output;

/// `held_apply`: a launcher that holds `terraform apply` until the file `release-apply` exists
/// in the example's directory.
fn world(held_apply: bool) -> World {
    World::new(|ex| {
        if held_apply {
            let p = ex.dir.path().join("held-terraform");
            let release = ex.dir.path().join("release-apply");
            write_executable(
                &p,
                &format!(
                    "#!/usr/bin/env bash\nfor a in \"$@\"; do if [ \"$a\" = apply ]; then while [ ! -e '{}' ]; do sleep 0.05; done; fi; done\nexec {} \"$@\"\n",
                    release.display(),
                    terraform().display()
                ),
            );
            p
        } else {
            terraform()
        }
    })
}

#[test]
fn two_applies_of_one_plan_exactly_one_applies_the_other_is_refused_naming_the_holder() {
    let w = world(true);
    let dir = w.render("dev/orders-api");
    let d = dir.to_str().unwrap();
    let p = w.run("gitops-plan", &[d, "--json"]);
    assert_eq!(p.status.code(), Some(4), "{}", show(&p));
    let planned: serde_json::Value = serde_json::from_slice(&p.stdout).unwrap();
    let adds = planned["summary"]["add"].as_u64().unwrap() as usize;

    // The one holding the lock waits in `terraform apply` until released; the other is refused
    // meanwhile. Released once one of them has ended.
    let spawn = || {
        w.cmd("gitops-apply")
            .args([d, "--lock-timeout", "0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (mut one, mut two) = (spawn(), spawn());
    let start = std::time::Instant::now();
    while one.try_wait().unwrap().is_none() && two.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(300),
            "neither apply ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::fs::write(w.ex.dir.path().join("release-apply"), "").unwrap();
    let (a, b) = (
        one.wait_with_output().unwrap(),
        two.wait_with_output().unwrap(),
    );
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
    let w = world(false);
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
