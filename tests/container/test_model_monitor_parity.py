"""The drift check reads and writes what Model Monitor does: types, string features, every documented check type,
every capture encoding and request layout, and Model Monitor's own baseline files. Fixtures are written here from
the documented formats (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-interpreting-violations.html,
model-monitor-byoc-statistics.html, model-monitor-byoc-constraints.html, model-monitor-data-capture.html)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from mlops_container import drift


def _record(data: str, content_type: str = "text/csv", encoding: str = "CSV") -> dict:
    return {
        "captureData": {
            "endpointInput": {"observedContentType": content_type, "mode": "INPUT", "data": data, "encoding": encoding},
            "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT", "data": "0.5", "encoding": "CSV"},
        },
        "eventMetadata": {"eventId": "e", "inferenceTime": "2026-11-24T10:00:00Z"},
        "eventVersion": "0",
    }


def _capture(root: Path, records: list[dict]) -> Path:
    folder = root / "capture" / "ep" / "AllTraffic" / "2026" / "11" / "24" / "10"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "00-000-x.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return root / "capture"


def _baseline(root: Path, header: list[str], rows: list[list]) -> Path:
    path = root / "baseline.csv"
    path.write_text("\n".join([",".join(header), *(",".join(str(v) for v in r) for r in rows)]) + "\n")
    return path


def _violations(out: Path) -> list[dict]:
    return json.loads((out / "constraint_violations.json").read_text())["violations"]


def _kinds(out: Path) -> set[tuple[str, str]]:
    return {(v["feature_name"], v["constraint_check_type"]) for v in _violations(out)}


@pytest.fixture
def mixed(tmp_path):
    """A baseline with an integer, a fractional and a string feature."""
    rng = np.random.default_rng(0)
    rows = [[int(rng.integers(0, 5)), round(float(rng.normal()), 4), ["red", "green", "blue"][i % 3]] for i in range(600)]
    return _baseline(tmp_path, ["count", "score", "colour"], rows), rows


def test_types_are_inferred_and_a_string_baseline_does_not_crash(tmp_path, mixed):
    baseline, rows = mixed
    capture = _capture(tmp_path, [_record("\n".join(",".join(str(v) for v in r) for r in rows[:300]))])
    drift.analyze(baseline, capture, tmp_path / "out")
    constraints = json.loads((tmp_path / "out" / "constraints.json").read_text())
    assert [(f["name"], f["inferred_type"]) for f in constraints["features"]] == [
        ("count", "Integral"),
        ("score", "Fractional"),
        ("colour", "String"),
    ]
    assert constraints["features"][2]["string_constraints"] == {"domains": ["blue", "green", "red"]}
    assert constraints["features"][0]["num_constraints"] == {"is_non_negative": True}
    stats = {f["name"]: f for f in json.loads((tmp_path / "out" / "statistics.json").read_text())["features"]}
    colour = stats["colour"]["string_statistics"]
    assert colour["common"] == {"num_present": 300, "num_missing": 0} and colour["distinct_count"] == 3.0
    assert sorted(b["value"] for b in colour["distribution"]["categorical"]["buckets"]) == ["blue", "green", "red"]
    assert stats["count"]["inferred_type"] == "Integral" and stats["count"]["numerical_statistics"]["max"] <= 4
    assert _violations(tmp_path / "out") == []


def test_fractions_in_an_integral_column_fail_the_data_type_check_in_model_monitors_words(tmp_path, mixed):
    baseline, rows = mixed
    changed = [[r[0] + (0.5 if i % 10 == 0 else 0), r[1], r[2]] for i, r in enumerate(rows[:300])]
    capture = _capture(tmp_path, [_record("\n".join(",".join(str(v) for v in r) for r in changed))])
    drift.analyze(baseline, capture, tmp_path / "out")
    (violation,) = [v for v in _violations(tmp_path / "out") if v["constraint_check_type"] == "data_type_check"]
    assert violation["feature_name"] == "count"
    assert violation["description"] == (
        "Data type match requirement is not met. Expected data type: Integral, Expected match: 100.0%. Observed: Only 0.9% of data is Integral."
    )


def test_unknown_categories_and_a_changed_mix_are_found(tmp_path, mixed):
    baseline, rows = mixed
    changed = [[r[0], r[1], "purple" if i % 4 == 0 else "red"] for i, r in enumerate(rows[:300])]
    capture = _capture(tmp_path, [_record("\n".join(",".join(str(v) for v in r) for r in changed))])
    summary = drift.analyze(baseline, capture, tmp_path / "out")
    assert {("colour", "categorical_values_check"), ("colour", "baseline_drift_check")} <= _kinds(tmp_path / "out")
    assert summary["drifted_features"] == ["colour"]
    assert summary["distances"]["colour"] == pytest.approx(0.75 - 1 / 3, abs=0.01)  # L-infinity: red 75% now, a third before


def test_wider_rows_are_extra_columns_and_a_narrower_dataset_has_missing_columns(tmp_path, mixed):
    baseline, rows = mixed
    wide = _capture(tmp_path / "wide", [_record("\n".join(",".join(str(v) for v in [*r, 7]) for r in rows[:100]))])
    drift.analyze(baseline, wide, tmp_path / "wide-out")
    assert ("_c3", "extra_column_check") in _kinds(tmp_path / "wide-out")
    assert not any(k == "missing_column_check" for _, k in _kinds(tmp_path / "wide-out"))
    narrow = _capture(tmp_path / "narrow", [_record("\n".join(",".join(str(v) for v in r[:2]) for r in rows[:100]))])
    drift.analyze(baseline, narrow, tmp_path / "narrow-out")
    (missing,) = [v for v in _violations(tmp_path / "narrow-out") if v["constraint_check_type"] == "missing_column_check"]
    assert missing["feature_name"] == "colour"
    assert missing["description"] == (
        "There are missing columns in current dataset. Number of columns in current dataset: 2, Number of columns in baseline constraints: 3"
    )


@pytest.mark.parametrize(
    ("data", "content_type", "encoding"),
    [
        ('{"instances": [{"features": [1, 0.5, "red"]}, {"features": [2, 0.25, "blue"]}]}', "application/json", "JSON"),
        ('{"instances": [[1, 0.5, "red"], [2, 0.25, "blue"]]}', "application/json", "JSON"),
        ('{"instances": [{"count": 1, "score": 0.5, "colour": "red"}, {"count": 2, "score": 0.25, "colour": "blue"}]}', "application/json", "JSON"),
        ('[[1, 0.5, "red"], [2, 0.25, "blue"]]', "application/json", "JSON"),
        ('{"features": [1, 0.5, "red"]}\n{"features": [2, 0.25, "blue"]}', "application/jsonlines", "JSON"),
        ('[1, 0.5, "red"]\n{"count": 2, "score": 0.25, "colour": "blue"}', "application/jsonlines", "JSON"),
        ("1,0.5,red\n2,0.25,blue", "text/csv", "CSV"),
        (base64.b64encode(b"1,0.5,red\n2,0.25,blue").decode(), "text/csv", "BASE64"),
        (base64.b64encode(b'{"instances": [[1, 0.5, "red"], [2, 0.25, "blue"]]}').decode(), "application/json", "BASE64"),
    ],
)
def test_every_encoding_and_request_layout_gives_every_value(tmp_path, mixed, data, content_type, encoding):
    baseline, _ = mixed
    capture = _capture(tmp_path, [_record(data, content_type, encoding)] * 3)
    summary = drift.analyze(baseline, capture, tmp_path / "out")
    assert summary["rows"] == 6 and summary["malformed"] == 0
    stats = {f["name"]: f for f in json.loads((tmp_path / "out" / "statistics.json").read_text())["features"]}
    assert list(stats) == ["count", "score", "colour"]
    assert stats["count"]["inferred_type"] == "Integral" and stats["count"]["numerical_statistics"]["sum"] == 9.0
    assert stats["score"]["numerical_statistics"]["sum"] == pytest.approx(2.25)
    assert stats["colour"]["string_statistics"]["common"] == {"num_present": 6, "num_missing": 0}


def _model_monitor_baseline(root: Path) -> tuple[Path, Path]:
    """statistics.json and constraints.json as Model Monitor's baseline job writes them (documented schemas)."""
    values = np.linspace(0, 10, 2048).tolist()
    statistics = {
        "version": 0.0,
        "dataset": {"item_count": 2048},
        "features": [
            {
                "name": "score",
                "inferred_type": "Fractional",
                "numerical_statistics": {
                    "common": {"num_present": 2048, "num_missing": 0},
                    "mean": 5.0,
                    "sum": 10240.0,
                    "std_dev": 2.9,
                    "min": 0.0,
                    "max": 10.0,
                    "distribution": {
                        "kll": {
                            "buckets": [{"lower_bound": 0.0, "upper_bound": 10.0, "count": 2048.0}],
                            "sketch": {"parameters": {"c": 0.64, "k": 2048.0}, "data": [values]},
                        }
                    },
                },
            },
            {
                "name": "colour",
                "inferred_type": "String",
                "string_statistics": {
                    "common": {"num_present": 2048, "num_missing": 0},
                    "distinct_count": 2.0,
                    "distribution": {"categorical": {"buckets": [{"value": "red", "count": 1024}, {"value": "blue", "count": 1024}]}},
                },
            },
        ],
    }
    constraints = {
        "version": 0.0,
        "features": [
            {"name": "score", "inferred_type": "Fractional", "completeness": 1.0, "num_constraints": {"is_non_negative": True}},
            {"name": "colour", "inferred_type": "String", "completeness": 1.0, "string_constraints": {"domains": ["blue", "red"]}},
        ],
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": 1.0,
            "domain_content_threshold": 1.0,
            "distribution_constraints": {"perform_comparison": "Enabled", "comparison_threshold": 0.1, "comparison_method": "Robust"},
        },
    }
    (root / "statistics.json").write_text(json.dumps(statistics))
    (root / "constraints.json").write_text(json.dumps(constraints))
    return root / "statistics.json", root / "constraints.json"


