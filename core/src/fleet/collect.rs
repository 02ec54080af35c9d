//! Collecting the fleet report: everything is read, nothing is written, nothing runs (no
//! Terraform, no lock taken). Each fact comes from the code that owns its rule:
//!
//! - requests: the repository's files ([`SourceRepo::deployments`], [`SourceRepo::deployment`]);
//!   environments and the promotion order from `gitops.toml` and `environments/`;
//! - deployments and tombstones: the `deploy/` and `destroyed/` tags, parsed by
//!   [`crate::records::deployment::histories`] (the history `gitops-tag history`, rollback and
//!   destroy read, for every deployment at once);
//! - certification: [`crate::certify::status::package_states`] (the state `gitops-certify status`
//!   prints, module tags resolved through the module cache without fetching again) and the records
//!   of [`crate::certify::matrix::rows`];
//! - orphans with a live record and no request: [`crate::lifecycle::orphans::find_among`];
//! - dependencies: the `[dependencies]` of the requests (deployment -> what it depends on);
//! - drift: the `drift.json` a drift check (`gitops-plan --drift`) leaves in the rendered
//!   directory, read from `<drift-dir>/<env>/<name>/drift.json`: the layout of a drift run that
//!   rendered the fleet into `<drift-dir>` (`gitops-render --all --out <drift-dir>`, then
//!   `gitops-plan --drift` of each directory), and of the stashes `gitopsPipeline` collects.
//!
//! State (local backend only): the state file is where the backend template of `gitops.toml`
//! puts it (`{env}`, `{name}`, `{component}`, `{state_dir}`), read as JSON, never locked or
//! written. Beside it: the deployment lock `<state>.gitops.lock` (`exec/lock.rs`), held when the
//! kernel says its file is locked (`/proc/locks`; opening it to try the lock could make a
//! concurrent run with `--lock-timeout 0` fail), and the apply log `<state>.gitops-apply.log`
//! (`plan/recovery.rs`, Terraform's output already masked). A relative state path (relative to a
//! rendered directory this report does not know), `{state_dir}` without a state directory, a
//! workspace other than `default`, and the s3 and azurerm backends give
//! [`StateStatus::Unknown`]: reading remote state needs Terraform and the environment's
//! credentials.

use super::model::*;
use crate::certify::{matrix, status};
use crate::error::{ConfigError, Result};
use crate::exec::git::GitRepo;
use crate::exec::modcache::ModuleCache;
use crate::lifecycle::orphans;
use crate::model::sot::{DeploymentId, SourceRepo};
use crate::model::{BackendKind, Deployment, Environment};
use crate::plan::recovery::APPLY_LOG;
use crate::records::deployment::{self as meta, DeploymentRecord};
use crate::report::{Deferred, Reporter};
use crate::time::{rfc3339, Precision};
use rayon::prelude::*;
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The file of a drift check, in each deployment's directory under `--drift-dir`.
pub const DRIFT_FILE: &str = "drift.json";
/// Suffix of the deployment lock beside a local state (`plan::rendered::RenderedDir::lock`).
pub const LOCK_SUFFIX: &str = ".gitops.lock";
/// A last failure is cut to this many characters.
pub const FAILURE_CHARS: usize = 200;
/// At most this many deployments in [`FleetReport::oldest`].
pub const OLDEST: usize = 10;

/// What the report is collected from.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    /// The source-of-truth repository.
    pub repo: PathBuf,
    /// `{state_dir}` of the backend template (`--state-dir`, `GITOPS_STATE_DIR`), absolute.
    pub state_dir: Option<PathBuf>,
    /// The module cache (certification states resolve module tags through it).
    pub cache_dir: PathBuf,
    /// Where a drift run left its `<env>/<name>/drift.json` files.
    pub drift_dir: Option<PathBuf>,
    /// The moment ages are computed against (and `generated_at`).
    pub now: SystemTime,
}

/// One deployment while it is collected.
struct Draft {
    id: DeploymentId,
    request: Option<Deployment>,
    history: Vec<DeploymentRecord>,
}

impl Draft {
    /// The last record when it is a deployment (not ended by a tombstone).
    fn live(&self) -> Option<&DeploymentRecord> {
        self.history.last().filter(|r| !r.meta.destroyed)
    }
    fn tombstone(&self) -> Option<&DeploymentRecord> {
        self.history.last().filter(|r| r.meta.destroyed)
    }
    /// The last `deploy/` record, even when a tombstone followed it.
    fn last_deploy(&self) -> Option<&DeploymentRecord> {
        self.history.iter().rev().find(|r| !r.meta.destroyed)
    }
}

/// `component@version` -> (component, version).
fn split_package(package: &str) -> (String, String) {
    match package.split_once('@') {
        Some((c, v)) => (c.to_owned(), v.to_owned()),
        None => (package.to_owned(), String::new()),
    }
}

