locals {
  parameter_path = "/${var.environment}/${var.name}/"
  config_version = substr(sha1(jsonencode(var.settings)), 0, 12)
}

# Values come from the settings only, never from the tags.
resource "aws_ssm_parameter" "setting" {
  for_each = var.settings

  name           = "${local.parameter_path}${each.key}"
  type           = "String"
  insecure_value = each.value
  tier           = "Standard"

  tags = var.tags
}

resource "aws_ssm_parameter" "secret_reference" {
  for_each = var.secret_refs

  name        = "${local.parameter_path}${each.key}"
  description = "Secret reference: resolve it in the secret store before use."
  type        = "SecureString"
  value       = each.value
  tier        = "Standard"

  tags = var.tags
}

resource "aws_ssm_parameter" "config_version" {
  name           = "${local.parameter_path}CONFIG_VERSION"
  description    = "First 12 hex digits of sha1(jsonencode(settings))."
  type           = "String"
  insecure_value = local.config_version
  tier           = "Standard"

  tags = var.tags
}
