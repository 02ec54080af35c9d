locals {
  lb_hash         = substr(sha1("${var.name}/${var.kind}/${var.internal}"), 0, 8)
  lb_id           = "lb-${local.lb_hash}"
  dns_name        = "${var.name}-${local.lb_hash}.${var.internal ? "internal." : ""}lb.sandbox.test"
  target_group_id = "tg-${substr(sha1("${local.lb_id}/targets"), 0, 8)}"

  # Layer-4 kinds forward TCP/TLS; layer-7 kinds terminate HTTPS.
  layer7   = contains(["alb", "app-gateway"], var.kind)
  protocol = local.layer7 ? (var.listener_port == 80 ? "HTTP" : "HTTPS") : (var.listener_port == 80 ? "TCP" : "TLS")
}

resource "terraform_data" "load_balancer" {
  input = {
    kind                 = "load_balancer"
    lb_kind              = var.kind
    id                   = local.lb_id
    name                 = var.name
    dns_name             = local.dns_name
    internal             = var.internal
    subnet_ids           = var.subnet_ids
    idle_timeout_seconds = var.idle_timeout_seconds
    deletion_protection  = var.deletion_protection
    cross_zone           = var.cross_zone
    tags                 = var.tags
  }

  # The kind and the scheme (internal or internet-facing) cannot change in place.
  triggers_replace = {
    kind     = var.kind
    internal = var.internal
  }
}

resource "terraform_data" "target_group" {
  input = {
    kind              = "target_group"
    id                = local.target_group_id
    name              = "${var.name}-tg"
    protocol          = local.layer7 ? "HTTP" : "TCP"
    health_check_path = var.health_check_path
    tags              = var.tags
  }
}

resource "terraform_data" "listener" {
  input = {
    kind            = "listener"
    id              = "lsn-${substr(sha1("${local.lb_id}/${var.listener_port}"), 0, 8)}"
    name            = "${var.name}-${var.listener_port}"
    lb_id           = terraform_data.load_balancer.input.id
    port            = var.listener_port
    protocol        = local.protocol
    tls_policy      = contains(["HTTPS", "TLS"], local.protocol) ? var.tls_policy : null
    target_group_id = terraform_data.target_group.input.id
    tags            = var.tags
  }
}
