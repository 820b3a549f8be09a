output "cluster_arn" {
  description = "The ECS cluster berth's jobs run in."
  value       = aws_ecs_cluster.this.arn
}

output "jobs_log_group" {
  description = "The jobs' CloudWatch log group."
  value       = aws_cloudwatch_log_group.jobs.name
}

output "worker_config" {
  description = "The [backends.ecs] the workers run with (for a berth outside this module)."
  value       = local.worker_config
}

output "jobs_security_group_id" {
  description = "The job tasks' security group: let it reach your EFS mount targets on 2049 when efs_file_system_id is set."
  value       = aws_security_group.jobs.id
}
