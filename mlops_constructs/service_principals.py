"""Service principals held to this account: the one place trust and resource policies name an AWS service.

An AWS service acting for a customer carries ``aws:SourceAccount`` (and ``aws:SourceArn``) in its request, so a
trust or resource policy that checks it cannot be used by the same service acting for another account (the
cross-service confused deputy: https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html).
``UNCONDITIONED`` lists the services whose trust policies cannot check it here, each with the reason; a test
holds every synthesized trust, topic and key policy to this.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnResource, Stack
from aws_cdk import aws_iam as iam

UNCONDITIONED = {
    "apigateway.amazonaws.com": (
        "API Gateway assumes the Region's CloudWatch Logs role (AWS::ApiGateway::Account) and documents no aws:SourceAccount "
        "for it; it validates the role when the account setting is made, so an unsupported condition would fail the deploy. "
        "Only this account can name the role (iam:PassRole does not cross accounts) and it may only write logs."
    ),
}


def from_this_account(service: str, *, source_arn: str | None = None) -> iam.IPrincipal:
    """``service`` (e.g. ``lambda.amazonaws.com``) acting for this account only, and for ``source_arn`` (ArnLike) when given."""
    conditions: dict = {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
    if source_arn is not None:
        conditions["ArnLike"] = {"aws:SourceArn": source_arn}
    return iam.ServicePrincipal(service).with_conditions(conditions)


def unconditioned(service: str) -> iam.IPrincipal:
    """``service`` without a source condition: only those listed in ``UNCONDITIONED``, for the reason given there."""
    if service not in UNCONDITIONED:
        raise ValueError(f"{service} can be held to this account: use from_this_account")
    return iam.ServicePrincipal(service)


class ServicesActForThisAccount:
    """Adds ``aws:SourceAccount`` (this account) to every role trust statement that lets an AWS service in without a
    condition, for roles that library constructs make for themselves (CDK Pipelines' CodePipeline, CodeBuild and
    EventBridge roles): those services document the key for their service roles. ``UNCONDITIONED`` services are left alone."""

    def apply(self, node: CfnResource, resource_type: str) -> None:
        """A rule of ``aspects.PlatformRules``."""
        if resource_type != "AWS::IAM::Role" or not isinstance(node, iam.CfnRole):
            return
        document = Stack.of(node).resolve(node.assume_role_policy_document)
        changed = False
        for statement in document.get("Statement", []):
            service = statement.get("Principal", {}).get("Service") if isinstance(statement.get("Principal"), dict) else None
            services = service if isinstance(service, list) else [service] if service else []
            if services and statement.get("Effect") == "Allow" and "Condition" not in statement:
                if all(s in UNCONDITIONED for s in services):
                    continue
                statement["Condition"] = {"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
                changed = True
        if changed:
            node.add_property_override("AssumeRolePolicyDocument", document)


def state_machine_role(scope, construct_id: str, *, state_machine_name: str, description: str):
    """The role of the state machine named ``state_machine_name`` only: Step Functions may assume it for that state machine
    (``aws:SourceArn``), not for any state machine of the account (its documented confused-deputy prevention:
    https://docs.aws.amazon.com/step-functions/latest/dg/procedure-create-iam-role.html)."""
    from aws_cdk import Aws

    arn = f"arn:{Aws.PARTITION}:states:{Aws.REGION}:{Aws.ACCOUNT_ID}:stateMachine:{state_machine_name}"
    return iam.Role(scope, construct_id, description=description, assumed_by=from_this_account("states.amazonaws.com", source_arn=arn))
