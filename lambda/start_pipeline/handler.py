"""Lambda entry point: validated settings and clients once per container; the work is in ``logic``."""

from __future__ import annotations

import json
import os
import sys

import boto3
from logic import ConfigurationError, Settings, handle

try:
    SETTINGS = Settings.from_env(os.environ)
except ConfigurationError as exc:  # fail the cold start with the reason, not a KeyError later
    print(json.dumps({"level": "ERROR", "event": "bad_configuration", "reason": str(exc)}), file=sys.stderr)
    raise

SFN = boto3.client("stepfunctions")
SNS = boto3.client("sns")
SSM = boto3.client("ssm")
ECR = boto3.client("ecr")
S3 = boto3.client("s3")


def _logger(request_id: str):
    def log(event: str, **fields) -> None:
        print(json.dumps({"level": "INFO", "event": event, "project": SETTINGS.project, "requestId": request_id, **fields}, default=str))

    return log


def handler(event, context):
    return handle(event, sfn=SFN, sns=SNS, ssm=SSM, ecr=ECR, s3=S3, settings=SETTINGS, log=_logger(getattr(context, "aws_request_id", "-")))
