"""The delivery pipeline: stages, approval, the model-approval trigger, pinned packages, same templates."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tests.conftest import DELIVERY_BASELINES as BASELINES
from tests.conftest import DELIVERY_PINS as PINS
from tests.conftest import normalize_hashes, synth_stage

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pins_file(delivery_app) -> Path:
    return delivery_app.pins_file


@pytest.fixture(scope="module")
def delivery(delivery_app):
    return delivery_app.stack, delivery_app.assembly, delivery_app.outdir


def _pipeline(delivery) -> dict:
    stack, assembly, _ = delivery
    template = assembly.get_stack_by_name(stack.stack_name).template
    return next(r for r in template["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline")["Properties"]


def test_stages_in_order_with_a_manual_approval_before_prod(delivery):
    stages = _pipeline(delivery)["Stages"]
    names = [s["Name"] for s in stages]
    assert names[:3] == ["Source", "Build", "UpdatePipeline"] and names[-2:] == ["Dev", "Prod"]
    prod = stages[-1]["Actions"]
    approvals = [a for a in prod if a["ActionTypeId"]["Category"] == "Approval"]
    assert len(approvals) == 1 and approvals[0]["Name"] == "Promote-to-prod"
    assert approvals[0]["RunOrder"] == min(a["RunOrder"] for a in prod)
    assert not any(a["ActionTypeId"]["Category"] == "Approval" for a in stages[-2]["Actions"])


def test_source_is_the_configured_connection(delivery):
    source = _pipeline(delivery)["Stages"][0]["Actions"][0]
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source["Configuration"]["FullRepositoryId"] == "my-org/sagemaker-mlops-platform"
    assert source["Configuration"]["BranchName"] == "main"


def test_synth_runs_the_tests_then_synthesizes_with_pinned_packages(delivery):
    stack, assembly, _ = delivery
    template = assembly.get_stack_by_name(stack.stack_name).template
    projects = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CodeBuild::Project"]
    spec = next(json.loads(p["Source"]["BuildSpec"]) for p in projects if "make test" in p["Source"]["BuildSpec"])
    commands = spec["phases"]["build"]["commands"]
    assert commands[0] == "make test"
    assert "resolve_model_packages.py" in commands[1] and "-c target=delivery -c model_packages_file=model-packages.json" in commands[2]


def test_an_approved_model_package_starts_the_pipeline(delivery):
    stack, assembly, _ = delivery
    template = assembly.get_stack_by_name(stack.stack_name).template
    rule = next(r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule")
    assert rule["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": ["mlops-dev-churn", "mlops-dev-fraud"], "ModelApprovalStatus": ["Approved"]},
    }
    assert "Ref" in json.dumps(rule["Targets"][0]["Arn"]) or "Fn::Join" in json.dumps(rule["Targets"][0]["Arn"])


def test_dev_and_prod_deploy_the_same_pinned_package(delivery):
    stack, _, _ = delivery
    for stage in stack.stages:
        for name, endpoint in stage.endpoints.items():
            model = next(
                r for r in stage.synth().get_stack_by_name(endpoint.stack_name).template["Resources"].values() if r["Type"] == "AWS::SageMaker::Model"
            )
            assert model["Properties"]["PrimaryContainer"]["ModelPackageName"] == PINS[name]
    prod = stack.stages[1]
    assert prod.pipelines == {}  # promotion never retrains: prod runs no training pipeline


def test_monitors_compare_with_the_pinned_packages_baseline(delivery):
    stack, _, _ = delivery
    monitored = 0
    for stage in stack.stages:
        for name, serving in [*stage.endpoints.items(), *stage.batches.items()]:
            resources = stage.synth().get_stack_by_name(serving.stack_name).template["Resources"].values()
            for definition in (r["Properties"] for r in resources if r["Type"] == "AWS::SageMaker::DataQualityJobDefinition"):
                baseline = definition["DataQualityBaselineConfig"]
                assert baseline["StatisticsResource"]["S3Uri"] == f"{BASELINES[name]}/statistics.json"
                assert baseline["ConstraintsResource"]["S3Uri"] == f"{BASELINES[name]}/constraints.json"
                assert definition["JobDefinitionName"].endswith("-" + BASELINES[name].split("/")[4])
                monitored += 1
            for schedule in (r["Properties"] for r in resources if r["Type"] == "AWS::SageMaker::MonitoringSchedule"):
                inline = schedule["MonitoringScheduleConfig"].get("MonitoringJobDefinition")  # monitoring.analyzer: project
                if inline:
                    assert inline["BaselineConfig"] == {
                        "StatisticsResource": {"S3Uri": f"{BASELINES[name]}/statistics.json"},
                        "ConstraintsResource": {"S3Uri": f"{BASELINES[name]}/constraints.json"},
                    }
                    monitored += 1
            for function in (r["Properties"] for r in resources if r["Type"] == "AWS::Lambda::Function"):  # the platform's check
                if "BASELINE_URI" in function.get("Environment", {}).get("Variables", {}):
                    assert function["Environment"]["Variables"]["BASELINE_URI"] == BASELINES[name]
                    monitored += 1
    assert monitored == 3  # dev churn (its batch scoring), prod churn, prod fraud (dev fraud is serverless: no capture to monitor)


def test_a_pin_without_baseline_for_a_monitored_endpoint_is_a_clear_error(run_main, tmp_path):
    pins = tmp_path / "pins.json"
    pins.write_text(json.dumps(PINS))  # bare ARNs: fine for a one-stage synth with parameters, not for the pipeline
    code, stderr = run_main({"target": "delivery", "model_packages_file": str(pins)})
    assert code == 2
    assert "churn.baseline_uri: (missing): needed: the dev endpoint of project churn is monitored" in stderr


def test_pipeline_templates_are_the_tested_templates(delivery, pins_file, tmp_path):
    stack, _, _ = delivery
    standalone = synth_stage("dev", tmp_path, model_packages_file=str(pins_file))
    in_pipeline = {s.stack_name: s.template for s in stack.stages[0].synth().stacks}
    assert sorted(in_pipeline) == sorted(standalone.templates())
    for name, template in standalone.templates().items():
        assert normalize_hashes(in_pipeline[name]) == normalize_hashes(template), name


def test_resolver_pins_the_newest_approved_package(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    sys.path.insert(0, str(ROOT / "tools"))
    import resolve_model_packages

    with mock_aws():
        sm = boto3.client("sagemaker", region_name="us-east-1")
        sm.create_model_package_group(ModelPackageGroupName="mlops-dev-churn")
        spec = {
            "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1", "ModelDataUrl": "s3://b/m.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        }
        baseline = "s3://artifacts/pipeline/0a1b2c3d/baseline"
        drift = {
            "ModelDataQuality": {
                name: {"ContentType": "application/json", "S3Uri": f"{baseline}/{name.lower()}.json"} for name in ("Statistics", "Constraints")
            }
        }
        arns = [
            sm.create_model_package(
                ModelPackageGroupName="mlops-dev-churn", InferenceSpecification=spec, DriftCheckBaselines=drift, ModelApprovalStatus=status
            )["ModelPackageArn"]
            for status in ("Approved", "Approved", "PendingManualApproval")
        ]
        ssm = boto3.client("ssm", region_name="us-east-1")
        key = "arn:aws:kms:us-east-1:123456789012:key/0123abcd-0123-4567-89ab-0123456789ab"
        for name, value in (("artifacts-bucket-name", "artifacts"), ("key-arn", key)):
            ssm.put_parameter(Name=f"/mlops/dev/projects/churn/{name}", Value=value, Type="String")
        pinned = resolve_model_packages.resolve(sm, ssm, "mlops", "dev", ["churn", "fraud"])
    # the newest approved, with its baseline and where a stage in another account finds its artifacts; fraud has none
    # yet, so no endpoint for it
    assert pinned == {"churn": {"model_package_arn": arns[1], "baseline_uri": baseline, "artifacts_bucket": "artifacts", "key_arn": key}}


def test_resolver_leaves_out_a_baseline_the_package_does_not_have_whole():
    sys.path.insert(0, str(ROOT / "tools"))
    import resolve_model_packages

    stats = {"Statistics": {"ContentType": "application/json", "S3Uri": "s3://a/pipeline/0a1b2c3d/baseline/statistics.json"}}
    assert resolve_model_packages.baseline_prefix({}) is None
    assert resolve_model_packages.baseline_prefix({"DriftCheckBaselines": {"ModelDataQuality": stats}}) is None
    split = {**stats, "Constraints": {"ContentType": "application/json", "S3Uri": "s3://b/elsewhere/constraints.json"}}
    assert resolve_model_packages.baseline_prefix({"DriftCheckBaselines": {"ModelDataQuality": split}}) is None


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"target": "everything"}, "target: 'everything': allowed: stage (default), delivery"),
        ({"model_packages_file": "/nonexistent.json"}, "model_packages_file: '/nonexistent.json': must be a readable JSON object"),
    ],
)
def test_bad_app_context_is_reported_without_traceback(run_main, context, message):
    code, stderr = run_main(context)
    assert code == 2 and message in stderr


@pytest.mark.parametrize(
    ("pins", "message"),
    [
        ({"churn": "arn:nope"}, "churn.model_package_arn: 'arn:nope': must be a versioned model package ARN"),
        (
            {"churn": {"model_package_arn": PINS["churn"], "baseline_uri": "s3://b/x"}},
            "churn.baseline_uri: 's3://b/x': must be a pipeline run's baseline prefix",
        ),
        ({"churn": {"model_package_arn": PINS["churn"], "baseline": "s3://b/x"}}, "allowed keys: model_package_arn, baseline_uri"),
        (["not", "a", "mapping"], "must be a JSON object mapping project names to model packages"),
    ],
)
def test_bad_pins_name_the_project_and_field(run_main, tmp_path, pins, message):
    path = tmp_path / "pins.json"
    path.write_text(json.dumps(pins))
    code, stderr = run_main({"model_packages_file": str(path)})
    assert code == 2 and message in stderr


def test_self_mutation_and_assets_install_the_pinned_clis(delivery):
    stack, assembly, _ = delivery
    template = assembly.get_stack_by_name(stack.stack_name).template
    pins = json.loads((ROOT / "package.json").read_text())["devDependencies"]
    installs = {
        c
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CodeBuild::Project" and "BuildSpec" in r["Properties"]["Source"]
        for c in json.loads(r["Properties"]["Source"]["BuildSpec"])["phases"].get("install", {}).get("commands", [])
    }
    assert installs == {f"npm install -g aws-cdk@{pins['aws-cdk']}", f"npm install -g cdk-assets@{pins['cdk-assets']}"}


def test_the_pipelines_artifacts_and_their_key_are_retained(delivery):
    stack, assembly, _ = delivery
    template = assembly.get_stack_by_name(stack.stack_name).template
    stateful = {k: r.get("DeletionPolicy") for k, r in template["Resources"].items() if r["Type"] in ("AWS::KMS::Key", "AWS::S3::Bucket")}
    assert len(stateful) == 3 and set(stateful.values()) == {"Retain"}  # artifact bucket, its key, its access-log bucket
    (artifacts,) = [
        r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::S3::Bucket" and "LoggingConfiguration" in r["Properties"]
    ]
    assert artifacts["VersioningConfiguration"] == {"Status": "Enabled"}  # a SecureBucket: versioned, KMS, logged, TLS only
    assert artifacts["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"


def _build_projects(delivery) -> list[dict]:
    stack, assembly, _ = delivery
    template = assembly.get_stack_by_name(stack.stack_name).template
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CodeBuild::Project"]


def test_the_image_is_shipped_before_dev_and_trains_after_it(delivery):
    dev = next(s for s in _pipeline(delivery)["Stages"] if s["Name"] == "Dev")["Actions"]
    order = {a["Name"]: a["RunOrder"] for a in dev}
    deploys = [a["RunOrder"] for a in dev if a["ActionTypeId"]["Category"] == "Deploy"]
    assert order["ShipImage"] < min(deploys) and order["TrainOnNewImage"] > max(deploys)
    ship = next(a for a in dev if a["Name"] == "ShipImage")
    train = next(a for a in dev if a["Name"] == "TrainOnNewImage")
    # the train step reads what the ship step exported: whether it pushed
    assert "NEW_IMAGE" in json.dumps(train["Configuration"]["EnvironmentVariables"]) and ship.get("Namespace")
    prod = next(s for s in _pipeline(delivery)["Stages"] if s["Name"] == "Prod")["Actions"]
    assert not any(a["Name"] in ("ShipImage", "TrainOnNewImage") for a in prod)  # prod pulls dev's images


def test_the_image_step_builds_with_docker_and_pushes_only_to_the_registry_stages_repositories(delivery):
    from stacks.delivery_stack import SHIP_COMMANDS

    projects = _build_projects(delivery)
    ship = next(p for p in projects if "ship_image.py ship" in p["Source"]["BuildSpec"])
    assert ship["Environment"]["PrivilegedMode"] is True
    spec = json.loads(ship["Source"]["BuildSpec"])
    assert spec["phases"]["build"]["commands"] == SHIP_COMMANDS
    assert spec["env"]["exported-variables"] == ["NEW_IMAGE"]
    stack, assembly, _ = delivery
    template = assembly.get_stack_by_name(stack.stack_name).template
    statements = [
        s
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy"
        for s in r["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "PushToTheProjectRepositories"
    ]
    (push,) = statements
    assert push["Resource"] == [
        "arn:aws:ecr:us-east-1:123456789012:repository/mlops-dev-churn",
        "arn:aws:ecr:us-east-1:123456789012:repository/mlops-dev-fraud",
    ]
    (invoke,) = [
        s
        for r in template["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy"
        for s in r["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "TriggerTheProjectPipelines"
    ]
    assert invoke["Action"] == "lambda:InvokeFunction" and all(arn.endswith("-start") for arn in invoke["Resource"])
