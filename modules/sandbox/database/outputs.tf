output "db_id" {
  description = "Id of the database instance."
  value       = local.db_id
}

output "endpoint" {
  description = "Host name clients connect to."
  value       = local.endpoint
}

output "port" {
  description = "Port clients connect to (5432 for postgres, 3306 for mysql)."
  value       = local.port
}
