# Added in v1.1.0: the tls_policy input.
variables {
  name       = "orders-api"
  subnet_ids = ["subnet-aaaa1111"]
  tags       = { "managed-by" = "gitops-toolkit" }
}

run "default_tls_policy" {
  command = plan

  assert {
    condition     = terraform_data.listener.input.tls_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    error_message = "The default TLS policy is TLS 1.3 / 1.2."
  }
}

run "azure_tls_policy" {
  command = apply

  variables {
    kind       = "app-gateway"
    tls_policy = "AppGwSslPolicy20220101S"
  }

  assert {
    condition     = terraform_data.listener.output.tls_policy == "AppGwSslPolicy20220101S"
    error_message = "The TLS policy must reach the listener."
  }
}

run "no_tls_policy_on_plain_http" {
  command = plan

  variables {
    listener_port = 80
  }

  assert {
    condition     = terraform_data.listener.input.tls_policy == null
    error_message = "A plain HTTP listener has no TLS policy."
  }
}

run "rejects_bad_tls_policy" {
  command = plan

  variables {
    tls_policy = "TLS 1.0 please"
  }

  expect_failures = [var.tls_policy]
}
