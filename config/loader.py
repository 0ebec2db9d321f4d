"""Loads ``config/<stage>.yaml`` and reports every problem in it at once.

Field rules live in ``config.schema``; the rules that relate fields to each other (unique names,
sandboxes naming known users and projects, zones inside the region, Model Monitor in the region) are checked here on the raw
document, so that they are reported together with the field errors instead of after them.
"""

from __future__ import annotations

import typing
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from config.errors import MISSING, WHOLE_FILE, ConfigError, Problem
from config.model_monitor_images import ANALYZER_ACCOUNTS
from config.schema import CODECOMMIT_URL, DeliveryConfig, MonitoringConfig, PlatformConfig, StageLink

# The network's modes, each with its model: the tags of the schema's discriminated union (PlatformConfig.network).
NETWORK_MODES: dict[str, type[BaseModel]] = {
    typing.get_args(model.model_fields["mode"].annotation)[0]: model for model in typing.get_args(PlatformConfig.model_fields["network"].annotation)
}

CONFIG_DIR = Path(__file__).resolve().parent

# A user's role holds its own inline policy and one per sandbox; with the longest names the config
# allows they take 1,719 and 1,081 characters (tests/fidelity/test_documented_rules.py measures them
# from the templates), and IAM allows 10,240 characters of inline policy per role.
IAM_QUOTAS_DOC = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html#reference_iam-quotas-entity-length"
MAX_SANDBOXES_PER_USER = 5


def available_stages(config_dir: Path = CONFIG_DIR) -> list[str]:
    return sorted(p.stem for p in config_dir.glob("*.yaml"))


def load_config(stage: str, config_dir: Path = CONFIG_DIR) -> PlatformConfig:
    """Read and validate the configuration of ``stage``; raise ``ConfigError`` listing every problem."""
    stages = available_stages(config_dir)
    if stage not in stages:
        raise ConfigError(
            "the 'stage' context value",
            [Problem("stage", stage, f"no file {config_dir / (stage + '.yaml')}; allowed stages: {', '.join(stages) or '(none)'}")],
        )
    path = config_dir / f"{stage}.yaml"
    return parse_config(path.read_text(encoding="utf-8"), source=str(path), stage=stage, config_dir=config_dir)


def parse_config(text: str, *, source: str, stage: str | None = None, config_dir: Path | None = None) -> PlatformConfig:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError(source, [Problem("<file>", MISSING, f"not valid YAML at {where}: {getattr(exc, 'problem', exc)}")]) from None
    if not isinstance(raw, dict):
        raise ConfigError(source, [Problem("<root>", raw, "must be a mapping of settings (see config/dev.yaml)")])

    problems = _relation_problems(raw)
    if stage is not None and raw.get("stage", stage) != stage:
        problems.append(Problem("stage", raw.get("stage"), f"must match the file name: '{stage}'"))
    registry = raw.get("model_registry_stage")
    if registry is not None and config_dir is not None and registry != stage and not (config_dir / f"{registry}.yaml").exists():
        problems.append(Problem("model_registry_stage", registry, f"no stage '{registry}'; allowed: {', '.join(available_stages(config_dir))}"))
    try:
        config = PlatformConfig.model_validate(raw)
    except ValidationError as exc:
        problems += [_problem_from(err, PlatformConfig) for err in exc.errors()]
        config = None
    if config is not None and config_dir is not None and registry not in (None, stage):
        problems += _analyzer_problems(raw, config_dir / f"{registry}.yaml")
    if config is not None and config_dir is not None:
        registry_link, registry_problems = _registry_link(config, config_dir)
        consumers, consumer_problems = _consumers(config, config_dir)
        shared, shared_problems = _shared_endpoints(config, config_dir)
        problems += registry_problems + consumer_problems + shared_problems
        config = config.linked(registry_link, consumers, shared)
    if problems:
        raise ConfigError(source, problems)
    assert config is not None
    return config


# SageMaker reads a model's artifacts and image only in the model's own Region.
SAME_REGION_DOC = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ContainerDefinition.html"


