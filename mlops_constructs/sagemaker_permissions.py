"""Permissions the SageMaker execution roles of the platform share: VPC networking, job logs and metrics, image pulls."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam

from config.model_monitor_images import analyzer_image_uri, analyzer_repository_arn
from mlops_constructs.nag import acknowledge_wildcards

# SageMaker creates and removes network interfaces in the job's or model's subnets with the execution role
# (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html). The Describe actions support no
# resource-level permissions; the others are held to the platform's VPC by ec2:Vpc, which the subnet and
# security group of CreateNetworkInterface and the network interface of the others carry (Service
# Authorization Reference, Amazon EC2).
VPC_DESCRIBE_ACTIONS = [
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
]
VPC_INTERFACE_ACTIONS = ["ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface"]
IMAGE_PULL_ACTIONS = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]


@dataclass(frozen=True)
class VpcPlacement:
    """Where a SageMaker job or model runs: the VPC, its subnets and the workload's security group (any may be tokens)."""

    vpc_id: str
    subnet_ids: list[str]
    security_group_id: str

    @property
    def vpc_arn(self) -> str:
        return f"arn:{Aws.PARTITION}:ec2:{Aws.REGION}:{Aws.ACCOUNT_ID}:vpc/{self.vpc_id}"

    @property
    def api_config(self) -> dict:
        """The ``VpcConfig`` member of SageMaker's Create* requests."""
        return {"SecurityGroupIds": [self.security_group_id], "Subnets": self.subnet_ids}


def allow_vpc_networking(role: iam.IRole, sid: str, vpc: VpcPlacement | None) -> None:
    """Let SageMaker create and delete ``role``'s network interfaces in ``vpc`` only (``sid`` prefixes the statements);
    a workload in no VPC (``None``: the frugal network) creates none, and gets nothing."""
    if vpc is None:
        return
    arn = f"arn:{Aws.PARTITION}:ec2:{Aws.REGION}:{Aws.ACCOUNT_ID}"
    in_vpc = {"ArnEquals": {"ec2:Vpc": vpc.vpc_arn}}
    role.add_to_principal_policy(
        iam.PolicyStatement(sid=f"{sid}Describe", actions=VPC_DESCRIBE_ACTIONS, resources=["*"])  # no resource-level permissions
    )
    # The new interface itself carries no ec2:Vpc yet; its subnet and security group (also authorized) do.
    role.add_to_principal_policy(
        iam.PolicyStatement(sid=f"{sid}NewInterfaces", actions=["ec2:CreateNetworkInterface"], resources=[f"{arn}:network-interface/*"])
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid=f"{sid}SubnetsAndGroups",
            actions=["ec2:CreateNetworkInterface"],
            resources=[f"{arn}:subnet/*", f"{arn}:security-group/*"],
            conditions=in_vpc,
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(sid=f"{sid}Interfaces", actions=VPC_INTERFACE_ACTIONS, resources=[f"{arn}:network-interface/*"], conditions=in_vpc)
    )
    # DeleteNetworkInterfacePermission names no required resource (it is authorized on "*"), hence IfExists.
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid=f"{sid}InterfacePermissions",
            actions=["ec2:DeleteNetworkInterfacePermission"],
            resources=["*"],
            conditions={"ArnEqualsIfExists": {"ec2:Vpc": vpc.vpc_arn}},
        )
    )
    acknowledge_wildcards(
        role,
        reason="SageMaker creates the network interfaces of jobs and models with the execution role; their ids are only known "
        "then, and every subnet, security group and interface is held to the platform's VPC by ec2:Vpc.",
        resources=[f"{arn}:network-interface/*", f"{arn}:subnet/*", f"{arn}:security-group/*"],
    )


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
    """An image and the repository it is pulled from: AWS's own (another account, which CDK cannot ``grant_pull``
    on) or a project's."""

    uri: str
    repository_arn: str

    @classmethod
    def of_tag(cls, repository: ecr.IRepository, tag: str) -> AwsImage:
        return cls(repository.repository_uri_for_tag(tag), repository.repository_arn)

    @classmethod
    def model_monitor_analyzer(cls, region: str) -> AwsImage:
        """SageMaker Model Monitor's analyzer image of ``region`` (see ``config.model_monitor_images``)."""
        return cls(analyzer_image_uri(region, Aws.URL_SUFFIX), analyzer_repository_arn(region, Aws.PARTITION))


def allow_image_pull(role: iam.IRole, *, sid: str, image: AwsImage) -> None:
    """Let ``role`` pull ``image`` (and nothing else of its account)."""
    role.add_to_principal_policy(iam.PolicyStatement(sid=sid, actions=IMAGE_PULL_ACTIONS, resources=[image.repository_arn]))
