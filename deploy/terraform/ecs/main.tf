data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id
  jobs_logs    = "/${var.name}/jobs"
  metrics_logs = "/${var.name}/metrics"
  ecr_repositories = var.ecr_repository_arns != null ? var.ecr_repository_arns : ["arn:aws:ecr:${local.region}:${local.account}:repository/*"]
  # The worker's [backends.ecs], written to a file by the container's command.
  worker_config = <<-TOML
    [backends.ecs]
    cluster = "${var.name}"
    launch_type = "FARGATE"
    subnets = ${jsonencode(var.private_subnet_ids)}
    security_groups = ["${aws_security_group.jobs.id}"]
    assign_public_ip = false
    execution_role_arn = "${aws_iam_role.job_execution.arn}"
    task_role_arn = "${aws_iam_role.job.arn}"
    log_group = "${local.jobs_logs}"
    region = "${local.region}"
    helper_image = "${var.helper_image}"
    queue_depth_metric = ${var.autoscale_on_queue_depth}
    metrics_log_group = "${local.metrics_logs}"
    %{if var.efs_file_system_id != null}
    efs_file_system = "${var.efs_file_system_id}"
    %{endif}
  TOML
}

resource "aws_ecs_cluster" "this" {
  name = var.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]
}

resource "aws_cloudwatch_log_group" "jobs" {
  name              = local.jobs_logs
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

# berth server's queue depth, as embedded-metric-format events: CloudWatch makes them the
# Berth/QueueDepth metric the worker autoscaling tracks.
resource "aws_cloudwatch_log_group" "metrics" {
  name              = local.metrics_logs
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_cloudwatch_log_group" "berth" {
  name              = "/${var.name}/berth"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}
