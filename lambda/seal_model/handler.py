"""Lambda entry point: validated settings and the S3 client once per container; the work is in ``logic``."""

from __future__ import annotations

import json
import os
import sys

import boto3
from logic import BadRequest, ConfigurationError, Settings, parse, seal

try:
    SETTINGS = Settings.from_env(os.environ)
except ConfigurationError as exc:  # fail the cold start with the reason, not a KeyError later
    print(json.dumps({"level": "ERROR", "event": "bad_configuration", "reason": str(exc)}), file=sys.stderr)
    raise

S3 = boto3.client("s3")


def handler(event, context):
    request_id = getattr(context, "aws_request_id", "-")

    def log(name: str, **fields) -> None:
        print(json.dumps({"level": "INFO", "event": name, "requestId": request_id, **fields}, default=str))

    try:
        request = parse(event, SETTINGS)
    except BadRequest as exc:
        log("bad_request", reason=str(exc))
        raise
    return seal(request, s3=S3, settings=SETTINGS, log=log)
