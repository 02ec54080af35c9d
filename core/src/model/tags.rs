//! The deployment tags the toolkit puts on every resource: their keys, which of them change with
//! every build, and how a planned update that changes nothing but those is recognised.

/// The commit the resource was deployed from.
pub const COMMIT: &str = "gitops:commit";
/// The Jenkins build (`BUILD_TAG`) that deployed it.
pub const BUILD: &str = "gitops:build";

/// Every tag every resource carries (`gitops-tag` and certification check them).
pub const REQUIRED: [&str; 7] = [
    COMMIT,
    BUILD,
    "gitops:deployment",
    "gitops:environment",
    "gitops:package",
    "gitops:profile",
    "managed-by",
];

/// The tags whose values change with every deploy even when nothing else does: an update that
/// changes only these is a *tag-only* update, listed apart from real changes.
pub const PER_DEPLOY: [&str; 2] = [COMMIT, BUILD];

/// The attribute names that hold a resource's tags, wherever they sit: AWS `tags` / `tags_all`,
/// Azure `tags`, the sandbox modules' `input.tags`.
pub const ATTRIBUTES: [&str; 2] = ["tags", "tags_all"];

/// The attribute of tag *blocks* (`{key, value, propagate_at_launch}`, a set): an AWS autoscaling
/// group's `tag`, which has no tags map and ignores the provider's default_tags.
pub const BLOCKS: &str = "tag";

/// Tag blocks as key -> the rest of the block; `None` when `v` is not a list of blocks.
fn blocks_by_key(
    v: &serde_json::Value,
) -> Option<std::collections::BTreeMap<&str, serde_json::Value>> {
    v.as_array()?
        .iter()
        .map(|b| {
            let mut rest = b.as_object()?.clone();
            let key = b["key"].as_str()?;
            rest.remove("key");
            Some((key, serde_json::Value::Object(rest)))
        })
        .collect()
}

/// Whether two lists of tag blocks differ, and only in the values of per-deploy tags (the same
/// keys, the same other fields; the set's order does not matter).
pub fn blocks_differ_only_per_deploy(
    before: &serde_json::Value,
    after: &serde_json::Value,
) -> bool {
    let (Some(b), Some(a)) = (blocks_by_key(before), blocks_by_key(after)) else {
        return false;
    };
    b != a
        && b.keys().eq(a.keys())
        && b.iter().all(|(k, vb)| {
            let va = &a[k];
            vb == va || {
                let (mut vb, mut va) = (vb.clone(), va.clone());
                vb["value"] = serde_json::Value::Null;
                va["value"] = serde_json::Value::Null;
                PER_DEPLOY.contains(k) && vb == va
            }
        })
}

/// Tag blocks with the per-deploy values blanked and sorted by key: what stays when only the
/// per-deploy tags move (review fingerprints compare this).
pub fn blocks_without_per_deploy(v: serde_json::Value) -> serde_json::Value {
    let serde_json::Value::Array(mut blocks) = v else {
        return v;
    };
    for b in &mut blocks {
        if b["key"].as_str().is_some_and(|k| PER_DEPLOY.contains(&k)) {
            b["value"] = serde_json::Value::Null;
        }
    }
    blocks.sort_by(|x, y| x["key"].as_str().cmp(&y["key"].as_str()));
    serde_json::Value::Array(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tag_blocks_that_move_only_per_deploy_values_are_recognised_in_any_order() {
        let b = |commit: &str, team: &str| {
            json!([
                {"key": "team", "value": team, "propagate_at_launch": true},
                {"key": COMMIT, "value": commit, "propagate_at_launch": true}
            ])
        };
        let mut reordered = b("c2", "a");
        reordered.as_array_mut().unwrap().reverse();
        assert!(blocks_differ_only_per_deploy(&b("c1", "a"), &reordered));
        assert!(!blocks_differ_only_per_deploy(&b("c1", "a"), &b("c2", "b")));
        assert!(!blocks_differ_only_per_deploy(&b("c1", "a"), &b("c1", "a")));
        assert!(!blocks_differ_only_per_deploy(&b("c1", "a"), &json!([])));
        assert_eq!(
            blocks_without_per_deploy(b("c1", "a")),
            blocks_without_per_deploy(reordered)
        );
    }
}
