//! gitops-plan and gitops-apply end to end: real Terraform, credentials from Vault (an OpenBao dev
//! server per test; the stand-in only for fault injection and the aws/azure engines, which OpenBao
//! lacks), policy gate, exact-plan apply, locks, Vault failures. Drift checks: tests/drift.rs.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use gitops_tests::vault::{Fault, StandinConfig, TestVault};
use gitops_tests::{stderr, stdout, terraform, tf_ok, Example};
use serde_json::Value;
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The variables the example environments map from Vault (the KV ones), plus those of the cloud
/// engines [`cloud_credentials`] adds.
const VARS: [&str; 7] = [
    "SANDBOX_API_KEY",
    "SANDBOX_DB_PASSWORD",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "ARM_CLIENT_ID",
    "ARM_CLIENT_SECRET",
];

struct World {
    ex: Example,
    vault: TestVault,
    launcher_log: PathBuf,
    launcher: PathBuf,
}

/// The aws (STS) and azure credentials of the canary fixture, added to `dev.toml`.
const CLOUD_CREDENTIALS: &str = r#"
[[credentials]]
engine = "aws"
mount = "aws"
role = "sandbox-deploy"
sts = true

[[credentials]]
engine = "azure"
mount = "azure"
role = "sandbox-deploy"
"#;

/// Makes `dev.toml` also ask for the aws and azure engines' credentials (committed).
fn cloud_credentials(ex: &Example) {
    let env = ex.repo().join("environments/dev.toml");
    let text = std::fs::read_to_string(&env).unwrap() + CLOUD_CREDENTIALS;
    ex.commit_file(
        "environments/dev.toml",
        &text,
        "dev: aws and azure credentials",
    );
}

impl World {
    /// OpenBao.
    fn new() -> World {
        World::with_vault(TestVault::start(StandinConfig::canary()))
    }

    /// The stand-in, with `dev.toml` asking for aws/azure credentials too; `why` says why.
    fn standin(why: &str) -> World {
        let w = World::with_vault(TestVault::standin_because(why, StandinConfig::canary()));
        cloud_credentials(&w.ex);
        w
    }

    fn with_vault(vault: TestVault) -> World {
        let ex = Example::new();
        // A launcher in front of the real Terraform records a hash of each expected variable
        // (never the value) and the argv, then runs Terraform.
        let launcher = ex.dir.path().join("terraform-launcher");
        let launcher_log = ex.dir.path().join("launcher.log");
        let mut script = String::from("#!/usr/bin/env bash\nset -eu\n{\n");
        for v in VARS.iter().chain(["VAULT_TOKEN", "VAULT_SECRET_ID"].iter()) {
            script.push_str(&format!("  if [ -n \"${{{v}:-}}\" ]; then printf '{v} %s\\n' \"$(printf %s \"${v}\" | sha256sum | cut -d' ' -f1)\"; else echo '{v} -'; fi\n"));
        }
        script.push_str(&format!(
            "  echo \"argv $*\"\n}} >> {}\nexec {} \"$@\"\n",
            launcher_log.display(),
            terraform().display()
        ));
        std::fs::write(&launcher, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755)).unwrap();
        World {
            ex,
            vault,
            launcher_log,
            launcher,
        }
    }

    fn config(&self) -> &StandinConfig {
        self.vault.config()
    }

    /// A toolkit command with Vault and the launcher wired in; AppRole login by default.
    fn cmd(&self, bin: &str) -> Command {
        let mut c = self.ex.cmd(bin);
        let role = &self.config().approle[0];
        c.env("VAULT_ADDR", self.vault.addr())
            .env("VAULT_ROLE_ID", &role.role_id)
            .env("VAULT_SECRET_ID", &role.secret_id)
            .env("GITOPS_TERRAFORM", &self.launcher)
            .env("GITOPS_VAULT_BACKOFF_MS", "20")
            .arg("--repo")
            .arg(self.ex.repo());
        if let Some(ns) = self.vault.namespace() {
            c.env("VAULT_NAMESPACE", ns);
        }
        c
    }

    fn render(&self, id: &str) -> PathBuf {
        let dir = self.ex.out().join(id);
        let o = self.ex.render(&[id, "--out", dir.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        dir
    }

    fn plan(&self, dir: &Path, extra: &[&str]) -> Output {
        self.cmd("gitops-plan")
            .arg(dir)
            .args(extra)
            .output()
            .unwrap()
    }

    fn apply(&self, dir: &Path, extra: &[&str]) -> Output {
        self.cmd("gitops-apply")
            .arg(dir)
            .args(extra)
            .output()
            .unwrap()
    }

    /// Every file under the example dir (repos, renders, state, cache) and the launcher log: no
    /// canary value anywhere. Binary files are searched as bytes.
    fn assert_no_canary_on_disk(&self, also: &[&str]) {
        let canaries = self.config().canary_values();
        let mut hits = Vec::new();
        let mut stack = vec![self.ex.dir.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(bytes) = std::fs::read(&p) {
                    for c in &canaries {
                        if bytes.windows(c.len()).any(|w| w == c.as_bytes()) {
                            hits.push(format!("{} contains a canary", p.display()));
                        }
                    }
                }
            }
        }
        for text in also {
            for c in &canaries {
                if text.contains(c.as_str()) {
                    hits.push("captured output contains a canary".into());
                }
            }
        }
        assert!(hits.is_empty(), "{hits:?}");
    }
}

