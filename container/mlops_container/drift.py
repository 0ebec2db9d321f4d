"""Data-quality drift check on captured traffic, in SageMaker Model Monitor's own file formats.

Reads a baseline data set (the preprocessing job's ``baseline.csv``: training features, header) and
data-capture JSON Lines (local mode's or SageMaker's), and writes, like Model Monitor's data-quality
job: ``statistics.json`` (of the captured data), ``constraints.json`` (suggested from the baseline)
and ``constraint_violations.json``.

Checks per feature: numeric features are compared by the Kolmogorov-Smirnov distance (the largest
gap between the two empirical CDFs: the L-infinity distance Model Monitor reports); a feature drifts
when the distance is over ``comparison_threshold`` (Model Monitor's default 0.1) *and* over what
chance alone gives for samples this size (the KS critical value at ``alpha``, split across features,
with repeated rows counted once). Also reported: missing values (completeness), non-numeric values
(data type), missing or extra columns. Malformed capture lines are counted and reported, never fatal.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_THRESHOLD = 0.1
DEFAULT_ALPHA = 0.01


@dataclass
class CaptureData:
    """Feature rows (CSV text, one per row) from capture records, and what could not be used."""

    rows: list[str] = field(default_factory=list)
    records: int = 0
    malformed: int = 0
    malformed_examples: list[str] = field(default_factory=list)

    def reject(self, where: str, why: str) -> None:
        self.malformed += 1
        if len(self.malformed_examples) < 5:
            self.malformed_examples.append(f"{where}: {why}")


def _rows_from_payload(payload: dict, features: list[str]) -> list[str]:
    encoding = payload.get("encoding", "CSV").upper()
    data = payload.get("data", "")
    if encoding == "BASE64":
        data = base64.b64decode(data).decode("utf-8")
        kind = payload.get("observedContentType", "text/csv")
        encoding = "JSON" if "json" in kind else "CSV"
    if encoding == "CSV":
        return [line for line in data.splitlines() if line.strip()]
    value = json.loads(data)
    if isinstance(value, dict):
        value = value.get("instances", value.get("features", [value]))
        if value and not isinstance(value[0], (list, dict)):
            value = [value]
    rows = []
    for item in value:
        cells = [item.get(f, "") for f in features] if isinstance(item, dict) else item
        rows.append(",".join("" if v is None else str(v) for v in cells))
    return rows


def read_capture(root: Path, features: list[str]) -> CaptureData:
    """Every request row under ``root`` (``*.jsonl``, any depth)."""
    out = CaptureData()
    for path in sorted(root.rglob("*.jsonl")):
        with path.open(encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                out.records += 1
                where = f"{path.name}:{number}"
                try:
                    record = json.loads(line)
                    payload = record["captureData"]["endpointInput"]
                    out.rows += _rows_from_payload(payload, features)
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    out.reject(where, f"{type(exc).__name__}: {str(exc)[:80]}")
    return out


@dataclass
class FeatureCheck:
    name: str
    baseline: np.ndarray
    current: np.ndarray
    missing: int
    non_numeric: int
    distance: float
    critical: float
    drift: bool


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs."""
    if len(a) == 0 or len(b) == 0:
        return math.nan
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def ks_critical(n: int, m: int, alpha: float) -> float:
    """Distance that samples of sizes n and m exceed by chance with probability ``alpha`` (asymptotic)."""
    if n == 0 or m == 0:
        return math.inf
    return math.sqrt(-0.5 * math.log(alpha / 2)) * math.sqrt((n + m) / (n * m))


