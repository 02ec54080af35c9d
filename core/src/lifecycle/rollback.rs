//! `gitops-rollback`: return a deployment to an earlier recorded deployment with a forward git
//! commit that restores its request, so git stays the source of truth and the next pipeline run
//! applies the rollback instead of undoing it.
//!
//! The restored request is rendered against HEAD and planned from a scratch directory first:
//! every refusal (detached HEAD, data loss, revoked package, policy, uncommitted changes) happens
//! before anything is committed. Then the request is committed, rendered again at the new commit
//! into `out` and planned there: what `gitops-apply` applies.

use crate::error::{exit, Error, Result};
use crate::exec::git::{Change, GitRepo};
use crate::exec::modcache::ModuleCache;
use crate::exec::terraform::Terraform;
use crate::model::load::{self, SourceFile};
use crate::model::names;
use crate::model::sot::{DeploymentId, SourceRepo};
use crate::model::Deployment;
use crate::plan::rendered::RenderedDir;
use crate::plan::run::{self as plan_run, data_loss_refusal, policy_refusal, Planned};
use crate::plan::summary::Summary;
use crate::records::deployment::{self as meta, DeploymentRecord, PUSH_ATTEMPTS};
use crate::records::revocation::{self, Subject};
use crate::render::{self, RenderOptions, Rendered, Renderer};
use crate::report::Reporter;
use serde::{Serialize, Serializer};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The command named in the deployment lock.
const PROGRAM: &str = "gitops-rollback";

/// What `gitops-rollback` is asked to do.
#[derive(Debug, Clone)]
pub struct RollbackOptions {
    /// The source-of-truth repository.
    pub repo: PathBuf,
    pub deployment: DeploymentId,
    /// `previous`, a sequence number or a tag name (see [`pick`]).
    pub to: String,
    /// Where the rollback is rendered and planned; default [`super::default_out`].
    pub out: Option<PathBuf>,
    pub allow_data_loss: bool,
    pub allow_revoked: bool,
    /// Render and plan from a scratch directory, commit nothing.
    pub dry_run: bool,
    /// Checked by the caller.
    pub build_tag: String,
    /// Absolute.
    pub state_dir: Option<PathBuf>,
    pub cache_dir: PathBuf,
    pub lock_timeout: Duration,
}

/// What a rollback did. JSON (dry run): `{"committed": false, "data_loss", "deployment",
/// "dry_run": true, "exit_code", "from", "package", "summary", "target"}`; otherwise also
/// `"commit"`, `"digest"`, `"out"` and `"pushed"`.
#[derive(Debug, Clone)]
pub struct RollbackReport {
    pub deployment: String,
    /// The request file restored (`deployments/<env>/<name>.toml`).
    pub request: PathBuf,
    pub dry_run: bool,
    /// The tag returned to.
    pub target: String,
    /// The latest recorded deployment when the rollback started.
    pub from: String,
    /// `<component>@<version>` of the restored request.
    pub package: String,
    /// The rollback commit (`None`: dry run, or HEAD already had the restored request).
    pub commit: Option<String>,
    pub pushed: bool,
    /// Where the rollback was rendered and planned (not written by a dry run).
    pub out: PathBuf,
    /// The repository's root.
    pub repo: PathBuf,
    pub summary: Summary,
    /// The plan's digest.
    pub digest: String,
    /// plan.md
    pub markdown: String,
}

impl Serialize for RollbackReport {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let v = if self.dry_run {
            json!({
                "deployment": self.deployment, "dry_run": true, "target": self.target,
                "from": self.from, "package": self.package, "summary": self.summary,
                "data_loss": self.summary.data_loss(), "committed": false, "exit_code": exit::OK,
            })
        } else {
            json!({
                "deployment": self.deployment, "dry_run": false, "target": self.target,
                "from": self.from, "package": self.package, "commit": self.commit,
                "committed": self.commit.is_some(), "pushed": self.pushed, "out": self.out,
                "summary": self.summary, "data_loss": self.summary.data_loss(),
                "digest": self.digest, "exit_code": exit::OK,
            })
        };
        v.serialize(s)
    }
}

