"""The schema of a stage's configuration file, with the rules every value must meet.

Each rule's error message says what is allowed, because it is shown to a platform engineer as is
(see ``config.loader``). Names end up in S3, SageMaker and IAM resource names, so their patterns
are the intersection of those services' rules.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from dataclasses import dataclass
from enum import Enum
from ipaddress import IPv4Network
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, PrivateAttr, field_validator, model_validator

from config import endpoints
from config.instance_types import INSTANCE_TYPES
from config.naming import Names

# Project and user names (also the Service Catalog products' parameters): they end up in S3, SageMaker
# and IAM names, so the pattern is the intersection of those services' rules.
NAME_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
NAME_MAX_LENGTH = 32
PROJECT_NAME_MIN_LENGTH, USER_NAME_MIN_LENGTH = 3, 2
SHARED_TAG_VALUE = "shared"  # the `project` tag of the stage's shared stacks (environment, users)
NAME_RULE = f"{PROJECT_NAME_MIN_LENGTH}-{NAME_MAX_LENGTH} characters: lowercase letters, digits and single hyphens, starting with a letter"
USER_RULE = f"{USER_NAME_MIN_LENGTH}-{NAME_MAX_LENGTH} characters: lowercase letters, digits and single hyphens, starting with a letter"
_NAME_RE = re.compile(NAME_PATTERN)

ACCOUNT_RULE = "a 12-digit AWS account id"
REGION_RULE = "an AWS region name such as 'us-east-1' or 'eu-west-2'"
_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")

# Which SageMaker APIs each configured instance type is sent to; each API has its own list of instance
# types (config/instance_types.py, from botocore's service model). The processing type is also
# registered as the model package's batch-transform type, so it must be valid for both.
INSTANCE_TYPE_APIS = {
    "processing": ("processing", "transform"),
    "training": ("training",),
    "endpoint": ("endpoint",),
    "monitoring": ("processing",),
}
_API_NAMES = {
    "processing": "processing jobs (CreateProcessingJob)",
    "transform": "batch transform (a model package's SupportedTransformInstanceTypes)",
    "training": "training jobs (CreateTrainingJob)",
    "endpoint": "real-time endpoints (CreateEndpointConfig)",
}


def _check_name(value: str, rule: str, min_len: int) -> str:
    if not (min_len <= len(value) <= NAME_MAX_LENGTH and _NAME_RE.match(value)):
        raise ValueError(f"must be {rule}")
    return value


class Metric(str, Enum):
    """Evaluation metrics the quality gate understands, with the direction that means better."""

    AUC = "auc"
    ACCURACY = "accuracy"
    F1 = "f1"
    PRECISION = "precision"
    RECALL = "recall"
    R2 = "r2"
    RMSE = "rmse"
    MAE = "mae"

    @property
    def higher_is_better(self) -> bool:
        return self not in (Metric.RMSE, Metric.MAE)

    @property
    def bounds(self) -> tuple[float, float]:
        if self in (Metric.RMSE, Metric.MAE):
            return (0.0, float("inf"))
        if self is Metric.R2:
            return (float("-inf"), 1.0)
        return (0.0, 1.0)


def _valid_schedule(value: str) -> str:
    """An EventBridge schedule expression: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html"""
    match = re.fullmatch(r"cron\((.+)\)|rate\((\d+) (minutes?|hours?|days?)\)", value)
    if match is None:
        raise ValueError("must be an EventBridge schedule: 'cron(min hour day month weekday year)' or 'rate(N unit)'")
    if match.group(1) is not None:
        fields = match.group(1).split()
        if len(fields) != 6:
            raise ValueError(f"a cron expression has 6 fields (min hour day month weekday year), got {len(fields)}")
        if "?" not in (fields[2], fields[4]):
            raise ValueError("in a cron expression, day-of-month or day-of-week must be '?'")
    return value


def _check_instance_type(value: str, kind: str) -> str:
    for api in INSTANCE_TYPE_APIS[kind]:
        allowed = INSTANCE_TYPES[api]
        if value not in allowed:
            close = difflib.get_close_matches(value, sorted(allowed), n=4, cutoff=0.6)
            raise ValueError(
                f"not an instance type of SageMaker {_API_NAMES[api]}"
                + (f"; close: {', '.join(close)}" if close else "; e.g. ml.m5.large")
                + f" (the {len(allowed)} allowed types: config/instance_types.py)"
            )
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class InstanceTypesConfig(_Strict):
    """SageMaker instance types for the project's jobs and endpoint."""

    processing: str = "ml.m5.large"
    training: str = "ml.m5.large"
    endpoint: str = "ml.m5.large"

    @field_validator("processing", "training", "endpoint")
    @classmethod
    def _known_family(cls, value: str, info) -> str:
        return _check_instance_type(value, info.field_name)


class EvaluationConfig(_Strict):
    """The quality gate: a model is registered only if ``metric`` beats ``threshold``."""

    metric: Metric = Metric.AUC
    threshold: float

    @field_validator("threshold")
    @classmethod
    def _threshold_in_range(cls, value: float, info) -> float:
        metric = info.data.get("metric")
        if isinstance(metric, Metric):
            low, high = metric.bounds
            if not (low <= value <= high):
                raise ValueError(f"out of range for metric '{metric.value}': allowed {low} to {high}")
        return value

    @property
    def higher_is_better(self) -> bool:
        return self.metric.higher_is_better


def _sagemaker_strings(values: dict) -> dict[str, str]:
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in values.items()}


