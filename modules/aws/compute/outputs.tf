output "autoscaling_group_id" {
  description = "Id (name) of the autoscaling group."
  value       = aws_autoscaling_group.this.id
}

output "instance_ids" {
  description = "Ids of the instances the group runs after the apply (the group may replace them later)."
  value       = data.aws_instances.this.ids
}

output "autoscaling_group_arn" {
  description = "ARN of the autoscaling group (AWS only)."
  value       = aws_autoscaling_group.this.arn
}

output "launch_template_id" {
  description = "Id of the launch template (AWS only)."
  value       = aws_launch_template.this.id
}

output "security_group_id" {
  description = "Security group of the instances (AWS only)."
  value       = aws_security_group.this.id
}
