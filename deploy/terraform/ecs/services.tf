# Job tasks: no inbound traffic; out to HTTPS (image pulls, AWS APIs) only.
resource "aws_security_group" "jobs" {
  #checkov:skip=CKV2_AWS_5:berth attaches it to every job task it runs (RunTask's networkConfiguration)
  name        = "${var.name}-jobs"
  description = "berth job tasks: no inbound, HTTPS out"
  vpc_id      = var.vpc_id
  egress {
    description = "HTTPS: image pulls and AWS APIs"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

# The berth server and workers: the API port inside the VPC; out to HTTPS and the database.
resource "aws_security_group" "berth" {
  name        = "${var.name}-berth"
  description = "berth server and workers"
  vpc_id      = var.vpc_id
  ingress {
    description = "berth API, from inside the VPC"
    from_port   = 8080
    to_port     = 8080
    protocol    = "tcp"
    self        = true
  }
  egress {
    description = "HTTPS: AWS APIs"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  egress {
    description = "PostgreSQL"
    from_port   = var.database_port
    to_port     = var.database_port
    protocol    = "tcp"
    cidr_blocks = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
  }
}

locals {
  # `berth <role>` with the worker config written where berth reads it.
  berth_containers = {
    for role, args in {
      server = "server --listen 0.0.0.0:8080 --backend ecs"
      worker = "worker --backend ecs"
    } :
    role => jsonencode([{
      name                   = "berth"
      image                  = var.berth_image
      essential              = true
      readonlyRootFilesystem = true
      user                   = "10001"
      entryPoint             = ["sh", "-c"]
      command                = ["printf '%s' \"$BERTH_CONFIG_TOML\" > /tmp/berth.toml && exec berth --config /tmp/berth.toml ${args}"]
      environment = [
        { name = "BERTH_CONFIG_TOML", value = local.worker_config },
        { name = "BERTH_DATA_DIR", value = "/tmp/berth" },
      ]
      secrets      = [{ name = "BERTH_STORE", valueFrom = var.database_url_secret_arn }]
      portMappings = role == "server" ? [{ containerPort = 8080, protocol = "tcp" }] : []
      mountPoints  = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
      linuxParameters = {
        initProcessEnabled = true
        capabilities       = { drop = ["ALL"] }
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.berth.name
          awslogs-region        = local.region
          awslogs-stream-prefix = role
          mode                  = "blocking"
        }
      }
    }])
  }
}

resource "aws_ecs_task_definition" "berth" {
  for_each                 = local.berth_containers
  family                   = "${var.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = "512"
  memory                   = "1024"
  execution_role_arn       = aws_iam_role.berth_execution.arn
  task_role_arn            = aws_iam_role.berth.arn
  container_definitions    = each.value
  volume {
    name = "tmp"
  }
}

resource "aws_ecs_service" "server" {
  name             = "${var.name}-server"
  cluster          = aws_ecs_cluster.this.id
  task_definition  = aws_ecs_task_definition.berth["server"].arn
  desired_count    = 1
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.berth.id]
    assign_public_ip = false
  }
}

resource "aws_ecs_service" "worker" {
  name             = "${var.name}-worker"
  cluster          = aws_ecs_cluster.this.id
  task_definition  = aws_ecs_task_definition.berth["worker"].arn
  desired_count    = var.workers
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.berth.id]
    assign_public_ip = false
  }
  lifecycle {
    ignore_changes = [desired_count]
  }
}

resource "aws_appautoscaling_target" "workers" {
  count              = var.autoscale_on_queue_depth ? 1 : 0
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.worker.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.workers
  max_capacity       = var.max_workers
}

# Keeps about 20 queued jobs per worker.
resource "aws_appautoscaling_policy" "queue_depth" {
  count              = var.autoscale_on_queue_depth ? 1 : 0
  name               = "${var.name}-queue-depth"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.workers[0].service_namespace
  resource_id        = aws_appautoscaling_target.workers[0].resource_id
  scalable_dimension = aws_appautoscaling_target.workers[0].scalable_dimension
  target_tracking_scaling_policy_configuration {
    target_value = 20
    customized_metric_specification {
      metric_name = "QueueDepth"
      namespace   = "Berth"
      statistic   = "Average"
      dimensions {
        name  = "Cluster"
        value = var.name
      }
    }
  }
}
