//! `gitops-destroy`: guarded destruction of a deployment, recorded as a tombstone tag, its request
//! removed from git; `--orphans` lists deployments whose request is gone but whose resources live.

use clap::Parser;
use gitops_cli::{print_json, progress};
use gitops_core::error::{exit, Error, Result};
use gitops_core::exec::git::{Change, GitRepo};
use gitops_core::exec::modcache::{default_cache_dir, ModuleCache};
use gitops_core::model::sot::{DeploymentId, SourceRepo};
use gitops_core::plan::rendered::RenderedDir;
use gitops_core::plan::run::{self as plan_run, data_loss_refusal, policy_refusal};
use gitops_core::records::deployment::{self as meta, DeployMeta, PUSH_ATTEMPTS};
use gitops_core::render::{self, RenderOptions, Rendered, Renderer};
use std::path::{Path, PathBuf};
use std::time::Duration;

const PROGRAM: &str = "gitops-destroy";

/// Destroy a deployment, guarded; or list orphaned deployments (--orphans).
///
/// Requires --confirm <name> (the deployment's name) and, in a protected environment,
/// --approved-by. Renders the deployment (from its request at HEAD; when HEAD no longer has the
/// request, from the commit of its last recorded deployment), plans the destroy (`terraform plan
/// -destroy`), prints the summary, refuses stateful destruction (databases, volumes) without
/// --allow-data-loss, destroys, verifies that the state is empty, records the tombstone tag
/// `destroyed/<env>/<name>/<seq>` and removes the request from git in a commit (or reports that
/// HEAD already removed it: deleting the request file is how a commit asks for destruction).
///
/// --orphans lists deployments with a live recorded deployment (a deploy/ tag without a later
/// destroyed/ tag) but no request at HEAD; with --since REV also the requests deleted in REV..HEAD.
///
/// --out defaults to <state-dir>/work/destroy/<env>/<name>, else build/destroy/<env>/<name>.
///
/// Exit codes: 0 destroyed (or orphans listed), 3 refused (no or wrong --confirm, no approval,
/// data loss, policy deny, lock held), 2 invalid input, 1 failure.
#[derive(Debug, Parser)]
#[command(
    name = "gitops-destroy",
    version,
    after_help = "Examples:
  gitops-destroy --repo platform-live dev/web-frontend --confirm web-frontend
  gitops-destroy --repo platform-live dev/orders-db --confirm orders-db --allow-data-loss
  gitops-destroy --repo platform-live prod/orders-api --confirm orders-api --approved-by alice --json
  gitops-destroy --repo platform-live --orphans --since HEAD~1"
)]
pub struct Cli {
    /// The deployment, as <env>/<name>.
    #[arg(value_name = "ENV/NAME", required_unless_present = "orphans")]
    pub deployment: Option<String>,
    /// The deployment's name, typed again: nothing is destroyed without it.
    #[arg(long, value_name = "NAME")]
    pub confirm: Option<String>,
    /// Who approved the destruction; required for protected environments, recorded in the tombstone.
    #[arg(long, value_name = "WHO")]
    pub approved_by: Option<String>,
    /// Proceed although stateful resources (databases, volumes) are destroyed.
    #[arg(long)]
    pub allow_data_loss: bool,
    /// List orphaned deployments (request deleted, resources still recorded) instead.
    #[arg(long, conflicts_with_all = ["deployment", "confirm", "approved_by", "allow_data_loss"])]
    pub orphans: bool,
    /// With --orphans: also the requests deleted in the commits since REV.
    #[arg(long, value_name = "REV", requires = "orphans")]
    pub since: Option<String>,
    /// The source-of-truth repository.
    #[arg(long, env = "GITOPS_REPO", default_value = ".", value_name = "DIR")]
    pub repo: PathBuf,
    /// Where the deployment is rendered and the destroy planned (see above for the default).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Build tag recorded in the tombstone (Jenkins sets BUILD_TAG).
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

pub fn run(cli: Cli) -> Result<u8> {
    if cli.orphans {
        return orphans(&cli.repo, cli.since.as_deref(), cli.json);
    }
    let Some(dep) = &cli.deployment else {
        return Err(Error::Usage("give <env>/<name> or --orphans".into()));
    };
    let id = DeploymentId::parse(dep)?;
    if !gitops_core::model::names::is_build_tag(&cli.build_tag) {
        return Err(Error::Usage(format!(
            "--build-tag {}: allowed are 1-128 ASCII letters, digits and . _ - : + @",
            gitops_core::model::names::shown(&cli.build_tag)
        )));
    }
    gitops_core::lifecycle::check_approver(cli.approved_by.as_deref())?;
    match cli.confirm.as_deref() {
        Some(c) if c == id.name => {}
        Some(c) => {
            return Err(Error::Refused(format!(
            "--confirm {} does not match the deployment name: destroying {id} needs --confirm {}",
            gitops_core::model::names::shown(c),
            id.name
        )))
        }
        None => {
            return Err(Error::Refused(format!(
                "destroying {id} needs --confirm {}",
                id.name
            )))
        }
    }
    let say = |m: &str| {
        if !cli.json {
            progress(PROGRAM, &format!("{id}: {m}"));
        }
    };
    let repo = SourceRepo::open(&cli.repo)?;
    let git = GitRepo::open(&repo)?;
    let head = git.head()?;
    let state_dir = cli
        .state_dir
        .as_deref()
        .map(|d| std::path::absolute(d).map_err(Error::io(d)))
        .transpose()?;
    let cache_dir = cli.cache_dir.clone().unwrap_or_else(default_cache_dir);
    let cache = ModuleCache::new(cache_dir.clone(), false);
    let options = RenderOptions {
        build_tag: cli.build_tag.clone(),
        state_dir: state_dir.clone(),
        vendor: true,
        stage: gitops_core::guard::Stage::Destroy,
        allow_revoked: false,
    };
    let history = meta::history(&git, &id)?;
    let at_head = git.file_at(head, &id.path())?;

    // The source: HEAD while it has the request, else the commit of the last recorded deployment,
    // materialized next to the repository (relative module roots resolve the same).
    let (source_repo, commit, request, _old): (
        SourceRepo,
        String,
        Vec<u8>,
        Option<tempfile::TempDir>,
    ) = match &at_head {
        Some(bytes) => (repo.clone(), head.to_string(), bytes.clone(), None),
        None => {
            let last = meta::records(&git, &meta::deploy_prefix(&id))?
                    .pop()
                    .ok_or_else(|| {
                        Error::Usage(format!(
                            "{id}: no request at HEAD and no recorded deployment ({}*): nothing to destroy",
                            meta::deploy_prefix(&id)
                        ))
                    })?;
            say(&format!(
                "no request at HEAD: rendering it as recorded by {} (commit {})",
                last.tag,
                &last.commit[..12]
            ));
            let oid = git2::Oid::from_str(&last.commit)
                .map_err(|e| Error::Process(format!("{}: {e}", last.tag)))?;
            let parent = repo.root.parent().unwrap_or(Path::new("/"));
            let tmp = tempfile::Builder::new()
                .prefix(".gitops-destroy-")
                .tempdir_in(parent)
                .or_else(|_| tempfile::tempdir())
                .map_err(Error::io(parent))?;
            git.materialize(oid, tmp.path())?;
            let old = SourceRepo::open(tmp.path())?;
            let bytes = git.file_at(oid, &id.path())?.unwrap_or_default();
            (old, last.commit.clone(), bytes, Some(tmp))
        }
    };
    let (env, _) = source_repo.environment(&id.env, |known| {
        gitops_core::error::ConfigError::new(
            id.path(),
            None,
            format!(
                "environment {} without environments/{}.toml",
                id.env, id.env
            ),
            format!("an environment with a file: {known}"),
        )
    })?;
    if env.protected && cli.approved_by.is_none() {
        return Err(Error::Refused(format!(
            "{id} is in protected environment {}: destroying it needs an approval (--approved-by <who>)",
            id.env
        )));
    }
    let renderer = Renderer {
        repo: &source_repo,
        cache: &cache,
        options,
        commit,
        dirty: at_head.is_some() && repo.head()?.1,
    };
    let rendered: Rendered = renderer.render(&id)?;
    let out = match &cli.out {
        Some(o) => std::path::absolute(o).map_err(Error::io(o))?,
        None => std::path::absolute(gitops_core::lifecycle::default_out(
            "destroy",
            state_dir.as_deref(),
            &id,
        ))
        .map_err(Error::io("build"))?,
    };
    render::write(&rendered, &out)?;
    let dir = RenderedDir::open(&out)?;
    let _lock = dir.lock(PROGRAM, Duration::from_secs(cli.lock_timeout))?;
    let (tf, vault) = dir.terraform(&source_repo, &cache_dir)?;
    say("terraform init + plan -destroy");
    let title = format!(
        "Destroy plan: {id} ({}@{}, profile {})",
        rendered.manifest.component, rendered.manifest.package, rendered.manifest.profile
    );
    let planned = plan_run::plan(&dir, &source_repo, &tf, true, cli.lock_timeout, &title)?;
    if !cli.json {
        print!("{}", planned.markdown);
    }
    if let Some(e) = policy_refusal(&id.to_string(), &planned.policy) {
        return Err(e);
    }
    if !cli.allow_data_loss {
        if let Some(e) = data_loss_refusal(&id.to_string(), &planned.summary, "the destroy") {
            return Err(e);
        }
    }
    let lock = format!("-lock-timeout={}s", cli.lock_timeout);
    if planned.summary.has_changes() {
        say("terraform apply (destroy plan)");
        tf.run_ok(
            &out,
            &["apply", "-input=false", "-no-color", &lock, "plan.bin"],
        )?;
    } else {
        say("the state holds nothing to destroy");
    }
    let _ = std::fs::remove_file(out.join("plan.bin"));
    let left = tf.run_ok(&out, &["state", "list"])?.stdout;
    if let Some(v) = vault {
        for e in v.close() {
            progress(PROGRAM, &format!("warning: {e}"));
        }
    }
    if !left.trim().is_empty() {
        return Err(Error::Process(format!(
            "{id}: the state still holds resources after the destroy:\n{}",
            left.trim_end()
        )));
    }

    // The tombstone (unless the last record already is one), then the request's removal.
    let tombstone =
        if history.last().is_some_and(|r| r.meta.destroyed) && !planned.summary.has_changes() {
            say("already recorded as destroyed");
            history.last().map(|r| r.tag.clone())
        } else {
            let record = DeployMeta {
                deployment: id.to_string(),
                package: format!(
                    "{}@{}",
                    rendered.manifest.component, rendered.manifest.package
                ),
                profile: rendered.manifest.profile.clone(),
                plan_digest: planned.record.digest.clone(),
                outputs_digest: meta::outputs_digest(&serde_json::json!({})),
                build_tag: cli.build_tag.clone(),
                approved_by: cli.approved_by.clone(),
                time: meta::now(),
                source_commit: head.to_string(),
                request_sha256: meta::request_digest(&request),
                destroyed: true,
            };
            let prefix = meta::destroyed_prefix(&id);
            Some(git.tag_and_push(
                &|g: &GitRepo| Ok(format!("{prefix}{}", g.next_seq(&prefix)?)),
                head,
                &record.message(),
                PUSH_ATTEMPTS,
            )?)
        };
    let removal = match &at_head {
        Some(_) => {
            let message = format!(
                "destroy {id}: remove its request ({})\n",
                tombstone.as_deref().unwrap_or("destroyed")
            );
            let c = git.commit_and_push(
                &[Change {
                    path: id.path(),
                    contents: None,
                }],
                &message,
                PUSH_ATTEMPTS,
            )?;
            say(&format!("removed {} in commit {c}", id.path().display()));
            Some(c.to_string())
        }
        None => {
            say(&format!(
                "the request was already removed at HEAD ({})",
                &head.to_string()[..12]
            ));
            None
        }
    };
    if cli.json {
        print_json(&serde_json::json!({
            "deployment": id.to_string(), "destroyed": planned.summary.destroy, "summary": planned.summary,
            "data_loss": planned.summary.data_loss(), "tombstone": tombstone, "removal_commit": removal,
            "request_already_removed": at_head.is_none(), "approved_by": cli.approved_by, "exit_code": exit::OK,
        }))?;
    } else {
        println!(
            "destroyed {id} ({} resources); recorded {}; {}",
            planned.summary.destroy,
            tombstone.as_deref().unwrap_or("-"),
            match &removal {
                Some(c) => format!("request removed in commit {}", &c[..12]),
                None => "request already removed at HEAD".into(),
            }
        );
    }
    Ok(exit::OK)
}

/// `gitops-destroy --orphans [--since REV]`.
fn orphans(repo: &Path, since: Option<&str>, json: bool) -> Result<u8> {
    let repo = gitops_core::model::sot::SourceRepo::open(repo)?;
    let orphans = gitops_core::lifecycle::orphans::find(&repo, since)?;
    if json {
        gitops_cli::print_json(&serde_json::json!({ "orphans": orphans }))?;
    } else if orphans.is_empty() {
        println!("no orphaned deployment");
    } else {
        for o in &orphans {
            println!(
                "destroy  {}  ({})\n         {}",
                o.deployment, o.reason, o.destroy
            );
        }
    }
    Ok(exit::OK)
}
