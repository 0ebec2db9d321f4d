"""Every runtime actor can do its job and nothing more, judged by a real IAM engine (``fidelity.iam``).

For each actor, the calls it makes, with their resources, are evaluated against its synthesized
identity policies and the resource policies of what it touches (bucket, key, topic policies):

- where this project's code makes the calls, they are recorded by running that code in moto: the
  training pipelines' Task states (every path, ``pipeline_runs``), the trigger-guard Lambda, the API
  Lambda (with botocore's Stubber) and the delivery pipeline's model-package resolver;
- where SageMaker makes them with a role (jobs, models, monitors), they are derived from the
  requests that start them (recorded job requests, the resolved model, endpoint config and job
  definition): each input read, output written, image pulled, log and metric written;
- Studio users: what a sandbox is for, and what it must never reach, with the same engine.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import io
import json
import sys
from pathlib import Path

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws

from config.parameters import registry_parameters
from fidelity.iam import Call, Policies, api_calls_to_iam, evaluate, image_pull, s3_list, s3_object, with_key_calls
from stacks.delivery_stack import IMAGE_PUSH_ACTIONS
from tests import sfn_harness
from tests.fidelity.conftest import launch_roles

ROOT = Path(__file__).resolve().parents[2]
RUN = "0a1b2c3d"


def _dev(deployments):
    return next(c.deployment for c in deployments if c.label == "dev stage")


def _resources(deployment, stack: str, kind: str) -> list[tuple[str, dict]]:
    return [(lid, r) for lid, r in deployment.templates[stack]["Resources"].items() if r["Type"] == kind]


def _log_calls(principal: str, region: str, account: str, kind: str, job: str, why: str) -> list[Call]:
    stream = f"arn:aws:logs:{region}:{account}:log-group:/aws/sagemaker/{kind}:log-stream:{job}/algo-1-1700000000"
    return [
        Call(principal, "logs:CreateLogStream", stream, why=why),
        Call(principal, "logs:PutLogEvents", stream, why=why),
        Call(principal, "cloudwatch:PutMetricData", "*", (("cloudwatch:namespace", f"/aws/sagemaker/{kind}"),), why),
    ]


def _vpc_of(deployment, stack: str) -> str:
    """The VPC id the environment of ``stack``'s stage publishes."""
    (name,) = [n for n in deployment.published if n.endswith("/studio/vpc-id") and stack.startswith("-".join(n.split("/")[1:3]) + "-")]
    return deployment.ssm_value(name)


def _vpc_config(request: dict) -> dict | None:
    """A Create*Job request's VpcConfig (a processing job's is in its NetworkConfig); None: in no VPC (the frugal network)."""
    return request.get("VpcConfig") or request.get("NetworkConfig", {}).get("VpcConfig")


def _vpc_calls(deployment, principal: str, vpc_config: dict | None, vpc_id: str, why: str) -> list[Call]:
    """What SageMaker does with the execution role to place a job or model in ``vpc_config``'s subnets and groups
    of ``vpc_id``: each ENI action on each resource type it authorizes, with the ``ec2:Vpc`` those resources carry
    (nothing for a job in no VPC)."""
    if vpc_config is None:
        return []
    arn = f"arn:aws:ec2:{deployment.region}:{deployment.account}"
    in_vpc = (("ec2:Vpc", f"{arn}:vpc/{vpc_id}"),)
    eni = f"{arn}:network-interface/eni-0123456789abcdef0"
    calls = [
        Call(principal, f"ec2:{a}", "*", why=why)
        for a in ("DescribeNetworkInterfaces", "DescribeVpcs", "DescribeDhcpOptions", "DescribeSubnets", "DescribeSecurityGroups")
    ]
    calls.append(Call(principal, "ec2:CreateNetworkInterface", eni, why=why))
    calls += [Call(principal, "ec2:CreateNetworkInterface", f"{arn}:subnet/{s}", in_vpc, why) for s in vpc_config["Subnets"]]
    calls += [Call(principal, "ec2:CreateNetworkInterface", f"{arn}:security-group/{g}", in_vpc, why) for g in vpc_config["SecurityGroupIds"]]
    calls += [Call(principal, f"ec2:{a}", eni, in_vpc, why) for a in ("CreateNetworkInterfacePermission", "DeleteNetworkInterface")]
    calls.append(Call(principal, "ec2:DeleteNetworkInterfacePermission", "*", in_vpc, why))
    return calls


# -- the actors ----------------------------------------------------------------------------------------------


def state_machine_calls(run) -> list[Call]:
    """The state machine role: every request its Task states made, with what .sync integrations add."""
    deployment = run.deployment
    machine = next(r for _, r in _resources(deployment, run.stack, "AWS::StepFunctions::StateMachine"))
    principal = deployment.resolve(run.stack, machine["Properties"]["RoleArn"])
    sync_operations = {
        state["Resource"].split(":")[-1].removesuffix(".sync")
        for state in run.definition["States"].values()
        if state.get("Resource", "").endswith(".sync")
    }
    calls = []
    for service, operation, params in run.calls:
        if service in ("sagemaker", "s3", "sns"):
            sync = operation[0].lower() + operation[1:] in sync_operations
            calls += api_calls_to_iam(principal, service, operation, params, region=deployment.region, account=deployment.account, sync=sync)
    calls += [Call(principal, "xray:PutTraceSegments", "*", why="tracing"), Call(principal, "logs:CreateLogDelivery", "*", why="execution logs")]
    return calls


def _mlflow_client_calls(role: str, tracking: str, artifacts_bucket: str, why: str) -> list[Call]:
    """What an MLflow client (a training job, a sandbox user) does with the project's MLflow at ``tracking``: an app's REST
    API is authorized as sagemaker:CallMlflowAppApi, a tracking server's as sagemaker-mlflow's actions."""
    app = ":mlflow-app/" in tracking
    calls = [
        Call(role, "sagemaker:CreatePresignedMlflowAppUrl" if app else "sagemaker:CreatePresignedMlflowTrackingServerUrl", tracking, why=why),
        Call(role, "s3:PutObject", f"arn:aws:s3:::{artifacts_bucket}/mlflow/1/abc/artifacts/model/model.joblib", why=f"{why}: artifacts"),
        Call(role, "s3:GetObject", f"arn:aws:s3:::{artifacts_bucket}/mlflow/1/abc/artifacts/model/model.joblib", why=f"{why}: artifacts"),
    ]
    if app:
        return [*calls, Call(role, "sagemaker:CallMlflowAppApi", tracking, why=f"{why}: its REST API")]
    return calls + [
        Call(role, f"sagemaker-mlflow:{a}", tracking, why=why) for a in ("CreateExperiment", "CreateRun", "LogBatch", "UpdateRun", "SearchRuns")
    ]


def job_role_calls(run) -> list[Call]:
    """The jobs' execution role: what SageMaker does with it for each recorded job request."""
    d = run.deployment
    calls = []
    for service, operation, params in run.calls:
        if service != "sagemaker" or operation not in ("CreateProcessingJob", "CreateTrainingJob"):
            continue
        role = params["RoleArn"]
        if operation == "CreateProcessingJob":
            job, kind = params["ProcessingJobName"], "ProcessingJobs"
            image = params["AppSpecification"]["ImageUri"]
            inputs = [i["S3Input"]["S3Uri"] for i in params.get("ProcessingInputs", [])]
            outputs = [o["S3Output"]["S3Uri"] for o in params["ProcessingOutputConfig"]["Outputs"]]
        else:
            job, kind = params["TrainingJobName"], "TrainingJobs"
            image = params["AlgorithmSpecification"]["TrainingImage"]
            inputs = [c["DataSource"]["S3DataSource"]["S3Uri"] for c in params["InputDataConfig"]]
            outputs = [f"{params['OutputDataConfig']['S3OutputPath']}/{job}/output"]
            if "CheckpointConfig" in params:
                inputs.append(params["CheckpointConfig"]["S3Uri"])
                outputs.append(params["CheckpointConfig"]["S3Uri"])
        why = f"{job}"
        calls += image_pull(role, image, f"{why}: image", own_account=d.account)
        tracking = params.get("Environment", {}).get("MLFLOW_TRACKING_URI")
        if tracking is not None:  # the training job logs its run to the project's MLflow (mlops_container.tracking)
            bucket = inputs[0].removeprefix("s3://").split("/", 1)[0]
            calls += _mlflow_client_calls(role, tracking, bucket, f"{why}: MLflow")
        for uri in inputs:
            calls += [s3_list(role, uri, f"{why}: input"), Call(role, "s3:GetObject", s3_object(uri, "part-0.csv"), why=f"{why}: input")]
        calls += [Call(role, "s3:PutObject", s3_object(uri, "result.out"), why=f"{why}: output") for uri in outputs]
        calls += _log_calls(role, d.region, d.account, kind, job, why)
        calls += _vpc_calls(d, role, _vpc_config(params), _vpc_of(d, run.stack), f"{why}: runs in the VPC")
    return calls


def model_role_calls(deployment, stack: str, registry: str) -> list[Call]:
    """The model's execution role: its image, its artifacts (the registry's) and, instance-backed, data capture and the VPC."""
    ((_, model),) = _resources(deployment, stack, "AWS::SageMaker::Model")
    props = deployment.resolve(stack, model["Properties"])
    role = props["ExecutionRoleArn"]
    project = stack.rsplit("endpoint-", 1)[1]
    repository = deployment.ssm_value(f"{registry}/projects/{project}/repository-name")
    artifacts = deployment.ssm_value(f"{registry}/projects/{project}/artifacts-bucket-name")
    image = f"{deployment.account}.dkr.ecr.{deployment.region}.amazonaws.com/{repository}:1.0.0"
    calls = image_pull(role, image, "model image", own_account=deployment.account)
    calls.append(
        Call(
            role,
            "s3:GetObject",
            f"arn:aws:s3:::{artifacts}/pipeline/{RUN}/model/{project}-train-{RUN}/output/model.tar.gz",
            why="the registered model artifact",
        )
    )
    ((_, config),) = _resources(deployment, stack, "AWS::SageMaker::EndpointConfig")
    capture = deployment.resolve(stack, config["Properties"]).get("DataCaptureConfig")
    if capture:
        calls.append(Call(role, "s3:PutObject", s3_object(capture["DestinationS3Uri"], "AllTraffic/2026/11/24/17/capture.jsonl"), why="data capture"))
    if "VpcConfig" in props:
        calls += _vpc_calls(deployment, role, props["VpcConfig"], _vpc_of(deployment, stack), "the model runs in the VPC")
    return calls


def _monitoring_jobs(deployment, stack: str) -> list[tuple[dict, str]]:
    """Each monitoring job of ``stack`` in one shape (the inline definition's keys), with its metrics namespace:
    Model Monitor's ``DataQualityJobDefinition``, or a schedule's own container (``monitoring.analyzer: project``)."""
    jobs = []
    for _, definition in _resources(deployment, stack, "AWS::SageMaker::DataQualityJobDefinition"):
        props = deployment.resolve(stack, definition["Properties"])
        jobs.append(
            (
                {
                    "RoleArn": props["RoleArn"],
                    "BaselineConfig": props["DataQualityBaselineConfig"],
                    "MonitoringInputs": [props["DataQualityJobInput"]],
                    "MonitoringOutputConfig": props["DataQualityJobOutputConfig"],
                    "MonitoringAppSpecification": props["DataQualityAppSpecification"],
                    "NetworkConfig": props["NetworkConfig"],
                },
                "aws/sagemaker/Endpoints/data-metrics",
            )
        )
    for _, schedule in _resources(deployment, stack, "AWS::SageMaker::MonitoringSchedule"):
        inline = deployment.resolve(stack, schedule["Properties"])["MonitoringScheduleConfig"].get("MonitoringJobDefinition")
        if inline:
            jobs.append((inline, "/aws/sagemaker/Endpoint/data-metrics"))  # model-monitor-byoc-cloudwatch
    return jobs


