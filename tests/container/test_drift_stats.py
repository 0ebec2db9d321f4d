"""The statistics the drift check writes and reads (``mlops_container.drift_stats``), value by value: Model Monitor's type
inference, ``statistics.json`` (its buckets and KLL sketch) and ``constraints.json``, and a Model Monitor statistics file
read back with its sketch's level weights. Written for make mutate: the drift tests judged these only through verdicts."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from mlops_container.drift_read import BaselineError, Dataset
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


def _text(*values) -> pa.ChunkedArray:
    return pa.chunked_array([pa.array(list(values), pa.string())])


@pytest.mark.parametrize(
    ("values", "kind", "present", "integral", "numeric"),
    [
        (("1", "2", None, " 3 "), "Integral", 3, 3, 3),
        (("1", "2.5", "nan"), "Fractional", 2, 1, 2),  # "nan" is missing, whichever way it is read
        (("1", "3.0", "1e3"), "Fractional", 3, 1, 3),  # whole values written with a point or an exponent are not Integral
        (("1", "x", ""), "String", 2, 1, 1),
        ((None, "null", " "), "Unknown", 0, 0, 0),
        (("+1", "-2"), "Integral", 2, 2, 2),
        ((".5", "1."), "Fractional", 2, 0, 2),
    ],
)
def test_types_are_inferred_as_model_monitor_does(values, kind, present, integral, numeric):
    p = profile("f", _text(*values))
    assert (p.inferred_type, p.present, p.missing, p.integral_count(), p.numeric) == (kind, present, len(values) - present, integral, numeric)


def test_numbers_are_kept_sorted_and_strings_counted():
    numbers = profile("f", _text("3", "1", "2"))
    assert numbers.values.tolist() == [1.0, 2.0, 3.0] and numbers.counts is None
    strings = profile("f", _text("b", "a", "b", "7", "0.5"))
    assert strings.counts == {"b": 2.0, "a": 1.0, "7": 1.0, "0.5": 1.0} and strings.values.tolist() == [0.5, 7.0]  # its numbers too
    assert profile("f", _text("a")).values is None


def test_a_numeric_column_read_as_numbers_asks_for_its_text_only_to_tell_integral():
    asked = []

    def text_of(values):
        return lambda: (asked.append(1), _text(*values))[1]

    whole = profile("f", pa.chunked_array([pa.array([1.0, 2.0, None])]), text_of(["1", "2.0", None]))
    assert (whole.inferred_type, whole.integral_count(), whole.missing, len(asked)) == ("Fractional", 1, 1, 1)
    asked.clear()
    mixed = profile("f", pa.chunked_array([pa.array([1.0, 2.5])]), text_of(["1", "2.5"]))
    assert mixed.inferred_type == "Fractional" and asked == []  # not needed for the type
    assert mixed.integral_count() == 1 and asked == [1] and mixed.integral_count() == 1 and asked == [1]  # once, when asked
    fractions = profile("f", pa.chunked_array([pa.array([0.5])]), text_of(["0.5"]))
    assert fractions.integral_count() == 0 and asked == [1]
    empty = profile("f", pa.chunked_array([pa.array([None], pa.float64())]), text_of([None]))
    assert (empty.inferred_type, empty.present, empty.missing, empty.values) == ("Unknown", 0, 1, None)  # as read from text
    infinite = profile("f", pa.chunked_array([pa.array([1.0, float("inf"), float("nan")])]), text_of(["1", "1e999", "x"]))
    assert (infinite.inferred_type, infinite.present, infinite.missing, infinite.values.tolist()) == ("Integral", 1, 2, [1.0])


def test_profiles_of_a_data_set_read_as_numbers_share_one_read_of_the_whole_columns():
    columns = [pa.chunked_array([pa.array([1.0, 2.0])]), pa.chunked_array([pa.array([0.5, 1.0])]), pa.chunked_array([pa.array([3.0, 4.0])])]
    texts = {0: _text("1", "2"), 1: _text("0.5", "1"), 2: _text("3.0", "4")}
    calls = []

    def text(indices):
        calls.append(indices)
        return {j: texts[j] for j in indices}

    got = profiles(Dataset(["a", "b", "c"], columns, text))
    assert [(p.name, p.inferred_type, p.integral_count()) for p in got] == [("a", "Integral", 2), ("b", "Fractional", 1), ("c", "Fractional", 1)]
    assert calls[0] == [0, 2]  # the whole-number columns, in one read
    plain = profiles(Dataset(["x"], [_text("1", "y")]))
    assert [(p.name, p.inferred_type) for p in plain] == [("x", "String")]


def test_numerical_statistics_with_buckets_and_a_sketch():
    p = profile("f", _text(*[str(v) for v in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)], None))
    (feature,) = statistics_json([p], 12)["features"]
    assert feature["name"] == "f" and feature["inferred_type"] == "Integral"
    stats = feature["numerical_statistics"]
    assert stats["common"] == {"num_present": 11, "num_missing": 1}
    assert (stats["mean"], stats["sum"], stats["min"], stats["max"]) == (5.0, 55.0, 0.0, 10.0)
    assert stats["std_dev"] == pytest.approx(np.std(np.arange(11.0)))
    buckets = stats["distribution"]["kll"]["buckets"]
    assert [(b["lower_bound"], b["upper_bound"], b["count"]) for b in buckets] == [(float(i), float(i + 1), 1.0 if i < 9 else 2.0) for i in range(10)]
    sketch = stats["distribution"]["kll"]["sketch"]
    assert sketch["parameters"] == {"c": 0.64, "k": 2048.0} and sketch["data"] == [[float(i) for i in range(11)]]


def test_a_long_column_is_sketched_in_2048_interpolated_quantiles_and_a_constant_in_one_bucket():
    values = np.arange(5000.0)
    p = Profile("f", "Fractional", 5000, 0, values=values)
    kll = statistics_json([p], 5000)["features"][0]["numerical_statistics"]["distribution"]["kll"]
    (data,) = kll["sketch"]["data"]
    assert len(data) == 2048 and data[0] == 0.0 and data[-1] == 4999.0 and data == pytest.approx(np.quantile(values, np.linspace(0, 1, 2048)))
    assert [b["count"] for b in kll["buckets"]] == [500.0] * 10
    constant = statistics_json([Profile("c", "Integral", 3, 0, values=np.array([7.0, 7.0, 7.0]))], 3)["features"][0]["numerical_statistics"]
    assert constant["distribution"]["kll"]["buckets"] == [{"lower_bound": 7.0, "upper_bound": 7.0, "count": 3.0}]
    assert constant["std_dev"] == 0.0
    nothing = statistics_json([Profile("n", "Fractional", 0, 2)], 2)["features"][0]["numerical_statistics"]
    assert nothing == {"common": {"num_present": 0, "num_missing": 2}}


def test_string_statistics_list_categories_by_count_then_value():
    p = profile("s", _text("b", "a", "b", "c", None))
    assert statistics_json([p], 5) == {
        "version": 0.0,
        "dataset": {"item_count": 5},
        "features": [
            {
                "name": "s",
                "inferred_type": "String",
                "string_statistics": {
                    "common": {"num_present": 4, "num_missing": 1},
                    "distinct_count": 3.0,
                    "distribution": {
                        "categorical": {"buckets": [{"value": "b", "count": 2.0}, {"value": "a", "count": 1.0}, {"value": "c", "count": 1.0}]}
                    },
                },
            }
        ],
    }
    unknown = statistics_json([profile("u", _text(None))], 1)["features"][0]
    assert unknown == {"name": "u", "inferred_type": "Unknown", "string_statistics": {"common": {"num_present": 0, "num_missing": 1}}}
    assert json.loads(statistics_text([p], 5)) == statistics_json([p], 5) and ", " not in statistics_text([p], 5)


def test_statistics_read_back_are_the_profiles_written():
    written = [profile("n", _text("1", "2", "2", None)), profile("s", _text("a", "b", "a"))]
    document = statistics_json(written, 4)

    def back(tmp_path_name="s.json"):
        import tempfile
        from pathlib import Path

        path = Path(tempfile.mkdtemp()) / tmp_path_name
        path.write_text(json.dumps(document))
        return read_statistics(path)

    number, string = back()
    assert (number.name, number.inferred_type, number.present, number.missing) == ("n", "Integral", 3, 1)
    assert number.values.tolist() == [1.0, 2.0, 2.0] and number.weights.tolist() == [1.0, 1.0, 1.0]
    assert (string.inferred_type, string.counts, string.values) == ("String", {"a": 2.0, "b": 1.0}, None)


def test_a_model_monitor_sketch_weighs_each_level_twice_the_one_below(tmp_path):
    """KLL's level i holds items each standing for 2**i of the data (Model Monitor writes its levels in ``data``)."""
    feature = {
        "name": "x",
        "inferred_type": "Fractional",
        "numerical_statistics": {
            "common": {"num_present": 7, "num_missing": 0},
            "distribution": {"kll": {"sketch": {"data": [[3.0, 1.0, 5.0], [2.0, 4.0], [], [0.5]]}}},
        },
    }
    empty = {
        "name": "e",
        "inferred_type": "Fractional",
        "numerical_statistics": {"common": {}, "distribution": {"kll": {"sketch": {"data": [[], []]}}}},
    }
    bare = {"name": "b"}
    path = tmp_path / "statistics.json"
    path.write_text(json.dumps({"version": 0.0, "features": [feature, empty, bare]}))
    x, e, b = read_statistics(path)
    assert x.values.tolist() == [0.5, 1.0, 2.0, 3.0, 4.0, 5.0] and x.weights.tolist() == [8.0, 1.0, 2.0, 1.0, 2.0, 1.0]
    assert (e.values, e.weights, e.present, e.missing) == (None, None, 0, 0)
    assert (b.inferred_type, b.values, b.counts) == ("Unknown", None, None)


