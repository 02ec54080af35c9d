//! A Terraform module's interface (variables and outputs), read from its `.tf` files with the
//! `hcl-rs` parser, and the type checks render does before any Terraform runs.

use crate::error::{Error, Result};
use hcl::expr::Expression;
use std::collections::BTreeMap;
use std::path::Path;

/// A Terraform type constraint, as far as render needs to know it.
#[derive(Debug, Clone, PartialEq)]
pub enum TfType {
    Any,
    String,
    Number,
    Bool,
    List(Box<TfType>),
    Set(Box<TfType>),
    Map(Box<TfType>),
    Tuple(Vec<TfType>),
    /// Attribute -> (type, optional).
    Object(BTreeMap<String, (TfType, bool)>),
}

impl std::fmt::Display for TfType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TfType::Any => f.write_str("any"),
            TfType::String => f.write_str("string"),
            TfType::Number => f.write_str("number"),
            TfType::Bool => f.write_str("bool"),
            TfType::List(t) => write!(f, "list({t})"),
            TfType::Set(t) => write!(f, "set({t})"),
            TfType::Map(t) => write!(f, "map({t})"),
            TfType::Tuple(ts) => write!(
                f,
                "tuple([{}])",
                ts.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            TfType::Object(attrs) => {
                let parts: Vec<String> = attrs
                    .iter()
                    .map(|(k, (t, _))| format!("{k} = {t}"))
                    .collect();
                write!(f, "object({{{}}})", parts.join(", "))
            }
        }
    }
}

impl TfType {
    fn from_expr(e: &Expression) -> TfType {
        match e {
            Expression::Variable(v) => match v.as_str() {
                "string" => TfType::String,
                "number" => TfType::Number,
                "bool" => TfType::Bool,
                _ => TfType::Any,
            },
            Expression::FuncCall(call) => {
                let arg = call.args.first();
                let inner = || Box::new(arg.map(TfType::from_expr).unwrap_or(TfType::Any));
                match call.name.name.as_str() {
                    "list" => TfType::List(inner()),
                    "set" => TfType::Set(inner()),
                    "map" => TfType::Map(inner()),
                    "tuple" => match arg {
                        Some(Expression::Array(items)) => TfType::Tuple(items.iter().map(TfType::from_expr).collect()),
                        _ => TfType::Any,
                    },
                    "object" => match arg {
                        Some(Expression::Object(obj)) => TfType::Object(
                            obj.iter()
                                .map(|(k, v)| {
                                    let optional = matches!(v, Expression::FuncCall(c) if c.name.name.as_str() == "optional");
                                    let t = match v {
                                        Expression::FuncCall(c) if optional => c.args.first().map(TfType::from_expr).unwrap_or(TfType::Any),
                                        other => TfType::from_expr(other),
                                    };
                                    let key = k.to_string();
                                    (original_key(key.trim_matches('"')).to_owned(), (t, optional))
                                })
                                .collect(),
                        ),
                        _ => TfType::Any,
                    },
                    _ => TfType::Any,
                }
            }
            _ => TfType::Any,
        }
    }

    /// Whether `v` is obviously not convertible to this type (Terraform converts numbers and bools
    /// to strings and numeric strings to numbers, so only clear mismatches are reported). Returns a
    /// description of the offending part.
    pub fn mismatch(&self, v: &serde_json::Value) -> Option<String> {
        use serde_json::Value as V;
        let kind = |v: &V| match v {
            V::Null => "null",
            V::Bool(_) => "a bool",
            V::Number(_) => "a number",
            V::String(_) => "a string",
            V::Array(_) => "an array",
            V::Object(_) => "a table",
        };
        match (self, v) {
            (_, V::Null) | (TfType::Any, _) => None,
            (TfType::String, V::String(_) | V::Number(_) | V::Bool(_)) => None,
            (TfType::Number, V::Number(_)) => None,
            (TfType::Number, V::String(s)) if s.parse::<f64>().is_ok() => None,
            (TfType::Bool, V::Bool(_)) => None,
            (TfType::Bool, V::String(s)) if s == "true" || s == "false" => None,
            (TfType::List(t) | TfType::Set(t), V::Array(items)) => items
                .iter()
                .enumerate()
                .find_map(|(i, x)| t.mismatch(x).map(|m| format!("element {i}: {m}"))),
            (TfType::Tuple(ts), V::Array(items)) if ts.len() == items.len() => {
                ts.iter().zip(items).find_map(|(t, x)| t.mismatch(x))
            }
            (TfType::Map(t), V::Object(map)) => map
                .iter()
                .find_map(|(k, x)| t.mismatch(x).map(|m| format!("key `{k}`: {m}"))),
            (TfType::Object(attrs), V::Object(map)) => {
                attrs
                    .iter()
                    .find_map(|(k, (t, optional))| match map.get(k) {
                        Some(x) => t.mismatch(x).map(|m| format!("attribute `{k}`: {m}")),
                        None if *optional => None,
                        None => Some(format!("a table without attribute `{k}`")),
                    })
            }
            (_, other) => Some(kind(other).to_owned()),
        }
    }
}

