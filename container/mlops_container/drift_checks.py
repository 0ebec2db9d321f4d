"""The checks (``mlops_container.drift``): Kolmogorov-Smirnov and L-infinity distances, the KS critical value, and
Model Monitor's constraint checks of the current data against the baseline."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mlops_container.drift_stats import Profile, in_threads

DEFAULT_THRESHOLD = 0.1
DEFAULT_ALPHA = 0.01


def ks_distance(a: np.ndarray, b: np.ndarray, a_weights: np.ndarray | None = None) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs (``a`` optionally weighted).
    Profiles hold their samples sorted; others are sorted here.

    Between two consecutive distinct values of ``a`` its CDF is flat and ``b``'s only rises, so the gap is largest
    at a value of ``a`` (just at it, or just before it): ``b`` is bisected at ``a``'s distinct values only, which
    costs nothing next to the captured data however large it is."""
    if len(a) == 0 or len(b) == 0:
        return math.nan
    if len(a) > 1 and (np.diff(a) < 0).any():
        order = np.argsort(a, kind="stable")
        a, a_weights = a[order], None if a_weights is None else a_weights[order]
    if len(b) > 1 and (np.diff(b) < 0).any():
        b = np.sort(b)
    weights = np.ones(len(a)) if a_weights is None else a_weights
    ends = np.append(np.flatnonzero(np.diff(a)), len(a) - 1)  # the last of each run of equal values
    points = a[ends]
    at = np.cumsum(weights)[ends] / weights.sum()  # a's CDF at each distinct value
    before = np.concatenate([[0.0], at[:-1]])  # and just before it
    b_at = np.searchsorted(b, points, side="right") / len(b)
    b_before = np.searchsorted(b, points, side="left") / len(b)
    return float(max(np.abs(at - b_at).max(), np.abs(before - b_before).max()))


def ks_critical(n: int, m: int, alpha: float) -> float:
    """Distance that samples of sizes n and m exceed by chance with probability ``alpha`` (asymptotic)."""
    if n == 0 or m == 0:
        return math.inf
    return math.sqrt(-0.5 * math.log(alpha / 2)) * math.sqrt((n + m) / (n * m))


def _distinct(ordered: np.ndarray) -> int:
    """Distinct values of a sorted array (repeated rows counted once in the chance level)."""
    return int(np.count_nonzero(np.diff(ordered))) + 1 if len(ordered) else 0


def linf_distance(a: dict[str, float], b: dict[str, float]) -> float:
    """The largest gap between two category frequency distributions."""
    ta, tb = sum(a.values()), sum(b.values())
    if not ta or not tb:
        return math.nan
    return max(abs(a.get(k, 0.0) / ta - b.get(k, 0.0) / tb) for k in set(a) | set(b))


# -- the checks ------------------------------------------------------------------------------------------------


@dataclass
class FeatureCheck:
    name: str
    baseline: Profile | None
    current: Profile | None
    distance: float = math.nan
    limit: float = math.nan
    drift: bool = False


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def check(
    constraints: dict, baseline: list[Profile], current: list[Profile], *, threshold: float | None = None, alpha: float = DEFAULT_ALPHA
) -> tuple[list[FeatureCheck], list[dict]]:
    """Each baseline feature checked against the current data: (per-feature results, Model Monitor violations)."""
    config = constraints.get("monitoring_config", {})
    evaluate = config.get("evaluate_constraints", "Enabled") == "Enabled"
    distribution = config.get("distribution_constraints", {})
    compare = distribution.get("perform_comparison", "Enabled") == "Enabled"
    numeric_threshold = float(distribution.get("comparison_threshold", threshold if threshold is not None else DEFAULT_THRESHOLD))
    categorical_threshold = float(distribution.get("categorical_comparison_threshold", numeric_threshold))
    type_threshold = float(config.get("datatype_check_threshold", 1.0))
    domain_threshold = float(config.get("domain_content_threshold", 1.0))
    base = {p.name: p for p in baseline}
    now = {p.name: p for p in current}
    expected = [f["name"] for f in constraints["features"]]
    known = set(expected)
    per_feature_alpha = alpha / max(1, len(expected))
    checks, violations = [], []

    def distance(feature: dict) -> tuple[str, tuple[float, float]]:
        """The feature's drift distance and the limit it is held to (NaN when there is nothing to compare)."""
        name, kind = feature["name"], feature.get("inferred_type", "Unknown")
        b, c = base.get(name), now.get(name)
        if not compare or b is None or c is None:
            return name, (math.nan, math.nan)
        if kind in ("Integral", "Fractional") and b.values is not None and c.values is not None and len(c.values):
            n = b.present if b.weights is not None else _distinct(b.values)
            limit = max(numeric_threshold, ks_critical(n, _distinct(c.values), per_feature_alpha))
            return name, (ks_distance(b.values, c.values, b.weights), limit)
        if kind == "String" and b.counts and c.counts:
            return name, (linf_distance(b.counts, c.counts), categorical_threshold)
        return name, (math.nan, math.nan)

    distances = dict(in_threads(distance, constraints["features"]))  # the expensive part, a feature per thread

    def violation(feature: str, kind: str, description: str) -> None:
        violations.append({"feature_name": feature, "constraint_check_type": kind, "description": description})

    for feature in constraints["features"]:
        name, kind = feature["name"], feature.get("inferred_type", "Unknown")
        b, c = base.get(name), now.get(name)
        result = FeatureCheck(name, b, c)
        checks.append(result)
        if c is None:
            violation(
                name,
                "missing_column_check",
                f"There are missing columns in current dataset. Number of columns in current dataset: {len(current)}, "
                f"Number of columns in baseline constraints: {len(expected)}",
            )
            continue
        if evaluate and c.present:
            # Model Monitor's wording, its quirk included: the observed share is printed as a fraction followed by "%".
            share = (c.integral_count() if kind == "Integral" else c.numeric if kind == "Fractional" else c.present) / c.present
            if kind in ("Integral", "Fractional") and share < type_threshold:
                violation(
                    name,
                    "data_type_check",
                    f"Data type match requirement is not met. Expected data type: {kind}, Expected match: {_percent(type_threshold)}. "
                    f"Observed: Only {share}% of data is {kind}.",
                )
            domains = set(feature.get("string_constraints", {}).get("domains") or ())
            if kind == "String" and domains and c.counts is not None:
                inside = sum(n for v, n in c.counts.items() if v in domains) / c.present
                if inside < domain_threshold:
                    violation(
                        name,
                        "categorical_values_check",
                        f"Data domain requirement is not met. Expected: {_percent(domain_threshold)} of data in the domain. "
                        f"Observed: Only {inside}% of data is in the domain.",
                    )
        if evaluate and c.total:
            completeness = c.present / c.total
            required = float(feature.get("completeness", 1.0))
            if completeness < required:
                violation(
                    name,
                    "completeness_check",
                    f"Data completeness requirement is not met. Expected: {_percent(required)}. Observed: Only {completeness}%.",
                )
        result.distance, result.limit = distances[name]  # NaN when not compared
        if not math.isnan(result.distance) and result.distance > result.limit:
            result.drift = True
            violation(name, "baseline_drift_check", f"Baseline drift distance: {result.distance} exceeds threshold: {result.limit}")
    for p in current:
        if p.name not in known:
            violation(
                p.name,
                "extra_column_check",
                f"There are extra columns in current dataset. Number of columns in current dataset: {len(current)}, "
                f"Number of columns in baseline constraints: {len(expected)}",
            )
    return checks, violations


# -- the report ------------------------------------------------------------------------------------------------
