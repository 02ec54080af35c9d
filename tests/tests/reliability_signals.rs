//! Reliability (issue 13): aborts, crash-safe state, concurrent renders.
//!
//! - SIGTERM to `gitops-apply` mid-apply (an extra resource whose local-exec provisioner waits for
//!   a file the test creates later): Terraform gets the signal forwarded, stops, `gitops-apply`
//!   exits 1 "interrupted by SIGTERM"; no process of the test's directory is left, every lease
//!   and token of the run is revoked, the lock is free and a plan + apply converge (each resource
//!   once, then a plan without changes).
//! - SIGKILL to `gitops-apply` mid-apply: Terraform does not outlive its lock (the descriptor is
//!   inherited); once it ended, the lock is free and a plan + apply converge (after the recovery
//!   the plan names, should Terraform have ended during a state write).
//! - SIGTERM while `terraform init` runs (a launcher that ignores SIGINT and waits for a file):
//!   no further Terraform (plan) starts, exit 1, leases revoked.
//! - Terraform killed (SIGKILL) at points spread over an apply, and its final state write cut
//!   short (truncated, empty), each on a fresh and on an existing state: the next `gitops-plan`
//!   either converges or refuses (exit 3) naming the state file, the copy to restore and the
//!   resources the apply log shows created; following that recovery converges.
//! - Eight `gitops-render --out SAME` at once, three times: all exit 0 and `.terraform` (from an
//!   init before) survives.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use gitops_tests::{show, state_list, stderr, terraform, write_executable, VaultWorld as World};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Polls `cond` every 50 ms for up to 120 s (a loaded machine is slow, never this slow).
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Processes (other than this one) whose command line mentions `dir`: `"<pid> <cmdline>"`.
fn processes_in(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(&needle) {
            found.push(format!("{pid} {text}"));
        }
    }
    found
}

/// Adds a resource to the rendered `dir` whose creation touches `started` and then waits until
/// `release` exists: an apply that is certainly in progress while the test acts.
fn add_slow_resource(dir: &Path, started: &Path, release: &Path) {
    let command = format!(
        "touch '{}'; while [ ! -e '{}' ]; do sleep 0.1; done",
        started.display(),
        release.display()
    );
    // With the render's tags, which the built-in tags policy requires.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(".gitops/manifest.json")).unwrap()).unwrap();
    let tf = serde_json::json!({
        "resource": {"terraform_data": {"gitops_test_slow": {
            "input": {"tags": manifest["tags"]},
            "provisioner": [{"local-exec": {"command": command}}]
        }}}
    });
    std::fs::write(
        dir.join("zz-test-slow.tf.json"),
        serde_json::to_vec_pretty(&tf).unwrap(),
    )
    .unwrap();
}

/// Every lease and login token of the runs revoked (on the world's OpenBao: its lease and token
/// accessor lists hold nothing but the root token).
fn assert_all_revoked(w: &World) {
    assert_eq!(w.vault.live_leases(""), Vec::<String>::new(), "leases left");
    assert_eq!(w.vault.live_tokens(), 0, "login tokens left");
}

/// Plan (the lock must be free: `--lock-timeout 0`), apply, plan again: converged with `expected`
/// resources, each once.
fn converges(w: &World, dir: &Path, expected: usize) {
    let d = dir.to_str().unwrap();
    let p = w.run("gitops-plan", &[d, "--lock-timeout", "0"]);
    match p.status.code() {
        Some(4) => {
            let a = w.run("gitops-apply", &[d, "--lock-timeout", "0"]);
            assert_eq!(a.status.code(), Some(0), "{}", show(&a));
        }
        Some(0) => {}
        _ => panic!("plan after the abort: {}", show(&p)),
    }
    assert_eq!(
        state_list(dir).len(),
        expected,
        "every resource exactly once"
    );
    let again = w.run("gitops-plan", &[d, "--lock-timeout", "0"]);
    assert_eq!(again.status.code(), Some(0), "converged: {}", show(&again));
}

