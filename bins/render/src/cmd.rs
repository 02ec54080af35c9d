//! The `gitops-render` command line: argument types (their doc comments are the `--help` text),
//! the conversion to the library's options and the printing of its reports.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use gitops_cli::{print_json, BuildTagArg, CacheDirArg, JsonArg, Output, RepoArg, StateDirArg};
use gitops_core::error::{exit, Error, Result};
use gitops_core::exec::modcache::ModuleCache;
use gitops_core::model::names::short_id;
use gitops_core::model::sot::{DeploymentId, SourceRepo};
use gitops_core::model::FileKind;
use gitops_core::render::affected as changes;
use gitops_core::render::{
    self, CheckReport, FleetOptions, FleetReport, RenderOptions, Rendered, Renderer, Selection,
};
use gitops_core::report::Reporter;
use std::path::PathBuf;

const PROGRAM: &str = "gitops-render";

/// Render a deployment request into a Terraform root module (JSON syntax).
///
/// Resolves deployment + environment + profile (cloud section) + package, checks every module input
/// against the module's variables at its pinned tag, and writes `main.tf.json`, the vendored module
/// code and `.gitops/manifest.json`. The same inputs always give byte-identical output. One
/// deployment rendered into its own directory gets its modules under `modules/`; a fleet render
/// (--all, --changed-since) into `<out>/<env>/<name>` writes each module tree once into
/// `<out>/.modules/<git tree id>` and points every deployment at it by a relative path
/// (--standalone: a copy in each deployment instead).
///
/// Exit codes: 0 success, 1 failure (git, I/O; `--check` found a difference), 2 invalid input
/// (the message names file, key and line; nothing was written), 3 refused by a guard (a protected
/// environment and a package without a valid certification: missing, changed or revoked; with
/// --changed-since, a deleted request that a remaining request still depends on; nothing was
/// written).
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
  gitops-render --repo platform-live --all --out build --standalone
  gitops-render --repo platform-live --changed-since HEAD~1 --list
  gitops-render --repo platform-live --changed-since origin/main --by-render --list --json
  gitops-render --repo platform-live --all --list --json
  gitops-render --repo platform-live dev/web-frontend --out build/dev/web-frontend --check
  gitops-render schema deployment > deployment.schema.json";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the JSON Schema of a file kind, for editors and CI validation.
    Schema {
        /// File kind.
        #[arg(value_parser = file_kind())]
        kind: FileKind,
    },
}

/// `gitops-render schema <KIND>`: one of the kinds' names, listed in `--help` and in errors.
fn file_kind() -> impl TypedValueParser<Value = FileKind> {
    PossibleValuesParser::new(FileKind::ALL.map(FileKind::name))
        .try_map(|name| name.parse::<FileKind>())
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Deployment to render, as <env>/<name> (deployments/<env>/<name>.toml).
    #[arg(value_name = "ENV/NAME", conflicts_with_all = ["all", "changed_since"])]
    pub deployment: Option<String>,
    #[command(flatten)]
    pub repo: RepoArg,
    /// Output directory (with --all/--changed-since: the root; each deployment goes to <env>/<name>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Render every deployment of the repository, in parallel.
    #[arg(long)]
    pub all: bool,
    /// Render the deployments affected by the commits since REV (and their dependents); deleted requests are reported as to-destroy, dependents first.
    #[arg(long, value_name = "REV")]
    pub changed_since: Option<String>,
    /// With --changed-since: find what changed by rendering every request at REV and at HEAD and
    /// comparing the rendered root modules (and their vendored modules), instead of mapping the
    /// changed paths: a change that alters what Terraform sees is found, whatever file it was in
    /// and however it is read; one that alters nothing (a comment) is not.
    #[arg(long, requires = "changed_since")]
    pub by_render: bool,
    /// With --changed-since (or --all): list the affected (every) deployment in dependency waves (`waves` in --json), render nothing.
    #[arg(long)]
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
    /// With --all or --changed-since: copy the modules into each deployment's `modules/` (every
    /// directory self-contained) instead of the output root's module store `<out>/.modules`.
    #[arg(long, conflicts_with = "no_vendor")]
    pub standalone: bool,
    /// Fetch module tags again even when the cache has them.
    #[arg(long)]
    pub refresh: bool,
    #[command(flatten)]
    pub build_tag: BuildTagArg,
    #[command(flatten)]
    pub state_dir: StateDirArg,
    #[command(flatten)]
    pub cache_dir: CacheDirArg,
    /// Parallel renders for --all/--changed-since [default: number of CPUs].
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(cli: Cli) -> Result<u8> {
    if let Some(Command::Schema { kind }) = cli.command {
        print_json(&kind.schema())?;
        return Ok(exit::OK);
    }
    let args = cli.render;
    let json = args.json.json;
    let output = Output::new(PROGRAM, json);
    let build_tag = args.build_tag.checked()?.to_owned();
    let repo = SourceRepo::open(&args.repo.repo)?;
    let state_dir = args.state_dir.absolute()?;
    let cache = ModuleCache::new(args.cache_dir.dir(), args.refresh);
    // Listing what a commit range affects renders nothing: it needs neither the renderer nor the
    // work tree's status (a scan of every file), only the diff.
    let by_render = |rev: &str| changes::changed_by_render(&repo, rev, &cache, state_dir.clone());
    if let (Some(rev), true) = (&args.changed_since, args.list || args.out.is_none()) {
        let affected = if args.by_render {
            by_render(rev)?
        } else {
            changes::changed_since(&repo, rev, Some(cache.dir()))?
        };
        print_affected(&affected, rev, json)?;
        return Ok(exit::OK);
    }
    if args.list {
        if !args.all {
            return Err(Error::Usage(
                "--list lists what --changed-since REV or --all selects: give one of them".into(),
            ));
        }
        print_affected(&changes::all(&repo)?, "HEAD", json)?;
        return Ok(exit::OK);
    }
    let options = RenderOptions {
        build_tag,
        state_dir: state_dir.clone(),
        vendor: !args.no_vendor,
        module_store: args.deployment.is_none() && !args.standalone,
        stage: gitops_core::guard::Stage::Render,
        allow_revoked: false,
    };
    let renderer = Renderer::new(&repo, &cache, options)?;
    if renderer.dirty {
        output.progress(&format!(
            "warning: {} has uncommitted changes; the manifest records source_dirty = true",
            repo.root.display()
        ));
    }
    if let Some(jobs) = args.jobs {
        // Ignore the error when a pool already exists (tests call run more than once).
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs.max(1))
            .build_global();
    }

    if let Some(dep) = &args.deployment {
        let id = DeploymentId::parse(dep)?;
        let rendered = render::render_deployment(&renderer, &id, &output)?;
        return single(&args, &rendered);
    }
    let selection = if let (Some(rev), true) = (&args.changed_since, args.by_render) {
        Selection::of(by_render(rev)?)?
    } else if let Some(rev) = &args.changed_since {
        Selection::changed_since(&repo, rev, Some(cache.dir()))?
    } else if args.all {
        Selection::all(&repo)?
    } else {
        return Err(Error::Usage(
            "nothing to render: give <env>/<name>, --all or --changed-since REV".into(),
        ));
    };
    let Some(out) = &args.out else {
        return Err(Error::Usage("--out DIR is required with --all".into()));
    };
    let options = FleetOptions {
        selection,
        out: out.clone(),
        check: args.check,
    };
    let report = render::render_fleet(&renderer, &options, &output)?;
    print_fleet(&report, json)?;
    Ok(if report.up_to_date() {
        exit::OK
    } else {
        exit::FAILED
    })
}

