# Added in v1.1.0: the error_rate_percent input and the error_rate alarm.
variables {
  name        = "orders-api"
  alert_route = "slack:#orders-alerts"
  tags        = { "managed-by" = "gitops-toolkit" }
}

run "default_error_rate_alarm" {
  command = plan

  assert {
    condition     = terraform_data.alarm["error_rate"].input.threshold == 5
    error_message = "The default error rate threshold is 5 %."
  }
}

run "custom_error_rate_alarm" {
  command = apply

  variables {
    error_rate_percent = 1
  }

  assert {
    condition     = terraform_data.alarm["error_rate"].output.threshold == 1 && contains(keys(output.alarm_ids), "error_rate")
    error_message = "The error rate threshold must reach its alarm."
  }

  assert {
    condition     = terraform_data.alarm["error_rate"].output.tags == var.tags
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
