variables {
  name          = "orders-api"
  instance_type = "t3.small"
  subnet_ids    = ["subnet-aaaa1111", "subnet-bbbb2222"]
  tags = {
    "managed-by"         = "gitops-toolkit"
    "gitops:environment" = "test"
  }
}

run "defaults_plan" {
  command = plan

  assert {
    condition     = length(output.instance_ids) == 2 && startswith(output.autoscaling_group_id, "asg-")
    error_message = "Two instances by default."
  }

  assert {
    condition     = length(terraform_data.autoscaling_group.input.target_group_ids) == 0 && terraform_data.autoscaling_group.input.health_check_type == "EC2"
    error_message = "No target group by default."
  }

  assert {
    condition     = terraform_data.launch_template.input.image == "sandbox-image-2026.11"
    error_message = "The default image is sandbox-image-2026.11."
  }
}

run "apply_behind_load_balancer" {
  command = apply

  variables {
    instance_type    = "m6i.large"
    min_size         = 3
    desired_capacity = 4
    max_size         = 12
    target_group_id  = "tg-12345678"
  }

  assert {
    condition     = length(output.instance_ids) == 4 && length(distinct(output.instance_ids)) == 4
    error_message = "desired_capacity distinct instance ids expected."
  }

  assert {
    condition     = join(",", [for i in terraform_data.instance : i.output.subnet_id]) == "subnet-aaaa1111,subnet-bbbb2222,subnet-aaaa1111,subnet-bbbb2222"
    error_message = "Instances must be spread over the subnets."
  }

  assert {
    condition     = tolist(terraform_data.autoscaling_group.output.target_group_ids) == tolist(["tg-12345678"]) && terraform_data.autoscaling_group.output.health_check_type == "ELB"
    error_message = "Instances must register into the target group."
  }

  assert {
    condition     = alltrue([for r in concat([terraform_data.launch_template, terraform_data.autoscaling_group], terraform_data.instance) : r.output.tags == var.tags])
    error_message = "Every resource must carry the tags."
  }

  assert {
    condition     = terraform_data.autoscaling_group.output.kind == "autoscaling_group" && terraform_data.instance[0].output.kind == "instance"
    error_message = "Resources must name the kind they stand for."
  }
}

run "scale_to_zero" {
  command = plan

  variables {
    min_size         = 0
    desired_capacity = 0
    max_size         = 0
  }

  assert {
    condition     = length(output.instance_ids) == 0 && length(terraform_data.instance) == 0
    error_message = "Zero instances expected."
  }
}
