output "network_id" {
  description = "Id of the network (VPC / VNet)."
  value       = local.network_id
}

output "subnet_ids" {
  description = "Subnet ids per tier."
  value       = local.subnet_ids
}

output "public_subnet_ids" {
  description = "Ids of the public-tier subnets (empty when the tier is absent)."
  value       = lookup(local.subnet_ids, "public", [])
}

output "private_subnet_ids" {
  description = "Ids of the private-tier subnets (empty when the tier is absent)."
  value       = lookup(local.subnet_ids, "private", [])
}

output "data_subnet_ids" {
  description = "Ids of the data-tier subnets (empty when the tier is absent)."
  value       = lookup(local.subnet_ids, "data", [])
}

output "zones" {
  description = "Availability zones used by the network."
  value       = local.zones
}

output "flow_log_id" {
  description = "Id of the flow log, null when enable_flow_logs is false (added in v1.1.0)."
  value       = local.flow_log_id
}
