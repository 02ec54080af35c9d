//! What a saved plan says: per-resource actions, a readable summary with stateful replacements and
//! deletions at the top, drift reports (JSON, Markdown, JUnit XML), and the digest binding a plan to
//! the render and the state it was computed from.

use crate::model::load::sha256_hex;
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
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub replace: usize,
    pub changes: Vec<Change>,
}

impl Summary {
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// Stateful resources (databases, volumes) that the plan deletes or replaces.
    pub fn data_loss(&self) -> Vec<&Change> {
        self.changes
            .iter()
            .filter(|c| c.stateful && (c.action == "delete" || c.action == "replace"))
            .collect()
    }
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
        s.changes.push(Change {
            address: rc["address"].as_str().unwrap_or("?").to_owned(),
            action: action.to_owned(),
            stateful: is_stateful(rc),
        });
    }
    s.changes.sort_by(|a, b| a.address.cmp(&b.address));
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
    md.push_str(&format!(
        "**{} to add, {} to change, {} to destroy, {} to replace.**\n\n",
        s.add, s.change, s.destroy, s.replace
    ));
    if s.changes.is_empty() {
        md.push_str("No changes: the infrastructure matches the configuration.\n");
    } else {
        md.push_str("| action | resource | stateful |\n|---|---|---|\n");
        for c in &s.changes {
            md.push_str(&format!(
                "| {} | `{}` | {} |\n",
                c.action,
                c.address,
                if c.stateful { "yes" } else { "" }
            ));
        }
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

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML for a drift check: one test case per drifted resource (failed), or one passing case.
pub fn drift_junit(deployment: &str, s: &Summary) -> String {
    let mut xml = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"drift {}\" tests=\"{}\" failures=\"{}\">\n", xml_escape(deployment), s.changes.len().max(1), s.changes.len());
    if s.changes.is_empty() {
        xml.push_str(&format!(
            "  <testcase classname=\"drift.{}\" name=\"no drift\"/>\n",
            xml_escape(deployment)
        ));
    }
    for c in &s.changes {
        xml.push_str(&format!(
            "  <testcase classname=\"drift.{}\" name=\"{}\">\n    <failure message=\"drift: {} planned\">{} differs from the deployed configuration</failure>\n  </testcase>\n",
            xml_escape(deployment), xml_escape(&c.address), xml_escape(&c.action), xml_escape(&c.address)
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
        let xml = drift_junit("dev/x", &s);
        assert!(
            xml.contains("failures=\"1\"") && xml.contains("name=\"module.a.terraform_data.x\""),
            "{xml}"
        );
    }
}
