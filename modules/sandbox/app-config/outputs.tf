output "parameter_path" {
  description = "Path prefix of the parameters, \"/<environment>/<name>/\"."
  value       = local.parameter_path
}

output "config_version" {
  description = "First 12 hex digits of sha1(jsonencode(settings)): changes whenever a setting changes."
  value       = local.config_version
}
