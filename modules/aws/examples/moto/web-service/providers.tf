# Provider for moto (https://github.com/getmoto/moto) on loopback: every endpoint the modules call
# points at var.endpoint. Nothing here is needed against real AWS.
variable "endpoint" {
  description = "URL of the moto server, e.g. http://127.0.0.1:5055."
  type        = string
}

variable "tags" {
  description = "The toolkit's tags, set both as provider default_tags and as the modules' tags input."
  type        = map(string)
  default = {
    "managed-by"         = "gitops-toolkit"
    "gitops:commit"      = "0123456789abcdef0123456789abcdef01234567"
    "gitops:build"       = "jenkins-platform-live-42"
    "gitops:deployment"  = "orders"
    "gitops:environment" = "certify"
    "gitops:package"     = "web-service@1.1.0"
    "gitops:profile"     = "internal-tooling"
  }
}

provider "aws" {
  region     = "us-east-1"
  access_key = "test"
  secret_key = "test"

  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true

  endpoints {
    autoscaling            = var.endpoint
    cloudwatch             = var.endpoint
    cloudwatchlogs         = var.endpoint
    ec2                    = var.endpoint
    elasticloadbalancingv2 = var.endpoint
    iam                    = var.endpoint
    kms                    = var.endpoint
    rds                    = var.endpoint
    secretsmanager         = var.endpoint
    sns                    = var.endpoint
    ssm                    = var.endpoint
    sts                    = var.endpoint
  }

  default_tags {
    tags = var.tags
  }
}
