output "lb_id" {
  description = "Id (ARN) of the load balancer."
  value       = aws_lb.this.arn
}

output "dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.this.dns_name
}

output "target_group_id" {
  description = "Id (ARN) of the target group that compute registers into."
  value       = aws_lb_target_group.this.arn
}

output "lb_arn_suffix" {
  description = "ARN suffix of the load balancer, the LoadBalancer dimension of its CloudWatch metrics (AWS only)."
  value       = aws_lb.this.arn_suffix
}

output "security_group_id" {
  description = "Security group of an ALB, null for an NLB (AWS only)."
  value       = local.layer7 ? aws_security_group.this[0].id : null
}

output "listener_protocol" {
  description = "Protocol of the listener: HTTPS/HTTP (ALB) or TLS/TCP (NLB) (AWS only)."
  value       = local.protocol
}
