//! Vault: log in (token, AppRole, JWT), read an environment's credentials (KV v1/v2, AWS, Azure and
//! database secrets engines), make sure they and the token live long enough for the step
//! (`[vault] min_ttl`), keep the token and leases alive during long runs (warning when one reaches
//! its max TTL or cannot be renewed), and revoke what this run created when it ends
//! ([`VaultSession::finish`]), also after a failure (on drop, silently).
//!
//! vaultrs does the login, KV reads and token calls. It returns only the `data` of a response, so
//! the dynamic credentials (whose `lease_id` we must revoke) and the lease calls go through a plain
//! request on the same reqwest/rustls stack, parsed from Vault's documented response envelope.
//! Secrets live only in memory and in the Terraform child's environment.
//!
//! The pure parts are separate functions with unit tests: the retry classification
//! ([`retried_status`], `status_failure`, `connection_failure`, the `retry` loop), Vault's error
//! text made one line (`one_line`), the credential mapping (`kv_vars`, `dynamic_vars`), and the
//! lifetimes (`check_lifetime`, `capped`, `keeper_period`, `Life::renewed`).

use crate::exec::terraform::Masker;
use crate::model::{Credential, Engine, Environment, VaultSettings};
use crate::report::Reporter;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;

pub use crate::error::VaultError;

/// How failures are retried: transient ones (connection refused, timeouts, 5xx, sealed, 429) with
/// exponential backoff; 4xx (403 permission denied, 404 not found, 400) never.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_backoff: Duration,
    pub request_timeout: Duration,
}

impl RetryPolicy {
    /// Defaults: 5 attempts, 250 ms doubling, 30 s per request; `GITOPS_VAULT_ATTEMPTS`,
    /// `GITOPS_VAULT_BACKOFF_MS` and `GITOPS_VAULT_TIMEOUT_MS` change them.
    pub fn from_env() -> RetryPolicy {
        let num = |k: &str, d: u64| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        RetryPolicy {
            attempts: num("GITOPS_VAULT_ATTEMPTS", 5).clamp(1, 20) as u32,
            first_backoff: Duration::from_millis(num("GITOPS_VAULT_BACKOFF_MS", 250)),
            request_timeout: Duration::from_millis(num("GITOPS_VAULT_TIMEOUT_MS", 30_000)),
        }
    }
}

/// Whether an HTTP status from Vault is worth another attempt: 5xx (503 while sealed or in
/// standby, 502/504 from a proxy) and 429 (rate limited). Every other 4xx (400 bad request, 403
/// permission denied, 404 not found) is final: asking again gives the same answer.
pub fn retried_status(code: u16) -> bool {
    code >= 500 || code == 429
}

/// A failure of one attempt: its message and whether trying again may help.
#[derive(Debug)]
struct Attempt {
    message: String,
    transient: bool,
}

/// An error answer of Vault (`HTTP 503: Vault is sealed`), on one line.
fn status_failure(code: u16, errors: &[String]) -> Attempt {
    let errors: Vec<String> = errors
        .iter()
        .map(|e| one_line(e))
        .filter(|e| !e.is_empty())
        .collect();
    Attempt {
        message: format!(
            "HTTP {code}{}",
            if errors.is_empty() {
                String::new()
            } else {
                format!(": {}", errors.join("; "))
            }
        ),
        transient: retried_status(code),
    }
}

/// No answer: connection refused or dropped, DNS, TLS. Always worth another attempt.
fn connection_failure(e: &dyn std::error::Error) -> Attempt {
    Attempt {
        message: format!("cannot connect: {}", one_line(&error_chain(e))),
        transient: true,
    }
}

/// A Vault error text as one line. OpenBao and Vault wrap their errors in a multi-error list
/// (`1 error occurred:\n\t* permission denied\n\n`): the `N error(s) occurred:` header goes,
/// so do the `* ` bullets; each remaining line is trimmed (tabs inside become spaces) and they
/// are joined with `; `. The result has no newline and no tab.
fn one_line(text: &str) -> String {
    fn header(line: &str) -> bool {
        let Some((count, rest)) = line.split_once(' ') else {
            return false;
        };
        !count.is_empty()
            && count.bytes().all(|b| b.is_ascii_digit())
            && matches!(rest, "error occurred:" | "errors occurred:")
    }
    text.lines()
        .map(str::trim)
        .filter(|l| !header(l))
        .map(|l| l.strip_prefix('*').map_or(l, str::trim_start))
        .map(|l| l.replace(['\t', '\r'], " "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The `errors` of Vault's error body (`{"errors": ["permission denied"]}`), each on one line
/// ([`one_line`]); none when the body is not one.
fn error_messages(body: &str) -> Vec<String> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v["errors"].as_array().map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(one_line))
                    .filter(|e| !e.is_empty())
                    .collect::<Vec<_>>()
            })
        })
        .unwrap_or_default()
}

fn classify(e: &ClientError) -> Attempt {
    match e {
        ClientError::APIError { code, errors } => status_failure(*code, errors),
        ClientError::RestClientError { source } => connection_failure(source),
        other => Attempt {
            message: one_line(&other.to_string()),
            transient: false,
        },
    }
}

/// What went wrong in a failed call, without the address and call (for a message that names
/// them itself): `HTTP 403: permission denied`.
fn reason(e: &VaultError) -> String {
    match e {
        VaultError::Request { message, .. } => message.clone(),
        other => one_line(&other.to_string()),
    }
}

/// An error with its sources, each once, joined with `: ` (reqwest's own text says little). Also
/// the AWS client's ([`crate::exec::aws`]).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// Runs `attempt` until it succeeds, fails for good, or `policy.attempts` are used up, sleeping
/// with exponential backoff (capped at 10 s) between transient failures. `what` names the call
/// and path for the error.
fn retry<T>(
    policy: &RetryPolicy,
    addr: &str,
    what: &str,
    mut attempt: impl FnMut() -> Result<T, Attempt>,
) -> Result<T, VaultError> {
    let mut backoff = policy.first_backoff;
    let mut last = String::new();
    for n in 1..=policy.attempts {
        let failure = match attempt() {
            Ok(v) => return Ok(v),
            Err(a) => a,
        };
        last = failure.message;
        if !failure.transient {
            return Err(VaultError::Request {
                addr: addr.to_owned(),
                what: what.to_owned(),
                message: last,
                attempts: n,
            });
        }
        if n < policy.attempts {
            std::thread::sleep(backoff);
            backoff = backoff.saturating_mul(2).min(Duration::from_secs(10));
        }
    }
    Err(VaultError::Request {
        addr: addr.to_owned(),
        what: what.to_owned(),
        message: last,
        attempts: policy.attempts,
    })
}

/// Vault's response envelope, as documented for every API call.
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default)]
    lease_id: String,
    #[serde(default)]
    lease_duration: u64,
    #[serde(default)]
    renewable: bool,
    #[serde(default)]
    data: Option<HashMap<String, serde_json::Value>>,
}

/// The lifetime of a lease or token as this run knows it.
#[derive(Debug, Clone)]
struct Life {
    /// Seconds it had left when read or last renewed; 0: it never expires (or is not known).
    ttl: u64,
    /// Seconds asked for at each renewal of the keeper.
    increment: u64,
    renewable: bool,
    renewed_at: Instant,
    /// Vault granted less than asked: it reached its max TTL. Not renewed again (it cannot be
    /// extended), warned about once.
    capped: bool,
    /// A renewal failed and was warned about; reset by one that succeeds.
    failing: bool,
}

impl Life {
    fn new(ttl: u64, renewable: bool) -> Life {
        Life {
            ttl,
            increment: ttl,
            renewable,
            renewed_at: Instant::now(),
            capped: false,
            failing: false,
        }
    }

    /// Whether the keeper renews it now: [`Life::kept`] and half its lifetime passed.
    fn due(&self) -> bool {
        self.kept() && self.renewed_at.elapsed() * 2 >= Duration::from_secs(self.ttl)
    }

    /// Whether the keeper renews it at all (and its lifetime counts for the keeper's period):
    /// renewable, not capped, expiring, and not expired yet (renewing an expired lease only fails).
    fn kept(&self) -> bool {
        self.renewable
            && !self.capped
            && self.ttl > 0
            && self.renewed_at.elapsed() < Duration::from_secs(self.ttl)
    }

    /// Seconds left now.
    fn remaining(&self) -> u64 {
        self.ttl.saturating_sub(self.renewed_at.elapsed().as_secs())
    }

    /// Records the result of a renewal that asked for `asked` seconds, and returns the warning it
    /// is worth, once: a renewal granted less than asked (`name` reached its max TTL), or the
    /// first of failing renewals. `name`: `the Vault token`, `Vault lease <id>`.
    fn renewed(
        &mut self,
        name: &str,
        asked: u64,
        result: Result<u64, VaultError>,
    ) -> Option<String> {
        match result {
            Ok(granted) => {
                self.ttl = granted;
                self.renewed_at = Instant::now();
                self.failing = false;
                if capped(asked, granted) {
                    self.capped = true;
                    Some(format!(
                        "{name} reached its max TTL: it expires in {granted} s, before the run may end"
                    ))
                } else {
                    None
                }
            }
            Err(e) if !self.failing => {
                self.failing = true;
                Some(format!(
                    "renewing {name} failed ({}): it expires in {} s",
                    reason(&e),
                    self.remaining()
                ))
            }
            Err(_) => None,
        }
    }
}

