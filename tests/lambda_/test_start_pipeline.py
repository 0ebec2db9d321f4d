"""The start-pipeline guard, against moto's Step Functions and SNS."""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from pathlib import Path

import boto3
import pytest

from tests import sfn_harness

LAMBDA_DIR = Path(__file__).resolve().parents[2] / "lambda" / "start_pipeline"
ACCOUNT, REGION = "123456789012", "us-east-1"
QUEUE = "/mlops/dev/projects/churn/pipeline/queued-triggers"
IMAGE_TAG = "src-0123456789abcdef"


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
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name=QUEUE, Value="{}", Type="String")  # as PipelineTriggers deploys it
    monkeypatch.setenv("QUEUE_PARAMETER", QUEUE)
    monkeypatch.setenv("STATE_MACHINE_ARN", machine)
    monkeypatch.setenv("ALERT_TOPIC_ARN", topic)
    monkeypatch.setenv("PROJECT_NAME", "churn")
    monkeypatch.setenv("SANDBOX_PREFIX", "sandbox/")
    monkeypatch.setenv("IMAGE_REPOSITORY", "mlops-dev-churn")
    monkeypatch.setenv("IMAGE_TAG", IMAGE_TAG)
    monkeypatch.setenv("ARTIFACTS_BUCKET", "artifacts-bucket")
    boto3.client("s3").create_bucket(Bucket="artifacts-bucket")  # the runs' records, the run requests and their answers
    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName="mlops-dev-churn")
    pushed = ecr.put_image(repositoryName="mlops-dev-churn", imageManifest=sfn_harness.IMAGE_MANIFEST, imageTag=IMAGE_TAG)
    monkeypatch.syspath_prepend(str(LAMBDA_DIR))
    sys.modules.pop("handler", None)
    sfn_harness.lambda_logic("start_pipeline", as_logic=True)  # under its name from the root, which `make mutate` tests
    handler = importlib.import_module("handler")
    monkeypatch.setattr(sys.modules["logic"], "END_CHECK_PAUSE_S", 0)  # a run-ended event's re-checks, without waiting

    def messages() -> list[dict]:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in got]

    def queued() -> dict:
        return json.loads(ssm.get_parameter(Name=QUEUE)["Parameter"]["Value"])

    digest = pushed["image"]["imageId"]["imageDigest"]  # what ECR names the pushed image
    return {"handler": handler, "sfn": sfn, "machine": machine, "messages": messages, "queued": queued, "digest": digest}


class Context:
    aws_request_id = "req-1"


def test_starts_an_execution_named_after_the_trigger(world, capsys):
    result = world["handler"].handler({"trigger": "new-data", "detail": {"key": "incoming/2026-11.csv"}}, Context())
    assert result["started"] is True and result["statusCode"] == 200
    execution = world["sfn"].describe_execution(executionArn=result["executionArn"])
    assert execution["name"].startswith("new-data-")
    assert json.loads(execution["input"]) == {
        "trigger": "new-data",
        "detail": {"key": "incoming/2026-11.csv"},
        "imageDigest": world["digest"],
        "imageCommit": "unknown",
    }
    log = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert log["event"] == "execution_started" and log["requestId"] == "req-1" and log["project"] == "churn"
    assert log["imageDigest"] == world["digest"] and world["digest"].startswith("sha256:")


def test_a_run_records_the_commit_its_image_was_built_from(world):
    """The delivery pipeline tags what it pushes with the commit too (tools/ship_image.py): the run carries it."""
    ecr = boto3.client("ecr")
    manifest = ecr.batch_get_image(repositoryName="mlops-dev-churn", imageIds=[{"imageTag": IMAGE_TAG}])["images"][0]["imageManifest"]
    ecr.put_image(repositoryName="mlops-dev-churn", imageManifest=manifest, imageTag="commit-0a1b2c3d4e5f")
    result = world["handler"].handler({"trigger": "schedule", "detail": {}}, Context())
    run = json.loads(world["sfn"].describe_execution(executionArn=result["executionArn"])["input"])
    assert (run["imageDigest"], run["imageCommit"]) == (world["digest"], "0a1b2c3d4e5f")


def test_a_run_whose_image_is_not_pushed_yet_starts_with_an_unknown_digest_and_says_so(world, monkeypatch, capsys):
    boto3.client("ecr").batch_delete_image(repositoryName="mlops-dev-churn", imageIds=[{"imageTag": IMAGE_TAG}])
    result = world["handler"].handler({"trigger": "manual", "detail": {}}, Context())
    execution = world["sfn"].describe_execution(executionArn=result["executionArn"])
    assert json.loads(execution["input"])["imageDigest"] == "unknown"  # its training job will fail to pull, with ECR's reason
    assert json.loads(execution["input"])["imageCommit"] == "unknown"
    events = [json.loads(line)["event"] for line in capsys.readouterr().out.strip().splitlines()]
    assert events == ["image_not_found", "execution_started"]


def test_a_second_trigger_during_a_run_is_queued_recorded_and_notified(world, capsys):
    first = world["handler"].handler({"trigger": "schedule", "detail": {}}, Context())
    second = world["handler"].handler({"trigger": "drift", "detail": {"alarm": "mlops-dev-churn-drift-x"}}, Context())
    assert second == {"statusCode": 200, "started": False, "queued": True, "runningExecution": first["executionArn"], "queuedTriggers": 1}
    executions = world["sfn"].list_executions(stateMachineArn=world["machine"])["executions"]
    assert len(executions) == 1
    (message,) = world["messages"]()
    assert message["trigger"] == "drift" and message["runningExecution"] == first["executionArn"]
    assert "one follow-up run starts when it ends" in message["result"]
    assert '"event": "trigger_queued"' in capsys.readouterr().out
    assert world["queued"]()["first"] == {"trigger": "drift", "detail": {"alarm": "mlops-dev-churn-drift-x"}}


