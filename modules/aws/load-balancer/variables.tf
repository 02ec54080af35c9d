variable "name" {
  description = "Name of the load balancer; a lowercase DNS label, used in every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", var.name))
    error_message = "The name must be a lowercase DNS label: ^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$."
  }

  validation {
    condition     = length(var.name) <= 29 && !startswith(var.name, "internal-")
    error_message = "On AWS the name must be at most 29 characters (load balancer and target group names are limited to 32) and must not start with \"internal-\"."
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

variable "kind" {
  description = "Load balancer kind: \"alb\" (application) or \"nlb\" (network). The Azure kinds are rejected on AWS."
  type        = string
  default     = "alb"

  validation {
    condition     = contains(["alb", "nlb"], var.kind)
    error_message = "On AWS the kind must be \"alb\" or \"nlb\"."
  }
}

variable "internal" {
  description = "Internal (private addresses only) rather than internet-facing."
  type        = bool
  default     = true
}

variable "subnet_ids" {
  description = "Subnets the load balancer is placed in (at least one)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0 && alltrue([for s in var.subnet_ids : length(trimspace(s)) > 0])
    error_message = "At least one non-empty subnet id is required."
  }
}

variable "idle_timeout_seconds" {
  description = "Idle connection timeout in seconds, 1 to 4000 (ALB only: an NLB keeps its fixed 350 s TCP idle timeout)."
  type        = number
  default     = 60

  validation {
    condition     = var.idle_timeout_seconds >= 1 && var.idle_timeout_seconds <= 4000 && floor(var.idle_timeout_seconds) == var.idle_timeout_seconds
    error_message = "The idle_timeout_seconds must be a whole number from 1 to 4000."
  }
}

variable "deletion_protection" {
  description = "Protect the load balancer against deletion."
  type        = bool
  default     = false
}

variable "cross_zone" {
  description = "Balance across all zones rather than within each zone (NLB only: always on for an ALB)."
  type        = bool
  default     = true
}

variable "health_check_path" {
  description = "HTTP path probed on every target; must start with \"/\"."
  type        = string
  default     = "/healthz"

  validation {
    condition     = startswith(var.health_check_path, "/") && !strcontains(var.health_check_path, " ")
    error_message = "The health_check_path must start with \"/\" and contain no space."
  }
}

variable "tls_policy" {
  description = "TLS policy (ssl_policy) of an HTTPS/TLS listener, e.g. \"ELBSecurityPolicy-TLS13-1-2-2021-06\" (added in v1.1.0)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9-]{2,127}$", var.tls_policy))
    error_message = "The tls_policy must be a policy name made of letters, digits and dashes."
  }
}

variable "listener_port" {
  description = "Port of the front-end listener, 1 to 65535. The listener is HTTPS (ALB) / TLS (NLB) when certificate_arn is set, plain HTTP / TCP otherwise."
  type        = number
  default     = 443

  validation {
    condition     = var.listener_port >= 1 && var.listener_port <= 65535 && floor(var.listener_port) == var.listener_port
    error_message = "The listener_port must be a whole number from 1 to 65535."
  }
}

variable "certificate_arn" {
  description = "ACM certificate of an HTTPS (ALB) / TLS (NLB) listener; null for a plain HTTP / TCP listener (AWS only)."
  type        = string
  default     = null

  validation {
    condition     = var.certificate_arn == null || can(regex("^arn:aws[a-z-]*:(acm|iam):", var.certificate_arn))
    error_message = "The certificate_arn must be an ACM (or IAM server certificate) ARN."
  }
}