class PipelineConfig(_Strict):
    """How the project's training pipeline runs (see ``TrainingPipeline``)."""

    # "auto": the tag the delivery pipeline ships, derived from the image's source (config.image); or a tag you pushed
    image_tag: str = Field(default="auto", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    data_prefix: str = Field(default="incoming/", pattern=r"^([A-Za-z0-9!_.*'()-]+/)+$")
    hyperparameters: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,255}$")], str | int | float | bool] = {}
    spot_training: bool = False
    processing_max_runtime_minutes: int = Field(default=60, ge=5, le=1440)
    training_max_runtime_minutes: int = Field(default=60, ge=5, le=1440)
    approval_status: Literal["PendingManualApproval", "Approved"] = "PendingManualApproval"
    # Publish runs (sandbox users' models) running at once in this project: one more is refused until one ends.
    max_publish_runs: int = Field(default=2, ge=1, le=20)

    @field_validator("hyperparameters")
    @classmethod
    def _known_to_the_training_code(cls, value: dict) -> dict:
        """The training job's own parser (``config.hyperparameters``): a model type or setting it would refuse fails here,
        at synth, naming the value and the choices."""
        from config.hyperparameters import training

        try:
            training.parse(_sagemaker_strings(value))
        except training.HyperparameterError as exc:
            raise ValueError(f"{exc} (the training code's hyperparameters: container/mlops_container/hyperparameters.py)") from None
        return value

    @property
    def resolved_image_tag(self) -> str:
        """The image tag the pipeline's jobs (and the project analyzer) use: ``image_tag``, or for ``auto`` the content tag."""
        from config.image import resolved_tag

        return resolved_tag(self.image_tag)

    def hyperparameter_strings(self) -> dict[str, str]:
        """As SageMaker passes them: every value a string (booleans lower-case)."""
        return _sagemaker_strings(self.hyperparameters)


class ServerlessConfig(_Strict):
    """A serverless-inference endpoint instead of instances (frugal for dev): no data capture,
    autoscaling or blue/green guardrails, which serverless endpoints do not offer."""

    memory_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144] = 2048
    max_concurrency: int = Field(default=5, ge=1, le=200)


class ApiConfig(_Strict):
    """The API Gateway front of the endpoint.

    ``iam``: every call is signed (SigV4) by a principal allowed ``execute-api:Invoke`` (authentication) and
    carries its caller's API key (the per-caller quota). ``api_key``: the key alone, which identifies a caller
    and meters it but authenticates nobody (anyone holding a key can call)."""

    auth: Literal["iam", "api_key"] = "iam"
    callers: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")]] = Field(default=["default"], min_length=1, max_length=50)
    rate_limit: float = Field(default=50, gt=0, le=10000)
    burst_limit: int = Field(default=100, ge=1, le=5000)
    quota_per_day: int = Field(default=100_000, ge=1)
    max_body_kb: int = Field(default=1024, ge=1, le=6144)
    waf: bool = False
    waf_requests_per_5_minutes: int = Field(default=2000, ge=10, le=2_000_000_000)  # per client IP, with waf
    # The public IPv4 ranges (CIDR) calls may come from: the API's resource policy refuses every other source
    # (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-resource-policies-examples.html).
    source_ips: list[IPv4Network] = []

    @model_validator(mode="after")
    def _no_public_key_only_api(self) -> ApiConfig:
        if self.auth == "api_key" and not self.waf and not self.source_ips:
            raise ValueError(
                "auth api_key alone makes a public API that anyone holding a key can call from anywhere (and exhaust the "
                "endpoint's capacity): add source_ips (the callers' CIDR ranges, enforced by the API's resource policy) or "
                "waf: true (a web ACL with a per-IP rate rule), or use auth: iam"
            )
        return self

    @field_validator("callers")
    @classmethod
    def _unique_callers(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("lists a caller more than once")
        return value


# Serverless Inference supports no VPC configuration, network isolation, data capture, Model Monitor,
# GPUs or multiple variants; deployment guardrails (canary, rollback) exclude it and Inf1 instances.
SERVERLESS_EXCLUSIONS_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html#serverless-endpoints-how-it-works-exclusions"
GUARDRAILS_EXCLUSIONS_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html"
INSTANCE_ENDPOINT_SETTINGS = (
    "instance_count",
    "min_capacity",
    "max_capacity",
    "target_invocations_per_instance",
    "scale_in_cooldown_seconds",
    "scale_out_cooldown_seconds",
    "data_capture_percent",
    "canary_percent",
    "canary_wait_minutes",
)


class BatchConfig(_Strict):
    """Scoring by a SageMaker batch transform instead of an endpoint (``deployment.mode: batch``): every CSV object under
    ``input_prefix`` of the data bucket, on ``schedule`` and on demand, on ``instance_count`` instances of the project's
    processing type (the type the pipeline registers as the package's transform type)."""

    input_prefix: str = Field(default="score/", pattern=r"^([A-Za-z0-9!_.*'()-]+/)+$")
    schedule: str = "cron(0 6 1 * ? *)"  # monthly, after the default retraining (03:00 on the 1st)
    schedule_enabled: bool = True
    instance_count: int = Field(default=1, ge=1, le=10)
    max_payload_mb: int = Field(default=6, ge=1, le=100)  # CreateTransformJob's MaxPayloadInMB
    max_runtime_minutes: int = Field(default=240, ge=5, le=2880)  # the job is stopped (and the run fails) after this

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str) -> str:
        return _valid_schedule(value)


class DeploymentConfig(_Strict):
    """The project's real-time endpoint (see ``ModelEndpoint``) and its API front, or (``mode: batch``) its batch scoring."""

    enabled: bool = True
    mode: Literal["endpoint", "batch"] = "endpoint"
    batch: BatchConfig = BatchConfig()
    instance_count: int = Field(default=1, ge=1, le=10)
    min_capacity: int = Field(default=1, ge=1, le=10)
    max_capacity: int = Field(default=2, ge=1, le=20)
    target_invocations_per_instance: int = Field(default=200, ge=1, le=100_000)
    scale_in_cooldown_seconds: int = Field(default=300, ge=0, le=3600)
    scale_out_cooldown_seconds: int = Field(default=60, ge=0, le=3600)
    data_capture_percent: int = Field(default=100, ge=1, le=100)
    canary_percent: int = Field(default=10, ge=1, le=50)
    canary_wait_minutes: int = Field(default=10, ge=1, le=60)
    latency_alarm_ms: int = Field(default=1000, ge=1, le=60_000)
    serverless: ServerlessConfig | None = None
    api: ApiConfig = ApiConfig()

    @model_validator(mode="after")
    def _capacity_order(self) -> DeploymentConfig:
        if self.mode == "batch":
            endpoint_settings = sorted(self.model_fields_set & {*INSTANCE_ENDPOINT_SETTINGS, "serverless", "api", "latency_alarm_ms"})
            if endpoint_settings:
                raise ValueError(f"{', '.join(endpoint_settings)} configure an endpoint; mode 'batch' has none: remove them")
        elif "batch" in self.model_fields_set:
            raise ValueError("batch configures batch scoring: set mode: batch, or remove it")
        instance_settings = sorted(self.model_fields_set & set(INSTANCE_ENDPOINT_SETTINGS))
        if self.serverless is not None and instance_settings:
            raise ValueError(
                f"{', '.join(instance_settings)} apply to instance-backed endpoints only; a serverless endpoint has no instances, "
                f"data capture or canary deployments ({SERVERLESS_EXCLUSIONS_DOC}): remove them or the serverless block"
            )
        if not self.min_capacity <= self.instance_count <= self.max_capacity:
            raise ValueError(
                f"need min_capacity ({self.min_capacity}) <= instance_count ({self.instance_count}) <= max_capacity ({self.max_capacity})"
            )
        return self


