#![allow(clippy::unwrap_used)]
//! The Vault stand-in, checked from the outside: every assertion goes through raw HTTP over a
//! `TcpStream` (request written by hand, response parsed by hand), as a client would see it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use gitops_tests::vault::{AwsCreds, StandinConfig, VaultStandin};
use serde_json::{json, Value};

struct Resp {
    status: u16,
    body: Value,
    text: String,
}

fn hostport(addr: &str) -> &str {
    addr.strip_prefix("http://").unwrap()
}

/// Sends one request with `Connection: close`; returns the raw bytes of the answer (empty when
/// the server closed the connection without answering).
fn raw(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(hostport(addr)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        hostport(addr)
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

fn call(addr: &str, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
    let mut headers = Vec::new();
    if let Some(t) = token {
        headers.push(("X-Vault-Token", t));
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    parse(&raw(addr, method, path, &headers, &body))
}

fn parse(bytes: &[u8]) -> Resp {
    assert!(!bytes.is_empty(), "no response at all");
    let mut r = BufReader::new(bytes);
    let mut status_line = String::new();
    r.read_line(&mut status_line).unwrap();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut len = None;
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        if k.eq_ignore_ascii_case("content-length") {
            len = Some(v.trim().parse::<usize>().unwrap());
        }
    }
    let mut body = Vec::new();
    r.read_to_end(&mut body).unwrap();
    if let Some(len) = len {
        assert_eq!(body.len(), len, "Content-Length matches the body");
    }
    let text = String::from_utf8(body).unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp { status, body, text }
}

fn get(addr: &str, path: &str, token: &str) -> Resp {
    call(addr, "GET", path, Some(token), None)
}

/// The Vault envelope, with Vault's types.
fn assert_envelope(v: &Value, mount_type: &str) {
    let id = v["request_id"].as_str().expect("request_id is a string");
    let parts: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(parts, [8, 4, 4, 4, 12], "request_id is a UUID: {id}");
    assert!(v["lease_id"].is_string(), "{v}");
    assert!(v["renewable"].is_boolean(), "{v}");
    assert!(v["lease_duration"].is_u64(), "{v}");
    assert!(v.get("data").is_some(), "{v}");
    assert!(v["wrap_info"].is_null(), "{v}");
    assert!(
        v.get("warnings").is_some() && v["warnings"].is_null(),
        "{v}"
    );
    assert!(v.get("auth").is_some(), "{v}");
    assert_eq!(v["mount_type"], mount_type, "{v}");
}

fn approle_login(s: &VaultStandin) -> Value {
    let a = &s.config.approle[0];
    let r = call(
        &s.addr,
        "POST",
        "/v1/auth/approle/login",
        None,
        Some(json!({"role_id": a.role_id, "secret_id": a.secret_id})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

fn login_token(s: &VaultStandin) -> String {
    approle_login(s)["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn state_json(s: &VaultStandin) -> (Value, String) {
    let r = call(&s.addr, "GET", "/__standin/state", None, None);
    assert_eq!(r.status, 200);
    (r.body, r.text)
}

#[test]
fn kv1_read_has_vaults_envelope() {
    let s = VaultStandin::start(StandinConfig::canary());
    let tok = login_token(&s);
    let r = get(&s.addr, "/v1/kv/gitops/sandbox", &tok);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_envelope(&r.body, "kv");
    assert_eq!(r.body["lease_id"], "");
    assert_eq!(r.body["renewable"], false);
    assert_eq!(r.body["lease_duration"], 2_764_800);
    assert!(r.body["auth"].is_null());
    let want = &s.config.kv1["kv"]["gitops/sandbox"]["api_key"];
    assert_eq!(r.body["data"]["api_key"], json!(want));
    // Missing secret: 404 with an empty error list.
    let r = get(&s.addr, "/v1/kv/gitops/nothing-here", &tok);
    assert_eq!(r.status, 404);
    assert_eq!(r.body, json!({"errors": []}));
    // LIST through ?list=true.
    let r = get(&s.addr, "/v1/kv/gitops?list=true", &tok);
    assert_eq!(r.body["data"]["keys"], json!(["sandbox"]), "{}", r.text);
}

#[test]
fn kv2_read_has_data_and_metadata() {
    let s = VaultStandin::start(StandinConfig::canary());
    let tok = login_token(&s);
    let r = get(&s.addr, "/v1/secret/data/gitops/sandbox", &tok);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_envelope(&r.body, "kv");
    assert_eq!(r.body["lease_duration"], 0);
    let want = &s.config.kv2["secret"]["gitops/sandbox"]["db_password"];
    assert_eq!(r.body["data"]["data"]["db_password"], json!(want));
    let md = &r.body["data"]["metadata"];
    assert_eq!(md["version"], 1);
    assert!(md["version"].is_u64());
    assert_eq!(md["destroyed"], false);
    assert_eq!(md["deletion_time"], "");
    assert!(md["custom_metadata"].is_null());
    let created = md["created_time"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 30, "{created}");
    let r = get(&s.addr, "/v1/secret/metadata/gitops/sandbox", &tok);
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["current_version"], 1);
    let r = get(&s.addr, "/v1/secret/data/gitops/missing", &tok);
    assert_eq!((r.status, r.body), (404, json!({"errors": []})));
}

#[test]
fn aws_creds_issue_a_new_lease_each_call() {
    let s = VaultStandin::start(StandinConfig::canary());
    let tok = login_token(&s);
    let want = &s.config.aws["aws"]["sandbox-deploy"];
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = get(&s.addr, "/v1/aws/creds/sandbox-deploy", &tok);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_envelope(&r.body, "aws");
        let id = r.body["lease_id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("aws/creds/sandbox-deploy/"), "{id}");
        assert!(id.len() > "aws/creds/sandbox-deploy/".len());
        assert_eq!(r.body["lease_duration"], 3600);
        let d = &r.body["data"];
        assert_eq!(d["access_key"], json!(want.access_key));
        assert_eq!(d["secret_key"], json!(want.secret_key));
        assert_eq!(d["security_token"], json!(want.security_token));
        assert!(d["arn"].as_str().unwrap().starts_with("arn:aws:sts::"));
        // STS credentials are not renewable in Vault.
        assert_eq!(r.body["renewable"], false);
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1]);
    let r = call(
        &s.addr,
        "POST",
        "/v1/aws/sts/sandbox-deploy",
        Some(&tok),
        None,
    );
    assert!(r.body["lease_id"]
        .as_str()
        .unwrap()
        .starts_with("aws/sts/sandbox-deploy/"));
    let r = get(&s.addr, "/v1/aws/creds/nope", &tok);
    assert_eq!(r.status, 400);
    assert_eq!(r.body, json!({"errors": ["Role \"nope\" not found"]}));
}

#[test]
fn aws_iam_user_creds_have_null_security_token_and_renew() {
    let mut config = StandinConfig::canary();
    config.aws.get_mut("aws").unwrap().insert(
        "iam".to_owned(),
        AwsCreds {
            access_key: "canary-iam-ak".to_owned(),
            secret_key: "canary-iam-sk".to_owned(),
            security_token: None,
            arn: None,
        },
    );
    let s = VaultStandin::start(config);
    let tok = login_token(&s);
    let r = get(&s.addr, "/v1/aws/creds/iam", &tok);
    assert_eq!(r.status, 200);
    assert!(r.body["data"].get("security_token").unwrap().is_null());
    assert_eq!(r.body["renewable"], true);
    let lease = r.body["lease_id"].as_str().unwrap().to_owned();
    let r = call(
        &s.addr,
        "PUT",
        "/v1/sys/leases/renew",
        Some(&tok),
        Some(json!({"lease_id": lease, "increment": 600})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["lease_id"], json!(lease));
    assert_eq!(r.body["lease_duration"], 600);
    let (state, _) = state_json(&s);
    let l = state["leases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["lease_id"] == json!(lease))
        .unwrap();
    assert_eq!(l["renewed"], 1);
    let r = call(
        &s.addr,
        "PUT",
        "/v1/sys/leases/lookup",
        Some(&tok),
        Some(json!({"lease_id": lease})),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["id"], json!(lease));
}

#[test]
fn azure_creds() {
    let s = VaultStandin::start(StandinConfig::canary());
    let tok = login_token(&s);
    let want = &s.config.azure["azure"]["sandbox-deploy"];
    let r = get(&s.addr, "/v1/azure/creds/sandbox-deploy", &tok);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_envelope(&r.body, "azure");
    assert!(r.body["lease_id"]
        .as_str()
        .unwrap()
        .starts_with("azure/creds/sandbox-deploy/"));
    assert_eq!(r.body["renewable"], true);
    assert_eq!(r.body["data"]["client_id"], json!(want.client_id));
    assert_eq!(r.body["data"]["client_secret"], json!(want.client_secret));
}

fn assert_auth(v: &Value, policy: &str, mount_type: &str) {
    assert_envelope(v, mount_type);
    assert!(v["data"].is_null());
    let a = &v["auth"];
    assert!(a["client_token"].as_str().unwrap().starts_with("hvs."));
    assert_eq!(a["accessor"].as_str().unwrap().len(), 24);
    assert_eq!(a["policies"], json!(["default", policy]));
    assert_eq!(a["token_policies"], json!(["default", policy]));
    assert!(a["metadata"].is_object());
    assert_eq!(a["lease_duration"], 3600);
    assert_eq!(a["renewable"], true);
    assert_eq!(a["entity_id"].as_str().unwrap().len(), 36);
    assert_eq!(a["token_type"], "service");
    assert_eq!(a["orphan"], true);
    assert!(a.get("mfa_requirement").unwrap().is_null());
    assert_eq!(a["num_uses"], 0);
}

#[test]
fn approle_and_jwt_logins() {
    let s = VaultStandin::start(StandinConfig::canary());
    let v = approle_login(&s);
    assert_auth(&v, "gitops-sandbox", "approle");
    assert_eq!(v["auth"]["metadata"]["role_name"], "gitops-sandbox");

    let j = &s.config.jwt[0];
    let r = call(
        &s.addr,
        "PUT",
        "/v1/auth/jwt/login",
        None,
        Some(json!({"role": j.role, "jwt": j.jwt})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_auth(&r.body, "gitops-ci", "jwt");
    let r = call(
        &s.addr,
        "PUT",
        "/v1/auth/jwt/login",
        None,
        Some(json!({"role": j.role, "jwt": "canary-wrong"})),
    );
    assert_eq!(r.status, 400);
    assert!(r.body["errors"][0]
        .as_str()
        .unwrap()
        .starts_with("error validating token"));
    let r = call(
        &s.addr,
        "PUT",
        "/v1/auth/jwt/login",
        None,
        Some(json!({"role": "nope", "jwt": j.jwt})),
    );
    assert_eq!(
        (r.status, r.body),
        (400, json!({"errors": ["role \"nope\" could not be found"]}))
    );

    // Tokens work, renew and look themselves up.
    let tok = v["auth"]["client_token"].as_str().unwrap();
    let r = get(&s.addr, "/v1/auth/token/lookup-self", tok);
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["accessor"], v["auth"]["accessor"]);
    let r = call(
        &s.addr,
        "POST",
        "/v1/auth/token/renew-self",
        Some(tok),
        Some(json!({"increment": "2h"})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["auth"]["lease_duration"], 7200);
}

#[test]
fn tokens_are_enforced() {
    let s = VaultStandin::start(StandinConfig::canary());
    let denied = json!({"errors": ["permission denied"]});
    let r = call(&s.addr, "GET", "/v1/kv/gitops/sandbox", None, None);
    assert_eq!((r.status, &r.body), (403, &denied));
    let r = get(&s.addr, "/v1/kv/gitops/sandbox", "hvs.not-a-token");
    assert_eq!((r.status, &r.body), (403, &denied));
    let a = &s.config.approle[0];
    let r = call(
        &s.addr,
        "POST",
        "/v1/auth/approle/login",
        None,
        Some(json!({"role_id": a.role_id, "secret_id": "canary-wrong"})),
    );
    assert_eq!(
        (r.status, r.body),
        (400, json!({"errors": ["invalid role or secret ID"]}))
    );
    // Authorization: Bearer works too, and the namespace header is recorded.
    let tok = login_token(&s);
    let bearer = format!("Bearer {tok}");
    let r = parse(&raw(
        &s.addr,
        "GET",
        "/v1/kv/gitops/sandbox",
        &[("Authorization", &bearer), ("X-Vault-Namespace", "team-a")],
        "",
    ));
    assert_eq!(r.status, 200);
    let (state, _) = state_json(&s);
    assert!(state["requests"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["namespace"] == "team-a" && e["status"] == 200));
    // The root token always works.
    assert_eq!(
        get(&s.addr, "/v1/kv/gitops/sandbox", &s.config.root_token).status,
        200
    );
}

#[test]
fn revoke_self_and_lease_revoke() {
    let s = VaultStandin::start(StandinConfig::canary());
    let login = approle_login(&s);
    let tok = login["auth"]["client_token"].as_str().unwrap();
    let lease = get(&s.addr, "/v1/azure/creds/sandbox-deploy", tok).body["lease_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = call(
        &s.addr,
        "PUT",
        "/v1/sys/leases/revoke",
        Some(tok),
        Some(json!({"lease_id": lease})),
    );
    assert_eq!(r.status, 204);
    assert!(r.text.is_empty());
    let (state, _) = state_json(&s);
    let l = state["leases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["lease_id"] == json!(lease))
        .unwrap();
    assert_eq!(l["revoked"], true);
    let r = call(
        &s.addr,
        "PUT",
        "/v1/sys/leases/renew",
        Some(tok),
        Some(json!({"lease_id": lease})),
    );
    assert_eq!(r.status, 400);

    let r = call(
        &s.addr,
        "POST",
        "/v1/auth/token/revoke-self",
        Some(tok),
        None,
    );
    assert_eq!(r.status, 204);
    let r = get(&s.addr, "/v1/auth/token/lookup-self", tok);
    assert_eq!(
        (r.status, r.body),
        (403, json!({"errors": ["permission denied"]}))
    );
    let r = get(&s.addr, "/v1/kv/gitops/sandbox", tok);
    assert_eq!(r.status, 403);
    let (state, _) = state_json(&s);
    let t = state["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["accessor"] == login["auth"]["accessor"])
        .unwrap();
    assert_eq!(t["revoked"], true);
    assert_eq!(t["created_by"], "approle");
}

fn post_fault(s: &VaultStandin, f: Value) {
    let r = call(&s.addr, "POST", "/__standin/faults", None, Some(f));
    assert_eq!(r.status, 204, "{}", r.text);
}

#[test]
fn status_fault_twice_then_success() {
    let s = VaultStandin::start(StandinConfig::canary());
    let tok = login_token(&s);
    post_fault(
        &s,
        json!({"path_prefix": "/v1/aws/", "kind": "status", "status": 503, "times": 2}),
    );
    for _ in 0..2 {
        let r = get(&s.addr, "/v1/aws/creds/sandbox-deploy", &tok);
        assert_eq!(
            (r.status, r.body),
            (503, json!({"errors": ["internal error"]}))
        );
    }
    assert_eq!(
        get(&s.addr, "/v1/aws/creds/sandbox-deploy", &tok).status,
        200
    );
    // Other paths were never affected.
    assert_eq!(get(&s.addr, "/v1/kv/gitops/sandbox", &tok).status, 200);
}

#[test]
fn sealed_fault() {
    let s = VaultStandin::start(StandinConfig::canary());
    let tok = login_token(&s);
    let h = call(&s.addr, "GET", "/v1/sys/health", None, None);
    assert_eq!(h.status, 200);
    assert_eq!(h.body["sealed"], false);
    assert_eq!(h.body["initialized"], true);
    post_fault(&s, json!({"path_prefix": "/v1/", "kind": "sealed"}));
    let r = get(&s.addr, "/v1/secret/data/gitops/sandbox", &tok);
    assert_eq!(
        (r.status, r.body),
        (503, json!({"errors": ["Vault is sealed"]}))
    );
    let h = call(&s.addr, "GET", "/v1/sys/health", None, None);
    assert_eq!(h.status, 503);
    assert_eq!(h.body["sealed"], true);
    let ss = call(&s.addr, "GET", "/v1/sys/seal-status", None, None);
    assert_eq!(ss.body["sealed"], true);
    let r = call(&s.addr, "DELETE", "/__standin/faults", None, None);
    assert_eq!(r.status, 204);
    assert_eq!(
        call(&s.addr, "GET", "/v1/sys/health", None, None).status,
        200
    );
    assert_eq!(
        get(&s.addr, "/v1/secret/data/gitops/sandbox", &tok).status,
        200
    );
}

#[test]
fn drop_fault_closes_without_response() {
    let s = VaultStandin::start(StandinConfig::canary());
    let tok = login_token(&s);
    post_fault(
        &s,
        json!({"path_prefix": "/v1/kv/", "kind": "drop", "times": 1}),
    );
    let bytes = raw(
        &s.addr,
        "GET",
        "/v1/kv/gitops/sandbox",
        &[("X-Vault-Token", &tok)],
        "",
    );
    assert!(
        bytes.is_empty(),
        "got {:?}",
        String::from_utf8_lossy(&bytes)
    );
    assert_eq!(get(&s.addr, "/v1/kv/gitops/sandbox", &tok).status, 200);
}

#[test]
fn slow_fault_delays_the_answer() {
    let s = VaultStandin::start(StandinConfig::canary());
    let tok = login_token(&s);
    post_fault(
        &s,
        json!({"path_prefix": "/v1/azure/", "kind": "slow", "delay_ms": 700, "times": 1}),
    );
    let slow_addr = s.addr.clone();
    let slow_tok = tok.clone();
    let started = Instant::now();
    let slow =
        std::thread::spawn(move || get(&slow_addr, "/v1/azure/creds/sandbox-deploy", &slow_tok));
    // Another connection is served meanwhile.
    assert_eq!(get(&s.addr, "/v1/kv/gitops/sandbox", &tok).status, 200);
    let r = slow.join().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(700));
    assert_eq!(r.status, 200);
}

#[test]
fn state_never_holds_secrets_or_tokens() {
    let s = VaultStandin::start(StandinConfig::canary());
    let mut tokens = vec![login_token(&s)];
    let j = &s.config.jwt[0];
    let r = call(
        &s.addr,
        "POST",
        "/v1/auth/jwt/login",
        None,
        Some(json!({"role": j.role, "jwt": j.jwt})),
    );
    tokens.push(r.body["auth"]["client_token"].as_str().unwrap().to_owned());
    for (i, path) in [
        "/v1/kv/gitops/sandbox",
        "/v1/secret/data/gitops/sandbox",
        "/v1/aws/creds/sandbox-deploy",
        "/v1/aws/sts/sandbox-deploy",
        "/v1/azure/creds/sandbox-deploy",
        "/v1/auth/token/lookup-self",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(get(&s.addr, path, &tokens[i % 2]).status, 200, "{path}");
    }
    let (state, text) = state_json(&s);
    assert!(state["tokens"].as_array().unwrap().len() >= 3);
    assert!(state["leases"].as_array().unwrap().len() >= 3);
    let mut needles = s.config.canary_values();
    assert!(needles.len() >= 10);
    needles.extend(tokens);
    for n in &needles {
        assert!(!text.contains(n.as_str()), "state leaks {n}");
    }
    // The typed accessor agrees.
    let typed = serde_json::to_string(&s.state()).unwrap();
    for n in &needles {
        assert!(!typed.contains(n.as_str()), "typed state leaks {n}");
    }
}

#[test]
fn binary_prints_address_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let addr_file = dir.path().join("addr");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vault-standin"))
        .arg("--print-config")
        .arg("--addr-file")
        .arg(&addr_file)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let mut config_line = String::new();
    out.read_line(&mut config_line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let addr = line.trim().strip_prefix("VAULT_ADDR=").unwrap().to_owned();
    assert!(addr.starts_with("http://127.0.0.1:"));
    assert_eq!(std::fs::read_to_string(&addr_file).unwrap().trim(), addr);
    let config: StandinConfig = serde_json::from_str(&config_line).unwrap();
    assert!(config.approle[0].secret_id.starts_with("canary-"));
}

#[test]
fn binary_serves_until_killed() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vault-standin"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().strip_prefix("VAULT_ADDR=").unwrap().to_owned();
    let h = call(&addr, "GET", "/v1/sys/health", None, None);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(h.status, 200);
    assert_eq!(
        h.body["version"].as_str().map(|v| !v.is_empty()),
        Some(true)
    );
}
