"""Data capture in SageMaker's own format, for local mode (SageMaker captures in front of the container).

Each invocation becomes one JSON line::

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                       "data": "...", "encoding": "CSV"},
                     "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT",
                                        "data": "...", "encoding": "CSV"}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceTime": "2026-11-23T12:00:00Z"},
     "eventVersion": "0"}

in ``<root>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<uuid>.jsonl`` (hourly folders, as
SageMaker writes them to S3). Every worker process writes its own files; each record is flushed
as it is written, so a record that was answered is never lost with the process.
"""

from __future__ import annotations

import base64
import json
import os
import random
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

CAPTURE_DIR_ENV = "MLOPS_LOCAL_CAPTURE_DIR"
SAMPLING_ENV = "MLOPS_LOCAL_CAPTURE_PERCENT"
ENDPOINT_ENV = "MLOPS_LOCAL_ENDPOINT_NAME"


def _encoding(content_type: str) -> str:
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "text/csv":
        return "CSV"
    if kind in ("application/json", "application/jsonlines"):
        return "JSON"
    return "BASE64"


def _payload(body: bytes, content_type: str, mode: str) -> dict:
    """One side of the exchange, keys in SageMaker's order."""
    encoding = _encoding(content_type)
    if encoding != "BASE64":
        try:
            return {"observedContentType": content_type, "mode": mode, "data": body.decode("utf-8"), "encoding": encoding}
        except UnicodeDecodeError:
            pass
    return {"observedContentType": content_type, "mode": mode, "data": base64.b64encode(body).decode("ascii"), "encoding": "BASE64"}


def capture_record(request: bytes, request_type: str, response: bytes, response_type: str, *, event_id: str, when: datetime) -> dict:
    return {
        "captureData": {
            "endpointInput": _payload(request, request_type, "INPUT"),
            "endpointOutput": _payload(response, response_type, "OUTPUT"),
        },
        "eventMetadata": {"eventId": event_id, "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"},
        "eventVersion": "0",
    }


class CaptureWriter:
    """Appends capture records of this process under ``root/endpoint/variant/yyyy/mm/dd/hh/``."""

    def __init__(self, root: Path, *, endpoint: str = "local-endpoint", variant: str = "AllTraffic", sampling_percent: float = 100.0) -> None:
        if not 0 < sampling_percent <= 100:
            raise ValueError(f"sampling percentage must be in (0, 100], got {sampling_percent}")
        self.base = root / endpoint / variant
        self.sampling_percent = sampling_percent
        self._lock = threading.Lock()
        self._hour: str | None = None
        self._file = None
        self._pid = os.getpid()

    @classmethod
    def from_env(cls) -> CaptureWriter | None:
        root = os.environ.get(CAPTURE_DIR_ENV)
        if not root:
            return None
        return cls(Path(root), endpoint=os.environ.get(ENDPOINT_ENV, "local-endpoint"), sampling_percent=float(os.environ.get(SAMPLING_ENV, "100")))

    def _handle(self, when: datetime):
        hour = when.strftime("%Y/%m/%d/%H")
        if hour != self._hour or self._pid != os.getpid():
            if self._file is not None:
                self._file.close()
            directory = self.base / hour
            directory.mkdir(parents=True, exist_ok=True)
            name = f"{when.strftime('%M-%S')}-{when.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
            self._file = open(directory / name, "a", encoding="utf-8")  # noqa: SIM115 (kept open across requests)
            self._hour, self._pid = hour, os.getpid()
        return self._file

    def write(self, request: bytes, request_type: str, response: bytes, response_type: str, *, event_id: str | None = None) -> bool:
        """Record one invocation (subject to sampling); returns whether it was captured."""
        if self.sampling_percent < 100 and random.uniform(0, 100) >= self.sampling_percent:
            return False
        when = datetime.now(UTC)
        record = capture_record(request, request_type, response, response_type, event_id=event_id or str(uuid.uuid4()), when=when)
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock:
            handle = self._handle(when)
            handle.write(line)
            handle.flush()
        return True

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
                self._hour = None  # a write after this opens a file of its own


def read_records(root: Path) -> list[dict]:
    """Every capture record under ``root`` (any endpoint, variant and hour), in inference-time order.

    Each worker writes its own files, so records are merged across files by ``inferenceTime``.
    """
    records = []
    for path in sorted(root.rglob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            records += [json.loads(line) for line in fh if line.strip()]
    return sorted(records, key=lambda r: r["eventMetadata"]["inferenceTime"])
