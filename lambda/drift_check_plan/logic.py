"""Plan a run of a drift check: which periods are due and where their data is, or what a batch scoring run's input is.

The platform's scheduled check (``mlops_constructs.drift_check``) replaces SageMaker Model Monitor's schedules, which are
closed to new customers. Its state machine calls this function first with its own execution's id, start time and state
machine ARN (``action: periods``):

- **One run at a time.** If another execution of the same state machine is running and started earlier (ties broken by
  its ARN), this run does nothing (``skip``): the earlier one checks what is due, and whatever it leaves is due at the
  next run. So overlapping triggers make one run.
- **Every period exactly once.** The state object (``STATE_KEY``: ``{"checked_until": <time>}``) is the end of the last
  period checked; the state machine writes it after each period's check succeeds, never before (the very first run
  writes the start of its period, so that period stays due should that run fail). The periods due are those
  from there (or, at the very first run, the one that just ended) whose end is at least ``DELAY_MINUTES`` in the past,
  ``PERIOD_HOURS`` long and aligned on ``ANCHOR_HOUR``: a failed or missed run leaves its periods due for the next one,
  and a checked period is never due again. At most ``MAX_PERIODS`` a run; the rest are due at the next.
- **Where the data is.** A period's captured records (by ``inferenceTime`` in ``[start, end)``) are in the objects under
  ``CAPTURE_PREFIX<yyyy/mm/dd/hh>/`` of the hours it spans and of the hour before, written since its start. They are
  listed in a SageMaker manifest file (``MANIFEST_PREFIX<period>.json``) that either runner reads, and the period goes to
  the Lambda runner when they add up to at most ``LAMBDA_MAX_BYTES``, else to a processing job (``RUNNER`` forces one).

- **Model quality, when set** (``QUALITY_STATE_KEY``, ``LABELS_PREFIX``, ``LABEL_DELAY_HOURS``). The same periods, each
  checked once more ``LABEL_DELAY_HOURS`` later, when its labels may have arrived: its own state object, its captured
  predictions as above, and the label files written from its start to ``LABEL_DELAY_HOURS`` after its end (the hour
  folders under ``LABELS_PREFIX``). Always in the function, which keeps only ids, times and scores.

``action: input`` (a batch scoring run's check) lists ``prefix`` of ``bucket`` into a manifest the same way and chooses the
runner by size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

RUNNERS = ("auto", "lambda", "job")
_STATE_MACHINE_ARN = re.compile(r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$")
_EXECUTION_ARN = re.compile(r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[A-Za-z0-9_-]{1,80}:[A-Za-z0-9_-]{1,80}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9_.!*'()/-]*$")


class ConfigurationError(RuntimeError):
    """The function's environment is wrong: it names the variable, the value and what is expected."""


class BadRequest(ValueError):
    """The event is not a request this function understands."""


