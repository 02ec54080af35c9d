mock_provider "aws" {}

# Added in v1.1.0: the secret_refs input.
variables {
  name        = "orders-api"
  environment = "dev"
  tags        = { "managed-by" = "gitops-toolkit" }
}

run "apply_secret_refs" {
  command = apply

  variables {
    settings    = { LOG_LEVEL = "info" }
    secret_refs = { DB_PASSWORD = "vault:kv/orders#db_password" }
  }

  assert {
    condition     = aws_ssm_parameter.secret_reference["DB_PASSWORD"].name == "/dev/orders-api/DB_PASSWORD" && aws_ssm_parameter.secret_reference["DB_PASSWORD"].type == "SecureString"
    error_message = "One SecureString parameter per secret reference, under the parameter path."
  }

  assert {
    condition     = nonsensitive(aws_ssm_parameter.secret_reference["DB_PASSWORD"].value) == "vault:kv/orders#db_password"
    error_message = "The parameter holds the reference."
  }

  assert {
    condition     = alltrue([for k, v in var.tags : lookup(aws_ssm_parameter.secret_reference["DB_PASSWORD"].tags, k, null) == v])
    error_message = "Secret references must carry the tags."
  }

  assert {
    condition     = output.config_version == substr(sha1(jsonencode({ LOG_LEVEL = "info" })), 0, 12)
    error_message = "Secret references do not change config_version."
  }
}

run "rejects_bad_secret_ref_name" {
  command = plan

  variables {
    secret_refs = { "db-password" = "vault:kv/orders#db_password" }
  }

  expect_failures = [var.secret_refs]
}

run "rejects_name_both_setting_and_secret" {
  command = plan

  variables {
    settings    = { DB_PASSWORD = "hunter2" }
    secret_refs = { DB_PASSWORD = "vault:kv/orders#db_password" }
  }

  expect_failures = [var.secret_refs]
}
