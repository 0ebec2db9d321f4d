"""dev and prod in different accounts: prod serves the package dev approved through dev's resource policies, which
admit exactly prod's roles; the IAM engine judges both sides (prod's identity policies, dev's resource policies)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from app import new_app
from config import ConfigError, load_config, load_delivery_config
from config.naming import Names, cloudformation_execution_role
from config.parameters import registry_parameters
from fidelity.cfn import Deployment
from fidelity.iam import Call, Policies, evaluate, image_pull, with_key_calls
from tests.conftest import normalize_hashes, synth_stage

ROOT = Path(__file__).resolve().parent.parent
DEV, PROD = "123456789012", "210987654321"
RUN = "0a1b2c3d"


def _config_dir(tmp: Path, **prod_changes) -> Path:
    """The shipped configs with prod in its own account (and ``prod_changes``), and the delivery pipeline's."""
    shutil.copytree(ROOT / "config", tmp, ignore=shutil.ignore_patterns("*.py", "__pycache__"), dirs_exist_ok=True)
    prod = yaml.safe_load((tmp / "prod.yaml").read_text())
    prod.update({"account": PROD, **prod_changes})
    (tmp / "prod.yaml").write_text(yaml.safe_dump(prod))
    return tmp


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    """dev (synthesized), the pins tools/resolve_model_packages.py would write from dev's parameters, prod synthesized
    with them; each as the Deployment of its own account."""
    config_dir = _config_dir(tmp_path_factory.mktemp("cross-account-config"))
    dev = synth_stage("dev", tmp_path_factory.mktemp("cdk-xdev"), config_dir=str(config_dir))
    dev_deployment = Deployment(dev.templates(), account=DEV)
    names = Names("mlops", "dev")
    pins = {
        p: {
            "model_package_arn": f"arn:aws:sagemaker:us-east-1:{DEV}:model-package/{names.model_package_group(p)}/3",
            "baseline_uri": f"s3://{dev_deployment.ssm_value(registry_parameters(names, p)['artifacts_bucket'])}/pipeline/{RUN}/baseline",
            **{key: dev_deployment.ssm_value(name) for key, name in registry_parameters(names, p).items()},
        }
        for p in ("churn", "fraud")
    }
    pins_file = config_dir / "pins.json"
    pins_file.write_text(json.dumps(pins))
    prod = synth_stage("prod", tmp_path_factory.mktemp("cdk-xprod"), config_dir=str(config_dir), model_packages_file=str(pins_file))
    return {
        "config_dir": config_dir,
        "dev": dev,
        "prod": prod,
        "pins": pins,
        "dev_deployment": dev_deployment,
        "prod_deployment": Deployment(prod.templates(), account=PROD),
    }


def _resources(templates: dict, kind: str) -> list[tuple[str, str, dict]]:
    return [(stack, lid, r) for stack, t in templates.items() for lid, r in t["Resources"].items() if r["Type"] == kind]


# -- config ------------------------------------------------------------------------------------------------------


def test_each_stage_knows_the_other_account(stages):
    prod, dev = load_config("prod", stages["config_dir"]), load_config("dev", stages["config_dir"])
    assert prod.registry_in_another_account and prod.registry_account == DEV
    assert not dev.registry_in_another_account
    (consumer,) = dev.consumers
    assert (consumer.stage, consumer.account, consumer.region) == ("prod", PROD, "us-east-1")
    assert [consumer.serving(p).name for p in ("churn", "fraud")] == ["churn", "fraud"] and consumer.serving("other") is None
    assert consumer.serving("churn") == prod.project("churn")  # the consumer's own project: its monitoring, its relays
    # the shipped configs keep one account: nothing is shared
    assert load_config("dev").consumers == () and not load_config("prod").registry_in_another_account


def test_a_registry_in_another_region_is_refused(tmp_path):
    config_dir = _config_dir(tmp_path, region="eu-west-1")
    with pytest.raises(ConfigError) as error:
        load_config("prod", config_dir)
    (problem,) = [p for p in error.value.problems if p.path == "model_registry_stage"]
    assert "us-east-1" in problem.message and "API_ContainerDefinition" in problem.message


