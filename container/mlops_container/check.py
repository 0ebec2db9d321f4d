"""The platform's own drift check, run by its scheduled check or by batch scoring: in a Lambda function or in a processing job.

SageMaker Model Monitor is closed to new customers (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-availability-change.html),
so nothing here relies on a monitoring schedule. A *request* says what to check; it comes as the Lambda event, or as the
processing job's ``CHECK_REQUEST`` environment variable (JSON), and is checked the same way:

- ``format``: ``capture`` (an endpoint's data capture, JSON Lines) or ``csv`` (plain rows without a header: a batch
  transform's input).
- ``manifest``: ``s3://...`` a SageMaker manifest file (``[{"prefix": "s3://bucket/"}, "key", ...]``) listing the objects
  to read; or ``input``: ``s3://bucket/prefix/``, every object under it. A processing job gets them from SageMaker at
  ``contract.CHECK_INPUT`` instead (``S3DataType`` ``ManifestFile`` or ``S3Prefix``).
- ``start``, ``end``: the period ``[start, end)`` (ISO 8601, UTC): only records whose ``inferenceTime`` is inside count,
  as Model Monitor's ``start_time``/``end_time``. Both or neither.
- ``output``: ``s3://bucket/prefix``: where ``statistics.json``, ``constraints.json``, ``constraint_violations.json``,
  ``report.html`` and ``summary.json`` go (encrypted with ``KMS_KEY_ARN``). A processing job uploads them itself.

The function's (or job's) environment says against what, and where the metrics go: ``BASELINE_URI`` (``s3://`` prefix
holding ``statistics.json`` and ``constraints.json``; a job gets them at ``contract.CHECK_BASELINE``), ``METRICS_NAMESPACE``,
``CHECK_NAME`` (the metrics' ``MonitoringSchedule`` dimension, as the drift alarms read it), ``CHECK_ENDPOINT`` (the
``Endpoint`` dimension; none for batch scoring), ``KMS_KEY_ARN`` and ``METRIC_FEATURES`` (the features whose metrics are
published, comma-separated; empty: all).

The analysis is ``monitor.run``: the very code of Model Monitor's bring-your-own-container contract and of local mode's
drift step, so the three give the same verdict. A period without a record is ``no data``: not drift, not a failure.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mlops_container import drift, monitor, quality
from mlops_container.contract import CHECK_BASELINE, CHECK_INPUT, CHECK_OUTPUT, CLASSIFICATION_METRICS
from mlops_container.paths import ml_root

FORMATS = {"capture": {"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput"]}}, "csv": {"csv": {"header": False}}}
QUALITY = "quality"  # a period's model quality: its captured predictions (manifest) joined with the labels (labels)
QUALITY_REPORTS = ("quality.json", "quality.html")
# Beside a period's drift reports: the ids labels may name (inferenceId, else eventId) of its captured predictions, and
# nothing else of them. `mlops label` checks a label file against these (a sandbox may read the reports, not the traffic).
EVENT_IDS = "event-ids.json"
REPORTS = ("statistics.json", "constraints.json", "constraint_violations.json", "report.html", "summary.json")
SUMMARY_KEYS = ("status", "records", "outside_window", "rows", "malformed", "drifted_features", "violation_types", "metrics", "message")
_S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.*)$")


class BadRequest(ValueError):
    """A request or environment this check cannot run: what is wrong, and what it expects."""


def parse_s3_uri(uri: object, what: str) -> tuple[str, str]:
    match = _S3_URI.match(uri) if isinstance(uri, str) else None
    if match is None:
        raise BadRequest(f"{what} {uri!r}: expected s3://<bucket>/<key or prefix>")
    return match.group(1), match.group(2)


@dataclass(frozen=True)
class Request:
    format: str
    output: str
    manifest: str | None = None
    input: str | None = None
    start: str | None = None
    end: str | None = None
    labels: str | None = None  # format quality: the manifest of the label files

    @classmethod
    def parse(cls, event: object) -> Request:
        if not isinstance(event, Mapping):
            raise BadRequest(f"the request must be a JSON object, not {type(event).__name__}")
        unknown = sorted(set(event) - {"format", "output", "manifest", "input", "start", "end", "labels"})
        if unknown:
            raise BadRequest(f"unknown request fields {unknown}: expected format, output, manifest or input, start, end, labels")
        fmt = event.get("format")
        if fmt not in (*FORMATS, QUALITY):
            raise BadRequest(f"format {fmt!r}: expected one of {sorted((*FORMATS, QUALITY))}")
        if (event.get("manifest") is None) == (event.get("input") is None):
            raise BadRequest("give exactly one of manifest (a manifest file's s3:// URI) and input (an s3:// prefix)")
        if fmt == QUALITY and (event.get("labels") is None or event.get("manifest") is None or event.get("start") is None):
            raise BadRequest("format quality needs manifest (the captured predictions), labels (the label files' manifest), start and end")
        if fmt != QUALITY and event.get("labels") is not None:
            raise BadRequest("labels go with format quality only")
        for name in ("manifest", "input", "output", "labels"):
            if event.get(name) is not None:
                parse_s3_uri(event[name], name)
        if (event.get("start") is None) != (event.get("end") is None):
            raise BadRequest("give both start and end of the period, or neither")
        window = drift.Window.parse(event.get("start"), event.get("end"))  # a BaselineError names a bad time
        if window.start and window.end and window.start >= window.end:
            raise BadRequest(f"start {event['start']} is not before end {event['end']}")
        return cls(fmt, event["output"], event.get("manifest"), event.get("input"), event.get("start"), event.get("end"), event.get("labels"))


@dataclass(frozen=True)
class Environment:
    baseline_uri: str
    metrics_namespace: str
    check_name: str
    endpoint_name: str
    kms_key_arn: str
    metric_features: str = ""  # comma-separated; empty: every feature's metrics
    quality: QualitySettings | None = None  # set when the check also scores model quality

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Environment:
        values = {k: env.get(k, "").strip() for k in ("BASELINE_URI", "METRICS_NAMESPACE", "CHECK_NAME", "CHECK_ENDPOINT", "KMS_KEY_ARN")}
        problems = [f"{k} is not set" for k in ("BASELINE_URI", "METRICS_NAMESPACE", "CHECK_NAME", "KMS_KEY_ARN") if not values[k]]
        if values["BASELINE_URI"]:
            try:
                parse_s3_uri(values["BASELINE_URI"], "BASELINE_URI")
            except BadRequest as exc:
                problems.append(str(exc))
        quality = QualitySettings.from_env(env, problems) if env.get("QUALITY_METRIC", "").strip() else None
        if problems:
            raise BadRequest("the check's environment is wrong: " + "; ".join(problems))
        return cls(*values.values(), metric_features=env.get("METRIC_FEATURES", "").strip(), quality=quality)


@dataclass(frozen=True)
class QualitySettings:
    """What a quality check scores (``QUALITY_METRIC``, the project's evaluation metric), the bar (``QUALITY_THRESHOLD``),
    the fewest labelled rows that say anything (``QUALITY_MIN_LABELS``) and how late a label may come (``LABEL_DELAY_HOURS``)."""

    metric: str
    threshold: float
    min_labels: int
    label_delay_hours: int

    @classmethod
    def from_env(cls, env: Mapping[str, str], problems: list[str]) -> QualitySettings:
        metric = env.get("QUALITY_METRIC", "").strip()
        if metric not in CLASSIFICATION_METRICS:
            problems.append(f"QUALITY_METRIC={metric!r}: expected one of {', '.join(CLASSIFICATION_METRICS)}")

        def number(name: str, kind, low: float, high: float):
            text = env.get(name, "").strip()
            try:
                value = kind(text)
            except ValueError:
                value = None
            if value is None or not low <= value <= high:
                problems.append(f"{name}={text!r}: expected a number from {low} to {high}")
                return kind(low)
            return value

        return cls(
            metric,
            number("QUALITY_THRESHOLD", float, -1e9, 1e9),
            number("QUALITY_MIN_LABELS", int, 1, 1_000_000),
            number("LABEL_DELAY_HOURS", int, 0, 24 * 90),
        )


def settings(request: Request, env: Environment, *, source: Path, baseline: Path, output: Path) -> dict[str, str]:
    """The contract's settings (``monitor.run``) for ``request`` with its data at ``source``, the baseline files in
    ``baseline`` and the reports written to ``output``: the one place both runners take them from."""
    window = {"start_time": request.start, "end_time": request.end} if request.start else {}
    return {
        "dataset_format": json.dumps(FORMATS[request.format]),
        "dataset_source": str(source),
        "baseline_statistics": str(baseline / "statistics.json"),
        "baseline_constraints": str(baseline / "constraints.json"),
        "output_path": str(output),
        "publish_cloudwatch_metrics": "Direct",
        "cloudwatch_namespace": env.metrics_namespace,
        "sagemaker_monitoring_schedule_name": env.check_name,
        "sagemaker_endpoint_name": env.endpoint_name,
        "metric_features": env.metric_features,
        **window,
    }


def result(summary: dict) -> dict:
    return {k: summary[k] for k in SUMMARY_KEYS if k in summary}


def run_local(request: Request, env: Environment, root: Path, *, source: Path, baseline: Path, output: Path) -> dict:
    """The analysis of data already on disk: ``monitor.run`` under ``root`` (a processing job's ``/opt/ml``); for captured
    traffic, also the period's event ids (``EVENT_IDS``)."""
    if not source.exists():
        source.mkdir(parents=True)  # SageMaker mounts nothing for an empty manifest: a period without capture is "no data"
    summary = result(monitor.run(root, settings(request, env, source=source, baseline=baseline, output=output)))
    if request.format == "capture":
        window = drift.Window.parse(request.start, request.end)
        files = ((str(f), f.read_text(encoding="utf-8", errors="replace").splitlines()) for f in sorted(source.rglob("*")) if f.is_file())
        ids = quality.event_ids(files, window.start, window.end)
        (output / EVENT_IDS).write_text(json.dumps({"start": request.start, "end": request.end, "ids": ids}))
    return summary


def _download(s3, bucket: str, key: str, to: Path) -> None:
    to.parent.mkdir(parents=True, exist_ok=True)
    s3.download_file(bucket, key, str(to))


def manifest_keys(s3, uri: str) -> list[tuple[str, str]]:
    """``(bucket, key)`` of every object a SageMaker manifest file lists (its first entry is the common prefix)."""
    bucket, key = parse_s3_uri(uri, "manifest")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        entries = json.loads(body)
        prefix_bucket, prefix = parse_s3_uri(entries[0]["prefix"], "the manifest's prefix")
        keys = [prefix + str(e) for e in entries[1:]]
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise BadRequest(f"manifest {uri} is not a SageMaker manifest file ([{{'prefix': 's3://...'}}, 'key', ...]): {exc}") from None
    return [(prefix_bucket, k) for k in keys]


def prefix_keys(s3, uri: str) -> list[tuple[str, str]]:
    bucket, prefix = parse_s3_uri(uri, "input")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [(bucket, o["Key"]) for page in pages for o in page.get("Contents", []) if not o["Key"].endswith("/")]


def _lines(s3, bucket: str, key: str) -> list[str]:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", errors="replace").splitlines()


def check_quality(request: Request, *, s3, env: Environment, now: datetime) -> dict:
    """A period's model quality (``mlops_container.quality``): its captured predictions and the labels that arrived, read
    straight from S3 (only ids, times and scores are kept); the report and, through ``put``, the metrics."""
    if env.quality is None:
        raise BadRequest("a quality request needs QUALITY_METRIC, QUALITY_THRESHOLD, QUALITY_MIN_LABELS and LABEL_DELAY_HOURS")
    q = env.quality
    window = drift.Window.parse(request.start, request.end)
    assert window.start is not None and window.end is not None  # Request.parse requires both
    predictions, captured = quality.read_predictions((k, _lines(s3, b, k)) for b, k in manifest_keys(s3, request.manifest or ""))
    try:
        labels, labelled = quality.read_labels([(k, _lines(s3, b, k)) for b, k in manifest_keys(s3, request.labels or "")])
        merged = quality.merge(predictions, labels, window.start, window.end, timedelta(hours=q.label_delay_hours))
        scored = quality.score(merged, q.metric, q.threshold, q.min_labels)
    except quality.QualityError as exc:
        raise BadRequest(str(exc)) from None
    counts = {**merged.counts, "duplicates": labelled.duplicates, "malformed": merged.counts["malformed"] + labelled.malformed}
    summary = {
        **scored,
        "start": request.start,
        "end": request.end,
        "counts": counts,
        "captured": captured.records,
        "unreadable_captures": captured.malformed,
        "labels_read": labelled.records,
        "problems": (labelled.problems + merged.problems + captured.problems)[: quality.MAX_PROBLEMS],
    }
    lines = quality.metric_lines(summary, {"Endpoint": env.endpoint_name, "MonitoringSchedule": env.check_name}, now)
    monitor.put_metrics(lines, env.metrics_namespace)
    out_bucket, out_prefix = parse_s3_uri(request.output.rstrip("/") + "/", "output")
    bodies = {"quality.json": json.dumps(summary, indent=1), "quality.html": quality.html_report([summary])}
    for name in QUALITY_REPORTS:
        s3.put_object(
            Bucket=out_bucket, Key=out_prefix + name, Body=bodies[name].encode(), ServerSideEncryption="aws:kms", SSEKMSKeyId=env.kms_key_arn
        )
    keep = ("status", "metric", "value", "threshold", "rows", "counts", "verdict")
    return {**{k: summary[k] for k in keep}, "metrics": len(lines), "output": request.output}


def handle(event: object, *, s3, env: Environment, tmp: Path) -> dict:
    """The Lambda runner: download what ``event`` names into ``tmp``, run the check, upload the reports."""
    request = Request.parse(event)
    if request.format == QUALITY:
        return check_quality(request, s3=s3, env=env, now=datetime.now(UTC))
    with tempfile.TemporaryDirectory(dir=tmp) as work:
        root = Path(work)
        source, baseline, output = root / "input", root / "baseline", root / "output"
        keys = manifest_keys(s3, request.manifest) if request.manifest else prefix_keys(s3, request.input or "")
        for i, (bucket, key) in enumerate(keys):
            _download(s3, bucket, key, source / f"{i:06d}-{Path(key).name}")  # flat: the analyzer reads every file below
        base_bucket, base_prefix = parse_s3_uri(env.baseline_uri.rstrip("/") + "/", "BASELINE_URI")
        for name in ("statistics.json", "constraints.json"):
            _download(s3, base_bucket, base_prefix + name, baseline / name)
        summary = run_local(request, env, root, source=source, baseline=baseline, output=output)
        out_bucket, out_prefix = parse_s3_uri(request.output.rstrip("/") + "/", "output")
        for name in (*REPORTS, *([EVENT_IDS] if request.format == "capture" else [])):
            s3.upload_file(
                str(output / name), out_bucket, out_prefix + name, ExtraArgs={"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": env.kms_key_arn}
            )
    return {**summary, "objects": len(keys), "output": request.output}


@functools.cache
def _lambda_context() -> tuple[object, Environment]:
    """The S3 client and the checked environment, once per Lambda container (STYLE 12), not once per invocation; boto3 is
    imported here only, so the processing job and local mode never load it."""
    import boto3

    return boto3.client("s3"), Environment.from_env(os.environ)


def handler(event, context):  # the Lambda entry point (awslambdaric: mlops_container.check.handler)
    s3, env = _lambda_context()
    return handle(event, s3=s3, env=env, tmp=Path(tempfile.gettempdir()))


def main(argv: list[str] | None = None) -> int:
    """The processing-job runner: the request in ``CHECK_REQUEST``; SageMaker has put the data and the baseline at the
    contract's paths and uploads the reports from ``CHECK_OUTPUT``."""
    if argv:
        print(f"check takes no arguments (its request is the CHECK_REQUEST environment variable); got {argv}", file=sys.stderr)
        return 2
    try:
        request = Request.parse(json.loads(os.environ.get("CHECK_REQUEST", "") or "null"))
        env = Environment.from_env(os.environ)
        if request.format == QUALITY:
            raise BadRequest("a quality check runs in the function only (it keeps ids, times and scores, not the data)")
        summary = run_local(request, env, ml_root(), source=Path(CHECK_INPUT), baseline=Path(CHECK_BASELINE), output=Path(CHECK_OUTPUT))
    except (BadRequest, monitor.ContractError, drift.BaselineError, ValueError) as exc:
        print(f"drift check failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({**summary, "checkedAt": datetime.now().astimezone().isoformat()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