/// Semver order; versions that are not semver sort by text (as `sot::version_stems`).
pub fn version_cmp(a: &str, b: &str) -> Ordering {
    match (semver::Version::parse(a), semver::Version::parse(b)) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// Collects the report of the repository at `opts.repo`. Invalid input (a request, environment
/// or record that does not parse, not a git repository) is the usual exit 2; problems of one
/// deployment's state, lock or drift file are warnings and show as unknown.
pub fn collect(opts: &CollectOptions, reporter: &dyn Reporter) -> Result<FleetReport> {
    let repo = SourceRepo::open(&opts.repo)?;
    let (commit, dirty) = repo.head()?;
    if dirty {
        reporter.warning(&format!(
            "{}: the work tree differs from HEAD ({}); requests are read from the work tree",
            repo.root.display(),
            crate::model::names::short_id(&commit, 12)
        ));
    }
    let git = GitRepo::open(&repo)?;

    // Every deployment: a request, or a deploy/ or destroyed/ tag.
    // Read in parallel; the first bad file in the repository's order is the error.
    let read: Vec<_> = repo
        .deployments()?
        .into_par_iter()
        .map(|id| repo.deployment(&id).map(|(d, _)| (id, d)))
        .collect();
    let mut requests: BTreeMap<DeploymentId, Deployment> = BTreeMap::new();
    for r in read {
        let (id, d) = r?;
        requests.insert(id, d);
    }
    // What the requests declare: each deployment -> each deployment it depends on.
    let dependencies: Vec<DependencyEdge> = requests
        .iter()
        .flat_map(|(id, d)| {
            d.dependencies.values().map(move |name| DependencyEdge {
                from: id.to_string(),
                to: format!("{}/{name}", id.env),
            })
        })
        .collect();
    let mut histories = meta::histories(&git)?;
    let found_orphans = orphans::find_among(&repo, None, &histories)?;
    let mut ids: BTreeSet<DeploymentId> = requests.keys().cloned().collect();
    ids.extend(histories.keys().cloned());
    let mut drafts = Vec::new();
    for id in ids {
        drafts.push(Draft {
            request: requests.remove(&id),
            history: histories.remove(&id).unwrap_or_default(),
            id,
        });
    }

    let (environments, env_files) = environments(&repo, &drafts)?;
    let env_pos = |env: &str| {
        environments
            .iter()
            .position(|e| e.name == env)
            .unwrap_or(usize::MAX)
    };
    drafts.sort_by(|a, b| {
        env_pos(&a.id.env)
            .cmp(&env_pos(&b.id.env))
            .then_with(|| a.id.cmp(&b.id))
    });
    let protected: BTreeMap<&str, bool> = environments
        .iter()
        .map(|e| (e.name.as_str(), e.protected))
        .collect();

    // Certification: the state of every package, and the records.
    let cache = ModuleCache::new(opts.cache_dir.clone(), false);
    let packages = status::package_states(&repo, &cache)?;
    cache.report_warnings(reporter);
    let records = matrix::rows(&repo, None)?;
    let cert: BTreeMap<(String, String), CertState> = packages
        .iter()
        .map(|p| {
            (
                (p.component.clone(), p.version.clone()),
                cert_state(&p.state),
            )
        })
        .collect();

    let now = opts.now;
    // Each row reads its own files (state, lock, apply log, drift): in parallel, each row's
    // warnings kept and said in the rows' order; a reason a state cannot be placed, once.
    let done: Vec<(DeploymentRow, Option<String>, Deferred)> = drafts
        .par_iter()
        .map(|d| {
            let notes = Deferred::default();
            let env = env_files.get(&d.id.env);
            let (r, why) = row(&repo, opts, d, env, &cert, now, &notes);
            (r, why, notes)
        })
        .collect();
    let mut warned = BTreeSet::new();
    let mut rows = Vec::with_capacity(done.len());
    for (r, why, notes) in done {
        if let Some(why) = why {
            if warned.insert(why.clone()) {
                reporter.warning(&why);
            }
        }
        notes.replay(reporter);
        rows.push(r);
    }

    let orphans = orphan_rows(found_orphans, &drafts, &rows, &env_pos)?;
    let components = components(&repo, &environments, &rows);
    let certifications = certifications(&packages, &records, &rows);
    let resources_by_environment = environments
        .iter()
        .map(|e| {
            let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
            for r in rows.iter().filter(|r| r.environment == e.name) {
                for (t, n) in &r.resources {
                    *by_type.entry(t.clone()).or_default() += n;
                }
            }
            EnvironmentResources {
                environment: e.name.clone(),
                total: by_type.values().sum(),
                by_type,
            }
        })
        .collect();
    let mut oldest: Vec<AgeRow> = rows
        .iter()
        .filter_map(|r| {
            Some(AgeRow {
                id: r.id.clone(),
                age_days: r.age_days?,
                record: r.deployed.as_ref()?.record.clone(),
            })
        })
        .collect();
    oldest.sort_by(|a, b| b.age_days.cmp(&a.age_days).then_with(|| a.id.cmp(&b.id)));
    oldest.truncate(OLDEST);
    let mut at_risk: Vec<RiskRow> = rows
        .iter()
        .filter(|r| r.certification != CertState::Valid)
        .filter_map(|r| {
            Some(RiskRow {
                id: r.id.clone(),
                version: r.deployed.as_ref()?.version.clone(),
                certification: r.certification,
                protected: protected.get(r.environment.as_str()).copied() == Some(true),
            })
        })
        .collect();
    // Rows come in environment order: a stable sort keeps it within each group.
    at_risk.sort_by_key(|r| !r.protected);

    let totals = Totals {
        deployments: rows.len(),
        deployed: rows.iter().filter(|r| r.deployed.is_some()).count(),
        resources: rows.iter().map(|r| r.resource_total).sum(),
        drifted: rows
            .iter()
            .filter(|r| r.drift.status == DriftStatus::Drift)
            .count(),
        orphans: orphans.len(),
        at_risk: at_risk.len(),
        locked: rows.iter().filter(|r| r.lock.is_some()).count(),
    };
    Ok(FleetReport {
        generated_at: rfc3339(now, Precision::Seconds),
        repo: opts.repo.display().to_string(),
        commit,
        environments,
        deployments: rows,
        components,
        orphans,
        certifications,
        resources_by_environment,
        oldest,
        at_risk,
        dependencies,
        totals,
    })
}

/// `gitops-certify status`'s state name as the report's state (`uncertified` and `invalid`, a
/// package whose modules do not resolve, are no valid record: none).
fn cert_state(name: &str) -> CertState {
    match name {
        "certified" => CertState::Valid,
        "stale" => CertState::Stale,
        "revoked" => CertState::Revoked,
        _ => CertState::None,
    }
}

/// The environments in promotion order, then the others by name. Certification environments
/// are left out unless a deployment lives there; an environment with deployments but no file
/// is listed with an empty cloud. With them, the environments read from their files, by name.
fn environments(
    repo: &SourceRepo,
    drafts: &[Draft],
) -> Result<(Vec<EnvironmentInfo>, BTreeMap<String, Environment>)> {
    let promotion = &repo.config.promotion;
    let files = repo.environment_names();
    let used: BTreeSet<&str> = drafts.iter().map(|d| d.id.env.as_str()).collect();
    let mut names: Vec<String> = promotion.clone();
    let mut rest: BTreeSet<String> = files.iter().cloned().collect();
    rest.extend(used.iter().map(|s| (*s).to_owned()));
    for c in &repo.config.certification.environments {
        if !used.contains(c.as_str()) {
            rest.remove(c);
        }
    }
    names.extend(rest.into_iter().filter(|n| !promotion.contains(n)));
    let mut out = Vec::new();
    let mut read = BTreeMap::new();
    for name in names {
        let (cloud, protected) = if files.contains(&name) {
            let (env, _) = repo.environment(&name, |known| {
                ConfigError::new(
                    format!("environments/{name}.toml"),
                    None,
                    "no such file",
                    known,
                )
            })?;
            let info = (env.cloud.to_string(), env.protected);
            read.insert(name.clone(), env);
            info
        } else {
            (String::new(), false)
        };
        out.push(EnvironmentInfo {
            promotion_index: promotion.iter().position(|p| *p == name),
            name,
            cloud,
            protected,
        });
    }
    Ok((out, read))
}

/// One row of the deployments table, and why its state cannot be placed (said once per reason
/// by the caller, not once per row).
fn row(
    repo: &SourceRepo,
    opts: &CollectOptions,
    d: &Draft,
    env: Option<&Environment>,
    cert: &BTreeMap<(String, String), CertState>,
    now: SystemTime,
    reporter: &dyn Reporter,
) -> (DeploymentRow, Option<String>) {
    let id = d.id.to_string();
    let deployed = d.live().map(|r| {
        let (component, version) = split_package(&r.meta.package);
        DeployedInfo {
            record: r.tag.clone(),
            sequence: u64::from(r.seq),
            component,
            version,
            time: r.meta.time.clone(),
            build: r.meta.build_tag.clone(),
            commit: r.commit.clone(),
            approved_by: r.meta.approved_by.clone(),
        }
    });
    let last = d.last_deploy().map(|r| split_package(&r.meta.package));
    let component = d
        .request
        .as_ref()
        .map(|r| r.component.clone())
        .or_else(|| last.as_ref().map(|l| l.0.clone()));
    let profile = d
        .request
        .as_ref()
        .map(|r| r.profile.clone())
        .or_else(|| d.last_deploy().map(|r| r.meta.profile.clone()));
    let requested_version = d.request.as_ref().map(|r| r.package.clone());
    let pending = match (&requested_version, &deployed) {
        (Some(want), Some(have)) => *want != have.version,
        (Some(_), None) => true,
        (None, _) => false,
    };
    let age_days = deployed
        .as_ref()
        .and_then(|x| unix_seconds(&x.time))
        .map(|t| age_in_days(t, now));
    // The certification of what runs, else of what is asked for.
    let certified = deployed
        .as_ref()
        .map(|x| (x.component.clone(), x.version.clone()))
        .or_else(|| {
            d.request
                .as_ref()
                .map(|r| (r.component.clone(), r.package.clone()))
        });
    let certification = certified
        .and_then(|k| cert.get(&k).copied())
        .unwrap_or(CertState::None);

    let mut state = StateStatus::Unknown;
    let mut resources = BTreeMap::new();
    let mut lock = None;
    let mut last_failure = None;
    let mut unplaced = None;
    match state_path(
        repo,
        opts.state_dir.as_deref(),
        &d.id,
        env,
        component.as_deref(),
    ) {
        Ok(path) => {
            (state, resources) = read_state(&path, &id, reporter);
            lock = lock_info(&PathBuf::from(format!("{}{LOCK_SUFFIX}", path.display())));
            if lock.is_none() {
                last_failure =
                    last_failure_of(&PathBuf::from(format!("{}{APPLY_LOG}", path.display())));
            }
        }
        Err(why) => unplaced = why,
    }
    let drift = drift_of(
        opts.drift_dir.as_deref(),
        &d.id,
        deployed.as_ref(),
        reporter,
    );
    let row = DeploymentRow {
        environment: d.id.env.clone(),
        name: d.id.name.clone(),
        id,
        component,
        profile,
        requested_version,
        deployed,
        pending,
        age_days,
        resource_total: resources.values().sum(),
        resources,
        state,
        certification,
        drift,
        lock,
        last_failure,
    };
    (row, unplaced)
}

/// Whole days from `t` (seconds since the epoch) to `now`; 0 for a time in the future.
fn age_in_days(t: i64, now: SystemTime) -> u64 {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    u64::try_from(now.saturating_sub(t)).unwrap_or(0) / 86_400
}

/// Seconds since the epoch of an RFC 3339 UTC time as the records write it
/// (`2026-03-01T10:00:00.123Z`; an offset `+hh:mm` is accepted too).
pub fn unix_seconds(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(r)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut rest = t.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6
            && (o.starts_with('+') || o.starts_with('-'))
            && o.get(3..4) == Some(":") =>
        {
            let h: i64 = o.get(1..3)?.parse().ok()?;
            let mi: i64 = o.get(4..6)?.parse().ok()?;
            let s = (h * 60 + mi) * 60;
            if o.starts_with('+') {
                s
            } else {
                -s
            }
        }
        _ => return None,
    };
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss - offset)
}

