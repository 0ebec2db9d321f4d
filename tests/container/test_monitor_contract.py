"""The ``monitor`` entrypoint under Model Monitor's bring-your-own-container contract, run as SageMaker would run it:
an /opt/ml stand-in, the environment the contract documents, the baseline job then a scheduled run.

Contract: https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-contract-inputs.html (environment),
model-monitor-byoc-contract-outputs.html (reports), model-monitor-byoc-cloudwatch.html (metrics).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlops_container import contract, drift, monitor
from mlops_container.paths import ML_ROOT_ENV, MonitoringJobPaths
from tests.container.test_model_monitor_parity import _record

CONTAINER = Path(__file__).resolve().parents[2] / "container"
CAPTURE_FORMAT = json.dumps({"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}})


def _rows(n: int, shift: float = 0.0, seed: int = 0) -> list[list]:
    rng = np.random.default_rng(seed)
    return [[int(rng.integers(0, 5)), round(float(rng.normal() + shift), 4), ["red", "green", "blue"][i % 3]] for i in range(n)]


def _opt_ml(tmp_path: Path) -> Path:
    """An /opt/ml with the baseline job's input: the training features, a CSV with a header."""
    root = tmp_path / "opt_ml"
    data = root / contract.MONITOR_BASELINE_INPUT.removeprefix("/opt/ml/")
    data.mkdir(parents=True)
    (data / "baseline.csv").write_text("count,score,colour\n" + "".join(",".join(map(str, r)) + "\n" for r in _rows(2000)))
    return root


def _at(root: Path, path: str) -> Path:
    return root / path.removeprefix("/opt/ml/")


