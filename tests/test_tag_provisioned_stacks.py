"""`make tag-provisioned` (tools/tag_provisioned_stacks.py): the stacks a stage's products provisioned before the
TagOption existed get the stage's tag, with their own template and values; nothing else in the account changes.

CloudFormation and SSM run in moto."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.cloudformation.responses import CloudFormationResponse

from config import load_config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import tag_provisioned_stacks as tool  # noqa: E402

REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch):
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_DEFAULT_REGION", REGION)):
        monkeypatch.setenv(name, value)
    # moto 5.2.5 answers "No updates are to be performed" to an update whose template and parameters are unchanged even
    # when it changes the stack's tags; CloudFormation performs it, and updates the tags it propagates to resources
    # (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-resource-tags.html)
    refuse_unchanged = CloudFormationResponse._validate_different_update

    def tags_are_a_change(self, incoming_params, stack_body, old_stack):
        incoming = {t["Key"]: t["Value"] for t in self._get_param("Tags", [])}
        if not incoming or incoming == old_stack.tags:
            refuse_unchanged(self, incoming_params, stack_body, old_stack)

    monkeypatch.setattr(CloudFormationResponse, "_validate_different_update", tags_are_a_change)
    with mock_aws():
        yield boto3.client("cloudformation", region_name=REGION)


def _product(cfn, name: str, parameter: str | None, tags: dict[str, str]) -> None:
    """A stack as a product provisions it: a launcher's parameter, and (for the stage's) a parameter it publishes."""
    resources = {"Topic": {"Type": "AWS::SNS::Topic"}}
    if parameter:
        resources["Published"] = {"Type": "AWS::SSM::Parameter", "Properties": {"Name": parameter, "Type": "String", "Value": {"Ref": "ProjectName"}}}
    template = {"Parameters": {"ProjectName": {"Type": "String", "Default": "default"}}, "Resources": resources}
    cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "ProjectName", "ParameterValue": name.lower()}],
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )


def _tags(cfn, name: str) -> dict[str, str]:
    (stack,) = cfn.describe_stacks(StackName=name)["Stacks"]
    return {t["Key"]: t["Value"] for t in stack.get("Tags", [])}


def test_the_stages_untagged_products_get_its_tag_and_nothing_else_changes(aws, capsys):
    cfn = aws
    account = "123456789012"
    legacy, done, prod, other_team, foreign = (f"SC-{account}-pp-{s}" for s in ("legacy", "done", "prod", "teamx", "foreign"))
    _product(cfn, legacy, "/mlops/dev/projects/legacy/key-arn", {"team": "ml"})
    _product(cfn, done, "/mlops/dev/users/bob/role-arn", {"platform-stage": "mlops-dev"})
    _product(cfn, prod, "/mlops/prod/projects/legacy/key-arn", {})
    _product(cfn, other_team, None, {})
    _product(cfn, foreign, "/mlops/dev/sandboxes/alice/churn/role", {"platform-stage": "mlops-trial"})
    _product(cfn, "mlops-dev-project-churn", "/mlops/dev/projects/churn/key-arn", {})  # a configured project: a CDK stack

    assert tool.main(["--stage", "dev"]) == 1  # the foreign-tagged stack is reported, never retagged
    dry = capsys.readouterr().out
    assert f"Would tag (run again with --apply) (1):\n  - {legacy}\n" in dry
    assert f"Already tagged platform-stage: mlops-dev (1):\n  - {done}\n" in dry and f"another stage (1):\n  - {foreign}" in dry
    assert _tags(cfn, legacy) == {"team": "ml"}  # a dry run changes nothing

    assert tool.main(["--stage", "dev", "--apply"]) == 1
    assert f"Tagged now (1):\n  - {legacy}\n" in capsys.readouterr().out
    assert _tags(cfn, legacy) == {"team": "ml", "platform-stage": "mlops-dev"}
    (stack,) = cfn.describe_stacks(StackName=legacy)["Stacks"]
    assert stack["Parameters"] == [{"ParameterKey": "ProjectName", "ParameterValue": legacy.lower()}]  # its own value, not the default
    assert boto3.client("ssm", region_name=REGION).get_parameter(Name="/mlops/dev/projects/legacy/key-arn")["Parameter"]["Value"] == legacy.lower()
    assert [_tags(cfn, s) for s in (prod, other_team, foreign, "mlops-dev-project-churn")] == [{}, {}, {"platform-stage": "mlops-trial"}, {}]

    assert tool.main(["--stage", "dev", "--apply"]) == 1  # again: nothing left to tag
    assert "Tagged now (0):" in capsys.readouterr().out


def test_a_bad_stage_is_a_clear_error(aws, capsys):
    assert tool.main(["--stage", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_the_plan_names_the_tag_of_names(aws):
    names = load_config("dev").names
    assert tool.plan(aws, names).tag == names.stack_tags == {"platform-stage": "mlops-dev"}