/// (year, month, day) -> days since 1970-01-01 (Howard Hinnant's `days_from_civil`, the inverse
/// of [`crate::time::civil_from_days`]).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The local state file of a deployment, from the backend template of `gitops.toml` as render
/// fills it in. `Err(None)`: not a local backend (nothing to say); `Err(Some(why))`: a local
/// backend whose state this report cannot place (warned once per reason).
fn state_path(
    repo: &SourceRepo,
    state_dir: Option<&Path>,
    id: &DeploymentId,
    env: Option<&Environment>,
    component: Option<&str>,
) -> std::result::Result<PathBuf, Option<String>> {
    let Some(env) = env else {
        // No environment file: neither its backend nor its placeholders are known.
        return Err(None);
    };
    let (backend, at) = repo.config.backend_for(&id.env, env.cloud);
    let at = at.join(".");
    if backend.kind != BackendKind::Local {
        return Err(None);
    }
    if std::env::var("TF_WORKSPACE").is_ok_and(|w| !w.is_empty() && w != "default") {
        return Err(Some(
            "TF_WORKSPACE is not the default workspace: the local state is not read".into(),
        ));
    }
    let Some(template) = backend.config.get("path") else {
        return Err(Some(format!(
            "gitops.toml: the local backend {at} has no path: each state is terraform.tfstate \
             in its rendered directory, which this report does not know; the states are not read"
        )));
    };
    // The render's own rule (render::backend_settings), so the report reads the state the
    // rendered backend names.
    let vars = crate::render::BackendVars {
        id,
        component: component.unwrap_or(""),
        env,
        state_dir,
    };
    let settings = crate::render::backend_settings(backend, &vars).map_err(|_| {
        Some(format!(
            "gitops.toml: {at}.config.path {template} uses {{state_dir}}, but no state \
             directory is set (--state-dir DIR or GITOPS_STATE_DIR): the states are not read"
        ))
    })?;
    let path = PathBuf::from(
        settings
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    );
    if path.is_relative() {
        return Err(Some(format!(
            "gitops.toml: {at}.config.path {template} is relative to each rendered \
             directory, which this report does not know: the states are not read"
        )));
    }
    Ok(path)
}

