"""Reading what the drift check compares (``mlops_container.drift``): data-capture JSON Lines in every documented
encoding and request layout, within a monitoring period (``Window``), and data sets (CSV with a header, JSON Lines of
objects, or a batch transform's plain CSV rows), as columns of text for the statistics."""

from __future__ import annotations

import base64
import csv
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from mlops_container.inference import JSONLINES, RequestError, json_rows, media_type

INTEGRAL = r"^[+-]?\d+$"
NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
# Missing cells: empty, null, and not-a-number or infinite values (no statistic can use them).
MISSING_TOKENS = ("", "nan", "NaN", "NAN", "null", "None", "inf", "+inf", "-inf", "Infinity", "+Infinity", "-Infinity")


class BaselineError(ValueError):
    """A baseline that cannot be used, with what is wrong and what to pass instead."""


# -- reading the captured data ------------------------------------------------------------------------


@dataclass
class CaptureData:
    """The captured requests as columns of text cells (``None``: missing), and what could not be used."""

    csv_chunks: list[pa.Buffer | bytes] = field(default_factory=list)  # CSV payloads, whole lines, parsed together
    rows: list[list[str | None]] = field(default_factory=list)  # rows from JSON payloads
    keyed: list[dict[str, str | None]] = field(default_factory=list)  # rows keyed by feature name
    records: int = 0
    malformed: int = 0
    malformed_examples: list[str] = field(default_factory=list)
    outside: int = 0  # records whose inferenceTime is outside the analyzed window (skipped, not malformed)

    def reject(self, where: str, why: str) -> None:
        self.malformed += 1
        if len(self.malformed_examples) < 5:
            self.malformed_examples.append(f"{where}: {why}")


def _cell(value) -> str | None:
    if value is None or (isinstance(value, str) and value.strip() in MISSING_TOKENS):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _json_rows(value, out: CaptureData) -> None:
    """One JSON request's rows, in any layout the server accepts (``inference.json_rows``)."""
    for item in json_rows(value):
        if isinstance(item, dict):
            out.keyed.append({str(k): _cell(v) for k, v in item.items()})
        elif isinstance(item, list):
            out.rows.append([_cell(v) for v in item])
        else:
            out.rows.append([_cell(item)])


def _add_payload(payload: dict, out: CaptureData) -> None:
    if "data" not in payload:  # a request without its body: malformed, however it is read
        raise KeyError("captureData.endpointInput.data")
    encoding = str(payload.get("encoding", "CSV")).upper()
    data = payload["data"]
    kind = media_type(str(payload.get("observedContentType", "text/csv")))
    if encoding == "BASE64":
        data = base64.b64decode(data).decode("utf-8")
        encoding = "JSON" if "json" in kind else "CSV"
    if not isinstance(data, str):
        raise ValueError("captureData.endpointInput.data is not text")
    if encoding == "CSV":
        if data.strip():
            out.csv_chunks.append((data.strip("\r\n") + "\n").encode())
        return
    if kind == JSONLINES:  # the server's own aliases (application/x-jsonlines, application/jsonl)
        for line in data.splitlines():
            if line.strip():
                _json_rows(json.loads(line), out)
        return
    _json_rows(json.loads(data), out)


