//! Reading and checking one TOML file: size, encoding, syntax, unknown keys (serde), then the rules
//! serde cannot express. Every problem becomes a [`ConfigError`] naming file, key and line.

use crate::error::{ConfigError, Error, Result};
use crate::model::names::{self, shown};
use crate::model::{
    Backend, Deployment, Environment, GitopsConfig, Inputs, Package, Profile, BACKEND_PLACEHOLDERS,
};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Files larger than this are refused: a source-of-truth file is small, and reading an attacker's
/// multi-gigabyte file into memory is not an option.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// One input file as read from disk.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path shown in messages (relative to the repository root, or `builtin:profiles/x.toml`).
    pub shown: PathBuf,
    pub text: String,
    /// `sha256:<hex>` of the bytes.
    pub digest: String,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// toml_edit's parse of `text`, only for documents the `toml` crate accepts: toml_edit 0.23 panics
/// ("all items have spans") on some invalid documents (found by `fuzz/` target load_deployment).
/// It is only used to locate keys and lines for messages, so an invalid document gives `None`.
fn edit_document(text: &str) -> Option<toml_edit::Document<&str>> {
    toml::from_str::<toml::Table>(text).ok()?;
    toml_edit::Document::parse(text).ok()
}

/// Refuses a path of the source-of-truth repository that is, or goes through, a symbolic link:
/// git records the link, not what it points to, so a committed link renders "clean" while its
/// target changes. The one check for every file the toolkit reads from the repository; the
/// error names the link and its target (exit 2). A path that does not exist passes.
pub fn refuse_symlinks(root: &Path, rel: &Path) -> Result<(), ConfigError> {
    let mut prefix = PathBuf::new();
    for part in rel.components() {
        prefix.push(part);
        match std::fs::symlink_metadata(root.join(&prefix)) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(root.join(&prefix))
                    .map(|t| t.display().to_string())
                    .unwrap_or_else(|_| "?".into());
                return Err(ConfigError::new(
                    &prefix,
                    None,
                    format!("a symbolic link to {}", crate::model::names::shown(&target)),
                    "a regular file or directory committed to the repository (links are refused: \
                     git records the link, not the file it points to)",
                ));
            }
            Ok(_) => {}
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

impl SourceFile {
    pub fn from_text(shown: impl Into<PathBuf>, text: String) -> Self {
        let digest = format!("sha256:{}", sha256_hex(text.as_bytes()));
        SourceFile {
            shown: shown.into(),
            text,
            digest,
        }
    }

    /// Reads `root/rel`. `Ok(None)` when the file does not exist.
    ///
    /// One `open` and an `fstat` of the open descriptor (no second path lookup: `--changed-since`
    /// reads every request of a 10,000-deployment fleet). `O_NONBLOCK` keeps a FIFO planted in the
    /// repo from blocking the open; it is then refused as not a regular file.
    pub fn read(root: &Path, rel: &Path) -> Result<Option<SourceFile>> {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let path = root.join(rel);
        // The directories on the way are checked here; the file itself by O_NOFOLLOW (a link
        // fails the open with ELOOP, and the check then names it).
        refuse_symlinks(root, rel.parent().unwrap_or(Path::new("")))?;
        let mut file = match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                refuse_symlinks(root, rel)?;
                return Err(Error::io(&path)(e));
            }
            Err(e) => return Err(Error::io(&path)(e)),
        };
        let meta = file.metadata().map_err(Error::io(&path))?;
        if !meta.is_file() {
            return Err(ConfigError::new(
                rel,
                None,
                "something that is not a regular file",
                "a TOML file",
            )
            .into());
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(ConfigError::new(
                rel,
                None,
                format!("a file of {} bytes", meta.len()),
                "at most 1 MiB",
            )
            .into());
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize + 1);
        file.read_to_end(&mut bytes).map_err(Error::io(&path))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            ConfigError::new(
                rel,
                None,
                format!(
                    "bytes that are not UTF-8 text (at byte {})",
                    e.utf8_error().valid_up_to()
                ),
                "a UTF-8 TOML document",
            )
        })?;
        Ok(Some(SourceFile::from_text(rel, text)))
    }

    /// 1-based line of a byte offset.
    pub fn line_at(&self, offset: usize) -> usize {
        self.text.as_bytes()[..offset.min(self.text.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    /// Line of the key at a dotted path, walking tables, inline tables and arrays of tables. Falls
    /// back to the deepest key that exists.
    pub fn line_of(&self, path: &[&str]) -> Option<usize> {
        let doc = edit_document(&self.text)?;
        let mut table: &dyn toml_edit::TableLike = doc.as_table();
        let mut line = None;
        for part in path {
            let (key, item) = table.get_key_value(part)?;
            if let Some(span) = key.span() {
                line = Some(self.line_at(span.start));
            }
            match item.as_table_like() {
                Some(t) => table = t,
                None => break,
            }
        }
        line
    }

    /// Line of `field` in entry `i` of the array of tables `array` (`[[credentials]]`), else of
    /// that entry's header (a missing field).
    pub fn line_of_entry(&self, array: &str, i: usize, field: &str) -> Option<usize> {
        let doc = edit_document(&self.text)?;
        let entry = doc.as_table().get(array)?.as_array_of_tables()?.get(i)?;
        let span = entry
            .key(field)
            .and_then(toml_edit::Key::span)
            .or_else(|| entry.span())?;
        Some(self.line_at(span.start))
    }

    /// A [`ConfigError`] for the key at `path`, with its line.
    pub fn error(
        &self,
        path: &[&str],
        found: impl Into<String>,
        allowed: impl Into<String>,
    ) -> ConfigError {
        let key = path.join(".");
        ConfigError::new(
            &self.shown,
            (!key.is_empty()).then_some(key.as_str()),
            found,
            allowed,
        )
        .at_line(self.line_of(path))
    }

    /// Deserializes the document; syntax errors, unknown keys and wrong types name key and line.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        toml::from_str::<T>(&self.text).map_err(|e| self.toml_error(&e))
    }

    fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let message = e.message().trim().to_owned();
        let offset = e.span().map(|s| s.start);
        let line = offset.map(|o| self.line_at(o));
        let mut key = offset.and_then(|o| self.key_path_at(o));
        if let Some(missing) = message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
        {
            // The span of a missing field is the table that lacks it.
            key = Some(match key {
                Some(table) => format!("{table}.{missing}"),
                None => missing.to_owned(),
            });
        }
        let (found, allowed) = match message.split_once(", expected ") {
            Some((f, a)) => (f.to_owned(), a.to_owned()),
            None if message.starts_with("missing field") => {
                (message.clone(), "the key is required".to_owned())
            }
            None => (
                message.clone(),
                "valid TOML of this file kind (see `gitops-render schema`)".to_owned(),
            ),
        };
        ConfigError {
            file: self.shown.clone(),
            key,
            line,
            found,
            allowed,
        }
    }

    /// Dotted path of the innermost key whose name or value contains byte `offset`
    /// (`modules.network.colour`, `credentials[1].role`).
    pub fn key_path_at(&self, offset: usize) -> Option<String> {
        fn contains(span: Option<std::ops::Range<usize>>, offset: usize) -> bool {
            span.is_some_and(|s| s.start <= offset && offset < s.end.max(s.start + 1))
        }
        fn walk(table: &dyn toml_edit::TableLike, offset: usize, path: &mut Vec<String>) -> bool {
            for (name, item) in table.iter() {
                let key_span = table.key(name).and_then(toml_edit::Key::span);
                path.push(name.to_owned());
                if contains(key_span, offset) {
                    return true;
                }
                if let Some(sub) = item.as_table_like() {
                    if walk(sub, offset, path) {
                        return true;
                    }
                } else if let Some(array) = item.as_array_of_tables() {
                    for (i, t) in array.iter().enumerate() {
                        let last = path.pop().unwrap_or_default();
                        path.push(format!("{last}[{i}]"));
                        if walk(t, offset, path) || contains(t.span(), offset) {
                            return true;
                        }
                        let indexed = path.pop().unwrap_or_default();
                        path.push(indexed.split('[').next().unwrap_or_default().to_owned());
                    }
                }
                if contains(item.span(), offset) {
                    return true;
                }
                path.pop();
            }
            false
        }
        let doc = edit_document(&self.text)?;
        let mut path = Vec::new();
        walk(doc.as_table(), offset, &mut path).then(|| path.join("."))
    }
}

