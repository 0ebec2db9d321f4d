"""Lambda entry point: signs with the function's own credentials; the work is in ``logic``."""

from __future__ import annotations

import json
import os

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from logic import BadRequest, caller, endpoint, link, parse

SESSION = boto3.Session()
PROJECT = os.environ.get("PROJECT_NAME", "-")  # only labels the log lines


def sigv4(signing_name: str, region: str):
    """Sign each request as AWS's sagemaker-mlflow plugin does (botocore's SigV4 for ``signing_name``)."""

    def sign(method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(SESSION.get_credentials(), signing_name, region).add_auth(request)
        return dict(request.headers.items())

    return sign


def handler(event, context):
    request_id = getattr(context, "aws_request_id", "-")

    def log(name: str, **fields) -> None:
        print(json.dumps({"level": "INFO", "event": name, "project": PROJECT, "requestId": request_id, **fields}, default=str))

    try:
        request = parse(event)
    except BadRequest as exc:
        log("bad_request", reason=str(exc))
        raise
    target = endpoint(request["trackingArn"])
    return link(request, call=caller(target.url, target.headers, sigv4(target.signing_name, target.region)), log=log)