@dataclass(frozen=True)
class Settings:
    bucket: str  # where the data and the state are (the capture bucket; batch: where manifests go)
    capture_prefix: str  # <endpoint>/<endpoint>/<variant>/ (empty for batch scoring)
    state_key: str
    manifest_prefix: str
    period_hours: int
    anchor_hour: int
    delay_minutes: int
    max_periods: int
    lambda_max_bytes: int
    runner: str
    quality_state_key: str = ""  # empty: no model-quality check
    labels_prefix: str = ""
    label_delay_hours: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        problems: list[str] = []

        def text(name: str, pattern: re.Pattern, expected: str) -> str:
            value = env.get(name, "")
            if not pattern.match(value):
                problems.append(f"{name}={value!r}: expected {expected}")
            return value

        def number(name: str, low: int, high: int) -> int:
            value = env.get(name, "")
            if not value.isdigit() or not low <= int(value) <= high:
                problems.append(f"{name}={value!r}: expected a whole number from {low} to {high}")
                return low
            return int(value)

        settings = cls(
            bucket=text("BUCKET", _BUCKET, "an S3 bucket name"),
            capture_prefix=text("CAPTURE_PREFIX", _PREFIX, "a key prefix ending in / (or empty)"),
            state_key=text("STATE_KEY", re.compile(r"^[A-Za-z0-9_./-]+\.json$"), "the state object's key (…/state.json)"),
            manifest_prefix=text("MANIFEST_PREFIX", re.compile(r"^[A-Za-z0-9_./-]+/$"), "a key prefix ending in /"),
            period_hours=number("PERIOD_HOURS", 1, 24),
            anchor_hour=number("ANCHOR_HOUR", 0, 23),
            delay_minutes=number("DELAY_MINUTES", 0, 60),
            max_periods=number("MAX_PERIODS", 1, 168),
            lambda_max_bytes=number("LAMBDA_MAX_BYTES", 0, 10 * 1024**3),
            runner=env.get("RUNNER", ""),
            quality_state_key=env.get("QUALITY_STATE_KEY", ""),
            labels_prefix=env.get("LABELS_PREFIX", ""),
            label_delay_hours=number("LABEL_DELAY_HOURS", 0, 24 * 90) if env.get("QUALITY_STATE_KEY") else 0,
        )
        if settings.quality_state_key:
            if not re.match(r"^[A-Za-z0-9_./-]+\.json$", settings.quality_state_key):
                problems.append(f"QUALITY_STATE_KEY={settings.quality_state_key!r}: expected the quality state object's key (…/quality-state.json)")
            if not re.match(r"^[A-Za-z0-9_./-]+/$", settings.labels_prefix):
                problems.append(f"LABELS_PREFIX={settings.labels_prefix!r}: expected a key prefix ending in / (ground-truth/<endpoint>/)")
        if settings.runner not in RUNNERS:
            problems.append(f"RUNNER={settings.runner!r}: expected one of {', '.join(RUNNERS)}")
        if settings.capture_prefix and not settings.capture_prefix.endswith("/"):
            problems.append(f"CAPTURE_PREFIX={settings.capture_prefix!r}: expected a prefix ending in /")
        if problems:
            raise ConfigurationError("; ".join(problems))
        return settings

    @property
    def period(self) -> timedelta:
        return timedelta(hours=self.period_hours)


def _time(value: Any, what: str) -> datetime:
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(f"{what} {value!r} is not an ISO 8601 time") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def last_boundary(when: datetime, settings: Settings) -> datetime:
    """The latest period boundary at or before ``when``: a whole hour ``h`` with ``(h - ANCHOR_HOUR) % PERIOD_HOURS == 0``."""
    hour = when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return hour - timedelta(hours=(hour.hour - settings.anchor_hour) % settings.period_hours)


def due_periods(checked_until: datetime | None, now: datetime, settings: Settings) -> tuple[list[tuple[datetime, datetime]], int]:
    """The periods due at ``now`` (at most ``MAX_PERIODS``) and how many more are due after them. The first period after
    an unaligned ``checked_until`` (the schedule changed) is short, up to the next boundary: no instant twice or never."""
    due_end = last_boundary(now - timedelta(minutes=settings.delay_minutes), settings)
    start = checked_until if checked_until is not None else due_end - settings.period
    periods = []
    while start < due_end:
        end = min(last_boundary(start, settings) + settings.period, due_end)
        periods.append((start, end))
        start = end
    return periods[: settings.max_periods], max(0, len(periods) - settings.max_periods)


def _running_before(sfn, machine: str, me: str, my_start: datetime) -> str | None:
    """The name of a running execution of ``machine`` that started before ``me`` (ties: the smaller ARN first), if any."""
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=machine, statusFilter="RUNNING")
    for page in pages:
        for e in page["executions"]:
            if e["executionArn"] != me and (_time(e["startDate"], "startDate"), e["executionArn"]) < (my_start, me):
                return e["name"]
    return None


