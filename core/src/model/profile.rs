//! Profiles: the built-in archetypes shipped with (and embedded in) the toolkit, merged with the
//! source-of-truth repo's own `profiles/`.
//!
//! The rule, one layer at a time, base first:
//! - a repo profile with a new name is its file, over what it `extends` (itself resolved by this
//!   rule), if anything;
//! - a repo profile with the name of a built-in is always its file deep-merged over that built-in
//!   (per cloud, module and input: what the file sets wins, the rest stays the built-in's); it
//!   cannot also `extends` another profile (exit 2): two bases for one name would leave a reader
//!   guessing which one the file builds on, and replacing the built-in silently is what made a
//!   team's "internal-tooling" lose the platform's values. A profile built on another one gets a
//!   name of its own.
//!
//! [`ResolvedProfile::notes`] says which file merged over which built-in (`--explain`), and
//! [`ResolvedProfile::overridden`] keeps the lower layers' values a higher one replaced.

use crate::error::{ConfigError, Result};
use crate::model::load::{self, SourceFile};
use crate::model::{Cloud, Profile};
use serde_json::Value;
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
    /// `(cloud, module, input)` -> the values of lower layers a higher one replaced, lowest first,
    /// each with the file that set it.
    pub overridden: BTreeMap<(Cloud, String, String), Vec<(String, Value)>>,
    /// How the layers were put together, for `--explain`: which repo file merged over which
    /// built-in, which profile a file extends. Empty for a built-in used as it is.
    pub notes: Vec<String>,
}

impl ResolvedProfile {
    fn empty(name: &str) -> ResolvedProfile {
        ResolvedProfile {
            name: name.to_owned(),
            profile: Profile::default(),
            sources: vec![],
            origin: BTreeMap::new(),
            overridden: BTreeMap::new(),
            notes: vec![],
        }
    }
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
                let at = (cloud, module.clone(), input.clone());
                if let Some(old) = slot.insert(input.clone(), value.clone()) {
                    let from = base.origin.get(&at).cloned().unwrap_or_default();
                    base.overridden
                        .entry(at.clone())
                        .or_default()
                        .push((from, old));
                }
                base.origin.insert(at, file.to_owned());
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
    let builtin_src = builtin(name);
    let Some(src) = repo_file else {
        let src = builtin_src.ok_or_else(|| blame(available(repo_root).join(", ")))?;
        let mut resolved = ResolvedProfile::empty(name);
        merge_into(
            &mut resolved,
            &load::profile(&src)?,
            &src.shown.display().to_string(),
        );
        resolved.sources.push(src);
        return Ok(resolved);
    };
    let layer = load::profile(&src)?;
    let shown = src.shown.display().to_string();
    let mut resolved = match (&layer.extends, builtin_src) {
        (Some(parent), Some(base)) => {
            return Err(src
                .error(
                    &["extends"],
                    format!(
                        "extends = {} in a profile named like the built-in profile {name}, which \
                         it is always merged over",
                        crate::model::names::shown(parent)
                    ),
                    format!(
                        "no `extends` here ({shown} merges over {}), or a profile of a new name \
                         that extends {parent} (e.g. profiles/{name}-{parent}.toml)",
                        base.shown.display()
                    ),
                )
                .into());
        }
        (Some(parent), None) => {
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
            let mut r = resolve_depth(repo_root, parent, &parent_blame, depth + 1)?;
            r.notes.push(format!("{shown} extends profile {parent}"));
            r
        }
        (None, Some(base)) => {
            let mut r = ResolvedProfile::empty(name);
            let base_shown = base.shown.display().to_string();
            merge_into(&mut r, &load::profile(&base)?, &base_shown);
            r.sources.push(base);
            r.notes.push(format!(
                "{shown} merges over the built-in profile {name} ({base_shown}): its values win, \
                 the built-in's others stay"
            ));
            r
        }
        (None, None) => ResolvedProfile::empty(name),
    };
    resolved.name = name.to_owned();
    merge_into(&mut resolved, &layer, &shown);
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
    fn merging_over_a_builtin_is_noted_with_the_values_it_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("profiles")).unwrap();
        let builtin_text = builtin("internal-tooling").unwrap().text;
        let builtin_p = load::profile(&builtin("internal-tooling").unwrap()).unwrap();
        let (module, input, old) = builtin_p
            .sandbox
            .as_ref()
            .unwrap()
            .iter()
            .find_map(|(m, i)| {
                i.iter()
                    .next()
                    .map(|(k, v)| (m.clone(), k.clone(), v.clone()))
            })
            .unwrap_or_else(|| panic!("the built-in sets a sandbox input:\n{builtin_text}"));
        std::fs::write(
            dir.path().join("profiles/internal-tooling.toml"),
            format!("[sandbox.{module}]\n{input} = \"ours\"\n"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("profiles/tiny.toml"),
            "extends = \"internal-tooling\"\n",
        )
        .unwrap();
        let blame = |k: String| ConfigError::new("x", None, "?", k);
        let r = resolve(dir.path(), "tiny", &blame).unwrap();
        assert_eq!(
            r.notes,
            vec![
                "profiles/internal-tooling.toml merges over the built-in profile internal-tooling \
                 (builtin:profiles/internal-tooling.toml): its values win, the built-in's others \
                 stay"
                    .to_owned(),
                "profiles/tiny.toml extends profile internal-tooling".to_owned(),
            ]
        );
        let at = (Cloud::Sandbox, module.clone(), input.clone());
        assert_eq!(
            r.profile.cloud(Cloud::Sandbox).unwrap()[&module][&input],
            "ours"
        );
        assert_eq!(r.origin[&at], "profiles/internal-tooling.toml");
        assert_eq!(
            r.overridden[&at],
            vec![("builtin:profiles/internal-tooling.toml".to_owned(), old)]
        );
        // A built-in used as it is has nothing to note.
        let plain = resolve(dir.path(), "database-cluster", &blame).unwrap();
        assert!(
            plain.notes.is_empty() && plain.overridden.is_empty(),
            "{:?}",
            plain.notes
        );
    }

    #[test]
    fn a_builtin_name_with_extends_is_an_error_not_a_silent_replacement() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("profiles")).unwrap();
        std::fs::write(
            dir.path().join("profiles/internal-tooling.toml"),
            "description = \"ours\"\nextends = \"high-traffic-api\"\n",
        )
        .unwrap();
        let blame = |k: String| ConfigError::new("x", None, "?", k);
        let err = resolve(dir.path(), "internal-tooling", &blame).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let text = err.to_string();
        for part in [
            "profiles/internal-tooling.toml:2",
            "`extends`",
            "\"high-traffic-api\"",
            "built-in profile internal-tooling",
            "a profile of a new name",
        ] {
            assert!(text.contains(part), "{part:?} in {text}");
        }
        // Also through a chain: a new name extending it reports the same file.
        std::fs::write(
            dir.path().join("profiles/tiny.toml"),
            "extends = \"internal-tooling\"\n",
        )
        .unwrap();
        let err = resolve(dir.path(), "tiny", &blame).unwrap_err();
        assert!(
            err.to_string().contains("profiles/internal-tooling.toml:2"),
            "{err}"
        );
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