def _shifted_capture(root: Path) -> Path:
    rows = [f"{v},{'red' if i % 2 else 'blue'}" for i, v in enumerate(np.linspace(3, 13, 1000))]
    return _capture(root, [_record("\n".join(rows))])


def test_model_monitors_own_baseline_files_are_used(tmp_path):
    statistics, constraints = _model_monitor_baseline(tmp_path)
    summary = drift.analyze(None, _shifted_capture(tmp_path), tmp_path / "out", baseline_statistics=statistics, baseline_constraints=constraints)
    assert summary["drifted_features"] == ["score"]
    assert summary["distances"]["score"] == pytest.approx(0.3, abs=0.01)  # against the sketch's CDF
    assert json.loads((tmp_path / "out" / "constraints.json").read_text()) == json.loads(constraints.read_text())


def test_edited_constraints_apply_as_written(tmp_path):
    statistics, constraints = _model_monitor_baseline(tmp_path)
    edited = json.loads(constraints.read_text())
    edited["monitoring_config"]["distribution_constraints"]["comparison_threshold"] = 0.5
    edited["features"][1]["string_constraints"]["domains"] = ["red"]
    constraints.write_text(json.dumps(edited))
    summary = drift.analyze(None, _shifted_capture(tmp_path), tmp_path / "out", baseline_statistics=statistics, baseline_constraints=constraints)
    assert summary["drifted_features"] == []  # 0.3 is under the edited threshold
    assert ("colour", "categorical_values_check") in _kinds(tmp_path / "out")  # blue is outside the edited domain
    edited["monitoring_config"]["distribution_constraints"]["perform_comparison"] = "Disabled"
    edited["monitoring_config"]["evaluate_constraints"] = "Disabled"
    constraints.write_text(json.dumps(edited))
    drift.analyze(None, _shifted_capture(tmp_path), tmp_path / "out2", baseline_statistics=statistics, baseline_constraints=constraints)
    assert _violations(tmp_path / "out2") == []