/// Reads a local state file: its managed resource instances by type.
fn read_state(
    path: &Path,
    id: &str,
    reporter: &dyn Reporter,
) -> (StateStatus, BTreeMap<String, usize>) {
    let mut out = BTreeMap::new();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (StateStatus::None, out),
        Err(e) => {
            reporter.warning(&format!("{id}: {}: {e}", path.display()));
            return (StateStatus::Unknown, out);
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return (StateStatus::None, out);
    }
    // Only what is counted is kept: a state's attributes are most of its bytes.
    #[derive(serde::Deserialize)]
    struct State {
        #[allow(dead_code)] // required: a JSON object without it is not a state
        lineage: String,
        #[serde(default)]
        resources: Vec<Resource>,
    }
    #[derive(serde::Deserialize)]
    struct Resource {
        #[serde(default)]
        mode: String,
        #[serde(rename = "type", default)]
        kind: String,
        #[serde(default)]
        instances: Vec<serde::de::IgnoredAny>,
    }
    let state: State = match serde_json::from_slice(&bytes) {
        Ok(s) => s,
        _ => {
            reporter.warning(&format!(
                "{id}: {} is not a Terraform state (damaged?): gitops-plan says how to recover",
                path.display()
            ));
            return (StateStatus::Unknown, out);
        }
    };
    for r in state.resources {
        if r.mode != "managed" {
            continue;
        }
        let n = r.instances.len();
        if n > 0 {
            let kind = if r.kind.is_empty() {
                "?".to_owned()
            } else {
                r.kind
            };
            *out.entry(kind).or_default() += n;
        }
    }
    (StateStatus::Read, out)
}

/// The deployment lock at `path`, when it is held: its file exists and the kernel lists a lock
/// on it. Read-only: the lock is never tried (a concurrent run must not see it held by us).
fn lock_info(path: &Path) -> Option<LockInfo> {
    let text = crate::exec::lock::held_by(path)?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let field = |k: &str| match &v[k] {
        Value::String(s) => s.clone(),
        Value::Null => "?".to_owned(),
        other => other.to_string(),
    };
    let holder = if v.is_object() {
        format!(
            "{} (pid {} on {}, user {}, build {})",
            field("command"),
            field("pid"),
            field("host"),
            field("user"),
            field("build_tag")
        )
    } else {
        "another process".to_owned()
    };
    let since = v["since_unix"].as_u64().map(|s| {
        rfc3339(
            UNIX_EPOCH + std::time::Duration::from_secs(s),
            Precision::Seconds,
        )
    });
    Some(LockInfo { holder, since })
}

/// The last failed apply: the apply log of the last apply (each apply starts it anew) when it
/// never printed Terraform's `Apply complete!` (or `Destroy complete!`): its last non-empty line,
/// cut to [`FAILURE_CHARS`] characters. The log holds Terraform's standard output, masked.
fn last_failure_of(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    failure_in(&text)
}