def _parse(rows: list[str], width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of ``width`` cells -> (values with NaN where unusable, missing per column, non-numeric per column).

    The C parser takes clean data in one pass; only when it meets an empty or non-numeric cell are
    the rows parsed one by one to say which.
    """
    try:
        values = np.loadtxt(io.StringIO("\n".join(rows)), delimiter=",", ndmin=2, dtype=np.float64) if rows else np.empty((0, width))
        missing = (~np.isfinite(values)).sum(axis=0)
        return values, missing, np.zeros(width, dtype=np.int64)
    except ValueError:
        pass
    values = np.full((len(rows), width), np.nan)
    missing = np.zeros(width, dtype=np.int64)
    bad = np.zeros(width, dtype=np.int64)
    for i, row in enumerate(rows):
        for j, cell in enumerate(row.split(",")):
            cell = cell.strip()
            if cell == "" or cell.lower() == "nan":
                missing[j] += 1
                continue
            try:
                number = float(cell)
            except ValueError:
                bad[j] += 1
                continue
            if math.isfinite(number):
                values[i, j] = number
            else:
                missing[j] += 1
    return values, missing, bad


def check(
    baseline_header: list[str], baseline: np.ndarray, capture: CaptureData, *, threshold: float = DEFAULT_THRESHOLD, alpha: float = DEFAULT_ALPHA
) -> tuple[list[FeatureCheck], dict]:
    width = len(baseline_header)
    rows = [r for r in capture.rows if r.count(",") == width - 1]
    wrong_width = len(capture.rows) - len(rows)
    values, missing, bad = _parse(rows, width)
    per_feature_alpha = alpha / max(1, width)
    checks = []
    for j, name in enumerate(baseline_header):
        current = values[:, j][np.isfinite(values[:, j])]
        unique = len(np.unique(current))
        distance = ks_distance(baseline[:, j], current)
        critical = max(threshold, ks_critical(len(np.unique(baseline[:, j])), unique, per_feature_alpha))
        checks.append(
            FeatureCheck(
                name,
                baseline[:, j],
                current,
                int(missing[j]),
                int(bad[j]),
                distance,
                critical,
                bool(not math.isnan(distance) and distance > critical),
            )
        )
    return checks, {"rows": len(rows), "wrong_width_rows": wrong_width}


def _kll_like_buckets(values: np.ndarray, edges: np.ndarray) -> list[dict]:
    counts, _ = np.histogram(values, bins=edges)
    return [{"lower_bound": float(lo), "upper_bound": float(hi), "count": float(c)} for lo, hi, c in zip(edges[:-1], edges[1:], counts)]


def statistics_json(names: list[str], columns: list[np.ndarray], missing: list[int], item_count: int) -> dict:
    """Model Monitor's ``statistics.json`` (data quality, numerical features)."""
    features = []
    for name, values, gone in zip(names, columns, missing):
        if len(values):
            edges = np.linspace(values.min(), values.max(), 11) if values.max() > values.min() else np.array([values.min(), values.min() + 1e-9])
            stats = {
                "common": {"num_present": int(len(values)), "num_missing": int(gone)},
                "mean": float(values.mean()),
                "sum": float(values.sum()),
                "std_dev": float(values.std()),
                "min": float(values.min()),
                "max": float(values.max()),
                "distribution": {
                    "kll": {
                        "buckets": _kll_like_buckets(values, edges),
                        "sketch": {
                            "parameters": {"c": 0.64, "k": 2048.0},
                            "data": [np.quantile(values, np.linspace(0, 1, min(2048, len(values)))).tolist()],
                        },
                    }
                },
            }
        else:
            stats = {"common": {"num_present": 0, "num_missing": int(gone)}}
        features.append({"name": name, "inferred_type": "Fractional", "numerical_statistics": stats})
    return {"version": 0.0, "dataset": {"item_count": int(item_count)}, "features": features}


def constraints_json(names: list[str], baseline: np.ndarray, threshold: float) -> dict:
    """Model Monitor's ``constraints.json`` as its baseline job suggests it."""
    return {
        "version": 0.0,
        "features": [
            {"name": n, "inferred_type": "Fractional", "completeness": 1.0, "num_constraints": {"is_non_negative": bool((baseline[:, j] >= 0).all())}}
            for j, n in enumerate(names)
        ],
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": 1.0,
            "domain_content_threshold": 1.0,
            "distribution_constraints": {"perform_comparison": "Enabled", "comparison_threshold": threshold, "comparison_method": "Robust"},
        },
    }


def violations_json(checks: list[FeatureCheck], summary: dict, width: int) -> dict:
    violations = []
    for c in checks:
        if c.drift:
            violations.append(
                {
                    "feature_name": c.name,
                    "constraint_check_type": "baseline_drift_check",
                    "description": f"Baseline drift distance: {c.distance:.4f} exceeds threshold: {c.critical:.4f}",
                }
            )
        total = len(c.current) + c.missing + c.non_numeric
        if c.non_numeric:
            violations.append(
                {
                    "feature_name": c.name,
                    "constraint_check_type": "data_type_check",
                    "description": f"Data type match requirement is not met. Expected type: Fractional, {c.non_numeric} of {total} values are not numbers",
                }
            )
        if c.missing:
            violations.append(
                {
                    "feature_name": c.name,
                    "constraint_check_type": "completeness_check",
                    "description": f"Data completeness requirement is not met. Expected completeness: 1.0, observed: {len(c.current) / total if total else 0:.4f}",
                }
            )
    if summary["wrong_width_rows"]:
        violations.append(
            {
                "feature_name": "*",
                "constraint_check_type": "missing_column_check",
                "description": f"{summary['wrong_width_rows']} rows do not have the baseline's {width} columns",
            }
        )
    return {"violations": violations}


