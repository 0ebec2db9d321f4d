"""TrainingPipeline and PipelineTriggers: template assertions, and the definition run as behaviour in moto.

What is executed: the rendered definition, in moto's Step Functions interpreter (see
``tests.sfn_harness`` for what the harness changes), with every state's real Parameters sent to
moto's SageMaker, S3 and SNS: the trigger defaulting, run naming, the processing and training job
requests, reading ``evaluation.json`` from S3, the quality-gate Choice, model-package registration,
the notifications, the Catch routes and the Fail states. The requests themselves are validated
against the service models in ``tests/fidelity/test_api_model.py``. Retry timings, task timeouts
and IAM are only asserted here.
"""

from __future__ import annotations

import json

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from mlops_constructs.data_quality_monitor import Analyzer
from mlops_constructs.pipeline_triggers import PipelineTriggers, PipelineTriggersProps
from mlops_constructs.sagemaker_permissions import AwsImage, VpcPlacement
from mlops_constructs.training_pipeline import TrainingPipeline, TrainingPipelineProps
from tests import sfn_harness

ACCOUNT, REGION = "123456789012", "us-east-1"
PROJECT_IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/churn-images:1.0.0"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:churn-alerts"
GROUP = "mlops-dev-churn"
RUN_ID = sfn_harness.RUN_ID
MODEL_URI = f"s3://artifacts-bucket/pipeline/{RUN_ID}/model/churn-train-{RUN_ID}/output/model.tar.gz"


def build(stack: cdk.Stack, **overrides) -> TrainingPipeline:
    repository = ecr.Repository.from_repository_name(stack, "Repo", "churn-images")
    props = dict(
        project_name="churn",
        image_uri=PROJECT_IMAGE,
        repository=repository,
        data_bucket=s3.Bucket.from_bucket_name(stack, "Data", "data-bucket"),
        artifacts_bucket=s3.Bucket.from_bucket_name(stack, "Artifacts", "artifacts-bucket"),
        key=kms.Key.from_key_arn(stack, "Key", KEY),
        alert_topic=sns.Topic.from_topic_arn(stack, "Topic", TOPIC),
        model_package_group_name=GROUP,
        vpc=VpcPlacement("vpc-0123456789abcdef0", ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"], "sg-0123456789abcdef0"),
        processing_instance_type="ml.m5.large",
        training_instance_type="ml.m5.xlarge",
        endpoint_instance_type="ml.t2.medium",
        metric="auc",
        threshold=0.8,
        higher_is_better=True,
        hyperparameters={"model_type": "gradient_boosting", "max_iter": "200"},
    )
    props.update(overrides)
    return TrainingPipeline(stack, "Pipeline", props=TrainingPipelineProps(**props))


@pytest.fixture
def template(stack) -> Template:
    build(stack)
    return Template.from_stack(stack)


def definition_of(template: Template) -> dict:
    machine = next(iter(template.find_resources("AWS::StepFunctions::StateMachine").values()))
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::URLSuffix": "amazonaws.com"}
    text = ""
    for part in parts:
        if isinstance(part, str):
            text += part
        elif "Ref" in part:
            text += pseudo[part["Ref"]]
        elif "Fn::GetAtt" in part:
            text += f"arn:aws:iam::{ACCOUNT}:role/{part['Fn::GetAtt'][0]}"
        else:
            raise AssertionError(f"unexpected token in the definition: {part}")
    return json.loads(text)


# -- template assertions ----------------------------------------------------------------------


def test_state_machine_is_traced_and_logs_everything(template):
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": {"Level": "ALL", "IncludeExecutionData": True, "Destinations": Match.any_value()},
        },
    )
    template.has_resource("AWS::Logs::LogGroup", {"Properties": {"RetentionInDays": 365}, "DeletionPolicy": "Retain"})


def test_every_task_has_a_timeout_and_a_catch(template):
    states = definition_of(template)["States"]
    tasks = {name: s for name, s in states.items() if s["Type"] == "Task"}
    assert set(tasks) == {
        "RecordData",
        "WriteDataManifest",
        "Preprocess",
        "Train",
        "SealModel",
        "Evaluate",
        "ReadEvaluation",
        "RegisterModel",
        "NotifyRegistered",
        "NotifyGateFailed",
        "NotifyFailure",
    }
    for name, state in tasks.items():
        assert state["TimeoutSeconds"] > 0, name
        if name != "NotifyFailure":
            assert state["Catch"][0]["Next"] == "NotifyFailure" and state["Catch"][0]["ErrorEquals"] == ["States.ALL"], name
    for name in ("Preprocess", "Train", "Evaluate"):
        retry = tasks[name]["Retry"][0]
        assert "ThrottlingException" in retry["ErrorEquals"] and retry["BackoffRate"] == 2 and retry["MaxAttempts"] == 4
    assert tasks["Train"]["TimeoutSeconds"] == 3600 + 1200


