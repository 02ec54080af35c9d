//! Policy gate: Rego policies evaluated in-process (the `regorus` crate) on a Terraform plan.
//!
//! [`evaluate`] runs the built-in policies (`policies/*.rego` of the toolkit, embedded in the
//! binary, shown as `builtin:policies/<file>`) and every `*.rego` under `<repo>/policies/` of the
//! source-of-truth repository (recursively, sorted by path; `*_test.rego` files are OPA unit tests
//! and are skipped) on one input document:
//!
//! ```json
//! {"plan": <terraform show -json plan.bin>, "manifest": <.gitops/manifest.json>}
//! ```
//!
//! # Policy convention
//!
//! - Rego v1 syntax (`if`, `contains`, `in`, `every` are keywords; `import rego.v1` is allowed).
//! - Each file declares its own package `package gitops.<name>` (built-ins:
//!   `gitops.builtin.<name>`); components are identifiers (`[A-Za-z_][A-Za-z0-9_]*`). Two files may
//!   not declare the same package, and a repository policy may not use `gitops.builtin`.
//! - Findings are partial set rules `deny contains d if { ... }` (refuse the plan) and
//!   `warn contains d if { ... }` (called out in the summary), where `d` is either a string (a
//!   finding about the whole plan) or an object `{"resource": <Terraform address>, "message":
//!   <text>}`. Both rules are optional. `data.<package>.deny` and `data.<package>.warn` are evaluated
//!   for every package.
//! - Built-in functions raise errors (regorus' strict mode): a policy that, say, calls
//!   `startswith` on a number fails the gate instead of silently allowing the plan.
//!
//! A repository policy that does not parse, compile or evaluate, or produces an entry of the wrong
//! shape, is invalid input: [`crate::Error::Config`] naming the file (and line when regorus reports
//! one), exit code 2. A denial is not an error: [`PolicyReport::denials`] is non-empty and the
//! caller refuses the plan (exit code 3). See `policies/README.md` for what each built-in covers.

use crate::error::{ConfigError, Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The built-in policies, `(shown path, text)`, sorted by file name.
pub const BUILTIN_POLICIES: &[(&str, &str)] = &[
    (
        "builtin:policies/deletion-protection.rego",
        include_str!("../../../policies/deletion-protection.rego"),
    ),
    (
        "builtin:policies/no-public-database.rego",
        include_str!("../../../policies/no-public-database.rego"),
    ),
    (
        "builtin:policies/stateful-destroy.rego",
        include_str!("../../../policies/stateful-destroy.rego"),
    ),
    (
        "builtin:policies/tags.rego",
        include_str!("../../../policies/tags.rego"),
    ),
];

/// Directory of the repository policies, relative to the repository root.
pub const POLICY_DIR: &str = "policies";

/// A policy file larger than this is refused.
pub const MAX_POLICY_BYTES: u64 = 1024 * 1024;

/// Wall-clock limit of one evaluation (all policies): a runaway repository policy must not hang CI.
pub const EVAL_TIME_LIMIT: Duration = Duration::from_secs(120);

const ALLOWED: &str = "a Rego v1 policy: `package gitops.<name>` with rules \
    `deny contains d if {...}` / `warn contains d if {...}`, d a string or \
    {\"resource\": <address>, \"message\": <text>} (see policies/README.md)";

/// One finding: which policy, which resource (Terraform address, or "" for whole-plan rules), why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Denial {
    /// The policy file: `builtin:policies/tags.rego` or `policies/no-public-db.rego`.
    pub policy: String,
    /// The package path: `gitops.builtin.tags`.
    pub rule: String,
    pub resource: String,
    pub message: String,
}

/// The result of one evaluation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PolicyReport {
    /// Every policy file evaluated, built-ins first, then the repository's in path order.
    pub policies: Vec<String>,
    /// Sorted by (policy, resource, message).
    pub denials: Vec<Denial>,
    /// Sorted by (policy, resource, message).
    pub warnings: Vec<Denial>,
}

impl PolicyReport {
    /// No denial: the plan may proceed.
    pub fn passed(&self) -> bool {
        self.denials.is_empty()
    }
}

/// A policy file to evaluate.
struct PolicyFile {
    /// Shown path, also the regorus source path.
    shown: String,
    text: String,
    builtin: bool,
}