def _raw_stage(path: Path) -> dict[str, Any] | None:
    """Another stage's file as written, or None when it cannot be read (its own synth reports that)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return raw if isinstance(raw, dict) else None


def _shared_endpoints(config: PlatformConfig, config_dir: Path) -> tuple[frozenset[str] | None, list[Problem]]:
    """The interface endpoints of the stage whose VPC and endpoints this one shares (``network.endpoints_from``): that
    stage's, as its own config derives them. It must be in this stage's account and Region, create its endpoints, and
    have every one this stage needs (a missing one is named, with the features that need it)."""
    network = config.network
    owner = network.endpoints_from
    if owner is None:
        return None, []
    where = "network.endpoints_from"
    if owner == config.stage:
        return None, [Problem(where, owner, "names this stage itself: name the stage whose VPC and endpoints this stage shares")]
    path = config_dir / f"{owner}.yaml"
    if not path.exists():
        return None, [
            Problem(where, owner, f"no stage '{owner}'; allowed: {', '.join(s for s in available_stages(config_dir) if s != config.stage)}")
        ]
    try:
        theirs = load_config(owner, config_dir)
    except ConfigError:
        return None, []  # its own synth reports it
    problems = []
    if (theirs.account, theirs.region) != (config.account, config.region):
        problems.append(
            Problem(
                where,
                owner,
                f"is in account {theirs.account}, {theirs.region}; this stage is in {config.account}, {config.region}: interface "
                "endpoints are shared within one account's VPC in one Region",
            )
        )
    if not theirs.network.creates_endpoints:
        problems.append(
            Problem(where, owner, f"creates no interface endpoints of its own (its network.mode is {theirs.network.mode}): name the stage that does")
        )
    shared = frozenset(theirs.endpoint_needs)
    missing = {name: why for name, why in config.endpoint_needs.items() if name not in shared}
    if missing:
        listed = "; ".join(f"{name} ({', '.join(why)})" for name, why in missing.items())
        problems.append(
            Problem(
                where,
                owner,
                f"stage {owner}'s VPC has no endpoint for what this stage needs: {listed}. Add {', '.join(missing)} to {owner}'s interface_endpoints",
            )
        )
    return (shared if not problems else None), problems


def _registry_link(config: PlatformConfig, config_dir: Path) -> tuple[StageLink | None, list[Problem]]:
    """Where the stage whose models this stage serves runs: in another account its resource policies let this stage's roles
    in; in another Region or under another prefix it cannot serve them at all."""
    if config.trains_models:
        return None, []
    registry = _raw_stage(config_dir / f"{config.registry_stage}.yaml")
    if registry is None:
        return None, []
    link = StageLink(config.registry_stage, str(registry.get("account")), str(registry.get("region")))
    problems = []
    if link.region != config.region:
        problems.append(
            Problem(
                "model_registry_stage",
                config.registry_stage,
                f"stage {link.stage} runs in {link.region} and this stage in {config.region}: SageMaker serves a model's artifacts "
                f"and image only from the model's own Region ({SAME_REGION_DOC}); put both stages in one Region",
            )
        )
    if registry.get("prefix", PlatformConfig.model_fields["prefix"].default) != config.prefix:
        problems.append(Problem("prefix", config.prefix, f"must be the model registry stage's ({link.stage}): its resources are named with it"))
    theirs = {p.get("name") for p in registry.get("projects") or [] if isinstance(p, dict)}
    for i, project in enumerate(config.projects):
        if project.deployment.enabled and project.name not in theirs:
            problems.append(
                Problem(
                    f"projects[{i}].name",
                    project.name,
                    f"serves models (an endpoint or batch scoring) but no project of stage {link.stage} registers them; "
                    f"allowed: {', '.join(sorted(str(t) for t in theirs))} (or deployment.enabled: false)",
                )
            )
    return link, problems


def _consumers(config: PlatformConfig, config_dir: Path) -> tuple[tuple[StageLink, ...], list[Problem]]:
    """The stages of ``config_dir`` that serve this stage's models from another account, with the projects they run
    endpoints (and monitors) for: this stage's resource policies name their roles."""
    consumers, problems = [], []
    for path in sorted(config_dir.glob("*.yaml")):
        other = _raw_stage(path) if path.stem != config.stage else None
        if (
            other is None
            or other.get("model_registry_stage") != config.stage
            or other.get("prefix", PlatformConfig.model_fields["prefix"].default) != config.prefix
            or str(other.get("account")) == config.account
        ):
            continue
        try:
            theirs = parse_config(path.read_text(encoding="utf-8"), source=str(path), stage=path.stem)
        except ConfigError:
            problems.append(
                Problem(
                    "account",
                    config.account,
                    f"stage {path.stem} serves this stage's models from account {other.get('account')}, and its file has problems "
                    f"(this stage's policies grant its roles): synthesize it (-c stage={path.stem}) to see them",
                )
            )
            continue
        consumers.append(StageLink(theirs.stage, theirs.account, theirs.region, tuple(theirs.projects)))
    return tuple(consumers), problems


