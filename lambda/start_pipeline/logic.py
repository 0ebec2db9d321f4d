"""Start the training pipeline for a trigger; a trigger that arrives during a run starts one follow-up run.

Triggers: ``schedule`` (monthly rule), ``new-data`` (object created under the data prefix),
``drift`` (a drift alarm went to ALARM), ``new-image`` (the delivery pipeline shipped a new image), ``manual``. ``publish`` (a sandbox user's ``mlops publish``) is not
a trigger: it starts at once a run that evaluates, baselines and registers the user's model instead of training
one (no two training runs meet that way; a publish run counts as running for the triggers). One execution per project at a time: a trigger
that arrives during a run is queued (in an SSM parameter, ``QUEUE_PARAMETER``) and announced (a
structured log line and a message on the alert topic); however many arrive, they are coalesced into
exactly one follow-up run, which ``run-ended`` (the state machine's execution ending, an EventBridge
rule) starts once nothing runs. A trigger that finds nothing running starts a run at once and clears
the queue (that run sees all the data). Every run starts with the digest of the image its jobs use (the
repository's immutable tag, ``IMAGE_REPOSITORY``:``IMAGE_TAG``) and the commit it was built from in its input:
the package records both. The function runs with a reserved concurrency of 1: its
invocations never overlap, so no two can both see "nothing running" or both take the queue.

**Who publishes, or asks for a run, is who wrote the request.** The same code runs as two functions (``ACCEPTS``): the
guard (``triggers``), which refuses ``publish``; and the publisher (``published-models``), which only EventBridge may
invoke, with S3's ``Object Created`` event of an archive under ``<SANDBOX_PREFIX><user>/published/``. Only that user's
role may write there (the sandbox's grants, checked by the IAM engine), so the user is read from the key, never from a
field the caller writes; the commit from the object's metadata (``x-amz-meta-commit``). The run is named
``publish-<the archive's folder>``; a refused one leaves ``refused.json`` beside the archive saying why. ``mlops run``
uploads ``<SANDBOX_PREFIX><user>/requests/<time>-<id>/run.json``, whose ``Object Created`` event reaches the guard as is:
a ``manual`` trigger from that user, answered in ``answer.json`` beside it (started, queued, or why not). No user may
invoke either function.

**Every run has a record**, ``runs/<execution name>.json`` in the artifacts bucket (``ARTIFACTS_BUCKET``): written when
the guard or the publisher starts the run, and rewritten by the guard when the run ends (its status, start and end, its
error and cause or its output). ``mlops`` follows runs there, through S3's gateway endpoint, so a VPC-only Studio needs
no Lambda or Step Functions endpoint.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

TRIGGERS = ("schedule", "new-data", "drift", "new-image", "manual")
PUBLISH = "publish"  # a model from a sandbox: its own run, started at once (see ``publish_detail``)
RUN_ENDED = "run-ended"  # the state machine's execution ended (not a trigger: it may start the queued follow-up)
EMPTY = "{}"  # the queue parameter's value when nothing waits (SSM refuses empty values)
ACCEPTS = ("triggers", "published-models")
PUBLISHED = "published/"  # below a user's sandbox prefix: what ``mlops publish`` uploads (<folder>/model.tar.gz)
_FOLDER = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")  # mlops publish's <time>-<8 hex>: the publish run's name
REFUSED = "refused.json"  # beside a refused archive: why no run started
# config.layout's RUN_REQUESTS, RUN_REQUEST_ANSWERS and RUN_RECORDS_PREFIX (this package does not import the app's; a test
# keeps them equal): `mlops run` uploads <sandbox prefix><user>/requests/<time>-<id>/run.json, the guard answers beside
# it, and every run has its record runs/<execution name>.json
REQUESTS, RUN_REQUEST, ANSWER = "requests/", "run.json", "answer.json"
RUNS = "runs/"
OUTPUT_KEPT = 64 * 1024  # a run's output in its record, at most (Step Functions' outputs go to 256 KiB)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PARAMETER = re.compile(r"^/[A-Za-z0-9_./-]{1,1010}$")
_STATE_MACHINE_ARN = re.compile(r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
_USER = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")  # the config's name rule (config.schema.NAME_PATTERN), at most 32
# Letters, digits, "_", "." and "-": safe in S3 keys, in a CopySource without escaping, and in a model package's
# CustomerMetadataProperties values: https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html
_KEY_PART = re.compile(r"^[A-Za-z0-9_.-]+$")
MODEL_KEY_MAX = 200  # the key is recorded in the package's metadata (values of at most 256 characters)
_COMMIT = re.compile(r"^[0-9a-f]{7,40}$")
# https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeImages.html (repositoryName), API_ImageIdentifier.html
_REPOSITORY = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
UNKNOWN_DIGEST = "unknown"  # the tag is not in the repository (yet): the run's jobs will say why they cannot pull it
COMMIT_TAG_PREFIX = "commit-"  # tools/ship_image.py's second tag of a pushed image: the commit it was built from
_COMMIT_TAG = re.compile(r"^commit-[0-9a-f]{7,40}$")


class ConfigurationError(RuntimeError):
    """The function's environment is wrong: it names the variable, the value and what is expected."""


