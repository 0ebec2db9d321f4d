"""Model quality from ground truth: join the labels that arrived with the captured predictions, score them with the
evaluation job's metric code, and say whether the model still passes the quality bar.

SageMaker Model Monitor's model-quality monitor did this, but it is closed to new customers
(https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-availability-change.html). Labels keep its documented
ground-truth layout (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-merge.html), so tools and
habits carry over. One JSON line per labelled event::

    {"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "aaaa-bbbb-cccc"}, "eventVersion": "0"}

in ``ground-truth/<endpoint>/yyyy/mm/dd/hh/<file>.jsonl`` of the capture bucket, the hour being when the labels were
written. ``data`` holds one label per row the captured request scored (CSV: comma- or newline-separated; JSON: a number
or a list). As the page says, an event is matched by the ``inferenceId`` its caller gave, else by its ``eventId``.

What one period ``[start, end)`` counts (``merge``):

- ``matched``: predictions of the period with a label that arrived within ``label_delay`` of the prediction. Only these
  are scored.
- ``unmatched``: predictions of the period without a label in time (none yet when the period was checked, or never).
- ``late``: predictions of the period whose label arrived, but more than ``label_delay`` after the prediction.
- ``elsewhere``: labels read (those written from ``start`` to ``end + label_delay``) that belong to no prediction of the
  period: another period's, or an id that was never captured.
- ``duplicates``: labels given again for an event already labelled (the one written last counts); ``malformed``: lines
  that are not ground-truth records, or whose labels do not match the prediction's rows (the reason is in the report).
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from mlops_container.contract import CLASSIFICATION_METRICS, QUALITY_PUBLISHED_COUNTS, quality_metric
from mlops_container.drift_read import utc_time
from mlops_container.metrics import HIGHER_IS_BETTER, classification_metrics, gate

FORMAT_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-merge.html"
# Where a label file's folder says when it was written (the capture's own hourly layout).
_HOUR_FOLDER = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]+$")
COUNTS = ("matched", "unmatched", "late", "elsewhere", "duplicates", "malformed")
MAX_PROBLEMS = 10  # the first reasons kept for the report: enough to fix a producer, never the whole file


class QualityError(ValueError):
    """Labels or predictions the check cannot score: what is wrong and what is expected."""


@dataclass
class Label:
    values: list[float]
    arrived: datetime  # the start of the hour folder it was written in


@dataclass
class Prediction:
    scores: list[float]
    time: datetime


@dataclass
class Read:
    """What a pass over the records found, beside the records themselves."""

    records: int = 0
    malformed: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)

    def reject(self, where: str, why: str) -> None:
        self.malformed += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{where}: {why}")


def arrival_hour(key: str) -> datetime:
    """When a label file was written, from its folder (``.../yyyy/mm/dd/hh/<file>``)."""
    match = _HOUR_FOLDER.search(key)
    if match is None:
        raise QualityError(f"label file {key}: expected it under a yyyy/mm/dd/hh/ folder ({FORMAT_DOC})")
    year, month, day, hour = (int(g) for g in match.groups())
    try:
        return datetime(year, month, day, hour, tzinfo=UTC)
    except ValueError:
        raise QualityError(f"label file {key}: its folder {'/'.join(match.groups())} is not a date and hour") from None


def _numbers(data: object, encoding: object) -> list[float]:
    if not isinstance(data, str):
        raise ValueError("groundTruthData.data must be a string")
    if encoding == "CSV":
        cells = [c.strip() for c in re.split(r"[,\n]", data.strip())]
        values = [float(c) for c in cells]
    elif encoding == "JSON":
        parsed = json.loads(data)
        values = [float(v) for v in (parsed if isinstance(parsed, list) else [parsed])]
    else:
        raise ValueError(f"groundTruthData.encoding {encoding!r}: expected CSV or JSON")
    if not values or any(math.isnan(v) or math.isinf(v) for v in values):
        raise ValueError("no label, or a label that is not a finite number")
    return values


def label_line(event_id: str, labels: Iterable[int]) -> str:
    """One ground-truth record in the documented layout (what ``parse_label`` reads): ``labels``, one per scored row."""
    truth = {"data": ",".join(str(v) for v in labels), "encoding": "CSV"}
    return json.dumps({"groundTruthData": truth, "eventMetadata": {"eventId": event_id}, "eventVersion": "0"})


def parse_label(line: str) -> tuple[str, list[float]]:
    """One ground-truth record: its event id and its labels. A ValueError says what is wrong."""
    record = json.loads(line)
    if not isinstance(record, dict):
        raise ValueError("a record must be a JSON object")
    if record.get("eventVersion") != "0":
        raise ValueError(f'eventVersion {record.get("eventVersion")!r}: expected "0"')
    truth, meta = record.get("groundTruthData"), record.get("eventMetadata")
    if not isinstance(truth, dict) or not isinstance(meta, dict):
        raise ValueError("expected groundTruthData and eventMetadata objects")
    event_id = meta.get("eventId")
    if not isinstance(event_id, str) or not event_id.strip():
        raise ValueError("eventMetadata.eventId must be a non-empty string")
    return event_id, _numbers(truth.get("data"), truth.get("encoding"))


def read_labels(files: Iterable[tuple[str, Iterable[str]]]) -> tuple[dict[str, Label], Read]:
    """Labels by event id from ``(key, lines)`` pairs, read in key order (the order they were written in): a label
    given again replaces the earlier one and counts as a duplicate."""
    labels: dict[str, Label] = {}
    read = Read()
    for key, lines in sorted(files, key=lambda f: f[0]):
        arrived = arrival_hour(key)
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            read.records += 1
            try:
                event_id, values = parse_label(line)
            except ValueError as exc:  # json.JSONDecodeError is one
                read.reject(f"{key} line {number}", str(exc))
                continue
            if event_id in labels:
                read.duplicates += 1
            labels[event_id] = Label(values, arrived)
    return labels, read


def _scores(output: dict) -> list[float]:
    """The scores an endpoint answered (``mlops_container.inference``'s formats: CSV lines, JSON ``predictions`` or
    JSON lines of ``{"score": ...}``), from a capture record's ``endpointOutput``."""
    data, encoding = output.get("data"), output.get("encoding")
    if not isinstance(data, str):
        raise ValueError("endpointOutput.data must be a string")
    text = base64.b64decode(data).decode("utf-8") if encoding == "BASE64" else data
    kind = str(output.get("observedContentType", "")).split(";", 1)[0].strip().lower()
    if kind == "text/csv" or encoding == "CSV":
        return [float(line.split(",", 1)[0]) for line in text.strip().splitlines() if line.strip()]
    if kind == "application/jsonlines":
        return [float(json.loads(line)["score"]) for line in text.strip().splitlines() if line.strip()]
    parsed = json.loads(text)
    rows = parsed["predictions"] if isinstance(parsed, dict) else parsed
    rows = rows if isinstance(rows, list) else [rows]
    return [float(r["score"] if isinstance(r, dict) else r) for r in rows]


