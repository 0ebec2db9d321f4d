"""The drift check as a Model Monitor container: SageMaker Model Monitor's bring-your-own-container contract.

A monitoring schedule (or the training pipeline's baseline job) runs the image with the entrypoint ``monitor``;
everything it needs is in its environment, as SageMaker sets it
(https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-contract-inputs.html): the process
environment, else the ``Environment`` map of ``/opt/ml/config/processingjobconfig.json``.

- ``dataset_format``: ``{"sagemakerCaptureJson": {...}}`` for a schedule on an endpoint: *monitoring*;
  ``{"csv": {"header": true}}`` or ``{"json": {"line": true}}``: *baselining* (what Model Monitor's own
  analyzer does for ``suggest_baseline``). Parquet is refused with the reason.
- ``dataset_source``: the local folder of the data (captures under ``<endpoint>/<variant>/yyyy/mm/dd/hh/``).
- ``start_time``, ``end_time``: the monitoring period; SageMaker sometimes downloads more, so only the records
  whose ``inferenceTime`` is inside ``[start_time, end_time)`` are analyzed.
- ``baseline_statistics``, ``baseline_constraints``: local paths of the baseline files, when the schedule
  names them (``BaselineConfig``).
- ``output_path``: where the reports go (uploaded to the schedule's ``MonitoringOutput``).
- ``publish_cloudwatch_metrics``: ``Enabled`` for a scheduled run; ``sagemaker_endpoint_name`` and
  ``sagemaker_monitoring_schedule_name`` are the metrics' dimensions. ``Direct`` (this platform's own setting, for a
  job no schedule runs: a batch scoring run's check of its input) publishes them itself, to ``cloudwatch_namespace``.
- ``metric_features`` (this platform's own, optional): a comma-separated list of the features whose metrics are
  published; the others' are not (CloudWatch bills each custom metric per month). Unset: every feature's, as Model Monitor.
- ``dataset_format`` ``{"csv": {"header": false}}`` with a baseline: plain CSV rows (a batch transform's input) are
  checked against it, the columns named by the baseline as for captured CSV traffic.

Outputs (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-contract-outputs.html):
baselining writes ``statistics.json`` and ``constraints.json``; monitoring writes ``statistics.json``,
``constraints.json`` and ``constraint_violations.json`` (plus ``report.html`` and ``summary.json``) and, when
metrics are on and the constraints' ``emit_metrics`` is not ``Disabled``, Model Monitor's per-feature metrics as
JSON lines in ``/opt/ml/output/metrics/cloudwatch/``
(https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-cloudwatch.html), from which SageMaker
publishes them to CloudWatch (namespace ``contract.BYOC_METRICS_NAMESPACE``). The run's outcome goes to
``/opt/ml/output/message`` (``Completed...``, ``CompletedWithViolations...`` or the reason it failed).

Violations are the data's verdict, not a failure: the exit status is 0. A missing or unusable input exits 1
with the reason on stderr and in the message file.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from mlops_container import drift
from mlops_container.paths import MonitoringJobPaths, ml_root

MESSAGE_LIMIT = 1024  # a processing job's ExitMessage holds up to 1 KB


class ContractError(ValueError):
    """An environment the contract does not allow, with what is wrong."""


def environment(root: Path, env: Mapping[str, str]) -> dict[str, str]:
    """The job's settings: ``processingjobconfig.json``'s ``Environment``, overridden by the process environment."""
    settings: dict[str, str] = {}
    config = MonitoringJobPaths(root).job_config
    if config.exists():
        try:
            settings.update({str(k): str(v) for k, v in (json.loads(config.read_text(encoding="utf-8")).get("Environment") or {}).items()})
        except (ValueError, AttributeError) as exc:
            raise ContractError(f"{config} is not the processing job's JSON configuration ({exc})") from None
    settings.update(env)
    return settings


def _required(settings: Mapping[str, str], name: str) -> Path:
    value = settings.get(name, "").strip()
    if not value:
        raise ContractError(f"the environment variable {name} is not set (Model Monitor sets it for its container)")
    return Path(value)


def mode(settings: Mapping[str, str]) -> tuple[str, str | None]:
    """``("monitor", None)`` (captures), ``("monitor", "csv")`` (plain CSV rows against a given baseline: a batch
    transform's input) or ``("baseline", "csv" | "json")``, from ``dataset_format`` (or, without one, from whether a
    baseline is given)."""
    text = settings.get("dataset_format", "").strip()
    if not text:
        if settings.get("baseline_statistics") or settings.get("baseline_constraints"):
            return "monitor", None
        raise ContractError("dataset_format is not set: it says whether to analyze captures or suggest a baseline")
    try:
        fmt = json.loads(text)
    except ValueError:
        raise ContractError(f"dataset_format {text!r} is not JSON") from None
    if not isinstance(fmt, dict) or len(fmt) != 1:
        raise ContractError(f"dataset_format {text!r} must name one format: sagemakerCaptureJson, csv or json")
    name = next(iter(fmt))
    options = fmt[name] if isinstance(fmt[name], dict) else {}
    if name == "sagemakerCaptureJson":
        indices = options.get("captureIndexNames", ["endpointInput"])
        if "endpointInput" not in indices:
            raise ContractError(f"dataset_format captureIndexNames {indices}: this analyzer checks the endpoint's input (endpointInput)")
        return "monitor", None
    if name == "csv":
        if str(options.get("header", True)).lower() != "true":
            if settings.get("baseline_statistics") or settings.get("baseline_constraints"):
                return "monitor", "csv"  # rows without a header checked against the baseline: a batch transform's input
            raise ContractError("dataset_format csv without a header and no baseline: a baseline's header names the features")
        return "baseline", "csv"
    if name == "json":
        if str(options.get("line", True)).lower() != "true":
            raise ContractError("dataset_format json with line false: the baseline must be JSON Lines, one object per line")
        return "baseline", "json"
    raise ContractError(f"dataset_format {name}: not supported by this analyzer (sagemakerCaptureJson, csv, json)")


SUFFIXES = {"csv": (".csv",), "json": (".jsonl", ".json")}


def _files(folder: Path, kind: str) -> list[Path]:
    """The data set's files: ``.csv`` ones for CSV, ``.jsonl``/``.json`` for JSON Lines (other files beside them, such
    as a schema, are not data)."""
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise ContractError(f"dataset_source {folder} does not exist")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(SUFFIXES[kind]) and not p.name.startswith((".", "_")))
    if not files:
        raise ContractError(f"dataset_source {folder} holds no {' or '.join(SUFFIXES[kind])} file")
    return files


def suggest_baseline(dataset_source: Path, output: Path, kind: str = "csv") -> dict:
    """Model Monitor's baselining: ``statistics.json`` and ``constraints.json`` of the data set in ``dataset_source``."""
    dataset = drift.read_datasets(_files(dataset_source, kind), kind)
    items = drift.profiles(dataset)
    output.mkdir(parents=True, exist_ok=True)
    (output / "statistics.json").write_text(drift.statistics_text(items, dataset.rows))
    (output / "constraints.json").write_text(json.dumps(drift.suggest_constraints(items, drift.DEFAULT_THRESHOLD), indent=1))
    return {"rows": dataset.rows, "features": len(items)}