class BadTrigger(ValueError):
    """The event is not a trigger this function understands."""


@dataclass(frozen=True)
class Settings:
    state_machine_arn: str
    alert_topic_arn: str
    project: str
    pending_parameter: str
    sandbox_prefix: str
    image_repository: str
    image_tag: str
    max_publish_runs: int = 2
    accepts: str = "triggers"  # or "published-models": the publisher, invoked by EventBridge only
    artifacts_bucket: str = ""  # the project's artifacts bucket: run records (RUNS), run requests and their answers

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        problems = []
        names = ("STATE_MACHINE_ARN", "ALERT_TOPIC_ARN", "PROJECT_NAME", "QUEUE_PARAMETER", "SANDBOX_PREFIX", "IMAGE_REPOSITORY", "IMAGE_TAG")
        values = {name: env.get(name, "") for name in names}
        if not _STATE_MACHINE_ARN.match(values["STATE_MACHINE_ARN"]):
            problems.append(f"STATE_MACHINE_ARN={values['STATE_MACHINE_ARN']!r}: expected a state machine ARN")
        if not _TOPIC_ARN.match(values["ALERT_TOPIC_ARN"]):
            problems.append(f"ALERT_TOPIC_ARN={values['ALERT_TOPIC_ARN']!r}: expected an SNS topic ARN")
        if not values["PROJECT_NAME"]:
            problems.append("PROJECT_NAME is empty: expected the project's name")
        if not _PARAMETER.match(values["QUEUE_PARAMETER"]):
            problems.append(f"QUEUE_PARAMETER={values['QUEUE_PARAMETER']!r}: expected an SSM parameter name starting with /")
        if not re.match(r"^[A-Za-z0-9_-]+/$", values["SANDBOX_PREFIX"]):
            problems.append(f"SANDBOX_PREFIX={values['SANDBOX_PREFIX']!r}: expected the sandboxes' key prefix, such as sandbox/")
        if not (_REPOSITORY.match(values["IMAGE_REPOSITORY"]) and len(values["IMAGE_REPOSITORY"]) <= 256):
            problems.append(f"IMAGE_REPOSITORY={values['IMAGE_REPOSITORY']!r}: expected the project's ECR repository name")
        if not _TAG.match(values["IMAGE_TAG"]):
            problems.append(f"IMAGE_TAG={values['IMAGE_TAG']!r}: expected the image tag the pipeline's jobs use")
        limit = env.get("MAX_PUBLISH_RUNS", "2")
        if not limit.isdigit() or not 1 <= int(limit) <= 20:
            problems.append(f"MAX_PUBLISH_RUNS={limit!r}: expected a whole number from 1 to 20")
        accepts = env.get("ACCEPTS", "triggers")
        if accepts not in ACCEPTS:
            problems.append(f"ACCEPTS={accepts!r}: expected one of {', '.join(ACCEPTS)}")
        bucket = env.get("ARTIFACTS_BUCKET", "")
        if not _BUCKET.match(bucket):
            problems.append(f"ARTIFACTS_BUCKET={bucket!r}: expected the project's artifacts bucket name")
        if problems:
            raise ConfigurationError("; ".join(problems))
        return cls(*(values[name] for name in names), max_publish_runs=int(limit), accepts=accepts, artifacts_bucket=bucket)


