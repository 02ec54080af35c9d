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
  tags = {
    "managed-by"         = "gitops-toolkit"
    "gitops:environment" = "test"
  }
}

run "defaults_plan" {
  command = plan

  assert {
    condition     = aws_cloudwatch_metric_alarm.cpu_high.threshold == 80 && aws_cloudwatch_metric_alarm.latency_p99.threshold == 0.5
    error_message = "Default thresholds are 80 % CPU and 500 ms (0.5 s, the unit of TargetResponseTime)."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.latency_p99.extended_statistic == "p99" && aws_cloudwatch_metric_alarm.latency_p99.metric_name == "TargetResponseTime"
    error_message = "The latency alarm watches the p99 target response time."
  }

  assert {
    condition     = length(aws_sns_topic_subscription.email) == 0 && aws_sns_topic.alerts.name == "orders-api-alerts"
    error_message = "A Slack route gets a topic and no subscription."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.cpu_high.namespace == "AWS/EC2" && length(aws_cloudwatch_metric_alarm.cpu_high.dimensions) == 0
    error_message = "Without targets the CPU alarm watches every instance."
  }
}

run "apply_with_targets" {
  command = apply

  variables {
    alert_route                = "pagerduty:orders-api"
    cpu_high_threshold_percent = 70
    latency_p99_ms             = 300
    targets = {
      load-balancer = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/orders-api/0123456789abcdef"
      compute       = "orders-api"
    }
  }

  assert {
    condition     = contains(keys(output.alarm_ids), "cpu_high") && contains(keys(output.alarm_ids), "latency_p99") && output.alarm_ids["cpu_high"] == aws_cloudwatch_metric_alarm.cpu_high.arn
    error_message = "CPU and latency alarms expected, by ARN."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.cpu_high.dimensions["AutoScalingGroupName"] == "orders-api" && aws_cloudwatch_metric_alarm.cpu_high.threshold == 70
    error_message = "The CPU alarm must watch the instance group."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.latency_p99.dimensions["LoadBalancer"] == "app/orders-api/0123456789abcdef" && aws_cloudwatch_metric_alarm.latency_p99.threshold == 0.3
    error_message = "The latency alarm must watch the load balancer (ARN reduced to its suffix)."
  }

  assert {
    condition = alltrue(flatten([
      for r in [aws_sns_topic.alerts, aws_cloudwatch_metric_alarm.cpu_high, aws_cloudwatch_metric_alarm.latency_p99] :
      [for k, v in var.tags : lookup(r.tags, k, null) == v]
    ]))
    error_message = "Every taggable resource must carry the tags."
  }

  assert {
    condition     = alltrue([for a in [aws_cloudwatch_metric_alarm.cpu_high, aws_cloudwatch_metric_alarm.latency_p99] : tolist(a.alarm_actions) == tolist([aws_sns_topic.alerts.arn])])
    error_message = "Alarms must notify the topic."
  }

  assert {
    condition     = length(jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets) == length(output.alarm_ids) && strcontains(output.dashboard_url, "region=us-east-1#dashboards/dashboard/orders-api")
    error_message = "One dashboard widget per alarm; the URL points at the console."
  }
}

run "database_cpu" {
  command = plan

  variables {
    targets = { database = "arn:aws:rds:us-east-1:123456789012:db:orders-db" }
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.cpu_high.namespace == "AWS/RDS" && aws_cloudwatch_metric_alarm.cpu_high.dimensions["DBInstanceIdentifier"] == "orders-db"
    error_message = "With a database target the CPU alarm watches the database."
  }
}

run "email_route" {
  command = plan

  variables {
    alert_route = "email:platform-team@example.com"
  }

  assert {
    condition     = aws_sns_topic_subscription.email[0].endpoint == "platform-team@example.com" && aws_sns_topic_subscription.email[0].protocol == "email"
    error_message = "The e-mail address subscribes to the topic."
  }
}
