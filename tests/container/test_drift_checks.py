"""The drift check's checks (mlops_container.drift_checks) one setting at a time: each of Model Monitor's constraint
settings it honours, its distances at their edges, and every violation's exact words. Written for make mutate: each
test failed with a mutant of the module that survived the end-to-end drift tests."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest

from mlops_container import drift
from mlops_container.drift_checks import _distinct, check, ks_critical, ks_distance, linf_distance


def _profiles(tmp_path: Path, name: str, header: str, rows: list[str]) -> list:
    path = tmp_path / f"{name}.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return drift.profiles(drift.read_dataset(path))


@pytest.fixture
def world(tmp_path):
    rng = np.random.default_rng(3)
    base_rows = [f"{x:.4f},{int(k)},{c}" for x, k, c in zip(rng.normal(size=400), rng.integers(0, 5, 400), rng.choice(["a", "b"], 400))]
    baseline = _profiles(tmp_path, "base", "x,k,c", base_rows)
    constraints = drift.suggest_constraints(baseline, drift.DEFAULT_THRESHOLD)

    def current(rows: list[str], header: str = "x,k,c") -> list:
        return _profiles(tmp_path, f"cur{len(rows)}{header}", header, rows)

    return baseline, constraints, current, rng


def kinds(violations: list[dict]) -> list[tuple[str, str]]:
    return [(v["feature_name"], v["constraint_check_type"]) for v in violations]


def test_evaluate_constraints_disabled_checks_types_and_completeness_no_more(world):
    baseline, constraints, current, _ = world
    bad = current(["1.5,x,a", ",2,b"] * 50)  # k is no longer integral; x has missing values
    _, violations = check(constraints, baseline, bad)
    assert ("k", "data_type_check") in kinds(violations) and ("x", "completeness_check") in kinds(violations)
    off = copy.deepcopy(constraints)
    off["monitoring_config"]["evaluate_constraints"] = "Disabled"
    assert not {"data_type_check", "completeness_check"} & {t for _, t in kinds(check(off, baseline, bad)[1])}
    del off["monitoring_config"]  # no monitoring_config at all: Model Monitor's defaults, every check on
    assert ("k", "data_type_check") in kinds(check(off, baseline, bad)[1])


def test_comparison_settings(world):
    baseline, constraints, current, rng = world
    shifted = current([f"{x + 0.5:.4f},{int(k)},{c}" for x, k, c in zip(rng.normal(size=400), rng.integers(0, 5, 400), rng.choice(["a", "b"], 400))])
    checks, violations = check(constraints, baseline, shifted)
    assert ("x", "baseline_drift_check") in kinds(violations)
    x = next(c for c in checks if c.name == "x")
    assert x.drift and x.distance > x.limit >= constraints["monitoring_config"]["distribution_constraints"]["comparison_threshold"]
    off = copy.deepcopy(constraints)
    off["monitoring_config"]["distribution_constraints"]["perform_comparison"] = "Disabled"
    assert all(math.isnan(c.distance) for c in check(off, baseline, shifted)[0])
    no_distribution = copy.deepcopy(constraints)
    del no_distribution["monitoring_config"]["distribution_constraints"]  # compared, at the threshold given, or the default
    assert next(c for c in check(no_distribution, baseline, shifted, threshold=0.9)[0] if c.name == "x").limit == 0.9
    assert next(c for c in check(no_distribution, baseline, shifted)[0] if c.name == "x").limit >= drift.DEFAULT_THRESHOLD
    high = copy.deepcopy(constraints)
    high["monitoring_config"]["distribution_constraints"].update(comparison_threshold=0.99, categorical_comparison_threshold=0.01)
    checks, _ = check(high, baseline, current([f"{x:.4f},{int(k)},a" for x, k in zip(rng.normal(size=400), rng.integers(0, 5, 400))]))
    limits = {c.name: c.limit for c in checks}
    assert limits["x"] == 0.99 and limits["c"] == 0.01  # numeric and categorical limits apart
    assert next(c for c in checks if c.name == "c").drift  # all "a": far from half and half


def test_a_distance_exactly_at_the_limit_is_not_drift(world, monkeypatch):
    baseline, constraints, current, _ = world
    import mlops_container.drift_checks as module

    monkeypatch.setattr(module, "ks_distance", lambda a, b, w=None: 0.5)
    monkeypatch.setattr(module, "ks_critical", lambda n, m, alpha: 0.0)
    at = copy.deepcopy(constraints)
    at["monitoring_config"]["distribution_constraints"]["comparison_threshold"] = 0.5
    checks, violations = check(at, baseline, current(["0.1,1,a"] * 20))
    assert not next(c for c in checks if c.name == "x").drift and ("x", "baseline_drift_check") not in kinds(violations)


def test_type_domain_and_completeness_thresholds(world):
    baseline, constraints, current, _ = world
    mostly = current(["0.1,1,a"] * 6 + ["0.1,1.5,zz"] * 4)  # k: 60% integral; c: 60% in the domain
    kinds_default = kinds(check(constraints, baseline, mostly)[1])
    assert ("k", "data_type_check") in kinds_default and ("c", "categorical_values_check") in kinds_default
    lenient = copy.deepcopy(constraints)
    lenient["monitoring_config"].update(datatype_check_threshold=0.5, domain_content_threshold=0.5)
    assert not {("k", "data_type_check"), ("c", "categorical_values_check")} & set(kinds(check(lenient, baseline, mostly)[1]))
    gaps = current(["0.1,1,a"] * 6 + [",1,a"] * 4)  # x 60% present
    assert ("x", "completeness_check") in kinds(check(constraints, baseline, gaps)[1])
    half = copy.deepcopy(constraints)
    next(f for f in half["features"] if f["name"] == "x")["completeness"] = 0.5
    assert ("x", "completeness_check") not in kinds(check(half, baseline, gaps)[1])
    del next(f for f in half["features"] if f["name"] == "x")["completeness"]  # unset: all present required
    assert ("x", "completeness_check") in kinds(check(half, baseline, gaps)[1])


def test_every_violation_in_model_monitors_words(world):
    baseline, constraints, current, _ = world
    _, violations = check(constraints, baseline, current(["1.5,x,zz", ",1,a", "0.5,2,a"], header="x,k,c") + current(["1"], header="extra")[:1])
    words = {v["constraint_check_type"]: v["description"] for v in violations if v["feature_name"] in ("k", "c", "x", "extra")}
    assert (
        words["data_type_check"]
        == "Data type match requirement is not met. Expected data type: Integral, Expected match: 100.0%. Observed: Only 0.6666666666666666% of data is Integral."
    )
    assert (
        words["categorical_values_check"]
        == "Data domain requirement is not met. Expected: 100.0% of data in the domain. Observed: Only 0.6666666666666666% of data is in the domain."
    )
    assert words["completeness_check"] == "Data completeness requirement is not met. Expected: 100.0%. Observed: Only 0.6666666666666666%."
    assert (
        words["extra_column_check"]
        == "There are extra columns in current dataset. Number of columns in current dataset: 4, Number of columns in baseline constraints: 3"
    )
    _, missing = check(constraints, baseline, current(["0.1,1"], header="x,k"))
    (gone,) = [v for v in missing if v["constraint_check_type"] == "missing_column_check"]
    assert gone == {
        "feature_name": "c",
        "constraint_check_type": "missing_column_check",
        "description": "There are missing columns in current dataset. Number of columns in current dataset: 2, Number of columns in baseline constraints: 3",
    }
    first_missing = copy.deepcopy(constraints)
    first_missing["features"].insert(0, first_missing["features"].pop())  # the missing column first: the rest still checked
    checked, _ = check(first_missing, baseline, current(["0.1,1"], header="x,k"))
    assert [c.name for c in checked] == ["c", "x", "k"] and checked[1].current is not None


def test_a_feature_of_unknown_type_is_not_type_checked(world):
    baseline, constraints, current, _ = world
    untyped = copy.deepcopy(constraints)
    for f in untyped["features"]:
        del f["inferred_type"]
    _, violations = check(untyped, baseline, current(["1.5,x,a"] * 5))
    assert not [v for v in violations if v["constraint_check_type"] == "data_type_check"]


def test_distances_at_their_edges():
    assert math.isnan(ks_distance(np.array([]), np.array([1.0]))) and math.isnan(ks_distance(np.array([1.0]), np.array([])))
    a, b = np.array([3.0, 1.0, 2.0, 2.0]), np.array([2.5, 0.5, 1.5])
    assert ks_distance(a, b) == ks_distance(np.sort(a), np.sort(b)) == pytest.approx(5 / 12)  # unsorted input is sorted first
    weighted = ks_distance(np.array([2.0, 1.0]), np.array([1.0, 1.0, 2.0]), np.array([3.0, 1.0]))  # weights follow their values
    assert weighted == pytest.approx(abs(0.25 - 2 / 3))
    assert ks_distance(np.array([1.0, 2.0]), np.array([2.0])) == 0.5  # at a shared value, b's CDF jumps there
    assert ks_critical(0, 5, 0.01) == math.inf and ks_critical(5, 0, 0.01) == math.inf
    assert ks_critical(1, 1, 0.01) == pytest.approx(math.sqrt(-0.5 * math.log(0.005)) * math.sqrt(2))
    assert _distinct(np.array([])) == 0 and _distinct(np.array([1.0])) == 1 and _distinct(np.array([1.0, 1.0, 2.0])) == 2
    assert math.isnan(linf_distance({}, {"a": 1})) and math.isnan(linf_distance({"a": 1}, {}))
    assert linf_distance({"a": 1}, {"b": 1}) == 1.0 and linf_distance({"a": 3, "b": 1}, {"a": 1, "b": 1}) == 0.25


def test_defaults_when_the_constraints_leave_them_out(world):
    """Clean data under constraints that name no thresholds: Model Monitor's defaults (all of a type, all in the domain,
    all present) hold it, so nothing is violated; a string feature without a domain is not domain-checked."""
    baseline, constraints, current, rng = world
    bare = copy.deepcopy(constraints)
    bare["monitoring_config"] = {}
    for feature in bare["features"]:
        feature.pop("completeness", None)
    clean = current([f"{x:.4f},{int(k)},{c}" for x, k, c in zip(rng.normal(size=400), rng.integers(0, 5, 400), rng.choice(["a", "b"], 400))])
    assert [v for v in check(bare, baseline, clean)[1] if v["constraint_check_type"] != "baseline_drift_check"] == []
    no_domain = copy.deepcopy(constraints)
    next(f for f in no_domain["features"] if f["name"] == "c").pop("string_constraints", None)
    assert ("c", "categorical_values_check") not in kinds(check(no_domain, baseline, current(["0.1,1,zz"] * 10))[1])


def test_one_feature_keeps_the_whole_alpha_and_integral_features_are_compared(world):
    baseline, constraints, current, rng = world
    only_k = copy.deepcopy(constraints)
    only_k["features"] = [f for f in only_k["features"] if f["name"] == "k"]
    shifted = current([f"{x:.4f},4,a" for x in rng.normal(size=200)])  # k is always 4 now
    (k,), violations = check(only_k, [p for p in baseline if p.name == "k"], [p for p in shifted if p.name == "k"], alpha=0.01)
    base_k = next(p for p in baseline if p.name == "k")
    now_k = next(p for p in shifted if p.name == "k")
    assert k.limit == max(
        only_k["monitoring_config"]["distribution_constraints"]["comparison_threshold"],
        ks_critical(_distinct(base_k.values), _distinct(now_k.values), 0.01),
    )
    assert k.distance == ks_distance(base_k.values, now_k.values)  # an integral feature is compared (0.815 here)
    # five baseline values against one: too few distinct values for the chance level to call it drift
    assert not k.drift and ("k", "baseline_drift_check") not in kinds(violations)


def test_a_baseline_read_from_statistics_weighs_its_sketch(world, tmp_path):
    """A statistics.json baseline (a KLL sketch: values with weights): the distance uses the weights, and the chance level
    counts the baseline's rows, not its sketch's distinct values."""
    baseline, constraints, current, rng = world
    (tmp_path / "statistics.json").write_text(drift.statistics_text(baseline, 400))
    sketched = drift.read_statistics(tmp_path / "statistics.json")
    x = next(p for p in sketched if p.name == "x")
    assert x.weights is not None and x.present == 400
    now = current([f"{v:.4f},1,a" for v in rng.normal(loc=0.3, size=300)])
    result = next(c for c in check(constraints, sketched, now, alpha=0.03)[0] if c.name == "x")
    c_x = next(p for p in now if p.name == "x")
    assert result.distance == ks_distance(x.values, c_x.values, x.weights)
    assert result.limit == max(
        constraints["monitoring_config"]["distribution_constraints"]["comparison_threshold"], ks_critical(400, _distinct(c_x.values), 0.01)
    )


def test_a_category_only_one_side_has_counts_at_its_full_share():
    assert linf_distance({"a": 1, "b": 1}, {"a": 1, "b": 1, "c": 8}) == pytest.approx(0.8)
    assert linf_distance({"a": 1, "b": 1, "c": 8}, {"a": 1, "b": 1}) == pytest.approx(0.8)
