# network + load-balancer + compute, wired as packages/web-service wires them.
module "network" {
  source = "../../../network"

  name             = "orders"
  tags             = var.tags
  network_type     = "public"
  cidr_block       = "10.40.0.0/20"
  subnet_tiers     = ["public", "private"]
  enable_flow_logs = true
}

module "load_balancer" {
  source = "../../../load-balancer"

  name              = "orders-api"
  tags              = var.tags
  internal          = false
  subnet_ids        = module.network.public_subnet_ids
  listener_port     = 80
  health_check_path = "/healthz"
}

module "compute" {
  source = "../../../compute"

  name             = "orders-api"
  tags             = var.tags
  instance_type    = "t3.small"
  min_size         = 1
  desired_capacity = 2
  max_size         = 3
  image            = "ami-1e749f67" # one of moto's default AMIs (any ami- id works: moto does not validate)
  subnet_ids       = module.network.private_subnet_ids
  target_group_id  = module.load_balancer.target_group_id
}

output "endpoint" {
  value = module.load_balancer.dns_name
}

output "asg" {
  value = module.compute.autoscaling_group_id
}

output "instance_ids" {
  value = module.compute.instance_ids
}

output "flow_log_id" {
  value = module.network.flow_log_id
}
