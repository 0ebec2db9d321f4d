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
    assert quality.parse_label(label_line("e", "1", "JSON")) == ("e", [1.0])  # one JSON number
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


# -- exact behaviour, for make mutate (each test below failed with a mutant of mlops_container.quality that survived) --


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("[1]", "a record must be a JSON object"),
        (
            json.dumps({"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventVersion": "0"}),
            "expected groundTruthData and eventMetadata objects",
        ),
        (label_line(""), "eventMetadata.eventId must be a non-empty string"),
        (label_line("e", "1", "BASE64"), "groundTruthData.encoding 'BASE64': expected CSV or JSON"),
        (label_line("e", "nan"), "no label, or a label that is not a finite number"),
        (
            json.dumps({"groundTruthData": {"data": 1, "encoding": "CSV"}, "eventMetadata": {"eventId": "e"}, "eventVersion": "0"}),
            "groundTruthData.data must be a string",
        ),
    ],
)
def test_each_refusal_says_exactly_why(line, message):
    with pytest.raises(ValueError) as info:
        quality.parse_label(line)
    assert str(info.value) == message


def test_a_folder_that_is_no_date_is_named_whole():
    with pytest.raises(quality.QualityError) as info:
        quality.arrival_hour("ground-truth/ep/2026/13/01/10/a.jsonl")
    assert str(info.value) == "label file ground-truth/ep/2026/13/01/10/a.jsonl: its folder 2026/13/01/10 is not a date and hour"


def test_reading_goes_on_past_a_bad_line_and_counts_every_problem_keeping_the_first_ten():
    lines = ["garbage"] * 12 + [label_line("a", "1"), label_line("a", "0"), label_line("a", "1")]
    labels, read = quality.read_labels([(folder(T0), lines)])
    assert (read.records, read.malformed, read.duplicates) == (15, 12, 2) and labels["a"].values == [1.0]
    assert len(read.problems) == quality.MAX_PROBLEMS
    assert read.problems[0] == f"{folder(T0)} line 1: Expecting value: line 1 column 1 (char 0)"
    assert read.problems[9].startswith(f"{folder(T0)} line 10: ")
    captured = ["{broken", "", capture_line("x", T0), "[]", capture_line("y", T0)]
    predictions, cread = quality.read_predictions([("c/k.jsonl", captured)])
    assert set(predictions) == {"x", "y"} and (cread.records, cread.malformed) == (4, 2)
    assert cread.problems[0].startswith("c/k.jsonl line 1: not a captured prediction (") and cread.problems[1].startswith("c/k.jsonl line 4: ")


@pytest.mark.parametrize(
    ("output", "scores"),
    [
        ({"observedContentType": "text/csv; charset=utf-8", "encoding": "BASE64", "data": "MC43LDEsYQowLjIsMCxiCg=="}, [0.7, 0.2]),  # by type
        ({"encoding": "CSV", "data": "0.25\n0.5\n"}, [0.25, 0.5]),  # by encoding, no type recorded
        ({"observedContentType": "application/jsonlines;charset=utf-8", "encoding": "JSON", "data": '{"score": 0.7}\n{"score": 0.2}\n'}, [0.7, 0.2]),
        ({"observedContentType": "application/json", "encoding": "JSON", "data": "[0.1, 0.9]"}, [0.1, 0.9]),  # a plain list
        ({"observedContentType": "application/json", "encoding": "JSON", "data": "0.5"}, [0.5]),  # one number
        ({"observedContentType": "application/json", "encoding": "JSON", "data": '{"predictions": [0.3]}'}, [0.3]),
    ],
)
def test_each_way_an_answer_carries_its_scores(output, scores):
    assert quality._scores(output) == scores


def test_an_answer_without_data_is_refused_by_name():
    with pytest.raises(ValueError) as info:
        quality._scores({"encoding": "CSV"})
    assert str(info.value) == "endpointOutput.data must be a string"


