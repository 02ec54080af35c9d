//! The typed TOML files of a source-of-truth repository (see `docs/file-formats.md`). Serde rejects
//! unknown keys; [`crate::model::load`] adds the checks serde cannot express (names, versions, refs) with the
//! file, key and line of each problem.

pub mod interface;
pub mod load;
pub mod names;
pub mod profile;
pub mod sot;
pub mod tags;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Module input values: module name -> input name -> value.
pub type Inputs = BTreeMap<String, BTreeMap<String, serde_json::Value>>;

/// The cloud an environment runs in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    /// Sandbox modules built from `terraform_data`: no provider, no cloud account.
    Sandbox,
    Aws,
    Azure,
}

impl Cloud {
    pub const ALL: [Cloud; 3] = [Cloud::Sandbox, Cloud::Aws, Cloud::Azure];

    /// Whether the rendered provider tags every resource itself: AWS's `default_tags` (the render
    /// sets them to the deployment tags). azurerm has no such setting.
    pub fn provider_tags(self) -> bool {
        matches!(self, Cloud::Aws)
    }

    /// The longest name of a deployment the toolkit names itself (a certification's
    /// `<component>-<version>-<profile>`): modules build resource names from it, and on AWS the
    /// shortest limits are a load balancer's and a target group's (32 characters, the reference
    /// modules add up to 3). Elsewhere a DNS label.
    pub fn name_limit(self) -> usize {
        match self {
            Cloud::Aws => 28,
            Cloud::Sandbox | Cloud::Azure => 63,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Sandbox => "sandbox",
            Cloud::Aws => "aws",
            Cloud::Azure => "azure",
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `gitops.toml`: repository settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GitopsConfig {
    /// Promotion order of environments, e.g. `["dev", "staging", "prod"]`.
    #[serde(default)]
    pub promotion: Vec<String>,
    /// Where module repositories live, per cloud: a path relative to the repository root, or a git URL.
    pub module_roots: BTreeMap<Cloud, String>,
    /// Terraform backend template: every environment's, unless `backends` has one for it.
    pub backend: Backend,
    /// Backend templates of single environments or clouds, keyed by an environment name or by
    /// `sandbox`, `aws`, `azure`: an environment's own entry wins, then its cloud's, then
    /// `[backend]` ([`GitopsConfig::backend_for`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub backends: BTreeMap<String, Backend>,
    /// Vault settings (environment variables `VAULT_ADDR`/`VAULT_NAMESPACE` take precedence).
    #[serde(default)]
    pub vault: VaultSettings,
    /// Certification settings (`gitops-certify`).
    #[serde(default)]
    pub certification: CertificationSettings,
    /// Whether protected environments may deploy modules whose code calls other modules from a
    /// registry or a URL (fetched by `terraform init`, outside the package's pins). Elsewhere such
    /// calls are a warning.
    #[serde(default)]
    pub allow_remote_module_sources: bool,
}

impl GitopsConfig {
    /// The backend template of environment `env` (of `cloud`) and the `gitops.toml` key it is
    /// written under: `backends.<env>`, else `backends.<cloud>`, else `backend`. The one place
    /// that choice is made (render, dependencies, fleet report).
    pub fn backend_for(&self, env: &str, cloud: Cloud) -> (&Backend, Vec<String>) {
        for key in [env, cloud.as_str()] {
            if let Some(b) = self.backends.get(key) {
                return (b, vec!["backends".to_owned(), key.to_owned()]);
            }
        }
        (&self.backend, vec!["backend".to_owned()])
    }
}

/// `[certification]` of `gitops.toml`: where `gitops-certify run` renders, applies and destroys a
/// package to certify it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificationSettings {
    /// The certification environments, one per cloud covered (e.g. `["certify"]`); each needs an
    /// `environments/<env>.toml`. Empty: `gitops-certify run` refuses to run.
    #[serde(default)]
    pub environments: Vec<String>,
}

/// `[vault]` of `gitops.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VaultSettings {
    /// Vault address, e.g. `https://vault.example.com:8200`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Vault Enterprise / OpenBao namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Mount of the AppRole auth method.
    #[serde(default = "default_approle_mount")]
    pub approle_mount: String,
    /// Mount of the JWT auth method (Jenkins-issued OIDC tokens).
    #[serde(default = "default_jwt_mount")]
    pub jwt_mount: String,
    /// The lifetime, in seconds, the credentials and the token must have left once they are read
    /// (renewed once to reach it when they can be): integer seconds or a string such as `"90s"`,
    /// `"15m"`, `"1h"`. 0 turns the check off. `GITOPS_VAULT_MIN_TTL` takes precedence.
    #[serde(default = "default_min_ttl", deserialize_with = "deserialize_duration")]
    #[schemars(with = "DurationSetting")]
    pub min_ttl: u64,
}

fn default_approle_mount() -> String {
    "approle".into()
}
fn default_jwt_mount() -> String {
    "jwt".into()
}

/// `[vault] min_ttl` when not set: 5 minutes.
pub const DEFAULT_MIN_TTL: u64 = 300;

fn default_min_ttl() -> u64 {
    DEFAULT_MIN_TTL
}

impl Default for VaultSettings {
    fn default() -> Self {
        VaultSettings {
            address: None,
            namespace: None,
            approle_mount: default_approle_mount(),
            jwt_mount: default_jwt_mount(),
            min_ttl: default_min_ttl(),
        }
    }
}

/// What a duration setting may be, for messages.
pub const DURATION_RULE: &str =
    "a duration: integer seconds, or a string such as \"90s\", \"15m\", \"1h\", \"1h30m\"";

/// A duration: integer seconds, or a string such as `"90s"`, `"15m"`, `"1h"`, `"1h30m"`.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum DurationSetting {
    Seconds(u64),
    Text(String),
}

