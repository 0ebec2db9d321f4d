"""The reachability check (``fidelity/reachability.py``): every call made from inside each stage's VPC has a way out.

It runs over the stages the suite already synthesizes (dev, prod, the longest names) and, through each stage's actors,
the self-service products (a self-served user's sandbox on any project)."""

from __future__ import annotations

import dataclasses

import pytest
from mlops_cli.work import PERMISSIONS

from config.endpoints import ENDPOINTS
from fidelity.reachability import Reach, StageNetwork, stage_reaches, unreachable
from tests.fidelity.conftest import own_stacks

STAGES = ("dev stage", "prod stage", "longest names", "trial stage")
# The interface endpoints dev listed by hand until the endpoints were derived from its features (at 911c119).
HAND_LISTED = ("sagemaker.api", "sagemaker.runtime", "sts", "logs", "ecr.api", "ecr.dkr", "kms", "monitoring", "sagemaker.experiments")


@pytest.fixture(scope="module")
def stages(deployments, dev, prod, longest, trial):
    """label -> (config, deployment, the stage's own stacks)."""
    configs = {
        "dev stage": dev.stage.config,
        "prod stage": prod.stage.config,
        "longest names": longest.stage.config,
        "trial stage": trial.stage.config,
    }
    return {c.label: (configs[c.label], c.deployment, own_stacks(c, dev, prod)) for c in deployments if c.label in STAGES}


def _reaches(stage) -> tuple[list[Reach], StageNetwork]:
    config, deployment, stacks = stage
    return stage_reaches(config, deployment, stacks, list(PERMISSIONS)), StageNetwork.of(deployment, config, stacks)


@pytest.mark.parametrize("label", STAGES)
def test_every_call_from_inside_the_vpc_has_a_way_out(stages, label):
    reaches, network = _reaches(stages[label])
    assert unreachable(reaches, network) == []
    actors = {r.actor.split(" (")[0].split(": ")[-1] for r in reaches}
    assert "a self-served user's Studio apps" in actors  # the catalog's products are covered
    # prod trains nothing; the trial stage's jobs run in no VPC (the frugal network)
    assert any(r.actor.endswith("job Train") for r in reaches) == (label not in ("prod stage", "trial stage"))


def test_the_endpoints_are_those_the_features_need_and_no_more(stages):
    """Each interface endpoint a stage creates is used by some call of an actor (or listed as an extra in the config)."""
    for label, stage in stages.items():
        config = stage[0]
        reaches, network = _reaches(stage)
        used = {network.way_out(r.host) for r in reaches}
        unused = sorted(e for e in network.interface if f"the {e} interface endpoint" not in used and e not in config.interface_endpoints)
        assert unused == [], label
        assert set(network.interface) == set(config.endpoint_needs), label


def test_the_hand_listed_endpoints_left_the_cli_mlflow_and_projects_unreachable(stages):
    """dev's endpoints as they were listed by hand: the check names each unreachable call and the endpoint to add."""
    config, deployment, stacks = stages["dev stage"]
    reaches, network = _reaches(stages["dev stage"])
    failures = unreachable(reaches, dataclasses.replace(network, interface=frozenset(HAND_LISTED)))
    text = "\n".join(failures)
    for call, endpoint in (
        ("ssm:GetParameter", "ssm"),
        ("MLflow REST API (mlflow-app)", "sagemaker.mlflow"),
        ("servicecatalog:SearchProducts", "servicecatalog"),
    ):
        assert "user alice's Studio apps" in text and f"{call} reaches" in text and f"add the interface endpoint {endpoint} " in text, call
    assert f"({ENDPOINTS['sagemaker.mlflow'].resolved('us-east-1')})" in text  # aws.sagemaker.us-east-1.mlflow
    # the training jobs log to the MLflow app: not through the tracking servers' endpoint
    assert any(": job Train: MLflow REST API (mlflow-app) reaches mlflow.sagemaker.us-east-1.app.aws" in f for f in failures)


def test_the_mlops_command_needs_no_lambda_or_step_functions_endpoint(stages):
    """Runs and publications are uploads, runs are followed through their records in S3: no stage's VPC needs Lambda's or
    Step Functions' endpoint for the command (the hand-listed network had both, $14.60 a month in one zone)."""
    for label in STAGES:
        config, _, _ = stages[label]
        reaches, network = _reaches(stages[label])
        assert not {"lambda", "states"} & set(config.endpoint_needs), label
        assert unreachable(reaches, dataclasses.replace(network, interface=network.interface - {"lambda", "states"})) == [], label


