"""The frugal network profile (``network.mode: frugal``, config/trial.yaml): Studio on SageMaker's own internet access,
the jobs and models in no VPC, no interface endpoints, and an idle cost within its $10 goal."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import cost  # noqa: E402


@pytest.fixture(scope="module")
def templates(trial) -> dict[str, dict]:
    return trial.templates()


def _resources(templates, kind: str) -> list[dict]:
    return [r["Properties"] for t in templates.values() for r in t["Resources"].values() if r["Type"] == kind]


def test_studio_uses_sagemakers_internet_and_there_are_no_interface_endpoints(templates, trial):
    (domain,) = _resources(templates, "AWS::SageMaker::Domain")
    assert domain["AppNetworkAccessType"] == "PublicInternetOnly"
    assert [e for e in _resources(templates, "AWS::EC2::VPCEndpoint") if e.get("VpcEndpointType") == "Interface"] == []
    assert trial.stage.config.endpoint_needs == {}
    # the risk is said at every synth of such a stage (no cdk-nag or checkov rule covers a domain's network access)
    warnings = [m for s in trial.assembly.stacks for m in s.messages if str(m.level).endswith("WARNING")]
    assert any("network.mode frugal" in str(m.entry.data) and "send data out of the account" in str(m.entry.data) for m in warnings)


def test_no_job_or_model_runs_in_a_vpc_and_no_role_may_create_network_interfaces(templates):
    assert all("VpcConfig" not in m for m in _resources(templates, "AWS::SageMaker::Model"))
    definitions = [json.dumps(m["DefinitionString"]) for m in _resources(templates, "AWS::StepFunctions::StateMachine")]
    assert definitions and not any("VpcConfig" in d for d in definitions)
    assert all("EnableNetworkIsolation" in d for d in definitions if "createProcessingJob" in d)  # the processing jobs stay isolated
    grants = _resources(templates, "AWS::IAM::Policy") + [
        p for p in _resources(templates, "AWS::IAM::ManagedPolicy") if "permissions boundary" not in p.get("Description", "")
    ]  # the product roles' boundary is a ceiling, not a grant
    assert "ec2:CreateNetworkInterface" not in json.dumps(grants)


def test_the_frugal_profile_idles_within_its_goal(trial):
    prices = cost.Prices.load(cost.PRICES)
    report = cost.report(trial.outdir, prices)
    assert report.unpriced == [] and report.total == 5.91  # a dashboard, 2 keys, 3 alarms, a budget
    assert cost.goal_lines(report, cost.load_goals()) == ["idle <= $10: met ($5.91)"]


def test_the_frugal_profile_refuses_endpoints_and_model_monitor(tmp_path):
    import yaml

    from config.errors import ConfigError
    from config.loader import parse_config

    raw = yaml.safe_load((ROOT / "config" / "trial.yaml").read_text())
    assert parse_config(yaml.safe_dump(raw), source="trial.yaml").frugal
    with pytest.raises(ConfigError, match="network.mode frugal creates no VPC endpoints"):
        parse_config(yaml.safe_dump({**raw, "interface_endpoints": ["logs"]}), source="trial.yaml")
    bad_mode = {**raw, "network": {**raw["network"], "mode": "cheap"}}
    with pytest.raises(ConfigError, match="'frugal' \\(Studio on SageMaker's internet"):
        parse_config(yaml.safe_dump(bad_mode), source="trial.yaml")
