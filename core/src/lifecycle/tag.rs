//! Verifying the deployment tags on every managed resource of a state (`terraform show -json`).

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// A resource that lacks a required tag or carries a wrong value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offender {
    pub address: String,
    pub problems: Vec<String>,
}

/// The result of a tag check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TagCheck {
    /// Managed resources whose tags were checked.
    pub checked: usize,
    /// Resources that cannot carry tags (exempt), with the reason.
    pub exempt: Vec<String>,
    pub offenders: Vec<Offender>,
}

/// Resource types that cannot carry tags.
fn untaggable(ty: &str) -> bool {
    ty == "null_resource"
        || ty.starts_with("random_")
        || ty.starts_with("time_")
        || ty.ends_with("_attachment")
}

fn resources<'a>(module: &'a Value, out: &mut Vec<&'a Value>) {
    out.extend(module["resources"].as_array().into_iter().flatten());
    for child in module["child_modules"].as_array().into_iter().flatten() {
        resources(child, out);
    }
}

/// Where a resource keeps its tags: sandbox `terraform_data` in `input.tags`; AWS in `tags_all`
/// (provider default tags included) else `tags`; Azure and others in `tags`. `None`: the type has
/// no tags attribute at all.
fn tags_of(rc: &Value) -> Option<&Value> {
    let values = &rc["values"];
    if rc["type"].as_str() == Some("terraform_data") {
        return Some(&values["input"]["tags"]);
    }
    let obj = values.as_object()?;
    match (obj.get("tags_all"), obj.get("tags")) {
        (Some(all), _) if all.is_object() => Some(all),
        (_, Some(t)) => Some(t),
        (Some(all), None) => Some(all),
        (None, None) => None,
    }
}

/// Checks every managed resource of `state` for every tag of `required` with its value.
pub fn check(state: &Value, required: &BTreeMap<String, String>) -> TagCheck {
    let mut all = Vec::new();
    resources(&state["values"]["root_module"], &mut all);
    let mut out = TagCheck::default();
    for rc in all {
        if rc["mode"].as_str() != Some("managed") {
            continue;
        }
        let address = rc["address"].as_str().unwrap_or("?").to_owned();
        let ty = rc["type"].as_str().unwrap_or("");
        if untaggable(ty) {
            out.exempt
                .push(format!("{address} ({ty} cannot carry tags)"));
            continue;
        }
        let Some(tags) = tags_of(rc) else {
            out.exempt
                .push(format!("{address} ({ty} has no tags attribute)"));
            continue;
        };
        out.checked += 1;
        let mut problems = Vec::new();
        for (key, want) in required {
            match tags.get(key).and_then(Value::as_str) {
                None => problems.push(format!("missing tag {key}")),
                Some(have) if have != want => {
                    problems.push(format!("tag {key} = {have:?}, expected {want:?}"))
                }
                Some(_) => {}
            }
        }
        if !problems.is_empty() {
            out.offenders.push(Offender { address, problems });
        }
    }
    out.offenders.sort_by(|a, b| a.address.cmp(&b.address));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn required() -> BTreeMap<String, String> {
        [("gitops:commit", "abc"), ("managed-by", "gitops-toolkit")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn finds_missing_and_wrong_tags_in_nested_modules_and_exempts_untaggable_types() {
        let good = json!({"gitops:commit": "abc", "managed-by": "gitops-toolkit"});
        let state = json!({"values": {"root_module": {
            "resources": [
                {"address": "random_id.x", "mode": "managed", "type": "random_id", "values": {}},
                {"address": "data.aws_region.r", "mode": "data", "type": "aws_region", "values": {}}
            ],
            "child_modules": [{
                "resources": [
                    {"address": "module.a.terraform_data.ok", "mode": "managed", "type": "terraform_data", "values": {"input": {"tags": good}}},
                    {"address": "module.a.terraform_data.bad", "mode": "managed", "type": "terraform_data", "values": {"input": {"tags": {"gitops:commit": "old"}}}},
                    {"address": "module.a.aws_vpc.v", "mode": "managed", "type": "aws_vpc", "values": {"tags": null, "tags_all": good}},
                    {"address": "module.a.azurerm_resource_group.g", "mode": "managed", "type": "azurerm_resource_group", "values": {"tags": {}}},
                    {"address": "module.a.aws_route_table_association.r", "mode": "managed", "type": "aws_route_table_association", "values": {"id": "x"}}
                ]
            }]
        }}});
        let c = check(&state, &required());
        assert_eq!(c.checked, 4);
        assert_eq!(c.exempt.len(), 2, "{:?}", c.exempt);
        let addrs: Vec<&str> = c.offenders.iter().map(|o| o.address.as_str()).collect();
        assert_eq!(
            addrs,
            vec![
                "module.a.azurerm_resource_group.g",
                "module.a.terraform_data.bad"
            ]
        );
        let bad = &c.offenders[1].problems;
        assert!(
            bad.iter().any(|p| p.contains("expected \"abc\"")),
            "{bad:?}"
        );
        assert!(bad.iter().any(|p| p == "missing tag managed-by"), "{bad:?}");
    }

    #[test]
    fn an_empty_state_has_nothing_to_check() {
        let c = check(&json!({"format_version": "1.0"}), &required());
        assert_eq!((c.checked, c.offenders.len()), (0, 0));
    }
}