def test_a_statistics_file_given_as_the_data_set_is_a_clear_error(tmp_path, capsys):
    statistics, _ = _model_monitor_baseline(tmp_path)
    capture = _shifted_capture(tmp_path)
    code = drift.main(["--baseline", str(statistics), "--capture", str(capture), "--output", str(tmp_path / "out")])
    assert code == 1 and "pass it as --baseline-statistics" in capsys.readouterr().err
    code = drift.main(["--baseline-statistics", str(statistics), "--capture", str(capture), "--output", str(tmp_path / "out")])
    assert code == 0


def test_a_json_lines_baseline_data_set(tmp_path):
    baseline = tmp_path / "baseline.jsonl"
    baseline.write_text("".join(json.dumps({"count": i % 5, "colour": ["red", "blue"][i % 2]}) + "\n" for i in range(200)))
    capture = _capture(tmp_path, [_record("\n".join(f"{i % 5},{['red', 'blue'][i % 2]}" for i in range(100)))])
    summary = drift.analyze(baseline, capture, tmp_path / "out")
    assert summary["violations"] == 0
    types = [f["inferred_type"] for f in json.loads((tmp_path / "out" / "constraints.json").read_text())["features"]]
    assert types == ["Integral", "String"]


def test_padded_cells_and_padded_missing_values_read_as_model_monitor_reads_them(tmp_path, mixed):
    baseline, _ = mixed
    capture = _capture(tmp_path, [_record(" 1 , 0.5 , red \n2, nan ,blue\n 3,0.25, ")])
    summary = drift.analyze(baseline, capture, tmp_path / "out")
    stats = {f["name"]: f for f in json.loads((tmp_path / "out" / "statistics.json").read_text())["features"]}
    assert summary["rows"] == 3
    assert stats["count"]["inferred_type"] == "Integral" and stats["count"]["numerical_statistics"]["sum"] == 6.0
    assert stats["score"]["numerical_statistics"]["common"] == {"num_present": 2, "num_missing": 1}
    assert stats["colour"]["string_statistics"]["common"] == {"num_present": 2, "num_missing": 1}
    assert sorted(b["value"] for b in stats["colour"]["string_statistics"]["distribution"]["categorical"]["buckets"]) == ["blue", "red"]