fn check_name(src: &SourceFile, path: &[&str], value: &str) -> Result<(), ConfigError> {
    if names::is_dns_label(value) {
        Ok(())
    } else {
        Err(src.error(path, shown(value), names::DNS_LABEL_RULE))
    }
}

/// Whether a table is a TOML date or time: serde's private form of one, a table with one key.
fn is_toml_datetime(map: &serde_json::Map<String, serde_json::Value>) -> bool {
    map.contains_key("$__toml_private_datetime")
}

/// TOML datetimes have no Terraform equivalent; reject them instead of passing serde's private form.
fn check_value(src: &SourceFile, path: &[&str], v: &serde_json::Value) -> Result<(), ConfigError> {
    match v {
        serde_json::Value::Object(map) => {
            if is_toml_datetime(map) {
                return Err(src.error(
                    path,
                    "a TOML date/time",
                    "strings, numbers, booleans, arrays and tables",
                ));
            }
            map.values().try_for_each(|x| check_value(src, path, x))
        }
        serde_json::Value::Array(items) => items.iter().try_for_each(|x| check_value(src, path, x)),
        _ => Ok(()),
    }
}

fn check_input_map(
    src: &SourceFile,
    base: &[&str],
    map: &BTreeMap<String, serde_json::Value>,
) -> Result<(), ConfigError> {
    for (input, value) in map {
        let path: Vec<&str> = base.iter().copied().chain([input.as_str()]).collect();
        if !names::is_identifier(input) {
            return Err(src.error(
                &path,
                shown(input),
                "a Terraform input name: letters, digits, '_' and '-', starting with a letter",
            ));
        }
        if input == "tags" {
            return Err(src.error(
                &path,
                "`tags`",
                "inputs other than `tags`: the toolkit sets `tags` on every module",
            ));
        }
        check_value(src, &path, value)?;
    }
    Ok(())
}