fn failure_in(text: &str) -> Option<String> {
    let done = text.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("Apply complete!") || l.starts_with("Destroy complete!")
    });
    if done {
        return None;
    }
    let last = text.lines().rev().map(str::trim).find(|l| !l.is_empty())?;
    Some(last.chars().take(FAILURE_CHARS).collect())
}

/// The drift of a deployment from `<dir>/<env>/<name>/drift.json`. Unknown when there is none,
/// when it is not about this deployment, or when it checked another record than the one
/// deployed now (a deployment since the drift run).
fn drift_of(
    dir: Option<&Path>,
    id: &DeploymentId,
    deployed: Option<&DeployedInfo>,
    reporter: &dyn Reporter,
) -> DriftInfo {
    let unknown = DriftInfo {
        status: DriftStatus::Unknown,
        changes: None,
        checked_at: None,
    };
    let Some(dir) = dir else { return unknown };
    let path = dir.join(&id.env).join(&id.name).join(DRIFT_FILE);
    let Ok(bytes) = std::fs::read(&path) else {
        return unknown;
    };
    let v: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            reporter.warning(&format!(
                "{}: not JSON ({e}); drift unknown",
                path.display()
            ));
            return unknown;
        }
    };
    if v["deployment"].as_str() != Some(id.to_string().as_str()) {
        reporter.warning(&format!(
            "{}: the drift check of {} is not about {id}; drift unknown",
            path.display(),
            v["deployment"]
        ));
        return unknown;
    }
    let checked = v["record"]["tag"].as_str();
    if checked.is_some() && checked != deployed.map(|d| d.record.as_str()) {
        return unknown;
    }
    let status = match v["status"].as_str() {
        Some("in_sync") => DriftStatus::InSync,
        Some("drift") => DriftStatus::Drift,
        _ => return unknown,
    };
    let checked_at = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .ok()
        .map(|t| rfc3339(t, Precision::Seconds));
    DriftInfo {
        status,
        changes: Some(v["resources"].as_array().map_or(0, Vec::len)),
        checked_at,
    }
}

/// The three kinds of orphans, by environment order, then deployment and kind.
fn orphan_rows(
    found: Vec<orphans::Orphan>,
    drafts: &[Draft],
    rows: &[DeploymentRow],
    env_pos: &dyn Fn(&str) -> usize,
) -> Result<Vec<OrphanRow>> {
    let by_id: BTreeMap<&str, &DeploymentRow> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
    let in_state = |id: &str| {
        by_id
            .get(id)
            .filter(|r| r.state == StateStatus::Read && r.resource_total > 0)
            .map(|r| format!("{} resources in the state", r.resource_total))
    };
    let mut out = Vec::new();
    for o in found {
        let mut detail = match (&o.last_deploy, &o.package) {
            (Some(tag), Some(p)) => format!("{tag} ({p}), no request at HEAD"),
            _ => o.reason.clone(),
        };
        if let Some(s) = in_state(&o.deployment) {
            detail.push_str(&format!("; {s}"));
        }
        out.push(OrphanRow {
            id: o.deployment,
            kind: OrphanKind::StateWithoutRequest,
            detail,
        });
    }
    for d in drafts {
        let id = d.id.to_string();
        let Some(row) = by_id.get(id.as_str()) else {
            continue;
        };
        if let (Some(t), Some(s)) = (d.tombstone(), in_state(&id)) {
            out.push(OrphanRow {
                id: id.clone(),
                kind: OrphanKind::DestroyedWithStateLeft,
                detail: format!("{}; {s}", t.tag),
            });
        }
        if d.request.is_some() && d.last_deploy().is_none() && in_state(&id).is_none() {
            let state = match row.state {
                StateStatus::Unknown => "state not read",
                _ => "no state",
            };
            out.push(OrphanRow {
                id,
                kind: OrphanKind::RequestNeverApplied,
                detail: format!("no deploy/ record, {state}"),
            });
        }
    }
    let rank = |k: OrphanKind| match k {
        OrphanKind::StateWithoutRequest => 0,
        OrphanKind::DestroyedWithStateLeft => 1,
        OrphanKind::RequestNeverApplied => 2,
    };
    out.sort_by(|a, b| {
        let env = |id: &str| env_pos(id.split('/').next().unwrap_or(""));
        env(&a.id)
            .cmp(&env(&b.id))
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| rank(a.kind).cmp(&rank(b.kind)))
    });
    Ok(out)
}

/// Per component: the versions deployed in each environment, and what waits for promotion: a
/// version running in an environment of the promotion order, not in the next one, and newer
/// than every version there (an older one was overtaken, it does not wait).
fn components(
    repo: &SourceRepo,
    environments: &[EnvironmentInfo],
    rows: &[DeploymentRow],
) -> Vec<ComponentRow> {
    let mut names: BTreeSet<String> = rows.iter().filter_map(|r| r.component.clone()).collect();
    names.extend(
        rows.iter()
            .filter_map(|r| Some(r.deployed.as_ref()?.component.clone())),
    );
    let mut out = Vec::new();
    for component in names {
        let versions_in = |env: &str| -> Vec<String> {
            let mut v: Vec<String> = rows
                .iter()
                .filter(|r| r.environment == env)
                .filter_map(|r| r.deployed.as_ref())
                .filter(|d| d.component == component)
                .map(|d| d.version.clone())
                .collect();
            v.sort_by(|a, b| version_cmp(a, b));
            v.dedup();
            v
        };
        let cells: Vec<VersionCell> = environments
            .iter()
            .map(|e| VersionCell {
                environment: e.name.clone(),
                versions: versions_in(&e.name),
            })
            .collect();
        let mut waiting = Vec::new();
        for pair in repo.config.promotion.windows(2) {
            let (from, to) = (&pair[0], &pair[1]);
            let there = versions_in(to);
            for v in versions_in(from) {
                let waits = !there.contains(&v)
                    && there
                        .iter()
                        .all(|t| version_cmp(&v, t) == Ordering::Greater);
                if waits {
                    waiting.push(PromotionWait {
                        version: v,
                        from: from.clone(),
                        to: to.clone(),
                    });
                }
            }
        }
        out.push(ComponentRow {
            component,
            cells,
            waiting,
        });
    }
    out
}

