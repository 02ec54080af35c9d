variable "name" {
  description = "Name of the application; a lowercase DNS label, used in the parameter path."
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

variable "environment" {
  description = "Environment the configuration belongs to (a lowercase DNS label), e.g. \"dev\"."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", var.environment))
    error_message = "The environment must be a lowercase DNS label: ^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$."
  }
}

variable "settings" {
  description = "Plain configuration parameters, NAME -> value; names match ^[A-Z][A-Z0-9_]*$ (e.g. LOG_LEVEL)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.settings) : can(regex("^[A-Z][A-Z0-9_]*$", k))])
    error_message = "The settings keys must match ^[A-Z][A-Z0-9_]*$ (e.g. LOG_LEVEL)."
  }

  validation {
    condition     = alltrue([for v in values(var.settings) : length(v) > 0 && length(v) <= 4096])
    error_message = "On AWS every setting value must be 1 to 4096 characters (SSM standard parameters)."
  }
}

variable "secret_refs" {
  description = "References to secrets kept in a secret store, NAME -> reference such as \"vault:kv/orders#db_password\" or a Secrets Manager ARN; names match ^[A-Z][A-Z0-9_]*$. Stored as SecureString parameters (added in v1.1.0)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.secret_refs : can(regex("^[A-Z][A-Z0-9_]*$", k)) && length(trimspace(v)) > 0])
    error_message = "The secret_refs keys must match ^[A-Z][A-Z0-9_]*$ and the values must be non-empty references."
  }

  validation {
    condition     = length(setintersection(keys(var.secret_refs), keys(var.settings))) == 0
    error_message = "A name cannot be both a plain setting and a secret reference."
  }
}
