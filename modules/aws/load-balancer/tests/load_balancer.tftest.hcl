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
  subnet_ids = ["subnet-aaaa1111", "subnet-bbbb2222"]
  tags = {
    "managed-by"         = "gitops-toolkit"
    "gitops:environment" = "test"
  }
}

run "defaults_plan" {
  command = plan

  assert {
    condition     = aws_lb.this.load_balancer_type == "application" && aws_lb.this.internal && aws_lb.this.name == "orders-api"
    error_message = "The default is an internal application load balancer."
  }

  assert {
    condition     = aws_lb_listener.this.port == 443 && aws_lb_listener.this.protocol == "HTTP" && aws_lb_listener.this.certificate_arn == null
    error_message = "Without a certificate the listener on 443 is plain HTTP."
  }

  assert {
    condition     = aws_lb_target_group.this.health_check[0].path == "/healthz" && aws_lb_target_group.this.protocol == "HTTP" && aws_lb_target_group.this.port == 80
    error_message = "The default health check path is /healthz on HTTP targets at port 80."
  }

  assert {
    condition     = aws_lb.this.idle_timeout == 60 && !aws_lb.this.enable_deletion_protection
    error_message = "Default idle timeout 60 s, no deletion protection."
  }

  expect_failures = [check.plain_listener_on_tls_port]
}

run "internal_alb_accepts_vpc_traffic_only" {
  command = apply

  variables {
    listener_port = 80
  }

  assert {
    condition     = one(aws_security_group.this[0].ingress).cidr_blocks == tolist(["10.20.0.0/16"]) && one(aws_security_group.this[0].ingress).from_port == 80
    error_message = "An internal ALB accepts the listener port from the VPC only."
  }

  assert {
    condition     = tolist(aws_lb.this.security_groups) == tolist([aws_security_group.this[0].id]) && aws_security_group.this[0].vpc_id == "vpc-0a1b2c3d4e5f67890"
    error_message = "The ALB uses its security group in the subnets' VPC."
  }

  assert {
    condition     = output.lb_id == aws_lb.this.arn && output.target_group_id == aws_lb_target_group.this.arn && output.dns_name == aws_lb.this.dns_name
    error_message = "Outputs are the real ARNs and DNS name."
  }

  assert {
    condition     = aws_lb_listener.this.default_action[0].target_group_arn == output.target_group_id && aws_lb_listener.this.load_balancer_arn == output.lb_id
    error_message = "The listener must forward to the target group."
  }

  assert {
    condition = alltrue(flatten([
      for r in [aws_lb.this, aws_lb_listener.this, aws_lb_target_group.this, aws_security_group.this[0]] :
      [for k, v in var.tags : lookup(r.tags, k, null) == v]
    ]))
    error_message = "Every resource must carry the tags."
  }
}

run "apply_public_nlb" {
  command = apply

  variables {
    kind                 = "nlb"
    internal             = false
    idle_timeout_seconds = 350
    deletion_protection  = true
    cross_zone           = false
    health_check_path    = "/health/ready"
    certificate_arn      = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"
  }

  assert {
    condition     = aws_lb.this.load_balancer_type == "network" && !aws_lb.this.internal
    error_message = "An internet-facing network load balancer expected."
  }

  assert {
    condition     = aws_lb_listener.this.protocol == "TLS" && aws_lb_target_group.this.protocol == "TCP"
    error_message = "An NLB forwards TLS to TCP targets."
  }

  assert {
    condition     = aws_lb.this.enable_deletion_protection && !aws_lb.this.enable_cross_zone_load_balancing
    error_message = "Attributes must reach the load balancer."
  }

  assert {
    condition     = length(aws_security_group.this) == 0 && output.security_group_id == null
    error_message = "An NLB gets no security group."
  }

  assert {
    condition     = aws_lb_target_group.this.health_check[0].protocol == "HTTP" && aws_lb_target_group.this.health_check[0].path == "/health/ready"
    error_message = "NLB targets are probed over HTTP on the health check path."
  }
}

run "https_with_certificate" {
  command = plan

  variables {
    certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666"
  }

  assert {
    condition     = aws_lb_listener.this.protocol == "HTTPS" && aws_lb_listener.this.certificate_arn == var.certificate_arn
    error_message = "A certificate makes the listener HTTPS."
  }
}

run "internet_facing_alb" {
  command = plan

  variables {
    internal      = false
    listener_port = 80
  }

  assert {
    condition     = one(aws_security_group.this[0].ingress).cidr_blocks == tolist(["0.0.0.0/0"])
    error_message = "An internet-facing ALB accepts traffic from anywhere."
  }
}