/// A renewal that asked for `asked` seconds and was granted `granted` (0: no expiry) hit the max
/// TTL of the lease or token: Vault grants what is left up to it, less than asked.
fn capped(asked: u64, granted: u64) -> bool {
    granted > 0 && granted < asked
}

/// What the minimum-lifetime check does with a lease or token that has `ttl` seconds left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Long enough: `ttl` reaches `min`, never expires (0), or the check is off (`min` 0).
    Enough,
    /// Renew it once by `min`, then check what Vault granted.
    Renew,
    /// Too short and not renewable.
    TooShort,
}

fn check_lifetime(ttl: u64, renewable: bool, min: u64) -> Check {
    if min == 0 || ttl == 0 || ttl >= min {
        Check::Enough
    } else if renewable {
        Check::Renew
    } else {
        Check::TooShort
    }
}

/// How often the keeper looks: half the shortest lifetime it renews (so each is renewed at half
/// its duration), at least 1 s, at most an hour.
fn keeper_period(ttls: impl IntoIterator<Item = u64>) -> Duration {
    ttls.into_iter()
        .filter(|t| *t > 0)
        .min()
        .map_or(Duration::from_secs(3600), |t| {
            (Duration::from_secs(t) / 2).clamp(Duration::from_secs(1), Duration::from_secs(3600))
        })
}

#[derive(Debug, Clone)]
struct Lease {
    id: String,
    /// Where it was read (`database/creds/app`), for messages.
    path: String,
    life: Life,
}

/// `GITOPS_VAULT_MIN_TTL`: overrides `[vault] min_ttl`.
pub const MIN_TTL_ENV: &str = "GITOPS_VAULT_MIN_TTL";

/// The minimum lifetime, in seconds, the step's credentials and token must have:
/// `GITOPS_VAULT_MIN_TTL` when set (a bad value is [`VaultError::Setting`], exit 2), else
/// `[vault] min_ttl` (default 300). 0: no check.
pub fn min_ttl(settings: &VaultSettings) -> Result<u64, VaultError> {
    min_ttl_of(std::env::var(MIN_TTL_ENV), settings)
}

/// [`min_ttl`] with the variable's value given.
fn min_ttl_of(
    var: Result<String, std::env::VarError>,
    settings: &VaultSettings,
) -> Result<u64, VaultError> {
    match var {
        Ok(v) if !v.trim().is_empty() => {
            crate::model::parse_duration(&v).ok_or_else(|| VaultError::Setting {
                var: MIN_TTL_ENV,
                found: crate::model::names::shown(&v),
                allowed: crate::model::DURATION_RULE,
            })
        }
        Ok(_) => Ok(settings.min_ttl),
        Err(std::env::VarError::NotPresent) => Ok(settings.min_ttl),
        Err(std::env::VarError::NotUnicode(_)) => Err(VaultError::Setting {
            var: MIN_TTL_ENV,
            found: "bytes that are not UTF-8".into(),
            allowed: crate::model::DURATION_RULE,
        }),
    }
}

/// Prints a warning of the keeper on stderr at once, as the binaries' reporter does
/// (`gitops-apply: warning: ...`): a lease that cannot be kept alive matters while Terraform
/// still runs, not only when the run ends.
fn print_warning(message: &str) {
    use std::io::Write;
    let program = std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "gitops".into());
    let _ = writeln!(std::io::stderr().lock(), "{program}: warning: {message}");
}

struct Inner {
    addr: String,
    namespace: Option<String>,
    token: String,
    /// The token came from a login of this run: revoke it at the end (a given one never).
    created: bool,
    /// The token's lifetime: from the login, or (a given token) from `lookup-self` when the
    /// minimum-lifetime check runs; ttl 0 otherwise (not renewed).
    token_life: Mutex<Life>,
    /// Seconds the credentials and token must have left for the step; 0: no check.
    min_ttl: u64,
    rt: tokio::runtime::Runtime,
    client: VaultClient,
    http: reqwest::Client,
    retry: RetryPolicy,
    leases: Mutex<Vec<Lease>>,
    /// The keeper's warnings, each once, for [`VaultSession::finish`].
    warnings: Mutex<Vec<String>>,
    /// Where a keeper's warning goes at once (stderr; tests collect).
    notify: Box<dyn Fn(&str) + Send + Sync>,
    closed: AtomicBool,
}

/// A logged-in Vault session. End it with [`VaultSession::finish`], which revokes the leases and
/// the token it created and reports what could not be revoked; dropping it unfinished (an early
/// return, a panic) still revokes, without reporting.
pub struct VaultSession {
    inner: Arc<Inner>,
    keeper: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
    warden: Option<Warden>,
}

/// Set in the environment of a toolkit binary started as the lease warden of another run.
pub const WARDEN_ENV: &str = "GITOPS_VAULT_WARDEN";
/// With [`WARDEN_ENV`]: the watched run created its token, so the warden revokes it too.
const WARDEN_REVOKE_TOKEN_ENV: &str = "GITOPS_VAULT_WARDEN_REVOKE_TOKEN";
/// What a run that ended normally tells its warden (the run revoked everything itself).
const WARDEN_DONE: &str = "done";

/// The warden of a run: a copy of the running binary, started in its own process group, that
/// revokes the run's leases and token if the run dies without ending its session (SIGKILL, OOM
/// kill): its standard input closes without [`WARDEN_DONE`]. The token reaches it only through its
/// environment; the lease ids (not secrets) through its standard input.
struct Warden {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
}

impl Warden {
    fn start(inner: &Inner, leases: &[String]) -> std::io::Result<Warden> {
        use std::io::Write;
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new(std::env::current_exe()?);
        // The run's login material (the warden gets only the token, below), and Jenkins' cookie:
        // Jenkins kills every process carrying its build's cookie on an abort, and the warden is
        // the one process that must outlive that.
        let withheld = crate::exec::terraform::WITHHELD.iter();
        for var in withheld.chain(&[
            crate::exec::terraform::JENKINS_COOKIE,
            WARDEN_REVOKE_TOKEN_ENV,
        ]) {
            cmd.env_remove(var);
        }
        cmd.env(WARDEN_ENV, "1")
            .env("VAULT_ADDR", &inner.addr)
            .env("VAULT_TOKEN", &inner.token)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            // Not in the run's process group: a signal to the group does not reach it.
            .process_group(0);
        if let Some(ns) = &inner.namespace {
            cmd.env("VAULT_NAMESPACE", ns);
        }
        if inner.created {
            cmd.env(WARDEN_REVOKE_TOKEN_ENV, "1");
        }
        let mut child = cmd.spawn()?;
        let mut stdin = child.stdin.take();
        if let Some(pipe) = stdin.as_mut() {
            for lease in leases {
                writeln!(pipe, "{lease}")?;
            }
            pipe.flush()?;
        }
        Ok(Warden { child, stdin })
    }

    /// The run ended its session itself: the warden exits without revoking anything.
    fn release(mut self) {
        use std::io::Write;
        if let Some(mut pipe) = self.stdin.take() {
            let _ = writeln!(pipe, "{WARDEN_DONE}");
        }
        let _ = self.child.wait();
    }
}

/// The lease warden's work (a toolkit binary started with [`WARDEN_ENV`]): reads lease ids from
/// standard input until it closes; unless the last line is [`WARDEN_DONE`], revokes them and (with
/// [`WARDEN_REVOKE_TOKEN_ENV`]) the token of `VAULT_TOKEN`. Returns the exit code.
pub fn warden() -> u8 {
    use std::io::BufRead;
    let mut leases = Vec::new();
    let mut done = false;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line == WARDEN_DONE {
            done = true;
            break;
        }
        leases.push(line);
    }
    if done {
        return 0;
    }
    let (Ok(addr), Ok(token)) = (std::env::var("VAULT_ADDR"), std::env::var("VAULT_TOKEN")) else {
        return 1;
    };
    let namespace = std::env::var("VAULT_NAMESPACE").ok();
    let Ok(mut inner) = Inner::new(&addr, namespace, RetryPolicy::from_env()) else {
        return 1;
    };
    let Ok(client) = Inner::client_for(
        &addr,
        &token,
        inner.namespace.as_deref(),
        inner.retry.request_timeout,
    ) else {
        return 1;
    };
    inner.client = client;
    inner.token = token;
    inner.created = std::env::var_os(WARDEN_REVOKE_TOKEN_ENV).is_some();
    inner.leases = Mutex::new(
        leases
            .into_iter()
            .map(|id| Lease {
                path: id.clone(),
                id,
                life: Life::new(0, false),
            })
            .collect(),
    );
    if inner.close().is_empty() {
        0
    } else {
        1
    }
}