/// The certification matrix: every package version with a record or a revocation (its state as
/// `gitops-certify status` gives it), and the records of package files since deleted (stale,
/// or revoked when a revocation hits them).
fn certifications(
    packages: &[status::PackageStatus],
    records: &[matrix::Row],
    rows: &[DeploymentRow],
) -> Vec<CertificationRow> {
    let record_of = |c: &str, v: &str| records.iter().find(|r| r.component == c && r.version == v);
    let used_by = |c: &str, v: &str| {
        rows.iter()
            .filter(|r| {
                let (rc, rv) = match &r.deployed {
                    Some(d) => (Some(d.component.as_str()), Some(d.version.as_str())),
                    None => (r.component.as_deref(), r.requested_version.as_deref()),
                };
                rc == Some(c) && rv == Some(v)
            })
            .count()
    };
    let mut out = Vec::new();
    for p in packages {
        let state = cert_state(&p.state);
        let record = record_of(&p.component, &p.version);
        if record.is_none() && state != CertState::Revoked {
            continue;
        }
        out.push(CertificationRow {
            profiles: record.map(|r| r.profiles.clone()).unwrap_or_default(),
            certified_at: record.map(|r| r.certified.clone()),
            revoked_reason: (state == CertState::Revoked).then(|| match record {
                Some(r) if !r.revoked.is_empty() => r.revoked.join("; "),
                _ => p.detail.clone(),
            }),
            used_by: used_by(&p.component, &p.version),
            component: p.component.clone(),
            version: p.version.clone(),
            state,
        });
    }
    for r in records {
        let has_file = packages
            .iter()
            .any(|p| p.component == r.component && p.version == r.version);
        if has_file {
            continue;
        }
        let revoked = !r.revoked.is_empty();
        out.push(CertificationRow {
            component: r.component.clone(),
            version: r.version.clone(),
            state: if revoked {
                CertState::Revoked
            } else {
                CertState::Stale
            },
            profiles: r.profiles.clone(),
            certified_at: Some(r.certified.clone()),
            revoked_reason: revoked.then(|| r.revoked.join("; ")),
            used_by: used_by(&r.component, &r.version),
        });
    }
    out.sort_by(|a, b| {
        a.component
            .cmp(&b.component)
            .then_with(|| version_cmp(&a.version, &b.version))
    });
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::exec::lock::{holder_text, DeploymentLock};
    use std::time::Duration;

    /// A source-of-truth repository with requests, records and one state, no Terraform.
    fn fleet_repo() -> (tempfile::TempDir, PathBuf, PathBuf) {
        use crate::test_support::git;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let files = [
            (
                "gitops.toml",
                "promotion = [\"dev\", \"prod\"]\n[module_roots]\nsandbox = \"../modules\"\n\
                 [backend]\ntype = \"local\"\n[backend.config]\npath = \"{state_dir}/{env}/{name}.tfstate\"\n\
                 [certification]\nenvironments = [\"certify\"]\n",
            ),
            (
                "environments/dev.toml",
                "cloud = \"sandbox\"\nregion = \"r\"\naccount = \"a\"\nprotected = false\n",
            ),
            (
                "environments/prod.toml",
                "cloud = \"sandbox\"\nregion = \"r\"\naccount = \"a\"\nprotected = true\n",
            ),
            (
                "environments/certify.toml",
                "cloud = \"sandbox\"\nregion = \"r\"\naccount = \"a\"\nprotected = false\n",
            ),
            (
                "deployments/dev/web.toml",
                "component = \"web\"\npackage = \"1.2.0\"\nprofile = \"internal-tooling\"\n",
            ),
            (
                "deployments/prod/web.toml",
                "component = \"web\"\npackage = \"1.0.0\"\nprofile = \"internal-tooling\"\n",
            ),
            (
                "deployments/prod/api.toml",
                "component = \"api\"\npackage = \"2.0.0\"\nprofile = \"internal-tooling\"\n",
            ),
        ];
        for (rel, text) in files {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        git(&root, &["init", "-q"]);
        git(&root, &["add", "."]);
        git(&root, &["commit", "-q", "-m", "fleet"]);
        let record = |tag: &str, package: &str, time: &str, destroyed: bool| {
            let (_, env, name) = {
                let p: Vec<&str> = tag.split('/').collect();
                (p[0], p[1], p[2])
            };
            let m = crate::records::deployment::DeployMeta {
                deployment: format!("{env}/{name}"),
                package: package.into(),
                profile: "internal-tooling".into(),
                build_tag: "b".into(),
                time: time.into(),
                destroyed,
                ..Default::default()
            };
            git(&root, &["tag", "-a", tag, "-m", &m.message()]);
        };
        record(
            "deploy/dev/web/1",
            "web@1.1.0",
            "2026-01-01T00:00:00.000Z",
            false,
        );
        record(
            "deploy/dev/web/2",
            "web@1.2.0",
            "2026-02-01T00:00:00.000Z",
            false,
        );
        record(
            "deploy/prod/web/1",
            "web@1.0.0",
            "2025-06-01T00:00:00.000Z",
            false,
        );
        record(
            "deploy/dev/old/1",
            "web@0.9.0",
            "2025-01-01T00:00:00.000Z",
            false,
        );
        record(
            "destroyed/dev/old/1",
            "web@0.9.0",
            "2025-02-01T00:00:00.000Z",
            true,
        );
        let state = dir.path().join("state");
        std::fs::create_dir_all(state.join("dev")).unwrap();
        std::fs::write(
            state.join("dev/web.tfstate"),
            r#"{"version": 4, "serial": 1, "lineage": "l", "resources": [
                {"mode": "managed", "type": "terraform_data", "instances": [{}, {}]}]}"#,
        )
        .unwrap();
        (dir, root, state)
    }

    #[test]
    fn fleet_collect_reads_requests_records_and_state_in_promotion_order() {
        let (dir, root, state) = fleet_repo();
        let opts = CollectOptions {
            repo: root.clone(),
            state_dir: Some(state.clone()),
            cache_dir: dir.path().join("cache"),
            drift_dir: None,
            now: UNIX_EPOCH + Duration::from_secs(1_772_359_200), // 2026-03-01T10:00:00Z
        };
        let said = crate::report::Collect::default();
        let r = collect(&opts, &said).unwrap();
        assert_eq!(r.generated_at, "2026-03-01T10:00:00Z");
        let envs: Vec<&str> = r.environments.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(envs, ["dev", "prod"], "certify has no deployment");
        let ids: Vec<&str> = r.deployments.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["dev/old", "dev/web", "prod/api", "prod/web"]);
        let web = &r.deployments[1];
        let deployed = web.deployed.as_ref().unwrap();
        assert_eq!(
            (deployed.record.as_str(), deployed.version.as_str()),
            ("deploy/dev/web/2", "1.2.0")
        );
        assert_eq!(web.age_days, Some(28));
        assert!(!web.pending);
        assert_eq!(web.state, StateStatus::Read);
        assert_eq!(web.resource_total, 2);
        assert_eq!(web.certification, CertState::None);
        let old = &r.deployments[0];
        assert!(old.deployed.is_none() && old.requested_version.is_none());
        assert_eq!(
            old.component.as_deref(),
            Some("web"),
            "from its last record"
        );
        assert_eq!(r.deployments[2].state, StateStatus::None);

        // 1.2.0 runs in dev, not in prod (which runs the older 1.0.0): it waits.
        let web_c = r.components.iter().find(|c| c.component == "web").unwrap();
        assert_eq!(web_c.cells[0].versions, ["1.2.0"]);
        assert_eq!(web_c.cells[1].versions, ["1.0.0"]);
        assert_eq!(web_c.waiting.len(), 1);
        assert_eq!(
            (
                web_c.waiting[0].version.as_str(),
                web_c.waiting[0].to.as_str()
            ),
            ("1.2.0", "prod")
        );

        let orphans: Vec<(&str, OrphanKind)> =
            r.orphans.iter().map(|o| (o.id.as_str(), o.kind)).collect();
        assert_eq!(orphans, [("prod/api", OrphanKind::RequestNeverApplied)]);
        // Deployed and not certified: prod first.
        let risk: Vec<&str> = r.at_risk.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(risk, ["prod/web", "dev/web"]);
        assert!(r.at_risk[0].protected);
        let oldest: Vec<&str> = r.oldest.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(oldest, ["prod/web", "dev/web"]);
        assert_eq!(r.totals.deployments, 4);
        assert_eq!(r.totals.deployed, 2);
        assert_eq!(r.totals.resources, 2);
        assert!(said.lines().is_empty(), "{:?}", said.lines());

        // Stable: collected again, the same JSON apart from when.
        let again = collect(&opts, &said).unwrap();
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::to_value(&again).unwrap()
        );

        // Without a state directory: the states are unknown, said once.
        let r = collect(
            &CollectOptions {
                state_dir: None,
                ..opts
            },
            &said,
        )
        .unwrap();
        assert!(r
            .deployments
            .iter()
            .all(|d| d.state == StateStatus::Unknown));
        let lines = said.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("no state directory is set"), "{lines:?}");
        // The never applied request: no record, its state not read.
        assert_eq!(r.orphans[0].detail, "no deploy/ record, state not read");
    }

    #[test]
    fn fleet_times_parse_as_the_records_write_them() {
        let t = UNIX_EPOCH + Duration::from_millis(1_772_359_200_123);
        let text = crate::records::deployment::rfc3339(t);
        assert_eq!(unix_seconds(&text), Some(1_772_359_200));
        assert_eq!(unix_seconds("2026-03-01T10:00:00Z"), Some(1_772_359_200));
        assert_eq!(
            unix_seconds("2026-03-01T12:00:00+02:00"),
            Some(1_772_359_200)
        );
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(unix_seconds("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        for bad in ["", "yesterday", "2026-13-01T00:00:00Z", "2026-03-01 10:00"] {
            assert_eq!(unix_seconds(bad), None, "{bad}");
        }
        let now = UNIX_EPOCH + Duration::from_secs(1_772_359_200 + 3 * 86_400 + 5);
        assert_eq!(age_in_days(1_772_359_200, now), 3);
        assert_eq!(age_in_days(1_772_359_200 + 10 * 86_400, now), 0, "future");
    }

    #[test]
    fn fleet_versions_sort_by_semver_then_text() {
        let mut v = vec!["1.10.0", "1.2.0", "x", "1.9.1"];
        v.sort_by(|a, b| version_cmp(a, b));
        assert_eq!(v, ["1.2.0", "1.9.1", "1.10.0", "x"]);
    }

    #[test]
    fn fleet_last_failure_is_the_last_line_of_an_apply_that_did_not_complete() {
        let ok = "# gitops-apply dev/x: apply started\nmodule.a: Creating...\n\nApply complete! Resources: 1 added, 0 changed, 0 destroyed.\n\nOutputs:\n\nurl = \"x\"\n";
        assert_eq!(failure_in(ok), None);
        let failed = "# gitops-apply dev/x: apply started\nmodule.a: Creating...\nmodule.a: Still creating... [10s elapsed]\n\n";
        assert_eq!(
            failure_in(failed).as_deref(),
            Some("module.a: Still creating... [10s elapsed]")
        );
        let long = format!("# header\n{}\n", "é".repeat(300));
        assert_eq!(
            failure_in(&long).unwrap().chars().count(),
            FAILURE_CHARS,
            "cut on a character boundary"
        );
        assert_eq!(failure_in(""), None);
    }

    #[test]
    fn fleet_lock_is_held_only_while_its_file_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.tfstate.gitops.lock");
        assert!(lock_info(&path).is_none(), "no file");
        let held =
            DeploymentLock::acquire(&path, Duration::ZERO, &holder_text("gitops-apply", "dev/x"))
                .unwrap();
        let info = lock_info(&path).unwrap();
        assert!(
            info.holder.starts_with("gitops-apply (pid ")
                && info.holder.contains(&std::process::id().to_string()),
            "{info:?}"
        );
        assert!(info.since.is_some());
        // Looking did not take or disturb it.
        assert!(DeploymentLock::acquire(&path, Duration::ZERO, "{}").is_err());
        drop(held);
        assert!(lock_info(&path).is_none(), "released");
        // A file left by a killed run, locked by nobody: not held.
        std::fs::write(&path, holder_text("gitops-plan", "dev/x")).unwrap();
        assert!(lock_info(&path).is_none(), "left, not held");
    }

    #[test]
    fn fleet_state_counts_managed_instances_by_type() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.tfstate");
        let quiet = crate::report::Collect::default();
        assert_eq!(read_state(&path, "dev/x", &quiet).0, StateStatus::None);
        std::fs::write(&path, "  \n").unwrap();
        assert_eq!(read_state(&path, "dev/x", &quiet).0, StateStatus::None);
        std::fs::write(
            &path,
            r#"{"version": 4, "serial": 3, "lineage": "l", "resources": [
                {"mode": "managed", "type": "terraform_data", "instances": [{}, {}]},
                {"mode": "managed", "type": "terraform_data", "instances": [{}]},
                {"mode": "managed", "type": "aws_s3_bucket", "instances": [{}]},
                {"mode": "managed", "type": "gone", "instances": []},
                {"mode": "data", "type": "aws_ami", "instances": [{}]}]}"#,
        )
        .unwrap();
        let (s, by_type) = read_state(&path, "dev/x", &quiet);
        assert_eq!(s, StateStatus::Read);
        assert_eq!(
            by_type,
            BTreeMap::from([("aws_s3_bucket".into(), 1), ("terraform_data".into(), 3)])
        );
        std::fs::write(&path, r#"{"version": 4, "ser"#).unwrap();
        assert_eq!(read_state(&path, "dev/x", &quiet).0, StateStatus::Unknown);
        assert!(quiet.lines()[0].contains("not a Terraform state"));
    }

    #[test]
    fn fleet_drift_is_read_from_drift_json_of_the_deployed_record() {
        let dir = tempfile::tempdir().unwrap();
        let id = DeploymentId::parse("dev/web").unwrap();
        let quiet = crate::report::Collect::default();
        let deployed = DeployedInfo {
            record: "deploy/dev/web/2".into(),
            sequence: 2,
            component: "web".into(),
            version: "1.0.0".into(),
            time: String::new(),
            build: String::new(),
            commit: String::new(),
            approved_by: None,
        };
        let d = drift_of(Some(dir.path()), &id, Some(&deployed), &quiet);
        assert_eq!(d.status, DriftStatus::Unknown, "no file");
        std::fs::create_dir_all(dir.path().join("dev/web")).unwrap();
        let file = dir.path().join("dev/web/drift.json");
        let write = |status: &str, tag: &str| {
            std::fs::write(
                &file,
                format!(
                    r#"{{"deployment": "dev/web", "status": "{status}", "drift": true,
                    "record": {{"tag": "{tag}"}}, "resources": [{{}}, {{}}]}}"#
                ),
            )
            .unwrap()
        };
        write("drift", "deploy/dev/web/2");
        let d = drift_of(Some(dir.path()), &id, Some(&deployed), &quiet);
        assert_eq!((d.status, d.changes), (DriftStatus::Drift, Some(2)));
        assert!(d.checked_at.is_some());
        write("in_sync", "deploy/dev/web/2");
        let d = drift_of(Some(dir.path()), &id, Some(&deployed), &quiet);
        assert_eq!(d.status, DriftStatus::InSync);
        write("drift", "deploy/dev/web/1");
        let d = drift_of(Some(dir.path()), &id, Some(&deployed), &quiet);
        assert_eq!(
            d.status,
            DriftStatus::Unknown,
            "an older record was checked"
        );
        let other = DeploymentId::parse("dev/api").unwrap();
        std::fs::create_dir_all(dir.path().join("dev/api")).unwrap();
        std::fs::copy(&file, dir.path().join("dev/api/drift.json")).unwrap();
        let d = drift_of(Some(dir.path()), &other, None, &quiet);
        assert_eq!(d.status, DriftStatus::Unknown, "another deployment's file");
        assert_eq!(
            drift_of(None, &id, Some(&deployed), &quiet).status,
            DriftStatus::Unknown
        );
    }
}
