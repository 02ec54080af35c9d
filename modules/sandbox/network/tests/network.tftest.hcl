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
    condition     = join(",", output.zones) == "sandbox-1a,sandbox-1b"
    error_message = "Two zones expected by default."
  }

  assert {
    condition     = length(output.public_subnet_ids) == 2 && length(output.private_subnet_ids) == 2
    error_message = "Two public and two private subnets expected by default."
  }

  assert {
    condition     = length(output.data_subnet_ids) == 0
    error_message = "No data subnets expected by default."
  }

  assert {
    condition     = terraform_data.subnet["private-1"].input.cidr_block == "10.20.72.0/21"
    error_message = "The private tier starts at the ninth /21 of the network."
  }

  assert {
    condition     = length(terraform_data.nat_gateway) == 2
    error_message = "One NAT gateway per zone expected by default."
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
    condition     = startswith(output.network_id, "net-") && length(output.network_id) == 12
    error_message = "The network id must look like net-xxxxxxxx."
  }

  assert {
    condition     = join(",", keys(output.subnet_ids)) == "data,private,public"
    error_message = "subnet_ids must have one entry per tier."
  }

  assert {
    condition     = length(output.data_subnet_ids) == 3 && length(distinct(concat(output.public_subnet_ids, output.private_subnet_ids, output.data_subnet_ids))) == 9
    error_message = "Nine distinct subnet ids expected."
  }

  assert {
    condition     = join(",", [for k in ["data-0", "data-1", "data-2"] : terraform_data.subnet[k].output.zone]) == "sandbox-1a,sandbox-1b,sandbox-1c"
    error_message = "Subnets of a tier must be spread over the zones."
  }

  assert {
    condition     = terraform_data.network.output.tags == var.tags
    error_message = "The network must carry the tags."
  }

  assert {
    condition     = alltrue([for s in terraform_data.subnet : s.output.tags == var.tags]) && alltrue([for n in terraform_data.nat_gateway : n.output.tags == var.tags])
    error_message = "Every subnet and NAT gateway must carry the tags."
  }

  assert {
    condition     = terraform_data.network.output.kind == "network" && terraform_data.subnet["public-0"].output.kind == "subnet"
    error_message = "Resources must name the kind they stand for."
  }
}

run "apply_is_deterministic" {
  command = apply

  variables {
    network_type     = "public"
    subnet_tiers     = ["public", "private", "data"]
    subnets_per_tier = 3
    zone_count       = 3
  }

  assert {
    condition     = join(",", output.public_subnet_ids) == join(",", run.apply_all_tiers.public_subnet_ids)
    error_message = "The same inputs must give the same ids."
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
    condition     = length(terraform_data.nat_gateway) == 0 && length(output.public_subnet_ids) == 0
    error_message = "An isolated network has no NAT gateway and no public subnet."
  }
}

run "no_nat_without_public_tier" {
  command = plan

  variables {
    subnet_tiers = ["private"]
  }

  assert {
    condition     = length(terraform_data.nat_gateway) == 0
    error_message = "NAT gateways live in the public tier."
  }
}
