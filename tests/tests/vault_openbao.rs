//! The toolkit against a real Vault API: OpenBao dev servers (one per test), the database secrets
//! engine on a real PostgreSQL, real JWT login, lease lifetimes, and the servers' own hygiene.
//!
//! Every test here uses OpenBao; none uses the stand-in.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use gitops_tests::jwt::JwtIssuer;
use gitops_tests::postgres::Postgres;
use gitops_tests::vault::{
    http_json, StandinConfig, TestVault, CANARY_JWT_AUDIENCE, CANARY_JWT_ISSUER, CANARY_JWT_JOB,
};
use gitops_tests::{stderr, terraform, write_executable, Example, VaultWorld};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `dev.toml` plus database credentials for Terraform's environment.
const DB_CREDENTIAL: &str = r#"
[[credentials]]
engine = "database"
mount = "database"
role = "app"
env = { PGUSER = "username", PGPASSWORD = "password" }
"#;

fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A launcher in front of the real Terraform. It logs (into `log`) each subcommand and whether
/// the database credentials of its environment log in to PostgreSQL (never the values); on
/// `apply` it first waits `apply_wait` seconds (a long run); `fail_plan` makes `plan` fail.
fn launcher(ex: &Example, pg: &Postgres, apply_wait: u32, fail_plan: bool) -> (PathBuf, PathBuf) {
    let path = ex.dir.path().join("tf-launcher");
    let log = ex.dir.path().join("tf-launcher.log");
    let psql = gitops_tests::postgres::bindir().unwrap().join("psql");
    let script = format!(
        r#"#!/usr/bin/env bash
set -u
log={log}
sub=""
for a in "$@"; do case "$a" in -*) ;; *) sub="$a"; break;; esac; done
case "$sub" in
  plan|apply)
    if [ -n "${{PGUSER:-}}" ] && PGCONNECT_TIMEOUT=10 {psql} -h 127.0.0.1 -p {port} -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
      echo "$sub db-login-ok" >> "$log"
    else
      echo "$sub db-login-failed" >> "$log"
    fi
    ;;
esac
if [ "$sub" = plan ] && [ {fail_plan} = 1 ]; then echo "plan failed on purpose" >&2; exit 1; fi
if [ "$sub" = apply ]; then
  # Interruptible: the toolkit forwards SIGINT to Terraform (this launcher) on SIGTERM.
  echo "apply waiting" >> "$log"
  sleep {apply_wait} & pid=$!
  trap 'kill $pid 2>/dev/null; exit 130' INT TERM
  wait $pid
  trap - INT TERM
