//! The fleet report as one self-contained HTML page (issue 18 item 3).
//!
//! The page is an askama template (`core/templates/report.html`): every value goes through
//! askama's HTML escaping (`{{ … }}`, text and attributes alike); nothing from the report is ever
//! marked `|safe`. The only `|safe` output is [`SORT_SCRIPT`], a constant of this file.
//!
//! Self-contained: inline CSS, inline SVG (the resource chart and the dependency graph), one small
//! optional inline script that sorts a table when its header is clicked (the tables come sorted,
//! and everything reads with JavaScript off). No external font, image, script or style; a
//! Content-Security-Policy (`default-src 'none'`, the script allowed by its SHA-256 only) makes the
//! browser refuse any fetch should one ever slip in.
//!
//! This file turns the [`FleetReport`] into view rows (strings ready to print, badge classes, SVG
//! geometry); the template only lays them out. The DOM contract that browser tests rely on:
//!
//! | element | attributes |
//! | --- | --- |
//! | each section | `id` = `header`, `deployments`, `components`, `orphans`, `certifications`, `lifecycle`, `dependencies` |
//! | header card | `data-total` = the [`Totals`](super::model::Totals) field name, text = the count |
//! | deployment row | `data-deployment` (id), `data-environment`, `data-component`, `data-requested`, `data-deployed` (version, empty: none), `data-certification`, `data-drift`, `data-state`, `data-locked` (`true`/`false`), `data-pending` (`true`/`false`) |
//! | component row | `data-component`; each version cell `data-environment`, `data-versions` (space-separated) |
//! | orphan row | `data-orphan` (id), `data-kind` |
//! | certification row | `data-certification-row` (`component@version`), `data-state` |
//! | resource table row | `data-resource-type` |
//! | oldest row | `data-oldest` (id) |
//! | at-risk row | `data-risk` (id), `data-certification` |
//! | dependency graph | `svg[data-graph]`; node `g[data-node]` (id); edge `path[data-edge-from][data-edge-to]`; the list beside it `li[data-edge-from][data-edge-to]` |
//!
//! Enum values print as their serde (snake_case) names.

use super::model::{
    CertState, DependencyEdge, DeploymentRow, DriftStatus, EnvironmentInfo, FleetReport,
    OrphanKind, StateStatus,
};
use askama::Template;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// The page of `report`. Never fails: should the template ever fail to render (it cannot with
/// the values this file gives it), a short page says so instead.
pub fn html(report: &FleetReport) -> String {
    let page = Page::new(report);
    match page.render() {
        Ok(text) => text,
        Err(err) => fallback(&err.to_string()),
    }
}

/// The page shown when rendering failed: no data, only the error, escaped.
fn fallback(error: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Fleet report</title></head><body><h1>Fleet report</h1>\
         <p>The report page could not be rendered: {}. The JSON and Markdown reports hold the \
         same data.</p></body></html>\n",
        escape_text(error)
    )
}

/// Minimal HTML escaping for the fallback page (the template itself uses askama's).
fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Sorts a `table.sortable` by the clicked (or Enter/Space on the focused) header: by each cell's
/// `data-sort`, else its text, numbers in digit runs compared as numbers; a second click reverses.
/// Progressive enhancement only: the tables come sorted. A constant, printed `|safe` (it holds
/// `<`-free JavaScript, but escaping would break its quotes); its hash is in the page's CSP.
const SORT_SCRIPT: &str = r#"(function () {
  "use strict";
  var each = Array.prototype.forEach;
  each.call(document.querySelectorAll("table.sortable"), function (table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    var heads = table.tHead.rows[0].cells;
    each.call(heads, function (th, col) {
      th.tabIndex = 0;
      th.classList.add("sort-head");
      var sort = function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        each.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var key = function (row) {
          var cell = row.cells[col];
          if (!cell) { return ""; }
          var given = cell.getAttribute("data-sort");
          return given === null ? cell.textContent.trim() : given;
        };
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var d = key(a).localeCompare(key(b), undefined, { numeric: true });
          return ascending ? d : -d;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); }
      });
    });
  });
})();"#;

/// The Content-Security-Policy of the page: nothing fetched, inline styles, the sort script only.
fn content_security_policy() -> String {
    let digest = Sha256::digest(SORT_SCRIPT.as_bytes());
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{}'; \
         base-uri 'none'; form-action 'none'",
        base64(&digest)
    )
}

/// Standard base64 with padding (for the CSP hash; no crate for 20 lines).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextet = |shift: u32| char::from(ALPHABET[((n >> shift) & 63) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Enum names (serde snake_case; a test checks them against serde) and their badges.

fn cert_key(state: CertState) -> &'static str {
    match state {
        CertState::Valid => "valid",
        CertState::Stale => "stale",
        CertState::Revoked => "revoked",
        CertState::None => "none",
    }
}

