# Built-in policy: every resource the plan creates or updates carries the toolkit's tags, with the
# values of this render (input.manifest.tags: gitops:commit, gitops:build, gitops:deployment,
# gitops:environment, gitops:package, gitops:profile, managed-by).
#
# Where the tags are read from (the planned values, `change.after`):
#   terraform_data (sandbox cloud only)  after.input.tags
#   aws_*                                after.tags_all (tags + provider default_tags), else after.tags
#   azurerm_*                            after.tags
# Not checked: types of other providers, terraform_data outside the sandbox cloud (a utility resource
# there), the types in `untaggable` and, for aws_*/azurerm_*, types whose schema has no tags
# attribute (the plan then has no `tags`/`tags_all` key at all). Tags that stay unknown until apply
# cannot be verified: they give a warning, not a denial.
package gitops.builtin.tags

import rego.v1

# Resource types that cannot carry tags in the real clouds.
untaggable := {
	"aws_iam_role_policy_attachment",
	"aws_iam_user_policy_attachment",
	"aws_iam_group_policy_attachment",
	"aws_iam_policy_attachment",
	"aws_iam_role_policy",
	"aws_lb_target_group_attachment",
	"aws_route",
	"aws_route_table_association",
	"aws_s3_bucket_policy",
	"aws_s3_bucket_public_access_block",
	"aws_security_group_rule",
	"aws_volume_attachment",
	"azurerm_role_assignment",
	"azurerm_subnet",
	"azurerm_subnet_network_security_group_association",
	"null_resource",
}

# Providers whose resources carry no tags at all.
untaggable_prefixes := ["random_", "time_", "null_", "tls_", "local_", "archive_"]

required := input.manifest.tags

# The managed resources the plan creates (replacements included) or updates.
changed contains rc if {
	some rc in input.plan.resource_changes
	rc.mode == "managed"
	some action in rc.change.actions
	action in {"create", "update"}
}

exempt(rc) if rc.type in untaggable

exempt(rc) if {
	some prefix in untaggable_prefixes
	startswith(rc.type, prefix)
}

# Path of the tag map inside `change.after`; undefined for resources this policy does not check.
tag_path(rc) := ["input", "tags"] if {
	rc.type == "terraform_data"
	input.manifest.cloud == "sandbox"
}

tag_path(rc) := ["tags_all"] if {
	startswith(rc.type, "aws_")
	has_attribute(rc, "tags_all")
}

tag_path(rc) := ["tags"] if {
	startswith(rc.type, "aws_")
	not has_attribute(rc, "tags_all")
	has_attribute(rc, "tags")
}

tag_path(rc) := ["tags"] if {
	startswith(rc.type, "azurerm_")
	has_attribute(rc, "tags")
}

# The resource type's schema has the attribute: the plan lists every attribute, null when unset,
# and unknown ones only in after_unknown.
has_attribute(rc, name) if name in object.keys(rc.change.after)

has_attribute(rc, name) if object.get(rc.change.after_unknown, name, false) != false

# The whole tag map (or the object holding it) is unknown until apply.
unknown_map(rc, path) if object.get(rc.change.after_unknown, path, false) == true

unknown_map(rc, path) if {
	count(path) == 2
	object.get(rc.change.after_unknown, [path[0]], false) == true
}

unknown_key(rc, path, key) if object.get(rc.change.after_unknown, array.concat(path, [key]), false) == true

planned_tags(rc, path) := tags if {
	tags := object.get(rc.change.after, path, null)
	is_object(tags)
} else := {}

deny contains {"resource": rc.address, "message": msg} if {
	some rc in changed
	not exempt(rc)
	path := tag_path(rc)
	not unknown_map(rc, path)
	tags := planned_tags(rc, path)
	missing := sort([key |
		some key, _ in required
		not key in object.keys(tags)
		not unknown_key(rc, path, key)
	])
	wrong := sort([sprintf("%s (%s, want %s)", [key, json.marshal(tags[key]), json.marshal(want)]) |
		some key, want in required
		key in object.keys(tags)
		tags[key] != want
	])
	count(missing) + count(wrong) > 0
	parts := array.concat(
		[sprintf("missing %s", [concat(", ", missing)]) | count(missing) > 0],
		[sprintf("wrong value for %s", [concat(", ", wrong)]) | count(wrong) > 0],
	)
	msg := sprintf("required tags in %s: %s", [concat(".", path), concat("; ", parts)])
}

warn contains {"resource": rc.address, "message": msg} if {
	some rc in changed
	not exempt(rc)
	path := tag_path(rc)
	unknown_map(rc, path)
	msg := sprintf("tags (%s) are unknown until apply: the required tags cannot be verified", [concat(".", path)])
}