def monitor_role_calls(deployment, stack: str) -> list[Call]:
    """The monitoring jobs' role: baseline, captured traffic, reports, the analyzer image, its metrics."""
    calls = []
    for job, namespace in _monitoring_jobs(deployment, stack):
        role = job["RoleArn"]
        baseline = job["BaselineConfig"]
        for uri in (baseline["StatisticsResource"]["S3Uri"], baseline["ConstraintsResource"]["S3Uri"]):
            calls.append(Call(role, "s3:GetObject", s3_object(uri), why="baseline"))
        (source,) = job["MonitoringInputs"]
        endpoint = source["EndpointInput"]["EndpointName"]
        ((_, config),) = _resources(deployment, stack, "AWS::SageMaker::EndpointConfig")
        capture = deployment.resolve(stack, config["Properties"])["DataCaptureConfig"]["DestinationS3Uri"]
        hour = f"{capture}/AllTraffic/2026/11/24/17"
        calls += [
            s3_list(role, hour, f"captured traffic of {endpoint}"),
            Call(role, "s3:GetObject", s3_object(hour, "capture.jsonl"), why="captured traffic"),
        ]
        for output in job["MonitoringOutputConfig"]["MonitoringOutputs"]:
            calls.append(
                Call(role, "s3:PutObject", s3_object(output["S3Output"]["S3Uri"], "2026/11/24/17/constraint_violations.json"), why="reports")
            )
        calls += image_pull(role, job["MonitoringAppSpecification"]["ImageUri"], "the analyzer image", own_account=deployment.account)
        calls.append(Call(role, "cloudwatch:PutMetricData", "*", (("cloudwatch:namespace", namespace),), "drift metrics"))
        stream = f"arn:aws:logs:{deployment.region}:{deployment.account}:log-group:/aws/sagemaker/ProcessingJobs:log-stream:x/algo-1-1"
        calls.append(Call(role, "logs:PutLogEvents", stream, why="job logs"))
        calls += _vpc_calls(deployment, role, job["NetworkConfig"]["VpcConfig"], _vpc_of(deployment, stack), "monitoring jobs run in the VPC")
    return calls


def drift_check_calls(deployment, stack: str) -> dict[str, list[Call]]:
    """The platform's scheduled drift check (``DriftCheck``): its planner (lists an hour of capture, reads the state, writes
    the period's manifest, lists the running executions), its analysis role (in Lambda and as a processing job: the
    manifest, the captured objects, the baseline, the reports, its metrics namespace, the image, the VPC) and its state
    machine (invokes both functions, runs and passes the job, records the state)."""
    out: dict[str, list[Call]] = {}
    for _, machine in _resources(deployment, stack, "AWS::StepFunctions::StateMachine"):
        props = deployment.resolve(stack, machine["Properties"])
        definition = json.loads(props["DefinitionString"]) if isinstance(props["DefinitionString"], str) else None
        if not definition or "Plan" not in definition.get("States", {}):
            continue
        sm_role = props["RoleArn"]
        planner_role, planner = _function(deployment, stack, "MANIFEST_PREFIX")
        analyzer_role, analyzer = _function(deployment, stack, "CHECK_NAME")
        bucket = planner["BUCKET"]
        hour = f"s3://{bucket}/{planner['CAPTURE_PREFIX']}2026/11/24/17"
        manifest = f"s3://{bucket}/{planner['MANIFEST_PREFIX']}20261124T170000Z.json"
        machine_arn = f"arn:aws:states:{deployment.region}:{deployment.account}:stateMachine:{props['StateMachineName']}"
        out["planner"] = [
            s3_list(planner_role, hour, "the period's captured traffic"),
            Call(planner_role, "s3:GetObject", s3_object(f"s3://{bucket}/{planner['STATE_KEY']}"), why="the state"),
            Call(planner_role, "s3:PutObject", s3_object(f"s3://{bucket}/{planner['STATE_KEY']}"), why="the first run's start"),
            Call(planner_role, "s3:PutObject", s3_object(manifest), why="the period's manifest"),
            Call(planner_role, "states:ListExecutions", machine_arn, why="one run at a time"),
        ]
        reports = f"s3://{bucket}/{planner['MANIFEST_PREFIX'].removesuffix('manifests/')}20261124T170000Z"
        baseline = analyzer["BASELINE_URI"]
        calls = [
            Call(analyzer_role, "s3:GetObject", s3_object(manifest), why="the manifest"),
            Call(analyzer_role, "s3:GetObject", s3_object(hour, "capture.jsonl"), why="captured traffic"),
            *(Call(analyzer_role, "s3:GetObject", s3_object(baseline, f), why="baseline") for f in ("statistics.json", "constraints.json")),
            *(Call(analyzer_role, "s3:PutObject", s3_object(reports, f), why="reports") for f in ("statistics.json", "report.html")),
            Call(analyzer_role, "cloudwatch:PutMetricData", "*", (("cloudwatch:namespace", analyzer["METRICS_NAMESPACE"]),), "drift metrics"),
        ]
        (job,) = [st for st in _all_states(definition) if st.get("Resource", "").endswith("createProcessingJob.sync")]
        params = job["Parameters"]
        calls += image_pull(analyzer_role, params["AppSpecification"]["ImageUri"], "the project image", own_account=deployment.account)
        calls += _vpc_calls(deployment, analyzer_role, params["NetworkConfig"]["VpcConfig"], _vpc_of(deployment, stack), "large periods' jobs")
        out["analysis"] = calls
        functions = {r["Properties"].get("Description", ""): lid for lid, r in _resources_with_ids(deployment, stack, "AWS::Lambda::Function")}
        out["state machine"] = [
            *(
                Call(sm_role, "lambda:InvokeFunction", deployment.resolve(stack, {"Fn::GetAtt": [lid, "Arn"]}), why=what)
                for what, lid in functions.items()
                if what.startswith("Drift check")
            ),
            Call(
                sm_role,
                "sagemaker:CreateProcessingJob",
                f"arn:aws:sagemaker:{deployment.region}:{deployment.account}:processing-job/{analyzer['CHECK_NAME'][:54]}-0a1b2c3d",
                why="a large period's job",
            ),
            Call(sm_role, "iam:PassRole", analyzer_role, (("iam:PassedToService", "sagemaker.amazonaws.com"),), "the job's role"),
            Call(sm_role, "s3:PutObject", s3_object(f"s3://{bucket}/{planner['STATE_KEY']}"), why="records the period checked"),
        ]
    return out


def _all_states(definition: dict):
    for state in definition.get("States", {}).values():
        yield state
        for sub in ([state["ItemProcessor"]] if "ItemProcessor" in state else []) + state.get("Branches", []):
            yield from _all_states(sub)


def _resources_with_ids(deployment, stack: str, kind: str):
    return [(lid, r) for lid, r in deployment.templates[stack]["Resources"].items() if r["Type"] == kind]


def _function(deployment, stack: str, variable: str, value: str | None = None) -> tuple[str, dict]:
    for _, function in _resources(deployment, stack, "AWS::Lambda::Function"):
        props = deployment.resolve(stack, function["Properties"])
        variables = props.get("Environment", {}).get("Variables", {})
        if variable in variables and value in (None, variables[variable]):
            return props["Role"], variables
    raise AssertionError(f"{stack}: no function with {variable}")


def _load_lambda(monkeypatch, name: str, env: dict):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.syspath_prepend(str(ROOT / "lambda" / name))
    for module in ("handler", "logic"):
        sys.modules.pop(module, None)
    return importlib.import_module("logic")


def trigger_guard_calls(deployment, stack: str, monkeypatch) -> list[Call]:
    """The trigger guard Lambda, run in moto under its deployed environment: start a run, queue two triggers (one a sandbox
    user's run request, answered beside it) during it, then the run's end records it and starts the one follow-up run."""
    role, env = _function(deployment, stack, "ACCEPTS", "triggers")
    recorder = sfn_harness.CallRecorder()
    with mock_aws():
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": deployment.region}.items():
            monkeypatch.setenv(key, value)
        sfn, sns = boto3.client("stepfunctions"), boto3.client("sns")
        sfn.create_state_machine(
            name=env["STATE_MACHINE_ARN"].rsplit(":", 1)[1],
            roleArn=f"arn:aws:iam::{deployment.account}:role/x",
            definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}}),
        )
        sns.create_topic(Name=env["ALERT_TOPIC_ARN"].rsplit(":", 1)[1])
        ssm = boto3.client("ssm")
        ((_, queue),) = [
            (i, r) for i, r in _resources(deployment, stack, "AWS::SSM::Parameter") if r["Properties"].get("Name") == env["QUEUE_PARAMETER"]
        ]
        ssm.put_parameter(Name=env["QUEUE_PARAMETER"], Value=queue["Properties"]["Value"], Type="String")  # as deployed
        ecr = boto3.client("ecr")
        ecr.create_repository(repositoryName=env["IMAGE_REPOSITORY"])
        ecr.put_image(repositoryName=env["IMAGE_REPOSITORY"], imageManifest=sfn_harness.IMAGE_MANIFEST, imageTag=env["IMAGE_TAG"])
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=env["ARTIFACTS_BUCKET"])
        request = f"{env['SANDBOX_PREFIX']}alice/requests/20261125T030000Z-0a1b2c3d/run.json"
        s3.put_object(Bucket=env["ARTIFACTS_BUCKET"], Key=request, Body=b"{}")  # the user's upload (not the function's call)
        logic = _load_lambda(monkeypatch, "start_pipeline", env)
        settings = logic.Settings.from_env(env)
        handle = functools.partial(logic.handle, sfn=sfn, sns=sns, ssm=ssm, ecr=ecr, s3=s3, settings=settings, log=lambda *a, **k: None)
        with recorder.recording(monkeypatch):
            first = handle({"trigger": "schedule", "detail": {}})
            handle({"trigger": "new-data", "detail": {}})  # arrive during the first run: queued and announced
            event = {"detail-type": "Object Created", "detail": {"bucket": {"name": env["ARTIFACTS_BUCKET"]}, "object": {"key": request}}}
            assert handle({"source": "aws.s3", **event})["queued"]  # mlops run's request, answered beside it
        sfn.stop_execution(executionArn=first["executionArn"])  # the run ends (not the function's call)
        with recorder.recording(monkeypatch):
            assert handle({"trigger": "run-ended", "detail": {"execution": first["executionArn"], "status": "ABORTED"}})["started"]
    calls = []
    for service, operation, params in recorder.calls:
        calls += api_calls_to_iam(role, service, operation, params, region=deployment.region, account=deployment.account)
    assert {c.action for c in calls} == {
        "states:ListExecutions",
        "states:StartExecution",
        "states:DescribeExecution",  # a run-ended event is checked against the execution's real status
        "sns:Publish",
        "ssm:GetParameter",
        "ssm:PutParameter",
        "ecr:DescribeImages",
        "s3:PutObject",  # the runs' records, the request's answer
    }
    written = {c.resource.split(":::", 1)[1].split("/", 1)[1] for c in calls if c.action == "s3:PutObject"}
    assert request.replace("run.json", "answer.json") in written and any(k.startswith("runs/") for k in written)
    return calls


def publisher_calls(deployment, stack: str, monkeypatch) -> list[Call]:
    """The publisher Lambda, run in moto under its deployed environment: a sandbox user's archive starts its run (and its
    record), and one past the bound of publish runs is refused with a note beside it."""
    role, env = _function(deployment, stack, "ACCEPTS", "published-models")
    recorder = sfn_harness.CallRecorder()
    with mock_aws():
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": deployment.region}.items():
            monkeypatch.setenv(key, value)
        sfn, s3, ecr = boto3.client("stepfunctions"), boto3.client("s3"), boto3.client("ecr")
        sfn.create_state_machine(
            name=env["STATE_MACHINE_ARN"].rsplit(":", 1)[1],
            roleArn=f"arn:aws:iam::{deployment.account}:role/x",
            definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}}),
        )
        s3.create_bucket(Bucket=env["ARTIFACTS_BUCKET"])
        ecr.create_repository(repositoryName=env["IMAGE_REPOSITORY"])
        logic = _load_lambda(monkeypatch, "start_pipeline", env)
        settings = logic.Settings.from_env({**env, "MAX_PUBLISH_RUNS": "1"})
        answers = []
        for folder in ("20261125T030000Z-0a1b2c3d", "20261125T030100Z-0a1b2c3e"):
            key = f"{env['SANDBOX_PREFIX']}alice/published/{folder}/model.tar.gz"
            s3.put_object(Bucket=env["ARTIFACTS_BUCKET"], Key=key, Body=b"archive")  # the user's upload
            event = {
                "source": "aws.s3",
                "detail-type": "Object Created",
                "detail": {"bucket": {"name": env["ARTIFACTS_BUCKET"]}, "object": {"key": key}},
            }
            with recorder.recording(monkeypatch):
                answers.append(logic.handle(event, sfn=sfn, sns=None, ssm=None, ecr=ecr, s3=s3, settings=settings, log=lambda *a, **k: None))
    assert [a["started"] for a in answers] == [True, False]
    calls = []
    for service, operation, params in recorder.calls:
        calls += api_calls_to_iam(role, service, operation, params, region=deployment.region, account=deployment.account)
    assert {c.action for c in calls} == {"s3:GetObject", "states:ListExecutions", "states:StartExecution", "ecr:DescribeImages", "s3:PutObject"}
    return calls


