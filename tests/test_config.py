"""The configuration: the shipped files load, and every kind of bad value is reported with its path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from config import ConfigError, available_stages, load_config
from config.loader import parse_config
from config.schema import MonitoringConfig
from tests.stage_configs import dev_with_realtime_churn, existing_vpc

ROOT = Path(__file__).resolve().parent.parent
VALID = dev_with_realtime_churn()  # churn in real time, monitored (tests/stage_configs.py)


def problems_for(mutate) -> dict[str, str]:
    raw = json.loads(json.dumps(VALID))
    mutate(raw)
    with pytest.raises(ConfigError) as info:
        parse_config(yaml.safe_dump(raw), source="test.yaml")
    return {p.path: p.render() for p in info.value.problems}


def test_shipped_stages_load():
    assert available_stages() == ["dev", "prod", "trial"]
    assert load_config("trial").frugal  # the frugal network profile
    dev, prod = load_config("dev"), load_config("prod")
    assert [p.name for p in dev.projects] == ["churn", "fraud"]
    assert dev.termination_protection is False and prod.termination_protection is True
    assert dev.project("churn").evaluation.higher_is_better
    assert dev.project("fraud").retrain_schedule_enabled is False


def test_hyperparameters_reach_sagemaker_as_strings():
    pipeline = load_config("dev").project("churn").pipeline
    assert pipeline.hyperparameter_strings() == {"model_type": "gradient_boosting", "max_iter": "200"}


def test_defaults_are_the_documented_ones():
    project = load_config("dev").project("fraud")
    assert project.instance_types.training == "ml.m5.large"
    assert project.retrain_schedule == "cron(0 3 1 * ? *)"
    monitoring = project.monitoring  # fraud sets none of it
    assert (monitoring.enabled, monitoring.schedule_expression, monitoring.period_hours, monitoring.instance_type) == (
        True,
        "cron(0 * ? * * *)",
        1,
        "ml.m5.large",
    )
    assert (monitoring.max_runtime_minutes, monitoring.drift_alarms, monitoring.retrain_on_drift) == (30, [], True)


@pytest.mark.parametrize(
    ("mutate", "path", "expected"),
    [
        (lambda c: c["projects"][0].update(name="Churn_Model"), "projects[0].name", "lowercase letters, digits and single hyphens"),
        (lambda c: c["projects"][0].update(name="ab"), "projects[0].name", "3-32 characters"),
        (lambda c: c["projects"][0].update(name="a--b"), "projects[0].name", "single hyphens"),
        (
            lambda c: c["projects"][0]["instance_types"].update(training="ml.t2.medium"),
            "projects[0].instance_types.training",
            "not an instance type of SageMaker training jobs",
        ),
        (
            lambda c: c["projects"][0]["instance_types"].update(endpoint="ml.t2.48xlarge"),
            "projects[0].instance_types.endpoint",
            "not an instance type of SageMaker real-time endpoints",
        ),
        (
            lambda c: c["projects"][0]["instance_types"].update(processing="ml.t3.medium"),
            "projects[0].instance_types.processing",
            "not an instance type of SageMaker batch transform",
        ),
        (
            lambda c: c["projects"][0]["instance_types"].update(endpoint="ml.zz9.large"),
            "projects[0].instance_types.endpoint",
            "not an instance type of SageMaker real-time endpoints",
        ),
        (lambda c: c["projects"][0]["instance_types"].update(processing="m5.large"), "projects[0].instance_types.processing", "ml.m5.large"),
        # the range docs/configuration.md states (1-100): SageMaker's InitialSamplingPercentage is 0-100, and 0 would capture nothing
        (
            lambda c: c["projects"][0]["deployment"].update(data_capture_percent=101),
            "projects[0].deployment.data_capture_percent",
            "101: Input should be less than or equal to 100",
        ),
        (
            lambda c: c["projects"][0]["deployment"].update(data_capture_percent=0),
            "projects[0].deployment.data_capture_percent",
            "0: Input should be greater than or equal to 1",
        ),
        (
            lambda c: c["projects"][1]["deployment"].update(data_capture_percent=50),
            "projects[1].deployment",
            "data_capture_percent apply to instance-backed endpoints only",
        ),
        (
            lambda c: c["projects"][1].update(monitoring={"drift_alarms": [{"feature": "amount"}]}),
            "projects[1]",
            "a serverless endpoint has no data capture",
        ),
        (lambda c: c["projects"][0]["instance_types"].update(endpoint="ml.inf1.xlarge"), "projects[0]", "Inf1 endpoints get no canary deployment"),
        (
            lambda c: c.update(
                projects=c["projects"] + [{**c["projects"][1], "name": f"extra{i}"} for i in range(8)],
                sandboxes=[{"user": "alice", "project": p} for p in ["churn", "fraud", *[f"extra{i}" for i in range(5)]]],
            ),
            "sandboxes",
            "at most 5 per user",
        ),
        (lambda c: c["projects"][0]["evaluation"].update(threshold=1.5), "projects[0].evaluation.threshold", "allowed 0.0 to 1.0"),
        (lambda c: c["projects"][0]["evaluation"].update(metric="rmse", threshold=-1), "projects[0].evaluation.threshold", "allowed 0.0 to inf"),
        (lambda c: c["projects"][0]["evaluation"].update(metric="logloss"), "projects[0].evaluation.metric", "'auc', 'accuracy'"),
        (lambda c: c["projects"][0].update(alert_emails=["not-an-email"]), "projects[0].alert_emails[0]", "not a valid email"),
        (lambda c: c["projects"][0].update(alert_emails=[]), "projects[0].alert_emails", "at least 1"),
        (lambda c: c["users"][0].update(email="alice(at)example.com"), "users[0].email", "not a valid email"),
        (lambda c: c["projects"][0].update(retrain_schedule="cron(0 3 1 * *)"), "projects[0].retrain_schedule", "6 fields"),
        (lambda c: c["projects"][0].update(retrain_schedule="cron(0 3 1 * 1 *)"), "projects[0].retrain_schedule", "must be '?'"),
        (lambda c: c["projects"][0].update(retrain_schedule="monthly"), "projects[0].retrain_schedule", "EventBridge schedule"),
        (lambda c: c["sandboxes"][0].update(user="carol"), "sandboxes[0].user", "no such user; configured users: alice, bob"),
        (lambda c: c["sandboxes"][0].update(project="nope"), "sandboxes[0].project", "no such project; configured projects: churn, fraud"),
        (lambda c: c["sandboxes"].append(dict(c["sandboxes"][0])), "sandboxes[2]", "duplicate sandbox"),
        (lambda c: c["projects"][1].update(name="churn"), "projects[1].name", "duplicate name"),
        (lambda c: c["users"][1].update(name="alice"), "users[1].name", "duplicate name"),
        (lambda c: c.update(colour="blue"), "colour", "unknown key; allowed keys here: account"),
        (
            lambda c: c["projects"][0]["evaluation"].update(direction="up"),
            "projects[0].evaluation.direction",
            "unknown key; allowed keys here: metric, threshold",
        ),
        (
            lambda c: c["network"].update(subnets=["x"]),
            "network.subnets",
            "unknown key; allowed keys here: availability_zones, cidr, egress, endpoint_azs, mode",
        ),
        (lambda c: c.update(account=123456789012), "account", "quote the value"),
        (lambda c: c.update(account="12345"), "account", "12-digit"),
        (lambda c: c.update(region="moon-1"), "region", "AWS region name"),
        (lambda c: c["network"].update(availability_zones=["eu-west-1a"]), "network.availability_zones[0]", "not a zone of region 'us-east-1'"),
        (lambda c: c["network"].update(cidr="10.0.0.0/8"), "network.cidr", "/16 to /24"),
        (lambda c: c["network"].update(mode="shared"), "network.mode", "'new' (create a VPC), 'existing' (use vpc_id and subnet_ids) or 'frugal'"),
        (lambda c: c.update(interface_endpoints=["sts", "s3-outposts"]), "interface_endpoints", "unknown service"),
        (lambda c: c.update(interface_endpoints=["logs", "logs"]), "interface_endpoints", "more than once"),
        (lambda c: c["network"].update(endpoint_azs=3), "network", "endpoint_azs 3: more than the 2 availability_zones"),
        (lambda c: c["network"].update(endpoint_azs=0), "network.endpoint_azs", "greater than or equal to 1"),
        (lambda c: c["network"].update(egress="internet"), "network.egress", "'none' or 'nat'"),
        (lambda c: c.update(idle_shutdown_minutes=5), "idle_shutdown_minutes", "greater than or equal to 15"),
        (lambda c: c.pop("region"), "region", "required but missing"),
        (lambda c: c.update(self_service_role_arns=["admin"]), "self_service_role_arns[0]", "should match pattern"),
        (lambda c: c["projects"][0]["pipeline"].update(image_tag="has space"), "projects[0].pipeline.image_tag", "should match pattern"),
        (lambda c: c["projects"][0]["pipeline"].update(data_prefix="incoming"), "projects[0].pipeline.data_prefix", "should match pattern"),
        (
            lambda c: c["projects"][0].update(git={"url": "https://alice:ghp_secret@github.com/org/repo.git"}),
            "projects[0].git.url",
            "must not carry credentials",
        ),
        (lambda c: c["projects"][0].update(git={"url": "git@github.com:org/repo.git"}), "projects[0].git.url", "must not carry credentials"),
        (lambda c: c["projects"][0].update(git={"url": "http://github.com/org/repo"}), "projects[0].git.url", "should match pattern"),
        (
            lambda c: c["projects"][0]["pipeline"].update(approval_status="Rejected"),
            "projects[0].pipeline.approval_status",
            "'PendingManualApproval' or 'Approved'",
        ),
        (
            lambda c: c["projects"][0]["pipeline"].update(training_max_runtime_minutes=2),
            "projects[0].pipeline.training_max_runtime_minutes",
            "greater than or equal to 5",
        ),
        (
            lambda c: c["projects"][0]["pipeline"].update(spot=True),
            "projects[0].pipeline.spot",
            "unknown key; allowed keys here: approval_status, data_prefix",
        ),
        (
            lambda c: c["projects"][0]["monitoring"].update(schedule="every hour"),
            "projects[0].monitoring.schedule",
            "'hourly', 'daily' or a Model Monitor cron",
        ),
        (lambda c: c["projects"][0]["monitoring"].update(schedule="cron(0 25 ? * * *)"), "projects[0].monitoring.schedule", "H an hour (0-23)"),
        (lambda c: c["projects"][0]["monitoring"].update(schedule="cron(30 * ? * * *)"), "projects[0].monitoring.schedule", "cron(0 H ? * * *)"),
        (
            lambda c: c["projects"][0]["monitoring"].update(instance_type="ml.t2.medium"),
            "projects[0].monitoring.instance_type",
            "not an instance type of SageMaker processing jobs",
        ),
        (
            lambda c: c["projects"][0]["monitoring"].update(max_runtime_minutes=61),
            "projects[0].monitoring.max_runtime_minutes",
            "less than or equal to 60",
        ),
        (
            lambda c: c["projects"][0]["monitoring"].update(instance_count=101),
            "projects[0].monitoring.instance_count",
            "less than or equal to 100",
        ),
        (
            lambda c: c["projects"][0]["monitoring"]["drift_alarms"][0].update(threshold=0),
            "projects[0].monitoring.drift_alarms[0].threshold",
            "greater than 0",
        ),
        (
            lambda c: c["projects"][0]["monitoring"]["drift_alarms"][0].update(feature="mean radius"),
            "projects[0].monitoring.drift_alarms[0].feature",
            "should match pattern",
        ),
        (
            lambda c: c["projects"][0]["monitoring"]["drift_alarms"].append({"feature": "mean_radius"}),
            "projects[0].monitoring.drift_alarms",
            "more than once",
        ),
        (
            lambda c: c["projects"][0]["monitoring"].update(drift_alarms=[]),
            "projects[0].monitoring.drift_alarms",
            "must name at least one feature to watch",
        ),
        (
            lambda c: c["projects"][0].pop("monitoring"),
            "projects[0].monitoring.drift_alarms",
            "an instance-backed endpoint and batch scoring are monitored by default",
        ),
        (
            lambda c: (
                c.update(region="ap-south-2", account_already_uses=["model_monitor"]),
                c["projects"][0].setdefault("monitoring", {}).update(engine="model_monitor", analyzer="model_monitor", quality={"enabled": False}),
            ),
            "region",
            "Model Monitor's analyzer image",
        ),
        (
            lambda c: c["projects"][1].update(git={"url": "https://github.com/example-org/fraud-models.git"}),
            "projects[1].git.url",
            "is outside AWS, and the stage's VPC has no route out, so Studio could never reach it: give the new VPC a NAT "
            "gateway (network.egress: nat, about $36.50 a month idle: make cost), run the stage in an existing VPC whose subnets "
            "route out (network.mode: existing, network.egress: existing), remove git, or, in an account that already uses "
            "CodeCommit (closed to new customers), name a CodeCommit repository (reached through the git-codecommit endpoint) "
            "and declare account_already_uses: [codecommit]",
        ),
        (lambda c: c["projects"][0].update(mlflow={"server": "app", "size": "Small"}), "projects[0].mlflow", "only a tracking_server has a size"),
    ],
)
def test_each_bad_value_is_named_with_its_path_value_and_rule(mutate, path, expected):
    problems = problems_for(mutate)
    assert path in problems, problems
    assert expected in problems[path]


def test_monitoring_needs_no_alarms_where_nothing_is_monitored():
    for mutate in (
        lambda c: c["projects"][0].update(monitoring={"enabled": False}),
        lambda c: c["projects"][0]["deployment"].update(enabled=False),
        lambda c: c["projects"][0].update(deployment={"serverless": {"memory_mb": 2048}}),
    ):
        raw = json.loads(json.dumps(VALID))
        mutate(raw)
        raw["projects"][0].get("monitoring", {}).pop("drift_alarms", None)
        raw["projects"][0].get("monitoring", {}).pop("quality", None)
        assert not parse_config(yaml.safe_dump(raw), source="test.yaml").project("churn").monitors_endpoint


def _with_quality(**quality) -> dict:
    raw = json.loads(json.dumps(VALID))
    raw["projects"][0]["monitoring"]["quality"] = {"enabled": True, **quality}
    return raw


def test_model_quality_is_held_to_the_gate_or_its_own_threshold_over_enough_labels():
    churn = parse_config(yaml.safe_dump(_with_quality()), source="test.yaml").project("churn")
    assert churn.monitors_quality and churn.quality_threshold == churn.evaluation.threshold
    q = churn.monitoring.quality
    assert (q.label_delay_hours, q.min_labels, q.label_writers) == (24, 100, [])
    own = parse_config(yaml.safe_dump(_with_quality(threshold=0.8)), source="test.yaml").project("churn")
    assert own.quality_threshold == 0.8
    off = json.loads(json.dumps(VALID))
    off["projects"][0]["monitoring"].pop("quality", None)
    assert not parse_config(yaml.safe_dump(off), source="test.yaml").project("churn").monitors_quality


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.update(deployment={"serverless": {"memory_mb": 2048}}), "needs an instance-backed endpoint"),
        (lambda p: p["monitoring"].update(enabled=False), "needs an instance-backed endpoint"),
        (lambda p: p["evaluation"].update(metric="rmse", threshold=0.3), "regression metric"),
        (lambda p: p["monitoring"]["quality"].update(threshold=1.5), "auc lies between 0.0 and 1.0"),
        (lambda p: p["monitoring"]["quality"].update(label_delay_hours=2161), "less than or equal to 2160"),
        (lambda p: p["monitoring"]["quality"].update(min_labels=0), "greater than or equal to 1"),
        (lambda p: p["monitoring"]["quality"].update(label_writers=["app-role"]), "String should match pattern"),
        (lambda p: p["monitoring"]["quality"].update(label_delay="1d"), "label_delay"),
    ],
)
def test_model_quality_settings_that_cannot_work_are_refused(change, message):
    raw = _with_quality()
    change(raw["projects"][0])
    raw["projects"][0]["monitoring"].pop("drift_alarms", None) if "serverless" in raw["projects"][0]["deployment"] else None
    with pytest.raises(ConfigError, match=message):
        parse_config(yaml.safe_dump(raw), source="test.yaml")


def test_a_region_without_the_analyzer_is_fine_when_nothing_uses_model_monitor():
    raw = json.loads(json.dumps(VALID))
    raw["region"], raw["network"]["availability_zones"] = "ap-south-2", ["ap-south-2a"]
    for project in raw["projects"]:
        project["monitoring"] = {"enabled": False}
    assert parse_config(yaml.safe_dump(raw), source="test.yaml").region == "ap-south-2"


@pytest.mark.parametrize(
    ("schedule", "expression", "hours"),
    [
        ("hourly", "cron(0 * ? * * *)", 1),
        ("daily", "cron(0 0 ? * * *)", 24),
        ("cron(0 0/6 ? * * *)", "cron(0 0/6 ? * * *)", 6),
        ("cron(0 13 ? * * *)", "cron(0 13 ? * * *)", 24),
    ],
)
def test_monitoring_schedule_and_alarm_period(schedule, expression, hours):
    raw = json.loads(json.dumps(VALID))
    raw["projects"][0]["monitoring"]["schedule"] = schedule
    monitoring = parse_config(yaml.safe_dump(raw), source="test.yaml").project("churn").monitoring
    assert (monitoring.schedule_expression, monitoring.period_hours) == (expression, hours)


def test_every_problem_is_reported_at_once():
    def many(c):
        c["projects"][0]["name"] = "Bad Name"
        c["projects"][1]["evaluation"]["threshold"] = 7
        c["sandboxes"][0]["user"] = "nobody"
        c["surprise"] = True

    problems = problems_for(many)
    assert {"projects[0].name", "projects[1].evaluation.threshold", "sandboxes[0].user", "surprise"} <= problems.keys()


def test_report_names_field_value_and_rule():
    problems = problems_for(lambda c: c["projects"][0]["evaluation"].update(threshold=1.5))
    assert problems["projects[0].evaluation.threshold"] == (
        "projects[0].evaluation.threshold: 1.5: out of range for metric 'auc': allowed 0.0 to 1.0"
    )


def test_existing_vpc_needs_a_zone_per_subnet():
    def existing(c):
        c["network"] = {
            "mode": "existing",
            "vpc_id": "vpc-0123456789abcdef0",
            "cidr": "10.1.0.0/16",
            "subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
            "availability_zones": ["us-east-1a"],
            "s3_prefix_list_id": "pl-63a5400a",
        }

    problems = problems_for(existing)
    assert "one zone per subnet" in problems["network"]


@pytest.mark.parametrize(
    ("create_endpoints", "group", "wrong"),
    [(False, None, True), (True, "sg-0123456789abcdef0", True), (False, "sg-0123456789abcdef0", False), (True, None, False)],
)
def test_existing_endpoints_need_their_security_group(create_endpoints, group, wrong):
    def existing(c):
        c["network"] = existing_vpc(create_endpoints=create_endpoints, **({"endpoints_security_group_id": group} if group else {}))

    if wrong:
        assert "endpoints_security_group_id" in problems_for(existing)["network"]
    else:
        raw = json.loads(json.dumps(VALID))
        existing(raw)
        assert parse_config(yaml.safe_dump(raw), source="test.yaml").network.create_endpoints == create_endpoints


@pytest.mark.parametrize(("mode", "egress"), [("existing", "none"), ("existing", "existing"), ("new", "none"), ("new", "nat")])
def test_a_git_provider_outside_aws_needs_a_vpc_that_routes_out(mode, egress):
    def outside(c):
        c["network"] = existing_vpc(egress=egress) if mode == "existing" else {**c["network"], "egress": egress}
        c["projects"][0]["git"] = {"url": "https://github.com/example-org/churn-models.git"}

    if egress == "none":
        assert "outside AWS" in problems_for(outside)["projects[0].git.url"]
    else:
        raw = json.loads(json.dumps(VALID))
        outside(raw)
        config = parse_config(yaml.safe_dump(raw), source="test.yaml")
        # churn's repository is reached through the route out, not a CodeCommit endpoint; Studio's groups let HTTPS out
        assert not any("churn" in why for why in config.endpoint_needs.get("git-codecommit", []))
        assert config.studio_https_out


def test_a_nat_gateway_needs_room_for_its_subnet_after_the_private_ones():
    """egress nat: the private subnets are /20s from the start of the VPC's range, the NAT's public subnet its last /28."""
    problems = problems_for(lambda c: c["network"].update(cidr="10.42.0.0/19", egress="nat"))  # two zones fill a /19
    assert problems["network"].endswith(
        ": egress nat: 10.42.0.0/19 has no room for a public subnet after its 2 private /20 subnets: use a larger cidr (a /18 "
        "holds three zones and the NAT's subnet)"
    )
    raw = json.loads(json.dumps(VALID))
    raw["network"].update(cidr="10.42.0.0/18", egress="nat")
    assert parse_config(yaml.safe_dump(raw), source="test.yaml").network.egress == "nat"


def test_the_endpoints_follow_from_the_features_and_extras_add_to_them():
    """Every stage: Studio, the CLI, Projects. A training stage with MLflow apps: .mlflow, not .experiments; a CodeCommit
    repository: git-codecommit; a drift check that may run as a job: monitoring. interface_endpoints adds its names."""
    config = parse_config(yaml.safe_dump(VALID), source="test.yaml")
    base = {"sagemaker.api", "sagemaker.runtime", "sts", "ssm", "servicecatalog"}
    assert base <= set(config.endpoint_needs) and not {"sagemaker.experiments", "lambda", "states"} & set(config.endpoint_needs)
    raw = json.loads(json.dumps(VALID))
    raw["interface_endpoints"] = ["logs"]
    raw["projects"][0]["mlflow"] = {"server": "tracking_server"}
    needs = parse_config(yaml.safe_dump(raw), source="test.yaml").endpoint_needs
    assert needs["logs"] == ["interface_endpoints in the config"]
    assert any("tracking_server" in why for why in needs["sagemaker.experiments"])


def test_the_s3_prefix_list_is_required_and_checked():
    problems = problems_for(lambda c: c["network"].pop("s3_prefix_list_id"))
    assert "network.s3_prefix_list_id" in problems
    problems = problems_for(lambda c: c["network"].update(s3_prefix_list_id="s3"))
    assert "network.s3_prefix_list_id" in problems


def test_yaml_syntax_error_gives_position():
    with pytest.raises(ConfigError) as info:
        parse_config("projects: [\n  - a: b\n", source="broken.yaml")
    assert "not valid YAML at line" in info.value.report()


def test_stage_must_match_file_name(config_dir):
    (config_dir / "qa.yaml").write_text((config_dir / "dev.yaml").read_text())
    with pytest.raises(ConfigError) as info:
        load_config("qa", config_dir)
    assert "stage: 'dev': must match the file name: 'qa'" in info.value.report()


def _run_app(*context: str, config_dir: Path | None = None) -> subprocess.CompletedProcess:
    ctx = dict(c.split("=", 1) for c in context)
    if config_dir is not None:
        ctx["config_dir"] = str(config_dir)
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(ctx), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    return subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_synth_of_unknown_stage_exits_non_zero_without_traceback():
    result = _run_app("stage=qa")
    assert result.returncode == 2
    assert "stage: 'qa': no file" in result.stderr and "allowed stages: dev, prod" in result.stderr
    assert "Traceback" not in result.stderr


def test_synth_of_bad_config_lists_problems_without_traceback(config_dir, run_main):
    text = (config_dir / "dev.yaml").read_text().replace("name: churn", "name: Churn!").replace("threshold: 0.75", "threshold: 2")
    (config_dir / "dev.yaml").write_text(text)
    code, stderr = run_main({"stage": "dev", "config_dir": str(config_dir)})
    assert code == 2
    assert "Invalid configuration" in stderr
    assert "projects[0].name: 'Churn!'" in stderr
    assert "projects[0].evaluation.threshold: 2" in stderr


def test_the_project_analyzer_runs_on_one_instance():
    problems = problems_for(lambda c: c["projects"][0]["monitoring"].update(analyzer="project", instance_count=3))
    assert "instance_count 3 with analyzer 'project'" in problems["projects[0].monitoring"]
    problems = problems_for(lambda c: c["projects"][0]["monitoring"].update(analyzer="evidently"))
    assert "projects[0].monitoring.analyzer" in problems


def test_a_stage_serving_another_stages_models_names_its_analyzer(config_dir):
    """prod's monitor reads the baseline dev's pipeline computed: with dev's analyzer, or nothing fits."""
    prod = config_dir / "prod.yaml"
    text = prod.read_text().replace("stage: prod\n", "stage: prod\naccount_already_uses: [model_monitor]\n")
    prod.write_text(
        text.replace(
            "    monitoring:\n      schedule: hourly",
            "    monitoring:\n      engine: model_monitor\n      analyzer: model_monitor\n      schedule: hourly",
            1,
        )
    )
    with pytest.raises(ConfigError) as info:
        load_config("prod", config_dir)
    report = info.value.report()
    assert "projects[0].monitoring.analyzer: 'model_monitor': must be 'project', the analyzer of project churn" in report
    assert "fraud" not in report  # the default on both sides
    assert load_config("dev", config_dir).projects[0].monitoring.analyzer == "project"


