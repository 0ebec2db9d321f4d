"""Reading captured traffic and baseline data sets (``mlops_container.drift_read``), cell by cell.

The two ways a capture file is read, Arrow's columnar reader and Python line by line (for files Arrow refuses), must
give the same rows, counts and rejections: every case below is read both ways and compared, then checked against
what it must be. Written for make mutate: the drift tests reached this module only through whole checks."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlops_container.drift_read import (
    BaselineError,
    CaptureData,
    Window,
    _cell,
    _column_names,
    _read_columnar,
    _read_lines,
    capture_dataset,
    normalize_text,
    read_capture,
    read_dataset,
    read_datasets,
    read_plain_csv,
)


def _record(data, *, encoding="CSV", kind="text/csv", when="2026-12-07T10:30:00Z") -> dict:
    request = {"observedContentType": kind, "mode": "INPUT", "data": data, "encoding": encoding}
    record = {"captureData": {"endpointInput": request, "endpointOutput": {"data": "0.5", "encoding": "CSV"}}, "eventVersion": "0"}
    if when is not None:
        record["eventMetadata"] = {"eventId": "e", "inferenceTime": when}
    return record


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _write(tmp_path: Path, *records, name="capture.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def _columns(capture: CaptureData, names=("a", "b", "c")) -> dict[str, list]:
    """The captured rows as text columns by name (numbers as they were written: the numeric path's text)."""
    dataset = capture_dataset(capture, list(names))
    columns = dataset.columns if dataset.text is None else [dataset.text(list(range(len(dataset.names))))[j] for j in range(len(dataset.names))]
    return {name: column.to_pylist() for name, column in zip(dataset.names, columns)}


def _both(path: Path, window: Window = Window()) -> tuple[CaptureData, CaptureData]:
    columnar, lines = CaptureData(), CaptureData()
    assert _read_columnar(path, columnar, window) is True
    _read_lines(path, lines, window)
    return columnar, lines


def _same(path: Path, window: Window = Window()) -> CaptureData:
    """Read both ways: the same counts, the same rows (read as text: the numbers path is compared separately)."""
    columnar, lines = _both(path, window)
    assert (columnar.records, columnar.outside, columnar.malformed) == (lines.records, lines.outside, lines.malformed)
    assert [e.split(": ", 1)[1] for e in columnar.malformed_examples] == [e.split(": ", 1)[1] for e in lines.malformed_examples]
    assert _columns(columnar) == _columns(lines)
    return lines


def test_csv_traffic_is_read_the_same_both_ways(tmp_path):
    path = _write(
        tmp_path,
        _record("1,2,x"),
        _record("3,,y\r\n"),  # CRLF and a missing cell
        _record("4,5,z\n6,7,w"),  # two rows in one request
        _record(_b64("8,9,v"), encoding="BASE64"),
        _record("   "),  # nothing
    )
    capture = _same(path)
    assert capture.records == 5 and capture.malformed == 0
    assert _columns(capture) == {"a": ["1", "3", "4", "6", "8"], "b": ["2", None, "5", "7", "9"], "c": ["x", "y", "z", "w", "v"]}


def test_json_traffic_in_every_layout_is_read_the_same_both_ways(tmp_path):
    path = _write(
        tmp_path,
        _record('{"instances": [[1, 2.5, "x"]]}', encoding="JSON", kind="application/json"),
        _record('{"instances": [{"features": [3, null, "y"]}]}', encoding="JSON", kind="application/json"),
        _record('[[4, true, {"k": 1}]]', encoding="JSON", kind="application/json"),
        _record(_b64('{"features": [5, NaN, "w"]}'), encoding="BASE64", kind="application/json"),
        _record('[6, 7, "v"]\n\n[8, 9, "u"]', encoding="JSON", kind="application/jsonlines"),
        _record('{"instances": [{"a": 10, "c": "t", "d": 1}]}', encoding="JSON", kind="application/json"),
    )
    capture = _same(path)
    assert capture.records == 6 and capture.malformed == 0
    assert _columns(capture, ("a", "b")) == {
        "a": ["1", "3", "4", "5", "6", "8", "10"],
        "b": ["2.5", None, "true", None, "7", "9", None],
        "_c2": ["x", "y", '{"k":1}', "w", "v", "u", None],
        "c": [None] * 6 + ["t"],
        "d": [None] * 6 + ["1"],
    }


def test_records_that_cannot_be_used_are_counted_with_their_reason(tmp_path):
    no_data = _record("1,2,3")
    del no_data["captureData"]["endpointInput"]["data"]
    path = _write(
        tmp_path,
        _record("1,2,3"),
        no_data,
        _record("{not json", encoding="JSON", kind="application/json"),
        _record(base64.b64encode(b"\xff").decode(), encoding="BASE64", kind="application/octet-stream"),  # not UTF-8
        _record('{"instances": 5}', encoding="JSON", kind="application/json"),
    )
    columnar, lines = _both(path)
    assert (columnar.records, columnar.malformed) == (lines.records, lines.malformed) == (5, 4)
    assert [e.split(": ", 1)[0] for e in columnar.malformed_examples] == [f"capture.jsonl:record {i}" for i in (2, 3, 4, 5)]
    assert [e.split(": ", 1)[0] for e in lines.malformed_examples] == [f"capture.jsonl:{i}" for i in (2, 3, 4, 5)]
    # a request without its body is malformed however it is read (line by line it was silently no row)
    assert columnar.malformed_examples[0].endswith(": KeyError: 'captureData.endpointInput.data'")
    assert lines.malformed_examples[0].endswith(": KeyError: 'captureData.endpointInput.data'")
    assert [e.split(": ", 2)[1] for e in columnar.malformed_examples[1:]] == ["JSONDecodeError", "UnicodeDecodeError", "RequestError"]


def test_a_file_arrow_refuses_is_read_line_by_line_and_its_bad_lines_named(tmp_path):
    path = _write(tmp_path, _record("1,2,3"), "{this is not json", _record("4,5,6"), "", "[1, 2]")
    assert _read_columnar(path, CaptureData()) is False
    capture = read_capture(tmp_path)
    assert (capture.records, capture.malformed) == (4, 2)
    assert (
        capture.malformed_examples[0]
        == "capture.jsonl:2: JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    )
    assert capture.malformed_examples[1].startswith("capture.jsonl:5: TypeError: ")
    assert _columns(capture)["a"] == ["1", "4"]


def test_only_the_first_five_rejections_are_kept_as_examples():
    capture = CaptureData()
    for i in range(7):
        capture.reject(f"f:{i}", "why")
    assert capture.malformed == 7 and capture.malformed_examples == [f"f:{i}: why" for i in range(5)]


@pytest.mark.parametrize("columnar", [True, False], ids=["arrow", "lines"])
def test_a_window_keeps_the_records_inside_it(tmp_path, columnar):
    path = _write(
        tmp_path,
        _record("1,0,0", when="2026-12-07T09:59:59Z"),  # before
        _record("2,0,0", when="2026-12-07T10:00:00Z"),  # the start is inside
        _record("3,0,0", when="2026-12-07T10:59:59.999Z"),
        _record("4,0,0", when="2026-12-07T11:00:00Z"),  # the end is outside
        _record("5,0,0", when=None),  # no time: kept
        _record("6,0,0", when="not a time"),  # unreadable: kept
        _record("7,0,0", when="2026-12-07T12:30:00+02:00"),  # 10:30 UTC
    )
    window = Window.parse("2026-12-07T10:00:00Z", "2026-12-07T11:00:00Z")
    capture = CaptureData()
    if columnar:
        assert _read_columnar(path, capture, window)
    else:
        _read_lines(path, capture, window)
    assert (capture.records, capture.outside) == (5, 2)
    assert _columns(capture)["a"] == ["2", "3", "5", "6", "7"]
    open_ended = CaptureData()
    _read_lines(path, open_ended, Window.parse("2026-12-07T10:00:00Z", None))
    assert (open_ended.records, open_ended.outside) == (6, 1)
    _same(path, Window.parse(None, "2026-12-07T11:00:00Z"))


def test_windows_and_times():
    assert not Window() and Window.parse("2026-12-07T10:00:00Z", None) and Window.parse(None, "2026-12-07T10:00:00Z")
    assert Window.parse(" ", "") == Window()
    window = Window.parse("2019-12-01T15: 20: 00Z", "2019-12-01T16:20:00")  # the contract's example's spaces; no zone: UTC
    assert window.start == datetime(2019, 12, 1, 15, 20, tzinfo=UTC) and window.end == datetime(2019, 12, 1, 16, 20, tzinfo=UTC)
    assert window.contains(None) and window.contains(window.start) and not window.contains(window.end)
    with pytest.raises(BaselineError, match=r"^end_time 'soon' is not an ISO 8601 time such as 2019-12-01T15:20:00Z$"):
        Window.parse(None, "soon")


def test_cells_as_text():
    assert [_cell(v) for v in (None, "", " nan ", "null", "inf", float("nan"), float("-inf"))] == [None] * 7
    assert [_cell(v) for v in (True, False, 1.5, 2, "x", [1, 2], {"k": "v"})] == ["true", "false", "1.5", "2", "x", "[1,2]", '{"k":"v"}']
    assert _cell(0.1 + 0.2) == "0.30000000000000004"  # every digit: drift compares values, not their rounding


def test_numeric_csv_is_read_as_numbers_with_its_text_on_demand(tmp_path):
    capture = CaptureData(csv_chunks=[b"1,2.5\n", b"", b"3,nan\n"])
    dataset = capture_dataset(capture, ["a"])
    assert dataset.names == ["a", "_c1"] and [c.type.id for c in dataset.columns] == [12, 12]  # float64
    assert [c.to_pylist() for c in dataset.columns] == [[1.0, 3.0], [2.5, None]]
    assert {j: c.to_pylist() for j, c in dataset.text([1]).items()} == {1: ["2.5", None]}
    mixed = capture_dataset(CaptureData(csv_chunks=[b"1,x\n2,y\n"]), ["a", "b"])
    assert mixed.text is None and [c.to_pylist() for c in mixed.columns] == [["1", "2"], ["x", "y"]]
    ragged = capture_dataset(CaptureData(csv_chunks=[b"1,2\n3,4,5\n6\n"]), ["a", "b"])  # rows of another width: after
    assert ragged.names == ["a", "b", "_c2"] and [c.to_pylist() for c in ragged.columns] == [["1", "3", "6"], ["2", "4", None], [None, "5", None]]
    assert capture_dataset(CaptureData(), ["a"]).columns == [] and capture_dataset(CaptureData(), ["a"]).rows == 0


def test_column_names_follow_the_baseline_then_model_monitors():
    assert _column_names(["a", "b"], 4) == ["a", "b", "_c2", "_c3"] and _column_names(["a", "b", "c"], 2) == ["a", "b"]


def test_text_is_trimmed_and_missing_tokens_are_null():
    import pyarrow as pa

    assert normalize_text(pa.chunked_array([[" a ", "NaN", "", "None", "b"]])).to_pylist() == ["a", None, None, None, "b"]


def test_plain_csv_is_every_data_file_under_a_folder(tmp_path):
    (tmp_path / "part").mkdir()
    (tmp_path / "part" / "a.csv").write_bytes(b"1,2\n\n3,4")  # no final newline
    (tmp_path / "b.CSV").write_bytes(b"5,6\n")
    (tmp_path / "_SUCCESS.csv").write_bytes(b"9,9\n")
    (tmp_path / ".hidden.csv").write_bytes(b"9,9\n")
    (tmp_path / "notes.txt").write_bytes(b"9,9\n")
    (tmp_path / "empty.csv").write_bytes(b"\n\n")
    capture = read_plain_csv(tmp_path)
    assert capture.records == 3 and _columns(capture, ("x", "y")) == {"x": ["5", "1", "3"], "y": ["6", "2", "4"]}


def test_baseline_data_sets_in_csv_and_json_lines(tmp_path):
    csv_file = tmp_path / "train.csv"
    csv_file.write_text("a,b\n1,x\n,null\n")
    dataset = read_dataset(csv_file)
    assert dataset.names == ["a", "b"] and [c.to_pylist() for c in dataset.columns] == [["1", None], ["x", None]]
    lines = tmp_path / "train.jsonl"
    lines.write_text('{"a": 1, "b": true}\n\n{"b": "y", "c": 2.5}\n')
    for path, kind in ((lines, None), (tmp_path / "train.json", None), (tmp_path / "train.txt", "json")):
        path.write_text(lines.read_text())
        dataset = read_dataset(path, kind)
        assert dataset.names == ["a", "b", "c"] and [c.to_pylist() for c in dataset.columns] == [["1", None], ["true", "y"], [None, "2.5"]]
    both = read_datasets([csv_file, csv_file])
    assert both.rows == 4 and both.columns[0].to_pylist() == ["1", None, "1", None]
    assert read_dataset(csv_file, "csv").names == ["a", "b"]


@pytest.mark.parametrize(
    ("name", "text", "kind", "message"),
    [
        ("bad.jsonl", '{"a": 1}\n{oops\n', None, r"bad\.jsonl:2: not JSON \(Expecting property name enclosed in double quotes\)$"),
        ("list.jsonl", "[1, 2]\n", None, r"list\.jsonl:1: a JSON Lines baseline holds one object per line \(feature name -> value\)$"),
        ("stats.json", '{"version": 0, "features": []}\n', None, r"stats\.json is a statistics\.json: pass it as --baseline-statistics$"),
        ("headless.csv", "\n1,2\n", None, r"headless\.csv: a CSV baseline needs a header line naming the features$"),
    ],
)
def test_a_baseline_that_cannot_be_used_says_why(tmp_path, name, text, kind, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(BaselineError, match=message):
        read_dataset(path, kind)


def test_files_of_one_data_set_with_no_rows_are_text_columns_with_no_rows(tmp_path):
    for name in ("1.csv", "2.csv"):
        (tmp_path / name).write_text("a,b\n")
    dataset = read_datasets([tmp_path / "1.csv", tmp_path / "2.csv"])
    assert dataset.names == ["a", "b"] and dataset.rows == 0 and [str(c.type) for c in dataset.columns] == ["string", "string"]


def test_files_of_one_data_set_share_their_header(tmp_path):
    one, other = tmp_path / "1.csv", tmp_path / "2.csv"
    one.write_text("a,b\n1,2\n")
    other.write_text("a,c\n1,2\n")
    with pytest.raises(BaselineError, match=r"2\.csv: its columns \['a', 'c'\] differ from 1\.csv's \['a', 'b'\]$"):
        read_datasets([one, other])
    with pytest.raises(BaselineError, match=r"^no baseline data set: the folder holds no files$"):
        read_datasets([])


def test_what_a_record_may_leave_out_and_what_it_may_not_hold(tmp_path):
    no_encoding = _record("1,2,3")
    del no_encoding["captureData"]["endpointInput"]["encoding"]  # CSV by default
    no_kind = _record("4,5,6")
    del no_kind["captureData"]["endpointInput"]["observedContentType"]
    path = _write(
        tmp_path,
        no_encoding,
        no_kind,
        _record("  7 ,8,9\r\n"),  # cells keep their spaces (the statistics trim them); only the line break goes
        _record('"",nan,x'),  # a quoted empty cell and nan are missing
        _record("None,inf,X"),  # and so are None and inf (Arrow's own null tokens have neither)
        _record("[[10, 12], 11]", encoding="JSON", kind="application/json"),  # a row, and a bare value as a row of one
        _record("abcde", encoding="BASE64"),  # not base64: its reason, cut at 80 characters
    )
    capture = _same(path)
    assert (capture.records, capture.malformed) == (7, 1)
    assert capture.malformed_examples == [
        "capture.jsonl:7: Error: " + "Invalid base64-encoded string: number of data characters (5) cannot be 1 more than a multiple of 4"[:80]
    ]
    assert _columns(capture) == {
        "a": ["1", "4", "  7 ", None, None, "10", "11"],
        "b": ["2", "5", "8", None, None, "12", None],
        "c": ["3", "6", "9", "x", "X", None, None],
    }


def test_a_body_that_is_not_text_and_a_file_that_is_not_utf8(tmp_path):
    path = _write(tmp_path, _record(12345))  # Arrow refuses the number where text belongs: read line by line
    capture = read_capture(tmp_path)
    assert capture.malformed_examples == ["capture.jsonl:1: ValueError: captureData.endpointInput.data is not text"]
    path.unlink()
    raw = (json.dumps(_record("1,2,3")) + "\n").encode().replace(b"1,2,3", b"1,2,\xff")
    (tmp_path / "latin.jsonl").write_bytes(raw)
    assert _read_columnar(tmp_path / "latin.jsonl", CaptureData()) is False  # Arrow would take the byte into the text
    capture = read_capture(tmp_path)  # a byte that is not UTF-8 is replaced, the record kept
    assert (capture.records, capture.malformed) == (1, 0) and _columns(capture)["c"] == ["\ufffd"]


def test_several_files_and_arrow_blocks_add_up(tmp_path, monkeypatch):
    import mlops_container.drift_read as drift_read

    monkeypatch.setattr(drift_read, "JSON_BLOCK", 512)  # many chunks per file, as a large file has
    records = [_record(f"{i},{i},{i}") for i in range(40)]
    records[33] = _record("{oops", encoding="JSON", kind="application/json")
    _write(tmp_path, *records, name="a.jsonl")
    _write(tmp_path, *records[:5], name="b.jsonl")
    one = CaptureData()
    assert _read_columnar(tmp_path / "a.jsonl", one) is True and len(one.csv_chunks) > 3
    assert one.malformed_examples[0].startswith("a.jsonl:record 34: JSONDecodeError")  # counted across the chunks
    capture = read_capture(tmp_path)
    assert (capture.records, capture.malformed) == (45, 1)
    assert _columns(capture)["a"] == [str(i) for i in range(40) if i != 33] + [str(i) for i in range(5)]
    window = Window.parse("2026-12-07T11:00:00Z", None)  # every record is before it
    outside = read_capture(tmp_path, window)
    assert (outside.records, outside.outside) == (0, 45)
    late, early = (json.dumps(_record("1,1,1", when=f"2026-12-07T{h}:00:00Z")) for h in (12, 10))
    (tmp_path / "c.jsonl").write_text(f"{{not json\n{late}\n{early}\n")  # read line by line
    assert (lambda c: (c.records, c.outside, c.malformed))(read_capture(tmp_path, window)) == (2, 46, 1)  # both paths honour it


def test_naive_and_offset_times_are_utc_whatever_the_machines_zone(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        window = Window.parse("2019-12-01T10:20:00-05:00", "2019-12-01T16:20:00")
        assert window.start == datetime(2019, 12, 1, 15, 20, tzinfo=UTC)
        assert window.end == datetime(2019, 12, 1, 16, 20, tzinfo=UTC) and window.start.tzinfo is UTC and window.end.tzinfo is UTC
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    with pytest.raises(BaselineError, match=r"^start_time 'soon' is not an ISO 8601 time"):
        Window.parse("soon", None)


def test_ragged_rows_keep_their_missing_cells_missing():
    ragged = capture_dataset(CaptureData(csv_chunks=[b"1,2\n3,nan,5\n"]), ["a", "b"])
    assert [c.to_pylist() for c in ragged.columns] == [["1", "3"], ["2", None], [None, "5"]]


def test_plain_csv_that_is_not_utf8_is_read_with_the_byte_replaced(tmp_path):
    (tmp_path / "scored.csv").write_bytes(b"caf\xe9,1\n")
    assert _columns(read_plain_csv(tmp_path), ("x", "y")) == {"x": ["caf\ufffd"], "y": ["1"]}


def test_a_csv_baseline_reads_every_missing_token_as_missing(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("a,b,c\nNone,inf,\n1,2,3\n")
    assert [c.to_pylist() for c in read_dataset(path).columns] == [[None, "1"], [None, "2"], [None, "3"]]


def test_plain_csv_files_are_joined_line_by_line(tmp_path):
    (tmp_path / "a.csv").write_bytes(b"1,2")  # no final newline, and another file after it
    (tmp_path / "b.csv").write_bytes(b"3,4\n")
    assert _columns(read_plain_csv(tmp_path), ("x", "y")) == {"x": ["1", "3"], "y": ["2", "4"]}


def test_a_json_lines_baseline_may_hold_a_version_feature_and_several_files_keep_their_kind(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text('{"version": 2, "x": 1}\n')
    dataset = read_datasets([path, path], "json")
    assert dataset.names == ["version", "x"] and dataset.columns[0].to_pylist() == ["2", "2"]


def test_a_json_lines_baseline_feature_with_no_value_is_a_text_column(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"a": 1, "b": null}\n{"a": 2}\n')
    dataset = read_dataset(path)
    assert [str(c.type) for c in dataset.columns] == ["string", "string"] and dataset.columns[1].to_pylist() == [None, None]
