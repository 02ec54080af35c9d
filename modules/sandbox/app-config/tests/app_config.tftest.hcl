variables {
  name        = "orders-api"
  environment = "dev"
  tags = {
    "managed-by"         = "gitops-toolkit"
    "gitops:environment" = "dev"
  }
}

run "empty_settings" {
  command = plan

  assert {
    condition     = output.parameter_path == "/dev/orders-api/"
    error_message = "The parameter path is /<environment>/<name>/."
  }

  assert {
    condition     = output.config_version == substr(sha1("{}"), 0, 12) && length(terraform_data.config_parameter) == 0
    error_message = "No parameter and the version of an empty map."
  }
}

run "apply_settings" {
  command = apply

  variables {
    settings = {
      LOG_LEVEL     = "info"
      FEATURE_CACHE = "true"
    }
  }

  assert {
    condition     = output.config_version == substr(sha1(jsonencode({ FEATURE_CACHE = "true", LOG_LEVEL = "info" })), 0, 12) && length(output.config_version) == 12
    error_message = "config_version is the first 12 hex digits of sha1(jsonencode(settings))."
  }

  assert {
    condition     = terraform_data.config_parameter["LOG_LEVEL"].output.name == "/dev/orders-api/LOG_LEVEL" && terraform_data.config_parameter["LOG_LEVEL"].output.value == "info"
    error_message = "One parameter per setting, under the parameter path."
  }

  assert {
    condition     = alltrue([for p in terraform_data.config_parameter : p.output.tags == var.tags && p.output.kind == "config_parameter"]) && terraform_data.config_version.output.tags == var.tags
    error_message = "Every resource must carry the tags."
  }
}

run "changed_setting_changes_version" {
  command = plan

  variables {
    settings = {
      LOG_LEVEL     = "debug"
      FEATURE_CACHE = "true"
    }
  }

  assert {
    condition     = output.config_version != run.apply_settings.config_version
    error_message = "A changed setting must change config_version."
  }
}
