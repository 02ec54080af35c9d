//! The fleet report as Markdown (`report.md`): the same sections as the HTML page, as GitHub
//! flavoured tables. Values come from user files (requests, records, logs): every cell goes
//! through [`cell`], so a `|` or a newline cannot break a table and `<script>` stays text.

use super::model::*;
use std::fmt::Write;

/// One table cell: `\` and `|` escaped, line breaks as spaces, `&`, `<` and `>` as entities
/// (Markdown renderers pass raw HTML through); an empty value is `-`.
pub fn cell(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push(' ');
            }
            '\n' | '\u{2028}' | '\u{2029}' => out.push(' '),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    let trimmed = out.trim();
    if trimmed.is_empty() {
        "-".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// A table: a header row, the separator, then the rows (each cell escaped).
fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    out.push_str(&line(head.iter().map(|h| cell(h)).collect()));
    out.push_str(&line(head.iter().map(|_| "---".to_owned()).collect()));
    for r in rows {
        out.push_str(&line(r.iter().map(|c| cell(c)).collect()));
    }
    out.push('\n');
}

pub fn cert_text(c: CertState) -> &'static str {
    match c {
        CertState::Valid => "valid",
        CertState::Stale => "stale",
        CertState::Revoked => "revoked",
        CertState::None => "none",
    }
}

pub fn drift_text(d: &DriftInfo) -> String {
    let what = match (d.status, d.changes) {
        (DriftStatus::InSync, _) => "in sync".to_owned(),
        (DriftStatus::Drift, Some(n)) => format!("drift ({n})"),
        (DriftStatus::Drift, None) => "drift".to_owned(),
        (DriftStatus::Unknown, _) => "unknown".to_owned(),
    };
    match &d.checked_at {
        Some(t) => format!("{what}, {t}"),
        None => what,
    }
}

pub fn orphan_text(k: OrphanKind) -> &'static str {
    match k {
        OrphanKind::StateWithoutRequest => "state without request",
        OrphanKind::RequestNeverApplied => "request never applied",
        OrphanKind::DestroyedWithStateLeft => "destroyed with state left",
    }
}

fn or_dash(v: Option<&str>) -> String {
    v.unwrap_or("-").to_owned()
}

