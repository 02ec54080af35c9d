terraform {
  # Cross-variable validation needs Terraform 1.9. The root module (rendered by the toolkit)
  # configures the provider, its region and its default_tags.
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }
}
