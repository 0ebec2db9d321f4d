"""Data-quality check on captured traffic that reads and writes what SageMaker Model Monitor does.

Inputs, as Model Monitor's data-quality analyzer takes them:
- a baseline: either a data set to suggest statistics and constraints from (CSV with a header, or JSON
  Lines of objects), or an existing ``statistics.json`` and/or ``constraints.json`` (what the analyzer
  takes as ``baseline_statistics`` / ``baseline_constraints``; edited constraints apply as written);
- data-capture JSON Lines (SageMaker's or local mode's): every ``encoding`` (CSV, JSON, BASE64) and the
  documented request layouts (CSV rows; JSON ``{"instances": [[...]]}``, ``{"instances": [{"features":
  [...]}]}``, ``{"instances": [{name: value}]}``, ``{"features": [...]}``, a list of rows; JSON Lines
  with one row per line). Malformed capture lines are counted and reported, never fatal. Given a monitoring
  period (``Window``), only the records whose ``inferenceTime`` is inside it are analyzed.

Outputs, in Model Monitor's formats: ``statistics.json`` (of the captured data), ``constraints.json``
(the baseline's, suggested or as given), ``constraint_violations.json``; plus ``report.html`` and
``summary.json``.

Types are inferred per column as Model Monitor does: ``Integral`` (every present value an integer),
``Fractional`` (numbers, some with a fraction), ``String`` (anything else present), ``Unknown`` (no
value present). Every cell is either present or missing (empty, ``null``, ``nan``), so the counts add
up to the rows. Checks (Model Monitor's ``constraint_check_type`` values and, where its output was
seen, its wording): ``data_type_check``, ``completeness_check``, ``baseline_drift_check``,
``categorical_values_check``, ``missing_column_check``, ``extra_column_check``.

Numeric drift is the Kolmogorov-Smirnov distance (the largest gap between the empirical CDFs, the
L-infinity distance Model Monitor reports) against the baseline's values, or against its ``statistics.json``
KLL sketch; a feature drifts when the distance is over ``comparison_threshold`` *and* over what chance
alone gives for samples this size (the KS critical value at ``alpha``, split across features). String
features are compared by the L-infinity distance of their category frequencies
(``categorical_drift_method: LInfinity``).
"""

from __future__ import annotations

import base64
import csv
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from mlops_container.inference import JSONLINES, RequestError, json_rows, media_type

DEFAULT_THRESHOLD = 0.1
DEFAULT_ALPHA = 0.01
MAX_DOMAIN = 20  # String features with at most this many distinct baseline values get a suggested domain
INTEGRAL = r"^[+-]?\d+$"
NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
# Missing cells: empty, null, and not-a-number or infinite values (no statistic can use them).
MISSING_TOKENS = ("", "nan", "NaN", "NAN", "null", "None", "inf", "+inf", "-inf", "Infinity", "+Infinity", "-Infinity")


NO_DATA = "no data"  # a summary's status when the period held no row to check


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
    encoding = str(payload.get("encoding", "CSV")).upper()
    data = payload.get("data", "")
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
        return cls(_utc(start, "start_time"), _utc(end, "end_time"))

    def __bool__(self) -> bool:
        return self.start is not None or self.end is not None

    def contains(self, when: datetime | None) -> bool:
        return when is None or ((self.start is None or when >= self.start) and (self.end is None or when < self.end))


