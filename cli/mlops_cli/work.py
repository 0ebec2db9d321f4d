"""What ``mlops`` does in AWS, for one user in one project of one stage (clients are passed in).

Everything is found through the SSM parameters the platform's stacks publish under the stage's namespace
(``/<prefix>/<stage>``): the sandbox's (``sandboxes/<user>/<project>/``), the project's
(``projects/<project>/``), its pipeline's (``.../pipeline/``) and its endpoint's (``.../endpoint/``) or batch
scoring's (``.../batch/``). The
sandbox grants exactly the calls in ``PERMISSIONS`` on that project's resources.

Every request to the pipeline is an upload under the user's own prefix of the artifacts bucket (a model to publish, a run
to start), which only that user's role can write: the pipeline takes it from S3's event, so the requester is who wrote it.
Runs are followed through their records (``runs/<execution name>.json``, written by the pipeline when a run starts and
ends). So the command calls S3 (the VPC's free gateway endpoint), SSM and the SageMaker API, never Lambda or Step Functions.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

# Every AWS operation the command makes, and the IAM action it needs (PutObject: uploads, in parts when large).
PERMISSIONS: dict[tuple[str, str], str] = {
    ("ssm", "GetParameter"): "ssm:GetParameter",
    ("s3", "PutObject"): "s3:PutObject",
    ("s3", "CreateMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPart"): "s3:PutObject",
    ("s3", "CompleteMultipartUpload"): "s3:PutObject",
    ("s3", "AbortMultipartUpload"): "s3:AbortMultipartUpload",
    # the guard's answer to a run request, a refused publish's note, the runs' records; `mlops label`: the periods' event ids
    ("s3", "GetObject"): "s3:GetObject",
    ("s3", "ListObjectsV2"): "s3:ListBucket",  # `mlops status`: the runs' records; `mlops label`: the periods checked
    ("sagemaker", "ListModelPackages"): "sagemaker:ListModelPackages",
    ("sagemaker", "DescribeModelPackage"): "sagemaker:DescribeModelPackage",
}

NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")  # project, user and stage names
NAMESPACE = re.compile(r"^/([a-z][a-z0-9-]*)/([a-z][a-z0-9-]*)$")
COMMIT = re.compile(r"^[0-9a-f]{7,40}$")
PUBLISHED = "published/"  # below the user's sandbox prefix: one folder per publication
# config.layout's run requests and run records (this package does not import the app's; a test keeps them equal)
REQUESTS, RUN_REQUEST, ANSWER = "requests/", "run.json", "answer.json"
RUNS = "runs/"


class UsageError(Exception):
    """Bad input or set-up: the message says what and how to fix it (exit status 2)."""


class RunFailed(Exception):
    """A pipeline run ended without success (exit status 1)."""


@dataclass(frozen=True)
class Project:
    """One user's view of one project of one stage: where its published parameters are."""

    namespace: str  # /<prefix>/<stage>
    project: str
    user: str

    def __post_init__(self) -> None:
        problems = []
        if not NAMESPACE.match(self.namespace):
            problems.append(f"namespace {self.namespace!r} is not a stage's SSM namespace such as /mlops/dev (--namespace or MLOPS_NAMESPACE)")
        if not NAME.match(self.project or ""):
            problems.append(f"project {self.project!r} is not a project name such as churn (--project or MLOPS_PROJECT)")
        if not NAME.match(self.user or ""):
            problems.append(f"user {self.user!r} is not a Studio user name such as alice (--user or MLOPS_USER)")
        if problems:
            raise UsageError("; ".join(problems))

    @property
    def prefix(self) -> str:
        return self.namespace.split("/")[1]

    @property
    def stage(self) -> str:
        return self.namespace.split("/")[2]

    def sandbox(self, key: str) -> str:
        return f"{self.namespace}/sandboxes/{self.user}/{self.project}/{key}"

    def own(self, key: str) -> str:
        return f"{self.namespace}/projects/{self.project}/{key}"

    def pipeline(self, key: str) -> str:
        return self.own(f"pipeline/{key}")

    def endpoint(self, stage: str, key: str) -> str:
        return f"/{self.prefix}/{stage}/projects/{self.project}/endpoint/{key}"

    def serving(self, stage: str) -> dict[str, str]:
        """Where ``stage`` publishes the package it serves, by how it serves it: its endpoint's parameter, or its batch
        scoring's (a project of a stage has one of the two, or neither)."""
        return {how: f"/{self.prefix}/{stage}/projects/{self.project}/{how}/model-package-arn" for how in SERVING}

    def parameters_read(self, stages: list[str]) -> list[str]:
        """Every parameter the command may read (``publish``, ``run``, ``status --stages``): what the sandbox must grant
        and the stacks must publish (the tests hold both to this list)."""
        return [
            *(self.sandbox(k) for k in ("artifacts-bucket-name", "artifacts-prefix", "key-arn")),
            self.own("model-package-group-name"),
            self.pipeline("state-machine-arn"),  # whether the project's pipeline runs in this stage
            *(name for stage in stages for name in self.serving(stage).values()),
            *(self.endpoint(self.stage, k) for k in ("name", "monitoring-reports-uri")),  # mlops label
        ]


