output "network_id" {
  description = "Id of the VPC (vpc-...)."
  value       = aws_vpc.this.id
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
  description = "Id of the flow log (fl-...), null when enable_flow_logs is false (added in v1.1.0)."
  value       = var.enable_flow_logs ? aws_flow_log.this[0].id : null
}

output "cidr_block" {
  description = "IPv4 address space of the VPC (AWS only)."
  value       = aws_vpc.this.cidr_block
}

output "nat_gateway_ids" {
  description = "NAT gateway ids by zone, empty when there is none (AWS only)."
  value       = { for z, n in aws_nat_gateway.this : z => n.id }
}
