//! The review of a change request (issue 16) with real git, real Terraform and Vault (an OpenBao
//! dev server of the test's own): render-based change detection, plans of a branch against the
//! applied state, `gitops-destroy --plan-only`, one review summary with its conclusion, the
//! review record, and after the merge "as reviewed" or what changed since the review.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use gitops_tests::{show, snapshot, stdout, terraform, Example, VaultWorld};
use serde_json::{json, Value};
use std::path::Path;

fn json_of(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(o)))
}

/// `gitops-plan --json` of `id` rendered at HEAD (exit 0 or 4).
fn plan(w: &VaultWorld, id: &str, build: &str) -> Value {
    let dir = w.render(id);
    let o = w
        .cmd("gitops-plan")
        .env("BUILD_TAG", build)
        .args(["--json", "--"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        matches!(o.status.code(), Some(0 | 4)),
        "plan {id}: {}",
        show(&o)
    );
    json_of(&o)
}

fn set_grace(w: &VaultWorld, n: u32, message: &str) {
    let path = w.ex.repo().join("deployments/dev/web-frontend.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("health_check_grace_seconds"))
        .unwrap()
        .to_owned();
    let text = text.replace(&line, &format!("health_check_grace_seconds = {n}"));
    w.ex.commit_file("deployments/dev/web-frontend.toml", &text, message);
}

fn write(dir: &Path, name: &str, v: &Value) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

#[test]
fn a_pull_request_is_reviewed_then_applied_as_reviewed_or_with_what_changed_named() {
    let w = VaultWorld::new(|_| terraform());
    let ex = &w.ex;
    w.deploy("dev/web-frontend", "main-1");
    w.deploy("dev/tools-db", "main-1");
    let states = || -> Vec<(String, String)> {
        snapshot(&ex.state())
            .into_iter()
            .filter(|(f, _)| f.ends_with(".tfstate") && !f.starts_with("work/"))
            .collect()
    };
    let state_before = states();
    assert_eq!(state_before.len(), 2, "{state_before:?}");

    // The pull request: web-frontend's health check grace grows, a comment in orders-db, tools-db deleted.
    ex.git(&["checkout", "-q", "-b", "pr-1"]);
    set_grace(&w, 120, "web-frontend: a longer health check grace");
    let db = ex.repo().join("deployments/dev/orders-db.toml");
    let commented = format!(
        "# reviewed by the data team\n{}",
        std::fs::read_to_string(&db).unwrap()
    );
    ex.commit_file(
        "deployments/dev/orders-db.toml",
        &commented,
        "orders-db: a comment",
    );
    ex.git(&["rm", "-q", "deployments/dev/tools-db.toml"]);
    ex.git(&["commit", "-q", "-m", "tools-db is no longer needed"]);
    let base = ex.git(&["merge-base", "HEAD", "main"]);

    // By render: the comment changes nothing Terraform sees; by path it is a changed request.
    let o = w.run(
        "gitops-render",
        &["--changed-since", &base, "--by-render", "--list", "--json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let by_render = json_of(&o);
    assert_eq!(
        by_render["render"],
        json!({"dev/web-frontend": [format!("rendered root module differs from {}", &base[..12])]})
    );
    assert_eq!(by_render["destroy"], json!(["dev/tools-db"]));
    let by_path = json_of(&w.run(
        "gitops-render",
        &["--changed-since", &base, "--list", "--json"],
    ));
    assert!(
        by_path["render"].get("dev/orders-db").is_some(),
        "{by_path}"
    );

    // Plans only: one per affected deployment, a destroy plan, and a refused protected one.
    let from = ex.dir.path().join("review-in");
    let planned = plan(&w, "dev/web-frontend", "pr-1-1");
    assert_eq!(planned["review"]["status"], "not reviewed", "{planned}");
    assert!(!planned["fingerprint"]["resources"]
        .as_array()
        .unwrap()
        .is_empty());
    write(&from, "dev-web-frontend.json", &planned);
    let o = w.run(
        "gitops-destroy",
        &["--plan-only", "--json", "--", "dev/tools-db"],
    );
    assert_eq!(o.status.code(), Some(4), "{}", show(&o));
    let destroy = json_of(&o);
    assert_eq!(destroy["destroy"], true);
    assert!(
        destroy["summary"]["destroy"].as_u64().unwrap() > 0,
        "{destroy}"
    );
    write(&from, "dev-tools-db.json", &destroy);
    // A protected deployment with an uncertified package: the render refuses, the failed
    // binary's --json output is the row's error entry.
    let o = w.run(
        "gitops-render",
        &[
            "prod/orders-api",
            "--out",
            &ex.out().join("prod/orders-api").to_string_lossy(),
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    let mut refused = json_of(&o);
    assert_eq!(refused["status"], "refused", "{refused}");
    refused["deployment"] = json!("prod/orders-api");
    refused["action"] = json!("deploy");
    write(&from.join("nested"), "prod-orders-api.json", &refused);

    // Nothing was applied or destroyed by the plans.
    assert_eq!(states(), state_before, "a review plan changed the state");

    let out = ex.dir.path().join("review");
    let o = w
        .cmd("gitops-review")
        .env("BUILD_TAG", "pr-1-1")
        .args([
            "--from",
            &from.to_string_lossy(),
            "--out",
            &out.to_string_lossy(),
        ])
        .args([
            "--base", &base, "--change", "1", "--target", "main", "--record", "--json",
        ])
        .args([
            "--artifact-url",
            "https://ci.example/job/PR-1/1/artifact/review/review.md",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let review = json_of(&o);
    assert_eq!(review["conclusion"], "FAILURE", "{review}");
    let rows = review["review"]["rows"].as_array().unwrap();
    let order: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["deployment"].as_str().unwrap(),
                r["status"].as_str().unwrap(),
            )
        })
        .collect();
    // Data loss first (the database of tools-db), then the refusal, then the rest.
    assert_eq!(
        order,
        [
            ("dev/tools-db", "changes"),
            ("prod/orders-api", "refused"),
            ("dev/web-frontend", "changes")
        ]
    );
    assert!(
        !rows[0]["data_loss"].as_array().unwrap().is_empty(),
        "{}",
        rows[0]
    );
    let md = std::fs::read_to_string(out.join("review.md")).unwrap();
    assert!(
        md.contains("> **Attention: stateful resources are destroyed or replaced (data loss):**"),
        "{md}"
    );
    assert!(
        md.contains("> - `prod/orders-api` (deploy): refused: "),
        "{md}"
    );
    assert_eq!(
        review["text"].as_str().unwrap(),
        md,
        "the Checks text is review.md when it fits"
    );
    let html = std::fs::read_to_string(out.join("review.html")).unwrap();
    assert!(html.contains(r#"<body data-conclusion="FAILURE">"#));
    assert!(html.contains(
        r#"data-deployment="dev/web-frontend" data-action="deploy" data-status="changes""#
    ));
    // As a person sees it: the page in headless Chromium (kept under target/ with a screenshot).
    let keep = gitops_tests::browser::artifact_dir("test-artifacts/review");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::copy(out.join("review.html"), keep.join("review.html")).unwrap();
    std::fs::copy(out.join("review.md"), keep.join("review.md")).unwrap();
    let dom = gitops_tests::browser::dump_dom(&keep.join("review.html"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        dom.contains(r#"data-deployment="dev/tools-db" data-action="destroy""#),
        "{dom}"
    );
    assert!(!dom.contains("<script"), "the review page has no script");
    gitops_tests::browser::screenshot(
        &keep.join("review.html"),
        &keep.join("review-1280.png"),
        1280,
        1600,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let head = ex.git(&["rev-parse", "HEAD"]);
    assert_eq!(review["record"], format!("review/{head}/1"));
    let record = ex.git(&[
        "tag",
        "-l",
        "--format=%(contents)",
        &format!("review/{head}/1"),
    ]);
    assert!(record.starts_with("review of "), "{record}");
    assert!(record.contains("\"dev/web-frontend\""), "{record}");

    // The merge (a merge commit: the reviewed head is its second parent): the same plan.
    ex.git(&["checkout", "-q", "main"]);
    ex.git(&[
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge pull request #1",
        "pr-1",
    ]);
    let merged = plan(&w, "dev/web-frontend", "main-2");
    assert_eq!(
        merged["review"]["status"], "as reviewed",
        "{}",
        merged["review"]
    );
    assert_eq!(merged["review"]["record"], format!("review/{head}/1"));
    assert_eq!(merged["fingerprint"], planned["fingerprint"]);
    let o = w.run(
        "gitops-destroy",
        &["--plan-only", "--json", "--", "dev/tools-db"],
    );
    assert_eq!(
        json_of(&o)["review"]["status"],
        "as reviewed",
        "{}",
        show(&o)
    );

    // A second pull request, reviewed; then another change lands on main first.
    ex.git(&["checkout", "-q", "-b", "pr-2"]);
    set_grace(&w, 150, "web-frontend: longer still");
    let from2 = ex.dir.path().join("review-in-2");
    write(
        &from2,
        "dev-web-frontend.json",
        &plan(&w, "dev/web-frontend", "pr-2-1"),
    );
    let o = w
        .cmd("gitops-review")
        .args([
            "--from",
            &from2.to_string_lossy(),
            "--out",
            &ex.dir.path().join("review-2").to_string_lossy(),
            "--record",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(json_of(&o)["conclusion"], "SUCCESS", "{}", show(&o));
    ex.git(&["checkout", "-q", "main"]);
    let env = ex.repo().join("environments/dev.toml");
    let text = std::fs::read_to_string(&env)
        .unwrap()
        .replace("slack:#dev-alerts", "slack:#dev-alerts-2");
    ex.commit_file(
        "environments/dev.toml",
        &text,
        "dev alerts go to another channel",
    );
    ex.git(&[
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge pull request #2",
        "pr-2",
    ]);
    let moved = plan(&w, "dev/web-frontend", "main-3");
    assert_eq!(
        moved["review"]["status"], "changed since review",
        "{}",
        moved["review"]
    );
    let differences = moved["review"]["differences"].as_array().unwrap();
    assert!(
        differences.iter().any(|d| {
            let d = d.as_str().unwrap();
            d.starts_with("+ update module.monitoring.") && d.ends_with(" (not in the review)")
        }),
        "{differences:?}"
    );
}

#[test]
fn review_input_that_is_no_plan_report_is_exit_2_naming_the_file_and_key() {
    let ex = Example::new();
    let from = ex.dir.path().join("in");
    let out = ex.dir.path().join("review");
    for (name, v, key) in [
        ("a.json", json!({"summary": {}}), "deployment"),
        (
            "b.json",
            json!({"deployment": "nowhere/x", "summary": {"add": 0, "change": 0, "destroy": 0, "replace": 0}}),
            "deployment",
        ),
        (
            "c.json",
            json!({"deployment": "dev/web-frontend", "resources": []}),
            "summary",
        ),
    ] {
        let _ = std::fs::remove_dir_all(&from);
        write(&from, name, &v);
        let o = ex
            .cmd("gitops-review")
            .args([
                "--repo",
                &ex.repo().to_string_lossy(),
                "--from",
                &from.to_string_lossy(),
                "--out",
                &out.to_string_lossy(),
            ])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{name}: {}", show(&o));
        let err = gitops_tests::stderr(&o);
        assert!(
            err.contains(&from.join(name).display().to_string()),
            "{name}: {err}"
        );
        assert!(err.contains(key), "{name}: {err}");
        assert!(!out.exists(), "{name}: something was written");
    }
    // With --json the failure is also on stdout, for the caller that reads only stdout.
    let o = ex
        .cmd("gitops-review")
        .args([
            "--repo",
            &ex.repo().to_string_lossy(),
            "--from",
            &from.to_string_lossy(),
            "--json",
        ])
        .output()
        .unwrap();
    let v = json_of(&o);
    assert_eq!(
        (v["exit_code"].as_u64(), v["status"].as_str()),
        (Some(2), Some("invalid")),
        "{v}"
    );
    assert!(stdout(&o).contains("summary"));
}