def _analyzer_problems(raw: dict[str, Any], registry_file: Path) -> list[Problem]:
    """A project's monitoring analyzer must be the registry stage's: its pipeline computes the baseline the
    endpoint's monitor reads (the project analyzer's from the training features, Model Monitor's from the scored
    ones, whose first column is the model's output)."""
    try:
        registry = yaml.safe_load(registry_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return []  # the registry stage's own synth reports its file's problems
    if not isinstance(registry, dict):
        return []
    default = MonitoringConfig.model_fields["analyzer"].default

    def analyzer(project: Any) -> str:
        monitoring = project.get("monitoring") if isinstance(project, dict) else None
        return (monitoring.get("analyzer") if isinstance(monitoring, dict) else None) or default

    theirs = {p.get("name"): analyzer(p) for p in registry.get("projects") or [] if isinstance(p, dict)}
    problems = []
    for i, project in enumerate(raw.get("projects") or []):
        mine = analyzer(project)
        name = project.get("name")
        if name in theirs and theirs[name] != mine:
            problems.append(
                Problem(
                    f"projects[{i}].monitoring.analyzer",
                    mine,
                    f"must be '{theirs[name]}', the analyzer of project {name} in the model registry stage "
                    f"({registry_file.name}): its pipeline computes the baseline this stage's monitor reads",
                )
            )
    return problems


def _path(loc: tuple[Any, ...]) -> str:
    """A pydantic error's location as the file says it: ``projects[0].name``; the network's mode, which pydantic puts
    in the location as the union's tag (``network.frugal.nat``), is not a key in the file (``network.nat``)."""
    parts = [part for i, part in enumerate(loc) if not _is_network_tag(loc, i)]
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts).removeprefix(".")


def _is_network_tag(loc: tuple[Any, ...], i: int) -> bool:
    return i == 1 and loc[0] == "network" and loc[1] in NETWORK_MODES


def _problem_from(err: dict[str, Any], root: type[BaseModel]) -> Problem:
    """One pydantic error of a file validated as ``root``, as a problem in the file's own words."""
    loc = tuple(err["loc"])
    kind = err["type"]
    value = err.get("input", MISSING)
    message = err["msg"]
    if kind == "extra_forbidden":
        parent_loc = loc[:-1]
        message = f"unknown key; allowed keys here: {', '.join(_allowed_keys(parent_loc, root))}"  # the parent is a model
    elif kind == "missing":
        value = MISSING
        message = "required but missing"
    elif kind == "value_error":
        message = message.removeprefix("Value error, ")
        if not loc:  # a rule across the file's settings: its message names them
            value = WHOLE_FILE
    elif kind == "union_tag_invalid" or kind == "union_tag_not_found":
        message = (
            "network.mode must be 'new' (create a VPC), 'existing' (use vpc_id and subnet_ids) or 'frugal' (Studio on "
            "SageMaker's internet, workloads in no VPC: for sandbox accounts)"
        )
        loc = loc + ("mode",)
        value = value.get("mode", MISSING) if isinstance(value, dict) else value
    elif kind == "string_type":
        message = "must be text; quote the value in YAML"
    elif kind == "enum":
        message = f"must be one of {err['ctx']['expected']}"  # pydantic's enum and literal errors always say what they expect
    return Problem(_path(loc), value, message)