/// The policy files (built-ins first, then the repository's), loaded into an engine, with the
/// package of each (by index into the files).
struct Loaded {
    engine: regorus::Engine,
    files: Vec<PolicyFile>,
    packages: Vec<(usize, String)>,
}

/// Reads and parses every policy file and checks the package conventions (no evaluation).
fn load(repo_root: &Path) -> Result<Loaded> {
    let mut files: Vec<PolicyFile> = BUILTIN_POLICIES
        .iter()
        .map(|(shown, text)| PolicyFile {
            shown: (*shown).to_owned(),
            text: (*text).to_owned(),
            builtin: true,
        })
        .collect();
    files.extend(repo_policies(repo_root)?);

    let mut engine = regorus::Engine::new();
    // Rego v1 is the regorus default; said explicitly because the convention depends on it.
    engine.set_rego_v0(false);
    engine.set_strict_builtin_errors(true);
    engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
        limit: EVAL_TIME_LIMIT,
        check_interval: std::num::NonZeroU32::MIN.saturating_add(255),
    });

    for f in &files {
        engine
            .add_policy(f.shown.clone(), f.text.clone())
            .map_err(|e| policy_error(&files, Some(f), "invalid Rego", &e))?;
    }

    // Package of each file (one module per file, in insertion order).
    let components_of = engine
        .get_policy_package_components()
        .map_err(|e| Error::Process(format!("policy: listing packages: {e}")))?;
    let mut packages: Vec<(usize, String)> = Vec::with_capacity(files.len());
    for (i, f) in files.iter().enumerate() {
        let components = components_of
            .iter()
            .find(|p| p.source_file == f.shown)
            .map(|p| p.components.clone())
            .unwrap_or_default();
        let package = check_package(f, &components)?;
        if let Some((other, _)) = packages.iter().find(|(_, p)| *p == package) {
            return Err(config_error(
                f,
                None,
                format!(
                    "package {package}, already declared by {}",
                    files[*other].shown
                ),
                "one package per policy file: rename the package",
            ));
        }
        packages.push((i, package));
    }
    Ok(Loaded {
        engine,
        files,
        packages,
    })
}

/// Parses and compiles every policy (built-in and `<repo_root>/policies/`) without evaluating
/// any rule: a broken repository policy is invalid input (exit 2) found before Vault or
/// Terraform runs and before anything is written.
pub fn check(repo_root: &Path) -> Result<()> {
    let Loaded {
        mut engine, files, ..
    } = load(repo_root)?;
    engine
        .eval_query("true".to_owned(), false)
        .map_err(|e| policy_error(&files, None, "a Rego policy that does not compile", &e))?;
    Ok(())
}

/// Evaluates the built-in policies and every `*.rego` under `<repo_root>/policies/` on
/// `{"plan": plan, "manifest": manifest, "changes": [...]}`: `changes` is the plan's summary
/// (`summary::summarize(plan).changes`: `address`, `action`, `stateful`, `tag_only`,
/// `attributes`), so a rule can tell a tag-only update from a real change.
pub fn evaluate(
    repo_root: &Path,
    plan: &serde_json::Value,
    changes: &[crate::plan::summary::Change],
    manifest: &serde_json::Value,
) -> Result<PolicyReport> {
    let Loaded {
        mut engine,
        files,
        packages,
    } = load(repo_root)?;
    let evaluated: Vec<(&PolicyFile, String)> =
        packages.into_iter().map(|(i, p)| (&files[i], p)).collect();

    let input = serde_json::json!({ "plan": plan, "manifest": manifest, "changes": changes });
    let input = serde_json::to_string(&input)
        .map_err(|e| Error::Process(format!("policy: encoding the input: {e}")))?;
    engine.set_input(
        regorus::Value::from_json_str(&input)
            .map_err(|e| Error::Process(format!("policy: loading the input: {e}")))?,
    );

    // Analyze and compile every module once, before any rule is evaluated: a compile error is
    // reported with the file regorus names.
    engine
        .eval_query("true".to_owned(), false)
        .map_err(|e| policy_error(&files, None, "a Rego policy that does not compile", &e))?;

    let mut report = PolicyReport {
        policies: files.iter().map(|f| f.shown.clone()).collect(),
        denials: Vec::new(),
        warnings: Vec::new(),
    };
    for (f, package) in &evaluated {
        for (rule, out) in [
            ("deny", &mut report.denials),
            ("warn", &mut report.warnings),
        ] {
            let declared = engine
                .has_declared_rule_rooted_at(&f.shown, rule)
                .map_err(|e| Error::Process(format!("policy: {}: {e}", f.shown)))?;
            if !declared {
                continue;
            }
            let value = engine
                .eval_rule(format!("data.{package}.{rule}"))
                .map_err(|e| policy_error(&files, Some(f), "an evaluation error", &e))?;
            out.extend(findings(f, package, rule, value)?);
        }
    }
    for list in [&mut report.denials, &mut report.warnings] {
        list.sort();
        list.dedup();
    }
    Ok(report)
}

