"""The drift check's ``report.html`` (``mlops_container.drift``): each feature's verdict, distance and histograms
(inline SVG, no library), and the violations."""

from __future__ import annotations

import math

import numpy as np

from mlops_container.drift_checks import FeatureCheck

NO_DATA = "no data"  # a summary's status when the period held no row to check


def _sorted_histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(values, edges)`` of sorted ``values`` (the last bin closed), by bisection instead of a pass."""
    cuts = np.searchsorted(values, edges[1:-1], side="left")
    return np.diff(np.concatenate([[np.searchsorted(values, edges[0], side="left")], cuts, [np.searchsorted(values, edges[-1], side="right")]]))


def _svg_histogram(baseline: np.ndarray, current: np.ndarray, width: int = 260, height: int = 70) -> str:
    """Both distributions over 20 shared bins; the profiles' values are sorted, so each bin is two bisections."""
    ends = [v[[0, -1]] for v in (baseline, current) if len(v)]
    if not len(baseline):
        return ""
    low, high = float(min(e[0] for e in ends)), float(max(e[1] for e in ends))
    edges = np.linspace(low, high if high > low else low + 1, 21)
    b = _sorted_histogram(baseline, edges)
    c = _sorted_histogram(current, edges) if len(current) else np.zeros(20)
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


def html_report(checks: list[FeatureCheck], violations: list[dict], summary: dict) -> str:
    drifted = [c for c in checks if c.drift]
    flagged: dict[str, list[str]] = {}
    for v in violations:
        flagged.setdefault(v["feature_name"], []).append(v["constraint_check_type"])
    rows = []
    for c in sorted(checks, key=lambda c: (not c.drift, -(0 if math.isnan(c.distance) else c.distance))):
        empty = np.empty(0)
        picture = _svg_histogram(
            c.baseline.values if c.baseline and c.baseline.values is not None else empty,
            c.current.values if c.current and c.current.values is not None else empty,
        )
        kind = c.current.inferred_type if c.current else "absent"
        missing = c.current.missing if c.current else "-"
        rows.append(
            f"<tr class='{'drift' if c.drift else ''}'><td>{c.name}</td><td>{kind}</td><td>{picture}</td><td>{c.distance:.4f}</td>"
            f"<td>{c.limit:.4f}</td><td>{missing}</td><td>{', '.join(flagged.get(c.name, [])) or 'ok'}</td></tr>"
        )
    if summary.get("status") == NO_DATA:
        title = "No data: nothing was captured in this period"
    elif drifted:
        title = f"Data drift: {len(drifted)} of {len(checks)} features"
    else:
        title = f"No data drift in {len(checks)} features"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}}
tr.drift td{{background:#fde2e2}}.key span{{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}}</style></head><body>
<h1>{title}</h1>
<p>{summary["records"]} captured records, {summary["rows"]} rows analysed, {summary["malformed"]} malformed lines skipped,
{len(violations)} violations. Distance: Kolmogorov-Smirnov (numbers), L-infinity of category frequencies (strings);
a numeric feature drifts above max(threshold, chance level at alpha {summary["alpha"]}).</p>
<p class="key"><span style="background:#4c78a8"></span>baseline<span style="background:#f58518"></span>captured traffic</p>
<table><tr><th>feature</th><th>type</th><th>distribution</th><th>distance</th><th>limit</th><th>missing</th><th>violations</th></tr>
{"".join(rows)}</table></body></html>"""


# -- end to end ------------------------------------------------------------------------------------------------
