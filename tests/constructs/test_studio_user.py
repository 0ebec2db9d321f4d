"""StudioUser: a user profile with its own execution role that reaches no data by itself."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Template

from mlops_constructs.studio_user import StudioUser, StudioUserProps


def _template(stack) -> Template:
    sg = ec2.SecurityGroup.from_security_group_id(stack, "Sg", "sg-0123456789abcdef0")
    StudioUser(stack, "Alice", props=StudioUserProps(domain_id="d-abc123", user_name="alice", email="alice@example.com", security_group=sg))
    return Template.from_stack(stack)


def test_user_profile_uses_its_own_role_and_is_retained(stack):
    t = _template(stack)
    profile = next(iter(t.find_resources("AWS::SageMaker::UserProfile").values()))
    assert profile["DeletionPolicy"] == "Retain"
    props = profile["Properties"]
    assert props["DomainId"] == "d-abc123" and props["UserProfileName"] == "alice"
    assert props["UserSettings"]["ExecutionRole"]["Fn::GetAtt"][0].startswith("AliceExecutionRole")
    assert props["UserSettings"]["SecurityGroups"] == ["sg-0123456789abcdef0"]
    assert {"Key": "owner-email", "Value": "alice@example.com"} in props["Tags"]


def test_role_alone_reaches_no_bucket_or_key(stack):
    t = _template(stack)
    statements = [s for p in t.find_resources("AWS::IAM::Policy").values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions and all(a.startswith("sagemaker:") for a in actions)
    scoped = [s for s in statements if s["Resource"] != "*"]
    for s in scoped:
        for resource in s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]:
            assert "d-abc123" in str(resource)  # this domain only
