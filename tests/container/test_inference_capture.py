"""Request parsing, content negotiation and data-capture records, without a server."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from mlops_container import capture, inference
from mlops_container.inference import RequestError

FEATURES = ["a", "b", "c"]


def test_csv_rows():
    X = inference.parse(b"1,2,3\n4,5,6\n", "text/csv", FEATURES)
    np.testing.assert_array_equal(X, [[1, 2, 3], [4, 5, 6]])


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [[1, 2, 3]]}',
        b'{"instances": [{"a": 1, "b": 2, "c": 3}]}',
        b'{"instances": [{"features": [1, 2, 3]}]}',
        b'{"features": [1, 2, 3]}',
        b"[[1, 2, 3]]",
        b"[1, 2, 3]",
        b'{"a": 1, "b": 2, "c": 3}',
    ],
)
def test_json_shapes(body):
    np.testing.assert_array_equal(inference.parse(body, "application/json", FEATURES), [[1, 2, 3]])


def test_json_lines():
    X = inference.parse(b'[1,2,3]\n{"a": 4, "b": 5, "c": 6}\n', "application/jsonlines", FEATURES)
    np.testing.assert_array_equal(X, [[1, 2, 3], [4, 5, 6]])


@pytest.mark.parametrize(
    ("body", "kind", "status", "message"),
    [
        (b"", "text/csv", 400, "empty request body"),
        (b"  \n", "application/json", 400, "empty request body"),
        (b"\xff\xfe", "text/csv", 400, "request body is not UTF-8 text"),
        (b"1,2\n", "text/csv", 400, "row 0: 2 values, the model expects 3"),
        (b"1,2,3\n1,2\n", "text/csv", 400, "row 1: 2 values, the model expects 3"),
        (b"1,2,3\n4,5,6,7\n", "text/csv", 400, "row 1: 4 values, the model expects 3"),
        (b"1,x,3\n", "text/csv", 400, "row 0, column 1: 'x' is not a number"),
        (b'"1",2,3\n', "text/csv", 400, "row 0, column 0: '\"1\"' is not a number"),
        (b"1,nan,3\n", "text/csv", 400, "values must be finite numbers (no NaN or infinity)"),
        (b"[1, 2, NaN]", "application/json", 400, "values must be finite numbers (no NaN or infinity)"),
        (b'{"instances": [[1, 2]]}', "application/json", 400, "row 0: 2 values, the model expects 3"),
        (b'{"instances": [[1, "2", 3]]}', "application/json", 400, "row 0, column 1: '2' is not a number"),
        (b'{"instances": [{"a": 1, "b": 2}]}', "application/json", 400, "row 0: keys must be the model's 3 features (missing ['c'], unknown [])"),
        (
            b'{"instances": [{"a": 1, "b": 2, "c": 3, "d": 4}]}',
            "application/json",
            400,
            "row 0: keys must be the model's 3 features (missing [], unknown ['d'])",
        ),
        (b'{"instances": [[1, 2, 3], 4]}', "application/json", 400, "row 1: must be a list of numbers or an object keyed by feature name"),
        (b'"text"', "application/json", 400, 'JSON body must be {"instances": [...]}, {"features": [...]} or a list of rows'),
        (b'{"instances": [[1, 2, 3]]', "application/json", 400, "invalid JSON: Expecting ',' delimiter at line 1 column 26"),
        (b"[1,2,3]\n{oops\n", "application/jsonlines", 400, "line 1: invalid JSON: Expecting property name enclosed in double quotes"),
        (
            b"1,2,3",
            "application/x-npy",
            415,
            "unsupported content type 'application/x-npy'; supported: text/csv, application/json, application/jsonlines",
        ),
    ],
)
def test_bad_requests_get_a_4xx_and_a_one_line_reason_in_exact_words(body, kind, status, message):
    with pytest.raises(RequestError) as info:
        inference.parse(body, kind, FEATURES)
    assert (info.value.status, info.value.message, str(info.value)) == (status, message, message)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "text/csv"),
        ("*/*", "text/csv"),
        ("application/json", "application/json"),
        ("text/html, application/jsonlines;q=0.9", "application/jsonlines"),
    ],
)
def test_negotiation(accept, expected):
    assert inference.negotiate(accept, "text/csv") == expected


def test_negotiation_refuses_what_it_cannot_produce():
    with pytest.raises(RequestError) as info:
        inference.negotiate("application/xml", "text/csv")
    assert info.value.status == 406


def test_response_formats():
    scores = np.array([0.25, 0.75])
    assert inference.format_response(scores, "text/csv") == b"0.250000\n0.750000\n"
    assert json.loads(inference.format_response(scores, "application/json")) == {
        "predictions": [{"score": 0.25, "label": 0}, {"score": 0.75, "label": 1}]
    }
    lines = inference.format_response(scores, "application/jsonlines").decode().splitlines()
    assert [json.loads(line)["label"] for line in lines] == [0, 1]


def test_capture_record_has_sagemakers_shape():
    when = datetime(2026, 11, 23, 9, 5, 7, 123456, tzinfo=UTC)
    record = capture.capture_record(b"1,2,3", "text/csv", b'{"p":1}', "application/json", event_id="e-1", when=when)
    assert record == {
        "captureData": {
            "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "1,2,3", "encoding": "CSV"},
            "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT", "data": '{"p":1}', "encoding": "JSON"},
        },
        "eventMetadata": {"eventId": "e-1", "inferenceTime": "2026-11-23T09:05:07.123Z"},
        "eventVersion": "0",
    }
    binary = capture.capture_record(b"\x00\xff", "application/x-npy", b"1", "text/csv", event_id="e", when=when)
    assert binary["captureData"]["endpointInput"]["encoding"] == "BASE64"


def test_writer_uses_hourly_folders_and_loses_nothing(tmp_path):
    writer = capture.CaptureWriter(tmp_path, endpoint="ep", variant="AllTraffic")
    for i in range(25):
        writer.write(f"{i},0,0".encode(), "text/csv", b"0.5\n", "text/csv")
    # Records are flushed as written: readable before the writer is closed.
    records = capture.read_records(tmp_path)
    assert [r["captureData"]["endpointInput"]["data"] for r in records] == [f"{i},0,0" for i in range(25)]
    files = list(tmp_path.rglob("*.jsonl"))
    relative = files[0].relative_to(tmp_path).as_posix()
    assert re.fullmatch(r"ep/AllTraffic/\d{4}/\d{2}/\d{2}/\d{2}/\d{2}-\d{2}-\d{3}-[0-9a-f-]{36}\.jsonl", relative), relative
    writer.close()


def test_writer_samples(tmp_path):
    writer = capture.CaptureWriter(tmp_path, sampling_percent=20)
    kept = sum(writer.write(b"1", "text/csv", b"1", "text/csv") for _ in range(2000))
    assert 300 < kept < 500
    with pytest.raises(ValueError):
        capture.CaptureWriter(tmp_path, sampling_percent=0)


def _large_csv(rng, rows: int = 400) -> tuple[np.ndarray, bytes]:
    X = rng.normal(scale=1e3, size=(rows, len(FEATURES)))
    return X, "\n".join(",".join(repr(float(v)) for v in row) for row in X).encode()


def test_large_csv_bodies_parse_to_the_same_floats():
    """Bodies over ARROW_CSV_MIN_BYTES take Arrow's reader: the same correctly rounded floats as NumPy's."""
    X, body = _large_csv(np.random.default_rng(0))
    assert len(body) >= inference.ARROW_CSV_MIN_BYTES
    parsed = inference.parse(body, "text/csv", FEATURES)
    np.testing.assert_array_equal(parsed, X)
    np.testing.assert_array_equal(parsed, np.loadtxt(body.decode().splitlines(), delimiter=",", ndmin=2))
    np.testing.assert_array_equal(inference.parse(body + b"\r\n", "text/csv", FEATURES), X)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda lines: lines.__setitem__(5, "1,2"), "row 5: 2 values, the model expects 3"),
        (lambda lines: lines.__setitem__(7, "1,x,3"), "row 7, column 1: 'x' is not a number"),
        (lambda lines: lines.__setitem__(9, '1,"2",3'), "row 9, column 1: '\"2\"' is not a number"),  # no quoting, as NumPy
        (lambda lines: lines.__setitem__(3, "1,inf,3"), "finite numbers"),
    ],
)
def test_large_csv_bodies_are_refused_as_small_ones_are(change, message):
    lines = _large_csv(np.random.default_rng(1))[1].decode().splitlines()
    change(lines)
    with pytest.raises(RequestError) as info:
        inference.parse("\n".join(lines).encode(), "text/csv", FEATURES)
    assert info.value.status == 400 and message in info.value.message


def test_large_csv_bodies_with_padding_are_accepted_as_small_ones_are():
    X, body = _large_csv(np.random.default_rng(2))
    padded = "\n".join(" , ".join(repr(float(v)) for v in row) for row in X).encode()
    np.testing.assert_array_equal(inference.parse(padded, "text/csv", FEATURES), X)


# -- exact behaviour, for make mutate (each test failed with a mutant of mlops_container.inference that survived) --


def test_a_json_object_with_features_is_one_row_and_keys_are_case_sensitive():
    np.testing.assert_array_equal(inference.parse(b'{"features": [1, 2, 3]}', "application/json", FEATURES), [[1, 2, 3]])
    with pytest.raises(RequestError) as info:
        inference.parse(b'{"FEATURES": [1, 2, 3]}', "application/json", FEATURES)  # not the layout: a row keyed by name
    assert "unknown ['FEATURES']" in info.value.message


def test_media_types_and_their_parameters():
    assert inference.media_type("Text/CSV; charset=utf-8; header=present") == "text/csv"
    assert inference.media_type("application/jsonl") == "application/jsonlines"
    assert inference.media_type("text/plain") == "" and inference.media_type(None) == "" and inference.media_type("") == ""
    assert inference.negotiate("application/json, text/csv", "text/csv") == "application/json"  # the first supported
    assert inference.negotiate("application/xml,text/csv", "application/json") == "text/csv"
    assert inference.negotiate("text/plain", "text/csv") == "text/csv"  # no type named: the request's
    with pytest.raises(RequestError) as info:
        inference.negotiate("application/xml", "text/csv")
    assert (info.value.status, info.value.message) == (
        406,
        "cannot answer in 'application/xml'; supported: text/csv, application/json, application/jsonlines",
    )


def test_large_csv_bodies_take_arrows_path_to_the_same_floats_and_refusals():
    rows = "\n".join(f"{i}.5,{i}.25,{i}" for i in range(2000))  # over ARROW_CSV_MIN_BYTES, no final newline
    body = rows.encode()
    assert len(body) >= inference.ARROW_CSV_MIN_BYTES
    X = inference._arrow_csv(body, 3)
    assert X is not None and X.shape == (2000, 3) and X.dtype == np.float64 and X[-1].tolist() == [1999.5, 1999.25, 1999.0]
    assert inference._arrow_csv(b"1;2;3\n", 3) is None  # not comma-separated
    assert inference._arrow_csv(b"\n", 3) is None  # no row
    np.testing.assert_array_equal(inference.parse(body, "text/csv", FEATURES), X)
    exactly = ("1,2,3\n" * (inference.ARROW_CSV_MIN_BYTES // 6 + 1)).encode()[: inference.ARROW_CSV_MIN_BYTES]
    assert inference.parse(exactly[: exactly.rindex(b"\n") + 1], "text/csv", FEATURES).shape[1] == 3
    with pytest.raises(RequestError) as info:
        inference.parse((rows + "\n1,inf,2").encode(), "text/csv", FEATURES)
    assert info.value.message == "values must be finite numbers (no NaN or infinity)"


def test_responses_exactly():
    scores = np.array([0.5, 0.4999999, 0.1234567])
    assert inference.format_response(scores, "text/csv") == b"0.500000\n0.500000\n0.123457\n"
    assert inference.format_response(scores, "application/json") == (
        b'{"predictions":[{"score":0.5,"label":1},{"score":0.5,"label":0},{"score":0.123457,"label":0}]}'
    )
    assert inference.format_response(scores[:1], "application/jsonlines") == b'{"score":0.5,"label":1}\n'


@pytest.mark.parametrize(
    ("content_type", "body", "payload"),
    [
        ("text/csv; charset=utf-8; header=absent", b"1,2", {"data": "1,2", "encoding": "CSV"}),
        ("Application/JSONLines", b'{"a":1}', {"data": '{"a":1}', "encoding": "JSON"}),
        ("application/json", b"\xff", {"data": "/w==", "encoding": "BASE64"}),  # not UTF-8: kept as bytes
        ("application/x-npy", b"\x93NUMPY", {"data": "k05VTVBZ", "encoding": "BASE64"}),
    ],
)
def test_each_side_is_captured_in_sagemakers_exact_shape(content_type, body, payload):
    assert capture._payload(body, content_type, "INPUT") == {"observedContentType": content_type, "mode": "INPUT", **payload}


def test_the_writer_names_its_folders_and_files_and_keeps_every_record(tmp_path, monkeypatch):
    writer = capture.CaptureWriter(tmp_path)  # the defaults: local mode's endpoint, all traffic
    assert writer.write(b"1,2", "text/csv", b"0.5\n", "text/csv", event_id="ev-1")
    assert writer.write(b"1,3", "text/csv", b"0.6\n", "text/csv")  # an id of its own
    writer.close()
    writer.close()  # twice is fine
    writer2 = capture.CaptureWriter(tmp_path)  # a second process's writer: the same hour folder exists
    assert writer2.write(b"1,4", "text/csv", b"0.7\n", "text/csv", event_id="ev-3")
    writer2.close()
    files = sorted(tmp_path.rglob("*.jsonl"))
    assert len(files) == 2 and all(f.parent.relative_to(tmp_path).parts[:2] == ("local-endpoint", "AllTraffic") for f in files)
    assert all(re.fullmatch(r"\d{2}-\d{2}-\d{3}-[0-9a-f-]{36}\.jsonl", f.name) for f in files)
    (lines,) = [f.read_text(encoding="utf-8").splitlines() for f in files if f.read_text(encoding="utf-8").count("\n") == 2]  # the first writer's
    assert lines[0].startswith('{"captureData":{"endpointInput":{"observedContentType":"text/csv","mode":"INPUT","data":"1,2"')  # compact JSON
    records = capture.read_records(tmp_path)
    ids = {r["eventMetadata"]["eventId"] for r in records}  # every record of both files (their order is by time)
    assert len(records) == 3 and {"ev-1", "ev-3"} < ids and all(re.fullmatch(r"[0-9a-f-]{36}", i) for i in ids - {"ev-1", "ev-3"})
    assert records[0]["eventMetadata"]["inferenceTime"].endswith("Z")


def test_sampling_bounds_and_edges(tmp_path, monkeypatch):
    for bad in (0, 100.5, -1):
        with pytest.raises(ValueError) as info:
            capture.CaptureWriter(tmp_path, sampling_percent=bad)
        assert str(info.value) == f"sampling percentage must be in (0, 100], got {bad}"
    assert capture.CaptureWriter(tmp_path, sampling_percent=0.5).sampling_percent == 0.5  # under 1 percent is allowed
    everything = capture.CaptureWriter(tmp_path / "all", sampling_percent=100)
    monkeypatch.setattr(capture.random, "uniform", lambda a, b: 100.0)  # the draw at its top
    assert everything.write(b"1", "text/csv", b"0", "text/csv")  # 100 percent never draws
    half = capture.CaptureWriter(tmp_path / "half", sampling_percent=50)
    draws = []
    monkeypatch.setattr(capture.random, "uniform", lambda a, b: draws.append((a, b)) or 50.0)
    assert not half.write(b"1", "text/csv", b"0", "text/csv")  # a draw at the percentage is outside
    monkeypatch.setattr(capture.random, "uniform", lambda a, b: draws.append((a, b)) or 49.99)
    assert half.write(b"1", "text/csv", b"0", "text/csv") and draws == [(0, 100), (0, 100)]
    everything.close()
    half.close()


def test_a_record_carries_milliseconds_in_utc():
    record = capture.capture_record(b"1", "text/csv", b"0", "text/csv", event_id="e", when=datetime(2026, 12, 1, 10, 5, 7, 123456, tzinfo=UTC))
    assert record["eventMetadata"] == {"eventId": "e", "inferenceTime": "2026-12-01T10:05:07.123Z"}


def test_the_model_is_given_floats_and_a_long_key_list_is_cut_to_three():
    for body, kind in ((b"[1, 2, 3]", "application/json"), (b"1,2,3\n", "text/csv")):
        assert inference.parse(body, kind, FEATURES).dtype == np.float64
    with pytest.raises(RequestError) as info:
        inference.parse(b'{"v": 1, "w": 2, "x": 3, "y": 4, "z": 5}', "application/json", ["a", "b", "c", "d"])
    assert info.value.message == "row 0: keys must be the model's 4 features (missing ['a', 'b', 'c'], unknown ['v', 'w', 'x'])"


def test_text_of_an_unknown_type_is_still_kept_as_bytes():
    assert capture._payload(b"abc", "application/x-custom", "OUTPUT") == {
        "observedContentType": "application/x-custom",
        "mode": "OUTPUT",
        "data": "YWJj",
        "encoding": "BASE64",
    }


def test_the_writer_files_by_utc_hour_and_names_a_file_by_its_first_record(tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        writer = capture.CaptureWriter(tmp_path)
        writer.write(b"1", "text/csv", b"0", "text/csv", event_id="e")
        writer.close()
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    (path,) = tmp_path.rglob("*.jsonl")
    (record,) = capture.read_records(tmp_path)
    when = datetime.strptime(record["eventMetadata"]["inferenceTime"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert path.parent.relative_to(tmp_path / "local-endpoint" / "AllTraffic").as_posix() == when.strftime("%Y/%m/%d/%H")
    assert path.name.startswith(f"{when:%M-%S}-{when.microsecond // 1000:03d}-")
    assert abs(when - datetime.now(UTC).replace(tzinfo=None)) < timedelta(minutes=1)  # UTC, not Tokyo's clock labelled Z


def test_a_write_after_close_opens_a_file_of_its_own(tmp_path):
    writer = capture.CaptureWriter(tmp_path)
    writer.write(b"1", "text/csv", b"0", "text/csv", event_id="before")
    writer.close()
    assert writer.write(b"2", "text/csv", b"0", "text/csv", event_id="after")
    writer.close()
    assert sorted(r["eventMetadata"]["eventId"] for r in capture.read_records(tmp_path)) == ["after", "before"]
    assert len(list(tmp_path.rglob("*.jsonl"))) == 2


def test_the_server_configures_capture_from_its_environment(tmp_path, monkeypatch):
    for name in (capture.CAPTURE_DIR_ENV, capture.ENDPOINT_ENV, capture.SAMPLING_ENV):
        monkeypatch.delenv(name, raising=False)
    assert capture.CaptureWriter.from_env() is None  # no folder: no capture (SageMaker captures in front of the container)
    monkeypatch.setenv(capture.CAPTURE_DIR_ENV, str(tmp_path))
    default = capture.CaptureWriter.from_env()
    assert (default.base, default.sampling_percent) == (tmp_path / "local-endpoint" / "AllTraffic", 100.0)
    monkeypatch.setenv(capture.ENDPOINT_ENV, "churn")
    monkeypatch.setenv(capture.SAMPLING_ENV, "25")
    configured = capture.CaptureWriter.from_env()
    assert (configured.base, configured.sampling_percent) == (tmp_path / "churn" / "AllTraffic", 25.0)