def test_a_served_project_the_registry_does_not_have_is_refused(tmp_path):
    config_dir = _config_dir(tmp_path)
    prod = yaml.safe_load((config_dir / "prod.yaml").read_text())
    prod["projects"][1]["name"] = "spam"
    (config_dir / "prod.yaml").write_text(yaml.safe_dump(prod))
    with pytest.raises(ConfigError) as error:
        load_config("prod", config_dir)
    assert [p.path for p in error.value.problems] == ["projects[1].name"]


def test_a_stage_in_another_account_needs_the_pinned_registry_values(stages):
    from app import build_app

    with pytest.raises(ConfigError) as error:
        build_app(new_app(context={"config_dir": str(stages["config_dir"]), "stage": "prod"}))
    assert "model_packages_file" in error.value.report() and f"account {DEV}" in error.value.report()
    partial = stages["config_dir"] / "partial-pins.json"
    pin = stages["pins"]["churn"]
    partial.write_text(json.dumps({"churn": {k: pin[k] for k in ("model_package_arn", "baseline_uri")}}))
    with pytest.raises(ConfigError) as error:
        build_app(new_app(context={"config_dir": str(stages["config_dir"]), "stage": "prod", "model_packages_file": str(partial)}))
    assert {p.path for p in error.value.problems} == {"churn.artifacts_bucket", "churn.key_arn"}


def test_the_pipeline_runs_in_the_first_stages_account(stages, tmp_path):
    delivery, configs = load_delivery_config(stages["config_dir"])
    assert [c.account for c in configs] == [DEV, PROD] and delivery.account == DEV
    config_dir = _config_dir(tmp_path)
    pipeline = yaml.safe_load((config_dir / "delivery" / "pipeline.yaml").read_text())
    (config_dir / "delivery" / "pipeline.yaml").write_text(yaml.safe_dump({**pipeline, "account": "333333333333"}))
    with pytest.raises(ConfigError) as error:
        load_delivery_config(config_dir)
    assert [p.path for p in error.value.problems] == ["account"]


# -- templates ---------------------------------------------------------------------------------------------------


def _prod_role(name: str) -> str:
    return f"arn:aws:iam::{PROD}:role/{name}"


def test_devs_resource_policies_admit_exactly_prods_roles(stages):
    dev = stages["dev_deployment"]
    prod_names = Names("mlops", "prod")
    for project in ("churn", "fraud"):
        readers = [_prod_role(prod_names.model_role(project)), _prod_role(prod_names.monitor_role(project))]
        stack = f"mlops-dev-project-{project}"
        template = dev.templates[stack]["Resources"]
        shared, functions = [], []
        for resource in template.values():
            props = dev.resolve(stack, resource.get("Properties", {}))
            document = (
                props.get("PolicyDocument") or props.get("KeyPolicy") or props.get("RepositoryPolicyText") or props.get("ModelPackageGroupPolicy")
            )
            for statement in (document or {}).get("Statement", []):
                if statement.get("Principal") == {"Service": "lambda.amazonaws.com"}:  # Lambda pulls the check's image for prod
                    functions.append(statement["Condition"]["StringEquals"]["aws:SourceAccount"])
                elif PROD in json.dumps(statement):
                    shared.append((resource["Type"], statement))
        assert sorted(kind for kind, _ in shared) == [
            "AWS::ECR::Repository",
            "AWS::KMS::Key",
            "AWS::S3::BucketPolicy",
            "AWS::SageMaker::ModelPackageGroup",
        ]
        assert sorted(functions) == sorted([PROD, "${AWS::AccountId}"]) or sorted(functions) == sorted([PROD, DEV]), functions
        pullers = readers  # both monitors run the platform's check: the project's own analyzer, dev's image
        expected = {
            "AWS::SageMaker::ModelPackageGroup": [cloudformation_execution_role(PROD, "us-east-1"), *readers],
            "AWS::ECR::Repository": pullers,
            "AWS::KMS::Key": readers,
            "AWS::S3::BucketPolicy": readers,
        }
        for kind, statement in shared:
            assert statement["Principal"] == {"AWS": f"arn:aws:iam::{PROD}:root"}
            assert statement["Condition"]["ArnEquals"]["aws:PrincipalArn"] == expected[kind], kind
    buses = _resources(dev.templates, "AWS::Events::EventBusPolicy")
    assert sorted(dev.resolve(s, r["Properties"])["Statement"]["Condition"]["ArnEquals"]["aws:PrincipalArn"] for s, _, r in buses) == [
        _prod_role(prod_names.drift_relay_role("churn")),
        _prod_role(prod_names.drift_relay_role("fraud")),
    ]


