//! End-to-end tests of gitops-render on the example source-of-truth repo, with real git repos and
//! real Terraform.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use gitops_tests::{git_in, snapshot, stderr, stdout, tf, tf_ok, Example};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

const CERT_RECORD: &str = "certifications/web-service/1.0.0.toml";

/// Commits the shared certification record into `ex` (once), so the protected prod/orders-api
/// renders; without it, `--all` is refused (see the first test).
fn certify_prod_package(ex: &Example) {
    if !ex.repo().join(CERT_RECORD).exists() {
        ex.commit_file(
            CERT_RECORD,
            gitops_tests::web_service_record(),
            "Certify web-service 1.0.0",
        );
    }
}

fn render_all(ex: &Example, out: &Path) -> Vec<String> {
    certify_prod_package(ex);
    let o = ex.render(&["--all", "--out", out.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o.stdout);
    v["rendered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["deployment"].as_str().unwrap().to_owned())
        .collect()
}

/// Runs `f` over `items` on two threads (the CI machine has two cores).
fn parallel<T: Sync>(items: &[T], f: impl Fn(&T) + Sync) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                f(item);
            });
        }
    });
}

#[test]
fn every_example_deployment_renders_and_terraform_inits_validates_and_plans() {
    let ex = Example::new();
    let out = ex.out();
    // Without a certification record the protected prod/orders-api is refused, and one refused
    // request writes nothing at all.
    let o = ex.render(&["--all", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("prod/orders-api") && stderr(&o).contains("not certified"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists(), "nothing written");
    let ids = render_all(&ex, &out);
    let expected: BTreeSet<String> = std::fs::read_dir(ex.repo().join("deployments"))
        .unwrap()
        .flat_map(|env| {
            let env = env.unwrap();
            let e = env.file_name().to_string_lossy().into_owned();
            std::fs::read_dir(env.path()).unwrap().map(move |f| {
                format!(
                    "{e}/{}",
                    f.unwrap()
                        .file_name()
                        .to_string_lossy()
                        .trim_end_matches(".toml")
                )
            })
        })
        .collect();
    assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(ids.len() >= 7, "{ids:?}");
    // A deployment with dependencies reads their state: it is planned once they are applied.
    let dependencies = |id: &str| -> Vec<String> {
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out.join(id).join(".gitops/manifest.json")).unwrap(),
        )
        .unwrap();
        manifest["dependencies"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(_, d)| d["deployment"].as_str().unwrap().to_owned())
            .collect()
    };
    let plans_to_add = |id: &str| {
        let plan = tf(&out.join(id), &["plan", "-no-color", "-detailed-exitcode"]);
        // 2 = the plan has changes: everything is to be created.
        assert_eq!(
            plan.status.code(),
            Some(2),
            "{id}: {}{}",
            stdout(&plan),
            stderr(&plan)
        );
        assert!(
            stdout(&plan).contains("to add, 0 to change, 0 to destroy"),
            "{id}: {}",
            stdout(&plan)
        );
    };
    parallel(&ids, |id| {
        let dir = out.join(id);
        tf_ok(&dir, &["init", "-no-color"]);
        assert!(tf_ok(&dir, &["validate", "-no-color"]).contains("The configuration is valid"));
        if dependencies(id).is_empty() {
            plans_to_add(id);
        }
    });
    let dependents: Vec<&String> = ids
        .iter()
        .filter(|id| !dependencies(id).is_empty())
        .collect();
    assert!(!dependents.is_empty(), "the example has a dependency");
    for id in dependents {
        for dep in dependencies(id) {
            tf_ok(&out.join(&dep), &["apply", "-auto-approve", "-no-color"]);
        }
        plans_to_add(id);
    }
}