def seal_calls(deployment, stack: str, monkeypatch) -> list[Call]:
    """The seal Lambda, run in moto under its deployed environment: seal a trained model (in parts), then a retry of it,
    then a published archive for another run."""
    role, env = _function(deployment, stack, "SEALED_KEY")
    bucket = env["ARTIFACTS_BUCKET"]
    recorder = sfn_harness.CallRecorder()
    with mock_aws():
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": deployment.region}.items():
            monkeypatch.setenv(key, value)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})  # as deployed
        project = stack.rsplit("pipeline-", 1)[1]
        trained = f"pipeline/{RUN}/model/{project}-train-{RUN}/output/model.tar.gz"
        published = f"sandbox/alice/published/20261125T030000Z-{RUN}/model.tar.gz"
        s3.put_object(Bucket=bucket, Key=trained, Body=b"m" * (6 * 1024**2))
        s3.put_object(Bucket=bucket, Key=published, Body=b"archive")
        logic = _load_lambda(monkeypatch, "seal_model", env)
        settings = logic.Settings.from_env(env)
        with recorder.recording(monkeypatch):
            for source, run in ((trained, RUN), (trained, RUN), (published, "ffffffff")):
                request = logic.parse({"source": f"s3://{bucket}/{source}", "runId": run}, settings)
                logic.seal(request, s3=s3, settings=settings, part_bytes=5 * 1024**2)
    calls = []
    for service, operation, params in recorder.calls:
        calls += api_calls_to_iam(role, service, operation, params, region=deployment.region, account=deployment.account)
    assert {c.action for c in calls} == {"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"}
    assert any(dict(c.context).get("s3:if-none-match") == "*" for c in calls)  # the completion, which the bucket policy tests
    return calls


def api_lambda_calls(deployment, stack: str, monkeypatch) -> list[Call]:
    """The API Lambda, run under its deployed environment against a stubbed SageMaker runtime."""
    role, env = _function(deployment, stack, "ENDPOINT_NAME")
    logic = _load_lambda(monkeypatch, "invoke_endpoint", env)
    runtime = boto3.client("sagemaker-runtime", region_name=deployment.region, aws_access_key_id="x", aws_secret_access_key="x")
    recorder = sfn_harness.CallRecorder()
    with Stubber(runtime) as stub, recorder.recording(monkeypatch):
        stub.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(b"0.9"), 3), "ContentType": "text/csv"})
        logic.handle(
            {"body": "1,2,3", "headers": {"Content-Type": "text/csv"}, "isBase64Encoded": False},
            runtime=runtime,
            settings=logic.Settings.from_env(env),
            request_id="r",
            log=lambda *a, **k: None,
        )
    calls = []
    for service, operation, params in recorder.calls:
        calls += api_calls_to_iam(role, service, operation, params, region=deployment.region, account=deployment.account)
    assert [c.action for c in calls] == ["sagemaker:InvokeEndpoint"]
    return calls


def synth_step_calls(delivery_app, deployment, monkeypatch) -> list[Call]:
    """The delivery pipeline's synth step: tools/resolve_model_packages.py, run in moto."""
    template = deployment.templates[delivery_app.stack.stack_name]
    project = next(
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CodeBuild::Project" and "resolve_model_packages" in json.dumps(r["Properties"]["Source"])
    )
    role = deployment.resolve(delivery_app.stack.stack_name, project["Properties"]["ServiceRole"])
    monkeypatch.syspath_prepend(str(ROOT / "tools"))
    import resolve_model_packages

    registry = delivery_app.stack.stages[0].config
    recorder = sfn_harness.CallRecorder()
    with mock_aws():
        sm = boto3.client("sagemaker", region_name=registry.region, aws_access_key_id="x", aws_secret_access_key="x")
        for p in registry.projects:
            sm.create_model_package_group(ModelPackageGroupName=f"{registry.prefix}-{registry.stage}-{p.name}")
            sm.create_model_package(
                ModelPackageGroupName=f"{registry.prefix}-{registry.stage}-{p.name}",
                ModelApprovalStatus="Approved",
                InferenceSpecification={
                    "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"}],
                    "SupportedContentTypes": ["text/csv"],
                    "SupportedResponseMIMETypes": ["text/csv"],
                },
            )
        ssm = boto3.client("ssm", region_name=registry.region, aws_access_key_id="x", aws_secret_access_key="x")
        for p in registry.projects:
            for name in registry_parameters(registry.names, p.name).values():
                ssm.put_parameter(Name=name, Value=deployment.ssm_value(name), Type="String")
        with recorder.recording(monkeypatch):
            resolve_model_packages.resolve(sm, ssm, registry.prefix, registry.stage, [p.name for p in registry.projects])
    calls = []
    for service, operation, params in recorder.calls:
        calls += api_calls_to_iam(role, service, operation, params, region=deployment.region, account=deployment.account)
    assert {c.action for c in calls} == {"sagemaker:ListModelPackages", "sagemaker:DescribeModelPackage", "ssm:GetParameter"}
    return calls


def delivery_image_must_never(delivery_app, deployment) -> list[Call]:
    """The image steps reach the registry stage's project repositories and guards only: not prod's, not another name."""
    from stacks.delivery_stack import IMAGE_PUSH_ACTIONS

    name = delivery_app.stack.stack_name
    template = deployment.templates[name]
    roles = {
        marker: deployment.resolve(name, r["Properties"]["ServiceRole"])
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CodeBuild::Project"
        for marker in ("ship_image.py ship", "ship_image.py train")
        if marker in r["Properties"]["Source"].get("BuildSpec", "")
    }
    ship, train = roles["ship_image.py ship"], roles["ship_image.py train"]
    account, region = deployment.account, deployment.region
    calls = [
        Call(ship, action, f"arn:aws:ecr:{region}:{account}:repository/{repository}", why=f"the image step must not push to {repository}")
        for repository in ("mlops-prod-churn", "other-team-images")
        for action in ("ecr:PutImage", "ecr:CompleteLayerUpload")
    ]
    calls += [
        Call(
            ship,
            "ecr:DeleteRepository",
            f"arn:aws:ecr:{region}:{account}:repository/mlops-dev-churn",
            why="the image step must not delete a repository",
        ),
        Call(ship, "ecr:BatchDeleteImage", f"arn:aws:ecr:{region}:{account}:repository/mlops-dev-churn", why="the image step must not delete images"),
        Call(train, "lambda:InvokeFunction", f"arn:aws:lambda:{region}:{account}:function:mlops-prod-churn-start", why="train step: prod's guard"),
        Call(
            train,
            "states:StartExecution",
            f"arn:aws:states:{region}:{account}:stateMachine:mlops-dev-churn-training",
            why="train step: past the guard",
        ),
    ]
    assert set(IMAGE_PUSH_ACTIONS) >= {"ecr:PutImage", "ecr:CompleteLayerUpload"}
    return calls