@dataclass(frozen=True)
class Trigger:
    kind: str
    detail: dict[str, Any]


def parse_trigger(event: Any) -> Trigger:
    if not isinstance(event, dict):
        raise BadTrigger(f"event must be a JSON object, got {type(event).__name__}")
    kind = event.get("trigger")
    if kind not in (*TRIGGERS, PUBLISH, RUN_ENDED):
        raise BadTrigger(f"trigger {kind!r} is not one of {', '.join(TRIGGERS)} (or {PUBLISH}, {RUN_ENDED})")
    detail = event.get("detail", {})
    if not isinstance(detail, dict):
        raise BadTrigger("detail must be a JSON object")
    return Trigger(kind, {k: v for k, v in detail.items() if isinstance(v, (str, int, float, bool)) or v is None})


def publish_detail(detail: dict[str, Any], sandbox_prefix: str) -> dict[str, Any]:
    """A publish request, checked: ``user`` (a sandbox user's name), ``modelKey`` (a ``.tar.gz`` under that user's prefix of
    the artifacts bucket, ``<sandbox_prefix><user>/``, which only that user can write) and, optionally, ``commit`` (the code's
    git commit, 7 to 40 hex digits). The run copies the archive into a run of its own before anything reads it."""
    user, key, commit = detail.get("user"), detail.get("modelKey"), detail.get("commit")
    problems = []
    if not isinstance(user, str) or not _USER.match(user) or len(user) > 32:
        problems.append(f"user {user!r} is not a user name (lowercase letters, digits and single hyphens, at most 32)")
    elif not isinstance(key, str) or not key.startswith(f"{sandbox_prefix}{user}/") or not key.endswith(".tar.gz") or len(key) > MODEL_KEY_MAX:
        problems.append(
            f"modelKey {key!r} is not a .tar.gz under {sandbox_prefix}{user}/ of the project's artifacts bucket (at most {MODEL_KEY_MAX} characters)"
        )
    elif not all(_KEY_PART.match(part) and part not in (".", "..") for part in key.split("/")):
        problems.append(f"modelKey {key!r} has an empty, relative or unsafe path part")
    if commit is not None and (not isinstance(commit, str) or not _COMMIT.match(commit)):
        problems.append(f"commit {commit!r} is not a git commit (7 to 40 lowercase hex digits)")
    if problems:
        raise BadTrigger("; ".join(problems))
    return {"user": user, "modelKey": key, "commit": commit or "unknown"}


def published_archive(event: Any, settings: Settings, s3) -> dict[str, Any]:
    """S3's ``Object Created`` event (through EventBridge) of an archive ``mlops publish`` uploaded, as a publish request:
    the user from the key (only that user's role can write under its prefix), the commit from the object's metadata."""
    if not isinstance(event, dict) or event.get("source") != "aws.s3" or event.get("detail-type") != "Object Created":
        raise BadTrigger("the publisher takes S3's Object Created events only (EventBridge invokes it; nobody else may)")
    detail = event.get("detail") or {}
    key = (detail.get("object") or {}).get("key") if isinstance(detail, dict) else None
    bucket = (detail.get("bucket") or {}).get("name") if isinstance(detail, dict) else None
    parts = key.split("/") if isinstance(key, str) else []
    prefix = settings.sandbox_prefix.rstrip("/").split("/")
    if (
        len(parts) != len(prefix) + 4
        or parts[: len(prefix)] != prefix
        or parts[len(prefix) + 1] != PUBLISHED.rstrip("/")
        or parts[-1] != "model.tar.gz"
        or not _FOLDER.match(parts[-2])
    ):
        raise BadTrigger(f"key {key!r} is not an archive mlops publish uploads ({settings.sandbox_prefix}<user>/{PUBLISHED}<time>-<id>/model.tar.gz)")
    user = parts[len(prefix)]
    metadata = s3.head_object(Bucket=bucket, Key=key).get("Metadata", {})
    commit = metadata.get("commit")
    detail = publish_detail({"user": user, "modelKey": key, **({"commit": commit} if commit else {})}, settings.sandbox_prefix)
    return {**detail, "bucket": bucket, "folder": parts[-2]}