class DriftAlarmConfig(_Strict):
    """One CloudWatch alarm on Model Monitor's baseline-drift metric of one feature."""

    feature: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")
    threshold: float = Field(default=0.1, gt=0, le=1)


# SageMaker Model Monitor, Clarify and Debugger are closed to new customers since 2026-07-30: "Amazon SageMaker Model
# Monitor is no longer open to new customers. Existing customers can continue to use the service as normal"
# (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-availability-change.html; Clarify:
# https://docs.aws.amazon.com/sagemaker/latest/dg/clarify-availability-change.html; Debugger:
# https://docs.aws.amazon.com/sagemaker/latest/dg/debugger-availability-change.html). A stage uses one only when its
# config declares that its account already has it (``PlatformConfig.account_already_uses``). AWS CodeCommit too: "AWS
# CodeCommit is no longer available to new customers. Existing customers of AWS CodeCommit can continue to use the service
# as normal" (the banner of every page of its user guide, e.g.
# https://docs.aws.amazon.com/codecommit/latest/userguide/references.html; AWS's migration guide:
# https://aws.amazon.com/blogs/devops/how-to-migrate-your-aws-codecommit-repository-to-another-git-provider/), so a new
# account has no repository for a CodeCommit git.url to name, nor for the delivery pipeline's source.
CLOSED_FEATURES = {
    "model_monitor": "https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-availability-change.html",
    "clarify": "https://docs.aws.amazon.com/sagemaker/latest/dg/clarify-availability-change.html",
    "debugger": "https://docs.aws.amazon.com/sagemaker/latest/dg/debugger-availability-change.html",
    "codecommit": "https://docs.aws.amazon.com/codecommit/latest/userguide/references.html",
}
ClosedFeature = Literal["model_monitor", "clarify", "debugger", "codecommit"]


# States a run of the project engine's check with one period enters (Step Functions bills each transition): Plan,
# AnotherRunIsChecking, EachPeriod, Request, CheckRunner, CheckInLambda, CheckDone, RecordChecked, Checked. What `make cost`
# and `make bench-check` price a run at; tests/constructs/test_drift_check.py counts them in a run.
STATE_TRANSITIONS_PER_RUN = 9


ROLE_ARN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$"


class QualityConfig(_Strict):
    """Model quality from ground truth (``monitoring.quality``), checked by the drift check's schedule: each period again
    ``label_delay_hours`` after it ends, its captured predictions joined with the labels that arrived, in Model Monitor's
    documented ground-truth layout (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-merge.html)
    under ``ground-truth/<endpoint>/yyyy/mm/dd/hh/`` of the capture bucket. The project's evaluation metric is computed
    with the evaluation job's code; an alarm (which retrains, as the drift alarms do, with ``retrain_on_drift``) fires
    when it fails ``threshold`` (default: the quality gate's) over at least ``min_labels`` labelled rows. The project's
    sandboxes and the roles in ``label_writers`` (an application's, of this account) may write labels."""

    enabled: bool = False
    label_delay_hours: int = Field(default=24, ge=0, le=2160)  # labels may arrive up to this long after the prediction (90 days)
    threshold: float | None = None
    min_labels: int = Field(default=100, ge=1, le=1_000_000)
    label_writers: list[Annotated[str, Field(pattern=ROLE_ARN)]] = []


