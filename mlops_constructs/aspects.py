"""Aspects that enforce the platform's promises on every resource, whoever wrote it."""

from __future__ import annotations

from typing import Protocol

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


class StatefulResourcesRetained:
    """Fails synthesis (an error annotation) when a stateful resource would be deleted on destroy,
    or when a log group keeps its logs forever (no ``RetentionInDays``)."""

    def apply(self, node: CfnResource, resource_type: str) -> None:
        if resource_type in STATEFUL_TYPES and node.cfn_options.deletion_policy != CfnDeletionPolicy.RETAIN:
            Annotations.of(node).add_error(
                f"{resource_type} must be retained on destroy: apply RemovalPolicy.RETAIN (data is never lost by a deploy or a destroy)"
            )
        if resource_type == "AWS::Logs::LogGroup" and isinstance(node, logs.CfnLogGroup) and node.retention_in_days is None:
            Annotations.of(node).add_error("log group needs a retention period (RetentionInDays)")


class ResourceRule(Protocol):
    """A rule over every CloudFormation resource: ``apply`` gets the resource and its type."""

    def apply(self, node: CfnResource, resource_type: str) -> None: ...


@jsii.implements(IAspect)
class PlatformRules:
    """The platform's rules over every CloudFormation resource of a scope, as one aspect.

    Each aspect visit is a callback from jsii's Node process into Python (~0.3 ms each, ~800 constructs in
    the dev stage): one aspect applying every rule, with each resource's type read once, costs a third of
    three aspects. Each rule keeps its own home; add one alone as ``PlatformRules(rule)``.
    """

    def __init__(self, *rules: ResourceRule) -> None:
        self._rules = rules

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, CfnResource):
            resource_type = node.cfn_resource_type
            for rule in self._rules:
                rule.apply(node, resource_type)


def platform_rules() -> PlatformRules:
    """Every stage's and the delivery app's rules: stateful resources retained, services acting for this account only,
    checkov's explained skips."""
    from mlops_constructs.checkov import CheckovSkips
    from mlops_constructs.service_principals import ServicesActForThisAccount

    return PlatformRules(StatefulResourcesRetained(), ServicesActForThisAccount(), CheckovSkips())
