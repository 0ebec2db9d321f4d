"""Permissions every SageMaker execution role of the platform needs to run inside the VPC."""

from __future__ import annotations

from aws_cdk import aws_iam as iam

# SageMaker creates and removes network interfaces in the job's or model's subnets with the
# execution role; none of these actions supports resource-level permissions.
VPC_ACTIONS = [
    "ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission", "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
]


def allow_vpc_networking(role: iam.IRole, sid: str) -> None:
    role.add_to_principal_policy(iam.PolicyStatement(sid=sid, actions=VPC_ACTIONS, resources=["*"]))