def test_model_monitor_is_refused_unless_the_account_already_uses_it():
    """Model Monitor is closed to new customers: engine model_monitor fails at synth, naming AWS's page and the two ways out."""
    problems = problems_for(lambda c: c["projects"][0]["monitoring"].update(engine="model_monitor", quality={"enabled": False}))
    (message,) = problems.values()
    assert "closed to new customers" in message and "model-monitor-availability-change" in message
    assert "engine: project" in message and "account_already_uses: [model_monitor]" in message
    raw = json.loads(json.dumps(VALID))
    raw["projects"][0].setdefault("monitoring", {}).update(engine="model_monitor", analyzer="model_monitor", quality={"enabled": False})
    raw["account_already_uses"] = ["model_monitor"]
    config = parse_config(yaml.safe_dump(raw), source="test.yaml")
    assert config.projects[0].uses_model_monitor or not config.projects[0].monitors_endpoint


def test_the_project_engine_runs_only_the_projects_analyzer():
    problems = problems_for(lambda c: c["projects"][0].setdefault("monitoring", {}).update(analyzer="model_monitor"))
    assert "runs only under engine 'model_monitor'" in next(iter(problems.values()))


def test_the_default_monitor_is_the_projects_own_check():
    assert MonitoringConfig().engine == "project" and MonitoringConfig().analyzer == "project"
    hourly = MonitoringConfig()
    assert hourly.check_schedule_expression == "cron(3 * ? * * *)" and hourly.anchor_hour == 0
    six = MonitoringConfig(schedule="cron(0 5/6 ? * * *)", delay_minutes=10)
    assert six.check_schedule_expression == "cron(10 5/6 ? * * *)" and six.anchor_hour == 5 and six.period_hours == 6