def test_jobs_use_the_sync_integrations_the_key_and_the_private_subnets(template):
    states = definition_of(template)["States"]
    assert states["Preprocess"]["Resource"] == "arn:aws:states:::sagemaker:createProcessingJob.sync"
    assert states["Train"]["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    pre = states["Preprocess"]["Parameters"]
    assert pre["AppSpecification"]["ContainerEntrypoint"] == ["preprocess"]
    assert pre["ProcessingOutputConfig"]["KmsKeyId"] == KEY
    assert pre["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KEY
    assert pre["NetworkConfig"]["VpcConfig"] == {
        "SecurityGroupIds": ["sg-0123456789abcdef0"],
        "Subnets": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    }
    assert pre["ProcessingInputs"][0]["S3Input"]["S3Uri"] == "s3://data-bucket/incoming/"
    train = states["Train"]["Parameters"]
    assert train["HyperParameters"] == {"model_type": "gradient_boosting", "max_iter": "200"}
    assert train["OutputDataConfig"]["KmsKeyId"] == KEY and train["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"
    assert {m["Name"] for m in train["AlgorithmSpecification"]["MetricDefinitions"]} >= {"validation:auc", "train:auc"}
    assert "EnableManagedSpotTraining" not in train


def test_jobs_that_load_data_or_a_model_have_no_network(template):
    """The evaluation job loads whatever model a run holds, a sandbox user's published one too: none of the processing
    jobs may open a connection of its own (SageMaker moves their inputs and outputs)."""
    states = definition_of(template)["States"]
    jobs = {name: st["Parameters"] for name, st in states.items() if st.get("Resource", "").endswith("createProcessingJob.sync")}
    assert {"Preprocess", "Evaluate"} <= set(jobs)
    assert {name: params["NetworkConfig"].get("EnableNetworkIsolation") for name, params in jobs.items()} == dict.fromkeys(jobs, True)


def test_spot_training_adds_checkpoints_and_a_wait_limit(stack):
    build(stack, spot_training=True)
    train = definition_of(Template.from_stack(stack))["States"]["Train"]
    assert train["Parameters"]["EnableManagedSpotTraining"] is True
    assert train["Parameters"]["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert "checkpoints" in train["Parameters"]["CheckpointConfig"]["S3Uri.$"]


def test_gate_direction_follows_the_metric(stack):
    build(stack, metric="rmse", threshold=0.3, higher_is_better=False)
    choice = definition_of(Template.from_stack(stack))["States"]["QualityGate"]["Choices"][0]["And"]
    assert {"Variable": "$.evaluation.report.metrics.rmse", "NumericLessThanEquals": 0.3} in choice
    assert {"Variable": "$.evaluation.report.metrics.rmse", "IsNumeric": True} in choice


def _statements(template: Template, role_prefix: str) -> list[dict]:
    return [
        s
        for k, p in template.find_resources("AWS::IAM::Policy").items()
        if k.startswith(role_prefix)
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_state_machine_may_pass_only_the_job_role_and_manage_sync_rules(template):
    statements = _statements(template, "PipelineStateMachineRole")
    passing = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert len(passing) == 1
    assert passing[0]["Resource"]["Fn::GetAtt"][0].startswith("PipelineJobRole")
    assert passing[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    sync = next(s for s in statements if s.get("Sid") == "SyncIntegrationRules")
    assert sorted(sync["Action"]) == ["events:DescribeRule", "events:PutRule", "events:PutTargets"]
    rendered = json.dumps(sync["Resource"])
    assert "StepFunctionsGetEventsForSageMakerProcessingJobsRule" in rendered and "StepFunctionsGetEventsForSageMakerTrainingJobsRule" in rendered
    jobs = next(s for s in statements if s.get("Sid") == "RunThisProjectsJobs")
    # each step's own jobs, <project>-<step>-<8 characters>: never a bare churn-*, which would match a project churn-x's jobs
    assert sorted(json.dumps(r).rsplit(":", 1)[1].rstrip('"]}') for r in jobs["Resource"]) == sorted(
        [
            "processing-job/churn-pre-????????",
            "processing-job/churn-eval-????????",
            "training-job/churn-train-????????",
        ]
    )


def test_job_role_reads_data_writes_only_pipeline_prefix(template):
    statements = _statements(template, "PipelineJobRole")
    text = json.dumps(statements)
    assert "arn:aws:s3:::data-bucket/incoming/*" in text and "arn:aws:s3:::artifacts-bucket/pipeline/*" in text
    writes = [s for s in statements if "s3:PutObject" in s["Action"]]
    assert all("artifacts-bucket" in json.dumps(s["Resource"]) for s in writes)
    assert not any(a == "*" for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))


def build_triggers(stack, **overrides) -> PipelineTriggers:
    props = dict(
        project_name="churn",
        state_machine=build(stack).state_machine,
        alert_topic=sns.Topic.from_topic_arn(stack, "TriggerTopic", TOPIC),
        key=kms.Key.from_key_arn(stack, "TriggerKey", KEY),
        data_bucket=s3.Bucket.from_bucket_name(stack, "TriggerData", "data-bucket"),
        artifacts_bucket=s3.Bucket.from_bucket_name(stack, "TriggerArtifacts", "artifacts-bucket"),
        data_prefix="incoming/",
        schedule="cron(0 3 1 * ? *)",
        drift_alarm_prefix="mlops-dev-churn-drift-",
        queue_parameter_name="/mlops/dev/projects/churn/pipeline/queued-triggers",
        repository=ecr.Repository.from_repository_name(stack, "TriggerRepository", "mlops-dev-churn"),
        image_tag="src-0123456789abcdef",
    )
    props.update(overrides)
    return PipelineTriggers(stack, "Triggers", props=PipelineTriggersProps(**props))


def test_triggers_schedule_new_data_and_drift_into_one_guard(stack):
    build_triggers(stack)
    t = Template.from_stack(stack)
    t.has_resource_properties("AWS::Lambda::Function", {"ReservedConcurrentExecutions": 1, "Runtime": "python3.14", "Handler": "handler.handler"})
    t.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "cron(0 3 1 * ? *)", "State": "ENABLED"})
    t.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {"bucket": {"name": ["data-bucket"]}, "object": {"key": [{"prefix": "incoming/"}]}},
            }
        },
    )
    t.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.cloudwatch"],
                "detail-type": ["CloudWatch Alarm State Change"],
                "detail": {"alarmName": [{"prefix": "mlops-dev-churn-drift-"}], "state": {"value": ["ALARM"]}},
            }
        },
    )
    for rule in t.find_resources("AWS::Events::Rule").values():
        target = rule["Properties"]["Targets"][0]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 4 and "DeadLetterConfig" in target
    triggers, paths = set(), {}
    # the publisher and the run requests take S3's own event, untransformed: the user is whoever wrote the key
    untransformed = ("published a model", "asked for a training run")
    raw = [r for r in t.find_resources("AWS::Events::Rule").values() if any(u in r["Properties"]["Description"] for u in untransformed)]
    assert len(raw) == 2 and all(set(r["Properties"]["Targets"][0]) & {"Input", "InputTransformer", "InputPath"} == set() for r in raw)
    (requests,) = [r["Properties"]["EventPattern"] for r in raw if "asked for a training run" in r["Properties"]["Description"]]
    assert requests["detail"]["object"]["key"] == [{"wildcard": "sandbox/*/requests/*/run.json"}]
    guard_rules = [r for r in t.find_resources("AWS::Events::Rule").values() if not any(u in r["Properties"]["Description"] for u in untransformed)]
    for rule in guard_rules:
        target = rule["Properties"]["Targets"][0]
        rendered = target.get("Input") or target["InputTransformer"]["InputTemplate"]
        triggers |= {kind for kind in ("schedule", "new-data", "drift", "run-ended") if f'"trigger":"{kind}"' in rendered}
        paths.update(target.get("InputTransformer", {}).get("InputPathsMap", {}))
    assert triggers == {"schedule", "new-data", "drift", "run-ended"}  # each rule tells the guard which trigger it is
    assert sorted(paths.values()) == ["$.detail.alarmName", "$.detail.executionArn", "$.detail.object.key", "$.detail.status"]


