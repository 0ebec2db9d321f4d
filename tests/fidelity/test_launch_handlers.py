"""Every call CloudFormation makes with a launch role's credentials to create, update and terminate a product is allowed,
by the IAM engine: each product's resources, launched as Service Catalog launches them (an SC-* stack carrying the
stage's TagOption), against the handler permissions of their types' resource schemas (``fidelity/handlers.py``).

A retained resource's delete handler never runs (CloudFormation leaves it); every other resource's does, when the
product is terminated. What a call is made on, and with what request context, follows the Service Authorization
Reference: the tags a creating call sets are its ``aws:RequestTag``; a call on a resource that exists sees its tags
as ``aws:ResourceTag``; CloudFormation propagates the stack's tags (the TagOption) to every resource it tags.
"""

from __future__ import annotations

import json

import pytest

from fidelity.cfn import Deployment, contains_unresolved
from fidelity.handlers import NOT_CALLED, handler_permissions
from fidelity.iam import Call, Policies, evaluate
from tests.fidelity.conftest import launch_roles, launched_products

ACCOUNT, REGION = "123456789012", "us-east-1"
STACKS = {"Project": f"SC-{ACCOUNT}-pp-projectabcdef", "User": f"SC-{ACCOUNT}-pp-userabcdefgh", "Sandbox": f"SC-{ACCOUNT}-pp-sandboxabcde"}
# the call that creates each type's resource: the tags it sets are its request's
CREATES = {
    "AWS::S3::Bucket": "s3:CreateBucket",
    "AWS::KMS::Key": "kms:CreateKey",
    "AWS::IAM::Role": "iam:CreateRole",
    "AWS::IAM::ManagedPolicy": "iam:CreatePolicy",
    "AWS::ECR::Repository": "ecr:CreateRepository",
    "AWS::SNS::Topic": "sns:CreateTopic",
    "AWS::SSM::Parameter": "ssm:PutParameter",
    "AWS::SageMaker::UserProfile": "sagemaker:CreateUserProfile",
    "AWS::SageMaker::ModelPackageGroup": "sagemaker:CreateModelPackageGroup",
    "AWS::SageMaker::MlflowApp": "sagemaker:CreateMlflowApp",
    "AWS::EC2::SecurityGroup": "ec2:CreateSecurityGroup",
    "AWS::Budgets::Budget": "budgets:ModifyBudget",
}
TAGGING = ("TagResource", "TagRole", "AddTags", "AddTagsToResource", "CreateTags", "PutBucketTagging")


@pytest.fixture(scope="module")
def launched(dev) -> Deployment:
    """The three products launched as Service Catalog launches them (SC-* stacks), next to the dev stage's templates
    (the launch roles, and the parameters the products read)."""
    return launched_products(dev, STACKS, account=ACCOUNT, region=REGION)


def _tags(d: Deployment, stack: str, resource: dict) -> dict[str, str]:
    props = resource.get("Properties", {})
    raw = props.get("Tags", {})
    tags = {t["Key"]: d.resolve(stack, t["Value"]) for t in raw} if isinstance(raw, list) else {k: d.resolve(stack, v) for k, v in raw.items()}
    return {**tags, "platform-stage": "mlops-dev"}  # the TagOption, propagated from the stack


