//! A HashiCorp Vault stand-in for tests: a small HTTP/1.1 server that answers the parts of Vault's
//! HTTP API the toolkit uses, with Vault's documented response shapes, plus fault injection and an
//! inspection endpoint. No Vault server can be installed where the tests run, so this is what the
//! binaries talk to unless a real Vault is given (see [`TestVault`]).
//!
//! # Vault API served (all under `/v1`, token in `X-Vault-Token` or `Authorization: Bearer`)
//!
//! | method | path | answer |
//! | --- | --- | --- |
//! | GET, HEAD | `sys/health` | 200 unsealed / 503 sealed, Vault's health body (`sealedcode`, `activecode` honoured) |
//! | GET | `sys/seal-status` | Vault's seal-status body |
//! | POST, PUT | `auth/approle/login` | auth envelope; wrong ids: 400 `invalid role or secret ID` |
//! | POST, PUT | `auth/jwt/login` | auth envelope; the `jwt` must equal the configured one for the role |
//! | GET, POST | `auth/token/lookup-self` | token data |
//! | POST, PUT | `auth/token/renew-self` | auth envelope (`increment` honoured) |
//! | POST, PUT | `auth/token/revoke-self` | 204; the token and its leases are revoked |
//! | GET, LIST | `<kv1 mount>/<path>` | secret map, `lease_duration` 2764800 |
//! | GET | `<kv2 mount>/data/<path>` | `{data, metadata}` (version 1) |
//! | GET, LIST | `<kv2 mount>/metadata/<path>` | key metadata / key list |
//! | GET, POST, PUT | `<aws mount>/creds/<role>`, `<aws mount>/sts/<role>` | a new lease each call |
//! | GET, POST, PUT | `<azure mount>/creds/<role>` | a new lease each call |
//! | POST, PUT | `sys/leases/revoke`, `sys/leases/renew`, `sys/leases/lookup` (and `sys/revoke`, `sys/renew`) | |
//!
//! Every endpoint except health, seal-status and the two logins needs a valid token: a missing,
//! unknown, expired or revoked one is answered 403 `{"errors":["permission denied"]}`. Policies are
//! recorded but not enforced. The configured root token is always valid (even after revoke-self).
//!
//! # Not part of Vault's API (`/__standin/`, no token)
//!
//! * `POST /__standin/faults` with a [`Fault`] as JSON, `DELETE /__standin/faults`,
//!   `GET /__standin/faults` (the active faults);
//! * `GET /__standin/state`: a [`StandinState`] (token accessors, leases, request log) that never
//!   holds a secret value or a token.
//!
//! The server is hand-written over `std::net` rather than `tiny_http` because tiny_http cannot close
//! a connection without answering (a dropped request is answered 500), which the `drop` fault needs.
//! Each connection is served on its own thread, so a `slow` fault blocks only its own connection.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Vault version the stand-in reports in `sys/health` and `sys/seal-status`.
pub const STANDIN_VAULT_VERSION: &str = "1.17.0";

/// KV v1 answers this `lease_duration` (Vault's default 32-day max lease TTL).
pub const KV1_LEASE_DURATION: u64 = 2_764_800;

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// One AppRole: the `role_id`/`secret_id` pair that logs in, and the token policies it gets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppRole {
    /// Role name (used only when seeding a real Vault; the stand-in logs in by `role_id`).
    pub role_name: String,
    pub role_id: String,
    pub secret_id: String,
    pub policies: Vec<String>,
}

/// One JWT auth role. The stand-in logs in when the presented token equals `jwt`; OpenBao (seeded
/// by [`seed`]) verifies it for real: signature against `public_key_pem`, issuer, audience, expiry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JwtRole {
    pub role: String,
    /// A signed token (ES256, see [`crate::jwt`]) this role accepts.
    pub jwt: String,
    pub policies: Vec<String>,
    /// `bound_issuer` of the jwt auth method (one per mount: the roles of a config share it).
    pub issuer: String,
    /// The role's `bound_audiences`.
    pub audience: String,
    /// The issuer's public key (`jwt_validation_pubkeys`).
    pub public_key_pem: String,
}

/// Vault's database secrets engine on one mount, connected to a PostgreSQL
/// ([`crate::postgres::Postgres`]). Only OpenBao serves it (the stand-in has no database engine).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseMount {
    /// `connection_url` with `{{username}}` (and `{{password}}` when the admin has one).
    pub connection_url: String,
    pub username: String,
    /// role -> its lease TTLs.
    pub roles: BTreeMap<String, DatabaseRole>,
}

/// A dynamic role: a PostgreSQL login role created per credential read, dropped on revocation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseRole {
    /// Seconds (`default_ttl`).
    pub default_ttl: u64,
    /// Seconds (`max_ttl`): a lease cannot be renewed past it.
    pub max_ttl: u64,
}

/// What an AWS secrets engine role hands out. `security_token: None` makes it an `iam_user` role
/// (renewable leases, `security_token: null`); `Some` makes it an STS (`assumed_role`) role
/// (non-renewable leases, as in Vault).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AwsCreds {
    pub access_key: String,
    pub secret_key: String,
    pub security_token: Option<String>,
    /// The `arn` answered; derived from the role name when absent.
    pub arn: Option<String>,
}

/// What an Azure secrets engine role hands out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AzureCreds {
    pub client_id: String,
    pub client_secret: String,
}

/// mount -> path -> key -> value.
pub type KvMounts = BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>;

/// Everything the stand-in serves. Serializable so the `vault-standin` binary can read it from a
/// file and print it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StandinConfig {
    /// Always valid; policies `["root"]`.
    pub root_token: String,
    pub approle: Vec<AppRole>,
    pub jwt: Vec<JwtRole>,
    pub kv1: KvMounts,
    pub kv2: KvMounts,
    /// mount -> role -> credentials.
    pub aws: BTreeMap<String, BTreeMap<String, AwsCreds>>,
    /// mount -> role -> credentials.
    pub azure: BTreeMap<String, BTreeMap<String, AzureCreds>>,
    /// mount -> database engine (OpenBao only).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub database: BTreeMap<String, DatabaseMount>,
    /// TTL (seconds) of tokens issued by the logins; 0 = never expire.
    pub token_ttl: u64,
    /// TTL (seconds) of AWS/Azure leases.
    pub lease_ttl: u64,
}

impl Default for StandinConfig {
    fn default() -> Self {
        StandinConfig {
            root_token: "root".to_owned(),
            approle: Vec::new(),
            jwt: Vec::new(),
            kv1: BTreeMap::new(),
            kv2: BTreeMap::new(),
            aws: BTreeMap::new(),
            azure: BTreeMap::new(),
            database: BTreeMap::new(),
            token_ttl: 3600,
            lease_ttl: 3600,
        }
    }
}

impl StandinConfig {
    /// A complete fixture whose every secret value starts with `canary-` and carries fresh random
    /// hex (unique per call), so a leak scan can search outputs for [`Self::canary_values`]:
    ///
    /// * root token; AppRole `gitops-sandbox` (policy `gitops-sandbox`); JWT role `gitops-ci`
    ///   (policy `gitops-ci`);
    /// * KV v1 mount `kv`, path `gitops/sandbox`: `api_key`;
    /// * KV v2 mount `secret`, path `gitops/sandbox`: `db_password`;
    /// * AWS mount `aws`, role `sandbox-deploy` (STS: `security_token` set);
    /// * Azure mount `azure`, role `sandbox-deploy`.
    pub fn canary() -> Self {
        let c = |what: &str| format!("canary-{what}-{}", random_hex(8));
        let mut kv1 = KvMounts::new();
        kv1.entry("kv".to_owned()).or_default().insert(
            "gitops/sandbox".to_owned(),
            BTreeMap::from([("api_key".to_owned(), c("kv1"))]),
        );
        let mut kv2 = KvMounts::new();
        kv2.entry("secret".to_owned()).or_default().insert(
            "gitops/sandbox".to_owned(),
            BTreeMap::from([("db_password".to_owned(), c("kv2"))]),
        );
        let aws = BTreeMap::from([(
            "aws".to_owned(),
            BTreeMap::from([(
                "sandbox-deploy".to_owned(),
                AwsCreds {
                    access_key: c("aws-access-key"),
                    secret_key: c("aws-secret-key"),
                    security_token: Some(c("aws-security-token")),
                    arn: None,
                },
            )]),
        )]);
        let azure = BTreeMap::from([(
            "azure".to_owned(),
            BTreeMap::from([(
                "sandbox-deploy".to_owned(),
                AzureCreds {
                    client_id: c("azure-client-id"),
                    client_secret: c("azure-client-secret"),
                },
            )]),
        )]);
        StandinConfig {
            root_token: c("root-token"),
            approle: vec![AppRole {
                role_name: "gitops-sandbox".to_owned(),
                role_id: c("approle-role-id"),
                secret_id: c("approle-secret-id"),
                policies: vec!["gitops-sandbox".to_owned()],
            }],
            jwt: vec![canary_jwt_role()],
            kv1,
            kv2,
            aws,
            azure,
            database: BTreeMap::new(),
            token_ttl: 3600,
            lease_ttl: 3600,
        }
    }

