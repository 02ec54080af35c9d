//! The `gitops-render` command line: argument types (their doc comments are the `--help` text) and
//! the code that runs them.

use clap::{Args, Parser, Subcommand};
use gitops_cli::{print_json, progress};
use gitops_core::error::{exit, Error, Result};
use gitops_core::exec::modcache::{default_cache_dir, ModuleCache};
use gitops_core::model::sot::{DeploymentId, SourceRepo};
use gitops_core::model::FileKind;
use gitops_core::render::affected as changes;
use gitops_core::render::{self, RenderOptions, Rendered, Renderer};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

const PROGRAM: &str = "gitops-render";

/// Render a deployment request into a Terraform root module (JSON syntax).
///
/// Resolves deployment + environment + profile (cloud section) + package, checks every module input
/// against the module's variables at its pinned tag, and writes `main.tf.json`, the vendored module
/// code under `modules/` and `.gitops/manifest.json`. The same inputs always give byte-identical
/// output.
///
/// Exit codes: 0 success, 1 failure (git, I/O; `--check` found a difference), 2 invalid input
/// (the message names file, key and line; nothing was written).
#[derive(Debug, Parser)]
#[command(name = "gitops-render", version, args_conflicts_with_subcommands = true, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub render: RenderArgs,
}

const EXAMPLES: &str = "Examples:
  gitops-render --repo platform-live dev/web-frontend --out build/dev/web-frontend
  gitops-render --repo platform-live dev/web-frontend --explain
  gitops-render --repo platform-live --all --out build --json
  gitops-render --repo platform-live --changed-since HEAD~1 --list
  gitops-render --repo platform-live dev/web-frontend --out build/dev/web-frontend --check
  gitops-render schema deployment > deployment.schema.json";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the JSON Schema of a file kind, for editors and CI validation.
    Schema {
        /// File kind.
        #[arg(value_enum)]
        kind: FileKind,
    },
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Deployment to render, as <env>/<name> (deployments/<env>/<name>.toml).
    #[arg(value_name = "ENV/NAME", conflicts_with_all = ["all", "changed_since"])]
    pub deployment: Option<String>,
    /// The source-of-truth repository.
    #[arg(long, env = "GITOPS_REPO", default_value = ".", value_name = "DIR")]
    pub repo: PathBuf,
    /// Output directory (with --all/--changed-since: the root; each deployment goes to <env>/<name>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Render every deployment of the repository, in parallel.
    #[arg(long)]
    pub all: bool,
    /// Render the deployments affected by the commits since REV; deleted requests are reported as to-destroy.
    #[arg(long, value_name = "REV")]
    pub changed_since: Option<String>,
    /// With --changed-since: list the affected deployments, render nothing.
    #[arg(long, requires = "changed_since")]
    pub list: bool,
    /// Print every module input with its value and where it came from.
    #[arg(long)]
    pub explain: bool,
    /// Write nothing; exit 1 if the output directory differs from what would be written.
    #[arg(long)]
    pub check: bool,
    /// Emit `git::<url>?ref=<tag>` module sources instead of vendoring module code.
    #[arg(long)]
    pub no_vendor: bool,
    /// Fetch module tags again even when the cache has them.
    #[arg(long)]
    pub refresh: bool,
    /// Build tag put on every resource (Jenkins sets BUILD_TAG).
    #[arg(long, env = "BUILD_TAG", default_value = "local", value_name = "TAG")]
    pub build_tag: String,
    /// Directory for local Terraform state, used by `{state_dir}` in the backend template.
    #[arg(long, env = "GITOPS_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Module cache directory [default: $GITOPS_CACHE_DIR, else ~/.cache/gitops-toolkit].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Parallel renders for --all/--changed-since [default: number of CPUs].
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Machine-readable output on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: Cli) -> Result<u8> {
    if let Some(Command::Schema { kind }) = cli.command {
        print_json(&kind.schema())?;
        return Ok(exit::OK);
    }
    let args = cli.render;
    if !gitops_core::model::names::is_build_tag(&args.build_tag) {
        return Err(Error::Usage(format!(
            "--build-tag {}: allowed are 1-128 ASCII letters, digits and . _ - : + @",
            gitops_core::model::names::shown(&args.build_tag)
        )));
    }
    let repo = SourceRepo::open(&args.repo)?;
    let state_dir = args
        .state_dir
        .as_deref()
        .map(|d| std::path::absolute(d).map_err(Error::io(d)))
        .transpose()?;
    let cache = ModuleCache::new(
        args.cache_dir.clone().unwrap_or_else(default_cache_dir),
        args.refresh,
    );
    // Listing what a commit range affects renders nothing: it needs neither the renderer nor the
    // work tree's status (a scan of every file), only the diff.
    if let (Some(rev), true) = (&args.changed_since, args.list || args.out.is_none()) {
        let affected = changes::changed_since(&repo, rev, Some(cache.dir()))?;
        if args.json {
            print_json(&affected)?;
        } else {
            for (id, why) in &affected.render {
                println!("render   {id}  ({})", why.join("; "));
            }
            for id in &affected.destroy {
                println!("destroy  {id}  (request deleted)");
            }
            if affected.render.is_empty() && affected.destroy.is_empty() {
                println!("no deployment affected since {rev}");
            }
        }
        return Ok(exit::OK);
    }
    let renderer = Renderer::new(
        &repo,
        &cache,
        RenderOptions {
            build_tag: args.build_tag.clone(),
            state_dir,
            vendor: !args.no_vendor,
            stage: gitops_core::guard::Stage::Render,
            allow_revoked: false,
        },
    )?;
    if renderer.dirty && !args.json {
        progress(
            PROGRAM,
            &format!(
                "warning: {} has uncommitted changes; the manifest records source_dirty = true",
                repo.root.display()
            ),
        );
    }
    if let Some(jobs) = args.jobs {
        // Ignore the error when a pool already exists (tests call run more than once).
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs.max(1))
            .build_global();
    }

    if let Some(dep) = &args.deployment {
        let id = DeploymentId::parse(dep)?;
        let rendered = renderer.render(&id)?;
        return single(&args, &rendered);
    }
    let (ids, destroy, reasons) = if let Some(rev) = &args.changed_since {
        let affected = changes::changed_since(&repo, rev, Some(cache.dir()))?;
        let ids = affected
            .render
            .keys()
            .map(|s| DeploymentId::parse(s))
            .collect::<Result<Vec<_>>>()?;
        (ids, affected.destroy, affected.render)
    } else if args.all {
        (repo.deployments()?, Vec::new(), Default::default())
    } else {
        return Err(Error::Usage(
            "nothing to render: give <env>/<name>, --all or --changed-since REV".into(),
        ));
    };
    fleet(&args, &renderer, &ids, &destroy, &reasons)
}

