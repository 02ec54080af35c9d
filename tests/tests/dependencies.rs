//! Dependencies between deployments with real git, real Terraform and Vault (an OpenBao dev
//! server of the test's own): a request names a deployment of its environment in
//! `[dependencies]` and wires its outputs; the render reads them through a
//! `terraform_remote_state` data source, the plan refuses while the dependency has no applied
//! record or runs a package without the output, and the dependent's resources get the value
//! Terraform read from the dependency's state. The bad-input corpus (cases 99-107) covers the
//! files that are wrong on their own.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use gitops_tests::{show, snapshot, stderr, stdout, terraform, tf_ok, VaultWorld};
use serde_json::{json, Value};
use std::path::Path;

/// What dev/orders-api gains: orders-db's endpoint in its app configuration.
const READS_ORDERS_DB: &str = r#"
[dependencies]
db = "orders-db"

[wiring.app_config]
ORDERS_DB_ENDPOINT = "db.db_endpoint"
"#;

fn json_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The value of the app-config parameter `key` in the state of `dir`.
fn config_parameter(dir: &Path, key: &str) -> Option<Value> {
    let state: Value = serde_json::from_str(&tf_ok(dir, &["show", "-json"])).unwrap();
    let mut found = None;
    fn walk(m: &Value, key: &str, found: &mut Option<Value>) {
        for r in m["resources"].as_array().into_iter().flatten() {
            if r["type"] == "terraform_data" && r["name"] == "config_parameter" && r["index"] == key
            {
                *found = Some(r["values"]["input"]["value"].clone());
            }
        }
        for c in m["child_modules"].as_array().into_iter().flatten() {
            walk(c, key, found);
        }
    }
    walk(&state["values"]["root_module"], key, &mut found);
    found
}

