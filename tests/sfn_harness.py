"""Runs a training pipeline definition in moto's Step Functions interpreter.

What the harness changes, because moto cannot run it: ``.sync`` integrations become their plain
forms (moto does not wait for jobs), the jobs' ResultSelectors keep only what a plain call returns
(the training task takes a recorded model URI, where :func:`moto_world` puts a model), the MLflow link Lambda becomes a
Pass of its payload, the seal Lambda runs its real logic in this process against moto's S3 (its calls are not the
state machine's: they are not recorded), the run id is fixed so a test can place
``evaluation.json`` where the run reads it, and moto's aws-sdk integration is made to return an S3
object's ``Body`` as text, as Step Functions does (moto hands over the stream object). A failing
job is a Parallel state with a Fail branch at the job's place, keeping its Catch.

moto's interpreter creates its clients with ``parameter_validation=False``: botocore does not check
what it sends. :class:`CallRecorder` records every call so that ``fidelity.api_model`` can.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import boto3
import botocore.client
from moto import mock_aws

RUN_ID = "abcd1234"
# A Docker image manifest (v2) for moto's ECR: the digest a pushed image gets is the SHA-256 of its manifest.
IMAGE_MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023, "digest": "sha256:" + "0" * 64},
        "layers": [],
    }
)


def model_uri(artifacts_bucket: str, project: str) -> str:
    return f"s3://{artifacts_bucket}/pipeline/{RUN_ID}/model/{project}-train-{RUN_ID}/output/model.tar.gz"


SEAL_FUNCTION = "seal-model"  # the seal Lambda as moto knows it (its logic runs in process: moto_world)


def harnessed(definition: dict, *, model_artifacts: str, training_fails: bool = False) -> dict:
    d = json.loads(json.dumps(definition))
    states = d["States"]
    if "SealModel" in states:
        states["SealModel"]["Parameters"]["FunctionName"] = SEAL_FUNCTION
    states["PrepareRun"]["Parameters"]["runId"] = RUN_ID
    del states["PrepareRun"]["Parameters"]["runId.$"]
    for state in states.values():
        if state.get("Resource", "").endswith(".sync"):
            state["Resource"] = state["Resource"].removesuffix(".sync")
    for job in ("Preprocess", "Evaluate", "Baseline"):
        if job in states:
            states[job]["ResultSelector"] = {"arn.$": "$.ProcessingJobArn"}
    states["Train"]["ResultSelector"] = {"arn.$": "$.TrainingJobArn", "modelArtifacts": model_artifacts}
    if "LinkMlflowRun" in states:  # moto runs Lambdas only in Docker: the link's payload, as the interpreter evaluates it, is its result
        link = states["LinkMlflowRun"]
        states["LinkMlflowRun"] = {
            "Type": "Pass",
            "Parameters": link["Parameters"]["Payload"],
            "ResultPath": link["ResultPath"],
            "Next": link["Next"],
        }
    if training_fails:
        train = states["Train"]
        states["Train"] = {
            "Type": "Parallel",
            "Next": train["Next"],
            "Catch": train["Catch"],
            "ResultPath": train["ResultPath"],
            "Branches": [
                {
                    "StartAt": "JobFails",
                    "States": {"JobFails": {"Type": "Fail", "Error": "SageMaker.TrainingJobFailed", "Cause": "AlgorithmError: out of memory"}},
                }
            ],
        }
    return d


_PARSED: dict[str, tuple] = {}


def parse_each_definition_once(monkeypatch) -> None:
    """moto parses a definition with its ANTLR grammar when the machine is created (to validate it) and again when each
    execution starts: a tenth of a second or more each time, most of a pipeline run's. Each distinct definition is
    parsed once here; every later parse gets a deep copy of that parse's never-run evaluation tree (with the same
    syntax tree, which moto's static analysis only reads), so no execution sees another's state. A definition that
    fails to parse is parsed again every time and raises as before."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    original = AmazonStateLanguageParser.parse

    def parse(definition: str):
        if definition not in _PARSED:
            _PARSED[definition] = original(definition)
        program, tree = _PARSED[definition]
        return copy.deepcopy(program), tree

    monkeypatch.setattr(AmazonStateLanguageParser, "parse", staticmethod(parse))


