"""Aspects that enforce the platform's promises on every resource, whoever wrote it."""

from __future__ import annotations

from typing import Protocol

import jsii
from aws_cdk import Annotations, AspectPriority, Aspects, CfnDeletionPolicy, CfnResource, IAspect
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

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
    """The platform's rules over every CloudFormation resource of a scope, applied in one walk at synthesis.

    ``apply_to(scope)`` hangs this aspect on a childless construct of its own under ``scope``, so that synthesis calls
    ``visit`` once; that visit reads the whole tree under ``scope`` in one call and applies every rule to each
    resource, with its type read once. An aspect on the scope itself would be a callback from jsii's Node process into
    Python for every construct (~940 in the dev stage; the walk took ~0.15 s off its synthesis). It runs after the other
    aspects (``AspectPriority.READONLY``), when the tree is complete. ``visited`` holds each resource the rules were
    applied to (a test holds it to every resource of the synthesized tree). Each rule keeps its own
    home; use one alone as ``PlatformRules(rule)``.
    """

    def __init__(self, *rules: ResourceRule) -> None:
        self._rules = rules
        self._scope: IConstruct | None = None
        self.visited: list[CfnResource] = []

    def apply_to(self, scope: IConstruct) -> PlatformRules:
        if self._scope is not None:
            raise ValueError("these rules already apply to a scope")
        self._scope = scope
        Aspects.of(Construct(scope, "PlatformRules")).add(self, priority=AspectPriority.READONLY)
        return self

    def visit(self, node: IConstruct) -> None:
        if self._scope is None:
            raise ValueError("PlatformRules walk a scope once: attach them with apply_to(scope), not Aspects.of(scope).add(...)")
        types: dict[type, str] = {}  # an L1 class's resource type, read once per class; a plain CfnResource's per resource
        for resource in self._scope.node.find_all():
            if isinstance(resource, CfnResource):
                kind = type(resource)
                if kind in types:
                    resource_type = types[kind]
                else:
                    resource_type = resource.cfn_resource_type
                    if hasattr(kind, "CFN_RESOURCE_TYPE_NAME"):  # an L1 class (CfnBucket, ...): one type for all
                        types[kind] = resource_type
                for rule in self._rules:
                    rule.apply(resource, resource_type)
                self.visited.append(resource)


def platform_rules() -> PlatformRules:
    """Every stage's and the delivery app's rules: stateful resources retained, services acting for this account only,
    checkov's explained skips."""
    from mlops_constructs.checkov import CheckovSkips
    from mlops_constructs.service_principals import ServicesActForThisAccount

    return PlatformRules(StatefulResourcesRetained(), ServicesActForThisAccount(), CheckovSkips())