def _egress_default(mode: Any) -> str:
    """A network mode's ``egress`` when the file gives none: the schema's default (a frugal network's is SageMaker's)."""
    return NETWORK_MODES[mode].model_fields["egress"].default if mode in NETWORK_MODES else "none"


def _allowed_keys(loc: tuple[Any, ...], root: type[BaseModel]) -> list[str]:
    """The keys of the settings at ``loc`` of a file validated as ``root``."""
    model: Any = root
    for i, part in enumerate(loc):
        if _is_network_tag(loc, i):
            model = NETWORK_MODES[part]
            continue
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        for candidate in getattr(annotation, "__args__", ()) + (annotation,):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
                break
        else:
            return []
    return sorted(model.model_fields)


def _names(raw: dict[str, Any], key: str) -> list[tuple[int, Any]]:
    items = raw.get(key)
    if not isinstance(items, list):
        return []
    return [(i, item.get("name")) for i, item in enumerate(items) if isinstance(item, dict)]


def _uses_model_monitor(raw: dict[str, Any]) -> bool:
    """Whether a project runs Model Monitor's own analyzer image (engine and analyzer ``model_monitor``)."""
    projects = raw.get("projects") if isinstance(raw.get("projects"), list) else []
    return any(
        (m := _mapping(p, "monitoring")).get("enabled") is not False and m.get("engine") == "model_monitor" and m.get("analyzer") == "model_monitor"
        for p in projects
    )


def _mapping(node: Any, key: str) -> dict[str, Any]:
    value = node.get(key) if isinstance(node, dict) else None
    return value if isinstance(value, dict) else {}


def _monitors_input(project: dict[str, Any]) -> bool:
    """As ``ProjectConfig.monitors_input``, on the raw document (so a missing monitoring block counts): an instance-backed
    endpoint, or batch scoring, with monitoring on."""
    monitoring, deployment = _mapping(project, "monitoring"), _mapping(project, "deployment")
    mode = deployment.get("mode", "endpoint")
    return (
        monitoring.get("enabled") is not False  # on unless the file says false
        and deployment.get("enabled") is not False
        and (mode == "batch" or (mode == "endpoint" and deployment.get("serverless") is None))
    )