fn cert_badge(state: CertState) -> Badge {
    let (text, tone) = match state {
        CertState::Valid => ("certified", "ok"),
        CertState::Stale => ("stale", "warn"),
        CertState::Revoked => ("revoked", "bad"),
        CertState::None => ("not certified", "muted"),
    };
    Badge {
        text: text.to_string(),
        tone,
    }
}

fn drift_key(status: DriftStatus) -> &'static str {
    match status {
        DriftStatus::InSync => "in_sync",
        DriftStatus::Drift => "drift",
        DriftStatus::Unknown => "unknown",
    }
}

fn state_key(state: StateStatus) -> &'static str {
    match state {
        StateStatus::Read => "read",
        StateStatus::None => "none",
        StateStatus::Unknown => "unknown",
    }
}

fn orphan_key(kind: OrphanKind) -> &'static str {
    match kind {
        OrphanKind::StateWithoutRequest => "state_without_request",
        OrphanKind::RequestNeverApplied => "request_never_applied",
        OrphanKind::DestroyedWithStateLeft => "destroyed_with_state_left",
    }
}

fn orphan_text(kind: OrphanKind) -> &'static str {
    match kind {
        OrphanKind::StateWithoutRequest => "state without a request",
        OrphanKind::RequestNeverApplied => "request never applied",
        OrphanKind::DestroyedWithStateLeft => "destroyed, state left",
    }
}

/// A status shown as words, coloured by `tone` (`ok`, `warn`, `bad`, `muted`): never colour only.
struct Badge {
    text: String,
    tone: &'static str,
}

/// The first 12 characters of a commit id (the full id goes in a `title`).
fn short(commit: &str) -> &str {
    match commit.char_indices().nth(12) {
        Some((at, _)) => &commit[..at],
        None => commit,
    }
}

fn or_dash(value: Option<&str>) -> &str {
    value.unwrap_or("—")
}

// ---------------------------------------------------------------------------------------------
// The view the template reads.

#[derive(Template)]
#[template(path = "report.html")]
struct Page<'a> {
    r: &'a FleetReport,
    csp: String,
    script: &'static str,
    commit_short: &'a str,
    environments: Vec<EnvView<'a>>,
    cards: Vec<Card>,
    deployments: Vec<DeploymentView<'a>>,
    components: Vec<ComponentView<'a>>,
    orphans: Vec<OrphanView<'a>>,
    certifications: Vec<CertView<'a>>,
    chart: Chart,
    resources: ResourceTable,
    at_risk: Vec<RiskView<'a>>,
    graph: Option<Graph>,
}

struct EnvView<'a> {
    name: &'a str,
    cloud: &'a str,
    protected: bool,
    promoted: bool,
    /// An arrow to the next environment of the promotion order follows this one.
    arrow: bool,
}

struct Card {
    key: &'static str,
    label: &'static str,
    value: usize,
    tone: &'static str,
}

struct DeploymentView<'a> {
    id: &'a str,
    environment: &'a str,
    component: &'a str,
    profile: &'a str,
    requested: &'a str,
    pending: bool,
    deployed: Option<DeployedView<'a>>,
    /// The deployed version for `data-deployed` (empty: none).
    deployed_version: &'a str,
    age: String,
    age_sort: String,
    resource_total: usize,
    /// `type: count` per line (the `title` of the total).
    resource_title: String,
    state: &'static str,
    state_note: &'static str,
    certification: &'static str,
    cert_badge: Badge,
    drift: &'static str,
    drift_badge: Badge,
    drift_checked: &'a str,
    lock_holder: Option<&'a str>,
    lock_since: &'a str,
    last_failure: Option<&'a str>,
}

struct DeployedView<'a> {
    version: &'a str,
    record: &'a str,
    time: &'a str,
    build: &'a str,
    commit: &'a str,
    commit_short: &'a str,
    approver: &'a str,
}

struct ComponentView<'a> {
    component: &'a str,
    cells: Vec<CellView<'a>>,
    waiting: Vec<String>,
}

struct CellView<'a> {
    environment: &'a str,
    /// Space-separated, for `data-versions`.
    versions_attr: String,
    /// Comma-separated, shown.
    versions_text: String,
}

struct OrphanView<'a> {
    id: &'a str,
    kind: &'static str,
    kind_text: &'static str,
    detail: &'a str,
}

struct CertView<'a> {
    component: &'a str,
    version: &'a str,
    state: &'static str,
    badge: Badge,
    profiles: &'a [String],
    certified_at: &'a str,
    revoked_reason: &'a str,
    used_by: usize,
}

struct RiskView<'a> {
    id: &'a str,
    version: &'a str,
    certification: &'static str,
    badge: Badge,
    protected: bool,
}

