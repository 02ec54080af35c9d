output "lb_id" {
  description = "Id of the load balancer."
  value       = local.lb_id
}

output "dns_name" {
  description = "DNS name of the load balancer."
  value       = local.dns_name
}

output "target_group_id" {
  description = "Id of the target group (backend pool) that compute registers into."
  value       = local.target_group_id
}
