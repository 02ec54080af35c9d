//! What a saved plan says: per-resource actions, a readable summary with stateful replacements and
//! deletions at the top, drift reports (JSON, Markdown, JUnit XML), and the digest binding a plan to
//! the render and the state it was computed from.

use crate::model::load::sha256_hex;
use crate::model::tags;
use crate::plan::policy::PolicyReport;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One resource's planned change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub address: String,
    /// create, update, delete, replace, read
    pub action: String,
    pub stateful: bool,
    /// An update that changes nothing but the per-deploy tags (`gitops:commit`, `gitops:build`):
    /// listed apart from the real changes.
    pub tag_only: bool,
    /// What an update or replacement changes, attribute by attribute (empty for a create or a
    /// delete, where the whole resource is the change).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<AttributeChange>,
}

impl Change {
    /// Not a tag-only update: something a reviewer must read.
    pub fn is_real(&self) -> bool {
        !self.tag_only
    }
}

/// One attribute an update changes. Sensitive values are shown as `(sensitive)`, values known
/// only after apply as `(known after apply)`, an absent value as `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttributeChange {
    /// `input.tags["gitops:build"]`, `ingress[0].cidr_blocks`
    pub path: String,
    pub before: Value,
    pub after: Value,
    /// A per-deploy tag (`gitops:commit`, `gitops:build`): plan.md leaves these out of a real
    /// change's attribute list.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub per_deploy_tag: bool,
}

/// Shown for a sensitive value.
pub const SENSITIVE: &str = "(sensitive)";
/// Shown for a value Terraform knows only after the apply.
pub const UNKNOWN: &str = "(known after apply)";

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub add: usize,
    /// Updates in place, tag-only ones included (Terraform's "to change").
    pub change: usize,
    pub destroy: usize,
    pub replace: usize,
    /// The updates among `change` that are tag-only.
    pub tag_only: usize,
    pub changes: Vec<Change>,
    /// Root module outputs the plan changes (created, updated or deleted), sorted: what the
    /// deployments that depend on this one would read differently after the apply.
    pub outputs_changed: Vec<String>,
}

impl Summary {
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// Some change is not a tag-only update.
    pub fn has_real_changes(&self) -> bool {
        self.changes.iter().any(Change::is_real)
    }

    /// The real changes: every change but the tag-only updates.
    pub fn real(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.is_real())
    }

    /// "1 to add, 21 to change (21 tag-only), 0 to destroy, 0 to replace"
    pub fn counts_line(&self) -> String {
        let tag_only = if self.tag_only > 0 {
            format!(" ({} tag-only)", self.tag_only)
        } else {
            String::new()
        };
        format!(
            "{} to add, {} to change{tag_only}, {} to destroy, {} to replace",
            self.add, self.change, self.destroy, self.replace
        )
    }

    /// The real change, for the texts that quote it (approval, certification, promotion):
    /// "1 to add, 0 to change, 0 to destroy, 0 to replace (and 21 tag-only updates)".
    pub fn real_line(&self) -> String {
        let mut line = format!(
            "{} to add, {} to change, {} to destroy, {} to replace",
            self.add,
            self.change - self.tag_only,
            self.destroy,
            self.replace
        );
        if self.tag_only > 0 {
            line.push_str(&format!(
                " (and {} tag-only update{})",
                self.tag_only,
                if self.tag_only == 1 { "" } else { "s" }
            ));
        }
        line
    }

    /// Stateful resources (databases, volumes) that the plan deletes or replaces.
    pub fn data_loss(&self) -> Vec<&Change> {
        self.changes
            .iter()
            .filter(|c| c.stateful && (c.action == "delete" || c.action == "replace"))
            .collect()
    }
}

