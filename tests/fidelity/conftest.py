"""The deployments the fidelity checks look at: every template this app synthesizes, resolved as at deploy time."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import boto3
import pytest

from fidelity.cfn import Deployment

# The longest names the config schema allows (config/schema.py): 32-character project and user names.
LONGEST_PROJECT = "p" + "0" * 31
LONGEST_USER = "u" + "0" * 31
LONGEST_PREFIX, LONGEST_STAGE = "p" + "0" * 11, "s" + "0" * 11  # 12 characters each, the schema's maximum
LONGEST_FEATURE = "f" + "0" * 127  # drift_alarms[].feature: 128 characters
LABEL_WRITER = "arn:aws:iam::123456789012:role/" + "w" * 64  # IAM's longest role name: an application that writes labels


def with_endpoint_parameters(deployment: Deployment, registry: str) -> Deployment:
    """``deployment`` with what `cdk deploy --parameters` passes an endpoint stack that takes its model package and
    baseline as parameters: a package of the registry stage's group and a baseline in its artifacts bucket."""
    for name, template in deployment.templates.items():
        declared = template.get("Parameters", {})
        project = name.rsplit("endpoint-", 1)[-1]
        values = {}
        if "ModelPackageArn" in declared:
            group = deployment.ssm_value(f"{registry}/projects/{project}/model-package-group-name")
            values["ModelPackageArn"] = f"arn:aws:sagemaker:{deployment.region}:{deployment.account}:model-package/{group}/12"
        if "BaselineUri" in declared:
            bucket = deployment.ssm_value(f"{registry}/projects/{project}/artifacts-bucket-name")
            values["BaselineUri"] = f"s3://{bucket}/pipeline/0a1b2c3d/baseline"
        if values:
            deployment.parameters[name] = values
    return deployment


@dataclass
class Checked:
    """One deployment and what it is called in the test output."""

    label: str
    deployment: Deployment


PRODUCT_KINDS = ("Project", "User", "Sandbox")


def launched_products(dev, stack_names: dict[str, str] | None = None, **deployment: object) -> Deployment:
    """The three Service Catalog products launched with the longest allowed names next to the dev stage: a self-served
    project, a self-served user and the sandbox linking the two (which reads what the other two publish). Each product's
    stack is named ``stack_names[kind]`` (``PRODUCT_KINDS``; by default its template's file name); ``deployment``: the
    account and Region."""
    products = {}
    for path in sorted(dev.outdir.glob("*.product.template.json")):
        (kind,) = [k for k in PRODUCT_KINDS if f"{k}ProductStack" in path.name]
        products[(stack_names or {}).get(kind, path.name.removesuffix(".product.template.json"))] = json.loads(path.read_text())
    values = {
        "SageMakerProjectName": LONGEST_PROJECT,
        "ProjectName": LONGEST_PROJECT,
        "AlertEmail": "alerts@example.com",
        "UserName": LONGEST_USER,
        "Email": "u@example.com",
    }
    parameters = {name: {k: v for k, v in values.items() if k in template.get("Parameters", {})} for name, template in products.items()}
    for name, given in parameters.items():
        asked = {p for p, declared in products[name].get("Parameters", {}).items() if "Default" not in declared}
        assert given.keys() == asked, name  # every parameter the launcher must give is given
    return Deployment({**dev.templates(), **products}, parameters=parameters, **deployment)


def product_deployments(dev) -> list[Checked]:
    deployment = launched_products(dev)
    return [Checked(f"product {name}", deployment) for name in deployment.parameters]


def launch_roles(deployment: Deployment) -> dict[str, str]:
    """The ARNs of the self-service stack's two launch roles: ``main`` (the portfolio's, every product) and ``studio``
    (the Studio project template's)."""
    (stack,) = [s for s in deployment.templates if s.endswith("-self-service")]
    roles = {
        lid: deployment.get_att(stack, lid, "Arn") for lid, r in deployment.templates[stack]["Resources"].items() if r["Type"] == "AWS::IAM::Role"
    }
    (main,) = [arn for lid, arn in roles.items() if re.fullmatch(r"CatalogLaunchRole[0-9A-F]{8}", lid)]
    (studio,) = [arn for lid, arn in roles.items() if re.fullmatch(r"CatalogLaunchRoleForStudio[0-9A-F]{8}", lid)]
    return {"main": main, "studio": studio}


@pytest.fixture(scope="session")
def deployments(dev, prod, delivery_app, longest, trial) -> list[Checked]:
    dev_templates, prod_templates, longest_templates = dev.templates(), prod.templates(), longest.templates()
    both = {**dev_templates, **prod_templates}  # prod reads dev's registry parameters
    delivery = delivery_app.templates()
    return [
        Checked("dev stage", with_endpoint_parameters(Deployment(dev_templates), "/mlops/dev")),
        Checked("prod stage", with_endpoint_parameters(Deployment(both), "/mlops/dev")),
        Checked(
            "longest names",
            with_endpoint_parameters(Deployment(longest_templates, already_uses=frozenset({"codecommit"})), f"/{LONGEST_PREFIX}/{LONGEST_STAGE}"),
        ),
        Checked("trial stage", with_endpoint_parameters(Deployment(trial.templates()), "/mlops/trial")),  # the frugal network
        Checked("delivery app", Deployment(delivery)),
        *product_deployments(dev),
    ]


