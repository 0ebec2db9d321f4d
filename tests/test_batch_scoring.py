"""Batch scoring (``deployment.mode: batch``): configuration, templates, the scoring run in moto with its request
checked against SageMaker's API model, and its roles judged by the IAM engine."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
import yaml

from config import ConfigError
from config.loader import parse_config
from fidelity.api_model import Report, input_shape, validate
from fidelity.cfn import Deployment
from fidelity.iam import Call, Policies, evaluate, image_pull, with_key_calls
from tests import sfn_harness
from tests.conftest import synth_stage

ROOT = Path(__file__).resolve().parent.parent
REGION, ACCOUNT = "us-east-1", "123456789012"
STACK = "mlops-dev-batch-fraud"


def _dev(**fraud) -> dict:
    dev = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
    dev["projects"][1].update(fraud)
    return dev


BATCH = {
    "deployment": {"mode": "batch", "batch": {"instance_count": 2, "input_prefix": "to-score/"}},
    "monitoring": {"drift_alarms": [{"feature": "mean_radius", "threshold": 0.2}]},  # each run's input is checked
}
BASELINE = "s3://mlops-dev-fraud-artifacts/pipeline/0a1b2c3d/baseline"


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    config_dir = tmp_path_factory.mktemp("batch-config")
    shutil.copy(ROOT / "config" / "prod.yaml", config_dir)
    (config_dir / "dev.yaml").write_text(yaml.safe_dump(_dev(**BATCH)))
    synthesized = synth_stage("dev", tmp_path_factory.mktemp("cdk-batch"), config_dir=str(config_dir))
    deployment = Deployment(synthesized.templates())
    deployment.parameters[STACK] = {
        "ModelPackageArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/mlops-dev-fraud/4",
        "BaselineUri": BASELINE,
    }
    return synthesized, deployment


def _problems(**fraud) -> list[str]:
    with pytest.raises(ConfigError) as error:
        parse_config(yaml.safe_dump(_dev(**fraud)), source="dev.yaml")
    return [f"{p.path}: {p.message}" for p in error.value.problems]


def test_batch_mode_refuses_what_only_an_endpoint_has():
    (problem,) = _problems(deployment={"mode": "batch", "instance_count": 2, "api": {"auth": "iam"}}, monitoring={"enabled": False})
    assert "api, instance_count configure an endpoint" in problem
    assert any("batch configures batch scoring: set mode: batch" in p for p in _problems(deployment={"batch": {"instance_count": 2}}))
    (problem,) = _problems(deployment={"mode": "batch"})  # monitoring is on by default: it needs features to watch
    assert problem.startswith("projects[1].monitoring.drift_alarms") and "batch scoring are monitored by default" in problem
    (problem,) = _problems(deployment={"mode": "batch", "batch": {"schedule": "monthly"}}, monitoring={"enabled": False})
    assert "EventBridge schedule" in problem


def test_a_batch_project_gets_scoring_and_no_endpoint_or_api(stage):
    synthesized, _ = stage
    stacks = set(synthesized.templates())
    assert STACK in stacks and "mlops-dev-endpoint-fraud" not in stacks and "mlops-dev-batch-churn" in stacks  # dev scores churn in batch too
    template = synthesized.templates()[STACK]
    kinds = sorted({r["Type"] for r in template["Resources"].values()})
    assert "AWS::SageMaker::Endpoint" not in kinds and "AWS::ApiGateway::RestApi" not in kinds
    ((_, role),) = [(i, r) for i, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role" and "ModelRole" in i]
    assert role["Properties"]["RoleName"] == "mlops-dev-fraud-model"  # a registry in another account admits it by name
    # the project's cost-allocation tag (its budget counts the scoring runs), on what the stack creates
    (machine,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    assert {"Key": "project", "Value": "fraud"} in machine["Properties"]["Tags"]


def _definition(deployment: Deployment) -> dict:
    (machine,) = [r for r in deployment.templates[STACK]["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    return json.loads(deployment.resolve(STACK, machine["Properties"]["DefinitionString"]))


def _model(deployment: Deployment) -> dict:
    (model,) = [r for r in deployment.templates[STACK]["Resources"].values() if r["Type"] == "AWS::SageMaker::Model"]
    return deployment.resolve(STACK, model["Properties"])


def test_a_scoring_run_transforms_the_input_prefix_into_a_run_of_its_own(stage, monkeypatch):
    _, deployment = stage
    definition = _definition(deployment)
    score = definition["States"]["Score"]
    assert score["Resource"].endswith(":states:::sagemaker:createTransformJob.sync")
    harnessed = json.loads(
        json.dumps(definition).replace("createTransformJob.sync", "createTransformJob").replace("createProcessingJob.sync", "createProcessingJob")
    )
    data = deployment.ssm_value("/mlops/dev/projects/fraud/data-bucket-name")
    artifacts = deployment.ssm_value("/mlops/dev/projects/fraud/artifacts-bucket-name")
    topic = deployment.ssm_value("/mlops/dev/projects/fraud/alert-topic-arn")
    recorder = sfn_harness.CallRecorder()
    with sfn_harness.moto_world(
        monkeypatch,
        region=REGION,
        account=ACCOUNT,
        buckets=[data, artifacts],
        group="mlops-dev-fraud",
        topic_name=topic.rsplit(":", 1)[1],
        artifacts_bucket=artifacts,
        data=(data, "to-score/2026-11.csv"),
    ) as world:
        model = _model(deployment)
        sagemaker = boto3.client("sagemaker")
        sagemaker.create_model(
            ModelName=score["Parameters"]["ModelName"],
            ExecutionRoleArn=model["ExecutionRoleArn"],
            PrimaryContainer={"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlops-dev-fraud:x"},
        )
        # the check's planner runs in process (moto runs no Lambda): the real one, told to use the processing job
        planner = harnessed["States"]["PlanCheck"]["Parameters"]["FunctionName"].rsplit(":", 1)[-1]
        (env,) = [
            deployment.resolve(STACK, r["Properties"])["Environment"]["Variables"]
            for r in deployment.templates[STACK]["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function" and "MANIFEST_PREFIX" in r["Properties"].get("Environment", {}).get("Variables", {})
        ]
        logic = sfn_harness.load_lambda(monkeypatch, "drift_check_plan")
        settings = logic.Settings.from_env({**env, "RUNNER": "job"})
        s3c, states = boto3.client("s3"), boto3.client("stepfunctions")
        handle = lambda event: logic.handle(event, s3=s3c, sfn=states, settings=settings, now=datetime.now(UTC), log=lambda *a, **k: None)  # noqa: E731
        sfn_harness.functions_in_process(monkeypatch, {planner: handle})
        result = world.run(harnessed, {}, None, during=recorder.recording(monkeypatch))
        assert result["status"] == "SUCCEEDED", json.dumps([e for e in result["history"] if "Failed" in e["type"]], default=str)[:1500]
        assert sfn_harness.entered(result) == [
            "PrepareRun",
            "NameJob",
            "Score",
            "PlanCheck",
            "CheckRequest",
            "CheckDriftRunner",
            "CheckDriftInJob",
            "CheckDriftDone",
            "NotifyScored",
            "Scored",
        ]
        (job,) = sagemaker.list_transform_jobs()["TransformJobSummaries"]
        described = sagemaker.describe_transform_job(TransformJobName=job["TransformJobName"])
        assert described["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == f"s3://{data}/to-score/"
        run_id = job["TransformJobName"].rsplit("-", 1)[1]
        assert described["TransformOutput"]["S3OutputPath"] == f"s3://{artifacts}/scoring/{run_id}"
        assert described["TransformResources"]["InstanceCount"] == 2
        (message,) = world.messages()
        assert message["result"] == "scored" and message["output"] == f"s3://{artifacts}/scoring/{run_id}"
        assert message["driftReports"] == f"s3://{artifacts}/scoring/{run_id}/monitoring"
        # the input's check: the project's analyzer on the same input (the manifest the planner wrote of it), against
        # the package's baseline, publishing its metrics
        manifest = json.loads(s3c.get_object(Bucket=artifacts, Key=f"scoring/manifests/{run_id}.json")["Body"].read())
        assert manifest == [{"prefix": f"s3://{data}/"}, "to-score/2026-11.csv"]
        (job,) = sagemaker.list_processing_jobs()["ProcessingJobSummaries"]
        assert job["ProcessingJobName"].startswith("mlops-dev-fraud-scoring-")
    (check,) = [params for _, operation, params in recorder.calls if operation == "CreateProcessingJob"]
    inputs = {i["InputName"]: (i["S3Input"]["S3Uri"], i["S3Input"]["S3DataType"]) for i in check["ProcessingInputs"]}
    assert inputs == {"data": (f"s3://{artifacts}/scoring/manifests/{run_id}.json", "ManifestFile"), "baseline": (BASELINE, "S3Prefix")}
    assert check["AppSpecification"]["ContainerEntrypoint"] == ["check"]
    environment = check["Environment"]
    request = json.loads(environment["CHECK_REQUEST"])
    assert (request["format"], request["output"]) == ("csv", f"s3://{artifacts}/scoring/{run_id}/monitoring")
    assert (environment["CHECK_NAME"], environment["METRICS_NAMESPACE"]) == ("mlops-dev-fraud-scoring", "/aws/sagemaker/ModelMonitoring/data-metrics")
    assert check["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == f"s3://{artifacts}/scoring/{run_id}/monitoring"
    requests = {operation: params for service, operation, params in recorder.calls if operation in ("CreateTransformJob", "CreateProcessingJob")}
    assert set(requests) == {"CreateTransformJob", "CreateProcessingJob"}
    report = Report()
    for operation, params in requests.items():
        validate(input_shape("sagemaker", operation), params, f"batch {operation}", report)
    assert report.errors == []
    request = requests["CreateTransformJob"]
    assert request["TransformOutput"]["KmsKeyId"] == request["TransformResources"]["VolumeKmsKeyId"]  # the project key
    assert model["VpcConfig"]["Subnets"] and model["EnableNetworkIsolation"] is True  # scored in the VPC, isolated


def test_the_model_role_reads_the_input_writes_scores_and_nothing_else(stage):
    _, deployment = stage
    policies = Policies.of(deployment)
    role = _model(deployment)["ExecutionRoleArn"]
    data = deployment.ssm_value("/mlops/dev/projects/fraud/data-bucket-name")
    artifacts = deployment.ssm_value("/mlops/dev/projects/fraud/artifacts-bucket-name")
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlops-dev-fraud:src-0123456789abcdef"
    needed = [
        Call(role, "s3:GetObject", f"arn:aws:s3:::{data}/to-score/2026-11.csv", why="the input"),
        Call(role, "s3:PutObject", f"arn:aws:s3:::{artifacts}/scoring/0a1b2c3d/2026-11.csv.out", why="the scores"),
        Call(role, "s3:GetObject", f"arn:aws:s3:::{artifacts}/pipeline/0a1b2c3d/model/model.tar.gz", why="the registered model"),
        *image_pull(role, image, "the model's image", own_account=ACCOUNT),
    ]
    churn = deployment.ssm_value("/mlops/dev/projects/churn/data-bucket-name")
    never = [
        Call(role, "s3:GetObject", f"arn:aws:s3:::{data}/incoming/train.csv", why="the training data"),
        Call(role, "s3:PutObject", f"arn:aws:s3:::{artifacts}/pipeline/0a1b2c3d/model/model.tar.gz", why="overwrite the model"),
        Call(role, "s3:PutObject", f"arn:aws:s3:::{data}/to-score/x.csv", why="write its input"),
        Call(role, "s3:GetObject", f"arn:aws:s3:::{churn}/to-score/x.csv", why="another project's data"),
    ]
    _assert_reaches(policies, needed, never)


def _assert_reaches(policies: Policies, needed: list[Call], never: list[Call]) -> None:
    """The IAM engine allows every ``needed`` call (with the KMS calls behind each) and none of ``never``."""
    denied = [str(r) for r in evaluate(policies, with_key_calls(policies, needed)) if not r.allowed]
    assert not denied, "\n".join(denied)
    allowed = [str(r) for r in evaluate(policies, never) if r.allowed]
    assert not allowed, "\n".join(allowed)


def test_a_drifted_run_raises_the_alarm_that_retrains(stage):
    """The check's metric is the one the alarm watches (namespace, name, the state machine as MonitoringSchedule), and the
    alarm's name carries the training pipeline's drift prefix, so its state change starts a retraining."""
    synthesized, deployment = stage
    template = synthesized.templates()[STACK]
    (alarm,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Threshold"]) == (
        "/aws/sagemaker/ModelMonitoring/data-metrics",
        "feature_baseline_drift_mean_radius",
        0.2,
    )
    assert alarm["Dimensions"] == [{"Name": "MonitoringSchedule", "Value": "mlops-dev-fraud-scoring"}]
    pipeline = synthesized.templates()["mlops-dev-pipeline-fraud"]
    (drift_rule,) = [
        r["Properties"]["EventPattern"]
        for r in pipeline["Resources"].values()
        if r["Type"] == "AWS::Events::Rule" and "aws.cloudwatch" in json.dumps(r["Properties"].get("EventPattern", {}))
    ]
    (prefix,) = [p["prefix"] for p in drift_rule["detail"]["alarmName"]]
    assert alarm["AlarmName"].startswith(prefix)


def test_the_check_role_reads_the_input_and_baseline_writes_its_reports_and_metrics_only(stage):
    _, deployment = stage
    policies = Policies.of(deployment)
    (job,) = [r for i, r in deployment.templates[STACK]["Resources"].items() if r["Type"] == "AWS::IAM::Role" and "CheckRole" in i]
    role = f"arn:aws:iam::{ACCOUNT}:role/{job['Properties']['RoleName']}"
    assert role.endswith("/mlops-dev-fraud-dq")  # the monitor role's name: a registry in another account admits it
    data = deployment.ssm_value("/mlops/dev/projects/fraud/data-bucket-name")
    artifacts = deployment.ssm_value("/mlops/dev/projects/fraud/artifacts-bucket-name")
    image = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlops-dev-fraud:src-0123456789abcdef"
    metrics = (("cloudwatch:namespace", "/aws/sagemaker/ModelMonitoring/data-metrics"),)
    needed = [
        Call(role, "s3:GetObject", f"arn:aws:s3:::{data}/to-score/2026-11.csv", why="the scored input"),
        Call(role, "s3:GetObject", f"arn:aws:s3:::{artifacts}/pipeline/0a1b2c3d/baseline/statistics.json", why="the baseline"),
        Call(role, "s3:PutObject", f"arn:aws:s3:::{artifacts}/scoring/0a1b2c3d/monitoring/constraint_violations.json", why="its reports"),
        Call(role, "cloudwatch:PutMetricData", "*", metrics, why="its metrics"),
        *image_pull(role, image, "the project's analyzer", own_account=ACCOUNT),
    ]
    churn = deployment.ssm_value("/mlops/dev/projects/churn/data-bucket-name")
    never = [
        Call(role, "s3:GetObject", f"arn:aws:s3:::{data}/incoming/train.csv", why="the training data"),
        Call(role, "s3:PutObject", f"arn:aws:s3:::{artifacts}/pipeline/0a1b2c3d/baseline/statistics.json", why="overwrite the baseline"),
        Call(role, "s3:GetObject", f"arn:aws:s3:::{churn}/to-score/x.csv", why="another project's data"),
        Call(role, "cloudwatch:PutMetricData", "*", (("cloudwatch:namespace", "AWS/SageMaker"),), why="another namespace"),
    ]
    _assert_reaches(policies, needed, never)


def test_a_batch_projects_dashboard_shows_its_drift(stage):
    """The check's per-feature drift against its threshold, its alarms and the failed runs, as an endpoint's are shown."""
    synthesized, _ = stage
    template = synthesized.templates()["mlops-dev-dashboard-fraud"]
    (dashboard,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    body = json.dumps(dashboard["DashboardBody"])
    drift = '[\\"/aws/sagemaker/ModelMonitoring/data-metrics\\",\\"feature_baseline_drift_mean_radius\\",\\"MonitoringSchedule\\",\\"mlops-dev-fraud-scoring\\"'
    assert drift in body
    (alarm,) = [r["Properties"]["AlarmName"] for r in synthesized.templates()[STACK]["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert f":alarm:{alarm}" in body and "stateMachine:mlops-dev-fraud-scoring" in body


def test_the_scoring_state_machine_runs_this_projects_jobs_only(stage):
    """Its transform jobs are <project>-score-<run id> and its check's jobs <check>-<run id>: another project named
    <project>-x (whose jobs matched the bare <project>-* before) and names past the run id are refused."""
    _, deployment = stage
    policies = Policies.of(deployment)
    machines = [r for r in deployment.templates[STACK]["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    (role,) = {deployment.resolve(STACK, m["Properties"]["RoleArn"]) for m in machines}
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
    check = deployment.resolve(STACK, next(m for m in machines)["Properties"]["StateMachineName"])[:54]
    needed = [
        Call(role, "sagemaker:CreateTransformJob", f"{arn}:transform-job/fraud-score-0a1b2c3d", why="a run's scoring"),
        Call(role, "sagemaker:CreateProcessingJob", f"{arn}:processing-job/{check}-0a1b2c3d", why="a large input's check"),
    ]
    never = [
        Call(role, "sagemaker:CreateTransformJob", f"{arn}:transform-job/fraud-x-score-0a1b2c3d", why="project fraud-x's job"),
        Call(role, "sagemaker:CreateTransformJob", f"{arn}:transform-job/fraud-score-0a1b2c3d-x", why="past the run id"),
        Call(role, "sagemaker:CreateProcessingJob", f"{arn}:processing-job/{check}-x-0a1b2c3d", why="another check's job"),
    ]
    _assert_reaches(policies, needed, never)
