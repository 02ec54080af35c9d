//! One review summary over every deployment a change request affects (issue 16 item 2): what
//! `gitops-review` reads (the `--json` output of each `gitops-plan` and `gitops-destroy
//! --plan-only`, or an error entry for one that failed) and writes (review.md, review.html,
//! review.json), with the Checks API fields (title, summary, text cut to the limit, conclusion).
//!
//! Rows come in the order a reviewer reads them: deployments that lose data (stateful deletes
//! and replacements) first, then refusals, failures and policy denials, then the rest by id.
//! Values come only from the plan reports, which show sensitive values as `(sensitive)`; the
//! review adds none.

use crate::error::{ConfigError, Error, Result};
use crate::model::sot::{DeploymentId, SourceRepo};
use crate::review::fingerprint::Fingerprint;
use crate::review::record::{ReviewRecord, Reviewed, FORMAT};
use askama::Template;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The Checks API's limit for `summary` and `text`, in characters.
pub const CHECKS_LIMIT: usize = 65_535;

/// SUCCESS: nothing to refuse, no approval needed; ACTION_REQUIRED: a protected environment will
/// need an approval after the merge; FAILURE: a policy or guard would refuse, or a plan failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Conclusion {
    Success,
    ActionRequired,
    Failure,
}

impl Conclusion {
    pub fn as_str(self) -> &'static str {
        match self {
            Conclusion::Success => "SUCCESS",
            Conclusion::ActionRequired => "ACTION_REQUIRED",
            Conclusion::Failure => "FAILURE",
        }
    }
}

/// Resource counts, as `gitops-plan --json` gives them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub replace: usize,
    #[serde(default)]
    pub tag_only: usize,
}

/// One planned resource change, as the plan report lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub address: String,
    pub action: String,
    #[serde(default)]
    pub stateful: bool,
    #[serde(default)]
    pub tag_only: bool,
    #[serde(default)]
    pub attributes: Vec<Attribute>,
}

/// One changed attribute (sensitive values arrive as `(sensitive)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    pub path: String,
    pub before: Value,
    pub after: Value,
    #[serde(default)]
    pub per_deploy_tag: bool,
}

/// A policy finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub policy: String,
    #[serde(default)]
    pub resource: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct PolicyIn {
    #[serde(default)]
    denials: Vec<Finding>,
    #[serde(default)]
    warnings: Vec<Finding>,
}

/// A plan report (`gitops-plan --json`, `gitops-destroy --plan-only --json`).
#[derive(Debug, Clone, Deserialize)]
struct PlanIn {
    deployment: String,
    summary: Counts,
    #[serde(default)]
    resources: Vec<ResourceChange>,
    #[serde(default)]
    policy: PolicyIn,
    #[serde(default)]
    fingerprint: Option<Fingerprint>,
    #[serde(default)]
    destroy: bool,
}

/// An error entry: a render or plan that failed.
#[derive(Debug, Clone, Deserialize)]
struct ErrorIn {
    deployment: String,
    #[serde(default)]
    action: Option<String>,
    error: String,
    #[serde(default)]
    exit_code: Option<u8>,
}

/// One deployment in the review.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub deployment: String,
    /// deploy or destroy
    pub action: String,
    pub protected: bool,
    /// changes, no changes, tag-only, denied, refused, invalid, failed
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<Counts>,
    /// The real changes (tag-only updates apart), stateful deletes and replacements first.
    pub changes: Vec<ResourceChange>,
    pub tag_only: usize,
    /// Stateful resources deleted or replaced.
    pub data_loss: Vec<String>,
    pub denials: Vec<Finding>,
    pub warnings: Vec<Finding>,
    /// What failed or was refused (render, plan, guard).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A protected environment: the apply after the merge waits for an approval.
    pub needs_approval: bool,
    #[serde(skip)]
    fingerprint: Option<Fingerprint>,
}

