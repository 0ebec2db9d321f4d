"""config/endpoints.py: which interface endpoint each feature of a stage needs, and which endpoint answers a host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from config.endpoints import ENDPOINTS, endpoint_for_host, is_s3_host, needed
from config.loader import parse_config

ROOT = Path(__file__).resolve().parent.parent
DEV = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())
CLI = "the mlops CLI of sandboxes (alice/churn, bob/fraud, self-served)"


def _config(change=lambda raw: None):
    raw = json.loads(json.dumps(DEV))
    change(raw)
    return parse_config(yaml.safe_dump(raw), source="test.yaml")


def test_dev_needs_each_endpoint_for_exactly_these_reasons_in_this_order():
    assert needed(_config()) == {
        "sagemaker.api": ["Studio (VPC-only)", CLI],
        "sagemaker.runtime": ["Studio (VPC-only)"],
        "sts": ["Studio (VPC-only)"],
        "ssm": [CLI],
        "servicecatalog": ["Studio's Projects (the platform's project template)"],
        "sagemaker.mlflow": ["project churn's MLflow app", "project fraud's MLflow app", "a self-served project's MLflow app"],
    }


def test_a_check_that_runs_in_lambda_only_or_no_check_needs_no_monitoring_endpoint():
    from tests.stage_configs import REALTIME_CHURN

    realtime = lambda raw: raw["projects"][0].update(json.loads(json.dumps(REALTIME_CHURN)))  # noqa: E731
    assert needed(_config(realtime))["monitoring"] == ["project churn's drift check job (its metrics)"]  # runner auto
    lambda_only = _config(lambda raw: (realtime(raw), raw["projects"][0]["monitoring"].update(runner="lambda")))
    assert "monitoring" not in needed(lambda_only)
    unmonitored = _config(
        lambda raw: (realtime(raw), raw["projects"][0]["monitoring"].update(enabled=False, drift_alarms=[], quality={"enabled": False}))
    )
    assert "monitoring" not in needed(unmonitored)
    # dev scores churn in batch, its check in Lambda only (monitoring.runner: lambda): no monitoring endpoint
    assert "monitoring" not in needed(_config())


def test_a_stage_that_does_not_train_reaches_no_mlflow_and_the_frugal_network_needs_nothing():
    serving = _config(lambda raw: raw.update(model_registry_stage="prod"))
    assert not {"sagemaker.mlflow", "sagemaker.experiments"} & set(needed(serving))
    frugal = _config(lambda raw: raw.update(network={"mode": "frugal", "availability_zones": ["us-east-1a"], "s3_prefix_list_id": "pl-63a5400a"}))
    assert needed(frugal) == {}


@pytest.mark.parametrize(
    ("name", "service_name", "prefix", "host"),
    [
        ("sts", "com.amazonaws.eu-west-1.sts", "sts", "sts.eu-west-1.amazonaws.com"),
        ("sagemaker.api", "com.amazonaws.eu-west-1.sagemaker.api", "sagemaker", "api.sagemaker.eu-west-1.amazonaws.com"),
        ("monitoring", "com.amazonaws.eu-west-1.monitoring", "cloudwatch", "monitoring.eu-west-1.amazonaws.com"),
        ("sagemaker.mlflow", "aws.sagemaker.eu-west-1.mlflow", "sagemaker", "mlflow.sagemaker.eu-west-1.app.aws"),
        ("sagemaker.experiments", "aws.sagemaker.eu-west-1.experiments", "sagemaker-mlflow", "eu-west-1.experiments.sagemaker.aws"),
        ("git-codecommit", "com.amazonaws.eu-west-1.git-codecommit", "codecommit", "git-codecommit.eu-west-1.amazonaws.com"),
    ],
)
def test_each_endpoint_has_its_service_name_iam_prefix_and_host(name, service_name, prefix, host):
    service = ENDPOINTS[name]
    assert (service.resolved("eu-west-1"), service.iam_prefix) == (service_name, prefix)
    assert service.answers(host, "eu-west-1") and not service.answers(host, "us-east-1")
    assert endpoint_for_host(host, "eu-west-1") == name


def test_hosts_no_endpoint_answers():
    assert endpoint_for_host("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "eu-west-1") == "ecr.dkr"  # a registry's name
    assert endpoint_for_host("github.com", "eu-west-1") is None
    assert endpoint_for_host("*", "eu-west-1") is None
    assert endpoint_for_host("sts.amazonaws.com", "eu-west-1") is None  # the global name: not the endpoint's private DNS


@pytest.mark.parametrize(
    ("host", "region", "served"),
    [
        ("s3.eu-west-1.amazonaws.com", "eu-west-1", True),
        ("bucket.s3.eu-west-1.amazonaws.com", "eu-west-1", True),
        ("s3.dualstack.eu-west-1.amazonaws.com", "eu-west-1", True),
        ("s3.amazonaws.com", "us-east-1", True),  # us-east-1's legacy global name is in the Region
        ("s3.amazonaws.com", "eu-west-1", False),
        ("s3.us-east-1.amazonaws.com", "eu-west-1", False),  # another Region's S3: not through this gateway
        ("nots3.eu-west-1.amazonaws.com", "eu-west-1", False),
    ],
)
def test_the_s3_gateway_serves_its_own_regions_s3_only(host, region, served):
    assert is_s3_host(host, region) is served