def _targets(d: Deployment, stack: str, lid: str, resource: dict, action: str, handler: str) -> list[tuple[str, tuple]]:
    """The resources ``action`` is authorized on for this resource, each with the context it carries beyond the tags."""
    kind, props = resource["Type"], resource.get("Properties", {})
    own = lambda attribute: d.get_att(stack, lid, attribute)  # noqa: E731
    service = action.split(":")[0]
    roles = lambda: [f"arn:aws:iam::{ACCOUNT}:role/{d.resolve(stack, r)}" for r in props.get("Roles", [])]  # noqa: E731
    in_account = (("s3:ResourceAccount", ACCOUNT),)  # S3 sets it on every request: the bucket's owner
    if kind == "AWS::S3::Bucket":
        return [(own("Arn"), in_account)]
    if kind == "AWS::S3::BucketPolicy":
        return [(f"arn:aws:s3:::{d.resolve(stack, props['Bucket'])}", in_account)]
    if kind == "AWS::KMS::Key":
        return [("*", ())] if action == "kms:CreateKey" else [(own("Arn"), ())]
    if kind == "AWS::IAM::Role":
        boundary = (("iam:PermissionsBoundary", d.resolve(stack, props["PermissionsBoundary"])),)
        return [(own("Arn"), boundary)]
    if kind == "AWS::IAM::Policy":  # a product's role carries the platform's boundary (a test holds it), a configured user's none
        boundary = (("iam:PermissionsBoundary", f"arn:aws:iam::{ACCOUNT}:policy/mlops-dev-product-role-boundary"),)
        return [(role, boundary if ":role/SC-" in role else ()) for role in roles()]
    if kind == "AWS::IAM::ManagedPolicy":
        path = props.get("Path", "/")
        policy = f"arn:aws:iam::{ACCOUNT}:policy{path}{d.ref(stack, lid)}"
        if action in ("iam:AttachRolePolicy", "iam:DetachRolePolicy"):
            return [(role, (("iam:PolicyARN", policy),)) for role in roles()]
        return [(policy, ())]
    if kind == "AWS::ECR::Repository":
        if service == "kms":
            return [(d.resolve(stack, props["EncryptionConfiguration"]["KmsKey"]), ())]
        return [(own("Arn"), ())]
    if kind == "AWS::SNS::Topic":
        return [(own("TopicArn"), ())]
    if kind in ("AWS::SNS::TopicPolicy",):
        return [(d.resolve(stack, t), ()) for t in props["Topics"]]
    if kind == "AWS::SNS::Subscription":
        return [(d.resolve(stack, props["TopicArn"]), ())]
    if kind == "AWS::SSM::Parameter":
        return [(f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{d.ref(stack, lid).lstrip('/')}", ())]
    if kind == "AWS::SageMaker::UserProfile":
        if action == "iam:PassRole":
            role = d.resolve(stack, props["UserSettings"]["ExecutionRole"])
            return [(role, (("iam:PassedToService", "sagemaker.amazonaws.com"),))]
        return [(own("UserProfileArn"), ())]
    if kind == "AWS::SageMaker::ModelPackageGroup":
        return [(own("ModelPackageGroupArn"), ())]
    if kind == "AWS::SageMaker::MlflowApp":
        if action == "iam:PassRole":
            return [(d.resolve(stack, props["RoleArn"]), (("iam:PassedToService", "sagemaker.amazonaws.com"),))]
        return [(own("Arn"), ())]
    if kind in ("AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
        if action.startswith("ec2:Describe"):
            return [("*", ())]
        group = own("GroupId") if kind == "AWS::EC2::SecurityGroup" else d.resolve(stack, props["GroupId"])
        arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{group}"
        vpc = f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{d.ssm_value('/mlops/dev/studio/vpc-id')}"  # the group's: the stage's VPC
        if action == "ec2:CreateSecurityGroup":
            return [(arn, ()), (vpc, ())]
        if action == "ec2:CreateTags" and handler == "create":
            return [(arn, (("ec2:Vpc", vpc), ("ec2:CreateAction", "CreateSecurityGroup")))]
        return [(arn, (("ec2:Vpc", vpc),))]
    if kind == "AWS::Budgets::Budget":
        return [(f"arn:aws:budgets::{ACCOUNT}:budget/{d.resolve(stack, props['Budget']['BudgetName'])}", ())]
    raise AssertionError(f"{kind}: no target for {action} (teach tests/fidelity/test_launch_handlers.py its ARN)")


def _calls(d: Deployment, role: str, stack: str) -> list[Call]:
    calls = []
    for lid, resource in d.templates[stack]["Resources"].items():
        kind = resource["Type"]
        tags = _tags(d, stack, resource)
        request = tuple((f"aws:RequestTag/{k}", v) for k, v in tags.items()) + (("aws:TagKeys", sorted(tags)),)
        existing = tuple((f"aws:ResourceTag/{k}", v) for k, v in tags.items())
        handlers = handler_permissions(kind)
        if resource.get("DeletionPolicy") == "Retain":
            handlers.pop("delete", None)  # CloudFormation leaves a retained resource: its delete handler never runs
        for handler, actions in handlers.items():
            for action in actions:
                if action in NOT_CALLED.get(kind, {}):
                    continue
                if action == CREATES.get(kind) and handler == "create":
                    context = request
                elif action.split(":")[1] in TAGGING:
                    context = request + existing
                else:
                    context = existing
                for target, extra in _targets(d, stack, lid, resource, action, handler):
                    calls.append(Call(role, action, target, context + extra, f"{stack.split('-pp-')[1]} {lid} {handler}"))
    return calls


@pytest.mark.parametrize("kind", list(STACKS))
def test_the_launch_roles_may_make_every_call_cloudformation_makes_for_a_product(launched, kind):
    roles = launch_roles(launched)
    policies = Policies.of(launched)
    judged = [("main", roles["main"])] + ([("studio", roles["studio"])] if kind == "Project" else [])
    calls = [c for _, role in judged for c in _calls(launched, role, STACKS[kind])]
    unresolved = [
        f"{c.action} {c.resource} {c.why}" for c in calls if contains_unresolved([c.principal, c.resource, *(list(kv) for kv in c.context)])
    ]
    assert unresolved == []  # every target and context known, as at deploy time
    denied = sorted({str(r) for r in evaluate(policies, calls) if not r.allowed})
    print(f"\n{kind}: {len(calls)} handler calls of {len(judged)} launch role(s), denied: {len(denied)}")
    assert denied == []
    assert len(calls) > 20


def test_a_sandbox_of_a_configured_user_and_project_launches_too(dev):
    """The sandbox product links any user of the stage to any project: a configured user (whose role the user stack made,
    without the products' boundary) and a configured project, found through what their stacks publish."""
    (path,) = dev.outdir.glob("*SandboxProductStack*.product.template.json")
    stack = f"SC-{ACCOUNT}-pp-configuredab"
    d = Deployment({**dev.templates(), stack: json.loads(path.read_text())}, account=ACCOUNT, region=REGION)
    d.parameters[stack] = {"UserName": "alice", "ProjectName": "churn"}
    calls = _calls(d, launch_roles(d)["main"], stack)
    assert any(":role/mlops-dev-user-alice" in c.resource for c in calls)  # the sandbox's policy goes on alice's own role
    assert [f"{c.action} {c.resource}" for c in calls if contains_unresolved([c.resource, *(list(kv) for kv in c.context)])] == []
    assert sorted({str(r) for r in evaluate(Policies.of(d), calls) if not r.allowed}) == []


def test_every_call_set_aside_is_one_the_schema_lists_with_its_reason():
    """NOT_CALLED never names a call the type's handlers do not make (a schema update that drops one shows up here)."""
    for kind, actions in NOT_CALLED.items():
        listed = {a for permissions in handler_permissions(kind).values() for a in permissions}
        assert set(actions) <= listed, (kind, set(actions) - listed)
        assert all(len(why) > 20 for why in actions.values()), kind