/// One `variable` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    pub ty: TfType,
    /// The default, when the variable has one (`null` defaults count as defaults).
    pub default: Option<serde_json::Value>,
    pub description: String,
}

impl Variable {
    pub fn required(&self) -> bool {
        self.default.is_none()
    }
}

/// The interface of a module at one commit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModuleInterface {
    pub variables: BTreeMap<String, Variable>,
    pub outputs: BTreeMap<String, String>,
    /// The `module` blocks of the module's own files, in file order (`file` is the file's name).
    pub calls: Vec<ModuleCall>,
    /// Module calls reachable from this module whose code `terraform init` would fetch (filled by
    /// the module cache, which knows the repository tree: [`remote_sources`]).
    pub remote_sources: Vec<ModuleCall>,
}

/// A `module` block: its label, its `source`, and the file that holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleCall {
    /// The file holding the block: its name in [`ModuleInterface::calls`], its path relative to
    /// the module repository's root in [`ModuleInterface::remote_sources`].
    pub file: String,
    /// The block's label.
    pub module: String,
    pub source: String,
}

impl ModuleCall {
    /// A source `terraform init` does not fetch: a path (`./x`, `../x`) in the same tree.
    fn is_local(&self) -> bool {
        self.source.starts_with("./") || self.source.starts_with("../")
    }
}

/// The module calls reachable from the module at `path` of the repository tree `root` (whose own
/// interface, already read, is `own`) whose source is not local: a registry address, a git, http
/// or S3 URL. Vendoring does not hold that code, so `terraform init` fetches it, unpinned by the
/// package. Local sources are followed inside `root`, each directory once; a file that does not
/// parse is left to Terraform.
pub fn remote_sources(root: &Path, path: &str, own: &ModuleInterface) -> Vec<ModuleCall> {
    let start = std::path::PathBuf::from(path);
    let mut seen = std::collections::BTreeSet::from([start.clone()]);
    let mut todo = vec![(start, own.calls.clone())];
    let mut found = Vec::new();
    while let Some((rel, calls)) = todo.pop() {
        for call in calls {
            if !call.is_local() {
                let file = rel.join(&call.file).to_string_lossy().into_owned();
                found.push(ModuleCall { file, ..call });
                continue;
            }
            // Lexically inside the repository, or not followed.
            let mut target = rel.clone();
            let mut inside = true;
            for part in Path::new(&call.source).components() {
                match part {
                    std::path::Component::ParentDir => inside &= target.pop(),
                    std::path::Component::Normal(p) => target.push(p),
                    _ => {}
                }
            }
            if inside && seen.insert(target.clone()) {
                let mut called = ModuleInterface::default();
                for file in terraform_files(&root.join(&target)).unwrap_or_default() {
                    let _ = called.add_file(&file);
                }
                todo.push((target, called.calls));
            }
        }
    }
    found.sort_by(|a, b| (&a.file, &a.module).cmp(&(&b.file, &b.module)));
    found
}

