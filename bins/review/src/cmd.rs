//! `gitops-review`: the review of a change request, one summary over the plans of every affected
//! deployment. The work is `gitops_core::review`; this is its command line and printing.

use clap::Parser;
use gitops_cli::{print_json, BuildTagArg, JsonArg, Output, RepoArg};
use gitops_core::error::{exit, Result};
use gitops_core::review::{self, ReviewOptions};
use std::path::PathBuf;

const PROGRAM: &str = "gitops-review";

/// Summarize the plans of a change request: what merging it would do, before anything is applied.
///
/// Reads every *.json under --from: the --json output of `gitops-plan` and of `gitops-destroy
/// --plan-only` for each affected deployment, or an error entry for one whose render or plan
/// failed ({"deployment": "<env>/<name>", "action": "deploy"|"destroy", "error": "...",
/// "exit_code": N}; a failed binary's --json output plus the deployment and action). Writes
/// review.md, review.html (one self-contained page) and review.json into --out.
///
/// Per deployment: the add/change/destroy/replace counts, the real changes apart from the
/// tag-only updates, stateful deletes and replacements first, policy denials and warnings, what
/// the guards refused (uncertified or revoked package, promotion order), whether its protected
/// environment will need an approval, failed renders and plans as rows; then the orphans
/// (requests gone, resources live). Values are the plans' own, sensitive ones as (sensitive).
///
/// The conclusion: FAILURE when a policy or guard would refuse or a plan failed,
/// ACTION_REQUIRED when a protected environment will need an approval, else SUCCESS. With
/// --json: the Checks API fields (title, summary, text cut to 65,535 characters with a link to
/// --artifact-url), the files, the record and the review.
///
/// --record keeps the fingerprint of every planned change set as the annotated tag
/// review/<HEAD commit>/<seq> (pushed to origin). After the merge, `gitops-plan` compares each
/// new plan with it: "as reviewed", "changed since review" (naming what differs) or "not
/// reviewed".
///
/// Exit codes: 0 written (whatever the conclusion), 2 invalid input (a file under --from that is
/// no plan report or error entry, naming it and the key; nothing written), 1 failure (git, I/O).
#[derive(Debug, Parser)]
#[command(
    name = "gitops-review",
    version,
    after_help = "Examples:
  gitops-review --repo platform-live --from review/in --out review
  gitops-review --repo platform-live --from review/in --out review --base origin/main --change 12 \\
    --target main --record --json
  gitops-review --repo platform-live --from review/in --out review \\
    --artifact-url https://jenkins.example.com/job/platform-live/job/PR-12/3/artifact/review/review.md"
)]
pub struct Cli {
    #[command(flatten)]
    pub repo: RepoArg,
    /// The plan reports and error entries (*.json, at any depth).
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// Where review.md, review.html and review.json are written.
    #[arg(long, value_name = "DIR", default_value = "review")]
    pub out: PathBuf,
    /// The merge base the affected set was computed from (shown; the orphans include the
    /// requests deleted since).
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// The change request (pull request number; Jenkins sets CHANGE_ID).
    #[arg(long, env = "CHANGE_ID", value_name = "ID")]
    pub change: Option<String>,
    /// The branch it merges into (Jenkins sets CHANGE_TARGET).
    #[arg(long, env = "CHANGE_TARGET", value_name = "BRANCH")]
    pub target: Option<String>,
    /// Where the archived review.md can be read: the link when the Checks text is cut.
    #[arg(long, value_name = "URL")]
    pub artifact_url: Option<String>,
    /// Record the fingerprints as the tag review/<HEAD commit>/<seq> and push it to origin.
    #[arg(long)]
    pub record: bool,
    #[command(flatten)]
    pub build_tag: BuildTagArg,
    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(cli: Cli) -> Result<u8> {
    let opts = ReviewOptions {
        repo: cli.repo.repo,
        from: cli.from,
        out: cli.out,
        base: cli.base,
        change: cli.change.filter(|c| !c.is_empty()),
        target: cli.target.filter(|t| !t.is_empty()),
        build_tag: cli.build_tag.checked()?.to_owned(),
        artifact_url: cli.artifact_url.filter(|u| !u.is_empty()),
        record: cli.record,
    };
    let json = cli.json.json;
    let report = review::review(&opts, &Output::new(PROGRAM, json))?;
    if json {
        print_json(&report)?;
    } else {
        gitops_cli::outln!(
            "{}: {}\n{}",
            report.conclusion,
            report.title,
            report.files.markdown.display()
        );
        if let Some(tag) = &report.record {
            gitops_cli::outln!("recorded as {tag}");
        }
    }
    Ok(exit::OK)
}
