variables {
  name       = "orders-api"
  subnet_ids = ["subnet-aaaa1111"]
  tags       = { "managed-by" = "gitops-toolkit" }
}

run "rejects_bad_name" {
  command = plan

  variables {
    name = "-orders"
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

run "rejects_unknown_kind" {
  command = plan

  variables {
    kind = "elb-classic"
  }

  expect_failures = [var.kind]
}

run "rejects_no_subnets" {
  command = plan

  variables {
    subnet_ids = []
  }

  expect_failures = [var.subnet_ids]
}

run "rejects_idle_timeout_out_of_range" {
  command = plan

  variables {
    idle_timeout_seconds = 4001
  }

  expect_failures = [var.idle_timeout_seconds]
}

run "rejects_relative_health_check_path" {
  command = plan

  variables {
    health_check_path = "healthz"
  }

  expect_failures = [var.health_check_path]
}

run "rejects_bad_listener_port" {
  command = plan

  variables {
    listener_port = 70000
  }

  expect_failures = [var.listener_port]
}
