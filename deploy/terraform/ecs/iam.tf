locals {
  attempt_secrets = "arn:aws:secretsmanager:${local.region}:${local.account}:secret:berth/*"
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

# Pulling from ECR: both execution roles (the jobs' and berth's own) need it.
data "aws_iam_policy_document" "pull_images" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid       = "PullImages"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = local.ecr_repositories
  }
}

# What ECS itself uses to start a job's task: pull images, write its logs.
resource "aws_iam_role" "job_execution" {
  name               = "${var.name}-job-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "job_execution" {
  source_policy_documents = [data.aws_iam_policy_document.pull_images.json]
  statement {
    sid       = "WriteJobLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.jobs.arn}:*"]
  }
  statement {
    # A job's secrets: ECS reads its attempt's secret at container start.
    sid       = "ReadAttemptSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.attempt_secrets]
  }
}

resource "aws_iam_role_policy" "job_execution" {
  role   = aws_iam_role.job_execution.id
  policy = data.aws_iam_policy_document.job_execution.json
}

# The jobs' own AWS identity: nothing by default; attach what your jobs need.
resource "aws_iam_role" "job" {
  name               = "${var.name}-job"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

# The berth server and workers: run, watch and stop job tasks in this cluster, read their logs.
resource "aws_iam_role" "berth" {
  name               = "${var.name}-berth"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "berth" {
  statement {
    sid       = "RunBerthTaskDefinitions"
    actions   = ["ecs:RunTask"]
    resources = ["arn:aws:ecs:${local.region}:${local.account}:task-definition/berth-*:*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.this.arn]
    }
  }
  statement {
    sid       = "WatchStopAndTagTasks"
    actions   = ["ecs:StopTask", "ecs:DescribeTasks", "ecs:TagResource"]
    resources = ["arn:aws:ecs:${local.region}:${local.account}:task/${var.name}/*"]
  }
  statement {
    sid       = "ListTasksAndTheCluster"
    actions   = ["ecs:ListTasks", "ecs:DescribeClusters"]
    resources = [aws_ecs_cluster.this.arn, "arn:aws:ecs:${local.region}:${local.account}:container-instance/${var.name}/*"]
  }
  statement {
    # Neither action takes a resource: berth registers one definition per job shape.
    sid       = "TaskDefinitions"
    actions   = ["ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition", "ecs:DeregisterTaskDefinition"]
    resources = ["*"]
  }
  statement {
    # One secret per attempt with secrets (berth/<install>/<unit>/...), deleted after it.
    sid       = "AttemptSecrets"
    actions   = ["secretsmanager:CreateSecret", "secretsmanager:DeleteSecret", "secretsmanager:TagResource"]
    resources = [local.attempt_secrets]
  }
  statement {
    # ListSecrets takes no resource: the sweep finds secrets whose task never ran.
    sid       = "ListAttemptSecrets"
    actions   = ["secretsmanager:ListSecrets"]
    resources = ["*"]
  }
  statement {
    sid       = "PassTheJobRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.job_execution.arn, aws_iam_role.job.arn]
  }
  statement {
    sid       = "ReadJobLogs"
    actions   = ["logs:GetLogEvents"]
    resources = ["${aws_cloudwatch_log_group.jobs.arn}:*"]
  }
  statement {
    # The queue depth, as embedded-metric-format log events (Berth/QueueDepth).
    sid       = "QueueDepthMetric"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.metrics.arn}:*"]
  }
}

resource "aws_iam_role_policy" "berth" {
  role   = aws_iam_role.berth.id
  policy = data.aws_iam_policy_document.berth.json
}

# The berth services' own execution role: pull the berth image, write berth's logs, read the
# database URL secret.
resource "aws_iam_role" "berth_execution" {
  name               = "${var.name}-berth-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "berth_execution" {
  source_policy_documents = [data.aws_iam_policy_document.pull_images.json]
  statement {
    sid       = "WriteBerthLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.berth.arn}:*"]
  }
  statement {
    sid       = "ReadTheDatabaseUrl"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.database_url_secret_arn]
  }
}

resource "aws_iam_role_policy" "berth_execution" {
  role   = aws_iam_role.berth_execution.id
  policy = data.aws_iam_policy_document.berth_execution.json
}