def _ended(execution: str, status: str = "SUCCEEDED") -> dict:
    """What the run-ended rule delivers (PipelineTriggers)."""
    return {"trigger": "run-ended", "detail": {"execution": execution, "status": status}}


def test_triggers_during_a_run_are_coalesced_into_exactly_one_follow_up_run(world):
    handler, sfn = world["handler"].handler, world["sfn"]
    first = handler({"trigger": "schedule", "detail": {}}, Context())
    for trigger, detail in (("new-data", {"key": "incoming/a.csv"}), ("drift", {"alarm": "x"}), ("new-data", {"key": "incoming/b.csv"})):
        assert handler({"trigger": trigger, "detail": detail}, Context())["queued"] is True
    assert world["queued"]()["count"] == 3 and world["queued"]()["kinds"] == ["new-data", "drift"]
    sfn.stop_execution(executionArn=first["executionArn"])
    follow_up = handler(_ended(first["executionArn"], "ABORTED"), Context())
    assert follow_up["started"] is True and follow_up["coalesced"] == 3
    run = sfn.describe_execution(executionArn=follow_up["executionArn"])
    assert run["name"].startswith("new-data-")
    assert json.loads(run["input"]) == {
        "trigger": "new-data",
        "detail": {"key": "incoming/a.csv", "queuedTriggers": 3, "queuedKinds": "new-data,drift", "after": first["executionArn"]},
        "imageDigest": world["digest"],
        "imageCommit": "unknown",
    }
    assert world["queued"]() == {}
    # the follow-up's own end finds nothing queued: no third run; never two at once meanwhile
    assert handler({"trigger": "manual", "detail": {}}, Context())["queued"] is True  # queued behind the follow-up
    sfn.stop_execution(executionArn=follow_up["executionArn"])
    assert handler(_ended(follow_up["executionArn"]), Context())["started"] is True  # the manual one, once
    running = sfn.list_executions(stateMachineArn=world["machine"], statusFilter="RUNNING")["executions"]
    assert len(running) == 1
    sfn.stop_execution(executionArn=running[0]["executionArn"])
    assert handler(_ended(running[0]["executionArn"]), Context()) == {"statusCode": 200, "started": False, "queuedTriggers": 0}


def test_the_ended_run_still_listed_as_running_does_not_hold_the_follow_up_back(world, monkeypatch):
    """ListExecutions may list the run that just ended for a moment: the follow-up must not wait for it."""
    handler, sfn = world["handler"].handler, world["sfn"]
    first = handler({"trigger": "schedule", "detail": {}}, Context())
    handler({"trigger": "drift", "detail": {}}, Context())
    sfn.stop_execution(executionArn=first["executionArn"])
    listed = {"executionArn": first["executionArn"], "name": "x", "status": "RUNNING"}
    real_list = world["handler"].SFN.list_executions
    monkeypatch.setattr(world["handler"].SFN, "list_executions", lambda **kw: {"executions": [listed, *real_list(**kw)["executions"]]})
    follow_up = handler(_ended(first["executionArn"]), Context())  # the ended run is still listed as running
    assert follow_up["started"] is True
    assert json.loads(sfn.describe_execution(executionArn=follow_up["executionArn"])["input"])["detail"]["after"] == first["executionArn"]
    monkeypatch.undo()
    queued_behind = handler({"trigger": "manual", "detail": {}}, Context())
    assert queued_behind["queued"] is True  # and the follow-up counts as running for new triggers


def test_a_follow_up_waits_while_another_run_is_going(world):
    handler, sfn = world["handler"].handler, world["sfn"]
    first = handler({"trigger": "schedule", "detail": {}}, Context())
    handler({"trigger": "new-data", "detail": {}}, Context())
    other = sfn.start_execution(stateMachineArn=world["machine"], name="started-by-hand")["executionArn"]
    sfn.stop_execution(executionArn=first["executionArn"])
    waiting = handler(_ended(first["executionArn"]), Context())
    assert waiting == {"statusCode": 200, "started": False, "queuedTriggers": 1, "runningExecution": other}
    sfn.stop_execution(executionArn=other)
    assert handler(_ended(other), Context())["started"] is True and world["queued"]() == {}


def test_a_failed_start_keeps_the_queue(world, monkeypatch):
    handler, sfn = world["handler"].handler, world["sfn"]
    first = handler({"trigger": "schedule", "detail": {}}, Context())
    handler({"trigger": "new-data", "detail": {}}, Context())
    sfn.stop_execution(executionArn=first["executionArn"])
    module = world["handler"]

    def refuse(**kwargs):
        raise RuntimeError("throttled")

    monkeypatch.setattr(module.SFN, "start_execution", refuse)
    with pytest.raises(RuntimeError):
        handler(_ended(first["executionArn"]), Context())  # the invocation fails: EventBridge retries it
    assert world["queued"]()["count"] == 1


