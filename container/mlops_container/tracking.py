"""A training run, logged to MLflow when the platform asks for it (MLflow is optional: the image runs without it).

``MLFLOW_TRACKING_URI`` (``contract.MLFLOW_TRACKING_URI``) names the store: in the cloud the project's MLflow ARN (AWS's
``sagemaker-mlflow`` plugin signs the calls with the job's role; the VPC reaches it through the experiments endpoint), in
local mode a local store (``file:<run>/mlruns``). Unset: nothing is tracked. The run goes to the experiment
``MLFLOW_EXPERIMENT_NAME`` (the project), named ``TRAINING_JOB_NAME`` (SageMaker sets it; the registered package records it
as ``mlflowRun``), with the hyperparameters as parameters, the metrics the job prints (``train_auc``, ``validation_f1``, ...)
and the model's folder as the artifacts ``model``. Set but unusable (MLflow missing, the store refusing): ``TrackingError``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from mlops_container.contract import MLFLOW_EXPERIMENT_NAME, MLFLOW_TRACKING_URI, TRAINING_JOB_NAME

DEFAULT_EXPERIMENT = "default"


class TrackingError(RuntimeError):
    """Tracking was asked for and cannot be done: the reason, and what to do."""


def log_training(env: Mapping[str, str], *, params: Mapping[str, object], metrics: Mapping[str, Mapping[str, float]], model_dir: Path) -> str | None:
    """Log one training run; its MLflow run id, or None when no tracking URI is set."""
    uri = env.get(MLFLOW_TRACKING_URI, "").strip()
    if not uri:
        return None
    try:
        import mlflow
    except ImportError:
        raise TrackingError(
            f"{MLFLOW_TRACKING_URI} is set ({uri}) but MLflow is not installed: pip install -r container/requirements-mlflow.txt"
        ) from None
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(env.get(MLFLOW_EXPERIMENT_NAME) or DEFAULT_EXPERIMENT)
        with mlflow.start_run(run_name=env.get(TRAINING_JOB_NAME) or None) as run:
            mlflow.log_params({name: str(value) for name, value in params.items()})
            mlflow.log_metrics(
                {f"{split}_{name}": float(value) for split, values in metrics.items() for name, value in values.items() if not math.isnan(value)}
            )
            mlflow.log_artifacts(str(model_dir), artifact_path="model")
            return run.info.run_id
    except Exception as exc:  # noqa: BLE001 - the store's own errors are many; the reason is kept
        raise TrackingError(f"MLflow at {uri} refused the run: {type(exc).__name__}: {exc}") from exc