def read_state(s3, settings: Settings, key: str | None = None) -> datetime | None:
    key = key or settings.state_key
    try:
        body = s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    try:
        return _time(json.loads(body)["checked_until"], "checked_until")
    except (ValueError, KeyError, TypeError) as exc:  # a hand-edited state must not silently restart the checks
        raise ConfigurationError(f"s3://{settings.bucket}/{key} is not the check's state ({exc}): fix or delete it") from None


def write_state(s3, settings: Settings, checked_until: datetime, key: str | None = None) -> None:
    body = json.dumps({"checked_until": stamp(checked_until)}).encode()
    s3.put_object(Bucket=settings.bucket, Key=key or settings.state_key, Body=body, ContentType="application/json")


def _objects(s3, bucket: str, prefix: str) -> list[dict]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o for page in pages for o in page.get("Contents", []) if not o["Key"].endswith("/")]


def hour_prefixes(start: datetime, end: datetime, settings: Settings) -> list[str]:
    """The capture folders that may hold records of ``[start, end)``: the hours it spans, the hour before (a file opened
    then may run past ``start``) and the hours of the delay after ``end`` (records buffered past the hour)."""
    hour = start.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    last = end + timedelta(minutes=settings.delay_minutes)
    out = []
    while hour < last:
        out.append(f"{settings.capture_prefix}{hour:%Y/%m/%d/%H}/")
        hour += timedelta(hours=1)
    return out


def write_manifest(s3, settings: Settings, name: str, data_bucket: str, keys: list[str]) -> str:
    """A SageMaker manifest file listing ``keys`` of ``data_bucket`` (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_S3DataSource.html)."""
    key = f"{settings.manifest_prefix}{name}.json"
    body = json.dumps([{"prefix": f"s3://{data_bucket}/"}, *keys])
    s3.put_object(Bucket=settings.bucket, Key=key, Body=body.encode(), ContentType="application/json")
    return f"s3://{settings.bucket}/{key}"


def runner_for(size: int, settings: Settings) -> str:
    if settings.runner != "auto":
        return settings.runner
    return "lambda" if size <= settings.lambda_max_bytes else "job"


def _captured(s3, settings: Settings, start: datetime, end: datetime) -> list[dict]:
    return [
        o
        for prefix in hour_prefixes(start, end, settings)
        for o in _objects(s3, settings.bucket, prefix)
        if _time(o["LastModified"], "LastModified") >= start - timedelta(minutes=settings.delay_minutes)
    ]


def describe_period(s3, settings: Settings, start: datetime, end: datetime) -> dict:
    objects = _captured(s3, settings, start, end)
    name = start.strftime("%Y%m%dT%H%M%SZ")
    size = sum(o["Size"] for o in objects)
    return {
        "name": name,
        "start": stamp(start),
        "end": stamp(end),
        "objects": len(objects),
        "bytes": size,
        "runner": runner_for(size, settings),
        "manifest": write_manifest(s3, settings, name, settings.bucket, [o["Key"] for o in objects]),
    }


def label_prefixes(start: datetime, end: datetime, settings: Settings) -> list[str]:
    """The label folders (hours) a period's labels may be in: written from its start to ``LABEL_DELAY_HOURS`` past its end."""
    hour, last = start.replace(minute=0, second=0, microsecond=0), end + timedelta(hours=settings.label_delay_hours)
    out = []
    while hour < last:
        out.append(f"{settings.labels_prefix}{hour:%Y/%m/%d/%H}/")
        hour += timedelta(hours=1)
    return out


def describe_quality_period(s3, settings: Settings, start: datetime, end: datetime) -> dict:
    captured = _captured(s3, settings, start, end)
    labels = [o for prefix in label_prefixes(start, end, settings) for o in _objects(s3, settings.bucket, prefix)]
    name = start.strftime("%Y%m%dT%H%M%SZ")
    return {
        "name": name,
        "start": stamp(start),
        "end": stamp(end),
        "objects": len(captured),
        "labelObjects": len(labels),
        "manifest": write_manifest(s3, settings, f"{name}-predictions", settings.bucket, [o["Key"] for o in captured]),
        "labels": write_manifest(s3, settings, f"{name}-labels", settings.bucket, [o["Key"] for o in labels]),
    }


