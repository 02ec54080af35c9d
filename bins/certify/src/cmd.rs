//! The `gitops-certify` command line: argument types (their doc comments are the `--help` text)
//! and the code that runs them.

use clap::{Args, Parser, Subcommand};
use gitops_cli::{print_json, progress};
use gitops_core::certify::{matrix, report, revoke, run, status};
use gitops_core::error::{exit, Error, Result};
use gitops_core::exec::modcache::{default_cache_dir, ModuleCache};
use gitops_core::model::sot::SourceRepo;
use gitops_core::records::certification as record;
use std::path::{Path, PathBuf};

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
#[command(name = "gitops-certify", version, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub common: Common,
}

const EXAMPLES: &str = "Examples:
  gitops-certify --repo platform-live run web-service 1.1.0 --jobs 2 --junit certify.xml --summary certify.md
  gitops-certify --repo platform-live run web-service 1.1.0 --force
  gitops-certify --repo platform-live revoke network@v1.0.0 --reason 'CVE-2026-1234: open security group'
  gitops-certify --repo platform-live revoke web-service@1.0.0 --reason 'superseded'
  gitops-certify --repo platform-live status
  gitops-certify --repo platform-live matrix web-service --json";

#[derive(Debug, Args)]
pub struct Common {
    /// The source-of-truth repository.
    #[arg(
        long,
        env = "GITOPS_REPO",
        default_value = ".",
        value_name = "DIR",
        global = true
    )]
    pub repo: PathBuf,
    /// Module and plugin cache directory [default: $GITOPS_CACHE_DIR, else ~/.cache/gitops-toolkit].
    #[arg(long, value_name = "DIR", global = true)]
    pub cache_dir: Option<PathBuf>,
    /// Machine-readable output on stdout.
    #[arg(long, global = true)]
    pub json: bool,
}

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
    /// Build tag put on every resource and into the record (Jenkins sets BUILD_TAG).
    #[arg(long, env = "BUILD_TAG", default_value = "local", value_name = "TAG")]
    pub build_tag: String,
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

fn check_who(who: Option<&str>) -> Result<()> {
    match who {
        Some(w) if w.trim().is_empty() || w.len() > 128 || w.chars().any(char::is_control) => {
            Err(Error::Usage(format!(
                "--by {}: allowed is a 1-128 character name without control characters",
                gitops_core::model::names::shown(w)
            )))
        }
        _ => Ok(()),
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
    }
    std::fs::write(path, text).map_err(Error::io(path))
}

pub fn run(cli: Cli) -> Result<u8> {
    if let Command::Schema = cli.command {
        print_json(&schemars::schema_for!(record::Record).to_value())?;
        return Ok(exit::OK);
    }
    let repo = SourceRepo::open(&cli.common.repo)?;
    let cache_dir = cli
        .common
        .cache_dir
        .clone()
        .unwrap_or_else(default_cache_dir);
    let json = cli.common.json;
    match cli.command {
        Command::Run(args) => run_cmd(&repo, cache_dir, json, args),
        Command::Revoke(args) => {
            check_who(args.by.as_deref())?;
            let r = revoke::revoke(&repo, &args.target, &args.reason, args.by.as_deref())?;
            if json {
                print_json(
                    &serde_json::json!({ "revoked": r.entry, "new": r.new, "packages": r.packages, "commit": r.commit }),
                )?;
            } else {
                if r.new {
                    println!(
                        "revoked {} {}: {}",
                        r.entry.kind, r.entry.target, r.entry.reason
                    );
                } else {
                    println!(
                        "{} {} was already revoked by {} at {}: {}",
                        r.entry.kind, r.entry.target, r.entry.by, r.entry.at, r.entry.reason
                    );
                }
                println!(
                    "packages refused by protected environments: {}",
                    if r.packages.is_empty() {
                        "none".to_owned()
                    } else {
                        r.packages.join(", ")
                    }
                );
            }
            Ok(exit::OK)
        }
        Command::Status => {
            let cache = ModuleCache::new(cache_dir, true);
            let rows = status::status(&repo, &cache)?;
            if json {
                print_json(&rows)?;
            } else {
                for r in &rows {
                    let deps: Vec<String> = r
                        .deployments
                        .iter()
                        .map(|d| {
                            if d.protected {
                                format!("{} (protected)", d.deployment)
                            } else {
                                d.deployment.clone()
                            }
                        })
                        .collect();
                    println!(
                        "{:<28} {:<12} used by: {}",
                        format!("{}@{}", r.component, r.version),
                        r.state,
                        if deps.is_empty() {
                            "-".to_owned()
                        } else {
                            deps.join(", ")
                        }
                    );
                    if !r.detail.is_empty() {
                        println!("{:<28} {}", "", r.detail);
                    }
                }
            }
            Ok(exit::OK)
        }
        Command::Matrix { component } => {
            let rows = matrix::matrix(&repo, component.as_deref())?;
            if json {
                print_json(&rows)?;
            } else {
                print!("{}", matrix::table(&rows));
            }
            Ok(exit::OK)
        }
        Command::Schema => Ok(exit::OK),
    }
}