/// The attributes a `resource_changes` entry changes, and whether they are all per-deploy tags
/// (a tag-only change). `terraform_data.output` is left out: it mirrors `input` and is unknown
/// whenever `input` changes.
pub fn attribute_changes(rc: &Value) -> (Vec<AttributeChange>, bool) {
    let change = &rc["change"];
    let mut out = Vec::new();
    let skip: &[&str] = if rc["type"].as_str() == Some("terraform_data") {
        &["output"]
    } else {
        &[]
    };
    let at = Attr {
        before: &change["before"],
        after: &change["after"],
        unknown: &change["after_unknown"],
        before_sensitive: &change["before_sensitive"],
        after_sensitive: &change["after_sensitive"],
    };
    diff(&mut Vec::new(), at, skip, &mut out);
    let blocks = tags::blocks_differ_only_per_deploy(
        &change["before"][tags::BLOCKS],
        &change["after"][tags::BLOCKS],
    );
    for (path, c) in &mut out {
        c.per_deploy_tag = is_per_deploy_tag(path, c)
            || (blocks && matches!(path.first(), Some(Seg::Key(k)) if k == tags::BLOCKS));
    }
    let tag_only = !out.is_empty() && out.iter().all(|(_, c)| c.per_deploy_tag);
    (out.into_iter().map(|(_, c)| c).collect(), tag_only)
}

/// One position in the before/after trees of a change, with the matching parts of its
/// `after_unknown`, `before_sensitive` and `after_sensitive` trees.
#[derive(Clone, Copy)]
struct Attr<'a> {
    before: &'a Value,
    after: &'a Value,
    unknown: &'a Value,
    before_sensitive: &'a Value,
    after_sensitive: &'a Value,
}