def _svg_histogram(baseline: np.ndarray, current: np.ndarray, width: int = 260, height: int = 70) -> str:
    values = np.concatenate([baseline, current]) if len(current) else baseline
    low, high = float(values.min()), float(values.max())
    edges = np.linspace(low, high if high > low else low + 1, 21)
    b, _ = np.histogram(baseline, bins=edges)
    c, _ = np.histogram(current, bins=edges)
    b = b / max(1, b.sum())
    c = c / max(1, c.sum())
    top = max(b.max(), c.max(), 1e-9)
    bar = width / 20
    shapes = []
    for i in range(20):
        for series, color, offset in ((b, "#4c78a8", 0.0), (c, "#f58518", 0.5)):
            h = series[i] / top * (height - 12)
            shapes.append(f'<rect x="{i * bar + offset * bar:.1f}" y="{height - h:.1f}" width="{bar / 2:.1f}" height="{h:.1f}" fill="{color}"/>')
    return f'<svg width="{width}" height="{height}" role="img">{"".join(shapes)}</svg>'


def html_report(checks: list[FeatureCheck], summary: dict) -> str:
    drifted = [c for c in checks if c.drift]
    rows = []
    for c in sorted(checks, key=lambda c: (not c.drift, -(0 if math.isnan(c.distance) else c.distance))):
        verdict = "DRIFT" if c.drift else "ok"
        rows.append(
            f"<tr class='{'drift' if c.drift else ''}'><td>{c.name}</td><td>{_svg_histogram(c.baseline, c.current)}</td>"
            f"<td>{c.distance:.4f}</td><td>{c.critical:.4f}</td><td>{c.missing}</td><td>{c.non_numeric}</td><td>{verdict}</td></tr>"
        )
    title = f"Data drift: {len(drifted)} of {len(checks)} features" if drifted else f"No data drift in {len(checks)} features"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}}
tr.drift td{{background:#fde2e2}}.key span{{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}}</style></head><body>
<h1>{title}</h1>
<p>{summary["records"]} captured records, {summary["rows"]} rows analysed, {summary["malformed"]} malformed lines skipped,
{summary["wrong_width_rows"]} rows with the wrong number of columns. Distance: Kolmogorov-Smirnov (largest CDF gap);
a feature drifts above max(threshold {summary["threshold"]}, chance level at alpha {summary["alpha"]}).</p>
<p class="key"><span style="background:#4c78a8"></span>baseline (training data)<span style="background:#f58518"></span>captured traffic</p>
<table><tr><th>feature</th><th>distribution</th><th>distance</th><th>limit</th><th>missing</th><th>not numeric</th><th>verdict</th></tr>
{"".join(rows)}</table></body></html>"""


def analyze(baseline_csv: Path, capture_dir: Path, output_dir: Path, *, threshold: float = DEFAULT_THRESHOLD, alpha: float = DEFAULT_ALPHA) -> dict:
    """Run the check and write statistics.json, constraints.json, constraint_violations.json and report.html."""
    with baseline_csv.open(encoding="utf-8") as fh:
        header = next(csv.reader([fh.readline()]))
        baseline = np.loadtxt(fh, delimiter=",", ndmin=2, dtype=np.float64)
    capture = read_capture(capture_dir, header)
    checks, counts = check(header, baseline, capture, threshold=threshold, alpha=alpha)
    summary = {
        "records": capture.records,
        "malformed": capture.malformed,
        "malformed_examples": capture.malformed_examples,
        "threshold": threshold,
        "alpha": alpha,
        **counts,
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "statistics.json").write_text(
        json.dumps(statistics_json(header, [c.current for c in checks], [c.missing for c in checks], counts["rows"]), indent=1)
    )
    (output_dir / "constraints.json").write_text(json.dumps(constraints_json(header, baseline, threshold), indent=1))
    (output_dir / "constraint_violations.json").write_text(json.dumps(violations_json(checks, counts, len(header)), indent=1))
    (output_dir / "report.html").write_text(html_report(checks, summary), encoding="utf-8")
    summary["drifted_features"] = [c.name for c in checks if c.drift]
    summary["distances"] = {c.name: round(c.distance, 4) for c in checks}
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, required=True, help="baseline.csv (features, header)")
    parser.add_argument("--capture", type=Path, required=True, help="folder of data-capture .jsonl files")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA)
    args = parser.parse_args(argv)
    if not args.baseline.exists():
        print(f"drift check failed: no baseline file {args.baseline}", file=sys.stderr)
        return 1
    summary = analyze(args.baseline, args.capture, args.output, threshold=args.threshold, alpha=args.alpha)
    print(json.dumps({k: summary[k] for k in ("records", "rows", "malformed", "drifted_features")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
