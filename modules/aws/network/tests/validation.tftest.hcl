mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = {
      names = ["us-east-1a", "us-east-1b", "us-east-1c"]
    }
  }
}

variables {
  name       = "orders"
  cidr_block = "10.20.0.0/16"
  tags       = { "managed-by" = "gitops-toolkit" }
}

run "rejects_bad_name" {
  command = plan

  variables {
    name = "Orders_API"
  }

  expect_failures = [var.name]
}

run "rejects_empty_tags" {
  command = plan

  variables {
    tags = {}
  }

  expect_failures = [var.tags]
}

run "rejects_bad_network_type" {
  command = plan

  variables {
    network_type = "dmz"
  }

  expect_failures = [var.network_type]
}

run "rejects_bad_cidr" {
  command = plan

  variables {
    cidr_block = "10.20.0.300/16"
  }

  expect_failures = [var.cidr_block]
}

run "rejects_too_small_cidr" {
  command = plan

  variables {
    cidr_block = "10.20.0.0/28"
  }

  expect_failures = [var.cidr_block]
}

run "rejects_unknown_tier" {
  command = plan

  variables {
    subnet_tiers = ["public", "dmz"]
  }

  expect_failures = [var.subnet_tiers]
}

run "rejects_public_tier_in_isolated_network" {
  command = plan

  variables {
    network_type       = "isolated"
    subnet_tiers       = ["public", "private"]
    enable_nat_gateway = false
  }

  expect_failures = [var.subnet_tiers]
}

run "rejects_nat_in_isolated_network" {
  command = plan

  variables {
    network_type = "isolated"
    subnet_tiers = ["private"]
  }

  expect_failures = [var.enable_nat_gateway]
}

run "rejects_too_many_subnets" {
  command = plan

  variables {
    subnets_per_tier = 7
  }

  expect_failures = [var.subnets_per_tier]
}

run "rejects_zero_zones" {
  command = plan

  variables {
    zone_count = 0
  }

  expect_failures = [var.zone_count]
}
