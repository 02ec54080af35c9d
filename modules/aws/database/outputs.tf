output "db_id" {
  description = "Identifier of the database instance (the DBInstanceIdentifier of its CloudWatch metrics)."
  value       = aws_db_instance.this.identifier
}

output "endpoint" {
  description = "Host name clients connect to."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port clients connect to (5432 for postgres, 3306 for mysql)."
  value       = aws_db_instance.this.port
}

output "db_arn" {
  description = "ARN of the database instance (AWS only)."
  value       = aws_db_instance.this.arn
}

output "master_user_secret_arn" {
  description = "ARN of the Secrets Manager secret RDS keeps the master credentials in (AWS only)."
  value       = try(aws_db_instance.this.master_user_secret[0].secret_arn, null)
}

output "security_group_id" {
  description = "Security group of the database (AWS only)."
  value       = aws_security_group.this.id
}
