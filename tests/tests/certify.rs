//! gitops-certify end to end: real Terraform, real git, credentials from Vault (an OpenBao dev
//! server per test). One certification is shared per test where possible.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use gitops_tests::vault::{StandinConfig, TestVault};
use gitops_tests::{git_in, stderr, stdout, Example};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

struct World {
    ex: Example,
    vault: TestVault,
}

impl World {
    fn new() -> World {
        World {
            ex: Example::new(),
            vault: TestVault::start(StandinConfig::canary()),
        }
    }

    fn certify_cmd(&self) -> Command {
        let role = &self.vault.config().approle[0];
        let mut c = self.ex.cmd("gitops-certify");
        c.env("VAULT_ADDR", self.vault.addr())
            .env("VAULT_ROLE_ID", &role.role_id)
            .env("VAULT_SECRET_ID", &role.secret_id)
            .env("GITOPS_VAULT_BACKOFF_MS", "20")
            .arg("--repo")
            .arg(self.ex.repo());
        c
    }

    fn certify(&self, args: &[&str]) -> Output {
        self.certify_cmd().args(args).output().unwrap()
    }

    fn render(&self, args: &[&str]) -> Output {
        self.ex.render(args)
    }
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// Every `*.tfstate` under `dir` holds no resources.
fn assert_no_resources(dir: &Path) {
    let mut stack = vec![dir.to_path_buf()];
    let mut states = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "tfstate") {
                states += 1;
                let v = json(&std::fs::read(&p).unwrap());
                let n = v["resources"].as_array().map_or(0, Vec::len);
                assert_eq!(n, 0, "{} still holds {n} resources", p.display());
            }
        }
    }
    assert!(states > 0, "no state under {}", dir.display());
}

