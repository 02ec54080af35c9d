//! Drift checks plan the deployment *as recorded* (docs/lifecycle.md, "Drift"), and plans tell
//! tag-only updates from real changes: end to end with the real binaries, real Terraform and the
//! example repository. Credentials come from an OpenBao dev server of each test (VaultWorld).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use gitops_tests::{show, state_list, terraform, tf_ok, VaultWorld};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

struct World(VaultWorld);

impl World {
    fn new() -> World {
        World(VaultWorld::new(|_| terraform()))
    }

    fn run(&self, bin: &str, build: &str, args: &[&str]) -> Output {
        self.0
            .cmd(bin)
            .env("BUILD_TAG", build)
            .args(args)
            .output()
            .unwrap()
    }

    fn out(&self, id: &str) -> PathBuf {
        self.0.ex.out().join(id)
    }

    fn render(&self, id: &str, build: &str) -> PathBuf {
        let dir = self.out(id);
        let o = self.run(
            "gitops-render",
            build,
            &[id, "--out", dir.to_str().unwrap()],
        );
        assert_eq!(o.status.code(), Some(0), "render: {}", show(&o));
        dir
    }

    /// gitops-plan --json of `dir` (extra args before the directory), exit code and answer.
    fn plan(&self, dir: &Path, args: &[&str]) -> (Option<i32>, Value, String) {
        let mut all = args.to_vec();
        all.extend(["--json", dir.to_str().unwrap()]);
        let o = self.run("gitops-plan", "x", &all);
        let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        (o.status.code(), v, show(&o))
    }

    /// render + plan + apply + tag of `id` at HEAD with `build`.
    fn deploy(&self, id: &str, build: &str) -> PathBuf {
        let dir = self.render(id, build);
        let (code, _, text) = self.plan(&dir, &[]);
        assert_eq!(code, Some(4), "plan: {text}");
        let d = dir.to_str().unwrap();
        let a = self.run("gitops-apply", build, &[d]);
        assert_eq!(a.status.code(), Some(0), "apply: {}", show(&a));
        let t = self.run("gitops-tag", build, &[d]);
        assert_eq!(t.status.code(), Some(0), "tag: {}", show(&t));
        dir
    }

