"""API front of a SageMaker endpoint: validate the request, invoke, map errors to meaningful statuses.

Status codes: 200 the model's answer (its content type); 400 empty body, invalid body or a request
SageMaker rejects as invalid; 413 body over the limit; 415 content type not accepted; 424 the model
itself failed on this request (with the model's own message); 429 throttled; 503 endpoint not
ready; 502 any other upstream failure. Every answer carries the request id; no stack trace leaves.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

CONTENT_TYPES = ("text/csv", "application/json", "application/jsonlines")
_ENDPOINT = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


class ConfigurationError(RuntimeError):
    """The function's environment is wrong; the message names the variable and what is expected."""


@dataclass(frozen=True)
class Settings:
    endpoint_name: str
    max_body_bytes: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        problems = []
        name = env.get("ENDPOINT_NAME", "")
        if not _ENDPOINT.match(name):
            problems.append(f"ENDPOINT_NAME={name!r}: expected a SageMaker endpoint name")
        raw = env.get("MAX_BODY_BYTES", "")
        try:
            limit = int(raw)
            if not 1 <= limit <= 6 * 1024 * 1024:
                raise ValueError
        except ValueError:
            problems.append(f"MAX_BODY_BYTES={raw!r}: expected an integer from 1 to 6291456")
            limit = 0
        if problems:
            raise ConfigurationError("; ".join(problems))
        return cls(name, limit)


def _response(status: int, body: str | bytes, content_type: str, request_id: str) -> dict:
    if isinstance(body, bytes):
        try:
            text, encoded = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode("ascii"), True
    else:
        text, encoded = body, False
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type, "X-Request-Id": request_id},
        "body": text,
        "isBase64Encoded": encoded,
    }


def error(status: int, message: str, request_id: str) -> dict:
    return _response(status, json.dumps({"error": message, "requestId": request_id}), "application/json", request_id)


def _header(headers: Mapping[str, str] | None, name: str) -> str:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value or ""
    return ""


def handle(event: Any, *, runtime, settings: Settings, request_id: str, log: Callable[..., None]) -> dict:
    if not isinstance(event, dict):
        return error(400, "malformed request", request_id)
    headers = event.get("headers") or {}
    content_type = _header(headers, "content-type").split(";", 1)[0].strip().lower()
    if content_type not in CONTENT_TYPES:
        return error(415, f"content type {content_type or '(none)'!r} not accepted; use one of {', '.join(CONTENT_TYPES)}", request_id)
    accept = _header(headers, "accept") or content_type
    raw = event.get("body")
    if raw is None or raw == "":
        return error(400, "empty request body", request_id)
    try:
        body = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw.encode("utf-8")
    except (ValueError, TypeError):
        return error(400, "body is not valid base64", request_id)
    if len(body) > settings.max_body_bytes:
        return error(413, f"body of {len(body)} bytes is over the {settings.max_body_bytes}-byte limit", request_id)
    if not body.strip():
        return error(400, "empty request body", request_id)
    if content_type == "application/json":
        try:
            json.loads(body)
        except ValueError as exc:
            return error(400, f"invalid JSON: {exc}", request_id)

    try:
        answer = runtime.invoke_endpoint(EndpointName=settings.endpoint_name, ContentType=content_type, Accept=accept, Body=body)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        log("invoke_failed", code=code, upstream_status=status, message=message)
        if code == "ModelError":
            original = exc.response.get("OriginalMessage") or message
            return error(424, f"the model failed on this request: {original}", request_id)
        if code in ("ModelNotReadyException", "ServiceUnavailable", "InternalDependencyException") or status == 503:
            return error(503, "the model is not ready; retry later", request_id)  # before 429: SageMaker sends it with 429
        if code in ("ThrottlingException", "TooManyRequestsException") or status == 429:
            return error(429, "too many requests; retry with backoff", request_id)
        if code == "ValidationError":
            return error(400, f"request rejected: {message}", request_id)
        return error(502, "the model endpoint failed", request_id)
    except BotoCoreError as exc:
        log("invoke_failed", code=type(exc).__name__)
        return error(502, "the model endpoint could not be reached", request_id)

    payload = answer["Body"].read()
    log("invoked", content_type=content_type, bytes_in=len(body), bytes_out=len(payload))
    return _response(200, payload, answer.get("ContentType", accept), request_id)