fn run_cmd(repo: &SourceRepo, cache_dir: PathBuf, json: bool, args: RunArgs) -> Result<u8> {
    if !gitops_core::model::names::is_dns_label(&args.component)
        || !gitops_core::model::names::is_semver(&args.version)
    {
        return Err(Error::Usage(format!(
            "run {} {}: expected a component name ({}) and a semver package version",
            gitops_core::model::names::shown(&args.component),
            gitops_core::model::names::shown(&args.version),
            gitops_core::model::names::DNS_LABEL_RULE
        )));
    }
    if !gitops_core::model::names::is_build_tag(&args.build_tag) {
        return Err(Error::Usage(format!(
            "--build-tag {}: allowed are 1-128 ASCII letters, digits and . _ - : + @",
            gitops_core::model::names::shown(&args.build_tag)
        )));
    }
    check_who(args.by.as_deref())?;
    let what = format!("{}@{}", args.component, args.version);
    let opts = run::RunOptions {
        component: args.component.clone(),
        version: args.version.clone(),
        jobs: args.jobs.max(1),
        force: args.force,
        build_tag: args.build_tag.clone(),
        by: args.by.clone(),
        cache_dir,
        work_dir: args
            .work_dir
            .as_deref()
            .map(|d| std::path::absolute(d).map_err(Error::io(d)))
            .transpose()?,
        say: Box::new(|m: &str| progress(PROGRAM, m)),
    };
    let outcome = run::certify(repo, &opts)?;
    let path = record::record_path(&args.component, &args.version);
    let (code, steps, verdict, facts, result) = match &outcome {
        run::Outcome::Unchanged { record } => {
            let msg = format!(
                "{what} is already certified for this exact package (digest {}; {} by {}): nothing to do; --force runs it again",
                record.package_digest, record.finished, record.certified_by
            );
            progress(PROGRAM, &msg);
            let v = serde_json::json!({ "package": what, "result": "unchanged", "record": path, "digest": record.package_digest });
            (
                exit::OK,
                record.steps.clone(),
                "already certified (no-op)",
                vec![("record", path.display().to_string())],
                v,
            )
        }
        run::Outcome::Certified {
            record,
            tag,
            commit,
        } => {
            let v = serde_json::json!({ "package": what, "result": "certified", "record": path, "tag": tag, "commit": commit, "digest": record.package_digest, "profiles": record.profiles, "clouds": record.clouds, "steps": record.steps });
            let facts = vec![
                ("package digest", record.package_digest.clone()),
                ("profiles", record.profiles.join(", ")),
                ("clouds", record.clouds.join(", ")),
                ("terraform", record.terraform_version.clone()),
                (
                    "record",
                    format!("{} (commit {commit}, tag {tag})", path.display()),
                ),
            ];
            (exit::OK, record.steps.clone(), "CERTIFIED", facts, v)
        }
        run::Outcome::Failed { steps, digest } => {
            let failed: Vec<String> = steps
                .iter()
                .filter(|s| s.result == "failed")
                .map(|s| format!("{} {}", s.profile, s.step))
                .collect();
            let v = serde_json::json!({ "package": what, "result": "failed", "digest": digest, "failed": failed, "steps": steps });
            (
                exit::FAILED,
                steps.clone(),
                "FAILED",
                vec![
                    ("package digest", digest.clone()),
                    ("record", "none written".into()),
                ],
                v,
            )
        }
    };
    if let Some(j) = &args.junit {
        write(j, &report::junit(&what, &steps))?;
    }
    if let Some(s) = &args.summary {
        let facts: Vec<(&str, String)> = facts.iter().map(|(k, v)| (*k, v.clone())).collect();
        write(s, &report::markdown(&what, verdict, &facts, &steps))?;
    }
    if json {
        print_json(&result)?;
    } else {
        match &outcome {
            run::Outcome::Unchanged { .. } => println!("{what}: already certified, nothing to do ({})", path.display()),
            run::Outcome::Certified { record, tag, .. } => println!(
                "certified {what}: {} step(s) passed with profile(s) {} on {}; record {}, tag {tag}",
                record.steps.len(),
                record.profiles.join(", "),
                record.clouds.join(", "),
                path.display()
            ),
            run::Outcome::Failed { steps, .. } => {
                println!("certification of {what} FAILED; no record written");
                for s in steps.iter().filter(|s| s.result == "failed") {
                    println!("  {} {}: {}", s.profile, s.step, s.message.lines().next().unwrap_or(""));
                }
            }
        }
    }
    Ok(code)
}