impl Row {
    fn from_plan(p: PlanIn, protected: bool) -> Row {
        let mut changes: Vec<ResourceChange> =
            p.resources.into_iter().filter(|c| !c.tag_only).collect();
        let loses =
            |c: &ResourceChange| c.stateful && matches!(c.action.as_str(), "delete" | "replace");
        changes.sort_by_key(|c| (!loses(c), c.address.clone()));
        let data_loss = changes
            .iter()
            .filter(|c| loses(c))
            .map(|c| format!("{} ({})", c.address, c.action))
            .collect();
        let denied = !p.policy.denials.is_empty();
        let any = p.summary.add + p.summary.change + p.summary.destroy + p.summary.replace > 0;
        let status = if denied {
            "denied"
        } else if !changes.is_empty() {
            "changes"
        } else if any {
            "tag-only"
        } else {
            "no changes"
        };
        Row {
            deployment: p.deployment,
            action: if p.destroy { "destroy" } else { "deploy" }.into(),
            protected,
            status: status.into(),
            counts: Some(p.summary),
            tag_only: p.summary.tag_only,
            changes,
            data_loss,
            denials: p.policy.denials,
            warnings: p.policy.warnings,
            error: None,
            needs_approval: protected && any,
            fingerprint: p.fingerprint,
        }
    }

    fn from_error(e: ErrorIn, protected: bool) -> Row {
        let status = match e.exit_code {
            Some(crate::exit::REFUSED) => "refused",
            Some(crate::exit::INVALID) => "invalid",
            _ => "failed",
        };
        Row {
            deployment: e.deployment,
            action: e.action.unwrap_or_else(|| "deploy".into()),
            protected,
            status: status.into(),
            counts: None,
            changes: Vec::new(),
            tag_only: 0,
            data_loss: Vec::new(),
            denials: Vec::new(),
            warnings: Vec::new(),
            error: Some(e.error),
            needs_approval: false,
            fingerprint: None,
        }
    }

    /// "refused: <the first line of the message>" (the word once, whether or not the message
    /// starts with it).
    fn error_line(&self, e: &str) -> String {
        let line = one_line(e);
        let prefix = format!("{}: ", self.status);
        if line.starts_with(&prefix) {
            line
        } else {
            format!("{prefix}{line}")
        }
    }

    /// A policy or guard would refuse it, or its plan failed.
    pub fn is_failure(&self) -> bool {
        self.error.is_some() || !self.denials.is_empty()
    }

    /// The reading order: data loss, then failures, then the rest; by id within each.
    fn rank(&self) -> (u8, String, String) {
        let r = if !self.data_loss.is_empty() {
            0
        } else if self.is_failure() {
            1
        } else {
            2
        };
        (r, self.deployment.clone(), self.action.clone())
    }

    /// "+1 ~2 -0 ±0 (3 tag-only)" for the table.
    fn counts_text(&self) -> String {
        match self.counts {
            Some(c) => format!(
                "{} to add, {} to change, {} to destroy, {} to replace",
                c.add,
                c.change - c.tag_only.min(c.change),
                c.destroy,
                c.replace
            ),
            None => "-".into(),
        }
    }
}

/// Who and what a review is of.
#[derive(Debug, Clone, Default)]
pub struct ReviewContext {
    /// The reviewed head commit.
    pub commit: String,
    pub base: Option<String>,
    pub change: Option<String>,
    pub target: Option<String>,
    pub build_tag: String,
    /// Where the full review is (the archived review.md): the link when the Checks text is cut.
    pub artifact_url: Option<String>,
}

/// Totals over the rows.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Totals {
    pub deployments: usize,
    pub with_changes: usize,
    pub tag_only: usize,
    pub no_changes: usize,
    pub destroys: usize,
    pub data_loss: usize,
    pub denied: usize,
    pub refused: usize,
    pub failed: usize,
    pub needs_approval: usize,
}

/// A deployment whose request is gone while its resources live, not destroyed by this change.
#[derive(Debug, Clone, Serialize)]
pub struct OrphanRow {
    pub deployment: String,
    pub reason: String,
}

/// The review: review.json serialized.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    pub format: u32,
    pub title: String,
    pub conclusion: Conclusion,
    pub commit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub totals: Totals,
    pub rows: Vec<Row>,
    pub orphans: Vec<OrphanRow>,
    #[serde(skip)]
    artifact_url: Option<String>,
    #[serde(skip)]
    build_tag: String,
}

