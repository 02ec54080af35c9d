//! The `gitops-certify` command line: argument types (their doc comments are the `--help` text),
//! their conversion to the options of `gitops_core::certify`, and the printing of its reports.

use clap::{Args, Parser, Subcommand};
use gitops_cli::{print_json, BuildTagArg, CacheDirArg, JsonArg, Output, RepoArg};
use gitops_core::certify::matrix::{self, MatrixOptions};
use gitops_core::certify::revoke::{self, RevokeOptions, RevokeReport};
use gitops_core::certify::run::{self, CertifyOptions, CertifyReport, Outcome};
use gitops_core::certify::status::{self, StatusOptions};
use gitops_core::error::{exit, Result};
use gitops_core::model::names::check_person;
use std::path::PathBuf;

const PROGRAM: &str = "gitops-certify";

/// Certify component packages, and manage certifications (revoke, status, matrix).
///
/// A certified package version has a record `certifications/<component>/<version>.toml` in the
/// source-of-truth repository, matching the current package file and module commits. Render, plan
/// and apply refuse an uncertified, stale or revoked package in a protected environment (exit 3)
/// and warn in the others.
///
/// Exit codes: 0 success (certified, or already certified), 1 failure (a certification step,
/// terraform, git, Vault), 2 invalid input (no such package, a missing module tag), 3 refused
/// (a revoked module or package).
#[derive(Debug, Parser)]
#[command(
    name = "gitops-certify",
    version,
    after_help = EXAMPLES,
    // Given before or after the subcommand (`gitops-certify matrix --json`).
    mut_arg("repo", |a| a.global(true)),
    mut_arg("cache_dir", |a| a.global(true)),
    mut_arg("json", |a| a.global(true))
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub repo: RepoArg,
    #[command(flatten)]
    pub cache_dir: CacheDirArg,
    #[command(flatten)]
    pub json: JsonArg,
}

const EXAMPLES: &str = "Examples:
  gitops-certify --repo platform-live run web-service 1.1.0 --jobs 2 --junit certify.xml --summary certify.md
  gitops-certify --repo platform-live run web-service 1.1.0 --force
  gitops-certify --repo platform-live revoke network@v1.0.0 --reason 'CVE-2026-1234: open security group'
  gitops-certify --repo platform-live revoke web-service@1.0.0 --reason 'superseded'
  gitops-certify --repo platform-live status
  gitops-certify --repo platform-live matrix web-service --json";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Certify one package version: module checks, then render, init, validate, plan, policy gate,
    /// apply, verify and destroy with every profile supporting the component, in every
    /// certification environment. On success the record is committed and tagged.
    Run(RunArgs),
    /// Revoke a module version (<module repo>@<ref>) or a package (<component>@<version>): every
    /// package containing it is refused by protected environments.
    Revoke(RevokeArgs),
    /// List every package with its state (certified, stale, revoked, uncertified) and the
    /// deployments that use it. Module tags are fetched again, so moved tags show as stale.
    Status,
    /// Show which module versions were certified together.
    Matrix {
        /// Only this component.
        component: Option<String>,
    },
    /// Print the JSON Schema of the record file (certifications/<component>/<version>.toml).
    Schema,
}

#[derive(Debug, Args)]
#[command(mut_arg("build_tag", |a| a.help(
    "Build tag put on every resource and into the record (Jenkins sets BUILD_TAG)"
)))]
pub struct RunArgs {
    /// Component (packages/<component>/).
    pub component: String,
    /// Package version (packages/<component>/<version>.toml).
    pub version: String,
    /// Profiles certified in parallel.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub jobs: usize,
    /// Run again even when a valid record for this exact package exists.
    #[arg(long)]
    pub force: bool,
    /// Write a JUnit XML report here (one test case per step per profile).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary here.
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    #[command(flatten)]
    pub build_tag: BuildTagArg,
    /// Who certifies [default: $BUILD_USER, else $USER].
    #[arg(long, value_name = "WHO")]
    pub by: Option<String>,
    /// Keep the run's renders and Terraform state in DIR (default: a temporary directory, removed).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// <module repo>@<ref> (network@v1.0.0, or network@1.0.0) or <component>@<version>.
    pub target: String,
    /// Why (recorded in certifications/revoked.toml and the commit message).
    #[arg(long)]
    pub reason: String,
    /// Who revokes [default: $BUILD_USER, else $USER].
    #[arg(long, value_name = "WHO")]
    pub by: Option<String>,
}

