//! The deployment lifecycle end to end, with real git, real Terraform and Vault (an OpenBao dev
//! server per test): gitops-tag, gitops-rollback,
//! gitops-destroy, the promotion guard and the orphan report.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use gitops_tests::{stderr, stdout, terraform, tf_ok, VaultWorld, WEB_FRONTEND_1_0};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// dev/tools-db at data-store 1.0.0 (database v1.0.0: no storage_encrypted replacement trigger).
const DB_1_0: &str = r#"component = "data-store"
package = "1.0.0"
profile = "internal-tooling"

[overrides.database]
allocated_storage_gb = 50

[app_config]
DB_NAME = "tools"
"#;

/// The shared Vault world (example, Vault, real Terraform); `w.ex` and `w.vault` reach through.
struct World(VaultWorld);

impl std::ops::Deref for World {
    type Target = VaultWorld;
    fn deref(&self) -> &VaultWorld {
        &self.0
    }
}

impl World {
    fn new() -> World {
        World(VaultWorld::new(|_| terraform()))
    }

    /// A toolkit command with Vault (AppRole), real Terraform, `--repo` and a build tag.
    fn cmd(&self, bin: &str, build: &str) -> Command {
        let mut c = self.0.cmd(bin);
        c.env("BUILD_TAG", build);
        c
    }

    fn run(&self, bin: &str, build: &str, args: &[&str]) -> Output {
        self.cmd(bin, build).args(args).output().unwrap()
    }

    fn out(&self, id: &str) -> PathBuf {
        self.ex.out().join(id)
    }

    /// render + plan + apply + tag; returns the tag's JSON answer.
    fn deploy(&self, id: &str, build: &str, approve: Option<&str>) -> Value {
        let dir = self.out(id);
        let d = dir.to_str().unwrap();
        let o = self.run("gitops-render", build, &[id, "--out", d]);
        assert_eq!(o.status.code(), Some(0), "render: {}", stderr(&o));
        self.plan_apply(&dir, approve);
        let t = self.run("gitops-tag", build, &[d, "--json"]);
        assert_eq!(
            t.status.code(),
            Some(0),
            "tag: {}{}",
            stdout(&t),
            stderr(&t)
        );
        json(&t.stdout)
    }

    fn plan_apply(&self, dir: &Path, approve: Option<&str>) {
        let d = dir.to_str().unwrap();
        let p = self.run("gitops-plan", "x", &[d]);
        assert!(
            matches!(p.status.code(), Some(0 | 4)),
            "plan: {}{}",
            stdout(&p),
            stderr(&p)
        );
        let mut args = vec![d];
        if let Some(who) = approve {
            args.extend(["--approved-by", who]);
        }
        let a = self.run("gitops-apply", "x", &args);
        assert_eq!(
            a.status.code(),
            Some(0),
            "apply: {}{}",
            stdout(&a),
            stderr(&a)
        );
    }

