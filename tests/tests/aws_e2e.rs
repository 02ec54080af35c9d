//! End to end on AWS, emulated by moto on loopback: the AWS example (`examples/platform-aws`) with
//! the real AWS provider (hashicorp/aws from the machine's filesystem mirror), state in S3 with
//! S3-native locking (`use_lockfile`), and the AWS keys from OpenBao's KV v2. Every test has its own
//! moto server, OpenBao and example, so they run in parallel; most of their time is the provider
//! waiting on moto (an ALB "active" after 60 s, an RDS instance after 80 s), not CPU.
//!
//! Skipped, with one line, where the AWS provider is absent (`aws_provider_mirror`).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use gitops_tests::moto::{state_list, AwsWorld};
use gitops_tests::{show, stderr, stdout};
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Resources moto's Tagging API lists with `gitops:deployment = id`.
fn tagged(w: &AwsWorld, id: &str) -> std::collections::BTreeMap<String, Value> {
    w.moto.tagged("gitops:deployment", id)
}

/// Certifies `component@version` in aws-certify; the record.
fn certify(w: &AwsWorld, component: &str, version: &str) -> Value {
    let o = w.run("gitops-certify", &["run", component, version, "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "certify {component} {version}: {}",
        show(&o)
    );
    let record = std::fs::read_to_string(
        w.ex.repo()
            .join(format!("certifications/{component}/{version}.toml")),
    )
    .expect("the certification record");
    let record: toml_value::Table = toml_value::parse(&record);
    serde_json::to_value(record).expect("the record as JSON")
}

/// A tiny TOML reader for the record (the tests crate has no toml dependency): `key = value`
/// lines of the top table, values as JSON (strings and arrays of strings are valid JSON).
mod toml_value {
    pub type Table = std::collections::BTreeMap<String, serde_json::Value>;
    pub fn parse(text: &str) -> Table {
        text.lines()
            .take_while(|l| !l.starts_with('['))
            .filter_map(|l| l.split_once(" = "))
            .filter_map(|(k, v)| Some((k.trim().to_owned(), serde_json::from_str(v.trim()).ok()?)))
            .collect()
    }
}

#[test]
fn web_service_is_certified_for_aws_on_moto_and_leaves_nothing_behind() {
    let Some(w) = AwsWorld::start("certification of web-service on moto") else {
        return;
    };
    let rec = certify(&w, "web-service", "1.0.0");
    assert_eq!(rec["clouds"], serde_json::json!(["aws"]), "{rec:#}");
    assert_eq!(rec["environments"], serde_json::json!(["aws-certify"]));
    assert_eq!(
        rec["profiles"],
        serde_json::json!(["high-traffic-api", "internal-tooling"])
    );
    let left = w.moto.tagged("gitops:environment", "aws-certify");
    assert!(left.is_empty(), "left behind in moto: {left:#?}");
    // The protected aws-prod now accepts the package (render is where it is enforced first).
    let out = w.ex.out().join("prod");
    let o = w.run(
        "gitops-render",
        &["aws-prod/orders-api", "--out", &out.to_string_lossy()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(!stderr(&o).contains("not certified"), "{}", stderr(&o));
}

#[test]
fn data_store_is_certified_for_aws_on_moto() {
    let Some(w) = AwsWorld::start("certification of data-store on moto") else {
        return;
    };
    // Before: the protected environment refuses an uncertified package, writing nothing.
    let out = w.ex.out().join("refused");
    let mut req =
        std::fs::read_to_string(w.ex.repo().join("deployments/aws-prod/orders-api.toml")).unwrap();
    req = req.replace("component = \"web-service\"", "component = \"data-store\"");
    req = req.replace(
        "profile = \"high-traffic-api\"",
        "profile = \"database-cluster\"",
    );
    req = req.split("[overrides.compute]").next().unwrap().to_owned();
    w.ex.commit_file(
        "deployments/aws-prod/orders-db.toml",
        &req,
        "aws-prod/orders-db",
    );
    let o = w.run(
        "gitops-render",
        &["aws-prod/orders-db", "--out", &out.to_string_lossy()],
    );
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    assert!(stderr(&o).contains("not certified"), "{}", stderr(&o));
    assert!(!out.exists());

    let rec = certify(&w, "data-store", "1.0.0");
    assert_eq!(rec["clouds"], serde_json::json!(["aws"]), "{rec:#}");
    assert_eq!(
        rec["profiles"],
        serde_json::json!(["database-cluster", "internal-tooling"])
    );
    let left = w.moto.tagged("gitops:environment", "aws-certify");
    assert!(left.is_empty(), "left behind in moto: {left:#?}");
    let o = w.run(
        "gitops-render",
        &["aws-prod/orders-db", "--out", &out.to_string_lossy()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
}

/// A drift check of `dir`: (exit code, drift.json).
fn drift(w: &AwsWorld, dir: &Path) -> (Option<i32>, Value) {
    let o = w.run("gitops-plan", &["--drift", &dir.to_string_lossy()]);
    assert!(
        matches!(o.status.code(), Some(0 | 4)),
        "drift check: {}",
        show(&o)
    );
    (o.status.code(), read_json(&dir.join("drift.json")))
}

fn drifted(d: &Value) -> Vec<(String, String)> {
    d["resources"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| {
                    (
                        r["address"].as_str().unwrap_or("").to_owned(),
                        r["action"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn web_service_lifecycle_on_moto_deploy_update_drift_rollback_destroy() {
    let Some(w) = AwsWorld::start("the AWS lifecycle on moto") else {
        return;
    };
    let id = "aws-dev/orders-api";
    let started = Instant::now();

    // Deploy 1.0.0: every resource the Tagging API lists carries the deployment's tags.
    let dir = w.deploy(id);
    let head = w.ex.git(&["rev-parse", "HEAD"]).trim().to_owned();
    let listed = tagged(&w, id);
    assert!(listed.len() >= 5, "{listed:#?}");
    for (arn, tags) in &listed {
        assert_eq!(tags["gitops:package"], "web-service@1.0.0", "{arn}");
        assert_eq!(tags["managed-by"], "gitops-toolkit", "{arn}");
        if !tags
            .as_object()
            .unwrap()
            .contains_key("aws:autoscaling:groupName")
        {
            assert_eq!(tags["gitops:commit"], head.as_str(), "{arn}");
        }
    }
    let first_state = state_list(&w, &dir);
    assert!(first_state
        .iter()
        .any(|a| a == "module.load-balancer.aws_lb.this"));

    // Update to the next package version (modules v1.1.0: an error-rate alarm more).
    let req = w.ex.repo().join("deployments").join(format!("{id}.toml"));
    let text = std::fs::read_to_string(&req).unwrap();
    w.ex.commit_file(
        &format!("deployments/{id}.toml"),
        &text.replace("package = \"1.0.0\"", "package = \"1.1.0\""),
        "orders-api to web-service 1.1.0",
    );
    let dir = w.deploy(id);
    let state = state_list(&w, &dir);
    assert!(
        state
            .iter()
            .any(|a| a == "module.monitoring.aws_cloudwatch_metric_alarm.error_rate"),
        "{state:?}"
    );
    // The per-deploy tags moved on everywhere, the template's own tags included.
    let o = w.run_ok("gitops-plan", &[&dir.to_string_lossy()], &[0]);
    assert!(stdout(&o).contains("No changes"), "{}", show(&o));

    // Drift: untouched, in sync.
    let (code, d) = drift(&w, &dir);
    assert_eq!(
        (code, d["status"].as_str()),
        (Some(0), Some("in_sync")),
        "{d:#}"
    );

    // A setting changed through the SSM API: drift naming the attribute.
    let param = "/dev/orders-api/LOG_LEVEL";
    w.moto.boto3(&format!(
        "client('ssm').put_parameter(Name='{param}', Value='trace', Type='String', Overwrite=True)\nprint('null')"
    ));
    let (code, d) = drift(&w, &dir);
    assert_eq!(code, Some(4), "{d:#}");
    let setting = "module.app-config.aws_ssm_parameter.setting[\"LOG_LEVEL\"]";
    assert_eq!(
        drifted(&d),
        vec![(setting.to_owned(), "update".to_owned())],
        "{d:#}"
    );
    let attrs = &d["resources"][0]["attributes"];
    assert!(
        attrs
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["path"] == "insecure_value"
                && a["before"] == "trace"
                && a["after"] == "debug"),
        "{attrs:#}"
    );

    // A parameter deleted through the API: drift, to be created again.
    let pool = "/dev/orders-api/ORDERS_DB_POOL_SIZE";
    w.moto.boto3(&format!(
        "client('ssm').delete_parameter(Name='{pool}')\nprint('null')"
    ));
    let (code, d) = drift(&w, &dir);
    assert_eq!(code, Some(4), "{d:#}");
    let found = drifted(&d);
    assert!(
        found.contains(&(
            "module.app-config.aws_ssm_parameter.setting[\"ORDERS_DB_POOL_SIZE\"]".to_owned(),
            "create".to_owned()
        )),
        "{found:?}"
    );

    // Roll back to the first deployment (1.0.0): a forward commit, rendered and planned, then
    // applied and tagged as any deployment: the drift is repaired, the alarm of 1.1.0 goes.
    let rolled = w.ex.out().join("rollback");
    let r = rolled.to_string_lossy().into_owned();
    let o = w.run_ok("gitops-rollback", &[id, "--to", "1", "--out", &r], &[0]);
    w.run_ok("gitops-apply", &[&r], &[0]);
    w.run_ok("gitops-tag", &[&r], &[0]);
    let state = state_list(&w, &rolled);
    assert!(
        !state
            .iter()
            .any(|a| a == "module.monitoring.aws_cloudwatch_metric_alarm.error_rate"),
        "{}\n{state:?}",
        show(&o)
    );
    let values = w.moto.boto3(&format!(
        "ssm = client('ssm')\nprint(json.dumps([ssm.get_parameter(Name=n)['Parameter']['Value'] for n in ['{param}', '{pool}']]))"
    ));
    assert_eq!(values, serde_json::json!(["debug", "5"]));
    let listed = tagged(&w, id);
    assert!(listed
        .values()
        .filter(|t| !t
            .as_object()
            .unwrap()
            .contains_key("aws:autoscaling:groupName"))
        .all(|t| t["gitops:package"] == "web-service@1.0.0"));

    // Destroy: the state is empty and moto holds nothing with the deployment's tag.
    let o = w.run_ok(
        "gitops-destroy",
        &[
            id,
            "--confirm",
            "orders-api",
            "--out",
            &w.ex.out().join("destroy").to_string_lossy(),
        ],
        &[0],
    );
    let gone = state_list(&w, &w.ex.out().join("destroy"));
    assert!(gone.is_empty(), "{}\n{gone:?}", show(&o));
    let left = tagged(&w, id);
    assert!(left.is_empty(), "left in moto after destroy: {left:#?}");
    eprintln!(
        "AWS lifecycle on moto (deploy, update, 3 drift checks, rollback, destroy): {} s",
        started.elapsed().as_secs()
    );
}

/// A `terraform` for one apply that dies like an agent: it runs the real Terraform with its
/// output in a log, and once a line containing `at` appears SIGKILLs Terraform, its providers and
/// its parent (gitops-apply), then itself. Other commands run the real Terraform.
fn killing_launcher(dir: &Path, at: &str) -> std::path::PathBuf {
    let p = dir.join("agent-dies");
    let log = dir.join("agent-dies.log");
    gitops_tests::write_executable(
        &p,
        &format!(
            r#"#!/usr/bin/env bash
tf='{tf}'
is_apply=0
for a in "$@"; do [ "$a" = apply ] && is_apply=1; done
[ "$is_apply" = 1 ] || exec "$tf" "$@"
"$tf" "$@" > '{log}' 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  if grep -qF '{at}' '{log}'; then
    pkill -KILL -P "$pid"; kill -KILL "$pid" "$PPID" $$
  fi
  sleep 0.01
done
echo "agent-dies: Terraform ended before '{at}'" >&2
cat '{log}' >&2
exit 1
"#,
            tf = gitops_tests::terraform().display(),
            log = log.display(),
        ),
    );
    p
}

#[test]
fn s3_lock_refuses_a_second_apply_naming_the_holder_and_a_killed_apply_converges() {
    let Some(w) = AwsWorld::start("the S3 state lock on moto") else {
        return;
    };
    let id = "aws-dev/orders-api";
    // Two agents render and plan the same deployment.
    let a = w.render_into(id, "agent-a");
    let b = w.render_into(id, "agent-b");
    for d in [&a, &b] {
        w.run_ok("gitops-plan", &[&d.to_string_lossy()], &[4]);
    }
    // Agent A applies (the ALB alone takes a minute on moto)...
    let mut apply_a = w
        .cmd("gitops-apply")
        .arg(&a)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gitops-apply");
    let lock_key = format!("{}.tflock", AwsWorld::state_key(id));
    let deadline = Instant::now() + Duration::from_secs(120);
    while !w.moto.state_object_exists(&lock_key) {
        assert!(
            apply_a.try_wait().unwrap().is_none(),
            "agent A's apply ended before its lock was seen"
        );
        assert!(
            Instant::now() < deadline,
            "no {lock_key} in the state bucket"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // ...agent B's apply is refused: exit 3, naming the holder and the lock.
    let o = w.run("gitops-apply", &[&b.to_string_lossy()]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    let err = stderr(&o);
    assert!(err.contains("the state is locked by"), "{err}");
    assert!(err.contains("OperationTypeApply"), "{err}");
    assert!(!b.join("outputs.json").exists());

    // A finishes: one apply wrote the state, the refused one nothing.
    assert!(apply_a.wait().unwrap().success(), "agent A's apply failed");
    w.run_ok("gitops-tag", &[&a.to_string_lossy()], &[0]);

    // The next release (web-service 1.1.0: updates everywhere and an error-rate alarm more) is
    // applied by an agent that dies mid-apply: kill -9 of gitops-apply and of its Terraform once
    // the alarm exists in AWS (created, not yet in the state).
    let req = format!("deployments/{id}.toml");
    let text = std::fs::read_to_string(w.ex.repo().join(&req)).unwrap();
    w.ex.commit_file(
        &req,
        &text.replace("package = \"1.0.0\"", "package = \"1.1.0\""),
        "orders-api to web-service 1.1.0",
    );
    let a = w.render_into(id, "agent-a");
    w.run_ok("gitops-plan", &[&a.to_string_lossy()], &[4]);
    let launcher = killing_launcher(
        w.ex.dir.path(),
        "module.monitoring.aws_cloudwatch_metric_alarm.error_rate: Creation complete",
    );
    let killed = w
        .cmd("gitops-apply")
        .env("GITOPS_TERRAFORM", &launcher)
        .arg(&a)
        .output()
        .expect("run gitops-apply");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&killed.status),
        Some(9),
        "gitops-apply was not killed: {}",
        show(&killed)
    );
    let alarms = w.moto.boto3(
        "print(json.dumps(len(client('cloudwatch').describe_alarms(AlarmNames=['orders-api-error-rate'])['MetricAlarms'])))",
    );
    assert_eq!(
        alarms,
        serde_json::json!(1),
        "the alarm was created before the kill"
    );
    // Its lock stays in S3: the next plan is refused, naming the holder and how to release it.
    assert!(w.moto.state_object_exists(&lock_key));
    let o = w.run("gitops-plan", &[&a.to_string_lossy()]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    let err = stderr(&o);
    let lock_id = err
        .split("--force-unlock ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no --force-unlock in: {err}"))
        .to_owned();
    // An empty ID is invalid input (exit 2, nothing run); a wrong one is refused by Terraform
    // (exit 1); both leave the lock.
    let o = w.run(
        "gitops-apply",
        &[&a.to_string_lossy(), "--force-unlock", ""],
    );
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(stderr(&o).contains("--force-unlock"), "{}", show(&o));
    let o = w.run(
        "gitops-apply",
        &[&a.to_string_lossy(), "--force-unlock", "0000-not-the-lock"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(w.moto.state_object_exists(&lock_key));
    w.run_ok(
        "gitops-apply",
        &[&a.to_string_lossy(), "--force-unlock", &lock_id],
        &[0],
    );
    assert!(!w.moto.state_object_exists(&lock_key));
    // Plan and apply again converge: each resource once, then no changes, tags verified in AWS.
    let d = a.to_string_lossy().into_owned();
    w.run_ok("gitops-plan", &[&d], &[4]);
    w.run_ok("gitops-apply", &[&d], &[0]);
    let o = w.run_ok("gitops-plan", &[&d], &[0]);
    assert!(stdout(&o).contains("No changes"), "{}", show(&o));
    let state = state_list(&w, &a);
    let mut unique = state.clone();
    unique.dedup();
    assert_eq!(unique.len(), state.len());
    assert!(state
        .iter()
        .any(|s| s == "module.monitoring.aws_cloudwatch_metric_alarm.error_rate"));
    let o = w.run_ok("gitops-tag", &[&d, "--json"], &[0]);
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(
        report["cloud"]["checked"].as_u64().unwrap_or(0) > 0,
        "{report:#}"
    );
}