/// `--by`, checked (exit 2 naming the flag).
fn by(who: &Option<String>) -> Result<Option<String>> {
    if let Some(w) = who {
        check_person("--by", w)?;
    }
    Ok(who.clone())
}

pub fn run(cli: Cli) -> Result<u8> {
    let json = cli.json.json;
    let repo = cli.repo.repo.clone();
    match cli.command {
        Command::Run(args) => {
            let opts = CertifyOptions {
                repo,
                build_tag: args.build_tag.checked()?.to_owned(),
                by: by(&args.by)?,
                component: args.component,
                version: args.version,
                jobs: args.jobs.max(1),
                force: args.force,
                cache_dir: cli.cache_dir.dir(),
                work_dir: args.work_dir,
                junit: args.junit,
                summary: args.summary,
            };
            // Progress is printed with --json too (stderr; stdout has the JSON), as it always was.
            let report = run::certify(&opts, &Output::new(PROGRAM, false))?;
            if json {
                print_json(&report)?;
            } else {
                print_certify(&report);
            }
            Ok(report.exit_code())
        }
        Command::Revoke(args) => {
            let opts = RevokeOptions {
                repo,
                by: by(&args.by)?,
                target: args.target,
                reason: args.reason,
            };
            let report = revoke::revoke(&opts)?;
            if json {
                print_json(&report)?;
            } else {
                print_revoke(&report);
            }
            Ok(exit::OK)
        }
        Command::Status => {
            let opts = StatusOptions {
                repo,
                cache_dir: cli.cache_dir.dir(),
            };
            let report = status::status(&opts, &Output::new(PROGRAM, json))?;
            if json {
                print_json(&report)?;
            } else {
                gitops_cli::out!("{}", status::table(&report.packages));
            }
            Ok(exit::OK)
        }
        Command::Matrix { component } => {
            let report = matrix::matrix(&MatrixOptions { repo, component })?;
            if json {
                print_json(&report)?;
            } else {
                gitops_cli::out!("{}", matrix::table(&report.rows));
            }
            Ok(exit::OK)
        }
        Command::Schema => {
            print_json(&gitops_core::certify::record_schema())?;
            Ok(exit::OK)
        }
    }
}

fn print_certify(r: &CertifyReport) {
    let (what, path) = (&r.package, r.record.display());
    match &r.outcome {
        Outcome::Unchanged { .. } => {
            gitops_cli::outln!("{what}: already certified, nothing to do ({path})")
        }
        Outcome::Certified { record, tag, .. } => gitops_cli::outln!(
            "certified {what}: {} step(s) passed with profile(s) {} on {}; record {path}, tag {tag}",
            record.steps.len(),
            record.profiles.join(", "),
            record.clouds.join(", "),
        ),
        Outcome::Failed { .. } => {
            gitops_cli::outln!("certification of {what} FAILED; no record written");
            for s in r.failed() {
                let first = s.message.lines().next().unwrap_or("");
                gitops_cli::outln!("  {} {}: {first}", s.profile, s.step);
            }
        }
    }
}

fn print_revoke(r: &RevokeReport) {
    let e = &r.entry;
    if r.new {
        gitops_cli::outln!("revoked {} {}: {}", e.kind, e.target, e.reason);
    } else {
        gitops_cli::outln!(
            "{} {} was already revoked by {} at {}: {}",
            e.kind,
            e.target,
            e.by,
            e.at,
            e.reason
        );
    }
    gitops_cli::outln!(
        "packages refused by protected environments: {}",
        gitops_core::model::names::list_or_none(&r.packages)
    );
}