def body_as_text(monkeypatch) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk as sdk

    original = sdk.StateTaskServiceAwsSdk._eval_service_task

    def eval_service_task(self, env, *args, **kwargs):
        original(self, env, *args, **kwargs)
        response = env.stack[-1]
        if isinstance(response, dict) and hasattr(response.get("Body"), "read"):
            response["Body"] = response["Body"].read().decode("utf-8")

    monkeypatch.setattr(sdk.StateTaskServiceAwsSdk, "_eval_service_task", eval_service_task)


_UNRECORDED = threading.local()  # set while another principal's code (a Lambda run in process) makes calls


@contextmanager
def unrecorded():
    """Calls made in this thread meanwhile are not recorded (they are a function's, not the caller's)."""
    _UNRECORDED.on = True
    try:
        yield
    finally:
        _UNRECORDED.on = False


@dataclass
class CallRecorder:
    """Every AWS API call made in this process while active: (service, operation, parameters)."""

    calls: list[tuple[str, str, dict]] = field(default_factory=list)

    @contextmanager
    def recording(self, monkeypatch):
        original = botocore.client.BaseClient._make_api_call
        recorder = self

        def make_api_call(client, operation_name, api_params):
            if not getattr(_UNRECORDED, "on", False):
                recorder.calls.append((client.meta.service_model.service_name, operation_name, json.loads(json.dumps(api_params, default=str))))
            return original(client, operation_name, api_params)

        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)
        try:
            yield self
        finally:  # calls after the block are not recorded
            monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", original)


@dataclass
class World:
    """moto with the pipeline's buckets, model package group and alert topic (read through an SQS subscriber)."""

    region: str
    account: str
    artifacts_bucket: str

    def messages(self) -> list[dict]:
        sqs = boto3.client("sqs")
        queue = sqs.get_queue_url(QueueName="inbox")["QueueUrl"]
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in got]

    def run(self, definition: dict, execution_input: dict, evaluation: dict | None, *, during=None) -> dict:
        """Run ``definition`` to its end; ``during``: a context manager around the execution only (not its set-up)."""
        if evaluation is not None:
            boto3.client("s3").put_object(
                Bucket=self.artifacts_bucket, Key=f"pipeline/{RUN_ID}/evaluation/evaluation.json", Body=json.dumps(evaluation).encode()
            )
        sfn = boto3.client("stepfunctions")
        machine = sfn.create_state_machine(
            name=f"pipeline-{time.time_ns()}", definition=json.dumps(definition), roleArn=f"arn:aws:iam::{self.account}:role/sfn"
        )
        with during if during is not None else contextlib.nullcontext(), _execution_threads() as started:
            arn = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input=json.dumps(execution_input))["executionArn"]
            deadline = time.time() + 30
            for thread in started:  # the run ends with its thread: waited for, not polled
                thread.join(timeout=max(0.0, deadline - time.time()))
            while time.time() < deadline:
                result = sfn.describe_execution(executionArn=arn)
                if result["status"] != "RUNNING":
                    result["history"] = sfn.get_execution_history(executionArn=arn)["events"]
                    return result
                time.sleep(0.02)
        raise AssertionError("execution did not finish")


@contextmanager
def _execution_threads():
    """The threads moto starts to run executions while active (one per execution)."""
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    started: list[threading.Thread] = []
    original = ExecutionWorker.start

    def start(self):
        before = set(threading.enumerate())
        original(self)
        started.extend(t for t in threading.enumerate() if t not in before)

    ExecutionWorker.start = start
    try:
        yield started
    finally:
        ExecutionWorker.start = original