fi
exec {tf} "$@"
"#,
        log = log.display(),
        psql = psql.display(),
        port = pg.port,
        fail_plan = u8::from(fail_plan),
        tf = terraform().display(),
    );
    write_executable(&path, &script);
    (path, log)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A world with OpenBao seeded with the canary fixture plus a database engine on `pg` (role `app`
/// with these TTLs), `dev.toml` asking for database credentials, and the [`launcher`] as its
/// Terraform; returns the launcher's log too.
fn db_world(
    pg: &Postgres,
    default_ttl: u64,
    max_ttl: u64,
    apply_wait: u32,
) -> (VaultWorld, PathBuf) {
    let w = VaultWorld::with_vault(
        |ex| launcher(ex, pg, apply_wait, false).0,
        |_| TestVault::start(StandinConfig::canary().with_database(pg, default_ttl, max_ttl)),
    );
    let env = w.ex.repo().join("environments/dev.toml");
    w.ex.commit_file(
        "environments/dev.toml",
        &(read(&env) + DB_CREDENTIAL),
        "dev: database credentials from Vault",
    );
    let log = w.ex.dir.path().join("tf-launcher.log");
    (w, log)
}

fn assert_nothing_left(w: &VaultWorld, pg: &Postgres, when: &str) {
    let (leases, roles, tokens) = (
        w.vault.live_leases(""),
        pg.roles_like("v-"),
        w.vault.live_tokens(),
    );
    assert!(
        leases.is_empty() && roles.is_empty() && tokens == 0,
        "{when}: left behind: leases in OpenBao {leases:?}, dynamic roles in PostgreSQL {roles:?}, {tokens} login token(s)"
    );
}

/// `gitops-plan` of `dir` with `GITOPS_VAULT_MIN_TTL=min` (and `tf` as Terraform when given).
fn plan(w: &VaultWorld, dir: &Path, min: &str, tf: Option<&Path>) -> Output {
    let mut c = w.cmd("gitops-plan");
    if let Some(tf) = tf {
        c.env("GITOPS_TERRAFORM", tf);
    }
    c.env("GITOPS_VAULT_MIN_TTL", min)
        .arg(dir)
        .output()
        .unwrap()
}

/// Starts `gitops-apply` of `dir` (planned) with `GITOPS_VAULT_MIN_TTL=min`, its output piped,
/// and waits until its Terraform launcher (log `log`) began the apply's wait.
fn start_apply(w: &VaultWorld, dir: &Path, min: &str, log: &Path) -> std::process::Child {
    let apply = w
        .cmd("gitops-apply")
        .env("GITOPS_VAULT_MIN_TTL", min)
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(
        "the apply to reach Terraform",
        Duration::from_secs(120),
        || read(log).contains("apply waiting"),
    );
    apply
}

#[test]
fn database_credentials_reach_terraform_are_renewed_and_nothing_is_left_after_success_or_failure() {
    let pg = Postgres::start();
    // Leases of 4 s, renewable to an hour: a 7 s apply lives only because the keeper renews.
    let (w, log) = db_world(&pg, 4, 3600, 7);
    let dir = w.render("dev/orders-db");

    let p = plan(&w, &dir, "2", None);
    assert_eq!(p.status.code(), Some(4), "plan: {}", stderr(&p));
    assert_nothing_left(&w, &pg, "after plan");

    // During the apply's wait the dynamic role exists and its VALID UNTIL moves on (renewals).
    let apply = start_apply(&w, &dir, "2", &log);
    let valid_until = || {
        pg.sql("SELECT rolvaliduntil FROM pg_roles WHERE rolname LIKE 'v-%'")
            .trim()
            .to_owned()
    };
    let first = valid_until();
    assert!(!first.is_empty(), "a dynamic role exists during the run");
    wait_for("a lease renewal", Duration::from_secs(60), || {
        let now = valid_until();
        !now.is_empty() && now != first
    });
    let a = apply.wait_with_output().unwrap();
    assert_eq!(a.status.code(), Some(0), "apply: {}", stderr(&a));
    let l = read(&log);
    assert!(l.contains("plan db-login-ok"), "{l}");
    assert!(l.contains("apply db-login-ok"), "{l}");
    assert_nothing_left(&w, &pg, "after apply");

    // A failed run (Terraform's plan fails) revokes too.
    let fail_tf = launcher(&w.ex, &pg, 0, true).0;
    let f = plan(&w, &dir, "2", Some(&fail_tf));
    assert_eq!(f.status.code(), Some(1), "failed plan: {}", stderr(&f));
    assert_nothing_left(&w, &pg, "after a failed plan");
}

#[test]
fn sigterm_mid_apply_revokes_the_database_lease_and_drops_the_role() {
    let pg = Postgres::start();
    let (w, log) = db_world(&pg, 3600, 7200, 600);
    let dir = w.render("dev/orders-db");
    let p = plan(&w, &dir, "5m", None);
    assert_eq!(p.status.code(), Some(4), "plan: {}", stderr(&p));
    let apply = start_apply(&w, &dir, "5m", &log);
    assert_eq!(pg.roles_like("v-").len(), 1, "the run's role exists");
    let st = Command::new("kill")
        .args(["-TERM", &apply.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let a = apply.wait_with_output().unwrap();
    assert_ne!(a.status.code(), Some(0), "the apply was interrupted");
    assert_nothing_left(&w, &pg, "after SIGTERM");
}

#[test]
fn sigkill_mid_apply_leaves_the_revocation_to_the_warden() {
    let pg = Postgres::start();
    let (w, log) = db_world(&pg, 3600, 7200, 600);
    let dir = w.render("dev/orders-db");
    let p = plan(&w, &dir, "5m", None);
    assert_eq!(p.status.code(), Some(4), "plan: {}", stderr(&p));
    let mut apply = start_apply(&w, &dir, "5m", &log);
    assert_eq!(pg.roles_like("v-").len(), 1, "the run's role exists");
    // Terraform's launcher, to stop it afterwards (not the warden, the run's other child).
    let launchers: Vec<u32> = children_of(apply.id())
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| gitops_tests::contains_bytes(&c, b"tf-launcher"))
        })
        .collect();
    assert_eq!(launchers.len(), 1, "one Terraform launcher");
    // SIGKILL: the run cannot revoke anything itself; its warden (a process of its own) does.
    apply.kill().unwrap();
    apply.wait().unwrap();
    for pid in launchers {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    // The warden revokes the lease and the token; then assert_nothing_left names what is left.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline
        && !(w.vault.live_leases("").is_empty()
            && w.vault.live_tokens() == 0
            && pg.roles_like("v-").is_empty())
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_nothing_left(&w, &pg, "after SIGKILL, once the warden ran");
}

#[test]
fn a_lease_reaching_its_max_ttl_during_the_run_is_a_warning_at_once() {
    let pg = Postgres::start();
    // Leases of 3 s, renewable up to 8 s: the keeper's renewals hit the max TTL while the apply
    // waits 12 s.
    let (w, log) = db_world(&pg, 3, 8, 12);
    let dir = w.render("dev/orders-db");
    let p = plan(&w, &dir, "2", None);
    assert_eq!(p.status.code(), Some(4), "plan: {}", stderr(&p));
    let apply = start_apply(&w, &dir, "2", &log);
    let a = apply.wait_with_output().unwrap();
    let err = stderr(&a);
    assert_eq!(a.status.code(), Some(0), "{err}");
    assert!(read(&log).contains("apply waiting"));
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("warning:") && l.contains("database/creds/app"))
        .collect();
    assert!(
        warnings.iter().any(|l| l.contains("reached its max TTL")),
        "a warning names the lease that reached its max TTL: {err}"
    );
    assert_nothing_left(&w, &pg, "after the apply");
}

