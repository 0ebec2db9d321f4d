"""A stage that still runs Model Monitor (its account already uses it) moves to the project's own check with one deploy.

prod as shipped (the project engine) is compared with the same prod whose churn endpoint keeps a Model Monitor schedule
(``engine: model_monitor``, declared in ``account_already_uses``): what CloudFormation would update in place must keep
its logical id, or a named resource is created again before the old one is deleted (a role's name clashes; an alarm of
the same name is deleted with the old resource)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from fidelity.cfn import Deployment
from fidelity.limits import RULES
from tests.conftest import ROOT, synth_stage

ENDPOINT = "mlops-prod-endpoint-churn"


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    config_dir = tmp_path_factory.mktemp("legacy-config")
    for path in (ROOT / "config").glob("*.yaml"):
        shutil.copy(path, config_dir / path.name)
    raw = yaml.safe_load((config_dir / "prod.yaml").read_text())
    raw["account_already_uses"] = ["model_monitor"]
    raw["projects"][0]["monitoring"]["engine"] = "model_monitor"
    (config_dir / "prod.yaml").write_text(yaml.safe_dump(raw))
    return synth_stage("prod", tmp_path_factory.mktemp("cdk-legacy"), config_dir=str(config_dir))


def _named(template: dict, kind: str, name_property: str) -> dict[str, object]:
    return {r["Properties"][name_property]: lid for lid, r in template["Resources"].items() if r["Type"] == kind and name_property in r["Properties"]}


def test_the_switch_keeps_the_alarms_the_role_and_their_ids(prod, legacy):
    before, after = legacy.templates()[ENDPOINT], prod.templates()[ENDPOINT]
    assert _named(before, "AWS::SageMaker::MonitoringSchedule", "MonitoringScheduleName")  # it was a Model Monitor stage
    assert not _named(after, "AWS::SageMaker::MonitoringSchedule", "MonitoringScheduleName")
    alarms_before, alarms_after = (_named(t, "AWS::CloudWatch::Alarm", "AlarmName") for t in (before, after))
    drift = {name: lid for name, lid in alarms_before.items() if "drift" in name or "monitor-failed" in name}
    assert len(drift) == 3  # two drift alarms (their names are what the retrain rule matches) and the failed-run alarm
    assert {name: alarms_after.get(name) for name in drift} == drift  # same names, same logical ids: updated in place
    assert _named(before, "AWS::IAM::Role", "RoleName")["mlops-prod-churn-dq"] == _named(after, "AWS::IAM::Role", "RoleName")["mlops-prod-churn-dq"]
    parameters = before.get("Parameters", {}).keys() & {"BaselineUri", "ModelPackageArn"}
    assert parameters == after.get("Parameters", {}).keys() & {"BaselineUri", "ModelPackageArn"}  # the registered baseline, as given


def test_model_monitor_passes_the_closed_features_rule_only_where_declared(legacy):
    (rule,) = [r for r in RULES if r.id == "closed-features"]
    templates = legacy.templates()
    assert rule.check(Deployment(templates), [ENDPOINT])  # an undeclared account: refused
    assert rule.check(Deployment(templates, already_uses=frozenset({"model_monitor"})), [ENDPOINT]) == []


def test_the_monitoring_page_says_how_to_switch():
    text = (Path(ROOT) / "docs" / "monitoring.md").read_text()
    assert "Moving off Model Monitor" in text and "account_already_uses" in text