def test_a_trigger_finding_nothing_running_takes_what_was_queued(world):
    """A lost run-ended event (dead-lettered) does not strand the queue: the next trigger's run covers it."""
    handler, sfn = world["handler"].handler, world["sfn"]
    first = handler({"trigger": "schedule", "detail": {}}, Context())
    handler({"trigger": "new-data", "detail": {}}, Context())
    sfn.stop_execution(executionArn=first["executionArn"])
    run = handler({"trigger": "manual", "detail": {}}, Context())
    assert run["started"] is True and run["coalesced"] == 1 and world["queued"]() == {}


def test_after_the_run_ends_a_trigger_starts_again(world):
    first = world["handler"].handler({"trigger": "schedule", "detail": {}}, Context())
    world["sfn"].stop_execution(executionArn=first["executionArn"])
    again = world["handler"].handler({"trigger": "manual", "detail": {}}, Context())
    assert again["started"] is True and again["executionArn"] != first["executionArn"]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (["not", "an", "object"], "event must be a JSON object, got list"),
        ({"trigger": "cron"}, "trigger 'cron' is not one of schedule, new-data, drift, new-image, manual (or publish, run-ended)"),
        ({"trigger": "drift", "detail": "x"}, "detail must be a JSON object"),
    ],
)
def test_bad_events_are_refused_with_a_400_and_start_nothing(world, event, message):
    assert world["handler"].handler(event, Context()) == {"statusCode": 400, "started": False, "error": message}
    assert world["sfn"].list_executions(stateMachineArn=world["machine"])["executions"] == []


def test_bad_environment_fails_the_cold_start_with_the_reason(aws, monkeypatch):
    monkeypatch.setenv("STATE_MACHINE_ARN", "pipeline")
    monkeypatch.setenv("ALERT_TOPIC_ARN", "")
    monkeypatch.delenv("PROJECT_NAME", raising=False)
    monkeypatch.setenv("QUEUE_PARAMETER", "queued")
    monkeypatch.syspath_prepend(str(LAMBDA_DIR))
    sys.modules.pop("handler", None)
    logic = sfn_harness.lambda_logic("start_pipeline", as_logic=True)
    with pytest.raises(logic.ConfigurationError) as info:
        importlib.import_module("handler")
    text = str(info.value)
    assert "STATE_MACHINE_ARN='pipeline': expected a state machine ARN" in text
    assert "ALERT_TOPIC_ARN=''" in text and "PROJECT_NAME is empty" in text
    assert "QUEUE_PARAMETER='queued': expected an SSM parameter name starting with /" in text
    assert "SANDBOX_PREFIX=''" in text


ARTIFACTS = "artifacts-bucket"


@pytest.fixture
def publisher(world, monkeypatch):
    """The same code as the publisher (ACCEPTS=published-models), and an upload that delivers S3's Object Created event to
    it as EventBridge does."""
    s3 = boto3.client("s3")
    logic = sys.modules["logic"]
    settings = logic.Settings.from_env({**dict(os.environ), "ACCEPTS": "published-models"})
    sfn = world["sfn"]

    def deliver(key: str, log=lambda *a, **k: None) -> dict:
        event = {"source": "aws.s3", "detail-type": "Object Created", "detail": {"bucket": {"name": ARTIFACTS}, "object": {"key": key}}}
        return logic.handle(event, sfn=sfn, sns=None, ssm=None, ecr=boto3.client("ecr"), s3=s3, settings=settings, log=log)

    def upload(key: str, commit: str | None = None, log=lambda *a, **k: None) -> dict:
        s3.put_object(Bucket=ARTIFACTS, Key=key, Body=b"archive", **({"Metadata": {"commit": commit}} if commit else {}))
        return deliver(key, log)

    return {"upload": upload, "deliver": deliver, "s3": s3, "logic": logic}


KEY = "sandbox/alice/published/20261125T030000Z-0a1b2c3d/model.tar.gz"


def test_a_publish_starts_its_own_run_at_once_even_during_a_training_run(world, publisher):
    handler, sfn = world["handler"].handler, world["sfn"]
    training = handler({"trigger": "schedule", "detail": {}}, Context())
    published = publisher["upload"](KEY, commit="0a1b2c3")
    assert training["started"] and published["started"] and published["executionArn"] != training["executionArn"]
    execution = sfn.describe_execution(executionArn=published["executionArn"])
    assert execution["name"] == "publish-20261125T030000Z-0a1b2c3d"  # what mlops publish waits for
    assert json.loads(execution["input"]) == {
        "trigger": "publish",
        "detail": {"user": "alice", "modelKey": KEY, "commit": "0a1b2c3"},  # the user from the key, the commit from its metadata
        "imageDigest": world["digest"],
        "imageCommit": "unknown",  # the image that evaluates it
    }
    assert world["queued"]() == {}  # a publish is not queued behind the training run, nor queues anything
    later = handler({"trigger": "new-data", "detail": {}}, Context())  # ... but counts as running for the triggers
    assert later["queued"] is True
    # EventBridge delivers at least once: one run per archive (Step Functions answers a same-name, same-input start of a
    # running execution with that execution; once it has ended, the name is taken)
    assert publisher["deliver"](KEY)["executionArn"] == published["executionArn"]
    sfn.stop_execution(executionArn=published["executionArn"])
    assert publisher["deliver"](KEY) == {"statusCode": 200, "started": False, "duplicate": True}
    assert len([e for e in sfn.list_executions(stateMachineArn=world["machine"])["executions"] if e["name"].startswith("publish-")]) == 1


def test_a_publish_without_a_commit_records_unknown(world, publisher):
    result = publisher["upload"]("sandbox/bob/published/20261125T030000Z-00000000/model.tar.gz")
    assert json.loads(world["sfn"].describe_execution(executionArn=result["executionArn"])["input"])["detail"]["commit"] == "unknown"


