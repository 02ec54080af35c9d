# network + database + monitoring + app-config, wired as packages/data-store wires them.
module "network" {
  source = "../../../network"

  name               = "orders-data"
  tags               = var.tags
  network_type       = "isolated"
  cidr_block         = "10.80.0.0/20"
  subnet_tiers       = ["private", "data"]
  enable_nat_gateway = false
}

module "database" {
  source = "../../../database"

  name                 = "orders-db"
  tags                 = var.tags
  engine               = "postgres"
  engine_version       = "16.4"
  instance_class       = "db.t4g.medium"
  subnet_ids           = module.network.data_subnet_ids
  deletion_protection  = false
  skip_final_snapshot  = true
  performance_insights = true
}

module "monitoring" {
  source = "../../../monitoring"

  name        = "orders-db"
  tags        = var.tags
  alert_route = "email:dba-oncall@example.com"
  targets     = { database = module.database.db_id }
}

module "app_config" {
  source = "../../../app-config"

  name        = "orders-api"
  environment = "certify"
  tags        = var.tags
  settings = {
    LOG_LEVEL = "info"
    DB_HOST   = module.database.endpoint
  }
  secret_refs = { DB_PASSWORD = module.database.master_user_secret_arn }
}

output "db_endpoint" {
  value = module.database.endpoint
}

output "alarm_ids" {
  value = module.monitoring.alarm_ids
}

output "config_version" {
  value = module.app_config.config_version
}
