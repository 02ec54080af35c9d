locals {
  engine_major = split(".", var.engine_version)[0]
  port         = var.engine == "postgres" ? 5432 : 3306

  db_hash  = substr(sha1("${var.name}/${var.engine}"), 0, 8)
  db_id    = "db-${local.db_hash}"
  endpoint = "${var.name}.${local.db_hash}.${var.engine}.db.sandbox.test"
}

resource "terraform_data" "subnet_group" {
  input = {
    kind       = "db_subnet_group"
    id         = "dbsg-${substr(sha1("${var.name}/subnet-group"), 0, 8)}"
    name       = "${var.name}-subnets"
    subnet_ids = var.subnet_ids
    tags       = var.tags
  }
}

resource "terraform_data" "db_instance" {
  input = {
    kind                  = "db_instance"
    id                    = local.db_id
    name                  = var.name
    endpoint              = local.endpoint
    port                  = local.port
    engine                = var.engine
    engine_version        = var.engine_version
    instance_class        = var.instance_class
    allocated_storage_gb  = var.allocated_storage_gb
    multi_az              = var.multi_az
    backup_retention_days = var.backup_retention_days
    deletion_protection   = var.deletion_protection
    publicly_accessible   = var.publicly_accessible
    storage_encrypted     = var.storage_encrypted
    performance_insights  = var.performance_insights
    subnet_group_id       = terraform_data.subnet_group.input.id
    tags                  = var.tags
  }

  # What the real cloud cannot change in place: the engine, its major version and storage encryption.
  triggers_replace = {
    engine            = var.engine
    engine_major      = local.engine_major
    storage_encrypted = var.storage_encrypted
  }
}

check "multi_az_needs_two_subnets" {
  assert {
    condition     = !var.multi_az || length(var.subnet_ids) >= 2
    error_message = "multi_az needs subnets in at least two zones: give two or more subnet_ids."
  }
}

check "public_database_without_backups" {
  assert {
    condition     = !(var.publicly_accessible && var.backup_retention_days == 0)
    error_message = "A publicly accessible database without backups is risky."
  }
}
