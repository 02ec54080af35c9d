data "aws_availability_zones" "available" {
  state = "available"
}

locals {
  # Fixed position of each tier in the address space: adding or removing a tier never renumbers the others.
  tier_offsets = { public = 0, private = 8, data = 16 }

  zones = slice(data.aws_availability_zones.available.names, 0, var.zone_count)

  subnets = merge([
    for tier in var.subnet_tiers : {
      for i in range(var.subnets_per_tier) : "${tier}-${i}" => {
        tier       = tier
        index      = i
        zone       = local.zones[i % var.zone_count]
        cidr_block = cidrsubnet(var.cidr_block, 5, local.tier_offsets[tier] + i)
      }
    }
  ]...)

  subnet_ids = {
    for tier in var.subnet_tiers : tier => [
      for i in range(var.subnets_per_tier) : aws_subnet.this["${tier}-${i}"].id
    ]
  }

  has_public_tier = contains(var.subnet_tiers, "public")

  nat_zones = var.enable_nat_gateway && local.has_public_tier ? local.zones : []

  # An internet gateway serves public networks and the NAT gateways of private ones; isolated networks have none.
  create_internet_gateway = local.has_public_tier && (var.network_type == "public" || length(local.nat_zones) > 0)

  # Private subnets route through the NAT gateway of their own zone: one route table per zone in use.
  private_zones = contains(var.subnet_tiers, "private") ? distinct([for i in range(var.subnets_per_tier) : local.zones[i % var.zone_count]]) : []
}

resource "aws_vpc" "this" {
  cidr_block           = var.cidr_block
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge(var.tags, { Name = var.name })
}

resource "aws_subnet" "this" {
  for_each = local.subnets

  vpc_id                  = aws_vpc.this.id
  cidr_block              = each.value.cidr_block
  availability_zone       = each.value.zone
  map_public_ip_on_launch = each.value.tier == "public" && var.network_type == "public"

  tags = merge(var.tags, { Name = "${var.name}-${each.key}", Tier = each.value.tier })
}

resource "aws_internet_gateway" "this" {
  count = local.create_internet_gateway ? 1 : 0

  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = var.name })
}

resource "aws_eip" "nat" {
  for_each = toset(local.nat_zones)

  domain = "vpc"

  tags = merge(var.tags, { Name = "${var.name}-nat-${each.key}" })

  depends_on = [aws_internet_gateway.this]
}

resource "aws_nat_gateway" "this" {
  for_each = toset(local.nat_zones)

  allocation_id = aws_eip.nat[each.key].id
  subnet_id     = aws_subnet.this["public-${index(local.zones, each.key) % var.subnets_per_tier}"].id

  tags = merge(var.tags, { Name = "${var.name}-nat-${each.key}" })

  depends_on = [aws_internet_gateway.this]
}

# --- routing -------------------------------------------------------------------------------------------

resource "aws_route_table" "public" {
  count = local.has_public_tier ? 1 : 0

  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "public_internet" {
  count = local.create_internet_gateway ? 1 : 0

  route_table_id         = aws_route_table.public[0].id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this[0].id
}

resource "aws_route_table" "private" {
  for_each = toset(local.private_zones)

  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-private-${each.key}" })
}

resource "aws_route" "private_nat" {
  for_each = toset(length(local.nat_zones) > 0 ? local.private_zones : [])

  route_table_id         = aws_route_table.private[each.key].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[each.key].id
}

# The data tier has no route out of the network.
resource "aws_route_table" "data" {
  count = contains(var.subnet_tiers, "data") ? 1 : 0

  vpc_id = aws_vpc.this.id

  tags = merge(var.tags, { Name = "${var.name}-data" })
}

resource "aws_route_table_association" "this" {
  for_each = local.subnets

  subnet_id = aws_subnet.this[each.key].id
  route_table_id = (
    each.value.tier == "public" ? aws_route_table.public[0].id :
    each.value.tier == "private" ? aws_route_table.private[each.value.zone].id :
    aws_route_table.data[0].id
  )
}

# --- flow logs (v1.1.0) --------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  name              = "/vpc/${var.name}/flow-logs"
  retention_in_days = 30

  tags = var.tags
}

resource "aws_iam_role" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  # IAM role names are limited to 64 characters; the prefix keeps any valid network name within it.
  name_prefix = "${substr(var.name, 0, 27)}-flow-logs-"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "vpc-flow-logs.amazonaws.com" }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  name = "write-flow-logs"
  role = aws_iam_role.flow_logs[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams"]
      Resource = "${aws_cloudwatch_log_group.flow_logs[0].arn}:*"
    }]
  })
}

resource "aws_flow_log" "this" {
  count = var.enable_flow_logs ? 1 : 0

  vpc_id               = aws_vpc.this.id
  traffic_type         = "ALL"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow_logs[0].arn
  iam_role_arn         = aws_iam_role.flow_logs[0].arn

  tags = merge(var.tags, { Name = "${var.name}-flow-logs" })
}