fn check_inputs(src: &SourceFile, base: &[&str], inputs: &Inputs) -> Result<(), ConfigError> {
    for (module, map) in inputs {
        let path: Vec<&str> = base.iter().copied().chain([module.as_str()]).collect();
        check_name(src, &path, module)?;
        check_input_map(src, &path, map)?;
    }
    Ok(())
}

/// One backend template of `gitops.toml` (`[backend]` or `[backends.<env or cloud>]`): identifier
/// keys at every level, one-line strings, and only the placeholders of [`BACKEND_PLACEHOLDERS`].
fn check_backend(src: &SourceFile, at: &[&str], backend: &Backend) -> Result<(), ConfigError> {
    fn here(src: &SourceFile, path: &[String], found: String, allowed: &str) -> ConfigError {
        let keys: Vec<&str> = path.iter().map(String::as_str).collect();
        src.error(&keys, found, allowed)
    }
    fn check(
        src: &SourceFile,
        path: &mut Vec<String>,
        value: &serde_json::Value,
    ) -> Result<(), ConfigError> {
        use serde_json::Value as V;
        match value {
            V::String(text) => {
                if text.contains(['\n', '\0']) {
                    return Err(here(src, path, shown(text), "one-line backend settings"));
                }
                let mut rest = text.as_str();
                while let Some(start) = rest.find('{') {
                    let end = rest[start..].find('}').map(|e| start + e);
                    let placeholder = end.map(|e| &rest[start + 1..e]);
                    if !placeholder.is_some_and(|p| BACKEND_PLACEHOLDERS.contains(&p)) {
                        let known: Vec<String> = BACKEND_PLACEHOLDERS
                            .iter()
                            .map(|p| format!("{{{p}}}"))
                            .collect();
                        return Err(here(
                            src,
                            path,
                            shown(text),
                            &format!("placeholders {}", known.join(", ")),
                        ));
                    }
                    rest = &rest[end.unwrap_or(rest.len()) + 1..];
                }
            }
            V::Array(items) => {
                for item in items {
                    check(src, path, item)?;
                }
            }
            V::Object(map) => {
                if is_toml_datetime(map) {
                    return Err(here(
                        src,
                        path,
                        "a date or time".into(),
                        "a string, number, boolean, list or table",
                    ));
                }
                check_table(src, path, map)?;
            }
            V::Null | V::Bool(_) | V::Number(_) => {}
        }
        Ok(())
    }
    /// Identifier keys, then each value under its key.
    fn check_table<'v>(
        src: &SourceFile,
        path: &mut Vec<String>,
        table: impl IntoIterator<Item = (&'v String, &'v serde_json::Value)>,
    ) -> Result<(), ConfigError> {
        for (key, item) in table {
            path.push(key.clone());
            if !names::is_identifier(key) {
                return Err(here(
                    src,
                    path,
                    shown(key),
                    "backend settings with identifier keys",
                ));
            }
            check(src, path, item)?;
            path.pop();
        }
        Ok(())
    }
    let mut path: Vec<String> = at.iter().map(|s| (*s).to_owned()).collect();
    path.push("config".into());
    check_table(src, &mut path, &backend.config)
}

/// `gitops.toml`.
pub fn gitops(src: &SourceFile) -> Result<GitopsConfig, ConfigError> {
    let cfg: GitopsConfig = src.parse()?;
    for (i, env) in cfg.promotion.iter().enumerate() {
        check_name(src, &["promotion"], env)?;
        if cfg.promotion[..i].contains(env) {
            return Err(src.error(
                &["promotion"],
                format!("{} twice", shown(env)),
                "each environment once",
            ));
        }
    }
    for (i, env) in cfg.certification.environments.iter().enumerate() {
        check_name(src, &["certification", "environments"], env)?;
        if cfg.certification.environments[..i].contains(env) {
            return Err(src.error(
                &["certification", "environments"],
                format!("{} twice", shown(env)),
                "each environment once",
            ));
        }
    }
    if cfg.module_roots.is_empty() {
        return Err(src.error(
            &["module_roots"],
            "an empty table",
            "at least one of sandbox, aws, azure",
        ));
    }
    for (cloud, root) in &cfg.module_roots {
        if root.trim().is_empty() || root.starts_with('-') || root.contains(['\n', '\0']) {
            return Err(src.error(
                &["module_roots", cloud.as_str()],
                shown(root),
                "a path or a git URL",
            ));
        }
    }
    check_backend(src, &["backend"], &cfg.backend)?;
    for (name, backend) in &cfg.backends {
        check_name(src, &["backends", name], name)?;
        check_backend(src, &["backends", name], backend)?;
    }
    Ok(cfg)
}

