//! `fleetgen --deployed` (the fleet of benchmark B9): every request of the fleet has a deployment
//! record that the toolkit's own parser reads (`gitops_core`'s `history`, `gitops-tag history`),
//! on the commit whose request it digests, and a Terraform state where the local backend puts it;
//! the same seed gives the same tags; recording twice is refused.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use gitops_core::exec::git::GitRepo;
use gitops_core::model::sot::{DeploymentId, SourceRepo};
use gitops_core::records::deployment::{history, request_digest};
use gitops_tests::{bin, git_in, show};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn fleetgen(args: &[&str]) -> Output {
    Command::new(bin("fleetgen"))
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap()
}

fn generate(dir: &Path) {
    let out = dir.join("fleet");
    let o = fleetgen(&[
        "--out",
        out.to_str().unwrap(),
        "--deployments",
        "20",
        "--deployed",
        "--state",
        dir.join("state").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "fleetgen: {}", show(&o));
}

#[test]
fn fleetgen_records_a_deployment_of_every_request_that_the_toolkit_parses() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let repo = dir.path().join("fleet/repo");
    let requests = git_in(
        &repo,
        &[
            "ls-tree",
            "-r",
            "--name-only",
            "bench/base",
            "--",
            "deployments/",
        ],
    );
    let requests: Vec<&str> = requests.lines().collect();
    assert_eq!(requests.len(), 20, "{requests:?}");
    assert_eq!(
        git_in(&repo, &["tag", "-l", "deploy/*"]).lines().count(),
        20
    );
    // Packed, as in a clone: no loose tag refs under deploy/.
    assert!(!repo.join(".git/refs/tags/deploy").exists());

    let sot = SourceRepo::open(&repo).unwrap();
    let git = GitRepo::open(&sot).unwrap();
    for path in &requests {
        let (env, name) = path
            .strip_prefix("deployments/")
            .and_then(|p| p.strip_suffix(".toml"))
            .and_then(|p| p.split_once('/'))
            .unwrap();
        let id = DeploymentId::parse(&format!("{env}/{name}")).unwrap();
        let records = history(&git, &id).unwrap();
        assert_eq!(records.len(), 1, "{id}: {records:?}");
        let r = &records[0];
        assert_eq!(r.tag, format!("deploy/{id}/1"));
        assert_eq!(r.meta.deployment, id.to_string());
        assert_eq!(r.commit, r.meta.source_commit, "{id}: tagged commit");
        assert!(!r.meta.destroyed && r.meta.time.ends_with('Z'), "{r:?}");
        // The request it records: its digest is of the request at that commit.
        let request = git_in(&repo, &["show", &format!("{}:{path}", r.commit)]);
        let text = format!("{request}\n");
        assert_eq!(
            r.meta.request_sha256,
            request_digest(text.as_bytes()),
            "{id}"
        );
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{key} = \"")))
                .map(|v| v.trim_end_matches('"').to_owned())
                .unwrap()
        };
        assert_eq!(
            r.meta.package,
            format!("{}@{}", field("component"), field("package"))
        );
        assert_eq!(r.meta.profile, field("profile"));
        // Its state, where the fleet's local backend puts it.
        let state = dir.path().join(format!("state/{env}/{name}.tfstate"));
        let state: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
        assert!(state["lineage"].is_string());
        let resources = state["resources"].as_array().unwrap();
        assert!(resources.len() >= 10, "{id}: {} resources", resources.len());
        assert!(resources.iter().all(|r| r["mode"] == "managed"));
    }

    // gitops-tag history reads one the same way.
    let first = requests[0]
        .strip_prefix("deployments/")
        .and_then(|p| p.strip_suffix(".toml"))
        .unwrap();
    let o = Command::new(bin("gitops-tag"))
        .args(["--repo", repo.to_str().unwrap(), "history", first, "--json"])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(o.status.success(), "gitops-tag history: {}", show(&o));
    let h: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(h["live"], true, "{h}");
    assert_eq!(h["records"][0]["tag"], format!("deploy/{first}/1"));
    assert_eq!(h["records"][0]["seq"], 1);

    // Recording again is refused, and nothing changes.
    let tags = git_in(&repo, &["show-ref", "--tags"]);
    let o = fleetgen(&[
        "--out",
        dir.path().join("fleet").to_str().unwrap(),
        "--add-records",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    assert_eq!(git_in(&repo, &["show-ref", "--tags"]), tags);

    // Deterministic: the same seed gives the same tag objects.
    let again = tempfile::tempdir().unwrap();
    generate(again.path());
    assert_eq!(
        git_in(&again.path().join("fleet/repo"), &["show-ref", "--tags"]),
        tags
    );
}

#[test]
fn fleetgen_refuses_bad_arguments_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f");
    let out = out.to_str().unwrap();
    for args in [
        vec!["--out", out, "--state", "/nonexistent/state"],
        vec!["--out", out, "--deployed", "--add-records"],
        vec!["--out", out, "--add-records"],
        vec!["--out", out, "--deployments", "many"],
    ] {
        let o = fleetgen(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", show(&o));
    }
    assert!(!dir.path().join("f").exists());
}