impl<'a> Attr<'a> {
    fn child(self, key: &Seg) -> Attr<'a> {
        let get = |v: &'a Value| match key {
            Seg::Key(k) => v.get(k.as_str()).unwrap_or(&Value::Null),
            Seg::Index(i) => v.get(*i).unwrap_or(&Value::Null),
        };
        Attr {
            before: get(self.before),
            after: get(self.after),
            unknown: get(self.unknown),
            before_sensitive: get(self.before_sensitive),
            after_sensitive: get(self.after_sensitive),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// `input.tags["gitops:build"]`, `ingress[0]`
fn path_text(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if is_identifier(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Key(k) => out.push_str(&format!("[{}]", Value::String(k.clone()))),
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn is_identifier(k: &str) -> bool {
    let mut chars = k.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn diff(
    path: &mut Vec<Seg>,
    at: Attr<'_>,
    skip: &[&str],
    out: &mut Vec<(Vec<Seg>, AttributeChange)>,
) {
    let shown = |v: &Value, sensitive: &Value| {
        if sensitive == &Value::Bool(true) {
            Value::String(SENSITIVE.into())
        } else {
            v.clone()
        }
    };
    if at.unknown == &Value::Bool(true) {
        let change = AttributeChange {
            path: path_text(path),
            before: shown(at.before, at.before_sensitive),
            after: Value::String(UNKNOWN.into()),
            per_deploy_tag: false,
        };
        out.push((path.clone(), change));
        return;
    }
    let sensitive =
        at.before_sensitive == &Value::Bool(true) || at.after_sensitive == &Value::Bool(true);
    let children: Option<Vec<Seg>> = match (at.before, at.after) {
        _ if sensitive => None,
        (Value::Object(b), Value::Object(a)) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            Some(
                keys.into_iter()
                    .filter(|k| !(path.is_empty() && skip.contains(&k.as_str())))
                    .map(|k| Seg::Key(k.clone()))
                    .collect(),
            )
        }
        (Value::Array(b), Value::Array(a)) if b.len() == a.len() => {
            Some((0..a.len()).map(Seg::Index).collect())
        }
        _ => None,
    };
    match children {
        Some(keys) => {
            for key in keys {
                path.push(key.clone());
                diff(path, at.child(&key), skip, out);
                path.pop();
            }
        }
        None => {
            if at.before != at.after {
                let change = AttributeChange {
                    path: path_text(path),
                    before: shown(at.before, at.before_sensitive),
                    after: shown(at.after, at.after_sensitive),
                    per_deploy_tag: false,
                };
                out.push((path.clone(), change));
            }
        }
    }
}

/// Whether an attribute change is a per-deploy tag (`tags["gitops:build"]`), or a tag map that
/// stays unknown until apply (`tags_all` of some providers).
fn is_per_deploy_tag(path: &[Seg], c: &AttributeChange) -> bool {
    path.iter().enumerate().any(|(i, seg)| match seg {
        Seg::Key(k) if tags::ATTRIBUTES.contains(&k.as_str()) => match path.get(i + 1) {
            Some(Seg::Key(tag)) => path.len() == i + 2 && tags::PER_DEPLOY.contains(&tag.as_str()),
            None => c.after == Value::String(UNKNOWN.into()),
            Some(Seg::Index(_)) => false,
        },
        _ => false,
    })
}

/// Resources whose deletion loses data. Sandbox resources say what they stand for in `input.kind`.
pub fn is_stateful(rc: &Value) -> bool {
    let ty = rc["type"].as_str().unwrap_or("");
    let kind = |v: &Value| v["input"]["kind"].as_str().map(str::to_owned);
    let sandbox_kind = kind(&rc["change"]["before"])
        .or_else(|| kind(&rc["change"]["after"]))
        .unwrap_or_default();
    matches!(sandbox_kind.as_str(), "db_instance" | "volume" | "bucket")
        || matches!(
            ty,
            "aws_db_instance"
                | "aws_rds_cluster"
                | "aws_ebs_volume"
                | "aws_s3_bucket"
                | "aws_dynamodb_table"
                | "aws_efs_file_system"
        )
        || (ty.starts_with("azurerm_")
            && (ty.contains("database")
                || ty.contains("sql")
                || ty.contains("postgresql")
                || ty.contains("mysql")
                || ty.contains("storage_account")
                || ty.contains("managed_disk")))
}

/// Reads `resource_changes` of `terraform show -json` output.
pub fn summarize(plan: &Value) -> Summary {
    let mut s = Summary::default();
    for rc in plan["resource_changes"].as_array().into_iter().flatten() {
        if rc["mode"].as_str() == Some("data") {
            continue;
        }
        let actions: Vec<&str> = rc["change"]["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let action = match actions.as_slice() {
            ["no-op"] | [] => continue,
            ["create"] => {
                s.add += 1;
                "create"
            }
            ["update"] => {
                s.change += 1;
                "update"
            }
            ["delete"] => {
                s.destroy += 1;
                "delete"
            }
            ["read"] => continue,
            _ if actions.contains(&"delete") && actions.contains(&"create") => {
                s.replace += 1;
                "replace"
            }
            _ => "other",
        };
        let (attributes, tags_only) = match action {
            "update" | "replace" => attribute_changes(rc),
            _ => (Vec::new(), false),
        };
        let tag_only = action == "update" && tags_only;
        if tag_only {
            s.tag_only += 1;
        }
        s.changes.push(Change {
            address: rc["address"].as_str().unwrap_or("?").to_owned(),
            action: action.to_owned(),
            stateful: is_stateful(rc),
            tag_only,
            attributes,
        });
    }
    s.changes.sort_by(|a, b| a.address.cmp(&b.address));
    if let Some(outputs) = plan["output_changes"].as_object() {
        s.outputs_changed = outputs
            .iter()
            .filter(|(_, c)| {
                c["actions"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x != "no-op"))
            })
            .map(|(name, _)| name.clone())
            .collect();
    }
    s
}

/// `plan.md`: what a reviewer reads before approving.
pub fn markdown(title: &str, s: &Summary, policy: Option<&PolicyReport>) -> String {
    let mut md = format!("# {title}\n\n");
    let loss = s.data_loss();
    if !loss.is_empty() {
        md.push_str("> **Attention: stateful resources are destroyed or replaced (data loss):**\n");
        for c in &loss {
            md.push_str(&format!("> - `{}` ({})\n", c.address, c.action));
        }
        md.push('\n');
    }
    if let Some(p) = policy {
        if !p.denials.is_empty() {
            md.push_str("> **Denied by policy:**\n");
            for d in &p.denials {
                md.push_str(&format!(
                    "> - `{}`: {} ({})\n",
                    if d.resource.is_empty() {
                        "(plan)"
                    } else {
                        &d.resource
                    },
                    d.message,
                    d.policy
                ));
            }
            md.push('\n');
        }
    }
    md.push_str(&format!("**{}.**\n\n", s.counts_line()));
    if s.changes.is_empty() {
        md.push_str("No changes: the infrastructure matches the configuration.\n");
    }
    let real: Vec<&Change> = s.real().collect();
    if !real.is_empty() {
        if s.tag_only > 0 {
            md.push_str(&format!("## Real changes ({})\n\n", real.len()));
        }
        md.push_str("| action | resource | stateful |\n|---|---|---|\n");
        for c in &real {
            md.push_str(&format!(
                "| {} | `{}` | {} |\n",
                c.action,
                c.address,
                if c.stateful { "yes" } else { "" }
            ));
        }
        let detailed: Vec<&&Change> = real.iter().filter(|c| !c.attributes.is_empty()).collect();
        if !detailed.is_empty() {
            md.push_str("\nChanged attributes:\n\n");
            for c in detailed {
                md.push_str(&format!("- `{}` ({})\n", c.address, c.action));
                let real = c.attributes.iter().filter(|a| !a.per_deploy_tag);
                md.push_str(&attribute_lines(real, "  "));
            }
        }
    } else if s.tag_only > 0 {
        md.push_str("No real changes: only the per-deploy tags change.\n");
    }
    if s.tag_only > 0 {
        md.push_str(&format!(
            "\n## Tag-only updates ({})\n\nOnly `{}` change on these (a new commit or build re-tags every resource).\n\n<details><summary>{} resource{}</summary>\n\n",
            s.tag_only,
            tags::PER_DEPLOY.join("`, `"),
            s.tag_only,
            if s.tag_only == 1 { "" } else { "s" }
        ));
        for c in s.changes.iter().filter(|c| c.tag_only) {
            md.push_str(&format!("- `{}`\n", c.address));
        }
        md.push_str("\n</details>\n");
    }
    if let Some(p) = policy {
        md.push_str(&format!(
            "\nPolicies evaluated: {}.\n",
            p.policies.join(", ")
        ));
        for w in &p.warnings {
            md.push_str(&format!(
                "- warning: `{}`: {} ({})\n",
                w.resource, w.message, w.policy
            ));
        }
    }
    md
}

/// Longest value text shown in a report before it is cut.
const VALUE_WIDTH: usize = 120;

/// A value as a report shows it: compact JSON, cut at [`VALUE_WIDTH`] characters.
pub fn value_text(v: &Value) -> String {
    let text = match v {
        Value::String(s) if s == SENSITIVE || s == UNKNOWN => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > VALUE_WIDTH {
        let cut: String = text.chars().take(VALUE_WIDTH).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// "`<indent>- `path`: before -> after`" per attribute.
pub fn attribute_lines<'a>(
    attributes: impl IntoIterator<Item = &'a AttributeChange>,
    indent: &str,
) -> String {
    attributes
        .into_iter()
        .map(|a| {
            format!(
                "{indent}- `{}`: {} -> {}\n",
                a.path,
                value_text(&a.before),
                value_text(&a.after)
            )
        })
        .collect()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML for a drift check: one failed test case per drifted resource, its changed
/// attributes in the failure text; else one passing case named by `status` ("in sync", "never
/// deployed", "destroyed").
pub fn drift_junit(deployment: &str, s: &Summary, status: &str) -> String {
    let mut xml = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"drift {}\" tests=\"{}\" failures=\"{}\">\n", xml_escape(deployment), s.changes.len().max(1), s.changes.len());
    if s.changes.is_empty() {
        xml.push_str(&format!(
            "  <testcase classname=\"drift.{}\" name=\"{}\"/>\n",
            xml_escape(deployment),
            xml_escape(status)
        ));
    }
    for c in &s.changes {
        let detail = match c.action.as_str() {
            "create" => "it is in the recorded configuration but missing from the infrastructure (deleted out of band)".to_owned(),
            "delete" => "it is in the state but not in the recorded configuration".to_owned(),
            _ if c.attributes.is_empty() => "it differs from the recorded configuration".to_owned(),
            _ => format!(
                "it differs from the recorded configuration (actual -> recorded):\n{}",
                attribute_lines(&c.attributes, "")
            ),
        };
        xml.push_str(&format!(
            "  <testcase classname=\"drift.{}\" name=\"{}\">\n    <failure message=\"drift: {} planned\">{}: {}</failure>\n  </testcase>\n",
            xml_escape(deployment), xml_escape(&c.address), xml_escape(&c.action), xml_escape(&c.address), xml_escape(&detail)
        ));
    }
    xml.push_str("</testsuite>\n");
    xml
}

/// `plan.digest`: binds the plan to the render and the state it was computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRecord {
    pub deployment: String,
    /// sha256 of the parts below; apply recomputes it.
    pub digest: String,
    pub plan_json_sha256: String,
    /// sha256 of plan.bin itself: apply checks the file byte for byte, without `terraform show`.
    pub plan_bin_sha256: String,
    pub manifest_sha256: String,
    pub tree_sha256: String,
    pub state_lineage: String,
    pub state_serial: u64,
    pub changes: bool,
    pub policy_denials: usize,
}

impl PlanRecord {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        deployment: &str,
        plan_json: &[u8],
        plan_bin: &[u8],
        manifest: &[u8],
        tree: &str,
        lineage: &str,
        serial: u64,
        changes: bool,
        denials: usize,
    ) -> PlanRecord {
        let mut r = PlanRecord {
            deployment: deployment.to_owned(),
            digest: String::new(),
            plan_json_sha256: sha256_hex(plan_json),
            plan_bin_sha256: sha256_hex(plan_bin),
            manifest_sha256: sha256_hex(manifest),
            tree_sha256: tree.to_owned(),
            state_lineage: lineage.to_owned(),
            state_serial: serial,
            changes,
            policy_denials: denials,
        };
        r.digest = r.compute();
        r
    }

    /// The digest over every bound part.
    pub fn compute(&self) -> String {
        let text = format!(
            "deployment={}\nplan={}\nplan_bin={}\nmanifest={}\ntree={}\nlineage={}\nserial={}\nchanges={}\ndenials={}\n",
            self.deployment, self.plan_json_sha256, self.plan_bin_sha256, self.manifest_sha256, self.tree_sha256, self.state_lineage, self.state_serial, self.changes, self.policy_denials
        );
        format!("sha256:{}", sha256_hex(text.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rc(address: &str, actions: &[&str], kind: &str) -> Value {
        json!({ "address": address, "mode": "managed", "type": "terraform_data", "change": { "actions": actions, "before": { "input": { "kind": kind } }, "after": { "input": { "kind": kind } } } })
    }

    #[test]
    fn summary_counts_and_calls_out_data_loss() {
        let plan = json!({ "resource_changes": [
            rc("module.database.terraform_data.db_instance", &["delete", "create"], "db_instance"),
            rc("module.network.terraform_data.subnet[0]", &["create"], "subnet"),
            rc("module.network.terraform_data.network", &["update"], "network"),
            rc("module.compute.terraform_data.instance[0]", &["no-op"], "instance"),
        ]});
        let s = summarize(&plan);
        assert_eq!((s.add, s.change, s.destroy, s.replace), (1, 1, 0, 1));
        assert_eq!(s.data_loss().len(), 1);
        let md = markdown("Plan", &s, None);
        let attention = md.find("Attention").unwrap();
        assert!(
            attention < md.find("to add").unwrap(),
            "data loss is called out at the top:\n{md}"
        );
        assert!(md.contains("module.database.terraform_data.db_instance"));
    }

    #[test]
    fn summary_names_the_outputs_the_plan_changes() {
        let plan = json!({ "resource_changes": [], "output_changes": {
            "endpoint": { "actions": ["update"], "before": "a", "after": "b" },
            "asg": { "actions": ["no-op"], "before": "x", "after": "x" },
            "added": { "actions": ["create"], "before": null, "after": "y" },
        }});
        assert_eq!(summarize(&plan).outputs_changed, ["added", "endpoint"]);
        assert!(summarize(&json!({})).outputs_changed.is_empty());
    }

    fn update(address: &str, before: Value, after: Value, unknown: Value) -> Value {
        json!({ "address": address, "mode": "managed", "type": "terraform_data", "change": {
            "actions": ["update"], "before": before, "after": after, "after_unknown": unknown,
            "before_sensitive": {}, "after_sensitive": {} } })
    }

    #[test]
    fn an_update_of_the_per_deploy_tags_only_is_tag_only() {
        let tags = |build: &str| json!({"gitops:build": build, "gitops:commit": "c1", "team": "a"});
        let plan = json!({ "resource_changes": [
            update(
                "module.a.terraform_data.lt",
                json!({"input": {"kind": "launch_template", "tags": tags("b1")}, "output": {"kind": "launch_template", "tags": tags("b1")}}),
                json!({"input": {"kind": "launch_template", "tags": tags("b2")}}),
                json!({"output": true}),
            ),
            update(
                "module.a.terraform_data.asg",
                json!({"input": {"size": 2, "tags": tags("b1")}}),
                json!({"input": {"size": 3, "tags": tags("b2")}}),
                json!({}),
            ),
        ]});
        let s = summarize(&plan);
        assert_eq!((s.change, s.tag_only), (2, 1));
        let lt = &s.changes[1];
        assert!(lt.tag_only, "{lt:?}");
        assert_eq!(lt.attributes.len(), 1);
        assert_eq!(lt.attributes[0].path, "input.tags[\"gitops:build\"]");
        assert_eq!(
            (&lt.attributes[0].before, &lt.attributes[0].after),
            (&json!("b1"), &json!("b2"))
        );
        let asg = &s.changes[0];
        assert!(!asg.tag_only, "a real change besides the tags: {asg:?}");
        assert_eq!(s.real().count(), 1);
        assert!(s.has_real_changes());
        assert_eq!(
            s.real_line(),
            "0 to add, 1 to change, 0 to destroy, 0 to replace (and 1 tag-only update)"
        );
        let md = markdown("Plan", &s, None);
        assert!(
            md.contains("**0 to add, 2 to change (1 tag-only), 0 to destroy, 0 to replace.**"),
            "{md}"
        );
        assert!(
            md.contains("## Real changes (1)") && md.contains("## Tag-only updates (1)"),
            "{md}"
        );
        assert!(md.contains("`input.size`: 2 -> 3"), "{md}");
        let real = md.find("## Real changes").unwrap();
        let tag_only = md.find("## Tag-only updates").unwrap();
        assert!(real < tag_only, "real changes come first:\n{md}");
    }

    #[test]
    fn an_autoscaling_group_whose_tag_blocks_move_only_per_deploy_values_is_tag_only() {
        let blocks = |commit: &str, team: &str| {
            json!({"name": "orders", "tag": [
                {"key": "gitops:commit", "value": commit, "propagate_at_launch": true},
                {"key": "team", "value": team, "propagate_at_launch": true}
            ]})
        };
        let asg = |address: &str, before: Value, after: Value| {
            let mut rc = update(address, before, after, json!({}));
            rc["type"] = json!("aws_autoscaling_group");
            rc
        };
        // Terraform lists a set's blocks in its own order: the changed one may move.
        let mut moved = blocks("c2", "a");
        moved["tag"].as_array_mut().unwrap().reverse();
        let plan = json!({ "resource_changes": [
            asg("module.c.aws_autoscaling_group.a", blocks("c1", "a"), moved),
            asg("module.c.aws_autoscaling_group.b", blocks("c1", "a"), blocks("c2", "b")),
        ]});
        let s = summarize(&plan);
        let by: std::collections::BTreeMap<&str, bool> = s
            .changes
            .iter()
            .map(|c| (c.address.as_str(), c.tag_only))
            .collect();
        assert!(by["module.c.aws_autoscaling_group.a"], "{s:?}");
        assert!(
            !by["module.c.aws_autoscaling_group.b"],
            "a team tag moved too"
        );
    }

    #[test]
    fn a_changed_user_tag_or_an_unknown_attribute_is_a_real_change() {
        let plan = json!({ "resource_changes": [
            update(
                "module.a.terraform_data.team",
                json!({"input": {"tags": {"team": "a", "gitops:build": "b1"}}}),
                json!({"input": {"tags": {"team": "b", "gitops:build": "b2"}}}),
                json!({}),
            ),
            update(
                "module.a.terraform_data.unknown",
                json!({"input": {"id": "x", "tags": {"gitops:build": "b1"}}}),
                json!({"input": {"tags": {"gitops:build": "b2"}}}),
                json!({"input": {"id": true}}),
            ),
        ]});
        let s = summarize(&plan);
        assert_eq!(s.tag_only, 0, "{:?}", s.changes);
        let unknown = &s.changes[1];
        assert!(unknown
            .attributes
            .iter()
            .any(|a| a.path == "input.id" && a.after == json!(UNKNOWN)));
    }

    #[test]
    fn sensitive_values_are_masked_in_attribute_changes() {
        let mut rc = update(
            "module.db.terraform_data.db",
            json!({"input": {"password": "old-secret", "size": 1}}),
            json!({"input": {"password": "new-secret", "size": 2}}),
            json!({}),
        );
        rc["change"]["before_sensitive"] = json!({"input": {"password": true}});
        rc["change"]["after_sensitive"] = json!({"input": {"password": true}});
        let (attributes, tag_only) = attribute_changes(&rc);
        assert!(!tag_only);
        let text = format!("{attributes:?}");
        assert!(!text.contains("secret"), "{text}");
        assert!(attributes
            .iter()
            .any(|a| a.path == "input.password" && a.after == json!(SENSITIVE)));
    }

    #[test]
    fn digest_changes_with_every_part() {
        let base = PlanRecord::new("dev/x", b"{}", b"bin", b"{}", "t", "l", 1, true, 0);
        assert_eq!(base.digest, base.compute());
        for other in [
            PlanRecord::new("dev/y", b"{}", b"bin", b"{}", "t", "l", 1, true, 0),
            PlanRecord::new("dev/x", b"{ }", b"bin", b"{}", "t", "l", 1, true, 0),
            PlanRecord::new("dev/x", b"{}", b"bin2", b"{}", "t", "l", 1, true, 0),
            PlanRecord::new("dev/x", b"{}", b"bin", b"{ }", "t", "l", 1, true, 0),
            PlanRecord::new("dev/x", b"{}", b"bin", b"{}", "t2", "l", 1, true, 0),
            PlanRecord::new("dev/x", b"{}", b"bin", b"{}", "t", "l2", 1, true, 0),
            PlanRecord::new("dev/x", b"{}", b"bin", b"{}", "t", "l", 2, true, 0),
            PlanRecord::new("dev/x", b"{}", b"bin", b"{}", "t", "l", 1, false, 0),
            PlanRecord::new("dev/x", b"{}", b"bin", b"{}", "t", "l", 1, true, 1),
        ] {
            assert_ne!(other.digest, base.digest);
        }
    }

    #[test]
    fn junit_lists_drifted_resources() {
        let s = summarize(
            &json!({ "resource_changes": [rc("module.a.terraform_data.x", &["update"], "network")] }),
        );
        let xml = drift_junit("dev/x", &s, "in sync");
        assert!(
            xml.contains("failures=\"1\"") && xml.contains("name=\"module.a.terraform_data.x\""),
            "{xml}"
        );
    }
}