def delivery_build_calls(delivery_app, deployment) -> dict[str, list[Call]]:
    """The delivery pipeline's CodeBuild roles: the synth step (source in, cdk.out out, its logs), the self-mutation
    step (`cdk deploy` of the pipeline: it assumes the bootstrap roles) and the asset steps (cdk-assets assumes the
    file-publishing role), each reading and writing the pipeline's KMS-encrypted artifact bucket."""
    name = delivery_app.stack.stack_name
    template = deployment.templates[name]
    pipeline = next(r for r in template["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline")
    store = deployment.resolve(name, pipeline["Properties"]["ArtifactStore"])
    bucket, key = store["Location"], store["EncryptionKey"]["Id"]
    pipeline_name = deployment.resolve(name, pipeline["Properties"]["Name"])
    account, region = deployment.account, deployment.region
    bootstrap = lambda kind: f"arn:aws:iam::{account}:role/cdk-hnb659fds-{kind}-role-{account}-{region}"  # noqa: E731
    tag = lambda kind: (("iam:ResourceTag/aws-cdk:bootstrap-role", kind),)  # noqa: E731  (cdk bootstrap tags its roles so)
    out: dict[str, list[Call]] = {}
    for step, (marker, extra) in {
        "synth step": ("resolve_model_packages", [("s3:PutObject", f"arn:aws:s3:::{bucket}/{pipeline_name[:20]}/Synth_Outp/a1b2c3.zip", ())]),
        "self-mutation step": (
            "cdk -a . deploy",
            [
                ("sts:AssumeRole", bootstrap("deploy"), tag("deploy")),
                ("sts:AssumeRole", bootstrap("file-publishing"), tag("file-publishing")),
                ("cloudformation:DescribeStacks", "*", ()),
            ],
        ),
        "asset steps": ("cdk-assets", [("sts:AssumeRole", bootstrap("file-publishing"), tag("file-publishing"))]),
        # the image steps (tools/ship_image.py): push to each project repository of the registry stage, retrain through the guards
        "image step": (
            "ship_image.py ship",
            [("ecr:GetAuthorizationToken", "*", ())]
            + [
                (action, f"arn:aws:ecr:{region}:{account}:repository/mlops-dev-{project}", ())
                for project in ("churn", "fraud")
                for action in IMAGE_PUSH_ACTIONS
            ],
        ),
        "train-on-new-image step": (
            "ship_image.py train",
            [
                ("lambda:InvokeFunction", f"arn:aws:lambda:{region}:{account}:function:mlops-dev-{project}-start", ())
                for project in ("churn", "fraud")
            ],
        ),
    }.items():
        project_id, project = next(
            (lid, r)
            for lid, r in template["Resources"].items()
            if r["Type"] == "AWS::CodeBuild::Project" and marker in r["Properties"]["Source"].get("BuildSpec", "")
        )
        role = deployment.resolve(name, project["Properties"]["ServiceRole"])
        stream = f"arn:aws:logs:{region}:{account}:log-group:/aws/codebuild/{deployment.ref(name, project_id)}:log-stream:build-1"
        calls = [
            Call(role, "logs:CreateLogStream", stream, why=f"{step}: logs"),
            Call(role, "logs:PutLogEvents", stream, why=f"{step}: logs"),
            Call(role, "s3:GetObject", f"arn:aws:s3:::{bucket}/{pipeline_name[:20]}/Source/abc123.zip", why=f"{step}: its input artifact"),
            Call(role, "kms:Decrypt", key, why=f"{step}: artifacts are encrypted with the pipeline's key"),
        ]
        calls += [Call(role, action, resource, context, why=step) for action, resource, context in extra]
        if any(action == "s3:PutObject" for action, _, _ in extra):
            calls.append(Call(role, "kms:GenerateDataKey", key, why=f"{step}: writes encrypted artifacts"))
        out[f"delivery: {step} role"] = calls
    return out


def sandbox_calls(deployment, user: str, project: str, ns: str) -> list[Call]:
    """What a sandbox is for: read the project's data, work in the sandbox bucket and sandbox/<user>/."""
    role = deployment.ssm_value(f"{ns}/users/{user}/role-arn")
    data = deployment.ssm_value(f"{ns}/projects/{project}/data-bucket-name")
    artifacts = deployment.ssm_value(f"{ns}/projects/{project}/artifacts-bucket-name")
    sandbox = deployment.ssm_value(f"{ns}/sandboxes/{user}/{project}/bucket-name")
    why = f"sandbox {user}/{project}"
    return [
        s3_list(role, f"s3://{data}/incoming/", why),
        Call(role, "s3:GetObject", f"arn:aws:s3:::{data}/incoming/a.csv", why=why),
        Call(role, "s3:PutObject", f"arn:aws:s3:::{sandbox}/notebook/out.csv", why=why),
        Call(role, "s3:GetObject", f"arn:aws:s3:::{sandbox}/notebook/out.csv", why=why),
        Call(role, "s3:PutObject", f"arn:aws:s3:::{artifacts}/sandbox/{user}/model.tar.gz", why=why),
        Call(role, "s3:GetObject", f"arn:aws:s3:::{artifacts}/sandbox/{user}/model.tar.gz", why=why),
        s3_list(role, f"s3://{artifacts}/sandbox/{user}/", why),
        s3_list(role, f"s3://{artifacts}/sandbox/{user}/runs/", why),
        *mlops_calls(deployment, role, user, project, ns),
    ]


def _mlops_names(deployment, user: str, project: str, ns: str):
    from mlops_cli import work

    from config.naming import Names

    cli_view = work.Project(ns, project, user)
    names = Names(cli_view.prefix, cli_view.stage)
    arn = f"arn:aws:{{}}:{deployment.region}:{deployment.account}:{{}}"
    return cli_view, names, arn


def mlops_calls(deployment, role: str, user: str, project: str, ns: str) -> list[Call]:
    """What ``mlops publish | run | status`` does (``mlops_cli.work``), with the parameter names the command reads and the
    resources the platform names (the guard, the state machine, the group): every action it declares is checked."""
    from mlops_cli import work

    cli_view, names, arn = _mlops_names(deployment, user, project, ns)
    why = f"mlops in sandbox {user}/{project}"
    parameters = cli_view.parameters_read([cli_view.stage, "prod"])
    artifacts = deployment.ssm_value(f"{ns}/projects/{project}/artifacts-bucket-name")
    published = f"arn:aws:s3:::{artifacts}/sandbox/{user}/{work.PUBLISHED}20261125T030000Z-0a1b2c3d/model.tar.gz"
    group = names.model_package_group(project)
    calls = [Call(role, "ssm:GetParameter", arn.format("ssm", f"parameter{name}"), why=why) for name in parameters]
    request = f"arn:aws:s3:::{artifacts}/sandbox/{user}/{work.REQUESTS}20261125T030000Z-0a1b2c3d/"
    calls += [
        Call(role, "s3:PutObject", published, why=f"{why} publish (upload)"),
        Call(role, "s3:AbortMultipartUpload", published, why=f"{why} publish (a failed upload in parts)"),
        Call(role, "s3:GetObject", published.replace("model.tar.gz", "refused.json"), why=f"{why} publish (the publisher's refusal note)"),
        Call(role, "s3:PutObject", request + work.RUN_REQUEST, why=f"{why} run (the request)"),
        Call(role, "s3:GetObject", request + work.ANSWER, why=f"{why} run (the guard's answer)"),
        Call(role, "s3:GetObject", f"arn:aws:s3:::{artifacts}/{work.record_key('publish-20261125T030000Z-0a1b2c3d')}", why=f"{why} --wait, status"),
        s3_list(role, f"s3://{artifacts}/{work.RUNS}", f"{why} status (the runs' records)"),
        Call(role, "sagemaker:ListModelPackages", "*", why=f"{why} status"),
        Call(role, "sagemaker:DescribeModelPackage", arn.format("sagemaker", f"model-package/{group}/3"), why=f"{why} status"),
    ]
    capture = deployment.ssm_value(f"{ns}/projects/{project}/capture-bucket-name")
    endpoint = names.endpoint(project)
    calls += [  # mlops label: the periods the drift check reported on, their event ids, then the labels
        s3_list(role, f"s3://{capture}/monitoring/{endpoint}/", f"{why} label (the checked periods)"),
        Call(role, "s3:GetObject", f"arn:aws:s3:::{capture}/monitoring/{endpoint}/20261125T030000Z/event-ids.json", why=f"{why} label"),
        Call(role, "s3:PutObject", f"arn:aws:s3:::{capture}/ground-truth/{endpoint}/2026/11/25/03/30-00-0a1b2c3d.jsonl", why=f"{why} label"),
    ]
    assert {c.action for c in calls} == set(work.PERMISSIONS.values())  # every permission the command declares
    mlflow = deployment.ssm_value(f"{ns}/projects/{project}/mlflow-arn")
    # the project's MLflow (a stage that trains): track, open its UI, write its artifacts
    if isinstance(mlflow, str) and not mlflow.endswith("/none"):
        calls += _mlflow_client_calls(role, mlflow, artifacts, f"{why}: MLflow")
    git = _configured_codecommit(deployment, project, ns)
    if git is not None:  # the project's CodeCommit repository, with the role (JupyterLab's git, no token)
        calls += [Call(role, f"codecommit:{a}", git, why=f"git in sandbox {user}/{project}") for a in ("GitPull", "GitPush")]
    return calls


def _configured_codecommit(deployment, project: str, ns: str) -> str | None:
    """The project's CodeCommit repository ARN when its stage's config gives it one (the longest-names stage's first
    project does: its account declares it already uses CodeCommit, closed to new customers; dev names no repository)."""
    from config import load_config
    from config.schema import PlatformConfig
    from tests.fidelity.conftest import LONGEST_PREFIX, LONGEST_STAGE, longest_config

    config = PlatformConfig.model_validate(longest_config()) if ns == f"/{LONGEST_PREFIX}/{LONGEST_STAGE}" else load_config(ns.rsplit("/", 1)[-1])
    if project not in {p.name for p in config.projects} or config.project(project).git is None:
        return None
    found = config.project(project).git.codecommit
    return None if found is None else f"arn:aws:codecommit:{found[0]}:{deployment.account}:{found[1]}"


def _publishers(deployment, stack: str) -> list[str]:
    """The ARN of ``stack``'s publisher (``PipelineTriggers.publisher``), if the stack is in the deployment."""
    if stack not in deployment.templates:
        return []
    return [
        deployment.resolve(stack, {"Fn::GetAtt": [lid, "Arn"]})
        for lid, r in _resources_with_ids(deployment, stack, "AWS::Lambda::Function")
        if r["Properties"].get("Environment", {}).get("Variables", {}).get("ACCEPTS") == "published-models"
    ]


def mlops_must_never(deployment, role: str, user: str, project: str, other: str, other_user: str, ns: str) -> list[Call]:
    """The ``mlops`` work of ``user`` in ``project`` reaches no other project or user, and never the pipeline but through an
    upload under the user's own prefix."""
    _, names, arn = _mlops_names(deployment, user, project, ns)
    why = f"{user} (sandbox in {project}) must not"
    artifacts = deployment.ssm_value(f"{ns}/projects/{project}/artifacts-bucket-name")
    return [
        Call(role, "lambda:InvokeFunction", arn.format("lambda", f"function:{names.pipeline_guard(other)}"), why=f"{why} start {other}'s pipeline"),
        # not even its own project's guard: a run request is an upload, the requester read from its key (a direct invoke
        # would name any requestedBy, as mlops run's did)
        Call(role, "lambda:InvokeFunction", arn.format("lambda", f"function:{names.pipeline_guard(project)}"), why=f"{why} invoke its guard"),
        *(
            Call(role, "lambda:InvokeFunction", publisher, why=f"{why} invoke the publisher (only EventBridge may: the upload is the request)")
            for publisher in _publishers(deployment, f"{names.base}-pipeline-{project}")
        ),
        Call(
            role,
            "s3:PutObject",
            f"arn:aws:s3:::{artifacts}/sandbox/{other_user}/published/20261125T030000Z-0a1b2c3d/model.tar.gz",
            why=f"{why} publish as {other_user} (the publisher takes the user from the key)",
        ),
        Call(
            role,
            "states:StartExecution",
            arn.format("states", f"stateMachine:{names.training_state_machine(project)}"),
            why=f"{why} start the pipeline past its guard",
        ),
        Call(
            role,
            "states:DescribeExecution",
            arn.format("states", f"execution:{names.training_state_machine(other)}:x"),
            why=f"{why} follow {other}'s runs",
        ),
        Call(
            role,
            "sagemaker:DescribeModelPackage",
            arn.format("sagemaker", f"model-package/{names.model_package_group(other)}/1"),
            why=f"{why} read {other}'s packages",
        ),
        Call(
            role,
            "sagemaker:UpdateModelPackage",
            arn.format("sagemaker", f"model-package/{names.model_package_group(project)}/1"),
            why=f"{why} approve a package",
        ),
        Call(role, "ssm:GetParameter", arn.format("ssm", f"parameter{ns}/projects/{other}/key-arn"), why=f"{why} read {other}'s parameters"),
        Call(
            role,
            "ssm:GetParameter",
            arn.format("ssm", f"parameter{ns}/sandboxes/{other_user}/{project}/bucket-name"),
            why=f"{why} read {other_user}'s sandbox parameters",
        ),
        Call(
            role,
            "ssm:PutParameter",
            arn.format("ssm", f"parameter{names.queued_triggers(project)}"),
            why=f"{why} edit the pipeline's trigger queue",
        ),
        Call(role, "codecommit:GitPush", arn.format("codecommit", f"{other}-models"), why=f"{why} push to {other}'s repository"),
        *(
            [
                Call(
                    role,
                    "sagemaker-mlflow:SearchRuns" if ":mlflow-tracking-server/" in other_mlflow else "sagemaker:CallMlflowAppApi",
                    other_mlflow,
                    why=f"{why} reach {other}'s MLflow",
                ),
                Call(
                    role,
                    "s3:PutObject",
                    f"arn:aws:s3:::{deployment.ssm_value(f'{ns}/projects/{other}/artifacts-bucket-name')}/mlflow/x",
                    why=f"{why} write {other}'s MLflow artifacts",
                ),
            ]
            if isinstance(other_mlflow := deployment.ssm_value(f"{ns}/projects/{other}/mlflow-arn"), str)
            else []
        ),
    ]


def sandbox_must_never(deployment, user: str, project: str, other: str, other_user: str, ns: str) -> list[Call]:
    """What the sandbox of ``user`` in ``project`` must never reach: another project's buckets and key, the
    project's pipeline and capture data, another user's prefix and sandbox bucket."""
    role = deployment.ssm_value(f"{ns}/users/{user}/role-arn")
    value = lambda p, name: deployment.ssm_value(f"{ns}/projects/{p}/{name}")  # noqa: E731
    other_sandbox = deployment.ssm_value(f"{ns}/sandboxes/{other_user}/{other}/bucket-name")
    why = f"{user} (sandbox in {project}) must not"
    return [
        Call(role, "s3:GetObject", f"arn:aws:s3:::{value(other, 'data-bucket-name')}/incoming/a.csv", why=f"{why} read {other}'s data"),
        Call(role, "s3:ListBucket", f"arn:aws:s3:::{value(other, 'data-bucket-name')}", why=f"{why} list {other}'s data"),
        Call(
            role,
            "s3:GetObject",
            f"arn:aws:s3:::{value(other, 'artifacts-bucket-name')}/pipeline/{RUN}/model/model.tar.gz",
            why=f"{why} read {other}'s models",
        ),
        Call(role, "kms:Decrypt", value(other, "key-arn"), why=f"{why} use {other}'s key"),
        Call(role, "kms:Decrypt", value(project, "key-arn"), why=f"{why} use the project's key outside S3 (no kms:ViaService)"),
        Call(role, "s3:PutObject", f"arn:aws:s3:::{value(project, 'data-bucket-name')}/incoming/a.csv", why=f"{why} write the project's data"),
        Call(
            role,
            "s3:PutObject",
            f"arn:aws:s3:::{value(project, 'artifacts-bucket-name')}/pipeline/{RUN}/model/model.tar.gz",
            why=f"{why} overwrite registered models",
        ),
        Call(
            role,
            "s3:GetObject",
            f"arn:aws:s3:::{value(project, 'capture-bucket-name')}/mlops-dev-{project}/AllTraffic/x.jsonl",
            why=f"{why} read captured traffic",
        ),
        Call(
            role,
            "s3:PutObject",
            f"arn:aws:s3:::{value(project, 'artifacts-bucket-name')}/sandbox/{other_user}/x",
            why=f"{why} write {other_user}'s prefix",
        ),
        Call(role, "s3:GetObject", f"arn:aws:s3:::{other_sandbox}/x", why=f"{why} read {other_user}'s sandbox bucket"),
        # reading is held to the user's own prefix as writing is (Bucket.grant_read on the whole bucket would allow both)
        Call(
            role,
            "s3:GetObject",
            f"arn:aws:s3:::{value(project, 'artifacts-bucket-name')}/pipeline/{RUN}/model/model.tar.gz",
            why=f"{why} read the project's run outputs",
        ),
        Call(
            role,
            "s3:GetObject",
            f"arn:aws:s3:::{value(project, 'artifacts-bucket-name')}/sandbox/{other_user}/x",
            why=f"{why} read {other_user}'s prefix",
        ),
        s3_list(role, f"s3://{value(project, 'artifacts-bucket-name')}/", why=f"{why} list the whole artifacts bucket"),
        s3_list(role, f"s3://{value(project, 'artifacts-bucket-name')}/pipeline/", why=f"{why} list the pipeline's runs"),
        s3_list(role, f"s3://{value(project, 'artifacts-bucket-name')}/sandbox/{other_user}/", why=f"{why} list {other_user}'s prefix"),
        *mlops_must_never(deployment, role, user, project, other, other_user, ns),
    ]


# -- the tests ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def actor_calls(deployments, pipeline_runs, delivery_app) -> dict[str, tuple[Policies, list[Call]]]:
    """Actor -> (the policies of its deployment, the calls it makes), for the dev stage, the longest-names stage and the delivery app."""
    out: dict[str, tuple[Policies, list[Call]]] = {}
    policies = {c.label: Policies.of(c.deployment) for c in deployments if c.label in ("dev stage", "longest names", "trial stage", "delivery app")}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for run in pipeline_runs:
            p = policies[run.label]
            out[f"{run.stack}: state machine role"] = (p, with_key_calls(p, state_machine_calls(run)))
            out[f"{run.stack}: job role"] = (p, with_key_calls(p, job_role_calls(run)))
        for label in ("dev stage", "longest names"):
            p = policies[label]
            d = p.deployment
            for stack in d.templates:
                if "-endpoint-" in stack:
                    prefix, stage = stack.split("-endpoint-")[0].rsplit("-", 1)
                    out[f"{stack}: model role"] = (p, with_key_calls(p, model_role_calls(d, stack, f"/{prefix}/{stage}")))
                    out[f"{stack}: API function role"] = (p, api_lambda_calls(d, stack, monkeypatch))
                    monitor = monitor_role_calls(d, stack)
                    if monitor:
                        out[f"{stack}: Model Monitor job role"] = (p, with_key_calls(p, monitor))
                    for actor, calls in drift_check_calls(d, stack).items():
                        out[f"{stack}: drift check {actor}"] = (p, with_key_calls(p, calls))
                if "-pipeline-" in stack:
                    out[f"{stack}: trigger guard role"] = (p, with_key_calls(p, trigger_guard_calls(d, stack, monkeypatch)))
                    out[f"{stack}: publisher role"] = (p, with_key_calls(p, publisher_calls(d, stack, monkeypatch)))
                    out[f"{stack}: model seal role"] = (p, with_key_calls(p, seal_calls(d, stack, monkeypatch)))
        dev = policies["dev stage"]
        for user, project in (("alice", "churn"), ("bob", "fraud")):
            out[f"sandbox {user}/{project}: user role"] = (dev, with_key_calls(dev, sandbox_calls(dev.deployment, user, project, "/mlops/dev")))
        delivery = policies["delivery app"]
        out["delivery: synth step role (resolver)"] = (delivery, synth_step_calls(delivery_app, delivery.deployment, monkeypatch))
        d = delivery.deployment
        for kind in ("deploy", "file-publishing"):  # the trust policy cdk bootstrap gives its roles: the account's principals
            delivery.resource[f"arn:aws:iam::{d.account}:role/cdk-hnb659fds-{kind}-role-{d.account}-{d.region}"] = {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{d.account}:root"}, "Action": "sts:AssumeRole"}],
            }
        for actor, calls in delivery_build_calls(delivery_app, d).items():
            out[actor] = (delivery, calls)
    return out


def test_every_actor_can_make_every_call_it_needs(actor_calls):
    results = {actor: evaluate(policies, calls) for actor, (policies, calls) in actor_calls.items()}
    denied = [f"{actor}: {r}" for actor, rs in results.items() for r in rs if not r.allowed]
    total = sum(len(rs) for rs in results.values())
    print(f"\nIAM: {len(results)} actors, {total} calls evaluated (identity and resource side), denied: {len(denied)}")
    for actor, rs in sorted(results.items()):
        print(f"  {actor}: {len(rs)} calls")
    assert denied == []
    assert len(results) >= 20 and total > 500


def test_the_delivery_image_steps_reach_nothing_but_the_registry_stages_repositories_and_guards(deployments, delivery_app):
    delivery = Policies.of(next(c.deployment for c in deployments if c.label == "delivery app"))
    results = evaluate(delivery, delivery_image_must_never(delivery_app, delivery.deployment))
    allowed = [str(r) for r in results if r.allowed or r.decision == "Error"]
    print(f"\nIAM, delivery image steps: {len(results)} calls they must never make; allowed: {len(allowed)}")
    assert len(results) == 8 and allowed == []


def test_sandboxes_reach_nothing_of_another_project_or_user(deployments):
    dev = Policies.of(_dev(deployments))
    calls = sandbox_must_never(dev.deployment, "alice", "churn", "fraud", "bob", "/mlops/dev") + sandbox_must_never(
        dev.deployment, "bob", "fraud", "churn", "alice", "/mlops/dev"
    )
    results = evaluate(dev, calls)
    allowed = [str(r) for r in results if r.allowed or r.decision == "Error"]
    print(f"\nIAM negatives: {len(results)} calls a sandbox must never make; allowed: {len(allowed)}")
    assert allowed == []


def test_a_self_served_sandbox_reaches_its_own_project_and_nothing_else(deployments):
    """The three products launched next to the dev stage (a project, a user and the sandbox linking them, by name only):
    the sandbox's role does its work in the project it was linked to and reaches nothing of a configured project."""
    from tests.fidelity.conftest import LONGEST_PROJECT, LONGEST_USER

    launched = next(c.deployment for c in deployments if c.label.startswith("product ") and "SandboxProductStack" in c.label)
    policies = Policies.of(launched)
    assert [u for u in policies.unresolved if "ProductStack" in u] == []
    user, project = LONGEST_USER, LONGEST_PROJECT
    role = launched.ssm_value(f"/mlops/dev/users/{user}/role-arn")
    assert "ProductStack" in role and launched.ssm_value(f"/mlops/dev/sandboxes/{user}/{project}/user-role-arn") == role
    own = evaluate(policies, with_key_calls(policies, sandbox_calls(launched, user, project, "/mlops/dev")))
    never = evaluate(policies, sandbox_must_never(launched, user, project, "churn", "alice", "/mlops/dev"))
    print(
        f"\nIAM, self-served sandbox: {len(own)} calls it needs (denied: {sum(not r.allowed for r in own)}), "
        f"{len(never)} it must never make (allowed: {sum(r.allowed for r in never)})"
    )
    assert [str(r) for r in own if not r.allowed] == []
    assert [str(r) for r in never if r.allowed or r.decision == "Error"] == []


def test_project_roles_reach_nothing_of_another_project(deployments, pipeline_runs):
    dev = Policies.of(_dev(deployments))
    d = dev.deployment
    runs = {run.project: run for run in pipeline_runs if run.stack.startswith("mlops-dev-")}
    calls = []
    for project, other in (("churn", "fraud"), ("fraud", "churn")):
        job_role = next(params["RoleArn"] for s, op, params in runs[project].calls if op == "CreateProcessingJob")
        other_job_role = next(params["RoleArn"] for s, op, params in runs[other].calls if op == "CreateProcessingJob")
        machine = next(r for _, r in _resources(d, runs[project].stack, "AWS::StepFunctions::StateMachine"))
        machine_role = d.resolve(runs[project].stack, machine["Properties"]["RoleArn"])
        data = d.ssm_value(f"/mlops/dev/projects/{other}/data-bucket-name")
        job = f"arn:aws:sagemaker:{d.region}:{d.account}:processing-job/{project}"
        calls += [
            # a project named <project>-x would run jobs <project>-x-pre-<id>: not this project's state machine's to run
            Call(machine_role, "sagemaker:CreateProcessingJob", f"{job}-x-pre-abcd1234", why=f"{project}'s pipeline must not run {project}-x's jobs"),
            Call(machine_role, "sagemaker:StopProcessingJob", f"{job}-pre-abcd1234-x", why=f"{project}'s pipeline: jobs named past its own pattern"),
            Call(job_role, "s3:GetObject", f"arn:aws:s3:::{data}/incoming/a.csv", why=f"{project} jobs must not read {other}'s data"),
            Call(job_role, "kms:Decrypt", d.ssm_value(f"/mlops/dev/projects/{other}/key-arn"), why=f"{project} jobs must not use {other}'s key"),
            Call(
                machine_role,
                "iam:PassRole",
                other_job_role,
                (("iam:PassedToService", "sagemaker.amazonaws.com"),),
                why=f"{project}'s pipeline must not pass {other}'s job role",
            ),
            Call(
                machine_role,
                "sagemaker:CreateModelPackage",
                f"arn:aws:sagemaker:us-east-1:123456789012:model-package/mlops-dev-{other}/1",
                why=f"{project}'s pipeline must not register in {other}'s group",
            ),
            Call(
                machine_role,
                "sagemaker:CreateProcessingJob",
                f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/{other}-pre-{RUN}",
                why=f"{project}'s pipeline must not run {other}'s jobs",
            ),
        ]
    results = evaluate(dev, calls)
    allowed = [str(r) for r in results if r.allowed or r.decision == "Error"]
    assert len(results) == 14 and allowed == []


def test_the_engine_denies_what_the_policies_do_not_grant(deployments):
    """The same engine, on calls no policy allows: an unknown role, plain HTTP to a TLS-only bucket."""
    dev = Policies.of(_dev(deployments))
    data = dev.deployment.ssm_value("/mlops/dev/projects/churn/data-bucket-name")
    role = dev.deployment.ssm_value("/mlops/dev/users/alice/role-arn")
    results = evaluate(
        dev,
        [
            Call("arn:aws:iam::123456789012:role/nobody", "s3:GetObject", f"arn:aws:s3:::{data}/incoming/a.csv"),
            Call(role, "s3:GetObject", f"arn:aws:s3:::{data}/incoming/a.csv", (("aws:SecureTransport", "false"),)),
            Call(role, "s3:GetObject", f"arn:aws:s3:::{data}/incoming/a.csv"),
        ],
    )
    assert [r.decision for r in results] == ["ImplicitlyDenied", "ExplicitlyDenied", "Allowed"]
    # what every "needs" test reads: an explicit Deny (the bucket policy's, here) is a refusal it reports, with the call
    assert [r.allowed for r in results] == [False, False, True]
    assert str(results[1]).startswith("ExplicitlyDenied: ") and "s3:GetObject" in str(results[1])


def _studio_calls(deployment, user: str, owner: str, sharing: str, why: str, ns: str = "/mlops/dev") -> list[Call]:
    """``user`` manages a space of ``owner`` (``sharing``: Private or Shared) and the apps in it."""
    role = deployment.ssm_value(f"{ns}/users/{user}/role-arn")
    domain = deployment.ssm_value(f"{ns}/studio/domain-id")
    arn = f"arn:aws:sagemaker:{deployment.region}:{deployment.account}"
    context = (("sagemaker:OwnerUserProfileArn", f"{arn}:user-profile/{domain}/{owner}"), ("sagemaker:SpaceSharingType", sharing))
    space, app = f"{arn}:space/{domain}/{owner}-space", f"{arn}:app/{domain}/{owner}-space/jupyterlab/default"
    return [Call(role, f"sagemaker:{action}", space, context, why) for action in ("CreateSpace", "UpdateSpace", "DeleteSpace")] + [
        Call(role, f"sagemaker:{action}", app, context, why) for action in ("CreateApp", "DeleteApp")
    ]


def test_a_user_manages_only_their_own_private_spaces_and_apps(deployments):
    dev = Policies.of(_dev(deployments))
    d = dev.deployment
    own = evaluate(dev, _studio_calls(d, "alice", "alice", "Private", "alice on her own private space"))
    others = evaluate(dev, _studio_calls(d, "alice", "bob", "Private", "alice on bob's private space"))
    shared = evaluate(dev, _studio_calls(d, "alice", "bob", "Shared", "alice in bob's shared space"))
    assert [r.decision for r in own] == ["Allowed"] * 5
    assert all(r.decision == "ImplicitlyDenied" for r in others), [str(r) for r in others]
    # a shared space is for collaboration: apps in it, yes; changing or deleting another user's space, no
    assert [r.decision for r in shared] == ["ImplicitlyDenied"] * 3 + ["Allowed"] * 2


def test_execution_roles_place_network_interfaces_in_the_platform_vpc_only(deployments, pipeline_runs):
    dev = Policies.of(_dev(deployments))
    d = dev.deployment
    run = next(r for r in pipeline_runs if r.stack == "mlops-dev-pipeline-churn")
    job = next(params for _, op, params in run.calls if op == "CreateProcessingJob")
    # a real-time model in the VPC: prod's (dev serves in batch and serverless, whose models run in no VPC)
    prod = Policies.of(next(c.deployment for c in deployments if c.label == "prod stage"))
    served = "mlops-prod-endpoint-churn"
    ((_, model),) = _resources(prod.deployment, served, "AWS::SageMaker::Model")
    resolved = prod.deployment.resolve(served, model["Properties"])
    other = {"Subnets": ["subnet-0fedcba9876543210"], "SecurityGroupIds": ["sg-0fedcba9876543210"]}
    for policies, role, placed, vpc in (
        (dev, job["RoleArn"], _vpc_config(job), _vpc_of(d, run.stack)),
        (prod, resolved["ExecutionRoleArn"], resolved["VpcConfig"], _vpc_of(prod.deployment, served)),
    ):
        deployment = policies.deployment
        own = evaluate(policies, _vpc_calls(deployment, role, placed, vpc, "own VPC"))
        elsewhere = [
            r
            for r in evaluate(policies, _vpc_calls(deployment, role, other, "vpc-0fedcba9876543210", "another VPC"))
            if "ec2:Vpc" in str(r.call.context)
        ]
        assert own and all(r.allowed for r in own), [str(r) for r in own if not r.allowed]
        assert len(elsewhere) == 5 and not any(r.allowed for r in elsewhere), [str(r) for r in elsewhere]


def test_several_tenants_each_reach_only_their_own(deployments, pipeline_runs):
    """The longest-names stage: three projects, three users (u1 in all three, u3 in two, u2 in one). Each pair of users,
    each pair of projects: another's private spaces, another project's data, key, registry and jobs are out of reach."""
    from tests.fidelity.conftest import LONGEST_PREFIX, LONGEST_STAGE

    policies = Policies.of(next(c.deployment for c in deployments if c.label == "longest names"))
    d, ns = policies.deployment, f"/{LONGEST_PREFIX}/{LONGEST_STAGE}"
    user, project = (lambda i: f"u{i}" + "0" * 30), (lambda i: f"p{i}" + "0" * 30)  # noqa: E731
    calls = []
    for a in (1, 2, 3):  # spaces: a user on another's private space
        for b in (1, 2, 3):
            if a != b:
                calls += _studio_calls(d, user(a), user(b), "Private", f"{user(a)[:2]} on {user(b)[:2]}'s private space", ns)
    # data: a user with no sandbox in a project (u2 in p2, u3 in p1), next to a user who has one there
    calls += sandbox_must_never(d, user(2), project(1), project(2), user(3), ns) + sandbox_must_never(d, user(3), project(2), project(1), user(2), ns)
    runs = {run.project: run for run in pipeline_runs if run.label == "longest names"}
    for i in (1, 2, 3):  # each project's pipeline and jobs against each other project
        job_role = next(params["RoleArn"] for _, op, params in runs[project(i)].calls if op == "CreateProcessingJob")
        machine = next(r for _, r in _resources(d, runs[project(i)].stack, "AWS::StepFunctions::StateMachine"))
        machine_role = d.resolve(runs[project(i)].stack, machine["Properties"]["RoleArn"])
        for j in (1, 2, 3):
            if i == j:
                continue
            other = lambda key: d.ssm_value(f"{ns}/projects/{project(j)}/{key}")  # noqa: E731, B023
            why = f"p{i}'s roles on p{j}"
            other_job_role = next(params["RoleArn"] for _, op, params in runs[project(j)].calls if op == "CreateProcessingJob")
            calls += [
                Call(job_role, "s3:GetObject", f"arn:aws:s3:::{other('data-bucket-name')}/incoming/a.csv", why=why),
                Call(job_role, "s3:PutObject", f"arn:aws:s3:::{other('artifacts-bucket-name')}/pipeline/{RUN}/x", why=why),
                Call(job_role, "kms:Decrypt", other("key-arn"), why=why),
                Call(machine_role, "iam:PassRole", other_job_role, (("iam:PassedToService", "sagemaker.amazonaws.com"),), why),
                Call(
                    machine_role,
                    "sagemaker:CreateModelPackage",
                    f"arn:aws:sagemaker:{d.region}:{d.account}:model-package/{other('model-package-group-name')}/1",
                    why=why,
                ),
            ]
    results = evaluate(policies, calls)
    allowed = [str(r) for r in results if r.allowed or r.decision == "Error"]
    print(f"\nIAM, several tenants: {len(results)} cross-tenant calls evaluated, allowed: {len(allowed)}")
    # 15 storage and 12 mlops and git negatives per sandbox (its own guard, the publisher and publishing as another user among
    # them), 2 on another project's MLflow
    assert len(results) == 6 * 5 + 2 * (15 + 12 + 2) + 6 * 5 and allowed == []


def _endpoint_policy(deployment, service: str, *, missing_ok: bool = False) -> str:
    """The resolved policy (JSON) of the stage VPC's endpoint of ``service`` (``s3``, ``ecr.dkr``, ``sts``, ...); with
    ``missing_ok``, an empty string when the stage has none."""
    for stack, template in deployment.templates.items():
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::EC2::VPCEndpoint":
                props = deployment.resolve(stack, resource["Properties"])
                if props["ServiceName"].endswith(f".{service}"):
                    return json.dumps(props["PolicyDocument"])
    if missing_ok:
        return ""
    raise AssertionError(f"no {service} endpoint")


def test_vpc_endpoints_let_only_this_accounts_principals_reach_this_accounts_resources(deployments):
    """Judged with a role of the account allowed everything the calls need, so that only the endpoint policies decide."""
    dev = Policies.of(_dev(deployments))
    d = dev.deployment
    admin = f"arn:aws:iam::{d.account}:role/admin"
    dev.identity[admin] = [
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*", "sts:*", "ssm:*", "sagemaker:*"], "Resource": "*"}]}
    ]
    s3, sts, ssm, api = (_endpoint_policy(d, s) for s in ("s3", "sts", "ssm", "sagemaker.api"))
    data = d.ssm_value("/mlops/dev/projects/churn/data-bucket-name")
    parameter = f"arn:aws:ssm:us-east-1:{d.account}:parameter/mlops/dev/projects/churn/key-arn"
    package = f"arn:aws:sagemaker:us-east-1:{d.account}:model-package/mlops-dev-churn/1"

    outside = (("aws:ResourceAccount", "999999999999"),)
    # ECR's layer bucket belongs to an AWS account; its policy (stood in for here) lets ECR-authorized downloads through
    layers = "arn:aws:s3:::prod-us-east-1-starport-layer-bucket"
    dev.resource[layers] = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{layers}/*"}],
    }
    through = lambda policy, action, resource, context=(), why="", **kw: Call(admin, action, resource, context, why, endpoint_policy=policy, **kw)  # noqa: E731
    allowed = [
        through(s3, "s3:GetObject", f"arn:aws:s3:::{data}/incoming/a.csv", why="own bucket"),
        through(s3, "s3:PutObject", f"arn:aws:s3:::{data}/incoming/a.csv", why="own bucket"),
        through(
            s3,
            "s3:GetObject",
            f"{layers}/sha256-0a1b",
            (("aws:ResourceAccount", "000000000000"),),
            "ECR's layer bucket (AWS's)",
        ),
        through(sts, "sts:GetCallerIdentity", "*", why="who am I"),
        through(sts, "sts:AssumeRole", f"arn:aws:iam::{d.account}:role/admin", why="a role of the account"),
        through(ssm, "ssm:GetParameter", parameter, why="the mlops CLI's discovery"),
        through(api, "sagemaker:DescribeModelPackage", package, why="the mlops CLI's status"),
    ]
    denied = [
        through(s3, "s3:PutObject", "arn:aws:s3:::somebody-elses-bucket/loot.csv", outside, "copy data out to another account"),
        through(s3, "s3:GetObject", "arn:aws:s3:::somebody-elses-bucket/tool.sh", outside, "fetch from another account"),
        through(sts, "sts:AssumeRole", "arn:aws:iam::999999999999:role/outside", why="a role of another account"),
        through(ssm, "ssm:PutParameter", "arn:aws:ssm:us-east-1:999999999999:parameter/loot", why="copy a secret out to another account"),
        through(
            api,
            "sagemaker:CreateModelPackage",
            "arn:aws:sagemaker:us-east-1:999999999999:model-package/outside/1",
            why="register a model in another account",
        ),
    ]
    # the other account's resources welcome us (an exfiltration target would): only the endpoint can stop the calls
    welcome = lambda action: {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": admin}, "Action": action, "Resource": "*"}],
    }  # noqa: E731
    dev.resource["arn:aws:s3:::somebody-elses-bucket"] = welcome("s3:*")
    for call in denied[2:]:
        dev.resource[call.resource] = welcome(call.action)
    results = evaluate(dev, allowed + denied)
    control = evaluate(dev, [dataclasses.replace(call, endpoint_policy="") for call in denied])
    assert [r.decision for r in control] == ["Allowed"] * len(denied)  # without the endpoints' policies they would go through
    print(f"\nVPC endpoint policies: {len(allowed)} calls allowed through, {len(denied)} denied (all {len(denied)} allowed without them)")
    assert [(str(r), r.detail) for r in results[: len(allowed)] if not r.allowed] == []
    assert [str(r) for r in results[len(allowed) :] if r.allowed] == []


def test_every_call_from_inside_the_vpc_passes_its_endpoints_policy(actor_calls, deployments):
    """What jobs and models make from inside the dev and the longest-names VPCs, each through the endpoint of its service:
    still allowed. (Their image pulls, logs and volume keys are SageMaker's own calls, outside the VPC: ``config.endpoints``.)"""
    from tests.fidelity.conftest import LONGEST_PREFIX, LONGEST_STAGE

    endpoints = {"s3": "s3", "cloudwatch": "monitoring", "sagemaker": "mlflow"}  # the MLflow app's API is sagemaker:CallMlflowAppApi
    inside, stages = [], {"dev stage": "mlops-dev-", "longest names": f"{LONGEST_PREFIX}-{LONGEST_STAGE}-"}
    for label, prefix in stages.items():
        d = next(c.deployment for c in deployments if c.label == label)
        policies = {service: policy for service, endpoint in endpoints.items() if (policy := _endpoint_policy(d, endpoint, missing_ok=True))}
        for actor, (p, calls) in actor_calls.items():
            if not actor.startswith(prefix) or not any(kind in actor for kind in ("job role", "model role", "Model Monitor")):
                continue
            for call in calls:
                service = call.action.split(":")[0]
                if service in policies:  # which calls leave from the VPC is the reachability check's (fidelity/reachability.py)
                    inside.append((actor, p, dataclasses.replace(call, endpoint_policy=policies[service])))
    by_policies: dict[int, tuple] = {}
    for _actor, p, call in inside:
        by_policies.setdefault(id(p), (p, []))[1].append(call)
    denied = [str(r) for p, calls in by_policies.values() for r in evaluate(p, calls) if not r.allowed]
    print(f"\nVPC endpoint policies: {len(inside)} calls of jobs and models through their endpoints, denied: {len(denied)}")
    assert denied == [] and len(inside) > 150
    assert {c.action.split(":")[0] for _, _, c in inside} == set(endpoints)  # each of the three endpoints is exercised


def test_configured_users_create_projects_from_this_stages_studio_template_only(deployments):
    """Studio > Projects > Organization templates: a configured user's role sees and provisions the stage's project product
    (tagged as a Studio template), and creates the SageMaker project; never the sandbox or user product (which would link
    anyone to any project's data), nor the same product of another stage."""
    dev = Policies.of(_dev(deployments))
    d = dev.deployment
    role = d.ssm_value("/mlops/dev/users/alice/role-arn")
    catalog = f"arn:aws:catalog:{d.region}:{d.account}"
    products = {
        d.resolve("mlops-dev-self-service", r["Properties"]["Name"]): (
            f"{catalog}:product/{d.ref('mlops-dev-self-service', lid)}",
            tuple((f"aws:ResourceTag/{t['Key']}", t["Value"]) for t in r["Properties"]["Tags"]),
        )
        for lid, r in _resources(d, "mlops-dev-self-service", "AWS::ServiceCatalog::CloudFormationProduct")
    }
    assert set(products) == {"mlops-dev ML project", "mlops-dev Studio user", "mlops-dev Project sandbox"}
    template_reads = ["DescribeProduct", "ListLaunchPaths", "DescribeProvisioningParameters", "DescribeProvisioningArtifact"]

    def product_calls(name: str, why: str, tags=None) -> list[Call]:
        arn, own_tags = products[name]
        return [Call(role, f"servicecatalog:{a}", arn, tags or own_tags, why) for a in [*template_reads, "ProvisionProduct"]]

    project = f"arn:aws:sagemaker:{d.region}:{d.account}:project/churn-forecast"
    needed = product_calls("mlops-dev ML project", "the stage's project template") + [
        Call(role, "servicecatalog:SearchProducts", "*", why="Studio lists the templates"),
        Call(role, "sagemaker:ListProjects", "*", why="Studio lists projects"),
        Call(role, "sagemaker:GetSagemakerServicecatalogPortfolioStatus", "*", why="Studio checks projects are enabled"),
        Call(role, "sagemaker:CreateProject", project, why="create the project"),
        Call(role, "sagemaker:DescribeProject", project, why="its status"),
        Call(role, "servicecatalog:DescribeProvisionedProduct", "*", (("servicecatalog:userLevel", "self"),), "own provisioned project"),
    ]
    prod_tags = tuple((k, "prod" if k == "aws:ResourceTag/stage" else v) for k, v in products["mlops-dev ML project"][1])
    never = [
        *product_calls("mlops-dev Project sandbox", "the sandbox product links anyone to any project's data"),
        *product_calls("mlops-dev Studio user", "the user product"),
        *product_calls("mlops-dev ML project", "another stage's project template", prod_tags),
        Call(role, "servicecatalog:DescribeProvisionedProduct", "*", (("servicecatalog:userLevel", "account"),), "others' provisioned products"),
        Call(role, "servicecatalog:TerminateProvisionedProduct", "*", (("servicecatalog:userLevel", "self"),), "terminating stays with engineers"),
        Call(role, "sagemaker:DeleteProject", project, why="deleting stays with the platform engineers"),
        Call(role, "sagemaker:UpdateProject", project, why="updating stays with the platform engineers"),
    ]
    allowed, denied = evaluate(dev, needed), evaluate(dev, never)
    assert all(r.allowed for r in allowed), [str(r) for r in allowed if not r.allowed]
    assert not any(r.allowed for r in denied), [str(r) for r in denied if r.allowed]


def test_the_mlflow_link_finds_and_tags_runs_on_its_projects_mlflow_only(deployments):
    """The pipeline's MLflow link function (lambda/link_mlflow_run) on an app (dev) and on a tracking server (the longest
    names stage): the calls it makes on its own project's MLflow are allowed; another project's MLflow, and anything else on
    its own (deleting runs, models), are not."""
    from tests.fidelity.conftest import LONGEST_PREFIX, LONGEST_STAGE

    checked = {c.label: c.deployment for c in deployments}
    results = []
    for label, ns in (("dev stage", "/mlops/dev"), ("longest names", f"/{LONGEST_PREFIX}/{LONGEST_STAGE}")):
        d = checked[label]
        policies = Policies.of(d)
        projects = sorted({name.split("/")[-2] for name in d.published if name.startswith(f"{ns}/projects/") and name.endswith("/mlflow-arn")})
        for project in projects:
            own = d.ssm_value(f"{ns}/projects/{project}/mlflow-arn")
            stack = next((s for s in d.templates if s.endswith(f"-pipeline-{project}")), None)
            if stack is None or own.endswith("/none"):
                continue
            ((_, function),) = [
                (lid, r) for lid, r in _resources(d, stack, "AWS::Lambda::Function") if "MLflow runs" in r["Properties"].get("Description", "")
            ]
            role = d.resolve(stack, function["Properties"]["Role"])
            others = [d.ssm_value(f"{ns}/projects/{o}/mlflow-arn") for o in projects if o != project]
            api = (
                ["sagemaker:CallMlflowAppApi"]
                if ":mlflow-app/" in own
                else ["sagemaker-mlflow:GetExperimentByName", "sagemaker-mlflow:SearchRuns", "sagemaker-mlflow:SetTag"]
            )
            needed = [Call(role, a, own, why=f"{label} {project}: link its run") for a in api]
            never = [
                Call(role, a, other, why=f"{label} {project}: another project's MLflow")
                for a in api
                for other in others
                if not other.endswith("/none")
            ]
            if ":mlflow-tracking-server/" in own:
                never += [Call(role, f"sagemaker-mlflow:{a}", own, why="beyond tagging") for a in ("DeleteRun", "DeleteExperiment", "CreateRun")]
            results.append((evaluate(policies, needed), evaluate(policies, never)))
    kinds = [r.call.resource.split(":")[5].split("/")[0] for allowed, _ in results for r in allowed]
    assert {"mlflow-app", "mlflow-tracking-server"} <= set(kinds)  # both kinds were judged
    assert all(r.allowed for allowed, _ in results for r in allowed), [str(r) for a, _ in results for r in a if not r.allowed]
    assert not any(r.allowed for _, denied in results for r in denied), [str(r) for _, d in results for r in d if r.allowed]
    assert sum(len(denied) for _, denied in results) > 0


def test_product_roles_are_bounded_by_the_platforms_boundary(deployments):
    """M5, by the IAM engine: the launch role may create a product role only with the platform's boundary, and a role a
    product made cannot use IAM even if a (hypothetical) template granted it everything; its sandbox work still passes
    (the self-served sandbox test above evaluates it under the same boundary)."""
    launched = next(c.deployment for c in deployments if c.label.startswith("product ") and "UserProductStack" in c.label)
    policies = Policies.of(launched)
    account = launched.account
    launch_role = launch_roles(launched)["main"]
    boundary = f"arn:aws:iam::{account}:policy/mlops-dev-product-role-boundary"
    role = f"arn:aws:iam::{account}:role/SC-{account}-pp-abcdefghijklm-UserExecutionRole-0A1B2C3D"
    create = lambda ctx, why: Call(launch_role, "iam:CreateRole", role, ctx, why)  # noqa: E731
    allowed = evaluate(policies, [create((("iam:PermissionsBoundary", boundary),), "a product role with the platform's boundary")])
    refused = evaluate(
        policies,
        [
            create((), "a product role without a boundary"),
            create((("iam:PermissionsBoundary", f"arn:aws:iam::{account}:policy/AdministratorAccess"),), "another boundary"),
        ],
    )
    assert [r.allowed for r in allowed] == [True] and [r.allowed for r in refused] == [False, False]
    user_role = launched.ssm_value(f"/mlops/dev/users/{__import__('tests.fidelity.conftest', fromlist=['x']).LONGEST_USER}/role-arn")
    assert user_role in policies.boundaries  # the product's execution role is evaluated under its boundary
    escalation = dataclasses.replace(
        policies,
        identity={
            **policies.identity,
            user_role: [
                *policies.identity[user_role],
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["iam:*", "kms:PutKeyPolicy"], "Resource": "*"}]},
            ],
        },
    )
    results = evaluate(
        escalation,
        [
            Call(user_role, "iam:CreateRole", f"arn:aws:iam::{account}:role/escape", why="a role of its own choosing"),
            Call(
                user_role, "iam:AttachRolePolicy", user_role, (("iam:PolicyARN", "arn:aws:iam::aws:policy/AdministratorAccess"),), "admin for itself"
            ),
            Call(user_role, "kms:PutKeyPolicy", f"arn:aws:kms:us-east-1:{account}:key/11111111-2222-3333-4444-555555555555", why="a key's policy"),
        ],
    )
    assert [str(r) for r in results if r.allowed] == []
    unbounded = evaluate(dataclasses.replace(escalation, boundaries={}), [results[0].call])
    assert [r.allowed for r in unbounded] == [True]  # the same grant without the boundary: the boundary is what refuses it


def test_the_launch_roles_change_only_this_stages_stacks_and_product_roles(deployments):
    """M5, by the IAM engine: both launch roles (the portfolio's and the Studio template's) create any new SC-* stack, but
    update, delete or re-policy only a stack that carries this stage's TagOption, never retag one to another stage, and
    never tag a stack except while creating or updating it (which would plant the tag on another stack). Of the SC-* roles
    they change the trust of, or delete, only those tagged for this stage."""
    launched = next(c.deployment for c in deployments if c.label.startswith("product ") and "UserProductStack" in c.label)
    policies = Policies.of(launched)
    account, region = launched.account, launched.region
    both = list(launch_roles(launched).values())
    stack = lambda name: f"arn:aws:cloudformation:{region}:{account}:stack/{name}/0a1b2c3d-1111-2222-3333-444455556666"  # noqa: E731
    ours, new = stack(f"SC-{account}-pp-ours1234abcd"), stack(f"SC-{account}-pp-new12345abcd")
    tagged = lambda key, value: ((f"aws:ResourceTag/{key}", value),)  # noqa: E731
    this_stage, prod = tagged("platform-stage", "mlops-dev"), tagged("platform-stage", "mlops-prod")
    request = lambda value: (("aws:RequestTag/platform-stage", value), ("aws:TagKeys", ["platform-stage"]))  # noqa: E731
    role = f"arn:aws:iam::{account}:role/SC-{account}-pp-ours1234abcd-UserExecutionRole-0A1B2C3D"
    dev_role, prod_role = (("aws:ResourceTag/platform-stage", "mlops-dev"),), (("aws:ResourceTag/platform-stage", "mlops-prod"),)
    stage_own = (("aws:ResourceTag/platform", "mlops"), ("aws:ResourceTag/stage", "dev"))  # a resource of the stage's own stacks
    d = launched
    (churn_key,) = [d.get_att("mlops-dev-project-churn", lid, "Arn") for lid, _ in _resources(d, "mlops-dev-project-churn", "AWS::KMS::Key")]
    alice = d.ssm_value("/mlops/dev/users/alice/role-arn")
    (alice_profile,) = [
        d.get_att("mlops-dev-user-alice", lid, "UserProfileArn") for lid, _ in _resources(d, "mlops-dev-user-alice", "AWS::SageMaker::UserProfile")
    ]
    topic = f"arn:aws:sns:{region}:{account}:SC-{account}-pp-ours1234abcd-AlertTopic-0A1B2C3D"
    churn_parameter = f"arn:aws:ssm:{region}:{account}:parameter/mlops/dev/projects/churn/data-bucket-name"
    to_sagemaker = (("iam:PassedToService", "sagemaker.amazonaws.com"),)
    group = f"arn:aws:ec2:{region}:{account}:security-group/sg-0123456789abcdef0"
    stage_vpc, other_vpc = (f"arn:aws:ec2:{region}:{account}:vpc/{v}" for v in (d.ssm_value("/mlops/dev/studio/vpc-id"), "vpc-0fedcba987654321"))
    bucket = f"arn:aws:s3:::sc-{account}-pp-ours1234abcd-projectdatabucke-0a1b2c3d4e5f"
    needed, never = [], []
    for launch in both:
        needed += [
            Call(launch, "sns:SetTopicAttributes", topic, this_stage, "a product topic's policy"),
            Call(launch, "iam:PassRole", role, (*dev_role, *to_sagemaker), "a product role to its profile or MLflow"),
            Call(launch, "ec2:AuthorizeSecurityGroupIngress", group, (("ec2:Vpc", stage_vpc),), "a group in the stage's VPC"),
            Call(launch, "ec2:CreateSecurityGroup", stage_vpc, why="a group in the stage's VPC"),
            Call(launch, "s3:PutBucketPolicy", bucket, (("s3:ResourceAccount", account),), "a product bucket's policy"),
            Call(launch, "cloudformation:CreateStack", new, request("mlops-dev"), "provision a product"),
            Call(launch, "cloudformation:TagResource", new, (*request("mlops-dev"), ("cloudformation:CreateAction", "CreateStack")), "its tags"),
            Call(launch, "cloudformation:DescribeStacks", new, why="follow it"),
            *(
                Call(launch, f"cloudformation:{a}", ours, this_stage, "this stage's product")
                for a in ("UpdateStack", "DeleteStack", "SetStackPolicy")
            ),
            Call(launch, "cloudformation:UpdateStack", ours, (*this_stage, *request("mlops-dev")), "an update that keeps the tag"),
            Call(launch, "iam:UpdateAssumeRolePolicy", role, dev_role, "a product role's trust, this stage's"),
            Call(launch, "iam:DeleteRole", role, dev_role, "terminate this stage's product"),
            Call(launch, "iam:TagRole", role, (("aws:RequestTag/platform-stage", "mlops-dev"),), "CreateRole's tags"),
        ]
        never += [
            *(
                Call(launch, f"cloudformation:{a}", ours, (), "another team's product (no tag)")
                for a in ("UpdateStack", "DeleteStack", "SetStackPolicy")
            ),
            *(Call(launch, f"cloudformation:{a}", ours, prod, "another stage's product") for a in ("UpdateStack", "DeleteStack", "ExecuteChangeSet")),
            Call(launch, "cloudformation:UpdateStack", ours, (*this_stage, *request("mlops-prod")), "move the tag to another stage"),
            Call(launch, "cloudformation:TagResource", ours, request("mlops-dev"), "plant this stage's tag on a stack"),
            Call(launch, "cloudformation:UpdateStack", stack("mlops-dev-environment"), this_stage, "a platform stack"),
            Call(launch, "iam:UpdateAssumeRolePolicy", role, (), "another product's role (no tag)"),
            Call(launch, "iam:UpdateAssumeRolePolicy", role, prod_role, "another stage's product role"),
            Call(launch, "iam:DeleteRole", role, prod_role, "another stage's product role"),
            Call(launch, "iam:TagRole", role, (("aws:RequestTag/platform-stage", "mlops-prod"),), "tag a role as another stage's"),
            Call(launch, "iam:UpdateAssumeRolePolicy", role, stage_own, "a role tagged as the stage's own stacks' (not a product's)"),
            *(Call(launch, f"kms:{a}", churn_key, stage_own, "a configured project's key") for a in ("PutKeyPolicy", "CreateGrant", "Decrypt")),
            Call(
                launch, "kms:CreateKey", "*", (("aws:RequestTag/platform", "mlops"), ("aws:RequestTag/stage", "dev")), "a key without the product tag"
            ),
            *(Call(launch, f"iam:{a}", alice, stage_own, "a configured user's role") for a in ("UpdateAssumeRolePolicy", "DeleteRole", "TagRole")),
            Call(launch, "sagemaker:UpdateUserProfile", alice_profile, stage_own, "a configured user's profile (names her apps' role)"),
            Call(launch, "sns:SetTopicAttributes", topic, (), "another team's topic's policy"),
            Call(launch, "sns:Subscribe", topic, prod, "another stage's topic"),
            Call(launch, "iam:PassRole", role, to_sagemaker, "another product's role (no tag)"),
            Call(launch, "ssm:DeleteParameter", churn_parameter, stage_own, "a configured project's published bucket"),
            Call(launch, "ec2:AuthorizeSecurityGroupIngress", group, (("ec2:Vpc", other_vpc),), "a group in another VPC"),
            Call(launch, "ec2:CreateSecurityGroup", other_vpc, why="a group in another VPC"),
            Call(launch, "s3:PutBucketPolicy", bucket, (("s3:ResourceAccount", "999999999999"),), "an sc-* bucket of another account"),
        ]
    assert [str(r) for r in evaluate(policies, needed) if not r.allowed] == []
    assert [str(r) for r in evaluate(policies, never) if r.allowed] == []


def test_the_job_role_writes_only_job_outputs_and_deletes_no_model(deployments, pipeline_runs):
    """The jobs' role (the evaluation job loads any run's model) writes only a run's job output folders: never the data
    lineage the state machine records, never outside them, and deletes nothing but spot-training checkpoints."""
    dev = Policies.of(_dev(deployments))
    d = dev.deployment
    run = next(r for r in pipeline_runs if r.stack == "mlops-dev-pipeline-churn")
    job_role = next(params["RoleArn"] for s, op, params in run.calls if op == "CreateProcessingJob")
    artifacts = d.ssm_value("/mlops/dev/projects/churn/artifacts-bucket-name")
    obj = lambda key: f"arn:aws:s3:::{artifacts}/pipeline/0a1b2c3d/{key}"  # noqa: E731
    needed = [
        Call(job_role, "s3:PutObject", obj("evaluation/evaluation.json"), why="the evaluation job's report"),
        Call(job_role, "s3:PutObject", obj("model/churn-train-0a1b2c3d/output/model.tar.gz"), why="the training job's model"),
        Call(job_role, "s3:DeleteObject", obj("checkpoints/estimator.skops"), why="spot checkpoints in sync"),
    ]
    never = [
        Call(job_role, "s3:DeleteObject", obj("model/churn-train-0a1b2c3d/output/model.tar.gz"), why="delete a trained model"),
        Call(job_role, "s3:PutObject", obj("registered/model.tar.gz"), (("s3:ObjectCreationOperation", "true"),), why="replace a registered model"),
        Call(
            job_role,
            "s3:PutObject",
            obj("registered/model.tar.gz"),
            (("s3:ObjectCreationOperation", "true"), ("s3:if-none-match", "*")),
            why="seal a model of its own",
        ),
        Call(job_role, "s3:DeleteObject", obj("registered/model.tar.gz"), why="delete a registered model"),
        Call(job_role, "s3:PutObject", obj("lineage/data.json"), why="rewrite the data a package names"),
        Call(job_role, "s3:PutObject", obj("anything-else"), why="write outside the jobs' outputs"),
        Call(job_role, "s3:PutObject", f"arn:aws:s3:::{artifacts}/sandbox/alice/published/x/model.tar.gz", why="a user's prefix"),
    ]
    assert [str(r) for r in evaluate(dev, needed) if not r.allowed] == []
    assert [str(r) for r in evaluate(dev, never) if r.allowed] == []


def test_a_registered_model_is_written_once_by_the_seal_and_never_replaced_or_deleted_by_anyone(deployments):
    """What a package points at (pipeline/<run>/registered/model.tar.gz): the seal function may create it, only with
    If-None-Match (so S3 refuses it when the object exists: tests/lambda_/test_seal_model.py shows that half), in parts.
    The bucket policy refuses an unconditional write or a copy onto it and any delete, explicitly, for every principal:
    the seal itself, and even a role granted s3:* on the bucket."""
    dev = Policies.of(_dev(deployments))
    d = dev.deployment
    role, env = _function(d, "mlops-dev-pipeline-churn", "SEALED_KEY")
    sealed = f"arn:aws:s3:::{env['ARTIFACTS_BUCKET']}/pipeline/0a1b2c3d/registered/model.tar.gz"
    creates, part = (("s3:ObjectCreationOperation", "true"),), (("s3:ObjectCreationOperation", "false"),)
    conditional = (*creates, ("s3:if-none-match", "*"))
    allowed = [
        Call(role, "s3:PutObject", sealed, part, why="CreateMultipartUpload, UploadPartCopy"),
        Call(role, "s3:PutObject", sealed, conditional, why="CompleteMultipartUpload with If-None-Match"),
    ]
    assert [str(r) for r in evaluate(dev, allowed) if not r.allowed] == []
    admin = f"arn:aws:iam::{d.account}:role/bucket-admin"  # a role of the account with every S3 right on the bucket
    dev.identity[admin] = [
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": f"arn:aws:s3:::{env['ARTIFACTS_BUCKET']}/*"}]}
    ]
    refused = [
        Call(principal, action, sealed, context, why=why)
        for principal in (role, admin)
        for action, context, why in (
            ("s3:PutObject", creates, "PutObject or CopyObject without If-None-Match: an overwrite"),
            ("s3:DeleteObject", (), "a delete marker, after which the key could be written again"),
            ("s3:DeleteObjectVersion", (), "the version itself"),
        )
    ]
    results = evaluate(dev, refused)
    assert [r.decision for r in results] == ["ExplicitlyDenied"] * len(refused), [str(r) for r in results]


def test_labels_are_written_by_the_projects_sandboxes_and_its_label_writers_only(deployments):
    """Model-quality labels (ground-truth/<endpoint>/yyyy/mm/dd/hh/ of the capture bucket), in the longest-names stage
    (dev serves no monitored endpoint: it scores churn in batch): project 1's sandbox (u2) and its configured label writer
    (a role of the account with no policy of its own: the bucket's and the key's admit it) may put them, with the key
    through S3; nobody else may, and neither writes anything else there. u2 reads the check's reports (the periods' event
    ids: what mlops label checks a file against), never the traffic; u3, whose sandboxes are in the other projects, reads
    nothing there; the writer reads nothing. The endpoint's drift check reads the labels and writes none."""
    from config.naming import Names
    from tests.fidelity.conftest import LABEL_WRITER, LONGEST_PREFIX, LONGEST_STAGE

    policies = Policies.of(next(c.deployment for c in deployments if c.label == "longest names"))
    d, ns, project = policies.deployment, f"/{LONGEST_PREFIX}/{LONGEST_STAGE}", "p1" + "0" * 30
    endpoint = Names(LONGEST_PREFIX, LONGEST_STAGE).endpoint(project)
    capture = d.ssm_value(f"{ns}/projects/{project}/capture-bucket-name")
    label = f"arn:aws:s3:::{capture}/ground-truth/{endpoint}/2026/12/01/10/labels.jsonl"
    report = f"arn:aws:s3:::{capture}/monitoring/{endpoint}/20261201T100000Z/event-ids.json"
    traffic = f"arn:aws:s3:::{capture}/{endpoint}/{endpoint}/AllTraffic/2026/12/01/10/x.jsonl"
    labeller, outsider = (d.ssm_value(f"{ns}/users/{u}{'0' * 30}/role-arn") for u in ("u2", "u3"))
    writer = LABEL_WRITER
    policies.identity.setdefault(writer, [])
    analyzer, _ = _function(d, f"{LONGEST_PREFIX}-{LONGEST_STAGE}-endpoint-{project}", "QUALITY_METRIC")
    may = [
        Call(labeller, "s3:PutObject", label, why="u2 labels project 1's traffic (mlops label)"),
        Call(labeller, "s3:GetObject", report, why="reads a report"),
        Call(writer, "s3:PutObject", label, why="the configured label writer"),
        Call(analyzer, "s3:GetObject", label, why="the endpoint's check reads the labels"),
    ]
    results = evaluate(policies, with_key_calls(policies, may))
    assert len(results) == 8 and [str(r) for r in results if not r.allowed] == []
    never = [
        Call(outsider, "s3:PutObject", label, why="u3 works in the other projects"),
        Call(outsider, "s3:GetObject", report, why="nor its reports"),
        Call(labeller, "s3:GetObject", traffic, why="the traffic itself"),
        Call(labeller, "s3:GetObject", label, why="labels are written by sandboxes, read by the check"),
        Call(labeller, "s3:PutObject", traffic, why="forged capture"),
        Call(labeller, "s3:PutObject", f"arn:aws:s3:::{capture}/monitoring/{endpoint}/quality-state.json", why="the check's state"),
        Call(labeller, "s3:DeleteObject", label, why="labels are added, not removed"),
        Call(writer, "s3:PutObject", f"arn:aws:s3:::{capture}/monitoring/{endpoint}/state.json", why="a writer writes labels only"),
        Call(writer, "s3:GetObject", traffic, why="nor reads traffic"),
        Call(writer, "kms:Decrypt", d.ssm_value(f"{ns}/projects/{project}/key-arn"), why="the key outside S3"),
        Call(analyzer, "s3:PutObject", label, why="the check never writes labels"),
    ]
    refused = evaluate(policies, never)
    assert len(refused) == 11 and [str(r) for r in refused if r.allowed or r.decision == "Error"] == []


def test_log_delivery_setup_takes_no_resource_so_it_stays_on_star(deployments, pipeline_runs):
    """Issue 30 lists ``logs:PutResourcePolicy`` on ``*`` (CDK's log-delivery statement on every state machine's role).
    CloudWatch Logs' guide suggests ``log-group:*`` for it, but the Service Authorization Reference (the engine's data)
    gives it, ``DescribeResourcePolicies`` and ``DescribeLogGroups`` no resource type: AWS authorizes them on ``*``, so a
    scoped statement would refuse the first log-delivery setup. They stay on ``*``; the role may be assumed by its own
    state machine only. When AWS adds a resource type, this test fails and the statement can be scoped."""
    dev = Policies.of(_dev(deployments))
    d = dev.deployment
    run = next(run for run in pipeline_runs if run.stack == "mlops-dev-pipeline-churn")
    machine = next(r for _, r in _resources(d, run.stack, "AWS::StepFunctions::StateMachine"))
    role = d.resolve(run.stack, machine["Properties"]["RoleArn"])
    actions = ("PutResourcePolicy", "DescribeResourcePolicies", "DescribeLogGroups")
    scoped = evaluate(dev, [Call(role, f"logs:{a}", f"arn:aws:logs:{d.region}:{d.account}:log-group:*", why="scoped") for a in actions])
    assert [(r.decision, r.detail) for r in scoped] == [("Error", {"message": "must.use.wildcard"})] * 3
    assert all(r.allowed for r in evaluate(dev, [Call(role, f"logs:{a}", "*", why="log delivery's first setup") for a in actions]))


def test_a_drift_checks_state_machine_runs_its_own_jobs_only(deployments):
    """A check's jobs are <check>-<run id>: its state machine may not run another check's <check>-x-<run id> (the
    statement ended in a bare * before), nor a job named past its own pattern."""
    from tests.fidelity.conftest import LONGEST_PREFIX, LONGEST_STAGE

    dev = Policies.of(next(c.deployment for c in deployments if c.label == "longest names"))  # a check that may run as a job
    d = dev.deployment
    stack = f"{LONGEST_PREFIX}-{LONGEST_STAGE}-endpoint-p1{'0' * 30}"
    (machine_call,) = [c for c in drift_check_calls(d, stack)["state machine"] if c.action == "sagemaker:CreateProcessingJob"]
    own = machine_call.resource  # .../processing-job/<check>-0a1b2c3d
    name = own.rsplit("-", 1)[0]
    calls = [
        Call(machine_call.principal, "sagemaker:CreateProcessingJob", f"{name}-x-0a1b2c3d", why="another check's job"),
        Call(machine_call.principal, "sagemaker:CreateProcessingJob", f"{own}-x", why="a job named past the pattern"),
    ]
    assert [r.allowed for r in evaluate(dev, [machine_call])] == [True]
    assert [str(r) for r in evaluate(dev, calls) if r.allowed or r.decision == "Error"] == []