/// Seconds of a duration: digits alone (seconds), or one or more `<digits><unit>` with unit `s`,
/// `m`, `h` or `d` (`"90s"`, `"15m"`, `"1h30m"`). Surrounding spaces are ignored; nothing else
/// is accepted (no sign, no fraction, no space inside).
pub fn parse_duration(text: &str) -> Option<u64> {
    let s = text.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        let n: u64 = digits.parse().ok()?;
        digits.clear();
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    // Digits after the last unit ("1h30") have no unit.
    digits.is_empty().then_some(total)
}

/// Serde: a duration setting, integer seconds or a string for [`parse_duration`].
fn deserialize_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct Visitor;
    impl serde::de::Visitor<'_> for Visitor {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(DURATION_RULE)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<u64, E> {
            parse_duration(v).ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(v), &self))
        }
    }
    d.deserialize_any(Visitor)
}

/// A Vault secrets engine that provides credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// KV version 1: `<mount>/<path>`.
    Kv1,
    /// KV version 2: `<mount>/data/<path>`.
    Kv2,
    /// AWS secrets engine: `<mount>/creds/<role>` (or `<mount>/sts/<role>` with `sts = true`).
    Aws,
    /// Azure secrets engine: `<mount>/creds/<role>`.
    Azure,
    /// Database secrets engine: `<mount>/creds/<role>`, a leased `username` and `password` that
    /// `env` maps to variables (`PGUSER = "username"`).
    Database,
}

/// One `[[credentials]]` entry of an environment: which secret, and which environment variables of
/// the Terraform process it becomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    pub engine: Engine,
    /// Mount path of the secrets engine.
    pub mount: String,
    /// KV engines: the secret's path.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// AWS, Azure and database engines: the role.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub role: String,
    /// AWS engine: use `<mount>/sts/<role>` (STS credentials with a session token).
    #[serde(default)]
    pub sts: bool,
    /// KV and database engines: environment variable -> field of the secret.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// The Terraform backend template of `gitops.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Backend {
    /// Backend type.
    #[serde(rename = "type")]
    pub kind: BackendKind,
    /// Backend settings as Terraform takes them: strings, numbers, booleans, lists and nested
    /// tables (`assume_role`). Strings may use the placeholders of [`BACKEND_PLACEHOLDERS`].
    #[serde(default)]
    pub config: BTreeMap<String, serde_json::Value>,
}

/// The placeholders a backend setting may use: the deployment's environment, name and component,
/// the environment's region and account, and the state directory (`--state-dir`).
pub const BACKEND_PLACEHOLDERS: [&str; 6] =
    ["env", "name", "component", "region", "account", "state_dir"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Local,
    S3,
    Azurerm,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Local => "local",
            BackendKind::S3 => "s3",
            BackendKind::Azurerm => "azurerm",
        }
    }
}

