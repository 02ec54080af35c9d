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

run "rejects_one_subnet" {
  command = plan

  variables {
    subnet_ids = ["subnet-aaaa1111"]
  }

  expect_failures = [var.subnet_ids]
}

run "rejects_azure_instance_class" {
  command = plan

  variables {
    instance_class = "GP_Standard_D4ds_v4"
  }

  expect_failures = [var.instance_class]
}

run "warns_public_database_without_backups" {
  command = plan

  variables {
    publicly_accessible   = true
    backup_retention_days = 0
  }

  expect_failures = [check.public_database_without_backups]
}
