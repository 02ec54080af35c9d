//! `gitops-destroy`: guarded destruction of a deployment, recorded as a tombstone tag, its request
//! removed from git. Two steps, so the caller can show the destroy plan before anything is
//! destroyed: [`plan`] checks the confirmation and the approval, renders the deployment (from its
//! request at HEAD, else from the commit of its last recorded deployment) and plans the destroy;
//! [`destroy`] refuses what the plan must not do, destroys, verifies that the state is empty,
//! records the tombstone `destroyed/<env>/<name>/<seq>` and removes the request in a commit.

use crate::error::{exit, ConfigError, Error, Result};
use crate::exec::git::{Change, GitRepo};
use crate::exec::lock::DeploymentLock;
use crate::exec::modcache::ModuleCache;
use crate::exec::terraform::Terraform;
use crate::exec::vault::VaultSession;
use crate::model::names;
use crate::model::sot::{DeploymentId, SourceRepo};
use crate::plan::op::PlanReport;
use crate::plan::rendered::RenderedDir;
use crate::plan::run::{self as plan_run, data_loss_refusal, policy_refusal, Planned};
use crate::plan::summary::Summary;
use crate::records::deployment::{self as meta, DeployMeta, DeploymentRecord, PUSH_ATTEMPTS};
use crate::records::manifest::Manifest;
use crate::render::{self, RenderOptions, Renderer};
use crate::report::Reporter;
use serde::{Serialize, Serializer};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// The command named in the deployment lock.
const PROGRAM: &str = "gitops-destroy";

/// What `gitops-destroy <env>/<name>` is asked to do.
#[derive(Debug, Clone)]
pub struct DestroyOptions {
    /// The source-of-truth repository.
    pub repo: PathBuf,
    pub deployment: DeploymentId,
    /// The deployment's name, typed again: nothing is destroyed without it.
    pub confirm: Option<String>,
    /// Checked by the caller; required for protected environments.
    pub approved_by: Option<String>,
    pub allow_data_loss: bool,
    /// Where the deployment is rendered and the destroy planned; default [`super::default_out`].
    pub out: Option<PathBuf>,
    /// Checked by the caller; recorded in the tombstone.
    pub build_tag: String,
    /// Absolute.
    pub state_dir: Option<PathBuf>,
    pub cache_dir: PathBuf,
    pub lock_timeout: Duration,
    /// Only plan the destroy (a review): no confirmation or approval asked, nothing destroyed,
    /// recorded or committed ([`plan_only`]).
    pub plan_only: bool,
}

/// What the deployment is rendered from.
struct Source {
    /// HEAD's repository, or the commit of the last recorded deployment materialized next to it.
    repo: SourceRepo,
    commit: String,
    /// The request's bytes there.
    request: Vec<u8>,
    /// The materialized commit (removed on drop).
    _old: Option<meta::Snapshot>,
}

/// A planned destroy, holding the deployment lock; [`destroy`] carries it out.
pub struct DestroyPlan<'a> {
    opts: &'a DestroyOptions,
    git: GitRepo,
    head: git2::Oid,
    history: Vec<DeploymentRecord>,
    /// The request at HEAD (`None`: HEAD already removed it).
    at_head: Option<Vec<u8>>,
    source: Source,
    manifest: Manifest,
    out: PathBuf,
    tf: Terraform,
    vault: Option<VaultSession>,
    _lock: DeploymentLock,
    planned: Planned,
}

impl DestroyPlan<'_> {
    /// plan.md of the destroy plan.
    pub fn markdown(&self) -> &str {
        &self.planned.markdown
    }

    pub fn summary(&self) -> &Summary {
        &self.planned.summary
    }
}

/// What a destroy did. JSON: `{"approved_by", "data_loss", "deployment", "destroyed",
/// "exit_code", "removal_commit", "request_already_removed", "summary", "tombstone"}`.
#[derive(Debug, Clone)]
pub struct DestroyReport {
    pub deployment: String,
    pub summary: Summary,
    /// The tombstone tag recorded (or the one already recording it).
    pub tombstone: Option<String>,
    /// The commit removing the request (`None`: HEAD had already removed it).
    pub removal_commit: Option<String>,
    pub approved_by: Option<String>,
}

