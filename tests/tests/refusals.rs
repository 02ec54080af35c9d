//! Nothing is written before a refusal: the checks that can refuse run before the first write, and
//! a refusal names what happened. gitops-rollback on a detached HEAD (with and without a remote),
//! and a plan another gitops-apply consumed while this one waited on the lock.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use gitops_tests::{git_in, show, stderr, terraform, VaultWorld, WEB_FRONTEND_1_0};
use std::path::Path;
use std::process::Output;

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

fn run(w: &VaultWorld, bin: &str, args: &[&str]) -> Output {
    w.run(bin, args)
}

/// render + plan + apply + tag of `id`.
fn deploy(w: &VaultWorld, id: &str) {
    let dir = w.render(id);
    let d = dir.to_str().unwrap();
    let p = run(w, "gitops-plan", &[d]);
    assert!(matches!(p.status.code(), Some(0 | 4)), "plan: {}", show(&p));
    for bin in ["gitops-apply", "gitops-tag"] {
        let o = run(w, bin, &[d]);
        assert_eq!(o.status.code(), Some(0), "{bin}: {}", show(&o));
    }
}

/// What a refused rollback must leave as it was: HEAD, the branches, the work tree.
fn repo_state(repo: &Path) -> (String, String, String) {
    (
        git_in(repo, &["rev-parse", "HEAD"]),
        git_in(repo, &["for-each-ref", "--format=%(refname) %(objectname)"]),
        git_in(repo, &["status", "--porcelain", "--ignored"]),
    )
}

#[test]
fn rollback_on_a_detached_head_is_refused_before_anything_is_written() {
    let w = VaultWorld::new(|_| terraform());
    let (id, req) = ("dev/web-frontend", "deployments/dev/web-frontend.toml");
    let repo = w.ex.repo();
    let at_1_1 = std::fs::read_to_string(repo.join(req)).unwrap();
    w.ex.commit_file(req, WEB_FRONTEND_1_0, "web-frontend at 1.0.0");
    deploy(&w, id);
    w.ex.commit_file(req, &at_1_1, "web-frontend to 1.1.0");
    deploy(&w, id);

    // With a remote (the rollback would commit, then fail to push a detached HEAD) and without
    // one (it would commit off-branch and exit 0): refused, nothing changed.
    let origin = w.ex.dir.path().join("origin.git");
    git_in(
        w.ex.dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            repo.to_str().unwrap(),
            origin.to_str().unwrap(),
        ],
    );
    w.ex.git(&["remote", "add", "origin", origin.to_str().unwrap()]);
    w.ex.git(&["checkout", "-q", "--detach"]);
    let out = w.ex.out().join("rollback");
    for remote in [true, false] {
        if !remote {
            w.ex.git(&["remote", "remove", "origin"]);
        }
        let before = repo_state(&repo);
        let origin_before = git_in(&origin, &["rev-parse", "main"]);
        let o = run(
            &w,
            "gitops-rollback",
            &[id, "--to", "previous", "--out", out.to_str().unwrap()],
        );
        assert_eq!(o.status.code(), Some(2), "remote {remote}: {}", show(&o));
        for part in [
            "HEAD is detached",
            "check out a branch first",
            "nothing was changed",
        ] {
            assert!(stderr(&o).contains(part), "{part:?}: {}", show(&o));
        }
        assert_eq!(
            repo_state(&repo),
            before,
            "remote {remote}: the repo is unchanged"
        );
        assert_eq!(git_in(&origin, &["rev-parse", "main"]), origin_before);
        assert!(!out.exists(), "nothing rendered or planned");
    }

    // On the branch, the same rollback goes through: the refusal was the detached HEAD.
    w.ex.git(&["checkout", "-q", "main"]);
    let head = w.ex.git(&["rev-parse", "HEAD"]);
    let o = run(
        &w,
        "gitops-rollback",
        &[
            id,
            "--to",
            "previous",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(json(&o.stdout)["committed"], true);
    assert_eq!(w.ex.git(&["rev-parse", "HEAD~1"]), head);
}

#[test]
fn a_plan_consumed_by_another_apply_is_a_refusal_naming_it() {
    let w = VaultWorld::new(|_| terraform());
    let dir = w.render("dev/orders-api");
    let d = dir.to_str().unwrap();
    let p = run(&w, "gitops-plan", &[d, "--json"]);
    assert_eq!(p.status.code(), Some(4), "{}", show(&p));
    let digest = json(&p.stdout)["digest"].as_str().unwrap().to_owned();
    assert!(!digest.is_empty());

    // Two applies of the one plan: the second waits on the lock (generously), then finds the
    // plan applied by the first.
    let (a, b) = std::thread::scope(|s| {
        let one = s.spawn(|| run(&w, "gitops-apply", &[d, "--lock-timeout", "600"]));
        let two = s.spawn(|| run(&w, "gitops-apply", &[d, "--lock-timeout", "600"]));
        (one.join().unwrap(), two.join().unwrap())
    });
    let (won, lost) = match [a.status.code(), b.status.code()] {
        [Some(0), Some(3)] => (&a, &b),
        [Some(3), Some(0)] => (&b, &a),
        _ => panic!("expected one 0 and one 3:\n{}\n{}", show(&a), show(&b)),
    };
    let outputs = json(&std::fs::read(dir.join("outputs.json")).unwrap());
    assert_eq!(outputs["plan_digest"], digest.as_str(), "{}", show(won));
    let at = outputs["applied_at"].as_str().unwrap();
    let refusal = format!("the plan {digest} was already applied by another run at {at}");
    assert!(
        stderr(lost).contains(&refusal),
        "{refusal:?}: {}",
        show(lost)
    );
    assert!(stderr(lost).contains("plan again"), "{}", show(lost));

    // Again, later: the same refusal, and outputs.json is untouched.
    let again = run(&w, "gitops-apply", &[d]);
    assert_eq!(again.status.code(), Some(3), "{}", show(&again));
    assert!(stderr(&again).contains(&refusal), "{}", show(&again));
    assert_eq!(
        json(&std::fs::read(dir.join("outputs.json")).unwrap()),
        outputs
    );

    // A new plan whose plan.bin is missing, and that nothing applied: still "run gitops-plan".
    let p = run(&w, "gitops-plan", &[d]);
    assert_eq!(p.status.code(), Some(0), "{}", show(&p));
    std::fs::remove_file(dir.join("plan.bin")).unwrap();
    let o = run(&w, "gitops-apply", &[d]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        stderr(&o).contains("no plan.bin: run gitops-plan first"),
        "{}",
        show(&o)
    );
}