def test_the_guard_refuses_a_publish_whatever_user_it_names(world):
    """The forgery M1 found: a caller naming another user's archive. The guard takes no publish at all."""
    forged = {"trigger": "publish", "detail": {"user": "alice", "modelKey": KEY}}
    result = world["handler"].handler(forged, Context())
    assert result["statusCode"] == 403 and "mlops publish uploads the archive" in result["error"]
    assert world["sfn"].list_executions(stateMachineArn=world["machine"])["executions"] == []


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("sandbox/Alice/published/20261125T030000Z-0a1b2c3d/model.tar.gz", "user 'Alice' is not a user name"),
        ("sandbox/alice/published/not-a-folder/model.tar.gz", "is not an archive mlops publish uploads"),
        ("sandbox/alice/20261125T030000Z-0a1b2c3d/model.tar.gz", "is not an archive mlops publish uploads"),
        ("sandbox/alice/published/20261125T030000Z-0a1b2c3d/model.pkl", "is not an archive mlops publish uploads"),
        ("pipeline/abcd1234/published/20261125T030000Z-0a1b2c3d/model.tar.gz", "is not an archive mlops publish uploads"),
    ],
)
def test_a_bad_published_key_is_refused_with_a_400_and_starts_nothing(world, publisher, key, message):
    result = publisher["upload"](key)
    assert result["statusCode"] == 400 and message in result["error"] and result["started"] is False
    assert world["sfn"].list_executions(stateMachineArn=world["machine"])["executions"] == []


def test_the_publisher_takes_s3_events_only(world, publisher):
    logic = publisher["logic"]
    settings = logic.Settings.from_env({**dict(os.environ), "ACCEPTS": "published-models"})
    forged = {"trigger": "publish", "detail": {"user": "alice", "modelKey": KEY}}
    result = logic.handle(forged, sfn=world["sfn"], sns=None, ssm=None, ecr=None, s3=publisher["s3"], settings=settings, log=lambda *a, **k: None)
    assert result["statusCode"] == 400 and "S3's Object Created events only" in result["error"]


def test_a_bad_commit_in_the_metadata_is_refused(world, publisher):
    result = publisher["upload"](KEY, commit="main")
    assert result["statusCode"] == 400 and "commit 'main' is not a git commit" in result["error"]


def test_an_unreadable_queue_is_logged_and_still_makes_one_follow_up(world, capsys):
    handler, sfn = world["handler"].handler, world["sfn"]
    first = handler({"trigger": "schedule", "detail": {}}, Context())
    boto3.client("ssm").put_parameter(Name=QUEUE, Value="edited by hand", Type="String", Overwrite=True)
    sfn.stop_execution(executionArn=first["executionArn"])
    follow_up = handler(_ended(first["executionArn"]), Context())
    assert follow_up["started"] is True and follow_up["coalesced"] == 1 and world["queued"]() == {}
    assert '"event": "queue_unreadable"' in capsys.readouterr().out


def test_a_forged_run_ended_event_for_a_running_execution_starts_nothing(world, monkeypatch):
    """Anyone allowed to invoke the guard could claim the running execution ended: the event is checked against the
    execution's real status (again after a pause, since reads may lag the event) and refused."""
    handler, sfn = world["handler"].handler, world["sfn"]
    first = handler({"trigger": "schedule", "detail": {}}, Context())
    handler({"trigger": "drift", "detail": {}}, Context())
    forged = handler(_ended(first["executionArn"]), Context())
    assert forged["statusCode"] == 400 and "is RUNNING, not ended" in forged["error"]
    assert len(sfn.list_executions(stateMachineArn=world["machine"], statusFilter="RUNNING")["executions"]) == 1  # no run beside it
    other_machine = first["executionArn"].replace(":pipeline:", ":elsewhere:")
    assert "is not an execution of" in handler(_ended(other_machine), Context())["error"]
    assert world["queued"]()["count"] == 1  # the queued trigger waits for the real end
    sfn.stop_execution(executionArn=first["executionArn"])
    assert handler(_ended(first["executionArn"]), Context())["started"] is True


def test_a_publish_flood_is_refused_past_the_projects_bound_with_a_note_beside_the_archive(world, publisher):
    key = lambda n: f"sandbox/alice/published/20261125T0300{n:02d}Z-0a1b2c3d/model.tar.gz"  # noqa: E731
    started = [publisher["upload"](key(n)) for n in range(2)]
    assert all(s["started"] for s in started)  # MAX_PUBLISH_RUNS defaults to 2
    refused = publisher["upload"](key(9))
    assert refused["statusCode"] == 429 and "at most 2 at once" in refused["error"]
    note = publisher["s3"].get_object(Bucket=ARTIFACTS, Key=key(9).replace("model.tar.gz", "refused.json"))["Body"].read()
    assert "at most 2 at once" in json.loads(note)["refused"]  # what mlops publish shows the user
    world["sfn"].stop_execution(executionArn=started[0]["executionArn"])
    assert publisher["upload"](key(10))["started"] is True  # one ended: room again


GUARD_ENV = {
    "STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:pipeline",
    "ALERT_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts",
    "PROJECT_NAME": "churn",
    "QUEUE_PARAMETER": QUEUE,
    "SANDBOX_PREFIX": "Sandbox_1/",
    "IMAGE_REPOSITORY": "a" * 256,  # ECR's longest repository name
    "IMAGE_TAG": IMAGE_TAG,
    "ARTIFACTS_BUCKET": "a" * 63,  # S3's longest bucket name
}


