"""Evaluation processing job: score the trained model on the held-out test split.

Inputs: the model (``<root>/processing/model``: SageMaker's ``model.tar.gz``, or the unpacked model
directory) and ``<root>/processing/test/*.csv``. Output: ``<root>/processing/evaluation/evaluation.json``:

    {"metrics": {"auc": 0.99, "accuracy": ..., "f1": ..., "precision": ..., "recall": ...},
     "binary_classification_metrics": {"auc": {"value": 0.99, "standard_deviation": "NaN"}, ...},
     "samples": 86, "positives": 54, "model_type": "gradient_boosting", "decision_threshold": 0.5}

``metrics`` is what the training pipeline's quality gate reads (``$.metrics.<name>``);
``binary_classification_metrics`` is the shape SageMaker's model registry shows as model quality.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tarfile
import tempfile
from pathlib import Path

from mlops_container.data import DataError, check_binary_labels, read_channel
from mlops_container.metrics import classification_metrics
from mlops_container.model import METADATA_FILE, TrainedModel
from mlops_container.paths import ProcessingPaths

from mlops_container.contract import EVALUATION_FILE  # noqa: E402


def load_model(model_path: Path) -> TrainedModel:
    """Load from a directory holding the model files or a ``model.tar.gz``, as SageMaker hands it over."""
    if (model_path / METADATA_FILE).exists():
        return TrainedModel.load(model_path)
    archive = model_path / "model.tar.gz" if model_path.is_dir() else model_path
    if not archive.exists():
        raise DataError(f"{model_path}: neither model files nor model.tar.gz")
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
        return TrainedModel.load(Path(tmp))


def evaluate(model: TrainedModel, test_dir: Path) -> dict:
    test = read_channel(test_dir, target=model.metadata.target)
    if test.features != model.metadata.features:
        raise DataError(f"{test_dir}: test columns differ from the features the model was trained on")
    y = check_binary_labels(test, "test data")
    metrics = classification_metrics(y, model.scores(test.X))
    return {
        "metrics": {name: (None if math.isnan(value) else value) for name, value in metrics.items()},
        "binary_classification_metrics": {
            name: {"value": value if not math.isnan(value) else "NaN", "standard_deviation": "NaN"} for name, value in metrics.items()
        },
        "samples": int(len(y)),
        "positives": int(y.sum()),
        "model_type": model.metadata.model_type,
        "decision_threshold": 0.5,
    }


def main(argv: list[str] | None = None) -> int:
    paths = ProcessingPaths.from_env()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=paths.model)
    parser.add_argument("--test-dir", type=Path, default=paths.test)
    parser.add_argument("--output-dir", type=Path, default=paths.evaluation)
    args = parser.parse_args(argv)
    try:
        report = evaluate(load_model(args.model_dir), args.test_dir)
    except DataError as exc:
        print(f"evaluation failed: {exc}", file=sys.stderr)
        return 1
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / EVALUATION_FILE).write_text(json.dumps(report, indent=2))
    print(json.dumps({"evaluation": report["metrics"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