def test_the_end_of_every_run_reaches_the_guard_and_the_queue_is_its_own(stack):
    """No lost trigger: an execution's end (whatever its status) lets the guard start the queued follow-up run; the
    queue is an SSM parameter only the guard may read and write."""
    build_triggers(stack)
    t = Template.from_stack(stack)
    (ended,) = [
        r["Properties"]
        for r in t.find_resources("AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source") == ["aws.states"]
    ]
    pattern = ended["EventPattern"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert pattern["detail"]["status"] == ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"] and len(pattern["detail"]["stateMachineArn"]) == 1
    t.has_resource_properties("AWS::SSM::Parameter", {"Name": "/mlops/dev/projects/churn/pipeline/queued-triggers", "Value": "{}", "Type": "String"})
    (function,) = [
        f for f in t.find_resources("AWS::Lambda::Function").values() if f["Properties"]["Environment"]["Variables"].get("ACCEPTS") == "triggers"
    ]
    assert function["Properties"]["Environment"]["Variables"]["QUEUE_PARAMETER"] == "/mlops/dev/projects/churn/pipeline/queued-triggers"
    statements = [s for p in t.find_resources("AWS::IAM::Policy").values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    ssm_actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]) if a.startswith("ssm:")}
    assert ssm_actions >= {"ssm:GetParameter", "ssm:PutParameter"}


def test_schedule_can_be_disabled(stack):
    build_triggers(stack, schedule_enabled=False, drift_alarm_prefix="p-")
    Template.from_stack(stack).has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "cron(0 3 1 * ? *)", "State": "DISABLED"})


# -- behaviour: the definition executed in moto ---------------------------------------------------


@pytest.fixture
def moto_world(monkeypatch):
    with sfn_harness.moto_world(
        monkeypatch,
        region=REGION,
        account=ACCOUNT,
        buckets=["data-bucket", "artifacts-bucket"],
        group=GROUP,
        topic_name="churn-alerts",
        artifacts_bucket="artifacts-bucket",
        data=("data-bucket", "incoming/2026-11.csv"),
        model=MODEL_URI,
    ) as world:
        yield world


def harnessed(definition: dict, *, training_fails: bool = False) -> dict:
    return sfn_harness.harnessed(definition, model_artifacts=MODEL_URI, training_fails=training_fails)


def run(definition: dict, execution_input: dict, evaluation: dict | None) -> dict:
    return sfn_harness.World(REGION, ACCOUNT, "artifacts-bucket").run(definition, execution_input, evaluation)


_entered = sfn_harness.entered


def _report(auc) -> dict:
    return sfn_harness.report("auc", auc)


@pytest.fixture
def definition(template) -> dict:
    return definition_of(template)


