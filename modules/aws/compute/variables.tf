variable "name" {
  description = "Name of the instance group; a lowercase DNS label, used in every resource name."
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

variable "instance_type" {
  description = "EC2 instance type, e.g. \"t3.small\", \"m6i.large\"."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9]*([._][A-Za-z0-9]+)+$", var.instance_type))
    error_message = "The instance_type must look like \"m6i.large\" or \"Standard_D2s_v5\"."
  }
}

variable "min_size" {
  description = "Minimum number of instances, 0 to 100."
  type        = number
  default     = 1

  validation {
    condition     = var.min_size >= 0 && var.min_size <= 100 && floor(var.min_size) == var.min_size
    error_message = "The min_size must be a whole number from 0 to 100."
  }
}

variable "max_size" {
  description = "Maximum number of instances, 0 to 100, at least min_size."
  type        = number
  default     = 3

  validation {
    condition     = var.max_size >= 0 && var.max_size <= 100 && floor(var.max_size) == var.max_size
    error_message = "The max_size must be a whole number from 0 to 100."
  }

  validation {
    condition     = var.max_size >= var.min_size
    error_message = "The max_size must be at least min_size."
  }
}

variable "desired_capacity" {
  description = "Number of instances to run now, between min_size and max_size."
  type        = number
  default     = 2

  validation {
    condition     = var.desired_capacity >= 0 && var.desired_capacity <= 100 && floor(var.desired_capacity) == var.desired_capacity
    error_message = "The desired_capacity must be a whole number from 0 to 100."
  }

  validation {
    condition     = var.desired_capacity >= var.min_size && var.desired_capacity <= var.max_size
    error_message = "The desired_capacity must be between min_size and max_size."
  }
}

variable "subnet_ids" {
  description = "Subnets the instances are spread over (at least one)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0 && alltrue([for s in var.subnet_ids : length(trimspace(s)) > 0])
    error_message = "At least one non-empty subnet id is required."
  }
}

variable "target_group_id" {
  description = "ARN of the target group to register the instances into (load-balancer's target_group_id); null for none."
  type        = string
  default     = null
}

variable "image" {
  description = "AMI the instances boot from: an AMI id (\"ami-...\") or an SSM public parameter (\"resolve:ssm:/aws/service/...\"), resolved at each launch. The default, Amazon Linux 2023 for x86_64, does not fit Graviton (t4g, m7g...) instance types."
  type        = string
  default     = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"

  validation {
    condition     = can(regex("^(ami-[0-9a-f]{8,17}|resolve:ssm:/[A-Za-z0-9_./-]+(:[0-9]+)?)$", var.image))
    error_message = "The image must be an AMI id (\"ami-0123456789abcdef0\") or \"resolve:ssm:<parameter>\"."
  }
}

variable "health_check_grace_seconds" {
  description = "Seconds after boot before health checks can mark an instance unhealthy, 0 to 3600 (added in v1.1.0)."
  type        = number
  default     = 300

  validation {
    condition     = var.health_check_grace_seconds >= 0 && var.health_check_grace_seconds <= 3600 && floor(var.health_check_grace_seconds) == var.health_check_grace_seconds
    error_message = "The health_check_grace_seconds must be a whole number from 0 to 3600."
  }
}
