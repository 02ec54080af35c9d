mock_provider "aws" {}

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
    condition     = output.config_version == substr(sha1("{}"), 0, 12) && length(aws_ssm_parameter.setting) == 0
    error_message = "No parameter and the version of an empty map."
  }

  assert {
    condition     = aws_ssm_parameter.config_version.name == "/dev/orders-api/CONFIG_VERSION" && aws_ssm_parameter.config_version.insecure_value == output.config_version
    error_message = "CONFIG_VERSION holds config_version."
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
    condition     = aws_ssm_parameter.setting["LOG_LEVEL"].name == "/dev/orders-api/LOG_LEVEL" && aws_ssm_parameter.setting["LOG_LEVEL"].insecure_value == "info" && aws_ssm_parameter.setting["LOG_LEVEL"].type == "String"
    error_message = "One String parameter per setting, under the parameter path."
  }

  assert {
    condition = alltrue(flatten([
      for r in concat(values(aws_ssm_parameter.setting), [aws_ssm_parameter.config_version]) :
      [for k, v in var.tags : lookup(r.tags, k, null) == v]
    ]))
    error_message = "Every parameter must carry the tags."
  }

  assert {
    condition     = length(output.parameter_arns) == 3
    error_message = "Two settings and CONFIG_VERSION."
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

run "tags_do_not_reach_values" {
  command = plan

  variables {
    settings = { LOG_LEVEL = "info" }
    tags     = { "managed-by" = "gitops-toolkit", "gitops:commit" = "another-commit" }
  }

  assert {
    condition     = aws_ssm_parameter.config_version.insecure_value == substr(sha1(jsonencode({ LOG_LEVEL = "info" })), 0, 12)
    error_message = "A per-deploy tag must not change any parameter value."
  }
}
