variable "name" {
  description = "Name of the database instance; a lowercase DNS label, used in every resource name."
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

variable "engine" {
  description = "Database engine: \"postgres\" or \"mysql\". Changing it replaces the database."
  type        = string
  default     = "postgres"

  validation {
    condition     = contains(["postgres", "mysql"], var.engine)
    error_message = "The engine must be \"postgres\" or \"mysql\"."
  }
}

variable "engine_version" {
  description = "Engine version, e.g. \"16.4\" (postgres), \"8.0.39\" (mysql). A new major version is an in-place major upgrade on AWS."
  type        = string
  default     = "16.4"

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]+){0,2}$", var.engine_version))
    error_message = "The engine_version must be a dotted version such as \"16.4\" or \"8.0.39\"."
  }
}

variable "instance_class" {
  description = "RDS instance class, e.g. \"db.t4g.medium\", \"db.r6g.large\"."
  type        = string

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.instance_class))
    error_message = "On AWS the instance_class must look like \"db.r6g.large\"."
  }
}

variable "allocated_storage_gb" {
  description = "Allocated storage in GiB, 20 to 65536."
  type        = number
  default     = 20

  validation {
    condition     = var.allocated_storage_gb >= 20 && var.allocated_storage_gb <= 65536 && floor(var.allocated_storage_gb) == var.allocated_storage_gb
    error_message = "The allocated_storage_gb must be a whole number from 20 to 65536."
  }
}

variable "multi_az" {
  description = "Run a synchronous standby in another zone."
  type        = bool
  default     = false
}

variable "backup_retention_days" {
  description = "Days automated backups are kept, 0 (disabled) to 35."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_retention_days >= 0 && var.backup_retention_days <= 35 && floor(var.backup_retention_days) == var.backup_retention_days
    error_message = "The backup_retention_days must be a whole number from 0 to 35."
  }
}

variable "deletion_protection" {
  description = "Protect the database against deletion."
  type        = bool
  default     = true
}

variable "publicly_accessible" {
  description = "Give the database a public address."
  type        = bool
  default     = false
}

variable "subnet_ids" {
  description = "Subnets of the database subnet group: at least two, in two availability zones (an RDS requirement, even without multi_az)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0 && alltrue([for s in var.subnet_ids : length(trimspace(s)) > 0])
    error_message = "At least one non-empty subnet id is required."
  }

  validation {
    condition     = length(distinct(var.subnet_ids)) >= 2
    error_message = "On AWS a DB subnet group needs at least two subnets (in two availability zones)."
  }
}

variable "storage_encrypted" {
  description = "Encrypt the storage at rest. Changing it replaces the database (added in v1.1.0)."
  type        = bool
  default     = true
}

variable "performance_insights" {
  description = "Enable Performance Insights, 7 days retention (added in v1.1.0)."
  type        = bool
  default     = false
}

variable "skip_final_snapshot" {
  description = "Delete without a final snapshot (AWS only). Otherwise destroying the database first takes the snapshot \"<name>-final\", which must not exist yet."
  type        = bool
  default     = false
}
