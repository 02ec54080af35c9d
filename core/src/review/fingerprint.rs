//! The fingerprint of a plan's change set: what a reviewer approved, comparable with a later plan
//! of the same deployment. Per resource: its address, its action and a digest of its real change
//! (the attribute changes of an update or a replacement, the planned value of a create), with the
//! per-deploy tags (`gitops:commit`, `gitops:build`) left out: they differ between the reviewed
//! commit and the merged one by design. Tag-only updates are counted apart, not fingerprinted.
//! Sensitive values enter the digest as `(sensitive)`, never as themselves.

use crate::model::load::sha256_hex;
use crate::model::tags;
use crate::plan::summary::{Summary, SENSITIVE};
use crate::records::deployment::canonical_json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// One resource's planned change, fingerprinted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourcePrint {
    pub address: String,
    /// create, update, delete, replace
    pub action: String,
    /// `sha256:` of the real change.
    pub digest: String,
}

/// The fingerprint of one plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// `sha256:` over every resource's address, action and digest.
    pub digest: String,
    /// The real changes, by address.
    pub resources: Vec<ResourcePrint>,
    /// Tag-only updates (not fingerprinted).
    pub tag_only: usize,
}

/// The fingerprint of `plan` (`terraform show -json`), whose summary is `s`.
pub fn of(plan: &Value, s: &Summary) -> Fingerprint {
    let by_address: BTreeMap<&str, &Value> = plan["resource_changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|rc| Some((rc["address"].as_str()?, rc)))
        .collect();
    let mut resources: Vec<ResourcePrint> = s
        .real()
        .map(|c| {
            let change = match c.action.as_str() {
                "update" | "replace" => {
                    let real: Vec<Value> = c
                        .attributes
                        .iter()
                        .filter(|a| !a.per_deploy_tag)
                        .map(|a| json!([a.path, a.before, a.after]))
                        .collect();
                    Value::Array(real)
                }
                "create" => by_address.get(c.address.as_str()).map_or(Value::Null, |rc| {
                    let ch = &rc["change"];
                    json!({
                        "after": without_per_deploy_tags(masked(&ch["after"], &ch["after_sensitive"])),
                        "unknown": ch["after_unknown"],
                    })
                }),
                _ => Value::Null,
            };
            let text = canonical_json(&json!([c.address, c.action, change]));
            ResourcePrint {
                address: c.address.clone(),
                action: c.action.clone(),
                digest: format!("sha256:{}", sha256_hex(text.as_bytes())),
            }
        })
        .collect();
    resources.sort_by(|a, b| a.address.cmp(&b.address));
    Fingerprint {
        digest: digest(&resources),
        resources,
        tag_only: s.tag_only,
    }
}

fn digest(resources: &[ResourcePrint]) -> String {
    let lines: String = resources
        .iter()
        .map(|r| format!("{} {} {}\n", r.address, r.action, r.digest))
        .collect();
    format!("sha256:{}", sha256_hex(lines.as_bytes()))
}

/// `v` with every value `sensitive` marks replaced by `(sensitive)`.
fn masked(v: &Value, sensitive: &Value) -> Value {
    match (v, sensitive) {
        (_, Value::Bool(true)) => Value::String(SENSITIVE.into()),
        (Value::Object(m), Value::Object(s)) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), masked(x, s.get(k).unwrap_or(&Value::Null))))
                .collect(),
        ),
        (Value::Array(a), Value::Array(s)) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, x)| masked(x, s.get(i).unwrap_or(&Value::Null)))
                .collect(),
        ),
        _ => v.clone(),
    }
}

/// `v` without the per-deploy tags in any tag map (`tags`, `tags_all`) or tag-block list (`tag`)
/// at any depth.
fn without_per_deploy_tags(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, x)| {
                    let x = match x {
                        Value::Object(mut tags) if tags::ATTRIBUTES.contains(&k.as_str()) => {
                            for t in tags::PER_DEPLOY {
                                tags.remove(t);
                            }
                            Value::Object(tags)
                        }
                        blocks @ Value::Array(_) if k == tags::BLOCKS => {
                            tags::blocks_without_per_deploy(blocks)
                        }
                        other => without_per_deploy_tags(other),
                    };
                    (k, x)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(without_per_deploy_tags).collect()),
        other => other,
    }
}