impl<'a> Page<'a> {
    fn new(r: &'a FleetReport) -> Self {
        Page {
            r,
            csp: content_security_policy(),
            script: SORT_SCRIPT,
            commit_short: short(&r.commit),
            environments: env_views(&r.environments),
            cards: cards(r),
            deployments: r.deployments.iter().map(deployment_view).collect(),
            components: component_views(r),
            orphans: r
                .orphans
                .iter()
                .map(|o| OrphanView {
                    id: &o.id,
                    kind: orphan_key(o.kind),
                    kind_text: orphan_text(o.kind),
                    detail: &o.detail,
                })
                .collect(),
            certifications: r
                .certifications
                .iter()
                .map(|c| CertView {
                    component: &c.component,
                    version: &c.version,
                    state: cert_key(c.state),
                    badge: cert_badge(c.state),
                    profiles: &c.profiles,
                    certified_at: or_dash(c.certified_at.as_deref()),
                    revoked_reason: or_dash(c.revoked_reason.as_deref()),
                    used_by: c.used_by,
                })
                .collect(),
            chart: Chart::new(r),
            resources: ResourceTable::new(r),
            at_risk: r
                .at_risk
                .iter()
                .map(|a| RiskView {
                    id: &a.id,
                    version: &a.version,
                    certification: cert_key(a.certification),
                    badge: cert_badge(a.certification),
                    protected: a.protected,
                })
                .collect(),
            graph: Graph::new(&r.environments, &r.dependencies),
        }
    }
}

fn env_views(environments: &[EnvironmentInfo]) -> Vec<EnvView<'_>> {
    let promoted = environments
        .iter()
        .filter(|e| e.promotion_index.is_some())
        .count();
    environments
        .iter()
        .map(|e| EnvView {
            name: &e.name,
            cloud: &e.cloud,
            protected: e.protected,
            promoted: e.promotion_index.is_some(),
            arrow: e.promotion_index.is_some_and(|i| i + 1 < promoted),
        })
        .collect()
}

fn cards(r: &FleetReport) -> Vec<Card> {
    let t = &r.totals;
    let tone = |n: usize, bad: &'static str| if n == 0 { "ok" } else { bad };
    vec![
        Card {
            key: "deployments",
            label: "deployments",
            value: t.deployments,
            tone: "plain",
        },
        Card {
            key: "deployed",
            label: "deployed",
            value: t.deployed,
            tone: "plain",
        },
        Card {
            key: "resources",
            label: "resources",
            value: t.resources,
            tone: "plain",
        },
        Card {
            key: "drifted",
            label: "drifted",
            value: t.drifted,
            tone: tone(t.drifted, "warn"),
        },
        Card {
            key: "orphans",
            label: "orphans",
            value: t.orphans,
            tone: tone(t.orphans, "warn"),
        },
        Card {
            key: "at_risk",
            label: "at risk",
            value: t.at_risk,
            tone: tone(t.at_risk, "bad"),
        },
        Card {
            key: "locked",
            label: "locked",
            value: t.locked,
            tone: tone(t.locked, "warn"),
        },
    ]
}

fn deployment_view(d: &DeploymentRow) -> DeploymentView<'_> {
    let deployed = d.deployed.as_ref().map(|p| DeployedView {
        version: &p.version,
        record: &p.record,
        time: &p.time,
        build: &p.build,
        commit: &p.commit,
        commit_short: short(&p.commit),
        approver: or_dash(p.approved_by.as_deref()),
    });
    let drift_badge = match d.drift.status {
        DriftStatus::InSync => Badge {
            text: "in sync".to_string(),
            tone: "ok",
        },
        DriftStatus::Drift => Badge {
            text: match d.drift.changes {
                Some(1) => "drift: 1 change".to_string(),
                Some(n) => format!("drift: {n} changes"),
                None => "drift".to_string(),
            },
            tone: "bad",
        },
        DriftStatus::Unknown => Badge {
            text: "not checked".to_string(),
            tone: "muted",
        },
    };
    let resource_title = d
        .resources
        .iter()
        .map(|(ty, n)| format!("{ty}: {n}"))
        .collect::<Vec<_>>()
        .join("\n");
    DeploymentView {
        id: &d.id,
        environment: &d.environment,
        component: or_dash(
            d.component
                .as_deref()
                .or(d.deployed.as_ref().map(|p| p.component.as_str())),
        ),
        profile: or_dash(d.profile.as_deref()),
        requested: d.requested_version.as_deref().unwrap_or(""),
        pending: d.pending,
        deployed_version: d.deployed.as_ref().map_or("", |p| p.version.as_str()),
        deployed,
        age: d
            .age_days
            .map_or_else(|| "—".to_string(), |n| format!("{n} d")),
        // Not deployed sorts after the oldest.
        age_sort: d.age_days.unwrap_or(u64::MAX).to_string(),
        resource_total: d.resource_total,
        resource_title,
        state: state_key(d.state),
        state_note: match d.state {
            StateStatus::Read => "",
            StateStatus::None => "no state",
            StateStatus::Unknown => "state not read",
        },
        certification: cert_key(d.certification),
        cert_badge: cert_badge(d.certification),
        drift: drift_key(d.drift.status),
        drift_badge,
        drift_checked: d.drift.checked_at.as_deref().unwrap_or(""),
        lock_holder: d.lock.as_ref().map(|l| l.holder.as_str()),
        lock_since: d
            .lock
            .as_ref()
            .and_then(|l| l.since.as_deref())
            .unwrap_or(""),
        last_failure: d.last_failure.as_deref(),
    }
}

