# Named volumes on EFS, when efs_file_system_id is set: berth makes, lists and deletes one
# access point per tenant's volume; jobs mount them with IAM authorization and TLS.
locals {
  efs_arn = var.efs_file_system_id == null ? null : "arn:aws:elasticfilesystem:${local.region}:${local.account}:file-system/${var.efs_file_system_id}"
}

data "aws_iam_policy_document" "berth_volumes" {
  count = var.efs_file_system_id == null ? 0 : 1
  statement {
    sid       = "AccessPointsOfTheFileSystem"
    actions   = ["elasticfilesystem:CreateAccessPoint", "elasticfilesystem:DescribeAccessPoints", "elasticfilesystem:TagResource"]
    resources = [local.efs_arn]
  }
  statement {
    sid       = "DeleteAccessPoints"
    actions   = ["elasticfilesystem:DeleteAccessPoint", "elasticfilesystem:DescribeAccessPoints"]
    resources = ["arn:aws:elasticfilesystem:${local.region}:${local.account}:access-point/*"]
  }
}

resource "aws_iam_role_policy" "berth_volumes" {
  count  = var.efs_file_system_id == null ? 0 : 1
  role   = aws_iam_role.berth.id
  policy = data.aws_iam_policy_document.berth_volumes[0].json
}

data "aws_iam_policy_document" "job_volumes" {
  count = var.efs_file_system_id == null ? 0 : 1
  statement {
    sid       = "MountThroughAccessPoints"
    actions   = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    resources = [local.efs_arn]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["true"]
    }
  }
}

resource "aws_iam_role_policy" "job_volumes" {
  count  = var.efs_file_system_id == null ? 0 : 1
  role   = aws_iam_role.job.id
  policy = data.aws_iam_policy_document.job_volumes[0].json
}