def test_prod_reads_nothing_of_devs_parameters_and_relays_its_drift_alarms(stages):
    prod = stages["prod_deployment"]
    for stack, template in prod.templates.items():
        assert "/mlops/dev/" not in json.dumps(template), stack  # CloudFormation cannot read another account's parameters
    dev_bus = f"arn:aws:events:us-east-1:{DEV}:event-bus/default"
    relays = [
        (stack, r)
        for stack, _, r in _resources(prod.templates, "AWS::Events::Rule")
        if any(t["Arn"] == dev_bus for t in r["Properties"].get("Targets", []))
    ]
    assert sorted(stack for stack, _ in relays) == ["mlops-prod-endpoint-churn", "mlops-prod-endpoint-fraud"]
    for stack, rule in relays:
        project = stack.rsplit("-", 1)[1]
        prefix = rule["Properties"]["EventPattern"]["detail"]["alarmName"][0]["prefix"]
        assert prefix.startswith(Names("mlops", "dev").retraining_drift_alarm_prefix(project))  # what dev's drift rule listens to


# -- the IAM engine ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def across(stages) -> Policies:
    return Policies.across(Policies.of(stages["prod_deployment"]), Policies.of(stages["dev_deployment"]))


def _package(project: str) -> str:
    return f"arn:aws:sagemaker:us-east-1:{DEV}:model-package/mlops-dev-{project}/3"


def _calls(stages, project: str, role: str, why: str, *, analyzer: bool = False) -> list[Call]:
    """What ``role`` does with dev's registry: the model reads the artifact and pulls the image; the monitor reads the
    baseline and pulls the project analyzer (the same image)."""
    pin = stages["pins"][project]
    bucket = pin["artifacts_bucket"]
    image = f"{DEV}.dkr.ecr.us-east-1.amazonaws.com/mlops-dev-{project}:src-0123456789abcdef"
    reads = (
        [f"pipeline/{RUN}/baseline/statistics.json", f"pipeline/{RUN}/baseline/constraints.json"]
        if analyzer
        else [f"pipeline/{RUN}/model/model.tar.gz"]
    )
    calls = [Call(role, "s3:GetObject", f"arn:aws:s3:::{bucket}/{key}", why=why) for key in reads]
    return calls + [c for c in image_pull(role, image, why, own_account=DEV) if c.resource != "*"]


def test_prods_model_and_monitor_roles_read_the_approved_artifact_and_image(stages, across):
    prod_names = Names("mlops", "prod")
    calls = []
    for project in ("churn", "fraud"):
        calls += _calls(stages, project, _prod_role(prod_names.model_role(project)), f"{project} model")
        monitor = _calls(stages, project, _prod_role(prod_names.monitor_role(project)), f"{project} monitor", analyzer=True)
        calls += monitor  # both run the platform's check: the project's own analyzer, dev's image
        calls.append(
            Call(
                _prod_role(prod_names.drift_relay_role(project)),
                "events:PutEvents",
                f"arn:aws:events:us-east-1:{DEV}:event-bus/default",
                (("events:source", ["aws.cloudwatch"]), ("events:detail-type", ["CloudWatch Alarm State Change"])),
                f"{project} drift relay",
            )
        )
    calls = with_key_calls(across, calls)
    assert any(c.action == "kms:Decrypt" and DEV in c.resource for c in calls)  # dev's key, through S3
    denied = [str(r) for r in evaluate(across, calls) if not r.allowed]
    assert not denied, "\n".join(denied)


