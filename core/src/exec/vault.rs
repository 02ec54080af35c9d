//! Vault: log in (token, AppRole, JWT), read an environment's credentials (KV v1/v2, AWS and Azure
//! secrets engines), keep the token and leases alive during long runs, and revoke what this run
//! created when it ends, also after a failure (on drop).
//!
//! vaultrs does the login, KV reads and token calls. It returns only the `data` of a response, so
//! the dynamic credentials (whose `lease_id` we must revoke) and the lease calls go through a plain
//! request on the same reqwest/rustls stack, parsed from Vault's documented response envelope.
//! Secrets live only in memory and in the Terraform child's environment.

use crate::exec::terraform::Masker;
use crate::model::{Credential, Engine, Environment, VaultSettings};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("Vault: no address for the credentials of environment {env}: set VAULT_ADDR or [vault] address in gitops.toml")]
    NoAddress { env: String },
    #[error("Vault {addr}: nothing to log in with: set VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID (or VAULT_ROLE_ID_FILE/VAULT_SECRET_ID_FILE), or VAULT_JWT (or VAULT_JWT_FILE) with a JWT role")]
    NoAuth { addr: String },
    #[error("Vault {addr}: {what}: {message}{}", if *.attempts > 1 { format!(" (after {} attempts)", .attempts) } else { String::new() })]
    Request {
        addr: String,
        what: String,
        message: String,
        attempts: u32,
    },
    #[error("Vault {addr}: {path}: the secret has no field `{field}` (it has: {fields})")]
    MissingField {
        addr: String,
        path: String,
        field: String,
        fields: String,
    },
    #[error("Vault: cannot read {what} from {file}: {source}")]
    File {
        what: &'static str,
        file: String,
        #[source]
        source: std::io::Error,
    },
}

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

/// A failure of one attempt: its message and whether trying again may help.
struct Attempt {
    message: String,
    transient: bool,
}