fn print_affected(affected: &changes::Affected, rev: &str, json: bool) -> Result<()> {
    if json {
        return print_json(affected);
    }
    // In wave order: with dependencies, each wave after the waves it depends on.
    let several = affected.waves.len() > 1;
    for (n, wave) in affected.waves.iter().enumerate() {
        for id in wave {
            let why = affected
                .render
                .get(id)
                .map(|w| w.join("; "))
                .unwrap_or_default();
            if several {
                gitops_cli::outln!("render   {id}  (wave {}: {why})", n + 1);
            } else {
                gitops_cli::outln!("render   {id}  ({why})");
            }
        }
    }
    for id in &affected.destroy {
        gitops_cli::outln!("destroy  {id}  (request deleted)");
    }
    if affected.render.is_empty() && affected.destroy.is_empty() {
        gitops_cli::outln!("no deployment affected since {rev}");
    }
    Ok(())
}

/// One deployment: `--explain`, then `--check` or writing to `--out`.
fn single(args: &RenderArgs, rendered: &Rendered) -> Result<u8> {
    let json = args.json.json;
    if args.explain {
        if json {
            print_json(&render::explain(rendered))?;
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
        let report = render::check_deployment(rendered, out)?;
        print_checks(std::slice::from_ref(&report), json)?;
        return Ok(if report.up_to_date {
            exit::OK
        } else {
            exit::FAILED
        });
    }
    let report = render::write_deployment(rendered, out)?;
    if json && !args.explain {
        print_json(&report)?;
    } else if !json {
        gitops_cli::outln!(
            "rendered {} ({}@{}, profile {}) -> {}",
            report.deployment,
            report.manifest.component,
            report.manifest.package,
            report.manifest.profile,
            report.out.display()
        );
    }
    Ok(exit::OK)
}

fn print_explain(r: &Rendered) {
    gitops_cli::outln!(
        "{} ({}@{}, profile {}, {})",
        r.id,
        r.manifest.component,
        r.manifest.package,
        r.manifest.profile,
        r.manifest.cloud
    );
    for note in &r.profile_notes {
        gitops_cli::outln!("profile {}: {note}", r.manifest.profile);
    }
    let mut module = "";
    for e in &r.explain {
        if e.module != module {
            module = &e.module;
            let m = &r.manifest.modules[module];
            gitops_cli::outln!(
                "\nmodule {module}  {}@{} ({})",
                m.url,
                m.git_ref,
                short_id(&m.commit, 12)
            );
        }
        let value = if e.input == "tags" {
            "{...deployment tags}".to_owned()
        } else {
            e.value.to_string()
        };
        gitops_cli::outln!("  {:<28} = {:<40} <- {}", e.input, value, e.source);
        for note in &e.notes {
            gitops_cli::outln!("  {:<28}   {note}", "");
        }
    }
}

fn print_checks(checks: &[CheckReport], json: bool) -> Result<()> {
    if json {
        return print_json(&checks);
    }
    for c in checks {
        if c.up_to_date {
            gitops_cli::outln!("{}: up to date", c.deployment);
        } else {
            gitops_cli::outln!(
                "{}: {} file(s) differ: {}",
                c.deployment,
                c.differs.len(),
                c.differs.join(", ")
            );
        }
    }
    Ok(())
}

fn print_fleet(report: &FleetReport, json: bool) -> Result<()> {
    let written = match report {
        FleetReport::Checked(checks) => return print_checks(checks, json),
        FleetReport::Written(written) => written,
    };
    if json {
        return print_json(written);
    }
    for r in &written.rendered {
        gitops_cli::outln!("rendered {} -> {}", r.deployment, r.out.display());
    }
    for id in &written.destroy {
        gitops_cli::outln!("destroy  {id}  (request deleted)");
    }
    Ok(())
}