def _utc(text: str | None, name: str) -> datetime | None:
    """An ISO 8601 time (``2019-12-01T15:20:00Z``; the contract's example writes ``15: 20: 00Z``) as aware UTC."""
    if text is None or not text.strip():
        return None
    try:
        when = datetime.fromisoformat(text.replace(" ", ""))
    except ValueError:
        raise BaselineError(f"{name} {text!r} is not an ISO 8601 time such as 2019-12-01T15:20:00Z") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


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
        return _utc(text, "inferenceTime")
    except BaselineError:
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
        is_csv = pc.fill_null(pc.and_(pc.equal(pc.fill_null(encoding, "CSV"), "CSV"), pc.is_valid(data)), False)
        payloads = data if pc.all(is_csv).as_py() else data.filter(is_csv)
        if len(payloads):  # each payload and a newline, as one buffer of CSV lines (blank lines are skipped when parsed)
            lines = pc.binary_join_element_wise(payloads, "", "\n")
            offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
            out.csv_chunks.append(lines.buffers()[2][int(offsets[0]) : int(offsets[-1])])
        for i in np.flatnonzero(~is_csv.to_numpy(zero_copy_only=False)).tolist():
            payload = {"data": data[i].as_py(), "encoding": encoding[i].as_py(), "observedContentType": kind[i].as_py()}
            try:
                if payload["data"] is None:
                    raise KeyError("captureData.endpointInput.data")
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
        body = path.read_bytes()
        lines = sum(1 for line in body.splitlines() if line.strip())
        if lines:
            out.csv_chunks.append(body if body.endswith(b"\n") else body + b"\n")
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


def _normalize(column: pa.ChunkedArray) -> pa.ChunkedArray:
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


@dataclass
class Profile:
    name: str
    inferred_type: str  # Integral | Fractional | String | Unknown
    present: int
    missing: int
    integral: int = 0  # present values that are integers
    numeric: int = 0  # present values that are numbers (integers included)
    values: np.ndarray | None = None  # the numbers (numeric features)
    weights: np.ndarray | None = None  # their weights (a KLL sketch's levels), None: one each
    counts: dict[str, float] | None = None  # value -> count (String features)
    integral_of: Callable[[], int] | None = None  # counts ``integral`` when asked (it needs the column's text read again)

    @property
    def total(self) -> int:
        return self.present + self.missing

    def integral_count(self) -> int:
        if self.integral_of is not None:
            self.integral, self.integral_of = self.integral_of(), None
        return self.integral


def profile(name: str, column: pa.ChunkedArray, text_of: Callable[[], pa.ChunkedArray] | None = None) -> Profile:
    """What ``statistics.json`` says of a column; numeric values sorted (every later use wants them so).
    ``column`` is text, or float64 already: then whether whole numbers are Integral depends on how they are written,
    and ``text_of`` gives the column as text (read when every value is whole, for the type, or when only some are
    and a check against an Integral constraint asks how many)."""
    present = column.drop_null()
    n = len(present)
    if pa.types.is_floating(column.type):
        numbers = present
    else:
        try:  # the common case, a column of numbers: Arrow's cast reads them all, and the text says which are integers
            numbers = pc.cast(present, pa.float64()) if n else None
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            numbers = None
    if numbers is not None:
        values = numbers.to_numpy()
        # Integral is about the text ("3" is, "3.0" and "3e0" are not): only whole values need their text read.
        whole = values == np.floor(values)
        whole_count = int(whole.sum())

        def integral_of(written: pa.ChunkedArray) -> int:
            return whole_count - int(pc.sum(pc.match_substring_regex(written.drop_null().filter(pa.array(whole)), r"[.eE]")).as_py() or 0)

        written = text_of if pa.types.is_floating(column.type) else (lambda: column)
        lazy = None
        if whole_count == n and n:
            integral = integral_of(written())
        elif whole_count:  # a value with a fraction makes the column Fractional; the Integral share is counted if asked
            integral, lazy = 0, (lambda: integral_of(written()))
        else:
            integral = 0
        result = Profile(name, "Integral" if integral == n and n else "Fractional", n, len(column) - n, integral, n, integral_of=lazy)
        result.values = np.sort(values)  # Arrow's buffer is read-only (a single chunk is not copied)
        return result
    column = _normalize(column)  # padded cells, and missing values written with padding
    present = column.drop_null()
    n = len(present)
    integral = int(pc.sum(pc.match_substring_regex(present, INTEGRAL)).as_py() or 0) if n else 0
    is_number = pc.match_substring_regex(present, NUMBER) if n else None
    numeric = int(pc.sum(is_number).as_py() or 0) if n else 0
    kind = "Unknown" if n == 0 else "Integral" if integral == n else "Fractional" if numeric == n else "String"
    result = Profile(name, kind, n, len(column) - n, integral, numeric)
    if kind in ("Integral", "Fractional"):
        result.values = np.sort(_numbers(present))
    elif n and kind == "String":
        counts = pc.value_counts(present)
        result.counts = {v.as_py(): float(c.as_py()) for v, c in zip(counts.field("values"), counts.field("counts"))}
        if numeric:  # the numbers among the strings: a numeric column with stray text still shows its numeric drift
            result.values = np.sort(_numbers(present.filter(is_number)))
    return result