fn single(args: &RenderArgs, rendered: &Rendered) -> Result<u8> {
    for w in &rendered.warnings {
        progress(PROGRAM, &format!("warning: {}: {w}", rendered.id));
    }
    if args.explain {
        if args.json {
            print_json(
                &serde_json::json!({ "deployment": rendered.id.to_string(), "inputs": rendered.explain }),
            )?;
        } else {
            print_explain(rendered);
        }
        if args.out.is_none() {
            return Ok(exit::OK);
        }
    }
    let Some(out) = &args.out else {
        return Err(Error::Usage(
            "--out DIR is required (or --explain to only explain)".into(),
        ));
    };
    if args.check {
        let diff = render::check(rendered, out)?;
        report_check(args, &[(rendered.id.to_string(), diff.clone())])?;
        return Ok(if diff.is_empty() {
            exit::OK
        } else {
            exit::FAILED
        });
    }
    render::write(rendered, out)?;
    if args.json && !args.explain {
        print_json(
            &serde_json::json!({ "deployment": rendered.id.to_string(), "out": out, "manifest": rendered.manifest }),
        )?;
    } else if !args.json {
        println!(
            "rendered {} ({}@{}, profile {}) -> {}",
            rendered.id,
            rendered.manifest.component,
            rendered.manifest.package,
            rendered.manifest.profile,
            out.display()
        );
    }
    Ok(exit::OK)
}

fn print_explain(r: &Rendered) {
    println!(
        "{} ({}@{}, profile {}, {})",
        r.id, r.manifest.component, r.manifest.package, r.manifest.profile, r.manifest.cloud
    );
    let mut module = "";
    for e in &r.explain {
        if e.module != module {
            module = &e.module;
            let m = &r.manifest.modules[module];
            println!(
                "\nmodule {module}  {}@{} ({})",
                m.url,
                m.git_ref,
                &m.commit[..12.min(m.commit.len())]
            );
        }
        let value = if e.input == "tags" {
            "{...deployment tags}".to_owned()
        } else {
            e.value.to_string()
        };
        println!("  {:<28} = {:<40} <- {}", e.input, value, e.source);
        for note in &e.notes {
            println!("  {:<28}   {note}", "");
        }
    }
}