def test_prods_roles_reach_nothing_else_of_devs(stages, across):
    dev = stages["dev_deployment"]
    prod_names = Names("mlops", "prod")
    model, monitor = _prod_role(prod_names.model_role("churn")), _prod_role(prod_names.monitor_role("churn"))
    churn = stages["pins"]["churn"]["artifacts_bucket"]
    data = dev.ssm_value("/mlops/dev/projects/churn/data-bucket-name")
    capture = dev.ssm_value("/mlops/dev/projects/churn/capture-bucket-name")
    never = [
        Call(model, "s3:GetObject", f"arn:aws:s3:::{data}/train/data.csv", why="dev's training data"),
        Call(model, "s3:GetObject", f"arn:aws:s3:::{capture}/mlops-dev-churn/AllTraffic/x.jsonl", why="dev's captured traffic"),
        Call(model, "s3:GetObject", f"arn:aws:s3:::{churn}/sandbox/alice/notes.txt", why="a sandbox's objects"),
        Call(model, "s3:PutObject", f"arn:aws:s3:::{churn}/pipeline/{RUN}/model/model.tar.gz", why="overwrite the artifact"),
        Call(monitor, "s3:GetObject", f"arn:aws:s3:::{stages['pins']['fraud']['artifacts_bucket']}/pipeline/{RUN}/model/model.tar.gz", why="fraud's"),
        Call(model, "kms:Decrypt", stages["pins"]["fraud"]["key_arn"], (("kms:ViaService", "s3.us-east-1.amazonaws.com"),), "fraud's key"),
        Call(model, "kms:Decrypt", stages["pins"]["churn"]["key_arn"], why="churn's key, outside S3"),
        Call(model, "ecr:BatchGetImage", f"arn:aws:ecr:us-east-1:{DEV}:repository/mlops-dev-fraud", why="fraud's image"),
        Call(model, "ecr:PutImage", f"arn:aws:ecr:us-east-1:{DEV}:repository/mlops-dev-churn", why="push an image"),
        Call(model, "sagemaker:UpdateModelPackage", _package("churn"), why="approve a package"),
        Call(model, "sagemaker:DescribeModelPackage", _package("fraud"), why="fraud's packages"),
        Call(model, "events:PutEvents", f"arn:aws:events:us-east-1:{DEV}:event-bus/default", why="dev's event bus"),
        Call(
            _prod_role(prod_names.monitor_role("fraud")),
            "ecr:BatchGetImage",
            f"arn:aws:ecr:us-east-1:{DEV}:repository/mlops-dev-churn",
            why="fraud's monitor pulls fraud's image, not churn's",
        ),
        Call(
            _prod_role(prod_names.drift_relay_role("churn")),
            "events:PutEvents",
            f"arn:aws:events:us-east-1:{DEV}:event-bus/default",
            (("events:source", ["my.app"]), ("events:detail-type", ["CloudWatch Alarm State Change"])),
            "the relay role putting events of its own making",
        ),
    ]
    # Another role of prod, even one its own account lets do anything (modelled as prod's CloudFormation role is by
    # default: AdministratorAccess), is not admitted by dev's policies; the CloudFormation role may read the packages.
    admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    deployer, other = cloudformation_execution_role(PROD, "us-east-1"), _prod_role("mlops-prod-someone-else")
    across.identity.update({deployer: [admin], other: [admin]})
    never += [
        Call(other, "s3:GetObject", f"arn:aws:s3:::{churn}/pipeline/{RUN}/model/model.tar.gz", why="another role of prod"),
        Call(other, "sagemaker:DescribeModelPackage", _package("churn"), why="another role of prod"),
        Call(other, "ecr:BatchGetImage", f"arn:aws:ecr:us-east-1:{DEV}:repository/mlops-dev-churn", why="another role of prod"),
        Call(deployer, "sagemaker:UpdateModelPackage", _package("churn"), why="prod's deployer approving"),
        Call(deployer, "s3:GetObject", f"arn:aws:s3:::{churn}/pipeline/{RUN}/model/model.tar.gz", why="prod's deployer reading"),
    ]
    allowed = [str(r) for r in evaluate(across, never) if r.allowed]
    assert not allowed, "\n".join(allowed)
    needed = [Call(deployer, "sagemaker:DescribeModelPackage", _package(p), why="CreateModel from the package") for p in ("churn", "fraud")]
    denied = [str(r) for r in evaluate(across, needed) if not r.allowed]
    assert not denied, "\n".join(denied)


