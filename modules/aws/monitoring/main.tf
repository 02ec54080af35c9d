data "aws_region" "current" {}

locals {
  route_kind   = split(":", var.alert_route)[0]
  route_target = trimprefix(var.alert_route, "${local.route_kind}:")

  # CloudWatch dimensions from the targets: ARNs are reduced to the names the metrics use.
  asg_name      = try(replace(var.targets["compute"], "/^arn:.*:autoScalingGroupName//", ""), null)
  db_identifier = try(replace(var.targets["database"], "/^arn:.*:db:/", ""), null)
  lb_suffix     = try(replace(var.targets["load-balancer"], "/^arn:.*:loadbalancer//", ""), null)

  # CPU of the database when there is one, else of the instance group, else of every instance.
  cpu = (
    local.db_identifier != null ? { namespace = "AWS/RDS", dimensions = { DBInstanceIdentifier = local.db_identifier } } :
    local.asg_name != null ? { namespace = "AWS/EC2", dimensions = { AutoScalingGroupName = local.asg_name } } :
    { namespace = "AWS/EC2", dimensions = {} }
  )
  lb_dimensions = local.lb_suffix != null ? { LoadBalancer = local.lb_suffix } : {}
}

resource "aws_sns_topic" "alerts" {
  name = "${var.name}-alerts"

  tags = var.tags
}

# Slack (AWS Chatbot) and PagerDuty (its CloudWatch integration URL) subscribe to the topic outside this module.
resource "aws_sns_topic_subscription" "email" {
  count = local.route_kind == "email" ? 1 : 0

  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = local.route_target
}

resource "aws_cloudwatch_metric_alarm" "cpu_high" {
  alarm_name          = "${var.name}-cpu-high"
  alarm_description   = "Average CPU above ${var.cpu_high_threshold_percent} % for 10 minutes."
  namespace           = local.cpu.namespace
  metric_name         = "CPUUtilization"
  dimensions          = local.cpu.dimensions
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.cpu_high_threshold_percent
  treat_missing_data  = "missing"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "latency_p99" {
  alarm_name          = "${var.name}-latency-p99"
  alarm_description   = "p99 target response time above ${var.latency_p99_ms} ms for 5 minutes."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  dimensions          = local.lb_dimensions
  extended_statistic  = "p99"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.latency_p99_ms / 1000
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "error_rate" {
  alarm_name          = "${var.name}-error-rate"
  alarm_description   = "More than ${var.error_rate_percent} % of requests answered 5xx for 5 minutes."
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.error_rate_percent
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]

  metric_query {
    id          = "error_rate"
    expression  = "100 * errors / MAX([errors, requests])"
    label       = "5xx share (%)"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = local.lb_dimensions
      stat        = "Sum"
      period      = 60
    }
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      dimensions  = local.lb_dimensions
      stat        = "Sum"
      period      = 60
    }
  }

  tags = var.tags
}

locals {
  alarms = {
    cpu_high    = aws_cloudwatch_metric_alarm.cpu_high
    latency_p99 = aws_cloudwatch_metric_alarm.latency_p99
    error_rate  = aws_cloudwatch_metric_alarm.error_rate
  }
}

# Dashboards carry no tags (the resource type has none).
resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      for i, k in sort(keys(local.alarms)) : {
        type   = "alarm"
        x      = (i % 3) * 8
        y      = floor(i / 3) * 6
        width  = 8
        height = 6
        properties = {
          title  = k
          alarms = [local.alarms[k].arn]
        }
      }
    ]
  })
}
