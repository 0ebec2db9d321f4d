"""acknowledge_wildcards computes the very finding ids cdk-nag reports."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

from app import new_app
from mlops_constructs.nag import acknowledge_wildcards, flatten_cfn_reference, wildcard_finding_ids


@pytest.mark.parametrize(
    ("node", "flat"),
    [
        ("arn:aws:s3:::b/*", "arn:aws:s3:::b/*"),
        ({"Fn::GetAtt": ["Bucket83908E77", "Arn"]}, "<Bucket83908E77.Arn>"),
        ({"Ref": "AWS::Region"}, "<AWS::Region>"),
        ({"Fn::Join": ["", [{"Fn::GetAtt": ["B", "Arn"]}, "/*"]]}, "<B.Arn>/*"),
        ({"Fn::Sub": "arn:${AWS::Partition}:s3:::x"}, "arn:<AWS::Partition>:s3:::x"),
        ({"Fn::ImportValue": "Stack:Export"}, "Stack:Export"),
        ({"Fn::Select": [0, ["a"]]}, '{"Fn::Select":[0,["a"]]}'),
    ],
)
def test_flatten_matches_cdk_nag(node, flat):
    assert flatten_cfn_reference(node) == flat


def _app_with_grant(tmp_path, acknowledge: bool):
    app = new_app(outdir=str(tmp_path))
    stack = cdk.Stack(app, "S")
    bucket = s3.Bucket(stack, "Bucket", enforce_ssl=True, server_access_logs_prefix="logs/")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    bucket.grant_read(role)
    if acknowledge:
        acknowledge_wildcards(role, reason="test", actions=["s3:GetObject*", "s3:GetBucket*", "s3:List*"], resources=[bucket.arn_for_objects("*")])
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, role, bucket


def test_without_acknowledgment_nag_reports_the_computed_ids(tmp_path):
    app, role, bucket = _app_with_grant(tmp_path, acknowledge=False)
    expected = wildcard_finding_ids(role, actions=["s3:GetObject*"], resources=[bucket.arn_for_objects("*"), bucket.bucket_arn])
    assert expected == ["AwsSolutions::AwsSolutions-IAM5[Action::s3:GetObject*]", "AwsSolutions::AwsSolutions-IAM5[Resource::<Bucket83908E77.Arn>/*]"]
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    rules = {
        v["ruleName"] for p in __import__("json").loads((tmp_path / "validation-report.json").read_text())["pluginReports"] for v in p["violations"]
    }
    assert {e.removeprefix("AwsSolutions::") for e in expected} <= rules


def test_with_acknowledgment_synthesis_passes(tmp_path):
    app, _, _ = _app_with_grant(tmp_path, acknowledge=True)
    app.synth()
