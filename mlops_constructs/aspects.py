"""Aspects that enforce the platform's promises on every resource, whoever wrote it."""

from __future__ import annotations

import jsii
from aws_cdk import Annotations, CfnDeletionPolicy, CfnResource, IAspect
from aws_cdk import aws_logs as logs
from constructs import IConstruct

# Resource types that hold data or identity that a deploy or destroy must never lose.
STATEFUL_TYPES = frozenset(
    {
        "AWS::S3::Bucket",
        "AWS::KMS::Key",
        "AWS::ECR::Repository",
        "AWS::SageMaker::Domain",
        "AWS::SageMaker::UserProfile",
        "AWS::SageMaker::ModelPackageGroup",
        "AWS::Logs::LogGroup",
    }
)


@jsii.implements(IAspect)
class StatefulResourcesRetained:
    """Fails synthesis (an error annotation) when a stateful resource would be deleted on destroy,
    or when a log group keeps its logs forever (no ``RetentionInDays``)."""

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, CfnResource):
            return
        if node.cfn_resource_type in STATEFUL_TYPES and node.cfn_options.deletion_policy != CfnDeletionPolicy.RETAIN:
            Annotations.of(node).add_error(
                f"{node.cfn_resource_type} must be retained on destroy: apply RemovalPolicy.RETAIN (data is never lost by a deploy or a destroy)"
            )
        if isinstance(node, logs.CfnLogGroup) and node.retention_in_days is None:
            Annotations.of(node).add_error("log group needs a retention period (RetentionInDays)")
