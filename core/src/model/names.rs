//! Validation of names, versions and refs. Names become directory names, Terraform module names,
//! git tag components and resource tags, so they are deliberately narrow.

/// Lowercase DNS label: `^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

pub const DNS_LABEL_RULE: &str =
    "a lowercase DNS label: a-z, 0-9 and '-', starting with a letter, not ending with '-', at most 63 characters";

/// A semantic version (`1.2.0`).
pub fn is_semver(s: &str) -> bool {
    semver::Version::parse(s).is_ok()
}

pub const SEMVER_RULE: &str = "a semantic version such as 1.2.0";

/// A git tag name usable as a module ref: `v1.4.0` or `network/v1.4.0`. Stricter than git's own
/// rules so that a ref can never be read as an option or a path escape.
pub fn is_module_ref(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with('.')
                && !part.starts_with('-')
                && !part.ends_with(".lock")
                && !part.contains("..")
                && part
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b'+'))
        })
}

pub const MODULE_REF_RULE: &str =
    "a git tag such as v1.4.0 or network/v1.4.0 (ASCII letters, digits, '.', '_', '-', '+', '/')";

/// A sub-directory inside a module repository: relative, no `..`, no leading `/`.
pub fn is_repo_subpath(s: &str) -> bool {
    s.is_empty()
        || (!s.starts_with('/')
            && s.split('/').all(|p| {
                !p.is_empty()
                    && p != "."
                    && p != ".."
                    && p.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
            }))
}

/// A full git object id: 40 (SHA-1) or 64 (SHA-256) lowercase hexadecimal digits.
pub fn is_object_id(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// A build tag (Jenkins `BUILD_TAG`, e.g. `jenkins-platform-live-42`).
pub fn is_build_tag(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b':' | b'+' | b'@')
        })
}

/// The one check of a build tag given on the command line (`--build-tag`, `BUILD_TAG`).
pub fn check_build_tag(flag: &str, value: &str) -> Result<(), crate::Error> {
    if is_build_tag(value) {
        return Ok(());
    }
    Err(crate::Error::Usage(format!(
        "{flag} {}: allowed are 1-128 ASCII letters, digits and . _ - : + @",
        shown(value)
    )))
}

/// Who approved, certified or revoked something (`--approved-by`, `--by`): 1-128 characters, not
/// blank, no control characters. The one check of such a name.
pub fn is_person(who: &str) -> bool {
    !who.trim().is_empty() && who.len() <= 128 && !who.chars().any(char::is_control)
}

/// [`is_person`] as a usage error naming the flag.
pub fn check_person(flag: &str, who: &str) -> Result<(), crate::Error> {
    if is_person(who) {
        return Ok(());
    }
    Err(crate::Error::Usage(format!(
        "{flag} {}: allowed is a 1-128 character name without control characters",
        shown(who)
    )))
}

/// The first `n` characters of an id (a commit id, a digest) for display. Ids come from files
/// people edit, so a short or non-ASCII one must not panic: this never cuts inside a character.
pub fn short_id(id: &str, n: usize) -> &str {
    match id.char_indices().nth(n) {
        Some((i, _)) => &id[..i],
        None => id,
    }
}

/// App config keys: `LOG_LEVEL`.
pub fn is_setting_key(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_uppercase()
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
}

/// Terraform input/output identifiers: `desired_capacity`. Terraform's rule (a letter or '_',
/// then letters, digits, '_' and '-'), with no length limit: real modules declare inputs of 65
/// characters and more (terraform-aws-modules/eks).
pub fn is_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

/// A wiring target: `<module>.<output>`, optionally followed by an attribute or index path into
/// the output's value (`.arn`, `[0]`, `["app"]`), as in `alb.target_groups["app"].arn`. Returns
/// (module, output, path); `None` when `s` is not such a target. The path is strict (identifiers,
/// decimal indexes, quoted keys of letters, digits and `_-.:/`), so it can go into a Terraform
/// expression as it is.
pub fn wiring_target(s: &str) -> Option<(&str, &str, &str)> {
    let (module, rest) = s.split_once('.')?;
    let end = rest.find(['.', '[']).unwrap_or(rest.len());
    let (output, path) = rest.split_at(end);
    (!module.is_empty() && is_identifier(output) && is_traversal(path))
        .then_some((module, output, path))
}

/// What [`wiring_target`] allows after the output: `.attr`, `[0]`, `["key"]`, repeated.
fn is_traversal(mut p: &str) -> bool {
    while !p.is_empty() {
        if let Some(r) = p.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if !is_identifier(&r[..end]) {
                return false;
            }
            p = &r[end..];
        } else if let Some(r) = p.strip_prefix("[\"") {
            let Some(end) = r.find("\"]") else {
                return false;
            };
            let key = &r[..end];
            if key.is_empty()
                || !key.bytes().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':' | b'/')
                })
            {
                return false;
            }
            p = &r[end + 2..];
        } else if let Some(r) = p.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                return false;
            };
            if end == 0 || !r[..end].bytes().all(|c| c.is_ascii_digit()) {
                return false;
            }
            p = &r[end + 1..];
        } else {
            return false;
        }
    }
    true
}