def _relation_problems(raw: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    for key in ("projects", "users"):
        named = _names(raw, key)
        counts = Counter(name for _, name in named if isinstance(name, str))
        for i, name in named:
            if isinstance(name, str) and counts[name] > 1:
                problems.append(Problem(f"{key}[{i}].name", name, f"duplicate name: each of {key} must have a unique name"))

    projects = {name for _, name in _names(raw, "projects")}
    users = {name for _, name in _names(raw, "users")}
    sandboxes = raw.get("sandboxes")
    seen: set[tuple[Any, Any]] = set()
    if isinstance(sandboxes, list):
        for i, sb in enumerate(sandboxes):
            if not isinstance(sb, dict):
                continue
            user, project = sb.get("user"), sb.get("project")
            if "user" in sb and user not in users:
                problems.append(
                    Problem(f"sandboxes[{i}].user", user, f"no such user; configured users: {', '.join(sorted(map(str, users))) or '(none)'}")
                )
            if "project" in sb and project not in projects:
                problems.append(
                    Problem(
                        f"sandboxes[{i}].project",
                        project,
                        f"no such project; configured projects: {', '.join(sorted(map(str, projects))) or '(none)'}",
                    )
                )
            if (user, project) in seen:
                problems.append(
                    Problem(
                        f"sandboxes[{i}]", {"user": user, "project": project}, "duplicate sandbox: this user already has a sandbox in this project"
                    )
                )
            seen.add((user, project))
        per_user = Counter(sb.get("user") for sb in sandboxes if isinstance(sb, dict))
        for user, count in sorted(per_user.items(), key=lambda kv: str(kv[0])):
            if count > MAX_SANDBOXES_PER_USER:
                problems.append(
                    Problem(
                        "sandboxes",
                        f"{count} sandboxes of user {user}",
                        f"at most {MAX_SANDBOXES_PER_USER} per user: each adds an inline policy to the user's role, and IAM allows "
                        f"10,240 characters of inline policy per role ({IAM_QUOTAS_DOC})",
                    )
                )

    for i, project in enumerate(raw.get("projects") if isinstance(raw.get("projects"), list) else []):
        if isinstance(project, dict) and _monitors_input(project) and not _mapping(project, "monitoring").get("drift_alarms"):
            problems.append(
                Problem(
                    f"projects[{i}].monitoring.drift_alarms",
                    _mapping(project, "monitoring").get("drift_alarms", MISSING),
                    "must name at least one feature to watch, e.g. [{feature: mean_radius, threshold: 0.1}] (an instance-backed "
                    "endpoint and batch scoring are monitored by default), or set monitoring.enabled: false",
                )
            )

    # Studio runs in the VPC: a repository outside AWS is reachable only through a route out (config.endpoints)
    network_raw = _mapping(raw, "network")
    if network_raw.get("egress", _egress_default(network_raw.get("mode"))) == "none":
        for i, project in enumerate(raw.get("projects") if isinstance(raw.get("projects"), list) else []):
            git = project.get("git") if isinstance(project, dict) else None
            url = git.get("url") if isinstance(git, dict) else None
            if isinstance(url, str) and url.startswith("https://") and not CODECOMMIT_URL.match(url):
                problems.append(
                    Problem(
                        f"projects[{i}].git.url",
                        url,
                        "is outside AWS, and the stage's VPC has no route out, so Studio could never reach it: give the new VPC "
                        "a NAT gateway (network.egress: nat, about $36.50 a month idle: make cost), run the stage in an existing "
                        "VPC whose subnets route out (network.mode: existing, network.egress: existing), remove git, or, in an "
                        "account that already uses CodeCommit (closed to new customers), name a CodeCommit repository (reached "
                        "through the git-codecommit endpoint) and declare account_already_uses: [codecommit]",
                    )
                )

    region = raw.get("region")
    if isinstance(region, str) and region not in ANALYZER_ACCOUNTS and _uses_model_monitor(raw):
        problems.append(
            Problem(
                "region",
                region,
                "SageMaker Model Monitor's analyzer image (the monitoring baseline and schedules) is not published there; "
                f"allowed: {', '.join(sorted(ANALYZER_ACCOUNTS))}, or set monitoring.enabled: false in every project",
            )
        )
    network = raw.get("network")
    if isinstance(region, str) and isinstance(network, dict) and isinstance(network.get("availability_zones"), list):
        for i, zone in enumerate(network["availability_zones"]):
            if not (isinstance(zone, str) and zone.startswith(region) and len(zone) == len(region) + 1 and zone[-1].isalpha()):
                problems.append(
                    Problem(f"network.availability_zones[{i}]", zone, f"not a zone of region '{region}' (expected a name like '{region}a')")
                )
    return problems


def load_delivery_config(config_dir: Path = CONFIG_DIR) -> tuple[DeliveryConfig, list[PlatformConfig]]:
    """The delivery pipeline's config and, in order, the validated config of every stage it deploys."""
    path = config_dir / "delivery" / "pipeline.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(str(path), [Problem("<file>", MISSING, f"cannot read: {exc}")]) from None
    try:
        delivery = DeliveryConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(str(path), [_problem_from(err, DeliveryConfig) for err in exc.errors()]) from None
    stages = available_stages(config_dir)
    unknown = [s for s in delivery.stages if s not in stages]
    if unknown:
        raise ConfigError(str(path), [Problem("stages", delivery.stages, f"unknown stage(s) {unknown}; allowed: {', '.join(stages)}")])
    configs = [load_config(s, config_dir) for s in delivery.stages]
    first = configs[0]
    if (delivery.account, delivery.region) != (first.account, first.region):
        raise ConfigError(
            str(path),
            [
                Problem(
                    "account" if delivery.account != first.account else "region",
                    delivery.account if delivery.account != first.account else delivery.region,
                    f"must be the first stage's ({first.stage}: {first.account}, {first.region}): the pipeline builds and pushes the "
                    "image to that stage's repositories, starts its training pipelines and reads its approved packages with roles of "
                    "its own account (a separate tooling account is not supported)",
                )
            ],
        )
    return delivery, configs
