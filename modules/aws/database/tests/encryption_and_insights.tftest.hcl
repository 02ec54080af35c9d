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

# Added in v1.1.0: storage_encrypted (forces replacement) and performance_insights.
variables {
  name           = "orders-db"
  instance_class = "db.r6g.large"
  subnet_ids     = ["subnet-aaaa1111", "subnet-bbbb2222"]
  tags           = { "managed-by" = "gitops-toolkit" }
}

run "encrypted_by_default" {
  command = apply

  assert {
    condition     = aws_db_instance.this.storage_encrypted && !aws_db_instance.this.performance_insights_enabled
    error_message = "Storage is encrypted and Performance Insights is off by default."
  }
}

run "performance_insights_in_place" {
  command = apply

  variables {
    performance_insights = true
  }

  assert {
    condition     = aws_db_instance.this.performance_insights_enabled && aws_db_instance.this.performance_insights_retention_period == 7
    error_message = "Performance Insights (7 days) must reach the database."
  }

  assert {
    condition     = aws_db_instance.this.arn == run.encrypted_by_default.db_arn
    error_message = "Enabling Performance Insights keeps the database."
  }
}

run "unencrypted_storage" {
  command = plan

  variables {
    storage_encrypted = false
  }

  assert {
    condition     = !aws_db_instance.this.storage_encrypted
    error_message = "storage_encrypted must reach the database."
  }
}
