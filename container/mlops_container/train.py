"""``train``: SageMaker training-job entrypoint.

Reads ``/opt/ml/input/config/hyperparameters.json`` and the ``train`` (required) and ``validation``
(optional) channels under ``/opt/ml/input/data`` (CSV with a header, label in the first column);
writes the model to ``/opt/ml/model``. With managed spot training it checkpoints the fitted estimator in
``/opt/ml/checkpoints`` and, restarted after an interruption, resumes from it instead of fitting again. Metrics are
printed one per line as ``<split>:<metric>=<value>`` so a training job's metric definitions can
scrape them (see ``METRIC_DEFINITIONS``). On failure it writes the reason to
``/opt/ml/output/failure`` (SageMaker shows it as the job's FailureReason) and exits non-zero.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import traceback

import numpy as np

from mlops_container.contract import METRIC_DEFINITIONS  # noqa: F401 (re-exported: the metrics this prints)
from mlops_container.data import LABEL_FIRST, DataError, check_binary_labels, read_channel
from mlops_container.metrics import classification_metrics
from mlops_container.model import (
    HyperparameterError,
    ModelMetadata,
    TrainedModel,
    build_estimator,
    dump_estimator,
    load_estimator,
    parse_hyperparameters,
    positive_scores,
)
from mlops_container.paths import TrainingPaths
from mlops_container.tracking import TrackingError, log_training


def _fail(paths: TrainingPaths, reason: str) -> None:
    paths.failure.parent.mkdir(parents=True, exist_ok=True)
    paths.failure.write_text(reason[:1024])  # SageMaker keeps the first 1024 characters
    print(f"training failed: {reason}", file=sys.stderr)


def _fingerprint(hp, X: np.ndarray, y: np.ndarray) -> str:
    digest = hashlib.sha256(
        json.dumps({"model_type": hp.model_type, "settings": hp.settings, "seed": hp.random_state}, sort_keys=True, default=str).encode()
    )
    digest.update(np.ascontiguousarray(X).tobytes())
    digest.update(np.ascontiguousarray(y).tobytes())
    return digest.hexdigest()


def _resume_or_fit(paths: TrainingPaths, hp, X: np.ndarray, y: np.ndarray):
    """Fit, or, on a managed-spot restart, take the fitted estimator from ``/opt/ml/checkpoints``.

    SageMaker creates and syncs that folder only when the job has a CheckpointConfig (spot
    training); a checkpoint is reused only for the same hyperparameters and the same data.
    """
    checkpoint = paths.checkpoints
    fingerprint = _fingerprint(hp, X, y)
    marker = checkpoint / "checkpoint.json"
    if marker.exists() and json.loads(marker.read_text()).get("fingerprint") == fingerprint:
        print(f"resumed from checkpoint {checkpoint}")
        return load_estimator(checkpoint / "estimator.skops")
    estimator = build_estimator(hp)
    estimator.fit(X, y)
    if checkpoint.is_dir():
        dump_estimator(estimator, checkpoint / "estimator.skops")
        marker.write_text(json.dumps({"fingerprint": fingerprint}))  # written last: a torn checkpoint is never reused
    return estimator


def run(paths: TrainingPaths) -> TrainedModel:
    import sklearn

    raw = json.loads(paths.hyperparameters.read_text()) if paths.hyperparameters.exists() else {}
    hp = parse_hyperparameters(raw)
    train = read_channel(paths.channel("train"), target=LABEL_FIRST)
    y_train = check_binary_labels(train, "train channel")
    validation = read_channel(paths.channel("validation"), target=LABEL_FIRST) if paths.channel("validation").exists() else None
    if validation is not None and validation.features != train.features:
        raise DataError("validation channel: its columns differ from the train channel's")

    estimator = _resume_or_fit(paths, hp, train.X, y_train)
    metrics = {"train": classification_metrics(y_train, positive_scores(estimator, train.X))}
    if validation is not None:
        y_validation = check_binary_labels(validation, "validation channel")
        metrics["validation"] = classification_metrics(y_validation, positive_scores(estimator, validation.X))
    for split, values in metrics.items():
        for name, value in values.items():
            if not np.isnan(value):
                print(f"{split}:{name}={value:.6f}")
    model = TrainedModel(
        estimator,
        ModelMetadata(
            features=train.features,
            target=train.target,
            model_type=hp.model_type,
            hyperparameters={**hp.settings, "random_state": hp.random_state},
            validation_metrics=metrics.get("validation", {}),
            sklearn_version=sklearn.__version__,
        ),
    )
    model.save(paths.model)
    params = {"model_type": model.metadata.model_type, **model.metadata.hyperparameters}
    run_id = log_training(os.environ, params=params, metrics=metrics, model_dir=paths.model)
    if run_id is not None:
        print(f"MLflow run {run_id}")
    return model


def main() -> int:
    paths = TrainingPaths.from_env()
    try:
        run(paths)
    except (HyperparameterError, DataError, TrackingError, json.JSONDecodeError) as exc:
        _fail(paths, str(exc))
        return 1
    except Exception as exc:  # an unexpected error still leaves a reason behind
        _fail(paths, f"unexpected {type(exc).__name__}: {exc}")
        traceback.print_exc()
        return 2
    print(f"model written to {paths.model}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
