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

# Added in v1.1.0: the error_rate_percent input and the error_rate alarm.
variables {
  name        = "orders-api"
  alert_route = "slack:#orders-alerts"
  tags        = { "managed-by" = "gitops-toolkit" }
}

run "default_error_rate_alarm" {
  command = plan

  assert {
    condition     = aws_cloudwatch_metric_alarm.error_rate.threshold == 5
    error_message = "The default error rate threshold is 5 %."
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.error_rate.metric_query) == 3 && anytrue([for q in aws_cloudwatch_metric_alarm.error_rate.metric_query : q.return_data == true && q.id == "error_rate"])
    error_message = "The error rate is the 5xx count over the request count."
  }
}

run "custom_error_rate_alarm" {
  command = apply

  variables {
    error_rate_percent = 1
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.error_rate.threshold == 1 && contains(keys(output.alarm_ids), "error_rate")
    error_message = "The error rate threshold must reach its alarm."
  }

  assert {
    condition     = alltrue([for k, v in var.tags : lookup(aws_cloudwatch_metric_alarm.error_rate.tags, k, null) == v])
    error_message = "The error rate alarm must carry the tags."
  }
}

run "rejects_error_rate_out_of_range" {
  command = plan

  variables {
    error_rate_percent = 120
  }

  expect_failures = [var.error_rate_percent]
}
