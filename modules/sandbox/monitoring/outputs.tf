output "alarm_ids" {
  description = "Alarm ids by alarm name (cpu_high, latency_p99, and error_rate since v1.1.0)."
  value       = local.alarm_ids
}

output "dashboard_url" {
  description = "URL of the service dashboard."
  value       = local.dashboard_url
}