    fn head(&self) -> String {
        self.ex.git(&["rev-parse", "HEAD"])
    }
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

fn outputs(dir: &Path) -> Value {
    json(&std::fs::read(dir.join("outputs.json")).unwrap())["outputs"].clone()
}

/// Address -> tags of every resource in the state of a rendered directory.
fn state_tags(dir: &Path) -> BTreeMap<String, Value> {
    fn walk(m: &Value, out: &mut BTreeMap<String, Value>) {
        for r in m["resources"].as_array().into_iter().flatten() {
            out.insert(
                r["address"].as_str().unwrap().to_owned(),
                r["values"]["input"]["tags"].clone(),
            );
        }
        for c in m["child_modules"].as_array().into_iter().flatten() {
            walk(c, out);
        }
    }
    let state: Value = serde_json::from_str(&tf_ok(dir, &["show", "-json"])).unwrap();
    let mut out = BTreeMap::new();
    walk(&state["values"]["root_module"], &mut out);
    out
}

/// The tags without those that necessarily differ between two deployments (commit, build).
fn without_commit_and_build(tags: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    tags.iter()
        .map(|(a, t)| {
            let mut t = t.clone();
            let o = t.as_object_mut().unwrap();
            o.remove("gitops:commit");
            o.remove("gitops:build");
            (a.clone(), t)
        })
        .collect()
}

#[test]
fn deploy_update_roll_back_orphan_and_destroy_from_the_recorded_commit() {
    let w = World::new();
    let id = "dev/web-frontend";
    let req = "deployments/dev/web-frontend.toml";
    let at_1_1 = std::fs::read_to_string(w.ex.repo().join(req)).unwrap();
    w.ex.commit_file(req, WEB_FRONTEND_1_0, "web-frontend at 1.0.0");
    let first = w.deploy(id, "build-1", None);
    assert_eq!(first["tag"], "deploy/dev/web-frontend/1");
    assert_eq!(first["record"]["package"], "web-service@1.0.0");
    let first_outputs = outputs(&w.out(id));
    let first_tags = state_tags(&w.out(id));

    // Running gitops-tag again for the same apply records nothing new.
    let again = w.run(
        "gitops-tag",
        "build-1",
        &[w.out(id).to_str().unwrap(), "--json"],
    );
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(json(&again.stdout)["recorded"], false);

    w.ex.commit_file(req, &at_1_1, "web-frontend to 1.1.0");
    let second = w.deploy(id, "build-2", None);
    assert_eq!(second["tag"], "deploy/dev/web-frontend/2");
    let second_tags = state_tags(&w.out(id));
    assert_eq!(
        second_tags.values().next().unwrap()["gitops:package"],
        "web-service@1.1.0"
    );

    let h = w.run("gitops-tag", "x", &["history", id, "--json"]);
    assert_eq!(h.status.code(), Some(0), "{}", stderr(&h));
    let h = json(&h.stdout);
    let records = h["records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["package"], "web-service@1.0.0");
    assert_eq!(records[1]["package"], "web-service@1.1.0");
    assert_eq!(records[1]["build_tag"], "build-2");
    assert_eq!(h["live"], true);

    // A dry run plans and commits nothing.
    let head = w.head();
    let dry = w.run(
        "gitops-rollback",
        "build-3",
        &[id, "--to", "previous", "--dry-run"],
    );
    assert_eq!(
        dry.status.code(),
        Some(0),
        "{}{}",
        stdout(&dry),
        stderr(&dry)
    );
    assert!(stdout(&dry).contains("to change"), "{}", stdout(&dry));
    assert_eq!(w.head(), head);

    // The rollback: a new commit restoring the request, rendered and planned; apply + tag.
    let rb = w.run(
        "gitops-rollback",
        "build-3",
        &[id, "--to", "previous", "--json"],
    );
    assert_eq!(rb.status.code(), Some(0), "{}{}", stdout(&rb), stderr(&rb));
    let rb = json(&rb.stdout);
    assert_eq!(rb["committed"], true);
    assert_ne!(w.head(), head, "a new commit");
    assert_eq!(w.ex.git(&["rev-parse", "HEAD~1"]), head, "a forward commit");
    assert_eq!(
        w.ex.git(&["log", "-1", "--format=%s"]),
        "rollback dev/web-frontend to deploy/dev/web-frontend/1 (from deploy/dev/web-frontend/2)"
    );
    assert_eq!(
        w.ex.git(&["show", &format!("HEAD:{req}")]),
        WEB_FRONTEND_1_0.trim_end()
    );
    assert_eq!(
        w.ex.git(&["status", "--porcelain"]),
        "",
        "work tree in step"
    );
    let out = PathBuf::from(rb["out"].as_str().unwrap());
    w.plan_apply(&out, None);
    let t = w.run("gitops-tag", "build-3", &[out.to_str().unwrap(), "--json"]);
    assert_eq!(t.status.code(), Some(0), "{}", stderr(&t));
    assert_eq!(json(&t.stdout)["tag"], "deploy/dev/web-frontend/3");
    assert_eq!(
        outputs(&out),
        first_outputs,
        "outputs equal the first deployment's"
    );
    let tags = state_tags(&out);
    assert_eq!(
        without_commit_and_build(&tags),
        without_commit_and_build(&first_tags),
        "tags other than commit and build equal the first deployment's"
    );
    let any = tags.values().next().unwrap();
    assert_eq!(any["gitops:commit"], w.head().as_str());
    assert_eq!(any["gitops:build"], "build-3");

    // Deleting the request makes an orphan; destroy renders it from the recorded commit.
    w.ex.git(&["rm", "-q", req]);
    w.ex.git(&["commit", "-q", "-m", "retire web-frontend"]);
    for args in [
        vec!["--orphans", "--json"],
        vec!["--orphans", "--since", "HEAD~1", "--json"],
    ] {
        let o = w.run("gitops-destroy", "x", &args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let v = json(&o.stdout);
        assert_eq!(v["orphans"][0]["deployment"], id, "{v}");
        assert_eq!(v["orphans"][0]["last_deploy"], "deploy/dev/web-frontend/3");
    }
    let d = w.run(
        "gitops-destroy",
        "build-4",
        &[id, "--confirm", "web-frontend", "--json"],
    );
    assert_eq!(d.status.code(), Some(0), "{}{}", stdout(&d), stderr(&d));
    let d = json(&d.stdout);
    assert_eq!(d["request_already_removed"], true);
    assert_eq!(d["tombstone"], "destroyed/dev/web-frontend/1");
    let o = w.run("gitops-destroy", "x", &["--orphans", "--json"]);
    assert_eq!(json(&o.stdout)["orphans"], serde_json::json!([]));
}

#[test]
fn data_loss_is_refused_missing_tags_are_refused_and_destroy_is_guarded_and_recorded() {
    let w = World::new();
    let id = "dev/tools-db";
    let req = "deployments/dev/tools-db.toml";
    let at_1_1 = std::fs::read_to_string(w.ex.repo().join(req)).unwrap();
    w.ex.commit_file(req, DB_1_0, "tools-db at 1.0.0");
    w.deploy(id, "build-1", None);
    w.ex.commit_file(req, &at_1_1, "tools-db to 1.1.0 (replaces the database)");
    w.deploy(id, "build-2", None);
    let dir = w.out(id);

    // Back to 1.0.0 would replace the database again: refused, nothing committed.
    let head = w.head();
    let rb = w.run("gitops-rollback", "build-3", &[id, "--to", "1"]);
    assert_eq!(rb.status.code(), Some(3), "{}{}", stdout(&rb), stderr(&rb));
    assert!(
        stderr(&rb).contains("module.database.terraform_data.db_instance (replace)")
            && stderr(&rb).contains("--allow-data-loss"),
        "{}",
        stderr(&rb)
    );
    assert_eq!(w.head(), head, "nothing committed");
    let dry = w.run(
        "gitops-rollback",
        "b",
        &[id, "--to", "1", "--dry-run", "--allow-data-loss"],
    );
    assert_eq!(dry.status.code(), Some(0), "{}", stderr(&dry));
    assert!(stdout(&dry).contains("data loss"), "{}", stdout(&dry));

    // A resource whose tag was removed out of band: gitops-tag refuses and names it.
    let state_file = w.ex.state().join("dev/tools-db.tfstate");
    let original = std::fs::read_to_string(&state_file).unwrap();
    let mut state: Value = serde_json::from_str(&original).unwrap();
    let victim = state["resources"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["type"] == "terraform_data" && r["name"] == "subnet_group")
        .unwrap();
    victim["instances"][0]["attributes"]["input"]["value"]["tags"]
        .as_object_mut()
        .unwrap()
        .remove("gitops:build");
    std::fs::write(&state_file, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    let t = w.run("gitops-tag", "x", &[dir.to_str().unwrap()]);
    assert_eq!(t.status.code(), Some(3), "{}{}", stdout(&t), stderr(&t));
    assert!(
        stderr(&t)
            .contains("module.database.terraform_data.subnet_group: missing tag gitops:build"),
        "{}",
        stderr(&t)
    );
    std::fs::write(&state_file, original).unwrap();

    // Destroy: confirm required; stateful destruction needs --allow-data-loss.
    for args in [vec![id], vec![id, "--confirm", "web-frontend"]] {
        let d = w.run("gitops-destroy", "x", &args);
        assert_eq!(d.status.code(), Some(3), "{}", stderr(&d));
        assert!(stderr(&d).contains("--confirm tools-db"), "{}", stderr(&d));
    }
    let d = w.run("gitops-destroy", "x", &[id, "--confirm", "tools-db"]);
    assert_eq!(d.status.code(), Some(3), "{}", stderr(&d));
    assert!(stderr(&d).contains("--allow-data-loss"), "{}", stderr(&d));
    assert!(
        stdout(&d).contains("Attention"),
        "the summary is shown: {}",
        stdout(&d)
    );
    assert!(
        !tf_ok(&dir, &["state", "list"]).trim().is_empty(),
        "nothing destroyed"
    );

    let d = w.run(
        "gitops-destroy",
        "build-5",
        &[id, "--confirm", "tools-db", "--allow-data-loss", "--json"],
    );
    assert_eq!(d.status.code(), Some(0), "{}{}", stdout(&d), stderr(&d));
    let d = json(&d.stdout);
    assert_eq!(d["tombstone"], "destroyed/dev/tools-db/1");
    assert_eq!(d["request_already_removed"], false);
    assert_eq!(
        tf_ok(&dir, &["state", "list"]).trim(),
        "",
        "the state is empty"
    );
    assert!(!w.ex.repo().join(req).exists());
    assert_eq!(
        w.ex.git(&["log", "-1", "--format=%s"]),
        "destroy dev/tools-db: remove its request (destroyed/dev/tools-db/1)"
    );
    let msg = w.ex.git(&[
        "tag",
        "-l",
        "--format=%(contents)",
        "destroyed/dev/tools-db/1",
    ]);
    assert!(
        msg.contains("destroyed = true") && msg.contains("package = \"data-store@1.1.0\""),
        "{msg}"
    );
    let h = json(&w.run("gitops-tag", "x", &["history", id, "--json"]).stdout);
    assert_eq!(h["live"], false);
    assert_eq!(h["records"].as_array().unwrap().len(), 3);
}

#[test]
fn prod_needs_approval_to_destroy_and_a_staging_deployment_before_promotion() {
    let w = World::new();
    let id = "prod/orders-api";
    let d = w.run("gitops-destroy", "x", &[id, "--confirm", "orders-api"]);
    assert_eq!(d.status.code(), Some(3), "{}", stderr(&d));
    assert!(stderr(&d).contains("--approved-by"), "{}", stderr(&d));

    // prod needs a certified package (gitops-certify); then the promotion order applies.
    let c = w.run("gitops-certify", "x", &["run", "web-service", "1.0.0"]);
    assert_eq!(c.status.code(), Some(0), "{}{}", stdout(&c), stderr(&c));
    let dir = w.out(id);
    let o = w.run("gitops-render", "x", &[id, "--out", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let p = w.run("gitops-plan", "x", &[dir.to_str().unwrap()]);
    assert_eq!(p.status.code(), Some(3), "{}", stderr(&p));
    assert!(
        stderr(&p).contains("web-service@1.0.0 has no recorded deployment to staging"),
        "{}",
        stderr(&p)
    );
    let a = w.run(
        "gitops-apply",
        "x",
        &[dir.to_str().unwrap(), "--approved-by", "alice"],
    );
    assert_eq!(a.status.code(), Some(3), "{}", stderr(&a));

    // A recorded staging deployment of that package version (as gitops-tag writes it) opens prod.
    w.ex.git(&[
        "tag",
        "-a",
        "deploy/staging/orders-api/1",
        "-m",
        "deploy staging/orders-api: web-service@1.0.0\n\ndeployment = \"staging/orders-api\"\npackage = \"web-service@1.0.0\"\n",
    ]);
    let p = w.run("gitops-plan", "x", &[dir.to_str().unwrap()]);
    assert_eq!(p.status.code(), Some(4), "{}{}", stdout(&p), stderr(&p));
}

/// The `deploy/<id>/` tags of the example repo.
fn deploy_tags(w: &World, id: &str) -> String {
    w.ex.git(&["tag", "-l", &format!("deploy/{id}/*")])
}

#[test]
fn tag_records_only_a_commit_of_the_branch_that_holds_what_was_applied() {
    let w = World::new();
    let id = "dev/orders-api";
    let req = "deployments/dev/orders-api.toml";
    let dir = w.out(id);
    let d = dir.to_str().unwrap();
    let render = || {
        let o = w.run("gitops-render", "b", &[id, "--out", d]);
        assert_eq!(o.status.code(), Some(0), "render: {}", stderr(&o));
    };
    let tag = || w.run("gitops-tag", "b", &[d]);

    // A change git does not see (skip-worktree): the render says clean, but the commit does not
    // hold the request that was applied.
    w.ex.git(&["update-index", "--skip-worktree", req]);
    let text = std::fs::read_to_string(w.ex.repo().join(req)).unwrap();
    std::fs::write(w.ex.repo().join(req), format!("{text}# local edit\n")).unwrap();
    assert_eq!(w.ex.git(&["status", "--porcelain"]), "");
    render();
    w.plan_apply(&dir, None);
    let t = tag();
    assert_eq!(t.status.code(), Some(3), "{}", stderr(&t));
    assert!(
        stderr(&t).contains(&format!(
            "does not hold the {req} that was rendered and applied"
        )),
        "{}",
        stderr(&t)
    );
    assert_eq!(deploy_tags(&w, id), "", "nothing recorded");
    w.ex.git(&["update-index", "--no-skip-worktree", req]);
    w.ex.git(&["checkout", "-q", "--", req]);

    // Applied from main's HEAD, then HEAD moved to a commit of another history (same files):
    // the render's commit is not in HEAD's history.
    render();
    w.plan_apply(&dir, None);
    w.ex.git(&["checkout", "-q", "--orphan", "elsewhere"]);
    w.ex.git(&["commit", "-q", "-m", "another history"]);
    let t = tag();
    assert_eq!(t.status.code(), Some(3), "{}", stderr(&t));
    assert!(
        stderr(&t).contains("nor in its history") && stderr(&t).contains("check out the branch"),
        "{}",
        stderr(&t)
    );
    assert_eq!(deploy_tags(&w, id), "", "nothing recorded");

    // Back on the branch: HEAD is the render's commit, recorded.
    w.ex.git(&["checkout", "-q", "main"]);
    let t = tag();
    assert_eq!(t.status.code(), Some(0), "{}", stderr(&t));
    assert_eq!(deploy_tags(&w, id), format!("deploy/{id}/1"));
    // A later commit on the branch: the render's commit is in HEAD's history, still recordable
    // (already recorded: nothing new).
    w.ex.commit_file("README.md", "later\n", "a later commit");
    let t = w.run("gitops-tag", "b", &[d, "--json"]);
    assert_eq!(t.status.code(), Some(0), "{}", stderr(&t));
    assert_eq!(json(&t.stdout)["recorded"], false);
}

#[test]
fn destroying_a_deployment_never_applied_destroys_nothing_and_succeeds() {
    // A request at HEAD that never reached Terraform: there is no state to empty, and the destroy
    // must say so rather than fail listing a state that does not exist.
    let w = World::new();
    let d = w.run(
        "gitops-destroy",
        "build-1",
        &["dev/tools-db", "--confirm", "tools-db"],
    );
    let err = stderr(&d);
    assert_eq!(d.status.code(), Some(0), "{}{err}", stdout(&d));
    assert!(err.contains("nothing to destroy"), "{err}");
    assert!(!err.contains("No state file"), "{err}");
    assert!(!err.contains('\u{1b}'), "no colour codes: {err:?}");
    assert!(!w.ex.state().join("dev/tools-db.tfstate").exists());
}
