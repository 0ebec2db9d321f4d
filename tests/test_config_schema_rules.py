"""The schema's own rules (config.schema), each at its edges and word for word: names, schedules, instance types, the
hyperparameters SageMaker passes, model quality's conditions, MLflow where models are trained. Written for make mutate."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from config import ConfigError
from config.loader import parse_config
from config.schema import (
    NAME_RULE,
    USER_RULE,
    PipelineConfig,
    _check_instance_type,
    _valid_schedule,
)

ROOT = Path(__file__).resolve().parent.parent


def _raw(stage: str = "dev") -> dict:
    """A stage's config as shipped; dev's with its churn project in real time, monitored (tests/stage_configs.py)."""
    from tests.stage_configs import dev_with_realtime_churn

    return dev_with_realtime_churn() if stage == "dev" else yaml.safe_load((ROOT / "config" / f"{stage}.yaml").read_text())


def _problems(raw: dict) -> dict[str, tuple[object, str]]:
    try:
        parse_config(yaml.safe_dump(raw), source="t.yaml")
    except ConfigError as exc:
        return {p.path: (p.value, p.message) for p in exc.problems}
    return {}


@pytest.mark.parametrize(
    ("where", "name", "ok"),
    [
        ("users", "ab", True),  # a user name's shortest
        ("users", "a", False),
        ("users", "a" * 32, True),
        ("users", "a" * 33, False),
        ("projects", "abc", True),  # a project name's shortest
        ("projects", "ab", False),
        ("projects", "a" * 32, True),
        ("projects", "a" * 33, False),
    ],
)
def test_names_at_their_lengths(where, name, ok):
    raw = _raw()
    old = raw[where][0]["name"]
    raw[where][0]["name"] = name
    for sandbox in raw.get("sandboxes", []):
        if sandbox.get("user" if where == "users" else "project") == old:
            sandbox["user" if where == "users" else "project"] = name
    problems = _problems(raw)
    path = f"{where}[0].name"
    if ok:
        assert path not in problems
    else:
        assert problems[path] == (name, f"must be {USER_RULE if where == 'users' else NAME_RULE}")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("rate(1 day)", None),
        ("rate(5 minutes)", None),
        ("cron(0 3 1 * ? *)", None),  # day-of-week '?'
        ("cron(0 3 ? * MON *)", None),  # day-of-month '?'
        ("monthly", "must be an EventBridge schedule: 'cron(min hour day month weekday year)' or 'rate(N unit)'"),
        ("cron(0 3 1 * *)", "a cron expression has 6 fields (min hour day month weekday year), got 5"),
        ("cron(0 3 1 ? MON *)", "in a cron expression, day-of-month or day-of-week must be '?'"),  # the month's '?' is not theirs
        ("cron(0 3 1 * MON *)", "in a cron expression, day-of-month or day-of-week must be '?'"),
        ("cron(0 ? 1 * MON *)", "in a cron expression, day-of-month or day-of-week must be '?'"),
    ],
)
def test_eventbridge_schedules(value, message):
    if message is None:
        assert _valid_schedule(value) == value
    else:
        with pytest.raises(ValueError) as caught:
            _valid_schedule(value)
        assert str(caught.value) == message


def test_an_unknown_instance_type_names_close_ones_or_an_example():
    with pytest.raises(ValueError) as caught:
        _check_instance_type("ml.m5.larg", "endpoint")
    message = str(caught.value)
    assert message.startswith("not an instance type of SageMaker ") and "; close: ml.m5.large, " in message
    assert message.count(", ml.") == 3 and message.endswith(" allowed types: config/instance_types.py)")  # four close ones
    with pytest.raises(ValueError) as caught:
        _check_instance_type("gpu-please", "endpoint")
    assert "; e.g. ml.m5.large (the " in str(caught.value) and "close" not in str(caught.value)
    assert _check_instance_type("ml.m5.large", "endpoint") == "ml.m5.large"


def test_hyperparameters_reach_sagemaker_as_strings_with_lower_case_booleans():
    config = PipelineConfig.model_construct(hyperparameters={"flag": True, "off": False, "n": 3, "rate": 0.5, "name": "x"})
    assert config.hyperparameter_strings() == {"flag": "true", "off": "false", "n": "3", "rate": "0.5", "name": "x"}


def _quality(**change) -> dict:
    raw = _raw()
    churn = raw["projects"][0]
    for path, value in change.items():
        node = churn
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return _problems(raw)


def test_model_quality_needs_a_monitored_endpoint_and_a_threshold_in_range():
    checkable = (
        "monitoring.quality: model quality is checked by the project's scheduled check of an endpoint's captured predictions: it "
        "needs an instance-backed endpoint (deployment.mode endpoint, no serverless block) with monitoring enabled and engine "
        "'project'"
    )
    assert (
        _quality(**{"monitoring.enabled": False}) == {"projects[0]": (_raw()["projects"][0] | {}, checkable)}
        or list(_quality(**{"monitoring.enabled": False}).values())[0][1] == checkable
    )
    for threshold in (0.0, 1.0):
        assert _quality(**{"monitoring.quality.threshold": threshold}) == {}
    for threshold in (-0.01, 1.01):
        problems = _quality(**{"monitoring.quality.threshold": threshold})
        assert any(f"monitoring.quality.threshold {threshold}: auc lies between 0.0 and 1.0" in message for _, message in problems.values())


def test_mlflow_is_where_models_are_trained_and_only_when_enabled():
    from config import load_config

    dev, prod = load_config("dev"), load_config("prod")
    churn = dev.project("churn")
    assert dev.mlflow(churn) is churn.mlflow and churn.mlflow.enabled
    assert prod.mlflow(prod.project("churn")) is None  # prod serves dev's models: it trains none
    disabled = churn.model_copy(update={"mlflow": churn.mlflow.model_copy(update={"enabled": False})})
    assert dev.mlflow(disabled) is None