@pytest.mark.parametrize(("limit", "bound"), [(None, 2), ("1", 1), ("20", 20)])
def test_the_publish_bound_comes_from_max_publish_runs(limit, bound):
    """The guard's bound of publish runs is the configured one (found by `make mutate`: dropping it survived)."""
    logic = sfn_harness.lambda_logic("start_pipeline")
    env = {**GUARD_ENV, **({"MAX_PUBLISH_RUNS": limit} if limit else {})}
    settings = logic.Settings.from_env(env)
    assert (settings.max_publish_runs, settings.accepts, settings.sandbox_prefix) == (bound, "triggers", "Sandbox_1/")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"MAX_PUBLISH_RUNS": "0"}, "MAX_PUBLISH_RUNS='0': expected a whole number from 1 to 20"),
        ({"MAX_PUBLISH_RUNS": "21"}, "MAX_PUBLISH_RUNS='21': expected a whole number from 1 to 20"),
        ({"MAX_PUBLISH_RUNS": "two"}, "MAX_PUBLISH_RUNS='two': expected a whole number from 1 to 20"),
        ({"ACCEPTS": "anything"}, "ACCEPTS='anything': expected one of triggers, published-models"),
        ({"PROJECT_NAME": ""}, "PROJECT_NAME is empty: expected the project's name"),
        ({"IMAGE_REPOSITORY": "a" * 257}, f"IMAGE_REPOSITORY={'a' * 257!r}: expected the project's ECR repository name"),
        (
            {"PROJECT_NAME": "", "ACCEPTS": "x"},
            "PROJECT_NAME is empty: expected the project's name; ACCEPTS='x': expected one of triggers, published-models",
        ),
    ],
)
def test_each_wrong_guard_setting_is_named_exactly(change, message):
    logic = sfn_harness.lambda_logic("start_pipeline")
    with pytest.raises(logic.ConfigurationError) as caught:
        logic.Settings.from_env({**GUARD_ENV, **change})
    assert str(caught.value) == message


def _logged(capsys) -> list[dict]:
    """The guard's structured log lines since the last read, without the fields every line carries."""
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines() if line.startswith("{")]
    for line in lines:
        assert (line.pop("level"), line.pop("project"), line.pop("requestId")) == ("INFO", "churn", "req-1")
    return lines


def test_every_refusal_and_wait_is_announced_exactly(world, capsys):
    """What the guard says is how a platform engineer learns why nothing started: each refusal, queued trigger, wait and
    end is one log line with its fields, and each answer says exactly what happened (found by make mutate: the log
    lines' names and fields, and the answers' "started", were held by no test)."""
    handler, sfn = world["handler"].handler, world["sfn"]
    bad = handler({"trigger": "whenever"}, Context())
    assert bad == {
        "statusCode": 400,
        "started": False,
        "error": "trigger 'whenever' is not one of schedule, new-data, drift, new-image, manual (or publish, run-ended)",
    }
    assert _logged(capsys) == [{"event": "trigger_rejected", "reason": bad["error"]}]
    publish = handler({"trigger": "publish", "detail": {"user": "alice"}}, Context())
    assert publish == {"statusCode": 403, "started": False, "error": publish["error"]} and "as the user who wrote it" in publish["error"]
    assert _logged(capsys) == [{"event": "trigger_rejected", "trigger": "publish", "reason": publish["error"]}]
    alone = handler({"trigger": "manual", "detail": {}}, Context())["executionArn"]
    sfn.stop_execution(executionArn=alone)
    _logged(capsys)
    nothing_queued = handler(_ended(alone, "ABORTED"), Context())
    assert _logged(capsys) == [{"event": "run_ended", "execution": alone, "status": "ABORTED", "queued": 0}]
    assert nothing_queued == {"statusCode": 200, "started": False, "queuedTriggers": 0}

    first = handler({"trigger": "schedule", "detail": {}}, Context())["executionArn"]
    _logged(capsys)
    handler({"trigger": "drift", "detail": {"alarm": "a"}}, Context())
    assert _logged(capsys) == [{"event": "trigger_queued", "trigger": "drift", "detail": {"alarm": "a"}, "running_execution": first, "queued": 1}]
    (message,) = world["messages"]()
    assert message == {
        "project": "churn",
        "result": "trigger queued: an execution is running; one follow-up run starts when it ends",
        "trigger": "drift",
        "detail": {"alarm": "a"},
        "runningExecution": first,
        "queuedTriggers": 1,
    }
    forged = handler(_ended(first), Context())
    assert forged == {"statusCode": 400, "started": False, "error": forged["error"]}
    assert _logged(capsys)[-1] == {"event": "trigger_rejected", "trigger": "run-ended", "reason": forged["error"]}

    other = sfn.start_execution(stateMachineArn=world["machine"], name="other")["executionArn"]
    sfn.stop_execution(executionArn=first)
    waits = handler(_ended(first, "ABORTED"), Context())
    assert waits == {"statusCode": 200, "started": False, "queuedTriggers": 1, "runningExecution": other}
    assert _logged(capsys)[-1] == {"event": "follow_up_waits", "running_execution": other, "queued": 1}
    sfn.stop_execution(executionArn=other)
    follow_up = handler(_ended(other), Context())
    run = json.loads(sfn.describe_execution(executionArn=follow_up["executionArn"])["input"])
    assert run["trigger"] == "drift" and run["detail"] == {"alarm": "a", "queuedTriggers": 1, "queuedKinds": "drift", "after": other}
    assert world["queued"]() == {}  # taken by the follow-up


