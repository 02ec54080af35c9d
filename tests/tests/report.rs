//! The fleet report end to end (`gitops-report`): the example after a lifecycle with real git,
//! real Terraform and Vault (an OpenBao dev server): certify, deploy, update, drift check,
//! revoke, destroy of another deployment; then the report's JSON, Markdown and HTML.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use gitops_core::exec::lock::{holder_text, DeploymentLock};
use gitops_tests::{show, terraform, VaultWorld, WEB_FRONTEND_1_0};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

fn run(w: &VaultWorld, build: &str, bin: &str, args: &[&str]) -> Output {
    w.cmd(bin)
        .env("BUILD_TAG", build)
        .args(args)
        .output()
        .unwrap()
}

/// Runs a toolkit binary; its exit code must be one of `codes`.
fn ok(w: &VaultWorld, build: &str, bin: &str, args: &[&str], codes: &[i32]) -> Output {
    let o = run(w, build, bin, args);
    assert!(
        o.status.code().is_some_and(|c| codes.contains(&c)),
        "{bin} {args:?}: {}",
        show(&o)
    );
    o
}

/// render + plan + apply + tag.
fn deploy(w: &VaultWorld, id: &str, build: &str) {
    let dir = w.ex.out().join(id);
    let d = dir.to_str().unwrap();
    ok(w, build, "gitops-render", &[id, "--out", d], &[0]);
    ok(w, build, "gitops-plan", &[d], &[0, 4]);
    ok(w, build, "gitops-apply", &[d], &[0]);
    ok(w, build, "gitops-tag", &[d], &[0]);
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

fn row<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no row {id}"))
}