def _capture(root: Path, hour: int, rows: list[list], minute: int = 5) -> None:
    folder = _at(root, contract.MONITOR_CAPTURE_INPUT) / "ep" / "AllTraffic" / "2026" / "11" / "24" / f"{hour:02d}"
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(0, len(rows), 10):
        record = _record("\n".join(",".join(map(str, r)) for r in rows[i : i + 10]))
        record["eventMetadata"]["inferenceTime"] = f"2026-11-24T{hour:02d}:{minute:02d}:{i % 60:02d}.250Z"
        records.append(record)
    (folder / f"{minute:02d}-000-{hour}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def _baseline_job(root: Path) -> dict:
    """The training pipeline's baseline step, as it configures the job (``TrainingPipeline``)."""
    return monitor.run(
        root,
        {
            "dataset_format": json.dumps({"csv": {"header": True}}),
            "dataset_source": str(_at(root, contract.MONITOR_BASELINE_INPUT)),
            "output_path": str(_at(root, contract.MONITOR_OUTPUT) / "baseline"),
            "publish_cloudwatch_metrics": "Disabled",
        },
    )


def _scheduled_env(root: Path, **extra: str) -> dict[str, str]:
    """What SageMaker sets for a scheduled run (the contract's example), with the baseline files given."""
    baseline = _at(root, contract.MONITOR_OUTPUT) / "baseline"
    return {
        "dataset_format": CAPTURE_FORMAT,
        "dataset_source": str(_at(root, contract.MONITOR_CAPTURE_INPUT)),
        "output_path": str(_at(root, contract.MONITOR_OUTPUT) / "run"),
        "publish_cloudwatch_metrics": "Enabled",
        "sagemaker_endpoint_name": "ep",
        "sagemaker_monitoring_schedule_name": "ep-dq",
        "start_time": "2026-11-24T10:00:00Z",
        "end_time": "2026-11-24T11:00:00Z",
        "baseline_statistics": str(baseline / "statistics.json"),
        "baseline_constraints": str(baseline / "constraints.json"),
        **extra,
    }


def _entrypoint(root: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``monitor`` as the image runs it (``container/bin/monitor``), in a process of its own."""
    command = (CONTAINER / "bin" / "monitor").read_text().splitlines()[-1].split()[1:-1]  # exec python3 -m <module> "$@"
    assert command[:2] == ["python3", "-m"]
    environment = {ML_ROOT_ENV: str(root), "PYTHONPATH": str(CONTAINER), "PATH": "/usr/bin:/bin", **env}
    return subprocess.run([sys.executable, *command[1:]], env=environment, capture_output=True, text=True, timeout=120)


def _metrics(root: Path) -> list[dict]:
    path = MonitoringJobPaths(root).cloudwatch_metrics
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_baseline_job_writes_model_monitors_two_files(tmp_path):
    root = _opt_ml(tmp_path)
    result = _baseline_job(root)
    out = _at(root, contract.MONITOR_OUTPUT) / "baseline"
    assert (
        result["mode"] == "baseline" and result["rows"] == 2000 and sorted(p.name for p in out.iterdir()) == ["constraints.json", "statistics.json"]
    )
    constraints = json.loads((out / "constraints.json").read_text())
    assert [(f["name"], f["inferred_type"]) for f in constraints["features"]] == [
        ("count", "Integral"),
        ("score", "Fractional"),
        ("colour", "String"),
    ]
    assert json.loads((out / "statistics.json").read_text())["dataset"]["item_count"] == 2000


def test_a_scheduled_run_checks_only_its_window_and_writes_reports_metrics_and_message(tmp_path):
    root = _opt_ml(tmp_path)
    _baseline_job(root)
    _capture(root, 9, _rows(500, shift=3.0, seed=9))  # downloaded but before the window: drifted, must not count
    _capture(root, 10, _rows(600, seed=1))  # the window's traffic: like the training data
    summary = monitor.run(root, _scheduled_env(root))
    out = _at(root, contract.MONITOR_OUTPUT) / "run"
    assert {p.name for p in out.iterdir()} >= {"statistics.json", "constraints.json", "constraint_violations.json"}
    assert summary["records"] == 60 and summary["outside_window"] == 50 and summary["rows"] == 600
    assert json.loads((out / "constraint_violations.json").read_text()) == {"violations": []}
    assert summary["message"].startswith("Completed:")

    metrics = _metrics(root)
    names = {m["MetricName"] for m in metrics}
    assert {
        "feature_data_count",
        "feature_data_score",
        "feature_non_null_colour",
        "feature_baseline_drift_score",
        "feature_baseline_drift_colour",
    } <= names
    for m in metrics:  # the contract's schema: required name and time, our two dimensions, Value or StatisticValues (not both)
        assert m["Dimensions"] == [{"Name": "Endpoint", "Value": "ep"}, {"Name": "MonitoringSchedule", "Value": "ep-dq"}]
        assert m["Timestamp"].endswith("Z") and ("Value" in m) != ("StatisticValues" in m)
    data = next(m for m in metrics if m["MetricName"] == "feature_data_score")["StatisticValues"]
    assert data["SampleCount"] == 600.0 and data["Minimum"] <= data["Sum"] / 600 <= data["Maximum"]


def test_drift_in_the_window_is_a_violation_not_a_failure(tmp_path):
    root = _opt_ml(tmp_path)
    _baseline_job(root)
    _capture(root, 10, _rows(600, shift=1.5, seed=2))
    done = _entrypoint(root, _scheduled_env(root))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["drifted_features"] == ["score"]
    assert MonitoringJobPaths(root).message.read_text().startswith("CompletedWithViolations: ")
    drifted = next(m for m in _metrics(root) if m["MetricName"] == "feature_baseline_drift_score")
    assert drifted["Value"] > 0.3


def test_metrics_follow_the_switch_and_the_constraints_emit_metrics(tmp_path):
    root = _opt_ml(tmp_path)
    _baseline_job(root)
    _capture(root, 10, _rows(100, seed=3))
    monitor.run(root, _scheduled_env(root, publish_cloudwatch_metrics="Disabled"))
    assert _metrics(root) == []
    constraints = Path(_scheduled_env(root)["baseline_constraints"])
    document = json.loads(constraints.read_text())
    document["monitoring_config"]["emit_metrics"] = "Disabled"
    constraints.write_text(json.dumps(document))
    assert monitor.run(root, _scheduled_env(root))["metrics"] == 0 and _metrics(root) == []


def test_the_processing_job_config_file_supplies_what_the_environment_does_not(tmp_path):
    root = _opt_ml(tmp_path)
    _baseline_job(root)
    _capture(root, 10, _rows(100, seed=4))
    env = _scheduled_env(root)
    MonitoringJobPaths(root).job_config.parent.mkdir()
    MonitoringJobPaths(root).job_config.write_text(json.dumps({"Environment": env}))
    assert monitor.run(root, {})["rows"] == 100


def test_constraints_alone_are_checked_without_drift(tmp_path):
    root = _opt_ml(tmp_path)
    _baseline_job(root)
    _capture(root, 10, [[r[0] + 0.5, r[1], r[2]] for r in _rows(100, seed=5)])
    summary = monitor.run(root, _scheduled_env(root, baseline_statistics=""))
    assert summary["violation_types"] == ["data_type_check"] and summary["distances"] == {}


def test_local_mode_and_the_cloud_give_the_same_verdict(tmp_path):
    """Local mode runs the same two jobs (``local.drift_check``); the cloud's files equal local mode's."""
    from mlops_container import local

    root = _opt_ml(tmp_path)
    _baseline_job(root)
    _capture(root, 10, _rows(400, shift=0.8, seed=6))
    cloud = monitor.run(root, _scheduled_env(root, start_time="", end_time=""))
    result = local.drift_check(_at(root, contract.MONITOR_BASELINE_INPUT), _at(root, contract.MONITOR_CAPTURE_INPUT), tmp_path / "local")
    assert result["drifted_features"] == cloud["drifted_features"] == ["score"] and result["distances"] == cloud["distances"]
    for name in ("statistics.json", "constraints.json", "constraint_violations.json"):
        assert (tmp_path / "local" / "monitoring" / name).read_text() == (_at(root, contract.MONITOR_OUTPUT) / "run" / name).read_text()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dataset_format": ""}, "dataset_format is not set"),
        ({"dataset_format": "{not json"}, "is not JSON"),
        ({"dataset_format": json.dumps({"parquet": {}})}, "dataset_format parquet: not supported"),
        # rows without a header against a baseline: a batch scoring run's check, which needs CSV files (here: captures)
        ({"dataset_format": json.dumps({"csv": {"header": False}})}, "holds no .csv file"),
        ({"dataset_source": ""}, "dataset_source is not set"),
        ({"output_path": ""}, "output_path is not set"),
        ({"baseline_statistics": "/nowhere/statistics.json"}, "does not exist"),
        ({"start_time": "yesterday"}, "start_time 'yesterday' is not an ISO 8601 time"),
        ({"dataset_format": json.dumps({"sagemakerCaptureJson": {"captureIndexNames": ["endpointOutput"]}})}, "checks the endpoint's input"),
    ],
)
def test_a_bad_environment_fails_the_job_with_the_reason(tmp_path, change, message):
    root = _opt_ml(tmp_path)
    _baseline_job(root)
    _capture(root, 10, _rows(50, seed=7))
    env = {**_scheduled_env(root), **change}
    if change.get("dataset_format", "x") == "":
        env.pop("baseline_statistics"), env.pop("baseline_constraints")
    done = _entrypoint(root, env)
    assert done.returncode == 1 and "Traceback" not in done.stderr and message in done.stderr, done.stderr
    assert message in MonitoringJobPaths(root).message.read_text()


def test_a_baseline_of_several_files_is_one_data_set_and_mismatched_headers_are_refused(tmp_path):
    root = _opt_ml(tmp_path)
    source = _at(root, contract.MONITOR_BASELINE_INPUT)
    (source / "part-2.csv").write_text("count,score,colour\n1,0.5,red\n")
    assert _baseline_job(root)["rows"] == 2001
    (source / "part-3.csv").write_text("count,colour\n1,red\n")
    with pytest.raises(drift.BaselineError, match="differ from"):
        _baseline_job(root)


BATCH_NAMESPACE = "/aws/sagemaker/ModelMonitoring/data-metrics"


def _batch_env(root: Path, **extra: str) -> dict[str, str]:
    """What a batch scoring run's check sets (``BatchScoring``): the scored input, plain CSV rows without a header, the
    package's baseline, metrics published by the job itself with the run's state machine as the schedule dimension."""
    baseline = _at(root, contract.MONITOR_OUTPUT) / "baseline"
    return {
        "dataset_format": json.dumps({"csv": {"header": False}}),
        "dataset_source": str(_at(root, contract.MONITOR_CAPTURE_INPUT)),
        "output_path": str(_at(root, contract.MONITOR_OUTPUT) / "run"),
        "publish_cloudwatch_metrics": "Direct",
        "cloudwatch_namespace": BATCH_NAMESPACE,
        "sagemaker_monitoring_schedule_name": "mlops-dev-churn-scoring",
        "baseline_statistics": str(baseline / "statistics.json"),
        "baseline_constraints": str(baseline / "constraints.json"),
        **extra,
    }


def _scored_input(root: Path, rows: list[list]) -> None:
    """The batch input: CSV rows, no header, in two objects (one without a final newline)."""
    folder = _at(root, contract.MONITOR_CAPTURE_INPUT) / "scoring-input"
    folder.mkdir(parents=True, exist_ok=True)
    half = len(rows) // 2
    (folder / "a.csv").write_text("".join(",".join(map(str, r)) + "\n" for r in rows[:half]))
    (folder / "b.csv").write_text("\n".join(",".join(map(str, r)) for r in rows[half:]))


def test_a_batch_run_checks_its_plain_csv_input_and_publishes_its_metrics_itself(tmp_path, aws, monkeypatch):
    import boto3

    monkeypatch.setattr(monitor, "PUT_METRICS_BATCH", 3)  # several PutMetricData requests

    root = _opt_ml(tmp_path)
    _baseline_job(root)
    _scored_input(root, _rows(800, shift=1.5, seed=4))
    summary = monitor.run(root, _batch_env(root))
    assert (summary["mode"], summary["records"], summary["rows"]) == ("monitor", 800, 800)
    assert summary["drifted_features"] == ["score"] and summary["message"].startswith("CompletedWithViolations: ")
    assert _metrics(root) == []  # no metric files: nobody would publish them
    published = boto3.client("cloudwatch").list_metrics(Namespace=BATCH_NAMESPACE)["Metrics"]
    drift_metric = next(m for m in published if m["MetricName"] == "feature_baseline_drift_score")
    assert drift_metric["Dimensions"] == [{"Name": "MonitoringSchedule", "Value": "mlops-dev-churn-scoring"}]
    assert len(published) == summary["metrics"] == 8  # 3 features: data (2 numeric), non-null (3), drift (3)
    # clean input: no violation, the same metrics
    root2 = _opt_ml(tmp_path / "clean")
    _baseline_job(root2)
    _scored_input(root2, _rows(800, seed=5))
    assert monitor.run(root2, _batch_env(root2))["message"].startswith("Completed: no violations in 800 rows")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cloudwatch_namespace": ""}, "publishing directly needs a namespace of your own"),
        ({"cloudwatch_namespace": "AWS/SageMaker"}, "publishing directly needs a namespace of your own"),
        ({"baseline_statistics": "", "baseline_constraints": ""}, "csv without a header and no baseline"),
    ],
)
def test_a_batch_check_without_what_it_needs_fails_with_the_reason(tmp_path, aws, change, message):
    root = _opt_ml(tmp_path)
    _baseline_job(root)
    _scored_input(root, _rows(100, seed=6))
    done = _entrypoint(root, _batch_env(root, **change))
    assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr


def test_only_the_watched_features_metrics_are_published_when_asked(tmp_path):
    """Each custom metric bills per month: with ``metric_features`` only those features' three metrics are written."""
    root = _opt_ml(tmp_path)
    _baseline_job(root)
    _capture(root, 10, _rows(100, seed=5))
    every = {m["MetricName"] for m in (monitor.run(root, _scheduled_env(root)), _metrics(root))[1]}
    assert {"feature_non_null_count", "feature_data_count", "feature_non_null_colour"} <= every
    MonitoringJobPaths(root).cloudwatch_metrics.unlink()
    monitor.run(root, _scheduled_env(root, metric_features="count,score"))
    watched = {m["MetricName"] for m in _metrics(root)}
    assert watched and all(name.endswith(("_count", "_score")) for name in watched)
    assert watched == {n for n in every if n.endswith(("_count", "_score"))}  # all three kinds of each watched feature