def test_an_unreadable_queue_is_announced_with_what_it_held_and_becomes_one_manual_trigger(world, capsys):
    handler, sfn = world["handler"].handler, world["sfn"]
    first = handler({"trigger": "schedule", "detail": {}}, Context())["executionArn"]
    for value in ('{"count": 0, "first": {"trigger": "drift"}}', '{"count": 2}', "x" * 300):
        boto3.client("ssm").put_parameter(Name=QUEUE, Value=value, Type="String", Overwrite=True)
        _logged(capsys)
        waits = handler({"trigger": "new-data", "detail": {"key": "k"}}, Context())
        assert waits["queuedTriggers"] == 2  # what it held counts as one manual trigger, and this one
        assert _logged(capsys)[0] == {"event": "queue_unreadable", "parameter": QUEUE, "value": value[:200]}
        assert world["queued"]()["kinds"] == ["manual", "new-data"]
        assert world["queued"]()["first"] == {"trigger": "manual", "detail": {"queue": "unreadable"}}
    sfn.stop_execution(executionArn=first)
    assert handler(_ended(first), Context())["coalesced"] == 2


def test_a_refused_publish_is_announced_and_its_note_says_why(world, publisher):
    key = lambda n: f"sandbox/alice/published/20261125T0300{n:02d}Z-0a1b2c3d/model.tar.gz"  # noqa: E731
    assert all(publisher["upload"](key(n))["started"] for n in range(2))
    logged = []
    result = publisher["upload"](key(9), log=lambda event, **fields: logged.append({"event": event, **fields}))
    note_key = key(9).replace("model.tar.gz", "refused.json")
    note = publisher["s3"].get_object(Bucket=ARTIFACTS, Key=note_key)
    assert json.loads(note["Body"].read()) == {"refused": result["error"]} and note["ContentType"] == "application/json"
    assert result == {"statusCode": 429, "started": False, "error": result["error"]} and "at most 2 at once" in result["error"]
    assert logged == [{"event": "trigger_rejected", "trigger": "publish", "reason": result["error"], "user": "alice", "note": note_key}]


def test_a_started_run_and_a_missing_image_are_announced_exactly(world, capsys, monkeypatch):
    handler = world["handler"].handler
    started = handler({"trigger": "new-data", "detail": {"key": "k", "nested": {"dropped": 1}, "n": None}}, Context())
    assert re.fullmatch(r"arn:aws:states:us-east-1:123456789012:execution:pipeline:new-data-\d{8}T\d{6}Z-[0-9a-f]{8}", started["executionArn"])
    assert _logged(capsys) == [
        {
            "event": "execution_started",
            "trigger": "new-data",
            "detail": {"key": "k", "n": None},  # what is not a plain value is not passed on
            "execution": started["executionArn"],
            "imageDigest": world["digest"],
            "imageCommit": "unknown",
        }
    ]
    world["sfn"].stop_execution(executionArn=started["executionArn"])
    boto3.client("ecr").batch_delete_image(repositoryName="mlops-dev-churn", imageIds=[{"imageTag": IMAGE_TAG}])
    handler({"trigger": "manual"}, Context())  # no detail: an empty one
    (missing, run) = _logged(capsys)
    assert (missing["event"], missing["repository"], missing["tag"]) == ("image_not_found", "mlops-dev-churn", IMAGE_TAG)
    assert missing["reason"].startswith("An error occurred (ImageNotFoundException) when calling the DescribeImages operation")
    assert (run["event"], run["detail"]) == ("execution_started", {})


def test_a_run_ended_event_is_checked_again_while_the_execution_still_reads_running(world, monkeypatch):
    handler, sfn = world["handler"].handler, world["sfn"]
    first = handler({"trigger": "schedule", "detail": {}}, Context())["executionArn"]
    logic = sys.modules["logic"]
    reads = []

    def lagging(**kwargs):
        reads.append(kwargs["executionArn"])
        return {**real(**kwargs), "status": "PENDING_REDRIVE"} if len(reads) < logic.END_CHECKS else real(**kwargs)

    sfn.stop_execution(executionArn=first)
    guard_sfn = world["handler"].SFN  # the client the guard reads with
    real = guard_sfn.describe_execution
    monkeypatch.setattr(guard_sfn, "describe_execution", lagging)
    assert handler(_ended(first), Context())["statusCode"] == 200  # the last of the END_CHECKS reads shows the end
    assert reads == [first] * logic.END_CHECKS
    reads.clear()
    monkeypatch.setattr(guard_sfn, "describe_execution", lambda **kwargs: (reads.append(1), {"status": "PENDING_REDRIVE"})[1])
    refused = handler(_ended(first), Context())
    assert refused["error"] == f"execution {first} is PENDING_REDRIVE, not ended" and len(reads) == logic.END_CHECKS


