variable "name" {
  description = "Prefix of every resource, and the ECS cluster's name."
  type        = string
  default     = "berth"
}

variable "vpc_id" {
  description = "The VPC the server, workers and jobs run in."
  type        = string
}

variable "private_subnet_ids" {
  description = "Subnets for the berth services and the job tasks (with a NAT or VPC endpoints to pull images)."
  type        = list(string)
}

variable "berth_image" {
  description = "The berth image (with `sh`), e.g. an ECR repository URL and tag."
  type        = string
}

variable "helper_image" {
  description = "The helper image of job tasks: busybox with sh, tar and base64."
  type        = string
  default     = "public.ecr.aws/docker/library/busybox:1.36"
}

variable "database_url_secret_arn" {
  description = "A Secrets Manager secret whose value is the PostgreSQL URL (postgres://...) of berth's store."
  type        = string
}

variable "database_port" {
  description = "The PostgreSQL port the services may reach."
  type        = number
  default     = 5432
}

variable "workers" {
  description = "How many `berth worker --backend ecs` tasks run (the autoscaling minimum)."
  type        = number
  default     = 2
}

variable "max_workers" {
  description = "The autoscaling maximum of workers."
  type        = number
  default     = 10
}

variable "log_retention_days" {
  description = "How long CloudWatch keeps the jobs' and berth's logs."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "A KMS key for the log groups (unset: CloudWatch's own encryption)."
  type        = string
  default     = null
}

variable "autoscale_on_queue_depth" {
  description = "Scale workers on the Berth/QueueDepth CloudWatch metric, which berth server then publishes (queue_depth_metric in the worker config)."
  type        = bool
  default     = false
}

variable "ecr_repository_arns" {
  description = "The ECR repositories job and berth images are pulled from (unset: every repository of this account and region)."
  type        = list(string)
  default     = null
}

variable "efs_file_system_id" {
  description = "An EFS file system (fs-...) for named volumes: each tenant's volume becomes an access point of it (unset: named volumes are refused). Its mount targets must accept NFS (2049) from the jobs' security group."
  type        = string
  default     = null
}