def test_a_file_read_columnar_and_one_read_line_by_line_give_the_same_result(tmp_path, mixed):
    """A malformed line sends its file down the line-by-line path: apart from that line, the result is the same."""
    baseline, rows = mixed
    records = [_record("\n".join(",".join(str(v) for v in r) for r in rows[i : i + 3])) for i in range(0, 120, 3)]
    records.insert(5, _record('{"instances": [[1, 0.5, "red"]]}', "application/json", "JSON"))
    clean = drift.analyze(baseline, _capture(tmp_path / "a", records), tmp_path / "a-out")
    broken = _capture(tmp_path / "b", records)
    with next(broken.rglob("*.jsonl")).open("a") as fh:
        fh.write("{not json\n")
    dirty = drift.analyze(baseline, broken, tmp_path / "b-out")
    assert (clean["malformed"], dirty["malformed"]) == (0, 1) and clean["rows"] == dirty["rows"] == 121
    statistics = [json.loads((tmp_path / out / "statistics.json").read_text()) for out in ("a-out", "b-out")]
    assert statistics[0] == statistics[1]


def test_numbers_read_as_numbers_are_still_typed_by_how_they_are_written(tmp_path):
    """All-numeric CSV traffic is read straight into numbers; "3.0" is still Fractional text, "3" Integral."""
    baseline = _baseline(tmp_path, ["count", "score"], [[i % 4, i / 7] for i in range(100)])
    capture = _capture(tmp_path, [_record("3.0,0.5\n2,0.25\n1,0.75\n0,1.5")])
    drift.analyze(baseline, capture, tmp_path / "out")
    stats = {f["name"]: f["inferred_type"] for f in json.loads((tmp_path / "out" / "statistics.json").read_text())["features"]}
    assert stats == {"count": "Fractional", "score": "Fractional"}
    (violation,) = [v for v in _violations(tmp_path / "out") if v["constraint_check_type"] == "data_type_check"]
    assert violation["feature_name"] == "count" and "Observed: Only 0.75% of data is Integral." in violation["description"]


def test_fractions_in_an_integral_column_of_numeric_traffic_are_counted_from_the_text(tmp_path):
    """Numeric traffic is read into numbers; a column with fractions is Fractional at once, and the Integral share
    an Integral constraint asks for is counted from the text, read again only then ("2.0" is not Integral text)."""
    baseline = _baseline(tmp_path, ["count", "score"], [[i % 4, i / 7] for i in range(100)])
    capture = _capture(tmp_path, [_record("1.5,0.5\n2.0,0.25\n1,0.75\n0,1.5\n3,0.1")])
    drift.analyze(baseline, capture, tmp_path / "out")
    (violation,) = [v for v in _violations(tmp_path / "out") if v["constraint_check_type"] == "data_type_check"]
    assert violation["feature_name"] == "count" and "Observed: Only 0.6% of data is Integral." in violation["description"]