    /// Adds a database engine mount `database` on `pg` with role `app` (TTLs in seconds).
    pub fn with_database(
        mut self,
        pg: &crate::postgres::Postgres,
        default_ttl: u64,
        max_ttl: u64,
    ) -> Self {
        self.database.insert(
            "database".to_owned(),
            DatabaseMount {
                connection_url: pg.connection_url(),
                username: crate::postgres::SUPERUSER.to_owned(),
                roles: BTreeMap::from([(
                    "app".to_owned(),
                    DatabaseRole {
                        default_ttl,
                        max_ttl,
                    },
                )]),
            },
        );
        self
    }

    /// Every secret value of the configuration (root token, AppRole ids, JWTs, KV values, AWS and
    /// Azure credentials), for leak scans. Empty values are left out.
    pub fn canary_values(&self) -> Vec<String> {
        let mut out = vec![self.root_token.clone()];
        for a in &self.approle {
            out.push(a.role_id.clone());
            out.push(a.secret_id.clone());
        }
        out.extend(self.jwt.iter().map(|j| j.jwt.clone()));
        for mounts in [&self.kv1, &self.kv2] {
            for paths in mounts.values() {
                for data in paths.values() {
                    out.extend(data.values().cloned());
                }
            }
        }
        for roles in self.aws.values() {
            for c in roles.values() {
                out.push(c.access_key.clone());
                out.push(c.secret_key.clone());
                out.extend(c.security_token.clone());
            }
        }
        for roles in self.azure.values() {
            for c in roles.values() {
                out.push(c.client_id.clone());
                out.push(c.client_secret.clone());
            }
        }
        out.retain(|v| !v.is_empty());
        out.sort();
        out.dedup();
        out
    }
}

/// Issuer of the canary JWTs: what Jenkins' OpenID Connect provider calls itself.
pub const CANARY_JWT_ISSUER: &str = "https://jenkins.example.test/oidc";
/// Audience of the canary JWTs (the id token credential's audience in Jenkins).
pub const CANARY_JWT_AUDIENCE: &str = "gitops-vault";
/// The job whose builds the canary JWTs stand for (their `sub`).
pub const CANARY_JWT_JOB: &str = "https://jenkins.example.test/job/platform-live/";

/// JWT role `gitops-ci` (policy `gitops-ci`) with a fresh key pair and a token minted for it.
fn canary_jwt_role() -> JwtRole {
    let issuer = crate::jwt::JwtIssuer::generate(CANARY_JWT_ISSUER);
    let claims = issuer.jenkins_claims(CANARY_JWT_AUDIENCE, CANARY_JWT_JOB, 42, 3600);
    JwtRole {
        role: "gitops-ci".to_owned(),
        jwt: issuer.mint(&claims),
        policies: vec!["gitops-ci".to_owned()],
        issuer: CANARY_JWT_ISSUER.to_owned(),
        audience: CANARY_JWT_AUDIENCE.to_owned(),
        public_key_pem: issuer.public_key_pem(),
    }
}

// ---------------------------------------------------------------------------------------------
// Faults and state
// ---------------------------------------------------------------------------------------------

/// How a faulted request fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// Answer `status` with `{"errors":[...]}` (5xx: `internal error`).
    Status,
    /// Answer 503 `{"errors":["Vault is sealed"]}`; `sys/health` and `sys/seal-status` report
    /// sealed while the fault is active.
    Sealed,
    /// Sleep `delay_ms`, then answer normally.
    Slow,
    /// Close the connection without any response.
    Drop,
}

/// A fault: the next `times` requests whose path starts with `path_prefix` (e.g. `/v1/aws/`) fail
/// as `kind` says; `times: None` = until cleared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub path_prefix: String,
    pub kind: FaultKind,
    /// For `status` (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// For `slow` (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

impl Fault {
    fn new(path_prefix: &str, kind: FaultKind) -> Fault {
        Fault {
            path_prefix: path_prefix.to_owned(),
            kind,
            status: None,
            delay_ms: None,
            times: None,
        }
    }
    /// Answer `status` to matching requests.
    pub fn status(path_prefix: &str, status: u16) -> Fault {
        Fault {
            status: Some(status),
            ..Fault::new(path_prefix, FaultKind::Status)
        }
    }
    /// Answer 503 `Vault is sealed` to matching requests.
    pub fn sealed(path_prefix: &str) -> Fault {
        Fault::new(path_prefix, FaultKind::Sealed)
    }
    /// Delay matching requests by `delay_ms`.
    pub fn slow(path_prefix: &str, delay_ms: u64) -> Fault {
        Fault {
            delay_ms: Some(delay_ms),
            ..Fault::new(path_prefix, FaultKind::Slow)
        }
    }
    /// Close matching connections without a response.
    pub fn drop_connection(path_prefix: &str) -> Fault {
        Fault::new(path_prefix, FaultKind::Drop)
    }
    /// Only the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Fault {
        self.times = Some(n);
        self
    }
}

/// An issued token, without its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub accessor: String,
    pub policies: Vec<String>,
    pub revoked: bool,
    /// `approle`, `jwt` or `root`.
    pub created_by: String,
}

/// A lease issued by the AWS or Azure engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseInfo {
    pub lease_id: String,
    /// Request path that created it, e.g. `aws/creds/sandbox-deploy`.
    pub path: String,
    pub revoked: bool,
    pub renewable: bool,
    /// How many times `sys/leases/renew` succeeded on it.
    pub renewed: u32,
    /// Accessor of the token that created it.
    pub token_accessor: String,
}

/// One served request (`status` 0: the connection was dropped by a fault).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLogEntry {
    pub method: String,
    /// URL path without the query string.
    pub path: String,
    /// The `X-Vault-Namespace` header, if any.
    pub namespace: Option<String>,
    pub status: u16,
}

/// What `GET /__standin/state` answers: never a secret value nor a token (accessors only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandinState {
    pub tokens: Vec<TokenInfo>,
    pub leases: Vec<LeaseInfo>,
    pub requests: Vec<RequestLogEntry>,
    pub faults: Vec<Fault>,
}

impl StandinState {
    /// Requests whose path starts with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<&RequestLogEntry> {
        self.requests
            .iter()
            .filter(|r| r.path.starts_with(prefix))
            .collect()
    }
    /// The lease with this id.
    pub fn lease(&self, lease_id: &str) -> Option<&LeaseInfo> {
        self.leases.iter().find(|l| l.lease_id == lease_id)
    }
}

// ---------------------------------------------------------------------------------------------
// Randomness, ids, time
// ---------------------------------------------------------------------------------------------

/// `n` pseudo-random bytes: SHA-256 of time, process id, a process-wide counter and a stack
/// address. Not cryptographic; unique enough for test ids.
fn random_bytes(n: usize) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = Vec::with_capacity(n + 32);
    while out.len() < n {
        let c = COUNTER.fetch_add(1, Ordering::Relaxed);
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let marker = 0u8;
        let mut h = Sha256::new();
        h.update(t.to_le_bytes());
        h.update(c.to_le_bytes());
        h.update(std::process::id().to_le_bytes());
        h.update((&marker as *const u8 as usize).to_le_bytes());
        h.update(format!("{:?}", std::thread::current().id()).as_bytes());
        out.extend_from_slice(&h.finalize());
    }
    out.truncate(n);
    out
}

/// `2 * bytes` lowercase hex characters.
pub fn random_hex(bytes: usize) -> String {
    hex::encode(random_bytes(bytes))
}

/// A Vault-looking UUID (8-4-4-4-12 hex).
pub fn random_uuid() -> String {
    uuid_shaped(&random_hex(16))
}