def test_a_codecommit_repository_is_cloned_through_its_endpoint(stages):
    """The longest-names stage's account already uses CodeCommit (closed to new customers; dev names no repository): its
    first project's users clone it through git-codecommit, and without that endpoint the check names it."""
    reaches, network = _reaches(stages["longest names"])
    clones = [r for r in reaches if r.call.startswith("git clone/push https://git-codecommit.")]
    assert clones and unreachable(clones, network) == []
    assert network.egress  # its NAT gateway (network.egress: nat) would carry them too: judged without it
    failures = unreachable(clones, dataclasses.replace(network, interface=network.interface - {"git-codecommit"}, egress=False))
    assert len(failures) == len(clones) and all("add the interface endpoint git-codecommit " in f for f in failures)


@pytest.mark.parametrize(("label", "missing"), [("prod stage", "monitoring"), ("dev stage", "sagemaker.runtime"), ("dev stage", "ssm")])
def test_a_missing_endpoint_names_the_actor_the_call_and_the_endpoint(stages, label, missing):
    reaches, network = _reaches(stages[label])  # prod's drift checks may run as jobs; dev's churn runs its check in Lambda
    failures = unreachable(reaches, dataclasses.replace(network, interface=network.interface - {missing}))
    assert failures and all(f"add the interface endpoint {missing} " in f for f in failures)


def test_a_host_outside_aws_is_reached_only_with_egress(stages):
    reaches, network = _reaches(stages["dev stage"])
    github = Reach("user alice's Studio apps", "git clone/push https://github.com/example-org/fraud-models.git", "github.com")
    assert unreachable([github], network) == [
        "user alice's Studio apps: git clone/push https://github.com/example-org/fraud-models.git reaches github.com: "
        "outside AWS: it needs egress (network.egress)"
    ]
    assert unreachable([github], dataclasses.replace(network, egress=True)) == []


def test_a_function_in_the_vpc_is_never_passed_unmodelled(stages):
    _, network = _reaches(stages["dev stage"])
    function = Reach("mlops-dev-x: function F", "a Lambda function in the VPC", "*")
    assert unreachable([function], dataclasses.replace(network, egress=True)) != []


def test_without_the_s3_gateway_the_jobs_data_is_unreachable(stages):
    reaches, network = _reaches(stages["dev stage"])
    failures = unreachable(reaches, dataclasses.replace(network, gateways=frozenset()))
    assert any(": job Preprocess: S3 inputs and outputs" in f for f in failures)


def test_a_route_out_reaches_a_git_provider_only_through_a_security_group_that_lets_https_out():
    """network.egress existing declares that the VPC routes out; Studio's traffic still leaves only if its apps' groups let
    HTTPS out (the config used to accept such a stage while its groups sent HTTPS to the endpoints and S3 only)."""
    import json

    import yaml

    from config.loader import parse_config
    from fidelity.cfn import Deployment
    from tests.stage_configs import DEV, existing_vpc

    raw = json.loads(json.dumps(DEV))
    raw["network"] = existing_vpc(egress="existing")
    config = parse_config(yaml.safe_dump(raw), source="dev.yaml")
    assert config.studio_https_out
    github = Reach("user alice's Studio apps", "git clone/push https://github.com/example-org/churn-models.git", "github.com")

    def network(*egress: dict, studio: bool = True) -> StageNetwork:
        """A stage with one security group; Studio's apps run in it when ``studio`` (the domain's default user settings)."""
        group = {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "Studio apps", "SecurityGroupEgress": list(egress)}}
        resources = {"Group": group}
        if studio:
            settings = {"ExecutionRole": "arn:aws:iam::123456789012:role/x", "SecurityGroups": [{"Fn::GetAtt": ["Group", "GroupId"]}]}
            resources["Domain"] = {"Type": "AWS::SageMaker::Domain", "Properties": {"DefaultUserSettings": settings}}
        return StageNetwork.of(Deployment({"env": {"Resources": resources}}), config, ["env"])

    to_endpoints = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "DestinationSecurityGroupId": "sg-0fedcba9876543210"}
    closed = network(to_endpoints)
    assert unreachable([github], closed) == [
        "user alice's Studio apps: git clone/push https://github.com/example-org/churn-models.git reaches github.com: outside AWS: it needs "
        "egress (network.egress)"
    ]
    assert unreachable([github], network(to_endpoints, {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"})) == []
    assert unreachable([github], network({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0"})) != []  # not HTTPS
    anywhere = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"}
    assert unreachable([github], network(anywhere, studio=False)) != []  # a job's or a model's group is not Studio's way out
