output "autoscaling_group_id" {
  description = "Id of the autoscaling group (scale set)."
  value       = local.asg_id
}

output "instance_ids" {
  description = "Ids of the running instances (desired_capacity entries)."
  value       = [for i in local.instances : i.id]
}