#[test]
fn certify_records_tags_is_incremental_and_protected_environments_enforce_it() {
    let w = World::new();
    let work = w.ex.dir.path().join("certify-work");
    let junit = w.ex.dir.path().join("reports/certify.xml");
    let summary = w.ex.dir.path().join("reports/certify.md");

    // Before certification: prod refuses, dev warns.
    let prod_out = w.ex.out().join("prod/orders-api");
    let o = w.render(&["prod/orders-api", "--out", prod_out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("web-service@1.0.0 is not certified"),
        "{}",
        stderr(&o)
    );
    assert!(!prod_out.exists(), "nothing written");
    let o = w.render(&[
        "dev/orders-api",
        "--out",
        w.ex.out().join("dev").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning") && stderr(&o).contains("not certified"));

    // Certify: record + tag, committed; the sandbox is empty afterwards.
    let head_before = w.ex.git(&["rev-parse", "HEAD"]);
    let o = w.certify(&[
        "run",
        "web-service",
        "1.0.0",
        "--json",
        "--by",
        "alice",
        "--build-tag",
        "ci-42",
        "--work-dir",
        work.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--summary",
        summary.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("high-traffic-api/certify: apply"),
        "progress lines"
    );
    let v = json(&o.stdout);
    assert_eq!(v["result"], "certified");
    assert_eq!(v["tag"], "certified/web-service/1.0.0");
    let record =
        std::fs::read_to_string(w.ex.repo().join("certifications/web-service/1.0.0.toml")).unwrap();
    for want in [
        "package_digest = \"sha256:",
        "terraform_version = ",
        "toolkit_version = ",
        "build_tag = \"ci-42\"",
        "certified_by = \"alice\"",
        "profiles = [\"high-traffic-api\", \"internal-tooling\"]",
        "clouds = [\"sandbox\"]",
        "environments = [\"certify\"]",
        "[[modules]]",
        "name = \"network\"",
        "[[steps]]",
        "step = \"destroy\"",
        "started = \"20",
    ] {
        assert!(record.contains(want), "record lacks {want}:\n{record}");
    }
    let network_commit = git_in(
        &w.ex.modules().join("network"),
        &["rev-parse", "v1.0.0^{commit}"],
    );
    assert!(record.contains(&network_commit), "commit SHAs recorded");
    assert!(!record.contains("result = \"failed\"") && !record.contains("result = \"skipped\""));
    assert_eq!(
        w.ex.git(&["log", "-1", "--format=%s"]),
        "Certify web-service 1.0.0"
    );
    assert_eq!(w.ex.git(&["rev-parse", "HEAD~1"]), head_before);
    assert_eq!(w.ex.git(&["status", "--porcelain"]), "", "work tree clean");
    assert_eq!(
        w.ex.git(&["cat-file", "-t", "certified/web-service/1.0.0"]),
        "tag",
        "an annotated tag"
    );
    assert_eq!(
        w.ex.git(&["rev-parse", "certified/web-service/1.0.0^{commit}"]),
        w.ex.git(&["rev-parse", "HEAD"])
    );
    assert_no_resources(&work.join("state"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("failures=\"0\""), "{xml}");
    for case in [
        "name=\"apply\"",
        "name=\"verify\"",
        "name=\"destroy\"",
        "name=\"test\"",
        "name=\"policy\"",
    ] {
        assert!(xml.contains(case), "{case} in {xml}");
    }
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("CERTIFIED"), "{md}");
    // The plan step quotes what the plan does: a fresh certification environment creates all.
    assert!(
        md.contains("| plan | passed: ")
            && md.contains(" to add, 0 to change, 0 to destroy, 0 to replace |"),
        "{md}"
    );

    // Incremental: unchanged package -> no-op, no new commit.
    let head = w.ex.git(&["rev-parse", "HEAD"]);
    let o = w.certify(&["run", "web-service", "1.0.0"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("already certified") && stderr(&o).contains("--force"),
        "{}",
        stderr(&o)
    );
    assert_eq!(w.ex.git(&["rev-parse", "HEAD"]), head);

    // Certified: prod renders, without a warning.
    let o = w.render(&["prod/orders-api", "--out", prod_out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));

    // Matrix and status.
    let o = w.certify(&["matrix", "web-service", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let m = json(&o.stdout);
    assert_eq!(m[0]["version"], "1.0.0");
    assert_eq!(m[0]["modules"]["network"]["ref"], "v1.0.0");
    let o = w.certify(&["matrix"]);
    assert!(
        stdout(&o).contains("web-service") && stdout(&o).contains("v1.0.0 ("),
        "{}",
        stdout(&o)
    );
    let status = |w: &World| -> Value {
        let o = w.certify(&["status", "--json"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        json(&o.stdout)
    };
    let find = |s: &Value, pkg: &str| -> Value {
        s.as_array()
            .unwrap()
            .iter()
            .find(|r| {
                format!(
                    "{}@{}",
                    r["component"].as_str().unwrap(),
                    r["version"].as_str().unwrap()
                ) == pkg
            })
            .cloned()
            .unwrap()
    };
    let s = status(&w);
    assert_eq!(find(&s, "web-service@1.0.0")["state"], "certified");
    assert_eq!(find(&s, "web-service@1.1.0")["state"], "uncertified");
    assert!(find(&s, "web-service@1.0.0")["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["deployment"] == "prod/orders-api" && d["protected"] == true));

    // A module tag moves after certification: prod refused, naming the module.
    let net = w.ex.modules().join("network");
    let original = git_in(&net, &["rev-parse", "v1.0.0^{commit}"]);
    git_in(&net, &["checkout", "-q", "v1.0.0"]);
    std::fs::write(net.join("moved.tf"), "# changed after certification\n").unwrap();
    git_in(&net, &["add", "moved.tf"]);
    git_in(&net, &["commit", "-q", "-m", "sneaky change"]);
    git_in(&net, &["tag", "-f", "-a", "v1.0.0", "-m", "moved"]);
    let o = w.render(&[
        "prod/orders-api",
        "--out",
        prod_out.to_str().unwrap(),
        "--refresh",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("stale")
            && err.contains("module network moved")
            && err.contains(&original[..8]),
        "{err}"
    );
    assert_eq!(find(&status(&w), "web-service@1.0.0")["state"], "stale");
    // ... and back: the record matches again.
    git_in(
        &net,
        &["tag", "-f", "-a", "v1.0.0", &original, "-m", "restored"],
    );
    let o = w.render(&[
        "prod/orders-api",
        "--out",
        prod_out.to_str().unwrap(),
        "--refresh",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // Revoke a module version: prod refused, dev warned, certifying it again refused.
    let o = w.certify(&[
        "revoke",
        "network@1.0.0",
        "--reason",
        "CVE-2026-0001: open ingress",
        "--by",
        "bob",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("web-service@1.0.0") && stdout(&o).contains("data-store@1.0.0"),
        "{}",
        stdout(&o)
    );
    let revoked = std::fs::read_to_string(w.ex.repo().join("certifications/revoked.toml")).unwrap();
    assert!(
        revoked.contains("kind = \"module\"") && revoked.contains("by = \"bob\""),
        "{revoked}"
    );
    assert_eq!(w.ex.git(&["status", "--porcelain"]), "");
    let o = w.render(&["prod/orders-api", "--out", prod_out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("revoked")
            && stderr(&o).contains("network@1.0.0")
            && stderr(&o).contains("CVE-2026-0001"),
        "{}",
        stderr(&o)
    );
    let o = w.render(&[
        "dev/orders-api",
        "--out",
        w.ex.out().join("dev").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning") && stderr(&o).contains("revoked"),
        "{}",
        stderr(&o)
    );
    assert_eq!(find(&status(&w), "web-service@1.0.0")["state"], "revoked");
    let o = w.certify(&["run", "web-service", "1.0.0", "--force"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let o = w.certify(&["revoke", "network@v1.0.0", "--reason", "again"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("already revoked"), "{}", stdout(&o));
}

#[test]
fn failed_certifications_report_in_junit_write_no_record_and_leave_nothing_behind() {
    let w = World::new();
    // An input only load-balancer v1.1.0 has, with load-balancer pinned at v1.0.0.
    let pkg = std::fs::read_to_string(w.ex.repo().join("packages/web-service/1.0.0.toml")).unwrap();
    let incompatible = pkg.replace(
        "health_check_path = \"/healthz\"",
        "health_check_path = \"/healthz\"\ntls_policy = \"ELBSecurityPolicy-TLS13-1-2-2021-06\"",
    );
    assert_ne!(pkg, incompatible);
    w.ex.commit_file(
        "packages/web-service/1.2.0.toml",
        &incompatible,
        "web-service 1.2.0",
    );
    // A module version whose own tests fail.
    let compute = w.ex.modules().join("compute");
    git_in(&compute, &["checkout", "-q", "v1.0.0"]);
    let test = compute.join("tests/compute.tftest.hcl");
    let text = std::fs::read_to_string(&test).unwrap();
    std::fs::write(&test, format!("{text}\nrun \"always_fails\" {{\n  command = plan\n  assert {{\n    condition     = var.desired_capacity == -1\n    error_message = \"deliberately broken\"\n  }}\n}}\n")).unwrap();
    git_in(&compute, &["commit", "-q", "-am", "broken test"]);
    git_in(&compute, &["tag", "-a", "v1.0.1", "-m", "compute v1.0.1"]);
    w.ex.commit_file(
        "packages/web-service/1.3.0.toml",
        &pkg.replace(
            "repo = \"compute\"\nref = \"v1.0.0\"",
            "repo = \"compute\"\nref = \"v1.0.1\"",
        ),
        "web-service 1.3.0",
    );
    let head = w.ex.git(&["rev-parse", "HEAD"]);

    for (version, step, fragment) in [
        ("1.2.0", "render", "tls_policy"),
        ("1.3.0", "test", "deliberately broken"),
    ] {
        let work = w.ex.dir.path().join(format!("work-{version}"));
        let junit = w.ex.dir.path().join(format!("junit-{version}.xml"));
        let o = w.certify(&[
            "run",
            "web-service",
            version,
            "--work-dir",
            work.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ]);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{version}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        assert!(
            stdout(&o).contains("FAILED") && stdout(&o).contains("no record"),
            "{}",
            stdout(&o)
        );
        let xml = std::fs::read_to_string(&junit).unwrap();
        assert!(
            !xml.contains("failures=\"0\"")
                || xml.matches("failures=\"0\"").count() < xml.matches("<testsuite ").count(),
            "{xml}"
        );
        let failed_case = xml
            .split("<testcase ")
            .find(|c| c.contains("<failure"))
            .unwrap_or_else(|| panic!("no failed case: {xml}"));
        assert!(
            failed_case.contains(&format!("name=\"{step}\"")),
            "{failed_case}"
        );
        assert!(xml.contains(fragment), "{fragment} in {xml}");
        assert!(
            !w.ex
                .repo()
                .join(format!("certifications/web-service/{version}.toml"))
                .exists(),
            "no record"
        );
        // Nothing left behind: no state holds a resource.
        let state = work.join("state");
        if state.exists() {
            assert_no_resources(&state);
        }
    }
    assert_eq!(w.ex.git(&["rev-parse", "HEAD"]), head, "nothing committed");
    assert_eq!(w.ex.git(&["tag", "-l", "certified/*"]), "");

    // A missing tag is invalid input, naming the package file and key.
    w.ex.commit_file(
        "packages/web-service/1.4.0.toml",
        &pkg.replace(
            "repo = \"network\"\nref = \"v1.0.0\"",
            "repo = \"network\"\nref = \"v9.9.9\"",
        ),
        "web-service 1.4.0",
    );
    let o = w.certify(&["run", "web-service", "1.4.0"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("packages/web-service/1.4.0.toml")
            && stderr(&o).contains("modules.network.ref")
            && stderr(&o).contains("v9.9.9"),
        "{}",
        stderr(&o)
    );
    let o = w.certify(&["run", "web-service", "7.0.0"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