def test_metric_passes_model_package_is_registered_and_notified(definition, moto_world):
    result = run(harnessed(definition), {"trigger": "new-data", "detail": {"key": "incoming/a.csv"}}, _report(0.93))
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert _entered(result) == [
        "HasTrigger",
        "HasImageDigest",
        "UnknownImageDigest",  # started here without the guard, which passes the image's digest
        "PrepareRun",
        "NameJobs",
        "RecordData",
        "HasData",
        "DataManifest",
        "WriteDataManifest",
        "Preprocess",
        "TrainOrPublish",
        "Train",
        "TrainedHere",
        "SealModel",
        "Evaluate",
        "ReadEvaluation",
        "QualityGate",
        "RegisterModel",
        "NotifyRegistered",
        "ModelRegistered",
    ]
    sagemaker = boto3.client("sagemaker")
    packages = sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    assert len(packages) == 1 and packages[0]["ModelApprovalStatus"] == "PendingManualApproval"
    package = sagemaker.describe_model_package(ModelPackageName=packages[0]["ModelPackageArn"])
    # not the training job's output (any job of any run may write there) but the run's sealed copy of it
    sealed = f"pipeline/{RUN_ID}/registered/model.tar.gz"
    assert package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == f"s3://artifacts-bucket/{sealed}"
    assert boto3.client("s3").get_object(Bucket="artifacts-bucket", Key=sealed)["Body"].read() == b"the trained model"
    assert package["CustomerMetadataProperties"]["trigger"] == "new-data"
    assert {k: package["CustomerMetadataProperties"][k] for k in ("trainingJob", "publishedBy", "publishedFrom", "codeCommit")} == {
        "trainingJob": f"churn-train-{RUN_ID}",
        "publishedBy": "none",
        "publishedFrom": "none",
        "codeCommit": "unknown",
    }
    jobs = {j["ProcessingJobName"] for j in sagemaker.list_processing_jobs()["ProcessingJobSummaries"]}
    assert jobs == {f"churn-pre-{RUN_ID}", f"churn-eval-{RUN_ID}"}
    assert sagemaker.list_training_jobs()["TrainingJobSummaries"][0]["TrainingJobName"] == f"churn-train-{RUN_ID}"
    (message,) = moto_world.messages()
    assert message["result"] == "registered" and message["metrics"]["auc"] == 0.93


def test_each_package_names_the_exact_data_it_was_trained_on(definition, moto_world):
    """Lineage: a run lists its data as it starts and the package names the manifest (each object's key, ETag and
    size); run twice on changed data, the two packages' manifests differ where the data did."""
    s3, sagemaker = boto3.client("s3"), boto3.client("sagemaker")
    manifests = []
    for body in (b"a,b,target\n1,2,0\n", b"a,b,target\n1,2,0\n3,4,1\n"):  # the second run sees the file changed
        s3.put_object(Bucket="data-bucket", Key="incoming/2026-11.csv", Body=body)
        s3.delete_objects(Bucket="artifacts-bucket", Delete={"Objects": [{"Key": f"pipeline/{RUN_ID}/lineage/data.json"}]})
        assert run(harnessed(definition), {"trigger": "new-data", "detail": {}}, _report(0.93))["status"] == "SUCCEEDED"
        manifests.append(json.loads(s3.get_object(Bucket="artifacts-bucket", Key=f"pipeline/{RUN_ID}/lineage/data.json")["Body"].read()))
    packages = sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    metadata = [sagemaker.describe_model_package(ModelPackageName=p["ModelPackageArn"])["CustomerMetadataProperties"] for p in packages]
    assert all(m["dataManifest"] == f"s3://artifacts-bucket/pipeline/{RUN_ID}/lineage/data.json" for m in metadata)
    assert all(m["dataPrefix"] == "s3://data-bucket/incoming/" and m["dataObjects"] == "1" for m in metadata)
    first, second = manifests
    assert first["keys"] == second["keys"] == ["incoming/2026-11.csv"] and first["prefix"] == "s3://data-bucket/incoming/"
    assert first["etags"] != second["etags"] and first["sizes"] == [17] and second["sizes"] == [23] and first["truncated"] is False


def test_a_run_without_data_stops_at_once_and_says_so(definition, moto_world):
    boto3.client("s3").delete_object(Bucket="data-bucket", Key="incoming/2026-11.csv")
    result = run(harnessed(definition), {"trigger": "schedule", "detail": {}}, _report(0.93))
    assert result["status"] == "FAILED" and "Preprocess" not in _entered(result) and "NoData" in _entered(result)
    (message,) = moto_world.messages()
    assert message["error"] == "NoData" and "no object under s3://data-bucket/incoming/" in message["cause"]


def test_metric_fails_nothing_is_registered_and_the_gate_is_notified(definition, moto_world):
    result = run(harnessed(definition), {"trigger": "schedule", "detail": {}}, _report(0.71))
    assert result["status"] == "FAILED" and result["error"] == "QualityGateFailed"
    assert "RegisterModel" not in _entered(result)
    assert boto3.client("sagemaker").list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"] == []
    (message,) = moto_world.messages()
    assert message["metric"] == "auc" and message["required"] == ">= 0.8" and message["metrics"]["auc"] == 0.71


@pytest.mark.parametrize(
    ("metric", "threshold", "higher_is_better", "value", "registered"),
    [
        ("auc", 0.8, True, 0.8, True),  # exactly at the threshold passes ("at least"), as docs/training-pipeline.md's gate says
        ("auc", 0.8, True, 0.79, False),
        ("rmse", 0.3, False, 0.3, True),  # "at most", for a metric where lower is better
        ("rmse", 0.3, False, 0.31, False),
    ],
)
def test_a_model_exactly_at_the_threshold_is_registered(stack, moto_world, metric, threshold, higher_is_better, value, registered):
    """The gate's boundary, run (not read from the template): a model whose metric equals the threshold is registered."""
    build(stack, metric=metric, threshold=threshold, higher_is_better=higher_is_better)
    result = run(harnessed(definition_of(Template.from_stack(stack))), {"trigger": "schedule", "detail": {}}, sfn_harness.report(metric, value))
    packages = boto3.client("sagemaker").list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    if registered:
        assert result["status"] == "SUCCEEDED", result.get("cause")
        assert len(packages) == 1
    else:
        assert result["status"] == "FAILED" and result["error"] == "QualityGateFailed" and packages == []


