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
  mock_resource "aws_lb" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/orders-api/0123456789abcdef"
      arn_suffix = "app/orders-api/0123456789abcdef"
      dns_name   = "orders-api-1234567890.us-east-1.elb.amazonaws.com"
    }
  }
  mock_resource "aws_lb_target_group" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orders-api-tg/0123456789abcdef"
    }
  }
}

variables {
  name       = "orders-api"
  subnet_ids = ["subnet-aaaa1111"]
  tags       = { "managed-by" = "gitops-toolkit" }

  certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"
}

run "rejects_bad_name" {
  command = plan

  variables {
    name = "-orders"
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

run "rejects_unknown_kind" {
  command = plan

  variables {
    kind = "elb-classic"
  }

  expect_failures = [var.kind]
}

run "rejects_no_subnets" {
  command = plan

  variables {
    subnet_ids = []
  }

  expect_failures = [var.subnet_ids]
}

run "rejects_idle_timeout_out_of_range" {
  command = plan

  variables {
    idle_timeout_seconds = 4001
  }

  expect_failures = [var.idle_timeout_seconds]
}

run "rejects_relative_health_check_path" {
  command = plan

  variables {
    health_check_path = "healthz"
  }

  expect_failures = [var.health_check_path]
}

run "rejects_bad_listener_port" {
  command = plan

  variables {
    listener_port = 70000
  }

  expect_failures = [var.listener_port]
}

run "rejects_azure_kind" {
  command = plan

  variables {
    kind = "app-gateway"
  }

  expect_failures = [var.kind]
}

run "rejects_name_too_long_for_aws" {
  command = plan

  variables {
    name = "orders-api-with-a-very-long-name"
  }

  expect_failures = [var.name]
}

run "rejects_bad_certificate_arn" {
  command = plan

  variables {
    certificate_arn = "my-certificate"
  }

  expect_failures = [var.certificate_arn]
}