@contextmanager
def moto_world(
    monkeypatch,
    *,
    region: str,
    account: str,
    buckets: list[str],
    group: str,
    topic_name: str,
    artifacts_bucket: str,
    data: tuple[str, str] | None = None,
    model: str | None = None,
    key_arn: str = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555",
):
    """``data``: (bucket, key) of a data object to put there first (a run lists its data before it starts). ``model``: the
    URI the harnessed training job reports, where a model object is put (the seal copies it); the seal function runs
    with the pipeline's environment for ``artifacts_bucket`` and ``key_arn``."""
    body_as_text(monkeypatch)
    parse_each_definition_once(monkeypatch)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": region}.items():
        monkeypatch.setenv(key, value)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        s3c = boto3.client("s3")
        for bucket in buckets:
            s3c.create_bucket(Bucket=bucket)
        if data is not None:
            s3c.put_object(Bucket=data[0], Key=data[1], Body=b"a,b,target\n1,2,0\n")
        if model is not None:
            bucket, key = model.removeprefix("s3://").split("/", 1)
            s3c.put_object(Bucket=bucket, Key=key, Body=b"the trained model")
        functions_in_process(monkeypatch, {SEAL_FUNCTION: sealer(artifacts_bucket, key_arn)})
        boto3.client("sagemaker").create_model_package_group(ModelPackageGroupName=group)
        sns_c, sqs = boto3.client("sns"), boto3.client("sqs")
        topic = sns_c.create_topic(Name=topic_name)["TopicArn"]
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns_c.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
        yield World(region=region, account=account, artifacts_bucket=artifacts_bucket)


def lambda_logic(name: str, *, as_logic: bool = False):
    """``lambda/<name>/logic.py`` loaded under its qualified name ``lambda.<name>.logic`` (``lambda`` cannot be imported by a
    statement; each function's handler imports it as ``logic``, beside it): the name `make mutate` mutates it as, and one
    that tests loading another function's ``logic`` never replace. ``as_logic``: also as ``logic``, for the function's
    ``handler`` to import."""
    import importlib.util
    import sys
    from pathlib import Path

    module = f"lambda.{name}.logic"
    spec = importlib.util.spec_from_file_location(module, Path(__file__).resolve().parents[1] / "lambda" / name / "logic.py")
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[module] = loaded  # dataclasses look their module up there
    spec.loader.exec_module(loaded)
    if as_logic:
        sys.modules["logic"] = loaded
    return loaded


def sealer(artifacts_bucket: str, key_arn: str):
    """The seal function's handler with its deployed environment (``seal_environment``), run in process against moto."""
    from mlops_constructs.training_pipeline import seal_environment

    logic = lambda_logic("seal_model")
    settings = logic.Settings.from_env(seal_environment(artifacts_bucket, key_arn))

    def handle(event: dict) -> dict:
        with unrecorded():
            return logic.seal(logic.parse(event, settings), s3=boto3.client("s3"), settings=settings)

    return handle


_IN_PROCESS: dict = {}  # function name -> handler, for the moto world in use


def functions_in_process(monkeypatch, handlers: dict) -> None:
    """moto runs no Lambda without Docker: create each function of ``handlers`` (name -> a callable taking the event) in
    moto and have moto's simple Lambda backend call it in this process with the payload the state machine evaluated, its
    return value as the function's result (inside ``mock_aws`` with ``lambda.use_docker`` off). Functions created by an
    earlier call in the same world stay. A handler's exception fails the invocation as a function error does."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    iam_client = boto3.client("iam")
    try:
        role = iam_client.get_role(RoleName="functions-in-process")["Role"]["Arn"]
    except iam_client.exceptions.NoSuchEntityException:
        _IN_PROCESS.clear()  # a new moto world
        role = iam_client.create_role(RoleName="functions-in-process", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    for name in handlers:
        boto3.client("lambda").create_function(FunctionName=name, Role=role, Runtime="python3.12", Handler="h.h", Code={"ZipFile": b"x"})
    _IN_PROCESS.update(handlers)

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        handler = _IN_PROCESS[function_name.rsplit(":", 1)[-1]]
        try:
            return json.dumps(handler(json.loads(body))).encode()
        except Exception as exc:  # what Lambda returns for an unhandled error, with X-Amz-Function-Error
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)


def load_lambda(monkeypatch, name: str):
    """The ``logic`` module of ``lambda/<name>/`` (each function's folder has its own ``handler`` and ``logic``)."""
    import importlib
    import sys
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "lambda" / name))
    for module in ("handler", "logic"):
        sys.modules.pop(module, None)
    return importlib.import_module("logic")


def entered(result: dict) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in result["history"] if "stateEnteredEventDetails" in e]


def report(metric: str, value) -> dict:
    metrics = {"auc": 0.9, "accuracy": 0.9, "f1": 0.9, "precision": 0.9, "recall": 0.9}
    metrics[metric] = value
    return {"metrics": metrics, "samples": 86}