def test_a_project_budget_is_positive_and_shared_is_not_a_project_name():
    problems = problems_for(lambda c: c["projects"][0].update(monthly_budget_usd=0))
    assert "projects[0].monthly_budget_usd" in problems
    problems = problems_for(lambda c: c["projects"][0].update(name="shared"))
    assert "cost-allocation tag of the resources no project owns" in problems["projects[0].name"]


def test_a_key_only_public_api_is_refused_with_the_reason():
    def key_only(c):
        c["projects"][0].setdefault("deployment", {})["api"] = {"auth": "api_key"}

    message = next(iter(problems_for(key_only).values()))
    assert "anyone holding a key can call from anywhere" in message and "source_ips" in message and "waf: true" in message
    for guarded in ({"auth": "api_key", "source_ips": ["198.51.100.0/24"]}, {"auth": "api_key", "waf": True}, {"auth": "iam"}):
        raw = json.loads(json.dumps(VALID))
        raw["projects"][0].setdefault("deployment", {})["api"] = guarded
        parse_config(yaml.safe_dump(raw), source="test.yaml")  # accepted
    bad = lambda c: c["projects"][0].setdefault("deployment", {}).update(api={"auth": "api_key", "source_ips": ["10.0.0.300/8"]})  # noqa: E731
    assert "source_ips" in next(iter(problems_for(bad)))