/// Reads every `*.json` under `dir` (sorted by path): plan reports and error entries. A file
/// that is neither is invalid input naming the file and the key.
pub fn read_inputs(repo: &SourceRepo, dir: &Path) -> Result<Vec<Row>> {
    let mut files = Vec::new();
    collect_json(dir, &mut files)?;
    files.sort();
    let mut rows = Vec::new();
    let mut seen: BTreeMap<(String, String), PathBuf> = BTreeMap::new();
    for file in files {
        let bytes = std::fs::read(&file).map_err(Error::io(&file))?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ConfigError::new(
                &file,
                None,
                format!("not JSON: {e}"),
                "a gitops-plan --json output or an error entry",
            )
            .at_line(Some(e.line()))
        })?;
        let invalid = |key: &str, found: String| {
            Error::from(ConfigError::new(
                &file,
                Some(key),
                found,
                "a gitops-plan --json (or gitops-destroy --plan-only --json) output, or an error \
                 entry {\"deployment\", \"action\", \"error\", \"exit_code\"}",
            ))
        };
        let Some(id) = value.get("deployment").and_then(Value::as_str) else {
            return Err(invalid("deployment", "no deployment (<env>/<name>)".into()));
        };
        let id = DeploymentId::parse(id).map_err(|e| invalid("deployment", e.to_string()))?;
        let protected = repo
            .environment(&id.env, |known| {
                ConfigError::new(
                    &file,
                    Some("deployment"),
                    format!("environment {}", id.env),
                    format!("an environment of the repository: {known}"),
                )
            })?
            .0
            .protected;
        let row = if value.get("error").is_some() {
            let e: ErrorIn =
                serde_json::from_value(value).map_err(|e| invalid("error", e.to_string()))?;
            Row::from_error(e, protected)
        } else {
            let key = if value.get("summary").is_none() {
                "summary"
            } else {
                "resources"
            };
            let p: PlanIn =
                serde_json::from_value(value).map_err(|e| invalid(key, e.to_string()))?;
            Row::from_plan(p, protected)
        };
        let key = (row.deployment.clone(), row.action.clone());
        if let Some(first) = seen.insert(key, file.clone()) {
            return Err(invalid(
                "deployment",
                format!(
                    "{} ({}) is also in {}: one entry per deployment and action",
                    row.deployment,
                    row.action,
                    first.display()
                ),
            ));
        }
        rows.push(row);
    }
    Ok(rows)
}

