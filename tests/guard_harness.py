"""The pipeline guard (``lambda/start_pipeline``) in moto: moto runs Lambda functions in Docker only.

``create_guard`` deploys the guard's code to moto's Lambda under its platform name (so a wrong function name or ARN
fails as in AWS); ``adapt_lambda_invoke`` makes an Invoke of it run the function's own ``handle`` in-process against
moto's Step Functions, SSM and SNS, with that function's settings, and answer with Lambda's Invoke response. With
``publisher`` settings, an upload under ``sandbox/<user>/published/`` is also delivered, as EventBridge delivers S3's
Object Created event, to the publisher (the same code with ``ACCEPTS=published-models``) once it is stored.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from pathlib import Path

import boto3
import botocore.client
from botocore.response import StreamingBody

GUARD_DIR = Path(__file__).resolve().parent.parent / "lambda" / "start_pipeline"


class Recorder:
    """The AWS operations the main thread makes outside the guard, while not ``paused``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict]] = []
        self.paused = True


def guard_logic(monkeypatch):
    from tests.sfn_harness import lambda_logic

    monkeypatch.syspath_prepend(str(GUARD_DIR))
    return lambda_logic("start_pipeline", as_logic=True)


def create_guard(name: str = "mlops-dev-churn-start") -> str:
    """The guard's code, deployed to moto's Lambda as ``name`` (``Names.pipeline_guard``); its ARN."""
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as z:
        for f in GUARD_DIR.glob("*.py"):
            z.write(f, f.name)
    iam = boto3.client("iam")
    try:
        role = iam.get_role(RoleName="guard")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="guard", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))["Role"]["Arn"]
    return boto3.client("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="handler.handler", Code={"ZipFile": package.getvalue()}
    )["FunctionArn"]


def adapt_lambda_invoke(monkeypatch, logic, settings: dict, recorder: Recorder | None = None, publisher=None) -> list[tuple[str, dict]]:
    """Invokes of the guards named in ``settings`` (function name -> ``logic.Settings``) run ``logic.handle``; returns the
    list every (function name, event) invoked is appended to."""
    original = botocore.client.BaseClient._make_api_call
    main = threading.main_thread()
    invoked: list[tuple[str, dict]] = []

    def make_api_call(client, operation_name, api_params):
        service = client.meta.service_model.service_name
        if recorder is not None and threading.current_thread() is main and not recorder.paused:
            recorder.calls.append((service if service != "states" else "stepfunctions", operation_name, api_params))
        if publisher is not None and service == "s3" and operation_name in ("PutObject", "CompleteMultipartUpload"):
            stored = original(client, operation_name, api_params)
            if "/published/" in api_params["Key"] and api_params["Key"].endswith("/model.tar.gz"):
                _deliver(api_params["Bucket"], api_params["Key"])
            return stored
        if service != "lambda" or operation_name != "Invoke":
            return original(client, operation_name, api_params)
        function = original(client, "GetFunction", {"FunctionName": api_params["FunctionName"]})["Configuration"]["FunctionName"]
        if function not in settings:  # another function (the pipeline's seal, run by sfn_harness)
            return original(client, operation_name, api_params)
        was_paused = recorder.paused if recorder is not None else True
        if recorder is not None:
            recorder.paused = True
        try:
            event = json.loads(api_params["Payload"])
            invoked.append((function, event))
            result = logic.handle(
                event,
                sfn=boto3.client("stepfunctions"),
                sns=boto3.client("sns"),
                ssm=boto3.client("ssm"),
                ecr=boto3.client("ecr"),
                settings=settings[function],
                log=lambda *a, **k: None,
            )
        finally:
            if recorder is not None:
                recorder.paused = was_paused
        body = json.dumps(result).encode()
        return {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": StreamingBody(io.BytesIO(body), len(body))}

    def _deliver(bucket: str, key: str) -> None:
        was_paused = recorder.paused if recorder is not None else True
        if recorder is not None:
            recorder.paused = True
        try:
            event = {"source": "aws.s3", "detail-type": "Object Created", "detail": {"bucket": {"name": bucket}, "object": {"key": key}}}
            invoked.append(("publisher", event))
            logic.handle(
                event,
                sfn=boto3.client("stepfunctions"),
                sns=boto3.client("sns"),
                ssm=boto3.client("ssm"),
                ecr=boto3.client("ecr"),
                s3=boto3.client("s3"),
                settings=publisher,
                log=lambda *a, **k: None,
            )
        finally:
            if recorder is not None:
                recorder.paused = was_paused

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)
    return invoked
