"""The pipeline guard (``lambda/start_pipeline``) in moto: moto runs Lambda functions in Docker only.

``create_guard`` deploys the guard's code to moto's Lambda under its platform name (so a wrong function name or ARN
fails as in AWS); ``adapt_lambda_invoke`` makes an Invoke of it run the function's own ``handle`` in-process against
moto's Step Functions, SSM and SNS, with that function's settings, and answer with Lambda's Invoke response. With
``publisher`` settings, an upload under ``sandbox/<user>/published/`` is also delivered, as EventBridge delivers S3's
Object Created event, to the publisher (the same code with ``ACCEPTS=published-models``) once it is stored, and a run
request (``sandbox/<user>/requests/<id>/run.json``) to the guard of that bucket. Before the main thread reads a run's
record (``runs/``), each execution of a guard's state machine that has ended since is delivered to that guard as the
run-ended rule delivers it (``{"trigger": "run-ended", ...}``), once: EventBridge's delivery, made when it is looked for.
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
    delivered_ends: set[str] = set()

    def make_api_call(client, operation_name, api_params):
        service = client.meta.service_model.service_name
        if recorder is not None and threading.current_thread() is main and not recorder.paused:
            recorder.calls.append((service if service != "states" else "stepfunctions", operation_name, api_params))
        if service == "s3" and threading.current_thread() is main and _reads_records(operation_name, api_params):
            _deliver_ends()
        if publisher is not None and service == "s3" and operation_name in ("PutObject", "CompleteMultipartUpload"):
            stored = original(client, operation_name, api_params)
            if "/published/" in api_params["Key"] and api_params["Key"].endswith("/model.tar.gz"):
                _deliver(api_params["Bucket"], api_params["Key"])
            elif "/requests/" in api_params["Key"] and api_params["Key"].endswith("/run.json"):
                _deliver(api_params["Bucket"], api_params["Key"], to_guard=True)
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
                s3=boto3.client("s3"),
                settings=settings[function],
                log=lambda *a, **k: None,
            )
        finally:
            if recorder is not None:
                recorder.paused = was_paused
        body = json.dumps(result).encode()
        return {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": StreamingBody(io.BytesIO(body), len(body))}

    def _reads_records(operation_name: str, api_params: dict) -> bool:
        key = api_params.get("Key") or api_params.get("Prefix") or ""
        return operation_name in ("GetObject", "ListObjectsV2") and key.startswith(logic.RUNS)

    def _handle(event: dict, to: object) -> dict:
        was_paused = recorder.paused if recorder is not None else True
        if recorder is not None:
            recorder.paused = True
        try:
            return logic.handle(
                event,
                sfn=boto3.client("stepfunctions"),
                sns=boto3.client("sns"),
                ssm=boto3.client("ssm"),
                ecr=boto3.client("ecr"),
                s3=boto3.client("s3"),
                settings=to,
                log=lambda *a, **k: None,
            )
        finally:
            if recorder is not None:
                recorder.paused = was_paused

    def _deliver(bucket: str, key: str, *, to_guard: bool = False) -> None:
        event = {"source": "aws.s3", "detail-type": "Object Created", "detail": {"bucket": {"name": bucket}, "object": {"key": key}}}
        guards = [(name, s) for name, s in settings.items() if s.artifacts_bucket == bucket]
        name, to = guards[0] if to_guard else ("publisher", publisher)
        invoked.append((name, event))
        _handle(event, to)

    def _deliver_ends() -> None:
        sfn = boto3.client("stepfunctions")
        for name, guard in settings.items():
            was_paused = recorder.paused if recorder is not None else True
            if recorder is not None:
                recorder.paused = True  # EventBridge's reading, not the command's
            try:
                executions = [
                    e for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=guard.state_machine_arn) for e in page["executions"]
                ]
            finally:
                if recorder is not None:
                    recorder.paused = was_paused
            for execution in executions:
                if execution["status"] != "RUNNING" and execution["executionArn"] not in delivered_ends:
                    delivered_ends.add(execution["executionArn"])
                    event = {"trigger": "run-ended", "detail": {"execution": execution["executionArn"], "status": execution["status"]}}
                    invoked.append((name, event))
                    _handle(event, guard)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)
    return invoked