def run_request(event: dict, settings: Settings) -> dict[str, str]:
    """S3's ``Object Created`` event (through EventBridge) of a request ``mlops run`` uploaded, as a manual trigger: the user
    from the key (only that user's role can write under its prefix; what the request says is not read)."""
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    key = (detail.get("object") or {}).get("key") if isinstance(detail.get("object"), dict) else None
    bucket = (detail.get("bucket") or {}).get("name") if isinstance(detail.get("bucket"), dict) else None
    parts = key.split("/") if isinstance(key, str) else []
    prefix = settings.sandbox_prefix.rstrip("/").split("/")
    if (
        event.get("detail-type") != "Object Created"
        or bucket != settings.artifacts_bucket
        or len(parts) != len(prefix) + 4
        or parts[: len(prefix)] != prefix
        or parts[len(prefix) + 1] != REQUESTS.rstrip("/")
        or parts[-1] != RUN_REQUEST
        or not _FOLDER.match(parts[-2])
        or not _USER.match(parts[len(prefix)])
        or len(parts[len(prefix)]) > 32
    ):
        raise BadTrigger(
            f"s3://{bucket}/{key} is not a run request mlops run uploads (s3://{settings.artifacts_bucket}/"
            f"{settings.sandbox_prefix}<user>/{REQUESTS}<time>-<id>/{RUN_REQUEST})"
        )
    return {"user": parts[len(prefix)], "folder": parts[-2], "answer": "/".join(parts[:-1]) + "/" + ANSWER}


def _answer(s3, settings: Settings, key: str, answer: dict) -> None:
    """What became of a run request, beside it, where ``mlops run`` reads it."""
    s3.put_object(Bucket=settings.artifacts_bucket, Key=key, Body=json.dumps(answer).encode(), ContentType="application/json")


def run_record_key(name: str) -> str:
    return f"{RUNS}{name}.json"


def _record(s3, settings: Settings, record: dict) -> None:
    """The run's record (``runs/<execution name>.json``), rewritten when it starts and when it ends."""
    s3.put_object(
        Bucket=settings.artifacts_bucket,
        Key=run_record_key(record["name"]),
        Body=json.dumps(record, default=str).encode(),
        ContentType="application/json",
    )


def _refuse_publish(s3, request: dict, reason: str, log: Callable[..., None]) -> dict:
    """The archive stays; ``refused.json`` beside it tells ``mlops publish`` (and the user) why no run started."""
    note = request["modelKey"].rsplit("/", 1)[0] + "/" + REFUSED
    s3.put_object(Bucket=request["bucket"], Key=note, Body=json.dumps({"refused": reason}).encode(), ContentType="application/json")
    log("trigger_rejected", trigger=PUBLISH, reason=reason, user=request["user"], note=note)
    return {"statusCode": 429 if "at once" in reason else 400, "started": False, "error": reason}


def execution_name(trigger: Trigger, now: datetime) -> str:
    return f"{trigger.kind}-{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def _pending(ssm, settings: Settings, log: Callable[..., None]) -> dict:
    """What waits for the follow-up run: ``{}``, or the count, the kinds and the first trigger's detail. A value that
    is not one (edited by hand) is logged and counts as one queued manual trigger: a follow-up too many, none lost."""
    value = ssm.get_parameter(Name=settings.pending_parameter)["Parameter"]["Value"]
    try:
        pending = json.loads(value)
        if isinstance(pending, dict) and (not pending or (isinstance(pending.get("count"), int) and pending["count"] > 0 and pending.get("first"))):
            return pending
    except ValueError:
        pass
    log("queue_unreadable", parameter=settings.pending_parameter, value=value[:200])
    return {"count": 1, "kinds": ["manual"], "first": {"trigger": "manual", "detail": {"queue": "unreadable"}}}


