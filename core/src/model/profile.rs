//! Profiles: the built-in archetypes shipped with (and embedded in) the toolkit, merged with the
//! source-of-truth repo's own `profiles/` (same name: deep merge over the built-in; new name: may
//! `extends` another profile).

use crate::error::{ConfigError, Result};
use crate::model::load::{self, SourceFile};
use crate::model::{Cloud, Profile};
use std::collections::BTreeMap;
use std::path::Path;

/// The built-in profiles, embedded so an installed binary needs no data files.
pub const BUILTIN: [(&str, &str); 3] = [
    (
        "internal-tooling",
        include_str!("../../../profiles/internal-tooling.toml"),
    ),
    (
        "high-traffic-api",
        include_str!("../../../profiles/high-traffic-api.toml"),
    ),
    (
        "database-cluster",
        include_str!("../../../profiles/database-cluster.toml"),
    ),
];

fn builtin(name: &str) -> Option<SourceFile> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(n, text)| {
        SourceFile::from_text(format!("builtin:profiles/{n}.toml"), (*text).to_owned())
    })
}

/// A profile with its layers merged, and for every input the file that set it.
#[derive(Debug, Clone)]
pub struct ResolvedProfile {
    pub name: String,
    pub profile: Profile,
    /// The files merged, base first.
    pub sources: Vec<SourceFile>,
    /// `(cloud, module, input)` -> file that set it.
    pub origin: BTreeMap<(Cloud, String, String), String>,
}

/// Names of every profile available to a repo: built-in ones and the repo's `profiles/*.toml`.
pub fn available(repo_root: &Path) -> Vec<String> {
    let mut names: Vec<String> = BUILTIN.iter().map(|(n, _)| (*n).to_owned()).collect();
    if let Ok(dir) = std::fs::read_dir(repo_root.join("profiles")) {
        for entry in dir.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if let Some(stem) = file.strip_suffix(".toml") {
                names.push(stem.to_owned());
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

fn merge_into(base: &mut ResolvedProfile, layer: &Profile, file: &str) {
    if !layer.description.is_empty() {
        base.profile.description = layer.description.clone();
    }
    if !layer.components.is_empty() {
        base.profile.components = layer.components.clone();
    }
    for cloud in layer.clouds() {
        let Some(inputs) = layer.cloud(cloud) else {
            continue;
        };
        let target = base
            .profile
            .cloud_mut(cloud)
            .get_or_insert_with(BTreeMap::new);
        for (module, values) in inputs {
            let slot = target.entry(module.clone()).or_default();
            for (input, value) in values {
                slot.insert(input.clone(), value.clone());
                base.origin
                    .insert((cloud, module.clone(), input.clone()), file.to_owned());
            }
        }
    }
}

/// Resolves profile `name`. `blame` builds the error for an unknown name (it knows which file and
/// key referred to it).
pub fn resolve(
    repo_root: &Path,
    name: &str,
    blame: &dyn Fn(String) -> ConfigError,
) -> Result<ResolvedProfile> {
    resolve_depth(repo_root, name, blame, 0)
}

fn resolve_depth(
    repo_root: &Path,
    name: &str,
    blame: &dyn Fn(String) -> ConfigError,
    depth: usize,
) -> Result<ResolvedProfile> {
    let rel = Path::new("profiles").join(format!("{name}.toml"));
    let repo_file = SourceFile::read(repo_root, &rel)?;
    let Some(src) = repo_file else {
        let src = builtin(name).ok_or_else(|| blame(available(repo_root).join(", ")))?;
        let profile = load::profile(&src)?;
        let mut resolved = ResolvedProfile {
            name: name.to_owned(),
            profile: Profile {
                extends: None,
                ..Profile::default()
            },
            sources: vec![],
            origin: BTreeMap::new(),
        };
        merge_into(&mut resolved, &profile, &src.shown.display().to_string());
        resolved.sources.push(src);
        return Ok(resolved);
    };
    let layer = load::profile(&src)?;
    let mut resolved = if let Some(parent) = &layer.extends {
        if depth >= 8 || parent == name {
            return Err(src
                .error(
                    &["extends"],
                    crate::model::names::shown(parent),
                    "a chain of at most 8 profiles without cycles",
                )
                .into());
        }
        let parent_blame = |known: String| {
            src.error(
                &["extends"],
                crate::model::names::shown(parent),
                format!("a profile: {known}"),
            )
        };
        resolve_depth(repo_root, parent, &parent_blame, depth + 1)?
    } else if let Some(base) = builtin(name) {
        let profile = load::profile(&base)?;
        let mut r = ResolvedProfile {
            name: name.to_owned(),
            profile: Profile::default(),
            sources: vec![],
            origin: BTreeMap::new(),
        };
        merge_into(&mut r, &profile, &base.shown.display().to_string());
        r.sources.push(base);
        r
    } else {
        ResolvedProfile {
            name: name.to_owned(),
            profile: Profile::default(),
            sources: vec![],
            origin: BTreeMap::new(),
        }
    };
    resolved.name = name.to_owned();
    merge_into(&mut resolved, &layer, &src.shown.display().to_string());
    resolved.sources.push(src);
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_cover_every_cloud() {
        for (name, _) in BUILTIN {
            let src = builtin(name).unwrap();
            let p = load::profile(&src).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                p.clouds(),
                Cloud::ALL.to_vec(),
                "{name} must have sandbox, aws and azure sections"
            );
            assert!(!p.description.is_empty(), "{name}");
        }
    }

    #[test]
    fn repo_profile_merges_over_builtin_and_extends() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("profiles")).unwrap();
        std::fs::write(
            dir.path().join("profiles/internal-tooling.toml"),
            "[sandbox.monitoring]\nalert_route = \"slack:#team\"\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("profiles/tiny.toml"), "extends = \"internal-tooling\"\ndescription = \"tiny\"\n[sandbox.compute]\nmax_size = 1\n").unwrap();
        let blame = |k: String| ConfigError::new("x", None, "?", k);
        let r = resolve(dir.path(), "tiny", &blame).unwrap();
        let sandbox = r.profile.cloud(Cloud::Sandbox).unwrap();
        assert_eq!(sandbox["monitoring"]["alert_route"], "slack:#team");
        assert_eq!(sandbox["compute"]["max_size"], 1);
        assert_eq!(r.profile.description, "tiny");
        assert_eq!(r.sources.len(), 3);
        assert_eq!(
            r.origin[&(Cloud::Sandbox, "compute".to_owned(), "max_size".to_owned())],
            "profiles/tiny.toml"
        );
        assert!(
            r.profile.aws.is_some(),
            "aws section inherited from the built-in"
        );
        let err = resolve(dir.path(), "nope", &blame).unwrap_err();
        assert!(err.to_string().contains("tiny"), "{err}");
    }

    #[test]
    fn extends_cycle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("profiles")).unwrap();
        std::fs::write(dir.path().join("profiles/a.toml"), "extends = \"b\"\n").unwrap();
        std::fs::write(dir.path().join("profiles/b.toml"), "extends = \"a\"\n").unwrap();
        let blame = |k: String| ConfigError::new("x", None, "?", k);
        let err = resolve(dir.path(), "a", &blame).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("extends"), "{err}");
    }
}
