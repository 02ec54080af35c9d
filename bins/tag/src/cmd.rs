//! `gitops-tag`: after a successful apply, verify the deployment tags on every resource of the
//! state and record the deployment as an annotated git tag; `history` lists the records.

use clap::{Parser, Subcommand};
use gitops_cli::{print_json, progress};
use gitops_core::error::{exit, Error, Result};
use gitops_core::exec::git::GitRepo;
use gitops_core::exec::modcache::default_cache_dir;
use gitops_core::lifecycle::tag::{check, TagCheck};
use gitops_core::model::sot::{DeploymentId, SourceRepo};
use gitops_core::plan::rendered::RenderedDir;
use gitops_core::records::deployment::{self as meta, DeployMeta, Record, PUSH_ATTEMPTS};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

const PROGRAM: &str = "gitops-tag";

/// Record a deployment in git after a successful apply, and list recorded deployments.
///
/// `gitops-tag RENDERED_DIR` reads the state (`terraform show -json`, credentials from Vault),
/// verifies that every managed resource carries every deployment tag of the render manifest with
/// its value (gitops:commit, gitops:build, gitops:deployment, gitops:environment, gitops:package,
/// gitops:profile, managed-by; types that cannot carry tags are exempt), then creates the annotated
/// tag `deploy/<env>/<name>/<seq>` on the source commit with the deployment record (package,
/// profile, plan digest, outputs digest, build tag, approver, time) and pushes it when the
/// repository has a remote (a concurrent run taking the same number makes this one take the next).
/// Running it again for the same apply records nothing new.
///
/// Exit codes: 0 recorded (or already recorded), 3 refused (a resource lacks a tag; the render
/// was made from uncommitted files; outputs.json is not from this render), 2 invalid input, 1
/// failure. The plan digest recorded is the one of the applied plan (outputs.json), also when the
/// directory was planned again since (a no-change plan after apply, a drift check).
#[derive(Debug, Parser)]
#[command(
    name = "gitops-tag",
    version,
    after_help = "Examples:
  gitops-tag --repo platform-live build/dev/web-frontend
  gitops-tag --repo platform-live build/prod/orders-api --json
  gitops-tag --repo platform-live history dev/web-frontend
  gitops-tag --repo platform-live history dev/web-frontend --json"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The rendered directory that gitops-apply applied (holds outputs.json).
    #[arg(value_name = "RENDERED_DIR")]
    pub dir: Option<PathBuf>,
    /// The source-of-truth repository (where the tag is created and pushed).
    #[arg(
        long,
        env = "GITOPS_REPO",
        default_value = ".",
        value_name = "DIR",
        global = true
    )]
    pub repo: PathBuf,
    /// Seconds to wait for a deployment lock held by another run.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub lock_timeout: u64,
    /// Module and plugin cache directory [default: $GITOPS_CACHE_DIR, else ~/.cache/gitops-toolkit].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Machine-readable output on stdout.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the recorded deployments and tombstones of <env>/<name>, oldest first.
    History {
        /// The deployment, as <env>/<name>.
        #[arg(value_name = "ENV/NAME")]
        deployment: String,
    },
}

pub fn run(cli: Cli) -> Result<u8> {
    match &cli.command {
        Some(Command::History { deployment }) => history(deployment, &cli.repo, cli.json),
        None => record(&cli),
    }
}

fn refuse(msg: String) -> Error {
    Error::Refused(msg)
}

/// The deployment tags every resource must carry: those of the render manifest.
fn required_tags(rendered: &RenderedDir) -> BTreeMap<String, String> {
    rendered.manifest.tags.clone()
}

fn offenders_text(c: &TagCheck) -> String {
    c.offenders
        .iter()
        .map(|o| format!("  {}: {}", o.address, o.problems.join("; ")))
        .collect::<Vec<_>>()
        .join("\n")
}