#[test]
fn a_lease_capped_below_the_minimum_fails_before_terraform_and_is_revoked() {
    let pg = Postgres::start();
    // max_ttl 60 s: no renewal can make it last the 300 s asked below.
    let (w, log) = db_world(&pg, 60, 60, 0);
    let dir = w.render("dev/orders-db");
    let p = plan(&w, &dir, "5m", None);
    let err = stderr(&p);
    assert_eq!(p.status.code(), Some(1), "{err}");
    assert!(
        err.contains("database/creds/app") && err.contains("300 s"),
        "names the credentials and the minimum: {err}"
    );
    assert!(
        !read(&log).contains("plan "),
        "Terraform never started: {}",
        read(&log)
    );
    assert!(!dir.join("plan.tfplan").exists(), "no plan written");
    assert_nothing_left(&w, &pg, "after the refused plan");
}

/// A world whose OpenBao accepts JWTs of `issuer` for role `gitops-ci` (audience: the canary one).
fn jwt_world(issuer: &JwtIssuer) -> VaultWorld {
    VaultWorld::with_vault(
        |_| terraform(),
        |_| {
            let mut config = StandinConfig::canary();
            let role = &mut config.jwt[0];
            role.public_key_pem = issuer.public_key_pem();
            role.issuer = issuer.issuer.clone();
            role.jwt =
                issuer.mint(&issuer.jenkins_claims(CANARY_JWT_AUDIENCE, CANARY_JWT_JOB, 7, 600));
            TestVault::start(config)
        },
    )
}

fn jwt_plan(w: &VaultWorld, dir: &Path, jwt: &str, role: &str) -> Output {
    w.cmd("gitops-plan")
        .env_remove("VAULT_ROLE_ID")
        .env_remove("VAULT_SECRET_ID")
        .env("VAULT_JWT", jwt)
        .env("VAULT_JWT_ROLE", role)
        .env("GITOPS_VAULT_BACKOFF_MS", "20")
        .arg(dir)
        .output()
        .unwrap()
}

#[test]
fn jwt_login_with_a_signed_jenkins_token_works_and_bad_tokens_are_final_errors() {
    let issuer = JwtIssuer::generate(CANARY_JWT_ISSUER);
    let w = jwt_world(&issuer);
    let dir = w.render("dev/orders-db");
    let good = w.vault.config().jwt[0].jwt.clone();
    let ok = jwt_plan(&w, &dir, &good, "gitops-ci");
    assert_eq!(ok.status.code(), Some(4), "JWT login: {}", stderr(&ok));
    assert_eq!(
        w.vault.live_tokens(),
        0,
        "the JWT login's token was revoked"
    );

    let expired = issuer.mint(&issuer.jenkins_claims(CANARY_JWT_AUDIENCE, CANARY_JWT_JOB, 7, -600));
    let wrong_aud = issuer.mint(&issuer.jenkins_claims("someone-else", CANARY_JWT_JOB, 7, 600));
    let other = JwtIssuer::generate(CANARY_JWT_ISSUER);
    let wrong_key = other.mint(&other.jenkins_claims(CANARY_JWT_AUDIENCE, CANARY_JWT_JOB, 7, 600));
    for (what, jwt, role) in [
        ("expired", expired.as_str(), "gitops-ci"),
        ("wrong audience", wrong_aud.as_str(), "gitops-ci"),
        ("wrong key", wrong_key.as_str(), "gitops-ci"),
        ("unknown role", good.as_str(), "no-such-role"),
    ] {
        let o = jwt_plan(&w, &dir, jwt, role);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains("JWT login"), "{what}: names the login: {err}");
        assert!(err.contains("HTTP 400"), "{what}: Vault's answer: {err}");
        assert!(!err.contains("attempts"), "{what}: not retried: {err}");
        assert_eq!(
            err.lines().filter(|l| l.contains("error")).count(),
            1,
            "{what}: one line: {err}"
        );
        assert!(!err.contains(jwt), "{what}: the token is not printed");
    }
    assert_eq!(w.vault.live_tokens(), 0);
}