def own_stacks(checked: Checked, dev, prod) -> list[str]:
    """The stacks a deployment adds (the prod deployment also holds dev's templates, to resolve its parameters)."""
    if checked.label == "prod stage":
        return list(prod.templates())
    if checked.label.startswith("product "):
        return [checked.label.removeprefix("product ")]
    return list(checked.deployment.templates)


def longest_config() -> dict:
    """A stage with the longest names the config allows in every place a name goes, every kind of
    endpoint and batch scoring, the shortest idle shutdown, a stage serving its models from another account (``longest_consumer_config``),
    and several tenants: four projects (the fourth scored in batch), three users, one of them in all three projects (whose
    role carries three sandboxes' policies), one in two, one in one."""
    project = lambda i, **extra: {  # noqa: E731
        "name": f"p{i}" + "0" * 30,
        "alert_emails": ["alerts@example.com"],
        "evaluation": {"metric": "auc", "threshold": 0.7},
        **extra,
    }
    drift = [{"feature": LONGEST_FEATURE[:-1] + str(i), "threshold": 0.1} for i in range(3)]
    return {
        "stage": LONGEST_STAGE,
        "prefix": LONGEST_PREFIX,
        "account": "123456789012",
        "region": "us-east-1",
        "idle_shutdown_minutes": 15,  # under Studio's own 60-minute floor: the lifecycle script is deployed too
        "network": {
            "mode": "new",
            "cidr": "10.42.0.0/16",
            "availability_zones": ["us-east-1a", "us-east-1b", "us-east-1c"],
            "s3_prefix_list_id": "pl-63a5400a",
            "egress": "nat",  # a route out: Studio reaches hosts outside AWS (the NAT gateway goes through every check)
        },
        # an account that already uses CodeCommit (closed to new customers): project 1's repository is reached through it
        "account_already_uses": ["codecommit"],
        "projects": [
            project(
                1,
                # model quality from labels, put by its sandboxes and by a label writer of the account (LABEL_WRITER)
                monitoring={"drift_alarms": drift, "quality": {"enabled": True, "label_writers": [LABEL_WRITER]}},
                git={"url": f"https://git-codecommit.us-east-1.amazonaws.com/v1/repos/{'r' * 100}"},
            ),
            project(
                2,
                monitoring={"drift_alarms": drift[:1], "retrain_on_drift": False},
                pipeline={"spot_training": True},
                # a tracking server: the form of MLflow the IAM engine's data knows (fidelity/iam's MLflow note)
                mlflow={"server": "tracking_server", "size": "Large", "weekly_maintenance_window_start": "Sun:03:00"},
            ),
            project(
                3,
                deployment={
                    "serverless": {"memory_mb": 6144, "max_concurrency": 200},
                    "api": {"auth": "api_key", "callers": ["c" + "0" * 31, "c" + "1" * 31], "waf": True},
                },
            ),
            # scored by batch transform instead of an endpoint, each run's input checked for drift (the longest feature names)
            project(4, deployment={"mode": "batch", "batch": {"instance_count": 10, "max_payload_mb": 100}}, monitoring={"drift_alarms": drift}),
        ],
        "users": [{"name": f"u{i}" + "0" * 30, "email": f"u{i}@example.com"} for i in (1, 2, 3)],
        "sandboxes": [{"user": "u1" + "0" * 30, "project": f"p{i}" + "0" * 30} for i in (1, 2, 3)]
        + [{"user": "u2" + "0" * 30, "project": "p1" + "0" * 30}]
        + [{"user": "u3" + "0" * 30, "project": f"p{i}" + "0" * 30} for i in (2, 3)],
    }


LONGEST_CONSUMER = "t" + "0" * 11  # a stage in another account serving the longest stage's models
CONSUMER_ACCOUNT = "210987654321"


def longest_consumer_config() -> dict:
    """The longest-names stage's projects served from another account: the longest stage's resource policies name its
    roles (every project's model role, the monitored ones' monitor roles, the retraining ones' drift relays)."""
    return {
        **longest_config(),
        "stage": LONGEST_CONSUMER,
        "account": CONSUMER_ACCOUNT,
        "model_registry_stage": LONGEST_STAGE,
        "users": [],
        "sandboxes": [],
    }