/// Every Terraform run of the launcher log (at least init, plan, show, apply) got each variable
/// with exactly its value (the log holds hashes, never values); returns how many runs there were.
fn assert_every_run_got(log: &str, expected: &[(&str, String)]) -> usize {
    let runs = log.matches("argv ").count();
    assert!(runs >= 4, "init/plan/show/apply...: {runs}");
    for (var, value) in expected {
        assert_eq!(
            log.matches(&format!("{var} {}", hash(value))).count(),
            runs,
            "{var} in every run:\n{log}"
        );
    }
    runs
}

fn hash(s: &str) -> String {
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

#[test]
fn render_plan_apply_plan_again_with_credentials_only_in_terraforms_environment() {
    let w = World::new();
    let dir = w.render("dev/web-frontend");
    let p = w.plan(&dir, &["--json"]);
    assert_eq!(p.status.code(), Some(4), "changes present: {}", stderr(&p));
    let v = json(&p.stdout);
    assert_eq!(v["changes"], true);
    assert_eq!(v["summary"]["add"].as_u64().unwrap(), 22);
    assert!(
        v["policy"]["denials"].as_array().unwrap().is_empty(),
        "{}",
        v["policy"]
    );
    for f in [
        "plan.bin",
        "plan.json",
        "plan.md",
        "plan.digest",
        "plan.policy.json",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    assert!(std::fs::read_to_string(dir.join("plan.md"))
        .unwrap()
        .contains("22 to add"));

    let a = w.apply(&dir, &["--json"]);
    assert_eq!(a.status.code(), Some(0), "{}{}", stdout(&a), stderr(&a));
    let outputs = json(&std::fs::read(dir.join("outputs.json")).unwrap());
    assert!(outputs["outputs"]["endpoint"]
        .as_str()
        .unwrap()
        .contains("web-frontend"));
    assert_eq!(outputs["approved_by"], Value::Null);

    let again = w.plan(&dir, &[]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "no changes after apply: {}{}",
        stdout(&again),
        stderr(&again)
    );

    // Every expected variable reached every Terraform child, with exactly the Vault value; the
    // toolkit's own Vault login material never did.
    let cfg = w.config();
    let expected = [
        (
            "SANDBOX_API_KEY",
            cfg.kv1["kv"]["gitops/sandbox"]["api_key"].clone(),
        ),
        (
            "SANDBOX_DB_PASSWORD",
            cfg.kv2["secret"]["gitops/sandbox"]["db_password"].clone(),
        ),
    ];
    let log = std::fs::read_to_string(&w.launcher_log).unwrap();
    let runs = assert_every_run_got(&log, &expected);
    assert_eq!(log.matches("VAULT_TOKEN -").count(), runs);
    assert_eq!(log.matches("VAULT_SECRET_ID -").count(), runs);

    // No Vault variable of another engine reached Terraform, and every AppRole login's token was
    // revoked (OpenBao's token accessors: only the root token is left).
    for var in &VARS[2..] {
        assert_eq!(
            log.matches(&format!("{var} -")).count(),
            runs,
            "{var} unset:\n{log}"
        );
    }
    assert_eq!(
        w.vault.live_tokens(),
        0,
        "login tokens left in {}",
        w.vault.describe()
    );
    let texts = [
        stdout(&p),
        stderr(&p),
        stdout(&a),
        stderr(&a),
        stdout(&again),
        stderr(&again),
    ];
    w.assert_no_canary_on_disk(&texts.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn token_auth_works_and_a_given_token_is_not_revoked() {
    let w = World::new();
    let dir = w.render("dev/orders-db");
    let p = w
        .cmd("gitops-plan")
        .env_remove("VAULT_ROLE_ID")
        .env_remove("VAULT_SECRET_ID")
        .env("VAULT_TOKEN", w.vault.root_token())
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(p.status.code(), Some(4), "{}", stderr(&p));
    assert_eq!(w.vault.live_tokens(), 0, "no login with a given token");
    let (st, _) = gitops_tests::vault::http_json(
        w.vault.addr(),
        "GET",
        "/v1/auth/token/lookup-self",
        Some(w.vault.root_token()),
        None,
    )
    .unwrap();
    assert_eq!(st, 200, "the given token still works");
}

#[test]
fn policy_deny_is_exit_3_naming_policy_and_resource_and_apply_refuses() {
    let w = World::new();
    let path = "deployments/dev/orders-db.toml";
    let text = std::fs::read_to_string(w.ex.repo().join(path)).unwrap();
    let text = if text.contains("[overrides.database]") {
        text.replace(
            "[overrides.database]",
            "[overrides.database]\npublicly_accessible = true",
        )
    } else {
        format!("{text}\n[overrides.database]\npublicly_accessible = true\n")
    };
    w.ex.commit_file(path, &text, "Open the database to the world");
    let dir = w.render("dev/orders-db");
    let p = w.plan(&dir, &[]);
    assert_eq!(p.status.code(), Some(3), "{}{}", stdout(&p), stderr(&p));
    let err = stderr(&p);
    assert!(
        err.contains("no-public-database")
            && err.contains("module.database.terraform_data.db_instance"),
        "{err}"
    );
    assert!(std::fs::read_to_string(dir.join("plan.md"))
        .unwrap()
        .contains("Denied by policy"));
    let a = w.apply(&dir, &[]);
    assert_eq!(a.status.code(), Some(3), "{}", stderr(&a));
    assert!(stderr(&a).contains("denied"), "{}", stderr(&a));
}

#[test]
fn tampered_changed_and_stale_plans_are_refused() {
    let w = World::new();
    let dir = w.render("dev/orders-db");
    assert_eq!(w.plan(&dir, &[]).status.code(), Some(4));
    let digest = std::fs::read_to_string(dir.join("plan.digest")).unwrap();

    // plan.digest altered
    std::fs::write(
        dir.join("plan.digest"),
        digest.replace("\"changes\": true", "\"changes\": false"),
    )
    .unwrap();
    let a = w.apply(&dir, &[]);
    assert_eq!(a.status.code(), Some(3), "{}", stderr(&a));
    assert!(stderr(&a).contains("altered"), "{}", stderr(&a));
    std::fs::write(dir.join("plan.digest"), &digest).unwrap();

    // plan.bin replaced by another plan of the same directory
    let plan_bin = std::fs::read(dir.join("plan.bin")).unwrap();
    tf_ok(&dir, &["plan", "-out=plan.bin", "-destroy", "-no-color"]);
    let a = w.apply(&dir, &[]);
    assert_eq!(a.status.code(), Some(3), "{}", stderr(&a));
    assert!(
        stderr(&a).contains("plan.bin is not the plan"),
        "{}",
        stderr(&a)
    );
    std::fs::write(dir.join("plan.bin"), plan_bin).unwrap();

    // a vendored module edited after the plan
    let main_tf = dir.join("modules/database/main.tf");
    let original = std::fs::read_to_string(&main_tf).unwrap();
    std::fs::write(&main_tf, format!("{original}\n# sneaky\n")).unwrap();
    let a = w.apply(&dir, &[]);
    assert_eq!(a.status.code(), Some(3));
    assert!(
        stderr(&a).contains("rendered directory changed"),
        "{}",
        stderr(&a)
    );
    std::fs::write(&main_tf, original).unwrap();

    // the state moved on since the plan: a second copy of the render is applied first
    let other = w.ex.out().join("dev/orders-db-copy");
    let o =
        w.ex.render(&["dev/orders-db", "--out", other.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(w.plan(&other, &[]).status.code(), Some(4));
    assert_eq!(w.apply(&other, &[]).status.code(), Some(0));
    let a = w.apply(&dir, &[]);
    assert_eq!(a.status.code(), Some(3), "{}", stderr(&a));
    assert!(stderr(&a).contains("stale plan"), "{}", stderr(&a));
    // nothing was applied twice: the state has one database
    let state = tf_ok(&other, &["state", "list"]);
    assert_eq!(
        state.lines().filter(|l| l.contains("db_instance")).count(),
        1,
        "{state}"
    );
}

#[test]
fn protected_environment_needs_an_approval_which_is_recorded() {
    let w = World::new();
    // prod is protected: its package must be certified before it renders at all.
    let refused = w.ex.render(&[
        "prod/orders-api",
        "--out",
        w.ex.out().join("refused").to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    let c = w
        .cmd("gitops-certify")
        .args(["run", "web-service", "1.0.0"])
        .output()
        .unwrap();
    assert_eq!(c.status.code(), Some(0), "{}{}", stdout(&c), stderr(&c));
    // Promotion order (dev -> staging -> prod): plan needs a recorded deployment of the package to
    // staging. Record one as gitops-tag would (an annotated deploy tag with its TOML body).
    let meta = gitops_core::records::deployment::DeployMeta {
        deployment: "staging/orders-api".into(),
        package: "web-service@1.0.0".into(),
        profile: "high-traffic-api".into(),
        ..Default::default()
    };
    w.ex.git(&[
        "tag",
        "-a",
        "deploy/staging/orders-api/1",
        "-m",
        &meta.message(),
    ]);
    let dir = w.render("prod/orders-api");
    assert_eq!(w.plan(&dir, &[]).status.code(), Some(4));
    let a = w.apply(&dir, &[]);
    assert_eq!(a.status.code(), Some(3));
    assert!(
        stderr(&a).contains("protected") && stderr(&a).contains("--approved-by"),
        "{}",
        stderr(&a)
    );
    assert!(
        !w.ex.state().join("prod/orders-api.tfstate").exists(),
        "nothing applied"
    );
    let a = w.apply(&dir, &["--approved-by", "alice"]);
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    let out = json(&std::fs::read(dir.join("outputs.json")).unwrap());
    assert_eq!(out["approved_by"], "alice");
}

#[test]
fn a_held_lock_makes_plan_exit_3_naming_the_holder_and_other_deployments_proceed() {
    let w = World::new();
    let dir = w.render("dev/orders-api");
    let lock_path = w.ex.state().join("dev/orders-api.tfstate.gitops.lock");
    let holder = gitops_core::exec::lock::holder_text("gitops-apply", "dev/orders-api");
    let held = gitops_core::exec::lock::DeploymentLock::acquire(
        &lock_path,
        std::time::Duration::ZERO,
        &holder,
    )
    .unwrap();
    let p = w.plan(&dir, &["--lock-timeout", "1"]);
    assert_eq!(p.status.code(), Some(3), "{}", stderr(&p));
    assert!(
        stderr(&p).contains("locked by gitops-apply")
            && stderr(&p).contains(&format!("pid {}", std::process::id())),
        "{}",
        stderr(&p)
    );
    assert!(!dir.join("plan.bin").exists());
    // A different deployment is not blocked.
    let other = w.render("dev/orders-db");
    assert_eq!(
        w.plan(&other, &["--lock-timeout", "0"]).status.code(),
        Some(4)
    );
    drop(held);
    assert_eq!(
        w.plan(&dir, &["--lock-timeout", "0"]).status.code(),
        Some(4)
    );
}

#[test]
fn vault_failures_are_retried_or_reported_and_leases_are_revoked() {
    let w = World::standin("fault injection (503, sealed, refused connections) and the aws engine");
    let s = w.vault.standin().unwrap();
    let dir = w.render("dev/orders-db");

    // 503 twice, then success: retried.
    s.fault(Fault::status("/v1/aws/", 503).times(2));
    let p = w.plan(&dir, &[]);
    assert_eq!(p.status.code(), Some(4), "{}", stderr(&p));
    let tries = s
        .state()
        .requests
        .iter()
        .filter(|r| r.path.starts_with("/v1/aws/sts/"))
        .count();
    assert_eq!(tries, 3, "two failures then one success");

    // Sealed the whole time: retried, then exit 1 naming Vault, the path and the problem.
    s.fault(Fault::sealed("/v1/secret/"));
    let p = w.plan(&dir, &[]);
    assert_eq!(p.status.code(), Some(1));
    let err = stderr(&p);
    assert!(
        err.contains(w.vault.addr())
            && err.contains("secret/data/gitops/sandbox")
            && err.contains("Vault is sealed")
            && err.contains("attempts"),
        "{err}"
    );
    s.clear_faults();

    // 403: not retried.
    let before = s.state().requests.len();
    let p = w
        .cmd("gitops-plan")
        .env_remove("VAULT_ROLE_ID")
        .env_remove("VAULT_SECRET_ID")
        .env("VAULT_TOKEN", "hvs.not-a-token")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(p.status.code(), Some(1));
    assert!(
        stderr(&p).contains("permission denied") && !stderr(&p).contains("attempts"),
        "{}",
        stderr(&p)
    );
    assert_eq!(
        s.state().requests.len() - before,
        1,
        "exactly one request: 403 is not retried"
    );

    // Connection refused: exit 1 with a clear message.
    let p = w
        .cmd("gitops-plan")
        .env("VAULT_ADDR", "http://127.0.0.1:9")
        .env("GITOPS_VAULT_ATTEMPTS", "2")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(p.status.code(), Some(1));
    assert!(
        stderr(&p).contains("http://127.0.0.1:9") && stderr(&p).contains("cannot connect"),
        "{}",
        stderr(&p)
    );

    // Terraform fails after the dynamic credentials were issued: the leases are still revoked.
    std::fs::write(
        dir.join("broken.tf.json"),
        "{\"resource\": {\"terraform_data\": {\"x\": {\"input\": \"${nonexistent.thing}\"}}}}",
    )
    .unwrap();
    let p = w.plan(&dir, &[]);
    assert_eq!(p.status.code(), Some(1), "{}", stderr(&p));
    std::fs::remove_file(dir.join("broken.tf.json")).unwrap();
    let state = s.state();
    assert!(
        !state.leases.is_empty() && state.leases.iter().all(|l| l.revoked),
        "{:?}",
        state.leases
    );
    assert!(state
        .tokens
        .iter()
        .filter(|t| t.created_by == "approle")
        .all(|t| t.revoked));
}

#[test]
fn jwt_login_and_approle_ids_from_files_work_and_their_tokens_are_revoked() {
    let w = World::new();
    let dir = w.render("dev/orders-db");
    // AppRole with the role and secret ids in files (as Jenkins credentials often provide them).
    let role = &w.config().approle[0];
    let role_file = w.ex.dir.path().join("role-id");
    let secret_file = w.ex.dir.path().join("secret-id");
    std::fs::write(&role_file, format!("{}\n", role.role_id)).unwrap();
    std::fs::write(&secret_file, format!("{}\n", role.secret_id)).unwrap();
    let p = w
        .cmd("gitops-plan")
        .env_remove("VAULT_ROLE_ID")
        .env_remove("VAULT_SECRET_ID")
        .env("VAULT_ROLE_ID_FILE", &role_file)
        .env("VAULT_SECRET_ID_FILE", &secret_file)
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(p.status.code(), Some(4), "{}", stderr(&p));
    // JWT (a Jenkins-issued OIDC token) with the role from VAULT_JWT_ROLE.
    let jwt = &w.config().jwt[0];
    let p = w
        .cmd("gitops-plan")
        .env_remove("VAULT_ROLE_ID")
        .env_remove("VAULT_SECRET_ID")
        .env("VAULT_JWT", &jwt.jwt)
        .env("VAULT_JWT_ROLE", &jwt.role)
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(p.status.code(), Some(4), "{}", stderr(&p));
    // A JWT the role does not accept: a 400 from Vault, exit 1, not retried, named clearly.
    let p = w
        .cmd("gitops-plan")
        .env_remove("VAULT_ROLE_ID")
        .env_remove("VAULT_SECRET_ID")
        .env("VAULT_JWT", "not-the-jwt")
        .env("VAULT_JWT_ROLE", &jwt.role)
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(p.status.code(), Some(1));
    assert!(
        stderr(&p).contains("JWT login at auth/jwt/login") && stderr(&p).contains("HTTP 400"),
        "{}",
        stderr(&p)
    );
    assert_eq!(
        w.vault.live_tokens(),
        0,
        "the AppRole and JWT logins' tokens were revoked"
    );
    // The id files are this test's own input; nothing the toolkit wrote may hold a canary.
    std::fs::remove_file(&role_file).unwrap();
    std::fs::remove_file(&secret_file).unwrap();
    w.assert_no_canary_on_disk(&[]);
}

#[test]
fn aws_and_azure_engine_credentials_reach_terraform_and_their_leases_are_revoked() {
    let w = World::standin("OpenBao has no aws/azure secrets engines");
    let dir = w.render("dev/orders-db");
    let p = w.plan(&dir, &[]);
    assert_eq!(p.status.code(), Some(4), "{}", stderr(&p));
    let a = w.apply(&dir, &[]);
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    let cfg = w.config();
    let aws = &cfg.aws["aws"]["sandbox-deploy"];
    let azure = &cfg.azure["azure"]["sandbox-deploy"];
    let expected = [
        ("AWS_ACCESS_KEY_ID", aws.access_key.clone()),
        ("AWS_SECRET_ACCESS_KEY", aws.secret_key.clone()),
        ("AWS_SESSION_TOKEN", aws.security_token.clone().unwrap()),
        ("ARM_CLIENT_ID", azure.client_id.clone()),
        ("ARM_CLIENT_SECRET", azure.client_secret.clone()),
    ];
    let log = std::fs::read_to_string(&w.launcher_log).unwrap();
    // Each run reads new credentials: every Terraform child of one run got that run's values;
    // the stand-in hands out the same fixture values, so every child saw exactly these.
    assert_every_run_got(&log, &expected);
    let state = w.vault.standin().unwrap().state();
    assert!(
        state.leases.len() >= 4,
        "two dynamic leases per run: {:?}",
        state.leases
    );
    assert!(state.leases.iter().all(|l| l.revoked), "{:?}", state.leases);
    assert!(w.vault.live_leases("").is_empty());
    assert_eq!(w.vault.live_tokens(), 0);
    w.assert_no_canary_on_disk(&[&stdout(&p), &stderr(&p), &stdout(&a), &stderr(&a)]);
}

/// A second plan of the same render skips `terraform init` (the directory is initialised for
/// exactly it); a render that changes what Terraform reads, or a lost module install, inits again.
#[test]
fn init_runs_only_when_the_render_changed_since_the_last_one() {
    let w = gitops_tests::VaultWorld::new(|ex| {
        let p = ex.dir.path().join("logging-terraform");
        gitops_tests::write_executable(
            &p,
            &format!(
                "#!/usr/bin/env bash\necho \"$@\" >> '{}'\nexec '{}' \"$@\"\n",
                ex.dir.path().join("runs.log").display(),
                gitops_tests::terraform().display()
            ),
        );
        p
    });
    let log = w.ex.dir.path().join("runs.log");
    let inits = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.split(' ').any(|a| a == "init"))
            .count()
    };
    let plan = |dir: &std::path::Path| {
        let o = w.cmd("gitops-plan").arg(dir).output().unwrap();
        assert!(
            matches!(o.status.code(), Some(0 | 4)),
            "{}",
            gitops_tests::show(&o)
        );
    };
    let dir = w.render("dev/web-frontend");
    plan(&dir);
    assert_eq!(inits(), 1);
    plan(&dir);
    let dir = w.render("dev/web-frontend");
    plan(&dir);
    assert_eq!(inits(), 1, "the same render again: no init");
    let path = w.ex.repo().join("deployments/dev/web-frontend.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("LOG_LEVEL = \"debug\"", "LOG_LEVEL = \"info\"");
    w.ex.commit_file("deployments/dev/web-frontend.toml", &text, "quieter logs");
    let dir = w.render("dev/web-frontend");
    plan(&dir);
    assert_eq!(inits(), 2, "another root module: init");
    std::fs::remove_dir_all(dir.join(".terraform/modules")).unwrap();
    plan(&dir);
    assert_eq!(inits(), 3, "the module install is gone: init");
}
