terraform {
  # Sandbox modules use only Terraform's built-in `terraform_data` resource:
  # no provider is downloaded. Cross-variable validation needs Terraform 1.9.
  required_version = ">= 1.9"
}