/// `environments/<env>.toml`.
pub fn environment(src: &SourceFile) -> Result<Environment, ConfigError> {
    let env: Environment = src.parse()?;
    for (key, value) in [("region", &env.region), ("account", &env.account)] {
        if value.is_empty()
            || value.len() > 64
            || !value
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        {
            return Err(src.error(
                &[key],
                shown(value),
                "1-64 ASCII letters, digits, '-' or '_'",
            ));
        }
    }
    if let Some(role) = &env.vault_role {
        if !names::is_identifier(role) {
            return Err(src.error(
                &["vault_role"],
                shown(role),
                "a Vault role name: letters, digits, '_' and '-'",
            ));
        }
    }
    check_inputs(src, &["inputs"], &env.inputs)?;
    for (i, c) in env.credentials.iter().enumerate() {
        check_credential(src, i, c)?;
    }
    Ok(env)
}

/// Environment variables a credential may not set: they steer Terraform or the toolkit itself.
const RESERVED_ENV: [&str; 6] = [
    "PATH",
    "HOME",
    "TF_CLI_CONFIG_FILE",
    "TF_PLUGIN_CACHE_DIR",
    "TF_DATA_DIR",
    "TF_CLI_ARGS",
];

fn check_credential(
    src: &SourceFile,
    i: usize,
    c: &crate::model::Credential,
) -> Result<(), ConfigError> {
    use crate::model::Engine;
    let at = |field: &str| format!("credentials[{i}].{field}");
    // The line of the field in this entry (`env.X`: of `env`), else of the entry's header.
    let err = |field: &str, found: String, allowed: &str| {
        let key = field.split('.').next().unwrap_or(field);
        ConfigError::new(&src.shown, Some(&at(field)), found, allowed).at_line(
            src.line_of_entry("credentials", i, key)
                .or_else(|| src.line_of(&["credentials"])),
        )
    };
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s.split('/').all(|p| {
                !p.is_empty()
                    && p != "."
                    && p != ".."
                    && p.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            })
    };
    if !segment_ok(&c.mount) {
        return Err(err(
            "mount",
            shown(&c.mount),
            "a Vault mount path: letters, digits, '-', '_', '.', '/' without '..'",
        ));
    }
    match c.engine {
        Engine::Kv1 | Engine::Kv2 => {
            if !segment_ok(&c.path) {
                return Err(err(
                    "path",
                    shown(&c.path),
                    "a secret path: letters, digits, '-', '_', '.', '/' without '..'",
                ));
            }
            if c.env.is_empty() {
                return Err(err(
                    "env",
                    "no variables".into(),
                    "at least one ENV_VAR = \"field\"",
                ));
            }
            if !c.role.is_empty() || c.sts {
                return Err(err(
                    "role",
                    shown(&c.role),
                    "no role/sts for KV engines (use path and env)",
                ));
            }
        }
        Engine::Aws | Engine::Azure => {
            if !names::is_identifier(&c.role) {
                return Err(err(
                    "role",
                    shown(&c.role),
                    "a role name: letters, digits, '_' and '-'",
                ));
            }
            if !c.env.is_empty() || !c.path.is_empty() {
                return Err(err(
                    "env",
                    "path/env on a cloud engine".into(),
                    "only mount, role (and sts for aws): the variables are AWS_* / ARM_*",
                ));
            }
            if c.sts && c.engine == Engine::Azure {
                return Err(err(
                    "sts",
                    "sts = true".into(),
                    "sts only with engine = \"aws\"",
                ));
            }
        }
        Engine::Database => {
            if !names::is_identifier(&c.role) {
                let found = if c.role.is_empty() {
                    "no role".to_owned()
                } else {
                    shown(&c.role)
                };
                return Err(err(
                    "role",
                    found,
                    "a database role name: letters, digits, '_' and '-'",
                ));
            }
            if !c.path.is_empty() {
                return Err(err(
                    "path",
                    shown(&c.path),
                    "no path for engine = \"database\": it reads <mount>/creds/<role>",
                ));
            }
            if c.sts {
                return Err(err(
                    "sts",
                    "sts = true".into(),
                    "sts only with engine = \"aws\"",
                ));
            }
            if c.env.is_empty() {
                return Err(err(
                    "env",
                    "no variables".into(),
                    "at least one ENV_VAR = \"field\", e.g. env = { PGUSER = \"username\", PGPASSWORD = \"password\" }",
                ));
            }
        }
    }
    for (var, field) in &c.env {
        if !names::is_setting_key(var)
            || RESERVED_ENV.contains(&var.as_str())
            || var.starts_with("VAULT_")
            || var.starts_with("GITOPS_")
        {
            return Err(err(&format!("env.{var}"), shown(var), "an UPPER_SNAKE_CASE variable that is not PATH, HOME, VAULT_*, GITOPS_* or a TF_* setting"));
        }
        if field.is_empty() || field.len() > 128 {
            return Err(err(
                &format!("env.{var}"),
                shown(field),
                "the name of a field of the secret",
            ));
        }
    }
    Ok(())
}

