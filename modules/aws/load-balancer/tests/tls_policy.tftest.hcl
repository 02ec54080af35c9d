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

# Added in v1.1.0: the tls_policy input (the listener's ssl_policy).
variables {
  name            = "orders-api"
  subnet_ids      = ["subnet-aaaa1111"]
  tags            = { "managed-by" = "gitops-toolkit" }
  certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"
}

run "default_tls_policy" {
  command = plan

  assert {
    condition     = aws_lb_listener.this.ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    error_message = "The default TLS policy is TLS 1.3 / 1.2."
  }
}

run "no_tls_policy_on_plain_http" {
  command = plan

  variables {
    certificate_arn = null
    listener_port   = 80
  }

  assert {
    condition     = output.listener_protocol == "HTTP" && aws_lb_listener.this.certificate_arn == null
    error_message = "A plain HTTP listener has no TLS policy."
  }
}

run "custom_tls_policy" {
  command = apply

  variables {
    tls_policy = "ELBSecurityPolicy-TLS13-1-3-2021-06"
  }

  assert {
    condition     = aws_lb_listener.this.ssl_policy == "ELBSecurityPolicy-TLS13-1-3-2021-06"
    error_message = "The TLS policy must reach the listener."
  }
}

run "rejects_bad_tls_policy" {
  command = plan

  variables {
    tls_policy = "TLS 1.0 please"
  }

  expect_failures = [var.tls_policy]
}