/// A planned dev/orders-api with the slow resource; (dir, resources after a full apply).
fn planned_slow(w: &World) -> (PathBuf, usize, PathBuf, PathBuf) {
    let dir = w.render("dev/orders-api");
    let started = w.ex.dir.path().join("slow-started");
    let release = w.ex.dir.path().join("slow-release");
    add_slow_resource(&dir, &started, &release);
    let p = w.run("gitops-plan", &[dir.to_str().unwrap(), "--json"]);
    assert_eq!(p.status.code(), Some(4), "{}", show(&p));
    let planned: serde_json::Value = serde_json::from_slice(&p.stdout).unwrap();
    let adds = planned["summary"]["add"].as_u64().unwrap() as usize;
    (dir, adds, started, release)
}

fn spawn_apply(w: &World, dir: &Path) -> std::process::Child {
    w.cmd("gitops-apply")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &std::process::Child, sig: &str) {
    let s = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(s.success());
}

#[test]
fn sigterm_mid_apply_stops_terraform_revokes_leases_frees_the_lock_and_the_rerun_converges() {
    let w = World::new(|_| terraform());
    let (dir, adds, started, release) = planned_slow(&w);
    let apply = spawn_apply(&w, &dir);
    wait_for("the apply to start the slow resource", || started.exists());
    signal(&apply, "-TERM");
    let out = apply.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = stderr(&out);
    assert!(
        err.contains("interrupted by SIGTERM") && err.contains("terraform apply"),
        "{}",
        show(&out)
    );
    // Terraform was waited for: nothing of this test runs any more (the provisioner's shell was
    // Terraform's to stop; it may take one more loop round).
    wait_for("no process of the test directory", || {
        processes_in(w.ex.dir.path()).is_empty()
    });
    assert!(!dir.join("outputs.json").exists());
    assert_all_revoked(&w);
    std::fs::write(&release, "").unwrap();
    converges(&w, &dir, adds);
    assert_all_revoked(&w);
}

#[test]
fn sigkill_mid_apply_leaves_no_terraform_behind_no_lease_and_the_lock_free_once_it_ended() {
    let w = World::new(|_| terraform());
    let (dir, adds, started, release) = planned_slow(&w);
    let mut apply = spawn_apply(&w, &dir);
    wait_for("the apply to start the slow resource", || started.exists());
    signal(&apply, "-KILL");
    let status = apply.wait().unwrap();
    assert_eq!(status.code(), None, "killed by a signal");
    // Terraform does not go on unattended: its output has nowhere to go. Let the provisioner end
    // so Terraform prints (and ends) without waiting for its next progress line.
    std::fs::write(&release, "").unwrap();
    wait_for("no process of the test directory", || {
        processes_in(w.ex.dir.path()).is_empty()
    });
    // The lock is held until the last process that inherited it (Terraform, then the
    // provisioner's `sleep`, whose command line does not name the directory) has ended.
    let lock = w.ex.state().join("dev/orders-api.tfstate.gitops.lock");
    wait_for("the lock to be free", || {
        gitops_core::exec::lock::DeploymentLock::acquire(&lock, Duration::ZERO, "{}").is_ok()
    });
    // The killed run could not revoke its leases and token: its warden did.
    wait_for(
        "the warden to revoke the killed run's leases and token",
        || w.vault.live_tokens() == 0 && w.vault.live_leases("").is_empty(),
    );
    assert_all_revoked(&w);
    // Terraform may have ended in the middle of a state write: then the plan names the recovery.
    recovers(&w, &dir, &w.ex.state().join("dev/orders-api.tfstate"), adds);
    assert_all_revoked(&w);
}