class MonitoringConfig(_Strict):
    """Data-quality (drift) monitoring of the project's endpoint, or in ``deployment.mode: batch`` the check of each
    scoring run's input (see ``BatchScoring``).

    ``engine: project`` (default): the platform's own scheduled check (``DriftCheck``): on ``schedule``, each period's
    captured traffic is checked by the project's analyzer in a Lambda function of the project's image, or in a processing
    job when the period's capture exceeds ``lambda_max_mb`` (``runner`` forces one), after ``delay_minutes`` for late
    capture files; every period exactly once, missed and failed periods caught up by the next run. ``engine:
    model_monitor``: a SageMaker Model Monitor schedule, only for accounts that already use Model Monitor (closed to new
    customers: ``CLOSED_FEATURES``), declared in the stage's ``account_already_uses``.

    Applies to instance-backed endpoints (serverless endpoints have no data capture) and batch scoring. ``drift_alarms``
    name the features whose baseline-drift distance raises an alarm (the CSV header names of the
    training data); with ``retrain_on_drift`` such an alarm also starts the training pipeline.
    """

    enabled: bool = True
    engine: Literal["project", "model_monitor"] = "project"
    # What analyzes the captured data under engine model_monitor: Model Monitor's own (Spark) analyzer, or the project's
    # image under its bring-your-own-container contract. The project engine always runs the project's analyzer. The
    # baseline is computed by the model registry stage's pipeline with its analyzer, so a stage that serves another
    # stage's models names the same analyzer (checked when the configuration is read).
    analyzer: Literal["model_monitor", "project"] = "project"
    schedule: str = "hourly"
    # How long after a period ends its check starts (capture files written late still count): at most 60.
    delay_minutes: int = Field(default=3, ge=0, le=60)
    # Where a period is checked: "auto" by its captured size (up to lambda_max_mb in the function), or always one runner.
    runner: Literal["auto", "lambda", "job"] = "auto"
    # The function reads a period's capture into /tmp and memory: Lambda allows 10,240 MB of each and 15 minutes
    # (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
    lambda_max_mb: int = Field(default=256, ge=0, le=2048)
    lambda_memory_mb: int = Field(default=2048, ge=512, le=10240)
    # Periods one run checks at most when catching up (the rest are due at the next run: none is skipped).
    max_periods_per_run: int = Field(default=24, ge=1, le=168)
    # Which features' metrics the check publishes: "watched" (those with a drift alarm) or "all" (as Model Monitor). Each
    # custom metric bills per month ($0.30 each for the first 10,000: config/pricing/prices.yaml), three per feature.
    publish_metrics: Literal["watched", "all"] = "watched"
    instance_type: str = "ml.m5.large"
    # Model Monitor's analyzer is a Spark job: more instances for captures one instance cannot analyze within
    # max_runtime_minutes. MonitoringClusterConfig.InstanceCount is 1-100 (SageMaker API reference).
    instance_count: int = Field(default=1, ge=1, le=100)
    max_runtime_minutes: int = Field(default=30, ge=5, le=60)
    drift_alarms: list[DriftAlarmConfig] = []
    retrain_on_drift: bool = True
    quality: QualityConfig = QualityConfig()

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str) -> str:
        if value in ("hourly", "daily"):
            return value
        hour = r"([01]?\d|2[0-3])"
        if not re.fullmatch(rf"cron\(0 (\*|{hour}|{hour}/{hour}) \? \* \* \*\)", value):
            raise ValueError(
                "must be 'hourly', 'daily' or a Model Monitor cron expression 'cron(0 H ? * * *)' "
                "with H an hour (0-23), '*' or 'start/interval' such as '0/6'"
            )
        return value

    @field_validator("instance_type")
    @classmethod
    def _processing_family(cls, value: str) -> str:
        return _check_instance_type(value, "monitoring")

    @model_validator(mode="after")
    def _project_analyzer_runs_on_one_instance(self) -> MonitoringConfig:
        if self.engine == "project" and self.analyzer != "project":
            raise ValueError(
                "analyzer 'model_monitor' runs only under engine 'model_monitor' (a Model Monitor schedule); the project engine "
                "always runs the project's analyzer: remove analyzer, or set engine: model_monitor"
            )
        if self.analyzer == "project" and self.instance_count != 1:
            raise ValueError(
                f"instance_count {self.instance_count} with analyzer 'project': the project's drift check runs on one instance "
                "(each instance would analyze the whole capture again); use analyzer 'model_monitor' to spread the work"
            )
        return self

    @field_validator("drift_alarms")
    @classmethod
    def _unique_features(cls, value: list[DriftAlarmConfig]) -> list[DriftAlarmConfig]:
        names = [a.feature for a in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"names feature(s) {duplicates} more than once: one alarm per feature")
        return value

    @property
    def period_hours(self) -> int:
        """Hours between two monitoring runs (the drift alarms' period)."""
        hour = self.schedule_expression.split()[1]
        return 1 if hour == "*" else int(hour.split("/")[1]) if "/" in hour else 24

    @property
    def schedule_expression(self) -> str:
        """As ``CreateMonitoringSchedule`` takes it (the SDK's ``CronExpressionGenerator`` forms)."""
        return {"hourly": "cron(0 * ? * * *)", "daily": "cron(0 0 ? * * *)"}.get(self.schedule, self.schedule)

    @property
    def metric_features(self) -> list[str] | None:
        """The features whose metrics the check publishes (None: all)."""
        return [a.feature for a in self.drift_alarms] if self.publish_metrics == "watched" else None

    @property
    def anchor_hour(self) -> int:
        """The hour (UTC) the periods are aligned on: a period starts at it, or a whole number of periods from it."""
        hour = self.schedule_expression.split()[1]
        return 0 if hour == "*" else int(hour.split("/")[0]) % self.period_hours

    @property
    def check_schedule_expression(self) -> str:
        """The EventBridge schedule of the project engine's check: the monitoring schedule, ``delay_minutes`` after each
        period ends (EventBridge cron: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html)."""
        fields = self.schedule_expression.removeprefix("cron(").removesuffix(")").split()
        return f"cron({self.delay_minutes} {' '.join(fields[1:])})"


# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CodeRepository.html (RepositoryUrl)
GIT_URL_PATTERN = r"^https://([.\-_a-zA-Z0-9]+/?){3,1016}$"
CODECOMMIT_URL = re.compile(r"^https://git-codecommit\.([a-z0-9-]+)\.amazonaws\.com/v1/repos/([\w.-]{1,100})$")


class MlflowConfig(_Strict):
    """The project's managed MLflow, in the stages that train (its artifacts under ``mlflow/`` of the artifacts bucket).

    ``server: app`` (default): serverless MLflow (``AWS::SageMaker::MlflowApp``), nothing running while unused;
    ``tracking_server``: an ``AWS::SageMaker::MlflowTrackingServer`` of ``size``, billed per hour while it runs.
    """

    enabled: bool = True
    server: Literal["app", "tracking_server"] = "app"
    size: Literal["Small", "Medium", "Large"] | None = None  # tracking_server only (SageMaker's default: Small)
    # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateMlflowApp.html (WeeklyMaintenanceWindowStart)
    weekly_maintenance_window_start: str | None = Field(default=None, pattern=r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun):([01]\d|2[0-3]):([0-5]\d)$")

    @model_validator(mode="after")
    def _size_for_a_server(self) -> MlflowConfig:
        if self.size is not None and self.server != "tracking_server":
            raise ValueError("size: only a tracking_server has a size (the serverless app scales itself)")
        return self


class GitConfig(_Strict):
    """The project's Git repository, preconfigured in its sandbox users' JupyterLab (``CodeRepositories``).

    An HTTPS clone URL without credentials. A CodeCommit URL (``https://git-codecommit.<region>.amazonaws.com/v1/repos/<name>``)
    is reached with the user's role (the sandbox grants pull and push on that repository: IAM, no token); another provider's
    with that provider's own sign-in. Never a token in the URL or in a lifecycle script.
    """

    url: str = Field(pattern=GIT_URL_PATTERN, max_length=1024)

    @field_validator("url", mode="before")
    @classmethod
    def _no_credentials(cls, value: object) -> object:
        if isinstance(value, str) and "@" in value:
            raise ValueError("must not carry credentials (user:token@host): Studio users sign in with their role or the provider's own sign-in")
        return value

    @property
    def codecommit(self) -> tuple[str, str] | None:
        """(region, repository name) of a CodeCommit URL, else None."""
        match = CODECOMMIT_URL.match(self.url)
        return (match.group(1), match.group(2)) if match else None


