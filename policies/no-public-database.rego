# Built-in policy: no database is reachable from the internet, in any environment. Checked on the
# planned values of every managed resource the plan creates (replacements included) or updates:
#
#   terraform_data (sandbox)             input.kind "db_instance" with input.publicly_accessible true
#   aws_db_instance,
#   aws_rds_cluster_instance             publicly_accessible true
#   azurerm_postgresql_flexible_server,
#   azurerm_mssql_server                 public_network_access_enabled true
#
# Only an explicit true is denied (unset means private for AWS; a value unknown until apply is not
# judged).
package gitops.builtin.no_public_database

import rego.v1

# type -> attribute that makes the database public when true.
public_attribute := {
	"aws_db_instance": ["publicly_accessible"],
	"aws_rds_cluster_instance": ["publicly_accessible"],
	"azurerm_postgresql_flexible_server": ["public_network_access_enabled"],
	"azurerm_mssql_server": ["public_network_access_enabled"],
}

changed contains rc if {
	some rc in input.plan.resource_changes
	rc.mode == "managed"
	some action in rc.change.actions
	action in {"create", "update"}
}

public_path(rc) := ["input", "publicly_accessible"] if {
	rc.type == "terraform_data"
	rc.change.after.input.kind == "db_instance"
}

public_path(rc) := public_attribute[rc.type]

deny contains {"resource": rc.address, "message": msg} if {
	some rc in changed
	path := public_path(rc)
	object.get(rc.change.after, path, null) == true
	msg := sprintf(
		"the database is publicly accessible (%s = true): databases must not be reachable from the internet in any environment",
		[concat(".", path)],
	)
}
