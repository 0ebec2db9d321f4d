"""The drift check's planner, against moto's S3 and Step Functions: periods due, caught up once, one run at a time."""

from __future__ import annotations

import importlib
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

LAMBDA_DIR = Path(__file__).resolve().parents[2] / "lambda" / "drift_check_plan"
BUCKET = "capture-bucket"
ENV = {
    "BUCKET": BUCKET,
    "CAPTURE_PREFIX": "ep/ep/AllTraffic/",
    "STATE_KEY": "monitoring/ep/state.json",
    "MANIFEST_PREFIX": "monitoring/ep/manifests/",
    "PERIOD_HOURS": "1",
    "ANCHOR_HOUR": "0",
    "DELAY_MINUTES": "3",
    "MAX_PERIODS": "24",
    "LAMBDA_MAX_BYTES": "1000",
    "RUNNER": "auto",
}
NOW = datetime(2026, 12, 7, 10, 4, tzinfo=UTC)


@pytest.fixture
def logic(monkeypatch):
    monkeypatch.syspath_prepend(str(LAMBDA_DIR))
    for name in ("handler", "logic"):
        sys.modules.pop(name, None)
    return importlib.import_module("logic")


@pytest.fixture
def world(aws, logic):
    s3, sfn = boto3.client("s3"), boto3.client("stepfunctions")
    s3.create_bucket(Bucket=BUCKET)
    machine = sfn.create_state_machine(
        name="ep-dq",
        roleArn="arn:aws:iam::123456789012:role/sfn",
        definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}),
    )["stateMachineArn"]
    settings = logic.Settings.from_env(ENV)

    def plan(execution: str, started: datetime, now: datetime = NOW) -> dict:
        event = {"action": "periods", "stateMachine": machine, "execution": execution, "startTime": started.isoformat()}
        return logic.handle(event, s3=s3, sfn=sfn, settings=settings, now=now, log=lambda *a, **k: None)

    def start() -> tuple[str, datetime]:
        arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
        return arn, sfn.describe_execution(executionArn=arn)["startDate"]

    def checked(until: datetime) -> None:  # what the state machine writes after a period's check succeeds
        s3.put_object(Bucket=BUCKET, Key=ENV["STATE_KEY"], Body=json.dumps({"checked_until": until.strftime("%Y-%m-%dT%H:%M:%SZ")}))

    return {"s3": s3, "sfn": sfn, "plan": plan, "start": start, "checked": checked, "settings": settings}


def test_the_first_run_checks_the_period_that_just_ended(world):
    arn, started = world["start"]()
    planned = world["plan"](arn, started)
    assert planned["skip"] is False and planned["behind"] == 0
    (period,) = planned["periods"]
    assert (period["start"], period["end"]) == ("2026-12-07T09:00:00Z", "2026-12-07T10:00:00Z")


def test_a_missed_run_is_caught_up_and_a_checked_period_is_never_due_again(world):
    arn, started = world["start"]()
    world["checked"](datetime(2026, 12, 7, 6, tzinfo=UTC))  # the 07:00, 08:00 and 09:00 runs failed or never ran
    periods = [(p["start"], p["end"]) for p in world["plan"](arn, started)["periods"]]
    assert periods == [
        ("2026-12-07T06:00:00Z", "2026-12-07T07:00:00Z"),
        ("2026-12-07T07:00:00Z", "2026-12-07T08:00:00Z"),
        ("2026-12-07T08:00:00Z", "2026-12-07T09:00:00Z"),
        ("2026-12-07T09:00:00Z", "2026-12-07T10:00:00Z"),
    ]
    world["checked"](datetime(2026, 12, 7, 10, tzinfo=UTC))
    assert world["plan"](arn, started)["periods"] == []  # everything due was checked
    assert world["plan"](arn, started, now=NOW.replace(hour=11))["periods"][0]["start"] == "2026-12-07T10:00:00Z"


def test_catching_up_is_bounded_per_run_and_nothing_is_skipped(world, logic):
    settings = logic.Settings.from_env({**ENV, "MAX_PERIODS": "2"})
    periods, behind = logic.due_periods(datetime(2026, 12, 7, 5, tzinfo=UTC), NOW, settings)
    assert [p[0].hour for p in periods] == [5, 6] and behind == 3


def test_the_delay_waits_for_late_capture_files(logic):
    settings = logic.Settings.from_env(ENV)
    early = datetime(2026, 12, 7, 10, 2, tzinfo=UTC)  # 2 minutes after the hour: the 09:00 period is not due before 10:03
    assert logic.due_periods(datetime(2026, 12, 7, 9, tzinfo=UTC), early, settings) == ([], 0)


def test_a_changed_schedule_leaves_no_instant_unchecked_or_checked_twice(logic):
    settings = logic.Settings.from_env({**ENV, "PERIOD_HOURS": "6", "ANCHOR_HOUR": "0"})
    periods, _ = logic.due_periods(datetime(2026, 12, 7, 1, tzinfo=UTC), datetime(2026, 12, 7, 12, 5, tzinfo=UTC), settings)
    assert [(a.hour, b.hour) for a, b in periods] == [(1, 6), (6, 12)]  # a short first period up to the new boundary


def test_overlapping_runs_make_one(world):
    first, first_started = world["start"]()
    second, second_started = world["start"]()
    verdicts = [world["plan"](second, second_started), world["plan"](first, first_started)]
    assert sum(not v["skip"] for v in verdicts) == 1  # exactly one checks; the other leaves it to it
    assert verdicts[0]["skip"] is True and "is checking" in verdicts[0]["reason"]