/// The first 32 hex characters of `h` as a UUID (8-4-4-4-12).
pub fn uuid_shaped(h: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `n` base62 characters (Vault's accessors and lease suffixes look like this).
fn random_base62(n: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    random_bytes(n)
        .into_iter()
        .map(|b| ALPHABET[(b as usize) % ALPHABET.len()] as char)
        .collect()
}

fn now() -> SystemTime {
    SystemTime::now()
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// RFC 3339 UTC with nanoseconds, as Vault prints times (`2018-03-22T02:24:06.945319214Z`).
pub fn rfc3339(t: SystemTime) -> String {
    gitops_core::time::rfc3339(t, gitops_core::time::Precision::Nanos)
}

/// Vault durations: an integer number of seconds, or a string like `3600`, `90s`, `30m`, `1h`,
/// `1h30m`, `2d`.
fn parse_duration(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() {
                return None;
            }
            if let Ok(n) = s.parse::<u64>() {
                return Some(n);
            }
            let mut total = 0u64;
            let mut num = String::new();
            for ch in s.chars() {
                if ch.is_ascii_digit() {
                    num.push(ch);
                    continue;
                }
                let n: u64 = num.parse().ok()?;
                num.clear();
                total += n * match ch {
                    's' => 1,
                    'm' => 60,
                    'h' => 3600,
                    'd' => 86_400,
                    _ => return None,
                };
            }
            if !num.is_empty() {
                return None;
            }
            Some(total)
        }
        _ => None,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Minimal HTTP/1.1 message handling (shared by the server and the real-Vault seeding client)
// ---------------------------------------------------------------------------------------------

const MAX_LINE: usize = 16 * 1024;
const MAX_HEADERS: usize = 200;
/// Vault's default `max_request_size`.
const MAX_BODY: usize = 32 * 1024 * 1024;

fn read_line(r: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = r.take(MAX_LINE as u64).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// An HTTP start line and its headers.
type Head = (String, Vec<(String, String)>);

/// Reads a start line and headers; `None` on a clean EOF before any byte.
fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    let start = loop {
        match read_line(r)? {
            None => return Ok(None),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "eof in headers"))?;
        if line.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "too many headers",
            ));
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    Ok(Some((start, headers)))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Reads a body framed by `Content-Length` or chunked encoding; with neither, reads to EOF when
/// `to_eof` (responses) or takes an empty body (requests).
fn read_body(
    r: &mut impl BufRead,
    headers: &[(String, String)],
    to_eof: bool,
) -> io::Result<Vec<u8>> {
    let invalid = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_owned());
    if header(headers, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        let mut body = Vec::new();
        loop {
            let line = read_line(r)?.ok_or_else(|| invalid("eof in chunk size"))?;
            let size_hex = line.split(';').next().unwrap_or("").trim();
            let size =
                usize::from_str_radix(size_hex, 16).map_err(|_| invalid("bad chunk size"))?;
            if size == 0 {
                // Trailers until an empty line.
                while let Some(l) = read_line(r)? {
                    if l.is_empty() {
                        break;
                    }
                }
                return Ok(body);
            }
            if body.len() + size > MAX_BODY {
                return Err(invalid("body too large"));
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            read_line(r)?;
        }
    }
    if let Some(len) = header(headers, "content-length") {
        let len: usize = len.parse().map_err(|_| invalid("bad content-length"))?;
        if len > MAX_BODY {
            return Err(invalid("body too large"));
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body)?;
        return Ok(body);
    }
    let mut body = Vec::new();
    if to_eof {
        r.take(MAX_BODY as u64).read_to_end(&mut body)?;
    }
    Ok(body)
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        429 => "Too Many Requests",
        472 | 473 => "Unknown",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

struct HttpRequest {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpRequest {
    fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

enum Outcome {
    Respond(u16, Option<Value>),
    Drop,
}

fn respond(status: u16, body: Value) -> Outcome {
    Outcome::Respond(status, Some(body))
}

fn errors(status: u16, msgs: &[&str]) -> Outcome {
    respond(status, json!({ "errors": msgs }))
}

fn permission_denied() -> Outcome {
    errors(403, &["permission denied"])
}

fn unsupported_operation() -> Outcome {
    errors(405, &["1 error occurred:\n\t* unsupported operation\n\n"])
}

fn no_content() -> Outcome {
    Outcome::Respond(204, None)
}

/// Vault's response envelope.
fn envelope(
    data: Value,
    lease_id: &str,
    renewable: bool,
    lease_duration: u64,
    auth: Value,
    mount_type: &str,
) -> Value {
    json!({
        "request_id": random_uuid(),
        "lease_id": lease_id,
        "renewable": renewable,
        "lease_duration": lease_duration,
        "data": data,
        "wrap_info": null,
        "warnings": null,
        "auth": auth,
        "mount_type": mount_type,
    })
}

#[derive(Clone)]
struct TokenRec {
    token: String,
    accessor: String,
    policies: Vec<String>,
    created_by: &'static str,
    display_name: String,
    path: String,
    meta: Option<BTreeMap<String, String>>,
    entity_id: String,
    issued: SystemTime,
    /// 0 = no expiry (root).
    ttl: u64,
    expires: Option<SystemTime>,
    revoked: bool,
}

impl TokenRec {
    fn valid(&self) -> bool {
        !self.revoked && self.expires.is_none_or(|e| now() < e)
    }
    fn remaining(&self) -> u64 {
        self.expires
            .map(|e| e.duration_since(now()).unwrap_or_default().as_secs())
            .unwrap_or(0)
    }
    fn auth_json(&self) -> Value {
        json!({
            "client_token": self.token,
            "accessor": self.accessor,
            "policies": self.policies,
            "token_policies": self.policies,
            "identity_policies": null,
            "metadata": self.meta,
            "lease_duration": self.ttl,
            "renewable": self.ttl > 0,
            "entity_id": self.entity_id,
            "token_type": "service",
            "orphan": true,
            "mfa_requirement": null,
            "num_uses": 0,
        })
    }
}

struct LeaseRec {
    lease_id: String,
    path: String,
    issued: SystemTime,
    last_renewal: Option<SystemTime>,
    expires: SystemTime,
    renewable: bool,
    revoked: bool,
    renewed: u32,
    token_accessor: String,
}

struct ActiveFault {
    fault: Fault,
    remaining: Option<u32>,
}

#[derive(Default)]
struct Runtime {
    tokens: Vec<TokenRec>,
    leases: Vec<LeaseRec>,
    log: Vec<RequestLogEntry>,
    faults: Vec<ActiveFault>,
}

struct Inner {
    config: StandinConfig,
    started: SystemTime,
    cluster_name: String,
    cluster_id: String,
    rt: Mutex<Runtime>,
    shutdown: AtomicBool,
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_conn: AtomicU64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum MountKind {
    Kv1,
    Kv2,
    Aws,
    Azure,
}

impl Inner {
    fn new(config: StandinConfig) -> Inner {
        let started = now();
        let root = TokenRec {
            token: config.root_token.clone(),
            accessor: random_base62(24),
            policies: vec!["root".to_owned()],
            created_by: "root",
            display_name: "root".to_owned(),
            path: "auth/token/root".to_owned(),
            meta: None,
            entity_id: String::new(),
            issued: started,
            ttl: 0,
            expires: None,
            revoked: false,
        };
        Inner {
            config,
            started,
            cluster_name: format!("vault-cluster-{}", random_hex(4)),
            cluster_id: random_uuid(),
            rt: Mutex::new(Runtime {
                tokens: vec![root],
                ..Runtime::default()
            }),
            shutdown: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
        }
    }

    fn state(&self) -> StandinState {
        let rt = lock(&self.rt);
        StandinState {
            tokens: rt
                .tokens
                .iter()
                .map(|t| TokenInfo {
                    accessor: t.accessor.clone(),
                    policies: t.policies.clone(),
                    revoked: t.revoked,
                    created_by: t.created_by.to_owned(),
                })
                .collect(),
            leases: rt
                .leases
                .iter()
                .map(|l| LeaseInfo {
                    lease_id: l.lease_id.clone(),
                    path: l.path.clone(),
                    revoked: l.revoked,
                    renewable: l.renewable,
                    renewed: l.renewed,
                    token_accessor: l.token_accessor.clone(),
                })
                .collect(),
            requests: rt.log.clone(),
            faults: rt.faults.iter().map(|f| f.fault.clone()).collect(),
        }
    }

    fn add_fault(&self, fault: Fault) {
        let remaining = fault.times;
        lock(&self.rt).faults.push(ActiveFault { fault, remaining });
    }

    fn clear_faults(&self) {
        lock(&self.rt).faults.clear();
    }

    /// The first active fault matching `path`, consuming one of its `times`.
    fn take_fault(&self, path: &str) -> Option<Fault> {
        let mut rt = lock(&self.rt);
        let f = rt
            .faults
            .iter_mut()
            .find(|f| path.starts_with(&f.fault.path_prefix) && f.remaining != Some(0))?;
        if let Some(n) = f.remaining.as_mut() {
            *n -= 1;
        }
        let fault = f.fault.clone();
        rt.faults.retain(|f| f.remaining != Some(0));
        Some(fault)
    }

    fn sealed(&self) -> bool {
        lock(&self.rt)
            .faults
            .iter()
            .any(|f| f.fault.kind == FaultKind::Sealed && f.remaining != Some(0))
    }

    fn handle(&self, req: &HttpRequest) -> Outcome {
        if let Some(rest) = req.path.strip_prefix("/__standin/") {
            return self.handle_standin(rest, req);
        }
        let outcome = match self.take_fault(&req.path) {
            None => self.route(req),
            Some(f) => match f.kind {
                FaultKind::Drop => Outcome::Drop,
                FaultKind::Status => {
                    let status = f.status.unwrap_or(500);
                    let msg = match status {
                        400 => "invalid request",
                        403 => "permission denied",
                        404 => "",
                        405 => "1 error occurred:\n\t* unsupported operation\n\n",
                        412 => "required index state not present",
                        429 => "rate limit quota exceeded",
                        s if s >= 500 => "internal error",
                        _ => "injected fault",
                    };
                    if msg.is_empty() {
                        errors(status, &[])
                    } else {
                        errors(status, &[msg])
                    }
                }
                FaultKind::Sealed => match req.path.as_str() {
                    "/v1/sys/health" | "/v1/sys/seal-status" => self.route(req),
                    _ => errors(503, &["Vault is sealed"]),
                },
                FaultKind::Slow => {
                    std::thread::sleep(Duration::from_millis(f.delay_ms.unwrap_or(1000)));
                    self.route(req)
                }
            },
        };
        let status = match &outcome {
            Outcome::Respond(s, _) => *s,
            Outcome::Drop => 0,
        };
        lock(&self.rt).log.push(RequestLogEntry {
            method: req.method.clone(),
            path: req.path.clone(),
            namespace: header(&req.headers, "x-vault-namespace").map(str::to_owned),
            status,
        });
        outcome
    }

    fn handle_standin(&self, rest: &str, req: &HttpRequest) -> Outcome {
        match (req.method.as_str(), rest.trim_end_matches('/')) {
            ("POST" | "PUT", "faults") => match serde_json::from_slice::<Fault>(&req.body) {
                Ok(f) => {
                    self.add_fault(f);
                    no_content()
                }
                Err(e) => errors(400, &[&format!("invalid fault: {e}")]),
            },
            ("DELETE", "faults") => {
                self.clear_faults();
                no_content()
            }
            ("GET", "faults") => respond(200, json!(self.state().faults)),
            ("GET", "state") => respond(200, json!(self.state())),
            _ => errors(404, &["unknown stand-in endpoint"]),
        }
    }

    fn token_of(req: &HttpRequest) -> Option<&str> {
        header(&req.headers, "x-vault-token")
            .filter(|t| !t.is_empty())
            .or_else(|| {
                header(&req.headers, "authorization")
                    .and_then(|a| {
                        a.strip_prefix("Bearer ")
                            .or_else(|| a.strip_prefix("bearer "))
                    })
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
            })
    }

    fn authenticate(&self, req: &HttpRequest) -> Option<TokenRec> {
        let token = Self::token_of(req)?;
        if token == self.config.root_token {
            return lock(&self.rt).tokens.first().cloned();
        }
        lock(&self.rt)
            .tokens
            .iter()
            .find(|t| t.token == token && t.valid())
            .cloned()
    }

    fn route(&self, req: &HttpRequest) -> Outcome {
        let Some(path) = req.path.strip_prefix("/v1/") else {
            return errors(404, &[]);
        };
        let list = req.method == "LIST"
            || (req.method == "GET" && matches!(req.query_param("list"), Some("true" | "1")));
        let read = req.method == "GET" || req.method == "HEAD";
        let write = req.method == "POST" || req.method == "PUT";
        let p = path.trim_end_matches('/');

        match p {
            "sys/health" => {
                return if read {
                    self.health(req)
                } else {
                    unsupported_operation()
                }
            }
            "sys/seal-status" => {
                return if read {
                    self.seal_status()
                } else {
                    unsupported_operation()
                }
            }
            "auth/approle/login" => {
                return if write {
                    self.approle_login(req)
                } else {
                    unsupported_operation()
                }
            }
            "auth/jwt/login" => {
                return if write {
                    self.jwt_login(req)
                } else {
                    unsupported_operation()
                }
            }
            _ => {}
        }

        let Some(token) = self.authenticate(req) else {
            return permission_denied();
        };

        match p {
            "auth/token/lookup-self" if read || write => return self.lookup_self(&token),
            "auth/token/renew-self" if write => return self.renew_self(req, &token),
            "auth/token/revoke-self" if write => return self.revoke_self(&token),
            "auth/token/lookup-self" | "auth/token/renew-self" | "auth/token/revoke-self" => {
                return unsupported_operation()
            }
            _ => {}
        }
        let lease_routes: [(&str, &[&str]); 3] = [
            ("revoke", &["sys/leases/revoke", "sys/revoke"]),
            ("renew", &["sys/leases/renew", "sys/renew"]),
            ("lookup", &["sys/leases/lookup"]),
        ];
        for (op, prefixes) in lease_routes {
            for prefix in prefixes.iter().copied() {
                let suffix = if p == prefix {
                    Some("")
                } else {
                    p.strip_prefix(prefix).and_then(|s| s.strip_prefix('/'))
                };
                if let Some(suffix) = suffix {
                    if !write {
                        return unsupported_operation();
                    }
                    return self.lease_op(op, suffix, req);
                }
            }
        }

        let Some((kind, mount, rest)) = self.resolve_mount(path) else {
            return errors(
                404,
                &[&format!(
                    "no handler for route \"{path}\". route entry not found."
                )],
            );
        };
        match kind {
            MountKind::Kv1 => self.kv1(mount, rest, read, list),
            MountKind::Kv2 => self.kv2(req, mount, rest, read, list),
            MountKind::Aws => self.aws(mount, rest, read || write, &token),
            MountKind::Azure => self.azure(mount, rest, read || write, &token),
        }
    }

    /// Longest configured mount that `path` is under -> (kind, mount, path inside the mount).
    fn resolve_mount<'a>(&self, path: &'a str) -> Option<(MountKind, String, &'a str)> {
        let c = &self.config;
        let mounts = c
            .kv1
            .keys()
            .map(|m| (MountKind::Kv1, m))
            .chain(c.kv2.keys().map(|m| (MountKind::Kv2, m)))
            .chain(c.aws.keys().map(|m| (MountKind::Aws, m)))
            .chain(c.azure.keys().map(|m| (MountKind::Azure, m)));
        let mut best: Option<(MountKind, String, &'a str)> = None;
        for (kind, m) in mounts {
            let m = m.trim_matches('/');
            let rest = if path == m {
                Some("")
            } else {
                path.strip_prefix(m).and_then(|r| r.strip_prefix('/'))
            };
            if let Some(rest) = rest {
                if best.as_ref().is_none_or(|(_, b, _)| m.len() > b.len()) {
                    best = Some((kind, m.to_owned(), rest));
                }
            }
        }
        best
    }

    fn health(&self, req: &HttpRequest) -> Outcome {
        let code = |name: &str, default: u16| {
            req.query_param(name)
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let body = if self.sealed() {
            (
                code("sealedcode", 503),
                json!({
                    "initialized": true,
                    "sealed": true,
                    "standby": true,
                    "performance_standby": false,
                    "replication_performance_mode": "unknown",
                    "replication_dr_mode": "unknown",
                    "server_time_utc": unix(now()),
                    "version": STANDIN_VAULT_VERSION,
                    "enterprise": false,
                    "echo_duration_ms": 0,
                    "clock_skew_ms": 0,
                }),
            )
        } else {
            (
                code("activecode", 200),
                json!({
                    "initialized": true,
                    "sealed": false,
                    "standby": false,
                    "performance_standby": false,
                    "replication_performance_mode": "disabled",
                    "replication_dr_mode": "disabled",
                    "server_time_utc": unix(now()),
                    "version": STANDIN_VAULT_VERSION,
                    "enterprise": false,
                    "cluster_name": self.cluster_name,
                    "cluster_id": self.cluster_id,
                    "echo_duration_ms": 0,
                    "clock_skew_ms": 0,
                }),
            )
        };
        respond(body.0, body.1)
    }

    fn seal_status(&self) -> Outcome {
        let sealed = self.sealed();
        let mut body = json!({
            "type": "shamir",
            "initialized": true,
            "sealed": sealed,
            "t": 1,
            "n": 1,
            "progress": 0,
            "nonce": "",
            "version": STANDIN_VAULT_VERSION,
            "build_date": rfc3339(self.started),
            "migration": false,
            "recovery_seal": false,
            "storage_type": "inmem",
            "removed_from_cluster": false,
        });
        if !sealed {
            body["cluster_name"] = json!(self.cluster_name);
            body["cluster_id"] = json!(self.cluster_id);
        }
        respond(200, body)
    }

    fn json_body(req: &HttpRequest) -> Result<Map<String, Value>, Outcome> {
        if req.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(errors(
                400,
                &["failed to parse JSON input: not a JSON object"],
            )),
            Err(e) => Err(errors(400, &[&format!("failed to parse JSON input: {e}")])),
        }
    }

    fn issue_token(
        &self,
        created_by: &'static str,
        policies: &[String],
        display_name: String,
        path: &str,
        meta: BTreeMap<String, String>,
    ) -> TokenRec {
        let mut pols: Vec<String> = policies.to_vec();
        if !pols.iter().any(|p| p == "default") {
            pols.push("default".to_owned());
        }
        pols.sort();
        pols.dedup();
        let issued = now();
        let ttl = self.config.token_ttl;
        let rec = TokenRec {
            token: format!("hvs.{}", random_base62(24)),
            accessor: random_base62(24),
            policies: pols,
            created_by,
            display_name,
            path: path.to_owned(),
            meta: Some(meta),
            entity_id: random_uuid(),
            issued,
            ttl,
            expires: (ttl > 0).then(|| issued + Duration::from_secs(ttl)),
            revoked: false,
        };
        lock(&self.rt).tokens.push(rec.clone());
        rec
    }

    fn approle_login(&self, req: &HttpRequest) -> Outcome {
        let body = match Self::json_body(req) {
            Ok(b) => b,
            Err(o) => return o,
        };
        let role_id = body.get("role_id").and_then(Value::as_str).unwrap_or("");
        let secret_id = body.get("secret_id").and_then(Value::as_str).unwrap_or("");
        if role_id.is_empty() {
            return errors(400, &["missing role_id"]);
        }
        let Some(role) =
            self.config.approle.iter().find(|a| {
                a.role_id == role_id && a.secret_id == secret_id && !secret_id.is_empty()
            })
        else {
            return errors(400, &["invalid role or secret ID"]);
        };
        let name = if role.role_name.is_empty() {
            "approle".to_owned()
        } else {
            role.role_name.clone()
        };
        let tok = self.issue_token(
            "approle",
            &role.policies,
            "approle".to_owned(),
            "auth/approle/login",
            BTreeMap::from([("role_name".to_owned(), name)]),
        );
        respond(
            200,
            envelope(Value::Null, "", false, 0, tok.auth_json(), "approle"),
        )
    }

    /// JWT login. The stand-in does NOT verify signatures or claims: the presented `jwt` must be
    /// byte-for-byte the one configured for the role (treat it as an opaque secret).
    fn jwt_login(&self, req: &HttpRequest) -> Outcome {
        let body = match Self::json_body(req) {
            Ok(b) => b,
            Err(o) => return o,
        };
        let jwt = body.get("jwt").and_then(Value::as_str).unwrap_or("");
        let role = body.get("role").and_then(Value::as_str).unwrap_or("");
        if jwt.is_empty() {
            return errors(400, &["missing token"]);
        }
        if role.is_empty() {
            return errors(400, &["missing role"]);
        }
        let Some(r) = self.config.jwt.iter().find(|j| j.role == role) else {
            return errors(400, &[&format!("role {role:?} could not be found")]);
        };
        if r.jwt != jwt {
            return errors(
                400,
                &["error validating token: no known key successfully validated the token signature"],
            );
        }
        let tok = self.issue_token(
            "jwt",
            &r.policies,
            format!("jwt-{role}"),
            "auth/jwt/login",
            BTreeMap::from([("role".to_owned(), role.to_owned())]),
        );
        respond(
            200,
            envelope(Value::Null, "", false, 0, tok.auth_json(), "jwt"),
        )
    }

    fn lookup_self(&self, t: &TokenRec) -> Outcome {
        let data = json!({
            "accessor": t.accessor,
            "creation_time": unix(t.issued),
            "creation_ttl": t.ttl,
            "display_name": t.display_name,
            "entity_id": t.entity_id,
            "expire_time": t.expires.map(rfc3339),
            "explicit_max_ttl": 0,
            "id": t.token,
            "issue_time": rfc3339(t.issued),
            "meta": t.meta,
            "num_uses": 0,
            "orphan": true,
            "path": t.path,
            "policies": t.policies,
            "renewable": t.ttl > 0,
            "ttl": t.remaining(),
            "type": "service",
        });
        respond(200, envelope(data, "", false, 0, Value::Null, "token"))
    }

    fn renew_self(&self, req: &HttpRequest, t: &TokenRec) -> Outcome {
        let body = match Self::json_body(req) {
            Ok(b) => b,
            Err(o) => return o,
        };
        if t.ttl == 0 {
            return errors(400, &["lease is not renewable"]);
        }
        let inc = body
            .get("increment")
            .and_then(parse_duration)
            .filter(|n| *n > 0)
            .unwrap_or(self.config.token_ttl);
        let mut rt = lock(&self.rt);
        let Some(rec) = rt.tokens.iter_mut().find(|r| r.accessor == t.accessor) else {
            return permission_denied();
        };
        rec.ttl = inc;
        rec.expires = Some(now() + Duration::from_secs(inc));
        let auth = rec.auth_json();
        drop(rt);
        respond(200, envelope(Value::Null, "", false, 0, auth, "token"))
    }

    fn revoke_self(&self, t: &TokenRec) -> Outcome {
        if t.created_by == "root" {
            // The configured root token stays valid so tests can always inspect.
            return no_content();
        }
        let mut rt = lock(&self.rt);
        for rec in rt.tokens.iter_mut().filter(|r| r.accessor == t.accessor) {
            rec.revoked = true;
        }
        for l in rt
            .leases
            .iter_mut()
            .filter(|l| l.token_accessor == t.accessor)
        {
            l.revoked = true;
        }
        no_content()
    }

    fn lease_op(&self, op: &str, suffix: &str, req: &HttpRequest) -> Outcome {
        let body = match Self::json_body(req) {
            Ok(b) => b,
            Err(o) => return o,
        };
        let lease_id = body
            .get("lease_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(suffix)
            .to_owned();
        if lease_id.is_empty() {
            return errors(400, &["lease_id must be specified"]);
        }
        let mut rt = lock(&self.rt);
        let lease = rt.leases.iter_mut().find(|l| l.lease_id == lease_id);
        match op {
            "revoke" => {
                // Revoking an unknown or already revoked lease succeeds, as in Vault.
                if let Some(l) = lease {
                    l.revoked = true;
                }
                no_content()
            }
            "renew" => {
                let Some(l) = lease.filter(|l| !l.revoked && now() < l.expires) else {
                    return errors(400, &["lease not found"]);
                };
                if !l.renewable {
                    return errors(400, &["lease is not renewable"]);
                }
                let inc = body
                    .get("increment")
                    .and_then(parse_duration)
                    .filter(|n| *n > 0)
                    .unwrap_or(self.config.lease_ttl);
                let t = now();
                l.expires = t + Duration::from_secs(inc);
                l.last_renewal = Some(t);
                l.renewed += 1;
                let id = l.lease_id.clone();
                drop(rt);
                respond(
                    200,
                    envelope(Value::Null, &id, true, inc, Value::Null, "system"),
                )
            }
            _ => {
                let Some(l) = lease.filter(|l| !l.revoked && now() < l.expires) else {
                    return errors(400, &["invalid lease"]);
                };
                let data = json!({
                    "id": l.lease_id,
                    "issue_time": rfc3339(l.issued),
                    "expire_time": rfc3339(l.expires),
                    "last_renewal_time": l.last_renewal.map(rfc3339),
                    "renewable": l.renewable,
                    "ttl": l.expires.duration_since(now()).unwrap_or_default().as_secs(),
                });
                drop(rt);
                respond(200, envelope(data, "", false, 0, Value::Null, "system"))
            }
        }
    }

    fn kv_list(paths: &BTreeMap<String, BTreeMap<String, String>>, prefix: &str) -> Vec<String> {
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", prefix.trim_end_matches('/'))
        };
        let mut keys: Vec<String> = paths
            .keys()
            .filter_map(|p| p.strip_prefix(&prefix))
            .map(|rest| match rest.split_once('/') {
                Some((dir, _)) => format!("{dir}/"),
                None => rest.to_owned(),
            })
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    fn kv1(&self, mount: String, rest: &str, read: bool, list: bool) -> Outcome {
        let paths = self.config.kv1.get(&mount).cloned().unwrap_or_default();
        if list {
            let keys = Self::kv_list(&paths, rest);
            if keys.is_empty() {
                return errors(404, &[]);
            }
            return respond(
                200,
                envelope(json!({ "keys": keys }), "", false, 0, Value::Null, "kv"),
            );
        }
        if !read {
            return unsupported_operation();
        }
        match paths.get(rest.trim_end_matches('/')) {
            Some(data) => respond(
                200,
                envelope(
                    json!(data),
                    "",
                    false,
                    KV1_LEASE_DURATION,
                    Value::Null,
                    "kv",
                ),
            ),
            None => errors(404, &[]),
        }
    }

    fn kv2(&self, req: &HttpRequest, mount: String, rest: &str, read: bool, list: bool) -> Outcome {
        let paths = self.config.kv2.get(&mount).cloned().unwrap_or_default();
        let created = rfc3339(self.started);
        if let Some(p) = rest
            .strip_prefix("metadata")
            .map(|p| p.trim_start_matches('/'))
        {
            if list {
                let keys = Self::kv_list(&paths, p);
                if keys.is_empty() {
                    return errors(404, &[]);
                }
                return respond(
                    200,
                    envelope(json!({ "keys": keys }), "", false, 0, Value::Null, "kv"),
                );
            }
            if !read {
                return unsupported_operation();
            }
            if !paths.contains_key(p) {
                return errors(404, &[]);
            }
            let data = json!({
                "cas_required": false,
                "created_time": created,
                "current_version": 1,
                "custom_metadata": null,
                "delete_version_after": "0s",
                "max_versions": 0,
                "oldest_version": 0,
                "updated_time": created,
                "versions": { "1": { "created_time": created, "deletion_time": "", "destroyed": false } },
            });
            return respond(200, envelope(data, "", false, 0, Value::Null, "kv"));
        }
        let Some(p) = rest.strip_prefix("data/") else {
            return errors(404, &["1 error occurred:\n\t* unsupported path\n\n"]);
        };
        if !read {
            return unsupported_operation();
        }
        let version = req.query_param("version").unwrap_or("0");
        let Some(data) = paths.get(p).filter(|_| matches!(version, "0" | "1" | "")) else {
            return errors(404, &[]);
        };
        let body = json!({
            "data": data,
            "metadata": {
                "created_time": created,
                "custom_metadata": null,
                "deletion_time": "",
                "destroyed": false,
                "version": 1,
            },
        });
        respond(200, envelope(body, "", false, 0, Value::Null, "kv"))
    }

    fn new_lease(&self, path: String, renewable: bool, token: &TokenRec) -> (String, u64) {
        let ttl = self.config.lease_ttl;
        let lease_id = format!("{path}/{}", random_base62(24));
        let issued = now();
        lock(&self.rt).leases.push(LeaseRec {
            lease_id: lease_id.clone(),
            path,
            issued,
            last_renewal: None,
            expires: issued + Duration::from_secs(ttl),
            renewable,
            revoked: false,
            renewed: 0,
            token_accessor: token.accessor.clone(),
        });
        (lease_id, ttl)
    }

    fn aws(&self, mount: String, rest: &str, allowed: bool, token: &TokenRec) -> Outcome {
        let Some((endpoint, role)) = rest
            .split_once('/')
            .filter(|(e, r)| matches!(*e, "creds" | "sts") && !r.is_empty() && !r.contains('/'))
        else {
            return errors(404, &["1 error occurred:\n\t* unsupported path\n\n"]);
        };
        if !allowed {
            return unsupported_operation();
        }
        let Some(c) = self.config.aws.get(&mount).and_then(|r| r.get(role)) else {
            return errors(400, &[&format!("Role {role:?} not found")]);
        };
        // Vault's STS credentials (assumed_role, federation_token) are not renewable.
        let sts = c.security_token.is_some();
        let (lease_id, ttl) = self.new_lease(format!("{mount}/{endpoint}/{role}"), !sts, token);
        let arn = c.arn.clone().unwrap_or_else(|| {
            let session = format!("vault-token-{role}-{}", unix(now()));
            if sts {
                format!("arn:aws:sts::123456789012:assumed-role/{role}/{session}")
            } else {
                format!("arn:aws:iam::123456789012:user/{session}")
            }
        });
        let data = json!({
            "access_key": c.access_key,
            "secret_key": c.secret_key,
            "security_token": c.security_token,
            "arn": arn,
        });
        respond(
            200,
            envelope(data, &lease_id, !sts, ttl, Value::Null, "aws"),
        )
    }

    fn azure(&self, mount: String, rest: &str, allowed: bool, token: &TokenRec) -> Outcome {
        let Some(role) = rest
            .strip_prefix("creds/")
            .filter(|r| !r.is_empty() && !r.contains('/'))
        else {
            return errors(404, &["1 error occurred:\n\t* unsupported path\n\n"]);
        };
        if !allowed {
            return unsupported_operation();
        }
        let Some(c) = self.config.azure.get(&mount).and_then(|r| r.get(role)) else {
            return errors(400, &[&format!("role '{role}' does not exist")]);
        };
        let (lease_id, ttl) = self.new_lease(format!("{mount}/creds/{role}"), true, token);
        let data = json!({ "client_id": c.client_id, "client_secret": c.client_secret });
        respond(
            200,
            envelope(data, &lease_id, true, ttl, Value::Null, "azure"),
        )
    }
}

fn write_response(
    w: &mut TcpStream,
    status: u16,
    body: Option<&Value>,
    head_only: bool,
    close: bool,
) -> io::Result<()> {
    let bytes = match body {
        Some(v) => {
            let mut b = serde_json::to_vec(v).unwrap_or_default();
            b.push(b'\n');
            b
        }
        None => Vec::new(),
    };
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nCache-Control: no-store\r\n",
        reason(status)
    );
    if body.is_some() {
        out.push_str("Content-Type: application/json\r\n");
    }
    if status != 204 {
        out.push_str(&format!("Content-Length: {}\r\n", bytes.len()));
    }
    if close {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    let mut all = out.into_bytes();
    if !head_only {
        all.extend_from_slice(&bytes);
    }
    w.write_all(&all)?;
    w.flush()
}

fn serve_connection(inner: &Inner, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    while !inner.shutdown.load(Ordering::SeqCst) {
        let Ok(Some((start, headers))) = read_head(&mut reader) else {
            break;
        };
        let mut parts = start.split_whitespace();
        let (Some(method), Some(target), version) = (parts.next(), parts.next(), parts.next())
        else {
            let _ = write_response(
                &mut writer,
                400,
                Some(&json!({"errors": ["malformed request"]})),
                false,
                true,
            );
            break;
        };
        let version = version.unwrap_or("HTTP/1.0").to_owned();
        if header(&headers, "expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
            let _ = writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let body = match read_body(&mut reader, &headers, false) {
            Ok(b) => b,
            Err(e) => {
                let _ = write_response(
                    &mut writer,
                    400,
                    Some(&json!({"errors": [format!("failed to read request body: {e}")]})),
                    false,
                    true,
                );
                break;
            }
        };
        let conn_header = header(&headers, "connection").map(str::to_ascii_lowercase);
        let close = match conn_header.as_deref() {
            Some(c) if c.contains("close") => true,
            Some(c) if c.contains("keep-alive") => false,
            _ => version == "HTTP/1.0",
        };
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), q.to_owned()),
            None => (target.to_owned(), String::new()),
        };
        let req = HttpRequest {
            method: method.to_ascii_uppercase(),
            path,
            query,
            headers,
            body,
        };
        match inner.handle(&req) {
            Outcome::Drop => {
                let _ = writer.shutdown(Shutdown::Both);
                break;
            }
            Outcome::Respond(status, body) => {
                let head_only = req.method == "HEAD";
                if write_response(&mut writer, status, body.as_ref(), head_only, close).is_err()
                    || close
                {
                    break;
                }
            }
        }
    }
}

/// A running stand-in, serving on `127.0.0.1` until dropped.
pub struct VaultStandin {
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    pub config: StandinConfig,
    inner: Arc<Inner>,
    acceptor: Option<JoinHandle<()>>,
}

impl VaultStandin {
    /// Starts on an ephemeral port of 127.0.0.1.
    pub fn start(config: StandinConfig) -> VaultStandin {
        VaultStandin::start_on(config, 0).expect("start the Vault stand-in on 127.0.0.1")
    }

    /// Starts on `127.0.0.1:port` (0 = any free port).
    pub fn start_on(config: StandinConfig, port: u16) -> io::Result<VaultStandin> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let local = listener.local_addr()?;
        let inner = Arc::new(Inner::new(config.clone()));
        let acceptor_inner = Arc::clone(&inner);
        let acceptor = std::thread::Builder::new()
            .name("vault-standin-accept".to_owned())
            .spawn(move || {
                for stream in listener.incoming() {
                    if acceptor_inner.shutdown.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let id = acceptor_inner.next_conn.fetch_add(1, Ordering::SeqCst);
                    if let Ok(clone) = stream.try_clone() {
                        lock(&acceptor_inner.conns).insert(id, clone);
                    }
                    let conn_inner = Arc::clone(&acceptor_inner);
                    let spawned = std::thread::Builder::new()
                        .name("vault-standin-conn".to_owned())
                        .spawn(move || {
                            serve_connection(&conn_inner, stream);
                            lock(&conn_inner.conns).remove(&id);
                        });
                    if spawned.is_err() {
                        lock(&acceptor_inner.conns).remove(&id);
                    }
                }
            })?;
        Ok(VaultStandin {
            addr: format!("http://{local}"),
            config,
            inner,
            acceptor: Some(acceptor),
        })
    }

    /// Adds a fault (same as `POST /__standin/faults`).
    pub fn fault(&self, f: Fault) {
        self.inner.add_fault(f);
    }

    /// Clears all faults (same as `DELETE /__standin/faults`).
    pub fn clear_faults(&self) {
        self.inner.clear_faults();
    }

    /// Same data as `GET /__standin/state`.
    pub fn state(&self) -> StandinState {
        self.inner.state()
    }

    /// The root token.
    pub fn root_token(&self) -> &str {
        &self.config.root_token
    }
}

impl Drop for VaultStandin {
    fn drop(&mut self) {
        self.inner.shutdown.store(true, Ordering::SeqCst);
        // Wake the acceptor, then close every open connection.
        if let Some(hostport) = self.addr.strip_prefix("http://") {
            let _ = TcpStream::connect_timeout(
                &hostport
                    .parse()
                    .unwrap_or_else(|_| ([127, 0, 0, 1], 0).into()),
                Duration::from_secs(1),
            );
        }
        for (_, s) in lock(&self.inner.conns).drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// OpenBao, an operator's Vault, or the stand-in
// ---------------------------------------------------------------------------------------------

/// The Vault of a test:
///
/// * by default an OpenBao dev server of its own ([`crate::openbao::BaoServer`]), seeded with the
///   configuration by [`seed`]: KV v1/v2, AppRole, JWT auth (real signed tokens) and the database
///   engine; it has no aws/azure engines;
/// * an operator's Vault only by explicit opt-in: `GITOPS_TEST_VAULT_ADDR` and
///   `GITOPS_TEST_VAULT_TOKEN` (and `GITOPS_TEST_VAULT_NAMESPACE`, see [`TestVault::namespace`]),
///   http only; [`seed`] writes mounts, policies and roles into it. An ambient `VAULT_ADDR`/`VAULT_TOKEN` is never used;
/// * the stand-in only through [`TestVault::standin_because`], for what a real server cannot do
///   here: fault injection and the aws/azure engines.
pub enum TestVault {
    OpenBao {
        server: crate::openbao::BaoServer,
        config: StandinConfig,
        /// The leases that existed once seeded (the root token's): not the tests' business.
        baseline: Vec<String>,
    },
    Standin(VaultStandin),
    Operator {
        addr: String,
        token: String,
        config: StandinConfig,
        baseline: Vec<String>,
    },
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The namespace of the operator's Vault, when one was opted into (never an ambient one).
fn operator_namespace() -> Option<String> {
    env_nonempty("GITOPS_TEST_VAULT_ADDR").and(env_nonempty("GITOPS_TEST_VAULT_NAMESPACE"))
}

impl TestVault {
    /// OpenBao (or the operator's Vault when opted into), seeded with `config`.
    pub fn start(config: StandinConfig) -> TestVault {
        if let Some(addr) = env_nonempty("GITOPS_TEST_VAULT_ADDR") {
            let token = env_nonempty("GITOPS_TEST_VAULT_TOKEN")
                .expect("GITOPS_TEST_VAULT_ADDR is set: GITOPS_TEST_VAULT_TOKEN must be too");
            let mut config = config;
            config.root_token = token.clone();
            if let Err(e) = seed(&addr, &token, &config) {
                panic!("seeding the Vault at {addr} (GITOPS_TEST_VAULT_ADDR) failed: {e}");
            }
            let addr = addr.trim_end_matches('/').to_owned();
            let baseline = list_leases(&addr, &token, "");
            return TestVault::Operator {
                addr,
                token,
                config,
                baseline,
            };
        }
        let server = crate::openbao::BaoServer::start(&config.root_token);
        if let Err(e) = seed(&server.addr, server.root_token(), &config) {
            panic!("seeding OpenBao at {} failed: {e}", server.addr);
        }
        let baseline = list_leases(&server.addr, server.root_token(), "");
        TestVault::OpenBao {
            server,
            config,
            baseline,
        }
    }

    /// The stand-in, for a test that needs what no real server does here; `why` says what (fault
    /// injection, the aws/azure engines) and is shown with the test's output.
    pub fn standin_because(why: &str, config: StandinConfig) -> TestVault {
        assert!(!why.trim().is_empty(), "say why the stand-in is used");
        assert!(
            config.database.is_empty(),
            "the stand-in has no database engine: use TestVault::start (OpenBao)"
        );
        eprintln!("Vault stand-in: {why}");
        TestVault::Standin(VaultStandin::start(config))
    }

    pub fn addr(&self) -> &str {
        match self {
            TestVault::OpenBao { server, .. } => &server.addr,
            TestVault::Standin(s) => &s.addr,
            TestVault::Operator { addr, .. } => addr,
        }
    }

    pub fn root_token(&self) -> &str {
        match self {
            TestVault::OpenBao { server, .. } => server.root_token(),
            TestVault::Standin(s) => &s.config.root_token,
            TestVault::Operator { token, .. } => token,
        }
    }

    pub fn config(&self) -> &StandinConfig {
        match self {
            TestVault::OpenBao { config, .. } | TestVault::Operator { config, .. } => config,
            TestVault::Standin(s) => &s.config,
        }
    }

    /// A real server (OpenBao or the operator's Vault), not the stand-in.
    pub fn is_real(&self) -> bool {
        !matches!(self, TestVault::Standin(_))
    }

    /// What the tests run against, for messages: `OpenBao 2.7.2 at http://...`.
    pub fn describe(&self) -> String {
        let version = http_json(self.addr(), "GET", "/v1/sys/health", None, None)
            .ok()
            .and_then(|(_, v)| v["version"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "?".into());
        let kind = match self {
            TestVault::OpenBao { .. } => "OpenBao dev server",
            TestVault::Standin(_) => "Vault stand-in",
            TestVault::Operator { .. } => "operator's Vault (GITOPS_TEST_VAULT_ADDR)",
        };
        format!("{kind} {version} at {}", self.addr())
    }

    /// The stand-in, for faults and its request log (None with a real server).
    pub fn standin(&self) -> Option<&VaultStandin> {
        match self {
            TestVault::Standin(s) => Some(s),
            _ => None,
        }
    }

    /// The namespace the binaries must be given as `VAULT_NAMESPACE`: the opted-in
    /// `GITOPS_TEST_VAULT_NAMESPACE` of an operator's Vault, else none.
    pub fn namespace(&self) -> Option<String> {
        match self {
            TestVault::Operator { .. } => operator_namespace(),
            _ => None,
        }
    }

    /// The lease ids still alive under `prefix` (e.g. `database/creds/`; `""`: all), other than
    /// those that existed once seeded (the root token's): `sys/leases/lookup` on a real server,
    /// the stand-in's unrevoked leases otherwise.
    pub fn live_leases(&self, prefix: &str) -> Vec<String> {
        let baseline = match self {
            TestVault::Standin(s) => {
                return s
                    .state()
                    .leases
                    .iter()
                    .filter(|l| !l.revoked && l.path.starts_with(prefix))
                    .map(|l| l.lease_id.clone())
                    .collect();
            }
            TestVault::OpenBao { baseline, .. } | TestVault::Operator { baseline, .. } => baseline,
        };
        list_leases(self.addr(), self.root_token(), prefix)
            .into_iter()
            .filter(|l| !baseline.contains(l))
            .collect()
    }

    /// How many tokens other than the root token are alive (logins not yet revoked).
    pub fn live_tokens(&self) -> usize {
        if let Some(s) = self.standin() {
            return s
                .state()
                .tokens
                .iter()
                .filter(|t| !t.revoked && t.created_by != "root")
                .count();
        }
        let (status, v) = http_json(
            self.addr(),
            "GET",
            "/v1/auth/token/accessors?list=true",
            Some(self.root_token()),
            None,
        )
        .unwrap_or_else(|e| panic!("list token accessors: {e}"));
        assert_eq!(status, 200, "list token accessors: {v}");
        let (_, me) = http_json(
            self.addr(),
            "GET",
            "/v1/auth/token/lookup-self",
            Some(self.root_token()),
            None,
        )
        .unwrap_or_else(|e| panic!("lookup-self: {e}"));
        let root = me["data"]["accessor"].as_str().unwrap_or_default();
        v["data"]["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|k| k.as_str() != Some(root))
            .count()
    }
}

/// Every lease id under `prefix` (`""`: all) of a real server (`sys/leases/lookup`, recursively).
fn list_leases(addr: &str, token: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let prefix = prefix.trim_end_matches('/');
    let mut todo = vec![if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    }];
    while let Some(dir) = todo.pop() {
        let (status, v) = http_json(
            addr,
            "GET",
            &format!("/v1/sys/leases/lookup/{dir}?list=true"),
            Some(token),
            None,
        )
        .unwrap_or_else(|e| panic!("list leases under {dir}: {e}"));
        if status == 404 {
            continue;
        }
        assert_eq!(status, 200, "list leases under {dir}: {v}");
        for k in v["data"]["keys"].as_array().into_iter().flatten() {
            let k = k.as_str().unwrap_or_default();
            if k.ends_with('/') {
                todo.push(format!("{dir}{k}"));
            } else {
                out.push(format!("{dir}{k}"));
            }
        }
    }
    out.sort();
    out
}

/// A blocking HTTP/1.1 request to an `http://` address (`Connection: close`); returns the status
/// and the body parsed as JSON (`Null` when empty or not JSON). The namespace header is sent only
/// for an operator's Vault opted into with `GITOPS_TEST_VAULT_NAMESPACE`.
pub fn http_json(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let hostport = addr
        .strip_prefix("http://")
        .ok_or_else(|| format!("{addr}: only http:// addresses are supported"))?
        .trim_end_matches('/');
    let mut stream =
        TcpStream::connect(hostport).map_err(|e| format!("connect {hostport}: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("X-Vault-Token: {t}\r\n"));
    }
    if let Some(ns) = operator_namespace() {
        req.push_str(&format!("X-Vault-Namespace: {ns}\r\n"));
    }
    if body.is_some() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!(
        "Content-Length: {}\r\n\r\n{payload}",
        payload.len()
    ));
    stream
        .write_all(req.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut reader = BufReader::new(stream);
    let (start, headers) = read_head(&mut reader)
        .map_err(|e| format!("read: {e}"))?
        .ok_or("connection closed without a response")?;
    let status: u16 = start
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {start:?}"))?;
    let body = if status == 204 || method == "HEAD" {
        Vec::new()
    } else {
        read_body(&mut reader, &headers, true).map_err(|e| format!("read body: {e}"))?
    };
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// One seeding call, retried on what OpenBao answers transiently ("transaction commit failed" as a
/// 500, 502-504, a refused or dropped connection) with a short backoff; other failures are final.
fn seed_call(
    addr: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let mut last = String::new();
    for attempt in 0..10u32 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(50 << attempt.min(5)));
        }
        match http_json(addr, method, path, Some(token), body.as_ref()) {
            Ok((status, v)) if (200..300).contains(&status) => return Ok(v),
            Ok((status, v)) if status >= 500 => last = format!("HTTP {status}: {v}"),
            Ok((status, v)) => return Err(format!("{method} {path}: HTTP {status}: {v}")),
            Err(e) => last = e,
        }
    }
    Err(format!("{method} {path}: {last} (10 attempts)"))
}

/// Writes `config` into a real server at `addr` (http only) with `token`: KV v1/v2 mounts (enabled
/// if missing) and secrets; one policy per named policy granting read on every configured path;
/// AppRole roles with their configured `role_id` and a custom `secret_id`; the jwt auth method
/// (the roles' public keys and issuer) and its roles; database mounts with a PostgreSQL connection
/// and roles. AWS/Azure roles are not seeded (OpenBao has no such engines; the tests that need
/// them use the stand-in).
pub fn seed(addr: &str, token: &str, config: &StandinConfig) -> Result<(), String> {
    let call =
        |method: &str, path: &str, body: Option<Value>| seed_call(addr, token, method, path, body);
    // Secrets engines.
    let mounts = call("GET", "/v1/sys/mounts", None)?;
    let mounts = mounts.get("data").unwrap_or(&mounts).clone();
    let mount = |m: &str, kind: &str, options: Value| -> Result<(), String> {
        match mounts.get(format!("{m}/")) {
            Some(existing) if existing["type"] == kind => Ok(()),
            Some(existing) => Err(format!(
                "{m}/ is already mounted as {} (wanted {kind})",
                existing["type"]
            )),
            None => call(
                "POST",
                &format!("/v1/sys/mounts/{m}"),
                Some(json!({"type": kind, "options": options})),
            )
            .map(|_| ()),
        }
    };
    for (version, kv) in [("1", &config.kv1), ("2", &config.kv2)] {
        for (m, paths) in kv {
            let m = m.trim_matches('/');
            // OpenBao's dev server mounts `secret/` as KV v2; a v1 mount of that name is remounted.
            if let Some(existing) = mounts.get(format!("{m}/")) {
                if existing["options"]["version"].as_str().unwrap_or("1") != version {
                    call("DELETE", &format!("/v1/sys/mounts/{m}"), None)?;
                    call(
                        "POST",
                        &format!("/v1/sys/mounts/{m}"),
                        Some(json!({"type": "kv", "options": {"version": version}})),
                    )?;
                }
            } else {
                mount(m, "kv", json!({ "version": version }))?;
            }
            for (path, data) in paths {
                let (url, body) = if version == "1" {
                    (format!("/v1/{m}/{path}"), json!(data))
                } else {
                    (format!("/v1/{m}/data/{path}"), json!({ "data": data }))
                };
                call("POST", &url, Some(body))?;
            }
        }
    }
    for (m, db) in &config.database {
        mount(m, "database", json!({}))?;
        let roles: Vec<&String> = db.roles.keys().collect();
        call(
            "POST",
            &format!("/v1/{m}/config/pg"),
            Some(json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": db.connection_url,
                "username": db.username,
                "allowed_roles": roles,
                "verify_connection": true,
            })),
        )?;
        for (role, r) in &db.roles {
            call(
                "POST",
                &format!("/v1/{m}/roles/{role}"),
                Some(json!({
                    "db_name": "pg",
                    "creation_statements": [
                        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
                    ],
                    "revocation_statements": ["DROP ROLE IF EXISTS \"{{name}}\";"],
                    "default_ttl": r.default_ttl,
                    "max_ttl": r.max_ttl,
                })),
            )?;
        }
    }
    // Policies: read on every configured path, plus renewing and revoking leases.
    let mut rules = String::new();
    for m in config.kv1.keys() {
        rules.push_str(&format!(
            "path \"{m}/*\" {{ capabilities = [\"read\", \"list\"] }}\n"
        ));
    }
    for m in config.kv2.keys() {
        rules.push_str(&format!(
            "path \"{m}/data/*\" {{ capabilities = [\"read\"] }}\npath \"{m}/metadata/*\" {{ capabilities = [\"read\", \"list\"] }}\n"
        ));
    }
    for m in config.aws.keys() {
        rules.push_str(&format!(
            "path \"{m}/creds/*\" {{ capabilities = [\"read\", \"update\"] }}\npath \"{m}/sts/*\" {{ capabilities = [\"read\", \"update\"] }}\n"
        ));
    }
    for m in config.azure.keys().chain(config.database.keys()) {
        rules.push_str(&format!(
            "path \"{m}/creds/*\" {{ capabilities = [\"read\"] }}\n"
        ));
    }
    rules.push_str("path \"sys/leases/revoke\" { capabilities = [\"update\"] }\n");
    rules.push_str("path \"sys/leases/renew\" { capabilities = [\"update\"] }\n");
    let mut names: Vec<&String> = config
        .approle
        .iter()
        .flat_map(|a| &a.policies)
        .chain(config.jwt.iter().flat_map(|j| &j.policies))
        .filter(|p| *p != "default" && *p != "root")
        .collect();
    names.sort();
    names.dedup();
    for name in names {
        call(
            "PUT",
            &format!("/v1/sys/policies/acl/{name}"),
            Some(json!({ "policy": rules })),
        )?;
    }
    let auths = call("GET", "/v1/sys/auth", None)?;
    let auths = auths.get("data").unwrap_or(&auths).clone();
    let enable_auth = |kind: &str| -> Result<(), String> {
        if auths.get(format!("{kind}/")).is_none() {
            call(
                "POST",
                &format!("/v1/sys/auth/{kind}"),
                Some(json!({ "type": kind })),
            )?;
        }
        Ok(())
    };
    // AppRole.
    if !config.approle.is_empty() {
        enable_auth("approle")?;
        for (i, a) in config.approle.iter().enumerate() {
            let name = if a.role_name.is_empty() {
                format!("gitops-test-{i}")
            } else {
                a.role_name.clone()
            };
            call(
                "POST",
                &format!("/v1/auth/approle/role/{name}"),
                Some(json!({"token_policies": a.policies, "token_ttl": config.token_ttl})),
            )?;
            call(
                "POST",
                &format!("/v1/auth/approle/role/{name}/role-id"),
                Some(json!({"role_id": a.role_id})),
            )?;
            call(
                "POST",
                &format!("/v1/auth/approle/role/{name}/custom-secret-id"),
                Some(json!({"secret_id": a.secret_id})),
            )?;
        }
    }
    // JWT: one config per mount (the roles' keys; their issuer when they agree).
    if !config.jwt.is_empty() {
        enable_auth("jwt")?;
        let mut keys: Vec<&str> = config
            .jwt
            .iter()
            .map(|j| j.public_key_pem.as_str())
            .filter(|k| !k.is_empty())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let mut issuers: Vec<&str> = config.jwt.iter().map(|j| j.issuer.as_str()).collect();
        issuers.sort_unstable();
        issuers.dedup();
        let mut cfg = json!({ "jwt_validation_pubkeys": keys });
        if let [issuer] = issuers[..] {
            cfg["bound_issuer"] = json!(issuer);
        }
        call("POST", "/v1/auth/jwt/config", Some(cfg))?;
        for j in &config.jwt {
            call(
                "POST",
                &format!("/v1/auth/jwt/role/{}", j.role),
                Some(json!({
                    "role_type": "jwt",
                    "bound_audiences": [j.audience],
                    "user_claim": "sub",
                    "token_policies": j.policies,
                    "token_ttl": config.token_ttl,
                })),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_durations() {
        assert_eq!(gitops_core::time::civil_from_days(0), (1970, 1, 1));
        assert_eq!(gitops_core::time::civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_516_639_589)),
            "2018-01-22T16:46:29.000000000Z"
        );
        assert_eq!(parse_duration(&json!("1h30m")), Some(5400));
        assert_eq!(parse_duration(&json!(60)), Some(60));
        assert_eq!(parse_duration(&json!("3600")), Some(3600));
        assert_eq!(parse_duration(&json!("x")), None);
    }

    #[test]
    fn ids_look_like_vaults() {
        let u = random_uuid();
        let lens: Vec<usize> = u.split('-').map(str::len).collect();
        assert_eq!(lens, [8, 4, 4, 4, 12]);
        assert_ne!(random_uuid(), random_uuid());
        assert_eq!(random_base62(24).len(), 24);
    }

    #[test]
    fn canary_values_are_unique_per_fixture() {
        let a = StandinConfig::canary();
        let b = StandinConfig::canary();
        // Every value is a canary string, except the JWT: a real signed token.
        assert!(a.canary_values().iter().all(
            |v| v.starts_with("canary-") || (v.starts_with("eyJ") && v.split('.').count() == 3)
        ));
        assert!(a
            .canary_values()
            .iter()
            .all(|v| !b.canary_values().contains(v)));
        let back: StandinConfig =
            serde_json::from_str(&serde_json::to_string(&a).expect("ser")).expect("de");
        assert_eq!(back, a);
    }
}
