"""Sandbox: grants of one user to one project, and a personal bucket."""

from __future__ import annotations

import json

import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from mlops_constructs.sandbox import Sandbox, SandboxProps

ROLE = "arn:aws:iam::123456789012:role/alice-role"
KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"


@pytest.fixture
def template(stack) -> Template:
    Sandbox(
        stack,
        "Sandbox",
        props=SandboxProps(
            user_name="alice",
            user_role=iam.Role.from_role_arn(stack, "Role", ROLE),
            data_bucket=s3.Bucket.from_bucket_name(stack, "Data", "churn-data"),
            artifacts_bucket=s3.Bucket.from_bucket_name(stack, "Artifacts", "churn-artifacts"),
            key=kms.Key.from_key_arn(stack, "Key", KEY),
        ),
    )
    return Template.from_stack(stack)


def _statements(template: Template) -> list[dict]:
    policies = template.find_resources("AWS::IAM::Policy")
    assert len(policies) == 1
    policy = next(iter(policies.values()))["Properties"]
    assert policy["Roles"] == ["alice-role"]
    return policy["PolicyDocument"]["Statement"]


def _grants(template: Template) -> dict[str, set[str]]:
    """resource (as text) -> actions allowed on it."""
    out: dict[str, set[str]] = {}
    for s in _statements(template):
        actions = [s["Action"]] if isinstance(s["Action"], str) else s["Action"]
        for r in s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]:
            out.setdefault(json.dumps(r), set()).update(actions)
    return out


def test_data_bucket_is_read_only(template):
    grants = _grants(template)
    data = {k: v for k, v in grants.items() if "churn-data" in k}
    assert data and all(not any(a.startswith(("s3:Put", "s3:Delete", "s3:Abort")) for a in actions) for actions in data.values())
    assert any("s3:GetObject*" in actions for actions in data.values())


def test_artifacts_are_writable_only_under_the_users_prefix(template):
    grants = _grants(template)
    # PutObject/DeleteObject act on object ARNs only; the bucket ARN in the same statement is for listing.
    object_arns = [k for k, actions in grants.items() if "churn-artifacts/" in k and "s3:PutObject" in actions]
    assert object_arns == ['"arn:aws:s3:::churn-artifacts/sandbox/alice/*"']


def test_sandbox_bucket_is_read_write_and_key_is_usable(template):
    grants = _grants(template)
    sandbox = [actions for k, actions in grants.items() if "SandboxBucket" in k]
    assert any({"s3:PutObject", "s3:GetObject*", "s3:DeleteObject*"} <= a for a in sandbox)
    assert grants[json.dumps(KEY)] == {"kms:Decrypt", "kms:GenerateDataKey"}


def test_the_key_is_usable_through_s3_only(template):
    """Every statement naming the key holds it to S3 (kms:ViaService), so the user cannot call KMS directly or through
    another service; no statement grants KMS on a wildcard."""
    on_key = [s for s in _statements(template) if any(a.startswith("kms:") for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))]
    assert on_key and all(s["Resource"] == KEY for s in on_key)
    for statement in on_key:
        via = statement["Condition"]["StringEquals"]["kms:ViaService"]
        assert json.dumps(via).startswith('{"Fn::Join": ["", ["s3.", ') or via.startswith("s3."), via


def test_nothing_else_is_reachable(template):
    for resource in _grants(template):
        assert any(name in resource for name in ("churn-data", "churn-artifacts", "SandboxBucket", KEY)), resource


def test_sandbox_bucket_uses_the_project_key_and_is_logged(template):
    buckets = template.find_resources("AWS::S3::Bucket")
    assert len(buckets) == 2
    sandbox = next(v for k, v in buckets.items() if k.startswith("SandboxBucket"))
    enc = sandbox["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert enc == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY}
    assert "LoggingConfiguration" in sandbox["Properties"]
    assert all(b["DeletionPolicy"] == "Retain" for b in buckets.values())