/// `environments/<env>.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub cloud: Cloud,
    /// AWS region, Azure location, or a sandbox label.
    pub region: String,
    /// AWS account id, Azure subscription id, or a sandbox label.
    pub account: String,
    /// Protected environments need certified packages and an approval.
    #[serde(default)]
    pub protected: bool,
    /// Vault role used for this environment's credentials (the JWT auth role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_role: Option<String>,
    /// Azure tenant id (becomes `ARM_TENANT_ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Credentials read from Vault at run time, handed to Terraform as environment variables.
    #[serde(default)]
    pub credentials: Vec<Credential>,
    /// Module inputs set for every deployment of this environment.
    #[serde(default)]
    pub inputs: Inputs,
}

/// `profiles/<profile>.toml`: an archetype that injects module inputs per cloud.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default)]
    pub description: String,
    /// Components this profile supports; empty means all.
    #[serde(default)]
    pub components: Vec<String>,
    /// A repo profile may extend a built-in or another repo profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<Inputs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<Inputs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<Inputs>,
}

impl Profile {
    pub fn cloud(&self, cloud: Cloud) -> Option<&Inputs> {
        match cloud {
            Cloud::Sandbox => self.sandbox.as_ref(),
            Cloud::Aws => self.aws.as_ref(),
            Cloud::Azure => self.azure.as_ref(),
        }
    }

    pub fn cloud_mut(&mut self, cloud: Cloud) -> &mut Option<Inputs> {
        match cloud {
            Cloud::Sandbox => &mut self.sandbox,
            Cloud::Aws => &mut self.aws,
            Cloud::Azure => &mut self.azure,
        }
    }

    pub fn clouds(&self) -> Vec<Cloud> {
        Cloud::ALL
            .into_iter()
            .filter(|c| self.cloud(*c).is_some())
            .collect()
    }
}

/// `packages/<component>/<version>.toml`: a component package version (bill of materials).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Package {
    #[serde(default)]
    pub description: String,
    /// Module name -> pinned module.
    pub modules: BTreeMap<String, PackageModule>,
    /// Root outputs: name -> `"<module>.<output>"` (a wiring target, path allowed), or a table
    /// `{ value = "<module>.<output>", sensitive = true }`.
    #[serde(default)]
    pub outputs: BTreeMap<String, PackageOutput>,
}

/// One root output of a package: `endpoint = "lb.dns_name"` or
/// `password = { value = "db.password", sensitive = true }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PackageOutput {
    Target(String),
    Table(PackageOutputTable),
}

/// The table form of [`PackageOutput`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageOutputTable {
    /// `<module>.<output>`, path allowed.
    pub value: String,
    /// Marks the root output sensitive: Terraform then never prints it, and the toolkit leaves it
    /// out of outputs.json, plan reports and records (it must be, to re-export a sensitive output).
    #[serde(default)]
    pub sensitive: bool,
}

impl PackageOutput {
    /// The wiring target the output re-exports.
    pub fn target(&self) -> &str {
        match self {
            PackageOutput::Target(t) => t,
            PackageOutput::Table(t) => &t.value,
        }
    }

    pub fn sensitive(&self) -> bool {
        matches!(self, PackageOutput::Table(t) if t.sensitive)
    }
}

/// One pinned module of a package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageModule {
    /// Repository name under the cloud's module root.
    pub repo: String,
    /// Git tag.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// Sub-directory inside the repository (module monorepo).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// Package defaults for this module's inputs.
    #[serde(default)]
    pub inputs: BTreeMap<String, serde_json::Value>,
    /// Input -> `<module>.<output>` of another module of this package, optionally with a path
    /// into the output (`alb.target_groups["app"].arn`; [`names::wiring_target`]).
    #[serde(default)]
    pub wiring: BTreeMap<String, String>,
}

/// `deployments/<env>/<name>.toml`: a deployment request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    pub component: String,
    /// Package version (semver).
    pub package: String,
    pub profile: String,
    /// Module name -> input -> value; highest precedence.
    #[serde(default)]
    pub overrides: Inputs,
    /// Application settings -> input `settings` of the package's `app-config` module.
    #[serde(default)]
    pub app_config: BTreeMap<String, String>,
    /// Inputs of the package's `monitoring` module.
    #[serde(default)]
    pub monitoring: BTreeMap<String, serde_json::Value>,
    /// Local name -> the name of a deployment of the same environment this one depends on: it is
    /// applied first, and its outputs can be wired into this one's inputs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependencies: BTreeMap<String, String>,
    /// Module -> input -> `<dependency>.<output>`: an output of a dependency, read by Terraform
    /// from the dependency's state. Module [`APP_CONFIG_WIRING`] puts it into a setting of
    /// `[app_config]` instead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub wiring: BTreeMap<String, BTreeMap<String, String>>,
}