fn component_views(r: &FleetReport) -> Vec<ComponentView<'_>> {
    r.components
        .iter()
        .map(|c| ComponentView {
            component: &c.component,
            cells: c
                .cells
                .iter()
                .map(|cell| CellView {
                    environment: &cell.environment,
                    versions_attr: cell.versions.join(" "),
                    versions_text: if cell.versions.is_empty() {
                        "—".to_string()
                    } else {
                        cell.versions.join(", ")
                    },
                })
                .collect(),
            waiting: c
                .waiting
                .iter()
                .map(|w| format!("{} ({} → {})", w.version, w.from, w.to))
                .collect(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Lifecycle and cost: resources by type per environment.

/// Colours of resource types in the chart: `fill-0` … `fill-7` in the CSS, by type, cycling.
const PALETTE: usize = 8;

/// Every resource type over the environments, sorted (the chart's colour index is the position).
fn resource_types(r: &FleetReport) -> Vec<&str> {
    r.resources_by_environment
        .iter()
        .flat_map(|e| e.by_type.keys().map(String::as_str))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// A horizontal stacked bar per environment, one segment per resource type.
struct Chart {
    width: u32,
    height: u32,
    bars: Vec<Bar>,
    legend: Vec<LegendItem>,
}

struct Bar {
    environment: String,
    total: usize,
    label_y: u32,
    y: u32,
    total_x: String,
    segments: Vec<Segment>,
}

struct Segment {
    x: String,
    width: String,
    fill: usize,
    title: String,
}

struct LegendItem {
    name: String,
    fill: usize,
}

impl Chart {
    const WIDTH: u32 = 760;
    const LABEL: f64 = 150.0;
    const BAR_SPACE: f64 = 520.0;
    const ROW: u32 = 30;
    const BAR: u32 = 18;

    fn new(r: &FleetReport) -> Chart {
        let types = resource_types(r);
        let colour: BTreeMap<&str, usize> = types
            .iter()
            .enumerate()
            .map(|(i, t)| (*t, i % PALETTE))
            .collect();
        let max = r
            .resources_by_environment
            .iter()
            .map(|e| e.total)
            .max()
            .unwrap_or(0)
            .max(1);
        let scale = Self::BAR_SPACE / max as f64;
        let mut bars = Vec::with_capacity(r.resources_by_environment.len());
        for (row, env) in (0u32..).zip(&r.resources_by_environment) {
            let y = 8 + row * Self::ROW;
            let mut x = Self::LABEL;
            let mut segments = Vec::with_capacity(env.by_type.len());
            for (ty, n) in &env.by_type {
                let width = *n as f64 * scale;
                segments.push(Segment {
                    x: format!("{x:.1}"),
                    width: format!("{width:.1}"),
                    fill: colour.get(ty.as_str()).copied().unwrap_or(0),
                    title: format!("{}: {ty}: {n}", env.environment),
                });
                x += width;
            }
            bars.push(Bar {
                environment: env.environment.clone(),
                total: env.total,
                label_y: y + Self::BAR - 5,
                y,
                total_x: format!("{:.1}", x + 6.0),
                segments,
            });
        }
        let height = 16 + Self::ROW * (bars.len() as u32).max(1);
        Chart {
            width: Self::WIDTH,
            height,
            bars,
            legend: types
                .iter()
                .map(|t| LegendItem {
                    name: (*t).to_string(),
                    fill: colour.get(t).copied().unwrap_or(0),
                })
                .collect(),
        }
    }
}

/// Rows: resource type; columns: environments (as in `resources_by_environment`), then total.
struct ResourceTable {
    environments: Vec<String>,
    rows: Vec<ResourceRow>,
    totals: Vec<usize>,
    total: usize,
}

struct ResourceRow {
    name: String,
    counts: Vec<usize>,
    total: usize,
}

impl ResourceTable {
    fn new(r: &FleetReport) -> ResourceTable {
        let envs = &r.resources_by_environment;
        let rows = resource_types(r)
            .into_iter()
            .map(|ty| {
                let counts: Vec<usize> = envs
                    .iter()
                    .map(|e| e.by_type.get(ty).copied().unwrap_or(0))
                    .collect();
                ResourceRow {
                    name: ty.to_string(),
                    total: counts.iter().sum(),
                    counts,
                }
            })
            .collect();
        ResourceTable {
            environments: envs.iter().map(|e| e.environment.clone()).collect(),
            rows,
            totals: envs.iter().map(|e| e.total).collect(),
            total: envs.iter().map(|e| e.total).sum(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dependencies: nodes in columns by environment, edges as paths with an arrowhead.

struct Graph {
    width: u32,
    height: u32,
    columns: Vec<GraphColumn>,
    nodes: Vec<GraphNode>,
    edges: Vec<GraphEdge>,
}

struct GraphColumn {
    name: String,
    x: u32,
}

struct GraphNode {
    id: String,
    label: String,
    x: u32,
    y: u32,
    text_x: u32,
    text_y: u32,
}

struct GraphEdge {
    from: String,
    to: String,
    d: String,
    arrow: String,
}

impl Graph {
    const NODE_W: u32 = 210;
    const NODE_H: u32 = 28;
    const COL_GAP: u32 = 90;
    const ROW_GAP: u32 = 14;
    const TOP: u32 = 34;
    const LEFT: u32 = 10;
    const LABEL_CHARS: usize = 30;

    /// None without edges. The nodes are the deployments the edges name.
    fn new(environments: &[EnvironmentInfo], edges: &[DependencyEdge]) -> Option<Graph> {
        if edges.is_empty() {
            return None;
        }
        let env_of = |id: &str| id.split_once('/').map_or("", |(env, _)| env).to_string();
        let ids: BTreeSet<&str> = edges
            .iter()
            .flat_map(|e| [e.from.as_str(), e.to.as_str()])
            .collect();
        // Columns: the report's environments in their order, then any other, by name.
        let mut by_env: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for id in &ids {
            by_env.entry(env_of(id)).or_default().push(id);
        }
        let mut order: Vec<String> = environments
            .iter()
            .filter(|e| by_env.contains_key(&e.name))
            .map(|e| e.name.clone())
            .collect();
        for env in by_env.keys() {
            if !order.contains(env) {
                order.push(env.clone());
            }
        }
        let mut columns = Vec::with_capacity(order.len());
        let mut nodes = Vec::with_capacity(ids.len());
        let mut place: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
        let mut rows = 0u32;
        for (col, env) in (0u32..).zip(&order) {
            let x = Self::LEFT + col * (Self::NODE_W + Self::COL_GAP);
            columns.push(GraphColumn {
                name: env.clone(),
                x,
            });
            let members = by_env.get(env).map(Vec::as_slice).unwrap_or(&[]);
            for (row, id) in (0u32..).zip(members) {
                let y = Self::TOP + row * (Self::NODE_H + Self::ROW_GAP);
                place.insert(id, (x, y));
                nodes.push(GraphNode {
                    id: (*id).to_string(),
                    label: truncate(id, Self::LABEL_CHARS),
                    x,
                    y,
                    text_x: x + 8,
                    text_y: y + Self::NODE_H / 2 + 4,
                });
                rows = rows.max(row + 1);
            }
        }
        let edges = edges
            .iter()
            .filter_map(|e| {
                let from = place.get(e.from.as_str())?;
                let to = place.get(e.to.as_str())?;
                (e.from != e.to).then(|| Self::edge(e, *from, *to))
            })
            .collect();
        let cols = order.len() as u32;
        Some(Graph {
            width: 2 * Self::LEFT + cols * Self::NODE_W + cols.saturating_sub(1) * Self::COL_GAP
                // Room for same-column arcs right of the last column.
                + 60,
            height: Self::TOP + rows * (Self::NODE_H + Self::ROW_GAP) + 10,
            columns,
            nodes,
            edges,
        })
    }

    /// A straight line between columns (side to side), an arc right of the column within one.
    fn edge(e: &DependencyEdge, from: (u32, u32), to: (u32, u32)) -> GraphEdge {
        let (w, h) = (f64::from(Self::NODE_W), f64::from(Self::NODE_H));
        let (fx, fy) = (f64::from(from.0), f64::from(from.1) + h / 2.0);
        let (tx, ty) = (f64::from(to.0), f64::from(to.1) + h / 2.0);
        let (d, start, end) = if from.0 == to.0 {
            let x = fx + w;
            let bulge = x + 30.0 + (ty - fy).abs() / 8.0;
            let mid = (fy + ty) / 2.0;
            (
                format!("M {x:.1} {fy:.1} Q {bulge:.1} {mid:.1} {x:.1} {ty:.1}"),
                (bulge, mid),
                (x, ty),
            )
        } else {
            let (x1, x2) = if tx > fx { (fx + w, tx) } else { (fx, tx + w) };
            (
                format!("M {x1:.1} {fy:.1} L {x2:.1} {ty:.1}"),
                (x1, fy),
                (x2, ty),
            )
        };
        GraphEdge {
            from: e.from.clone(),
            to: e.to.clone(),
            d,
            arrow: arrowhead(start, end),
        }
    }
}

/// The points of a small triangle at `end`, pointing away from `start`.
fn arrowhead(start: (f64, f64), end: (f64, f64)) -> String {
    let (dx, dy) = (end.0 - start.0, end.1 - start.1);
    let len = (dx * dx + dy * dy).sqrt().max(1e-6);
    let (ux, uy) = (dx / len, dy / len);
    let (bx, by) = (end.0 - 9.0 * ux, end.1 - 9.0 * uy);
    let (px, py) = (-uy * 4.5, ux * 4.5);
    format!(
        "{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
        end.0,
        end.1,
        bx + px,
        by + py,
        bx - px,
        by - py
    )
}

/// At most `max` characters, an ellipsis when cut (the full text goes in a `<title>`).
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((at, _)) if text.chars().count() > max => format!("{}…", &text[..at]),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::fleet::model::*;

    const EVIL: &str = "<script>alert(1)</script>";
    const QUOTES: &str = "\"quotes\" & <b>";

    fn env(name: &str, index: Option<usize>, protected: bool) -> EnvironmentInfo {
        EnvironmentInfo {
            name: name.into(),
            cloud: "local".into(),
            protected,
            promotion_index: index,
        }
    }

    fn deployment(env: &str, name: &str, version: &str) -> DeploymentRow {
        DeploymentRow {
            id: format!("{env}/{name}"),
            environment: env.into(),
            name: name.into(),
            component: Some("web".into()),
            profile: Some("small".into()),
            requested_version: Some(version.into()),
            deployed: Some(DeployedInfo {
                record: format!("deploy/{env}/{name}/3"),
                sequence: 3,
                component: "web".into(),
                version: version.into(),
                time: "2026-11-20T10:00:00Z".into(),
                build: "jenkins-42".into(),
                commit: "0123456789abcdef0123456789abcdef01234567".into(),
                approved_by: Some("alice".into()),
            }),
            pending: false,
            age_days: Some(12),
            resources: BTreeMap::from([
                ("local_file".to_string(), 2),
                ("random_pet".to_string(), 1),
            ]),
            resource_total: 3,
            state: StateStatus::Read,
            certification: CertState::Valid,
            drift: DriftInfo {
                status: DriftStatus::InSync,
                changes: None,
                checked_at: Some("2026-12-01T00:00:00Z".into()),
            },
            lock: None,
            last_failure: None,
        }
    }

    fn full() -> FleetReport {
        let mut evil = deployment("staging", "api", "1.0.0");
        evil.profile = Some(EVIL.into());
        evil.component = Some(QUOTES.into());
        evil.requested_version = Some("1.1.0".into());
        evil.pending = true;
        evil.certification = CertState::Revoked;
        evil.drift = DriftInfo {
            status: DriftStatus::Drift,
            changes: Some(2),
            checked_at: Some("2026-12-01T00:00:00Z".into()),
        };
        evil.lock = Some(LockInfo {
            holder: format!("bob@host pid 7 {EVIL}"),
            since: Some("2026-12-02T01:00:00Z".into()),
        });
        evil.last_failure = Some(format!("Error: {EVIL}\nline 2"));
        let mut unread = deployment("prod", "web-frontend", "1.0.0");
        unread.state = StateStatus::Unknown;
        unread.resources.clear();
        unread.resource_total = 0;
        unread.certification = CertState::Stale;
        unread.drift.status = DriftStatus::Unknown;
        unread.drift.checked_at = None;
        let mut never = deployment("prod", "never", "1.0.0");
        never.deployed = None;
        never.age_days = None;
        never.state = StateStatus::None;
        never.certification = CertState::None;
        FleetReport {
            generated_at: "2026-12-02T05:00:00Z".into(),
            repo: format!("/srv/repo/{EVIL}"),
            commit: "fedcba9876543210fedcba9876543210fedcba98".into(),
            environments: vec![
                env("dev", Some(0), false),
                env("staging", Some(1), false),
                env("prod", Some(2), true),
                env("sandbox", None, false),
            ],
            deployments: vec![
                deployment("dev", "web-frontend", "1.1.0"),
                evil,
                unread,
                never,
            ],
            components: vec![ComponentRow {
                component: QUOTES.into(),
                cells: vec![
                    VersionCell {
                        environment: "dev".into(),
                        versions: vec!["1.1.0".into()],
                    },
                    VersionCell {
                        environment: "staging".into(),
                        versions: vec!["1.0.0".into(), "1.1.0".into()],
                    },
                    VersionCell {
                        environment: "prod".into(),
                        versions: vec![],
                    },
                    VersionCell {
                        environment: "sandbox".into(),
                        versions: vec![],
                    },
                ],
                waiting: vec![PromotionWait {
                    version: "1.1.0".into(),
                    from: "dev".into(),
                    to: "staging".into(),
                }],
            }],
            orphans: vec![
                OrphanRow {
                    id: "dev/old".into(),
                    kind: OrphanKind::StateWithoutRequest,
                    detail: format!("3 resources in the state {EVIL}"),
                },
                OrphanRow {
                    id: "prod/gone".into(),
                    kind: OrphanKind::DestroyedWithStateLeft,
                    detail: QUOTES.into(),
                },
            ],
            certifications: vec![
                CertificationRow {
                    component: "web".into(),
                    version: "1.1.0".into(),
                    state: CertState::Valid,
                    profiles: vec!["small".into(), EVIL.into()],
                    certified_at: Some("2026-11-01T00:00:00Z".into()),
                    revoked_reason: None,
                    used_by: 2,
                },
                CertificationRow {
                    component: "web".into(),
                    version: "1.0.0".into(),
                    state: CertState::Revoked,
                    profiles: vec![],
                    certified_at: None,
                    revoked_reason: Some(EVIL.into()),
                    used_by: 1,
                },
            ],
            resources_by_environment: vec![
                EnvironmentResources {
                    environment: "dev".into(),
                    by_type: BTreeMap::from([
                        ("local_file".to_string(), 2),
                        ("random_pet".to_string(), 1),
                    ]),
                    total: 3,
                },
                EnvironmentResources {
                    environment: "staging".into(),
                    by_type: BTreeMap::from([(EVIL.to_string(), 5)]),
                    total: 5,
                },
            ],
            oldest: vec![AgeRow {
                id: "prod/web-frontend".into(),
                age_days: 12,
                record: "deploy/prod/web-frontend/3".into(),
            }],
            at_risk: vec![RiskRow {
                id: "staging/api".into(),
                version: "1.0.0".into(),
                certification: CertState::Revoked,
                protected: false,
            }],
            dependencies: vec![
                DependencyEdge {
                    from: "dev/web-frontend".into(),
                    to: "staging/api".into(),
                },
                DependencyEdge {
                    from: "prod/web-frontend".into(),
                    to: "prod/never".into(),
                },
            ],
            totals: Totals {
                deployments: 4,
                deployed: 3,
                resources: 8,
                drifted: 1,
                orphans: 2,
                at_risk: 1,
                locked: 1,
            },
        }
    }

    fn empty() -> FleetReport {
        FleetReport {
            generated_at: "2026-12-02T05:00:00Z".into(),
            repo: "repo".into(),
            commit: "abc".into(),
            environments: vec![],
            deployments: vec![],
            components: vec![],
            orphans: vec![],
            certifications: vec![],
            resources_by_environment: vec![],
            oldest: vec![],
            at_risk: vec![],
            dependencies: vec![],
            totals: Totals::default(),
        }
    }

    /// The page rendered through the template, not the fallback.
    fn render(report: &FleetReport) -> String {
        Page::new(report).render().unwrap()
    }

    #[test]
    fn values_are_escaped_everywhere() {
        let page = render(&full());
        assert_eq!(page, html(&full()));
        // askama writes numeric references: `<` -> `&#60;`, `>` -> `&#62;`, `"` -> `&#34;`.
        assert!(page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
        assert!(!page.contains("<script>alert"));
        assert!(!page.contains("alert(1)</script>"));
        assert!(page.contains("&#34;quotes&#34; &#38; &#60;b&#62;"));
        assert!(!page.contains("<b>"));
        // The only script is the sorting one.
        assert_eq!(page.matches("<script").count(), 1);
        assert!(page.contains(SORT_SCRIPT));
    }

    #[test]
    fn nothing_external() {
        for page in [render(&full()), render(&empty())] {
            let lower = page.to_ascii_lowercase();
            for bad in [
                "src=",
                "href=\"http",
                "href='http",
                "http://",
                "https://",
                "@import",
                "url(",
                "<link",
                "<img",
                "<iframe",
                "<object",
                "<embed",
            ] {
                assert!(!lower.contains(bad), "{bad} in the page");
            }
            // Every link is an in-page anchor.
            for (at, _) in lower.match_indices("href=") {
                assert_eq!(&lower[at..at + 7], "href=\"#", "{}", &lower[at..at + 40]);
            }
            assert!(lower.contains("<style>"));
            // Attribute values are escaped too: `'` is `&#39;`.
            assert!(lower.contains("default-src &#39;none&#39;"));
        }
    }

    #[test]
    fn csp_allows_exactly_the_script() {
        // sha256("") in base64, a known value; then the page's own hash.
        assert_eq!(
            base64(&Sha256::digest(b"")),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        let page = render(&empty());
        let csp = content_security_policy();
        assert!(csp.contains("script-src 'sha256-"));
        assert!(page.contains(&format!(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">",
            csp.replace('\'', "&#39;")
        )));
        // The script is printed byte for byte (the hash covers the text between the tags).
        assert!(page.contains(&format!("<script>{SORT_SCRIPT}</script>")));
    }

    #[test]
    fn data_attributes() {
        let page = render(&full());
        for section in [
            "header",
            "deployments",
            "components",
            "orphans",
            "certifications",
            "lifecycle",
            "dependencies",
        ] {
            assert!(
                page.contains(&format!("<section id=\"{section}\"")),
                "{section}"
            );
        }
        assert!(page.contains(
            "<tr data-deployment=\"dev/web-frontend\" data-environment=\"dev\" \
             data-component=\"web\" data-requested=\"1.1.0\" data-deployed=\"1.1.0\" \
             data-certification=\"valid\" data-drift=\"in_sync\" data-state=\"read\" \
             data-locked=\"false\" data-pending=\"false\">"
        ));
        assert!(page.contains(
            "data-deployment=\"staging/api\" data-environment=\"staging\" \
             data-component=\"&#34;quotes&#34; &#38; &#60;b&#62;\" data-requested=\"1.1.0\" \
             data-deployed=\"1.0.0\" data-certification=\"revoked\" data-drift=\"drift\" \
             data-state=\"read\" data-locked=\"true\" data-pending=\"true\""
        ));
        assert!(page.contains("data-deployment=\"prod/never\""));
        assert!(page.contains("data-deployed=\"\" data-certification=\"none\""));
        assert!(page.contains("data-state=\"unknown\""));
        assert!(page.contains("data-state=\"none\""));
        assert!(page.contains("drift: 2 changes"));
        assert!(page.contains("<tr data-orphan=\"dev/old\" data-kind=\"state_without_request\">"));
        assert!(page.contains("data-kind=\"destroyed_with_state_left\""));
        assert!(page.contains("data-certification-row=\"web@1.0.0\" data-state=\"revoked\""));
        assert!(page.contains("data-versions=\"1.0.0 1.1.0\""));
        assert!(page.contains("data-total=\"deployments\""));
        assert!(page.contains("data-risk=\"staging/api\""));
        assert!(page.contains("data-oldest=\"prod/web-frontend\""));
        // Charts and graph.
        assert_eq!(page.matches("<svg class=\"chart\"").count(), 1);
        assert_eq!(page.matches("<svg class=\"graph\"").count(), 1);
        assert!(page.contains("data-graph"));
        assert!(page.contains("data-node=\"staging/api\""));
        assert!(page.contains("data-edge-from=\"dev/web-frontend\" data-edge-to=\"staging/api\""));
        // A same-column edge is an arc.
        assert!(page.contains(" Q "));
        // Badges say it in words.
        assert!(page.contains(">certified<"));
        assert!(page.contains(">revoked<"));
        assert!(page.contains(">in sync<"));
        // The resource total's title lists the types (newline-separated).
        assert!(page.contains("title=\"local_file: 2\nrandom_pet: 1\""));
        // Commit short, full in the title.
        assert!(page.contains(">fedcba987654<"));
    }

    #[test]
    fn empty_report_renders() {
        let page = render(&empty());
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("No dependencies between deployments are declared."));
        assert!(!page.contains("<svg"));
        assert!(!page.contains("data-deployment="));
        assert!(page.contains("<section id=\"deployments\""));
        assert!(page.trim_end().ends_with("</html>"));
    }

    #[test]
    fn enum_names_are_serde_names() {
        let name = |v: serde_json::Value| v.as_str().unwrap().to_string();
        for s in [
            CertState::Valid,
            CertState::Stale,
            CertState::Revoked,
            CertState::None,
        ] {
            assert_eq!(cert_key(s), name(serde_json::to_value(s).unwrap()));
        }
        for s in [
            DriftStatus::InSync,
            DriftStatus::Drift,
            DriftStatus::Unknown,
        ] {
            assert_eq!(drift_key(s), name(serde_json::to_value(s).unwrap()));
        }
        for s in [StateStatus::Read, StateStatus::None, StateStatus::Unknown] {
            assert_eq!(state_key(s), name(serde_json::to_value(s).unwrap()));
        }
        for k in [
            OrphanKind::StateWithoutRequest,
            OrphanKind::RequestNeverApplied,
            OrphanKind::DestroyedWithStateLeft,
        ] {
            assert_eq!(orphan_key(k), name(serde_json::to_value(k).unwrap()));
        }
    }

    #[test]
    fn fallback_is_escaped() {
        let page = fallback(EVIL);
        assert!(page.contains("&lt;script&gt;"));
        assert!(!page.contains("<script"));
    }

    #[test]
    fn helpers() {
        assert_eq!(short("0123456789abcdef"), "0123456789ab");
        assert_eq!(short("abc"), "abc");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abcd", 4), "abcd");
        assert_eq!(truncate("ééééé", 3), "éé…");
    }
}
