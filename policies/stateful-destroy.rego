# Built-in policy (warnings only): the plan destroys or replaces a stateful resource, whose data is
# lost unless restored from a backup. Not a denial: replacing a database can be intended; the plan
# summary calls each one out so a reviewer sees it.
#
# Stateful: terraform_data (sandbox) with input.kind "db_instance" (before or after the change); the
# AWS types in `aws_stateful`; azurerm_* types whose name contains "database", ends in "_server"
# (azurerm_mssql_server, azurerm_postgresql_flexible_server, ...) or is in `azure_stateful`.
package gitops.builtin.stateful_destroy

import rego.v1

aws_stateful := {
	"aws_db_instance",
	"aws_rds_cluster",
	"aws_ebs_volume",
	"aws_efs_file_system",
	"aws_dynamodb_table",
	"aws_s3_bucket",
}

azure_stateful := {"azurerm_managed_disk", "azurerm_storage_account"}

stateful(rc) if rc.type in aws_stateful

stateful(rc) if rc.type in azure_stateful

stateful(rc) if {
	startswith(rc.type, "azurerm_")
	contains(rc.type, "database")
}

stateful(rc) if {
	startswith(rc.type, "azurerm_")
	endswith(rc.type, "_server")
}

stateful(rc) if {
	rc.type == "terraform_data"
	some state in [rc.change.before, rc.change.after]
	state.input.kind == "db_instance"
}

# What the message calls the resource.
what(rc) := "the database (sandbox db_instance)" if rc.type == "terraform_data"

what(rc) := rc.type if rc.type != "terraform_data"

verb(actions) := "replaces" if "create" in actions

verb(actions) := "destroys" if not "create" in actions

warn contains {"resource": rc.address, "message": msg} if {
	some rc in input.plan.resource_changes
	rc.mode == "managed"
	"delete" in rc.change.actions
	stateful(rc)
	reason := object.get(rc, "action_reason", "")
	because := {true: "", false: sprintf(" (%s)", [reason])}[reason == ""]
	msg := sprintf(
		"the plan %s %s%s: a stateful resource, its data is lost unless restored from a backup",
		[verb(rc.change.actions), what(rc), because],
	)
}