def metric_lines(output: Path, summary: dict, dimensions: Mapping[str, str], when: datetime) -> list[dict]:
    """Model Monitor's per-feature metrics (``feature_data_``, ``feature_non_null_``, ``feature_baseline_drift_``)
    from the run's ``statistics.json`` and distances, in the contract's schema (``Value`` or ``StatisticValues``)."""
    stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    dims = [{"Name": k, "Value": v} for k, v in dimensions.items() if v]
    statistics = json.loads((output / "statistics.json").read_text(encoding="utf-8"))
    lines = []

    def line(name: str, **value) -> None:
        lines.append({"MetricName": name, "Timestamp": stamp, "Dimensions": dims, **value})

    for feature in statistics["features"]:
        stats = feature.get("numerical_statistics") or feature.get("string_statistics") or {}
        common = stats.get("common", {})
        present, missing = int(common.get("num_present", 0)), int(common.get("num_missing", 0))
        if "numerical_statistics" in feature and present:
            line(
                f"feature_data_{feature['name']}",
                StatisticValues={"SampleCount": float(present), "Sum": stats["sum"], "Minimum": stats["min"], "Maximum": stats["max"]},
            )
        if present + missing:
            line(f"feature_non_null_{feature['name']}", Value=present / (present + missing))
    for name, distance in summary["distances"].items():
        line(f"feature_baseline_drift_{name}", Value=float(distance))
    return lines


METRIC_PREFIXES = ("feature_baseline_drift_", "feature_non_null_", "feature_data_")


def _metric_feature(name: str) -> str:
    """The feature a per-feature metric is of (``feature_baseline_drift_<feature>`` and the others)."""
    return next((name.removeprefix(p) for p in METRIC_PREFIXES if name.startswith(p)), name)


PUT_METRICS_BATCH = 20  # metrics per PutMetricData request: well under its limits (1,000 metrics, 1 MB)


