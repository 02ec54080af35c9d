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
    condition     = terraform_data.db_instance.output.storage_encrypted && !terraform_data.db_instance.output.performance_insights
    error_message = "Storage is encrypted and Performance Insights is off by default."
  }

  assert {
    condition     = terraform_data.db_instance.triggers_replace.storage_encrypted
    error_message = "storage_encrypted must force replacement."
  }
}

run "performance_insights_in_place" {
  command = apply

  variables {
    performance_insights = true
  }

  assert {
    condition     = terraform_data.db_instance.output.performance_insights
    error_message = "Performance Insights must reach the database."
  }
}

run "unencrypted_storage" {
  command = plan

  variables {
    storage_encrypted = false
  }

  assert {
    condition     = !terraform_data.db_instance.triggers_replace.storage_encrypted
    error_message = "storage_encrypted must reach the replacement triggers."
  }
}
