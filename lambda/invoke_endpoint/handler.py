"""Lambda entry point behind API Gateway: settings and the SageMaker runtime client are made once."""

from __future__ import annotations

import json
import os
import sys

import boto3
from botocore.config import Config
from logic import ConfigurationError, Settings, error, handle

try:
    SETTINGS = Settings.from_env(os.environ)
except ConfigurationError as exc:
    print(json.dumps({"level": "ERROR", "event": "bad_configuration", "reason": str(exc)}), file=sys.stderr)
    raise

RUNTIME = boto3.client("sagemaker-runtime", config=Config(retries={"mode": "standard", "max_attempts": 3}, read_timeout=60))


def handler(event, context):
    request_id = getattr(context, "aws_request_id", "-")

    def log(event_name: str, **fields) -> None:
        print(json.dumps({"level": "INFO", "event": event_name, "endpoint": SETTINGS.endpoint_name, "requestId": request_id, **fields}, default=str))

    try:
        return handle(event, runtime=RUNTIME, settings=SETTINGS, request_id=request_id, log=log)
    except Exception:  # the caller gets the request id, the log gets the details; never a stack trace out
        import traceback

        print(json.dumps({"level": "ERROR", "event": "unhandled", "requestId": request_id, "trace": traceback.format_exc()}))
        return error(500, "internal error", request_id)