#[test]
fn the_report_of_the_example_after_deploy_update_drift_revoke_and_destroy() {
    let w = VaultWorld::new(|_| terraform());
    let state = w.ex.state();

    // A valid certification (the package of prod/orders-api and of a release below).
    ok(
        &w,
        "c",
        "gitops-certify",
        &["run", "web-service", "1.0.0"],
        &[0],
    );

    // dev/web-frontend: released at 1.0.0, updated to 1.1.0, checked for drift.
    let id = "dev/web-frontend";
    let req = "deployments/dev/web-frontend.toml";
    let at_1_1 = std::fs::read_to_string(w.ex.repo().join(req)).unwrap();
    w.ex.commit_file(req, WEB_FRONTEND_1_0, "web-frontend at 1.0.0");
    deploy(&w, id, "build-1");
    w.ex.commit_file(req, &at_1_1, "web-frontend to 1.1.0");
    deploy(&w, id, "build-2");
    let web_dir = w.ex.out().join(id);
    ok(
        &w,
        "d",
        "gitops-plan",
        &[web_dir.to_str().unwrap(), "--drift"],
        &[0],
    );
    assert!(web_dir.join("drift.json").is_file());
    // Its package revoked since (a value to escape in the reason).
    ok(
        &w,
        "r",
        "gitops-certify",
        &[
            "revoke",
            "web-service@1.1.0",
            "--reason",
            "CVE-0: <script>alert(1)</script> | bad",
        ],
        &[0],
    );

    // dev/orders-api deployed and destroyed (a tombstone, its request removed), yet a state with
    // resources where its state lives.
    deploy(&w, "dev/orders-api", "b-3");
    ok(
        &w,
        "b-4",
        "gitops-destroy",
        &["dev/orders-api", "--confirm", "orders-api"],
        &[0],
    );
    let web_state = state.join("dev/web-frontend.tfstate");
    std::fs::copy(&web_state, state.join("dev/orders-api.tfstate")).unwrap();
    // A live record without a request (recorded long ago).
    w.ex.git(&[
        "tag",
        "-a",
        "deploy/dev/legacy/1",
        "-m",
        "deploy dev/legacy: web-service@1.0.0 (profile internal-tooling)\n\ndeployment = \"dev/legacy\"\npackage = \"web-service@1.0.0\"\nprofile = \"internal-tooling\"\nbuild_tag = \"old-7\"\ntime = \"2020-01-01T00:00:00.000Z\"\n",
    ]);
    // A run holding dev/tools-db's lock, and an apply of dev/orders-db that did not complete.
    let _lock = DeploymentLock::acquire(
        &state.join("dev/tools-db.tfstate.gitops.lock"),
        Duration::ZERO,
        &holder_text("gitops-apply", "dev/tools-db"),
    )
    .unwrap();
    std::fs::write(
        state.join("dev/orders-db.tfstate.gitops-apply.log"),
        "# gitops-apply dev/orders-db: apply started\nmodule.database.terraform_data.db_instance: Creating...\n\n",
    )
    .unwrap();

    let out = w.ex.dir.path().join("report");
    let o = ok(
        &w,
        "x",
        "gitops-report",
        &[
            "--out",
            out.to_str().unwrap(),
            "--drift-dir",
            w.ex.out().to_str().unwrap(),
            "--json",
        ],
        &[0],
    );
    let answer = json(&o.stdout);
    for (key, file) in [
        ("html", "report.html"),
        ("json", "report.json"),
        ("md", "report.md"),
    ] {
        assert_eq!(Path::new(answer[key].as_str().unwrap()), out.join(file));
    }
    // Kept as a test artifact (the report of a real lifecycle, to look at).
    let keep = gitops_tests::toolkit_root().join("target/test-artifacts/report");
    std::fs::create_dir_all(&keep).unwrap();
    for f in ["report.html", "report.json", "report.md"] {
        std::fs::copy(out.join(f), keep.join(f)).unwrap();
    }
    let r = json(&std::fs::read(out.join("report.json")).unwrap());
    assert_eq!(answer["totals"], r["totals"]);
    assert_eq!(r["commit"], w.ex.git(&["rev-parse", "HEAD"]).as_str());

    // Every example deployment (dev/orders-api destroyed), and the recorded one, in promotion
    // order then by name.
    let ids: Vec<&str> = r["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "dev/legacy",
            "dev/orders-api",
            "dev/orders-db",
            "dev/tools-db",
            "dev/web-frontend",
            "staging/orders-api",
            "staging/orders-db",
            "prod/orders-api"
        ]
    );
    let envs: Vec<&str> = r["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["dev", "staging", "prod"], "certify is left out");
    assert_eq!(r["environments"][2]["protected"], true);

    let web = row(&r, id);
    assert_eq!(web["component"], "web-service");
    assert_eq!(web["profile"], "internal-tooling");
    assert_eq!(web["requested_version"], "1.1.0");
    assert_eq!(web["deployed"]["version"], "1.1.0");
    assert_eq!(web["deployed"]["record"], "deploy/dev/web-frontend/2");
    assert_eq!(web["deployed"]["sequence"], 2);
    assert_eq!(web["deployed"]["build"], "build-2");
    assert_eq!(web["deployed"]["commit"].as_str().unwrap().len(), 40);
    assert_eq!(web["pending"], false);
    assert_eq!(web["age_days"], 0);
    assert_eq!(web["state"], "read");
    let total = web["resource_total"].as_u64().unwrap();
    assert!(total > 0, "{web}");
    assert_eq!(web["resources"]["terraform_data"].as_u64(), Some(total));
    assert_eq!(web["certification"], "revoked");
    assert_eq!(web["drift"]["status"], "in_sync", "{web}");
    assert_eq!(web["drift"]["changes"], 0);
    assert!(web["drift"]["checked_at"].is_string());
    assert_eq!(web["lock"], Value::Null);
    assert_eq!(
        web["last_failure"],
        Value::Null,
        "its last apply completed: {web}"
    );

    let prod = row(&r, "prod/orders-api");
    assert_eq!(prod["requested_version"], "1.0.0");
    assert_eq!(prod["deployed"], Value::Null);
    assert_eq!(prod["pending"], true);
    assert_eq!(prod["certification"], "valid");
    assert_eq!(prod["state"], "none");
    assert_eq!(prod["drift"]["status"], "unknown");

    let destroyed = row(&r, "dev/orders-api");
    assert_eq!(destroyed["requested_version"], Value::Null);
    assert_eq!(destroyed["deployed"], Value::Null);
    assert_eq!(destroyed["resource_total"].as_u64(), Some(total));

    let legacy = row(&r, "dev/legacy");
    assert_eq!(legacy["component"], "web-service");
    assert_eq!(legacy["deployed"]["version"], "1.0.0");
    assert_eq!(legacy["deployed"]["build"], "old-7");
    assert_eq!(legacy["certification"], "valid");
    assert_eq!(legacy["state"], "none");
    assert!(legacy["age_days"].as_u64().unwrap() > 365);

    let tools = row(&r, "dev/tools-db");
    assert!(
        tools["lock"]["holder"]
            .as_str()
            .unwrap()
            .starts_with("gitops-apply (pid "),
        "{tools}"
    );
    assert_eq!(
        row(&r, "dev/orders-db")["last_failure"],
        "module.database.terraform_data.db_instance: Creating..."
    );

    let orphans: BTreeSet<(String, String)> = r["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["id"].as_str().unwrap().to_owned(),
                o["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("dev/legacy", "state_without_request"),
        ("dev/orders-api", "destroyed_with_state_left"),
        ("dev/orders-db", "request_never_applied"),
        ("dev/tools-db", "request_never_applied"),
        ("staging/orders-api", "request_never_applied"),
        ("staging/orders-db", "request_never_applied"),
        ("prod/orders-api", "request_never_applied"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(orphans, expected);
    let left = r["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == "dev/orders-api")
        .unwrap();
    assert_eq!(
        left["detail"],
        format!("destroyed/dev/orders-api/1; {total} resources in the state").as_str()
    );

    let web_service = r["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["component"] == "web-service")
        .unwrap();
    assert_eq!(web_service["cells"][0]["environment"], "dev");
    assert_eq!(
        web_service["cells"][0]["versions"],
        serde_json::json!(["1.0.0", "1.1.0"])
    );
    assert_eq!(web_service["cells"][1]["versions"], serde_json::json!([]));
    assert!(
        web_service["waiting"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["version"] == "1.1.0" && w["from"] == "dev" && w["to"] == "staging"),
        "{web_service}"
    );

    let cert = |v: &str| {
        r["certifications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["component"] == "web-service" && c["version"] == v)
            .unwrap_or_else(|| panic!("no certification row web-service@{v}: {r}"))
            .clone()
    };
    let c10 = cert("1.0.0");
    assert_eq!(c10["state"], "valid");
    assert!(c10["certified_at"].is_string());
    assert!(!c10["profiles"].as_array().unwrap().is_empty());
    // dev/legacy runs it; staging/orders-api and prod/orders-api ask for it.
    assert_eq!(c10["used_by"], 3);
    let c11 = cert("1.1.0");
    assert_eq!(c11["state"], "revoked");
    assert!(c11["revoked_reason"]
        .as_str()
        .unwrap()
        .contains("<script>alert(1)</script>"));
    assert_eq!(c11["used_by"], 1);

    assert_eq!(
        r["at_risk"].as_array().unwrap().len(),
        1,
        "{}",
        r["at_risk"]
    );
    assert_eq!(r["at_risk"][0]["id"], id);
    assert_eq!(r["at_risk"][0]["certification"], "revoked");
    assert_eq!(r["oldest"][0]["id"], "dev/legacy");
    assert_eq!(r["oldest"][1]["record"], "deploy/dev/web-frontend/2");
    let dev = &r["resources_by_environment"][0];
    assert_eq!(dev["environment"], "dev");
    assert_eq!(dev["total"].as_u64(), Some(2 * total));
    // The example's one dependency: staging/orders-api reads staging/orders-db's endpoint.
    assert_eq!(
        r["dependencies"],
        serde_json::json!([{ "from": "staging/orders-api", "to": "staging/orders-db" }])
    );

    let t = &r["totals"];
    assert_eq!(t["deployments"], 8);
    assert_eq!(t["deployed"], 2);
    assert_eq!(t["resources"].as_u64(), Some(2 * total));
    assert_eq!(t["drifted"], 0);
    assert_eq!(t["orphans"], 7);
    assert_eq!(t["at_risk"], 1);
    assert_eq!(t["locked"], 1);

    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for id in &ids {
        assert!(md.contains(&format!("| {id} |")), "{id} not in report.md");
    }
    assert!(
        md.contains("CVE-0: &lt;script&gt;alert(1)&lt;/script&gt; \\| bad"),
        "{md}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("dev/web-frontend"));
    assert!(!html.contains("<script>alert(1)</script>"), "escaped");

    // As a person sees it: the page loaded in headless Chromium, its DOM after the page's own
    // script ran, and screenshots at 1280 px and on a narrow screen (kept under target/).
    let page = keep.join("report.html");
    let dom = gitops_tests::browser::dump_dom(&page).unwrap_or_else(|e| panic!("{e}"));
    let web = dom_row(&dom, "dev/web-frontend");
    assert!(
        web.contains(r#"data-deployed="1.1.0""#) && web.contains(r#"data-requested="1.1.0""#),
        "{web}"
    );
    assert!(web.contains(r#"data-drift="in_sync""#), "{web}");
    assert!(web.contains(r#"data-state="read""#), "{web}");
    for id in &ids {
        assert!(
            dom.contains(&format!(r#"data-deployment="{id}""#)),
            "{id}: no row in the DOM"
        );
    }
    assert!(
        dom.contains(r#"data-kind="destroyed_with_state_left""#),
        "orphan row"
    );
    // The dependency graph: an inline SVG edge and its line in the list beside it.
    let edge = r#"data-edge-from="staging/orders-api" data-edge-to="staging/orders-db""#;
    assert_eq!(
        dom.matches(edge).count(),
        2,
        "the edge in the graph and in the list"
    );
    assert!(
        dom.contains(r#"data-node="staging/orders-db""#),
        "dependency node"
    );
    // The revocation reason with a <script> shows as text, and no element came of it: the page's
    // one script is its own (table sorting).
    assert!(
        dom.contains("CVE-0: &lt;script&gt;alert(1)&lt;/script&gt;"),
        "escaped in the DOM"
    );
    assert_eq!(
        dom.matches("<script").count(),
        1,
        "only the page's own script"
    );
    let shots = gitops_tests::browser::artifact_dir("test-artifacts/report");
    for (name, width, height) in [
        ("report-1280.png", 1280, 2400),
        ("report-390.png", 390, 2400),
    ] {
        gitops_tests::browser::screenshot(&page, &shots.join(name), width, height)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    // Again without --json: the totals and the three paths; the files replaced.
    let o = ok(
        &w,
        "x",
        "gitops-report",
        &["--out", out.to_str().unwrap()],
        &[0],
    );
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        text.starts_with("8 deployments (2 deployed, ") && text.contains("report.html\n"),
        "{text}"
    );

    // Invalid input: exit 2, nothing written.
    let nowhere = w.ex.dir.path().join("not-written");
    let bad =
        w.ex.cmd("gitops-report")
            .args(["--repo", w.ex.dir.path().to_str().unwrap()])
            .args(["--out", nowhere.to_str().unwrap()])
            .output()
            .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", show(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("no gitops.toml"),
        "{}",
        show(&bad)
    );
    let bad = ok(
        &w,
        "x",
        "gitops-report",
        &[
            "--out",
            nowhere.to_str().unwrap(),
            "--drift-dir",
            "/nonexistent/drift",
        ],
        &[2],
    );
    assert!(String::from_utf8_lossy(&bad.stderr)
        .contains("--drift-dir /nonexistent/drift: not a directory"));
    assert!(!nowhere.exists(), "nothing written");
}

/// The `<tr ...>` start tag of a deployment's row in a serialized DOM.
fn dom_row<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!(r#"data-deployment="{id}""#))
        .unwrap_or_else(|| panic!("no row for {id}"));
    let start = dom[..at].rfind("<tr").unwrap_or(at);
    let end = at + dom[at..].find('>').unwrap_or(0);
    &dom[start..=end]
}
