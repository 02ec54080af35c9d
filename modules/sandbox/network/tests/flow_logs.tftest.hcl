# Added in v1.1.0: enable_flow_logs and the flow_log_id output.
variables {
  name       = "orders"
  cidr_block = "10.20.0.0/16"
  tags       = { "managed-by" = "gitops-toolkit" }
}

run "flow_logs_disabled_by_default" {
  command = plan

  assert {
    condition     = output.flow_log_id == null && length(terraform_data.flow_log) == 0
    error_message = "No flow log by default."
  }
}

run "flow_logs_enabled" {
  command = apply

  variables {
    enable_flow_logs = true
  }

  assert {
    condition     = startswith(output.flow_log_id, "fl-")
    error_message = "The flow log id must look like fl-xxxxxxxx."
  }

  assert {
    condition     = terraform_data.flow_log[0].output.tags == var.tags && terraform_data.flow_log[0].output.kind == "flow_log"
    error_message = "The flow log must carry the tags."
  }

  assert {
    condition     = terraform_data.flow_log[0].output.network_id == output.network_id
    error_message = "The flow log must watch the network."
  }
}
