data "aws_subnet" "first" {
  id = var.subnet_ids[0]
}

data "aws_vpc" "this" {
  id = data.aws_subnet.first.vpc_id
}

locals {
  layer7 = var.kind == "alb"

  # HTTPS (ALB) / TLS (NLB) needs a certificate: without one the listener is plain HTTP / TCP.
  secure   = var.certificate_arn != null
  protocol = local.layer7 ? (local.secure ? "HTTPS" : "HTTP") : (local.secure ? "TLS" : "TCP")

  # Instances listen on this port (compute opens it to the network).
  target_port = 80

  # Internal load balancers accept traffic from inside the VPC only.
  ingress_cidr_blocks = var.internal ? [data.aws_vpc.this.cidr_block] : ["0.0.0.0/0"]
}

resource "aws_security_group" "this" {
  count = local.layer7 ? 1 : 0

  name        = "${var.name}-lb"
  description = "Load balancer ${var.name}"
  vpc_id      = data.aws_subnet.first.vpc_id

  ingress {
    description = "Listener"
    from_port   = var.listener_port
    to_port     = var.listener_port
    protocol    = "tcp"
    cidr_blocks = local.ingress_cidr_blocks
  }

  egress {
    description = "Targets"
    from_port   = local.target_port
    to_port     = local.target_port
    protocol    = "tcp"
    cidr_blocks = [data.aws_vpc.this.cidr_block]
  }

  tags = merge(var.tags, { Name = "${var.name}-lb" })
}

resource "aws_lb" "this" {
  name               = var.name
  load_balancer_type = local.layer7 ? "application" : "network"
  internal           = var.internal
  subnets            = var.subnet_ids
  security_groups    = local.layer7 ? [aws_security_group.this[0].id] : null

  enable_deletion_protection       = var.deletion_protection
  idle_timeout                     = local.layer7 ? var.idle_timeout_seconds : null
  enable_cross_zone_load_balancing = local.layer7 ? null : var.cross_zone
  drop_invalid_header_fields       = local.layer7 ? true : null

  tags = var.tags
}

resource "aws_lb_target_group" "this" {
  name        = "${var.name}-tg"
  vpc_id      = data.aws_subnet.first.vpc_id
  target_type = "instance"
  port        = local.target_port
  protocol    = local.layer7 ? "HTTP" : "TCP"

  health_check {
    enabled  = true
    protocol = "HTTP"
    path     = var.health_check_path
    matcher  = "200-399"
  }

  tags = var.tags
}

resource "aws_lb_listener" "this" {
  load_balancer_arn = aws_lb.this.arn
  port              = var.listener_port
  protocol          = local.protocol
  certificate_arn   = var.certificate_arn
  ssl_policy        = local.secure ? var.tls_policy : null

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  tags = var.tags
}

check "plain_listener_on_tls_port" {
  assert {
    condition     = local.secure || var.listener_port != 443
    error_message = "The listener on port 443 is plain ${local.protocol}: set certificate_arn for ${local.layer7 ? "HTTPS" : "TLS"}."
  }
}