impl Serialize for DestroyReport {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        json!({
            "deployment": self.deployment, "destroyed": self.summary.destroy,
            "summary": self.summary, "data_loss": self.summary.data_loss(),
            "tombstone": self.tombstone, "removal_commit": self.removal_commit,
            "request_already_removed": self.removal_commit.is_none(),
            "approved_by": self.approved_by, "exit_code": exit::OK,
        })
        .serialize(s)
    }
}

impl DestroyReport {
    /// `destroyed dev/web (3 resources); recorded destroyed/dev/web/1; request removed in commit ...`
    pub fn line(&self) -> String {
        format!(
            "destroyed {} ({} resources); recorded {}; {}",
            self.deployment,
            self.summary.destroy,
            self.tombstone.as_deref().unwrap_or("-"),
            match &self.removal_commit {
                Some(c) => format!("request removed in commit {}", names::short_id(c, 12)),
                None => "request already removed at HEAD".into(),
            }
        )
    }
}

/// Refuses (exit 3) unless `--confirm` repeats the deployment's name.
fn check_confirm(opts: &DestroyOptions) -> Result<()> {
    let id = &opts.deployment;
    match opts.confirm.as_deref() {
        Some(c) if c == id.name => Ok(()),
        Some(c) => Err(Error::Refused(format!(
            "--confirm {} does not match the deployment name: destroying {id} needs --confirm {}",
            names::shown(c),
            id.name
        ))),
        None => Err(Error::Refused(format!(
            "destroying {id} needs --confirm {}",
            id.name
        ))),
    }
}

/// HEAD while it has the request, else the commit of the last recorded deployment, materialized
/// next to the repository (relative module roots resolve the same).
fn source(
    repo: &SourceRepo,
    git: &GitRepo,
    head: git2::Oid,
    at_head: Option<&[u8]>,
    id: &DeploymentId,
    reporter: &dyn Reporter,
) -> Result<Source> {
    if let Some(bytes) = at_head {
        return Ok(Source {
            repo: repo.clone(),
            commit: head.to_string(),
            request: bytes.to_vec(),
            _old: None,
        });
    }
    let last = meta::records(git, &meta::deploy_prefix(id))?
        .pop()
        .ok_or_else(|| {
            Error::Usage(format!(
                "{id}: no request at HEAD and no recorded deployment ({}*): nothing to destroy",
                meta::deploy_prefix(id)
            ))
        })?;
    super::say(
        reporter,
        id,
        &format!(
            "no request at HEAD: rendering it as recorded by {} (commit {})",
            last.tag,
            names::short_id(&last.commit, 12)
        ),
    );
    let snapshot = meta::snapshot(repo, git, &last)?;
    let oid = git2::Oid::from_str(&last.commit)
        .map_err(|e| Error::Process(format!("{}: {e}", last.tag)))?;
    Ok(Source {
        repo: snapshot.repo.clone(),
        commit: last.commit.clone(),
        request: git.file_at(oid, &id.path())?.unwrap_or_default(),
        _old: Some(snapshot),
    })
}

/// Refuses (exit 3) destroying in a protected environment without an approver.
fn check_approval(source: &SourceRepo, opts: &DestroyOptions) -> Result<()> {
    let id = &opts.deployment;
    let (env, _) = source.environment(&id.env, |known| {
        ConfigError::new(
            id.path(),
            None,
            format!(
                "environment {} without environments/{}.toml",
                id.env, id.env
            ),
            format!("an environment with a file: {known}"),
        )
    })?;
    if env.protected && opts.approved_by.is_none() {
        return Err(Error::Refused(format!(
            "{id} is in protected environment {}: destroying it needs an approval (--approved-by <who>)",
            id.env
        )));
    }
    Ok(())
}

