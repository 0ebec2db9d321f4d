"""`make tag-provisioned` (tools/tag_provisioned_stacks.py): the stacks a stage's products provisioned before the
TagOption existed get the stage's tag, with their own template and values; nothing else in the account changes.

CloudFormation and SSM run in moto. What moto does not show (it answers every list, even empty; it keeps a parameter's
value whatever UsePreviousValue says) goes through botocore's Stubber, which checks each request against
CloudFormation's API model: the exact UpdateStack request, answers without the lists AWS leaves out, the waiter."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from moto.cloudformation.responses import CloudFormationResponse

from config import load_config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))  # the tool imports its sibling stage_cli so
from tools import tag_provisioned_stacks as tool  # noqa: E402  (under its path's name: make mutate mutates it so)

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


def test_the_update_keeps_every_value_and_capability_and_adds_the_tag_to_the_stacks_own(monkeypatch):
    """The request CloudFormation gets: the previous template, every parameter at its previous value (a parameter left
    out would fall back to its default), the stack's capabilities (an IAM stack is refused without them), its tags but
    AWS's own, plus the stage's. Answers leave out the lists that are empty, as AWS does."""
    cfn = boto3.client("cloudformation", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(cfn)
    stack = {"StackName": "SC-1-pp-a", "CreationTime": "2026-11-01T00:00:00Z", "StackStatus": "UPDATE_COMPLETE"}
    legacy = {
        **stack,
        "Parameters": [{"ParameterKey": "ProjectName", "ParameterValue": "churn2"}, {"ParameterKey": "AlertEmail", "ParameterValue": "a@b.c"}],
        "Capabilities": ["CAPABILITY_IAM"],
        "Tags": [{"Key": "aws:servicecatalog:productArn", "Value": "arn:aws:catalog:us-east-1:1:product/prod-1"}, {"Key": "team", "Value": "ml"}],
    }
    bare = {**stack, "StackName": "SC-1-pp-b"}  # no parameters, capabilities or tags: AWS leaves the lists out
    stub.add_response("describe_stacks", {"Stacks": [legacy]}, {"StackName": "SC-1-pp-a"})
    stub.add_response(
        "update_stack",
        {"StackId": "arn:aws:cloudformation:us-east-1:1:stack/SC-1-pp-a/1"},
        {
            "StackName": "SC-1-pp-a",
            "UsePreviousTemplate": True,
            "Parameters": [{"ParameterKey": "ProjectName", "UsePreviousValue": True}, {"ParameterKey": "AlertEmail", "UsePreviousValue": True}],
            "Capabilities": ["CAPABILITY_IAM"],
            "Tags": [{"Key": "team", "Value": "ml"}, {"Key": "platform-stage", "Value": "mlops-dev"}],
        },
    )
    stub.add_response("describe_stacks", {"Stacks": [{**legacy, "StackStatus": "UPDATE_IN_PROGRESS"}]}, {"StackName": "SC-1-pp-a"})
    stub.add_response("describe_stacks", {"Stacks": [legacy]}, {"StackName": "SC-1-pp-a"})
    stub.add_response("describe_stacks", {"Stacks": [bare]}, {"StackName": "SC-1-pp-b"})
    stub.add_response(
        "update_stack",
        {"StackId": "arn:aws:cloudformation:us-east-1:1:stack/SC-1-pp-b/1"},
        {
            "StackName": "SC-1-pp-b",
            "UsePreviousTemplate": True,
            "Parameters": [],
            "Capabilities": [],
            "Tags": [{"Key": "platform-stage", "Value": "mlops-dev"}],
        },
    )
    stub.add_response("describe_stacks", {"Stacks": [bare]}, {"StackName": "SC-1-pp-b"})
    slept = []
    monkeypatch.setattr("time.sleep", slept.append)
    with stub:
        tool.tag(cfn, tool.Plan(tag={"platform-stage": "mlops-dev"}, to_tag=["SC-1-pp-a", "SC-1-pp-b"]), delay=7, wait_seconds=60)
        stub.assert_no_pending_responses()
    assert slept == [7]  # one poll in progress, every `delay` seconds


def test_an_update_that_does_not_finish_in_time_stops_the_tool(monkeypatch):
    """The waiter polls at most wait_seconds // delay times, then gives up: the tool stops there (run it again to
    resume: the stacks already tagged are left alone)."""
    from botocore.exceptions import WaiterError

    cfn = boto3.client("cloudformation", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(cfn)
    stack = {"StackName": "SC-1-pp-a", "CreationTime": "2026-11-01T00:00:00Z", "StackStatus": "UPDATE_COMPLETE"}
    stub.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "SC-1-pp-a"})
    stub.add_response("update_stack", {"StackId": "x"}, None)
    for _ in range(3):  # 35 // 10 polls, each still in progress
        stub.add_response("describe_stacks", {"Stacks": [{**stack, "StackStatus": "UPDATE_IN_PROGRESS"}]}, {"StackName": "SC-1-pp-a"})
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    with stub, pytest.raises(WaiterError, match="Max attempts exceeded"):
        tool.tag(cfn, tool.Plan(tag={"platform-stage": "mlops-dev"}, to_tag=["SC-1-pp-a"]), delay=10, wait_seconds=35)
    stub.assert_no_pending_responses()
    stub.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "SC-1-pp-a"})
    stub.add_response("update_stack", {"StackId": "x"}, None)
    stub.add_response("describe_stacks", {"Stacks": [{**stack, "StackStatus": "UPDATE_IN_PROGRESS"}]}, {"StackName": "SC-1-pp-a"})
    with stub, pytest.raises(WaiterError, match="Max attempts exceeded"):  # a wait shorter than one delay: one poll
        tool.tag(cfn, tool.Plan(tag={"platform-stage": "mlops-dev"}, to_tag=["SC-1-pp-a"]), delay=10, wait_seconds=5)
    stub.assert_no_pending_responses()


def test_a_stack_resource_without_a_physical_id_and_a_deleted_stack_are_not_the_stages(aws):
    """A resource CloudFormation has not made yet has no physical id; a deleted stack is listed by ListStacks without
    a filter, and its resources cannot be updated: neither is the stage's."""
    cfn = aws
    _product(cfn, "SC-1-pp-gone", "/mlops/dev/projects/gone/key-arn", {})
    cfn.delete_stack(StackName="SC-1-pp-gone")
    assert tool.plan(cfn, load_config("dev").names).to_tag == []
    stub = Stubber(cfn)
    stub.add_response(
        "list_stacks", {"StackSummaries": [{"StackName": "SC-1-pp-x", "CreationTime": "2026-11-01T00:00:00Z", "StackStatus": "CREATE_COMPLETE"}]}
    )
    stub.add_response(
        "list_stack_resources",
        {
            "StackResourceSummaries": [
                {
                    "LogicalResourceId": "P",
                    "ResourceType": "AWS::SSM::Parameter",
                    "LastUpdatedTimestamp": "2026-11-01T00:00:00Z",
                    "ResourceStatus": "CREATE_IN_PROGRESS",
                }
            ]
        },
        {"StackName": "SC-1-pp-x"},
    )
    with stub:
        assert tool.provisioned_stacks(cfn, load_config("dev").names) == []
    # a stack with no resources, and a stack without tags: AWS leaves both lists out of its answers
    stub = Stubber(cfn)
    summary = {"CreationTime": "2026-11-01T00:00:00Z", "StackStatus": "CREATE_COMPLETE"}
    stub.add_response("list_stacks", {"StackSummaries": [{"StackName": "SC-1-pp-empty", **summary}, {"StackName": "SC-1-pp-old", **summary}]})
    stub.add_response("list_stack_resources", {}, {"StackName": "SC-1-pp-empty"})
    parameter = {"LogicalResourceId": "P", "ResourceType": "AWS::SSM::Parameter", "LastUpdatedTimestamp": "2026-11-01T00:00:00Z"}
    stub.add_response(
        "list_stack_resources",
        {"StackResourceSummaries": [{**parameter, "PhysicalResourceId": "/mlops/dev/users/old/role-arn", "ResourceStatus": "CREATE_COMPLETE"}]},
        {"StackName": "SC-1-pp-old"},
    )
    stub.add_response("describe_stacks", {"Stacks": [{"StackName": "SC-1-pp-old", **summary}]}, {"StackName": "SC-1-pp-old"})
    with stub:
        assert tool.plan(cfn, load_config("dev").names).to_tag == ["SC-1-pp-old"]


def test_main_says_what_stopped_it_and_exits_0_when_nothing_is_another_stages(aws, capsys, monkeypatch):
    cfn = aws
    _product(cfn, "SC-1-pp-legacy", "/mlops/dev/projects/legacy/key-arn", {})
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")  # the tool works in the stage's Region, whatever the shell's
    assert tool.main(["--stage", "dev"]) == 0
    out = capsys.readouterr().out
    assert "Would tag (run again with --apply) (1):\n  - SC-1-pp-legacy\n" in out and "another stage (0):\n  (none)" in out

    def update_refused(*args, **kwargs):
        raise ClientError({"Error": {"Code": "ValidationError", "Message": "Stack is in UPDATE_IN_PROGRESS state"}}, "UpdateStack")

    monkeypatch.setattr(tool, "tag", update_refused)
    assert tool.main(["--stage", "dev", "--apply"]) == 1
    assert capsys.readouterr().err.startswith("tagging the provisioned stacks of stage dev stopped: An error occurred (ValidationError)")
    with pytest.raises(SystemExit):
        tool.main(["--help"])
    assert "only print what would change" in capsys.readouterr().out