@pytest.mark.parametrize("text", ["not json", '{"no": "features"}', '{"features": [{"inferred_type": "String"}]}'])
def test_a_file_that_is_not_statistics_says_so(tmp_path, text):
    path = tmp_path / "statistics.json"
    path.write_text(text)
    with pytest.raises(BaselineError, match=r"statistics\.json: not a Model Monitor statistics\.json \((JSONDecodeError|KeyError): "):
        read_statistics(path)


def test_suggested_constraints_are_model_monitors():
    items = [
        profile("n", _text("1", "2", None)),
        profile("neg", _text("-1", "2")),
        profile("s", _text("a", "b")),
        profile("many", _text(*[f"v{i}" for i in range(21)])),
        profile("u", _text(None)),
        Profile("empty", "Unknown", 0, 0),
    ]
    document = suggest_constraints(items, 0.2)
    assert document["version"] == 0.0
    assert document["features"] == [
        {"name": "n", "inferred_type": "Integral", "completeness": 2 / 3, "num_constraints": {"is_non_negative": True}},
        {"name": "neg", "inferred_type": "Integral", "completeness": 1.0, "num_constraints": {"is_non_negative": False}},
        {"name": "s", "inferred_type": "String", "completeness": 1.0, "string_constraints": {"domains": ["a", "b"]}},
        {"name": "many", "inferred_type": "String", "completeness": 1.0},  # more than 20 values: no domain
        {"name": "u", "inferred_type": "Unknown", "completeness": 0.0},
        {"name": "empty", "inferred_type": "Unknown", "completeness": 1.0},
    ]
    assert document["monitoring_config"] == {
        "evaluate_constraints": "Enabled",
        "emit_metrics": "Enabled",
        "datatype_check_threshold": 1.0,
        "domain_content_threshold": 1.0,
        "distribution_constraints": {
            "perform_comparison": "Enabled",
            "comparison_threshold": 0.2,
            "comparison_method": "Robust",
            "categorical_comparison_threshold": 0.2,
            "categorical_drift_method": "LInfinity",
        },
    }
    twenty = suggest_constraints([profile("t", _text(*[f"v{i:02d}" for i in range(20)]))], 0.1)["features"][0]
    assert len(twenty["string_constraints"]["domains"]) == 20
    assert suggest_constraints([Profile("z", "Fractional", 1, 0)], 0.1)["features"][0]["num_constraints"] == {"is_non_negative": False}


def test_constraints_are_read_back_or_refused(tmp_path):
    path = tmp_path / "constraints.json"
    path.write_text(json.dumps({"features": [{"name": "a"}], "version": 0.0}))
    assert read_constraints(path)["features"] == [{"name": "a"}]
    for text, kind in (("[]", "AttributeError"), ('{"features": {}}', "KeyError"), ("nope", "JSONDecodeError")):
        path.write_text(text)
        with pytest.raises(BaselineError, match=rf"constraints\.json: not a Model Monitor constraints\.json \({kind}: "):
            read_constraints(path)
    with pytest.raises(BaselineError, match=r"missing\.json: not a Model Monitor constraints\.json \(FileNotFoundError: "):
        read_constraints(tmp_path / "missing.json")