/// The `*.rego` files under `<repo_root>/policies/`, sorted by path.
fn repo_policies(repo_root: &Path) -> Result<Vec<PolicyFile>> {
    crate::model::load::refuse_symlinks(repo_root, Path::new(POLICY_DIR))?;
    let dir = repo_root.join(POLICY_DIR);
    let meta = match std::fs::symlink_metadata(&dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&dir)(e)),
    };
    if !meta.is_dir() {
        return Err(ConfigError::new(
            POLICY_DIR,
            None,
            "something that is not a directory",
            "a directory of Rego policies (*.rego)",
        )
        .into());
    }
    let mut rels = Vec::new();
    collect_rego(repo_root, Path::new(POLICY_DIR), &mut rels)?;
    rels.sort();
    rels.into_iter()
        .map(|rel| read_policy(repo_root, &rel))
        .collect()
}

/// Collects `*.rego` (not `*_test.rego`) below `repo_root/rel`, as paths relative to the
/// repository; a symbolic link anywhere below is refused (exit 2).
fn collect_rego(repo_root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let dir = repo_root.join(rel);
    for entry in std::fs::read_dir(&dir).map_err(Error::io(&dir))? {
        let entry = entry.map_err(Error::io(&dir))?;
        let name = entry.file_name();
        let child_rel = rel.join(&name);
        let file_type = entry.file_type().map_err(Error::io(entry.path()))?;
        if file_type.is_symlink() {
            crate::model::load::refuse_symlinks(repo_root, &child_rel)?;
        }
        if file_type.is_dir() {
            collect_rego(repo_root, &child_rel, out)?;
            continue;
        }
        let name = name.to_string_lossy();
        if name.ends_with(".rego") && !name.ends_with("_test.rego") {
            out.push(child_rel);
        }
    }
    Ok(())
}

fn read_policy(repo_root: &Path, rel: &Path) -> Result<PolicyFile> {
    let shown = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    let path = repo_root.join(rel);
    let meta = std::fs::metadata(&path).map_err(Error::io(&path))?;
    let refuse = |found: String, allowed: &str| -> Error {
        ConfigError::new(shown.as_str(), None, found, allowed).into()
    };
    if !meta.is_file() {
        return Err(refuse(
            "something that is not a regular file".into(),
            ALLOWED,
        ));
    }
    if meta.len() > MAX_POLICY_BYTES {
        return Err(refuse(
            format!("a file of {} bytes", meta.len()),
            "at most 1 MiB",
        ));
    }
    let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        refuse(
            format!(
                "bytes that are not UTF-8 text (at byte {})",
                e.utf8_error().valid_up_to()
            ),
            "a UTF-8 Rego file",
        )
    })?;
    Ok(PolicyFile {
        shown,
        text,
        builtin: false,
    })
}

/// Checks the package of `f` against the convention; returns it dotted (`gitops.builtin.tags`).
fn check_package(f: &PolicyFile, components: &[String]) -> Result<String> {
    let package = components.join(".");
    let identifier = |c: &String| {
        let mut chars = c.chars();
        chars
            .next()
            .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
            && chars.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
    };
    let builtin_ns = components.get(1).is_some_and(|c| c == "builtin");
    let ok = components.len() >= 2
        && components[0] == "gitops"
        && components.iter().all(identifier)
        && builtin_ns == f.builtin
        && (!f.builtin || components.len() >= 3);
    if ok {
        return Ok(package);
    }
    let allowed = if f.builtin {
        "package gitops.builtin.<name>"
    } else {
        "package gitops.<name> (identifiers; gitops.builtin is reserved for the built-in policies)"
    };
    let line = f
        .text
        .lines()
        .position(|l| l.trim_start().starts_with("package"))
        .map(|i| i + 1);
    Err(config_error(f, line, format!("package {package}"), allowed))
}