/// Credentials for one Terraform run: environment variables, and the values to mask.
#[derive(Default)]
pub struct Credentials {
    pub env: BTreeMap<String, String>,
    pub masker: Masker,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: a Debug print must never show a secret.
        f.debug_struct("Credentials")
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn env_or_file(var: &str, file_var: &'static str) -> Result<Option<String>, VaultError> {
    if let Some(v) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
        return Ok(Some(v));
    }
    match std::env::var(file_var).ok().filter(|v| !v.is_empty()) {
        Some(file) => std::fs::read_to_string(&file)
            .map(|s| Some(s.trim().to_owned()))
            .map_err(|source| VaultError::File {
                what: file_var,
                file,
                source,
            }),
        None => Ok(None),
    }
}

fn setup_error(addr: &str, what: &str) -> impl FnOnce(String) -> VaultError {
    let (addr, what) = (addr.to_owned(), what.to_owned());
    move |message| VaultError::Request {
        addr,
        what,
        message,
        attempts: 1,
    }
}

impl Inner {
    /// An anonymous (not yet logged in) connection to `addr`: runtime, vaultrs client, HTTP
    /// client. Connects to nothing yet.
    fn new(addr: &str, namespace: Option<String>, retry: RetryPolicy) -> Result<Inner, VaultError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| setup_error(addr, "runtime")(e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(retry.request_timeout)
            .build()
            .map_err(|e| setup_error(addr, "http client")(e.to_string()))?;
        let client = Inner::client_for(addr, "", namespace.as_deref(), retry.request_timeout)?;
        Ok(Inner {
            addr: addr.to_owned(),
            namespace,
            token: String::new(),
            created: false,
            token_life: Mutex::new(Life::new(0, false)),
            min_ttl: 0,
            rt,
            client,
            http,
            retry,
            leases: Mutex::new(Vec::new()),
            warnings: Mutex::new(Vec::new()),
            notify: Box::new(print_warning),
            closed: AtomicBool::new(false),
        })
    }

    fn client_for(
        addr: &str,
        token: &str,
        namespace: Option<&str>,
        timeout: Duration,
    ) -> Result<VaultClient, VaultError> {
        let mut b = VaultClientSettingsBuilder::default();
        b.address(addr).token(token).timeout(Some(timeout));
        if let Some(ns) = namespace {
            b.set_namespace(ns.to_owned());
        }
        let settings = b
            .build()
            .map_err(|e| setup_error(addr, "client settings")(e.to_string()))?;
        VaultClient::new(settings).map_err(|e| setup_error(addr, "client")(e.to_string()))
    }

    /// Runs one Vault call with timeout and retries. `what` names the call and path for messages.
    fn call<T, F, Fut>(&self, what: &str, f: F) -> Result<T, VaultError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, Attempt>>,
    {
        let timeout = self.retry.request_timeout;
        retry(&self.retry, &self.addr, what, || {
            match self
                .rt
                .block_on(async { tokio::time::timeout(timeout, f()).await })
            {
                Ok(result) => result,
                Err(_) => Err(Attempt {
                    message: format!("no answer within {} ms", timeout.as_millis()),
                    transient: true,
                }),
            }
        })
    }

    /// A raw request returning Vault's envelope (for the calls vaultrs strips).
    async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Option<Envelope>, Attempt> {
        let url = format!("{}/v1/{path}", self.addr.trim_end_matches('/'));
        let mut req = self
            .http
            .request(method, &url)
            .header("X-Vault-Token", &self.token)
            .header("X-Vault-Request", "true");
        if let Some(ns) = &self.namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| connection_failure(&e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| Attempt {
            message: format!("reading the answer: {}", one_line(&error_chain(&e))),
            transient: true,
        })?;
        if !status.is_success() {
            return Err(status_failure(status.as_u16(), &error_messages(&text)));
        }
        if status.as_u16() == 204 || text.trim().is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&text).map(Some).map_err(|e| Attempt {
            message: format!("not a Vault response: {e}"),
            transient: false,
        })
    }

    fn revoke_lease(&self, lease: &str) -> Result<(), VaultError> {
        let body = serde_json::json!({ "lease_id": lease });
        self.call(&format!("revoke lease {lease}"), || {
            self.raw(
                reqwest::Method::PUT,
                "sys/leases/revoke",
                Some(body.clone()),
            )
        })
        .map(|_| ())
    }

    /// Renews a lease by `increment` seconds; returns the seconds Vault granted.
    fn renew_lease(&self, id: &str, increment: u64) -> Result<u64, VaultError> {
        let body = serde_json::json!({ "lease_id": id, "increment": increment });
        let env = self.call(&format!("renew lease {id}"), || {
            self.raw(reqwest::Method::PUT, "sys/leases/renew", Some(body.clone()))
        })?;
        Ok(env
            .map(|e| e.lease_duration)
            .filter(|d| *d > 0)
            .unwrap_or(increment))
    }

    /// Renews the token (`auth/token/renew-self`) by `increment` seconds; returns the seconds
    /// Vault granted.
    fn renew_token(&self, increment: u64) -> Result<u64, VaultError> {
        let inc = format!("{increment}s");
        self.call("renew token", || async {
            vaultrs::token::renew_self(&self.client, Some(&inc))
                .await
                .map(|auth| auth.lease_duration)
                .map_err(|e| classify(&e))
        })
    }

    /// The given token's (ttl, renewable) from `auth/token/lookup-self`; ttl 0: no expiry.
    fn lookup_token(&self) -> Result<(u64, bool), VaultError> {
        let env = self.call("look up the token (auth/token/lookup-self)", || {
            self.raw(reqwest::Method::GET, "auth/token/lookup-self", None)
        })?;
        let data = env.and_then(|e| e.data).unwrap_or_default();
        Ok((
            data.get("ttl")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0),
            data.get("renewable")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
        ))
    }

    /// The minimum-lifetime check of one lease or token with `life`: long enough, or renewed once
    /// by `min_ttl` to be; else [`VaultError::ShortLifetime`]. Returns the seconds granted when
    /// it was renewed.
    fn ensure(
        &self,
        what: &str,
        life: &Life,
        fix: &str,
        renew: impl FnOnce(u64) -> Result<u64, VaultError>,
    ) -> Result<Option<u64>, VaultError> {
        let min = self.min_ttl;
        let short = |ttl: u64, why: String| VaultError::ShortLifetime {
            addr: self.addr.clone(),
            what: what.to_owned(),
            ttl,
            min,
            why,
            fix: format!("{fix} or lower [vault] min_ttl / {MIN_TTL_ENV}"),
        };
        match check_lifetime(life.ttl, life.renewable, min) {
            Check::Enough => Ok(None),
            Check::TooShort => Err(short(life.ttl, "not renewable".into())),
            Check::Renew => match renew(min) {
                Ok(granted) => match check_lifetime(granted, false, min) {
                    Check::Enough => Ok(Some(granted)),
                    _ => Err(short(
                        granted,
                        format!(
                            "renewed for {min} s, Vault granted {granted} s: capped by its max TTL"
                        ),
                    )),
                },
                Err(e) => Err(short(
                    life.ttl,
                    format!("renewing it failed: {}", reason(&e)),
                )),
            },
        }
    }

    /// Right after the credentials are read: the token, then each lease, must live at least
    /// `min_ttl` seconds (renewed once by `min_ttl` when it would not), else the step fails
    /// before Terraform starts. A given token is looked up for its TTL (and never revoked).
    fn ensure_lifetimes(&self) -> Result<(), VaultError> {
        if self.min_ttl == 0 {
            return Ok(());
        }
        if !self.created {
            let (ttl, renewable) = self.lookup_token()?;
            if let Ok(mut l) = self.token_life.lock() {
                *l = Life::new(ttl, renewable);
            }
        }
        let token = self
            .token_life
            .lock()
            .map(|l| l.clone())
            .unwrap_or_else(|_| Life::new(0, false));
        let (what, fix) = match (self.created, token.renewable) {
            (true, true) => (
                "the login token",
                "raise the token_max_ttl of the auth role",
            ),
            (true, false) => ("the login token", "raise the token_ttl of the auth role"),
            (false, _) => (
                "the token of VAULT_TOKEN",
                "give a VAULT_TOKEN with a longer (or renewable) TTL",
            ),
        };
        if let Some(granted) = self.ensure(what, &token, fix, |min| self.renew_token(min))? {
            if let Ok(mut l) = self.token_life.lock() {
                l.ttl = granted;
                l.increment = l.increment.max(granted);
                l.renewed_at = Instant::now();
            }
        }
        let leases: Vec<Lease> = self.leases.lock().map(|l| l.clone()).unwrap_or_default();
        for lease in leases {
            let fix = if lease.life.renewable {
                "raise the role's max_ttl (and the mount's max lease TTL)"
            } else {
                "raise the role's TTL"
            };
            let what = format!("credentials from {}", lease.path);
            let granted = self.ensure(&what, &lease.life, fix, |min| {
                self.renew_lease(&lease.id, min)
            })?;
            if let Some(granted) = granted {
                if let Ok(mut leases) = self.leases.lock() {
                    if let Some(l) = leases.iter_mut().find(|l| l.id == lease.id) {
                        l.life.ttl = granted;
                        l.life.increment = l.life.increment.max(granted);
                        l.life.renewed_at = Instant::now();
                    }
                }
            }
        }
        Ok(())
    }

    /// How often the keeper looks now ([`keeper_period`] of what it renews).
    fn keeper_period(&self) -> Duration {
        let mut ttls: Vec<u64> = self
            .leases
            .lock()
            .map(|l| {
                l.iter()
                    .filter(|l| l.life.kept())
                    .map(|l| l.life.ttl)
                    .collect()
            })
            .unwrap_or_default();
        if let Ok(t) = self.token_life.lock() {
            if t.kept() {
                ttls.push(t.ttl);
            }
        }
        keeper_period(ttls)
    }

    /// A keeper's warning: printed at once, kept (once) for [`VaultSession::finish`].
    fn warn(&self, message: String) {
        if let Ok(mut w) = self.warnings.lock() {
            if w.contains(&message) {
                return;
            }
            w.push(message.clone());
        }
        (self.notify)(&message);
    }

    /// Renews the token and the leases that passed half their lifetime; warns (once each) about
    /// one that reached its max TTL or whose renewal failed.
    fn renew_due(&self) {
        let token = self
            .token_life
            .lock()
            .ok()
            .filter(|l| l.due())
            .map(|l| l.increment);
        if let Some(asked) = token {
            let result = self.renew_token(asked);
            let warning = self
                .token_life
                .lock()
                .ok()
                .and_then(|mut l| l.renewed("the Vault token", asked, result));
            if let Some(w) = warning {
                self.warn(w);
            }
        }
        let due: Vec<(String, u64)> = self
            .leases
            .lock()
            .map(|l| {
                l.iter()
                    .filter(|l| l.life.due())
                    .map(|l| (l.id.clone(), l.life.increment))
                    .collect()
            })
            .unwrap_or_default();
        for (id, asked) in due {
            let result = self.renew_lease(&id, asked);
            let warning = self.leases.lock().ok().and_then(|mut leases| {
                leases
                    .iter_mut()
                    .find(|l| l.id == id)
                    .and_then(|l| l.life.renewed(&format!("Vault lease {id}"), asked, result))
            });
            if let Some(w) = warning {
                self.warn(w);
            }
        }
    }

    /// Revokes every lease of this run and the token it created. Idempotent.
    fn close(&self) -> Vec<VaultError> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Vec::new();
        }
        let mut errors = Vec::new();
        let leases = self
            .leases
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default();
        for lease in leases {
            if let Err(e) = self.revoke_lease(&lease.id) {
                errors.push(e);
            }
        }
        if self.created {
            if let Err(e) = self.call("revoke token", || async {
                vaultrs::token::revoke_self(&self.client)
                    .await
                    .map_err(|e| classify(&e))
            }) {
                errors.push(e);
            }
        }
        errors
    }
}

