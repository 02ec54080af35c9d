variables {
  name           = "orders-db"
  instance_class = "db.r6g.large"
  subnet_ids     = ["subnet-aaaa1111", "subnet-bbbb2222"]
  tags = {
    "managed-by"         = "gitops-toolkit"
    "gitops:environment" = "test"
  }
}

run "defaults_plan" {
  command = plan

  assert {
    condition     = output.port == 5432 && strcontains(output.endpoint, ".postgres.")
    error_message = "A postgres database listens on 5432."
  }

  assert {
    condition     = terraform_data.db_instance.input.deletion_protection && !terraform_data.db_instance.input.publicly_accessible
    error_message = "Databases are protected and private by default."
  }

  assert {
    condition     = terraform_data.db_instance.input.backup_retention_days == 7 && terraform_data.db_instance.input.allocated_storage_gb == 20
    error_message = "Default backup retention 7 days, 20 GiB."
  }
}

run "apply_mysql_multi_az" {
  command = apply

  variables {
    engine                = "mysql"
    engine_version        = "8.0.39"
    multi_az              = true
    allocated_storage_gb  = 200
    backup_retention_days = 14
  }

  assert {
    condition     = output.port == 3306 && startswith(output.db_id, "db-")
    error_message = "A mysql database listens on 3306."
  }

  assert {
    condition     = terraform_data.db_instance.output.multi_az && terraform_data.db_instance.output.allocated_storage_gb == 200
    error_message = "Attributes must reach the database."
  }

  assert {
    condition     = terraform_data.db_instance.output.tags == var.tags && terraform_data.subnet_group.output.tags == var.tags
    error_message = "Every resource must carry the tags."
  }

  assert {
    condition     = terraform_data.db_instance.output.kind == "db_instance" && terraform_data.subnet_group.output.kind == "db_subnet_group"
    error_message = "Resources must name the kind they stand for."
  }

  assert {
    condition     = terraform_data.db_instance.output.subnet_group_id == terraform_data.subnet_group.output.id
    error_message = "The database must use its subnet group."
  }
}

run "minor_upgrade_keeps_identity" {
  command = apply

  variables {
    engine                = "mysql"
    engine_version        = "8.0.40"
    multi_az              = true
    allocated_storage_gb  = 200
    backup_retention_days = 14
  }

  assert {
    condition     = output.db_id == run.apply_mysql_multi_az.db_id && output.endpoint == run.apply_mysql_multi_az.endpoint
    error_message = "A minor version upgrade keeps the database."
  }
}