#[test]
fn apply_tags_every_resource_and_destroy_empties_the_state() {
    let ex = Example::new();
    let dir = ex.out().join("dev/web-frontend");
    let o = ex.render(&[
        "dev/web-frontend",
        "--out",
        dir.to_str().unwrap(),
        "--build-tag",
        "jenkins-live-7",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let manifest = json(&std::fs::read(dir.join(".gitops/manifest.json")).unwrap());
    let head = ex.git(&["rev-parse", "HEAD"]);
    assert_eq!(manifest["source_commit"], head.as_str());
    assert_eq!(manifest["source_dirty"], false);

    tf_ok(&dir, &["init", "-no-color"]);
    tf_ok(&dir, &["apply", "-auto-approve", "-no-color"]);
    // The local backend of gitops.toml puts state under the state dir, not the rendered dir.
    assert!(ex.state().join("dev/web-frontend.tfstate").is_file());
    let state = json(tf_ok(&dir, &["show", "-json"]).as_bytes());
    let mut resources = Vec::new();
    collect_resources(&state["values"]["root_module"], &mut resources);
    assert!(
        resources.len() >= 15,
        "expected the whole web-service, got {}",
        resources.len()
    );
    let want: BTreeMap<&str, &str> = BTreeMap::from([
        ("gitops:commit", head.as_str()),
        ("gitops:build", "jenkins-live-7"),
        ("gitops:deployment", "dev/web-frontend"),
        ("gitops:environment", "dev"),
        ("gitops:package", "web-service@1.1.0"),
        ("gitops:profile", "internal-tooling"),
        ("managed-by", "gitops-toolkit"),
    ]);
    for r in &resources {
        let tags = &r["values"]["input"]["tags"];
        for (k, v) in &want {
            assert_eq!(tags[k], *v, "{} lacks tag {k}={v}: {tags}", r["address"]);
        }
    }
    let modules: BTreeSet<&str> = resources
        .iter()
        .filter_map(|r| r["address"].as_str()?.split('.').nth(1))
        .collect();
    assert_eq!(
        modules,
        BTreeSet::from([
            "app-config",
            "compute",
            "load-balancer",
            "monitoring",
            "network"
        ])
    );
    // Outputs declared by the package are set.
    let outputs = json(tf_ok(&dir, &["output", "-json"]).as_bytes());
    assert!(
        outputs["endpoint"]["value"]
            .as_str()
            .unwrap()
            .contains("web-frontend"),
        "{outputs}"
    );

    tf_ok(&dir, &["destroy", "-auto-approve", "-no-color"]);
    let after = json(tf_ok(&dir, &["show", "-json"]).as_bytes());
    let mut left = Vec::new();
    collect_resources(&after["values"]["root_module"], &mut left);
    assert!(left.is_empty(), "resources left after destroy: {left:?}");
}

fn collect_resources(module: &Value, out: &mut Vec<Value>) {
    if let Some(rs) = module["resources"].as_array() {
        out.extend(rs.iter().cloned());
    }
    if let Some(children) = module["child_modules"].as_array() {
        for c in children {
            collect_resources(c, out);
        }
    }
}

#[test]
fn rendering_twice_gives_byte_identical_trees_and_check_detects_drift() {
    let ex = Example::new();
    let a = ex.dir.path().join("a");
    let b = ex.dir.path().join("b");
    render_all(&ex, &a);
    render_all(&ex, &b);
    let (sa, sb) = (snapshot(&a), snapshot(&b));
    assert!(sa.len() > 7 * 20, "suspiciously few files: {}", sa.len());
    assert_eq!(sa, sb);
    // Rendering over an existing output gives the same bytes again.
    render_all(&ex, &a);
    assert_eq!(snapshot(&a), sb);

    // A fleet render writes each module tree once, into the output root's store, and points
    // every deployment at it by a relative path.
    let main: Value =
        serde_json::from_slice(&std::fs::read(a.join("dev/orders-db/main.tf.json")).unwrap())
            .unwrap();
    let source = main["module"]["database"]["source"].as_str().unwrap();
    let tree = source
        .strip_prefix("../../.modules/")
        .unwrap_or_else(|| panic!("{source}"));
    assert!(!a.join("dev/orders-db/modules").exists(), "no copy");
    let stored = a.join(".modules").join(tree);
    assert!(stored.join("main.tf").is_file());
    let in_store: BTreeSet<String> = sa
        .keys()
        .filter(|p| p.starts_with(".modules/"))
        .filter_map(|p| p.split('/').nth(1).filter(|t| !t.is_empty()))
        .map(str::to_owned)
        .collect();
    let mut used = BTreeSet::new();
    for (path, _) in sa.iter().filter(|(p, _)| p.ends_with("/main.tf.json")) {
        let v: Value = serde_json::from_slice(&std::fs::read(a.join(path)).unwrap()).unwrap();
        for m in v["module"].as_object().unwrap().values() {
            used.insert(m["source"].as_str().unwrap()[15..].to_owned());
        }
    }
    assert_eq!(in_store, used, "one store entry per tree used, no other");

    let check = |args: &[&str]| ex.render(args).status.code();
    let all_check = ["--all", "--out", a.to_str().unwrap(), "--check"];
    assert_eq!(check(&all_check), Some(0));
    std::fs::write(stored.join("main.tf"), "# edited by hand\n").unwrap();
    let before = snapshot(&a);
    let o = ex.render(&all_check);
    assert_eq!(o.status.code(), Some(1));
    let edited = format!("../../.modules/{tree}/main.tf");
    assert!(stdout(&o).contains(&edited), "{}", stdout(&o));
    assert_eq!(snapshot(&a), before, "--check must not write");
    // Rendering again repairs nothing in the store (an entry is written once)...
    render_all(&ex, &a);
    assert_eq!(check(&all_check), Some(1));
    // ...a store entry removed is written again.
    std::fs::remove_dir_all(&stored).unwrap();
    render_all(&ex, &a);
    assert_eq!(snapshot(&a), sb);

    // One deployment into its own directory, or a fleet with --standalone: modules copied in.
    let one = ex.dir.path().join("one");
    let o = ex.render(&["dev/orders-db", "--out", one.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(one.join("modules/database/main.tf").is_file());
    let one_check = ["dev/orders-db", "--out", one.to_str().unwrap(), "--check"];
    assert_eq!(check(&one_check), Some(0));
    std::fs::write(one.join("modules/database/main.tf"), "# edited by hand\n").unwrap();
    let before = snapshot(&one);
    let o = ex.render(&one_check);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("modules/database/main.tf"),
        "{}",
        stdout(&o)
    );
    assert_eq!(snapshot(&one), before, "--check must not write");
    let c = ex.dir.path().join("c");
    let o = ex.render(&["--all", "--standalone", "--out", c.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!c.join(".modules").exists());
    assert!(c.join("dev/orders-db/modules/database/main.tf").is_file());
    assert_eq!(
        std::fs::read(c.join("dev/orders-db/modules/database/main.tf")).unwrap(),
        std::fs::read(a.join(".modules").join(tree).join("main.tf")).unwrap()
    );
}

/// main.tf.json of every deployment with the source commit replaced, so renders at two commits can
/// be compared for what the change really did.
fn normalized(ex: &Example, out: &Path) -> BTreeMap<String, String> {
    certify_prod_package(ex); // before reading HEAD: it commits the record
    let head = ex.git(&["rev-parse", "HEAD"]);
    render_all(ex, out)
        .into_iter()
        .map(|id| {
            let text = std::fs::read_to_string(out.join(&id).join("main.tf.json")).unwrap();
            (id, text.replace(&head, "<commit>"))
        })
        .collect()
}

fn changed_since(ex: &Example, rev: &str) -> (BTreeSet<String>, Vec<String>) {
    let o = ex.render(&["--changed-since", rev, "--list", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o.stdout);
    let render = v["render"].as_object().unwrap().keys().cloned().collect();
    let destroy = v["destroy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect();
    (render, destroy)
}

#[test]
fn a_changed_profile_value_changes_exactly_the_deployments_using_it() {
    let ex = Example::new();
    let before = normalized(&ex, &ex.dir.path().join("before"));
    // The repo's own internal-tooling profile (merged over the built-in one).
    let path = "profiles/internal-tooling.toml";
    let text = std::fs::read_to_string(ex.repo().join(path)).unwrap();
    let changed = text.replace("latency_p99_ms = 1500", "latency_p99_ms = 1200");
    assert_ne!(
        text, changed,
        "the example profile must set latency_p99_ms = 1500"
    );
    ex.commit_file(
        path,
        &changed,
        "Tighten the latency alarm of internal tools",
    );
    let after = normalized(&ex, &ex.dir.path().join("after"));

    let differs: BTreeSet<String> = before
        .iter()
        .filter(|(id, text)| after.get(*id) != Some(*text))
        .map(|(id, _)| id.clone())
        .collect();
    let users: BTreeSet<String> = before
        .keys()
        .filter(|id| {
            let d =
                std::fs::read_to_string(ex.repo().join("deployments").join(format!("{id}.toml")))
                    .unwrap();
            d.contains("profile = \"internal-tooling\"")
        })
        .cloned()
        .collect();
    assert!(!users.is_empty());
    assert_eq!(
        differs, users,
        "exactly the deployments using the profile change"
    );
    let (render, destroy) = changed_since(&ex, "HEAD~1");
    assert_eq!(render, users);
    assert!(destroy.is_empty());
}

#[test]
fn a_mistake_shared_by_every_deployment_is_reported_once_and_nothing_is_written() {
    let ex = Example::new();
    let out = ex.dir.path().join("fleet");
    // The protected prod deployment would be refused (uncertified package) before any of this.
    std::fs::remove_file(ex.repo().join("deployments/prod/orders-api.toml")).unwrap();
    // gitops.toml puts state under {state_dir}: without a state directory every deployment fails
    // with the same message.
    let o = ex
        .cmd("gitops-render")
        .env_remove("GITOPS_STATE_DIR")
        .args(["--repo", ex.repo().to_str().unwrap(), "--all", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("{state_dir}")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("gitops.toml:"), "{err}");
    assert!(!out.exists(), "nothing written");
}

#[test]
fn changed_since_reads_requests_through_an_index_keyed_by_content() {
    let ex = Example::new();
    let read = |rel: &str| std::fs::read_to_string(ex.repo().join(rel)).unwrap();
    let set = |ids: &[&str]| -> BTreeSet<String> { ids.iter().map(|s| (*s).to_owned()).collect() };
    let pkg = "packages/data-store/1.0.0.toml";
    let text = read(pkg);
    ex.commit_file(pkg, &format!("{text}\n# one\n"), "Touch data-store 1.0.0");
    // staging/orders-api reads staging/orders-db's endpoint: affected with it.
    assert_eq!(
        changed_since(&ex, "HEAD~1").0,
        set(&["dev/orders-db", "staging/orders-api", "staging/orders-db"])
    );
    // The first run parsed every committed request and wrote one line for each.
    let dir = ex.cache().join("requests");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let index = std::fs::read_to_string(&files[0]).unwrap();
    let requests = snapshot(&ex.repo().join("deployments"))
        .keys()
        .filter(|k| k.ends_with(".toml"))
        .count();
    assert_eq!(index.lines().count(), 1 + requests, "{index}");
    assert!(
        index
            .lines()
            .any(|l| l.ends_with(" data-store 1.0.0 database-cluster -")),
        "{index}"
    );
    // The index keeps each request's dependencies (staging/orders-api's: orders-db).
    assert!(
        index
            .lines()
            .any(|l| l.ends_with(" web-service 1.0.0 high-traffic-api orders-db")),
        "{index}"
    );

    // dev/orders-db moves to 1.1.0: new content, a new blob id, so the entry of its old content
    // no longer answers for it.
    let req = "deployments/dev/orders-db.toml";
    let moved = read(req).replace("package = \"1.0.0\"", "package = \"1.1.0\"");
    assert_ne!(moved, read(req));
    ex.commit_file(req, &moved, "dev/orders-db to data-store 1.1.0");
    ex.commit_file(
        pkg,
        &format!("{text}\n# two\n"),
        "Touch data-store 1.0.0 again",
    );
    // A request not committed yet is read from the work tree.
    let extra = read("deployments/staging/orders-db.toml");
    std::fs::write(ex.repo().join("deployments/dev/extra-db.toml"), extra).unwrap();
    let expected = set(&["dev/extra-db", "staging/orders-api", "staging/orders-db"]);
    assert_eq!(changed_since(&ex, "HEAD~1").0, expected);

    // An unreadable index is only a cache miss: the same answer, and the index is written again.
    std::fs::write(&files[0], "not an index\n").unwrap();
    assert_eq!(changed_since(&ex, "HEAD~1").0, expected);
    let index = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        index.starts_with("gitops-toolkit requests index"),
        "{index}"
    );
    assert_eq!(index.lines().count(), 1 + requests, "{index}");
}

#[test]
fn changed_since_follows_packages_requests_and_deletions() {
    let ex = Example::new();
    let base = ex.git(&["rev-parse", "HEAD"]);
    // A package change affects exactly the deployments pinning that version.
    let pkg = "packages/data-store/1.0.0.toml";
    let text = std::fs::read_to_string(ex.repo().join(pkg)).unwrap();
    ex.commit_file(
        pkg,
        &format!("{text}\n# reviewed\n"),
        "Touch data-store 1.0.0",
    );
    let (render, _) = changed_since(&ex, &base);
    // ... and the deployments that depend on those (staging/orders-api reads staging/orders-db).
    let users: BTreeSet<String> = ["dev/orders-db", "staging/orders-api", "staging/orders-db"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(render, users);

    // A deleted request is reported for destruction, not rendered.
    ex.git(&["rm", "-q", "deployments/dev/orders-api.toml"]);
    ex.git(&["commit", "-q", "-m", "Retire dev/orders-api"]);
    let (render, destroy) = changed_since(&ex, "HEAD~1");
    assert!(render.is_empty(), "{render:?}");
    assert_eq!(destroy, vec!["dev/orders-api".to_owned()]);

    // An environment change affects every deployment of that environment; the range accumulates.
    let env = "environments/staging.toml";
    let text = std::fs::read_to_string(ex.repo().join(env)).unwrap();
    ex.commit_file(env, &format!("{text}\n# audited\n"), "Touch staging");
    let (render, destroy) = changed_since(&ex, &base);
    assert_eq!(
        render,
        ["dev/orders-db", "staging/orders-api", "staging/orders-db"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    );
    assert_eq!(destroy, vec!["dev/orders-api".to_owned()]);

    // --changed-since with --out renders the affected set only.
    let out = ex.dir.path().join("changed");
    let o = ex.render(&[
        "--changed-since",
        &base,
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o.stdout);
    assert_eq!(v["rendered"].as_array().unwrap().len(), 3);
    assert_eq!(v["destroy"][0], "dev/orders-api");
    assert!(out.join("staging/orders-api/main.tf.json").is_file());
    assert!(!out.join("dev/web-frontend").exists());
}

#[test]
fn explain_shows_precedence_and_sources() {
    let ex = Example::new();
    let o = ex.render(&["dev/web-frontend", "--explain", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o.stdout);
    let find = |module: &str, input: &str| -> Value {
        v["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["module"] == module && e["input"] == input)
            .cloned()
            .unwrap_or_else(|| panic!("{module}.{input} not explained"))
    };
    // deployment override beats the profile, and the overridden value is shown.
    let dc = find("compute", "desired_capacity");
    assert_eq!(dc["layer"], "deployment");
    assert!(dc["source"]
        .as_str()
        .unwrap()
        .starts_with("deployments/dev/web-frontend.toml"));
    assert!(
        dc["notes"][0]
            .as_str()
            .unwrap()
            .contains("profiles/internal-tooling.toml"),
        "{dc}"
    );
    // environment beats the profile.
    assert_eq!(find("monitoring", "alert_route")["layer"], "environment");
    // the repo profile is merged over the built-in one.
    assert_eq!(
        find("compute", "instance_type")["source"],
        "profiles/internal-tooling.toml [sandbox.compute.instance_type]"
    );
    assert!(find("network", "cidr_block")["source"]
        .as_str()
        .unwrap()
        .starts_with("builtin:profiles/internal-tooling.toml"));
    assert_eq!(find("compute", "subnet_ids")["layer"], "wiring");
    assert_eq!(find("compute", "image")["layer"], "package");
    assert_eq!(find("app-config", "secret_refs")["layer"], "module-default");
    assert_eq!(find("network", "tags")["layer"], "tags");
    // The repo profile's layering is said once, and a built-in value it replaced is a note.
    assert_eq!(
        v["profile"],
        serde_json::json!([
            "profiles/internal-tooling.toml merges over the built-in profile \
             internal-tooling (builtin:profiles/internal-tooling.toml): its values win, the \
             built-in's others stay"
        ])
    );
    assert_eq!(
        find("compute", "instance_type")["notes"],
        serde_json::json!([
            "over \"t3.small\" from builtin:profiles/internal-tooling.toml [sandbox.compute.instance_type]"
        ])
    );
    // Text form too.
    let o = ex.render(&["dev/web-frontend", "--explain"]);
    assert!(stdout(&o).contains("module compute"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains(
            "\nprofile internal-tooling: profiles/internal-tooling.toml merges over the built-in"
        ),
        "{}",
        stdout(&o)
    );
    assert!(!ex.out().exists(), "--explain alone writes nothing");
    // A built-in profile used as it is: nothing to say.
    let o = ex.render(&["dev/orders-api", "--explain", "--json"]);
    assert_eq!(json(&o.stdout)["profile"], serde_json::json!([]));
}

/// `source_dirty` of the manifest `gitops-render <id> --out <out>` wrote.
fn rendered_dirty(ex: &Example, id: &str, out: &Path) -> bool {
    let o = ex.render(&[id, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let m = json(&std::fs::read(out.join(".gitops/manifest.json")).unwrap());
    m["source_dirty"].as_bool().unwrap()
}

#[test]
fn ignored_or_untracked_inputs_make_a_render_dirty_and_protected_environments_refuse_it() {
    let ex = Example::new();
    certify_prod_package(&ex);
    ex.commit_file(
        ".gitignore",
        "/build-output/\ndeployments/dev/scratch-*.toml\n",
        "Ignore local files",
    );
    let dev = ex.out().join("dev");
    let prod = ex.out().join("prod");
    assert!(!rendered_dirty(&ex, "dev/orders-api", &dev));
    assert!(!rendered_dirty(&ex, "prod/orders-api", &prod));

    // An ignored output directory is no input: still clean, prod still renders.
    std::fs::create_dir_all(ex.repo().join("build-output/dev")).unwrap();
    std::fs::write(ex.repo().join("build-output/dev/main.tf.json"), "{}").unwrap();
    assert!(!rendered_dirty(&ex, "dev/orders-api", &dev));
    assert!(!rendered_dirty(&ex, "prod/orders-api", &prod));

    // A git-ignored request: render reads deployments/, git does not hold it.
    let ignored = ex.repo().join("deployments/dev/scratch-api.toml");
    std::fs::copy(ex.repo().join("deployments/dev/orders-api.toml"), &ignored).unwrap();
    assert_eq!(ex.git(&["status", "--porcelain"]), "", "git sees nothing");
    assert!(rendered_dirty(&ex, "dev/orders-api", &dev));
    let before = snapshot(&prod);
    let o = ex.render(&["prod/orders-api", "--out", prod.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    for part in [
        "prod/orders-api is in protected environment prod",
        "source_dirty",
        "git-ignored",
    ] {
        assert!(stderr(&o).contains(part), "{part:?}: {}", stderr(&o));
    }
    assert_eq!(snapshot(&prod), before, "nothing written");
    // --all refuses too, and writes nothing.
    let all = ex.out().join("all");
    let o = ex.render(&["--all", "--out", all.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(!all.join("prod").exists() && !all.join("dev").exists());
    std::fs::remove_file(&ignored).unwrap();

    // An untracked (not ignored) file: the same.
    let untracked = ex.repo().join("environments/notes.toml");
    std::fs::write(&untracked, "").unwrap();
    let o = ex.render(&["prod/orders-api", "--out", prod.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    std::fs::remove_file(&untracked).unwrap();
    assert!(!rendered_dirty(&ex, "prod/orders-api", &prod));

    // gitops-plan (and gitops-apply: the same guard) refuse a dirty render of a protected
    // environment before Terraform or Vault: here a manifest that says so.
    let manifest = prod.join(".gitops/manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let dirty = text.replace("\"source_dirty\": false", "\"source_dirty\": true");
    assert_ne!(dirty, text);
    std::fs::write(&manifest, dirty).unwrap();
    for bin in ["gitops-plan", "gitops-apply"] {
        let mut c = ex.cmd(bin);
        c.arg("--repo").arg(ex.repo()).arg(&prod);
        if bin == "gitops-apply" {
            c.args(["--approved-by", "alice"]);
        }
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(3), "{bin}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("prod/orders-api is in protected environment prod"),
            "{bin}: {}",
            stderr(&o)
        );
        assert!(!prod.join("plan.bin").exists() && !prod.join(".terraform").exists());
    }
}

#[test]
fn template_sequences_in_values_stay_data() {
    let ex = Example::new();
    let path = "deployments/dev/web-frontend.toml";
    let text = std::fs::read_to_string(ex.repo().join(path)).unwrap();
    let text = text.replace(
        "[app_config]",
        "[app_config]\nGREETING = \"${file(\\\"/etc/passwd\\\")} %{ if true }x%{ endif }\"",
    );
    ex.commit_file(path, &text, "A value that looks like a template");
    let dir = ex.out().join("w");
    let o = ex.render(&["dev/web-frontend", "--out", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    tf_ok(&dir, &["init", "-no-color"]);
    tf_ok(
        &dir,
        &[
            "apply",
            "-auto-approve",
            "-no-color",
            "-target=module.app-config",
        ],
    );
    let state = json(tf_ok(&dir, &["show", "-json"]).as_bytes());
    let mut rs = Vec::new();
    collect_resources(&state["values"]["root_module"], &mut rs);
    let all = serde_json::to_string(&rs).unwrap();
    assert!(
        all.contains("${file(\\\"/etc/passwd\\\")} %{ if true }x%{ endif }"),
        "the literal value reaches the resource"
    );
    assert!(!all.contains("root:x:0:0"), "the template was evaluated");
}

#[test]
fn aws_and_azure_environments_get_providers_and_default_tags() {
    let ex = Example::new();
    // Point the aws/azure module roots at the sandbox module repos: they share the interfaces.
    let cfg = std::fs::read_to_string(ex.repo().join("gitops.toml")).unwrap();
    let cfg = cfg.replace(
        "[module_roots]",
        "[module_roots]\naws = \"../modules\"\nazure = \"../modules\"",
    );
    // State per cloud: S3 for aws (non-string values, a nested block, {region} and {account}),
    // and one environment's own backend over its cloud's.
    let cfg = format!(
        "{cfg}\n[backends.aws]\ntype = \"s3\"\n[backends.aws.config]\nbucket = \"tfstate-{{account}}\"\n\
         key = \"{{env}}/{{name}}.tfstate\"\nregion = \"{{region}}\"\nuse_lockfile = true\nmax_retries = 5\n\
         [backends.aws.config.assume_role]\nrole_arn = \"arn:aws:iam::{{account}}:role/state\"\n\
         [backends.azure-prod]\ntype = \"azurerm\"\n[backends.azure-prod.config]\n\
         storage_account_name = \"tfstate\"\ncontainer_name = \"{{env}}\"\nkey = \"{{name}}.tfstate\"\n"
    );
    ex.commit_file(
        "gitops.toml",
        &cfg,
        "Add aws and azure module roots and backends",
    );
    ex.commit_file(
        "environments/aws-prod.toml",
        // Unprotected: no certification record covers the aws cloud (protection is tested elsewhere).
        "cloud = \"aws\"\nregion = \"eu-west-1\"\naccount = \"123456789012\"\nprotected = false\n",
        "aws env",
    );
    ex.commit_file("environments/azure-prod.toml", "cloud = \"azure\"\nregion = \"westeurope\"\naccount = \"0b1f6471-1bf0-4dda-aec3-111122223333\"\n[inputs.app-config]\nenvironment = \"prod\"\n", "azure env");
    let req = "component = \"web-service\"\npackage = \"1.1.0\"\nprofile = \"high-traffic-api\"\n[monitoring]\nalert_route = \"pagerduty:web\"\n";
    ex.commit_file(
        "deployments/aws-prod/web.toml",
        &req.replace(
            "[monitoring]",
            "[overrides.app-config]\nenvironment = \"prod\"\n[monitoring]",
        ),
        "aws deployment",
    );
    ex.commit_file("deployments/azure-prod/web.toml", req, "azure deployment");
    for (id, cloud) in [("aws-prod/web", "aws"), ("azure-prod/web", "azure")] {
        let dir = ex.out().join(id);
        let o = ex.render(&[id, "--out", dir.to_str().unwrap(), "--no-vendor"]);
        assert_eq!(o.status.code(), Some(0), "{id}: {}", stderr(&o));
        let main = json(&std::fs::read(dir.join("main.tf.json")).unwrap());
        assert!(!dir.join("modules").exists(), "--no-vendor vendors nothing");
        let source = main["module"]["network"]["source"].as_str().unwrap();
        assert!(
            source.starts_with("git::file://") && source.ends_with("?ref=v1.1.0"),
            "{source}"
        );
        let lb = &main["module"]["load-balancer"];
        let backend = &main["terraform"]["backend"];
        if cloud == "aws" {
            assert_eq!(
                backend["s3"],
                serde_json::json!({
                    "bucket": "tfstate-123456789012",
                    "key": "aws-prod/web.tfstate",
                    "region": "eu-west-1",
                    "use_lockfile": true,
                    "max_retries": 5,
                    "assume_role": { "role_arn": "arn:aws:iam::123456789012:role/state" }
                })
            );
        } else {
            assert_eq!(
                backend["azurerm"]["container_name"], "azure-prod",
                "{backend}"
            );
        }
        if cloud == "aws" {
            assert_eq!(main["provider"]["aws"]["region"], "eu-west-1");
            assert_eq!(
                main["provider"]["aws"]["allowed_account_ids"][0],
                "123456789012"
            );
            assert_eq!(
                main["provider"]["aws"]["default_tags"]["tags"]["gitops:deployment"],
                "aws-prod/web"
            );
            assert_eq!(lb["kind"], "nlb");
        } else {
            assert_eq!(
                main["provider"]["azurerm"]["subscription_id"],
                "0b1f6471-1bf0-4dda-aec3-111122223333"
            );
            assert_eq!(lb["kind"], "app-gateway");
            assert!(
                lb["tls_policy"]
                    .as_str()
                    .unwrap()
                    .starts_with("AppGwSslPolicy"),
                "{lb}"
            );
        }
        assert_eq!(
            main["terraform"]["required_providers"][if cloud == "aws" { "aws" } else { "azurerm" }]
                ["source"],
            format!(
                "hashicorp/{}",
                if cloud == "aws" { "aws" } else { "azurerm" }
            )
        );
    }
}

#[test]
fn schema_prints_a_json_schema_for_every_kind() {
    let ex = Example::new();
    for kind in ["gitops", "environment", "profile", "package", "deployment"] {
        let o = ex
            .cmd("gitops-render")
            .args(["schema", kind])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{kind}: {}", stderr(&o));
        let v = json(&o.stdout);
        assert!(
            v["$schema"].as_str().unwrap().contains("json-schema.org"),
            "{kind}"
        );
        assert_eq!(
            v["additionalProperties"], false,
            "{kind}: unknown keys are rejected"
        );
    }
    let o = ex
        .cmd("gitops-render")
        .args(["schema", "deployment"])
        .output()
        .unwrap();
    let v = json(&o.stdout);
    let required: Vec<&str> = v["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(required, vec!["component", "package", "profile"]);
}

#[test]
fn module_cache_is_shared_and_fetched_once() {
    let ex = Example::new();
    let out = ex.out();
    render_all(&ex, &out);
    let mirrors: Vec<PathBuf> = std::fs::read_dir(ex.cache().join("repos"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "git"))
        .collect();
    assert_eq!(mirrors.len(), 6, "one mirror per module repository");
    let trees = std::fs::read_dir(ex.cache().join("trees"))
        .unwrap()
        .filter(|e| {
            !e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(trees, 12, "one exported tree per module version");
    // Once cached, renders need no access to the module repositories at all.
    std::fs::rename(ex.modules(), ex.dir.path().join("modules-gone")).unwrap();
    let again = ex.dir.path().join("again");
    render_all(&ex, &again);
    assert_eq!(snapshot(&again), snapshot(&out));
}

#[test]
fn a_reader_that_closes_stdout_early_is_no_crash() {
    // `gitops-render ... --explain | head -1` in a script: the pipe closes while the binary still
    // writes. It must finish with the operation's exit code, without a panic.
    let ex = Example::new();
    let mut child = ex
        .cmd("gitops-render")
        .args([
            "--repo",
            ex.repo().to_str().unwrap(),
            "dev/orders-api",
            "--explain",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(0), "{err}");
}

#[test]
fn wiring_paths_and_sensitive_outputs_reach_terraform() {
    let ex = Example::new();
    let pkg = std::fs::read_to_string(ex.repo().join("packages/data-store/1.1.0.toml")).unwrap();
    // A path into a map output instead of the whole list output, and a sensitive re-export.
    let pkg = pkg
        .replace(
            "subnet_ids = \"network.data_subnet_ids\"",
            "subnet_ids = 'network.subnet_ids[\"data\"]'",
        )
        .replace(
            "db_endpoint = \"database.endpoint\"",
            "db_endpoint = \"database.endpoint\"\nfirst_zone = \"network.zones[0]\"\ndb_secret = { value = \"database.endpoint\", sensitive = true }",
        );
    ex.commit_file("packages/data-store/1.2.0.toml", &pkg, "data-store 1.2.0");
    ex.commit_file(
        "deployments/dev/paths-db.toml",
        "component = \"data-store\"\npackage = \"1.2.0\"\nprofile = \"database-cluster\"\n",
        "a deployment of 1.2.0",
    );
    let dir = ex.out().join("dev/paths-db");
    let o = ex.render(&["dev/paths-db", "--out", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let main = json(&std::fs::read(dir.join("main.tf.json")).unwrap());
    assert_eq!(
        main["module"]["database"]["subnet_ids"],
        "${module.network.subnet_ids[\"data\"]}"
    );
    assert_eq!(
        main["output"]["db_secret"],
        serde_json::json!({ "value": "${module.database.endpoint}", "sensitive": true })
    );
    assert_eq!(
        main["output"]["first_zone"]["value"],
        "${module.network.zones[0]}"
    );
    // Terraform takes both: the apply succeeds and the output stays sensitive.
    tf_ok(&dir, &["init", "-no-color"]);
    tf_ok(&dir, &["apply", "-auto-approve", "-no-color"]);
    let outputs = json(tf_ok(&dir, &["output", "-json"]).as_bytes());
    assert_eq!(outputs["db_secret"]["sensitive"], true);
    assert_eq!(outputs["db_endpoint"]["sensitive"], false);
    assert!(outputs["first_zone"]["value"].is_string(), "{outputs}");
    let shown = tf_ok(&dir, &["output", "-no-color"]);
    assert!(shown.contains("db_secret = <sensitive>"), "{shown}");

    // A path that is not one: exit 2 naming the package file, the key and its line; nothing written.
    let bad = pkg.replace(
        "subnet_ids = 'network.subnet_ids[\"data\"]'",
        "subnet_ids = 'network.subnet_ids[\"data\"]}${file(\"/etc/passwd\")'",
    );
    ex.commit_file("packages/data-store/1.2.0.toml", &bad, "a bad path");
    let dir2 = ex.out().join("dev/paths-db-2");
    let o = ex.render(&["dev/paths-db", "--out", dir2.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("packages/data-store/1.2.0.toml:")
            && e.contains("modules.database.wiring.subnet_ids")
            && e.contains("[\"key\"]"),
        "{e}"
    );
    assert!(!dir2.exists(), "nothing written");
}

/// Publishes `files` (path -> text) on top of the network module at v1.1.0 as tag `tag`, and a
/// data-store package `version` that pins it.
fn publish_network(ex: &Example, tag: &str, files: &[(&str, &str)], version: &str, inputs: &str) {
    let work = ex.dir.path().join(format!("network-{tag}"));
    let origin = ex.modules().join("network");
    git_in(
        ex.dir.path(),
        &[
            "clone",
            "-q",
            "--branch",
            "v1.1.0",
            origin.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    for (path, text) in files {
        std::fs::write(work.join(path), text).unwrap();
    }
    git_in(&work, &["add", "-A"]);
    git_in(&work, &["commit", "-q", "-m", tag]);
    git_in(&work, &["tag", "-a", tag, "-m", tag]);
    git_in(&work, &["push", "-q", "origin", tag]);
    let pkg = std::fs::read_to_string(ex.repo().join("packages/data-store/1.1.0.toml")).unwrap();
    let pkg = pkg
        .replacen("ref = \"v1.1.0\"", &format!("ref = \"{tag}\""), 1)
        .replace(
            "enable_nat_gateway = false             # a data store needs no egress",
            &format!("enable_nat_gateway = false\n{inputs}"),
        );
    assert!(
        pkg.contains(tag),
        "the network module comes first in the package"
    );
    ex.commit_file(
        &format!("packages/data-store/{version}.toml"),
        &pkg,
        version,
    );
    ex.commit_file(
        "deployments/dev/store.toml",
        &format!(
            "component = \"data-store\"\npackage = \"{version}\"\nprofile = \"database-cluster\"\n"
        ),
        "a deployment",
    );
}

#[test]
fn module_interfaces_are_read_as_terraform_reads_them() {
    let ex = Example::new();
    // A *.tf.json variable (required), a repeated object key (Terraform takes it, the last wins)
    // and an input name of 65 characters, as found in public modules.
    let long = format!("a{}", "_b".repeat(32));
    let json_tf = format!(
        r#"{{"variable": {{"json_required": {{"type": "string"}}, "{long}": {{"type": "number", "default": 1}}}}}}"#
    );
    let repeated = "variable \"repeated\" {\n  type    = map(string)\n  default = { a = \"1\", a = \"2\" }\n}\n";
    publish_network(
        &ex,
        "v9.0.0",
        &[("extra.tf.json", &json_tf), ("repeated.tf", repeated)],
        "9.0.0",
        "",
    );
    let dir = ex.out().join("dev/store");
    let o = ex.render(&["dev/store", "--out", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("required input `json_required` of network@v9.0.0"),
        "the JSON-declared required input is known: {}",
        stderr(&o)
    );
    publish_network(
        &ex,
        "v9.0.1",
        &[("extra.tf.json", &json_tf), ("repeated.tf", repeated)],
        "9.0.1",
        &format!("json_required = \"from-the-package\"\n{long} = 7"),
    );
    let o = ex.render(&["dev/store", "--out", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let main = json(&std::fs::read(dir.join("main.tf.json")).unwrap());
    assert_eq!(
        main["module"]["network"]["json_required"],
        "from-the-package"
    );
    assert_eq!(main["module"]["network"][long.as_str()], 7);
    tf_ok(&dir, &["init", "-no-color"]);
    assert!(tf_ok(&dir, &["validate", "-no-color"]).contains("The configuration is valid"));

    // A module file nothing can parse: exit 2 naming the package file, the module and the
    // module's own file (not a cache path); nothing written.
    publish_network(
        &ex,
        "v9.0.2",
        &[("broken.tf", "variable \"x\" {\n")],
        "9.0.2",
        "",
    );
    let dir2 = ex.out().join("dev/store-2");
    let o = ex.render(&["dev/store", "--out", dir2.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("packages/data-store/9.0.2.toml:")
            && e.contains("modules.network")
            && e.contains("module network@v9.0.2: broken.tf:")
            && !e.contains(ex.cache().to_str().unwrap()),
        "{e}"
    );
    assert!(!dir2.exists(), "nothing written");
}

#[test]
fn remote_module_sources_in_module_code_are_reported_and_refused_where_protected() {
    let ex = Example::new();
    // Module code that calls a registry module: terraform init would fetch it, unpinned.
    let call =
        "module \"label\" {\n  source  = \"cloudposse/label/null\"\n  version = \"0.25.0\"\n}\n";
    publish_network(&ex, "v9.1.0", &[("label.tf", call)], "9.1.0", "");
    let dir = ex.out().join("dev/store");
    let o = ex.render(&["dev/store", "--out", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains(
            "module network@v9.1.0 calls module \"label\" from cloudposse/label/null (label.tf)"
        ),
        "a warning naming the module, the file and the source: {e}"
    );
    // The same package in a protected environment: refused (exit 3), nothing written.
    ex.commit_file(
        "deployments/prod/store.toml",
        "component = \"data-store\"\npackage = \"9.1.0\"\nprofile = \"database-cluster\"\n",
        "prod",
    );
    let prod = ex.out().join("prod/store");
    let o = ex.render(&["prod/store", "--out", prod.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("environment prod is protected")
            && stderr(&o).contains("allow_remote_module_sources"),
        "{}",
        stderr(&o)
    );
    assert!(!prod.exists(), "nothing written");
    // Allowed in gitops.toml: the remaining guard (certification) is what refuses now.
    let cfg = std::fs::read_to_string(ex.repo().join("gitops.toml")).unwrap();
    ex.commit_file(
        "gitops.toml",
        &format!("allow_remote_module_sources = true\n{cfg}"),
        "allow remote sources",
    );
    let o = ex.render(&["prod/store", "--out", prod.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        !stderr(&o).contains("allow_remote_module_sources") && stderr(&o).contains("not certified"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_module_in_a_sub_directory_keeps_its_repository_siblings() {
    // The shape of terraform-aws-modules/eks: modules/<x> calls ../_user_data and reads
    // ${path.module}/../../templates. Vendoring only modules/<x> broke terraform init.
    let ex = Example::new();
    let repo = ex.modules().join("multi");
    let files = [
        (
            "modules/app/main.tf",
            "variable \"tags\" { type = map(string) }\nvariable \"name\" { type = string }\n\
             module \"user_data\" {\n  source = \"../_user_data\"\n  name   = var.name\n}\n\
             resource \"terraform_data\" \"app\" {\n  input = { tags = var.tags, user_data = module.user_data.rendered, banner = file(\"${path.module}/../../templates/banner.tpl\") }\n}\n\
             output \"user_data\" { value = module.user_data.rendered }\n",
        ),
        (
            "modules/_user_data/main.tf",
            "variable \"name\" { type = string }\noutput \"rendered\" { value = templatefile(\"${path.module}/../../templates/user_data.tpl\", { name = var.name }) }\n",
        ),
        ("templates/user_data.tpl", "#!/bin/sh\necho ${name}\n"),
        ("templates/banner.tpl", "hello"),
    ];
    for (path, text) in files {
        let p = repo.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    git_in(&repo, &["init", "-q"]);
    git_in(&repo, &["add", "-A"]);
    git_in(&repo, &["commit", "-q", "-m", "multi"]);
    git_in(&repo, &["tag", "-a", "v1.0.0", "-m", "v1.0.0"]);
    ex.commit_file(
        "packages/multi/1.0.0.toml",
        "[modules.app]\nrepo = \"multi\"\nref = \"v1.0.0\"\npath = \"modules/app\"\n[modules.app.inputs]\nname = \"orders\"\n[outputs]\nuser_data = \"app.user_data\"\n",
        "a package of a module in a sub-directory",
    );
    ex.commit_file(
        "profiles/plain.toml",
        "description = \"nothing\"\n[sandbox]\n",
        "plain",
    );
    ex.commit_file(
        "deployments/dev/multi.toml",
        "component = \"multi\"\npackage = \"1.0.0\"\nprofile = \"plain\"\n",
        "a deployment",
    );
    // One deployment (modules/ in its directory) and a fleet render (the shared store).
    let one = ex.out().join("one/dev/multi");
    let o = ex.render(&["dev/multi", "--out", one.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let main = json(&std::fs::read(one.join("main.tf.json")).unwrap());
    assert_eq!(main["module"]["app"]["source"], "./modules/app/modules/app");
    assert!(one.join("modules/app/templates/user_data.tpl").is_file());
    tf_ok(&one, &["init", "-no-color"]);
    tf_ok(&one, &["apply", "-auto-approve", "-no-color"]);
    let out = json(tf_ok(&one, &["output", "-json"]).as_bytes());
    assert_eq!(out["user_data"]["value"], "#!/bin/sh\necho orders\n");

    let fleet = ex.out().join("fleet");
    let o = ex.render(&["--all", "--out", fleet.to_str().unwrap()]);
    // prod/orders-api is refused without its certification; the fleet without prod renders.
    if o.status.code() == Some(3) {
        certify_prod_package(&ex);
        let o = ex.render(&["--all", "--out", fleet.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let main = json(&std::fs::read(fleet.join("dev/multi/main.tf.json")).unwrap());
    let source = main["module"]["app"]["source"].as_str().unwrap().to_owned();
    assert!(
        source.starts_with("../../.modules/") && source.ends_with("/modules/app"),
        "{source}"
    );
    let dir = fleet.join("dev/multi");
    assert!(dir
        .join(&source)
        .join("../../templates/banner.tpl")
        .is_file());
    tf_ok(&dir, &["init", "-no-color"]);
    assert!(tf_ok(&dir, &["validate", "-no-color"]).contains("The configuration is valid"));
    let check = ex.render(&["--all", "--out", fleet.to_str().unwrap(), "--check"]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
}
