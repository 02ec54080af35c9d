mock_provider "aws" {
  mock_data "aws_subnet" {
    defaults = {
      vpc_id = "vpc-0a1b2c3d4e5f67890"
    }
  }
  mock_data "aws_vpc" {
    defaults = {
      cidr_block = "10.20.0.0/16"
    }
  }
  mock_resource "aws_db_instance" {
    defaults = {
      address = "orders-db.c0ffee123456.us-east-1.rds.amazonaws.com"
      arn     = "arn:aws:rds:us-east-1:123456789012:db:orders-db"
      master_user_secret = [{
        kms_key_id    = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-1111-2222-3333-444455556666"
        secret_arn    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-0a1b2c3d-AbCdEf"
        secret_status = "active"
      }]
    }
  }
}

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
    condition     = output.port == 5432 && aws_db_instance.this.engine == "postgres" && aws_db_instance.this.engine_version == "16.4"
    error_message = "A postgres 16.4 database listens on 5432."
  }

  assert {
    condition     = aws_db_instance.this.deletion_protection && !aws_db_instance.this.publicly_accessible
    error_message = "Databases are protected and private by default."
  }

  assert {
    condition     = aws_db_instance.this.backup_retention_period == 7 && aws_db_instance.this.allocated_storage == 20
    error_message = "Default backup retention 7 days, 20 GiB."
  }

  assert {
    condition     = aws_db_instance.this.manage_master_user_password && aws_db_instance.this.password == null
    error_message = "RDS manages the master password in Secrets Manager; no password in the configuration."
  }

  assert {
    condition     = !aws_db_instance.this.skip_final_snapshot && aws_db_instance.this.final_snapshot_identifier == "orders-db-final"
    error_message = "Destroying the database takes a final snapshot by default."
  }

  assert {
    condition     = aws_db_instance.this.identifier == "orders-db" && aws_db_subnet_group.this.name == "orders-db-subnets"
    error_message = "Identifiers derive from the name only."
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
    condition     = output.port == 3306 && output.db_id == "orders-db" && output.endpoint == aws_db_instance.this.address
    error_message = "A mysql database listens on 3306."
  }

  assert {
    condition     = aws_db_instance.this.multi_az && aws_db_instance.this.allocated_storage == 200 && aws_db_instance.this.backup_retention_period == 14
    error_message = "Attributes must reach the database."
  }

  assert {
    condition = alltrue(flatten([
      for r in [aws_db_instance.this, aws_db_subnet_group.this, aws_security_group.this] :
      [for k, v in var.tags : lookup(r.tags, k, null) == v]
    ]))
    error_message = "Every resource must carry the tags."
  }

  assert {
    condition     = aws_db_instance.this.db_subnet_group_name == aws_db_subnet_group.this.name && tolist(aws_db_instance.this.vpc_security_group_ids) == tolist([aws_security_group.this.id])
    error_message = "The database must use its subnet group and security group."
  }

  assert {
    condition     = one(aws_security_group.this.ingress).from_port == 3306 && one(aws_security_group.this.ingress).cidr_blocks == tolist(["10.20.0.0/16"])
    error_message = "Clients in the VPC reach the database port."
  }

  assert {
    condition     = startswith(output.master_user_secret_arn, "arn:aws:secretsmanager:")
    error_message = "The secret holding the master credentials is an output (its ARN, never the password)."
  }
}

run "minor_upgrade_keeps_identity" {
  command = plan

  variables {
    engine                = "mysql"
    engine_version        = "8.0.40"
    multi_az              = true
    allocated_storage_gb  = 200
    backup_retention_days = 14
  }

  assert {
    condition     = aws_db_instance.this.identifier == run.apply_mysql_multi_az.db_id && aws_db_instance.this.engine_version == "8.0.40"
    error_message = "A minor version upgrade keeps the database."
  }
}

run "no_final_snapshot" {
  command = plan

  variables {
    skip_final_snapshot = true
  }

  assert {
    condition     = aws_db_instance.this.skip_final_snapshot && aws_db_instance.this.final_snapshot_identifier == null
    error_message = "skip_final_snapshot must reach the database."
  }
}
