//! Reliability (issue 8): concurrent runs.
//!
//! - Two `gitops-apply` of one planned deployment started together (`--lock-timeout 0`): exactly
//!   one applies (exit 0), the other is refused (exit 3) naming the holder; the state stays valid
//!   (`terraform state list` parses, every resource exactly once, a new plan has no changes).
//! - Eight different deployments (the example's dev deployments plus synthetic ones) rendered,
//!   planned and applied in parallel: all succeed, each state holds its own resources.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use gitops_tests::{show, state_list, stderr, terraform, write_executable, VaultWorld as World};
use std::path::PathBuf;
use std::process::Output;

/// `slow_apply`: a launcher that sleeps 2 s before `terraform apply`, so two runs started
/// together certainly overlap.
fn world(slow_apply: bool) -> World {
    World::new(|ex| {
        if slow_apply {
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
