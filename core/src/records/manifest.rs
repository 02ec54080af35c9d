//! `.gitops/manifest.json`: what gitops-render resolved for a deployment, read back by plan, apply,
//! tag, rollback and destroy. One type, written and read through serde.

use crate::error::{ConfigError, Result};
use crate::model::{Cloud, ResolvedModule};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Where the manifest lives in a rendered directory.
pub const MANIFEST: &str = ".gitops/manifest.json";

/// The manifest written to `.gitops/manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub toolkit_version: String,
    pub deployment: String,
    pub environment: String,
    pub name: String,
    pub component: String,
    pub package: String,
    pub profile: String,
    pub cloud: Cloud,
    pub protected: bool,
    pub source_commit: String,
    pub source_dirty: bool,
    pub build_tag: String,
    /// Input file -> `sha256:<hex>`.
    pub inputs: BTreeMap<String, String>,
    pub modules: BTreeMap<String, ResolvedModule>,
    pub tags: BTreeMap<String, String>,
    /// `sha256` of `main.tf.json`.
    pub root_module_digest: String,
    /// The request's `[dependencies]`: local name -> what the render resolved. Absent without.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependencies: BTreeMap<String, ManifestDependency>,
}

/// A dependency as rendered: the plan refuses while it has no live deployment record, or runs
/// a package that does not export an output wired from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestDependency {
    /// `<env>/<name>`
    pub deployment: String,
    /// `<component>@<version>` its request asked for at render time.
    pub package: String,
    /// The outputs wired from it.
    pub outputs: Vec<String>,
}

impl Manifest {
    /// Parses the manifest read from `path`; a problem names the file and the key.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Manifest> {
        serde_json::from_slice(bytes).map_err(|e| -> crate::Error {
            ConfigError::new(
                path,
                None,
                format!("invalid manifest: {e}"),
                "a manifest written by gitops-render",
            )
            .at_line(Some(e.line()).filter(|l| *l > 0))
            .into()
        })
    }

    /// `<component>@<package version>`.
    pub fn package_ref(&self) -> String {
        format!("{}@{}", self.component, self.package)
    }
}
