"""MLflow tracking of a training run (mlops_container.tracking): the training job's code path, into a local MLflow store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.container.conftest import make_training_root

ROOT = Path(__file__).resolve().parents[2]


def _run_train(root: Path, **env: str) -> subprocess.CompletedProcess:
    base = {"MLOPS_ML_ROOT": str(root), "PYTHONPATH": str(ROOT / "container"), "PATH": "/usr/bin:/bin", "HOME": str(root)}
    return subprocess.run([sys.executable, "-m", "mlops_container.train"], env={**base, **env}, capture_output=True, text=True, timeout=180)


def test_a_training_job_logs_its_parameters_metrics_and_model_to_mlflow(tmp_path, processed, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # to read the local store back here

    make_training_root(tmp_path, processed, {"model_type": "logistic_regression", "C": "0.5"})
    store = (tmp_path / "mlruns").as_uri()
    result = _run_train(
        tmp_path,
        MLFLOW_TRACKING_URI=store,
        MLFLOW_EXPERIMENT_NAME="churn",
        TRAINING_JOB_NAME="churn-train-abcd1234",
        MLFLOW_ALLOW_FILE_STORE="true",
    )
    assert result.returncode == 0, result.stderr + result.stdout
    run_id = next(line.split()[-1] for line in result.stdout.splitlines() if line.startswith("MLflow run "))
    client = mlflow.MlflowClient(tracking_uri=store)
    run = client.get_run(run_id)
    assert client.get_experiment(run.info.experiment_id).name == "churn"
    assert run.info.run_name == "churn-train-abcd1234"  # the package records it as mlflowRun
    assert run.data.params["model_type"] == "logistic_regression" and run.data.params["C"] == "0.5"
    assert {"train_auc", "validation_auc", "validation_f1"} <= set(run.data.metrics)
    assert {a.path for a in client.list_artifacts(run_id, "model")} == {"model/model.skops", "model/model_metadata.json"}


def test_without_a_tracking_uri_nothing_is_tracked(tmp_path, processed):
    make_training_root(tmp_path, processed, {"model_type": "logistic_regression"})
    result = _run_train(tmp_path)
    assert result.returncode == 0 and "MLflow run" not in result.stdout and not (tmp_path / "mlruns").exists()


def test_a_store_that_refuses_fails_the_job_with_the_reason(tmp_path, processed):
    make_training_root(tmp_path, processed, {"model_type": "logistic_regression"})
    result = _run_train(tmp_path, MLFLOW_TRACKING_URI=(tmp_path / "mlruns").as_uri())  # MLflow 3 refuses its file store unless opted in
    assert result.returncode == 1
    reason = (tmp_path / "output" / "failure").read_text()
    assert reason.startswith(f"MLflow at {(tmp_path / 'mlruns').as_uri()} refused the run: MlflowException")
    assert (tmp_path / "model" / "model.skops").exists()  # the model was written before: SageMaker still keeps it


def test_tracking_asked_for_without_mlflow_installed_is_a_clear_error(tmp_path, monkeypatch):
    from mlops_container import tracking

    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow -> ImportError
    with pytest.raises(tracking.TrackingError, match="MLflow is not installed: pip install -r container/requirements-mlflow.txt"):
        tracking.log_training({"MLFLOW_TRACKING_URI": "arn:aws:sagemaker:us-east-1:1:mlflow-app/app-x"}, params={}, metrics={}, model_dir=tmp_path)
