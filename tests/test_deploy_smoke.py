"""Deploy smoke test: every synthesized stack of a stage is created in moto's CloudFormation.

The closest thing to ``cdk deploy`` offline. As ``cdk deploy`` would, it first sets up what
``cdk bootstrap`` leaves (the version parameter and the assets bucket), uploads the file assets
(here: the Service Catalog product templates), then creates the stacks in dependency order, each
reading the SSM parameters the previous ones published. moto does not emulate every resource type;
those it skips are listed in ``fidelity.moto_adapt.MOTO_SKIPS`` and checked, so a change in what moto
covers shows up; the same adaptations serve ``make deploy-local`` (tests/test_deploy_local.py).
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile

import boto3

from fidelity.moto_adapt import MOTO_SKIPS, moto_compatible

ACCOUNT, REGION = "123456789012", "us-east-1"
BOOTSTRAP_BUCKET = f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"


def _deploy_order(synthesized) -> list:
    return synthesized.stage.stacks


def _bootstrap_and_upload_assets(synthesized) -> None:
    boto3.client("ssm").put_parameter(Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String", Overwrite=True)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BOOTSTRAP_BUCKET)
    for manifest in synthesized.outdir.glob("*.assets.json"):
        for asset in json.loads(manifest.read_text()).get("files", {}).values():
            source = synthesized.outdir / asset["source"]["path"]
            if asset["source"].get("packaging") == "zip":  # a directory the CLI zips (Lambda code)
                buffer = io.BytesIO()
                with zipfile.ZipFile(buffer, "w") as archive:
                    for path in sorted(source.rglob("*")):
                        archive.write(path, path.relative_to(source).as_posix())
                body = buffer.getvalue()
            else:
                body = source.read_bytes()
            for destination in asset["destinations"].values():
                s3.put_object(Bucket=BOOTSTRAP_BUCKET, Key=destination["objectKey"], Body=body)


def test_moto_skips_exactly_the_listed_types(dev, prod):
    from moto.cloudformation.parsing import get_model_map

    used = {r["Type"] for s in (dev, prod) for t in s.templates().values() for r in t["Resources"].values()}
    unsupported = {t for t in used if t not in get_model_map()}
    assert unsupported <= MOTO_SKIPS
    # not in dev or prod: no portfolio principals configured; no lifecycle script at their idle minutes (>= 60)
    # Model Monitor's types: only a stage whose account already uses it (account_already_uses) deploys them
    legacy = {"AWS::SageMaker::DataQualityJobDefinition", "AWS::SageMaker::MonitoringSchedule"}
    assert MOTO_SKIPS - unsupported <= {"AWS::ServiceCatalog::PortfolioPrincipalAssociation", "AWS::SageMaker::StudioLifecycleConfig", *legacy}


def _parameters(template: dict) -> list[dict]:
    """What `cdk deploy --parameters` would pass: the model package an endpoint stack deploys, and its baseline."""
    values = {
        "ModelPackageArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/mlops-dev-churn/1",
        "BaselineUri": "s3://mlops-dev-churn-artifacts/pipeline/0a1b2c3d/baseline",
    }
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items() if k in template.get("Parameters", {})]


def _deploy_all(synthesized) -> list[str]:
    _bootstrap_and_upload_assets(synthesized)
    cfn = boto3.client("cloudformation")
    templates = synthesized.templates()
    created = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for stack in _deploy_order(synthesized):
            cfn.create_stack(
                StackName=stack.stack_name,
                TemplateBody=json.dumps(moto_compatible(templates[stack.stack_name], stack.stack_name)),
                Parameters=_parameters(templates[stack.stack_name]),
                Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
                EnableTerminationProtection=stack.termination_protection,
            )
            status = cfn.describe_stacks(StackName=stack.stack_name)["Stacks"][0]
            assert status["StackStatus"] == "CREATE_COMPLETE", (stack.stack_name, status.get("StackStatusReason"))
            created.append(stack.stack_name)
    return created


def test_every_dev_stack_reaches_create_complete(dev, aws):
    assert _deploy_all(dev) == [s.stack_name for s in _deploy_order(dev)]


def test_every_prod_stack_reaches_create_complete_after_dev(dev, prod, aws):
    # Prod serves the models dev registers (model_registry_stage: dev): its endpoints read dev's
    # project parameters, so dev is deployed first, as the delivery pipeline does.
    _deploy_all(dev)
    assert _deploy_all(prod) == [s.stack_name for s in _deploy_order(prod)]
    assert not any(s.stack_name.startswith("mlops-prod-pipeline") for s in _deploy_order(prod))
    # prod's endpoints capture what their drift checks read
    ssm, sagemaker = boto3.client("ssm"), boto3.client("sagemaker")
    machines = {m["name"] for m in boto3.client("stepfunctions").list_state_machines()["stateMachines"]}
    assert {"mlops-prod-churn-dq", "mlops-prod-fraud-dq"} <= machines
    # moto names CloudFormation endpoints itself (it ignores EndpointName); find churn's.
    (name,) = [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"] if "prod-endpoint-churn" in e["EndpointName"]]
    endpoint = sagemaker.describe_endpoint(EndpointName=name)
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    capture = ssm.get_parameter(Name="/mlops/prod/projects/churn/capture-bucket-name")["Parameter"]["Value"]
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == f"s3://{capture}/mlops-prod-churn"


def test_dev_deploy_creates_the_real_resources(dev, aws):
    _deploy_all(dev)

    s3 = boto3.client("s3")
    ssm = boto3.client("ssm")
    data_bucket = ssm.get_parameter(Name="/mlops/dev/projects/churn/data-bucket-name")["Parameter"]["Value"]
    s3.head_bucket(Bucket=data_bucket)  # moto drops VersioningConfiguration; the template tests assert it
    encryption = s3.get_bucket_encryption(Bucket=data_bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert encryption["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    key_arn = ssm.get_parameter(Name="/mlops/dev/projects/churn/key-arn")["Parameter"]["Value"]
    key_id = key_arn.rsplit("/", 1)[1]
    assert boto3.client("kms").get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    group = ssm.get_parameter(Name="/mlops/dev/projects/churn/model-package-group-name")["Parameter"]["Value"]
    assert group == "mlops-dev-churn"
    repo = ssm.get_parameter(Name="/mlops/dev/projects/churn/repository-name")["Parameter"]["Value"]
    assert boto3.client("ecr").describe_repositories(repositoryNames=[repo])["repositories"][0]["imageTagMutability"] == "IMMUTABLE"
    topic = ssm.get_parameter(Name="/mlops/dev/projects/churn/alert-topic-arn")["Parameter"]["Value"]
    attributes = boto3.client("sns").get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attributes["KmsMasterKeyId"] == key_arn
    role_arn = ssm.get_parameter(Name="/mlops/dev/users/alice/role-arn")["Parameter"]["Value"]
    role_name = role_arn.rsplit("/", 1)[1]
    policies = boto3.client("iam").list_role_policies(RoleName=role_name)["PolicyNames"]
    # the user's own Studio policy, its Studio projects policy and the alice-churn sandbox's two: its storage grants, and its
    # mlops work (the projects and work policies are managed in CloudFormation, deployed inline here: fidelity.moto_adapt)
    assert len(policies) == 4 and any("SandboxWorkPolicy" in p for p in policies) and any("StudioProjectsPolicy" in p for p in policies)

    dashboards = {d["DashboardName"] for d in boto3.client("cloudwatch").list_dashboards()["DashboardEntries"]}
    assert dashboards == {"mlops-dev-churn", "mlops-dev-fraud"}
    body = json.loads(boto3.client("cloudwatch").get_dashboard(DashboardName="mlops-dev-churn")["DashboardBody"])
    machine_arn = ssm.get_parameter(Name="/mlops/dev/projects/churn/pipeline/state-machine-arn")["Parameter"]["Value"]
    assert machine_arn in json.dumps(body)  # the pipeline widget shows this project's state machine, read from SSM at deploy

    functions = boto3.client("lambda").list_functions()["Functions"]
    churn = [f for f in functions if f["Environment"]["Variables"].get("PROJECT_NAME") == "churn"]
    assert len(churn) == 3 and {f["Runtime"] for f in churn} == {"python3.14"}  # its trigger guard, its publisher and its MLflow link
    (guard,) = [f for f in churn if f["Environment"]["Variables"].get("ACCEPTS") == "triggers"]
    assert guard["FunctionName"] == "mlops-dev-churn-start"  # named: the sandboxes invoke it by ARN
    machines = boto3.client("stepfunctions").list_state_machines()["stateMachines"]
    # one pipeline per project, named; churn's batch scoring, which checks each batch for drift (fraud's endpoint is
    # serverless in dev: no capture, no check)
    assert {m["name"] for m in machines} == {"mlops-dev-churn-training", "mlops-dev-fraud-training", "mlops-dev-churn-scoring"}