SERVING = ("endpoint", "batch")  # the stacks that publish the package a stage serves (Names.endpoint_parameters, batch_parameters)


class Parameters:
    """Reads published parameters, with what to do when one is missing."""

    def __init__(self, ssm) -> None:
        self._ssm = ssm

    def get(self, name: str, *, missing: str) -> str:
        try:
            return self._ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except self._ssm.exceptions.ParameterNotFound:
            raise UsageError(f"no parameter {name}: {missing}") from None

    def find(self, name: str) -> str | None:
        try:
            return self._ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except self._ssm.exceptions.ParameterNotFound:
            return None


def _no_sandbox(p: Project) -> str:
    return f"{p.user} has no sandbox in project {p.project} of {p.namespace} (ask for one: the sandbox product, or sandboxes: in the config)"


def _no_pipeline(p: Project) -> str:
    return f"project {p.project} has no training pipeline in {p.namespace} (publish to the stage that trains its models)"


# -- publish -----------------------------------------------------------------------------------------


# The model file the platform loads, and the pickles it refuses (the container's rule, mlops_container.model: MODEL_FILE,
# PICKLE_FILES; tests/mlops_cli/test_mlops_command.py checks that the two agree). Said here so that a data scientist hears
# it before the upload, not from a failed evaluation job.
MODEL_FILE = "model.skops"
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle", ".pck")
EXPORT_HINT = "save it with skops instead: skops.io.dump(estimator, 'model.skops') beside model_metadata.json"


def _model_files(path: Path, names: list[str]) -> None:
    """Refuse an archive or folder without ``model.skops`` at its root, or with a pickle anywhere (loading a pickle runs
    any code inside it: the platform never loads one)."""
    pickles = [n for n in names if n.lower().endswith(PICKLE_SUFFIXES)]
    if pickles:
        raise UsageError(f"{path} holds {', '.join(sorted(pickles))}, a pickle: the platform never loads pickles; {EXPORT_HINT}")
    if MODEL_FILE not in names:
        raise UsageError(f"{path} has no {MODEL_FILE} at its root; {EXPORT_HINT}")


def checked_archive(path: Path, work_dir: Path) -> Path:
    """``path`` as a model archive SageMaker can extract into /opt/ml/model: a ``.tar.gz`` is checked, a folder is packed
    (its files at the archive's root). Refused: no regular file, absolute or ``..`` member names, links, a pickle, no
    ``model.skops``."""
    if path.is_dir():
        files = sorted(f for f in path.rglob("*") if f.is_file())
        if not files:
            raise UsageError(f"{path} holds no file: publish the folder the model was saved to, or its model.tar.gz")
        _model_files(path, [f.relative_to(path).as_posix() for f in files])
        archive = work_dir / "model.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for f in files:
                tar.add(f, arcname=f.relative_to(path).as_posix(), recursive=False)
        return archive
    if not path.is_file():
        raise UsageError(f"{path} does not exist")
    if not path.name.endswith(".tar.gz"):
        raise UsageError(f"{path} is not a model archive (.tar.gz) or a folder")
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UsageError(f"{path} is not a readable .tar.gz ({exc})") from None
    for m in members:
        name = PurePosixPath(m.name)
        if name.is_absolute() or ".." in name.parts:
            raise UsageError(f"{path}: member {m.name!r} would extract outside the model folder")
        if m.issym() or m.islnk():
            raise UsageError(f"{path}: member {m.name!r} is a link; SageMaker extracts regular files and folders only")
    if not any(m.isfile() for m in members):
        raise UsageError(f"{path} holds no file")
    _model_files(path, [PurePosixPath(m.name).as_posix() for m in members if m.isfile()])
    return path