def test_missing_metric_fails_the_gate(definition, moto_world):
    result = run(harnessed(definition), {"trigger": "schedule", "detail": {}}, _report(None))
    assert result["status"] == "FAILED" and result["error"] == "QualityGateFailed"


def test_training_failure_is_caught_and_notified_with_its_cause(definition, moto_world):
    result = run(harnessed(definition, training_fails=True), {"trigger": "drift", "detail": {}}, None)
    assert result["status"] == "FAILED" and result["error"] == "PipelineFailed"
    assert _entered(result)[-2:] == ["NotifyFailure", "PipelineFailed"]
    assert "Evaluate" not in _entered(result)
    (message,) = moto_world.messages()
    assert message["error"] == "SageMaker.TrainingJobFailed" and "out of memory" in message["cause"]


def test_missing_evaluation_is_a_caught_failure_not_a_success(definition, moto_world):
    result = run(harnessed(definition), {"trigger": "manual", "detail": {}}, None)
    assert result["status"] == "FAILED" and result["error"] == "PipelineFailed"
    (message,) = moto_world.messages()
    assert message["result"] == "pipeline failed"


def test_a_manual_start_without_input_gets_the_manual_trigger(definition, moto_world):
    result = run(harnessed(definition), {}, _report(0.95))
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert "DefaultTrigger" in _entered(result)
    package = boto3.client("sagemaker").list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"][0]
    described = boto3.client("sagemaker").describe_model_package(ModelPackageName=package["ModelPackageArn"])
    assert described["CustomerMetadataProperties"]["trigger"] == "manual"
    assert described["CustomerMetadataProperties"]["imageDigest"] == "unknown"  # not started by the guard


def test_the_package_records_the_digest_of_the_image_its_run_started_with(definition, moto_world):
    digest = "sha256:" + "ab" * 32  # what the guard read from ECR for the pipeline's tag, and the image's commit tag
    result = run(harnessed(definition), {"trigger": "schedule", "detail": {}, "imageDigest": digest, "imageCommit": "0a1b2c3"}, _report(0.95))
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert "UnknownImageDigest" not in _entered(result)
    package = boto3.client("sagemaker").list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"][0]
    described = boto3.client("sagemaker").describe_model_package(ModelPackageName=package["ModelPackageArn"])
    assert described["CustomerMetadataProperties"]["imageDigest"] == digest
    assert described["CustomerMetadataProperties"]["codeCommit"] == "0a1b2c3"  # a trained model's code: its image's commit


# -- the data-quality baseline step -----------------------------------------------------------------

ANALYZER = f"156813124566.dkr.ecr.{REGION}.amazonaws.com/sagemaker-model-monitor-analyzer"
ANALYZER_REPO = f"arn:aws:ecr:{REGION}:156813124566:repository/sagemaker-model-monitor-analyzer"


@pytest.fixture
def monitored_definition(stack) -> dict:
    build(stack, baseline_analyzer=Analyzer(AwsImage(ANALYZER, ANALYZER_REPO)))
    return definition_of(Template.from_stack(stack))


def test_without_an_analyzer_image_there_is_no_baseline_step(definition):
    assert "Baseline" not in definition["States"]
    assert "DriftCheckBaselines" not in definition["States"]["RegisterModel"]["Parameters"]


def test_baseline_job_runs_the_analyzer_on_the_training_features(monitored_definition):
    states = monitored_definition["States"]
    assert states["QualityGate"]["Choices"][0]["Next"] == "Baseline" and states["Baseline"]["Next"] == "RegisterModel"
    job = states["Baseline"]["Parameters"]
    assert states["Baseline"]["Resource"] == "arn:aws:states:::sagemaker:createProcessingJob.sync"
    assert job["AppSpecification"] == {"ImageUri": ANALYZER}  # the analyzer's own entrypoint
    assert json.loads(job["Environment"]["dataset_format"]) == {"csv": {"header": True, "output_columns_position": "START"}}
    assert (
        job["Environment"]["dataset_source"]
        == job["ProcessingInputs"][0]["S3Input"]["LocalPath"]
        == "/opt/ml/processing/input/baseline_dataset_input"
    )
    assert job["Environment"]["output_path"] == job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["LocalPath"] == "/opt/ml/processing/output"
    assert job["Environment"]["publish_cloudwatch_metrics"] == "Disabled"
    assert job["ProcessingInputs"][0]["S3Input"]["S3Uri.$"] == "States.Format('s3://artifacts-bucket/pipeline/{}/scored-baseline', $.run.runId)"
    evaluate = states["Evaluate"]["Parameters"]  # which scores the training features into that input
    assert {i["InputName"]: i["S3Input"]["S3Uri.$"] for i in evaluate["ProcessingInputs"]}[
        "baseline"
    ] == "States.Format('s3://artifacts-bucket/pipeline/{}/preprocess/baseline', $.run.runId)"
    assert {o["OutputName"]: o["S3Output"]["S3Uri.$"] for o in evaluate["ProcessingOutputConfig"]["Outputs"]}[
        "scored-baseline"
    ] == "States.Format('s3://artifacts-bucket/pipeline/{}/scored-baseline', $.run.runId)"
    assert (
        job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri.$"]
        == "States.Format('s3://artifacts-bucket/pipeline/{}/baseline', $.run.runId)"
    )
    assert job["ProcessingOutputConfig"]["KmsKeyId"] == KEY and job["NetworkConfig"]["VpcConfig"]["Subnets"][0] == "subnet-0123456789abcdef0"
    assert states["Baseline"]["Catch"][0]["Next"] == "NotifyFailure"


