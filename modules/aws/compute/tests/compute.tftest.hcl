mock_provider "aws" {
  mock_data "aws_subnet" {
    defaults = {
      vpc_id = "vpc-0a1b2c3d4e5f67890"
    }
  }
  mock_data "aws_vpc" {
    defaults = {
      cidr_block = "10.20.0.0/16"
    }
  }
  mock_data "aws_instances" {
    defaults = {
      ids = ["i-0123456789abcdef0", "i-0123456789abcdef1"]
    }
  }
  mock_resource "aws_launch_template" {
    defaults = {
      id             = "lt-0123456789abcdef0"
      latest_version = 1
    }
  }
}

variables {
  name          = "orders-api"
  instance_type = "t3.small"
  subnet_ids    = ["subnet-aaaa1111", "subnet-bbbb2222"]
  tags = {
    "managed-by"         = "gitops-toolkit"
    "gitops:environment" = "test"
    "gitops:commit"      = "0123456789abcdef0123456789abcdef01234567"
  }
}

run "defaults_plan" {
  command = plan

  assert {
    condition     = aws_autoscaling_group.this.desired_capacity == 2 && aws_autoscaling_group.this.min_size == 1 && aws_autoscaling_group.this.max_size == 3
    error_message = "Two instances (1 to 3) by default."
  }

  assert {
    condition     = length(aws_autoscaling_group.this.target_group_arns) == 0 && aws_autoscaling_group.this.health_check_type == "EC2"
    error_message = "No target group by default."
  }

  assert {
    condition     = aws_launch_template.this.image_id == "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    error_message = "The default image is the latest Amazon Linux 2023."
  }

  assert {
    condition     = aws_launch_template.this.metadata_options[0].http_tokens == "required"
    error_message = "Instances require IMDSv2."
  }

  assert {
    condition     = toset(aws_autoscaling_group.this.vpc_zone_identifier) == toset(["subnet-aaaa1111", "subnet-bbbb2222"])
    error_message = "Instances are spread over the subnets."
  }
}

run "tags_stay_out_of_the_launch_template_version" {
  command = plan

  assert {
    condition     = length(aws_launch_template.this.tag_specifications) == 0
    error_message = "No tag_specifications: a tag change there would be a new template version rolling every instance."
  }

  assert {
    condition     = alltrue([for k, v in var.tags : lookup(aws_launch_template.this.tags, k, null) == v])
    error_message = "The launch template itself carries the tags."
  }

  assert {
    condition     = alltrue([for k, v in var.tags : anytrue([for t in aws_autoscaling_group.this.tag : t.key == k && t.value == v && t.propagate_at_launch])])
    error_message = "The group carries every tag and copies it to its instances."
  }

  assert {
    condition     = anytrue([for t in aws_autoscaling_group.this.tag : t.key == "Name" && t.value == "orders-api"])
    error_message = "Instances are named after the group."
  }

  assert {
    condition     = alltrue([for k, v in var.tags : lookup(aws_security_group.this.tags, k, null) == v])
    error_message = "The security group carries the tags."
  }
}

run "apply_behind_load_balancer" {
  command = apply

  variables {
    instance_type    = "m6i.large"
    min_size         = 3
    desired_capacity = 4
    max_size         = 12
    target_group_id  = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orders-api-tg/0123456789abcdef"
    image            = "ami-0123456789abcdef0"
  }

  assert {
    condition     = aws_autoscaling_group.this.desired_capacity == 4 && aws_launch_template.this.instance_type == "m6i.large" && aws_launch_template.this.image_id == "ami-0123456789abcdef0"
    error_message = "Sizes, instance type and image must reach the group and its template."
  }

  assert {
    condition     = toset(aws_autoscaling_group.this.target_group_arns) == toset([var.target_group_id]) && aws_autoscaling_group.this.health_check_type == "ELB"
    error_message = "Instances must register into the target group."
  }

  assert {
    condition     = aws_autoscaling_group.this.launch_template[0].id == aws_launch_template.this.id && aws_autoscaling_group.this.launch_template[0].version == "1"
    error_message = "The group launches the latest template version."
  }

  assert {
    condition     = one(aws_security_group.this.ingress).cidr_blocks == tolist(["10.20.0.0/16"]) && aws_security_group.this.vpc_id == "vpc-0a1b2c3d4e5f67890"
    error_message = "The service port is open to the VPC only."
  }

  assert {
    condition     = output.autoscaling_group_id == aws_autoscaling_group.this.id && output.instance_ids == data.aws_instances.this.ids
    error_message = "Outputs are the group and its instances."
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
    condition     = aws_autoscaling_group.this.desired_capacity == 0 && aws_autoscaling_group.this.max_size == 0
    error_message = "Zero instances expected."
  }
}