impl VaultSession {
    /// Logs in. Address: `VAULT_ADDR`, else `[vault] address`. Method: `VAULT_TOKEN`; else AppRole
    /// (`VAULT_ROLE_ID`/`VAULT_SECRET_ID` or their `_FILE` forms); else JWT (`VAULT_JWT` or
    /// `VAULT_JWT_FILE`, role `VAULT_JWT_ROLE` or the environment's `vault_role`).
    pub fn login(
        settings: &VaultSettings,
        env_name: &str,
        jwt_role: Option<&str>,
    ) -> Result<VaultSession, VaultError> {
        let addr = std::env::var("VAULT_ADDR")
            .ok()
            .filter(|a| !a.is_empty())
            .or_else(|| settings.address.clone())
            .ok_or_else(|| VaultError::NoAddress {
                env: env_name.to_owned(),
            })?;
        let namespace = std::env::var("VAULT_NAMESPACE")
            .ok()
            .filter(|n| !n.is_empty())
            .or_else(|| settings.namespace.clone());
        let min_ttl = min_ttl(settings)?;
        let mut inner = Inner::new(&addr, namespace, RetryPolicy::from_env())?;
        inner.min_ttl = min_ttl;
        if let Some(token) = std::env::var("VAULT_TOKEN").ok().filter(|t| !t.is_empty()) {
            inner.token = token;
        } else {
            let auth = log_in(&inner, settings, jwt_role)?;
            inner.token = auth.client_token;
            inner.created = true;
            inner.token_life = Mutex::new(Life::new(auth.lease_duration, auth.renewable));
        }
        inner.client = Inner::client_for(
            &addr,
            &inner.token,
            inner.namespace.as_deref(),
            inner.retry.request_timeout,
        )?;
        Ok(VaultSession {
            inner: Arc::new(inner),
            keeper: None,
            warden: None,
        })
    }

    pub fn address(&self) -> &str {
        &self.inner.addr
    }

    /// Reads every credential an environment declares and maps it to environment variables,
    /// then checks that the token and every lease live at least `[vault] min_ttl`
    /// (`GITOPS_VAULT_MIN_TTL`), renewing once what would not: [`VaultError::ShortLifetime`]
    /// otherwise, before Terraform starts.
    pub fn credentials(&self, env: &Environment) -> Result<Credentials, VaultError> {
        let addr = &self.inner.addr;
        let mut vars = Vec::new();
        for c in &env.credentials {
            vars.extend(match c.engine {
                Engine::Kv1 | Engine::Kv2 => self.kv(c)?,
                Engine::Aws | Engine::Azure => {
                    let (path, data) = self.leased(c)?;
                    dynamic_vars(addr, c.engine, &path, &data)?
                }
                Engine::Database => {
                    let (path, data) = self.leased(c)?;
                    kv_vars(addr, c, &path, &data)?
                }
            });
        }
        self.inner.ensure_lifetimes()?;
        Ok(credentials_of(env, vars))
    }

    /// Reads a KV secret and maps the fields the credential names.
    fn kv(&self, c: &Credential) -> Result<Vec<(String, String)>, VaultError> {
        let inner = &*self.inner;
        let path = kv_path(c);
        let data: HashMap<String, serde_json::Value> =
            inner.call(&format!("read {path}"), || async {
                let r = if c.engine == Engine::Kv1 {
                    vaultrs::kv1::get(&inner.client, &c.mount, &c.path).await
                } else {
                    vaultrs::kv2::read(&inner.client, &c.mount, &c.path).await
                };
                r.map_err(|e| classify(&e))
            })?;
        kv_vars(&inner.addr, c, &path, &data)
    }

    /// Reads dynamic credentials (AWS, Azure, database engines) and records their lease for
    /// renewal and revocation; returns the path read and the secret's data. An answer without a
    /// `lease_id` is no lease (KV v1 answers a `lease_duration` alone).
    fn leased(
        &self,
        c: &Credential,
    ) -> Result<(String, HashMap<String, serde_json::Value>), VaultError> {
        let inner = &*self.inner;
        let path = dynamic_path(c);
        let method = if c.sts {
            reqwest::Method::POST
        } else {
            reqwest::Method::GET
        };
        let env = inner.call(&format!("read {path}"), || {
            inner.raw(method.clone(), &path, None)
        })?;
        let env = env.ok_or_else(|| VaultError::Request {
            addr: inner.addr.clone(),
            what: format!("read {path}"),
            message: "empty answer".into(),
            attempts: 1,
        })?;
        if !env.lease_id.is_empty() {
            if let Ok(mut l) = inner.leases.lock() {
                l.push(Lease {
                    id: env.lease_id.clone(),
                    path: path.clone(),
                    life: Life::new(env.lease_duration, env.renewable),
                });
            }
        }
        Ok((path, env.data.unwrap_or_default()))
    }

