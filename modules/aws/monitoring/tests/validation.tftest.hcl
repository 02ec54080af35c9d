mock_provider "aws" {
  mock_data "aws_region" {
    defaults = {
      name = "us-east-1"
    }
  }
  mock_resource "aws_sns_topic" {
    defaults = {
      arn = "arn:aws:sns:us-east-1:123456789012:orders-api-alerts"
    }
  }
}

variables {
  name        = "orders-api"
  alert_route = "slack:#orders-alerts"
  tags        = { "managed-by" = "gitops-toolkit" }
}

run "rejects_bad_name" {
  command = plan

  variables {
    name = "1orders"
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

run "rejects_cpu_threshold_out_of_range" {
  command = plan

  variables {
    cpu_high_threshold_percent = 101
  }

  expect_failures = [var.cpu_high_threshold_percent]
}

run "rejects_non_positive_latency" {
  command = plan

  variables {
    latency_p99_ms = 0
  }

  expect_failures = [var.latency_p99_ms]
}

run "rejects_unknown_route_kind" {
  command = plan

  variables {
    alert_route = "teams:#orders"
  }

  expect_failures = [var.alert_route]
}

run "rejects_route_without_target" {
  command = plan

  variables {
    alert_route = "pagerduty:"
  }

  expect_failures = [var.alert_route]
}

run "rejects_slack_route_without_channel" {
  command = plan

  variables {
    alert_route = "slack:orders"
  }

  expect_failures = [var.alert_route]
}

run "rejects_bad_target_label" {
  command = plan

  variables {
    targets = { "Load Balancer" = "lb-12345678" }
  }

  expect_failures = [var.targets]
}
