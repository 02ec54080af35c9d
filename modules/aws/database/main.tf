data "aws_subnet" "first" {
  id = var.subnet_ids[0]
}

data "aws_vpc" "this" {
  id = data.aws_subnet.first.vpc_id
}

locals {
  port = var.engine == "postgres" ? 5432 : 3306
}

resource "aws_db_subnet_group" "this" {
  name        = "${var.name}-subnets"
  description = "Subnets of database ${var.name}"
  subnet_ids  = var.subnet_ids

  tags = var.tags
}

resource "aws_security_group" "this" {
  name        = "${var.name}-db"
  description = "Database ${var.name}"
  vpc_id      = data.aws_subnet.first.vpc_id

  ingress {
    description = "Clients inside the VPC"
    from_port   = local.port
    to_port     = local.port
    protocol    = "tcp"
    cidr_blocks = [data.aws_vpc.this.cidr_block]
  }

  tags = merge(var.tags, { Name = "${var.name}-db" })
}

resource "aws_db_instance" "this" {
  identifier     = var.name
  engine         = var.engine
  engine_version = var.engine_version
  instance_class = var.instance_class
  port           = local.port

  allocated_storage = var.allocated_storage_gb
  storage_type      = "gp3"
  storage_encrypted = var.storage_encrypted

  # The master password lives in Secrets Manager, managed by RDS: it never reaches the state.
  username                    = var.engine == "postgres" ? "app_admin" : "admin"
  manage_master_user_password = true

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.this.id]
  multi_az               = var.multi_az
  publicly_accessible    = var.publicly_accessible

  backup_retention_period = var.backup_retention_days
  copy_tags_to_snapshot   = true
  deletion_protection     = var.deletion_protection

  # Versions are pinned by the toolkit's inputs: no silent minor upgrades (they would show as drift),
  # and a new major version is an in-place upgrade.
  auto_minor_version_upgrade  = false
  allow_major_version_upgrade = true

  performance_insights_enabled          = var.performance_insights
  performance_insights_retention_period = var.performance_insights ? 7 : null

  skip_final_snapshot       = var.skip_final_snapshot
  final_snapshot_identifier = var.skip_final_snapshot ? null : "${var.name}-final"

  tags = var.tags
}

check "public_database_without_backups" {
  assert {
    condition     = !(var.publicly_accessible && var.backup_retention_days == 0)
    error_message = "A publicly accessible database without backups is risky."
  }
}