class ProjectConfig(_Strict):
    """One ML project: its own key, buckets, registry, image repository and alert topic."""

    name: str
    alert_emails: list[EmailStr] = Field(min_length=1)
    instance_types: InstanceTypesConfig = InstanceTypesConfig()
    evaluation: EvaluationConfig
    retrain_schedule: str = "cron(0 3 1 * ? *)"
    retrain_schedule_enabled: bool = True
    # The project's monthly cost budget (AWS Budgets, on its `project` cost-allocation tag): alerts at 80% and 100%.
    monthly_budget_usd: float = Field(default=100.0, gt=0, le=1_000_000)
    pipeline: PipelineConfig = PipelineConfig()
    deployment: DeploymentConfig = DeploymentConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    git: GitConfig | None = None  # the project's repository in its sandbox users' JupyterLab
    mlflow: MlflowConfig = MlflowConfig()

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        value = _check_name(value, NAME_RULE, PROJECT_NAME_MIN_LENGTH)
        if value == SHARED_TAG_VALUE:
            raise ValueError(f"'{SHARED_TAG_VALUE}' is the cost-allocation tag of the resources no project owns: choose another name")
        return value

    @model_validator(mode="after")
    def _endpoint_supports_its_features(self) -> ProjectConfig:
        deployment, monitoring = self.deployment, self.monitoring
        if not deployment.enabled:
            return self
        if deployment.serverless is not None and (monitoring.drift_alarms or "enabled" in monitoring.model_fields_set and monitoring.enabled):
            raise ValueError(
                "monitoring: a serverless endpoint has no data capture, so Model Monitor cannot watch it "
                f"({SERVERLESS_EXCLUSIONS_DOC}): use an instance-backed endpoint, or remove monitoring.drift_alarms and monitoring.enabled"
            )
        if monitoring.quality.enabled:
            self._quality_is_checkable()
        if deployment.serverless is None and self.instance_types.endpoint.startswith("ml.inf1."):
            raise ValueError(
                f"instance_types.endpoint: {self.instance_types.endpoint}: Inf1 endpoints get no canary deployment with automatic "
                f"rollback (SageMaker falls back to all at once; {GUARDRAILS_EXCLUSIONS_DOC}): use ml.inf2 or another family"
            )
        return self

    def _quality_is_checkable(self) -> None:
        monitoring, metric = self.monitoring, self.evaluation.metric
        if not (self.monitors_endpoint and monitoring.engine == "project"):
            raise ValueError(
                "monitoring.quality: model quality is checked by the project's scheduled check of an endpoint's captured "
                "predictions: it needs an instance-backed endpoint (deployment.mode endpoint, no serverless block) with "
                "monitoring enabled and engine 'project'"
            )
        if not metric.higher_is_better or metric is Metric.R2:
            raise ValueError(
                f"monitoring.quality: evaluation.metric {metric.value} is a regression metric; the image's models are binary classifiers"
            )
        threshold = monitoring.quality.threshold
        low, high = metric.bounds
        if threshold is not None and not low <= threshold <= high:
            raise ValueError(f"monitoring.quality.threshold {threshold}: {metric.value} lies between {low} and {high}")

    @property
    def quality_threshold(self) -> float:
        """The bar the model-quality alarm holds the metric to: the configured one, else the quality gate's."""
        return self.monitoring.quality.threshold if self.monitoring.quality.threshold is not None else self.evaluation.threshold

    @property
    def monitors_quality(self) -> bool:
        return self.monitors_endpoint and self.monitoring.quality.enabled

    @property
    def monitors_endpoint(self) -> bool:
        """Whether the endpoint gets a data-quality monitor: it has data capture and monitoring is on."""
        return self.monitoring.enabled and self.serves_endpoint and self.deployment.serverless is None

    @property
    def monitors_batch(self) -> bool:
        """Whether each batch scoring run checks its input against the package's baseline (the project's analyzer, a step
        of the run: a batch transform has no data capture for a Model Monitor schedule to read)."""
        return self.monitoring.enabled and self.scores_batch

    @property
    def monitors_input(self) -> bool:
        """Whether what the model is given is checked for drift: the endpoint's captured traffic, or the batch input."""
        return self.monitors_endpoint or self.monitors_batch

    @property
    def retrains_on_drift(self) -> bool:
        """Whether the drift alarms (of the endpoint's monitor, or of batch scoring's check) start the registry stage's
        training pipeline."""
        return self.monitors_input and self.monitoring.retrain_on_drift

    @property
    def monitor_runs_project_image(self) -> bool:
        """Whether the drift check runs the project's own image (the registry stage's repository), not AWS's analyzer:
        an endpoint's monitor with ``analyzer: project``, and every batch scoring check."""
        return (self.monitors_endpoint and self.monitoring.analyzer == "project") or self.monitors_batch

    @property
    def uses_model_monitor(self) -> bool:
        """Whether the endpoint is monitored by a SageMaker Model Monitor schedule (closed to new customers)."""
        return self.monitors_endpoint and self.monitoring.engine == "model_monitor"

    @property
    def baseline_by_model_monitor(self) -> bool:
        """Whether the pipeline's baseline job runs Model Monitor's own analyzer image (closed to new customers)."""
        return self.monitoring.enabled and self.monitoring.engine == "model_monitor" and self.monitoring.analyzer == "model_monitor"

    @property
    def serves_endpoint(self) -> bool:
        return self.deployment.enabled and self.deployment.mode == "endpoint"

    @property
    def scores_batch(self) -> bool:
        return self.deployment.enabled and self.deployment.mode == "batch"

    @field_validator("retrain_schedule")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        return _valid_schedule(value)


class UserConfig(_Strict):
    """A data scientist: a Studio user profile with its own execution role."""

    name: str
    email: EmailStr

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return _check_name(value, USER_RULE, USER_NAME_MIN_LENGTH)


class SandboxConfig(_Strict):
    """Links one user to one project, with a personal sandbox bucket."""

    user: str
    project: str