def test_each_period_lists_its_capture_in_a_manifest_and_picks_the_runner_by_size(world):
    s3 = world["s3"]
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)  # moto stamps objects with the real time
    folder = lambda h: f"ep/ep/AllTraffic/{h:%Y/%m/%d/%H}/"  # noqa: E731
    s3.put_object(Bucket=BUCKET, Key=folder(hour) + "a.jsonl", Body=b"x" * 600)
    s3.put_object(Bucket=BUCKET, Key=folder(hour + timedelta(hours=1)) + "b.jsonl", Body=b"x" * 600)  # records buffered past the hour
    s3.put_object(Bucket=BUCKET, Key=folder(hour - timedelta(hours=5)) + "old.jsonl", Body=b"x")  # another period's folder
    arn, started = world["start"]()
    (period,) = world["plan"](arn, started, now=hour + timedelta(hours=1, minutes=4))["periods"]
    name = f"{hour:%Y%m%dT%H%M%SZ}"
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=f"monitoring/ep/manifests/{name}.json")["Body"].read())
    assert period["manifest"] == f"s3://{BUCKET}/monitoring/ep/manifests/{name}.json"
    assert manifest[0] == {"prefix": f"s3://{BUCKET}/"}
    assert sorted(manifest[1:]) == [folder(hour) + "a.jsonl", folder(hour + timedelta(hours=1)) + "b.jsonl"]
    assert (period["objects"], period["bytes"], period["runner"]) == (2, 1200, "job")  # over LAMBDA_MAX_BYTES


def test_a_period_without_capture_goes_to_the_function_with_an_empty_manifest(world):
    arn, started = world["start"]()
    (period,) = world["plan"](arn, started)["periods"]
    assert (period["objects"], period["runner"]) == (0, "lambda")


def test_bad_settings_and_requests_say_what_is_wrong(world, logic):
    with pytest.raises(logic.ConfigurationError, match="PERIOD_HOURS='25'"):
        logic.Settings.from_env({**ENV, "PERIOD_HOURS": "25"})
    with pytest.raises(logic.ConfigurationError, match="RUNNER='fast'"):
        logic.Settings.from_env({**ENV, "RUNNER": "fast"})
    with pytest.raises(logic.BadRequest, match="action 'go'"):
        logic.handle({"action": "go"}, s3=world["s3"], sfn=world["sfn"], settings=world["settings"], now=NOW, log=print)
    with pytest.raises(logic.BadRequest, match="expected the execution's ARN"):
        world["plan"]("not-an-arn", NOW)
    world["s3"].put_object(Bucket=BUCKET, Key=ENV["STATE_KEY"], Body=b"{}")
    arn, started = world["start"]()
    with pytest.raises(logic.ConfigurationError, match="is not the check's state"):  # never a silent restart
        world["plan"](arn, started)


QUALITY_ENV = {**ENV, "QUALITY_STATE_KEY": "monitoring/ep/quality-state.json", "LABELS_PREFIX": "ground-truth/ep/", "LABEL_DELAY_HOURS": "2"}


def test_quality_periods_come_a_label_delay_later_with_their_labels_folders(aws, logic):
    """Each period again once its labels may have arrived: its own state, its capture, and the label folders from its start
    to the label delay past its end (hour by hour: labels are filed by when they were written)."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    settings = logic.Settings.from_env(QUALITY_ENV)
    assert (settings.quality_state_key, settings.labels_prefix, settings.label_delay_hours) == (
        "monitoring/ep/quality-state.json",
        "ground-truth/ep/",
        2,
    )
    hour = datetime(2026, 12, 7, 7, tzinfo=UTC)
    assert logic.label_prefixes(hour, hour + timedelta(hours=1), settings) == [f"ground-truth/ep/2026/12/07/{h:02d}/" for h in (7, 8, 9)]
    s3.put_object(Bucket=BUCKET, Key="ground-truth/ep/2026/12/07/09/a.jsonl", Body=b"{}")  # within the delay
    s3.put_object(Bucket=BUCKET, Key="ground-truth/ep/2026/12/07/10/b.jsonl", Body=b"{}")  # past it: not read
    (period,) = logic.plan_quality(s3, settings, NOW)  # 10:04: 07:00-08:00 is the period whose labels had time
    assert (period["start"], period["end"], period["labelObjects"]) == ("2026-12-07T07:00:00Z", "2026-12-07T08:00:00Z", 1)
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key="monitoring/ep/manifests/20261207T070000Z-labels.json")["Body"].read())
    assert manifest == [{"prefix": f"s3://{BUCKET}/"}, "ground-truth/ep/2026/12/07/09/a.jsonl"]
    state = json.loads(s3.get_object(Bucket=BUCKET, Key="monitoring/ep/quality-state.json")["Body"].read())
    assert state == {"checked_until": "2026-12-07T07:00:00Z"}  # the very first: due until checked
    assert logic.plan_quality(s3, logic.Settings.from_env(ENV), NOW) == []  # no quality settings: no quality periods


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"QUALITY_STATE_KEY": "quality"}, "QUALITY_STATE_KEY='quality': expected the quality state object's key"),
        ({"LABELS_PREFIX": "ground-truth/ep"}, "LABELS_PREFIX='ground-truth/ep': expected a key prefix ending in /"),
        ({"LABEL_DELAY_HOURS": "2161"}, "LABEL_DELAY_HOURS='2161': expected a whole number from 0 to 2160"),
    ],
)
def test_bad_quality_settings_say_what_is_wrong(logic, change, message):
    with pytest.raises(logic.ConfigurationError, match=message.replace("(", r"\(")):
        logic.Settings.from_env({**QUALITY_ENV, **change})
