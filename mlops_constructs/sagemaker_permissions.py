"""Permissions the SageMaker execution roles of the platform share: VPC networking, job logs and metrics, image pulls."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws
from aws_cdk import aws_iam as iam

from config.model_monitor_images import analyzer_image_uri, analyzer_repository_arn

# SageMaker creates and removes network interfaces in the job's or model's subnets with the
# execution role; none of these actions supports resource-level permissions.
VPC_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
]
IMAGE_PULL_ACTIONS = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]


def allow_vpc_networking(role: iam.IRole, sid: str) -> None:
    role.add_to_principal_policy(iam.PolicyStatement(sid=sid, actions=VPC_ACTIONS, resources=["*"]))


def job_log_groups(*kinds: str) -> list[str]:
    """ARNs (with ``:*`` for their streams) of SageMaker's log groups ``/aws/sagemaker/<kind>``."""
    return [f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:/aws/sagemaker/{kind}:*" for kind in kinds]


def allow_job_logs_and_metrics(role: iam.IRole, *, log_groups: list[str], metric_namespaces: list[str], metrics_sid: str) -> None:
    """Let a job role write its logs to ``log_groups`` and put metrics in ``metric_namespaces`` (``StringLike`` patterns) only."""
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="JobLogs",
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            resources=log_groups,
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid=metrics_sid,
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringLike": {"cloudwatch:namespace": metric_namespaces if len(metric_namespaces) > 1 else metric_namespaces[0]}},
        )
    )


@dataclass(frozen=True)
class AwsImage:
    """An image in a repository of another account (AWS's own), which CDK cannot ``grant_pull`` on."""

    uri: str
    repository_arn: str

    @classmethod
    def model_monitor_analyzer(cls, region: str) -> AwsImage:
        """SageMaker Model Monitor's analyzer image of ``region`` (see ``config.model_monitor_images``)."""
        return cls(analyzer_image_uri(region, Aws.URL_SUFFIX), analyzer_repository_arn(region, Aws.PARTITION))


def allow_image_pull(role: iam.IRole, *, sid: str, image: AwsImage) -> None:
    """Let ``role`` pull ``image`` (and nothing else of its account)."""
    role.add_to_principal_policy(iam.PolicyStatement(sid=sid, actions=IMAGE_PULL_ACTIONS, resources=[image.repository_arn]))