fn classify(e: &ClientError) -> Attempt {
    match e {
        ClientError::APIError { code, errors } => Attempt {
            message: format!(
                "HTTP {code}{}",
                if errors.is_empty() {
                    String::new()
                } else {
                    format!(": {}", errors.join("; "))
                }
            ),
            transient: *code >= 500 || *code == 429,
        },
        ClientError::RestClientError { source } => Attempt {
            message: format!("cannot connect: {}", error_chain(source)),
            transient: true,
        },
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

/// A logged-in Vault session. Dropping it revokes the leases and the token it created.
pub struct VaultSession {
    inner: Arc<Inner>,
    keeper: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
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

impl Inner {
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
        let settings = b.build().map_err(|e| VaultError::Request {
            addr: addr.to_owned(),
            what: "client settings".into(),
            message: e.to_string(),
            attempts: 1,
        })?;
        VaultClient::new(settings).map_err(|e| VaultError::Request {
            addr: addr.to_owned(),
            what: "client".into(),
            message: e.to_string(),
            attempts: 1,
        })
    }

    /// Runs one Vault call with timeout and retries. `what` names the call and path for messages.
    fn call<T, F, Fut>(&self, what: &str, f: F) -> Result<T, VaultError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, Attempt>>,
    {
        let mut backoff = self.retry.first_backoff;
        let mut last = String::new();
        for attempt in 1..=self.retry.attempts {
            let result = self
                .rt
                .block_on(async { tokio::time::timeout(self.retry.request_timeout, f()).await });
            let failure = match result {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(a)) => a,
                Err(_) => Attempt {
                    message: format!(
                        "no answer within {} ms",
                        self.retry.request_timeout.as_millis()
                    ),
                    transient: true,
                },
            };
            last = failure.message;
            if !failure.transient {
                return Err(VaultError::Request {
                    addr: self.addr.clone(),
                    what: what.to_owned(),
                    message: last,
                    attempts: attempt,
                });
            }
            if attempt < self.retry.attempts {
                std::thread::sleep(backoff);
                backoff = backoff.saturating_mul(2).min(Duration::from_secs(10));
            }
        }
        Err(VaultError::Request {
            addr: self.addr.clone(),
            what: what.to_owned(),
            message: last,
            attempts: self.retry.attempts,
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
        let resp = req.send().await.map_err(|e| Attempt {
            message: format!("cannot connect: {}", error_chain(&e)),
            transient: true,
        })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| Attempt {
            message: format!("reading the answer: {}", error_chain(&e)),
            transient: true,
        })?;
        if !status.is_success() {
            let errors = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| {
                    v["errors"].as_array().map(|a| {
                        a.iter()
                            .filter_map(|e| e.as_str().map(str::to_owned))
                            .collect::<Vec<_>>()
                    })
                })
                .unwrap_or_default();
            return Err(Attempt {
                message: format!(
                    "HTTP {}{}",
                    status.as_u16(),
                    if errors.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", errors.join("; "))
                    }
                ),
                transient: status.is_server_error() || status.as_u16() == 429,
            });
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
        let retry = RetryPolicy::from_env();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| VaultError::Request {
                addr: addr.clone(),
                what: "runtime".into(),
                message: e.to_string(),
                attempts: 1,
            })?;
        let http = reqwest::Client::builder()
            .timeout(retry.request_timeout)
            .build()
            .map_err(|e| VaultError::Request {
                addr: addr.clone(),
                what: "http client".into(),
                message: e.to_string(),
                attempts: 1,
            })?;
        let anonymous = Inner::client_for(&addr, "", namespace.as_deref(), retry.request_timeout)?;
        let mut inner = Inner {
            addr: addr.clone(),
            namespace: namespace.clone(),
            token: String::new(),
            created: false,
            token_ttl: 0,
            token_renewable: false,
            rt,
            client: anonymous,
            http,
            retry,
            leases: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        };
        let auth = if let Some(token) = std::env::var("VAULT_TOKEN").ok().filter(|t| !t.is_empty())
        {
            inner.token = token;
            None
        } else if let (Some(role_id), Some(secret_id)) = (
            env_or_file("VAULT_ROLE_ID", "VAULT_ROLE_ID_FILE")?,
            env_or_file("VAULT_SECRET_ID", "VAULT_SECRET_ID_FILE")?,
        ) {
            let mount = settings.approle_mount.clone();
            Some(
                inner.call(&format!("AppRole login at auth/{mount}/login"), || async {
                    vaultrs::auth::approle::login(&inner.client, &mount, &role_id, &secret_id)
                        .await
                        .map_err(|e| classify(&e))
                })?,
            )
        } else if let Some(jwt) = env_or_file("VAULT_JWT", "VAULT_JWT_FILE")? {
            let mount = settings.jwt_mount.clone();
            let role = std::env::var("VAULT_JWT_ROLE")
                .ok()
                .filter(|r| !r.is_empty())
                .or_else(|| jwt_role.map(str::to_owned));
            Some(
                inner.call(&format!("JWT login at auth/{mount}/login"), || async {
                    vaultrs::auth::oidc::login(&inner.client, &mount, &jwt, role.clone())
                        .await
                        .map_err(|e| classify(&e))
                })?,
            )
        } else {
            return Err(VaultError::NoAuth { addr });
        };
        if let Some(auth) = auth {
            inner.token = auth.client_token;
            inner.created = true;
            inner.token_ttl = auth.lease_duration;
            inner.token_renewable = auth.renewable;
        }
        inner.client = Inner::client_for(
            &addr,
            &inner.token,
            namespace.as_deref(),
            inner.retry.request_timeout,
        )?;
        Ok(VaultSession {
            inner: Arc::new(inner),
            keeper: None,
        })
    }

    pub fn address(&self) -> &str {
        &self.inner.addr
    }

    /// Reads every credential an environment declares and maps it to environment variables.
    pub fn credentials(&self, env: &Environment) -> Result<Credentials, VaultError> {
        let mut out = Credentials::default();
        let mut secrets = Vec::new();
        let inner = &*self.inner;
        for c in &env.credentials {
            let vars = match c.engine {
                Engine::Kv1 | Engine::Kv2 => {
                    let path = if c.engine == Engine::Kv1 {
                        format!("{}/{}", c.mount, c.path)
                    } else {
                        format!("{}/data/{}", c.mount, c.path)
                    };
                    let data: HashMap<String, serde_json::Value> =
                        inner.call(&format!("read {path}"), || async {
                            let r = if c.engine == Engine::Kv1 {
                                vaultrs::kv1::get(&inner.client, &c.mount, &c.path).await
                            } else {
                                vaultrs::kv2::read(&inner.client, &c.mount, &c.path).await
                            };
                            r.map_err(|e| classify(&e))
                        })?;
                    kv_vars(inner, c, &path, &data)?
                }
                Engine::Aws | Engine::Azure => self.dynamic(env, c)?,
            };
            for (k, v) in vars {
                secrets.push(v.clone());
                out.env.insert(k, v);
            }
        }
        if env.credentials.iter().any(|c| c.engine == Engine::Azure) {
            out.env
                .insert("ARM_SUBSCRIPTION_ID".into(), env.account.clone());
            if let Some(t) = &env.tenant {
                out.env.insert("ARM_TENANT_ID".into(), t.clone());
            }
        }
        out.masker = Masker::new(secrets);
        Ok(out)
    }

    fn dynamic(
        &self,
        _env: &Environment,
        c: &Credential,
    ) -> Result<Vec<(String, String)>, VaultError> {
        let inner = &*self.inner;
        let kind = if c.sts { "sts" } else { "creds" };
        let path = format!("{}/{kind}/{}", c.mount, c.role);
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
        let data = env.data.unwrap_or_default();
        let field = |name: &str| -> Result<String, VaultError> {
            match data.get(name) {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                _ => Err(VaultError::MissingField {
                    addr: inner.addr.clone(),
                    path: path.clone(),
                    field: name.into(),
                    fields: data.keys().cloned().collect::<Vec<_>>().join(", "),
                }),
            }
        };
        Ok(match c.engine {
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

    /// Starts a thread that renews the token and leases while a long Terraform run goes on.
    pub fn keep_alive(&mut self) {
        if self.keeper.is_some() {
            return;
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

    /// Revokes the run's leases and created token; returns what could not be revoked.
    pub fn close(mut self) -> Vec<VaultError> {
        self.stop_keeper();
        self.inner.close()
    }

    fn stop_keeper(&mut self) {
        if let Some((stop, handle)) = self.keeper.take() {
            stop.store(true, Ordering::SeqCst);
            let _ = handle.join();
        }
    }
}

impl Drop for VaultSession {
    fn drop(&mut self) {
        self.stop_keeper();
        for e in self.inner.close() {
            eprintln!("warning: {e}");
        }
    }
}

fn kv_vars(
    inner: &Inner,
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
                _ => {
                    let mut fields: Vec<&String> = data.keys().collect();
                    fields.sort();
                    return Err(VaultError::MissingField {
                        addr: inner.addr.clone(),
                        path: path.to_owned(),
                        field: field.clone(),
                        fields: fields.into_iter().cloned().collect::<Vec<_>>().join(", "),
                    });
                }
            };
            Ok((var.clone(), value))
        })
        .collect()
}