/// How a plan compares with the reviewed one: one line per difference, by address.
pub fn differences(reviewed: &Fingerprint, now: &Fingerprint) -> Vec<String> {
    let before: BTreeMap<&str, &ResourcePrint> = reviewed
        .resources
        .iter()
        .map(|r| (r.address.as_str(), r))
        .collect();
    let after: BTreeMap<&str, &ResourcePrint> = now
        .resources
        .iter()
        .map(|r| (r.address.as_str(), r))
        .collect();
    let mut out = Vec::new();
    let mut addresses: Vec<&str> = before.keys().chain(after.keys()).copied().collect();
    addresses.sort_unstable();
    addresses.dedup();
    for a in addresses {
        match (before.get(a), after.get(a)) {
            (None, Some(n)) => out.push(format!("+ {} {a} (not in the review)", n.action)),
            (Some(r), None) => {
                out.push(format!("- {} {a} (reviewed, no longer planned)", r.action))
            }
            (Some(r), Some(n)) if r.action != n.action => {
                out.push(format!("~ {a}: reviewed {}, now {}", r.action, n.action));
            }
            (Some(r), Some(n)) if r.digest != n.digest => {
                out.push(format!("~ {} {a}: other values than reviewed", n.action));
            }
            _ => {}
        }
    }
    out
}

/// The summary's changes as the plan JSON would give them: for tests of callers.
#[cfg(test)]
pub(crate) fn of_plan(plan: &Value) -> Fingerprint {
    of(plan, &crate::plan::summary::summarize(plan))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(web_input: Value, commit: &str) -> Value {
        json!({"resource_changes": [
            {"address": "terraform_data.web", "mode": "managed", "type": "terraform_data",
             "change": {"actions": ["create"], "before": null,
                        "after": {"input": web_input.clone(), "tags": {"gitops:commit": commit, "team": "a"}},
                        "after_unknown": {"id": true}, "after_sensitive": {"input": {"password": true}}}},
            {"address": "terraform_data.db", "mode": "managed", "type": "terraform_data",
             "change": {"actions": ["update"],
                        "before": {"input": {"tags": {"gitops:commit": "old"}}},
                        "after": {"input": {"tags": {"gitops:commit": commit}}},
                        "after_unknown": {}, "before_sensitive": {}, "after_sensitive": {}}}
        ]})
    }

    #[test]
    fn per_deploy_tags_and_tag_only_updates_do_not_count() {
        let a = of_plan(&plan(json!({"size": 2, "password": "x"}), "c1"));
        let b = of_plan(&plan(json!({"size": 2, "password": "x"}), "c2"));
        assert_eq!(a, b);
        assert_eq!(a.tag_only, 1);
        assert_eq!(a.resources.len(), 1, "{a:?}");
        assert!(differences(&a, &b).is_empty());
    }

    #[test]
    fn a_real_difference_is_named_and_secrets_stay_out() {
        let a = of_plan(&plan(json!({"size": 2, "password": "x"}), "c1"));
        let b = of_plan(&plan(json!({"size": 3, "password": "x"}), "c1"));
        let c = of_plan(&plan(json!({"size": 2, "password": "y"}), "c1"));
        assert_ne!(a.digest, b.digest);
        assert_eq!(
            differences(&a, &b),
            ["~ create terraform_data.web: other values than reviewed"]
        );
        // The password is sensitive: another password is the same masked change.
        assert_eq!(a, c);
        let none = Fingerprint::default();
        assert_eq!(
            differences(&none, &a),
            ["+ create terraform_data.web (not in the review)"]
        );
        assert_eq!(
            differences(&a, &none),
            ["- create terraform_data.web (reviewed, no longer planned)"]
        );
    }
}