# The Region's AWS-managed prefix list of S3 (com.amazonaws.<region>.s3): the only destination besides the VPC
# endpoints that the platform's security groups let workloads reach. CloudFormation cannot look it up, so the
# config names it: `aws ec2 describe-managed-prefix-lists --filters Name=prefix-list-name,Values=com.amazonaws.<region>.s3`.
PREFIX_LIST_PATTERN = r"^pl-[0-9a-f]{8}([0-9a-f]{9})?$"
SECURITY_GROUP_PATTERN = r"^sg-[0-9a-f]{8}([0-9a-f]{9})?$"


def _endpoint_azs_among_zones(network):
    if network.endpoint_azs is not None and network.endpoint_azs > len(network.availability_zones):
        raise ValueError(f"endpoint_azs {network.endpoint_azs}: more than the {len(network.availability_zones)} availability_zones")
    return network


class NewVpcConfig(_Strict):
    """A new VPC with private isolated subnets only (no internet or NAT) and VPC endpoints."""

    mode: Literal["new"]
    creates_endpoints: ClassVar[bool] = True  # its interface endpoints, those config.endpoints derives
    endpoints_from: ClassVar[None] = None  # a new VPC shares no other stage's endpoints (ExistingVpcConfig.endpoints_from)
    cidr: str = "10.42.0.0/16"
    availability_zones: list[str] = Field(min_length=1, max_length=3)
    s3_prefix_list_id: str = Field(pattern=PREFIX_LIST_PATTERN)
    # How many of the zones (the first ones) hold the interface endpoints: all by default. Apps and jobs in the other zones
    # still reach them, across zones (inter-AZ data transfer is billed): https://aws.amazon.com/privatelink/pricing/
    endpoint_azs: int | None = Field(default=None, ge=1)
    # "none": no route out (a Git provider outside AWS is then refused). "nat" (opt-in): one NAT gateway, in the first zone,
    # behind a public subnet of its own; the private subnets route out through it and Studio's security groups let HTTPS
    # out (the projects' jobs and models never). It bills while idle ($32.85 a month and its public IPv4 address's $3.65:
    # make cost) and per GB processed, and code a user runs in Studio can reach the internet.
    egress: Literal["none", "nat"] = "none"

    @model_validator(mode="after")
    def _endpoint_azs_among_zones(self) -> NewVpcConfig:
        return _endpoint_azs_among_zones(self)

    @model_validator(mode="after")
    def _room_for_the_nat_subnet(self) -> NewVpcConfig:
        """The private subnets are /20s from the start of ``cidr``; the NAT gateway's public subnet is its last /28."""
        addresses = ipaddress.ip_network(self.cidr).num_addresses
        if self.egress == "nat" and len(self.availability_zones) * 2**12 + 2**4 > addresses:
            raise ValueError(
                f"egress nat: {self.cidr} has no room for a public subnet after its {len(self.availability_zones)} private /20 subnets: "
                "use a larger cidr (a /18 holds three zones and the NAT's subnet)"
            )
        return self

    @field_validator("cidr")
    @classmethod
    def _valid_cidr(cls, value: str) -> str:
        try:
            net = ipaddress.ip_network(value)
        except ValueError:
            raise ValueError("must be an IPv4 CIDR block such as '10.42.0.0/16'") from None
        if net.version != 4 or not (16 <= net.prefixlen <= 24):
            raise ValueError("must be an IPv4 CIDR block with a prefix length from /16 to /24")
        return value


class FrugalNetworkConfig(NewVpcConfig):
    """Opt-in, for a sandbox account: nothing of the network bills while idle. Studio uses SageMaker's own internet access
    (``AppNetworkAccessType: PublicInternetOnly``: the new VPC holds only the domain's home volume), the jobs and models
    run outside any VPC (SageMaker's network, with internet), and there are no interface endpoints.

    The risk: a Studio app, and any code a user runs in it, can reach the internet and any public AWS endpoint, so data
    can leave the account; and the jobs' and models' traffic is not in a VPC the account controls or logs (no flow logs).
    The processing jobs stay network-isolated. Use it for trials with non-sensitive data, never for production.
    """

    mode: Literal["frugal"]
    creates_endpoints: ClassVar[bool] = False
    cidr: str = "10.44.0.0/16"
    endpoint_azs: None = None  # no interface endpoints
    egress: Literal["sagemaker"] = "sagemaker"  # Studio reaches the internet through SageMaker's network


class ExistingVpcConfig(_Strict):
    """An existing VPC: the domain and jobs use the given private subnets (one per zone)."""

    mode: Literal["existing"]
    vpc_id: str = Field(pattern=r"^vpc-[0-9a-f]{8,17}$")
    cidr: str
    subnet_ids: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]] = Field(min_length=1, max_length=16)
    availability_zones: list[str] = Field(min_length=1, max_length=16)
    s3_prefix_list_id: str = Field(pattern=PREFIX_LIST_PATTERN)
    create_endpoints: bool = True
    endpoints_security_group_id: str | None = Field(default=None, pattern=SECURITY_GROUP_PATTERN)
    # With create_endpoints false: the stage of this config directory whose VPC this is and whose interface endpoints this
    # stage shares (one set per account). The loader checks that they are every one this stage needs (config.endpoints).
    endpoints_from: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{0,11}$")
    endpoint_azs: int | None = Field(default=None, ge=1)  # as NewVpcConfig's
    # "existing": the subnets route out (the VPC owner's NAT or firewall): hosts outside AWS (a Git provider, PyPI) are reachable
    egress: Literal["none", "existing"] = "none"

    @property
    def creates_endpoints(self) -> bool:
        return self.create_endpoints

    @model_validator(mode="after")
    def _endpoint_azs_among_zones(self) -> ExistingVpcConfig:
        return _endpoint_azs_among_zones(self)

    _valid_cidr = field_validator("cidr")(NewVpcConfig._valid_cidr.__func__)

    @model_validator(mode="after")
    def _zone_per_subnet(self) -> ExistingVpcConfig:
        if len(self.subnet_ids) != len(self.availability_zones):
            raise ValueError(
                f"subnet_ids ({len(self.subnet_ids)}) and availability_zones ({len(self.availability_zones)}) "
                "must have the same length: one zone per subnet, in order"
            )
        if self.create_endpoints == (self.endpoints_security_group_id is not None):
            raise ValueError(
                "endpoints_security_group_id names the security group of the VPC's existing interface endpoints: "
                "give it exactly when create_endpoints is false (the platform's workloads may send HTTPS only to it and to S3)"
            )
        if self.create_endpoints and self.endpoints_from is not None:
            raise ValueError("endpoints_from names the stage whose endpoints this stage shares: it goes with create_endpoints: false")
        return self