def _time(text: object) -> datetime:
    when = utc_time(text) if isinstance(text, str) else None
    if when is None:
        raise ValueError("eventMetadata.inferenceTime is missing")
    return when


def _label_key(meta: dict) -> str:
    """The id a label names a captured prediction by: the caller's ``inferenceId``, else the ``eventId`` (the page above)."""
    return str(meta.get("inferenceId") or meta["eventId"])


def read_predictions(files: Iterable[tuple[str, Iterable[str]]]) -> tuple[dict[str, Prediction], Read]:
    """Captured predictions by the id labels name (``inferenceId`` when the caller gave one, else ``eventId``)."""
    predictions: dict[str, Prediction] = {}
    read = Read()
    for key, lines in files:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            read.records += 1
            try:
                record = json.loads(line)
                meta = record["eventMetadata"]
                predictions[_label_key(meta)] = Prediction(_scores(record["captureData"]["endpointOutput"]), _time(meta.get("inferenceTime")))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                read.reject(f"{key} line {number}", f"not a captured prediction ({exc})")
    return predictions, read


def event_ids(files: Iterable[tuple[str, Iterable[str]]], start: datetime | None, end: datetime | None) -> list[str]:
    """The ids labels may name of the captured records in ``[start, end)`` (all without a window), sorted: what a period's
    ``event-ids.json`` lists. Records that are not capture records are skipped (the drift report counts them)."""
    ids = set()
    for _, lines in files:
        for line in lines:
            try:
                meta = json.loads(line)["eventMetadata"]
                when = _time(meta.get("inferenceTime"))
                if (start is None or start <= when) and (end is None or when < end):
                    ids.add(_label_key(meta))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
    return sorted(ids)


@dataclass
class Merged:
    y_true: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    problems: list[str] = field(default_factory=list)