/// `profiles/<profile>.toml`.
pub fn profile(src: &SourceFile) -> Result<Profile, ConfigError> {
    let p: Profile = src.parse()?;
    for c in &p.components {
        check_name(src, &["components"], c)?;
    }
    if let Some(parent) = &p.extends {
        check_name(src, &["extends"], parent)?;
    }
    for cloud in p.clouds() {
        if let Some(inputs) = p.cloud(cloud) {
            check_inputs(src, &[cloud.as_str()], inputs)?;
        }
    }
    Ok(p)
}

/// `packages/<component>/<version>.toml`.
pub fn package(src: &SourceFile) -> Result<Package, ConfigError> {
    let p: Package = src.parse()?;
    if p.modules.is_empty() {
        return Err(src.error(
            &["modules"],
            "no modules",
            "at least one [modules.<name>] table",
        ));
    }
    for (name, m) in &p.modules {
        check_name(src, &["modules", name], name)?;
        if !names::is_dns_label(&m.repo) {
            return Err(src.error(
                &["modules", name, "repo"],
                shown(&m.repo),
                names::DNS_LABEL_RULE,
            ));
        }
        if !names::is_module_ref(&m.git_ref) {
            return Err(src.error(
                &["modules", name, "ref"],
                shown(&m.git_ref),
                names::MODULE_REF_RULE,
            ));
        }
        if !names::is_repo_subpath(&m.path) {
            return Err(src.error(
                &["modules", name, "path"],
                shown(&m.path),
                "a relative sub-directory without '..'",
            ));
        }
        check_input_map(src, &["modules", name, "inputs"], &m.inputs)?;
        for (input, target) in &m.wiring {
            let path = ["modules", name.as_str(), "wiring", input.as_str()];
            if !names::is_identifier(input) || input == "tags" {
                return Err(src.error(&path, shown(input), "an input name other than `tags`"));
            }
            let Some((module, _, _)) = names::wiring_target(target) else {
                return Err(src.error(&path, shown(target), names::WIRING_TARGET_RULE));
            };
            if !p.modules.contains_key(module) {
                let known: Vec<&str> = p.modules.keys().map(String::as_str).collect();
                return Err(src.error(
                    &path,
                    shown(target),
                    format!(
                        "\"<module>.<output>\" with a module of this package: {}",
                        known.join(", ")
                    ),
                ));
            }
            if m.inputs.contains_key(input) {
                return Err(src.error(
                    &path,
                    format!("input `{input}` both wired and set in inputs"),
                    "one or the other",
                ));
            }
        }
    }
    for (out, output) in &p.outputs {
        let target = output.target();
        let ok = names::is_identifier(out)
            && names::wiring_target(target).is_some_and(|(m, _, _)| p.modules.contains_key(m));
        if !ok {
            let key = match output {
                crate::model::PackageOutput::Target(_) => vec!["outputs", out.as_str()],
                crate::model::PackageOutput::Table(_) => vec!["outputs", out.as_str(), "value"],
            };
            return Err(src.error(
                &key,
                shown(target),
                format!(
                    "{} with a module of this package",
                    names::WIRING_TARGET_RULE
                ),
            ));
        }
    }
    Ok(p)
}

/// `deployments/<env>/<name>.toml`.
pub fn deployment(src: &SourceFile) -> Result<Deployment, ConfigError> {
    let d: Deployment = src.parse()?;
    check_name(src, &["component"], &d.component)?;
    check_name(src, &["profile"], &d.profile)?;
    if !names::is_semver(&d.package) {
        return Err(src.error(&["package"], shown(&d.package), names::SEMVER_RULE));
    }
    check_inputs(src, &["overrides"], &d.overrides)?;
    for (key, value) in &d.app_config {
        if !names::is_setting_key(key) {
            return Err(src.error(
                &["app_config", key],
                shown(key),
                "UPPER_SNAKE_CASE setting names",
            ));
        }
        if value.len() > 4096 {
            return Err(src.error(
                &["app_config", key],
                format!("a value of {} bytes", value.len()),
                "at most 4096 bytes",
            ));
        }
    }
    check_input_map(src, &["monitoring"], &d.monitoring)?;
    check_dependencies(src, &d)?;
    Ok(d)
}