class StorageConfig(_Strict):
    """Lifecycle rules shared by every project bucket."""

    noncurrent_version_expiration_days: int = Field(default=90, ge=1, le=3650)
    capture_transition_days: int = Field(default=30, ge=30, le=3650)
    access_log_expiration_days: int = Field(default=365, ge=1, le=3650)


@dataclass(frozen=True)
class StageLink:
    """Another stage of the platform as the loader found it in the config directory: where it runs and, for a stage that
    serves this stage's registry, its projects (what each serves, monitors and relays is theirs to say)."""

    stage: str
    account: str
    region: str
    projects: tuple[ProjectConfig, ...] = ()

    def serving(self, project: str) -> ProjectConfig | None:
        """``project`` of that stage when it serves its models (an endpoint or batch scoring), else None."""
        return next((p for p in self.projects if p.name == project and p.deployment.enabled), None)

    def role_arn(self, name: str, partition: str = "aws") -> str:
        """The ARN of that stage's role ``name`` (the roles other accounts' policies name have fixed names: ``Names``)."""
        return f"arn:{partition}:iam::{self.account}:role/{name}"


class PlatformConfig(_Strict):
    """Everything one stage of the platform needs, validated before any construct is built.

    The loader also links it to the other stages of its config directory (``registry_link``, ``consumers``): set by
    ``config.loader`` only, never read from the file.
    """

    stage: str
    prefix: str = "mlops"
    account: str
    region: str
    termination_protection: bool = False
    idle_shutdown_minutes: int = Field(default=60, ge=15, le=1440)
    # what `make teardown` does with the Studio domain's home EFS volume (the users' home folders) when it deletes the domain
    home_efs_on_teardown: Literal["retain", "delete"] = "retain"
    network: NewVpcConfig | ExistingVpcConfig | FrugalNetworkConfig = Field(discriminator="mode")
    # Interface endpoints beyond those the stage's features need (config.endpoints derives those): e.g. logs, ecr.api, kms
    interface_endpoints: list[str] = []
    storage: StorageConfig = StorageConfig()
    projects: list[ProjectConfig] = Field(min_length=1)
    users: list[UserConfig] = []
    sandboxes: list[SandboxConfig] = []
    model_registry_stage: str | None = None
    self_service_role_arns: list[Annotated[str, Field(pattern=ROLE_ARN)]] = []
    # Features AWS has closed to new customers (CLOSED_FEATURES) that this stage's account already uses: only those may be
    # configured (monitoring.engine model_monitor needs model_monitor here).
    account_already_uses: list[ClosedFeature] = []
    _registry_link: StageLink | None = PrivateAttr(default=None)
    _consumers: tuple[StageLink, ...] = PrivateAttr(default=())
    _shared_endpoints: frozenset[str] | None = PrivateAttr(default=None)

    def linked(self, registry: StageLink | None, consumers: tuple[StageLink, ...], shared_endpoints: frozenset[str] | None = None) -> PlatformConfig:
        """This config with its links to the other stages (``config.loader``)."""
        self._registry_link, self._consumers, self._shared_endpoints = registry, consumers, shared_endpoints
        return self

    @property
    def shared_endpoints(self) -> frozenset[str] | None:
        """The interface endpoints of the stage whose VPC this stage shares (``network.endpoints_from``), as the loader
        found them in that stage's config; None when the stage creates its own or does not name their owner."""
        return self._shared_endpoints

    @property
    def registry_account(self) -> str:
        """The account of the stage whose registry this stage serves (this stage's own unless the loader found another)."""
        return self._registry_link.account if self._registry_link is not None else self.account

    @property
    def registry_in_another_account(self) -> bool:
        """Whether the models this stage serves are registered in another account (then their artifacts, images and packages
        are reached through that stage's resource policies, and what the stage needs of them is pinned at synth)."""
        return self.registry_account != self.account

    @property
    def consumers(self) -> tuple[StageLink, ...]:
        """The stages in other accounts that serve this stage's registered models: its resource policies grant their roles."""
        return self._consumers

    @field_validator("stage", "prefix", "model_registry_stage")
    @classmethod
    def _valid_short_name(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not (2 <= len(value) <= 12 and _NAME_RE.match(value)):
            raise ValueError("must be 2-12 characters: lowercase letters, digits and single hyphens, starting with a letter")
        return value

    @field_validator("account")
    @classmethod
    def _valid_account(cls, value: str) -> str:
        if not re.fullmatch(r"\d{12}", value):
            raise ValueError(f"must be {ACCOUNT_RULE} (quote it in YAML so leading zeros survive)")
        return value

    @field_validator("region")
    @classmethod
    def _valid_region(cls, value: str) -> str:
        if not _REGION_RE.match(value):
            raise ValueError(f"must be {REGION_RULE}")
        return value

    @field_validator("interface_endpoints")
    @classmethod
    def _known_endpoints(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in endpoints.ENDPOINTS]
        if unknown:
            raise ValueError(f"unknown service(s) {unknown}; allowed: {', '.join(endpoints.ENDPOINTS)}")
        if len(set(value)) != len(value):
            raise ValueError("lists a service more than once")
        return value

    @model_validator(mode="after")
    def _frugal_has_no_endpoints(self) -> PlatformConfig:
        if self.frugal and self.interface_endpoints:
            raise ValueError(
                f"interface_endpoints {self.interface_endpoints}: network.mode frugal creates no VPC endpoints (Studio uses SageMaker's internet access)"
            )
        monitored = [p.name for p in self.projects if p.uses_model_monitor]
        if self.frugal and monitored:
            raise ValueError(
                f"project(s) {', '.join(monitored)}: Model Monitor schedules run in the VPC; network.mode frugal has none (use engine: project)"
            )
        return self

    @property
    def frugal(self) -> bool:
        """Whether the stage uses the frugal network (``FrugalNetworkConfig``): Studio on SageMaker's internet, workloads in no VPC."""
        return self.network.mode == "frugal"

    @property
    def endpoint_needs(self) -> dict[str, list[str]]:
        """The interface endpoints this stage needs, each with the features that need it (``config.endpoints``)."""
        return endpoints.needed(self)

    @model_validator(mode="after")
    def _one_repository_per_project(self) -> PlatformConfig:
        """Each project's sandbox users may push to its CodeCommit repository: two projects naming one repository would
        give each project's users push rights on the other's code."""
        seen: dict[str, str] = {}
        for project in self.projects:
            if project.git is None:
                continue
            url = project.git.url.rstrip("/").removesuffix(".git").lower()
            if url in seen:
                raise ValueError(
                    f"projects {seen[url]} and {project.name} name the same Git repository {project.git.url}: each project's "
                    "sandbox users may push to its repository, so each would write the other's code; give each project its own"
                )
            seen[url] = project.name
        return self

    @model_validator(mode="after")
    def _closed_features_only_where_already_used(self) -> PlatformConfig:
        """A feature closed to new customers (``CLOSED_FEATURES``) fails at synth, not at deploy, unless the stage declares
        that its account already uses it."""
        for i, project in enumerate(self.projects):
            if (project.uses_model_monitor or project.baseline_by_model_monitor) and "model_monitor" not in self.account_already_uses:
                raise ValueError(
                    f"projects[{i}] ({project.name}).monitoring.engine model_monitor: SageMaker Model Monitor is closed to new "
                    f"customers ({CLOSED_FEATURES['model_monitor']}), so a new account cannot create its schedules. Use engine: "
                    "project (the platform's own scheduled check, the default), or, if this stage's account already uses Model "
                    "Monitor, declare it: account_already_uses: [model_monitor]"
                )
            if project.git is not None and project.git.codecommit is not None and "codecommit" not in self.account_already_uses:
                raise ValueError(
                    f"projects[{i}] ({project.name}).git.url {project.git.url}: AWS CodeCommit is no longer available to new "
                    f"customers ({CLOSED_FEATURES['codecommit']}), so a new account has no such repository. Name a repository "
                    "of another provider (Studio reaches it through a route out: network.egress nat, or network.mode existing "
                    "with egress: existing), "
                    "remove git, or, if this stage's account already uses CodeCommit, declare it: account_already_uses: [codecommit]"
                )
        return self

    @property
    def studio_https_out(self) -> bool:
        """Whether Studio apps may send HTTPS out of the VPC: an existing VPC whose subnets route out (``network.egress:
        existing``) or a new one with a NAT gateway (``nat``), for a Git provider outside AWS or a package index. Jobs and
        models never may."""
        return self.network.egress in ("existing", "nat")

    @property
    def names(self) -> Names:
        """Every name of this stage (``config.naming``)."""
        return Names(self.prefix, self.stage)

    @property
    def registry_names(self) -> Names:
        """The names of the stage whose registry this stage serves (itself by default)."""
        return Names(self.prefix, self.registry_stage)

    @property
    def registry_stage(self) -> str:
        """The stage whose training pipelines register the models this stage serves (itself by default)."""
        return self.model_registry_stage or self.stage

    @property
    def trains_models(self) -> bool:
        return self.registry_stage == self.stage

    @property
    def training_projects(self) -> list[ProjectConfig]:
        """The projects whose training pipelines this stage runs (all of them where it trains, else none): those that get
        a pipeline, and whose repositories the delivery pipeline ships the image to."""
        return list(self.projects) if self.trains_models else []

    def mlflow(self, project: ProjectConfig) -> MlflowConfig | None:
        """The project's MLflow in this stage: where models are trained (the registry stage), when enabled."""
        return project.mlflow if self.trains_models and project.mlflow.enabled else None

    def project(self, name: str) -> ProjectConfig:
        return next(p for p in self.projects if p.name == name)

    def user(self, name: str) -> UserConfig:
        return next(u for u in self.users if u.name == name)

    def git_repositories(self, user: str) -> list[str]:
        """The Git URLs of the projects ``user`` has a sandbox in, in config order (their JupyterLab's suggested repositories)."""
        projects = {s.project for s in self.sandboxes if s.user == user}
        return [p.git.url for p in self.projects if p.name in projects and p.git is not None]


class SourceConfig(_Strict):
    """Where the delivery pipeline gets this repository: a CodeStar connection or CodeCommit."""

    kind: Literal["codestar", "codecommit"]
    repository: str = Field(pattern=r"^[\w.-]+(/[\w.-]+)?$")
    branch: str = Field(default="main", pattern=r"^[\w./-]+$")
    connection_arn: str | None = Field(
        default=None, pattern=r"^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[\w-]+$"
    )

    @model_validator(mode="after")
    def _connection_for_codestar(self) -> SourceConfig:
        if self.kind == "codestar" and (self.connection_arn is None or "/" not in self.repository):
            raise ValueError("kind 'codestar' needs connection_arn and repository as 'owner/name'")
        if self.kind == "codecommit" and "/" in self.repository:
            raise ValueError("kind 'codecommit' takes the CodeCommit repository name, without 'owner/'")
        return self


class DeliveryConfig(_Strict):
    """The self-mutating delivery pipeline and the stages it deploys, in order."""

    account: str
    region: str
    source: SourceConfig
    stages: list[str] = Field(min_length=1)
    # Closed features the delivery account already uses (CLOSED_FEATURES): a CodeCommit source needs codecommit here.
    account_already_uses: list[Literal["codecommit"]] = []

    @model_validator(mode="after")
    def _codecommit_only_where_already_used(self) -> DeliveryConfig:
        if self.source.kind == "codecommit" and "codecommit" not in self.account_already_uses:
            raise ValueError(
                f"source.kind codecommit: AWS CodeCommit is no longer available to new customers ({CLOSED_FEATURES['codecommit']}), "
                "so a new account has no repository to take the source from. Use kind: codestar (a CodeConnections connection "
                "to GitHub, GitLab or Bitbucket), or, if the delivery account already uses CodeCommit, declare it: "
                "account_already_uses: [codecommit]"
            )
        return self

    _valid_account = field_validator("account")(PlatformConfig._valid_account.__func__)
    _valid_region = field_validator("region")(PlatformConfig._valid_region.__func__)