@dataclass(frozen=True)
class Window:
    """The monitoring period ``[start, end)`` (UTC): SageMaker may download captures beyond it, and the analyzer
    keeps the records whose ``eventMetadata.inferenceTime`` is inside (a record without a readable time is kept)."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def parse(cls, start: str | None, end: str | None) -> Window:
        return cls(_bound(start, "start_time"), _bound(end, "end_time"))

    def __bool__(self) -> bool:
        return self.start is not None or self.end is not None

    def contains(self, when: datetime | None) -> bool:
        return when is None or ((self.start is None or when >= self.start) and (self.end is None or when < self.end))


def utc_time(text: str | None) -> datetime | None:
    """An ISO 8601 time (``2019-12-01T15:20:00Z``; the contract's example writes ``15: 20: 00Z``) as aware UTC; ValueError
    when it is not one. The one reader of a capture's ``inferenceTime`` (the drift check's windows, model quality's periods)."""
    if text is None or not text.strip():
        return None
    when = datetime.fromisoformat(text.replace(" ", ""))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _bound(text: str | None, name: str) -> datetime | None:
    try:
        return utc_time(text)
    except ValueError:
        raise BaselineError(f"{name} {text!r} is not an ISO 8601 time such as 2019-12-01T15:20:00Z") from None


def _record_time(record: dict) -> datetime | None:
    try:
        return _utc_or_none(str(record["eventMetadata"]["inferenceTime"]))
    except (KeyError, TypeError):
        return None


def _read_lines(path: Path, out: CaptureData, window: Window = Window()) -> None:
    """One record per line, in Python: the path for files Arrow's JSON reader refuses (a malformed line)."""
    with path.open(encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if window and not window.contains(_record_time(record)):
                    out.outside += 1
                    continue
            except ValueError as exc:
                out.records += 1
                out.reject(f"{path.name}:{number}", f"{type(exc).__name__}: {str(exc)[:80]}")
                continue
            out.records += 1
            try:
                _add_payload(record["captureData"]["endpointInput"], out)
            except (ValueError, KeyError, TypeError, AttributeError, RequestError) as exc:
                out.reject(f"{path.name}:{number}", f"{type(exc).__name__}: {str(exc)[:80]}")


# The fields of a capture record the check reads (the rest of each record is skipped as Arrow reads it).
CAPTURE_SCHEMA = pa.schema(
    [("captureData", pa.struct([("endpointInput", pa.struct([(name, pa.string()) for name in ("observedContentType", "data", "encoding")]))]))]
)
JSON_BLOCK = 16 << 20  # bytes Arrow parses per block (and per chunk of the table): few chunks, each handled once below
TIMED_CAPTURE_SCHEMA = CAPTURE_SCHEMA.append(pa.field("eventMetadata", pa.struct([("inferenceTime", pa.string())])))


def _inside(table: pa.Table, window: Window) -> pa.Array:
    """Which records of ``table`` are inside ``window`` (a missing or unreadable time counts as inside)."""
    times = pc.struct_field(table.column("eventMetadata").combine_chunks(), "inferenceTime")
    try:
        parsed = pc.cast(times, pa.timestamp("us", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a time Arrow's ISO 8601 parser refuses: Python's, one by one
        parsed = pa.array([_utc_or_none(t) for t in times.to_pylist()], pa.timestamp("us", tz="UTC"))
    keep = pa.array(np.ones(len(parsed), dtype=bool))
    for bound, compare in ((window.start, pc.greater_equal), (window.end, pc.less)):
        if bound is not None:
            keep = pc.and_(keep, pc.fill_null(compare(parsed, pa.scalar(bound, pa.timestamp("us", tz="UTC"))), True))
    return keep


def _utc_or_none(text: str | None) -> datetime | None:
    try:
        return utc_time(text)
    except ValueError:
        return None


def _read_columnar(path: Path, out: CaptureData, window: Window = Window()) -> bool:
    """The file read by Arrow's JSON reader; CSV payloads stay in Arrow (one buffer of lines), the rest go to
    ``_add_payload``; a record without ``captureData.endpointInput.data`` is rejected with that reason. False (nothing
    added) when Arrow refuses the file (a line that is not JSON, a field of another type)."""
    import pyarrow.json as pa_json

    schema = TIMED_CAPTURE_SCHEMA if window else CAPTURE_SCHEMA
    try:
        table = pa_json.read_json(
            path,
            read_options=pa_json.ReadOptions(block_size=JSON_BLOCK),
            parse_options=pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
        )
        table.validate(full=True)  # Arrow's JSON reader takes bytes that are not UTF-8 into text: Python replaces them
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return False
    if window:
        keep = _inside(table, window)
        kept = int(pc.sum(keep).as_py() or 0)
        out.outside += len(table) - kept
        if kept < len(table):
            table = table.filter(keep)
    out.records += len(table)
    start = 0
    for chunk in table.column("captureData").chunks:
        request = pc.struct_field(chunk, "endpointInput")
        data, encoding, kind = (pc.struct_field(request, name) for name in ("data", "encoding", "observedContentType"))
        # CSV payloads with something in them (a payload of blanks is no row, as _add_payload reads it line by line)
        is_csv = pc.fill_null(
            pc.and_(pc.and_(pc.equal(pc.fill_null(encoding, "CSV"), "CSV"), pc.is_valid(data)), pc.invert(pc.utf8_is_space(data))), False
        )
        payloads = data if pc.all(is_csv).as_py() else data.filter(is_csv)
        if len(payloads):  # each payload and a newline, as one buffer of CSV lines (blank lines are skipped when parsed)
            lines = pc.binary_join_element_wise(payloads, "", "\n")
            offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
            out.csv_chunks.append(lines.buffers()[2][int(offsets[0]) : int(offsets[-1])])
        for i in np.flatnonzero(~is_csv.to_numpy(zero_copy_only=False)).tolist():
            payload = {"data": data[i].as_py(), "encoding": encoding[i].as_py(), "observedContentType": kind[i].as_py()}
            try:  # a missing member is absent, not None: _add_payload says which
                _add_payload({k: v for k, v in payload.items() if v is not None}, out)
            except (ValueError, KeyError, TypeError, AttributeError, RequestError) as exc:
                out.reject(f"{path.name}:record {start + i + 1}", f"{type(exc).__name__}: {str(exc)[:80]}")
        start += len(chunk)
    return True


def read_capture(root: Path, window: Window = Window()) -> CaptureData:
    """Every request under ``root`` (``*.jsonl``, any depth) made inside ``window``: each file columnar with Arrow,
    or line by line when Arrow refuses it (then each malformed line is counted with its reason)."""
    out = CaptureData()
    for path in sorted(root.rglob("*.jsonl")):
        if not _read_columnar(path, out, window):
            _read_lines(path, out, window)
    return out


def read_plain_csv(root: Path) -> CaptureData:
    """Plain CSV rows without a header, every ``.csv`` file under ``root`` (any depth): what a batch transform scores
    (one record per line). Read as captured CSV payloads, so the columns are named and checked exactly as an endpoint's
    traffic is; each non-empty line is a record."""
    out = CaptureData()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name.lower().endswith(".csv") and not p.name.startswith((".", "_"))):
        body = path.read_bytes().decode("utf-8", errors="replace").encode()  # a byte that is not UTF-8 replaced, as in capture
        lines = sum(1 for line in body.splitlines() if line.strip())
        if lines:
            out.csv_chunks.append(body + b"\n")  # the next file starts on a line of its own (a blank line is no row)
            out.records += lines
    return out


# -- a data set as named columns of text ----------------------------------------------------------------


@dataclass
class Dataset:
    names: list[str]
    columns: list[pa.ChunkedArray]  # text, or float64 when every cell of the column read as a number; null where missing
    text: Callable[[list[int]], dict[int, pa.ChunkedArray]] | None = None  # float64 columns as text, re-read on demand, together

    @property
    def rows(self) -> int:
        return len(self.columns[0]) if self.columns else 0


def normalize_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Trimmed text, with the missing values (``MISSING_TOKENS``) as nulls."""
    column = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
    return pc.if_else(pc.is_in(column, value_set=pa.array(MISSING_TOKENS)), pa.scalar(None, pa.string()), column)


def _csv_body(chunks: list[pa.Buffer | bytes]) -> tuple[pa.Buffer | bytes | None, list[str]]:
    """The CSV payloads as one buffer, and positional column names. The parts are replaced by the whole in
    ``chunks`` (the caller's list): they are not held twice, and a second call joins nothing."""
    chunks[:] = [c for c in chunks if len(c)]
    if not chunks:
        return None, []
    if len(chunks) > 1:
        chunks[:] = [pa.py_buffer(b"".join(chunks))]  # Arrow buffers join without a copy each
    body = chunks[0]
    head = bytes(body[: 1 << 16]).split(b"\n", 1)[0].decode("utf-8", errors="replace")
    return body, [f"c{i}" for i in range(len(next(csv.reader([head]))))]


def _read_csv(body, names: list[str], kind: pa.DataType, keep_apart=None, columns: list[str] | None = None) -> pa.Table:
    return pa_csv.read_csv(
        pa.BufferReader(body),
        read_options=pa_csv.ReadOptions(column_names=names, use_threads=True),
        parse_options=pa_csv.ParseOptions(invalid_row_handler=keep_apart, newlines_in_values=False),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict.fromkeys(names, kind),
            include_columns=columns,
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            null_values=list(MISSING_TOKENS),
        ),
    )


def _parse_csv(chunks: list[pa.Buffer | bytes], *, numbers: bool = False) -> tuple[list[pa.ChunkedArray], list[list[str | None]]]:
    """CSV payloads as columns (Arrow's reader, in one pass; missing values null as it reads); rows of another width
    than the first come back apart. ``numbers``: read every cell as float64 (ArrowInvalid if one is not a number)."""
    body, names = _csv_body(chunks)
    if body is None:
        return [], []
    odd: list[list[str | None]] = []

    def keep_apart(row) -> str:
        odd.append([None if c.strip() in MISSING_TOKENS else c for c in next(csv.reader([row.text]))])
        return "skip"

    table = _read_csv(body, names, pa.float64() if numbers else pa.string(), keep_apart)
    return [table.column(n) for n in names], odd


def _column_names(baseline_names: list[str], width: int) -> list[str]:
    """Positional columns named as the baseline's; past them ``_c<index>``, as Model Monitor names them."""
    return list(baseline_names[:width]) + [f"_c{i}" for i in range(len(baseline_names), width)]


def capture_dataset(capture: CaptureData, baseline_names: list[str]) -> Dataset:
    """The captured rows as columns named as the baseline's (positional rows by position, keyed rows by name);
    columns beyond the baseline's are named ``_c<index>`` (or by their key), as Model Monitor names them."""
    if not capture.rows and not capture.keyed:  # the common case: CSV traffic, read straight into numbers when it is numbers
        try:
            arrow_columns, odd = _parse_csv(capture.csv_chunks, numbers=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            odd = None
        if odd == []:
            keys = _column_names(baseline_names, len(arrow_columns))

            def text(indices: list[int]) -> dict[int, pa.ChunkedArray]:
                body, names = _csv_body(capture.csv_chunks)
                table = _read_csv(body, names, pa.string(), columns=[names[j] for j in indices])
                return {j: table.column(names[j]) for j in indices}

            return Dataset(keys, arrow_columns, text)
    arrow_columns, odd = _parse_csv(capture.csv_chunks)
    positional = odd + capture.rows
    keys = _column_names(baseline_names, max([len(arrow_columns), *(len(r) for r in positional)], default=0))
    for row in capture.keyed:
        keys += [k for k in row if k not in keys]
    arrow_rows = len(arrow_columns[0]) if arrow_columns else 0

    def column(j: int, name: str) -> pa.ChunkedArray:
        parts: list[pa.Array] = []
        if arrow_rows:
            parts += arrow_columns[j].chunks if j < len(arrow_columns) else [pa.nulls(arrow_rows, pa.string())]
        if positional:
            parts.append(pa.array([r[j] if j < len(r) else None for r in positional], pa.string()))
        if capture.keyed:
            parts.append(pa.array([r.get(name) for r in capture.keyed], pa.string()))
        return pa.chunked_array(parts, pa.string())  # missing values already null (profile trims what needs it)

    return Dataset(keys, [column(j, name) for j, name in enumerate(keys)])


def read_dataset(path: Path, kind: str | None = None) -> Dataset:
    """A baseline data set: CSV with a header, or JSON Lines of objects (keys: feature names). ``kind``: ``csv`` or
    ``json`` (default: by the file's suffix, ``.json``/``.jsonl`` being JSON Lines)."""
    if kind == "json" or (kind is None and path.suffix.lower() in (".jsonl", ".json")):
        rows = []
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise BaselineError(f"{path}:{number}: not JSON ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise BaselineError(f"{path}:{number}: a JSON Lines baseline holds one object per line (feature name -> value)")
                rows.append(row)
        if rows and "features" in rows[0] and "version" in rows[0]:
            raise BaselineError(f"{path} is a statistics.json: pass it as --baseline-statistics")
        names = list(dict.fromkeys(k for r in rows for k in r))
        return Dataset(names, [pa.chunked_array([pa.array([_cell(r.get(n)) for r in rows], pa.string())]) for n in names])
    text = path.read_text(encoding="utf-8")
    first = text.split("\n", 1)[0]
    names = next(csv.reader([first])) if first.strip() else []
    if not names:
        raise BaselineError(f"{path}: a CSV baseline needs a header line naming the features")
    table = pa_csv.read_csv(
        pa.BufferReader(text.encode()),
        read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True, null_values=list(MISSING_TOKENS)
        ),
    )
    return Dataset(names, [table.column(n) for n in names])


def read_datasets(paths: list[Path], kind: str | None = None) -> Dataset:
    """Several files of one data set (a processing input's objects), as one: each with the same header."""
    if not paths:
        raise BaselineError("no baseline data set: the folder holds no files")
    parts = [read_dataset(p, kind) for p in paths]
    for path, part in zip(paths[1:], parts[1:]):
        if part.names != parts[0].names:
            raise BaselineError(f"{path}: its columns {part.names} differ from {paths[0].name}'s {parts[0].names}")
    columns = [pa.chunked_array([c for part in parts for c in part.columns[j].chunks], pa.string()) for j in range(len(parts[0].names))]
    return Dataset(parts[0].names, columns)


# -- profiles: what statistics.json holds about one feature -----------------------------------------------
