"""Evaluation processing job: score the trained model on the held-out test split.

Inputs: the model (``<root>/processing/model``: SageMaker's ``model.tar.gz``, or the unpacked model
directory), ``<root>/processing/test/*.csv`` and, optionally, the training features
``<root>/processing/baseline/baseline.csv``. Outputs: ``<root>/processing/scored-baseline/baseline.csv``
(when the features were given: the model's score, as the endpoint returns it, then the features: the
layout Model Monitor's baseline needs) and ``<root>/processing/evaluation/evaluation.json``:

    {"metrics": {"auc": 0.99, "accuracy": ..., "f1": ..., "precision": ..., "recall": ...},
     "binary_classification_metrics": {"auc": {"value": 0.99, "standard_deviation": "NaN"}, ...},
     "samples": 86, "positives": 54, "model_type": "gradient_boosting", "decision_threshold": 0.5}

``metrics`` is what the training pipeline's quality gate reads (``$.metrics.<name>``);
``binary_classification_metrics`` is the shape SageMaker's model registry shows as model quality.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import tarfile
import tempfile
from pathlib import Path

from mlops_container.contract import BASELINE_FILE, EVALUATION_FILE, SCORE_COLUMN  # noqa: E402
from mlops_container.data import DataError, check_binary_labels, read_channel, read_table
from mlops_container.inference import csv_score
from mlops_container.metrics import classification_metrics
from mlops_container.model import METADATA_FILE, TrainedModel, UnsafeModelError
from mlops_container.paths import ProcessingPaths


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


def score_baseline(model: TrainedModel, baseline_csv: Path, output_dir: Path) -> int:
    """Write ``output_dir/baseline.csv``: header ``score,<features>``, then each row's score and features. Returns the row count."""
    table = read_table(baseline_csv, target=None)
    if table.features != model.metadata.features:
        raise DataError(f"{baseline_csv}: baseline columns differ from the features the model was trained on")
    scores = model.scores(table.X)
    output_dir.mkdir(parents=True, exist_ok=True)
    with (output_dir / BASELINE_FILE).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([SCORE_COLUMN, *table.features])
        writer.writerows([csv_score(score), *(repr(float(v)) for v in row)] for score, row in zip(scores, table.X))
    return len(table)


def main(argv: list[str] | None = None) -> int:
    paths = ProcessingPaths.from_env()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=paths.model)
    parser.add_argument("--test-dir", type=Path, default=paths.test)
    parser.add_argument("--output-dir", type=Path, default=paths.evaluation)
    parser.add_argument("--baseline-dir", type=Path, default=paths.baseline, help="training features to score (skipped when absent)")
    parser.add_argument("--scored-baseline-dir", type=Path, default=paths.scored_baseline)
    args = parser.parse_args(argv)
    try:
        model = load_model(args.model_dir)
        report = evaluate(model, args.test_dir)
        if (args.baseline_dir / BASELINE_FILE).exists():
            report["baseline_rows_scored"] = score_baseline(model, args.baseline_dir / BASELINE_FILE, args.scored_baseline_dir)
    except (DataError, UnsafeModelError) as exc:  # a refused model fails the run with the reason, nothing of it loaded
        print(f"evaluation failed: {exc}", file=sys.stderr)
        return 1
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / EVALUATION_FILE).write_text(json.dumps(report, indent=2))
    print(json.dumps({"evaluation": report["metrics"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