def test_the_delivery_pipeline_deploys_prod_with_prods_bootstrap_roles(stages, tmp_path):
    """CDK Pipelines' cross-account stage: prod's actions assume prod's deploy role, which the artifact bucket and its key
    admit (cdk-nag runs over the pipeline and both stages)."""
    from app import build_app

    app = new_app(
        context={"config_dir": str(stages["config_dir"]), "target": "delivery", "model_packages_file": str(stages["config_dir"] / "pins.json")},
        outdir=str(tmp_path),
    )
    stack = build_app(app)
    template = app.synth().get_stack_by_name(stack.stack_name).template
    deploy_role = f":iam::{PROD}:role/cdk-hnb659fds-deploy-role-{PROD}-us-east-1"
    (pipeline,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline"]
    prod_actions = [a for s in pipeline["Properties"]["Stages"] if s["Name"] == "Prod" for a in s["Actions"] if "ActionTypeId" in a]
    deploys = [a for a in prod_actions if a["ActionTypeId"]["Provider"] == "CloudFormation"]
    assert deploys and all(deploy_role in json.dumps(a["RoleArn"]) for a in deploys)
    for kind, document in (("AWS::S3::BucketPolicy", "PolicyDocument"), ("AWS::KMS::Key", "KeyPolicy")):
        documents = [r["Properties"][document] for r in template["Resources"].values() if r["Type"] == kind]
        assert any(deploy_role in json.dumps(d) for d in documents), kind
    # the prod stage in the pipeline is the one the tests above judged
    in_pipeline = {s.stack_name: s.template for s in stack.stages[1].synth().stacks}
    standalone = stages["prod"].templates()
    assert sorted(in_pipeline) == sorted(standalone)
    for name, template in standalone.items():
        assert normalize_hashes(in_pipeline[name]) == normalize_hashes(template), name


def test_prods_templates_lint_clean(stages):
    """cfn-lint over the stacks a registry in another account changes in prod (the relay rule and its role, the named
    roles, the imports of dev's bucket, key and repository); dev's side is in the fidelity checks' longest-names stage."""
    from tests.test_cfn_lint import lint

    paths = [p for p in sorted(stages["prod"].outdir.glob("*.template.json")) if "Endpoint" in p.name or "Dashboard" in p.name]
    assert len(paths) == 4  # two endpoints, two dashboards
    findings = [f"{p.name}: {m.rule.id} {m.message}" for p in paths for m in lint(p.read_text(), "us-east-1") if m.rule.id[0] in "EW"]
    assert findings == []


def test_a_batch_project_served_in_another_account_relays_its_drift_to_the_registry(tmp_path_factory, stages):
    """prod scores fraud in batch from dev's registry: its checks' drift alarms are relayed to dev's event bus as an
    endpoint's are, and dev's bus policy admits exactly that project's relay role."""
    prod_raw = yaml.safe_load((stages["config_dir"] / "prod.yaml").read_text())
    fraud = next(p for p in prod_raw["projects"] if p["name"] == "fraud")
    fraud["deployment"] = {"mode": "batch"}
    config_dir = _config_dir(tmp_path_factory.mktemp("cross-account-batch"), projects=prod_raw["projects"])
    pins_file = config_dir / "pins.json"
    pins_file.write_text(json.dumps(stages["pins"]))
    prod = synth_stage("prod", tmp_path_factory.mktemp("cdk-xprod-batch"), config_dir=str(config_dir), model_packages_file=str(pins_file))
    templates = prod.templates()
    assert "mlops-prod-batch-fraud" in templates and "mlops-prod-endpoint-fraud" not in templates
    dev_bus = f"arn:aws:events:us-east-1:{DEV}:event-bus/default"
    (rule,) = [
        r
        for _, _, r in _resources({"b": templates["mlops-prod-batch-fraud"]}, "AWS::Events::Rule")
        if any(t["Arn"] == dev_bus for t in r["Properties"].get("Targets", []))
    ]
    prefix = rule["Properties"]["EventPattern"]["detail"]["alarmName"][0]["prefix"]
    assert prefix.startswith(Names("mlops", "dev").retraining_drift_alarm_prefix("fraud"))
    (alarm,) = [r["Properties"] for _, _, r in _resources({"b": templates["mlops-prod-batch-fraud"]}, "AWS::CloudWatch::Alarm")]
    assert alarm["AlarmName"].startswith(prefix)  # the relay carries the check's alarm
    dev = synth_stage("dev", tmp_path_factory.mktemp("cdk-xdev-batch"), config_dir=str(config_dir))
    (policy,) = [r for _, _, r in _resources({"p": dev.templates()["mlops-dev-pipeline-fraud"]}, "AWS::Events::EventBusPolicy")]
    assert json.dumps(policy).count(f"arn:aws:iam::{PROD}:role/{Names('mlops', 'prod').drift_relay_role('fraud')}") == 1