def test_times_are_utc_whatever_the_machines_zone(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        naive = quality._time("2026-12-01T10:05:00")
        assert naive == T0 + timedelta(minutes=5) and naive.utcoffset() == timedelta(0)
        shifted = quality._time("2026-12-01T12:05:00+02:00")
        assert shifted == T0 + timedelta(minutes=5) and shifted.tzinfo == UTC
        with pytest.raises(ValueError) as info:
            quality._time(None)
        assert str(info.value) == "eventMetadata.inferenceTime is missing"
        when = datetime(2026, 12, 1, 12, tzinfo=datetime.now().astimezone().tzinfo)  # noon in Tokyo: 03:00 UTC
        (line,) = quality.metric_lines({"metric": "auc", "value": None, "counts": dict.fromkeys(quality.COUNTS, 1)}, {"Endpoint": "ep"}, when)[:1]
        assert line == {
            "MetricName": "model_quality_matched",
            "Timestamp": "2026-12-01T03:00:00Z",
            "Dimensions": [{"Name": "Endpoint", "Value": "ep"}],
            "Value": 1.0,
        }
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_merge_counts_each_event_and_ends_the_period_before_its_end():
    at_end = T0 + HOUR
    predictions = {
        **{f"u{i}": quality.Prediction([0.5], T0) for i in range(3)},  # three unlabelled
        **{f"l{i}": quality.Prediction([0.5], T0) for i in range(2)},  # two labelled late
        **{f"m{i}": quality.Prediction([0.5, 0.4], T0) for i in range(12)},  # twelve with one label for two rows
        "edge": quality.Prediction([0.5], at_end),  # the next period's
    }
    labels = {
        **{f"l{i}": quality.Label([1.0], T0 + 3 * HOUR) for i in range(2)},
        **{f"m{i}": quality.Label([1.0], T0) for i in range(12)},
        "edge": quality.Label([1.0], at_end),
    }
    merged = quality.merge(predictions, labels, T0, at_end, HOUR)
    assert merged.counts == {"matched": 0, "unmatched": 3, "late": 2, "elsewhere": 1, "duplicates": 0, "malformed": 12}
    assert len(merged.problems) == quality.MAX_PROBLEMS


def test_scores_report_every_field_and_say_nothing_of_a_metric_that_cannot_be():
    one = quality.score(quality.Merged(y_true=[1.0], scores=[0.9]), "accuracy", 0.5, 1)  # one row is enough when min_labels is 1
    assert (one["status"], one["value"], one["rows"]) == ("passed", 1.0, 1) and one["metrics"]["accuracy"] == 1.0
    single_class = quality.score(quality.Merged(y_true=[1.0, 1.0], scores=[0.9, 0.8]), "auc", 0.5, 1)
    assert single_class["value"] is None and single_class["metrics"]["auc"] is None and single_class["status"] == "below threshold"
    assert set(single_class) == {"metric", "threshold", "rows", "min_labels", "value", "metrics", "status", "verdict"}
    assert single_class["verdict"] == "auc is missing from the evaluation: the gate fails"
    empty = quality.score(quality.Merged(), "auc", 0.75, 1)
    assert empty == {
        "metric": "auc",
        "threshold": 0.75,
        "rows": 0,
        "min_labels": 1,
        "value": None,
        "status": "no labels",
        "verdict": "0 labelled rows, fewer than the 1 the check needs",
    }
    with pytest.raises(quality.QualityError) as info:
        quality.score(quality.Merged(y_true=[0, 2, 3], scores=[0.1, 0.9, 0.5]), "auc", 0.5, 1)
    assert str(info.value) == "labels must be 0 or 1 (binary classification, as the model was trained); found 0, 2, 3"
    with pytest.raises(quality.QualityError) as info:
        quality.score(quality.Merged(y_true=list(range(12)), scores=[0.5] * 12), "auc", 0.5, 1)
    assert str(info.value).endswith("found 0, 1, 2, 3, 4, 5, 6, 7, 8, 9")  # the first ten
    with pytest.raises(quality.QualityError) as info:
        quality.score(quality.Merged(y_true=[0], scores=[0.1]), "auroc", 0.5, 1)
    assert str(info.value) == "unknown metric 'auroc'; allowed: auc, accuracy, f1, precision, recall, r2, rmse, mae"


def test_the_report_is_exactly_this_page():
    counts = dict.fromkeys(quality.COUNTS, 0)
    history = [
        {"start": "s1", "value": 0.9, "threshold": 0.75, "status": "passed", "metric": "auc", "counts": {**counts, "matched": 5}},
        {"start": "s<2>", "value": None, "threshold": 0.75, "status": "no labels", "metric": "auc", "counts": counts},
        {"start": "s3", "value": 0.5, "threshold": 0.75, "status": "below threshold", "metric": "auc", "counts": counts},
    ]
    head = "".join(f"<th>{c}</th>" for c in ("period start", "value", "threshold", "status", *quality.COUNTS))
    rows = (
        "<tr><td>s1</td><td>0.9000</td><td>0.75</td><td>passed</td><td>5</td>" + "<td>0</td>" * 5 + "</tr>"
        "<tr><td>s&lt;2&gt;</td><td></td><td>0.75</td><td>no labels</td>" + "<td>0</td>" * 6 + "</tr>"
        "<tr><td>s3</td><td>0.5000</td><td>0.75</td><td>below threshold</td>" + "<td>0</td>" * 6 + "</tr>"
    )
    svg = (
        '<svg width="420" height="120" role="img" aria-label="metric over time">'
        '<line x1="0" x2="420" y1="30.0" y2="30.0" stroke="#c00" stroke-dasharray="4"/>'
        '<polyline fill="none" stroke="#036" stroke-width="2" points="0.0,12.0 420.0,60.0"/></svg>'
    )
    expected = f"<!doctype html><meta charset='utf-8'><title>Model quality</title><h1>Model quality: auc</h1>{svg}<table>{head}{rows}</table>"
    assert quality.html_report(history) == expected
    assert "<svg" not in quality.html_report([history[1]])  # nothing to plot without a value
    two = quality.html_report([history[0], {**history[2], "threshold": 0.5}])  # the bar is the latest period's
    assert 'points="0.0,12.0 420.0,60.0"' in two and 'y1="60.0"' in two
    assert quality.html_report([]).endswith("<h1>Model quality: </h1><table>" + head + "</table>")


def test_a_periods_event_ids_are_those_labels_may_name():
    """What the check writes beside a period's reports (event-ids.json): the inferenceId a caller gave, else the eventId,
    of the records inside the period, sorted; other lines skipped."""
    inside, before = T0 + timedelta(minutes=10), T0 - timedelta(minutes=1)
    lines = [capture_line("ev-2", inside), capture_line("ev-1", inside, inference_id="order-1"), capture_line("ev-0", before), "not json", "[]"]
    assert quality.event_ids([("k", lines)], T0, T0 + HOUR) == ["ev-2", "order-1"]
    assert quality.event_ids([("k", lines)], None, None) == ["ev-0", "ev-2", "order-1"]
    assert quality.event_ids([("k", [capture_line("edge", T0 + HOUR)])], T0, T0 + HOUR) == []