    /// Starts a thread that renews the token and leases while a long Terraform run goes on, and
    /// the run's [`Warden`], which revokes them should this process die without ending the
    /// session. Call it once the credentials are read.
    pub fn keep_alive(&mut self) {
        if self.keeper.is_some() {
            return;
        }
        let leases: Vec<String> = self
            .inner
            .leases
            .lock()
            .map(|l| l.iter().map(|l| l.id.clone()).collect())
            .unwrap_or_default();
        if !leases.is_empty() || self.inner.created {
            // Without a warden the run still revokes everything when it ends normally; only a
            // SIGKILL would leave the leases to their TTL.
            self.warden = Warden::start(&self.inner, &leases).ok();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (inner, flag) = (self.inner.clone(), stop.clone());
        let tick = Duration::from_millis(200);
        let handle = std::thread::spawn(move || {
            let mut last = Instant::now();
            while !flag.load(Ordering::SeqCst) {
                std::thread::sleep(tick);
                // Half the shortest lifetime renewed (at least 1 s), so each is renewed at half
                // its duration; asked again each time, as renewals change the lifetimes.
                if last.elapsed() >= inner.keeper_period() {
                    inner.renew_due();
                    last = Instant::now();
                }
            }
        });
        self.keeper = Some((stop, handle));
    }

    /// Ends the session, the one way a run ends it: stops renewing, reports the keeper's
    /// warnings (a lease or the token that reached its max TTL or could not be renewed, each
    /// once), revokes the run's leases and the token it created, and reports each one that could
    /// not be revoked as a warning.
    pub fn finish(mut self, reporter: &dyn Reporter) {
        self.stop_keeper();
        let warnings = self
            .inner
            .warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default();
        for w in warnings {
            reporter.warning(&w);
        }
        for e in self.close() {
            reporter.warning(&e.to_string());
        }
    }

    /// Revokes the run's leases and created token; returns what could not be revoked (callers
    /// use [`VaultSession::finish`], which reports them).
    fn close(mut self) -> Vec<VaultError> {
        self.stop_keeper();
        let errors = self.inner.close();
        self.release_warden();
        errors
    }

    fn release_warden(&mut self) {
        if let Some(w) = self.warden.take() {
            w.release();
        }
    }

    fn stop_keeper(&mut self) {
        if let Some((stop, handle)) = self.keeper.take() {
            stop.store(true, Ordering::SeqCst);
            let _ = handle.join();
        }
    }
}

/// [`VaultSession::finish`] for a run that may have no session (its environment declares no
/// credentials): the one call every operation ends its Vault use with.
pub fn finish(session: Option<VaultSession>, reporter: &dyn Reporter) {
    if let Some(s) = session {
        s.finish(reporter);
    }
}

impl Drop for VaultSession {
    /// A session dropped without [`VaultSession::finish`] (an early return, a panic) still revokes
    /// what it created; what could not be revoked is not reported (the library never prints, and
    /// the error that ended the run is the one to show).
    fn drop(&mut self) {
        self.stop_keeper();
        let _ = self.inner.close();
        self.release_warden();
    }
}

/// The login of AppRole (`VAULT_ROLE_ID`/`VAULT_SECRET_ID` or `_FILE`), else JWT (`VAULT_JWT` or
/// `VAULT_JWT_FILE`); nothing to log in with is an error.
fn log_in(
    inner: &Inner,
    settings: &VaultSettings,
    jwt_role: Option<&str>,
) -> Result<vaultrs::api::AuthInfo, VaultError> {
    if let (Some(role_id), Some(secret_id)) = (
        env_or_file("VAULT_ROLE_ID", "VAULT_ROLE_ID_FILE")?,
        env_or_file("VAULT_SECRET_ID", "VAULT_SECRET_ID_FILE")?,
    ) {
        let mount = settings.approle_mount.clone();
        return inner.call(&format!("AppRole login at auth/{mount}/login"), || async {
            vaultrs::auth::approle::login(&inner.client, &mount, &role_id, &secret_id)
                .await
                .map_err(|e| classify(&e))
        });
    }
    if let Some(jwt) = env_or_file("VAULT_JWT", "VAULT_JWT_FILE")? {
        let mount = settings.jwt_mount.clone();
        let role = std::env::var("VAULT_JWT_ROLE")
            .ok()
            .filter(|r| !r.is_empty())
            .or_else(|| jwt_role.map(str::to_owned));
        return inner.call(&format!("JWT login at auth/{mount}/login"), || async {
            vaultrs::auth::oidc::login(&inner.client, &mount, &jwt, role.clone())
                .await
                .map_err(|e| classify(&e))
        });
    }
    Err(VaultError::NoAuth {
        addr: inner.addr.clone(),
    })
}

/// The Vault path of a KV credential: `<mount>/<path>` (v1), `<mount>/data/<path>` (v2).
fn kv_path(c: &Credential) -> String {
    if c.engine == Engine::Kv1 {
        format!("{}/{}", c.mount, c.path)
    } else {
        format!("{}/data/{}", c.mount, c.path)
    }
}

/// The Vault path of dynamic credentials: `<mount>/creds/<role>`, `<mount>/sts/<role>` (AWS STS).
fn dynamic_path(c: &Credential) -> String {
    let kind = if c.sts { "sts" } else { "creds" };
    format!("{}/{kind}/{}", c.mount, c.role)
}

/// The error for a secret at `path` that lacks `field`, listing the fields it has (sorted).
fn missing_field(
    addr: &str,
    path: &str,
    field: &str,
    data: &HashMap<String, serde_json::Value>,
) -> VaultError {
    let mut fields: Vec<&str> = data.keys().map(String::as_str).collect();
    fields.sort_unstable();
    VaultError::MissingField {
        addr: addr.to_owned(),
        path: path.to_owned(),
        field: field.to_owned(),
        fields: fields.join(", "),
    }
}

/// A KV credential: each `VAR = "field"` of its `env` table becomes `VAR=<value of field>`
/// (strings as they are, numbers and booleans as JSON text).
fn kv_vars(
    addr: &str,
    c: &Credential,
    path: &str,
    data: &HashMap<String, serde_json::Value>,
) -> Result<Vec<(String, String)>, VaultError> {
    c.env
        .iter()
        .map(|(var, field)| {
            let value = match data.get(field) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                    v.to_string()
                }
                _ => return Err(missing_field(addr, path, field, data)),
            };
            Ok((var.clone(), value))
        })
        .collect()
}

/// Dynamic credentials as Terraform's providers read them: AWS `access_key`, `secret_key` and
/// (STS) `security_token` -> `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`;
/// Azure `client_id`, `client_secret` -> `ARM_CLIENT_ID`, `ARM_CLIENT_SECRET`.
fn dynamic_vars(
    addr: &str,
    engine: Engine,
    path: &str,
    data: &HashMap<String, serde_json::Value>,
) -> Result<Vec<(String, String)>, VaultError> {
    let field = |name: &str| -> Result<String, VaultError> {
        match data.get(name) {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            _ => Err(missing_field(addr, path, name, data)),
        }
    };
    Ok(match engine {
        Engine::Aws => {
            let mut v = vec![
                ("AWS_ACCESS_KEY_ID".to_owned(), field("access_key")?),
                ("AWS_SECRET_ACCESS_KEY".to_owned(), field("secret_key")?),
            ];
            if let Some(serde_json::Value::String(t)) = data.get("security_token") {
                v.push(("AWS_SESSION_TOKEN".to_owned(), t.clone()));
            }
            v
        }
        Engine::Azure => vec![
            ("ARM_CLIENT_ID".to_owned(), field("client_id")?),
            ("ARM_CLIENT_SECRET".to_owned(), field("client_secret")?),
        ],
        // Their `env` table names the variables ([`kv_vars`]).
        Engine::Kv1 | Engine::Kv2 | Engine::Database => Vec::new(),
    })
}