/// The `*.tf` and `*.tf.json` files directly inside `dir`, sorted (Terraform reads no
/// sub-directories, and both syntaxes declare the same blocks).
fn terraform_files(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(Error::io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            (name.ends_with(".tf") || name.ends_with(".tf.json")) && p.is_file()
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The bodies of a block type in Terraform's JSON syntax, which may be an object or a list of
/// objects: `"variable": {...}` or `"variable": [{...}, ...]`, and the same for each body.
fn json_blocks(v: &serde_json::Value) -> Vec<&serde_json::Map<String, serde_json::Value>> {
    match v {
        serde_json::Value::Object(m) => vec![m],
        serde_json::Value::Array(items) => items.iter().filter_map(|x| x.as_object()).collect(),
        _ => Vec::new(),
    }
}

/// The prefix [`parse_as_terraform`] gives a repeated object key: `__gitops_repeated_<n>__<key>`.
const REPEATED: &str = "__gitops_repeated_";

/// An object key as the module wrote it (see [`parse_as_terraform`]).
fn original_key(key: &str) -> &str {
    key.strip_prefix(REPEATED)
        .and_then(|rest| rest.split_once("__"))
        .map_or(key, |(_, k)| k)
}

/// `hcl::parse`, taking what Terraform takes: an object constructor with a repeated key
/// (`{ a = 1, a = 2 }`) is valid HCL to Terraform, where the last value wins, but hcl-rs refuses
/// it. Each repeated key is renamed `__gitops_repeated_<n>__<key>` and parsed again; [`literal`]
/// and the type reader map it back, later keys over earlier ones.
fn parse_as_terraform(text: &str) -> Result<hcl::Body, hcl::Error> {
    let mut text = std::borrow::Cow::Borrowed(text);
    for n in 0.. {
        let err = match hcl::parse(&text) {
            Err(hcl::Error::Parse(e))
                if e.message().contains("redefined object key") && n < 1000 =>
            {
                e
            }
            other => return other,
        };
        let at = err.location().offset();
        let Some(rest) = text.get(at..) else {
            return Err(hcl::Error::Parse(err));
        };
        // The key starts at `at`: an identifier, or a quoted string.
        let insert = if rest.starts_with('"') { at + 1 } else { at };
        let mut renamed = String::with_capacity(text.len() + 32);
        renamed.push_str(&text[..insert]);
        renamed.push_str(&format!("{REPEATED}{n}__"));
        renamed.push_str(&text[insert..]);
        text = std::borrow::Cow::Owned(renamed);
    }
    unreachable!("the loop returns")
}

fn literal(e: &Expression) -> Option<serde_json::Value> {
    use serde_json::Value as V;
    Some(match e {
        Expression::Null => V::Null,
        Expression::Bool(b) => V::Bool(*b),
        Expression::Number(n) => serde_json::to_value(n).ok()?,
        Expression::String(s) => V::String(s.clone()),
        Expression::Array(items) => V::Array(items.iter().map(literal).collect::<Option<_>>()?),
        Expression::Object(obj) => {
            let mut out = serde_json::Map::new();
            for (k, v) in obj.iter() {
                let key = k.to_string();
                out.insert(original_key(key.trim_matches('"')).to_owned(), literal(v)?);
            }
            V::Object(out)
        }
        _ => return None,
    })
}

fn string_attr(body: &hcl::Body, name: &str) -> String {
    body.attributes()
        .find(|a| a.key() == name)
        .and_then(|a| match a.expr() {
            Expression::String(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

impl ModuleInterface {
    /// Parses every `*.tf` and `*.tf.json` file directly inside `dir` ([`terraform_files`]).
    pub fn read(dir: &Path) -> Result<ModuleInterface> {
        let mut out = ModuleInterface::default();
        for file in terraform_files(dir)? {
            out.add_file(&file)?;
        }
        Ok(out)
    }

    /// Adds one `*.tf` or `*.tf.json` file; an error names the file by its name, not by the
    /// cache path it was read from, and its module calls carry that name.
    fn add_file(&mut self, file: &Path) -> Result<()> {
        let text = std::fs::read_to_string(file).map_err(Error::io(file))?;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let before = self.calls.len();
        if name.ends_with(".json") {
            self.add_json(&text)
                .map_err(|e| Error::Parse(format!("{name}: cannot read Terraform JSON: {e}")))?;
        } else {
            self.add(&text)
                .map_err(|e| Error::Parse(format!("{name}: cannot parse HCL: {e}")))?;
        }
        for call in &mut self.calls[before..] {
            call.file.clone_from(&name);
        }
        Ok(())
    }

    /// Adds the variables, outputs and module calls of one `*.tf.json` file: Terraform's JSON
    /// syntax, where a block type maps names to bodies (or holds a list of such maps), a
    /// variable's `type` is the type expression as a string and its `default` is the JSON value
    /// itself.
    pub fn add_json(&mut self, text: &str) -> Result<(), String> {
        use serde_json::Value as V;
        let root: V = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let V::Object(root) = root else {
            return Err("the top level is not a JSON object".into());
        };
        let text_of = |body: &[&serde_json::Map<String, V>], key: &str| {
            body.iter()
                .find_map(|b| b.get(key).and_then(V::as_str))
                .unwrap_or_default()
                .to_owned()
        };
        for blocks in root.get("variable").map(json_blocks).unwrap_or_default() {
            for (name, body) in blocks {
                let body = json_blocks(body);
                let ty = match body.iter().find_map(|b| b.get("type")) {
                    None => TfType::Any,
                    Some(V::String(t)) => {
                        let parsed: hcl::Body = hcl::parse(&format!("t = {t}\n"))
                            .map_err(|e| format!("variable `{name}`: type `{t}`: {e}"))?;
                        parsed
                            .attributes()
                            .next()
                            .map(|a| TfType::from_expr(a.expr()))
                            .unwrap_or(TfType::Any)
                    }
                    Some(_) => return Err(format!("variable `{name}`: `type` is not a string")),
                };
                let default = body.iter().find_map(|b| b.get("default")).cloned();
                self.variables.insert(
                    name.clone(),
                    Variable {
                        ty,
                        default,
                        description: text_of(&body, "description"),
                    },
                );
            }
        }
        for blocks in root.get("output").map(json_blocks).unwrap_or_default() {
            for (name, body) in blocks {
                self.outputs
                    .insert(name.clone(), text_of(&json_blocks(body), "description"));
            }
        }
        for blocks in root.get("module").map(json_blocks).unwrap_or_default() {
            for (name, body) in blocks {
                let body = json_blocks(body);
                let source = text_of(&body, "source");
                if !source.is_empty() {
                    self.calls.push(ModuleCall {
                        file: String::new(),
                        module: name.clone(),
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// Adds the variables, outputs and module calls of one file's text.
    pub fn add(&mut self, text: &str) -> Result<(), hcl::Error> {
        let body: hcl::Body = parse_as_terraform(text)?;
        for block in body.blocks() {
            let Some(label) = block.labels().first() else {
                continue;
            };
            let name = label.as_str().to_owned();
            match block.identifier() {
                "variable" => {
                    let attrs: Vec<_> = block.body().attributes().collect();
                    let ty = attrs
                        .iter()
                        .find(|a| a.key() == "type")
                        .map(|a| TfType::from_expr(a.expr()))
                        .unwrap_or(TfType::Any);
                    let default = attrs.iter().find(|a| a.key() == "default").map(|a| {
                        literal(a.expr())
                            .unwrap_or(serde_json::Value::String("<expression>".into()))
                    });
                    let description = string_attr(block.body(), "description");
                    self.variables.insert(
                        name,
                        Variable {
                            ty,
                            default,
                            description,
                        },
                    );
                }
                "output" => {
                    self.outputs
                        .insert(name, string_attr(block.body(), "description"));
                }
                "module" => {
                    let source = string_attr(block.body(), "source");
                    if !source.is_empty() {
                        self.calls.push(ModuleCall {
                            file: String::new(),
                            module: name,
                            source,
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TF: &str = r#"
variable "name" {
  type = string
  validation {
    condition     = can(regex("^[a-z]", var.name))
    error_message = "bad"
  }
}
variable "count_min" {
  type    = number
  default = 1
}
variable "tiers" {
  type    = list(string)
  default = ["public", "private"]
}
variable "tags" { type = map(string) }
variable "opt" {
  type    = object({ a = string, b = optional(number) })
  default = null
}
output "id" {
  value       = "x-${var.name}"
  description = "The id"
}
"#;

    #[test]
    fn reads_variables_and_outputs() {
        let mut i = ModuleInterface::default();
        i.add(TF).unwrap();
        assert_eq!(i.variables.len(), 5);
        assert!(i.variables["name"].required());
        assert!(!i.variables["opt"].required());
        assert_eq!(i.variables["count_min"].default, Some(json!(1)));
        assert_eq!(i.variables["tiers"].ty.to_string(), "list(string)");
        assert_eq!(i.outputs["id"], "The id");
    }

    #[test]
    fn reads_terraform_json_like_hcl() {
        let json = r#"{
          "variable": {
            "name": {"type": "string"},
            "count_min": {"type": "number", "default": 1},
            "tiers": [{"type": "list(string)", "default": ["public", "private"]}],
            "opt": {"type": "object({ a = string, b = optional(number) })", "default": null},
            "anything": {}
          },
          "output": [{"id": {"value": "${var.name}", "description": "The id"}}],
          "resource": {"terraform_data": {"x": {}}}
        }"#;
        let mut i = ModuleInterface::default();
        i.add_json(json).unwrap();
        assert_eq!(i.variables.len(), 5);
        assert!(i.variables["name"].required());
        assert!(
            !i.variables["opt"].required(),
            "a null default is a default"
        );
        assert_eq!(i.variables["count_min"].default, Some(json!(1)));
        assert_eq!(i.variables["tiers"].ty.to_string(), "list(string)");
        assert_eq!(
            i.variables["opt"].ty.to_string(),
            "object({a = string, b = number})"
        );
        assert_eq!(i.variables["anything"].ty, TfType::Any);
        assert_eq!(i.outputs["id"], "The id");
        let bad = ModuleInterface::default()
            .add_json(r#"{"variable": {"x": {"type": "list("}}}"#)
            .unwrap_err();
        assert!(bad.contains("variable `x`"), "{bad}");
    }

    #[test]
    fn reads_a_directory_of_tf_and_tf_json() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("variables.tf"), TF).unwrap();
        std::fs::write(
            dir.path().join("extra.tf.json"),
            r#"{"variable": {"from_json": {"type": "bool", "default": true}}, "output": {"arn": {"value": "x"}}}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.json"), "not terraform").unwrap();
        let i = ModuleInterface::read(dir.path()).unwrap();
        assert_eq!(i.variables["from_json"].ty, TfType::Bool);
        assert!(i.variables.contains_key("name") && i.outputs.contains_key("arn"));
        std::fs::write(dir.path().join("broken.tf.json"), "{").unwrap();
        let e = ModuleInterface::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("broken.tf.json"), "{e}");
    }

    #[test]
    fn a_repeated_object_key_parses_as_terraform_does() {
        // Found in a public module: Terraform takes it, the last value wins.
        let tf = r#"
variable "sizes" {
  type    = object({ a = string, b = number, a = string })
  default = { a = "first", "b" = 1, "a" = "second", b = 2, c = { x = 1, x = 3 } }
}
locals {
  m = { k = 1, k = 2 }
}
output "o" { value = { p = 1, p = 2 } }
"#;
        let mut i = ModuleInterface::default();
        i.add(tf).unwrap();
        assert_eq!(
            i.variables["sizes"].default,
            Some(json!({ "a": "second", "b": 2, "c": { "x": 3 } }))
        );
        assert_eq!(
            i.variables["sizes"].ty.to_string(),
            "object({a = string, b = number})"
        );
        assert!(i.outputs.contains_key("o"));
        // Other syntax errors stay errors.
        assert!(ModuleInterface::default().add("variable \"x\" {").is_err());
    }

    #[test]
    fn remote_sources_are_found_through_local_calls_only() {
        let dir = tempfile::tempdir().unwrap();
        let w = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        w("modules/app/main.tf", "module \"ud\" { source = \"../_user_data\" }\nmodule \"label\" { source = \"cloudposse/label/null\" }\n");
        w(
            "modules/_user_data/main.tf",
            "module \"x\" { source = \"git::https://example.com/x.git?ref=v1\" }\n",
        );
        w(
            "modules/_user_data/more.tf.json",
            r#"{"module": {"y": {"source": "terraform-aws-modules/s3-bucket/aws", "version": "4.0.0"}}}"#,
        );
        // Not reached from modules/app: an example with a registry source.
        w(
            "examples/complete/main.tf",
            "module \"vpc\" { source = \"terraform-aws-modules/vpc/aws\" }\n",
        );
        // A call that leaves the repository is not followed; a cycle ends.
        w("modules/app/loop.tf", "module \"up\" { source = \"../../../outside\" }\nmodule \"self\" { source = \"./\" }\n");
        let own = ModuleInterface::read(&dir.path().join("modules/app")).unwrap();
        let found = remote_sources(dir.path(), "modules/app", &own);
        let seen: Vec<(String, String, String)> = found
            .into_iter()
            .map(|r| (r.file, r.module, r.source))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "modules/_user_data/main.tf".into(),
                    "x".into(),
                    "git::https://example.com/x.git?ref=v1".into()
                ),
                (
                    "modules/_user_data/more.tf.json".into(),
                    "y".into(),
                    "terraform-aws-modules/s3-bucket/aws".into()
                ),
                (
                    "modules/app/main.tf".into(),
                    "label".into(),
                    "cloudposse/label/null".into()
                ),
            ]
        );
        assert!(remote_sources(
            dir.path(),
            "examples/nothing-here",
            &ModuleInterface::default()
        )
        .is_empty());
    }

    #[test]
    fn type_mismatches() {
        let mut i = ModuleInterface::default();
        i.add(TF).unwrap();
        let v = &i.variables;
        assert_eq!(
            v["count_min"].ty.mismatch(&json!("three")),
            Some("a string".into())
        );
        assert_eq!(v["count_min"].ty.mismatch(&json!("3")), None);
        assert_eq!(
            v["name"].ty.mismatch(&json!(["a"])),
            Some("an array".into())
        );
        assert_eq!(v["name"].ty.mismatch(&json!(5)), None);
        assert_eq!(
            v["tiers"].ty.mismatch(&json!(["a", {"x": 1}])),
            Some("element 1: a table".into())
        );
        assert_eq!(v["opt"].ty.mismatch(&json!({"a": "x"})), None);
        assert!(v["opt"].ty.mismatch(&json!({"b": 1})).is_some());
    }
}