def _set_pending(ssm, settings: Settings, pending: dict) -> None:
    ssm.put_parameter(Name=settings.pending_parameter, Value=json.dumps(pending) if pending else EMPTY, Overwrite=True)


def _queued(pending: dict, trigger: Trigger, now: datetime) -> dict:
    """``pending`` with ``trigger`` added: one follow-up run however many triggers arrive (its input names them)."""
    if not pending:
        return {"count": 1, "kinds": [trigger.kind], "first": {"trigger": trigger.kind, "detail": trigger.detail}, "since": now.isoformat()}
    kinds = pending["kinds"] + ([trigger.kind] if trigger.kind not in pending["kinds"] else [])
    return {**pending, "count": int(pending["count"]) + 1, "kinds": kinds}


def image_identity(ecr, settings: Settings, log: Callable[..., None]) -> dict[str, str]:
    """The digest of the image the run's jobs use (its tag is immutable, so the digest is the image's identity) and the
    commit it was built from (the ``commit-<sha>`` tag the delivery pipeline also gives it), each ``unknown`` if not."""
    try:
        images = ecr.describe_images(repositoryName=settings.image_repository, imageIds=[{"imageTag": settings.image_tag}])["imageDetails"]
    except (ecr.exceptions.ImageNotFoundException, ecr.exceptions.RepositoryNotFoundException) as exc:
        log("image_not_found", repository=settings.image_repository, tag=settings.image_tag, reason=str(exc))
        return {"imageDigest": UNKNOWN_DIGEST, "imageCommit": UNKNOWN_DIGEST}
    commits = sorted(t.removeprefix(COMMIT_TAG_PREFIX) for t in images[0].get("imageTags", []) if _COMMIT_TAG.match(t))
    return {"imageDigest": images[0]["imageDigest"], "imageCommit": commits[0] if len(commits) == 1 else UNKNOWN_DIGEST}


def _start(
    sfn, ecr, s3, settings: Settings, trigger: Trigger, now: datetime, log: Callable[..., None], name: str | None = None, **extra: Any
) -> dict:
    name = name or execution_name(trigger, now)
    image = image_identity(ecr, settings, log)
    response = sfn.start_execution(
        stateMachineArn=settings.state_machine_arn, name=name, input=json.dumps({"trigger": trigger.kind, "detail": trigger.detail, **image})
    )
    log("execution_started", trigger=trigger.kind, detail=trigger.detail, execution=response["executionArn"], **image, **extra)
    record = {"name": name, "executionArn": response["executionArn"], "status": "RUNNING", "trigger": trigger.kind, "detail": trigger.detail}
    try:
        _record(s3, settings, {**record, "startDate": response["startDate"].astimezone(UTC).isoformat()})
    except Exception as exc:  # noqa: BLE001 - the run started: failing now would have the event retried, and a second run queued
        log("run_record_failed", execution=response["executionArn"], reason=str(exc)[:500])  # its end writes the record again
    return {"statusCode": 200, "started": True, "executionArn": response["executionArn"], "name": name, **extra}


END_CHECKS, END_CHECK_PAUSE_S = 3, 1.0  # a run-ended event whose execution still reads RUNNING is checked again


def _running_publish_runs(sfn, settings: Settings) -> int:
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=settings.state_machine_arn, statusFilter="RUNNING")
    return sum(1 for page in pages for e in page["executions"] if e["name"].startswith(f"{PUBLISH}-"))


def _really_ended(sfn, settings: Settings, execution: Any) -> tuple[str | None, dict]:
    """Why a ``run-ended`` event is not to be believed (or None) and, when it is, the execution as Step Functions describes
    it: it must name an execution of this pipeline's state machine that has in fact ended (the guard may be invoked by
    hand: an event naming a running execution would start the follow-up beside it)."""
    prefix = settings.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":"
    if not isinstance(execution, str) or not execution.startswith(prefix):
        return f"execution {execution!r} is not an execution of {settings.state_machine_arn}", {}
    for attempt in range(END_CHECKS):  # Step Functions' reads may lag its event a moment: a real end shows within seconds
        try:
            described = sfn.describe_execution(executionArn=execution)
        except sfn.exceptions.ExecutionDoesNotExist:
            return f"execution {execution} does not exist", {}
        status = described["status"]
        if status not in ("RUNNING", "PENDING_REDRIVE"):
            return None, described
        if attempt + 1 < END_CHECKS:
            time.sleep(END_CHECK_PAUSE_S)
    return f"execution {execution} is {status}, not ended", {}


