//! The review of a change request before it merges: every affected deployment planned, nothing
//! applied. [`fingerprint`] reduces a plan to what a reviewer approves; [`record`] keeps the
//! fingerprints of a review as a tag on the reviewed commit and compares a later plan with them;
//! [`summary`] turns the plans of one review into one summary (Markdown, HTML, JSON, and the
//! Checks API fields).

pub mod fingerprint;
pub mod record;
pub mod summary;

use crate::error::{Error, Result};
use crate::exec::git::GitRepo;
use crate::model::sot::SourceRepo;
use crate::report::Reporter;
use serde::Serialize;
use std::path::PathBuf;
use summary::{OrphanRow, Review, ReviewContext};

/// What `gitops-review` is asked to do.
#[derive(Debug, Clone)]
pub struct ReviewOptions {
    pub repo: PathBuf,
    /// The plan reports and error entries (`*.json`, at any depth).
    pub from: PathBuf,
    /// Where review.md, review.html and review.json are written.
    pub out: PathBuf,
    /// The merge base the affected set was computed from (orphans: also the requests deleted
    /// since).
    pub base: Option<String>,
    pub change: Option<String>,
    pub target: Option<String>,
    pub build_tag: String,
    /// Where the archived review.md is: linked when the Checks text is cut.
    pub artifact_url: Option<String>,
    /// Record the fingerprints as the tag `review/<HEAD>/<seq>` (pushed to origin).
    pub record: bool,
}

/// The files a review wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewFiles {
    pub markdown: PathBuf,
    pub html: PathBuf,
    pub json: PathBuf,
}

/// What `gitops-review --json` prints: the Checks API fields, the files, the record, the review.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewReport {
    pub conclusion: &'static str,
    pub title: String,
    /// The Checks API summary (within its limit).
    pub summary: String,
    /// The Checks API text: review.md, cut to the limit with a link to the full one.
    pub text: String,
    pub files: ReviewFiles,
    /// The review tag recorded, if asked.
    pub record: Option<String>,
    pub review: Review,
}

/// Reads the plans, writes the review, records it when asked. Bad input (a file that is not a
/// plan report or an error entry, an unknown environment) is exit 2 with nothing written.
pub fn review(opts: &ReviewOptions, reporter: &dyn Reporter) -> Result<ReviewReport> {
    let repo = SourceRepo::open(&opts.repo)?;
    if !opts.from.is_dir() {
        return Err(Error::Usage(format!(
            "--from {}: not a directory (the plan reports of the review)",
            opts.from.display()
        )));
    }
    let rows = summary::read_inputs(&repo, &opts.from)?;
    let git = GitRepo::open(&repo)?;
    let commit = git.head()?.to_string();
    let destroyed: Vec<&str> = rows
        .iter()
        .filter(|r| r.action == "destroy")
        .map(|r| r.deployment.as_str())
        .collect();
    let orphans = crate::lifecycle::orphans::find(&repo, opts.base.as_deref())?
        .into_iter()
        .filter(|o| !destroyed.contains(&o.deployment.as_str()))
        .map(|o| OrphanRow {
            deployment: o.deployment,
            reason: o.reason,
        })
        .collect();
    let ctx = ReviewContext {
        commit,
        base: opts.base.clone(),
        change: opts.change.clone(),
        target: opts.target.clone(),
        build_tag: opts.build_tag.clone(),
        artifact_url: opts.artifact_url.clone(),
    };
    let review = Review::new(&ctx, rows, orphans);
    std::fs::create_dir_all(&opts.out).map_err(Error::io(&opts.out))?;
    let files = ReviewFiles {
        markdown: opts.out.join("review.md"),
        html: opts.out.join("review.html"),
        json: opts.out.join("review.json"),
    };
    let json = serde_json::to_value(&review).map_err(|e| Error::Process(e.to_string()))?;
    let writes: [(&PathBuf, Vec<u8>); 3] = [
        (&files.markdown, review.markdown().into_bytes()),
        (&files.html, review.html().into_bytes()),
        (&files.json, crate::render::to_json_bytes(&json)),
    ];
    for (path, bytes) in writes {
        std::fs::write(path, bytes).map_err(Error::io(path))?;
    }
    let record = if opts.record {
        let tag = record::record(&repo, &review.record(crate::records::deployment::now()))?;
        reporter.progress(&format!("recorded the review as {tag}"));
        Some(tag)
    } else {
        None
    };
    Ok(ReviewReport {
        conclusion: review.conclusion.as_str(),
        title: review.title.clone(),
        summary: review.checks_summary(),
        text: review.checks_text(),
        files,
        record,
        review,
    })
}
