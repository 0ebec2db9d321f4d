"""Data-quality check on captured traffic that reads and writes what SageMaker Model Monitor does.

Inputs, as Model Monitor's data-quality analyzer takes them:
- a baseline: either a data set to suggest statistics and constraints from (CSV with a header, or JSON
  Lines of objects), or an existing ``statistics.json`` and/or ``constraints.json`` (what the analyzer
  takes as ``baseline_statistics`` / ``baseline_constraints``; edited constraints apply as written);
- data-capture JSON Lines (SageMaker's or local mode's): every ``encoding`` (CSV, JSON, BASE64) and the
  documented request layouts (CSV rows; JSON ``{"instances": [[...]]}``, ``{"instances": [{"features":
  [...]}]}``, ``{"instances": [{name: value}]}``, ``{"features": [...]}``, a list of rows; JSON Lines
  with one row per line). Malformed capture lines are counted and reported, never fatal. Given a monitoring
  period (``Window``), only the records whose ``inferenceTime`` is inside it are analyzed.

Outputs, in Model Monitor's formats: ``statistics.json`` (of the captured data), ``constraints.json``
(the baseline's, suggested or as given), ``constraint_violations.json``; plus ``report.html`` and
``summary.json``.

Types are inferred per column as Model Monitor does: ``Integral`` (every present value an integer),
``Fractional`` (numbers, some with a fraction), ``String`` (anything else present), ``Unknown`` (no
value present). Every cell is either present or missing (empty, ``null``, ``nan``), so the counts add
up to the rows. Checks (Model Monitor's ``constraint_check_type`` values and, where its output was
seen, its wording): ``data_type_check``, ``completeness_check``, ``baseline_drift_check``,
``categorical_values_check``, ``missing_column_check``, ``extra_column_check``.

Numeric drift is the Kolmogorov-Smirnov distance (the largest gap between the empirical CDFs, the
L-infinity distance Model Monitor reports) against the baseline's values, or against its ``statistics.json``
KLL sketch; a feature drifts when the distance is over ``comparison_threshold`` *and* over what chance
alone gives for samples this size (the KS critical value at ``alpha``, split across features). String
features are compared by the L-infinity distance of their category frequencies
(``categorical_drift_method: LInfinity``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from mlops_container.drift_checks import DEFAULT_ALPHA, DEFAULT_THRESHOLD, FeatureCheck, check, ks_critical, ks_distance, linf_distance
from mlops_container.drift_read import (
    BaselineError,
    CaptureData,
    Dataset,
    Window,
    capture_dataset,
    read_capture,
    read_dataset,
    read_datasets,
    read_plain_csv,
)
from mlops_container.drift_report import NO_DATA, _sorted_histogram, html_report
from mlops_container.drift_stats import (
    Profile,
    profile,
    profiles,
    read_constraints,
    read_statistics,
    statistics_json,
    statistics_text,
    suggest_constraints,
)

# The check's parts, one module per concern (reading, statistics, checks, the report); this module runs them.
__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_THRESHOLD",
    "NO_DATA",
    "BaselineError",
    "CaptureData",
    "Dataset",
    "FeatureCheck",
    "Profile",
    "Window",
    "_sorted_histogram",
    "analyze",
    "capture_dataset",
    "check",
    "html_report",
    "ks_critical",
    "ks_distance",
    "linf_distance",
    "main",
    "profile",
    "profiles",
    "read_capture",
    "read_constraints",
    "read_dataset",
    "read_datasets",
    "read_plain_csv",
    "read_statistics",
    "statistics_json",
    "statistics_text",
    "suggest_constraints",
]


def analyze(
    baseline_dataset: Path | None,
    capture_dir: Path,
    output_dir: Path,
    *,
    baseline_statistics: Path | None = None,
    baseline_constraints: Path | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    window: Window = Window(),
    plain_csv: bool = False,
) -> dict:
    """Check the captured data (made inside ``window``) against the baseline and write Model Monitor's three files,
    report.html and summary.json. ``plain_csv``: ``capture_dir`` holds plain CSV rows without a header (a batch
    transform's input, :func:`read_plain_csv`) instead of data capture files.

    The baseline's statistics come from ``baseline_statistics`` if given, else from ``baseline_dataset``; its
    constraints from ``baseline_constraints`` if given (as written), else suggested from the baseline statistics.
    Constraints alone are checked without drift distances (there is no distribution to compare with), as Model
    Monitor does.
    """
    if baseline_dataset is None and baseline_statistics is None and baseline_constraints is None:
        raise BaselineError("no baseline: give a baseline data set, or a statistics.json and/or constraints.json")
    if baseline_dataset is not None and baseline_dataset.suffix == ".json":
        head = baseline_dataset.read_text(encoding="utf-8")[:4096]
        if '"features"' in head and '"version"' in head:
            which = "--baseline-constraints" if '"monitoring_config"' in head else "--baseline-statistics"
            raise BaselineError(f"{baseline_dataset} is Model Monitor's own baseline file: pass it as {which}")
    if baseline_statistics is not None:
        baseline = read_statistics(baseline_statistics)
    elif baseline_dataset is not None:
        baseline = profiles(read_dataset(baseline_dataset))
    else:
        baseline = []
    constraints = read_constraints(baseline_constraints) if baseline_constraints else suggest_constraints(baseline, threshold)
    capture = read_plain_csv(capture_dir) if plain_csv else read_capture(capture_dir, window)
    dataset = capture_dataset(capture, [f["name"] for f in constraints["features"]])
    current = profiles(dataset)
    # A period without traffic is "no data": neither drift nor a failure (Model Monitor's own analyzer fails such a run).
    # No column is missing from rows that do not exist, so nothing is checked.
    no_data = dataset.rows == 0
    checks, violations = ([], []) if no_data else check(constraints, baseline, current, threshold=threshold, alpha=alpha)
    summary = {
        "status": NO_DATA if no_data else ("violations" if violations else "ok"),
        "records": capture.records,
        "outside_window": capture.outside,
        "rows": dataset.rows,
        "malformed": capture.malformed,
        "malformed_examples": capture.malformed_examples,
        "threshold": threshold,
        "alpha": alpha,
        "violations": len(violations),
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "statistics.json").write_text(statistics_text(current, dataset.rows))
    (output_dir / "constraints.json").write_text(json.dumps(constraints, indent=1))
    (output_dir / "constraint_violations.json").write_text(json.dumps({"violations": violations}, indent=1))
    (output_dir / "report.html").write_text(html_report(checks, violations, summary), encoding="utf-8")
    summary["drifted_features"] = [c.name for c in checks if c.drift]
    summary["distances"] = {c.name: round(c.distance, 4) for c in checks if not math.isnan(c.distance)}
    summary["violation_types"] = sorted({v["constraint_check_type"] for v in violations})
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, help="baseline data set: CSV with a header, or JSON Lines of objects")
    parser.add_argument("--baseline-statistics", type=Path, help="a statistics.json (Model Monitor's or this check's)")
    parser.add_argument("--baseline-constraints", type=Path, help="a constraints.json, applied as written")
    parser.add_argument("--capture", type=Path, required=True, help="folder of data-capture .jsonl files")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA)
    args = parser.parse_args(argv)
    for given in (args.baseline, args.baseline_statistics, args.baseline_constraints):
        if given is not None and not given.exists():
            print(f"drift check failed: no baseline file {given}", file=sys.stderr)
            return 1
    try:
        summary = analyze(
            args.baseline,
            args.capture,
            args.output,
            baseline_statistics=args.baseline_statistics,
            baseline_constraints=args.baseline_constraints,
            threshold=args.threshold,
            alpha=args.alpha,
        )
    except BaselineError as exc:
        print(f"drift check failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({k: summary[k] for k in ("records", "rows", "malformed", "drifted_features", "violation_types")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
