//! `gitops-rollback`: return a deployment to an earlier recorded deployment with a forward git
//! commit that restores its request, so git stays the source of truth and the next pipeline run
//! applies the rollback instead of undoing it.

use clap::Parser;
use gitops_cli::{print_json, progress};
use gitops_core::error::{exit, Error, Result};
use gitops_core::exec::git::{Change, GitRepo};
use gitops_core::exec::modcache::{default_cache_dir, ModuleCache};
use gitops_core::model::load::SourceFile;
use gitops_core::model::sot::{DeploymentId, SourceRepo};
use gitops_core::plan::rendered::RenderedDir;
use gitops_core::plan::run::{self as plan_run, data_loss_refusal, policy_refusal};
use gitops_core::records::deployment::{self as meta, Record, PUSH_ATTEMPTS};
use gitops_core::render::{self, RenderOptions, Renderer};
use std::path::{Path, PathBuf};
use std::time::Duration;

const PROGRAM: &str = "gitops-rollback";

/// Return a deployment to an earlier recorded deployment, as a new git commit.
///
/// Finds the target deployment tag (--to previous: the one before the latest recorded deployment;
/// a sequence number; or a tag name), reads the deployment request as it was at that tag's commit,
/// renders and plans it against the current state, and refuses (exit 3) when the plan destroys or
/// replaces a stateful resource (database, volume) without --allow-data-loss, when the package (or
/// one of its modules) is revoked in certifications/revoked.toml without --allow-revoked, or when a
/// policy denies the plan. Only then does it commit the restored request (message naming both
/// tags; pushed when there is a remote), render it again at the new commit into --out and plan it
/// there: `gitops-apply --repo REPO OUT` applies it (or the pipeline the commit triggers does).
///
/// --dry-run renders and plans from a temporary directory, prints the summary and commits nothing.
///
/// --out defaults to <state-dir>/work/rollback/<env>/<name> (state dir from --state-dir or
/// GITOPS_STATE_DIR), else build/rollback/<env>/<name>.
///
/// Exit codes: 0 rolled back (committed and planned) or dry run done, 3 refused, 2 invalid input,
/// 1 failure.
#[derive(Debug, Parser)]
#[command(
    name = "gitops-rollback",
    version,
    after_help = "Examples:
  gitops-rollback --repo platform-live dev/web-frontend --to previous --dry-run
  gitops-rollback --repo platform-live dev/web-frontend --to previous
  gitops-rollback --repo platform-live dev/orders-db --to 3 --allow-data-loss --json
  gitops-rollback --repo platform-live prod/orders-api --to deploy/prod/orders-api/7"
)]
pub struct Cli {
    /// The deployment, as <env>/<name>.
    #[arg(value_name = "ENV/NAME")]
    pub deployment: String,
    /// The recorded deployment to return to: `previous`, a sequence number, or a tag name.
    #[arg(long, value_name = "previous|SEQ|TAG")]
    pub to: String,
    /// The source-of-truth repository.
    #[arg(long, env = "GITOPS_REPO", default_value = ".", value_name = "DIR")]
    pub repo: PathBuf,
    /// Where the rollback is rendered and planned (see above for the default).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Proceed although the plan destroys or replaces stateful resources.
    #[arg(long)]
    pub allow_data_loss: bool,
    /// Proceed although the target package or one of its modules is revoked.
    #[arg(long)]
    pub allow_revoked: bool,
    /// Render and plan, print the summary, commit nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Build tag put on every resource (Jenkins sets BUILD_TAG).
    #[arg(long, env = "BUILD_TAG", default_value = "local", value_name = "TAG")]
    pub build_tag: String,
    /// Directory for local Terraform state, used by `{state_dir}` in the backend template.
    #[arg(long, env = "GITOPS_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Module and plugin cache directory [default: $GITOPS_CACHE_DIR, else ~/.cache/gitops-toolkit].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Seconds to wait for a deployment lock held by another run.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub lock_timeout: u64,
    /// Machine-readable output on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The record `--to` names among `deploys` (sorted by sequence number).
pub fn pick<'a>(deploys: &'a [Record], to: &str, id: &DeploymentId) -> Result<&'a Record> {
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
            gitops_core::model::names::shown(to),
            known()
        ))
    })
}

struct Ctx<'a> {
    cli: &'a Cli,
    repo: &'a SourceRepo,
    id: &'a DeploymentId,
    state_dir: Option<PathBuf>,
}