#[test]
fn permission_denied_is_one_line_and_final() {
    let w = VaultWorld::new(|_| terraform());
    let dir = w.render("dev/orders-db");
    // A token with only the default policy: it cannot read the environment's secrets.
    let (st, v) = http_json(
        w.vault.addr(),
        "POST",
        "/v1/auth/token/create",
        Some(w.vault.root_token()),
        Some(
            &serde_json::json!({"policies": ["default"], "no_default_policy": false, "ttl": "1h"}),
        ),
    )
    .unwrap();
    assert_eq!(st, 200, "{v}");
    let token = v["auth"]["client_token"].as_str().unwrap().to_owned();
    let o = w
        .cmd("gitops-plan")
        .env_remove("VAULT_ROLE_ID")
        .env_remove("VAULT_SECRET_ID")
        .env("VAULT_TOKEN", &token)
        .arg(&dir)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("HTTP 403: permission denied"), "{err}");
    assert!(
        !err.contains("error occurred"),
        "OpenBao's multi-line body is folded: {err}"
    );
    assert!(!err.contains("attempts"), "not retried: {err}");
    assert!(!err.contains(&token), "the token is not printed");
}

/// `/proc/<pid>/stat` field 4: the parent pid.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(1)?.parse().ok()
}

fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| parent_of(*p) == Some(pid))
        .collect()
}

#[test]
fn an_openbao_server_dies_with_the_process_that_started_it() {
    // vault-dev starts OpenBao like a test binary does; SIGKILL it (no destructor runs) and the
    // server must go too, by its parent-death signal.
    let mut dev = Command::new(gitops_tests::bin("vault-dev"))
        .env_remove("GITOPS_TEST_VAULT_ADDR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(dev.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().strip_prefix("VAULT_ADDR=").unwrap().to_owned();
    assert!(http_json(&addr, "GET", "/v1/sys/health", None, None).is_ok());
    let servers = children_of(dev.id());
    assert_eq!(servers.len(), 1, "one OpenBao child: {servers:?}");
    let bao = servers[0];
    let exe = std::fs::read_link(format!("/proc/{bao}/exe")).unwrap();
    assert!(exe.ends_with("bao"), "the child is OpenBao itself: {exe:?}");
    dev.kill().unwrap();
    dev.wait().unwrap();
    wait_for("OpenBao to exit", Duration::from_secs(30), || {
        // Gone, or a zombie waiting for its (re-parented) reaper.
        std::fs::read_to_string(format!("/proc/{bao}/stat"))
            .map(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
            })
            .unwrap_or(true)
    });
    assert!(
        http_json(&addr, "GET", "/v1/sys/health", None, None).is_err(),
        "nothing answers at {addr} any more"
    );
}

#[test]
fn an_ambient_vault_addr_is_never_used_by_the_tests() {
    // A developer's shell with VAULT_ADDR/VAULT_TOKEN/VAULT_NAMESPACE pointing at a Vault of
    // theirs (here a listener that records connections): the test support still starts and seeds
    // its own OpenBao, and nothing connects to the ambient address.
    let theirs = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    theirs.set_nonblocking(true).unwrap();
    let ambient = format!("http://{}", theirs.local_addr().unwrap());
    let mut dev = Command::new(gitops_tests::bin("vault-dev"))
        .env_remove("GITOPS_TEST_VAULT_ADDR")
        .env("VAULT_ADDR", &ambient)
        .env("VAULT_TOKEN", "their-token")
        .env("VAULT_NAMESPACE", "their-team")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(dev.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    dev.kill().unwrap();
    let out = dev.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("OpenBao dev server 2."), "{said}");
    assert!(line.starts_with("VAULT_ADDR=http://127.0.0.1:"), "{line}");
    assert!(!line.contains(&ambient), "{line}");
    assert!(
        matches!(theirs.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "nothing connected to the ambient VAULT_ADDR"
    );
}
