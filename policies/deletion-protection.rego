# Built-in policy: in a protected environment (input.manifest.protected), load balancers and
# databases keep deletion protection on. Checked on the planned values of every managed resource the
# plan creates (replacements included) or updates:
#
#   terraform_data (sandbox)  input.kind "load_balancer" or "db_instance": input.deletion_protection
#   aws_lb, aws_alb           enable_deletion_protection
#   aws_db_instance,
#   aws_rds_cluster           deletion_protection
#
# "On" means true: false and null (unset, the provider default is off) are denied; a value unknown
# until apply is not judged.
#
# Not covered: Azure. azurerm_mssql_server, azurerm_postgresql_flexible_server and the Azure load
# balancers / application gateways have no deletion-protection attribute; Azure protects them with
# management locks (azurerm_management_lock, a separate resource) or `lifecycle { prevent_destroy }`,
# which does not appear in the plan's resource_changes. A deployment that wants that guarantee can
# add a repository policy requiring a lock resource.
package gitops.builtin.deletion_protection

import rego.v1

# AWS type -> [what it is, the attribute holding its deletion protection].
aws_types := {
	"aws_lb": ["load balancer", "enable_deletion_protection"],
	"aws_alb": ["load balancer", "enable_deletion_protection"],
	"aws_db_instance": ["database", "deletion_protection"],
	"aws_rds_cluster": ["database", "deletion_protection"],
}

# Sandbox kinds (terraform_data input.kind) -> what they stand for.
sandbox_kind := {
	"load_balancer": "load balancer",
	"db_instance": "database",
}

changed contains rc if {
	some rc in input.plan.resource_changes
	rc.mode == "managed"
	some action in rc.change.actions
	action in {"create", "update"}
}

# [what, path of the attribute in change.after] for the resources this policy checks.
protection(rc) := [sandbox_kind[rc.change.after.input.kind], ["input", "deletion_protection"]] if {
	rc.type == "terraform_data"
	is_object(rc.change.after.input)
}

protection(rc) := [what, [attribute]] if {
	[what, attribute] := aws_types[rc.type]
}

unknown(rc, path) if object.get(rc.change.after_unknown, path, false) == true

unknown(rc, path) if object.get(rc.change.after_unknown, [path[0]], false) == true

deny contains {"resource": rc.address, "message": msg} if {
	input.manifest.protected == true
	some rc in changed
	[what, path] := protection(rc)
	not unknown(rc, path)
	value := object.get(rc.change.after, path, null)
	value != true
	msg := sprintf(
		"deletion protection of the %s is off (%s = %s): environment %s is protected, keep it on",
		[what, concat(".", path), json.marshal(value), input.manifest.environment],
	)
}
