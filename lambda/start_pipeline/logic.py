"""Start the training pipeline for a trigger, unless an execution is already running.

Triggers: ``schedule`` (monthly rule), ``new-data`` (object created under the data prefix),
``drift`` (a drift alarm went to ALARM), ``manual``. One execution per project at a time: a trigger
that arrives during a run is recorded (a structured log line and a message on the alert topic) and
skipped, never queued. The function runs with a reserved concurrency of 1, so two triggers cannot
both see "nothing running" and start two executions.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

TRIGGERS = ("schedule", "new-data", "drift", "manual")
_STATE_MACHINE_ARN = re.compile(r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")


class ConfigurationError(RuntimeError):
    """The function's environment is wrong: it names the variable, the value and what is expected."""


class BadTrigger(ValueError):
    """The event is not a trigger this function understands."""


@dataclass(frozen=True)
class Settings:
    state_machine_arn: str
    alert_topic_arn: str
    project: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        problems = []
        values = {name: env.get(name, "") for name in ("STATE_MACHINE_ARN", "ALERT_TOPIC_ARN", "PROJECT_NAME")}
        if not _STATE_MACHINE_ARN.match(values["STATE_MACHINE_ARN"]):
            problems.append(f"STATE_MACHINE_ARN={values['STATE_MACHINE_ARN']!r}: expected a state machine ARN")
        if not _TOPIC_ARN.match(values["ALERT_TOPIC_ARN"]):
            problems.append(f"ALERT_TOPIC_ARN={values['ALERT_TOPIC_ARN']!r}: expected an SNS topic ARN")
        if not values["PROJECT_NAME"]:
            problems.append("PROJECT_NAME is empty: expected the project's name")
        if problems:
            raise ConfigurationError("; ".join(problems))
        return cls(values["STATE_MACHINE_ARN"], values["ALERT_TOPIC_ARN"], values["PROJECT_NAME"])


@dataclass(frozen=True)
class Trigger:
    kind: str
    detail: dict[str, Any]


def parse_trigger(event: Any) -> Trigger:
    if not isinstance(event, dict):
        raise BadTrigger(f"event must be a JSON object, got {type(event).__name__}")
    kind = event.get("trigger")
    if kind not in TRIGGERS:
        raise BadTrigger(f"trigger {kind!r} is not one of {', '.join(TRIGGERS)}")
    detail = event.get("detail", {})
    if not isinstance(detail, dict):
        raise BadTrigger("detail must be a JSON object")
    return Trigger(kind, {k: v for k, v in detail.items() if isinstance(v, (str, int, float, bool)) or v is None})


def execution_name(trigger: Trigger, now: datetime) -> str:
    return f"{trigger.kind}-{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def handle(event: Any, *, sfn, sns, settings: Settings, log: Callable[..., None], now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> dict:
    try:
        trigger = parse_trigger(event)
    except BadTrigger as exc:
        log("trigger_rejected", reason=str(exc))
        return {"statusCode": 400, "started": False, "error": str(exc)}

    running = sfn.list_executions(stateMachineArn=settings.state_machine_arn, statusFilter="RUNNING", maxResults=1)["executions"]
    if running:
        current = running[0]["executionArn"]
        log("trigger_skipped", trigger=trigger.kind, detail=trigger.detail, running_execution=current)
        sns.publish(
            TopicArn=settings.alert_topic_arn,
            Subject=f"{settings.project}: {trigger.kind} trigger skipped"[:100],
            Message=json.dumps(
                {
                    "project": settings.project,
                    "result": "trigger skipped: an execution is already running",
                    "trigger": trigger.kind,
                    "detail": trigger.detail,
                    "runningExecution": current,
                }
            ),
        )
        return {"statusCode": 200, "started": False, "skipped": True, "runningExecution": current}

    name = execution_name(trigger, now())
    response = sfn.start_execution(
        stateMachineArn=settings.state_machine_arn, name=name, input=json.dumps({"trigger": trigger.kind, "detail": trigger.detail})
    )
    log("execution_started", trigger=trigger.kind, detail=trigger.detail, execution=response["executionArn"])
    return {"statusCode": 200, "started": True, "executionArn": response["executionArn"]}
