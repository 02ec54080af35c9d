output "parameter_path" {
  description = "Path prefix of the parameters, \"/<environment>/<name>/\"."
  value       = local.parameter_path
}

output "config_version" {
  description = "First 12 hex digits of sha1(jsonencode(settings)): changes whenever a setting changes."
  value       = local.config_version
}

output "parameter_arns" {
  description = "ARNs of the parameters by name (settings, secret references and CONFIG_VERSION) (AWS only)."
  value       = merge({ for k, p in aws_ssm_parameter.setting : k => p.arn }, { for k, p in aws_ssm_parameter.secret_reference : k => p.arn }, { CONFIG_VERSION = aws_ssm_parameter.config_version.arn })
}