/// The rule of [`wiring_target`], for messages.
pub const WIRING_TARGET_RULE: &str =
    "\"<module>.<output>\", optionally with a path into it: .attribute, [0], [\"key\"]";

/// Names in a message: `a, b, c`, or `none` for no names.
pub fn list_or_none<S: AsRef<str>>(names: &[S]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Shows a found value safely inside an error message: quoted, escaped, truncated.
pub fn shown(s: &str) -> String {
    // Non-ASCII is escaped too: a Cyrillic 'е' must not pass for an 'e' in an error message.
    let mut out: String = s
        .chars()
        .take(80)
        .map(|c| {
            if c == ' ' || (c.is_ascii_graphic() && c != '"' && c != '\\') {
                c.to_string()
            } else {
                c.escape_default().to_string()
            }
        })
        .collect();
    if s.chars().count() > 80 {
        out.push_str("...");
    }
    format!("\"{out}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        for ok in ["dev", "web-frontend", "a", "a1", "orders-db-2"] {
            assert!(is_dns_label(ok), "{ok}");
        }
        for bad in [
            "",
            "Dev",
            "-a",
            "a-",
            "1a",
            "a_b",
            "a.b",
            "../etc",
            "a b",
            "a;rm",
            "dеv",
            &"a".repeat(64),
        ] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }

    #[test]
    fn identifiers_follow_terraform() {
        let long = format!("a{}", "_b".repeat(40));
        for ok in ["desired_capacity", "_x", "a-b", "A1", long.as_str()] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in ["", "1a", "-a", "a.b", "a b", "a;rm", "dеv", "a/b"] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn wiring_targets_with_paths() {
        assert_eq!(wiring_target("db.endpoint"), Some(("db", "endpoint", "")));
        assert_eq!(
            wiring_target("alb.target_groups[\"app\"].arn"),
            Some(("alb", "target_groups", "[\"app\"].arn"))
        );
        assert_eq!(
            wiring_target("vpc.private_subnets[0]"),
            Some(("vpc", "private_subnets", "[0]"))
        );
        assert_eq!(
            wiring_target("m.o.a.b[\"x.y:z/1\"][12]"),
            Some(("m", "o", ".a.b[\"x.y:z/1\"][12]"))
        );
        for bad in [
            "db",
            ".endpoint",
            "db.",
            "db.1x",
            "db.o.",
            "db.o[]",
            "db.o[-1]",
            "db.o[a]",
            "db.o[\"\"]",
            "db.o[\"a\"",
            "db.o[\"a}\"]",
            "db.o[\"${x}\"]",
            "db.o}${file(\"/etc/passwd\")",
            "db.o .a",
        ] {
            assert_eq!(wiring_target(bad), None, "{bad}");
        }
    }

    #[test]
    fn module_refs() {
        for ok in ["v1.0.0", "network/v1.4.0", "v2.0.0-rc.1", "v1+build"] {
            assert!(is_module_ref(ok), "{ok}");
        }
        for bad in [
            "", "-v1", "v1..2", "a//b", "/v1", "v1/", ".hidden", "v1;ls", "v 1", "x.lock", "$(id)",
        ] {
            assert!(!is_module_ref(bad), "{bad}");
        }
    }

    #[test]
    fn subpaths() {
        assert!(is_repo_subpath(""));
        assert!(is_repo_subpath("modules/network"));
        for bad in ["/abs", "../up", "a/../b", "a//b", "a/./b", "a b"] {
            assert!(!is_repo_subpath(bad), "{bad}");
        }
    }

    #[test]
    fn other_rules() {
        assert!(is_semver("1.2.0") && !is_semver("1.2") && !is_semver("v1.2.0"));
        assert!(
            is_build_tag("jenkins-platform-live-42")
                && !is_build_tag("a b")
                && !is_build_tag("$(x)")
        );
        assert!(
            is_setting_key("LOG_LEVEL") && !is_setting_key("log_level") && !is_setting_key("A-B")
        );
        assert_eq!(shown("a\nb"), "\"a\\nb\"");
        assert_eq!(short_id("0123456789abcdef", 8), "01234567");
        assert_eq!(short_id("a", 8), "a");
        assert!(is_object_id(&"0a".repeat(20)) && is_object_id(&"f".repeat(64)));
        assert!(
            !is_object_id("a") && !is_object_id(&"A".repeat(40)) && !is_object_id(&"0".repeat(41))
        );
        assert_eq!(short_id("ééééééééé", 8), "éééééééé");
        assert!(is_person("alice") && !is_person("  ") && !is_person("a\nb") && !is_person(""));
        assert!(check_build_tag("--build-tag", "a b")
            .is_err_and(|e| e.to_string().contains("--build-tag \"a b\"")));
        assert_eq!(shown("dеv"), "\"d\\u{435}v\"");
    }
}