/// The entries of `data.<package>.<rule>`.
fn findings(
    f: &PolicyFile,
    package: &str,
    rule: &str,
    value: regorus::Value,
) -> Result<Vec<Denial>> {
    let entries: Vec<regorus::Value> = match value {
        regorus::Value::Undefined => return Ok(Vec::new()),
        regorus::Value::Set(s) => s.iter().cloned().collect(),
        regorus::Value::Array(a) => a.iter().cloned().collect(),
        other => {
            return Err(config_error(
                f,
                None,
                format!("`{rule}` = {}", short_json(&other)),
                &format!("`{rule}` as a partial set rule: `{rule} contains d if {{...}}`"),
            ))
        }
    };
    entries
        .into_iter()
        .map(|entry| {
            let (resource, message) = match &entry {
                regorus::Value::String(s) => (String::new(), s.to_string()),
                regorus::Value::Object(o) => {
                    let get = |k: &str| o.get(&regorus::Value::from(k)).cloned();
                    match (get("resource"), get("message")) {
                        (None | Some(regorus::Value::Null), Some(regorus::Value::String(m))) => {
                            (String::new(), m.to_string())
                        }
                        (Some(regorus::Value::String(r)), Some(regorus::Value::String(m))) => {
                            (r.to_string(), m.to_string())
                        }
                        _ => return Err(bad_entry(f, rule, &entry)),
                    }
                }
                _ => return Err(bad_entry(f, rule, &entry)),
            };
            Ok(Denial {
                policy: f.shown.clone(),
                rule: package.to_owned(),
                resource,
                message,
            })
        })
        .collect()
}

fn bad_entry(f: &PolicyFile, rule: &str, entry: &regorus::Value) -> Error {
    config_error(
        f,
        None,
        format!("a `{rule}` entry {}", short_json(entry)),
        "a string or an object {\"resource\": <Terraform address>, \"message\": <text>}",
    )
}