def ended_record(described: dict) -> dict:
    """A run's record once it ended: its status, when it started and ended, its error and cause, or its output (cut to
    ``OUTPUT_KEPT`` characters, said so), and the trigger its input names."""
    try:
        given = json.loads(described.get("input") or "{}")
    except ValueError:
        given = {}
    given = given if isinstance(given, dict) else {}
    record = {
        "name": described["name"],
        "executionArn": described["executionArn"],
        "status": described["status"],
        "trigger": given.get("trigger", "unknown"),
        "detail": given.get("detail", {}),
        "startDate": described["startDate"].astimezone(UTC).isoformat(),
        **({"stopDate": described["stopDate"].astimezone(UTC).isoformat()} if described.get("stopDate") else {}),
    }
    if described["status"] != "SUCCEEDED":
        return {**record, "error": described.get("error", "unknown"), "cause": (described.get("cause") or "")[:OUTPUT_KEPT]}
    output = described.get("output") or "{}"
    return {**record, "output": output} if len(output) <= OUTPUT_KEPT else {**record, "outputTruncated": True, "output": "{}"}


def _running(sfn, settings: Settings, ended: str | None = None) -> str | None:
    """A running execution other than ``ended`` (which may still be listed as running for a moment)."""
    for execution in sfn.list_executions(stateMachineArn=settings.state_machine_arn, statusFilter="RUNNING", maxResults=2)["executions"]:
        if execution["executionArn"] != ended:
            return execution["executionArn"]
    return None


