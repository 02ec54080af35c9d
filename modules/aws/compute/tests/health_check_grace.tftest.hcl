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

# Added in v1.1.0: the health_check_grace_seconds input.
variables {
  name          = "orders-api"
  instance_type = "t3.small"
  subnet_ids    = ["subnet-aaaa1111"]
  tags          = { "managed-by" = "gitops-toolkit" }
}

run "default_grace_period" {
  command = plan

  assert {
    condition     = aws_autoscaling_group.this.health_check_grace_period == 300
    error_message = "The default grace period is 300 s."
  }
}

run "custom_grace_period" {
  command = apply

  variables {
    health_check_grace_seconds = 120
  }

  assert {
    condition     = aws_autoscaling_group.this.health_check_grace_period == 120
    error_message = "The grace period must reach the autoscaling group."
  }
}

run "rejects_grace_period_out_of_range" {
  command = plan

  variables {
    health_check_grace_seconds = 3601
  }

  expect_failures = [var.health_check_grace_seconds]
}
