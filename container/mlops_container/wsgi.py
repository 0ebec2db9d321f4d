"""The inference web app (plain WSGI, served by gunicorn behind nginx): ``/ping`` and ``/invocations``.

- The model is loaded once per process at start; ``/ping`` answers 200 once it is loaded, 503 with
  the reason otherwise.
- A bad request gets a 4xx and a one-line JSON reason: empty body, wrong column count, non-numeric
  values (400), body over ``MAX_PAYLOAD`` (413), unsupported content type (415) or ``Accept`` (406).
- Any other error is a 500 whose body carries the request id, logged with its traceback under the
  same id. No request can take a worker down: every error is caught here.
Environment: ``MLOPS_ML_ROOT`` (model in ``<root>/model``), ``MODEL_SERVER_MAX_PAYLOAD_BYTES``
(default 6 MiB, SageMaker's real-time limit), and local data capture (see ``capture``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from mlops_container import inference
from mlops_container.capture import CaptureWriter
from mlops_container.inference import RequestError
from mlops_container.model import TrainedModel
from mlops_container.paths import ml_root

MAX_PAYLOAD_ENV = "MODEL_SERVER_MAX_PAYLOAD_BYTES"
DEFAULT_MAX_PAYLOAD = 6 * 1024 * 1024

log = logging.getLogger("mlops_container.serving")

StartResponse = Callable[[str, list[tuple[str, str]]], object]
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    411: "Length Required",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class InferenceApp:
    def __init__(self, model_dir: Path, *, max_payload: int = DEFAULT_MAX_PAYLOAD, capture: CaptureWriter | None = None) -> None:
        self.max_payload = max_payload
        self.capture = capture
        self.model: TrainedModel | None = None
        self.load_error: str | None = None
        try:
            self.model = TrainedModel.load(model_dir)
        except Exception as exc:  # /ping reports it; the worker stays up to say so
            self.load_error = f"model not loaded from {model_dir}: {type(exc).__name__}: {exc}"
            log.error(self.load_error)

    @classmethod
    def from_env(cls) -> InferenceApp:
        max_payload = int(os.environ.get(MAX_PAYLOAD_ENV, DEFAULT_MAX_PAYLOAD))
        return cls(ml_root() / "model", max_payload=max_payload, capture=CaptureWriter.from_env())

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        request_id = environ.get("HTTP_X_AMZN_REQUESTID") or environ.get("HTTP_X_REQUEST_ID") or str(uuid.uuid4())
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        started = time.perf_counter()
        try:
            if path == "/ping":
                status, body, kind = self._ping()
            elif path == "/invocations":
                if method != "POST":
                    raise RequestError(405, "use POST for /invocations")
                status, body, kind = self._invoke(environ, request_id)
            elif path == "/execution-parameters":
                status, kind = 200, inference.JSON
                body = json.dumps(
                    {"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": max(1, self.max_payload // (1024 * 1024))}
                ).encode()
            else:
                raise RequestError(404, f"no route {path}; routes: /ping, /invocations")
        except RequestError as exc:
            status, kind = exc.status, inference.JSON
            body = json.dumps({"error": exc.message, "requestId": request_id}).encode()
            log.info("request %s rejected: %s %s", request_id, exc.status, exc.message)
        except Exception:
            status, kind = 500, inference.JSON
            body = json.dumps({"error": "internal error; see the server log", "requestId": request_id}).encode()
            log.exception("request %s failed", request_id)
        if path == "/invocations":
            log.debug("request %s %s in %.1f ms", request_id, status, (time.perf_counter() - started) * 1000)
        start_response(
            f"{status} {_REASONS.get(status, '')}",
            [
                ("Content-Type", kind),
                ("Content-Length", str(len(body))),
                ("X-Request-Id", request_id),
            ],
        )
        return [body]

    def _ping(self) -> tuple[int, bytes, str]:
        if self.model is None:
            return 503, json.dumps({"status": "unhealthy", "reason": self.load_error}).encode(), inference.JSON
        return 200, b'{"status":"healthy"}', inference.JSON

    def _read_body(self, environ: dict) -> bytes:
        length = environ.get("CONTENT_LENGTH") or ""
        stream = environ["wsgi.input"]
        if length.strip():
            try:
                size = int(length)
            except ValueError:
                raise RequestError(400, "invalid Content-Length") from None
            if size > self.max_payload:
                raise RequestError(413, f"body of {size} bytes is over the {self.max_payload}-byte limit")
            return stream.read(size)
        body = stream.read(self.max_payload + 1)  # chunked: read at most one byte past the limit
        if len(body) > self.max_payload:
            raise RequestError(413, f"body is over the {self.max_payload}-byte limit")
        return body

    def _invoke(self, environ: dict, request_id: str) -> tuple[int, bytes, str]:
        if self.model is None:
            raise RequestError(503, self.load_error or "model not loaded")
        raw_type = environ.get("CONTENT_TYPE") or inference.CSV
        request_type = inference.media_type(raw_type)
        if request_type not in inference.REQUEST_TYPES:
            raise RequestError(415, f"unsupported content type {raw_type!r}; supported: {', '.join(inference.REQUEST_TYPES)}")
        response_type = inference.negotiate(environ.get("HTTP_ACCEPT"), request_type)
        body = self._read_body(environ)
        X = inference.parse(body, request_type, self.model.metadata.features)
        response = inference.format_response(self.model.scores(X), response_type)
        if self.capture is not None:
            try:
                self.capture.write(body, raw_type, response, response_type, event_id=request_id)
            except OSError:
                log.exception("request %s: data capture failed", request_id)
        return 200, response, response_type


def _configure_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            stream=sys.stderr,
            level=os.environ.get("MODEL_SERVER_LOG_LEVEL", "INFO"),
            format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
        )


def create_app() -> InferenceApp:
    _configure_logging()
    return InferenceApp.from_env()
