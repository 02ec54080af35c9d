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
  subnet_ids    = ["subnet-aaaa1111"]
  tags          = { "managed-by" = "gitops-toolkit" }
}

run "rejects_bad_name" {
  command = plan

  variables {
    name = "orders.api"
  }

  expect_failures = [var.name]
}

run "rejects_empty_tags" {
  command = plan

  variables {
    tags = {}
  }

  expect_failures = [var.tags]
}

run "rejects_bad_instance_type" {
  command = plan

  variables {
    instance_type = "large"
  }

  expect_failures = [var.instance_type]
}

run "rejects_no_subnets" {
  command = plan

  variables {
    subnet_ids = []
  }

  expect_failures = [var.subnet_ids]
}

run "rejects_size_out_of_range" {
  command = plan

  variables {
    min_size         = 1
    desired_capacity = 1
    max_size         = 101
  }

  expect_failures = [var.max_size]
}

run "rejects_max_below_min" {
  command = plan

  variables {
    min_size         = 3
    desired_capacity = 3
    max_size         = 2
  }

  expect_failures = [var.max_size]
}

run "rejects_desired_above_max" {
  command = plan

  variables {
    min_size         = 1
    desired_capacity = 5
    max_size         = 3
  }

  expect_failures = [var.desired_capacity]
}

run "rejects_desired_below_min" {
  command = plan

  variables {
    min_size         = 2
    desired_capacity = 1
    max_size         = 3
  }

  expect_failures = [var.desired_capacity]
}

run "rejects_non_ami_image" {
  command = plan

  variables {
    image = "sandbox-image-2026.11"
  }

  expect_failures = [var.image]
}

run "accepts_ssm_image" {
  command = plan

  variables {
    image = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
  }

  assert {
    condition     = endswith(aws_launch_template.this.image_id, "arm64")
    error_message = "An SSM public parameter is a valid image."
  }
}
