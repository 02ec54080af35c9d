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
    condition     = startswith(output.lb_id, "lb-") && startswith(output.target_group_id, "tg-")
    error_message = "Ids must be prefixed lb- and tg-."
  }

  assert {
    condition     = endswith(output.dns_name, ".internal.lb.sandbox.test")
    error_message = "An internal load balancer gets an internal DNS name."
  }

  assert {
    condition     = terraform_data.listener.input.port == 443 && terraform_data.listener.input.protocol == "HTTPS"
    error_message = "The default listener is HTTPS on 443."
  }

  assert {
    condition     = terraform_data.target_group.input.health_check_path == "/healthz"
    error_message = "The default health check path is /healthz."
  }
}

run "apply_public_nlb" {
  command = apply

  variables {
    kind                 = "nlb"
    internal             = false
    idle_timeout_seconds = 350
    deletion_protection  = true
    health_check_path    = "/health/ready"
  }

  assert {
    condition     = !strcontains(output.dns_name, ".internal.")
    error_message = "An internet-facing load balancer has a public DNS name."
  }

  assert {
    condition     = terraform_data.listener.output.protocol == "TLS" && terraform_data.target_group.output.protocol == "TCP"
    error_message = "An NLB forwards TLS to TCP targets."
  }

  assert {
    condition     = terraform_data.load_balancer.output.deletion_protection && terraform_data.load_balancer.output.idle_timeout_seconds == 350
    error_message = "Attributes must reach the load balancer."
  }

  assert {
    condition     = alltrue([for r in [terraform_data.load_balancer, terraform_data.listener, terraform_data.target_group] : r.output.tags == var.tags])
    error_message = "Every resource must carry the tags."
  }

  assert {
    condition     = [terraform_data.load_balancer.output.kind, terraform_data.listener.output.kind, terraform_data.target_group.output.kind] == ["load_balancer", "listener", "target_group"]
    error_message = "Resources must name the kind they stand for."
  }

  assert {
    condition     = terraform_data.listener.output.target_group_id == output.target_group_id && terraform_data.listener.output.lb_id == output.lb_id
    error_message = "The listener must forward to the target group."
  }
}

run "plain_http_listener" {
  command = plan

  variables {
    listener_port = 80
  }

  assert {
    condition     = terraform_data.listener.input.protocol == "HTTP"
    error_message = "Port 80 is plain HTTP."
  }
}
