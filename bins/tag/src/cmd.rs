//! `gitops-tag`: after a successful apply, verify the deployment tags on every resource of the
//! state (and, on AWS, in the cloud) and record the deployment as an annotated git tag; `history`
//! lists the records. The operations are `gitops_core::lifecycle::tag`; this is their command
//! line and printing.

use clap::{Parser, Subcommand};
use gitops_cli::{print_json, progress, CacheDirArg, JsonArg, LockTimeoutArg, Output, RepoArg};
use gitops_core::error::{exit, Error, Result};
use gitops_core::lifecycle::tag::{self, HistoryOptions, RecordOptions, RecordReport};
use gitops_core::model::names::short_id;
use gitops_core::model::sot::DeploymentId;
use gitops_core::records::deployment::DeploymentRecord;
use std::path::PathBuf;

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
/// On AWS the tags are then checked in the cloud too: the Resource Groups Tagging API
/// (GetResources, signed with the credentials Terraform got from Vault, else AWS_ACCESS_KEY_ID,
/// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) lists the resources tagged with the deployment's
/// gitops:deployment in the render's region. Every resource of the state with an ARN must be
/// listed with every deployment tag and its value; a listed resource the state does not hold
/// must carry the render's gitops:commit (else it is a leftover of another apply). Types the API
/// does not list in a region (IAM, CloudFront, ...), and types it listed nothing of for the
/// deployment (an emulator covering fewer services), are skipped and named. Endpoint:
/// AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API, else AWS_ENDPOINT_URL, else
/// https://tagging.<region>.amazonaws.com.
///
/// Exit codes: 0 recorded (or already recorded), 3 refused (a resource lacks a tag, in the state
/// or in the cloud; the render was made from uncommitted files; outputs.json is not from this
/// render), 2 invalid input, 1 failure (also: no AWS credentials, the Tagging API failed). The
/// plan digest recorded is the one of the applied plan (outputs.json), also when the directory
/// was planned again since (a no-change plan after apply, a drift check).
#[derive(Debug, Parser)]
#[command(
    name = "gitops-tag",
    version,
    mut_arg("repo", |a| a
        .global(true)
        .help("The source-of-truth repository (where the tag is created and pushed)")),
    mut_arg("json", |a| a.global(true)),
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
    #[command(flatten)]
    pub repo: RepoArg,
    #[command(flatten)]
    pub lock_timeout: LockTimeoutArg,
    #[command(flatten)]
    pub cache_dir: CacheDirArg,
    #[command(flatten)]
    pub json: JsonArg,
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
        Some(Command::History { deployment }) => history(&cli, deployment),
        None => record(&cli),
    }
}

fn record(cli: &Cli) -> Result<u8> {
    let Some(dir) = &cli.dir else {
        return Err(Error::Usage(
            "give the rendered directory that gitops-apply applied, or `history <env>/<name>`"
                .into(),
        ));
    };
    let opts = RecordOptions {
        repo: cli.repo.repo.clone(),
        dir: dir.clone(),
        cache_dir: cli.cache_dir.dir(),
        lock_timeout: cli.lock_timeout.duration(),
    };
    let json = cli.json.json;
    match tag::record(&opts, &Output::new(PROGRAM, json))? {
        RecordReport::Recorded(r) => {
            if json {
                print_json(&r)?;
            } else {
                gitops_cli::outln!("{}", r.line());
            }
            Ok(exit::OK)
        }
        RecordReport::Untagged(u) if json => {
            print_json(&u)?;
            for line in u.message.lines() {
                progress(PROGRAM, &format!("refused: {line}"));
            }
            Ok(exit::REFUSED)
        }
        RecordReport::Untagged(u) => Err(Error::Refused(u.message)),
    }
}

fn history(cli: &Cli, deployment: &str) -> Result<u8> {
    let opts = HistoryOptions {
        deployment: DeploymentId::parse(deployment)?,
        repo: cli.repo.repo.clone(),
    };
    let report = tag::history(&opts)?;
    if cli.json.json {
        print_json(&report)?;
    } else if report.records.is_empty() {
        gitops_cli::outln!("{}: no recorded deployment", report.deployment);
    } else {
        print_table(&report.records);
    }
    Ok(exit::OK)
}

fn print_table(records: &[DeploymentRecord]) {
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
                short_id(&r.commit, 12).to_owned(),
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
        gitops_cli::outln!("{}", line.join("  ").trim_end());
    }
}