def test_two_projects_cannot_share_a_git_repository():
    def shared(c):
        url = "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/models"
        c["account_already_uses"] = ["codecommit"]
        c["projects"][0]["git"] = {"url": url}
        c["projects"][1]["git"] = {"url": url + ".git"}

    message = next(iter(problems_for(shared).values()))
    assert "name the same Git repository" in message and "push" in message


def test_a_codecommit_repository_is_refused_unless_the_account_already_uses_codecommit():
    """AWS CodeCommit is closed to new customers: a new account has no repository for git.url to name."""
    url = "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/churn-models"
    problems = problems_for(lambda c: c["projects"][0].update(git={"url": url}))
    assert list(problems.values()) == [
        f"<root>: projects[0] (churn).git.url {url}: AWS CodeCommit is no longer available to new customers "
        "(https://docs.aws.amazon.com/codecommit/latest/userguide/references.html), so a new account has no such repository. "
        "Name a repository of another provider (Studio reaches it through a route out: network.egress nat, or network.mode "
        "existing with egress: existing), remove git, or, if this stage's account already uses CodeCommit, declare it: "
        "account_already_uses: [codecommit]"
    ]
    raw = json.loads(json.dumps(VALID))
    raw["account_already_uses"] = ["codecommit"]
    raw["projects"][0]["git"] = {"url": url}
    config = parse_config(yaml.safe_dump(raw), source="test.yaml")
    assert config.endpoint_needs["git-codecommit"] == ["project churn's CodeCommit repository"]


