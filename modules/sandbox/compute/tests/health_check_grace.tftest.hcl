# Added in v1.1.0: the health_check_grace_seconds input.
variables {
  name          = "orders-api"
  instance_type = "t3.small"
  subnet_ids    = ["subnet-aaaa1111"]
  tags          = { "managed-by" = "gitops-toolkit" }
}

run "default_grace_period" {
  command = plan

  assert {
    condition     = terraform_data.autoscaling_group.input.health_check_grace_seconds == 300
    error_message = "The default grace period is 300 s."
  }
}

run "custom_grace_period" {
  command = apply

  variables {
    health_check_grace_seconds = 120
  }

  assert {
    condition     = terraform_data.autoscaling_group.output.health_check_grace_seconds == 120
    error_message = "The grace period must reach the autoscaling group."
  }
}

run "rejects_grace_period_out_of_range" {
  command = plan

  variables {
    health_check_grace_seconds = 3601
  }

  expect_failures = [var.health_check_grace_seconds]
}