impl Ctx<'_> {
    fn say(&self, m: &str) {
        if !self.cli.json {
            progress(PROGRAM, &format!("{}: {m}", self.id));
        }
    }

    fn options(&self) -> RenderOptions {
        RenderOptions {
            build_tag: self.cli.build_tag.clone(),
            state_dir: self.state_dir.clone(),
            vendor: true,
            stage: gitops_core::guard::Stage::Render,
            allow_revoked: self.cli.allow_revoked,
        }
    }

    /// Plans the render in `out`, holding the deployment lock.
    fn plan(
        &self,
        out: &Path,
        tf: &gitops_core::exec::terraform::Terraform,
    ) -> Result<plan_run::Planned> {
        let rendered = RenderedDir::open(out)?;
        let _lock = rendered.lock(PROGRAM, Duration::from_secs(self.cli.lock_timeout))?;
        let title = format!(
            "Rollback plan: {} ({}@{}, profile {})",
            self.id,
            rendered.manifest.component,
            rendered.manifest.package,
            rendered.manifest.profile
        );
        plan_run::plan(
            &rendered,
            self.repo,
            tf,
            false,
            self.cli.lock_timeout,
            &title,
        )
    }
}

pub fn run(cli: Cli) -> Result<u8> {
    if !gitops_core::model::names::is_build_tag(&cli.build_tag) {
        return Err(Error::Usage(format!(
            "--build-tag {}: allowed are 1-128 ASCII letters, digits and . _ - : + @",
            gitops_core::model::names::shown(&cli.build_tag)
        )));
    }
    let id = DeploymentId::parse(&cli.deployment)?;
    let repo = SourceRepo::open(&cli.repo)?;
    let git = GitRepo::open(&repo)?;
    let deploys = meta::records(&git, &meta::deploy_prefix(&id))?;
    let target = pick(&deploys, &cli.to, &id)?.clone();
    let latest = deploys.last().map(|r| r.tag.clone()).unwrap_or_default();
    let target_commit = git2::Oid::from_str(&target.commit)
        .map_err(|e| Error::Process(format!("{}: {e}", target.tag)))?;
    let restored = git.file_at(target_commit, &id.path())?.ok_or_else(|| {
        Error::Process(format!(
            "{}: commit {} has no {}",
            target.tag,
            target.commit,
            id.path().display()
        ))
    })?;
    let (_, dirty) = repo.head()?;
    if dirty && !cli.dry_run {
        return Err(Error::Refused(format!(
            "{} has uncommitted changes: a rollback is a commit on top of HEAD; commit or stash them first",
            repo.root.display()
        )));
    }
    let at_head = git.file_at(git.head()?, &id.path())?;
    let text = String::from_utf8(restored.clone()).map_err(|_| {
        Error::Process(format!(
            "{}: {} is not UTF-8",
            target.tag,
            id.path().display()
        ))
    })?;
    let src = SourceFile::from_text(format!("{} (at {})", id.path().display(), target.tag), text);
    let request = gitops_core::model::load::deployment(&src)?;
    let state_dir = cli
        .state_dir
        .as_deref()
        .map(|d| std::path::absolute(d).map_err(Error::io(d)))
        .transpose()?;
    let cache_dir = cli.cache_dir.clone().unwrap_or_else(default_cache_dir);
    let cache = ModuleCache::new(cache_dir.clone(), false);
    let ctx = Ctx {
        cli: &cli,
        repo: &repo,
        id: &id,
        state_dir: state_dir.clone(),
    };
    let out = match &cli.out {
        Some(o) => std::path::absolute(o).map_err(Error::io(o))?,
        None => std::path::absolute(gitops_core::lifecycle::default_out(
            "rollback",
            state_dir.as_deref(),
            &id,
        ))
        .map_err(Error::io("build"))?,
    };

    // 1. The restored request, rendered against HEAD and planned from a scratch directory: every
    // refusal happens before anything is committed.
    ctx.say(&format!(
        "restoring {} from {} (commit {}), latest is {latest}",
        id.path().display(),
        target.tag,
        &target.commit[..12]
    ));
    let renderer = Renderer::new(&repo, &cache, ctx.options())?;
    let first = renderer.render_request(&id, &request, &src)?;
    for w in &first.warnings {
        progress(PROGRAM, &format!("warning: {id}: {w}"));
    }
    let revoked = gitops_core::records::revocation::read(&repo.root)?;
    let hits = gitops_core::records::revocation::hits(&revoked, &first.manifest);
    if !hits.is_empty() && !cli.allow_revoked {
        let list: Vec<String> = hits
            .iter()
            .map(|r| format!("{} {} ({})", r.kind, r.target, r.reason))
            .collect();
        return Err(Error::Refused(format!(
            "{id}: {} restores {}@{}, which is revoked: {}; give --allow-revoked to proceed",
            target.tag,
            first.manifest.component,
            first.manifest.package,
            list.join("; ")
        )));
    }
    let parent = out.parent().unwrap_or(Path::new(".")).to_path_buf();
    std::fs::create_dir_all(&parent).map_err(Error::io(&parent))?;
    let scratch = tempfile::Builder::new()
        .prefix(".gitops-rollback-")
        .tempdir_in(&parent)
        .map_err(Error::io(&parent))?;
    let scratch_out = scratch.path().join("render");
    render::write(&first, &scratch_out)?;
    let scratch_rendered = RenderedDir::open(&scratch_out)?;
    let (tf, vault) = scratch_rendered.terraform(&repo, &cache_dir)?;
    ctx.say("terraform init + plan (restored request)");
    let planned = ctx.plan(&scratch_out, &tf)?;
    if let Some(e) = policy_refusal(&id.to_string(), &planned.policy) {
        return Err(e);
    }
    if !cli.allow_data_loss {
        if let Some(e) = data_loss_refusal(&id.to_string(), &planned.summary, "the rollback") {
            return Err(e);
        }
    }
    if cli.dry_run {
        if cli.json {
            print_json(&serde_json::json!({
                "deployment": id.to_string(), "dry_run": true, "target": target.tag, "from": latest,
                "package": format!("{}@{}", first.manifest.component, first.manifest.package),
                "summary": planned.summary, "data_loss": planned.summary.data_loss(),
                "committed": false, "exit_code": exit::OK,
            }))?;
        } else {
            print!("{}", planned.markdown);
            println!(
                "\ndry run: nothing committed (would restore {} to {} from {latest})",
                id.path().display(),
                target.tag
            );
        }
        if let Some(v) = vault {
            v.close();
        }
        return Ok(exit::OK);
    }

    // 2. The commit (skipped when HEAD already has the restored request), then the render at the
    // new commit and its plan: what gitops-apply applies.
    let committed = if at_head.as_deref() == Some(restored.as_slice()) {
        ctx.say(&format!(
            "{} at HEAD already equals {}: nothing to commit",
            id.path().display(),
            target.tag
        ));
        None
    } else {
        let message = format!(
            "rollback {id} to {} (from {latest})\n\nRestores {} to its content at {} (commit {}, {}).\n",
            target.tag,
            id.path().display(),
            target.tag,
            target.commit,
            target.meta.package
        );
        let commit = git.commit_and_push(
            &[Change {
                path: id.path(),
                contents: Some(restored.clone()),
            }],
            &message,
            PUSH_ATTEMPTS,
        )?;
        ctx.say(&format!(
            "committed {commit}{}",
            if git.remote().is_some() {
                " and pushed"
            } else {
                ""
            }
        ));
        Some(commit.to_string())
    };
    let renderer = Renderer::new(&repo, &cache, ctx.options())?;
    let second = renderer.render(&id)?;
    render::write(&second, &out)?;
    drop(scratch);
    ctx.say("terraform init + plan (at the rollback commit)");
    let planned = ctx.plan(&out, &tf)?;
    if let Some(v) = vault {
        for e in v.close() {
            progress(PROGRAM, &format!("warning: {e}"));
        }
    }
    if cli.json {
        print_json(&serde_json::json!({
            "deployment": id.to_string(), "dry_run": false, "target": target.tag, "from": latest,
            "package": format!("{}@{}", second.manifest.component, second.manifest.package),
            "commit": committed, "committed": committed.is_some(), "pushed": committed.is_some() && git.remote().is_some(),
            "out": out, "summary": planned.summary, "data_loss": planned.summary.data_loss(),
            "digest": planned.record.digest, "exit_code": exit::OK,
        }))?;
    } else {
        print!("{}", planned.markdown);
        match &committed {
            Some(c) => println!(
                "\nrolled back {id} to {} (from {latest}) in commit {}",
                target.tag,
                &c[..12]
            ),
            None => println!(
                "\n{id}: the request already equals {}; no commit",
                target.tag
            ),
        }
        println!(
            "planned in {}: apply with gitops-apply --repo {} {}",
            out.display(),
            repo.root.display(),
            out.display()
        );
    }
    Ok(exit::OK)
}
