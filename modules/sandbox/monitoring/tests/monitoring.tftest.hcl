variables {
  name        = "orders-api"
  alert_route = "slack:#orders-alerts"
  tags = {
    "managed-by"         = "gitops-toolkit"
    "gitops:environment" = "test"
  }
}

run "defaults_plan" {
  command = plan

  assert {
    condition     = terraform_data.alarm["cpu_high"].input.threshold == 80 && terraform_data.alarm["latency_p99"].input.threshold == 500
    error_message = "Default thresholds are 80 % CPU and 500 ms."
  }

  assert {
    condition     = terraform_data.notification_channel.input.type == "slack" && terraform_data.notification_channel.input.target == "#orders-alerts"
    error_message = "The alert route must be split into kind and target."
  }

  assert {
    condition     = startswith(output.dashboard_url, "https://dashboards.sandbox.test/d/orders-api-")
    error_message = "The dashboard URL is derived from the name."
  }
}

run "apply_with_targets" {
  command = apply

  variables {
    alert_route                = "pagerduty:orders-api"
    cpu_high_threshold_percent = 70
    latency_p99_ms             = 300
    targets = {
      load-balancer = "lb-12345678"
      compute       = "asg-12345678"
    }
  }

  assert {
    condition     = contains(keys(output.alarm_ids), "cpu_high") && contains(keys(output.alarm_ids), "latency_p99")
    error_message = "CPU and latency alarms expected."
  }

  assert {
    condition     = terraform_data.alarm["cpu_high"].output.dimensions["compute"] == "asg-12345678"
    error_message = "Alarms must watch the targets."
  }

  assert {
    condition     = alltrue([for a in terraform_data.alarm : a.output.tags == var.tags]) && terraform_data.dashboard.output.tags == var.tags && terraform_data.notification_channel.output.tags == var.tags
    error_message = "Every resource must carry the tags."
  }

  assert {
    condition     = terraform_data.alarm["cpu_high"].output.kind == "alarm" && terraform_data.dashboard.output.kind == "dashboard"
    error_message = "Resources must name the kind they stand for."
  }

  assert {
    condition     = terraform_data.notification_channel.output.type == "pagerduty"
    error_message = "Alarms must page."
  }
}

run "email_route" {
  command = plan

  variables {
    alert_route = "email:platform-team@example.com"
  }

  assert {
    condition     = terraform_data.notification_channel.input.target == "platform-team@example.com"
    error_message = "The e-mail address is the target."
  }
}