/// `[dependencies]` and `[wiring]` of a request, as far as the file alone tells: names, the
/// `<dependency>.<output>` form, and no input both wired and set. Whether the dependency exists,
/// exports the output and forms no cycle is the render's check (it reads the other requests).
fn check_dependencies(src: &SourceFile, d: &Deployment) -> Result<(), ConfigError> {
    for (local, name) in &d.dependencies {
        let path = ["dependencies", local.as_str()];
        check_name(src, &path, local)?;
        if name.contains('/') {
            return Err(src.error(
                &path,
                shown(name),
                "the name of a deployment of the same environment (no <env>/: dependencies \
                 across environments are not allowed)",
            ));
        }
        check_name(src, &path, name)?;
    }
    for (module, inputs) in &d.wiring {
        let app_config = module == super::APP_CONFIG_WIRING;
        if !app_config {
            check_name(src, &["wiring", module], module)?;
        }
        for (input, target) in inputs {
            let path = ["wiring", module.as_str(), input.as_str()];
            if app_config {
                if !names::is_setting_key(input) {
                    return Err(src.error(&path, shown(input), "UPPER_SNAKE_CASE setting names"));
                }
                if d.app_config.contains_key(input) {
                    return Err(src.error(
                        &path,
                        format!("setting `{input}` both wired and set in [app_config]"),
                        "one or the other",
                    ));
                }
            } else {
                if !names::is_identifier(input) || input == "tags" {
                    return Err(src.error(&path, shown(input), "an input name other than `tags`"));
                }
                let set = d
                    .overrides
                    .get(module)
                    .is_some_and(|m| m.contains_key(input))
                    || (module == "monitoring" && d.monitoring.contains_key(input));
                if set {
                    return Err(src.error(
                        &path,
                        format!("input `{input}` of {module} both wired and set in this request"),
                        "one or the other",
                    ));
                }
            }
            let known: Vec<&str> = d.dependencies.keys().map(String::as_str).collect();
            let ok = target.split_once('.').is_some_and(|(dep, output)| {
                d.dependencies.contains_key(dep) && names::is_identifier(output)
            });
            if !ok {
                return Err(src.error(
                    &path,
                    shown(target),
                    if known.is_empty() {
                        "\"<dependency>.<output>\" with a dependency of [dependencies] (there are none)"
                            .to_owned()
                    } else {
                        format!(
                            "\"<dependency>.<output>\" with a dependency of [dependencies]: {}",
                            known.join(", ")
                        )
                    },
                ));
            }
        }
    }
    Ok(())
}