/// `gitops-destroy <env>/<name>`, first step: checks, renders the deployment into `out` and plans
/// its destruction (`terraform plan -destroy`), holding the deployment lock.
pub fn plan<'a>(opts: &'a DestroyOptions, reporter: &dyn Reporter) -> Result<DestroyPlan<'a>> {
    if !opts.plan_only {
        check_confirm(opts)?;
    }
    let id = &opts.deployment;
    let repo = SourceRepo::open(&opts.repo)?;
    let git = GitRepo::open(&repo)?;
    let head = git.head()?;
    let cache = ModuleCache::new(opts.cache_dir.clone(), false);
    let history = meta::history(&git, id)?;
    let at_head = git.file_at(head, &id.path())?;
    if at_head.is_some() && !opts.plan_only {
        // Removing the request is a commit: a detached HEAD is refused before anything runs.
        git.branch()?;
    }
    let source = source(&repo, &git, head, at_head.as_deref(), id, reporter)?;
    if !opts.plan_only {
        check_approval(&source.repo, opts)?;
    }
    let renderer = Renderer {
        repo: &source.repo,
        cache: &cache,
        options: RenderOptions {
            build_tag: opts.build_tag.clone(),
            state_dir: opts.state_dir.clone(),
            vendor: true,
            module_store: false,
            stage: crate::guard::Stage::Destroy,
            allow_revoked: false,
        },
        commit: source.commit.clone(),
        dirty: at_head.is_some() && repo.head()?.1,
        backend: None,
    };
    let rendered = renderer.render(id)?;
    cache.report_warnings(reporter);
    let out = super::out_dir(
        opts.out.as_deref(),
        "destroy",
        opts.state_dir.as_deref(),
        id,
    )?;
    render::write(&rendered, &out)?;
    let dir = RenderedDir::open(&out)?;
    let lock = dir.lock(PROGRAM, opts.lock_timeout)?;
    let (tf, vault) = dir.terraform(&source.repo, &opts.cache_dir)?;
    super::say(reporter, id, "terraform init + plan -destroy");
    let m = &rendered.manifest;
    let title = format!(
        "Destroy plan: {id} ({}@{}, profile {})",
        m.component, m.package, m.profile
    );
    let lock_secs = opts.lock_timeout.as_secs();
    let planned = match plan_run::plan(&dir, &source.repo, &tf, true, lock_secs, &title) {
        Ok(p) => p,
        Err(e) => {
            crate::exec::vault::finish(vault, reporter);
            return Err(e);
        }
    };
    Ok(DestroyPlan {
        opts,
        git,
        head,
        history,
        at_head,
        source,
        manifest: rendered.manifest,
        out,
        tf,
        vault,
        _lock: lock,
        planned,
    })
}

/// Refuses what the plan must not do, applies it and verifies that the state is empty.
fn apply(p: &DestroyPlan<'_>, reporter: &dyn Reporter) -> Result<()> {
    let (opts, id) = (p.opts, &p.opts.deployment);
    if let Some(e) = policy_refusal(&id.to_string(), &p.planned.policy) {
        return Err(e);
    }
    if !opts.allow_data_loss {
        if let Some(e) = data_loss_refusal(&id.to_string(), &p.planned.summary, "the destroy") {
            return Err(e);
        }
    }
    let lock = format!("-lock-timeout={}s", opts.lock_timeout.as_secs());
    if p.planned.summary.has_changes() {
        super::say(reporter, id, "terraform apply (destroy plan)");
        p.tf.run_ok(
            &p.out,
            &["apply", "-input=false", "-no-color", &lock, "plan.bin"],
        )?;
        let _ = std::fs::remove_file(p.out.join("plan.bin"));
        // Only after a destroy ran: a deployment never applied has no state to list.
        let left = p.tf.run_ok(&p.out, &["state", "list"])?.stdout;
        if !left.trim().is_empty() {
            return Err(Error::Process(format!(
                "{id}: the state still holds resources after the destroy:\n{}",
                left.trim_end()
            )));
        }
    } else {
        super::say(reporter, id, "the state holds nothing to destroy");
        let _ = std::fs::remove_file(p.out.join("plan.bin"));
    }
    Ok(())
}