@pytest.fixture(scope="session")
def longest(tmp_path_factory):
    import yaml

    from tests.conftest import synth_stage

    config_dir = tmp_path_factory.mktemp("longest-config")
    (config_dir / f"{LONGEST_STAGE}.yaml").write_text(yaml.safe_dump(longest_config()))
    (config_dir / f"{LONGEST_CONSUMER}.yaml").write_text(yaml.safe_dump(longest_consumer_config()))
    return synth_stage(LONGEST_STAGE, tmp_path_factory.mktemp("cdk-longest"), config_dir=str(config_dir))


@dataclass
class PipelineRun:
    """A training pipeline of a stage, resolved and run in moto on every path; the AWS calls its tasks made."""

    label: str  # the deployment's
    deployment: Deployment
    stack: str
    config: object
    project: str
    definition: dict
    calls: list[tuple[str, str, dict]]


PUBLISHED_KEY = f"sandbox/{LONGEST_USER}/published/20261125T030000Z-0a1b2c3d/model.tar.gz"  # the longest user's, as `mlops publish` names it
SCHEDULED = {"trigger": "schedule", "detail": {}}
PUBLISHED = {"trigger": "publish", "detail": {"user": LONGEST_USER, "modelKey": PUBLISHED_KEY, "commit": "0" * 40}}


def _scenarios(config, project: str) -> list[tuple[dict | None, bool, dict]]:
    """Model registered, quality gate failed, training failed, a sandbox user's model published and registered."""
    from tests import sfn_harness

    evaluation = config.project(project).evaluation
    good, bad = (1.0, 0.0) if evaluation.higher_is_better else (0.0, 1e9)
    metric = evaluation.metric.value
    return [
        (sfn_harness.report(metric, good), False, SCHEDULED),
        (sfn_harness.report(metric, bad), False, SCHEDULED),
        (None, True, SCHEDULED),
        (sfn_harness.report(metric, good), False, PUBLISHED),
    ]


@pytest.fixture(scope="session")
def pipeline_runs(deployments, dev, prod, longest, trial) -> list[PipelineRun]:
    from tests import sfn_harness

    stages = {
        "dev stage": dev.stage.config,
        "prod stage": prod.stage.config,
        "longest names": longest.stage.config,
        "trial stage": trial.stage.config,
    }
    runs = []
    for checked in deployments:
        config = stages.get(checked.label)
        if config is None:
            continue
        deployment = checked.deployment
        for stack, template in deployment.templates.items():
            if not stack.startswith(f"{config.prefix}-{config.stage}-pipeline-"):
                continue
            machine = next(r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine")
            definition = json.loads(deployment.resolve(stack, machine["Properties"]["DefinitionString"]))
            project = stack.rsplit("pipeline-", 1)[1]
            ns = f"/{config.prefix}/{config.stage}/projects/{project}"
            data, artifacts = deployment.ssm_value(f"{ns}/data-bucket-name"), deployment.ssm_value(f"{ns}/artifacts-bucket-name")
            topic = deployment.ssm_value(f"{ns}/alert-topic-arn").rsplit(":", 1)[1]
            group = deployment.ssm_value(f"{ns}/model-package-group-name")
            recorder = sfn_harness.CallRecorder()
            for evaluation, training_fails, execution_input in _scenarios(config, project):
                with pytest.MonkeyPatch.context() as monkeypatch:
                    with sfn_harness.moto_world(
                        monkeypatch,
                        region=deployment.region,
                        account=deployment.account,
                        buckets=[data, artifacts],
                        group=group,
                        topic_name=topic,
                        artifacts_bucket=artifacts,
                        data=(data, f"{next(p for p in config.projects if p.name == project).pipeline.data_prefix}2026-11.csv"),
                        model=sfn_harness.model_uri(artifacts, project),
                        key_arn=deployment.ssm_value(f"{ns}/key-arn"),
                    ) as world:
                        if execution_input is PUBLISHED:
                            boto3.client("s3").put_object(Bucket=artifacts, Key=PUBLISHED_KEY, Body=b"archive")
                        harnessed = sfn_harness.harnessed(
                            definition, model_artifacts=sfn_harness.model_uri(artifacts, project), training_fails=training_fails
                        )
                        result = world.run(harnessed, execution_input, evaluation, during=recorder.recording(monkeypatch))
                        assert result["status"] in ("SUCCEEDED", "FAILED"), result
                        if execution_input is PUBLISHED:
                            assert result["status"] == "SUCCEEDED", result
                        if "LinkMlflowRun" in definition["States"] and "mlflowLink" in json.loads(result.get("output") or "{}"):
                            # the harness ran the link Lambda as a Pass of its payload: the Invoke request it stands for
                            function = definition["States"]["LinkMlflowRun"]["Parameters"]["FunctionName"]
                            payload = json.dumps(json.loads(result["output"])["mlflowLink"])
                            recorder.calls.append(("lambda", "Invoke", {"FunctionName": function, "Payload": payload}))
            runs.append(PipelineRun(checked.label, deployment, stack, config, project, definition, recorder.calls))
    return runs