@pytest.mark.parametrize(
    ("user", "key", "problem"),
    [
        ("a" * 32, None, None),  # the longest user name
        ("a" * 33, None, "user {user!r} is not a user name (lowercase letters, digits and single hyphens, at most 32)"),
        ("alice", "sandbox/alice/published/./model.tar.gz", "modelKey {key!r} has an empty, relative or unsafe path part"),
        ("alice", "sandbox/alice/published/../model.tar.gz", "modelKey {key!r} has an empty, relative or unsafe path part"),
        ("alice", "sandbox/alice/" + "m" * (200 - len("sandbox/alice/.tar.gz")) + ".tar.gz", None),  # MODEL_KEY_MAX exactly
        (
            "alice",
            "sandbox/alice/" + "m" * (201 - len("sandbox/alice/.tar.gz")) + ".tar.gz",
            "modelKey {key!r} is not a .tar.gz under sandbox/alice/ of the project's artifacts bucket (at most 200 characters)",
        ),
    ],
)
def test_a_publish_request_is_checked_at_its_edges(user, key, problem):
    logic = sfn_harness.lambda_logic("start_pipeline")
    key = key or f"sandbox/{user}/published/x/model.tar.gz"
    if problem is None:
        assert logic.publish_detail({"user": user, "modelKey": key}, "sandbox/") == {"user": user, "modelKey": key, "commit": "unknown"}
    else:
        with pytest.raises(logic.BadTrigger) as caught:
            logic.publish_detail({"user": user, "modelKey": key, "commit": "xyz"}, "sandbox/")
        expected = problem.format(user=user, key=key) + "; commit 'xyz' is not a git commit (7 to 40 lowercase hex digits)"
        assert str(caught.value) == expected


def test_a_bad_or_duplicate_published_archive_is_announced(world, publisher):
    logged = []
    log = lambda event, **fields: logged.append({"event": event, **fields})  # noqa: E731
    refused = publisher["upload"]("sandbox/alice/elsewhere/model.tar.gz", log=log)
    assert logged == [{"event": "trigger_rejected", "trigger": "publish", "reason": refused["error"]}] and refused["statusCode"] == 400
    logged.clear()
    run = publisher["upload"](KEY)["executionArn"]
    world["sfn"].stop_execution(executionArn=run)  # while it runs, Step Functions answers the same start with the same run
    again = publisher["deliver"](KEY, log)  # EventBridge delivers at least once: the same archive starts one run
    folder = KEY.split("/")[3]
    assert logged == [{"event": "publish_duplicate", "folder": folder}] and again["started"] is False


# -- run requests (mlops run) and run records ----------------------------------------------------------------------------


def _request(key: str, bucket: str = "artifacts-bucket") -> dict:
    """S3's Object Created event of ``key``, as the run-request rule delivers it (the event itself, no input transformer)."""
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=b"{}")
    return {"source": "aws.s3", "detail-type": "Object Created", "detail": {"bucket": {"name": bucket}, "object": {"key": key}}}


def _json(key: str) -> dict:
    return json.loads(boto3.client("s3").get_object(Bucket="artifacts-bucket", Key=key)["Body"].read())


REQUEST = "sandbox/alice/requests/20261125T030000Z-0a1b2c3d/run.json"


def test_a_run_request_is_a_manual_trigger_from_the_user_whose_prefix_holds_it_and_is_answered_beside_it(world):
    result = world["handler"].handler(_request(REQUEST), Context())
    execution = world["sfn"].describe_execution(executionArn=result["executionArn"])
    assert json.loads(execution["input"])["trigger"] == "manual"
    assert json.loads(execution["input"])["detail"] == {"requestedBy": "alice", "request": "20261125T030000Z-0a1b2c3d"}
    answer = _json(REQUEST.replace("run.json", "answer.json"))
    assert answer == {"started": True, "executionArn": result["executionArn"], "name": execution["name"]}
    # a second request while it runs is queued, and its answer says behind what
    second = REQUEST.replace("0a1b2c3d", "0a1b2c3e")
    world["handler"].handler(_request(second), Context())
    assert _json(second.replace("run.json", "answer.json")) == {
        "started": False,
        "queued": True,
        "runningExecution": result["executionArn"],
        "queuedTriggers": 1,
    }


@pytest.mark.parametrize(
    ("key", "bucket"),
    [
        ("sandbox/alice/requests/20261125T030000Z-0a1b2c3d/other.json", "artifacts-bucket"),  # not a request
        ("sandbox/alice/requests/later/run.json", "artifacts-bucket"),  # not mlops run's folder
        ("sandbox/Alice/requests/20261125T030000Z-0a1b2c3d/run.json", "artifacts-bucket"),  # not a user name
        ("sandbox/alice/published/20261125T030000Z-0a1b2c3d/run.json", "artifacts-bucket"),  # not under requests/
        ("pipeline/alice/requests/20261125T030000Z-0a1b2c3d/run.json", "artifacts-bucket"),  # not a sandbox prefix
        (REQUEST, "another-bucket"),  # another project's bucket
    ],
)
def test_anything_but_a_run_request_in_the_projects_bucket_starts_nothing(world, key, bucket):
    boto3.client("s3").create_bucket(Bucket="another-bucket")
    result = world["handler"].handler(_request(key, bucket), Context())
    assert result["statusCode"] == 400 and "is not a run request mlops run uploads" in result["error"]
    assert world["sfn"].list_executions(stateMachineArn=world["machine"])["executions"] == []


def test_each_run_has_a_record_from_its_start_to_its_end(world):
    started = world["handler"].handler({"trigger": "schedule", "detail": {"schedule": "cron(0 3 1 * ? *)"}}, Context())
    name = world["sfn"].describe_execution(executionArn=started["executionArn"])["name"]
    record = _json(f"runs/{name}.json")
    assert (record["name"], record["executionArn"], record["status"], record["trigger"]) == (name, started["executionArn"], "RUNNING", "schedule")
    assert record["detail"] == {"schedule": "cron(0 3 1 * ? *)"} and record["startDate"].endswith("+00:00")
    world["sfn"].stop_execution(executionArn=started["executionArn"], error="Stopped", cause="by hand")
    world["handler"].handler(_ended(started["executionArn"], "ABORTED"), Context())
    ended = _json(f"runs/{name}.json")
    assert (ended["status"], ended["trigger"], ended["startDate"]) == ("ABORTED", "schedule", record["startDate"])
    assert ended["stopDate"] >= ended["startDate"] and "output" not in ended and "error" in ended


