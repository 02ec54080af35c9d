variables {
  name           = "orders-db"
  instance_class = "db.t4g.medium"
  subnet_ids     = ["subnet-aaaa1111", "subnet-bbbb2222"]
  tags           = { "managed-by" = "gitops-toolkit" }
}

run "rejects_bad_name" {
  command = plan

  variables {
    name = "orders-db-"
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

run "rejects_unknown_engine" {
  command = plan

  variables {
    engine = "oracle"
  }

  expect_failures = [var.engine]
}

run "rejects_bad_engine_version" {
  command = plan

  variables {
    engine_version = "latest"
  }

  expect_failures = [var.engine_version]
}

run "rejects_bad_instance_class" {
  command = plan

  variables {
    instance_class = "huge"
  }

  expect_failures = [var.instance_class]
}

run "rejects_small_storage" {
  command = plan

  variables {
    allocated_storage_gb = 10
  }

  expect_failures = [var.allocated_storage_gb]
}

run "rejects_long_backup_retention" {
  command = plan

  variables {
    backup_retention_days = 36
  }

  expect_failures = [var.backup_retention_days]
}

run "rejects_no_subnets" {
  command = plan

  variables {
    subnet_ids = []
  }

  expect_failures = [var.subnet_ids]
}

run "warns_multi_az_with_one_subnet" {
  command = plan

  variables {
    multi_az   = true
    subnet_ids = ["subnet-aaaa1111"]
  }

  expect_failures = [check.multi_az_needs_two_subnets]
}