def merge(predictions: dict[str, Prediction], labels: dict[str, Label], start: datetime, end: datetime, label_delay: timedelta) -> Merged:
    """Join the period's predictions with their labels by id (see the module's counts)."""
    out = Merged()
    own = {i: p for i, p in predictions.items() if start <= p.time < end}
    for event_id, prediction in own.items():
        label = labels.get(event_id)
        if label is None:
            out.counts["unmatched"] += 1
        elif label.arrived > prediction.time + label_delay:
            out.counts["late"] += 1
        elif len(label.values) != len(prediction.scores):
            out.counts["malformed"] += 1
            if len(out.problems) < MAX_PROBLEMS:
                out.problems.append(f"event {event_id}: {len(label.values)} labels for {len(prediction.scores)} scored rows")
        else:
            out.counts["matched"] += 1
            out.y_true.extend(label.values)
            out.scores.extend(prediction.scores)
    out.counts["elsewhere"] = sum(1 for i in labels if i not in own)
    return out


def score(merged: Merged, metric: str, threshold: float, min_labels: int) -> dict:
    """The project's metric over the matched rows, with the evaluation job's code (``metrics.classification_metrics``), and
    the quality gate's verdict on it (``metrics.gate``): ``no labels`` below ``min_labels`` rows, when it says nothing."""
    if metric not in HIGHER_IS_BETTER:
        raise QualityError(f"unknown metric {metric!r}; allowed: {', '.join(HIGHER_IS_BETTER)}")
    rows = len(merged.y_true)
    result: dict = {"metric": metric, "threshold": threshold, "rows": rows, "min_labels": min_labels, "value": None}
    if rows < min_labels or rows == 0:
        return {**result, "status": "no labels", "verdict": f"{rows} labelled rows, fewer than the {min_labels} the check needs"}
    y = np.asarray(merged.y_true)
    if not set(np.unique(y).tolist()) <= {0.0, 1.0}:
        shown = ", ".join(str(v) for v in np.unique(y)[:10])
        raise QualityError(f"labels must be 0 or 1 (binary classification, as the model was trained); found {shown}")
    if metric not in CLASSIFICATION_METRICS:
        raise QualityError(f"metric {metric} is a regression metric; this image scores binary classifiers")
    values = classification_metrics(y.astype(np.int64), np.asarray(merged.scores))
    passed, verdict = gate(values, metric, threshold)
    value = values[metric]
    return {
        **result,
        "value": None if math.isnan(value) else value,
        "metrics": {k: (None if math.isnan(v) else v) for k, v in values.items()},
        "status": "passed" if passed else "below threshold",
        "verdict": verdict,
    }


def metric_lines(summary: dict, dimensions: dict[str, str], when: datetime) -> list[dict]:
    """CloudWatch metrics of one period: ``model_quality_<metric>`` (only when enough rows were labelled: the alarm reads
    it) and each count as ``model_quality_<count>``."""
    stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    dims = [{"Name": k, "Value": v} for k, v in dimensions.items() if v]
    lines = [
        {"MetricName": quality_metric(name), "Timestamp": stamp, "Dimensions": dims, "Value": float(summary["counts"][name])}
        for name in QUALITY_PUBLISHED_COUNTS
    ]
    if summary["value"] is not None:
        lines.insert(0, {"MetricName": quality_metric(summary["metric"]), "Timestamp": stamp, "Dimensions": dims, "Value": float(summary["value"])})
    return lines


def _shown(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def html_report(history: list[dict]) -> str:
    """The periods checked, oldest first, with the metric over time: a table and an inline SVG line (no library)."""
    rows = "".join(
        f"<tr><td>{html.escape(h['start'])}</td><td>{_shown(h['value'])}</td>"
        f"<td>{h['threshold']}</td><td>{html.escape(h['status'])}</td>" + "".join(f"<td>{h['counts'][c]}</td>" for c in COUNTS) + "</tr>"
        for h in history
    )
    points = [(i, h["value"]) for i, h in enumerate(history) if h["value"] is not None]
    line = ""
    if points:
        width, height = 420, 120
        step = width / max(1, len(history) - 1)
        coords = " ".join(f"{i * step:.1f},{height - v * height:.1f}" for i, v in points)
        bar = height - history[-1]["threshold"] * height
        line = (
            f'<svg width="{width}" height="{height}" role="img" aria-label="metric over time">'
            f'<line x1="0" x2="{width}" y1="{bar:.1f}" y2="{bar:.1f}" stroke="#c00" stroke-dasharray="4"/>'
            f'<polyline fill="none" stroke="#036" stroke-width="2" points="{coords}"/></svg>'
        )
    head = "".join(f"<th>{c}</th>" for c in ("period start", "value", "threshold", "status", *COUNTS))
    metric = html.escape(history[-1]["metric"]) if history else ""
    return f"<!doctype html><meta charset='utf-8'><title>Model quality</title><h1>Model quality: {metric}</h1>{line}<table>{head}{rows}</table>"
