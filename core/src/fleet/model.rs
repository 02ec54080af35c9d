//! What the fleet report holds: one [`FleetReport`], collected once (`collect.rs`), written as
//! JSON (serde, this shape), Markdown (`markdown.rs`) and one self-contained HTML page (`html.rs`).
//! Every field is plain data: the writers decide nothing, they only lay it out.

use serde::Serialize;
use std::collections::BTreeMap;

/// The whole fleet of one source-of-truth repository at one commit.
#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    /// RFC 3339 UTC, when the report was collected.
    pub generated_at: String,
    /// The repository (as given) and the commit read (HEAD).
    pub repo: String,
    pub commit: String,
    /// Environments in promotion order (the environments not in it follow, by name).
    pub environments: Vec<EnvironmentInfo>,
    /// Every deployment: requested at HEAD, recorded by a `deploy/` tag, or with state left.
    /// Sorted by environment (promotion order), then name.
    pub deployments: Vec<DeploymentRow>,
    /// Per component: the package versions running in each environment, what waits.
    pub components: Vec<ComponentRow>,
    pub orphans: Vec<OrphanRow>,
    /// The certification matrix: every package version with a record or a revocation.
    pub certifications: Vec<CertificationRow>,
    /// Resources by type per environment (lifecycle and cost view).
    pub resources_by_environment: Vec<EnvironmentResources>,
    /// Deployments not deployed for the longest time (at most 10, oldest first).
    pub oldest: Vec<AgeRow>,
    /// Deployments whose deployed package is revoked or not certified (protected environments
    /// first).
    pub at_risk: Vec<RiskRow>,
    /// Deployment -> deployment it depends on, from the requests' `[dependencies]` (by request).
    pub dependencies: Vec<DependencyEdge>,
    /// Counts for the page header.
    pub totals: Totals,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub deployments: usize,
    pub deployed: usize,
    pub resources: usize,
    pub drifted: usize,
    pub orphans: usize,
    pub at_risk: usize,
    pub locked: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentInfo {
    pub name: String,
    pub cloud: String,
    pub protected: bool,
    /// Position in the promotion order (0 first); None: not in it.
    pub promotion_index: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeploymentRow {
    /// `<env>/<name>`.
    pub id: String,
    pub environment: String,
    pub name: String,
    /// From the request at HEAD, else from the last record.
    pub component: Option<String>,
    pub profile: Option<String>,
    /// The package version the request at HEAD asks for; None: no request at HEAD.
    pub requested_version: Option<String>,
    /// The last `deploy/` record, unless a later `destroyed/` tombstone ended it.
    pub deployed: Option<DeployedInfo>,
    /// The deployed version differs from the requested one (a change not applied yet).
    pub pending: bool,
    /// Whole days since the last deploy.
    pub age_days: Option<u64>,
    /// Resource type -> count, from the state (read-only). Empty with `state` not `read`.
    pub resources: BTreeMap<String, usize>,
    pub resource_total: usize,
    pub state: StateStatus,
    pub certification: CertState,
    pub drift: DriftInfo,
    /// The deployment's lock, when held.
    pub lock: Option<LockInfo>,
    /// The last failed apply, if its log was left (`<state>.gitops-apply.log`).
    pub last_failure: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeployedInfo {
    /// The tag: `deploy/dev/web-frontend/3`.
    pub record: String,
    pub sequence: u64,
    pub component: String,
    pub version: String,
    /// RFC 3339.
    pub time: String,
    pub build: String,
    /// The commit the record names (full id).
    pub commit: String,
    pub approved_by: Option<String>,
}

/// Whether the state could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StateStatus {
    /// Read: `resources` holds its resources.
    Read,
    /// No state (never applied, or destroyed and removed).
    None,
    /// A backend this report does not read (s3, azurerm) or a state that is not JSON: unknown.
    Unknown,
}

/// The certification of the deployed (else requested) package version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertState {
    /// A record whose module commits still match the package.
    Valid,
    /// A record that no longer matches the package file (edited since).
    Stale,
    Revoked,
    /// No record.
    None,
}

#[derive(Debug, Clone, Serialize)]
pub struct DriftInfo {
    pub status: DriftStatus,
    /// Real changes found (with `drift`).
    pub changes: Option<usize>,
    /// RFC 3339, when the drift run checked it.
    pub checked_at: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftStatus {
    InSync,
    Drift,
    /// No drift artifact for this deployment.
    Unknown,
}

#[derive(Debug, Clone, Serialize)]
pub struct LockInfo {
    /// What the holder file says (user, host, pid, command), as text.
    pub holder: String,
    pub since: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentRow {
    pub component: String,
    /// One cell per environment of [`FleetReport::environments`], same order.
    pub cells: Vec<VersionCell>,
    /// Versions running in an environment but not yet in the next one of the promotion order.
    pub waiting: Vec<PromotionWait>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionCell {
    pub environment: String,
    /// Distinct deployed versions there (sorted by semver); empty: none deployed.
    pub versions: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PromotionWait {
    pub version: String,
    /// Where it runs, and where it goes next.
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrphanRow {
    pub id: String,
    pub kind: OrphanKind,
    /// What is left, in words (`3 resources in the state`, `deploy/dev/x/2`).
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrphanKind {
    /// State (or a live deploy record) without a request at HEAD.
    StateWithoutRequest,
    /// A request at HEAD never applied (no record, no state).
    RequestNeverApplied,
    /// A `destroyed/` tombstone, yet resources in the state.
    DestroyedWithStateLeft,
}

#[derive(Debug, Clone, Serialize)]
pub struct CertificationRow {
    pub component: String,
    pub version: String,
    pub state: CertState,
    /// Profiles certified with it (from the record).
    pub profiles: Vec<String>,
    pub certified_at: Option<String>,
    pub revoked_reason: Option<String>,
    /// Deployments running it.
    pub used_by: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentResources {
    pub environment: String,
    /// Resource type -> count over the environment's deployments.
    pub by_type: BTreeMap<String, usize>,
    pub total: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct AgeRow {
    pub id: String,
    pub age_days: u64,
    pub record: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RiskRow {
    pub id: String,
    pub version: String,
    pub certification: CertState,
    pub protected: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DependencyEdge {
    pub from: String,
    pub to: String,
}
