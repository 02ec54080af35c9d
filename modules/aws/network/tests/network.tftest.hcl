mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = {
      names = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"]
    }
  }
}

variables {
  name       = "orders"
  cidr_block = "10.20.0.0/16"
  tags = {
    "managed-by"         = "gitops-toolkit"
    "gitops:environment" = "test"
  }
}

run "defaults_plan" {
  command = plan

  assert {
    condition     = join(",", output.zones) == "us-east-1a,us-east-1b"
    error_message = "The first two available zones expected by default."
  }

  assert {
    condition     = length(output.public_subnet_ids) == 2 && length(output.private_subnet_ids) == 2 && length(output.data_subnet_ids) == 0
    error_message = "Two public and two private subnets, no data subnet expected by default."
  }

  assert {
    condition     = aws_subnet.this["private-1"].cidr_block == "10.20.72.0/21" && aws_subnet.this["private-1"].availability_zone == "us-east-1b"
    error_message = "The private tier starts at the ninth /21 of the network."
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 2 && length(aws_eip.nat) == 2 && length(aws_route.private_nat) == 2
    error_message = "One NAT gateway (with its EIP and private route) per zone expected by default."
  }

  assert {
    condition     = aws_nat_gateway.this["us-east-1b"].tags["Name"] == "orders-nat-us-east-1b"
    error_message = "NAT gateways are named after their zone."
  }

  assert {
    condition     = length(aws_internet_gateway.this) == 1 && length(aws_route.public_internet) == 1
    error_message = "NAT gateways need an internet gateway."
  }

  assert {
    condition     = !aws_subnet.this["public-0"].map_public_ip_on_launch
    error_message = "A private network gives no public address at launch."
  }
}

run "apply_all_tiers" {
  command = apply

  variables {
    network_type     = "public"
    subnet_tiers     = ["public", "private", "data"]
    subnets_per_tier = 3
    zone_count       = 3
  }

  assert {
    condition     = output.network_id == aws_vpc.this.id && aws_vpc.this.cidr_block == "10.20.0.0/16"
    error_message = "network_id is the VPC id."
  }

  assert {
    condition     = join(",", keys(output.subnet_ids)) == "data,private,public"
    error_message = "subnet_ids must have one entry per tier."
  }

  assert {
    condition     = length(output.data_subnet_ids) == 3 && length(aws_subnet.this) == 9
    error_message = "Nine subnets expected."
  }

  assert {
    condition     = join(",", [for k in ["data-0", "data-1", "data-2"] : aws_subnet.this[k].availability_zone]) == "us-east-1a,us-east-1b,us-east-1c"
    error_message = "Subnets of a tier must be spread over the zones."
  }

  assert {
    condition     = join(",", [for k in ["public-0", "private-0", "data-0"] : aws_subnet.this[k].cidr_block]) == "10.20.0.0/21,10.20.64.0/21,10.20.128.0/21"
    error_message = "Each tier sits at its fixed offset."
  }

  assert {
    condition     = aws_subnet.this["public-0"].map_public_ip_on_launch && !aws_subnet.this["private-0"].map_public_ip_on_launch
    error_message = "Only public subnets of a public network give public addresses."
  }

  assert {
    condition = alltrue(flatten([
      for r in concat([aws_vpc.this], values(aws_subnet.this), aws_internet_gateway.this, values(aws_nat_gateway.this), values(aws_eip.nat), aws_route_table.public, values(aws_route_table.private), aws_route_table.data) :
      [for k, v in var.tags : lookup(r.tags, k, null) == v]
    ]))
    error_message = "Every taggable resource must carry the tags."
  }

  assert {
    condition     = aws_route_table_association.this["private-2"].route_table_id == aws_route_table.private["us-east-1c"].id && aws_route_table_association.this["data-1"].route_table_id == aws_route_table.data[0].id
    error_message = "Private subnets use their zone's route table, data subnets the data one."
  }

  assert {
    condition     = aws_route.private_nat["us-east-1c"].nat_gateway_id == aws_nat_gateway.this["us-east-1c"].id
    error_message = "Private subnets leave through the NAT gateway of their zone."
  }
}

run "isolated_without_nat" {
  command = plan

  variables {
    network_type       = "isolated"
    subnet_tiers       = ["private", "data"]
    enable_nat_gateway = false
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 0 && length(aws_internet_gateway.this) == 0 && length(output.public_subnet_ids) == 0
    error_message = "An isolated network has no NAT gateway, no internet gateway and no public subnet."
  }

  assert {
    condition     = length(aws_route.private_nat) == 0 && length(aws_route.public_internet) == 0
    error_message = "An isolated network has no route out."
  }
}

run "private_network_without_nat" {
  command = plan

  variables {
    subnet_tiers       = ["public", "private", "data"]
    enable_nat_gateway = false
  }

  assert {
    condition     = length(aws_internet_gateway.this) == 0 && length(aws_route_table.public) == 1
    error_message = "A private network without NAT gateways needs no internet gateway."
  }
}

run "no_nat_without_public_tier" {
  command = plan

  variables {
    subnet_tiers = ["private"]
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 0 && length(aws_route_table.public) == 0
    error_message = "NAT gateways live in the public tier."
  }
}

run "fewer_subnets_than_zones" {
  command = plan

  variables {
    subnets_per_tier = 1
    zone_count       = 3
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 3 && length(aws_route_table.private) == 1
    error_message = "NAT gateways per zone; private route tables only for the zones private subnets use."
  }
}