def handle(
    event: Any,
    *,
    sfn,
    sns,
    ssm,
    ecr,
    settings: Settings,
    log: Callable[..., None],
    s3,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict:
    if settings.accepts == "published-models":
        return _publish(event, sfn=sfn, ecr=ecr, s3=s3, settings=settings, log=log, now=now())
    request = None
    try:
        if isinstance(event, dict) and event.get("source") == "aws.s3":  # a run request: the user is whoever wrote it
            request = run_request(event, settings)
            trigger = Trigger("manual", {"requestedBy": request["user"], "request": request["folder"]})
        else:
            trigger = parse_trigger(event)
    except BadTrigger as exc:
        log("trigger_rejected", reason=str(exc))
        return {"statusCode": 400, "started": False, "error": str(exc)}

    if trigger.kind == RUN_ENDED:
        forged, described = _really_ended(sfn, settings, trigger.detail.get("execution"))
        if forged is not None:
            log("trigger_rejected", trigger=RUN_ENDED, reason=forged)
            return {"statusCode": 400, "started": False, "error": forged}
        _record(s3, settings, ended_record(described))
        return _follow_up(trigger, sfn=sfn, ssm=ssm, ecr=ecr, s3=s3, settings=settings, log=log, now=now())
    if trigger.kind == PUBLISH:  # what the caller says is no proof of who it is: publishing is an upload (the publisher)
        reason = (
            f"publish is not a trigger: mlops publish uploads the archive under your sandbox prefix ({settings.sandbox_prefix}<user>/"
            f"{PUBLISHED}), and the pipeline starts its run from that object's creation, as the user who wrote it"
        )
        log("trigger_rejected", trigger=PUBLISH, reason=reason)
        return {"statusCode": 403, "started": False, "error": reason}

    result = _start_or_queue(trigger, sfn=sfn, sns=sns, ssm=ssm, ecr=ecr, s3=s3, settings=settings, log=log, now=now)
    if request is not None:
        _answer(s3, settings, request["answer"], {k: v for k, v in result.items() if k != "statusCode"})
    return result


def _start_or_queue(trigger: Trigger, *, sfn, sns, ssm, ecr, s3, settings: Settings, log: Callable[..., None], now: Callable[[], datetime]) -> dict:
    """Start ``trigger``'s run unless one is running; then queue it for the one follow-up run (and say so on the topic)."""
    current = _running(sfn, settings)
    if current is None:
        pending = _pending(ssm, settings, log)
        started = _start(sfn, ecr, s3, settings, trigger, now(), log, **({"coalesced": pending["count"]} if pending else {}))
        if pending:  # this run sees the data the queued triggers were about: it is their run too (cleared once it started)
            _set_pending(ssm, settings, {})
        return started

    pending = _queued(_pending(ssm, settings, log), trigger, now())
    _set_pending(ssm, settings, pending)
    log("trigger_queued", trigger=trigger.kind, detail=trigger.detail, running_execution=current, queued=pending["count"])
    sns.publish(
        TopicArn=settings.alert_topic_arn,
        Subject=f"{settings.project}: {trigger.kind} trigger queued"[:100],
        Message=json.dumps(
            {
                "project": settings.project,
                "result": "trigger queued: an execution is running; one follow-up run starts when it ends",
                "trigger": trigger.kind,
                "detail": trigger.detail,
                "runningExecution": current,
                "queuedTriggers": pending["count"],
            }
        ),
    )
    return {"statusCode": 200, "started": False, "queued": True, "runningExecution": current, "queuedTriggers": pending["count"]}


def _publish(event: Any, *, sfn, ecr, s3, settings: Settings, log: Callable[..., None], now: datetime) -> dict:
    """The publisher: a sandbox user's archive was written; its own run, at once (it trains nothing and writes only under
    its own run id), named after the archive's folder; at most ``max_publish_runs`` at once in the project."""
    try:
        request = published_archive(event, settings, s3)
    except BadTrigger as exc:
        log("trigger_rejected", trigger=PUBLISH, reason=str(exc))
        return {"statusCode": 400, "started": False, "error": str(exc)}
    publishing = _running_publish_runs(sfn, settings)
    if publishing >= settings.max_publish_runs:  # a flood of publishes is refused, not queued: each is a paid run
        reason = f"{publishing} publish runs are running (at most {settings.max_publish_runs} at once in this project): publish again when one ends"
        return _refuse_publish(s3, request, reason, log)
    detail = {k: request[k] for k in ("user", "modelKey", "commit")}
    try:
        return _start(sfn, ecr, s3, settings, Trigger(PUBLISH, detail), now, log, name=f"{PUBLISH}-{request['folder']}")
    except sfn.exceptions.ExecutionAlreadyExists:  # EventBridge delivers at least once: the archive's run exists already
        log("publish_duplicate", folder=request["folder"])
        return {"statusCode": 200, "started": False, "duplicate": True}


def _follow_up(ended: Trigger, *, sfn, ssm, ecr, s3, settings: Settings, log: Callable[..., None], now: datetime) -> dict:
    """An execution ended: start the one follow-up run the queued triggers asked for, if nothing else runs."""
    pending = _pending(ssm, settings, log)
    if not pending:
        log("run_ended", execution=ended.detail.get("execution"), status=ended.detail.get("status"), queued=0)
        return {"statusCode": 200, "started": False, "queuedTriggers": 0}
    current = _running(sfn, settings, ended=ended.detail.get("execution"))
    if current is not None:  # that run's end takes the queue
        log("follow_up_waits", running_execution=current, queued=pending["count"])
        return {"statusCode": 200, "started": False, "queuedTriggers": pending["count"], "runningExecution": current}
    first = pending["first"]
    detail = {
        **first.get("detail", {}),
        "queuedTriggers": pending["count"],
        "queuedKinds": ",".join(pending["kinds"]),
        "after": ended.detail.get("execution"),
    }
    started = _start(sfn, ecr, s3, settings, Trigger(first["trigger"], detail), now, log, coalesced=pending["count"])
    _set_pending(ssm, settings, {})  # only once the run started: a failed start leaves the queue for a retry
    return started
