"""Model quality from ground truth (mlops_container.quality, and the check's quality request): the merge in Model Monitor's
documented ground-truth layout, the counts, and the metric against the evaluation job's on the same rows.

The records here are written from the documented formats
(https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-merge.html for labels, the capture record of
``mlops_container.capture`` for predictions), not copied from anywhere."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from mlops_container import capture, evaluate, inference, quality
from mlops_container.data import read_channel

T0 = datetime(2026, 12, 1, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)


def label_line(event_id: str, data: str = "1", encoding: str = "CSV", **extra) -> str:
    return json.dumps({"groundTruthData": {"data": data, "encoding": encoding}, "eventMetadata": {"eventId": event_id}, "eventVersion": "0", **extra})


def capture_line(event_id: str, when: datetime, scores: str = "0.9\n", inference_id: str | None = None) -> str:
    record = capture.capture_record(b"1.0,2.0", "text/csv", scores.encode(), "text/csv", event_id=event_id, when=when)
    if inference_id is not None:
        record["eventMetadata"]["inferenceId"] = inference_id
    return json.dumps(record)


def folder(when: datetime, name: str = "labels.jsonl") -> str:
    return f"ground-truth/ep/{when:%Y/%m/%d/%H}/{name}"


def test_the_documented_record_parses():
    # the page's own example record
    line = '{"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "aaaa-bbbb-cccc"}, "eventVersion": "0"}'
    assert quality.parse_label(line) == ("aaaa-bbbb-cccc", [1.0])
    assert quality.parse_label(label_line("e", "[0, 1]", "JSON")) == ("e", [0.0, 1.0])
    assert quality.parse_label(label_line("e", "0,1\n1")) == ("e", [0.0, 1.0, 1.0])


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not json", "Expecting value"),
        ("[1]", "a record must be a JSON object"),
        (label_line("e").replace('"eventVersion": "0"', '"eventVersion": "1"'), "eventVersion '1'"),
        (json.dumps({"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventVersion": "0"}), "expected groundTruthData and eventMetadata"),
        (label_line(""), "eventId must be a non-empty string"),
        (label_line("e", "yes"), "could not convert"),
        (label_line("e", "1", "BASE64"), "expected CSV or JSON"),
        (label_line("e", "nan"), "not a finite number"),
    ],
)
def test_a_bad_record_says_why(line, reason):
    with pytest.raises(ValueError, match=reason):
        quality.parse_label(line)


def test_the_folder_says_when_a_label_arrived():
    assert quality.arrival_hour("ground-truth/ep/2026/12/01/10/a.jsonl") == T0
    with pytest.raises(quality.QualityError, match="yyyy/mm/dd/hh"):
        quality.arrival_hour("ground-truth/ep/labels.jsonl")
    with pytest.raises(quality.QualityError, match="not a date and hour"):
        quality.arrival_hour("ground-truth/ep/2026/13/01/10/a.jsonl")


def test_merge_counts_matched_unmatched_late_elsewhere_duplicates_and_malformed():
    delay = timedelta(hours=2)
    captured = [
        capture_line("a", T0 + timedelta(minutes=5), "0.9\n"),
        capture_line("b", T0 + timedelta(minutes=10), "0.2\n"),
        capture_line("c", T0 + timedelta(minutes=15), "0.7\n"),  # never labelled
        capture_line("d", T0 + timedelta(minutes=20), "0.6\n"),  # labelled too late
        capture_line("e", T0 + timedelta(minutes=25), "0.1\n0.8\n"),  # two rows, one label: malformed
        capture_line("ignored", T0 + timedelta(minutes=30), "0.4\n", inference_id="caller-1"),  # matched by inferenceId
        capture_line("before", T0 - timedelta(minutes=1)),  # the previous period's
        "{broken",
    ]
    predictions, captured_read = quality.read_predictions([("capture/ep/x.jsonl", captured)])
    assert captured_read.records == 8 and captured_read.malformed == 1 and "not a captured prediction" in captured_read.problems[0]
    assert set(predictions) == {"a", "b", "c", "d", "e", "caller-1", "before"}
    files = [
        (folder(T0 + HOUR), [label_line("a", "0"), label_line("b", "0"), label_line("e", "1"), label_line("caller-1", "1")]),
        (folder(T0), [label_line("a", "1"), label_line("before", "1"), "", "garbage"]),  # written first: a's is replaced
        (folder(T0 + 3 * HOUR), [label_line("d", "1"), label_line("never-captured", "1")]),
    ]
    labels, read = quality.read_labels(files)
    assert read.duplicates == 1 and read.malformed == 1 and read.records == 9
    assert labels["a"].values == [0.0] and labels["a"].arrived == T0 + HOUR  # the one written last counts
    merged = quality.merge(predictions, labels, T0, T0 + HOUR, delay)
    assert merged.counts == {"matched": 3, "unmatched": 1, "late": 1, "elsewhere": 2, "duplicates": 0, "malformed": 1}
    assert sorted(zip(merged.scores, merged.y_true)) == [(0.2, 0.0), (0.4, 1.0), (0.9, 0.0)]
    assert "event e: 1 labels for 2 scored rows" in merged.problems[0]


def test_a_label_exactly_at_the_delay_is_in_time():
    predictions, _ = quality.read_predictions([("k", [capture_line("a", T0)])])
    labels, _ = quality.read_labels([(folder(T0 + HOUR), [label_line("a", "1")])])
    assert quality.merge(predictions, labels, T0, T0 + HOUR, HOUR).counts["matched"] == 1
    assert quality.merge(predictions, labels, T0, T0 + HOUR, HOUR - timedelta(seconds=1)).counts["late"] == 1


def test_scores_are_read_from_each_answer_format():
    def scores(data: str, kind: str, encoding: str) -> list[float]:
        return quality._scores({"observedContentType": kind, "data": data, "encoding": encoding})

    assert scores("0.25\n0.5\n", "text/csv", "CSV") == [0.25, 0.5]
    assert scores('{"predictions": [{"score": 0.25, "label": 0}]}', "application/json", "JSON") == [0.25]
    assert scores('{"score": 0.75, "label": 1}\n', "application/jsonlines", "JSON") == [0.75]
    assert scores("MC4yNQo=", "text/csv", "BASE64") == [0.25]


def _merged(y: list[float], s: list[float]) -> quality.Merged:
    return quality.Merged(y_true=y, scores=s)


def test_the_verdict_is_the_quality_gates_with_its_direction_and_minimum():
    merged = _merged([0, 1, 1, 0], [0.1, 0.9, 0.4, 0.6])  # accuracy 0.5
    at_bar = quality.score(merged, "accuracy", 0.5, 4)
    assert (at_bar["status"], at_bar["value"]) == ("passed", 0.5)  # >= as the gate: exactly at the threshold passes
    below = quality.score(merged, "accuracy", 0.51, 4)
    assert below["status"] == "below threshold" and "required >= 0.51" in below["verdict"]
    too_few = quality.score(merged, "accuracy", 0.5, 5)
    assert (too_few["status"], too_few["value"]) == ("no labels", None)
    with pytest.raises(quality.QualityError, match="must be 0 or 1"):
        quality.score(_merged([0, 2], [0.1, 0.9]), "accuracy", 0.5, 1)
    with pytest.raises(quality.QualityError, match="regression metric"):
        quality.score(merged, "rmse", 0.5, 1)
    with pytest.raises(quality.QualityError, match="unknown metric"):
        quality.score(merged, "auroc", 0.5, 1)


def test_the_metric_equals_the_evaluation_jobs_on_the_same_rows(ml_root, processed):
    """The held-out split scored by the evaluation job, and the same rows served, captured and labelled."""
    model = evaluate.load_model(ml_root / "model")
    evaluation = evaluate.evaluate(model, processed / "test")
    test = read_channel(processed / "test", target=model.metadata.target)
    scores = model.scores(test.X)
    when = T0 + timedelta(minutes=1)
    captured = [capture_line(f"ev-{i}", when, inference.csv_score(s) + "\n") for i, s in enumerate(scores)]  # as served
    labels = [label_line(f"ev-{i}", str(int(y))) for i, y in enumerate(test.y)]
    predictions, _ = quality.read_predictions([("c", captured)])
    labelled, _ = quality.read_labels([(folder(T0), labels)])
    merged = quality.merge(predictions, labelled, T0, T0 + HOUR, HOUR)
    assert merged.counts["matched"] == len(test.y) == evaluation["samples"]
    for metric in ("auc", "accuracy", "f1", "precision", "recall"):
        scored = quality.score(merged, metric, 0.0, 1)
        assert scored["value"] == pytest.approx(evaluation["metrics"][metric], abs=1e-12), metric


def test_metrics_lines_leave_the_metric_out_without_enough_labels():
    summary = {"metric": "auc", "value": None, "counts": dict.fromkeys(quality.COUNTS, 0)}
    names = [m["MetricName"] for m in quality.metric_lines(summary, {"Endpoint": "ep", "MonitoringSchedule": "ep-dq"}, T0)]
    assert names == ["model_quality_matched", "model_quality_unmatched", "model_quality_late"]
    lines = quality.metric_lines({**summary, "value": 0.8}, {"Endpoint": "ep", "MonitoringSchedule": ""}, T0)
    assert lines[0] == {
        "MetricName": "model_quality_auc",
        "Timestamp": "2026-12-01T10:00:00Z",
        "Dimensions": [{"Name": "Endpoint", "Value": "ep"}],
        "Value": 0.8,
    }


def test_the_report_shows_the_metric_over_time():
    history = [
        {
            "start": f"2026-12-01T{h:02d}:00:00Z",
            "value": v,
            "threshold": 0.75,
            "status": s,
            "metric": "auc",
            "counts": dict.fromkeys(quality.COUNTS, 1),
        }
        for h, v, s in ((10, 0.9, "passed"), (11, None, "no labels"), (12, 0.6, "below threshold"))
    ]
    page = quality.html_report(history)
    assert page.count("<tr><td>") == 3 and "0.9000" in page and "below threshold" in page and "<polyline" in page
    assert page.count(",") >= 2  # two points plotted: the period without labels has none
