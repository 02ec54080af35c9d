//! Golden tests: the bytes the toolkit writes and prints, pinned in `tests/golden/`.
//!
//! - `main.tf.json` and `.gitops/manifest.json` of every example deployment;
//! - `gitops-render --explain` of one deployment;
//! - `plan.md` of one plan (real Terraform, credentials from an OpenBao dev server);
//! - `--help` of every binary and subcommand.
//!
//! What differs between runs is normalised first: the temporary directory, git commit ids (the
//! example repositories are made anew by each run) and the digest of `main.tf.json` (it holds
//! state paths under the temporary directory). A difference fails with the first differing line;
//! `BLESS=1 cargo test -p gitops-tests --test golden` rewrites the files after a deliberate change
//! (review the diff with `git diff tests/golden`).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use gitops_tests::{assert_golden, bin, stderr, Example, VaultWorld};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

const CERT_RECORD: &str = "certifications/web-service/1.0.0.toml";

/// The certification the protected prod/orders-api needs to render (as in render_e2e).
fn certify_prod_package(ex: &Example) {
    ex.commit_file(
        CERT_RECORD,
        gitops_tests::web_service_record(),
        "Certify web-service 1.0.0",
    );
}

/// Replaces what a new example run changes: its temporary directory and every commit id the
/// manifest names (full and as the 12- and 8-character forms the toolkit prints).
struct Normaliser {
    tmp: String,
    commits: BTreeSet<String>,
}

/// `.gitops/manifest.json` of a rendered directory.
fn manifest(dir: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(".gitops/manifest.json")).unwrap()).unwrap()
}

impl Normaliser {
    fn new(ex: &Example) -> Normaliser {
        Normaliser {
            tmp: ex.dir.path().display().to_string(),
            commits: BTreeSet::new(),
        }
    }

    fn learn(&mut self, manifest: &Value) {
        let mut add = |v: &Value| {
            if let Some(s) = v.as_str().filter(|s| s.len() == 40) {
                self.commits.insert(s.to_owned());
            }
        };
        add(&manifest["source_commit"]);
        for m in manifest["modules"].as_object().into_iter().flatten() {
            add(&m.1["commit"]);
        }
    }

    fn apply(&self, text: &str) -> String {
        let mut out = text.replace(&self.tmp, "<tmp>");
        for c in &self.commits {
            out = out
                .replace(c.as_str(), "<commit>")
                .replace(&c[..12], "<commit:12>")
                .replace(&c[..8], "<commit:8>");
        }
        out
    }
}

#[test]
fn rendered_files_of_every_example_deployment() {
    let ex = Example::new();
    certify_prod_package(&ex);
    let out = ex.out();
    let o = ex.render(&["--all", "--out", out.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let listing: Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<String> = listing["rendered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["deployment"].as_str().unwrap().to_owned())
        .collect();
    assert!(ids.len() >= 7, "{ids:?}");
    let manifests: Vec<Value> = ids.iter().map(|id| manifest(&out.join(id))).collect();
    let mut norm = Normaliser::new(&ex);
    for m in &manifests {
        norm.learn(m);
    }
    for (id, mut manifest) in ids.iter().zip(manifests) {
        let main = std::fs::read_to_string(out.join(id).join("main.tf.json")).unwrap();
        assert_golden(&format!("render/{id}/main.tf.json"), &norm.apply(&main));
        // The digest covers main.tf.json as written, temporary paths included.
        assert!(manifest["root_module_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"));
        manifest["root_module_digest"] = "sha256:<digest of main.tf.json>".into();
        let text = serde_json::to_string_pretty(&manifest).unwrap() + "\n";
        assert_golden(&format!("render/{id}/manifest.json"), &norm.apply(&text));
    }
}

#[test]
fn explain_of_one_deployment() {
    let ex = Example::new();
    let o = ex.render(&["dev/orders-api", "--explain"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let dir = ex.out().join("dev/orders-api");
    let r = ex.render(&["dev/orders-api", "--out", dir.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let mut norm = Normaliser::new(&ex);
    norm.learn(&manifest(&dir));
    assert_golden(
        "render/explain-dev-orders-api.txt",
        &norm.apply(&String::from_utf8_lossy(&o.stdout)),
    );
}

#[test]
fn plan_md_of_one_plan() {
    let w = VaultWorld::new(|_| gitops_tests::terraform());
    let dir = w.render("dev/web-frontend");
    let o = w.run("gitops-plan", &[dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let mut norm = Normaliser::new(&w.ex);
    norm.learn(&manifest(&dir));
    let md = std::fs::read_to_string(dir.join("plan.md")).unwrap();
    assert_golden("plan/dev-web-frontend.plan.md", &norm.apply(&md));
}

/// `--help` of a binary (and of a subcommand): the text people read, exit codes included.
fn help(name: &str, sub: &[&str]) -> String {
    let o = Command::new(bin(name))
        .args(sub)
        .arg("--help")
        .env_clear()
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{name} {sub:?} --help: {}",
        stderr(&o)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn help_of_every_binary() {
    let binaries: &[(&str, &[&str])] = &[
        ("gitops-render", &["schema"]),
        ("gitops-plan", &[]),
        ("gitops-apply", &[]),
        ("gitops-certify", &["run", "status", "matrix", "revoke"]),
        ("gitops-tag", &["record", "history"]),
        ("gitops-rollback", &[]),
        ("gitops-destroy", &[]),
        ("gitops-report", &[]),
        ("gitops-review", &[]),
    ];
    for (name, subs) in binaries {
        let text = help(name, &[]);
        assert!(
            text.contains("Exit codes"),
            "{name} --help states no exit codes"
        );
        assert_golden(&format!("help/{name}.txt"), &text);
        for sub in *subs {
            assert_golden(&format!("help/{name}-{sub}.txt"), &help(name, &[sub]));
        }
    }
}

#[test]
fn golden_files_are_all_used() {
    // A golden file no test writes any more would pin nothing: list them against the tests above.
    let root = gitops_tests::toolkit_root().join("tests/golden");
    let mut stack = vec![root.clone()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p.strip_prefix(&root).unwrap().display().to_string());
            }
        }
    }
    for f in &files {
        let known = f.starts_with("render/") || f.starts_with("plan/") || f.starts_with("help/");
        assert!(known, "tests/golden/{f} belongs to no golden test");
    }
    assert!(
        files.len() >= 14 || std::env::var_os("BLESS").is_some(),
        "tests/golden holds {} files: run BLESS=1 cargo test -p gitops-tests --test golden",
        files.len()
    );
}
