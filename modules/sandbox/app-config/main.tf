locals {
  parameter_path = "/${var.environment}/${var.name}/"
  config_version = substr(sha1(jsonencode(var.settings)), 0, 12)
}

resource "terraform_data" "config_parameter" {
  for_each = var.settings

  input = {
    kind  = "config_parameter"
    name  = "${local.parameter_path}${each.key}"
    type  = "String"
    value = each.value
    tags  = var.tags
  }
}

resource "terraform_data" "secret_reference" {
  for_each = var.secret_refs

  input = {
    kind      = "config_parameter"
    name      = "${local.parameter_path}${each.key}"
    type      = "SecretReference"
    reference = each.value
    tags      = var.tags
  }
}

resource "terraform_data" "config_version" {
  input = {
    kind           = "config_parameter"
    name           = "${local.parameter_path}CONFIG_VERSION"
    version        = local.config_version
    parameter_path = local.parameter_path
    tags           = var.tags
  }
}
