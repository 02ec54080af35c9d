locals {
  # Fixed position of each tier in the address space: adding or removing a tier never renumbers the others.
  tier_offsets = { public = 0, private = 8, data = 16 }

  zones = [for i in range(var.zone_count) : "sandbox-1${substr("abc", i, 1)}"]

  network_id = "net-${substr(sha1("${var.name}/${var.cidr_block}"), 0, 8)}"

  subnets = merge([
    for tier in var.subnet_tiers : {
      for i in range(var.subnets_per_tier) : "${tier}-${i}" => {
        tier       = tier
        index      = i
        zone       = local.zones[i % var.zone_count]
        cidr_block = cidrsubnet(var.cidr_block, 5, local.tier_offsets[tier] + i)
        id         = "subnet-${substr(sha1("${local.network_id}/${tier}/${i}"), 0, 8)}"
      }
    }
  ]...)

  subnet_ids = {
    for tier in var.subnet_tiers : tier => [
      for i in range(var.subnets_per_tier) : local.subnets["${tier}-${i}"].id
    ]
  }

  nat_zones = var.enable_nat_gateway && contains(var.subnet_tiers, "public") ? local.zones : []

  flow_log_id = var.enable_flow_logs ? "fl-${substr(sha1("${local.network_id}/flow-logs"), 0, 8)}" : null
}

resource "terraform_data" "network" {
  input = {
    kind         = "network"
    id           = local.network_id
    name         = var.name
    network_type = var.network_type
    cidr_block   = var.cidr_block
    zones        = local.zones
    tags         = var.tags
  }

  # Changing the address space of a VPC / VNet replaces it.
  triggers_replace = {
    cidr_block = var.cidr_block
  }
}

resource "terraform_data" "subnet" {
  for_each = local.subnets

  input = {
    kind       = "subnet"
    id         = each.value.id
    name       = "${var.name}-${each.key}"
    network_id = terraform_data.network.input.id
    tier       = each.value.tier
    zone       = each.value.zone
    cidr_block = each.value.cidr_block
    public_ip  = each.value.tier == "public" && var.network_type == "public"
    tags       = var.tags
  }

  triggers_replace = {
    cidr_block = each.value.cidr_block
    zone       = each.value.zone
  }
}

resource "terraform_data" "nat_gateway" {
  for_each = toset(local.nat_zones)

  input = {
    kind      = "nat_gateway"
    id        = "nat-${substr(sha1("${local.network_id}/${each.key}"), 0, 8)}"
    name      = "${var.name}-nat-${each.key}"
    zone      = each.key
    subnet_id = local.subnet_ids["public"][index(local.zones, each.key) % var.subnets_per_tier]
    tags      = var.tags
  }
}

resource "terraform_data" "flow_log" {
  count = var.enable_flow_logs ? 1 : 0

  input = {
    kind       = "flow_log"
    id         = local.flow_log_id
    name       = "${var.name}-flow-logs"
    network_id = terraform_data.network.input.id
    traffic    = "ALL"
    tags       = var.tags
  }
}
