"""Processing job: split the raw data into train / validation / test, and write the monitoring baseline.

Inputs (SageMaker processing, or local mode):  ``<root>/processing/input/data/*.csv``
Outputs: ``<root>/processing/output/{train,validation,test}/<split>.csv`` (label first, header) and
``<root>/processing/output/baseline/baseline.csv`` (training features only, header: the data set
Model Monitor's data-quality baseline is computed from).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from mlops_container.data import DEFAULT_TARGET, DataError, Table, check_binary_labels, read_channel, write_table
from mlops_container.paths import ProcessingPaths

MIN_ROWS = 30


def split(table: Table, *, validation_fraction: float, test_fraction: float, seed: int) -> dict[str, Table]:
    from sklearn.model_selection import train_test_split

    y = check_binary_labels(table, "input data")
    if len(table) < MIN_ROWS:
        raise DataError(f"input data: {len(table)} rows; at least {MIN_ROWS} are needed to split train/validation/test")
    if not np.isfinite(table.X).all():
        bad = int((~np.isfinite(table.X)).any(axis=1).sum())
        raise DataError(f"input data: {bad} rows hold missing or infinite feature values; clean them first")
    holdout = validation_fraction + test_fraction
    X_train, X_rest, y_train, y_rest = train_test_split(table.X, y, test_size=holdout, random_state=seed, stratify=y)
    X_val, X_test, y_val, y_test = train_test_split(X_rest, y_rest, test_size=test_fraction / holdout, random_state=seed, stratify=y_rest)
    make = lambda X, labels: Table(features=table.features, X=X, y=labels, target=table.target)  # noqa: E731
    return {"train": make(X_train, y_train), "validation": make(X_val, y_val), "test": make(X_test, y_test)}


def run(input_dir: Path, output_dir: Path, *, target: str, validation_fraction: float, test_fraction: float, seed: int) -> dict:
    table = read_channel(input_dir, target=target)
    splits = split(table, validation_fraction=validation_fraction, test_fraction=test_fraction, seed=seed)
    for name, part in splits.items():
        write_table(output_dir / name / f"{name}.csv", part)
    write_table(output_dir / "baseline" / "baseline.csv", splits["train"], with_label=False)
    summary = {
        "rows": len(table),
        "features": table.features,
        "target": target,
        "splits": {name: len(part) for name, part in splits.items()},
        "positive_rate": {name: round(float(part.y.mean()), 4) for name, part in splits.items()},
    }
    (output_dir / "baseline" / "schema.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    paths = ProcessingPaths.from_env()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input-dir", type=Path, default=paths.input("data"))
    parser.add_argument("--output-dir", type=Path, default=paths.root / "output")
    parser.add_argument("--target", default=DEFAULT_TARGET, help="label column (0/1)")
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    for name in ("validation_fraction", "test_fraction"):
        if not 0.05 <= getattr(args, name) <= 0.4:
            parser.error(f"--{name.replace('_', '-')} must be between 0.05 and 0.4")
    try:
        summary = run(
            args.input_dir,
            args.output_dir,
            target=args.target,
            validation_fraction=args.validation_fraction,
            test_fraction=args.test_fraction,
            seed=args.seed,
        )
    except DataError as exc:
        print(f"preprocessing failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"preprocessing": summary["splits"], "rows": summary["rows"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