/// Path of a deployment file relative to the repository root.
pub fn deployment_path(env: &str, name: &str) -> PathBuf {
    PathBuf::from("deployments")
        .join(env)
        .join(format!("{name}.toml"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BackendKind, Cloud};

    fn src(text: &str) -> SourceFile {
        SourceFile::from_text("deployments/dev/web.toml", text.to_owned())
    }

    /// fuzz/load_deployment found an input on which toml_edit 0.23 panics ("all items have
    /// spans"): it must be an invalid-input error, not a panic.
    #[test]
    fn fuzz_regression_toml_edit_span_panic_is_an_error() {
        let bytes =
            include_bytes!("../../../fuzz/corpus/load_deployment/regression-toml-edit-spans");
        let text = std::str::from_utf8(bytes).expect("utf-8");
        let e = deployment(&src(text)).unwrap_err();
        assert_eq!(e.file, std::path::PathBuf::from("deployments/dev/web.toml"));
        assert!(e.line.is_some(), "{e:?}");
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = deployment(&src(
            "component = \"web\"\npackage = \"1.0.0\"\nprofile = \"p\"\ncolour = 1\n",
        ))
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("colour"));
        assert_eq!(e.line, Some(4));
        assert!(e.allowed.contains("component"), "{e}");
    }

    #[test]
    fn wrong_type_names_line() {
        let e =
            deployment(&src("component = \"web\"\npackage = 1\nprofile = \"p\"\n")).unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.to_string().contains("deployments/dev/web.toml:2"), "{e}");
    }

    #[test]
    fn type_errors_name_the_key_not_the_value() {
        let e =
            deployment(&src("component = \"web\"\npackage = 1\nprofile = \"p\"\n")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("package"), "{e}");
        let text = "cloud = \"gcp\"\nregion = \"r\"\naccount = \"a\"\n";
        let e =
            environment(&SourceFile::from_text("environments/dev.toml", text.into())).unwrap_err();
        assert_eq!((e.key.as_deref(), e.line), (Some("cloud"), Some(1)), "{e}");
        let text = "[modules.network]\nrepo = \"network\"\nref = \"v1.0.0\"\ncolour = 1\n";
        let e = package(&SourceFile::from_text("packages/c/1.0.0.toml", text.into())).unwrap_err();
        assert_eq!(
            (e.key.as_deref(), e.line),
            (Some("modules.network.colour"), Some(4)),
            "{e}"
        );
        let text = "cloud = \"sandbox\"\nregion = \"r\"\naccount = \"a\"\n[[credentials]]\nengine = \"kv2\"\nmount = \"m\"\n[[credentials]]\nengine = \"gcp\"\nmount = \"m\"\n";
        let e =
            environment(&SourceFile::from_text("environments/dev.toml", text.into())).unwrap_err();
        assert_eq!(
            (e.key.as_deref(), e.line),
            (Some("credentials[1].engine"), Some(8)),
            "{e}"
        );
    }

    #[test]
    fn semantic_error_finds_nested_line() {
        let e = deployment(&src("component = \"web\"\npackage = \"1.0.0\"\nprofile = \"p\"\n[overrides.Compute]\nx = 1\n")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("overrides.Compute"));
        assert_eq!(e.line, Some(4));
    }

    #[test]
    fn missing_field_and_empty_file() {
        let e = deployment(&src("")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("component"));
        assert!(e.found.contains("missing field"));
    }

    #[test]
    fn datetime_values_rejected() {
        let e = deployment(&src("component = \"web\"\npackage = \"1.0.0\"\nprofile = \"p\"\n[monitoring]\nsince = 2024-01-01\n")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("monitoring.since"));
        assert_eq!(e.line, Some(5));
    }

    #[test]
    fn package_outputs_take_a_path_and_a_sensitive_table() {
        let text = "[modules.db]\nrepo = \"db\"\nref = \"v1.0.0\"\n[outputs]\nendpoint = 'db.endpoints[\"primary\"]'\npassword = { value = \"db.password\", sensitive = true }\nport = { value = \"db.port\" }\n";
        let src = |t: &str| SourceFile::from_text("packages/c/1.0.0.toml", t.to_owned());
        let p = package(&src(text)).unwrap();
        assert!(p.outputs["password"].sensitive());
        assert!(!p.outputs["endpoint"].sensitive() && !p.outputs["port"].sensitive());
        assert_eq!(p.outputs["endpoint"].target(), "db.endpoints[\"primary\"]");
        let e = package(&src(&text.replace("db.password", "db.password[x]"))).unwrap_err();
        assert_eq!(
            (e.key.as_deref(), e.line),
            (Some("outputs.password.value"), Some(6))
        );
        let e = package(&src(&text.replace("db.endpoints", "other.endpoints"))).unwrap_err();
        assert_eq!(
            (e.key.as_deref(), e.line),
            (Some("outputs.endpoint"), Some(5))
        );
        let e = package(&src(&text.replace("sensitive = true", "secret = true"))).unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
    }

    #[test]
    fn package_wiring_must_name_a_module() {
        let text =
            "[modules.a]\nrepo = \"a\"\nref = \"v1.0.0\"\n[modules.a.wiring]\nx = \"b.out\"\n";
        let e = package(&SourceFile::from_text("packages/c/1.0.0.toml", text.into())).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("modules.a.wiring.x"));
        assert_eq!(e.line, Some(5));
    }

    fn gitops_with_vault(vault: &str) -> Result<GitopsConfig, ConfigError> {
        let text = format!(
            "[module_roots]\nsandbox = \"../m\"\n[backend]\ntype = \"local\"\n[vault]\n{vault}\n"
        );
        gitops(&SourceFile::from_text("gitops.toml", text))
    }

    #[test]
    fn vault_min_ttl_is_a_duration() {
        assert_eq!(gitops_with_vault("").unwrap().vault.min_ttl, 300);
        assert_eq!(gitops_with_vault("min_ttl = 90").unwrap().vault.min_ttl, 90);
        assert_eq!(
            gitops_with_vault("min_ttl = \"1h\"").unwrap().vault.min_ttl,
            3600
        );
        for bad in [
            "min_ttl = \"soon\"",
            "min_ttl = -1",
            "min_ttl = 1.5",
            "min_ttl = true",
        ] {
            let e = gitops_with_vault(bad).unwrap_err();
            assert_eq!(e.file, PathBuf::from("gitops.toml"), "{bad}: {e}");
            assert_eq!(e.key.as_deref(), Some("vault.min_ttl"), "{bad}: {e}");
            assert_eq!(e.line, Some(6), "{bad}: {e}");
            assert!(e.allowed.starts_with("a duration"), "{bad}: {e}");
        }
        let e = gitops_with_vault("min_ttl = \"soon\"").unwrap_err();
        assert_eq!(
            e.to_string(),
            "gitops.toml:6: key `vault.min_ttl`: found invalid value: string \"soon\"; allowed: a \
             duration: integer seconds, or a string such as \"90s\", \"15m\", \"1h\", \"1h30m\""
        );
    }

    fn database_credential(lines: &str) -> Result<Environment, ConfigError> {
        let text = format!(
            "cloud = \"sandbox\"\nregion = \"r\"\naccount = \"a\"\n[[credentials]]\nengine = \"database\"\nmount = \"database\"\n{lines}\n"
        );
        environment(&SourceFile::from_text("environments/dev.toml", text))
    }

    #[test]
    fn database_credentials_take_mount_role_and_env() {
        let env = database_credential(
            "role = \"app\"\nenv = { PGUSER = \"username\", PGPASSWORD = \"password\" }",
        )
        .unwrap();
        assert_eq!(env.credentials[0].engine, crate::model::Engine::Database);
        assert_eq!(env.credentials[0].env["PGPASSWORD"], "password");
        for (lines, key) in [
            ("env = { PGUSER = \"username\" }", "credentials[0].role"),
            (
                "role = \"app\"\npath = \"x\"\nenv = { PGUSER = \"username\" }",
                "credentials[0].path",
            ),
            (
                "role = \"app\"\nsts = true\nenv = { PGUSER = \"username\" }",
                "credentials[0].sts",
            ),
            ("role = \"app\"", "credentials[0].env"),
            (
                "role = \"app\"\nenv = { VAULT_TOKEN = \"password\" }",
                "credentials[0].env.VAULT_TOKEN",
            ),
        ] {
            let e = database_credential(lines).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{lines}: {e}");
            // The line of the key, or of the entry's header when the key is missing.
            let line = lines
                .lines()
                .position(|l| l.starts_with(key.split('.').nth(1).unwrap_or_default()))
                .map_or(4, |n| n + 7);
            assert_eq!(e.line, Some(line), "{lines}: {e}");
        }
    }

    #[test]
    fn backend_placeholders_checked() {
        let text = "[module_roots]\nsandbox = \"../m\"\n[backend]\ntype = \"local\"\n[backend.config]\npath = \"{home}/x\"\n";
        let e = gitops(&SourceFile::from_text("gitops.toml", text.into())).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("backend.config.path"));
    }

    const BACKENDS: &str = r#"[module_roots]
