"""Tabular data in and out: CSV with a header, numeric features, a binary label.

The default data set is scikit-learn's Wisconsin breast-cancer data, which ships inside the
``scikit-learn`` package (no download): 569 rows, 30 numeric features, label 1 = benign.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_TARGET = "target"
LABEL_FIRST = ":first-column:"  # as ``target``: the label is the first column, whatever its name


class DataError(ValueError):
    """The data cannot be used; the message says which file, row or column and why."""


@dataclass(frozen=True)
class Table:
    """Feature matrix ``X`` (float64), labels ``y`` (or None), and the feature names in column order."""

    features: list[str]
    X: np.ndarray
    y: np.ndarray | None
    target: str = DEFAULT_TARGET

    def __len__(self) -> int:
        return self.X.shape[0]


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


def builtin_dataset() -> Table:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    return Table(features=[_snake(n) for n in bunch.feature_names], X=bunch.data.astype(np.float64), y=bunch.target.astype(np.int64))


def write_table(path: Path, table: Table, *, with_label: bool = True) -> None:
    """Write a CSV with a header; the label, when written, is the first column (SageMaker's convention)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        if with_label and table.y is not None:
            writer.writerow([table.target, *table.features])
            for label, row in zip(table.y, table.X):
                writer.writerow([int(label), *(repr(float(v)) for v in row)])
        else:
            writer.writerow(table.features)
            writer.writerows([repr(float(v)) for v in row] for row in table.X)


def read_table(path: Path, *, target: str | None = DEFAULT_TARGET) -> Table:
    """Read one CSV with a header. ``target`` names the label column (None: features only)."""
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise DataError(f"{path}: the file is empty")
    header_line, _, body = text.partition("\n")
    header = next(csv.reader([header_line]))
    header = [h.strip() for h in header]
    if target == LABEL_FIRST:
        target = header[0]
    if target is not None and target not in header:
        raise DataError(f"{path}: no label column '{target}'; columns are {', '.join(header)}")
    if len(set(header)) != len(header):
        raise DataError(f"{path}: duplicate column names in the header")
    try:
        values = np.loadtxt(io.StringIO(body), delimiter=",", ndmin=2, dtype=np.float64) if body.strip() else np.empty((0, len(header)))
    except ValueError as exc:
        raise DataError(f"{path}: every value must be numeric and every row must have {len(header)} columns ({exc})") from None
    if values.shape[1] != len(header):
        raise DataError(f"{path}: rows have {values.shape[1]} columns, the header has {len(header)}")
    if target is None:
        return Table(features=header, X=values, y=None)
    index = header.index(target)
    features = [h for i, h in enumerate(header) if i != index]
    return Table(features=features, X=np.delete(values, index, axis=1), y=values[:, index], target=target)


def read_channel(directory: Path, *, target: str | None = DEFAULT_TARGET) -> Table:
    """Read and concatenate every ``*.csv`` of a SageMaker channel directory (all with the same header).

    ``target``: the label column's name, ``LABEL_FIRST`` (the first column, SageMaker's convention for
    training channels), or None (features only).
    """
    files = sorted(directory.glob("*.csv"))
    if not files:
        raise DataError(f"{directory}: no .csv file in this channel")
    tables = [read_table(f, target=target) for f in files]
    first = tables[0]
    for f, t in zip(files[1:], tables[1:]):
        if t.features != first.features:
            raise DataError(f"{f}: its columns differ from {files[0].name}'s")
    X = np.vstack([t.X for t in tables])
    y = None if target is None else np.concatenate([t.y for t in tables])
    return Table(features=first.features, X=X, y=y, target=first.target)


def check_binary_labels(table: Table, source: str) -> np.ndarray:
    """Labels as int 0/1, or a DataError that says what was found."""
    assert table.y is not None
    labels = np.unique(table.y)
    if not set(labels.tolist()) <= {0.0, 1.0}:
        shown = ", ".join(str(v) for v in labels[:10])
        raise DataError(f"{source}: label '{table.target}' must be 0 or 1 (binary classification); found {shown}")
    return table.y.astype(np.int64)
