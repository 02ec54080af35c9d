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
    /// Terraform backend template.
    pub backend: Backend,
    /// Vault settings (environment variables `VAULT_ADDR`/`VAULT_NAMESPACE` take precedence).
    #[serde(default)]
    pub vault: VaultSettings,
    /// Certification settings (`gitops-certify`).
    #[serde(default)]
    pub certification: CertificationSettings,
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
}

fn default_approle_mount() -> String {
    "approle".into()
}
fn default_jwt_mount() -> String {
    "jwt".into()
}

impl Default for VaultSettings {
    fn default() -> Self {
        VaultSettings {
            address: None,
            namespace: None,
            approle_mount: default_approle_mount(),
            jwt_mount: default_jwt_mount(),
        }
    }
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
    /// AWS/Azure engines: the role.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub role: String,
    /// AWS engine: use `<mount>/sts/<role>` (STS credentials with a session token).
    #[serde(default)]
    pub sts: bool,
    /// KV engines: environment variable -> field of the secret.
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
    /// Backend settings; string values may use `{env}`, `{name}`, `{component}` and `{state_dir}`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

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
    /// Root outputs: name -> `<module>.<output>`.
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
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
    /// Input -> `<module>.<output>` of another module of this package.
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
}

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
}
