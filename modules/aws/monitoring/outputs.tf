output "alarm_ids" {
  description = "Alarm ARNs by alarm name (cpu_high, latency_p99, and error_rate since v1.1.0)."
  value       = { for k, a in local.alarms : k => a.arn }
}

output "dashboard_url" {
  description = "URL of the service dashboard in the CloudWatch console."
  value       = "https://${data.aws_region.current.name}.console.aws.amazon.com/cloudwatch/home?region=${data.aws_region.current.name}#dashboards/dashboard/${aws_cloudwatch_dashboard.this.dashboard_name}"
}

output "topic_arn" {
  description = "ARN of the SNS topic alarms are sent to (AWS only)."
  value       = aws_sns_topic.alerts.arn
}
