//! Vault: log in (token, AppRole, JWT), read an environment's credentials (KV v1/v2, AWS and Azure
//! secrets engines), keep the token and leases alive during long runs, and revoke what this run
//! created when it ends ([`VaultSession::finish`]), also after a failure (on drop, silently).
//!
//! vaultrs does the login, KV reads and token calls. It returns only the `data` of a response, so
//! the dynamic credentials (whose `lease_id` we must revoke) and the lease calls go through a plain
//! request on the same reqwest/rustls stack, parsed from Vault's documented response envelope.
//! Secrets live only in memory and in the Terraform child's environment.
//!
//! The pure parts are separate functions with unit tests: the retry classification
//! ([`retried_status`], `status_failure`, `connection_failure`, the `retry` loop) and the
//! credential mapping (`kv_vars`, `dynamic_vars`, `cloud_vars`).

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

/// An error answer of Vault (`HTTP 503: Vault is sealed`).
fn status_failure(code: u16, errors: &[String]) -> Attempt {
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
        message: format!("cannot connect: {}", error_chain(e)),
        transient: true,
    }
}

/// The `errors` of Vault's error body (`{"errors": ["permission denied"]}`); none when the body
/// is not one.
fn error_messages(body: &str) -> Vec<String> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v["errors"].as_array().map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(str::to_owned))
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
            message: other.to_string(),
            transient: false,
        },
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
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

#[derive(Debug, Clone)]
struct Lease {
    id: String,
    duration: u64,
    renewable: bool,
    renewed_at: Instant,
}

struct Inner {
    addr: String,
    namespace: Option<String>,
    token: String,
    /// The token came from a login of this run: renew it, revoke it at the end.
    created: bool,
    token_ttl: u64,
    token_renewable: bool,
    rt: tokio::runtime::Runtime,
    client: VaultClient,
    http: reqwest::Client,
    retry: RetryPolicy,
    leases: Mutex<Vec<Lease>>,
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
                id,
                duration: 0,
                renewable: false,
                renewed_at: Instant::now(),
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
            token_ttl: 0,
            token_renewable: false,
            rt,
            client,
            http,
            retry,
            leases: Mutex::new(Vec::new()),
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
            message: format!("reading the answer: {}", error_chain(&e)),
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

    /// Renews the token (if created here) and leases that passed half their duration.
    fn renew_due(&self) {
        if self.created && self.token_renewable {
            let _ = self.call("renew token", || async {
                vaultrs::token::renew_self(&self.client, None)
                    .await
                    .map(|_| ())
                    .map_err(|e| classify(&e))
            });
        }
        let due: Vec<Lease> = self
            .leases
            .lock()
            .map(|l| {
                l.iter()
                    .filter(|l| l.renewable && l.renewed_at.elapsed().as_secs() * 2 >= l.duration)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for lease in due {
            let body = serde_json::json!({ "lease_id": lease.id, "increment": lease.duration });
            if self
                .call("renew lease", || {
                    self.raw(reqwest::Method::PUT, "sys/leases/renew", Some(body.clone()))
                })
                .is_ok()
            {
                if let Ok(mut leases) = self.leases.lock() {
                    if let Some(l) = leases.iter_mut().find(|l| l.id == lease.id) {
                        l.renewed_at = Instant::now();
                    }
                }
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
        let mut inner = Inner::new(&addr, namespace, RetryPolicy::from_env())?;
        if let Some(token) = std::env::var("VAULT_TOKEN").ok().filter(|t| !t.is_empty()) {
            inner.token = token;
        } else {
            let auth = log_in(&inner, settings, jwt_role)?;
            inner.token = auth.client_token;
            inner.created = true;
            inner.token_ttl = auth.lease_duration;
            inner.token_renewable = auth.renewable;
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

    /// Reads every credential an environment declares and maps it to environment variables.
    pub fn credentials(&self, env: &Environment) -> Result<Credentials, VaultError> {
        let mut vars = Vec::new();
        for c in &env.credentials {
            vars.extend(match c.engine {
                Engine::Kv1 | Engine::Kv2 => self.kv(c)?,
                Engine::Aws | Engine::Azure => self.dynamic(c)?,
            });
        }
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

    /// Reads dynamic credentials (AWS, Azure engines) and records their lease for revocation.
    fn dynamic(&self, c: &Credential) -> Result<Vec<(String, String)>, VaultError> {
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
                    duration: env.lease_duration,
                    renewable: env.renewable,
                    renewed_at: Instant::now(),
                });
            }
        }
        dynamic_vars(&inner.addr, c.engine, &path, &env.data.unwrap_or_default())
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
        let period = Duration::from_secs((self.inner.token_ttl / 2).clamp(5, 3600));
        let handle = std::thread::spawn(move || {
            let mut last = Instant::now();
            while !flag.load(Ordering::SeqCst) {
                std::thread::sleep(tick);
                if last.elapsed() >= period {
                    inner.renew_due();
                    last = Instant::now();
                }
            }
        });
        self.keeper = Some((stop, handle));
    }

    /// Ends the session, the one way a run ends it: stops renewing, revokes the run's leases and
    /// the token it created, and reports each one that could not be revoked as a warning.
    pub fn finish(self, reporter: &dyn Reporter) {
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
        _ => vec![
            ("ARM_CLIENT_ID".to_owned(), field("client_id")?),
            ("ARM_CLIENT_SECRET".to_owned(), field("client_secret")?),
        ],
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
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for answer in answers {
                let (mut stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                seen.push(line.trim().to_owned());
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap() == 0 || header == "\r\n" {
                        break;
                    }
                }
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
            duration: 60,
            renewable: false,
            renewed_at: Instant::now(),
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
}