    /// A commit that does not touch `dev/orders-db` or `dev/orders-api`.
    fn unrelated_commit(&self) {
        let path = "deployments/dev/web-frontend.toml";
        let text = std::fs::read_to_string(self.0.ex.repo().join(path)).unwrap();
        self.0.ex.commit_file(
            path,
            &format!("{text}\n# reviewed\n"),
            "Comment dev/web-frontend",
        );
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn resources(v: &Value) -> Vec<(String, String)> {
    v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["address"].as_str().unwrap().to_owned(),
                r["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_deployment_nobody_touched_is_in_sync_at_a_later_commit_and_build() {
    let w = World::new();
    let id = "dev/orders-db";
    w.deploy(id, "build-1");
    w.unrelated_commit();
    // The nightly job renders at HEAD with its own BUILD_TAG: every tag value differs...
    let dir = w.render(id, "nightly-7");
    let (code, plan, text) = w.plan(&dir, &[]);
    assert_eq!(code, Some(4), "{text}");
    let s = &plan["summary"];
    assert!(s["change"].as_u64().unwrap() > 0, "{text}");
    assert_eq!(
        s["tag_only"], s["change"],
        "every update is tag-only: {text}"
    );
    assert_eq!(plan["real_changes"], false, "{text}");
    assert_eq!(
        plan["change_summary"],
        format!(
            "0 to add, 0 to change, 0 to destroy, 0 to replace (and {} tag-only updates)",
            s["change"]
        )
    );
    // ...but the drift check plans the deployment as recorded: in sync.
    let state = w.0.ex.state().join("dev/orders-db.tfstate");
    let state_before = std::fs::read(&state).unwrap();
    let (code, v, text) = w.plan(&dir, &["--drift"]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(v["drift_status"], "in_sync", "{text}");
    assert_eq!(v["recorded"]["tag"], "deploy/dev/orders-db/1", "{text}");
    assert_eq!(v["recorded"]["build_tag"], "build-1", "{text}");
    let drift = read_json(&dir.join("drift.json"));
    assert_eq!(drift["status"], "in_sync");
    assert_eq!(drift["drift"], false);
    let md = std::fs::read_to_string(dir.join("drift.md")).unwrap();
    assert!(
        md.contains("as recorded by deploy/dev/orders-db/1") && md.contains("build build-1"),
        "{md}"
    );
    let xml = std::fs::read_to_string(dir.join("drift.xml")).unwrap();
    assert!(
        xml.contains("failures=\"0\"") && xml.contains("name=\"in sync\""),
        "{xml}"
    );
    // The state is untouched, and nothing of the check is left beside the rendered directory.
    assert_eq!(
        std::fs::read(&state).unwrap(),
        state_before,
        "the drift check changed the state"
    );
    let leftovers: Vec<String> = std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".gitops-drift-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Edits the state through Terraform (`state pull`, edit, `state push`): a changed attribute and
/// a removed tag, as a console edit would leave them.
fn edit_state(dir: &Path, edit: impl Fn(&str, &mut Value)) {
    let mut state: Value = serde_json::from_str(&tf_ok(dir, &["state", "pull"])).unwrap();
    state["serial"] = Value::from(state["serial"].as_u64().unwrap() + 1);
    for r in state["resources"].as_array_mut().unwrap() {
        let address = format!(
            "{}.{}.{}",
            r["module"].as_str().unwrap_or(""),
            r["type"].as_str().unwrap(),
            r["name"].as_str().unwrap()
        );
        for inst in r["instances"].as_array_mut().unwrap() {
            edit(&address, &mut inst["attributes"]);
        }
    }
    let file = dir.join("edited.tfstate");
    std::fs::write(&file, serde_json::to_vec(&state).unwrap()).unwrap();
    tf_ok(dir, &["state", "push", "edited.tfstate"]);
    std::fs::remove_file(file).unwrap();
}

#[test]
fn drift_names_a_deleted_resource_a_changed_attribute_and_a_removed_tag() {
    let w = World::new();
    let id = "dev/orders-db";
    let dir = w.deploy(id, "build-1");
    let all = state_list(&dir);
    let db = "module.database.terraform_data.db_instance";
    let group = "module.database.terraform_data.subnet_group";
    let network = "module.network.terraform_data.network";
    assert!(all.iter().any(|a| a == db) && all.iter().any(|a| a == group));
    // Out of band: the database is gone, the subnet group renamed, the network lost a tag.
    tf_ok(&dir, &["state", "rm", db]);
    edit_state(&dir, |address, attrs| {
        if address == group {
            attrs["input"]["value"]["name"] = Value::from("renamed-in-console");
        }
        if address == network {
            attrs["input"]["value"]["tags"]
                .as_object_mut()
                .unwrap()
                .remove("gitops:build");
        }
    });
    w.unrelated_commit();
    let dir = w.render(id, "nightly-8");
    let junit = w.0.ex.dir.path().join("drift-report.xml");
    let (code, v, text) = w.plan(&dir, &["--drift", "--junit", junit.to_str().unwrap()]);
    assert_eq!(code, Some(4), "{text}");
    assert_eq!(
        (v["drift"].clone(), v["drift_status"].clone()),
        (Value::Bool(true), Value::from("drift"))
    );
    let drift = read_json(&dir.join("drift.json"));
    let found = resources(&drift);
    assert_eq!(
        found,
        vec![
            (db.to_owned(), "create".to_owned()),
            (group.to_owned(), "update".to_owned()),
            (network.to_owned(), "update".to_owned()),
        ],
        "{drift:#}"
    );
    let attrs = |address: &str| -> Vec<(String, Value, Value)> {
        drift["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == address)
            .unwrap()["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["path"].as_str().unwrap().to_owned(),
                    a["before"].clone(),
                    a["after"].clone(),
                )
            })
            .collect()
    };
    let renamed = attrs(group);
    assert_eq!(renamed.len(), 1, "{renamed:?}");
    assert_eq!(renamed[0].0, "input.name");
    assert_eq!(renamed[0].1, "renamed-in-console");
    let untagged = attrs(network);
    assert_eq!(
        untagged,
        vec![(
            "input.tags[\"gitops:build\"]".to_owned(),
            Value::Null,
            Value::from("build-1")
        )],
        "the recorded build tag, not the nightly one"
    );
    // A removed tag is drift, not a "tag-only update".
    assert!(drift["resources"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["tag_only"] == false));
    let md = std::fs::read_to_string(dir.join("drift.md")).unwrap();
    for needle in [
        db,
        "`input.name`: \"renamed-in-console\" -> ",
        "`input.tags[\"gitops:build\"]`: null -> \"build-1\"",
    ] {
        assert!(md.contains(needle), "{needle} in\n{md}");
    }
    assert!(!md.contains("Tag-only"), "{md}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("failures=\"3\""), "{xml}");
    assert!(
        xml.contains("`input.name`: &quot;renamed-in-console&quot;"),
        "{xml}"
    );
    assert_eq!(xml, std::fs::read_to_string(dir.join("drift.xml")).unwrap());
}

#[test]
fn a_deployment_never_deployed_is_not_drift() {
    let w = World::new();
    let dir = w.render("dev/orders-db", "build-1");
    let (code, v, text) = w.plan(&dir, &["--drift"]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(v["drift_status"], "never_deployed", "{text}");
    assert_eq!(v["drift"], false);
    let md = std::fs::read_to_string(dir.join("drift.md")).unwrap();
    assert!(md.contains("was never deployed"), "{md}");
    let xml = std::fs::read_to_string(dir.join("drift.xml")).unwrap();
    assert!(
        xml.contains("name=\"never deployed\"") && xml.contains("failures=\"0\""),
        "{xml}"
    );
    assert!(!dir.join("plan.bin").exists(), "nothing was planned");
}

#[test]
fn a_one_module_change_lists_its_real_change_apart_from_the_tag_only_updates() {
    let w = World::new();
    let id = "dev/orders-db";
    w.deploy(id, "build-1");
    // A policy that sees the marking: it warns with the number of tag-only updates, and names
    // each real update.
    let policy = r#"package gitops.review

warn contains msg if {
	n := count([c | some c in input.changes; c.tag_only])
	n > 0
	msg := sprintf("%d tag-only updates", [n])
}

warn contains {"resource": c.address, "message": "a real update"} if {
	some c in input.changes
	c.action == "update"
	not c.tag_only
}
"#;
    w.0.ex
        .commit_file("policies/review.rego", policy, "A review policy");
    let path = "deployments/dev/orders-db.toml";
    let text = std::fs::read_to_string(w.0.ex.repo().join(path)).unwrap();
    assert!(text.contains("[app_config]"), "{text}");
    w.0.ex.commit_file(
        path,
        &text.replace("[app_config]\n", "[app_config]\nPOOL_SIZE = \"20\"\n"),
        "orders-db: a pool size setting",
    );
    let dir = w.render(id, "build-2");
    let (code, v, text) = w.plan(&dir, &[]);
    assert_eq!(code, Some(4), "{text}");
    let s = &v["summary"];
    assert_eq!(s["add"], 1, "{text}");
    assert!(s["change"].as_u64().unwrap() >= 5, "{text}");
    assert_eq!(v["real_changes"], true);
    // The real change: the new setting, and the config version derived from the settings.
    let version = "module.app-config.terraform_data.config_version";
    let real: Vec<(String, String)> = resources(&v)
        .into_iter()
        .zip(v["resources"].as_array().unwrap())
        .filter(|(_, r)| r["tag_only"] == false)
        .map(|(a, _)| a)
        .collect();
    assert_eq!(
        real,
        vec![
            (
                "module.app-config.terraform_data.config_parameter[\"POOL_SIZE\"]".to_owned(),
                "create".to_owned()
            ),
            (version.to_owned(), "update".to_owned()),
        ],
        "{text}"
    );
    assert_eq!(
        s["tag_only"].as_u64(),
        Some(s["change"].as_u64().unwrap() - 1),
        "{text}"
    );
    let warnings: Vec<(String, String)> = v["policy"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["resource"].as_str().unwrap_or("").to_owned(),
                w["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let counted = format!("{} tag-only updates", s["tag_only"]);
    assert!(warnings.iter().any(|(_, m)| *m == counted), "{warnings:?}");
    assert_eq!(
        warnings
            .iter()
            .filter(|(_, m)| m == "a real update")
            .collect::<Vec<_>>(),
        vec![&(version.to_owned(), "a real update".to_owned())]
    );
    let md = std::fs::read_to_string(dir.join("plan.md")).unwrap();
    let real_at = md.find("## Real changes (2)").expect(&md);
    let tag_at = md.find("## Tag-only updates").expect(&md);
    assert!(real_at < tag_at, "{md}");
    assert!(md[real_at..tag_at].contains("POOL_SIZE"), "{md}");
    assert!(md[real_at..tag_at].contains("`input.version`"), "{md}");
    let folded = &md[tag_at..md.find("</details>").expect(&md)];
    assert!(!folded.contains("config_version"), "{md}");
    assert!(
        !md[real_at..tag_at].contains("gitops:build"),
        "per-deploy tags are not listed: {md}"
    );
}