def test_a_forged_end_writes_no_record(world):
    started = world["handler"].handler({"trigger": "manual"}, Context())
    name = world["sfn"].describe_execution(executionArn=started["executionArn"])["name"]
    assert world["handler"].handler(_ended(started["executionArn"], "SUCCEEDED"), Context())["statusCode"] == 400  # still running
    assert _json(f"runs/{name}.json")["status"] == "RUNNING"


def test_an_ended_record_keeps_the_output_of_a_success_and_the_error_of_a_failure_within_bounds():
    from datetime import UTC, datetime

    logic = sfn_harness.lambda_logic("start_pipeline")
    base = {
        "name": "schedule-20261125T030000Z-0a1b2c3d",
        "executionArn": "arn:aws:states:us-east-1:123456789012:execution:pipeline:schedule-20261125T030000Z-0a1b2c3d",
        "input": json.dumps({"trigger": "schedule", "detail": {"schedule": "x"}}),
        "startDate": datetime(2026, 11, 25, 3, 0, tzinfo=UTC),
        "stopDate": datetime(2026, 11, 25, 4, 0, tzinfo=UTC),
    }
    success = logic.ended_record({**base, "status": "SUCCEEDED", "output": '{"registered": {"arn": "a"}}'})
    assert success == {
        "name": base["name"],
        "executionArn": base["executionArn"],
        "status": "SUCCEEDED",
        "trigger": "schedule",
        "detail": {"schedule": "x"},
        "startDate": "2026-11-25T03:00:00+00:00",
        "stopDate": "2026-11-25T04:00:00+00:00",
        "output": '{"registered": {"arn": "a"}}',
    }
    huge = logic.ended_record({**base, "status": "SUCCEEDED", "output": json.dumps({"x": "y" * logic.OUTPUT_KEPT})})
    assert (huge["output"], huge["outputTruncated"]) == ("{}", True)
    failed = logic.ended_record({**base, "status": "FAILED", "error": "QualityGateFailed", "cause": "c" * (logic.OUTPUT_KEPT + 1)})
    assert (failed["error"], len(failed["cause"]), "output" in failed) == ("QualityGateFailed", logic.OUTPUT_KEPT, False)
    unreadable = logic.ended_record({**base, "status": "FAILED", "input": "not json"})
    assert (unreadable["trigger"], unreadable["detail"], unreadable["error"], unreadable["cause"]) == ("unknown", {}, "unknown", "")


def test_the_guard_needs_the_artifacts_bucket():
    logic = sfn_harness.lambda_logic("start_pipeline")
    for bucket in ("", "Not_A_Bucket", "a" * 64):
        with pytest.raises(logic.ConfigurationError, match="expected the project's artifacts bucket name"):
            logic.Settings.from_env({**GUARD_ENV, "ARTIFACTS_BUCKET": bucket})


def test_the_request_and_record_layout_is_one_in_the_app_the_guard_and_the_command():
    from mlops_cli import work

    from config import layout

    logic = sfn_harness.lambda_logic("start_pipeline")
    assert (
        layout.RUN_REQUESTS == f"{layout.SANDBOX_PREFIX}*/{logic.REQUESTS}*/{logic.RUN_REQUEST}" == f"sandbox/*/{work.REQUESTS}*/{work.RUN_REQUEST}"
    )
    assert layout.RUN_REQUEST_ANSWERS == f"{layout.SANDBOX_PREFIX}*/{logic.REQUESTS}*/{logic.ANSWER}" == f"sandbox/*/{work.REQUESTS}*/{work.ANSWER}"
    assert layout.RUN_RECORDS_PREFIX == logic.RUNS == work.RUNS
    assert logic.run_record_key("x") == work.record_key("x") == "runs/x.json"


def test_a_run_whose_start_record_cannot_be_written_still_starts_once_and_says_so(world, monkeypatch, capsys):
    """The record is written after the run started: a failure there is logged, not raised (a raised error would have
    EventBridge retry the trigger, which would queue a second run); the run's end writes the record again."""
    logic = sys.modules["logic"]
    original = logic._record

    def refused(s3, settings, record):
        if record["status"] == "RUNNING":
            raise RuntimeError("AccessDenied: s3:PutObject")
        original(s3, settings, record)

    monkeypatch.setattr(logic, "_record", refused)
    capsys.readouterr()
    started = world["handler"].handler({"trigger": "new-data", "detail": {"key": "incoming/a.csv"}}, Context())
    assert started["started"] is True and len(world["sfn"].list_executions(stateMachineArn=world["machine"])["executions"]) == 1
    (failed,) = [line for line in _logged(capsys) if line["event"] == "run_record_failed"]
    assert failed == {"event": "run_record_failed", "execution": started["executionArn"], "reason": "AccessDenied: s3:PutObject"}
    world["sfn"].stop_execution(executionArn=started["executionArn"])
    world["handler"].handler(_ended(started["executionArn"], "ABORTED"), Context())
    name = world["sfn"].describe_execution(executionArn=started["executionArn"])["name"]
    assert _json(f"runs/{name}.json")["status"] == "ABORTED"