def test_the_project_analyzer_baselines_the_training_features_with_the_project_image(stack):
    """``monitoring.analyzer: project``: the baseline job is the project's ``monitor`` in baselining mode, on the
    features the endpoint's input carries (the monitor checks its input), with nothing more to pull."""
    image = AwsImage(PROJECT_IMAGE, f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/churn-images")
    build(stack, baseline_analyzer=Analyzer.project(image))
    template = Template.from_stack(stack)
    job = definition_of(template)["States"]["Baseline"]["Parameters"]
    assert job["AppSpecification"] == {"ImageUri": PROJECT_IMAGE, "ContainerEntrypoint": ["monitor"]}
    assert json.loads(job["Environment"]["dataset_format"]) == {"csv": {"header": True}}
    assert (
        job["ProcessingInputs"][0]["S3Input"]["S3Uri.$"]
        == "States.Format('s3://artifacts-bucket/pipeline/{}/preprocess/baseline/baseline.csv', $.run.runId)"
    )
    assert job["Environment"]["dataset_source"] == job["ProcessingInputs"][0]["S3Input"]["LocalPath"]
    assert (
        job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri.$"]
        == "States.Format('s3://artifacts-bucket/pipeline/{}/baseline', $.run.runId)"
    )
    assert "PullModelMonitorAnalyzer" not in json.dumps(template.find_resources("AWS::IAM::Policy"))


def test_job_role_may_pull_only_the_analyzer_image(stack):
    build(stack, baseline_analyzer=Analyzer(AwsImage(ANALYZER, ANALYZER_REPO)))
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "PullModelMonitorAnalyzer",
                                "Effect": "Allow",
                                "Resource": ANALYZER_REPO,
                                "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                            }
                        )
                    ]
                )
            }
        },
    )


def test_passing_model_gets_a_baseline_registered_as_its_drift_check_baseline(monitored_definition, moto_world):
    result = run(harnessed(monitored_definition), {"trigger": "drift", "detail": {}}, _report(0.93))
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert _entered(result)[16:19] == ["QualityGate", "Baseline", "RegisterModel"]
    sagemaker = boto3.client("sagemaker")
    job = sagemaker.describe_processing_job(ProcessingJobName=f"churn-baseline-{RUN_ID}")
    assert job["AppSpecification"]["ImageUri"] == ANALYZER  # moto keeps no Environment; tests/fidelity validates the request
    package = sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"][0]
    described = sagemaker.describe_model_package(ModelPackageName=package["ModelPackageArn"])
    prefix = f"s3://artifacts-bucket/pipeline/{RUN_ID}/baseline"
    expected = {
        "Statistics": {"ContentType": "application/json", "S3Uri": f"{prefix}/statistics.json"},
        "Constraints": {"ContentType": "application/json", "S3Uri": f"{prefix}/constraints.json"},
    }
    assert described["DriftCheckBaselines"]["ModelDataQuality"] == expected
    assert described["ModelMetrics"]["ModelDataQuality"] == expected
    assert described["CustomerMetadataProperties"]["trainingFeatures"] == f"s3://artifacts-bucket/pipeline/{RUN_ID}/preprocess/baseline"


