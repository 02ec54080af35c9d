locals {
  asg_id = "asg-${substr(sha1("${var.name}/autoscaling-group"), 0, 8)}"

  instances = [
    for i in range(var.desired_capacity) : {
      id        = "i-${substr(sha1("${local.asg_id}/${var.image}/${i}"), 0, 12)}"
      subnet_id = var.subnet_ids[i % length(var.subnet_ids)]
    }
  ]
}

resource "terraform_data" "launch_template" {
  input = {
    kind          = "launch_template"
    id            = "lt-${substr(sha1("${var.name}/${var.instance_type}/${var.image}"), 0, 8)}"
    name          = "${var.name}-lt"
    instance_type = var.instance_type
    image         = var.image
    tags          = var.tags
  }
}

resource "terraform_data" "autoscaling_group" {
  input = {
    kind                       = "autoscaling_group"
    id                         = local.asg_id
    name                       = var.name
    launch_template_id         = terraform_data.launch_template.input.id
    min_size                   = var.min_size
    max_size                   = var.max_size
    desired_capacity           = var.desired_capacity
    subnet_ids                 = var.subnet_ids
    target_group_ids           = var.target_group_id == null ? [] : [var.target_group_id]
    health_check_type          = var.target_group_id == null ? "EC2" : "ELB"
    health_check_grace_seconds = var.health_check_grace_seconds
    tags                       = var.tags
  }
}

resource "terraform_data" "instance" {
  count = var.desired_capacity

  input = {
    kind                 = "instance"
    id                   = local.instances[count.index].id
    name                 = "${var.name}-${count.index}"
    autoscaling_group_id = terraform_data.autoscaling_group.input.id
    instance_type        = var.instance_type
    image                = var.image
    subnet_id            = local.instances[count.index].subnet_id
    tags                 = var.tags
  }

  # A new image or instance type means new instances (rolling replacement).
  triggers_replace = {
    instance_type = var.instance_type
    image         = var.image
  }
}