#[test]
fn sigterm_during_init_starts_no_further_terraform() {
    let w = World::new(|ex| {
        let p = ex.dir.path().join("slow-init-terraform");
        let started = ex.dir.path().join("init-started");
        let release = ex.dir.path().join("init-release");
        let log = ex.dir.path().join("launcher.log");
        write_executable(
            &p,
            &format!(
                r#"#!/usr/bin/env bash
echo "$@" >> '{log}'
for a in "$@"; do
  if [ "$a" = init ]; then
    trap '' INT
    touch '{started}'
    while [ ! -e '{release}' ]; do sleep 0.1; done
  fi
done
exec '{tf}' "$@"
"#,
                log = log.display(),
                started = started.display(),
                release = release.display(),
                tf = terraform().display()
            ),
        );
        p
    });
    let dir = w.render("dev/orders-api");
    let root = w.ex.dir.path();
    let plan = w
        .cmd("gitops-plan")
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("terraform init to run", || {
        root.join("init-started").exists()
    });
    signal(&plan, "-TERM");
    // The launcher ignores the forwarded SIGINT; the toolkit waits for it. Let init finish.
    std::fs::write(root.join("init-release"), "").unwrap();
    let out = plan.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stderr(&out).contains("interrupted by SIGTERM: terraform init"),
        "{}",
        show(&out)
    );
    let log = std::fs::read_to_string(root.join("launcher.log")).unwrap();
    assert!(log.contains("init"), "{log}");
    assert!(!log.contains("plan"), "no Terraform after the abort: {log}");
    assert!(!dir.join("plan.bin").exists());
    assert_all_revoked(&w);
}

/// A launcher for the kill points: with `KILL_AFTER=<n>` an `apply` runs Terraform in the
/// background and SIGKILLs it once `n` lines "... complete after" appeared; `KILL_AFTER=truncate`
/// or `empty` lets the apply finish, then cuts the state file (`STATE_FILE`) to half or to
/// nothing, as a kill during Terraform's final state write does. Exit 137 in every case.
fn killing_world() -> World {
    World::new(|ex| {
        let p = ex.dir.path().join("killing-terraform");
        let log = ex.dir.path().join("killed-apply.log");
        write_executable(
            &p,
            &format!(
                r#"#!/usr/bin/env bash
tf='{tf}'
is_apply=0
for a in "$@"; do [ "$a" = apply ] && is_apply=1; done
if [ "$is_apply" = 0 ] || [ -z "${{KILL_AFTER:-}}" ]; then exec "$tf" "$@"; fi
case "$KILL_AFTER" in
  truncate|empty)
    "$tf" "$@" > '{log}' 2>&1
    size=$(stat -c %s "$STATE_FILE")
    if [ "$KILL_AFTER" = empty ]; then keep=0; else keep=$((size / 2)); fi
    head -c "$keep" "$STATE_FILE" > "$STATE_FILE.cut"
    cat "$STATE_FILE.cut" > "$STATE_FILE"; rm -f "$STATE_FILE.cut"
    cat '{log}'
    exit 137;;
esac
"$tf" "$@" > '{log}' 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  if [ "$(grep -c 'complete after' '{log}')" -ge "$KILL_AFTER" ]; then kill -KILL "$pid"; break; fi
  sleep 0.01
done
wait "$pid"
cat '{log}'
exit 137
"#,
                tf = terraform().display(),
                log = log.display()
            ),
        );
        p
    })
}

