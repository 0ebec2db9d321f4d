"""The local drift check: known shifts found, clean traffic not flagged, malformed lines counted, Model Monitor shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from mlops_container import capture, data, drift, local


def _write_capture(root: Path, rows: np.ndarray, features: list[str], *, json_every: int = 3, extra_lines: list[str] = ()) -> None:
    root.mkdir(parents=True, exist_ok=True)
    when = datetime(2026, 11, 23, 12, tzinfo=UTC)
    lines = []
    for i in range(0, len(rows), 5):
        chunk = rows[i : i + 5]
        if (i // 5) % json_every == 0:
            body, kind = json.dumps({"instances": [dict(zip(features, map(float, r))) for r in chunk]}).encode(), "application/json"
        else:
            body, kind = "\n".join(",".join(repr(float(v)) for v in r) for r in chunk).encode(), "text/csv"
        lines.append(json.dumps(capture.capture_record(body, kind, b"0.5\n", "text/csv", event_id=str(i), when=when)))
    (root / "part.jsonl").write_text("\n".join(lines + list(extra_lines)) + "\n")


@pytest.fixture(scope="module")
def tables(processed):
    train = data.read_table(processed / "train" / "train.csv")
    pool = data.read_table(processed / "test" / "test.csv")
    validation = data.read_table(processed / "validation" / "validation.csv")
    pool = data.Table(features=pool.features, X=np.vstack([pool.X, validation.X]), y=None)
    return train, pool


def _sample(pool: data.Table, n: int, seed: int) -> np.ndarray:
    return pool.X[np.random.default_rng(seed).integers(0, len(pool), n)]


def test_known_shifts_are_found_and_only_those(tables, processed, tmp_path):
    train, pool = tables
    shifted, names = local.drift(data.Table(features=pool.features, X=_sample(pool, 1000, 1), y=None), train)
    _write_capture(tmp_path / "capture", shifted.X, pool.features)
    summary = drift.analyze(processed / "baseline" / "baseline.csv", tmp_path / "capture", tmp_path / "out")
    assert summary["drifted_features"] == names
    violations = json.loads((tmp_path / "out" / "constraint_violations.json").read_text())["violations"]
    assert {v["feature_name"] for v in violations if v["constraint_check_type"] == "baseline_drift_check"} == set(names)
    assert all(v["description"].startswith("Baseline drift distance: ") for v in violations)


def test_clean_traffic_false_alarm_rate_over_repeated_runs(tables, processed, tmp_path):
    _, pool = tables
    runs, alarms = 40, 0
    for seed in range(runs):
        _write_capture(tmp_path / f"c{seed}", _sample(pool, 1000, 100 + seed), pool.features)
        summary = drift.analyze(processed / "baseline" / "baseline.csv", tmp_path / f"c{seed}", tmp_path / f"o{seed}")
        alarms += bool(summary["drifted_features"])
    print(f"false alarms: {alarms} of {runs} clean runs")
    assert alarms / runs <= 0.05


def test_a_small_shift_on_one_feature_is_found(tables, processed, tmp_path):
    train, pool = tables
    rows = _sample(pool, 1500, 3).copy()
    j = pool.features.index("worst_area")
    rows[:, j] += 0.8 * train.X[:, j].std()
    _write_capture(tmp_path / "capture", rows, pool.features)
    assert drift.analyze(processed / "baseline" / "baseline.csv", tmp_path / "capture", tmp_path / "out")["drifted_features"] == ["worst_area"]


def test_malformed_lines_missing_and_bad_values_are_reported_not_fatal(tables, processed, tmp_path):
    _, pool = tables
    rows = _sample(pool, 300, 4).astype(object)
    _write_capture(
        tmp_path / "capture",
        rows.astype(float),
        pool.features,
        extra_lines=[
            "{not json",
            '{"captureData": {}}',
            json.dumps(
                {
                    "captureData": {
                        "endpointInput": {
                            "observedContentType": "text/csv",
                            "mode": "INPUT",
                            "encoding": "CSV",
                            "data": ",".join(["", "abc"] + ["1.0"] * 28) + "\n1,2,3",
                        }
                    }
                }
            ),
        ],
    )
    summary = drift.analyze(processed / "baseline" / "baseline.csv", tmp_path / "capture", tmp_path / "out")
    assert summary["malformed"] == 2 and summary["rows"] == 302
    kinds = {
        (v["feature_name"], v["constraint_check_type"])
        for v in json.loads((tmp_path / "out" / "constraint_violations.json").read_text())["violations"]
    }
    # the empty cell and the short row's absent cells are missing; "abc" is present but not a number
    assert (pool.features[0], "completeness_check") in kinds and (pool.features[1], "data_type_check") in kinds
    assert (pool.features[29], "completeness_check") in kinds and not any(k == "missing_column_check" for _, k in kinds)
    stats = json.loads((tmp_path / "out" / "statistics.json").read_text())
    assert all(
        sum(f[key]["common"][n] for key in ("numerical_statistics", "string_statistics") if key in f for n in ("num_present", "num_missing")) == 302
        for f in stats["features"]
    )  # every cell is present or missing


def test_outputs_have_model_monitors_shapes(tables, processed, tmp_path):
    _, pool = tables
    _write_capture(tmp_path / "capture", _sample(pool, 200, 5), pool.features)
    drift.analyze(processed / "baseline" / "baseline.csv", tmp_path / "capture", tmp_path / "out")
    stats = json.loads((tmp_path / "out" / "statistics.json").read_text())
    assert stats["version"] == 0.0 and stats["dataset"]["item_count"] == 200
    feature = stats["features"][0]
    assert feature["inferred_type"] == "Fractional"
    numeric = feature["numerical_statistics"]
    assert {"common", "mean", "sum", "std_dev", "min", "max", "distribution"} <= set(numeric)
    assert numeric["common"]["num_present"] == 200 and numeric["distribution"]["kll"]["buckets"][0].keys() == {"lower_bound", "upper_bound", "count"}
    constraints = json.loads((tmp_path / "out" / "constraints.json").read_text())
    assert constraints["monitoring_config"]["distribution_constraints"] == {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    }
    assert {f["name"] for f in constraints["features"]} == set(pool.features)
    assert json.loads((tmp_path / "out" / "constraint_violations.json").read_text()) == {"violations": []}
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.startswith("<!doctype html>") and "No data drift in 30 features" in html and html.count("<svg") == 30


def test_ks_distance_and_critical_value():
    a = np.arange(100, dtype=float)
    assert drift.ks_distance(a, a) == 0
    assert drift.ks_distance(a, a + 1000) == 1
    assert drift.ks_critical(100, 100, 0.05) == pytest.approx(1.358 * np.sqrt(2 / 100), rel=1e-3)


def test_ks_distance_equals_scipys_two_sample_statistic_with_ties_and_weights():
    """The distance is evaluated at the baseline's values only (the gap cannot peak elsewhere): checked against
    scipy's ks_2samp on samples with ties, and with integer weights against the repeated sample."""
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(3)
    for _ in range(200):
        a = np.round(rng.normal(size=int(rng.integers(1, 60))), int(rng.integers(0, 3)))
        b = np.round(rng.normal(rng.normal() * 0.5, size=int(rng.integers(1, 80))), int(rng.integers(0, 3)))
        assert drift.ks_distance(a, b) == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)
        weights = rng.integers(1, 4, size=len(a)).astype(float)
        assert drift.ks_distance(a, b, weights) == pytest.approx(ks_2samp(np.repeat(a, weights.astype(int)), b).statistic, abs=1e-12)


def test_the_reports_histogram_counts_as_numpy_does():
    rng = np.random.default_rng(4)
    for values in (np.sort(rng.normal(size=1000)), np.array([1.0, 1.0, 2.0, 2.0, 3.0]), np.array([5.0])):
        edges = np.linspace(values[0] - 0.5, values[-1] + 0.5, 21)
        assert (drift._sorted_histogram(values, edges) == np.histogram(values, edges)[0]).all()
