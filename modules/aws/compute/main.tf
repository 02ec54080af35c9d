data "aws_subnet" "first" {
  id = var.subnet_ids[0]
}

data "aws_vpc" "this" {
  id = data.aws_subnet.first.vpc_id
}

locals {
  # Port the instances serve on; the load-balancer module sends its traffic here.
  instance_port = 80

  behind_load_balancer = var.target_group_id != null

  # Tags of the group, copied to each instance it launches. Never in the launch template's
  # tag_specifications: a tag change there is a new template version, and a new version rolls every
  # instance, so a per-deploy tag (gitops:commit, gitops:build) would replace the fleet on each deploy.
  instance_tags = merge(var.tags, { Name = var.name })
}

resource "aws_security_group" "this" {
  name        = "${var.name}-instances"
  description = "Instances of ${var.name}"
  vpc_id      = data.aws_subnet.first.vpc_id

  ingress {
    description = "Service port, from inside the VPC (load balancer)"
    from_port   = local.instance_port
    to_port     = local.instance_port
    protocol    = "tcp"
    cidr_blocks = [data.aws_vpc.this.cidr_block]
  }

  egress {
    description = "Outbound"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = merge(var.tags, { Name = "${var.name}-instances" })
}

resource "aws_launch_template" "this" {
  name                   = var.name
  image_id               = var.image
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.this.id]
  update_default_version = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  monitoring {
    enabled = true
  }

  # Tags of the template itself: they do not make a new version.
  tags = var.tags

  lifecycle {
    # This module sets no tag_specifications. moto copies the template's own tags into its version data
    # and reports them there; ignoring them keeps plans against moto clean and changes nothing on AWS.
    ignore_changes = [tag_specifications]
  }
}

resource "aws_autoscaling_group" "this" {
  name                = var.name
  min_size            = var.min_size
  max_size            = var.max_size
  desired_capacity    = var.desired_capacity
  vpc_zone_identifier = var.subnet_ids

  target_group_arns         = local.behind_load_balancer ? [var.target_group_id] : []
  health_check_type         = local.behind_load_balancer ? "ELB" : "EC2"
  health_check_grace_period = var.health_check_grace_seconds

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  # A new image or instance type is a new template version: replace the instances a few at a time.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
    }
  }

  # The autoscaling group has no `tags` argument and ignores the provider's default_tags.
  dynamic "tag" {
    for_each = local.instance_tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}

# The instances the group runs after this apply (read once the group has settled).
data "aws_instances" "this" {
  instance_tags = {
    "aws:autoscaling:groupName" = aws_autoscaling_group.this.name
  }
  instance_state_names = ["pending", "running"]

  depends_on = [aws_autoscaling_group.this]
}