fn report_check(args: &RenderArgs, results: &[(String, Vec<String>)]) -> Result<()> {
    if args.json {
        let v: Vec<_> = results.iter().map(|(id, diff)| serde_json::json!({ "deployment": id, "up_to_date": diff.is_empty(), "differs": diff })).collect();
        return print_json(&v);
    }
    for (id, diff) in results {
        if diff.is_empty() {
            println!("{id}: up to date");
        } else {
            println!("{id}: {} file(s) differ: {}", diff.len(), diff.join(", "));
        }
    }
    Ok(())
}

fn fleet(
    args: &RenderArgs,
    renderer: &Renderer<'_>,
    ids: &[DeploymentId],
    destroy: &[String],
    reasons: &std::collections::BTreeMap<String, Vec<String>>,
) -> Result<u8> {
    let Some(out) = &args.out else {
        return Err(Error::Usage("--out DIR is required with --all".into()));
    };
    if !args.json {
        progress(PROGRAM, &format!("rendering {} deployment(s)", ids.len()));
    }
    // Resolve and check everything first: one invalid request writes nothing at all.
    // `--explain` is for one deployment: dropping it here keeps a 10,000-deployment run's peak
    // memory to what is written (bench/ B7).
    let results: Vec<Result<Rendered>> = ids
        .par_iter()
        .map(|id| {
            renderer.render(id).map(|mut r| {
                r.explain = Vec::new();
                r
            })
        })
        .collect();
    let mut rendered = Vec::new();
    let mut config_errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in results {
        match r {
            Ok(r) => rendered.push(r),
            // A mistake in a shared file (gitops.toml, a package) fails every deployment that
            // uses it with the same message: report it once.
            Err(Error::Config(e)) => {
                if seen.insert(e.to_string()) {
                    config_errors.push(*e)
                }
            }
            Err(e) => return Err(e),
        }
    }
    if !config_errors.is_empty() {
        return Err(Error::Configs(config_errors));
    }
    // The same warning (an uncertified package, say) for many deployments is printed once, with
    // how many deployments it concerns and the first few of them.
    let mut warned: std::collections::BTreeMap<&str, Vec<&DeploymentId>> = Default::default();
    for r in &rendered {
        for w in &r.warnings {
            warned.entry(w.as_str()).or_default().push(&r.id);
        }
    }
    for (w, ids) in &warned {
        match ids.as_slice() {
            [id] => progress(PROGRAM, &format!("warning: {id}: {w}")),
            _ => {
                let first: Vec<String> = ids.iter().take(3).map(|i| i.to_string()).collect();
                let more = if ids.len() > 3 { ", ..." } else { "" };
                progress(
                    PROGRAM,
                    &format!(
                        "warning: {w}: {} deployments ({}{more})",
                        ids.len(),
                        first.join(", ")
                    ),
                );
            }
        }
    }
    let target = |r: &Rendered| out.join(&r.id.env).join(&r.id.name);
    if args.check {
        let diffs = rendered
            .par_iter()
            .map(|r| render::check(r, &target(r)).map(|d| (r.id.to_string(), d)))
            .collect::<Result<Vec<_>>>()?;
        report_check(args, &diffs)?;
        return Ok(if diffs.iter().all(|(_, d)| d.is_empty()) {
            exit::OK
        } else {
            exit::FAILED
        });
    }
    let done = std::sync::atomic::AtomicUsize::new(0);
    rendered.par_iter().try_for_each(|r| {
        render::write(r, &target(r))?;
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if !args.json && n.is_multiple_of(500) {
            progress(PROGRAM, &format!("{n}/{} written", rendered.len()));
        }
        Ok::<_, Error>(())
    })?;
    if args.json {
        let items: Vec<_> = rendered
            .iter()
            .map(|r| {
                serde_json::json!({
                        "deployment": r.id.to_string(),
                        "out": target(r),
                        "component": r.manifest.component,
                        "package": r.manifest.package,
                        "profile": r.manifest.profile,
                        "reasons": reasons.get(&r.id.to_string()).cloned().unwrap_or_default(),
                "warnings": r.warnings,
                    })
            })
            .collect();
        print_json(&serde_json::json!({ "rendered": items, "destroy": destroy }))?;
    } else {
        for r in &rendered {
            println!("rendered {} -> {}", r.id, display(&target(r)));
        }
        for id in destroy {
            println!("destroy  {id}  (request deleted)");
        }
    }
    Ok(exit::OK)
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
