# berth on AWS ECS: the cluster its jobs run in, their log group, the roles, and the berth
# server and workers as Fargate services. Checked in scripts/test with python-hcl2 (parse)
# and checkov (static checks); `terraform plan` has not been run (no terraform binary and no
# AWS account on the machines this was written on).
terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
  }
}