def git_commit(cwd: Path, run: Callable[..., Any]) -> tuple[str | None, bool]:
    """The checked-out commit of the repository around ``cwd`` and whether it has uncommitted changes; (None, False)
    outside a repository or without git."""
    try:
        head = run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
        dirty = run(["git", "status", "--porcelain"], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip() != ""
    except (OSError, subprocess.CalledProcessError):  # no git, not a repository: the commit is unknown
        return None, False
    return (head, dirty) if COMMIT.match(head) else (None, False)


REFUSED = "refused.json"  # the publisher's note beside an archive it did not start a run for (lambda/start_pipeline)


def publish(
    clients,
    p: Project,
    archive: Path,
    *,
    commit: str | None,
    now: datetime,
    say: Callable[[str], None],
    sleep: Callable[[float], None] = lambda s: __import__("time").sleep(s),
    start_timeout_s: float = 120,
) -> dict:
    """Upload ``archive`` to ``<sandbox prefix>published/<time>-<id>/model.tar.gz`` (the project key; ``commit`` in its
    metadata). That upload is the request: the pipeline's publisher starts a run named ``publish-<time>-<id>`` for the user
    whose prefix it is (nobody else can write there), which copies the archive into a run of its own, evaluates it on the
    project's data, applies the quality gate, computes its monitoring baseline and registers it pending approval. Returns
    once that run has started (its ARN), or says why the publisher refused it."""
    where = _sandbox_bucket(clients, p)
    folder = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
    key = f"{where.prefix}{PUBLISHED}{folder}/model.tar.gz"
    say(f"uploading {archive} ({archive.stat().st_size:,} bytes) to s3://{where.bucket}/{key}")
    extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": where.key_arn, **({"Metadata": {"commit": commit}} if commit else {})}
    clients["s3"].upload_file(str(archive), where.bucket, key, ExtraArgs=extra)
    name = f"publish-{folder}"
    notes = {record_key(name): "record", f"{where.prefix}{PUBLISHED}{folder}/{REFUSED}": "refused"}
    found, body = _first_of(clients["s3"], where.bucket, notes, timeout_s=start_timeout_s, sleep=sleep)
    if found is None:
        raise RunFailed(
            f"no run started for s3://{where.bucket}/{key} within {start_timeout_s:.0f} s: the project's alert topic and the pipeline "
            "publisher's log say why (the archive stays; publish again to retry)"
        )
    if found == "refused":
        raise UsageError(f"the pipeline refused the publish: {body.get('refused', body)}")
    return {"statusCode": 200, "started": True, "executionArn": body.get("executionArn"), "name": name, "bucket": where.bucket}


@dataclass(frozen=True)
class Where:
    """The project's artifacts bucket, the user's prefix there and the key uploads are encrypted with."""

    bucket: str
    prefix: str
    key_arn: str


def _sandbox_bucket(clients, p: Project) -> Where:
    params = Parameters(clients["ssm"])
    bucket = params.get(p.sandbox("artifacts-bucket-name"), missing=_no_sandbox(p))
    prefix = params.get(p.sandbox("artifacts-prefix"), missing=_no_sandbox(p))
    key_arn = params.get(p.sandbox("key-arn"), missing=_no_sandbox(p))
    params.get(p.pipeline("state-machine-arn"), missing=_no_pipeline(p))
    return Where(bucket, prefix, key_arn)


def record_key(name: str) -> str:
    """Where a run's record is (``runs/<execution name>.json``, the guard's and the publisher's ``run_record_key``)."""
    return f"{RUNS}{name}.json"


def _read_json(s3, bucket: str, key: str) -> dict | None:
    """The JSON object at ``key``, or None while it does not exist."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    try:
        value = json.loads(body)
    except ValueError:
        raise RunFailed(f"s3://{bucket}/{key} is not JSON: the pipeline writes it; its log says what went wrong") from None
    if not isinstance(value, dict):
        raise RunFailed(f"s3://{bucket}/{key} is not a JSON object: the pipeline writes it; its log says what went wrong")
    return value


def _first_of(s3, bucket: str, keys: dict[str, str], *, timeout_s: float, sleep: Callable[[float], None]) -> tuple[str | None, dict]:
    """The first of ``keys`` (key -> what it means) to exist, polled every 2 s for ``timeout_s``: (meaning, its object)."""
    waited = 0.0
    while True:
        for key, meaning in keys.items():
            body = _read_json(s3, bucket, key)
            if body is not None:
                return meaning, body
        if waited >= timeout_s:
            return None, {}
        sleep(2.0)
        waited += 2.0


def start_run(
    clients, p: Project, *, now: datetime, sleep: Callable[[float], None] = lambda s: __import__("time").sleep(s), answer_timeout_s: float = 120
) -> dict:
    """Ask for a training run (a ``manual`` trigger): upload a request under the user's prefix, which the pipeline's guard
    takes from S3's event (so the requester is whoever could write there), and read its answer beside it: started now, or
    queued behind the running one."""
    where = _sandbox_bucket(clients, p)
    folder = f"{where.prefix}{REQUESTS}{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}/"
    clients["s3"].put_object(
        Bucket=where.bucket,
        Key=f"{folder}{RUN_REQUEST}",
        Body=json.dumps({"requested": now.isoformat()}).encode(),
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=where.key_arn,
        ContentType="application/json",
    )
    found, answer = _first_of(clients["s3"], where.bucket, {f"{folder}{ANSWER}": "answer"}, timeout_s=answer_timeout_s, sleep=sleep)
    if found is None:
        raise RunFailed(
            f"the pipeline did not answer s3://{where.bucket}/{folder}{RUN_REQUEST} within {answer_timeout_s:.0f} s: its guard's log "
            "says why (the request stays; mlops status shows whether a run started)"
        )
    if "error" in answer:
        raise UsageError(f"the pipeline refused the request: {answer['error']}")
    return {**answer, "bucket": where.bucket}


def wait(clients, bucket: str, name: str, *, timeout_s: float, poll_s: float, sleep: Callable[[float], None], say: Callable[[str], None]) -> dict:
    """Follow run ``name`` to its end through its record; its output on success, ``RunFailed`` with its error and cause
    otherwise."""
    waited = 0.0
    while True:
        record = _read_json(clients["s3"], bucket, record_key(name))
        if record is not None and record.get("status") != "RUNNING":
            break
        if waited >= timeout_s:
            raise RunFailed(f"run {name} still runs after {timeout_s / 60:.0f} minutes (mlops status shows how it ends)")
        sleep(poll_s)
        waited += poll_s
    if record["status"] != "SUCCEEDED":
        raise RunFailed(f"the run {str(record['status']).lower()}: {record.get('error', '?')}: {record.get('cause', '')}".rstrip(": "))
    try:
        output = json.loads(record.get("output") or "{}")
    except ValueError:
        output = {}
    say(f"run succeeded: {record.get('executionArn', name)}")
    return output if isinstance(output, dict) else {}


RUN_TIME = re.compile(r"-(\d{8}T\d{6}Z)-")  # the time in an execution's name (the guard's and the publisher's names)


def latest_runs(s3, bucket: str, limit: int = 5) -> list[dict]:
    """The records of the pipeline's ``limit`` latest runs, newest first (by the start time their names carry)."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=RUNS)
    keys = [o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"].endswith(".json")]
    timed = sorted(((m.group(1), k) for k in keys if (m := RUN_TIME.search(k))), reverse=True)[:limit]
    records = [_read_json(s3, bucket, key) for _, key in timed]
    return [r for r in records if r is not None]


# -- status ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageRow:
    version: str
    approval: str
    created: str
    origin: str
    deployed: str


def origin(metadata: dict[str, str]) -> str:
    """Where the package's model comes from, from what the pipeline recorded."""
    if metadata.get("publishedBy", "none") != "none":
        commit = metadata.get("codeCommit", "unknown")
        return f"published by {metadata['publishedBy']}" + (f" at {commit[:12]}" if commit != "unknown" else "")
    if metadata.get("trainingJob", "none") != "none":
        return f"trained by run {metadata.get('runId', '?')} ({metadata.get('trigger', '?')})"
    return "?"


def status(clients, p: Project, *, stages: list[str], limit: int) -> tuple[list[PackageRow], list[dict]]:
    """The newest ``limit`` packages of the project's group (approval, origin, and the stages whose endpoint or batch
    scoring serves each), and the pipeline's latest runs (none when this stage has no pipeline)."""
    params = Parameters(clients["ssm"])
    group = params.get(p.own("model-package-group-name"), missing=f"no project {p.project} in {p.namespace}")
    serving: dict[str, list[str]] = {}
    for stage in stages:
        for how, name in p.serving(stage).items():
            arn = params.find(name)
            if arn is not None:
                serving.setdefault(arn, []).append(stage if how == "endpoint" else f"{stage} ({how})")
    sagemaker = clients["sagemaker"]
    summaries = sagemaker.list_model_packages(ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending", MaxResults=limit)[
        "ModelPackageSummaryList"
    ]
    rows = []
    for s in summaries:
        arn = s["ModelPackageArn"]
        package = sagemaker.describe_model_package(ModelPackageName=arn)
        rows.append(
            PackageRow(
                version=str(s.get("ModelPackageVersion", arn.rsplit("/", 1)[-1])),
                approval=s.get("ModelApprovalStatus", "?"),
                created=s["CreationTime"].astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
                origin=origin(package.get("CustomerMetadataProperties", {})),
                deployed=", ".join(serving.get(arn, [])) or "-",
            )
        )
    runs = []
    if params.find(p.pipeline("state-machine-arn")) is not None:
        bucket = params.get(p.sandbox("artifacts-bucket-name"), missing=_no_sandbox(p))
        runs = latest_runs(clients["s3"], bucket)
    return rows, runs


def table(rows: list[PackageRow]) -> str:
    header = PackageRow("version", "approval", "created (UTC)", "origin", "deployed in")
    cells = [[getattr(r, f) for f in ("version", "approval", "created", "origin", "deployed")] for r in [header, *rows]]
    widths = [max(len(c[i]) for c in cells) for i in range(5)]
    return "\n".join("  ".join(c[i].ljust(widths[i]) for i in range(5)).rstrip() for c in cells)


# `mlops label`: model-quality labels in Model Monitor's documented ground-truth layout
# (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-merge.html), under the capture bucket's
# ground-truth/<endpoint>/yyyy/mm/dd/hh/ (the hour written), where the endpoint's scheduled check reads them.
GROUND_TRUTH = "ground-truth/"
LABEL_HEADER = ["event_id", "label"]
MAX_SHOWN = 10  # the first problems shown: enough to fix the file


@dataclass(frozen=True)
class LabelRow:
    event_id: str
    labels: tuple[int, ...]  # one per row the labelled request scored


def read_label_file(path: Path) -> list[LabelRow]:
    """The labels of ``path``: a CSV with the header ``event_id,label``, a label being 0 or 1 (several, ``;``-separated,
    for a request that scored several rows). Every problem is reported at once, by line."""
    import csv

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read it as UTF-8 text ({exc})") from None
    lines = list(csv.reader(text.splitlines()))
    if not lines or [c.strip().lower() for c in lines[0]] != LABEL_HEADER:
        raise UsageError(f"{path}: the first line must be the header event_id,label (found {','.join(lines[0]) if lines else 'nothing'})")
    rows, problems, seen = [], [], {}
    for number, cells in enumerate(lines[1:], start=2):
        if not cells or not "".join(cells).strip():
            continue
        if len(cells) != 2 or not cells[0].strip():
            problems.append(f"line {number}: expected an event id and a label, found {','.join(cells)!r}")
            continue
        event_id, label = cells[0].strip(), cells[1].strip()
        values = [v.strip() for v in label.split(";")]
        if not all(v in ("0", "1") for v in values):
            problems.append(f"line {number}: label {label!r} of {event_id} is not 0 or 1 (the model is a binary classifier)")
            continue
        if event_id in seen:
            problems.append(f"line {number}: {event_id} is labelled again (first on line {seen[event_id]})")
            continue
        seen[event_id] = number
        rows.append(LabelRow(event_id, tuple(int(v) for v in values)))
    if problems:
        more = f" (and {len(problems) - MAX_SHOWN} more)" if len(problems) > MAX_SHOWN else ""
        raise UsageError(f"{path}: " + "; ".join(problems[:MAX_SHOWN]) + more + ": nothing was uploaded")
    if not rows:
        raise UsageError(f"{path}: no labels after the header")
    return rows


PERIOD_FOLDER = re.compile(r"^(\d{8}T\d{6}Z)/$")  # a checked period's reports: <reports>/<period start>/
EVENT_IDS = "event-ids.json"  # beside them, the ids labels may name (mlops_container.check.EVENT_IDS)


def captured_ids(s3, bucket: str, prefix: str, *, now: datetime, hours: int) -> tuple[set[str], int]:
    """The ids labels may name (``inferenceId`` when the caller gave one, else ``eventId``) of the periods the drift check
    reported on that started in the last ``hours`` hours (and the day before: a daily period starts up to a day before its
    traffic). Read from each period's ``event-ids.json`` under ``prefix`` (``monitoring/<endpoint>/``): the ids only,
    never the captured traffic. Returns them and how many periods were read."""
    from datetime import timedelta

    since = now - timedelta(hours=hours + 24)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/", StartAfter=f"{prefix}{since:%Y%m%dT%H%M%SZ}")
    periods = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", []) if PERIOD_FOLDER.match(p["Prefix"][len(prefix) :])]
    ids: set[str] = set()
    read = 0
    for period in periods:
        try:
            body = s3.get_object(Bucket=bucket, Key=f"{period}{EVENT_IDS}")["Body"].read()
        except s3.exceptions.NoSuchKey:
            continue  # a period the check did not finish, or reported on before it listed ids
        try:
            ids.update(str(i) for i in json.loads(body)["ids"])
        except (ValueError, KeyError, TypeError):
            raise UsageError(f"s3://{bucket}/{period}{EVENT_IDS} is not the check's list of event ids") from None
        read += 1
    return ids, read


def label(clients, p: Project, path: Path, *, now: datetime, hours: int, say: Callable[[str], None]) -> dict:
    """Check ``path``'s labels (``read_label_file``) against the event ids of what the project's endpoint of this stage
    captured in the periods its drift check reported on in the last ``hours`` hours, then upload them as one ground-truth
    file (the project key) in the capture bucket. Nothing is uploaded if an id is unknown."""
    if not 1 <= hours <= 24 * 90:
        raise UsageError(f"--hours {hours} is not between 1 and 2160 (90 days)")
    rows = read_label_file(path)
    params = Parameters(clients["ssm"])
    no_endpoint = f"project {p.project} has no endpoint in {p.namespace}: labels are for an endpoint's captured predictions"
    endpoint = params.get(p.endpoint(p.stage, "name"), missing=no_endpoint)
    reports = params.get(
        p.endpoint(p.stage, "monitoring-reports-uri"), missing=f"{endpoint} has no drift check in {p.namespace}: its model quality is not checked"
    )
    key_arn = params.get(p.sandbox("key-arn"), missing=_no_sandbox(p))
    match = re.match(r"^s3://([^/]+)/(.+)$", reports)
    if match is None:
        raise UsageError(f"{p.endpoint(p.stage, 'monitoring-reports-uri')} is {reports!r}, not an s3:// URI: the endpoint stack publishes it")
    bucket, prefix = match.group(1), match.group(2).rstrip("/") + "/"
    say(f"checking {len(rows)} event ids against the periods of the last {hours} h {endpoint}'s drift check reported on")
    known, periods = captured_ids(clients["s3"], bucket, prefix, now=now, hours=hours)
    unknown = [r.event_id for r in rows if r.event_id not in known]
    if unknown:
        shown = ", ".join(unknown[:MAX_SHOWN]) + (f" (and {len(unknown) - MAX_SHOWN} more)" if len(unknown) > MAX_SHOWN else "")
        raise UsageError(
            f"{len(unknown)} of {len(rows)} event ids are not among those {endpoint} captured in the {periods} periods checked in the "
            f"last {hours} h: {shown}. Use the capture's eventId (or the InferenceId your caller sent); a prediction's id is known "
            "once its period is checked (minutes after it ends); --hours reaches older ones. Nothing was uploaded"
        )
    body = "".join(
        json.dumps(
            {
                "groundTruthData": {"data": ",".join(str(v) for v in r.labels), "encoding": "CSV"},
                "eventMetadata": {"eventId": r.event_id},
                "eventVersion": "0",
            }
        )
        + "\n"
        for r in rows
    )
    key = f"{GROUND_TRUTH}{endpoint}/{now:%Y/%m/%d/%H}/{now:%M-%S}-{secrets.token_hex(4)}.jsonl"
    clients["s3"].put_object(
        Bucket=bucket, Key=key, Body=body.encode(), ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn, ContentType="application/jsonlines"
    )
    return {"uri": f"s3://{bucket}/{key}", "labels": len(rows), "endpoint": endpoint}