/// Records the tombstone (unless the last record already is one and nothing was destroyed).
fn tombstone(p: &DestroyPlan<'_>, reporter: &dyn Reporter) -> Result<Option<String>> {
    let (opts, id) = (p.opts, &p.opts.deployment);
    if p.history.last().is_some_and(|r| r.meta.destroyed) && !p.planned.summary.has_changes() {
        super::say(reporter, id, "already recorded as destroyed");
        return Ok(p.history.last().map(|r| r.tag.clone()));
    }
    let record = DeployMeta {
        deployment: id.to_string(),
        package: p.manifest.package_ref(),
        profile: p.manifest.profile.clone(),
        plan_digest: p.planned.record.digest.clone(),
        outputs_digest: meta::outputs_digest(&json!({})),
        build_tag: opts.build_tag.clone(),
        approved_by: opts.approved_by.clone(),
        time: meta::now(),
        source_commit: p.head.to_string(),
        request_sha256: meta::request_digest(&p.source.request),
        destroyed: true,
    };
    let prefix = meta::destroyed_prefix(id);
    Ok(Some(p.git.tag_and_push(
        &|g: &GitRepo| Ok(format!("{prefix}{}", g.next_seq(&prefix)?)),
        p.head,
        &record.message(),
        PUSH_ATTEMPTS,
    )?))
}

/// Removes the request in a commit (pushed when there is a remote), unless HEAD already did.
fn remove_request(
    p: &DestroyPlan<'_>,
    tombstone: Option<&str>,
    reporter: &dyn Reporter,
) -> Result<Option<String>> {
    let id = &p.opts.deployment;
    if p.at_head.is_none() {
        super::say(
            reporter,
            id,
            &format!(
                "the request was already removed at HEAD ({})",
                names::short_id(&p.head.to_string(), 12)
            ),
        );
        return Ok(None);
    }
    let message = format!(
        "destroy {id}: remove its request ({})\n",
        tombstone.unwrap_or("destroyed")
    );
    let c = p.git.commit_and_push(
        &[Change {
            path: id.path(),
            contents: None,
        }],
        &message,
        PUSH_ATTEMPTS,
    )?;
    super::say(
        reporter,
        id,
        &format!("removed {} in commit {c}", id.path().display()),
    );
    Ok(Some(c.to_string()))
}

/// `gitops-destroy --plan-only`: the destroy plan as a plan report (what `gitops-plan --json`
/// gives, with `destroy` set), compared with the review HEAD carries. The lock is released and
/// the Vault leases revoked; nothing is destroyed, recorded or committed.
pub fn plan_only(mut p: DestroyPlan<'_>, reporter: &dyn Reporter) -> PlanReport {
    crate::exec::vault::finish(p.vault.take(), reporter);
    // Compared with the review of the live repository's HEAD (the source may be a snapshot of an
    // older commit).
    crate::plan::op::planned_report(
        &p.opts.deployment.to_string(),
        &p.out,
        &p.planned,
        Some(&p.git),
        true,
    )
}

/// `gitops-destroy <env>/<name>`, second step: see the module docs. Refusals are exit 3.
pub fn destroy(mut p: DestroyPlan<'_>, reporter: &dyn Reporter) -> Result<DestroyReport> {
    let applied = apply(&p, reporter);
    crate::exec::vault::finish(p.vault.take(), reporter);
    applied?;
    let tombstone = tombstone(&p, reporter)?;
    let removal_commit = remove_request(&p, tombstone.as_deref(), reporter)?;
    Ok(DestroyReport {
        deployment: p.opts.deployment.to_string(),
        summary: p.planned.summary,
        tombstone,
        removal_commit,
        approved_by: p.opts.approved_by.clone(),
    })
}
