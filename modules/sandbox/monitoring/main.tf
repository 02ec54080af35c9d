locals {
  route_kind   = split(":", var.alert_route)[0]
  route_target = trimprefix(var.alert_route, "${local.route_kind}:")

  alarms = {
    cpu_high = {
      metric    = "cpu_utilization"
      statistic = "Average"
      threshold = var.cpu_high_threshold_percent
    }
    latency_p99 = {
      metric    = "latency_ms"
      statistic = "p99"
      threshold = var.latency_p99_ms
    }
    error_rate = {
      metric    = "error_rate_percent"
      statistic = "Average"
      threshold = var.error_rate_percent
    }
  }

  alarm_ids = { for k, _ in local.alarms : k => "alarm-${substr(sha1("${var.name}/${k}"), 0, 8)}" }

  dashboard_url = "https://dashboards.sandbox.test/d/${var.name}-${substr(sha1("${var.name}/dashboard"), 0, 8)}"
}

resource "terraform_data" "notification_channel" {
  input = {
    kind   = "notification_channel"
    id     = "nc-${substr(sha1(var.alert_route), 0, 8)}"
    name   = "${var.name}-alerts"
    type   = local.route_kind
    target = local.route_target
    tags   = var.tags
  }
}

resource "terraform_data" "alarm" {
  for_each = local.alarms

  input = {
    kind       = "alarm"
    id         = local.alarm_ids[each.key]
    name       = "${var.name}-${replace(each.key, "_", "-")}"
    metric     = each.value.metric
    statistic  = each.value.statistic
    threshold  = each.value.threshold
    dimensions = var.targets
    actions    = [terraform_data.notification_channel.input.id]
    tags       = var.tags
  }
}

resource "terraform_data" "dashboard" {
  input = {
    kind    = "dashboard"
    id      = "dash-${substr(sha1("${var.name}/dashboard"), 0, 8)}"
    name    = var.name
    url     = local.dashboard_url
    widgets = concat(sort(keys(local.alarms)), sort(keys(var.targets)))
    tags    = var.tags
  }
}