/// The `[wiring]` key that wires a dependency's output into a setting of `[app_config]`
/// (`[wiring.app_config] ORDERS_DB_ENDPOINT = "db.db_endpoint"`).
pub const APP_CONFIG_WIRING: &str = "app_config";

/// The file kinds `gitops-render schema` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Gitops,
    Environment,
    Profile,
    Package,
    Deployment,
}

impl FileKind {
    pub const ALL: [FileKind; 5] = [
        FileKind::Gitops,
        FileKind::Environment,
        FileKind::Profile,
        FileKind::Package,
        FileKind::Deployment,
    ];

    /// The name on the command line (`gitops-render schema <name>`).
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Gitops => "gitops",
            FileKind::Environment => "environment",
            FileKind::Profile => "profile",
            FileKind::Package => "package",
            FileKind::Deployment => "deployment",
        }
    }

    /// JSON Schema (draft 2020-12) of this file kind.
    pub fn schema(self) -> serde_json::Value {
        let schema = match self {
            FileKind::Gitops => schemars::schema_for!(GitopsConfig),
            FileKind::Environment => schemars::schema_for!(Environment),
            FileKind::Profile => schemars::schema_for!(Profile),
            FileKind::Package => schemars::schema_for!(Package),
            FileKind::Deployment => schemars::schema_for!(Deployment),
        };
        schema.to_value()
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for FileKind {
    type Err = String;

    /// One of [`FileKind::name`]; the error lists the kinds.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FileKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = FileKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown file kind {s:?}; known: {}", names.join(", "))
            })
    }
}

/// A module pinned to a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedModule {
    pub url: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub commit: String,
    /// Git tree id of the module directory at that commit: a content digest of the module code.
    pub tree: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// For a module in a sub-directory (`path`), the git tree id of the whole repository at that
    /// commit: what vendoring copies, since the module's code may use sibling directories
    /// (`source = "../_user_data"`, `${path.module}/../../templates`). Empty without `path`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub root_tree: String,
}

impl ResolvedModule {
    /// The tree vendoring copies (the module's own, or the whole repository's for a module in a
    /// sub-directory) and the sub-directory of it the module source points at ("" or `/<path>`).
    pub fn vendored_tree(&self) -> (&str, String) {
        if self.path.is_empty() {
            (&self.tree, String::new())
        } else {
            (&self.root_tree, format!("/{}", self.path))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_seconds_or_units() {
        for (text, secs) in [
            ("0", 0),
            ("300", 300),
            (" 300 ", 300),
            ("90s", 90),
            ("15m", 900),
            ("1h", 3600),
            ("1h30m", 5400),
            ("2d", 172_800),
            ("1m30s", 90),
        ] {
            assert_eq!(parse_duration(text), Some(secs), "{text:?}");
        }
        for text in [
            "",
            " ",
            "-5",
            "1.5h",
            "5 m",
            "1h30",
            "m",
            "15M",
            "10x",
            "+5",
            "99999999999999999999",
            "99999999999999999d",
        ] {
            assert_eq!(parse_duration(text), None, "{text:?}");
        }
    }

    #[test]
    fn vault_min_ttl_defaults_to_five_minutes() {
        assert_eq!(VaultSettings::default().min_ttl, 300);
        let v: VaultSettings = toml::from_str("").unwrap();
        assert_eq!(v.min_ttl, DEFAULT_MIN_TTL);
        let v: VaultSettings = toml::from_str("min_ttl = \"15m\"").unwrap();
        assert_eq!(v.min_ttl, 900);
        let v: VaultSettings = toml::from_str("min_ttl = 0").unwrap();
        assert_eq!(v.min_ttl, 0);
        // What is written reads back.
        let again: VaultSettings = toml::from_str(&toml::to_string(&v).unwrap()).unwrap();
        assert_eq!(again, v);
        // The schema says integer or string.
        let schema = FileKind::Gitops.schema().to_string();
        assert!(schema.contains("min_ttl"), "{schema}");
    }
}
