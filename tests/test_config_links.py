"""The loader's links between stages (config.loader: the registry a serving stage names, the stages that serve a
registry's models from another account), on parsed configs only: no stage is synthesized. Written for make mutate:
the stage tests exercised these links only through synthesis."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from config import ConfigError, load_config
from config.schema import StageLink


def _edit(config_dir, stage: str, change) -> None:
    path = config_dir / f"{stage}.yaml"
    raw = yaml.safe_load(path.read_text())
    change(raw)
    path.write_text(yaml.safe_dump(raw))


def _other_account(raw: dict) -> None:
    raw["account"] = "210987654321"


def test_a_registry_finds_the_stages_that_serve_its_models_from_another_account(config_dir):
    assert load_config("dev", config_dir).consumers == ()  # prod is in dev's account: nothing to grant across accounts
    _edit(config_dir, "prod", _other_account)
    (link,) = load_config("dev", config_dir).consumers
    assert (link.stage, link.account, link.region) == ("prod", "210987654321", "us-east-1")
    assert [p.name for p in link.projects] == ["churn", "fraud"] and link.serving("churn") is not None
    assert isinstance(link, StageLink) and link.serving("nope") is None
    prod = load_config("prod", config_dir)
    assert (prod.registry_account, prod.registry_in_another_account) == ("123456789012", True)
    assert load_config("dev", config_dir).registry_account == "123456789012"  # its own


def test_a_stage_under_another_prefix_or_naming_another_registry_is_not_a_consumer(config_dir):
    """dev grants only the stages that serve its models under its prefix: each condition alone takes prod out."""
    _edit(config_dir, "prod", _other_account)
    assert [c.stage for c in load_config("dev", config_dir).consumers] == ["prod"]
    for change in (lambda raw: raw.update(prefix="other"), lambda raw: raw.update(model_registry_stage="trial")):
        original = (config_dir / "prod.yaml").read_text()
        _edit(config_dir, "prod", change)
        assert load_config("dev", config_dir).consumers == ()  # prod's own file may be wrong now: dev does not read it
        (config_dir / "prod.yaml").write_text(original)


def test_a_consumer_whose_file_has_problems_is_named_by_the_registry(config_dir):
    _edit(config_dir, "prod", _other_account)
    _edit(config_dir, "prod", lambda raw: raw.update(idle_shutdown_minutes="soon"))
    with pytest.raises(ConfigError) as info:
        load_config("dev", config_dir)
    (problem,) = [p for p in info.value.problems if p.path == "account"]
    assert problem.message == (
        "stage prod serves this stage's models from account 210987654321, and its file has problems (this stage's policies "
        "grant its roles): synthesize it (-c stage=prod) to see them"
    )


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (
            lambda raw: raw.update(
                region="eu-west-1",
                network={**raw["network"], "availability_zones": ["eu-west-1a", "eu-west-1b", "eu-west-1c"], "s3_prefix_list_id": "pl-6da54004"},
            ),
            "model_registry_stage",
            "stage dev runs in us-east-1 and this stage in eu-west-1: SageMaker serves a model's artifacts and image only from the "
            "model's own Region",
        ),
        (lambda raw: raw.update(prefix="other"), "prefix", "must be the model registry stage's (dev): its resources are named with it"),
        (
            lambda raw: raw["projects"].append({**raw["projects"][1], "name": "newone"}),
            "projects[2].name",
            "serves models (an endpoint or batch scoring) but no project of stage dev registers them; allowed: churn, fraud "
            "(or deployment.enabled: false)",
        ),
    ],
)
def test_a_serving_stage_that_cannot_serve_its_registrys_models_is_refused(config_dir, change, path, message):
    _edit(config_dir, "prod", change)
    with pytest.raises(ConfigError) as info:
        load_config("prod", config_dir)
    problems = {p.path: p.message for p in info.value.problems}
    assert path in problems and problems[path].startswith(message), problems


def test_a_serving_project_that_serves_nothing_needs_no_registry_project(config_dir):
    _edit(
        config_dir,
        "prod",
        lambda raw: raw["projects"].append(
            {**raw["projects"][1], "name": "newone", "deployment": {"enabled": False}, "monitoring": {"enabled": False}}
        ),
    )
    assert [p.name for p in load_config("prod", config_dir).projects][-1] == "newone"


def _problems(change) -> dict[str, tuple[object, str]]:
    from config.loader import parse_config

    raw = yaml.safe_load((Path(__file__).resolve().parent.parent / "config" / "dev.yaml").read_text())
    change(raw)
    with pytest.raises(ConfigError) as info:
        parse_config(yaml.safe_dump(raw), source="test.yaml")
    return {p.path: (p.value, p.message) for p in info.value.problems}


def test_names_and_links_within_a_stage_are_checked_by_their_exact_rule():
    duplicate = _problems(lambda raw: raw["users"].append(dict(raw["users"][0])))
    assert duplicate["users[2].name"][1] == "duplicate name: each of users must have a unique name"
    assert duplicate["users[0].name"][1] == "duplicate name: each of users must have a unique name"
    projects = _problems(lambda raw: raw["projects"].append(dict(raw["projects"][1])))
    assert projects["projects[2].name"] == ("fraud", "duplicate name: each of projects must have a unique name")
    links = _problems(
        lambda raw: raw["sandboxes"].extend(
            [{"user": "carol", "project": "churn"}, {"user": "alice", "project": "nope"}, {"user": "alice", "project": "churn"}]
        )
    )
    assert links["sandboxes[2].user"] == ("carol", "no such user; configured users: alice, bob")
    assert links["sandboxes[3].project"] == ("nope", "no such project; configured projects: churn, fraud")
    assert links["sandboxes[4]"] == ({"user": "alice", "project": "churn"}, "duplicate sandbox: this user already has a sandbox in this project")
    none = _problems(lambda raw: (raw.update(users=[]), raw.update(sandboxes=[{"user": "alice", "project": "churn"}])))
    assert none["sandboxes[0].user"][1] == "no such user; configured users: (none)"


def test_too_many_sandboxes_of_one_user_and_zones_of_another_region():
    many = _problems(
        lambda raw: (
            raw["projects"].extend(
                {**raw["projects"][1], "name": f"p{i}", "git": None, "deployment": {"enabled": False}, "monitoring": {"enabled": False}}
                for i in range(5)
            ),
            raw.update(sandboxes=[{"user": "alice", "project": p} for p in ("churn", "fraud", "p0", "p1", "p2", "p3")]),
        )
    )
    value, message = many["sandboxes"]
    assert value == "6 sandboxes of user alice" and message.startswith("at most 5 per user: each adds an inline policy to the user's role")
    zones = _problems(lambda raw: raw["network"].update(availability_zones=["us-east-1a", "us-west-2a", "us-east-1", "us-east-11"]))
    assert zones["network.availability_zones[1]"] == ("us-west-2a", "not a zone of region 'us-east-1' (expected a name like 'us-east-1a')")
    assert {"network.availability_zones[2]", "network.availability_zones[3]"} <= set(zones) and "network.availability_zones[0]" not in zones


def test_each_kind_of_schema_error_reads_as_the_file_would_say_it():
    from config.loader import MISSING

    unknown = _problems(lambda raw: raw["projects"][0]["pipeline"].update(spot=True))
    value, message = unknown["projects[0].pipeline.spot"]
    assert value is True and message.startswith("unknown key; allowed keys here: approval_status, data_prefix, hyperparameters, image_tag,")
    network_key = _problems(lambda raw: raw["network"].update(nat=True))  # inside the union: the mode's own keys
    assert network_key["network.nat"][1].startswith("unknown key; allowed keys here: availability_zones, cidr,")
    missing = _problems(lambda raw: raw["projects"][0]["evaluation"].pop("threshold"))
    assert missing["projects[0].evaluation.threshold"] == (MISSING, "required but missing")
    mode = _problems(lambda raw: raw["network"].update(mode="shared"))
    assert mode["network.mode"] == (
        "shared",
        "network.mode must be 'new' (create a VPC), 'existing' (use vpc_id and subnet_ids) or 'frugal' (Studio on SageMaker's internet, workloads in no VPC: for sandbox accounts)",
    )
    text = _problems(lambda raw: raw.update(prefix=12))
    assert text["prefix"] == (12, "must be text; quote the value in YAML")
    enum = _problems(lambda raw: raw["projects"][0]["evaluation"].update(metric="logloss"))
    assert enum["projects[0].evaluation.metric"][1] == "must be one of 'auc', 'accuracy', 'f1', 'precision', 'recall', 'r2', 'rmse' or 'mae'"
    value_error = _problems(lambda raw: raw["projects"][0]["monitoring"].update(schedule="often"))
    assert value_error["projects[0].monitoring.schedule"][1].startswith("must be 'hourly', 'daily' or a Model Monitor cron expression")


def test_a_file_that_is_not_a_stage_says_where_and_what():
    from config.loader import parse_config

    with pytest.raises(ConfigError) as info:
        parse_config("- a list\n", source="list.yaml")
    assert [(p.path, p.value, p.message) for p in info.value.problems] == [
        ("<root>", ["a list"], "must be a mapping of settings (see config/dev.yaml)")
    ]


def test_the_stage_must_match_its_file_and_name_an_existing_registry(config_dir):
    _edit(config_dir, "prod", lambda raw: raw.update(model_registry_stage="qa"))
    with pytest.raises(ConfigError) as info:
        load_config("prod", config_dir)
    problems = {p.path: (p.value, p.message) for p in info.value.problems}
    assert problems["model_registry_stage"] == ("qa", "no stage 'qa'; allowed: dev, prod, trial")
    (config_dir / "qa.yaml").write_text((config_dir / "dev.yaml").read_text())
    with pytest.raises(ConfigError) as info:
        load_config("qa", config_dir)
    assert {p.path: (p.value, p.message) for p in info.value.problems}["stage"] == ("dev", "must match the file name: 'qa'")


def test_an_unknown_stage_names_its_file_and_the_stages_there(config_dir, tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config("qa", config_dir)
    ((path, value, message),) = [(p.path, p.value, p.message) for p in info.value.problems]
    assert (path, value, message) == ("stage", "qa", f"no file {config_dir / 'qa.yaml'}; allowed stages: dev, prod, trial")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError) as info:
        load_config("dev", empty)
    assert info.value.problems[0].message.endswith("allowed stages: (none)")


def _edit_delivery(config_dir, change) -> None:
    path = config_dir / "delivery" / "pipeline.yaml"
    raw = yaml.safe_load(path.read_text())
    change(raw)
    path.write_text(yaml.safe_dump(raw))


def test_the_delivery_config_reads_its_stages_in_order_and_says_what_is_wrong(config_dir):
    from config.loader import MISSING, load_delivery_config

    delivery, configs = load_delivery_config(config_dir)
    assert [c.stage for c in configs] == delivery.stages == ["dev", "prod"]
    _edit_delivery(config_dir, lambda raw: raw.update(stages=["dev", "qa"]))
    with pytest.raises(ConfigError) as info:
        load_delivery_config(config_dir)
    assert [(p.path, p.message) for p in info.value.problems] == [("stages", "unknown stage(s) ['qa']; allowed: dev, prod, trial")]
    _edit_delivery(config_dir, lambda raw: raw.update(stages=["dev", "prod"], region="eu-west-1"))
    with pytest.raises(ConfigError) as info:
        load_delivery_config(config_dir)
    ((path, value, message),) = [(p.path, p.value, p.message) for p in info.value.problems]
    assert (path, value) == ("region", "eu-west-1") and message.startswith("must be the first stage's (dev: 123456789012, us-east-1): ")
    (config_dir / "delivery" / "pipeline.yaml").write_text("stages: [\n")
    with pytest.raises(ConfigError) as info:
        load_delivery_config(config_dir)
    assert info.value.problems[0].path == "<file>" and info.value.problems[0].value is MISSING
    assert info.value.problems[0].message.startswith("cannot read: ")


def test_errors_name_their_file_and_a_network_without_its_mode_is_named():
    from config.loader import MISSING, parse_config

    for text in ("stage: [\n", "- a list\n", "stage: dev\n"):
        with pytest.raises(ConfigError) as info:
            parse_config(text, source="named.yaml")
        assert info.value.source == "named.yaml"
    no_mode = _problems(lambda raw: raw["network"].pop("mode"))
    assert no_mode["network.mode"][0] is MISSING and no_mode["network.mode"][1].startswith("network.mode must be 'new' (create a VPC)")