#[test]
fn a_dependent_reads_the_applied_output_and_refuses_until_the_dependency_has_it() {
    let w = VaultWorld::new(|_| terraform());
    let api_request = std::fs::read_to_string(w.ex.repo().join("deployments/dev/orders-api.toml"))
        .unwrap()
        + READS_ORDERS_DB;
    w.ex.commit_file(
        "deployments/dev/orders-api.toml",
        &api_request,
        "orders-api reads orders-db's endpoint",
    );

    // --explain names the dependency and its output.
    let o = w.run("gitops-render", &["dev/orders-api", "--explain"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        stdout(&o).contains(
            "ORDERS_DB_ENDPOINT <- output db_endpoint of dev/orders-db \
             (deployments/dev/orders-api.toml [wiring.app_config.ORDERS_DB_ENDPOINT])"
        ),
        "{}",
        stdout(&o)
    );
    let o = w.run("gitops-render", &["dev/orders-api", "--explain", "--json"]);
    let explained: Value = serde_json::from_slice(&o.stdout).unwrap();
    let settings = explained["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["module"] == "app-config" && e["input"] == "settings")
        .unwrap();
    assert!(
        settings["notes"][0]
            .as_str()
            .unwrap()
            .starts_with("ORDERS_DB_ENDPOINT <- output db_endpoint of dev/orders-db"),
        "{settings}"
    );

    // The render reads the dependency's state where gitops.toml puts it, through Terraform.
    let api = w.render("dev/orders-api");
    let main = json_file(&api.join("main.tf.json"));
    assert_eq!(
        main["data"]["terraform_remote_state"]["db"],
        json!({
            "backend": "local",
            "config": { "path": format!("{}/dev/orders-db.tfstate", w.ex.state().display()) }
        })
    );
    assert_eq!(
        main["module"]["app-config"]["settings"]["ORDERS_DB_ENDPOINT"],
        "${data.terraform_remote_state.db.outputs.db_endpoint}"
    );
    let manifest = json_file(&api.join(".gitops/manifest.json"));
    assert_eq!(
        manifest["dependencies"]["db"],
        json!({ "deployment": "dev/orders-db", "package": "data-store@1.0.0", "outputs": ["db_endpoint"] })
    );

    // Before orders-db is applied: exit 3 naming both, nothing written, Terraform never ran.
    let before = snapshot(&api);
    let p = w.run("gitops-plan", &[api.to_str().unwrap()]);
    assert_eq!(p.status.code(), Some(3), "{}", show(&p));
    assert!(
        stderr(&p).contains(
            "dev/orders-api depends on dev/orders-db (outputs: db_endpoint), which has never \
             been applied (no deploy/ record): apply dev/orders-db first"
        ),
        "{}",
        stderr(&p)
    );
    assert_eq!(snapshot(&api), before, "a refused plan writes nothing");
    assert!(!api.join(".terraform").exists());

    // orders-db applied: orders-api gets the endpoint Terraform read from orders-db's state.
    let db = w.deploy("dev/orders-db", "deps-1");
    let endpoint = json_file(&db.join("outputs.json"))["outputs"]["db_endpoint"].clone();
    assert!(
        endpoint
            .as_str()
            .is_some_and(|e| e.starts_with("orders-db.")),
        "{endpoint}"
    );
    let api = w.deploy("dev/orders-api", "deps-1");
    assert_eq!(
        config_parameter(&api, "ORDERS_DB_ENDPOINT"),
        Some(endpoint.clone())
    );

    // A wired output that the applied package lacks: its next version exports it, but
    // orders-db still runs 1.0.0. The render accepts the request, the plan refuses.
    let pkg = w.ex.repo().join("packages/data-store/1.1.0.toml");
    let with_port = std::fs::read_to_string(&pkg)
        .unwrap()
        .replace("[outputs]\n", "[outputs]\ndb_port = \"database.port\"\n");
    assert!(with_port.contains("db_port"), "{with_port}");
    w.ex.commit_file(
        "packages/data-store/1.1.0.toml",
        &with_port,
        "data-store 1.1.0 exports the port",
    );
    let db_request = std::fs::read_to_string(w.ex.repo().join("deployments/dev/orders-db.toml"))
        .unwrap()
        .replace("package = \"1.0.0\"", "package = \"1.1.0\"");
    w.ex.commit_file(
        "deployments/dev/orders-db.toml",
        &db_request,
        "orders-db to 1.1.0",
    );
    w.ex.commit_file(
        "deployments/dev/orders-api.toml",
        &format!("{api_request}ORDERS_DB_PORT = \"db.db_port\"\n"),
        "orders-api reads the port",
    );
    let api = w.render("dev/orders-api");
    let before = snapshot(&api);
    let p = w.run("gitops-plan", &[api.to_str().unwrap()]);
    assert_eq!(p.status.code(), Some(3), "{}", show(&p));
    assert!(
        stderr(&p).contains(
            "dev/orders-api reads output db_port of dev/orders-db, which dev/orders-db does not \
             have: it runs data-store@1.0.0 (deploy/dev/orders-db/1)"
        ),
        "{}",
        stderr(&p)
    );
    assert_eq!(snapshot(&api), before, "a refused plan writes nothing");
}

/// `gitops-render --changed-since REV --list --json` of the example's repository.
fn listed(ex: &gitops_tests::Example, rev: &str) -> (Option<i32>, Value, String) {
    let o = ex.render(&["--changed-since", rev, "--list", "--json"]);
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o.status.code(), v, stderr(&o))
}

#[test]
fn the_affected_set_is_a_graph_of_waves_and_a_deleted_dependency_is_refused_while_depended_on() {
    let ex = gitops_tests::Example::new();
    let api = std::fs::read_to_string(ex.repo().join("deployments/dev/orders-api.toml")).unwrap();
    ex.commit_file(
        "deployments/dev/orders-api.toml",
        &(api.clone() + READS_ORDERS_DB),
        "orders-api reads orders-db's endpoint",
    );
    let db_path = ex.repo().join("deployments/dev/orders-db.toml");
    let db = std::fs::read_to_string(&db_path).unwrap();
    ex.commit_file(
        "deployments/dev/orders-db.toml",
        &db.replace("backup_retention_days = 1", "backup_retention_days = 3"),
        "orders-db keeps three days of backups",
    );

    // The dependency changed: its dependent is affected too, in the wave after it. The second
    // run reads the requests from the index the first one wrote, with the same answer.
    for run in ["parses the requests", "reads the index"] {
        let (code, v, err) = listed(&ex, "HEAD~1");
        assert_eq!(code, Some(0), "{run}: {err}");
        assert_eq!(
            v["waves"],
            json!([["dev/orders-db"], ["dev/orders-api"]]),
            "{run}: {v}"
        );
        assert_eq!(
            v["render"]["dev/orders-db"],
            json!(["request changed"]),
            "{run}"
        );
        assert_eq!(
            v["render"]["dev/orders-api"],
            json!(["depends on dev/orders-db, which is affected"]),
            "{run}"
        );
        assert_eq!(
            v["needs"],
            json!({"dev/orders-api": ["dev/orders-db"]}),
            "{run}"
        );
    }
    let o = ex.render(&["--changed-since", "HEAD~1", "--list"]);
    assert_eq!(
        stdout(&o),
        "render   dev/orders-db  (wave 1: request changed)\n\
         render   dev/orders-api  (wave 2: depends on dev/orders-db, which is affected)\n"
    );
    // Both changed in one range: still dependency first.
    let (_, v, _) = listed(&ex, "HEAD~2");
    assert_eq!(
        v["waves"],
        json!([["dev/orders-db"], ["dev/orders-api"]]),
        "{v}"
    );
    // The dependent alone changed: the dependency is not affected.
    ex.commit_file(
        "deployments/dev/orders-api.toml",
        &(api.replace("LOG_LEVEL = \"debug\"", "LOG_LEVEL = \"info\"") + READS_ORDERS_DB),
        "orders-api logs less",
    );
    let (_, v, _) = listed(&ex, "HEAD~1");
    assert_eq!(v["waves"], json!([["dev/orders-api"]]), "{v}");
    assert_eq!(v["render"].as_object().unwrap().len(), 1, "{v}");

    // --all --list: every deployment, still in dependency waves (a first build).
    let o = ex.render(&["--all", "--list", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let all: Value = serde_json::from_slice(&o.stdout).unwrap();
    let waves = all["waves"].as_array().unwrap();
    let wave_of = |id: &str| {
        waves
            .iter()
            .position(|w| w.as_array().unwrap().contains(&json!(id)))
    };
    assert!(
        wave_of("dev/orders-db").unwrap() < wave_of("dev/orders-api").unwrap(),
        "{all}"
    );
    assert_eq!(
        all["render"]["dev/web-frontend"],
        json!(["every deployment"])
    );
    let o = ex.render(&["--list"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--changed-since REV or --all"),
        "{}",
        stderr(&o)
    );

    // Deleting the dependency while orders-api still depends on it: exit 3, naming both.
    ex.git(&["rm", "-q", "deployments/dev/orders-db.toml"]);
    ex.git(&["commit", "-q", "-m", "retire orders-db"]);
    let (code, _, err) = listed(&ex, "HEAD~1");
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains(
            "the request of dev/orders-db is deleted, but dev/orders-api still depends on it \
             ([dependencies] of deployments/dev/orders-api.toml)"
        ),
        "{err}"
    );

    // Deleted together: destroyed dependents first.
    ex.git(&["rm", "-q", "deployments/dev/orders-api.toml"]);
    ex.git(&["commit", "-q", "-m", "retire orders-api too"]);
    let (code, v, err) = listed(&ex, "HEAD~2");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        v["destroy"],
        json!(["dev/orders-api", "dev/orders-db"]),
        "{v}"
    );
    assert_eq!(v["waves"], json!([]), "{v}");
}