/// The record `to` names among `deploys` (sorted by sequence number): `previous` (the one before
/// the latest), a sequence number or a tag name.
pub fn pick<'a>(
    deploys: &'a [DeploymentRecord],
    to: &str,
    id: &DeploymentId,
) -> Result<&'a DeploymentRecord> {
    let known = || {
        deploys
            .iter()
            .map(|r| r.tag.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if deploys.is_empty() {
        return Err(Error::Usage(format!(
            "{id} has no recorded deployment (no {}* tag): nothing to roll back to",
            meta::deploy_prefix(id)
        )));
    }
    let found = if to == "previous" {
        if deploys.len() < 2 {
            return Err(Error::Usage(format!(
                "--to previous: {id} has only one recorded deployment ({})",
                known()
            )));
        }
        deploys.get(deploys.len() - 2)
    } else if let Ok(seq) = to.parse::<u32>() {
        deploys.iter().find(|r| r.seq == seq)
    } else {
        deploys.iter().find(|r| r.tag == to)
    };
    found.ok_or_else(|| {
        Error::Usage(format!(
            "--to {}: not a recorded deployment of {id}; allowed: previous, a sequence number or one of: {}",
            names::shown(to),
            known()
        ))
    })
}

/// The recorded deployment returned to and its request.
struct Target {
    record: DeploymentRecord,
    /// The latest recorded deployment's tag.
    latest: String,
    /// The request's bytes at the target's commit.
    restored: Vec<u8>,
    /// The request's bytes at HEAD (`None`: HEAD has none).
    at_head: Option<Vec<u8>>,
    request: Deployment,
    src: SourceFile,
}

/// Finds the target record and reads its request; refuses a dirty work tree (unless a dry run).
fn target(repo: &SourceRepo, git: &GitRepo, opts: &RollbackOptions) -> Result<Target> {
    let id = &opts.deployment;
    let deploys = meta::records(git, &meta::deploy_prefix(id))?;
    let record = pick(&deploys, &opts.to, id)?.clone();
    let latest = deploys.last().map(|r| r.tag.clone()).unwrap_or_default();
    let commit = git2::Oid::from_str(&record.commit)
        .map_err(|e| Error::Process(format!("{}: {e}", record.tag)))?;
    let restored = git.file_at(commit, &id.path())?.ok_or_else(|| {
        Error::Process(format!(
            "{}: commit {} has no {}",
            record.tag,
            record.commit,
            id.path().display()
        ))
    })?;
    let (_, dirty) = repo.head()?;
    if dirty && !opts.dry_run {
        return Err(Error::Refused(format!(
            "{} has uncommitted changes: a rollback is a commit on top of HEAD; commit or stash them first",
            repo.root.display()
        )));
    }
    let at_head = git.file_at(git.head()?, &id.path())?;
    let text = String::from_utf8(restored.clone()).map_err(|_| {
        Error::Process(format!(
            "{}: {} is not UTF-8",
            record.tag,
            id.path().display()
        ))
    })?;
    let src = SourceFile::from_text(format!("{} (at {})", id.path().display(), record.tag), text);
    let request = load::deployment(&src)?;
    Ok(Target {
        record,
        latest,
        restored,
        at_head,
        request,
        src,
    })
}

/// What every step shares.
struct Ctx<'a> {
    opts: &'a RollbackOptions,
    repo: &'a SourceRepo,
    git: &'a GitRepo,
    cache: &'a ModuleCache,
    target: &'a Target,
    out: PathBuf,
    reporter: &'a dyn Reporter,
}

