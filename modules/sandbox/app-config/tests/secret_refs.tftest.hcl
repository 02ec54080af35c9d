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
    condition     = terraform_data.secret_reference["DB_PASSWORD"].output.reference == "vault:kv/orders#db_password" && terraform_data.secret_reference["DB_PASSWORD"].output.name == "/dev/orders-api/DB_PASSWORD"
    error_message = "One secret reference per entry, under the parameter path."
  }

  assert {
    condition     = terraform_data.secret_reference["DB_PASSWORD"].output.tags == var.tags
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
