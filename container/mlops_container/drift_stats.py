"""The statistics of a data set (``mlops_container.drift``): per-feature profiles with Model Monitor's type inference,
its ``statistics.json`` (KLL sketch included) and ``constraints.json``, suggested or read back."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlops_container.drift_read import INTEGRAL, NUMBER, BaselineError, Dataset, normalize_text

MAX_DOMAIN = 20  # String features with at most this many distinct baseline values get a suggested domain


@dataclass
class Profile:
    name: str
    inferred_type: str  # Integral | Fractional | String | Unknown
    present: int
    missing: int
    integral: int = 0  # present values that are integers
    numeric: int = 0  # present values that are numbers (integers included)
    values: np.ndarray | None = None  # the numbers (numeric features)
    weights: np.ndarray | None = None  # their weights (a KLL sketch's levels), None: one each
    counts: dict[str, float] | None = None  # value -> count (String features)
    integral_of: Callable[[], int] | None = None  # counts ``integral`` when asked (it needs the column's text read again)

    @property
    def total(self) -> int:
        return self.present + self.missing

    def integral_count(self) -> int:
        if self.integral_of is not None:
            self.integral, self.integral_of = self.integral_of(), None
        return self.integral


def profile(name: str, column: pa.ChunkedArray, text_of: Callable[[], pa.ChunkedArray] | None = None) -> Profile:
    """What ``statistics.json`` says of a column; numeric values sorted (every later use wants them so).
    ``column`` is text, or float64 already: then whether whole numbers are Integral depends on how they are written,
    and ``text_of`` gives the column as text (read when every value is whole, for the type, or when only some are
    and a check against an Integral constraint asks how many)."""
    present = column.drop_null()
    n = len(present)
    if pa.types.is_floating(column.type):
        numbers = present
    else:
        try:  # the common case, a column of numbers: Arrow's cast reads them all, and the text says which are integers
            numbers = pc.cast(present, pa.float64()) if n else None
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            numbers = None
    if numbers is not None:
        values = numbers.to_numpy()
        # not-a-number and infinite values ("1e999" reads as inf) are missing, as MISSING_TOKENS: no statistic can use them
        finite = np.isfinite(values)
        if not finite.all():
            n = int(finite.sum())
        # Integral is about the text ("3" is, "3.0" and "3e0" are not): only whole values need their text read.
        whole = finite & (values == np.floor(values))
        whole_count = int(whole.sum())

        def integral_of(written: pa.ChunkedArray) -> int:
            return whole_count - int(pc.sum(pc.match_substring_regex(written.drop_null().filter(pa.array(whole)), r"[.eE]")).as_py() or 0)

        written = text_of if pa.types.is_floating(column.type) else (lambda: column)
        lazy = None
        if whole_count == n and n:
            integral = integral_of(written())
        elif whole_count:  # a value with a fraction makes the column Fractional; the Integral share is counted if asked
            integral, lazy = 0, (lambda: integral_of(written()))
        else:
            integral = 0
        kind = "Unknown" if n == 0 else "Integral" if integral == n else "Fractional"  # as the text's path below
        result = Profile(name, kind, n, len(column) - n, integral, n, integral_of=lazy)
        if n:
            result.values = np.sort(values if n == len(values) else values[finite])  # Arrow's buffer is read-only: sort copies
        return result
    column = normalize_text(column)  # padded cells, and missing values written with padding
    present = column.drop_null()
    n = len(present)
    integral = int(pc.sum(pc.match_substring_regex(present, INTEGRAL)).as_py() or 0) if n else 0
    is_number = pc.match_substring_regex(present, NUMBER) if n else None
    numeric = int(pc.sum(is_number).as_py() or 0) if n else 0
    kind = "Unknown" if n == 0 else "Integral" if integral == n else "Fractional" if numeric == n else "String"
    result = Profile(name, kind, n, len(column) - n, integral, numeric)
    if kind in ("Integral", "Fractional"):
        result.values = np.sort(_numbers(present))
    elif n and kind == "String":
        counts = pc.value_counts(present)
        result.counts = {v.as_py(): float(c.as_py()) for v, c in zip(counts.field("values"), counts.field("counts"))}
        if numeric:  # the numbers among the strings: a numeric column with stray text still shows its numeric drift
            result.values = np.sort(_numbers(present.filter(is_number)))
    return result


def _numbers(texts: pa.ChunkedArray) -> np.ndarray:
    """Text that matched ``NUMBER`` as float64: Arrow's cast, or Python's ``float`` for forms Arrow's parser refuses."""
    try:
        return pc.cast(texts, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        return np.array([float(t) for t in texts.to_pylist()], dtype=np.float64)


def in_threads(function, *iterables) -> list:
    """``function`` over the items, on a thread per core: Arrow's kernels and NumPy's sort release the GIL."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(function, *iterables))


def _all_whole_numbers(column: pa.ChunkedArray) -> bool:
    values = column.drop_null().to_numpy()
    return bool(len(values)) and bool((values == np.floor(values)).all())


def profiles(dataset: Dataset) -> list[Profile]:
    texts: dict[int, pa.ChunkedArray] = {}
    if dataset.text is not None:  # read as numbers: the columns holding whole numbers are read again as text, in one pass
        whole = in_threads(
            lambda j: pa.types.is_floating(dataset.columns[j].type) and _all_whole_numbers(dataset.columns[j]), range(len(dataset.names))
        )
        if any(whole):
            texts = dataset.text([j for j, needed in enumerate(whole) if needed])

    def one(j: int) -> Profile:
        text_of = (lambda: texts[j] if j in texts else dataset.text([j])[j]) if dataset.text is not None else None
        return profile(dataset.names[j], dataset.columns[j], text_of)

    return in_threads(one, range(len(dataset.names)))


def _from_statistics(feature: dict) -> Profile:
    """A profile from a ``statistics.json`` feature (Model Monitor's or ours)."""
    kind = feature.get("inferred_type", "Unknown")
    stats = feature.get("numerical_statistics") or feature.get("string_statistics") or {}
    common = stats.get("common", {})
    result = Profile(feature["name"], kind, int(common.get("num_present", 0)), int(common.get("num_missing", 0)))
    if "numerical_statistics" in feature:
        sketch = stats.get("distribution", {}).get("kll", {}).get("sketch", {})
        levels = sketch.get("data") or []
        values = [np.asarray(level, dtype=np.float64) for level in levels]
        if values and sum(len(v) for v in values):
            merged = np.concatenate(values)
            order = np.argsort(merged, kind="stable")
            result.values = merged[order]
            result.weights = np.concatenate([np.full(len(v), 2.0**i) for i, v in enumerate(values)])[order]
    if "string_statistics" in feature:
        buckets = stats.get("distribution", {}).get("categorical", {}).get("buckets", [])
        result.counts = {str(b["value"]): float(b["count"]) for b in buckets}
    return result


def read_statistics(path: Path) -> list[Profile]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return [_from_statistics(f) for f in document["features"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BaselineError(f"{path}: not a Model Monitor statistics.json ({type(exc).__name__}: {exc})") from None


# -- statistics.json and constraints.json ---------------------------------------------------------------------


def _numerical(p: Profile) -> dict:
    values = p.values if p.values is not None else np.empty(0)
    stats: dict = {"common": {"num_present": p.present, "num_missing": p.missing}}
    if len(values):
        low, high = float(values[0]), float(values[-1])  # sorted
        edges = np.linspace(low, high, 11) if high > low else np.array([low, low])
        # ten equal-width buckets, the last one closed (np.histogram's rule), counted on the sorted values
        counts = (
            np.diff(np.concatenate([[0], np.searchsorted(values, edges[1:-1], side="left"), [len(values)]]))
            if high > low
            else np.array([len(values)])
        )
        # the sketch: up to 2,048 quantiles, linearly interpolated between order statistics (np.quantile's default)
        position = np.linspace(0, len(values) - 1, min(2048, len(values)))
        below = np.floor(position).astype(np.intp)
        above = np.minimum(below + 1, len(values) - 1)
        quantiles = values[below] + (values[above] - values[below]) * (position - below)
        stats |= {
            "mean": float(values.mean()),
            "sum": float(values.sum()),
            "std_dev": float(values.std()),
            "min": low,
            "max": high,
            "distribution": {
                "kll": {
                    "buckets": [
                        {"lower_bound": float(a), "upper_bound": float(b), "count": float(c)} for a, b, c in zip(edges[:-1], edges[1:], counts)
                    ],
                    "sketch": {
                        "parameters": {"c": 0.64, "k": 2048.0},
                        "data": [quantiles.tolist()],
                    },
                }
            },
        }
    return stats


def statistics_json(items: list[Profile], item_count: int) -> dict:
    """Model Monitor's ``statistics.json`` (data quality)."""
    return {"version": 0.0, "dataset": {"item_count": int(item_count)}, "features": in_threads(_feature_statistics, items)}


def statistics_text(items: list[Profile], item_count: int) -> str:
    """``statistics.json``'s text, without indentation: its KLL sketches are most of it (thousands of numbers), and
    Python's JSON encoder falls back to pure Python once asked to indent (4x slower: 0.1 s of a 1,000-record drift
    check's 0.18 s). Readers parse it; whitespace is no part of Model Monitor's format."""
    return json.dumps(statistics_json(items, item_count), separators=(",", ":"))


def _feature_statistics(p: Profile) -> dict:
    if p.inferred_type in ("Integral", "Fractional"):
        return {"name": p.name, "inferred_type": p.inferred_type, "numerical_statistics": _numerical(p)}
    stats: dict = {"common": {"num_present": p.present, "num_missing": p.missing}}
    if p.counts:
        stats["distinct_count"] = float(len(p.counts))
        top = sorted(p.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        stats["distribution"] = {"categorical": {"buckets": [{"value": v, "count": c} for v, c in top]}}
    return {"name": p.name, "inferred_type": p.inferred_type, "string_statistics": stats}


def suggest_constraints(items: list[Profile], threshold: float) -> dict:
    """The ``constraints.json`` Model Monitor's baseline job suggests for a data set so profiled."""
    features = []
    for p in items:
        feature: dict = {"name": p.name, "inferred_type": p.inferred_type, "completeness": p.present / p.total if p.total else 1.0}
        if p.inferred_type in ("Integral", "Fractional"):
            feature["num_constraints"] = {"is_non_negative": bool(p.values is not None and len(p.values) and (p.values >= 0).all())}
        elif p.inferred_type == "String" and p.counts and len(p.counts) <= MAX_DOMAIN:
            feature["string_constraints"] = {"domains": sorted(p.counts)}
        features.append(feature)
    return {
        "version": 0.0,
        "features": features,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": 1.0,
            "domain_content_threshold": 1.0,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": threshold,
                "comparison_method": "Robust",
                "categorical_comparison_threshold": threshold,
                "categorical_drift_method": "LInfinity",
            },
        },
    }


def read_constraints(path: Path) -> dict:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(document.get("features"), list):
            raise KeyError("features")
        return document
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise BaselineError(f"{path}: not a Model Monitor constraints.json ({type(exc).__name__}: {exc})") from None


# -- distances --------------------------------------------------------------------------------------------------