def plan_quality(s3, settings: Settings, now: datetime) -> list[dict]:
    """The quality periods due: as the drift periods, ``LABEL_DELAY_HOURS`` later, from their own state object."""
    if not settings.quality_state_key:
        return []
    checked_until = read_state(s3, settings, settings.quality_state_key)
    periods, _ = due_periods(checked_until, now - timedelta(hours=settings.label_delay_hours), settings)
    if checked_until is None and periods:
        write_state(s3, settings, periods[0][0], settings.quality_state_key)
    return [describe_quality_period(s3, settings, start, end) for start, end in periods]


def plan_periods(event: Mapping[str, Any], *, s3, sfn, settings: Settings, now: datetime) -> dict:
    machine, execution = event.get("stateMachine"), event.get("execution")
    if not isinstance(machine, str) or not _STATE_MACHINE_ARN.match(machine):
        raise BadRequest(f"stateMachine {machine!r}: expected the state machine's ARN ($$.StateMachine.Id)")
    if not isinstance(execution, str) or not _EXECUTION_ARN.match(execution):
        raise BadRequest(f"execution {execution!r}: expected the execution's ARN ($$.Execution.Id)")
    started = _time(event.get("startTime"), "startTime")
    earlier = _running_before(sfn, machine, execution, started)
    if earlier is not None:
        return {"skip": True, "reason": f"execution {earlier} is checking", "periods": [], "qualityPeriods": [], "behind": 0}
    checked_until = read_state(s3, settings)
    periods, behind = due_periods(checked_until, now, settings)
    if checked_until is None and periods:  # the very first run: from here on every period is due until checked, even
        write_state(s3, settings, periods[0][0])  # if this run fails (the next would otherwise start afresh, skipping it)
    return {
        "skip": False,
        "checkedUntil": stamp(checked_until) if checked_until else None,
        "periods": [describe_period(s3, settings, start, end) for start, end in periods],
        "qualityPeriods": plan_quality(s3, settings, now),
        "behind": behind,
    }


def plan_input(event: Mapping[str, Any], *, s3, settings: Settings) -> dict:
    bucket, prefix, name = event.get("bucket"), event.get("prefix"), event.get("name")
    if not isinstance(bucket, str) or not _BUCKET.match(bucket):
        raise BadRequest(f"bucket {bucket!r}: expected an S3 bucket name")
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise BadRequest(f"prefix {prefix!r}: expected a key prefix")
    if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9_-]{1,80}$", name):
        raise BadRequest(f"name {name!r}: expected the run's name (letters, digits, _ and -)")
    objects = _objects(s3, bucket, prefix)
    size = sum(o["Size"] for o in objects)
    return {
        "objects": len(objects),
        "bytes": size,
        "runner": runner_for(size, settings),
        "manifest": write_manifest(s3, settings, name, bucket, [o["Key"] for o in objects]),
    }


def handle(event: Any, *, s3, sfn, settings: Settings, now: datetime, log) -> dict:
    if not isinstance(event, Mapping):
        raise BadRequest(f"the event must be a JSON object, not {type(event).__name__}")
    action = event.get("action")
    if action == "periods":
        planned = plan_periods(event, s3=s3, sfn=sfn, settings=settings, now=now)
        log(
            "planned",
            periods=[p["name"] for p in planned["periods"]],
            quality=[p["name"] for p in planned["qualityPeriods"]],
            behind=planned["behind"],
            skip=planned["skip"],
        )
        return planned
    if action == "input":
        planned = plan_input(event, s3=s3, settings=settings)
        log("planned_input", objects=planned["objects"], bytes=planned["bytes"], runner=planned["runner"])
        return planned
    raise BadRequest(f"action {action!r}: expected 'periods' (a scheduled check) or 'input' (a batch scoring run's check)")