/// The credentials of a run: the variables read from Vault in order (a later one wins; every
/// value is masked), plus, when an
/// Azure credential is declared, `ARM_SUBSCRIPTION_ID` (the environment's account) and
/// `ARM_TENANT_ID` (its tenant, when set), which are not secrets.
fn credentials_of(env: &Environment, vars: Vec<(String, String)>) -> Credentials {
    let masker = Masker::new(vars.iter().map(|(_, v)| v.clone()));
    let mut env_vars: BTreeMap<String, String> = vars.into_iter().collect();
    if env.credentials.iter().any(|c| c.engine == Engine::Azure) {
        env_vars.insert("ARM_SUBSCRIPTION_ID".into(), env.account.clone());
        if let Some(t) = &env.tenant {
            env_vars.insert("ARM_TENANT_ID".into(), t.clone());
        }
    }
    Credentials {
        env: env_vars,
        masker,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::cell::Cell;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    fn data(v: serde_json::Value) -> HashMap<String, serde_json::Value> {
        serde_json::from_value(v).unwrap()
    }

    fn credential(engine: Engine, mount: &str, path: &str, role: &str) -> Credential {
        Credential {
            engine,
            mount: mount.into(),
            path: path.into(),
            role: role.into(),
            sts: false,
            env: BTreeMap::new(),
        }
    }

    fn fast(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            attempts,
            first_backoff: Duration::from_millis(1),
            request_timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn server_errors_sealed_and_rate_limits_are_retried_client_errors_are_final() {
        for code in [500, 502, 503, 504, 429] {
            assert!(retried_status(code), "{code} must be retried");
        }
        for code in [400, 401, 403, 404, 405, 412] {
            assert!(!retried_status(code), "{code} must be final");
        }
        let sealed = status_failure(503, &["Vault is sealed".into()]);
        assert!(sealed.transient);
        assert_eq!(sealed.message, "HTTP 503: Vault is sealed");
        let denied = status_failure(403, &["permission denied".into()]);
        assert!(!denied.transient);
        assert_eq!(denied.message, "HTTP 403: permission denied");
        let bad = status_failure(400, &[]);
        assert!(!bad.transient);
        assert_eq!(bad.message, "HTTP 400");
        assert_eq!(
            error_messages(r#"{"errors": ["a", "b"]}"#),
            vec!["a".to_owned(), "b".to_owned()]
        );
        assert!(error_messages("<html>proxy error</html>").is_empty());
    }

    #[test]
    fn vaultrs_errors_are_classified_like_raw_answers() {
        let sealed = classify(&ClientError::APIError {
            code: 503,
            errors: vec!["Vault is sealed".into()],
        });
        assert!(sealed.transient);
        assert_eq!(sealed.message, "HTTP 503: Vault is sealed");
        let denied = classify(&ClientError::APIError {
            code: 403,
            errors: vec!["permission denied".into()],
        });
        assert!(!denied.transient);
        // An answer that is not what was asked for does not get better by asking again.
        assert!(!classify(&ClientError::ResponseEmptyError).transient);
        let dropped = connection_failure(&std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset by peer",
        ));
        assert!(dropped.transient);
        assert_eq!(dropped.message, "cannot connect: connection reset by peer");
    }

    #[test]
    fn retry_repeats_transient_failures_and_stops_at_a_final_one() {
        let calls = Cell::new(0);
        let got = retry(&fast(5), "http://v", "read kv/x", || {
            calls.set(calls.get() + 1);
            if calls.get() < 3 {
                Err(status_failure(503, &["Vault is sealed".into()]))
            } else {
                Ok("secret")
            }
        });
        assert_eq!(got.unwrap(), "secret");
        assert_eq!(calls.get(), 3);

        calls.set(0);
        let e = retry(&fast(5), "http://v", "read kv/x", || -> Result<(), _> {
            calls.set(calls.get() + 1);
            Err(status_failure(403, &["permission denied".into()]))
        })
        .unwrap_err();
        assert_eq!(calls.get(), 1, "a 403 is not asked again");
        assert_eq!(
            e.to_string(),
            "Vault http://v: read kv/x: HTTP 403: permission denied"
        );

        calls.set(0);
        let e = retry(&fast(3), "http://v", "read kv/x", || -> Result<(), _> {
            calls.set(calls.get() + 1);
            Err(status_failure(503, &["Vault is sealed".into()]))
        })
        .unwrap_err();
        assert_eq!(calls.get(), 3);
        assert!(
            matches!(e, VaultError::Request { attempts: 3, .. }),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "Vault http://v: read kv/x: HTTP 503: Vault is sealed (after 3 attempts)"
        );
    }

    /// A one-thread HTTP server answering each connection with the next of `answers` (`None`:
    /// close the connection without answering); returns its address and the request lines seen.
    fn server(
        answers: Vec<Option<(u16, &'static str)>>,
    ) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let (addr, handle) = server_with_bodies(answers);
        let lines = std::thread::spawn(move || {
            handle
                .join()
                .unwrap()
                .into_iter()
                .map(|(line, _)| line)
                .collect()
        });
        (addr, lines)
    }

    /// [`server`], also keeping the body of each request (read up to its `Content-Length`).
    fn server_with_bodies(
        answers: Vec<Option<(u16, &'static str)>>,
    ) -> (String, std::thread::JoinHandle<Vec<(String, String)>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for answer in answers {
                let (mut stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap() == 0 || header == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap();
                        }
                    }
                }
                let mut body = vec![0; length];
                std::io::Read::read_exact(&mut reader, &mut body).unwrap();
                seen.push((line.trim().to_owned(), String::from_utf8(body).unwrap()));
                if let Some((status, body)) = answer {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
            }
            seen
        });
        (addr, handle)
    }

    fn read_creds(inner: &Inner) -> Result<Option<Envelope>, VaultError> {
        inner.call("read aws/creds/deploy", || {
            inner.raw(reqwest::Method::GET, "aws/creds/deploy", None)
        })
    }

    #[test]
    fn dropped_connections_and_a_sealed_vault_are_retried_over_http() {
        let (addr, seen) = server(vec![
            None,
            Some((503, r#"{"errors": ["Vault is sealed"]}"#)),
            Some((
                200,
                r#"{"lease_id": "aws/creds/deploy/l1", "lease_duration": 900, "renewable": true, "data": {"access_key": "AKIA1", "secret_key": "s1"}}"#,
            )),
        ]);
        let inner = Inner::new(&addr, None, fast(4)).unwrap();
        let env = read_creds(&inner).unwrap().unwrap();
        assert_eq!(env.lease_id, "aws/creds/deploy/l1");
        assert_eq!(env.lease_duration, 900);
        assert_eq!(env.data.unwrap()["access_key"], "AKIA1");
        assert_eq!(seen.join().unwrap().len(), 3, "one request per attempt");
    }

    #[test]
    fn forbidden_and_bad_requests_are_not_retried_over_http() {
        for (status, body, message) in [
            (
                403,
                r#"{"errors": ["permission denied"]}"#,
                "HTTP 403: permission denied",
            ),
            (
                400,
                r#"{"errors": ["missing role"]}"#,
                "HTTP 400: missing role",
            ),
        ] {
            let (addr, seen) = server(vec![Some((status, body))]);
            let inner = Inner::new(&addr, None, fast(4)).unwrap();
            let e = read_creds(&inner).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("Vault {addr}: read aws/creds/deploy: {message}")
            );
            assert_eq!(
                seen.join().unwrap(),
                vec!["GET /v1/aws/creds/deploy HTTP/1.1"]
            );
        }
    }

    #[test]
    fn aws_credentials_become_the_aws_provider_variables() {
        let sts = data(json!({"access_key": "AKIA1", "secret_key": "s1", "security_token": "t1"}));
        assert_eq!(
            dynamic_vars("http://v", Engine::Aws, "aws/sts/deploy", &sts).unwrap(),
            vec![
                ("AWS_ACCESS_KEY_ID".to_owned(), "AKIA1".to_owned()),
                ("AWS_SECRET_ACCESS_KEY".to_owned(), "s1".to_owned()),
                ("AWS_SESSION_TOKEN".to_owned(), "t1".to_owned()),
            ]
        );
        let iam = data(json!({"access_key": "AKIA2", "secret_key": "s2", "security_token": null}));
        let vars = dynamic_vars("http://v", Engine::Aws, "aws/creds/deploy", &iam).unwrap();
        assert_eq!(
            vars.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        );
        let mut c = credential(Engine::Aws, "aws", "", "deploy");
        assert_eq!(dynamic_path(&c), "aws/creds/deploy");
        c.sts = true;
        assert_eq!(dynamic_path(&c), "aws/sts/deploy");
    }

    #[test]
    fn azure_credentials_become_the_azurerm_provider_variables() {
        let d = data(json!({"client_id": "app-1", "client_secret": "pw-1"}));
        assert_eq!(
            dynamic_vars("http://v", Engine::Azure, "azure/creds/deploy", &d).unwrap(),
            vec![
                ("ARM_CLIENT_ID".to_owned(), "app-1".to_owned()),
                ("ARM_CLIENT_SECRET".to_owned(), "pw-1".to_owned()),
            ]
        );
        let env: Environment = toml::from_str(
            r#"
            cloud = "azure"
            region = "westeurope"
            account = "sub-123"
            tenant = "tenant-9"
            [[credentials]]
            engine = "azure"
            mount = "azure"
            role = "deploy"
            "#,
        )
        .unwrap();
        let creds = credentials_of(
            &env,
            vec![
                ("ARM_CLIENT_ID".into(), "app-1".into()),
                ("ARM_CLIENT_SECRET".into(), "pw-secret-1".into()),
            ],
        );
        assert_eq!(creds.env["ARM_SUBSCRIPTION_ID"], "sub-123");
        assert_eq!(creds.env["ARM_TENANT_ID"], "tenant-9");
        assert_eq!(creds.env["ARM_CLIENT_SECRET"], "pw-secret-1");
        assert_eq!(creds.masker.mask("x pw-secret-1 sub-123"), "x **** sub-123");
        // Debug never shows a value.
        assert!(!format!("{creds:?}").contains("pw-secret-1"));
    }

    #[test]
    fn kv_fields_map_to_the_declared_variables() {
        let mut c = credential(Engine::Kv2, "secret", "app/db", "");
        c.env.insert("DB_PASSWORD".into(), "password".into());
        c.env.insert("DB_PORT".into(), "port".into());
        c.env.insert("DB_TLS".into(), "tls".into());
        assert_eq!(kv_path(&c), "secret/data/app/db");
        let d = data(json!({"password": "s3cret", "port": 5432, "tls": true, "unused": "x"}));
        assert_eq!(
            kv_vars("http://v", &c, &kv_path(&c), &d).unwrap(),
            vec![
                ("DB_PASSWORD".to_owned(), "s3cret".to_owned()),
                ("DB_PORT".to_owned(), "5432".to_owned()),
                ("DB_TLS".to_owned(), "true".to_owned()),
            ]
        );
        c.engine = Engine::Kv1;
        assert_eq!(kv_path(&c), "secret/app/db");
        let env: Environment =
            toml::from_str("cloud = \"aws\"\nregion = \"eu-west-1\"\naccount = \"123\"\n").unwrap();
        let creds = credentials_of(&env, vec![("DB_PASSWORD".into(), "s3cret".into())]);
        assert!(!creds.env.contains_key("ARM_SUBSCRIPTION_ID"));
    }

    #[test]
    fn a_missing_field_names_the_path_and_the_fields_present() {
        let mut c = credential(Engine::Kv2, "secret", "app/db", "");
        c.env.insert("DB_PASSWORD".into(), "password".into());
        // An object is not a value a variable can hold: as good as missing.
        let d = data(json!({"user": "app", "pass": "x", "password": {"nested": 1}}));
        let e = kv_vars("http://v", &c, "secret/data/app/db", &d).unwrap_err();
        match &e {
            VaultError::MissingField {
                path,
                field,
                fields,
                ..
            } => {
                assert_eq!(path, "secret/data/app/db");
                assert_eq!(field, "password");
                assert_eq!(fields, "pass, password, user");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            e.to_string(),
            "Vault http://v: secret/data/app/db: the secret has no field `password` (it has: pass, password, user)"
        );
        let aws = data(json!({"access_key": "AKIA1", "lease": "x"}));
        let e = dynamic_vars("http://v", Engine::Aws, "aws/creds/deploy", &aws).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Vault http://v: aws/creds/deploy: the secret has no field `secret_key` (it has: access_key, lease)"
        );
        let e =
            dynamic_vars("http://v", Engine::Azure, "azure/creds/d", &data(json!({}))).unwrap_err();
        assert!(
            matches!(e, VaultError::MissingField { ref field, .. } if field == "client_id"),
            "{e}"
        );
    }

    #[test]
    fn finish_reports_each_revocation_failure_as_a_warning() {
        // A lease to revoke and a server that refuses: finish says so through the reporter.
        let (addr, seen) = server(vec![Some((403, r#"{"errors": ["permission denied"]}"#))]);
        let inner = Inner::new(&addr, None, fast(1)).unwrap();
        inner.leases.lock().unwrap().push(Lease {
            id: "aws/creds/deploy/l1".into(),
            path: "aws/creds/deploy".into(),
            life: Life::new(60, false),
        });
        let session = VaultSession {
            inner: Arc::new(inner),
            keeper: None,
            warden: None,
        };
        let said = crate::report::Collect::default();
        session.finish(&said);
        assert_eq!(
            said.lines(),
            vec![format!(
                "warning: Vault {addr}: revoke lease aws/creds/deploy/l1: HTTP 403: permission denied"
            )]
        );
        assert_eq!(
            seen.join().unwrap(),
            vec!["PUT /v1/sys/leases/revoke HTTP/1.1"]
        );
    }

    #[test]
    fn vault_error_lists_become_one_line() {
        // OpenBao's (and Vault's) multi-error body, exactly as it answers.
        let body = r#"{"errors":["1 error occurred:\n\t* permission denied\n\n"]}"#;
        assert_eq!(error_messages(body), vec!["permission denied".to_owned()]);
        let two = r#"{"errors":["2 errors occurred:\n\t* permission denied\n\t* invalid path for a versioned K/V secrets engine\n\n"]}"#;
        assert_eq!(
            error_messages(two),
            vec!["permission denied; invalid path for a versioned K/V secrets engine".to_owned()]
        );
        let denied = status_failure(403, &error_messages(body));
        assert_eq!(denied.message, "HTTP 403: permission denied");
        // Several entries, one of them a list: one line, `; ` between.
        let mixed = status_failure(
            400,
            &[
                "missing role".into(),
                "1 error occurred:\n\t* bad\tthing\n\n".into(),
                "\n\n".into(),
            ],
        );
        assert_eq!(mixed.message, "HTTP 400: missing role; bad thing");
        // vaultrs's APIError path gives the same line.
        for (errors, message) in [
            (
                vec!["1 error occurred:\n\t* permission denied\n\n".to_owned()],
                "HTTP 403: permission denied",
            ),
            (
                vec!["2 errors occurred:\n\t* a\n\t* b\n\n".to_owned()],
                "HTTP 403: a; b",
            ),
        ] {
            let a = classify(&ClientError::APIError { code: 403, errors });
            assert_eq!(a.message, message);
        }
        for text in [body, two, "x\r\ny\tz"] {
            let line = one_line(text);
            assert!(!line.contains(['\n', '\t', '\r']), "{line:?}");
        }
        assert_eq!(one_line("  plain message  "), "plain message");
        assert_eq!(
            one_line("1 error occurred:\n\t* 3 errors occurred: no\n"),
            "3 errors occurred: no"
        );
    }

    #[test]
    fn a_multi_error_body_is_one_line_over_http() {
        let (addr, _seen) = server(vec![Some((
            403,
            r#"{"errors":["1 error occurred:\n\t* permission denied\n\n"]}"#,
        ))]);
        let inner = Inner::new(&addr, None, fast(2)).unwrap();
        let e = read_creds(&inner).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("Vault {addr}: read aws/creds/deploy: HTTP 403: permission denied")
        );
    }

    #[test]
    fn the_minimum_lifetime_decision() {
        assert_eq!(check_lifetime(3600, false, 300), Check::Enough);
        assert_eq!(check_lifetime(300, false, 300), Check::Enough);
        assert_eq!(
            check_lifetime(0, false, 300),
            Check::Enough,
            "0: never expires"
        );
        assert_eq!(
            check_lifetime(60, false, 0),
            Check::Enough,
            "min 0: no check"
        );
        assert_eq!(check_lifetime(60, true, 300), Check::Renew);
        assert_eq!(check_lifetime(299, false, 300), Check::TooShort);
    }

    #[test]
    fn a_renewal_granted_less_than_asked_is_capped() {
        assert!(capped(3600, 42));
        assert!(!capped(3600, 3600));
        assert!(!capped(300, 900), "more than asked is not capped");
        assert!(!capped(300, 0), "0: no expiry");
    }

    #[test]
    fn the_keeper_looks_at_half_the_shortest_lifetime() {
        assert_eq!(keeper_period([3600, 60]), Duration::from_secs(30));
        assert_eq!(keeper_period([0, 7]), Duration::from_millis(3500));
        assert_eq!(keeper_period([1]), Duration::from_secs(1), "floor 1 s");
        assert_eq!(keeper_period([86_400]), Duration::from_secs(3600));
        assert_eq!(keeper_period([]), Duration::from_secs(3600));
        // A lease is due at half its lifetime.
        let mut l = Life::new(10, true);
        assert!(!l.due());
        l.renewed_at = Instant::now() - Duration::from_secs(5);
        assert!(l.due());
        l.capped = true;
        assert!(!l.due() && !l.kept(), "a capped lease is not renewed again");
        let mut l = Life::new(10, true);
        l.renewed_at = Instant::now() - Duration::from_secs(11);
        assert!(!l.due() && !l.kept(), "an expired lease is not renewed");
        assert_eq!(l.remaining(), 0);
    }

    #[test]
    fn a_capped_or_failing_renewal_warns_once() {
        let mut l = Life::new(600, true);
        assert_eq!(l.renewed("Vault lease db/creds/app/x", 600, Ok(600)), None);
        assert_eq!(
            l.renewed("Vault lease db/creds/app/x", 600, Ok(42)).as_deref(),
            Some("Vault lease db/creds/app/x reached its max TTL: it expires in 42 s, before the run may end")
        );
        assert!(l.capped && !l.due());
        let denied = || VaultError::Request {
            addr: "http://v".into(),
            what: "renew token".into(),
            message: "HTTP 403: permission denied".into(),
            attempts: 1,
        };
        let mut t = Life::new(120, true);
        let w = t.renewed("the Vault token", 120, Err(denied())).unwrap();
        assert!(
            w.starts_with(
                "renewing the Vault token failed (HTTP 403: permission denied): it expires in "
            ),
            "{w}"
        );
        assert_eq!(
            t.renewed("the Vault token", 120, Err(denied())),
            None,
            "once"
        );
        assert_eq!(t.renewed("the Vault token", 120, Ok(120)), None);
        assert!(
            t.renewed("the Vault token", 120, Err(denied())).is_some(),
            "news again after a success"
        );
    }

    #[test]
    fn the_minimum_lifetime_comes_from_the_environment_over_gitops_toml() {
        use std::env::VarError;
        let mut settings = VaultSettings::default();
        assert_eq!(
            min_ttl_of(Err(VarError::NotPresent), &settings).unwrap(),
            300
        );
        settings.min_ttl = 900;
        assert_eq!(
            min_ttl_of(Err(VarError::NotPresent), &settings).unwrap(),
            900
        );
        assert_eq!(
            min_ttl_of(Ok(String::new()), &settings).unwrap(),
            900,
            "empty: unset"
        );
        assert_eq!(min_ttl_of(Ok("15m".into()), &settings).unwrap(), 900);
        assert_eq!(min_ttl_of(Ok("90".into()), &settings).unwrap(), 90);
        assert_eq!(
            min_ttl_of(Ok("0".into()), &settings).unwrap(),
            0,
            "0: no check"
        );
        let e = min_ttl_of(Ok("soon".into()), &settings).unwrap_err();
        assert_eq!(
            e.to_string(),
            "GITOPS_VAULT_MIN_TTL: found \"soon\"; allowed: a duration: integer seconds, or a \
             string such as \"90s\", \"15m\", \"1h\", \"1h30m\""
        );
        assert_eq!(
            crate::error::Error::Vault(e).exit_code(),
            crate::error::exit::INVALID
        );
        let e = min_ttl_of(Ok("-5".into()), &settings).unwrap_err();
        assert!(
            matches!(
                e,
                VaultError::Setting {
                    var: MIN_TTL_ENV,
                    ..
                }
            ),
            "{e}"
        );
    }

    fn database_env() -> Environment {
        toml::from_str(
            r#"
            cloud = "sandbox"
            region = "local-1"
            account = "sandbox-dev"
            [[credentials]]
            engine = "database"
            mount = "database"
            role = "app"
            env = { PGUSER = "username", PGPASSWORD = "password" }
            "#,
        )
        .unwrap()
    }

    /// A session over `inner` whose token came from a login without expiry (no token check).
    fn session(mut inner: Inner, min_ttl: u64) -> VaultSession {
        inner.min_ttl = min_ttl;
        inner.created = true;
        VaultSession {
            inner: Arc::new(inner),
            keeper: None,
            warden: None,
        }
    }

    const DB_CREDS_60: &str = r#"{"lease_id": "database/creds/app/XYZ", "lease_duration": 60, "renewable": true, "data": {"username": "v-app-1", "password": "pw-db-1"}}"#;

    #[test]
    fn database_credentials_are_renewed_to_the_minimum_lifetime_over_http() {
        let (addr, seen) = server_with_bodies(vec![
            Some((200, DB_CREDS_60)),
            Some((
                200,
                r#"{"lease_id": "database/creds/app/XYZ", "lease_duration": 300, "renewable": true}"#,
            )),
            Some((204, "")),
            Some((204, "")),
        ]);
        let s = session(Inner::new(&addr, None, fast(1)).unwrap(), 300);
        let creds = s.credentials(&database_env()).unwrap();
        assert_eq!(creds.env["PGUSER"], "v-app-1");
        assert_eq!(creds.env["PGPASSWORD"], "pw-db-1");
        assert_eq!(creds.masker.mask("login pw-db-1"), "login ****");
        {
            let leases = s.inner.leases.lock().unwrap();
            assert_eq!(leases[0].path, "database/creds/app");
            assert_eq!((leases[0].life.ttl, leases[0].life.increment), (300, 300));
        }
        let said = crate::report::Collect::default();
        s.finish(&said);
        assert!(said.lines().is_empty(), "{:?}", said.lines());
        let seen = seen.join().unwrap();
        assert_eq!(seen[0].0, "GET /v1/database/creds/app HTTP/1.1");
        assert_eq!(seen[1].0, "PUT /v1/sys/leases/renew HTTP/1.1");
        let body: serde_json::Value = serde_json::from_str(&seen[1].1).unwrap();
        assert_eq!(
            body,
            json!({"lease_id": "database/creds/app/XYZ", "increment": 300})
        );
        assert_eq!(seen[2].0, "PUT /v1/sys/leases/revoke HTTP/1.1");
        assert!(
            seen[3].0.contains("/v1/auth/token/revoke-self"),
            "{:?}",
            seen[3]
        );
    }

    #[test]
    fn credentials_capped_below_the_minimum_lifetime_fail_before_terraform_over_http() {
        let (addr, seen) = server_with_bodies(vec![
            Some((200, DB_CREDS_60)),
            Some((
                200,
                r#"{"lease_id": "database/creds/app/XYZ", "lease_duration": 60, "renewable": true}"#,
            )),
            Some((204, "")),
            Some((204, "")),
        ]);
        let s = session(Inner::new(&addr, None, fast(1)).unwrap(), 300);
        let e = s.credentials(&database_env()).unwrap_err();
        assert!(
            matches!(
                e,
                VaultError::ShortLifetime {
                    ttl: 60,
                    min: 300,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "Vault {addr}: credentials from database/creds/app expire in 60 s (renewed for 300 s, \
                 Vault granted 60 s: capped by its max TTL), less than the 300 s this step needs; \
                 raise the role's max_ttl (and the mount's max lease TTL) or lower [vault] min_ttl / \
                 GITOPS_VAULT_MIN_TTL"
            )
        );
        assert!(!e.to_string().contains("pw-db-1"));
        assert_eq!(
            crate::error::Error::Vault(e).exit_code(),
            crate::error::exit::FAILED
        );
        // Dropped on the error: the lease and the login token are revoked.
        drop(s);
        let seen = seen.join().unwrap();
        assert_eq!(seen[2].0, "PUT /v1/sys/leases/revoke HTTP/1.1");
    }

    #[test]
    fn a_given_token_below_the_minimum_lifetime_fails_and_is_not_revoked_over_http() {
        let (addr, seen) = server(vec![Some((
            200,
            r#"{"data": {"id": "hvs.given-token-secret", "ttl": 100, "renewable": false}}"#,
        ))]);
        let mut inner = Inner::new(&addr, None, fast(1)).unwrap();
        inner.min_ttl = 300;
        let s = VaultSession {
            inner: Arc::new(inner),
            keeper: None,
            warden: None,
        };
        let env: Environment =
            toml::from_str("cloud = \"sandbox\"\nregion = \"r\"\naccount = \"a\"\n").unwrap();
        let e = s.credentials(&env).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "Vault {addr}: the token of VAULT_TOKEN expires in 100 s (not renewable), less than \
                 the 300 s this step needs; give a VAULT_TOKEN with a longer (or renewable) TTL or \
                 lower [vault] min_ttl / GITOPS_VAULT_MIN_TTL"
            )
        );
        assert!(!e.to_string().contains("given-token-secret"));
        drop(s);
        // One lookup, no revoke-self.
        assert_eq!(
            seen.join().unwrap(),
            vec!["GET /v1/auth/token/lookup-self HTTP/1.1"]
        );
    }

    #[test]
    fn the_keeper_warns_at_once_and_finish_reports_each_warning_once_over_http() {
        let (addr, seen) = server(vec![
            // renew-self of the token: refused.
            Some((
                403,
                r#"{"errors":["1 error occurred:\n\t* permission denied\n\n"]}"#,
            )),
            // The lease: granted less than asked (its max TTL).
            Some((
                200,
                r#"{"lease_id": "database/creds/app/XYZ", "lease_duration": 42, "renewable": true}"#,
            )),
            // Second round: the token again (still refused, not warned again); the lease is
            // capped and not asked again.
            Some((403, r#"{"errors":["permission denied"]}"#)),
            // finish: the lease is revoked; the given token is not.
            Some((204, "")),
        ]);
        let mut inner = Inner::new(&addr, None, fast(1)).unwrap();
        let printed = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = printed.clone();
        inner.notify = Box::new(move |m| sink.lock().unwrap().push(m.to_owned()));
        // Both past half their lifetime, neither expired.
        let mut token = Life::new(120, true);
        token.renewed_at = Instant::now() - Duration::from_secs(70);
        inner.token_life = Mutex::new(token);
        let mut life = Life::new(60, true);
        life.renewed_at = Instant::now() - Duration::from_secs(40);
        inner.leases.lock().unwrap().push(Lease {
            id: "database/creds/app/XYZ".into(),
            path: "database/creds/app".into(),
            life,
        });
        assert_eq!(inner.keeper_period(), Duration::from_secs(30));
        inner.renew_due();
        inner.renew_due();
        let expected_lease = "Vault lease database/creds/app/XYZ reached its max TTL: it expires in 42 s, before the run may end";
        {
            let printed = printed.lock().unwrap();
            assert_eq!(printed.len(), 2, "{printed:?}");
            // 120 s, renewed 70 s ago: 50 s left (49 if the second turned meanwhile).
            assert!(
                printed[0] == "renewing the Vault token failed (HTTP 403: permission denied): it expires in 50 s"
                    || printed[0] == "renewing the Vault token failed (HTTP 403: permission denied): it expires in 49 s",
                "{printed:?}"
            );
            assert_eq!(printed[1], expected_lease);
        }
        let session = VaultSession {
            inner: Arc::new(inner),
            keeper: None,
            warden: None,
        };
        let said = crate::report::Collect::default();
        session.finish(&said);
        let lines = said.lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("warning: renewing the Vault token failed"));
        assert_eq!(lines[1], format!("warning: {expected_lease}"));
        let seen = seen.join().unwrap();
        assert!(seen[0].contains("/v1/auth/token/renew-self"), "{seen:?}");
        assert_eq!(seen[1], "PUT /v1/sys/leases/renew HTTP/1.1");
        assert!(seen[2].contains("/v1/auth/token/renew-self"), "{seen:?}");
        assert_eq!(seen[3], "PUT /v1/sys/leases/revoke HTTP/1.1");
    }

    #[test]
    fn database_fields_map_like_kv_fields() {
        let mut c = credential(Engine::Database, "database", "", "app");
        c.env.insert("PGUSER".into(), "username".into());
        c.env.insert("PGPASSWORD".into(), "password".into());
        assert_eq!(dynamic_path(&c), "database/creds/app");
        let e = kv_vars(
            "http://v",
            &c,
            "database/creds/app",
            &data(json!({"username": "u"})),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Vault http://v: database/creds/app: the secret has no field `password` (it has: username)"
        );
    }
}