def _numbers(texts: pa.ChunkedArray) -> np.ndarray:
    """Text that matched ``NUMBER`` as float64: Arrow's cast, or Python's ``float`` for forms Arrow's parser refuses."""
    try:
        return pc.cast(texts, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        return np.array([float(t) for t in texts.to_pylist()], dtype=np.float64)


def _each(function, *iterables) -> list:
    """``function`` over the items, on a thread per core: Arrow's kernels and NumPy's sort release the GIL."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(function, *iterables))


def _all_whole_numbers(column: pa.ChunkedArray) -> bool:
    values = column.drop_null().to_numpy()
    return bool(len(values)) and bool((values == np.floor(values)).all())


def profiles(dataset: Dataset) -> list[Profile]:
    texts: dict[int, pa.ChunkedArray] = {}
    if dataset.text is not None:  # read as numbers: the columns holding whole numbers are read again as text, in one pass
        whole = _each(lambda j: pa.types.is_floating(dataset.columns[j].type) and _all_whole_numbers(dataset.columns[j]), range(len(dataset.names)))
        if any(whole):
            texts = dataset.text([j for j, needed in enumerate(whole) if needed])

    def one(j: int) -> Profile:
        text_of = (lambda: texts[j] if j in texts else dataset.text([j])[j]) if dataset.text is not None else None
        return profile(dataset.names[j], dataset.columns[j], text_of)

    return _each(one, range(len(dataset.names)))


def _from_statistics(feature: dict) -> Profile:
    """A profile from a ``statistics.json`` feature (Model Monitor's or ours)."""
    kind = feature.get("inferred_type", "Unknown")
    stats = feature.get("numerical_statistics") or feature.get("string_statistics") or {}
    common = stats.get("common", {})
    result = Profile(feature["name"], kind, int(common.get("num_present", 0)), int(common.get("num_missing", 0)))
    if "numerical_statistics" in feature:
        sketch = stats.get("distribution", {}).get("kll", {}).get("sketch", {})
        levels = sketch.get("data") or []
        values = [np.asarray(level, dtype=np.float64) for level in levels]
        if values and sum(len(v) for v in values):
            merged = np.concatenate(values)
            order = np.argsort(merged, kind="stable")
            result.values = merged[order]
            result.weights = np.concatenate([np.full(len(v), 2.0**i) for i, v in enumerate(values)])[order]
    if "string_statistics" in feature:
        buckets = stats.get("distribution", {}).get("categorical", {}).get("buckets", [])
        result.counts = {str(b["value"]): float(b["count"]) for b in buckets}
    return result


def read_statistics(path: Path) -> list[Profile]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return [_from_statistics(f) for f in document["features"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BaselineError(f"{path}: not a Model Monitor statistics.json ({type(exc).__name__}: {exc})") from None


# -- statistics.json and constraints.json ---------------------------------------------------------------------


def _numerical(p: Profile) -> dict:
    values = p.values if p.values is not None else np.empty(0)
    stats: dict = {"common": {"num_present": p.present, "num_missing": p.missing}}
    if len(values):
        low, high = float(values[0]), float(values[-1])  # sorted
        edges = np.linspace(low, high, 11) if high > low else np.array([low, low])
        # ten equal-width buckets, the last one closed (np.histogram's rule), counted on the sorted values
        counts = (
            np.diff(np.concatenate([[0], np.searchsorted(values, edges[1:-1], side="left"), [len(values)]]))
            if high > low
            else np.array([len(values)])
        )
        # the sketch: up to 2,048 quantiles, linearly interpolated between order statistics (np.quantile's default)
        position = np.linspace(0, len(values) - 1, min(2048, len(values)))
        below = np.floor(position).astype(np.intp)
        above = np.minimum(below + 1, len(values) - 1)
        quantiles = values[below] + (values[above] - values[below]) * (position - below)
        stats |= {
            "mean": float(values.mean()),
            "sum": float(values.sum()),
            "std_dev": float(values.std()),
            "min": low,
            "max": high,
            "distribution": {
                "kll": {
                    "buckets": [
                        {"lower_bound": float(a), "upper_bound": float(b), "count": float(c)} for a, b, c in zip(edges[:-1], edges[1:], counts)
                    ],
                    "sketch": {
                        "parameters": {"c": 0.64, "k": 2048.0},
                        "data": [quantiles.tolist()],
                    },
                }
            },
        }
    return stats


def statistics_json(items: list[Profile], item_count: int) -> dict:
    """Model Monitor's ``statistics.json`` (data quality)."""
    return {"version": 0.0, "dataset": {"item_count": int(item_count)}, "features": _each(_feature_statistics, items)}


def statistics_text(items: list[Profile], item_count: int) -> str:
    """``statistics.json``'s text, without indentation: its KLL sketches are most of it (thousands of numbers), and
    Python's JSON encoder falls back to pure Python once asked to indent (4x slower: 0.1 s of a 1,000-record drift
    check's 0.18 s). Readers parse it; whitespace is no part of Model Monitor's format."""
    return json.dumps(statistics_json(items, item_count), separators=(",", ":"))


def _feature_statistics(p: Profile) -> dict:
    if p.inferred_type in ("Integral", "Fractional"):
        return {"name": p.name, "inferred_type": p.inferred_type, "numerical_statistics": _numerical(p)}
    stats: dict = {"common": {"num_present": p.present, "num_missing": p.missing}}
    if p.counts:
        stats["distinct_count"] = float(len(p.counts))
        top = sorted(p.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        stats["distribution"] = {"categorical": {"buckets": [{"value": v, "count": c} for v, c in top]}}
    return {"name": p.name, "inferred_type": p.inferred_type, "string_statistics": stats}


def suggest_constraints(items: list[Profile], threshold: float) -> dict:
    """The ``constraints.json`` Model Monitor's baseline job suggests for a data set so profiled."""
    features = []
    for p in items:
        feature: dict = {"name": p.name, "inferred_type": p.inferred_type, "completeness": p.present / p.total if p.total else 1.0}
        if p.inferred_type in ("Integral", "Fractional"):
            feature["num_constraints"] = {"is_non_negative": bool(p.values is not None and len(p.values) and (p.values >= 0).all())}
        elif p.inferred_type == "String" and p.counts and len(p.counts) <= MAX_DOMAIN:
            feature["string_constraints"] = {"domains": sorted(p.counts)}
        features.append(feature)
    return {
        "version": 0.0,
        "features": features,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": 1.0,
            "domain_content_threshold": 1.0,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": threshold,
                "comparison_method": "Robust",
                "categorical_comparison_threshold": threshold,
                "categorical_drift_method": "LInfinity",
            },
        },
    }


def read_constraints(path: Path) -> dict:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(document.get("features"), list):
            raise KeyError("features")
        return document
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise BaselineError(f"{path}: not a Model Monitor constraints.json ({type(exc).__name__}: {exc})") from None


# -- distances --------------------------------------------------------------------------------------------------


def ks_distance(a: np.ndarray, b: np.ndarray, a_weights: np.ndarray | None = None) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs (``a`` optionally weighted).
    Profiles hold their samples sorted; others are sorted here.

    Between two consecutive distinct values of ``a`` its CDF is flat and ``b``'s only rises, so the gap is largest
    at a value of ``a`` (just at it, or just before it): ``b`` is bisected at ``a``'s distinct values only, which
    costs nothing next to the captured data however large it is."""
    if len(a) == 0 or len(b) == 0:
        return math.nan
    if len(a) > 1 and (np.diff(a) < 0).any():
        order = np.argsort(a, kind="stable")
        a, a_weights = a[order], None if a_weights is None else a_weights[order]
    if len(b) > 1 and (np.diff(b) < 0).any():
        b = np.sort(b)
    weights = np.ones(len(a)) if a_weights is None else a_weights
    ends = np.append(np.flatnonzero(np.diff(a)), len(a) - 1)  # the last of each run of equal values
    points = a[ends]
    at = np.cumsum(weights)[ends] / weights.sum()  # a's CDF at each distinct value
    before = np.concatenate([[0.0], at[:-1]])  # and just before it
    b_at = np.searchsorted(b, points, side="right") / len(b)
    b_before = np.searchsorted(b, points, side="left") / len(b)
    return float(max(np.abs(at - b_at).max(), np.abs(before - b_before).max()))


def ks_critical(n: int, m: int, alpha: float) -> float:
    """Distance that samples of sizes n and m exceed by chance with probability ``alpha`` (asymptotic)."""
    if n == 0 or m == 0:
        return math.inf
    return math.sqrt(-0.5 * math.log(alpha / 2)) * math.sqrt((n + m) / (n * m))


def _distinct(ordered: np.ndarray) -> int:
    """Distinct values of a sorted array (repeated rows counted once in the chance level)."""
    return int(np.count_nonzero(np.diff(ordered))) + 1 if len(ordered) else 0


def linf_distance(a: dict[str, float], b: dict[str, float]) -> float:
    """The largest gap between two category frequency distributions."""
    ta, tb = sum(a.values()), sum(b.values())
    if not ta or not tb:
        return math.nan
    return max(abs(a.get(k, 0.0) / ta - b.get(k, 0.0) / tb) for k in set(a) | set(b))


# -- the checks ------------------------------------------------------------------------------------------------


@dataclass
class FeatureCheck:
    name: str
    baseline: Profile | None
    current: Profile | None
    distance: float = math.nan
    limit: float = math.nan
    drift: bool = False


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def check(
    constraints: dict, baseline: list[Profile], current: list[Profile], *, threshold: float | None = None, alpha: float = DEFAULT_ALPHA
) -> tuple[list[FeatureCheck], list[dict]]:
    """Each baseline feature checked against the current data: (per-feature results, Model Monitor violations)."""
    config = constraints.get("monitoring_config", {})
    evaluate = config.get("evaluate_constraints", "Enabled") == "Enabled"
    distribution = config.get("distribution_constraints", {})
    compare = distribution.get("perform_comparison", "Enabled") == "Enabled"
    numeric_threshold = float(distribution.get("comparison_threshold", threshold if threshold is not None else DEFAULT_THRESHOLD))
    categorical_threshold = float(distribution.get("categorical_comparison_threshold", numeric_threshold))
    type_threshold = float(config.get("datatype_check_threshold", 1.0))
    domain_threshold = float(config.get("domain_content_threshold", 1.0))
    base = {p.name: p for p in baseline}
    now = {p.name: p for p in current}
    expected = [f["name"] for f in constraints["features"]]
    known = set(expected)
    per_feature_alpha = alpha / max(1, len(expected))
    checks, violations = [], []

    def distance(feature: dict) -> tuple[str, tuple[float, float]]:
        """The feature's drift distance and the limit it is held to (NaN when there is nothing to compare)."""
        name, kind = feature["name"], feature.get("inferred_type", "Unknown")
        b, c = base.get(name), now.get(name)
        if not compare or b is None or c is None:
            return name, (math.nan, math.nan)
        if kind in ("Integral", "Fractional") and b.values is not None and c.values is not None and len(c.values):
            n = b.present if b.weights is not None else _distinct(b.values)
            limit = max(numeric_threshold, ks_critical(n, _distinct(c.values), per_feature_alpha))
            return name, (ks_distance(b.values, c.values, b.weights), limit)
        if kind == "String" and b.counts and c.counts:
            return name, (linf_distance(b.counts, c.counts), categorical_threshold)
        return name, (math.nan, math.nan)

    distances = dict(_each(distance, constraints["features"]))  # the expensive part, a feature per thread

    def violation(feature: str, kind: str, description: str) -> None:
        violations.append({"feature_name": feature, "constraint_check_type": kind, "description": description})

    for feature in constraints["features"]:
        name, kind = feature["name"], feature.get("inferred_type", "Unknown")
        b, c = base.get(name), now.get(name)
        result = FeatureCheck(name, b, c)
        checks.append(result)
        if c is None:
            violation(
                name,
                "missing_column_check",
                f"There are missing columns in current dataset. Number of columns in current dataset: {len(current)}, "
                f"Number of columns in baseline constraints: {len(expected)}",
            )
            continue
        if evaluate and c.present:
            # Model Monitor's wording, its quirk included: the observed share is printed as a fraction followed by "%".
            share = (c.integral_count() if kind == "Integral" else c.numeric if kind == "Fractional" else c.present) / c.present
            if kind in ("Integral", "Fractional") and share < type_threshold:
                violation(
                    name,
                    "data_type_check",
                    f"Data type match requirement is not met. Expected data type: {kind}, Expected match: {_percent(type_threshold)}. "
                    f"Observed: Only {share}% of data is {kind}.",
                )
            domains = set(feature.get("string_constraints", {}).get("domains") or ())
            if kind == "String" and domains and c.counts is not None:
                inside = sum(n for v, n in c.counts.items() if v in domains) / c.present
                if inside < domain_threshold:
                    violation(
                        name,
                        "categorical_values_check",
                        f"Data domain requirement is not met. Expected: {_percent(domain_threshold)} of data in the domain. "
                        f"Observed: Only {inside}% of data is in the domain.",
                    )
        if evaluate and c.total:
            completeness = c.present / c.total
            required = float(feature.get("completeness", 1.0))
            if completeness < required:
                violation(
                    name,
                    "completeness_check",
                    f"Data completeness requirement is not met. Expected: {_percent(required)}. Observed: Only {completeness}%.",
                )
        result.distance, result.limit = distances[name]  # NaN when not compared
        if not math.isnan(result.distance) and result.distance > result.limit:
            result.drift = True
            violation(name, "baseline_drift_check", f"Baseline drift distance: {result.distance} exceeds threshold: {result.limit}")
    for p in current:
        if p.name not in known:
            violation(
                p.name,
                "extra_column_check",
                f"There are extra columns in current dataset. Number of columns in current dataset: {len(current)}, "
                f"Number of columns in baseline constraints: {len(expected)}",
            )
    return checks, violations


# -- the report ------------------------------------------------------------------------------------------------


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


def analyze(
    baseline_dataset: Path | None,
    capture_dir: Path,
    output_dir: Path,
    *,
    baseline_statistics: Path | None = None,
    baseline_constraints: Path | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    window: Window = Window(),
    plain_csv: bool = False,
) -> dict:
    """Check the captured data (made inside ``window``) against the baseline and write Model Monitor's three files,
    report.html and summary.json. ``plain_csv``: ``capture_dir`` holds plain CSV rows without a header (a batch
    transform's input, :func:`read_plain_csv`) instead of data capture files.

    The baseline's statistics come from ``baseline_statistics`` if given, else from ``baseline_dataset``; its
    constraints from ``baseline_constraints`` if given (as written), else suggested from the baseline statistics.
    Constraints alone are checked without drift distances (there is no distribution to compare with), as Model
    Monitor does.
    """
    if baseline_dataset is None and baseline_statistics is None and baseline_constraints is None:
        raise BaselineError("no baseline: give a baseline data set, or a statistics.json and/or constraints.json")
    if baseline_dataset is not None and baseline_dataset.suffix == ".json":
        head = baseline_dataset.read_text(encoding="utf-8")[:4096]
        if '"features"' in head and '"version"' in head:
            which = "--baseline-constraints" if '"monitoring_config"' in head else "--baseline-statistics"
            raise BaselineError(f"{baseline_dataset} is Model Monitor's own baseline file: pass it as {which}")
    if baseline_statistics is not None:
        baseline = read_statistics(baseline_statistics)
    elif baseline_dataset is not None:
        baseline = profiles(read_dataset(baseline_dataset))
    else:
        baseline = []
    constraints = read_constraints(baseline_constraints) if baseline_constraints else suggest_constraints(baseline, threshold)
    capture = read_plain_csv(capture_dir) if plain_csv else read_capture(capture_dir, window)
    dataset = capture_dataset(capture, [f["name"] for f in constraints["features"]])
    current = profiles(dataset)
    # A period without traffic is "no data": neither drift nor a failure (Model Monitor's own analyzer fails such a run).
    # No column is missing from rows that do not exist, so nothing is checked.
    no_data = dataset.rows == 0
    checks, violations = ([], []) if no_data else check(constraints, baseline, current, threshold=threshold, alpha=alpha)
    summary = {
        "status": NO_DATA if no_data else ("violations" if violations else "ok"),
        "records": capture.records,
        "outside_window": capture.outside,
        "rows": dataset.rows,
        "malformed": capture.malformed,
        "malformed_examples": capture.malformed_examples,
        "threshold": threshold,
        "alpha": alpha,
        "violations": len(violations),
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "statistics.json").write_text(statistics_text(current, dataset.rows))
    (output_dir / "constraints.json").write_text(json.dumps(constraints, indent=1))
    (output_dir / "constraint_violations.json").write_text(json.dumps({"violations": violations}, indent=1))
    (output_dir / "report.html").write_text(html_report(checks, violations, summary), encoding="utf-8")
    summary["drifted_features"] = [c.name for c in checks if c.drift]
    summary["distances"] = {c.name: round(c.distance, 4) for c in checks if not math.isnan(c.distance)}
    summary["violation_types"] = sorted({v["constraint_check_type"] for v in violations})
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, help="baseline data set: CSV with a header, or JSON Lines of objects")
    parser.add_argument("--baseline-statistics", type=Path, help="a statistics.json (Model Monitor's or this check's)")
    parser.add_argument("--baseline-constraints", type=Path, help="a constraints.json, applied as written")
    parser.add_argument("--capture", type=Path, required=True, help="folder of data-capture .jsonl files")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA)
    args = parser.parse_args(argv)
    for given in (args.baseline, args.baseline_statistics, args.baseline_constraints):
        if given is not None and not given.exists():
            print(f"drift check failed: no baseline file {given}", file=sys.stderr)
            return 1
    try:
        summary = analyze(
            args.baseline,
            args.capture,
            args.output,
            baseline_statistics=args.baseline_statistics,
            baseline_constraints=args.baseline_constraints,
            threshold=args.threshold,
            alpha=args.alpha,
        )
    except BaselineError as exc:
        print(f"drift check failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({k: summary[k] for k in ("records", "rows", "malformed", "drifted_features", "violation_types")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
