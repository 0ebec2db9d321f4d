"""checkov's findings that stand, each skipped on its resources with the reason, in checkov's own per-resource
skip metadata (``Metadata.checkov.skip``): the one home of every checkov exception.

``CheckovSkips`` (a rule of ``aspects.PlatformRules``) writes on each CloudFormation resource the skips whose check applies to it; a test runs
checkov over the synthesized stages and the delivery app and requires zero failed checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aws_cdk import CfnResource


@dataclass(frozen=True)
class Skip:
    check: str
    resource_type: str
    applies: Callable[[CfnResource], bool]
    reason: str


def _path_has(*parts: str) -> Callable[[CfnResource], bool]:
    return lambda node: any(part in node.node.path for part in parts)


def _always(node: CfnResource) -> bool:
    return True


SKIPS = [
    Skip(
        "CKV_AWS_18",
        "AWS::S3::Bucket",
        _path_has("AccessLogsBucket"),
        "This is the server-access-log destination of the other buckets; logging it into itself would loop.",
    ),
    Skip(
        "CKV_AWS_111",
        "AWS::IAM::Policy",
        _path_has("/Assets/FileRole/"),
        "CDK Pipelines writes this policy for its asset-publishing builds: codebuild:StartBuild/StopBuild/BatchGetBuilds on * "
        "(the asset projects are created with the pipeline) and sts:AssumeRole on the bootstrap file-publishing role only; not configurable.",
    ),
    *(
        Skip(
            check,
            "AWS::IAM::ManagedPolicy",
            _path_has("/ProductRoleBoundary/"),
            "A permissions boundary grants nothing: it is the ceiling of the roles self-service products create (their own "
            "policies scope the resources), attached to no principal as a permission.",
        )
        for check in ("CKV_AWS_108", "CKV_AWS_109", "CKV_AWS_111")
    ),
    Skip(
        "CKV_AWS_116",
        "AWS::Lambda::Function",
        _always,
        "Invoked synchronously (API Gateway's proxy integration) or by EventBridge rule targets that have their own "
        "dead-letter queue (PipelineTriggers); a function DLQ only catches asynchronous invocations.",
    ),
    Skip(
        "CKV_AWS_117",
        "AWS::Lambda::Function",
        _always,
        "Calls only Regional AWS APIs (SageMaker runtime, Step Functions, SNS) and reaches nothing inside the VPC; "
        "in the VPC it would need network interfaces and more interface endpoints for no gain.",
    ),
    Skip(
        "CKV_AWS_173",
        "AWS::Lambda::Function",
        _always,
        "The environment holds resource names and ARNs only, no secrets; Lambda encrypts it at rest with its AWS-managed key.",
    ),
    Skip(
        "CKV_AWS_115",
        "AWS::Lambda::Function",
        _always,
        "Reserved concurrency is taken from the account's unreserved pool, which new accounts hold at the minimum of 10, "
        "so a reservation fails the deploy there; callers are throttled by the API's usage plan and stage limits instead.",
    ),
    Skip(
        "CKV_AWS_120",
        "AWS::ApiGateway::Stage",
        _always,
        "Predictions are computed per request body (POST); a cache would serve one caller's result to another and bills per hour.",
    ),
    Skip(
        "CKV_AWS_370",
        "AWS::SageMaker::Model",
        lambda node: getattr(node, "enable_network_isolation", None) is None,
        "A serverless endpoint's model: Serverless Inference supports no network isolation (feature exclusions); "
        "instance-backed models are isolated.",
    ),
    Skip(
        "CKV_AWS_108",
        "AWS::IAM::Policy",
        _path_has("/StateMachine/Role/", "/StateMachineRole/"),
        "The state machine reads its runs' evaluation reports under pipeline/ of its own project's artifacts bucket; "
        "cloudsplaining cannot read the Fn::Join that names the bucket and counts it as any resource.",
    ),
]


class CheckovSkips:
    """Writes each applicable ``SKIPS`` entry into the resource's ``checkov`` metadata."""

    def apply(self, node: CfnResource, resource_type: str) -> None:
        skips = [{"id": s.check, "comment": s.reason} for s in SKIPS if s.resource_type == resource_type and s.applies(node)]
        if skips:
            node.add_metadata("checkov", {"skip": skips})