fn by_type(m: &std::collections::BTreeMap<String, usize>) -> String {
    m.iter()
        .map(|(t, n)| format!("{t}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The whole report as Markdown.
pub fn markdown(r: &FleetReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Fleet report: {}\n", cell(&r.repo));
    let _ = writeln!(
        out,
        "Commit {}, collected {}.\n",
        cell(crate::model::names::short_id(&r.commit, 12)),
        cell(&r.generated_at)
    );
    let t = &r.totals;
    table(
        &mut out,
        &[
            "deployments",
            "deployed",
            "resources",
            "drifted",
            "orphans",
            "at risk",
            "locked",
        ],
        &[[
            t.deployments,
            t.deployed,
            t.resources,
            t.drifted,
            t.orphans,
            t.at_risk,
            t.locked,
        ]
        .iter()
        .map(ToString::to_string)
        .collect()],
    );

    out.push_str("## Deployments\n\n");
    let rows: Vec<Vec<String>> = r
        .deployments
        .iter()
        .map(|d| {
            let deployed = d.deployed.as_ref().map_or("-".to_owned(), |x| {
                let by = x
                    .approved_by
                    .as_ref()
                    .map(|a| format!(", approved by {a}"))
                    .unwrap_or_default();
                format!(
                    "{} ({}, {}, build {}{by})",
                    x.version, x.record, x.time, x.build
                )
            });
            let resources = match d.state {
                StateStatus::Read => d.resource_total.to_string(),
                StateStatus::None => "no state".to_owned(),
                StateStatus::Unknown => "unknown".to_owned(),
            };
            vec![
                d.id.clone(),
                or_dash(d.component.as_deref()),
                or_dash(d.profile.as_deref()),
                or_dash(d.requested_version.as_deref()),
                if d.pending && d.deployed.is_some() {
                    format!("{deployed} (pending)")
                } else {
                    deployed
                },
                d.age_days.map_or("-".to_owned(), |a| format!("{a} d")),
                resources,
                cert_text(d.certification).to_owned(),
                drift_text(&d.drift),
                d.lock.as_ref().map_or("-".to_owned(), |l| match &l.since {
                    Some(s) => format!("{} since {s}", l.holder),
                    None => l.holder.clone(),
                }),
                or_dash(d.last_failure.as_deref()),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            "deployment",
            "component",
            "profile",
            "requested",
            "deployed",
            "age",
            "resources",
            "certification",
            "drift",
            "lock",
            "last failure",
        ],
        &rows,
    );

    let promotion: Vec<&str> = r
        .environments
        .iter()
        .filter(|e| e.promotion_index.is_some())
        .map(|e| e.name.as_str())
        .collect();
    out.push_str("## Components\n\n");
    if !promotion.is_empty() {
        let _ = writeln!(out, "Promotion order: {}.\n", cell(&promotion.join(" → ")));
    }
    let mut head = vec!["component"];
    head.extend(r.environments.iter().map(|e| e.name.as_str()));
    head.push("waiting for promotion");
    let rows: Vec<Vec<String>> = r
        .components
        .iter()
        .map(|c| {
            let mut row = vec![c.component.clone()];
            row.extend(c.cells.iter().map(|v| v.versions.join(", ")));
            row.push(
                c.waiting
                    .iter()
                    .map(|w| format!("{} ({} → {})", w.version, w.from, w.to))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            row
        })
        .collect();
    table(&mut out, &head, &rows);

    out.push_str("## Orphans\n\n");
    if r.orphans.is_empty() {
        out.push_str("None.\n\n");
    } else {
        let rows: Vec<Vec<String>> = r
            .orphans
            .iter()
            .map(|o| {
                vec![
                    o.id.clone(),
                    orphan_text(o.kind).to_owned(),
                    o.detail.clone(),
                ]
            })
            .collect();
        table(&mut out, &["deployment", "kind", "detail"], &rows);
    }

    out.push_str("## Certifications\n\n");
    if r.certifications.is_empty() {
        out.push_str("No certification record.\n\n");
    } else {
        let rows: Vec<Vec<String>> = r
            .certifications
            .iter()
            .map(|c| {
                vec![
                    format!("{}@{}", c.component, c.version),
                    cert_text(c.state).to_owned(),
                    c.profiles.join(", "),
                    or_dash(c.certified_at.as_deref()),
                    c.used_by.to_string(),
                    or_dash(c.revoked_reason.as_deref()),
                ]
            })
            .collect();
        table(
            &mut out,
            &[
                "package",
                "state",
                "profiles",
                "certified",
                "used by",
                "revoked",
            ],
            &rows,
        );
    }

    out.push_str("## Lifecycle\n\n### Resources by environment\n\n");
    let rows: Vec<Vec<String>> = r
        .resources_by_environment
        .iter()
        .map(|e| {
            vec![
                e.environment.clone(),
                e.total.to_string(),
                by_type(&e.by_type),
            ]
        })
        .collect();
    table(&mut out, &["environment", "resources", "by type"], &rows);
    out.push_str("### Resources by deployment\n\n");
    let rows: Vec<Vec<String>> = r
        .deployments
        .iter()
        .filter(|d| d.resource_total > 0)
        .map(|d| {
            vec![
                d.id.clone(),
                d.resource_total.to_string(),
                by_type(&d.resources),
            ]
        })
        .collect();
    if rows.is_empty() {
        out.push_str("No resources read.\n\n");
    } else {
        table(&mut out, &["deployment", "resources", "by type"], &rows);
    }
    out.push_str("### Oldest deployments\n\n");
    if r.oldest.is_empty() {
        out.push_str("None deployed.\n\n");
    } else {
        let rows: Vec<Vec<String>> = r
            .oldest
            .iter()
            .map(|a| vec![a.id.clone(), format!("{} d", a.age_days), a.record.clone()])
            .collect();
        table(&mut out, &["deployment", "age", "record"], &rows);
    }
    out.push_str("### Deployed packages revoked or not certified\n\n");
    if r.at_risk.is_empty() {
        out.push_str("None.\n\n");
    } else {
        let rows: Vec<Vec<String>> = r
            .at_risk
            .iter()
            .map(|a| {
                vec![
                    a.id.clone(),
                    a.version.clone(),
                    cert_text(a.certification).to_owned(),
                    if a.protected { "yes" } else { "no" }.to_owned(),
                ]
            })
            .collect();
        table(
            &mut out,
            &["deployment", "version", "certification", "protected"],
            &rows,
        );
    }
    if !r.dependencies.is_empty() {
        out.push_str("## Dependencies\n\n");
        let rows: Vec<Vec<String>> = r
            .dependencies
            .iter()
            .map(|d| vec![d.from.clone(), d.to.clone()])
            .collect();
        table(&mut out, &["deployment", "depends on"], &rows);
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn fleet_markdown_cells_cannot_break_a_table() {
        assert_eq!(cell("a|b"), "a\\|b");
        assert_eq!(cell("a\\|b"), "a\\\\\\|b");
        assert_eq!(cell("one\ntwo\r\nthree\rfour"), "one two three four");
        assert_eq!(
            cell("<script>alert(1)</script> & co"),
            "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"
        );
        assert_eq!(cell("tab\there\u{7}"), "tab here");
        assert_eq!(cell(""), "-");
        assert_eq!(cell(" \n "), "-");
    }

    fn report() -> FleetReport {
        let evil = "x|y\n<b>z</b>";
        FleetReport {
            generated_at: "2026-03-01T10:00:00Z".into(),
            repo: "platform-live".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            environments: vec![EnvironmentInfo {
                name: "dev".into(),
                cloud: "sandbox".into(),
                protected: false,
                promotion_index: Some(0),
            }],
            deployments: vec![DeploymentRow {
                id: "dev/web".into(),
                environment: "dev".into(),
                name: "web".into(),
                component: Some("web-service".into()),
                profile: Some("internal-tooling".into()),
                requested_version: Some("1.1.0".into()),
                deployed: Some(DeployedInfo {
                    record: "deploy/dev/web/2".into(),
                    sequence: 2,
                    component: "web-service".into(),
                    version: "1.0.0".into(),
                    time: "2026-02-01T10:00:00.000Z".into(),
                    build: "jenkins-7".into(),
                    commit: "0123".into(),
                    approved_by: Some(evil.into()),
                }),
                pending: true,
                age_days: Some(28),
                resources: BTreeMap::from([("terraform_data".into(), 5)]),
                resource_total: 5,
                state: StateStatus::Read,
                certification: CertState::Revoked,
                drift: DriftInfo {
                    status: DriftStatus::Drift,
                    changes: Some(2),
                    checked_at: None,
                },
                lock: None,
                last_failure: Some(evil.into()),
            }],
            components: vec![ComponentRow {
                component: "web-service".into(),
                cells: vec![VersionCell {
                    environment: "dev".into(),
                    versions: vec!["1.0.0".into()],
                }],
                waiting: vec![],
            }],
            orphans: vec![OrphanRow {
                id: "dev/old".into(),
                kind: OrphanKind::StateWithoutRequest,
                detail: evil.into(),
            }],
            certifications: vec![],
            resources_by_environment: vec![EnvironmentResources {
                environment: "dev".into(),
                by_type: BTreeMap::from([("terraform_data".into(), 5)]),
                total: 5,
            }],
            oldest: vec![AgeRow {
                id: "dev/web".into(),
                age_days: 28,
                record: "deploy/dev/web/2".into(),
            }],
            at_risk: vec![RiskRow {
                id: "dev/web".into(),
                version: "1.0.0".into(),
                certification: CertState::Revoked,
                protected: false,
            }],
            dependencies: vec![],
            totals: Totals {
                deployments: 1,
                deployed: 1,
                resources: 5,
                orphans: 1,
                at_risk: 1,
                ..Totals::default()
            },
        }
    }

    #[test]
    fn fleet_markdown_has_every_section_and_escapes_user_values() {
        let md = markdown(&report());
        for section in [
            "# Fleet report: platform-live",
            "## Deployments",
            "## Components",
            "## Orphans",
            "## Certifications",
            "## Lifecycle",
            "### Oldest deployments",
        ] {
            assert!(md.contains(section), "{section}: {md}");
        }
        assert!(md.contains("Commit 0123456789ab,"), "{md}");
        assert!(
            md.contains("| dev/web | web-service | internal-tooling | 1.1.0 | 1.0.0 (deploy/dev/web/2, 2026-02-01T10:00:00.000Z, build jenkins-7, approved by x\\|y &lt;b&gt;z&lt;/b&gt;) (pending) | 28 d | 5 | revoked | drift (2) | - | x\\|y &lt;b&gt;z&lt;/b&gt; |"),
            "{md}"
        );
        assert!(
            md.contains("| dev/old | state without request | x\\|y &lt;b&gt;z&lt;/b&gt; |"),
            "{md}"
        );
        assert!(!md.contains("<b>"), "{md}");
        // Every table line has as many unescaped pipes as its header.
        for block in md.split("\n\n").filter(|b| b.starts_with('|')) {
            let pipes = |l: &str| {
                l.replace("\\\\", "")
                    .replace("\\|", "")
                    .matches('|')
                    .count()
            };
            let mut lines = block.lines();
            let n = pipes(lines.next().unwrap());
            for l in lines {
                assert_eq!(pipes(l), n, "{l}");
            }
        }
        assert!(md.ends_with("|\n") && !md.ends_with("\n\n"));
    }
}
