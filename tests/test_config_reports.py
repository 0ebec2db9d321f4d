"""What the loader reports, word for word and value for value (config.loader): the file it names, each problem's path
as the file says it, the value it shows and its message; files that are not what the loader expects (a list, a
control character, a stage that is a list) are reported, never a traceback. Written for make mutate, whose survivors
showed reports that named no file, the wrong key list or a key the file does not have."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from config import ConfigError, load_config
from config.errors import MISSING
from config.loader import load_delivery_config, parse_config

ROOT = Path(__file__).resolve().parent.parent


def _raw(stage: str = "dev") -> dict:
    """A stage's config as shipped; dev's with its churn project in real time, monitored (tests/stage_configs.py)."""
    from tests.stage_configs import dev_with_realtime_churn

    return dev_with_realtime_churn() if stage == "dev" else yaml.safe_load((ROOT / "config" / f"{stage}.yaml").read_text())


def _error(raw: object, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(raw if isinstance(raw, str) else yaml.safe_dump(raw), source="named.yaml", **kwargs)
    assert info.value.source == "named.yaml"
    return info.value


def _problems(raw: object, **kwargs) -> dict[str, list[tuple[object, str]]]:
    out: dict[str, list[tuple[object, str]]] = {}
    for p in _error(raw, **kwargs).problems:
        out.setdefault(p.path, []).append((p.value, p.message))
    return out


def _maybe_problems(raw: dict) -> dict[str, list[tuple[object, str]]]:
    try:
        parse_config(yaml.safe_dump(raw), source="named.yaml")
    except ConfigError:
        return _problems(raw)
    return {}


def _edit(config_dir: Path, name: str, change) -> None:
    path = config_dir / name
    raw = yaml.safe_load(path.read_text())
    change(raw)
    path.write_text(yaml.safe_dump(raw))


def test_a_file_that_is_not_yaml_says_where_or_why():
    assert _problems("stage: dev\nprojects: [\n") == {
        "<file>": [(MISSING, "not valid YAML at line 3, column 1: expected the node content, but found '<stream end>'")]
    }
    # a character YAML refuses has no line and column in PyYAML's error, only a position
    ((value, message),) = _problems("stage: \x07\n")["<file>"]
    assert value is MISSING and message == (
        'not valid YAML at unknown position: unacceptable character #x0007: special characters are not allowed\n  in "<unicode string>", position 7'
    )


def test_each_report_names_its_file(config_dir):
    with pytest.raises(ConfigError) as info:
        load_config("qa", config_dir)
    assert info.value.source == "the 'stage' context value"
    _edit(config_dir, "dev.yaml", lambda raw: raw.update(idle_shutdown_minutes="soon"))
    with pytest.raises(ConfigError) as info:
        load_config("dev", config_dir)
    assert info.value.source == str(config_dir / "dev.yaml")
    assert info.value.report().startswith(f"Invalid configuration in {config_dir / 'dev.yaml'}: 1 problem\n  - idle_shutdown_minutes: 'soon': ")


def test_a_file_without_its_stage_is_told_once_that_the_stage_is_missing():
    raw = _raw()
    raw.pop("stage")
    assert _problems(raw, stage="dev")["stage"] == [(MISSING, "required but missing")]


def test_unknown_keys_list_the_keys_of_the_settings_they_are_in():
    """In each network mode (pydantic names the mode in the location, the file does not) and in the delivery config."""
    allowed = {
        "new": "availability_zones, cidr, egress, endpoint_azs, mode, s3_prefix_list_id",
        "existing": (
            "availability_zones, cidr, create_endpoints, egress, endpoint_azs, endpoints_from, endpoints_security_group_id, mode, s3_prefix_list_id, "
            "subnet_ids, vpc_id"
        ),
        "frugal": "availability_zones, cidr, egress, endpoint_azs, mode, s3_prefix_list_id",
    }
    networks = {
        "new": _raw("dev")["network"],
        "existing": {
            "mode": "existing",
            "vpc_id": "vpc-0123456789abcdef0",
            "cidr": "10.0.0.0/16",
            "subnet_ids": ["subnet-0123456789abcdef0"],
            "availability_zones": ["us-east-1a"],
            "s3_prefix_list_id": "pl-63a5400a",
        },
        "frugal": _raw("trial")["network"],
    }
    for mode, network in networks.items():
        raw = _raw("dev")
        raw["network"] = {**network, "nat": True}
        assert _problems(raw) == {"network.nat": [(True, f"unknown key; allowed keys here: {allowed[mode]}")]}, mode


def test_the_delivery_config_lists_its_own_keys_and_names_its_file(config_dir):
    path = config_dir / "delivery" / "pipeline.yaml"
    _edit(config_dir, "delivery/pipeline.yaml", lambda raw: raw.update(colour="blue"))
    with pytest.raises(ConfigError) as info:
        load_delivery_config(config_dir)
    assert info.value.report() == (
        f"Invalid configuration in {path}: 1 problem\n  - colour: 'blue': unknown key; allowed keys here: account, account_already_uses, region, source, stages"
    )
    _edit(config_dir, "delivery/pipeline.yaml", lambda raw: (raw.pop("colour"), raw.update(stages=["dev", "qa"])))
    with pytest.raises(ConfigError) as info:
        load_delivery_config(config_dir)
    assert (info.value.source, info.value.problems[0].value) == (str(path), ["dev", "qa"])
    _edit(config_dir, "delivery/pipeline.yaml", lambda raw: raw.update(stages=["dev"], account="210987654321"))
    with pytest.raises(ConfigError) as info:
        load_delivery_config(config_dir)
    assert info.value.report() == (
        f"Invalid configuration in {path}: 1 problem\n"
        "  - account: '210987654321': must be the first stage's (dev: 123456789012, us-east-1): the pipeline builds and pushes "
        "the image to that stage's repositories, starts its training pipelines and reads its approved packages with roles of "
        "its own account (a separate tooling account is not supported)"
    )
    # the stages are read from the delivery config's own folder: dev there lives in another account
    _edit(config_dir, "dev.yaml", lambda raw: raw.update(account="210987654321"))
    _edit(config_dir, "prod.yaml", lambda raw: raw.update(account="210987654321"))
    delivery, configs = load_delivery_config(config_dir)
    assert [c.account for c in configs] == ["210987654321"]
    path.write_text("stages: [\n")
    with pytest.raises(ConfigError) as info:
        load_delivery_config(config_dir)
    assert info.value.source == str(path)


def test_files_of_the_wrong_shape_are_reported_not_raised():
    """A stage whose projects, sandboxes or network are not what the schema says: problems, never a TypeError."""
    raw = _raw()
    raw.update(projects=None, region="xx-nowhere-1")
    assert "projects" in _problems(raw)
    raw = _raw()
    raw.update(projects=["churn"], region="xx-nowhere-1")
    assert "projects[0]" in _problems(raw)
    raw = _raw()
    raw["sandboxes"] = ["alice", {"user": "carol", "project": "churn"}]
    problems = _problems(raw)
    assert problems["sandboxes[1].user"] == [("carol", "no such user; configured users: alice, bob")]
    raw = _raw()
    raw.update(projects=[], sandboxes=[{"user": "alice", "project": "churn"}])
    assert _problems(raw)["sandboxes[0].project"] == [("churn", "no such project; configured projects: (none)")]


def test_sandboxes_per_user_are_capped_at_five_exactly():
    raw = _raw()
    extra = [
        {**raw["projects"][1], "name": f"proj{i}", "git": None, "deployment": {"enabled": False}, "monitoring": {"enabled": False}} for i in range(4)
    ]
    raw["projects"] += extra
    raw["sandboxes"] = [{"user": "alice", "project": p} for p in ("churn", "fraud", "proj0", "proj1", "proj2")]
    parse_config(yaml.safe_dump(raw), source="five.yaml")  # five is allowed
    raw["sandboxes"].append({"user": "alice", "project": "proj3"})
    raw["sandboxes"] += [{"user": "bob", "project": p} for p in ("churn", "fraud", "proj0", "proj1", "proj2", "proj3")]
    assert [value for value, _ in _problems(raw)["sandboxes"]] == ["6 sandboxes of user alice", "6 sandboxes of user bob"]


def test_users_over_the_cap_are_named_in_order_even_beside_a_sandbox_without_a_user():
    raw = _raw()
    raw["projects"] += [
        {**raw["projects"][1], "name": f"proj{i}", "git": None, "deployment": {"enabled": False}, "monitoring": {"enabled": False}} for i in range(5)
    ]
    names = ["churn", "fraud", "proj0", "proj1", "proj2", "proj3", "proj4"]
    raw["sandboxes"] = [{"user": "bob", "project": p} for p in names[:6]] + [{"user": "alice", "project": p} for p in names] + [{"project": "churn"}]
    assert [value for value, _ in _problems(raw)["sandboxes"]] == ["7 sandboxes of user alice", "6 sandboxes of user bob"]


def test_a_monitored_deployment_without_drift_alarms_shows_what_it_has():
    raw = _raw()
    monitoring = raw["projects"][0]["monitoring"]
    monitoring.pop("drift_alarms")
    monitoring.pop("enabled", None)
    message = (
        "must name at least one feature to watch, e.g. [{feature: mean_radius, threshold: 0.1}] (an instance-backed endpoint "
        "and batch scoring are monitored by default), or set monitoring.enabled: false"
    )
    assert _problems(raw)["projects[0].monitoring.drift_alarms"] == [(MISSING, message)]
    monitoring["drift_alarms"] = []
    assert _problems(raw)["projects[0].monitoring.drift_alarms"][0] == ([], message)


@pytest.mark.parametrize(
    ("deployment", "reported"),
    [
        ({"mode": "batch"}, True),  # batch scoring is monitored by default
        ({"mode": "endpoint"}, True),
        ({}, True),  # an endpoint, by default
        ({"mode": "realtime"}, False),  # not a mode: that is the one problem
        ({"mode": "endpoint", "enabled": False}, False),
    ],
)
def test_which_deployments_need_drift_alarms(deployment, reported):
    raw = _raw()
    project = raw["projects"][0]
    project["deployment"] = {k: v for k, v in {**project["deployment"], **deployment}.items() if k != "mode"} | (
        {"mode": deployment["mode"]} if "mode" in deployment else {}
    )
    project["monitoring"] = {"enabled": True}
    assert ("projects[0].monitoring.drift_alarms" in _maybe_problems(raw)) is reported


def test_a_git_repository_outside_aws_is_refused_without_a_route_out_whatever_the_mode():
    url = "https://github.com/example/churn.git"
    for mode in ("new", "shared"):  # an unknown mode has no route out either
        raw = _raw()
        raw["projects"][0]["git"] = {"url": url}
        raw["network"]["mode"] = mode
        assert _problems(raw)["projects[0].git.url"][0][0] == url


def test_a_region_without_model_monitor_is_refused_only_to_projects_that_use_it():
    def with_model_monitor(**monitoring) -> dict:
        raw = _raw()
        raw["region"] = "xx-nowhere-1"
        raw["network"]["availability_zones"] = ["xx-nowhere-1a"]
        raw["projects"][0]["monitoring"] = {k: v for k, v in raw["projects"][0]["monitoring"].items() if k != "enabled"} | monitoring
        return raw

    uses = _problems(with_model_monitor(engine="model_monitor", analyzer="model_monitor"))["region"]
    assert uses == [
        (
            "xx-nowhere-1",
            "SageMaker Model Monitor's analyzer image (the monitoring baseline and schedules) is not published there; allowed: "
            + ", ".join(sorted(__import__("config.model_monitor_images", fromlist=["x"]).ANALYZER_ACCOUNTS))
            + ", or set monitoring.enabled: false in every project",
        )
    ]
    assert "region" not in _problems(with_model_monitor(engine="model_monitor", analyzer="model_monitor", enabled=False))
    assert "region" not in _problems(with_model_monitor(engine="model_monitor"))


def test_links_between_stages_show_the_values_they_compare(config_dir):
    _edit(config_dir, "prod.yaml", lambda raw: raw.update(region="eu-west-1", prefix="other"))
    _edit(config_dir, "prod.yaml", lambda raw: raw["network"].update(availability_zones=["eu-west-1a", "eu-west-1b"]))
    _edit(config_dir, "prod.yaml", lambda raw: raw["projects"].append({**raw["projects"][0], "name": "extra"}))
    with pytest.raises(ConfigError) as info:
        load_config("prod", config_dir)
    problems = {p.path: p.value for p in info.value.problems}
    assert (problems["model_registry_stage"], problems["prefix"], problems["projects[2].name"]) == ("dev", "other", "extra")


def test_a_stage_without_a_prefix_has_the_default_one_on_both_ends_of_a_link(config_dir):
    for name in ("dev.yaml", "prod.yaml"):
        _edit(config_dir, name, lambda raw: raw.pop("prefix"))
    _edit(config_dir, "prod.yaml", lambda raw: raw.update(account="210987654321"))
    assert load_config("prod", config_dir).prefix == "mlops"
    assert [c.stage for c in load_config("dev", config_dir).consumers] == ["prod"]


def test_stages_under_one_prefix_of_their_own_link_up(config_dir):
    for name in ("dev.yaml", "prod.yaml"):
        _edit(config_dir, name, lambda raw: raw.update(prefix="acme"))
    assert load_config("prod", config_dir).prefix == "acme"


def test_a_serving_stage_must_use_its_registrys_analyzer(config_dir):
    _edit(config_dir, "dev.yaml", lambda raw: raw["projects"][0]["monitoring"].update(analyzer="model_monitor"))
    with pytest.raises(ConfigError) as info:
        load_config("prod", config_dir)
    (problem,) = [p for p in info.value.problems if p.path == "projects[0].monitoring.analyzer"]
    assert (problem.value, problem.message) == (
        "project",
        "must be 'model_monitor', the analyzer of project churn in the model registry stage (dev.yaml): its pipeline computes "
        "the baseline this stage's monitor reads",
    )


def test_every_broken_consumer_is_named_and_files_that_are_not_stages_are_skipped(config_dir):
    _edit(config_dir, "prod.yaml", lambda raw: raw.update(account="210987654321"))
    (config_dir / "notes.yaml").write_text("- not a stage\n")
    assert [c.stage for c in load_config("dev", config_dir).consumers] == ["prod"]  # notes.yaml is no stage: skipped
    (config_dir / "qa.yaml").write_text((config_dir / "prod.yaml").read_text())  # says stage: prod in qa.yaml
    _edit(config_dir, "prod.yaml", lambda raw: raw.update(idle_shutdown_minutes="soon"))
    with pytest.raises(ConfigError) as info:
        load_config("dev", config_dir)
    assert [(p.path, p.value, p.message.split(",")[0]) for p in info.value.problems] == [
        ("account", "123456789012", "stage prod serves this stage's models from account 210987654321"),
        ("account", "123456789012", "stage qa serves this stage's models from account 210987654321"),
    ]


def test_a_registry_whose_projects_are_not_mappings_is_read_as_having_none(config_dir):
    _edit(config_dir, "dev.yaml", lambda raw: raw.update(projects=["churn"]))
    with pytest.raises(ConfigError) as info:
        load_config("prod", config_dir)
    assert "projects[0].name" in {p.path for p in info.value.problems}  # no project of dev registers churn now
