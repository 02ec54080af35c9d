mock_provider "aws" {}

variables {
  name        = "orders-api"
  environment = "dev"
  tags        = { "managed-by" = "gitops-toolkit" }
}

run "rejects_bad_name" {
  command = plan

  variables {
    name = "Orders"
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

run "rejects_bad_environment" {
  command = plan

  variables {
    environment = "Prod EU"
  }

  expect_failures = [var.environment]
}

run "rejects_lowercase_setting" {
  command = plan

  variables {
    settings = { log_level = "info" }
  }

  expect_failures = [var.settings]
}

run "rejects_setting_starting_with_digit" {
  command = plan

  variables {
    settings = { "1ST_FLAG" = "on" }
  }

  expect_failures = [var.settings]
}

run "rejects_empty_setting_value" {
  command = plan

  variables {
    settings = { LOG_LEVEL = "" }
  }

  expect_failures = [var.settings]
}
