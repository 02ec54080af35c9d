variable "name" {
  description = "Name of the network; a lowercase DNS label, used in every resource name."
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

variable "network_type" {
  description = "Network exposure: \"public\" (internet-facing), \"private\" (egress through NAT only) or \"isolated\" (no internet path at all)."
  type        = string
  default     = "private"

  validation {
    condition     = contains(["private", "public", "isolated"], var.network_type)
    error_message = "The network_type must be one of \"private\", \"public\", \"isolated\"."
  }
}

variable "cidr_block" {
  description = "IPv4 address space of the network, e.g. \"10.20.0.0/16\" (prefix length /16 to /24)."
  type        = string

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && can(regex("^[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}$", var.cidr_block))
    error_message = "The cidr_block must be an IPv4 CIDR block such as \"10.20.0.0/16\"."
  }

  validation {
    condition     = try(tonumber(split("/", var.cidr_block)[1]) >= 16 && tonumber(split("/", var.cidr_block)[1]) <= 24, false)
    error_message = "The cidr_block prefix length must be between /16 and /24 (each subnet is 5 bits longer)."
  }
}

variable "subnet_tiers" {
  description = "Subnet tiers to create, a subset of \"public\", \"private\", \"data\"."
  type        = list(string)
  default     = ["public", "private"]

  validation {
    condition     = length(var.subnet_tiers) > 0 && alltrue([for t in var.subnet_tiers : contains(["public", "private", "data"], t)])
    error_message = "The subnet_tiers must be a non-empty subset of \"public\", \"private\", \"data\"."
  }

  validation {
    condition     = length(distinct(var.subnet_tiers)) == length(var.subnet_tiers)
    error_message = "The subnet_tiers must not repeat a tier."
  }

  validation {
    condition     = !(var.network_type == "isolated" && contains(var.subnet_tiers, "public"))
    error_message = "An isolated network cannot have a \"public\" subnet tier."
  }
}

variable "subnets_per_tier" {
  description = "Number of subnets in each tier (spread over the zones), 1 to 6."
  type        = number
  default     = 2

  validation {
    condition     = var.subnets_per_tier >= 1 && var.subnets_per_tier <= 6 && floor(var.subnets_per_tier) == var.subnets_per_tier
    error_message = "The subnets_per_tier must be a whole number from 1 to 6."
  }
}

variable "zone_count" {
  description = "Number of availability zones to spread subnets over, 1 to 3."
  type        = number
  default     = 2

  validation {
    condition     = var.zone_count >= 1 && var.zone_count <= 3 && floor(var.zone_count) == var.zone_count
    error_message = "The zone_count must be a whole number from 1 to 3."
  }
}

variable "enable_nat_gateway" {
  description = "Create one NAT gateway per zone (in the public tier) for outbound traffic of private subnets."
  type        = bool
  default     = true

  validation {
    condition     = !(var.network_type == "isolated" && var.enable_nat_gateway)
    error_message = "An isolated network cannot have NAT gateways: set enable_nat_gateway = false."
  }
}

variable "enable_flow_logs" {
  description = "Capture network flow logs (added in v1.1.0)."
  type        = bool
  default     = false
}