def test_the_delivery_pipeline_takes_its_source_from_codecommit_only_where_the_account_already_uses_it():
    from config.schema import DeliveryConfig

    source = {"kind": "codecommit", "repository": "platform"}
    base = {"account": "123456789012", "region": "us-east-1", "source": source, "stages": ["dev"]}
    with pytest.raises(
        ValueError, match=r"source.kind codecommit: AWS CodeCommit is no longer available to new customers .*account_already_uses: \[codecommit\]"
    ):
        DeliveryConfig.model_validate(base)
    assert DeliveryConfig.model_validate(base | {"account_already_uses": ["codecommit"]}).source.kind == "codecommit"


@pytest.mark.parametrize("percent", [1, 100])
def test_capture_percent_accepts_the_readmes_range_edges(percent):
    """``deployment.data_capture_percent`` is 1-100 (docs/configuration.md): both edges load, and reach the stage as given."""
    raw = json.loads(json.dumps(VALID))
    raw["projects"][0]["deployment"]["data_capture_percent"] = percent
    assert parse_config(yaml.safe_dump(raw), source="test.yaml").projects[0].deployment.data_capture_percent == percent


@pytest.mark.parametrize(
    ("hyperparameters", "message"),
    [
        ({"model_type": "xgboost"}, "model_type='xgboost': must be one of logistic_regression, random_forest, gradient_boosting"),
        ({"model_type": "random_forest", "learning_rate": 0.1}, "unknown hyperparameter(s) learning_rate for model_type=random_forest; allowed:"),
        ({"model_type": "gradient_boosting", "max_iterations": 200}, "unknown hyperparameter(s) max_iterations"),
        ({"model_type": "random_forest", "n_estimators": 0}, "n_estimators='0': must be between 1 and 5000"),
        ({"model_type": "logistic_regression", "C": "lots"}, "C='lots': must be a number"),
    ],
)
def test_hyperparameters_the_training_code_would_refuse_fail_at_synth(hyperparameters, message):
    """The training job's own parser (container/mlops_container/hyperparameters.py) runs on the config: a misspelt model
    type or setting is a configuration error naming the value and the choices, not a failed training job."""
    problems = problems_for(lambda c: c["projects"][0]["pipeline"].update(hyperparameters=hyperparameters))
    (where, text), *_ = problems.items()
    assert "projects[0].pipeline.hyperparameters" in where and message in text and "hyperparameters.py" in text


def test_the_config_checks_hyperparameters_with_the_training_jobs_parser():
    from config import hyperparameters
    from mlops_container import model

    assert hyperparameters.SPEC_FILE == Path(model.hyperparameters.__file__).resolve()  # one file, loaded by both
    training = hyperparameters.training
    assert model.hyperparameters.FAMILIES.keys() == training.FAMILIES.keys()
    assert training.parse({"model_type": "random_forest", "max_depth": "none"})[1]["max_depth"] is None