/// After an apply killed somewhere: the next plan converges, or refuses with the exact recovery,
/// which, followed, converges. Returns whether it refused.
fn recovers(w: &World, dir: &Path, state: &Path, expected: usize) -> bool {
    let d = dir.to_str().unwrap();
    let p = w.run("gitops-plan", &[d, "--lock-timeout", "0"]);
    let refused = p.status.code() == Some(3);
    if refused {
        let err = stderr(&p);
        assert!(
            err.contains(&format!(
                "the Terraform state {} is damaged",
                state.display()
            )),
            "{}",
            show(&p)
        );
        assert!(
            !err.contains("could not be parsed"),
            "no raw Terraform error: {err}"
        );
        assert!(err.contains("gitops-apply.log shows"), "{err}");
        assert!(err.contains("shows, since that copy: created"), "{err}");
        // The instruction: `cp <copy> <state>` or `mv <state> <state>.damaged`.
        let line = err
            .lines()
            .find(|l| l.contains(" cp ") || l.contains(" mv "))
            .unwrap_or_else(|| panic!("no restore instruction: {err}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "cp" || *w == "mv").unwrap();
        let (from, to) = (words[at + 1], words[at + 2]);
        if words[at] == "cp" {
            assert_eq!(to, state.to_str().unwrap());
            std::fs::copy(from, to).unwrap();
        } else {
            assert_eq!(from, state.to_str().unwrap());
            std::fs::rename(from, to).unwrap();
        }
        eprintln!("refused as expected:\n{err}");
    } else {
        assert!(matches!(p.status.code(), Some(0) | Some(4)), "{}", show(&p));
    }
    converges(w, dir, expected);
    refused
}

#[test]
fn terraform_killed_at_any_point_of_an_apply_the_next_plan_converges_or_names_the_recovery() {
    let w = killing_world();
    let dir = w.render("dev/orders-api");
    let d = dir.to_str().unwrap();
    let state = w.ex.state().join("dev/orders-api.tfstate");
    let p = w.run("gitops-plan", &[d, "--json"]);
    assert_eq!(p.status.code(), Some(4), "{}", show(&p));
    let planned: serde_json::Value = serde_json::from_slice(&p.stdout).unwrap();
    let adds = planned["summary"]["add"].as_u64().unwrap() as usize;
    assert!(adds > 16, "{adds}");

    // (kill point, on an existing state: re-rendered with another build tag, every resource
    // changes its tags)
    let points = [
        ("2", false),
        ("9", false),
        ("truncate", false),
        ("16", false),
        ("empty", false),
        ("5", true),
        ("truncate", true),
        ("empty", true),
    ];
    let mut refusals = 0;
    for (i, (point, existing)) in points.iter().enumerate() {
        if *existing {
            let o = w.run(
                "gitops-render",
                &[
                    "dev/orders-api",
                    "--out",
                    d,
                    "--build-tag",
                    &format!("kill-point-{i}"),
                ],
            );
            assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        } else {
            // A fresh state: the previous round's state and its copies go.
            for e in std::fs::read_dir(state.parent().unwrap())
                .unwrap()
                .flatten()
            {
                if e.file_name()
                    .to_string_lossy()
                    .starts_with("orders-api.tfstate")
                {
                    std::fs::remove_file(e.path()).unwrap();
                }
            }
        }
        let p = w.run("gitops-plan", &[d]);
        assert_eq!(p.status.code(), Some(4), "point {point}: {}", show(&p));
        let killed = w
            .cmd("gitops-apply")
            .arg(d)
            .env("KILL_AFTER", point)
            .env("STATE_FILE", &state)
            .output()
            .unwrap();
        assert_eq!(
            killed.status.code(),
            Some(1),
            "point {point}: {}",
            show(&killed)
        );
        if recovers(&w, &dir, &state, adds) {
            refusals += 1;
        }
    }
    // A cut state file is always refused (never a raw Terraform error); kills between resources
    // leave a valid state (Terraform writes it whole) and converge.
    assert!(refusals >= 4, "{refusals} refusals");
    assert_all_revoked(&w);
}

#[test]
fn concurrent_renders_into_one_out_dir_all_succeed_and_keep_dot_terraform() {
    let w = World::new(|_| terraform());
    let dir = w.render("dev/orders-api");
    let init = gitops_tests::tf(
        &dir,
        &["init", "-backend=false", "-input=false", "-no-color"],
    );
    assert!(init.status.success(), "{}", show(&init));
    assert!(dir.join(".terraform").is_dir());
    let d = dir.to_str().unwrap();
    for round in 0..3 {
        let outs: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let w = &w;
                    s.spawn(move || {
                        w.run(
                            "gitops-render",
                            &[
                                "dev/orders-api",
                                "--out",
                                d,
                                "--build-tag",
                                &format!("r{round}-{i}"),
                            ],
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for o in &outs {
            assert_eq!(o.status.code(), Some(0), "round {round}: {}", show(o));
        }
        assert!(
            dir.join(".terraform").is_dir(),
            "round {round}: .terraform survived"
        );
        assert!(dir.join("main.tf.json").is_file());
        // No staging, trash or lock file left next to the output.
        let left: Vec<_> = std::fs::read_dir(dir.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(left.is_empty(), "round {round}: {left:?}");
    }
}
