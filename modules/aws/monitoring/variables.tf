variable "name" {
  description = "Name of the monitored service; a lowercase DNS label, used in every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", var.name))
    error_message = "The name must be a lowercase DNS label: ^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$."
  }
}

variable "tags" {
  description = "Tags applied to every resource (set by the GitOps toolkit)."
  type        = map(string)

  validation {
    condition     = length(var.tags) > 0
    error_message = "At least one tag is required."
  }
}

variable "cpu_high_threshold_percent" {
  description = "Alarm when average CPU use exceeds this percentage, 1 to 100."
  type        = number
  default     = 80

  validation {
    condition     = var.cpu_high_threshold_percent >= 1 && var.cpu_high_threshold_percent <= 100
    error_message = "The cpu_high_threshold_percent must be from 1 to 100."
  }
}

variable "latency_p99_ms" {
  description = "Alarm when the 99th percentile latency exceeds this many milliseconds (more than 0, at most 60000)."
  type        = number
  default     = 500

  validation {
    condition     = var.latency_p99_ms > 0 && var.latency_p99_ms <= 60000
    error_message = "The latency_p99_ms must be more than 0 and at most 60000."
  }
}

variable "error_rate_percent" {
  description = "Alarm when the share of failed requests exceeds this percentage, 0 to 100 (added in v1.1.0)."
  type        = number
  default     = 5

  validation {
    condition     = var.error_rate_percent >= 0 && var.error_rate_percent <= 100
    error_message = "The error_rate_percent must be from 0 to 100."
  }
}

variable "alert_route" {
  description = "Where alarms are sent, \"<kind>:<target>\" with kind slack, pagerduty or email: \"slack:#orders-alerts\", \"pagerduty:orders-api\", \"email:team@example.com\". On AWS alarms go to an SNS topic; only an email route is subscribed here (Slack through AWS Chatbot and PagerDuty subscribe to the topic outside this module)."
  type        = string

  validation {
    condition     = can(regex("^(slack:#[a-z0-9][a-z0-9._-]*|pagerduty:[A-Za-z0-9][A-Za-z0-9._-]*|email:[^@:\\s]+@[^@:\\s]+\\.[^@:\\s]+)$", var.alert_route))
    error_message = "The alert_route must be \"slack:#<channel>\", \"pagerduty:<service>\" or \"email:<address>\"."
  }
}

variable "targets" {
  description = "Things to watch: a label -> the id or ARN of the resource. Labels read on AWS: \"compute\" (autoscaling group name), \"database\" (DB instance identifier), \"load-balancer\" (ALB ARN or ARN suffix); other labels are ignored."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.targets : can(regex("^[a-z][a-z0-9_-]*$", k)) && length(trimspace(v)) > 0])
    error_message = "The targets keys must be lowercase labels and the values non-empty ids."
  }
}