aws = "../m"
[backend]
type = "local"
[backends.aws]
type = "s3"
[backends.aws.config]
bucket = "tfstate-{account}"
key = "{env}/{name}.tfstate"
region = "{region}"
use_lockfile = true
max_retries = 5
[backends.aws.config.assume_role]
role_arn = "arn:aws:iam::{account}:role/terraform"
tags = { team = "platform" }
[backends.prod]
type = "s3"
"#;

    #[test]
    fn backends_per_cloud_and_environment() {
        let cfg = gitops(&SourceFile::from_text("gitops.toml", BACKENDS.into())).unwrap();
        let (b, key) = cfg.backend_for("dev", Cloud::Aws);
        assert_eq!(
            (b.kind, key.join(".")),
            (BackendKind::S3, "backends.aws".into())
        );
        assert_eq!(b.config["use_lockfile"], serde_json::json!(true));
        assert_eq!(b.config["assume_role"]["tags"]["team"], "platform");
        let (b, key) = cfg.backend_for("prod", Cloud::Aws);
        assert_eq!((b.config.len(), key.join(".")), (0, "backends.prod".into()));
        let (b, key) = cfg.backend_for("dev", Cloud::Sandbox);
        assert_eq!(
            (b.kind, key.join(".")),
            (BackendKind::Local, "backend".into())
        );
    }

    #[test]
    fn nested_backend_settings_checked() {
        for (bad, key, line) in [
            (
                ("role_arn = \"arn:{user}\"", "x"),
                "backends.aws.config.assume_role.role_arn",
                14,
            ),
            (
                ("role_arn = \"a\"", "when = 1979-05-27"),
                "backends.aws.config.assume_role.when",
                15,
            ),
        ] {
            let text = BACKENDS
                .replace(
                    "role_arn = \"arn:aws:iam::{account}:role/terraform\"",
                    bad.0,
                )
                .replace(
                    "tags = { team = \"platform\" }",
                    if bad.1 == "x" { "" } else { bad.1 },
                );
            let e = gitops(&SourceFile::from_text("gitops.toml", text)).unwrap_err();
            assert_eq!((e.key.as_deref(), e.line), (Some(key), Some(line)), "{e}");
        }
    }
}