def put_metrics(lines: list[dict], namespace: str) -> None:
    """Publish ``lines`` to CloudWatch in ``namespace`` with the job's own credentials: a job that no monitoring schedule
    runs (a batch scoring run's check) has nobody to publish its metric files (``publish_cloudwatch_metrics: Direct``)."""
    if not namespace or namespace.lower().startswith("aws/"):
        raise ContractError(f"cloudwatch_namespace {namespace!r}: publishing directly needs a namespace of your own (not AWS/...)")
    try:
        import boto3
    except ImportError:
        raise ContractError("publish_cloudwatch_metrics Direct needs boto3 in the image") from None
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client("cloudwatch")
    for start in range(0, len(lines), PUT_METRICS_BATCH):
        try:
            client.put_metric_data(Namespace=namespace, MetricData=lines[start : start + PUT_METRICS_BATCH])
        except (BotoCoreError, ClientError) as exc:  # the drift alarms read these metrics: a run that cannot publish fails
            raise ContractError(f"publishing the metrics to CloudWatch namespace {namespace} failed: {exc}") from None


def run(root: Path, env: Mapping[str, str]) -> dict:
    """One job under ``root`` (the ``/opt/ml`` of the container): what it did, as a summary."""
    settings = environment(root, env)
    what, kind = mode(settings)
    source, output = _required(settings, "dataset_source"), _required(settings, "output_path")
    if what == "baseline":
        assert kind is not None
        result = suggest_baseline(source, output, kind)
        return {"mode": "baseline", **result, "message": f"Completed: baseline of {result['rows']} rows, {result['features']} features"}
    statistics = settings.get("baseline_statistics") or None
    constraints = settings.get("baseline_constraints") or None
    for given in (statistics, constraints):
        if given and not Path(given).is_file():
            raise ContractError(f"baseline file {given} does not exist")
    if not source.is_dir():
        raise ContractError(f"dataset_source {source} does not exist")
    if kind == "csv":
        _files(source, "csv")  # a batch check of no data is a wrong input, not a clean run
    summary = drift.analyze(
        None,
        source,
        output,
        baseline_statistics=Path(statistics) if statistics else None,
        baseline_constraints=Path(constraints) if constraints else None,
        window=drift.Window.parse(settings.get("start_time"), settings.get("end_time")),
        plain_csv=kind == "csv",
    )
    summary["mode"] = "monitor"
    emit = json.loads((output / "constraints.json").read_text(encoding="utf-8")).get("monitoring_config", {}).get("emit_metrics", "Enabled")
    summary["metrics"] = 0
    publish = settings.get("publish_cloudwatch_metrics", "Disabled")
    if publish in ("Enabled", "Direct") and emit != "Disabled":
        dimensions = {
            "Endpoint": settings.get("sagemaker_endpoint_name", ""),
            "MonitoringSchedule": settings.get("sagemaker_monitoring_schedule_name", ""),
        }
        lines = metric_lines(output, summary, dimensions, datetime.now(UTC))
        watched = [f for f in settings.get("metric_features", "").split(",") if f.strip()]
        if watched:  # this platform's own setting: each custom metric bills per month, so only the features alarms watch
            lines = [m for m in lines if _metric_feature(m["MetricName"]) in watched]
        if publish == "Direct":
            put_metrics(lines, settings.get("cloudwatch_namespace", ""))
        else:
            metrics = MonitoringJobPaths(root).cloudwatch_metrics
            metrics.parent.mkdir(parents=True, exist_ok=True)
            with metrics.open("a", encoding="utf-8") as fh:
                fh.writelines(json.dumps(m, separators=(",", ":")) + "\n" for m in lines)
        summary["metrics"] = len(lines)
    if summary["status"] == drift.NO_DATA:
        summary["message"] = f"Completed: no data ({summary['records']} records captured, none in the period)"
    elif summary["violations"]:
        kinds = ", ".join(summary["violation_types"])
        summary["message"] = (
            f"CompletedWithViolations: {summary['violations']} violations ({kinds}); drift in {', '.join(summary['drifted_features']) or 'no feature'}"
        )
    else:
        summary["message"] = f"Completed: no violations in {summary['rows']} rows"
    return summary


def _write_message(root: Path, message: str) -> None:
    try:
        path = MonitoringJobPaths(root).message
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(message.encode("utf-8")[:MESSAGE_LIMIT].decode("utf-8", errors="ignore"), encoding="utf-8")
    except OSError:
        pass  # the message is a courtesy; the exit status and stderr already say it


def main(argv: list[str] | None = None) -> int:
    if argv:
        print(f"monitor takes no arguments (its settings are environment variables); got {argv}", file=sys.stderr)
        return 2
    root = ml_root()
    try:
        summary = run(root, os.environ)
    except (ContractError, drift.BaselineError) as exc:
        message = f"monitoring failed: {exc}"
        print(message, file=sys.stderr)
        _write_message(root, message)
        return 1
    _write_message(root, summary["message"])
    keys = ("mode", "status", "rows", "features", "records", "outside_window", "malformed", "drifted_features", "violation_types", "metrics")
    print(json.dumps({k: summary[k] for k in keys if k in summary}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