fn collect_json(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(Error::io(dir))?;
    for entry in entries {
        let entry = entry.map_err(Error::io(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(Error::io(&path))?;
        if kind.is_dir() {
            collect_json(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

impl Review {
    /// The review of `rows`, with the orphans the repository has.
    pub fn new(ctx: &ReviewContext, mut rows: Vec<Row>, orphans: Vec<OrphanRow>) -> Review {
        rows.sort_by_key(Row::rank);
        let mut t = Totals {
            deployments: rows.len(),
            ..Totals::default()
        };
        for r in &rows {
            match r.status.as_str() {
                "changes" => t.with_changes += 1,
                "tag-only" => t.tag_only += 1,
                "no changes" => t.no_changes += 1,
                "denied" => t.denied += 1,
                "refused" => t.refused += 1,
                _ if r.error.is_some() => t.failed += 1,
                _ => {}
            }
            t.destroys += usize::from(r.action == "destroy");
            t.data_loss += usize::from(!r.data_loss.is_empty());
            t.needs_approval += usize::from(r.needs_approval);
        }
        let conclusion = if rows.iter().any(Row::is_failure) {
            Conclusion::Failure
        } else if t.needs_approval > 0 {
            Conclusion::ActionRequired
        } else {
            Conclusion::Success
        };
        let title = title(&t, conclusion);
        Review {
            format: FORMAT,
            title,
            conclusion,
            commit: ctx.commit.clone(),
            base: ctx.base.clone(),
            change: ctx.change.clone(),
            target: ctx.target.clone(),
            totals: t,
            rows,
            orphans,
            artifact_url: ctx.artifact_url.clone(),
            build_tag: ctx.build_tag.clone(),
        }
    }

    /// The fingerprints of the review, as its record.
    pub fn record(&self, time: String) -> ReviewRecord {
        ReviewRecord {
            format: FORMAT,
            commit: self.commit.clone(),
            base: self.base.clone(),
            change: self.change.clone(),
            target: self.target.clone(),
            build_tag: self.build_tag.clone(),
            time,
            conclusion: self.conclusion.as_str().into(),
            deployments: self
                .rows
                .iter()
                .filter_map(|r| {
                    let fingerprint = r.fingerprint.clone()?;
                    Some((
                        r.deployment.clone(),
                        Reviewed {
                            action: r.action.clone(),
                            fingerprint,
                        },
                    ))
                })
                .collect(),
        }
    }

    fn heading(&self) -> String {
        let of = match (&self.change, &self.target) {
            (Some(c), Some(t)) => format!("change {c} into {t}"),
            (Some(c), None) => format!("change {c}"),
            _ => format!("commit {}", crate::model::names::short_id(&self.commit, 12)),
        };
        format!("Review of {of}")
    }

    /// The Checks API `summary`: the conclusion and the table (cut to the limit).
    pub fn checks_summary(&self) -> String {
        let mut md = format!("**{}**: {}\n\n", self.conclusion.as_str(), self.title);
        md.push_str(&self.table());
        cut(&md, CHECKS_LIMIT, self.artifact_url.as_deref())
    }

    /// The Checks API `text`: review.md, cut to the limit with a link to the full one.
    pub fn checks_text(&self) -> String {
        cut(&self.markdown(), CHECKS_LIMIT, self.artifact_url.as_deref())
    }

    fn table(&self) -> String {
        if self.rows.is_empty() {
            return "No deployment is affected: nothing to plan.\n".into();
        }
        let mut md = String::from(
            "| deployment | action | real change | tag-only | status |\n|---|---|---|---|---|\n",
        );
        for r in &self.rows {
            md.push_str(&format!(
                "| `{}`{} | {} | {} | {} | {} |\n",
                r.deployment,
                if r.protected { " (protected)" } else { "" },
                r.action,
                r.counts_text(),
                r.tag_only,
                status_text(r)
            ));
        }
        md
    }

    /// review.md
    pub fn markdown(&self) -> String {
        let mut md = format!("# {}: {}\n\n", self.heading(), self.title);
        md.push_str(&format!(
            "Conclusion: **{}**. Nothing was applied: these are plans against the current state, \
             computed for commit `{}`{}.\n\n",
            self.conclusion.as_str(),
            crate::model::names::short_id(&self.commit, 12),
            self.base
                .as_deref()
                .map(|b| format!(
                    " from merge base `{}`",
                    crate::model::names::short_id(b, 12)
                ))
                .unwrap_or_default()
        ));
        let loss: Vec<String> = self
            .rows
            .iter()
            .flat_map(|r| {
                r.data_loss
                    .iter()
                    .map(move |d| format!("> - `{}`: `{d}`\n", r.deployment))
            })
            .collect();
        if !loss.is_empty() {
            md.push_str(
                "> **Attention: stateful resources are destroyed or replaced (data loss):**\n",
            );
            md.extend(loss);
            md.push('\n');
        }
        let refusals: Vec<String> = self
            .rows
            .iter()
            .filter(|r| r.is_failure())
            .flat_map(|r| {
                let mut lines: Vec<String> = r
                    .denials
                    .iter()
                    .map(|d| {
                        format!(
                            "> - `{}`: denied by `{}`: {}{}\n",
                            r.deployment,
                            d.policy,
                            resource_of(d),
                            d.message
                        )
                    })
                    .collect();
                if let Some(e) = &r.error {
                    lines.push(format!(
                        "> - `{}` ({}): {}\n",
                        r.deployment,
                        r.action,
                        r.error_line(e)
                    ));
                }
                lines
            })
            .collect();
        if !refusals.is_empty() {
            md.push_str("> **Would be refused after the merge, or failed:**\n");
            md.extend(refusals);
            md.push('\n');
        }
        let approvals: Vec<&Row> = self.rows.iter().filter(|r| r.needs_approval).collect();
        if !approvals.is_empty() {
            md.push_str(&format!(
                "Needs an approval after the merge (protected environment): {}.\n\n",
                approvals
                    .iter()
                    .map(|r| format!("`{}`", r.deployment))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        md.push_str(&self.table());
        for r in &self.rows {
            md.push_str(&format!("\n## `{}` ({})\n\n", r.deployment, r.action));
            if let Some(e) = &r.error {
                md.push_str(&format!(
                    "**{}**:\n\n```\n{}\n```\n",
                    r.status,
                    e.trim_end()
                ));
                continue;
            }
            for w in &r.warnings {
                md.push_str(&format!(
                    "- warning (`{}`): {}{}\n",
                    w.policy,
                    resource_of(w),
                    w.message
                ));
            }
            if !r.warnings.is_empty() {
                md.push('\n');
            }
            if r.changes.is_empty() {
                md.push_str(if r.tag_only > 0 {
                    "Only the per-deploy tags change.\n"
                } else {
                    "No changes.\n"
                });
            } else {
                md.push_str("| action | resource | stateful | attributes |\n|---|---|---|---|\n");
                for c in &r.changes {
                    let attrs: Vec<String> = c
                        .attributes
                        .iter()
                        .filter(|a| !a.per_deploy_tag)
                        .map(|a| {
                            format!("`{}`: {} → {}", a.path, short(&a.before), short(&a.after))
                        })
                        .collect();
                    md.push_str(&format!(
                        "| {} | `{}` | {} | {} |\n",
                        c.action,
                        c.address,
                        if c.stateful { "yes" } else { "" },
                        attrs.join("<br>").replace('|', "\\|")
                    ));
                }
            }
            if r.tag_only > 0 && !r.changes.is_empty() {
                md.push_str(&format!("\nAnd {} tag-only update(s).\n", r.tag_only));
            }
        }
        if !self.orphans.is_empty() {
            md.push_str("\n## Orphans (request gone, resources live)\n\n");
            for o in &self.orphans {
                md.push_str(&format!("- `{}`: {}\n", o.deployment, o.reason));
            }
        }
        md
    }

    /// review.html: one self-contained page.
    pub fn html(&self) -> String {
        let page = ReviewPage {
            heading: self.heading(),
            review: self,
            conclusion: self.conclusion.as_str(),
            markdown_rows: self
                .rows
                .iter()
                .map(|r| HtmlRow {
                    row: r,
                    status: status_text(r),
                    counts: r.counts_text(),
                    changes: r
                        .changes
                        .iter()
                        .map(|c| HtmlChange {
                            change: c,
                            attributes: c
                                .attributes
                                .iter()
                                .filter(|a| !a.per_deploy_tag)
                                .map(|a| {
                                    format!(
                                        "{}: {} → {}",
                                        a.path,
                                        short(&a.before),
                                        short(&a.after)
                                    )
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        };
        page.render().unwrap_or_else(|e| format!("<!DOCTYPE html><title>Review</title><p>the review page could not be rendered: {e}; review.md holds the same\n"))
    }
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage<'a> {
    heading: String,
    review: &'a Review,
    conclusion: &'static str,
    markdown_rows: Vec<HtmlRow<'a>>,
}

struct HtmlRow<'a> {
    row: &'a Row,
    status: String,
    counts: String,
    changes: Vec<HtmlChange<'a>>,
}

struct HtmlChange<'a> {
    change: &'a ResourceChange,
    attributes: Vec<String>,
}

fn title(t: &Totals, conclusion: Conclusion) -> String {
    let mut parts = vec![format!(
        "{} deployment{}",
        t.deployments,
        if t.deployments == 1 { "" } else { "s" }
    )];
    if t.with_changes > 0 {
        parts.push(format!("{} with changes", t.with_changes));
    }
    if t.destroys > 0 {
        parts.push(format!("{} destroyed after the merge", t.destroys));
    }
    if t.data_loss > 0 {
        parts.push(format!("{} losing data", t.data_loss));
    }
    match conclusion {
        Conclusion::Failure => parts.push(format!(
            "{} would be refused or failed",
            t.denied + t.refused + t.failed
        )),
        Conclusion::ActionRequired => {
            parts.push(format!("{} need(s) an approval", t.needs_approval))
        }
        Conclusion::Success => {}
    }
    parts.join(", ")
}

fn status_text(r: &Row) -> String {
    let mut s = r.status.clone();
    if r.needs_approval {
        s.push_str(", needs approval");
    }
    if !r.data_loss.is_empty() {
        s.push_str(", data loss");
    }
    s
}

fn resource_of(f: &Finding) -> String {
    if f.resource.is_empty() {
        String::new()
    } else {
        format!("`{}`: ", f.resource)
    }
}

fn one_line(text: &str) -> String {
    text.lines().next().unwrap_or("").to_owned()
}

/// A value in a table cell: JSON, at most 80 characters.
fn short(v: &Value) -> String {
    let text = match v {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    };
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(77).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// `text` within `limit` characters: cut at a line end, with a note naming where the rest is.
pub fn cut(text: &str, limit: usize, full_at: Option<&str>) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let note = format!(
        "\n\n**The review is longer than the {limit} characters a check may show: cut here.** The full review: {}\n",
        full_at.unwrap_or("review.md, archived with the build")
    );
    let room = limit.saturating_sub(note.chars().count());
    let mut end = text.char_indices().nth(room).map_or(text.len(), |(i, _)| i);
    if let Some(nl) = text[..end].rfind('\n') {
        end = nl;
    }
    format!("{}{note}", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, status: &str, protected: bool) -> Row {
        let plan = PlanIn {
            deployment: id.into(),
            summary: Counts {
                add: usize::from(status == "changes"),
                change: 2,
                destroy: 0,
                replace: 0,
                tag_only: 2,
            },
            resources: vec![],
            policy: PolicyIn::default(),
            fingerprint: None,
            destroy: false,
        };
        let mut r = Row::from_plan(plan, protected);
        if status == "changes" {
            r.changes.push(ResourceChange {
                address: "terraform_data.x".into(),
                action: "create".into(),
                stateful: false,
                tag_only: false,
                attributes: vec![],
            });
            r.status = "changes".into();
        }
        r
    }

    #[test]
    fn conclusion_follows_refusals_then_approvals() {
        let ctx = ReviewContext {
            commit: "c".repeat(40),
            ..ReviewContext::default()
        };
        let ok = Review::new(&ctx, vec![row("dev/a", "changes", false)], vec![]);
        assert_eq!(ok.conclusion, Conclusion::Success);
        let approval = Review::new(
            &ctx,
            vec![
                row("dev/a", "changes", false),
                row("prod/a", "changes", true),
            ],
            vec![],
        );
        assert_eq!(approval.conclusion, Conclusion::ActionRequired);
        assert_eq!(approval.totals.needs_approval, 1);
        let failed = Row::from_error(
            error_in("prod/b", "prod/b: web-service@9.9.9 is not certified", 3),
            true,
        );
        let failure = Review::new(&ctx, vec![row("prod/a", "changes", true), failed], vec![]);
        assert_eq!(failure.conclusion, Conclusion::Failure);
        // Refusals come before the other rows.
        assert_eq!(failure.rows[0].deployment, "prod/b");
        assert_eq!(failure.rows[0].status, "refused");
        assert!(failure.markdown().contains(
            "> - `prod/b` (deploy): refused: prod/b: web-service@9.9.9 is not certified"
        ));
        // Tag-only plans need no approval text beyond the counts.
        let tags = row("dev/c", "tag-only", false);
        assert_eq!(tags.status, "tag-only");
    }

    fn error_in(id: &str, error: &str, code: u8) -> ErrorIn {
        ErrorIn {
            deployment: id.into(),
            action: None,
            error: error.into(),
            exit_code: Some(code),
        }
    }

    #[test]
    fn long_text_is_cut_at_a_line_with_the_link() {
        let text = "line of text\n".repeat(10_000);
        let out = cut(
            &text,
            CHECKS_LIMIT,
            Some("https://ci/job/1/artifact/review.md"),
        );
        assert!(out.chars().count() <= CHECKS_LIMIT, "{}", out.len());
        assert!(out.ends_with("The full review: https://ci/job/1/artifact/review.md\n"));
        assert!(out.contains("line of text\n\n**The review is longer"));
        assert_eq!(cut("short", CHECKS_LIMIT, None), "short");
    }
}