fn short_json(v: &regorus::Value) -> String {
    let s = v.to_json_str().unwrap_or_else(|_| format!("{v:?}"));
    clip(&s.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// At most 200 characters: regorus quotes whole values (a plan can be megabytes).
fn clip(s: &str) -> String {
    if s.chars().count() > 200 {
        format!("{}...", s.chars().take(200).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// A problem with a policy file: a `ConfigError` for a repository policy, an internal error for a
/// built-in one (a toolkit bug).
fn config_error(f: &PolicyFile, line: Option<usize>, found: String, allowed: &str) -> Error {
    if f.builtin {
        let at = line.map(|l| format!(":{l}")).unwrap_or_default();
        return Error::Process(format!(
            "built-in policy {}{at}: {found} (toolkit bug)",
            f.shown
        ));
    }
    ConfigError::new(f.shown.as_str(), None, found, allowed)
        .at_line(line)
        .into()
}

/// Maps a regorus error to the file it names (`--> <file>:<line>:<col>`), else to `fallback`.
fn policy_error(
    files: &[PolicyFile],
    fallback: Option<&PolicyFile>,
    what: &str,
    e: &dyn std::fmt::Display,
) -> Error {
    let text = format!("{e:#}");
    let location = text.lines().find_map(|l| {
        let loc = l.trim().strip_prefix("--> ")?;
        let mut parts = loc.rsplitn(3, ':');
        let col = parts.next()?.parse::<usize>().ok()?;
        let line = parts.next()?.parse::<usize>().ok()?;
        Some((parts.next()?.to_owned(), line, col))
    });
    // The last line is regorus' `error: <message>`; the others show the source.
    let message = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let message = clip(message.strip_prefix("error: ").unwrap_or(message));
    let named = location
        .as_ref()
        .and_then(|(file, _, _)| files.iter().find(|f| &f.shown == file));
    match (named.or(fallback), location) {
        (Some(f), Some((file, line, col))) if file == f.shown => config_error(
            f,
            Some(line),
            format!("{what} at column {col}: {message}"),
            ALLOWED,
        ),
        (Some(f), _) => config_error(f, None, format!("{what}: {message}"), ALLOWED),
        (None, _) if files.iter().all(|f| f.builtin) => Error::Process(format!(
            "built-in policies: {what}: {message} (toolkit bug)"
        )),
        (None, _) => {
            ConfigError::new(POLICY_DIR, None, format!("{what}: {message}"), ALLOWED).into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`evaluate`] with the plan's own summary, as plan::run passes it.
    fn eval(
        repo_root: &Path,
        plan: &serde_json::Value,
        manifest: &serde_json::Value,
    ) -> Result<PolicyReport> {
        let changes = crate::plan::summary::summarize(plan).changes;
        evaluate(repo_root, plan, &changes, manifest)
    }

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/plans");

    fn fixture(name: &str) -> (serde_json::Value, serde_json::Value) {
        let read = |file: String| -> serde_json::Value {
            let path = format!("{FIXTURES}/{file}");
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
        };
        (
            read(format!("{name}.json")),
            read(format!("{name}.manifest.json")),
        )
    }

    /// A repository root without policies.
    fn empty_repo() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    fn run(name: &str) -> PolicyReport {
        let repo = empty_repo();
        let (plan, manifest) = fixture(name);
        eval(repo.path(), &plan, &manifest).unwrap()
    }

    fn repo_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let repo = empty_repo();
        for (rel, text) in files {
            let path = repo.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        repo
    }

    fn builtin_names() -> Vec<String> {
        BUILTIN_POLICIES
            .iter()
            .map(|(p, _)| (*p).to_owned())
            .collect()
    }

    fn only(list: &[Denial]) -> &Denial {
        assert_eq!(list.len(), 1, "expected exactly one finding: {list:#?}");
        &list[0]
    }

    fn config_error_of(e: Error) -> ConfigError {
        assert_eq!(e.exit_code(), crate::exit::INVALID, "{e}");
        match e {
            Error::Config(c) => *c,
            other => panic!("not a config error: {other:?}"),
        }
    }

    /// The `resource_changes` entry with this address.
    fn change_mut<'a>(plan: &'a mut serde_json::Value, address: &str) -> &'a mut serde_json::Value {
        plan["resource_changes"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|rc| rc["address"] == address)
            .unwrap_or_else(|| panic!("no resource {address}"))
    }

    #[test]
    fn compliant_plan_passes() {
        let r = run("compliant-create");
        assert_eq!(r.policies, builtin_names());
        assert!(r.passed());
        assert_eq!(r.denials, []);
        assert_eq!(r.warnings, []);
    }

    #[test]
    fn missing_tag_is_denied() {
        let r = run("missing-tag");
        let d = only(&r.denials);
        assert_eq!(d.policy, "builtin:policies/tags.rego");
        assert_eq!(d.rule, "gitops.builtin.tags");
        assert_eq!(d.resource, "module.database.terraform_data.subnet_group");
        assert_eq!(
            d.message,
            "required tags in input.tags: missing gitops:package"
        );
        assert_eq!(r.warnings, []);
    }

    #[test]
    fn wrong_tag_value_is_denied() {
        let (mut plan, manifest) = fixture("compliant-create");
        let address = "module.network.terraform_data.network";
        change_mut(&mut plan, address)["change"]["after"]["input"]["tags"]["managed-by"] =
            "someone-else".into();
        let r = eval(empty_repo().path(), &plan, &manifest).unwrap();
        let d = only(&r.denials);
        assert_eq!(
            (d.policy.as_str(), d.resource.as_str()),
            ("builtin:policies/tags.rego", address)
        );
        assert_eq!(
            d.message,
            r#"required tags in input.tags: wrong value for managed-by ("someone-else", want "gitops-toolkit")"#
        );
    }

    #[test]
    fn tags_of_another_render_are_denied() {
        // The plan of one commit checked against the manifest of another: gitops:commit differs on
        // every resource.
        let (plan, _) = fixture("compliant-create");
        let (_, manifest) = fixture("public-database");
        let r = eval(empty_repo().path(), &plan, &manifest).unwrap();
        assert_eq!(r.denials.len(), 15);
        assert!(r
            .denials
            .iter()
            .all(|d| d.message.contains("wrong value for gitops:commit")));
    }

    #[test]
    fn protected_load_balancer_without_deletion_protection_is_denied() {
        let r = run("protected-lb-unprotected");
        let d = only(&r.denials);
        assert_eq!(d.policy, "builtin:policies/deletion-protection.rego");
        assert_eq!(d.rule, "gitops.builtin.deletion_protection");
        assert_eq!(
            d.resource,
            "module.load-balancer.terraform_data.load_balancer"
        );
        assert!(d.message.contains("load balancer"), "{}", d.message);
        assert!(
            d.message.contains("input.deletion_protection = false"),
            "{}",
            d.message
        );
        assert!(
            d.message.contains("environment prod is protected"),
            "{}",
            d.message
        );
        assert_eq!(r.warnings, []);

        // The same plan in an unprotected environment passes.
        let (plan, mut manifest) = fixture("protected-lb-unprotected");
        manifest["protected"] = false.into();
        let r = eval(empty_repo().path(), &plan, &manifest).unwrap();
        assert_eq!(r.denials, []);
    }

    #[test]
    fn public_database_is_denied() {
        let r = run("public-database");
        let d = only(&r.denials);
        assert_eq!(d.policy, "builtin:policies/no-public-database.rego");
        assert_eq!(d.rule, "gitops.builtin.no_public_database");
        assert_eq!(d.resource, "module.database.terraform_data.db_instance");
        assert!(d.message.contains("publicly accessible"), "{}", d.message);
        assert_eq!(r.warnings, []);
    }

    #[test]
    fn database_replacement_is_a_warning() {
        let r = run("database-replace");
        assert_eq!(r.denials, []);
        let w = only(&r.warnings);
        assert_eq!(w.policy, "builtin:policies/stateful-destroy.rego");
        assert_eq!(w.rule, "gitops.builtin.stateful_destroy");
        assert_eq!(w.resource, "module.database.terraform_data.db_instance");
        assert!(
            w.message.starts_with("the plan replaces the database"),
            "{}",
            w.message
        );
        assert!(
            w.message.contains("replace_because_cannot_update"),
            "{}",
            w.message
        );
    }

    /// Cloud resources, in the shape of `terraform show -json` (not from a real plan: the sandbox
    /// has no AWS or Azure account).
    #[test]
    fn aws_and_azure_resources() {
        let (_, mut manifest) = fixture("protected-lb-unprotected");
        manifest["cloud"] = "aws".into();
        let tags = manifest["tags"].clone();
        let mut partial = tags.clone();
        partial.as_object_mut().unwrap().remove("gitops:build");
        let rc = |address: &str,
                  actions: &[&str],
                  after: serde_json::Value,
                  unknown: serde_json::Value| {
            let (module_type, name) = address.rsplit_once('.').unwrap();
            serde_json::json!({
                "address": address, "mode": "managed", "type": module_type, "name": name,
                "change": {"actions": actions, "before": null, "after": after, "after_unknown": unknown}
            })
        };
        let plan = serde_json::json!({"format_version": "1.2", "resource_changes": [
            rc("aws_lb.ok", &["create"], serde_json::json!({"enable_deletion_protection": true, "tags": null, "tags_all": tags}), serde_json::json!({})),
            rc("aws_lb.off", &["update"], serde_json::json!({"enable_deletion_protection": false, "tags": {}, "tags_all": tags}), serde_json::json!({})),
            rc("aws_db_instance.public", &["create"], serde_json::json!({"deletion_protection": null, "publicly_accessible": true, "tags": null, "tags_all": tags}), serde_json::json!({})),
            rc("aws_s3_bucket.partial", &["create"], serde_json::json!({"tags": partial, "tags_all": partial}), serde_json::json!({})),
            rc("aws_s3_bucket.later", &["create"], serde_json::json!({"tags": null}), serde_json::json!({"tags_all": true})),
            rc("aws_iam_role_policy_attachment.x", &["create"], serde_json::json!({"role": "r"}), serde_json::json!({})),
            rc("aws_route53_record.untaggable_schema", &["create"], serde_json::json!({"name": "a"}), serde_json::json!({})),
            rc("aws_ebs_volume.gone", &["delete"], serde_json::Value::Null, serde_json::json!({})),
            rc("azurerm_postgresql_flexible_server.pg", &["create"], serde_json::json!({"public_network_access_enabled": true, "tags": tags}), serde_json::json!({})),
            rc("terraform_data.helper", &["create"], serde_json::json!({"input": "x"}), serde_json::json!({})),
        ]});
        let r = eval(empty_repo().path(), &plan, &manifest).unwrap();
        let found: Vec<(&str, &str)> = r
            .denials
            .iter()
            .map(|d| (d.policy.as_str(), d.resource.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "builtin:policies/deletion-protection.rego",
                    "aws_db_instance.public"
                ),
                ("builtin:policies/deletion-protection.rego", "aws_lb.off"),
                (
                    "builtin:policies/no-public-database.rego",
                    "aws_db_instance.public"
                ),
                (
                    "builtin:policies/no-public-database.rego",
                    "azurerm_postgresql_flexible_server.pg"
                ),
                ("builtin:policies/tags.rego", "aws_s3_bucket.partial"),
            ],
            "{:#?}",
            r.denials
        );
        assert_eq!(
            r.denials[4].message,
            "required tags in tags_all: missing gitops:build"
        );
        assert!(
            r.denials[0].message.contains("deletion_protection = null"),
            "{}",
            r.denials[0].message
        );
        let warned: Vec<(&str, &str)> = r
            .warnings
            .iter()
            .map(|d| (d.policy.as_str(), d.resource.as_str()))
            .collect();
        assert_eq!(
            warned,
            [
                (
                    "builtin:policies/stateful-destroy.rego",
                    "aws_ebs_volume.gone"
                ),
                ("builtin:policies/tags.rego", "aws_s3_bucket.later"),
            ]
        );
    }

    const CUSTOM: &str = r#"package gitops.custom

import rego.v1

deny contains {"resource": rc.address, "message": sprintf("%s may not be created in %s", [rc.type, input.manifest.environment])} if {
	some rc in input.plan.resource_changes
	"create" in rc.change.actions
	rc.change.after.input.kind == "db_subnet_group"
}

deny contains "the whole plan is refused" if input.manifest.component == "data-store"

warn contains "just saying" if true
"#;

    #[test]
    fn repository_policies_are_evaluated() {
        let repo = repo_with(&[
            ("policies/custom.rego", CUSTOM),
            (
                "policies/nested/only_warn.rego",
                "package gitops.nested.only_warn\n\nwarn contains \"nested\" if true\n",
            ),
            (
                "policies/custom_test.rego",
                "package gitops.custom_test\n\nthis is not even Rego\n",
            ),
            ("policies/README.md", "not a policy"),
        ]);
        let (plan, manifest) = fixture("compliant-create");
        let r = eval(repo.path(), &plan, &manifest).unwrap();
        let mut expected = builtin_names();
        expected.extend([
            "policies/custom.rego".to_owned(),
            "policies/nested/only_warn.rego".to_owned(),
        ]);
        assert_eq!(r.policies, expected);
        let denial = |resource: &str, message: &str| Denial {
            policy: "policies/custom.rego".into(),
            rule: "gitops.custom".into(),
            resource: resource.into(),
            message: message.into(),
        };
        assert_eq!(
            r.denials,
            [
                denial("", "the whole plan is refused"),
                denial(
                    "module.database.terraform_data.subnet_group",
                    "terraform_data may not be created in dev"
                ),
            ]
        );
        let warned: Vec<(&str, &str, &str)> = r
            .warnings
            .iter()
            .map(|w| (w.policy.as_str(), w.rule.as_str(), w.message.as_str()))
            .collect();
        assert_eq!(
            warned,
            [
                ("policies/custom.rego", "gitops.custom", "just saying"),
                (
                    "policies/nested/only_warn.rego",
                    "gitops.nested.only_warn",
                    "nested"
                ),
            ]
        );
    }

    #[test]
    fn repository_policy_syntax_error_is_invalid_input() {
        let repo = repo_with(&[
            ("policies/a-good.rego", "package gitops.good\n\ndeny contains \"x\" if false\n"),
            ("policies/broken.rego", "package gitops.broken\n\nimport rego.v1\n\ndeny contains msg if {\n\tmsg := \"x\"\n"),
        ]);
        let (plan, manifest) = fixture("compliant-create");
        let e = config_error_of(eval(repo.path(), &plan, &manifest).unwrap_err());
        assert_eq!(e.file, Path::new("policies/broken.rego"));
        assert!(e.line.is_some(), "{e}");
        assert!(e.found.starts_with("invalid Rego"), "{e}");
        assert!(e.allowed.starts_with("a Rego v1 policy"), "{e}");

        // Rego v0 syntax (no `if`/`contains`) is refused too.
        let repo = repo_with(&[(
            "policies/v0.rego",
            "package gitops.v0\n\ndeny[msg] {\n\tmsg := \"x\"\n}\n",
        )]);
        let e = config_error_of(eval(repo.path(), &plan, &manifest).unwrap_err());
        assert_eq!(e.file, Path::new("policies/v0.rego"));
        assert_eq!(e.line, Some(3), "{e}");
    }

    #[test]
    fn repository_policy_compile_and_evaluation_errors_are_invalid_input() {
        let (plan, manifest) = fixture("compliant-create");
        let cases = [
            // undefined function
            "package gitops.bad\n\ndeny contains x if {\n\tx := no_such_function(1)\n}\n",
            // unsafe variable
            "package gitops.bad\n\ndeny contains x if {\n\ty == 1\n\tx := \"a\"\n}\n",
            // an entry of the wrong shape
            "package gitops.bad\n\ndeny contains 42 if true\n",
            // deny is not a set
            "package gitops.bad\n\ndeny := true\n",
            // builtin error (strict): a number where a string is expected
            "package gitops.bad\n\ndeny contains \"x\" if startswith(input.plan.resource_changes[0].change.after.input, 1)\n",
            // reserved namespace
            "package gitops.builtin.tags\n\ndeny contains \"x\" if true\n",
            // outside the gitops namespace
            "package other\n\ndeny contains \"x\" if true\n",
        ];
        for text in cases {
            let repo = repo_with(&[("policies/bad.rego", text)]);
            let e = eval(repo.path(), &plan, &manifest).expect_err(text);
            let e = config_error_of(e);
            assert_eq!(e.file, Path::new("policies/bad.rego"), "{text}: {e}");
        }

        let repo = repo_with(&[
            (
                "policies/one.rego",
                "package gitops.same\n\ndeny contains \"1\" if false\n",
            ),
            (
                "policies/two.rego",
                "package gitops.same\n\ndeny contains \"2\" if false\n",
            ),
        ]);
        let e = config_error_of(eval(repo.path(), &plan, &manifest).unwrap_err());
        assert_eq!(e.file, Path::new("policies/two.rego"));
        assert!(
            e.found.contains("already declared by policies/one.rego"),
            "{e}"
        );
    }

    #[test]
    fn evaluation_is_deterministic() {
        let repo = repo_with(&[("policies/custom.rego", CUSTOM)]);
        let (plan, manifest) = fixture("database-replace");
        let (other_plan, other_manifest) = fixture("missing-tag");
        let first = eval(repo.path(), &plan, &manifest).unwrap();
        // Another evaluation in between must not leak into the next one.
        eval(repo.path(), &other_plan, &other_manifest).unwrap();
        let second = eval(repo.path(), &plan, &manifest).unwrap();
        assert_eq!(
            serde_json::to_string(&first).unwrap(),
            serde_json::to_string(&second).unwrap()
        );
        let mut sorted = first.denials.clone();
        sorted.sort_by(|a, b| {
            (&a.policy, &a.resource, &a.message).cmp(&(&b.policy, &b.resource, &b.message))
        });
        assert_eq!(first.denials, sorted);
        assert!(!first.warnings.is_empty());
    }

    #[test]
    fn readme_example_policy_works() {
        let readme = include_str!("../../../policies/README.md");
        let start = readme.find("package gitops.no_large_databases").unwrap();
        let example = &readme[start..start + readme[start..].find("```").unwrap()];
        let repo = repo_with(&[("policies/no-large-databases.rego", example)]);
        let (mut plan, manifest) = fixture("compliant-create");
        let address = "module.database.terraform_data.db_instance";
        change_mut(&mut plan, address)["change"]["after"]["input"]["allocated_storage_gb"] =
            2000.into();
        let r = eval(repo.path(), &plan, &manifest).unwrap();
        let d = only(&r.denials);
        assert_eq!(
            (d.policy.as_str(), d.resource.as_str(), d.message.as_str()),
            (
                "policies/no-large-databases.rego",
                address,
                "2000 GB of storage needs an exception"
            )
        );
    }

    #[test]
    fn policies_must_be_a_directory() {
        let repo = repo_with(&[("policies", "a file")]);
        let (plan, manifest) = fixture("compliant-create");
        let e = config_error_of(eval(repo.path(), &plan, &manifest).unwrap_err());
        assert_eq!(e.file, Path::new("policies"));
    }
}
