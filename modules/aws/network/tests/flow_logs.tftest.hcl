# Added in v1.1.0: enable_flow_logs and the flow_log_id output.
mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = {
      names = ["us-east-1a", "us-east-1b", "us-east-1c"]
    }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:us-east-1:123456789012:log-group:/vpc/orders/flow-logs"
    }
  }
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/orders-flow-logs-20260115"
    }
  }
}

variables {
  name       = "orders"
  cidr_block = "10.20.0.0/16"
  tags       = { "managed-by" = "gitops-toolkit" }
}

run "flow_logs_disabled_by_default" {
  command = plan

  assert {
    condition     = output.flow_log_id == null && length(aws_flow_log.this) == 0
    error_message = "No flow log by default."
  }
}

run "flow_logs_enabled" {
  command = apply

  variables {
    enable_flow_logs = true
  }

  assert {
    condition     = output.flow_log_id == aws_flow_log.this[0].id
    error_message = "flow_log_id is the id of the flow log."
  }

  assert {
    condition     = aws_flow_log.this[0].vpc_id == output.network_id && aws_flow_log.this[0].traffic_type == "ALL"
    error_message = "The flow log must watch all traffic of the network."
  }

  assert {
    condition     = aws_flow_log.this[0].log_destination == aws_cloudwatch_log_group.flow_logs[0].arn && aws_flow_log.this[0].iam_role_arn == aws_iam_role.flow_logs[0].arn
    error_message = "The flow log writes to its log group with its role."
  }

  assert {
    condition     = aws_cloudwatch_log_group.flow_logs[0].name == "/vpc/orders/flow-logs"
    error_message = "The log group is named after the network."
  }

  assert {
    condition = alltrue(flatten([
      for r in [aws_flow_log.this[0], aws_cloudwatch_log_group.flow_logs[0], aws_iam_role.flow_logs[0]] :
      [for k, v in var.tags : lookup(r.tags, k, null) == v]
    ]))
    error_message = "The flow log, its log group and role must carry the tags."
  }
}

run "long_name_fits_iam_limits" {
  command = plan

  variables {
    name             = "a-very-long-network-name-that-is-still-a-valid-dns-label-abcdef"
    enable_flow_logs = true
  }

  assert {
    condition     = length(aws_iam_role.flow_logs[0].name_prefix) <= 38
    error_message = "The IAM role name prefix must stay within 38 characters."
  }
}