def test_a_model_that_fails_the_gate_costs_no_baseline_job(monitored_definition, moto_world):
    result = run(harnessed(monitored_definition), {"trigger": "schedule", "detail": {}}, _report(0.5))
    assert result["error"] == "QualityGateFailed" and "Baseline" not in _entered(result)
    jobs = {j["ProcessingJobName"] for j in boto3.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"]}
    assert jobs == {f"churn-pre-{RUN_ID}", f"churn-eval-{RUN_ID}"}


@pytest.mark.parametrize(
    ("overrides", "hours"),
    [
        ({}, 3 + 2),  # preprocess, train, evaluate (60 minutes each) + 2 hours for the other states
        (
            {
                "baseline_analyzer": Analyzer(
                    AwsImage("123456789012.dkr.ecr.us-east-1.amazonaws.com/x", "arn:aws:ecr:us-east-1:123456789012:repository/x")
                )
            },
            4 + 2,
        ),
        ({"spot_training": True}, 4 + 2),  # training may wait twice its runtime for spot capacity
    ],
)
def test_the_execution_limit_is_the_sum_of_the_steps_it_runs(stack, overrides, hours):
    pipeline = build(stack, **overrides)
    assert definition_of(Template.from_stack(stack))["TimeoutSeconds"] == hours * 3600
    assert sum(int(s.max_runtime.to_seconds()) for s in pipeline.steps) + 2 * 3600 == hours * 3600


def test_each_step_brings_its_own_permissions_and_sync_rule(stack):
    pipeline = build(stack, baseline_analyzer=Analyzer(AwsImage(ANALYZER, ANALYZER_REPO)))
    statements = _statements(Template.from_stack(stack), "PipelineStateMachineRole")
    jobs = next(s for s in statements if s.get("Sid") == "RunThisProjectsJobs")
    rules = json.dumps(next(s for s in statements if s.get("Sid") == "SyncIntegrationRules")["Resource"])
    for step in pipeline.steps:
        assert set(step.kind.actions) <= set(jobs["Action"]) and step.kind.sync_rule in rules
        assert f":{step.kind.arn_type}/churn-{step.job}-????????" in json.dumps(jobs["Resource"])
    assert [s.state_id for s in pipeline.steps] == ["Preprocess", "Train", "Evaluate", "Baseline"]


def test_state_machine_is_encrypted_with_the_project_key(stack):
    build(stack)
    (machine,) = Template.from_stack(stack).find_resources("AWS::StepFunctions::StateMachine").values()
    assert machine["Properties"]["EncryptionConfiguration"] == {
        "KmsKeyId": KEY,
        "KmsDataKeyReusePeriodSeconds": 300,
        "Type": "CUSTOMER_MANAGED_KMS_KEY",
    }


PUBLISHED_KEY = "sandbox/alice/published/20261125T030000Z-0a1b2c3d/model.tar.gz"


def _publish(commit: str = "0a1b2c3") -> dict:
    return {"trigger": "publish", "detail": {"user": "alice", "modelKey": PUBLISHED_KEY, "commit": commit}}


def test_a_published_model_is_sealed_evaluated_and_registered_with_its_publisher_instead_of_trained(definition, moto_world):
    s3 = boto3.client("s3")
    s3.put_object(Bucket="artifacts-bucket", Key=PUBLISHED_KEY, Body=b"the user's archive")
    result = run(harnessed(definition), _publish(), _report(0.93))
    assert result["status"] == "SUCCEEDED", result.get("cause")
    entered = _entered(result)
    assert entered[9:15] == ["Preprocess", "TrainOrPublish", "PublishedModel", "RecordPublisher", "SealModel", "Evaluate"]
    assert "Train" not in entered
    sagemaker = boto3.client("sagemaker")
    assert sagemaker.list_training_jobs()["TrainingJobSummaries"] == []  # nothing trained
    copied = f"pipeline/{RUN_ID}/registered/model.tar.gz"
    assert s3.get_object(Bucket="artifacts-bucket", Key=copied)["Body"].read() == b"the user's archive"
    (evaluation,) = [j["ProcessingJobName"] for j in sagemaker.list_processing_jobs()["ProcessingJobSummaries"] if "-eval-" in j["ProcessingJobName"]]
    inputs = sagemaker.describe_processing_job(ProcessingJobName=evaluation)["ProcessingInputs"]
    assert next(i for i in inputs if i["InputName"] == "model")["S3Input"]["S3Uri"] == f"s3://artifacts-bucket/{copied}"  # what is registered
    (summary,) = sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    package = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
    # the package points at the run's copy (the user cannot change it), not at the sandbox
    assert package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == f"s3://artifacts-bucket/{copied}"
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    metadata = package["CustomerMetadataProperties"]
    assert {k: metadata[k] for k in ("trigger", "trainingJob", "publishedBy", "publishedFrom", "codeCommit")} == {
        "trigger": "publish",
        "trainingJob": "none",
        "publishedBy": "alice",
        "publishedFrom": PUBLISHED_KEY,
        "codeCommit": "0a1b2c3",
    }
    # the same data lineage as a trained model: the data the evaluation ran on
    assert metadata["dataManifest"] == f"s3://artifacts-bucket/pipeline/{RUN_ID}/lineage/data.json"


def test_a_published_model_that_is_gone_fails_the_run_with_the_cause_and_registers_nothing(definition, moto_world):
    result = run(harnessed(definition), _publish(), _report(0.93))
    assert result["status"] == "FAILED"
    assert _entered(result)[-3:] == ["SealModel", "NotifyFailure", "PipelineFailed"]
    assert boto3.client("sagemaker").list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"] == []
    (message,) = moto_world.messages()
    assert message["result"] == "pipeline failed"


def test_a_run_whose_sealed_key_already_holds_a_model_fails_and_registers_nothing(definition, moto_world):
    """A run registers the model it sealed itself: an object already at its sealed key (however it got there) is never
    taken as the run's model, nor replaced."""
    s3 = boto3.client("s3")
    sealed = f"pipeline/{RUN_ID}/registered/model.tar.gz"
    s3.put_object(Bucket="artifacts-bucket", Key=sealed, Body=b"planted")
    result = run(harnessed(definition), {"trigger": "schedule", "detail": {}}, _report(0.93))
    assert result["status"] == "FAILED" and _entered(result)[-3:] == ["SealModel", "NotifyFailure", "PipelineFailed"]
    (message,) = moto_world.messages()
    assert "AlreadySealed" in message["error"] and "never replaced" in message["cause"]
    assert s3.get_object(Bucket="artifacts-bucket", Key=sealed)["Body"].read() == b"planted"
    assert boto3.client("sagemaker").list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"] == []


def test_a_published_model_below_the_gate_is_not_registered(definition, moto_world):
    boto3.client("s3").put_object(Bucket="artifacts-bucket", Key=PUBLISHED_KEY, Body=b"archive")
    result = run(harnessed(definition), _publish(), _report(0.5))
    assert result["status"] == "FAILED" and _entered(result)[-1] == "QualityGateFailed"
    assert boto3.client("sagemaker").list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"] == []


def test_a_published_model_waits_for_approval_even_where_trained_models_are_approved_at_once(stack, moto_world):
    build(stack, approval_status="Approved")
    definition = definition_of(Template.from_stack(stack))
    boto3.client("s3").put_object(Bucket="artifacts-bucket", Key=PUBLISHED_KEY, Body=b"archive")
    assert run(harnessed(definition), _publish(), _report(0.93))["status"] == "SUCCEEDED"
    (package,) = boto3.client("sagemaker").list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    (message,) = moto_world.messages()
    assert message["approvalStatus"] == "PendingManualApproval"


MLFLOW_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:mlflow-app/app-0123456789ab"


def test_with_mlflow_the_training_job_logs_its_run_there_and_the_package_names_it(stack, moto_world):
    from mlops_constructs.project_mlflow import MlflowTracking

    build(stack, mlflow=MlflowTracking(MLFLOW_ARN))
    template = Template.from_stack(stack)
    definition = definition_of(template)
    environment = definition["States"]["Train"]["Parameters"]["Environment"]
    assert environment == {"MLFLOW_TRACKING_URI": MLFLOW_ARN, "MLFLOW_EXPERIMENT_NAME": "churn"}
    # the job role may use that MLflow (an app's API is sagemaker:CallMlflowAppApi, its artifact store), and no other
    policies = json.dumps(template.find_resources("AWS::IAM::Policy"))
    assert '"sagemaker:CallMlflowAppApi"' in policies and MLFLOW_ARN in policies and "mlflow-app/*" not in policies
    assert "sagemaker-mlflow" not in policies  # a tracking server's actions: they authorize nothing on an app
    result = run(harnessed(definition), {"trigger": "schedule", "detail": {}}, _report(0.93))
    assert result["status"] == "SUCCEEDED"
    (summary,) = boto3.client("sagemaker").list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    metadata = boto3.client("sagemaker").describe_model_package(ModelPackageName=summary["ModelPackageArn"])["CustomerMetadataProperties"]
    assert (metadata["mlflowTrackingServer"], metadata["mlflowExperiment"], metadata["mlflowRun"]) == (MLFLOW_ARN, "churn", f"churn-train-{RUN_ID}")
    # and the run names the package: after registration the link function gets the run and the package (its own test runs
    # it against a real MLflow server); its role may find and tag runs on that MLflow only
    assert _entered(result)[-5:] == ["RegisterModel", "HasMlflowRun", "LinkMlflowRun", "NotifyRegistered", "ModelRegistered"]
    link = json.loads(result["output"])["mlflowLink"]
    (message,) = moto_world.messages()
    assert message["mlflowLink"] == link  # the registration's notification says how the link went
    assert link == {
        "trackingArn": MLFLOW_ARN,
        "experiment": "churn",
        "runName": f"churn-train-{RUN_ID}",
        "modelPackageArn": summary["ModelPackageArn"],
        "pipelineRun": RUN_ID,
    }
    link_role_policies = [st for r in template.find_resources("AWS::IAM::Policy").values() for st in r["Properties"]["PolicyDocument"]["Statement"]]
    assert {"Action": "sagemaker:CallMlflowAppApi", "Effect": "Allow", "Resource": MLFLOW_ARN} in link_role_policies


def test_without_mlflow_the_training_job_has_no_tracking_settings(definition):
    assert "Environment" not in definition["States"]["Train"]["Parameters"]


def test_with_mlflow_a_published_model_is_registered_and_said_to_have_no_run_to_link(stack, moto_world):
    from mlops_constructs.project_mlflow import MlflowTracking

    build(stack, mlflow=MlflowTracking(MLFLOW_ARN))
    boto3.client("s3").put_object(Bucket="artifacts-bucket", Key=PUBLISHED_KEY, Body=b"the user's archive")
    result = run(harnessed(definition_of(Template.from_stack(stack))), _publish(), _report(0.93))
    assert result["status"] == "SUCCEEDED", result.get("cause")
    assert _entered(result)[-4:] == ["HasMlflowRun", "NoMlflowRun", "NotifyRegistered", "ModelRegistered"]
    (message,) = moto_world.messages()
    assert message["mlflowLink"] == {"skipped": "a published model: no run of the platform's"}


def test_a_published_archive_reaches_the_publisher_which_only_eventbridge_may_invoke(stack):
    """Publishing is an upload: S3's Object Created event of sandbox/<user>/published/<id>/model.tar.gz in the artifacts
    bucket reaches the publisher, whose only invoker is that rule (the users invoke the guard, which refuses publish)."""
    triggers = build_triggers(stack)
    t = Template.from_stack(stack)
    (rule,) = [r for r in t.find_resources("AWS::Events::Rule").values() if "published a model" in r["Properties"]["Description"]]
    assert rule["Properties"]["EventPattern"]["detail"] == {
        "bucket": {"name": ["artifacts-bucket"]},
        "object": {"key": [{"wildcard": "sandbox/*/published/*/model.tar.gz"}]},
    }
    publisher = stack.resolve(triggers.publisher.function_arn)
    assert rule["Properties"]["Targets"][0]["Arn"] == publisher
    invokers = [r["Properties"] for r in t.find_resources("AWS::Lambda::Permission").values() if r["Properties"]["FunctionName"] == publisher]
    assert [(i["Principal"], i["SourceArn"]) for i in invokers] == [
        (
            "events.amazonaws.com",
            {
                "Fn::GetAtt": [
                    next(
                        iter(lid for lid, r in t.find_resources("AWS::Events::Rule").items() if "published a model" in r["Properties"]["Description"])
                    ),
                    "Arn",
                ]
            },
        )
    ]
    (function,) = [
        r["Properties"]
        for r in t.find_resources("AWS::Lambda::Function").values()
        if r["Properties"]["Environment"]["Variables"].get("ACCEPTS") == "published-models"
    ]
    assert function["ReservedConcurrentExecutions"] == 1 and "FunctionName" not in function  # unnamed: no sandbox grant names it
