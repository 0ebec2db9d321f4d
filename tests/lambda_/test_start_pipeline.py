"""The start-pipeline guard, against moto's Step Functions and SNS."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import boto3
import pytest

LAMBDA_DIR = Path(__file__).resolve().parents[2] / "lambda" / "start_pipeline"
ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.fixture
def world(aws, monkeypatch):
    """A state machine, the alert topic with an SQS subscriber to read what was published, and the handler module."""
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="pipeline",
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn",
        definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}),
    )["stateMachineArn"]
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    monkeypatch.setenv("STATE_MACHINE_ARN", machine)
    monkeypatch.setenv("ALERT_TOPIC_ARN", topic)
    monkeypatch.setenv("PROJECT_NAME", "churn")
    monkeypatch.syspath_prepend(str(LAMBDA_DIR))
    for name in ("handler", "logic"):
        sys.modules.pop(name, None)
    handler = importlib.import_module("handler")

    def messages() -> list[dict]:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in got]

    return {"handler": handler, "sfn": sfn, "machine": machine, "messages": messages}


class Context:
    aws_request_id = "req-1"


def test_starts_an_execution_named_after_the_trigger(world, capsys):
    result = world["handler"].handler({"trigger": "new-data", "detail": {"key": "incoming/2026-11.csv"}}, Context())
    assert result["started"] is True and result["statusCode"] == 200
    execution = world["sfn"].describe_execution(executionArn=result["executionArn"])
    assert execution["name"].startswith("new-data-")
    assert json.loads(execution["input"]) == {"trigger": "new-data", "detail": {"key": "incoming/2026-11.csv"}}
    log = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert log["event"] == "execution_started" and log["requestId"] == "req-1" and log["project"] == "churn"


def test_a_second_trigger_during_a_run_is_skipped_recorded_and_notified(world, capsys):
    first = world["handler"].handler({"trigger": "schedule", "detail": {}}, Context())
    second = world["handler"].handler({"trigger": "drift", "detail": {"alarm": "mlops-dev-churn-drift-x"}}, Context())
    assert second == {"statusCode": 200, "started": False, "skipped": True, "runningExecution": first["executionArn"]}
    executions = world["sfn"].list_executions(stateMachineArn=world["machine"])["executions"]
    assert len(executions) == 1
    (message,) = world["messages"]()
    assert message["trigger"] == "drift" and message["runningExecution"] == first["executionArn"]
    assert "already running" in message["result"]
    assert '"event": "trigger_skipped"' in capsys.readouterr().out


def test_after_the_run_ends_a_trigger_starts_again(world):
    first = world["handler"].handler({"trigger": "schedule", "detail": {}}, Context())
    world["sfn"].stop_execution(executionArn=first["executionArn"])
    again = world["handler"].handler({"trigger": "manual", "detail": {}}, Context())
    assert again["started"] is True and again["executionArn"] != first["executionArn"]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (["not", "an", "object"], "must be a JSON object"),
        ({"trigger": "cron"}, "trigger 'cron' is not one of"),
        ({"trigger": "drift", "detail": "x"}, "detail must be"),
    ],
)
def test_bad_events_are_refused_with_a_400_and_start_nothing(world, event, message):
    result = world["handler"].handler(event, Context())
    assert result["statusCode"] == 400 and message in result["error"] and result["started"] is False
    assert world["sfn"].list_executions(stateMachineArn=world["machine"])["executions"] == []


def test_bad_environment_fails_the_cold_start_with_the_reason(aws, monkeypatch):
    monkeypatch.setenv("STATE_MACHINE_ARN", "pipeline")
    monkeypatch.setenv("ALERT_TOPIC_ARN", "")
    monkeypatch.delenv("PROJECT_NAME", raising=False)
    monkeypatch.syspath_prepend(str(LAMBDA_DIR))
    for name in ("handler", "logic"):
        sys.modules.pop(name, None)
    logic = importlib.import_module("logic")
    with pytest.raises(logic.ConfigurationError) as info:
        importlib.import_module("handler")
    text = str(info.value)
    assert "STATE_MACHINE_ARN='pipeline': expected a state machine ARN" in text
    assert "ALERT_TOPIC_ARN=''" in text and "PROJECT_NAME is empty" in text