fn record(args: &Cli) -> Result<u8> {
    let Some(dir) = &args.dir else {
        return Err(Error::Usage(
            "give the rendered directory that gitops-apply applied, or `history <env>/<name>`"
                .into(),
        ));
    };
    let rendered = RenderedDir::open(dir)?;
    let repo = SourceRepo::open(&args.repo)?;
    let id = DeploymentId::parse(rendered.deployment())?;
    let m = &rendered.manifest;
    let outputs_path = rendered.dir.join("outputs.json");
    if !outputs_path.is_file() {
        return Err(Error::Usage(format!(
            "{}: no outputs.json: run gitops-apply first (gitops-tag records applied deployments)",
            rendered.dir.display()
        )));
    }
    let outputs = meta::read_json(&outputs_path)?;
    if outputs["source_commit"].as_str() != Some(m.source_commit.as_str())
        || outputs["deployment"].as_str() != Some(id.to_string().as_str())
    {
        return Err(refuse(format!(
            "{id}: outputs.json was not written by an apply of this render (source commit {} vs {}): render, plan and apply again",
            outputs["source_commit"], serde_json::json!(m.source_commit)
        )));
    }
    if m.source_dirty {
        return Err(refuse(format!(
            "{id}: the render was made from uncommitted files (source_dirty): a deployment is recorded only against a commit"
        )));
    }
    let plan_digest = outputs["plan_digest"].as_str().unwrap_or("").to_owned();
    let _lock = rendered.lock(PROGRAM, Duration::from_secs(args.lock_timeout))?;
    let cache = args.cache_dir.clone().unwrap_or_else(default_cache_dir);
    let (tf, vault) = rendered.terraform(&repo, &cache)?;
    if !args.json {
        progress(
            PROGRAM,
            &format!("{id}: reading the state (terraform show -json)"),
        );
    }
    let state: serde_json::Value = serde_json::from_str(
        &tf.run_ok(&rendered.dir, &["show", "-json", "-no-color"])?
            .stdout,
    )
    .map_err(|e| Error::Process(format!("terraform show -json: {e}")))?;
    if let Some(v) = vault {
        for e in v.close() {
            progress(PROGRAM, &format!("warning: {e}"));
        }
    }
    let checked = check(&state, &required_tags(&rendered));
    if !checked.offenders.is_empty() {
        let msg = format!(
            "{id}: {} of {} resources lack deployment tags; the deployment is not recorded:\n{}",
            checked.offenders.len(),
            checked.checked,
            offenders_text(&checked)
        );
        if args.json {
            print_json(&serde_json::json!({
                "deployment": id.to_string(), "recorded": false, "tags": checked, "exit_code": exit::REFUSED,
            }))?;
            for line in msg.lines() {
                progress(PROGRAM, &format!("refused: {line}"));
            }
            return Ok(exit::REFUSED);
        }
        return Err(refuse(msg));
    }

    let git = GitRepo::open(&repo)?;
    let commit = git2::Oid::from_str(&m.source_commit).map_err(|_| {
        refuse(format!(
            "{id}: the manifest's source_commit {} is not a commit",
            serde_json::json!(m.source_commit)
        ))
    })?;
    let request = git.file_at(commit, &id.path())?.ok_or_else(|| {
        refuse(format!(
            "{id}: commit {commit} has no {}: the render is not from a commit of this repository",
            id.path().display()
        ))
    })?;
    let record = DeployMeta {
        deployment: id.to_string(),
        package: m.package_ref(),
        profile: m.profile.clone(),
        plan_digest: plan_digest.clone(),
        outputs_digest: meta::outputs_digest(&outputs["outputs"]),
        build_tag: m.build_tag.clone(),
        approved_by: outputs["approved_by"].as_str().map(str::to_owned),
        time: meta::now(),
        source_commit: commit.to_string(),
        request_sha256: meta::request_digest(&request),
        destroyed: false,
    };
    let prefix = meta::deploy_prefix(&id);
    let previous = meta::records(&git, &prefix)?;
    let (name, new) = match previous.last().filter(|r| {
        r.meta.plan_digest == record.plan_digest && r.meta.source_commit == record.source_commit
    }) {
        Some(same) => (same.tag.clone(), false),
        None => {
            let name = git.tag_and_push(
                &|g: &GitRepo| Ok(format!("{prefix}{}", g.next_seq(&prefix)?)),
                commit,
                &record.message(),
                PUSH_ATTEMPTS,
            )?;
            (name, true)
        }
    };
    if args.json {
        print_json(&serde_json::json!({
            "deployment": id.to_string(), "recorded": new, "tag": name, "commit": commit.to_string(),
            "pushed": new && git.remote().is_some(), "record": record, "tags": checked, "exit_code": exit::OK,
        }))?;
    } else {
        println!(
            "{} {name} on {} ({}, {} resources tagged{})",
            if new { "recorded" } else { "already recorded:" },
            &commit.to_string()[..12],
            record.package,
            checked.checked,
            if new && git.remote().is_some() {
                ", pushed"
            } else {
                ""
            }
        );
    }
    Ok(exit::OK)
}

fn history(deployment: &str, repo: &std::path::Path, json: bool) -> Result<u8> {
    let id = DeploymentId::parse(deployment)?;
    let repo = SourceRepo::open(repo)?;
    let git = GitRepo::open(&repo)?;
    let records = meta::history(&git, &id)?;
    if json {
        print_json(&serde_json::json!({
            "deployment": id.to_string(),
            "live": meta::is_live(&records),
            "records": records,
        }))?;
        return Ok(exit::OK);
    }
    if records.is_empty() {
        println!("{id}: no recorded deployment");
        return Ok(exit::OK);
    }
    print_table(&records);
    Ok(exit::OK)
}

fn print_table(records: &[Record]) {
    let rows: Vec<[String; 7]> = records
        .iter()
        .map(|r| {
            [
                r.tag.clone(),
                r.meta.time.clone(),
                if r.meta.destroyed {
                    format!("(destroyed) {}", r.meta.package)
                } else {
                    r.meta.package.clone()
                },
                r.meta.profile.clone(),
                r.meta.build_tag.clone(),
                r.meta.approved_by.clone().unwrap_or_else(|| "-".into()),
                r.commit.chars().take(12).collect(),
            ]
        })
        .collect();
    let head = [
        "TAG",
        "TIME",
        "PACKAGE",
        "PROFILE",
        "BUILD",
        "APPROVED BY",
        "COMMIT",
    ]
    .map(String::from);
    let mut width = [0usize; 7];
    for row in std::iter::once(&head).chain(&rows) {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&head).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}