impl Ctx<'_> {
    fn say(&self, m: &str) {
        super::say(self.reporter, &self.opts.deployment, m);
    }

    fn renderer(&self) -> Result<Renderer<'_>> {
        Renderer::new(
            self.repo,
            self.cache,
            RenderOptions {
                build_tag: self.opts.build_tag.clone(),
                state_dir: self.opts.state_dir.clone(),
                vendor: true,
                module_store: false,
                stage: crate::guard::Stage::Render,
                allow_revoked: self.opts.allow_revoked,
            },
        )
    }

    /// Renders the restored request against HEAD; refuses a revoked package (or module) unless
    /// `allow_revoked`.
    fn render_restored(&self) -> Result<Rendered> {
        let id = &self.opts.deployment;
        let t = self.target;
        let first = self.renderer()?.render_request(id, &t.request, &t.src)?;
        self.cache.report_warnings(self.reporter);
        for w in &first.warnings {
            self.reporter.warning(&format!("{id}: {w}"));
        }
        let revoked = revocation::read(&self.repo.root)?;
        let hits = revoked.hits(&Subject::manifest(&first.manifest));
        if !hits.is_empty() && !self.opts.allow_revoked {
            let list: Vec<String> = hits
                .iter()
                .map(|r| format!("{} {} ({})", r.kind, r.target, r.reason))
                .collect();
            return Err(Error::Refused(format!(
                "{id}: {} restores {}, which is revoked: {}; give --allow-revoked to proceed",
                t.record.tag,
                first.manifest.package_ref(),
                list.join("; ")
            )));
        }
        Ok(first)
    }

    /// Plans the render in `out`, holding the deployment lock.
    fn plan(&self, out: &Path, tf: &Terraform) -> Result<Planned> {
        let rendered = RenderedDir::open(out)?;
        let _lock = rendered.lock(PROGRAM, self.opts.lock_timeout)?;
        let title = format!(
            "Rollback plan: {} ({}@{}, profile {})",
            self.opts.deployment,
            rendered.manifest.component,
            rendered.manifest.package,
            rendered.manifest.profile
        );
        plan_run::plan(
            &rendered,
            self.repo,
            tf,
            false,
            self.opts.lock_timeout.as_secs(),
            &title,
        )
    }

    /// Refuses a plan that a policy denies, or that loses data without `allow_data_loss`.
    fn refusals(&self, planned: &Planned) -> Result<()> {
        let id = self.opts.deployment.to_string();
        if let Some(e) = policy_refusal(&id, &planned.policy) {
            return Err(e);
        }
        if !self.opts.allow_data_loss {
            if let Some(e) = data_loss_refusal(&id, &planned.summary, "the rollback") {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Commits the restored request (pushed when there is a remote); `None` when HEAD already
    /// has it.
    fn commit(&self) -> Result<Option<String>> {
        let (id, t) = (&self.opts.deployment, self.target);
        if t.at_head.as_deref() == Some(t.restored.as_slice()) {
            self.say(&format!(
                "{} at HEAD already equals {}: nothing to commit",
                id.path().display(),
                t.record.tag
            ));
            return Ok(None);
        }
        let message = format!(
            "rollback {id} to {} (from {})\n\nRestores {} to its content at {} (commit {}, {}).\n",
            t.record.tag,
            t.latest,
            id.path().display(),
            t.record.tag,
            t.record.commit,
            t.record.meta.package
        );
        let commit = self.git.commit_and_push(
            &[Change {
                path: id.path(),
                contents: Some(t.restored.clone()),
            }],
            &message,
            PUSH_ATTEMPTS,
        )?;
        self.say(&format!(
            "committed {commit}{}",
            if self.git.remote().is_some() {
                " and pushed"
            } else {
                ""
            }
        ));
        Ok(Some(commit.to_string()))
    }

    fn report(&self, package: String, planned: Planned, commit: Option<String>) -> RollbackReport {
        RollbackReport {
            deployment: self.opts.deployment.to_string(),
            request: self.opts.deployment.path(),
            dry_run: self.opts.dry_run,
            target: self.target.record.tag.clone(),
            from: self.target.latest.clone(),
            package,
            pushed: commit.is_some() && self.git.remote().is_some(),
            commit,
            out: self.out.clone(),
            repo: self.repo.root.clone(),
            summary: planned.summary,
            digest: planned.record.digest,
            markdown: planned.markdown,
        }
    }

    /// Plans the restored request from a scratch directory; unless a dry run, then commits it,
    /// renders it again at the new commit into `out` and plans it there.
    fn run(
        &self,
        first: &Rendered,
        tf: &Terraform,
        scratch: tempfile::TempDir,
    ) -> Result<RollbackReport> {
        let scratch_out = scratch.path().join("render");
        self.say("terraform init + plan (restored request)");
        let planned = self.plan(&scratch_out, tf)?;
        self.refusals(&planned)?;
        if self.opts.dry_run {
            return Ok(self.report(first.manifest.package_ref(), planned, None));
        }
        let committed = self.commit()?;
        let second = self.renderer()?.render(&self.opts.deployment)?;
        self.cache.report_warnings(self.reporter);
        render::write(&second, &self.out)?;
        drop(scratch);
        self.say("terraform init + plan (at the rollback commit)");
        let planned = self.plan(&self.out, tf)?;
        Ok(self.report(second.manifest.package_ref(), planned, committed))
    }
}

/// `gitops-rollback <env>/<name> --to ...`: see the module docs. Refusals are exit 3.
pub fn rollback(opts: &RollbackOptions, reporter: &dyn Reporter) -> Result<RollbackReport> {
    let id = &opts.deployment;
    let repo = SourceRepo::open(&opts.repo)?;
    let git = GitRepo::open(&repo)?;
    if !opts.dry_run {
        // The rollback is a commit on the checked-out branch: a detached HEAD is refused here,
        // before anything is rendered, planned or committed.
        git.branch()?;
    }
    let target = target(&repo, &git, opts)?;
    let cache = ModuleCache::new(opts.cache_dir.clone(), false);
    let ctx = Ctx {
        opts,
        repo: &repo,
        git: &git,
        cache: &cache,
        target: &target,
        out: super::out_dir(
            opts.out.as_deref(),
            "rollback",
            opts.state_dir.as_deref(),
            id,
        )?,
        reporter,
    };
    ctx.say(&format!(
        "restoring {} from {} (commit {}), latest is {}",
        id.path().display(),
        target.record.tag,
        names::short_id(&target.record.commit, 12),
        target.latest
    ));
    let first = ctx.render_restored()?;
    let parent = ctx.out.parent().unwrap_or(Path::new(".")).to_path_buf();
    std::fs::create_dir_all(&parent).map_err(Error::io(&parent))?;
    let scratch = tempfile::Builder::new()
        .prefix(".gitops-rollback-")
        .tempdir_in(&parent)
        .map_err(Error::io(&parent))?;
    let scratch_out = scratch.path().join("render");
    render::write(&first, &scratch_out)?;
    let (tf, vault) = RenderedDir::open(&scratch_out)?.terraform(&repo, &opts.cache_dir)?;
    let report = ctx.run(&first, &tf, scratch);
    crate::exec::vault::finish(vault, reporter);
    report
}
