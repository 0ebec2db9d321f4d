"""One project's real-time endpoint and its API front (stateless: the data lives in the project stack)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnOutput, CfnParameter, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from config import PlatformConfig, ProjectConfig
from config.layout import BASELINE_URI_PATTERN, BASELINE_URI_RULE, GROUND_TRUTH_PREFIX, MONITORING_PREFIX
from config.parameters import ENDPOINT_KEYS
from mlops_constructs.container_contract import contract
from mlops_constructs.data_quality_monitor import Analyzer, DataQualityMonitor, DataQualityMonitorProps, DriftAlarm
from mlops_constructs.drift_check import DriftAnalyzerProps, DriftCheck, DriftCheckProps, QualityCheckProps
from mlops_constructs.inference_api import InferenceApi, InferenceApiProps
from mlops_constructs.model_endpoint import VARIANT, ModelEndpoint, ModelEndpointProps, ServerlessSettings
from mlops_constructs.pipeline_triggers import drift_alarm_pattern
from mlops_constructs.project_dashboard import MonitoredEndpoint
from mlops_constructs.published_parameters import PublishedParameters, PublishedProject, PublishedStudio, RegistryInAnotherAccount
from mlops_constructs.sagemaker_permissions import AwsImage
from mlops_constructs.service_principals import from_this_account

MODEL_PACKAGE_PATTERN = r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/[a-zA-Z0-9-]+/\d+$"


@dataclass(frozen=True)
class DeployedModel:
    """A pinned model package and, for a monitored endpoint, its data-quality baseline prefix; for a stage whose registry
    is in another account, the registry project's artifacts bucket and key (which it cannot read from SSM there)."""

    model_package_arn: str
    baseline_uri: str | None = None
    artifacts_bucket: str | None = None
    key_arn: str | None = None


def registry_of(scope: Construct, config: PlatformConfig, project: ProjectConfig, deployed: DeployedModel | None):
    """The registry stage's project resources that serve ``project``'s models in ``scope`` (its artifacts bucket, key and
    repository): from its SSM parameters in this account, or, in another account, from ``deployed``'s pinned values."""
    if config.registry_in_another_account:
        assert deployed is not None and deployed.artifacts_bucket and deployed.key_arn  # PlatformStage requires them
        return RegistryInAnotherAccount(
            scope,
            account=config.registry_account,
            region=config.region,
            repository_name=config.registry_names.repository(project.name),
            artifacts_bucket=deployed.artifacts_bucket,
            key_arn=deployed.key_arn,
        )
    return PublishedProject(scope, config.registry_names.project_parameters(project.name), id_prefix="Registry")


def model_package_parameter(scope: Construct, config: PlatformConfig, project: ProjectConfig) -> str:
    """The stack parameter ``ModelPackageArn`` (a local synth without pins deploys the package given at deploy time)."""
    return CfnParameter(
        scope,
        "ModelPackageArn",
        type="String",
        allowed_pattern=MODEL_PACKAGE_PATTERN,
        constraint_description="must be a versioned model package ARN (...:model-package/<group>/<version>)",
        description=f"Approved model package of group {config.registry_names.model_package_group(project.name)} to deploy",
    ).value_as_string


def relay_drift_alarms(scope: Construct, config: PlatformConfig, project: ProjectConfig, alarm_name_prefix: str, what: str) -> events.Rule:
    """Send this stage's drift alarms (of ``what``: an endpoint, a batch scoring) to the registry account's default event
    bus, whose policy admits the named role (``TrainingPipelineStack``): the training pipeline's drift rule there matches
    them as it matches its own stage's."""
    partition = Stack.of(scope).partition
    bus = events.EventBus.from_event_bus_arn(
        scope, "RegistryEventBus", f"arn:{partition}:events:{config.region}:{config.registry_account}:event-bus/default"
    )
    role = iam.Role(
        scope,
        "DriftRelayRole",
        role_name=config.names.drift_relay_role(project.name),
        description=f"Relays the drift alarms of {what} to stage {config.registry_stage}'s event bus",
        assumed_by=from_this_account("events.amazonaws.com"),
    )
    return events.Rule(
        scope,
        "DriftRelay",
        description=f"Drift on {what}: retrain in stage {config.registry_stage} (account {config.registry_account})",
        event_pattern=drift_alarm_pattern(alarm_name_prefix),
        targets=[targets.EventBus(bus, role=role)],
    )


def baseline_uri_parameter(scope: Construct) -> str:
    """The stack parameter ``BaselineUri``: the deployed package's drift-check baseline, when no pin gives it."""
    return CfnParameter(
        scope,
        "BaselineUri",
        type="String",
        allowed_pattern=BASELINE_URI_PATTERN,
        constraint_description=f"must be the S3 prefix of a pipeline run's baseline: {BASELINE_URI_RULE}",
        description="Data-quality baseline of the deployed model package (its DriftCheckBaselines), without a trailing slash",
    ).value_as_string


def drift_alarm_name_prefix(config: PlatformConfig, project: ProjectConfig) -> str:
    """The prefix of the project's drift alarm names (its endpoint's monitor's, or its batch scoring check's): with
    ``retrain_on_drift`` it is the registry stage's pipeline's drift prefix (so the alarm retrains there), plus this stage's name."""
    if project.retrains_on_drift:
        return f"{config.registry_names.retraining_drift_alarm_prefix(project.name)}{config.stage}-"
    return config.names.notifying_drift_alarm_prefix(project.name)


class EndpointStack(Stack):
    """Composes ``ModelEndpoint``, ``InferenceApi`` and (when the project monitors its endpoint)
    ``DataQualityMonitor`` for one project.

    The model's image and artifacts come from the project resources of ``config.registry_stage``
    (prod serves what dev registered: promotion never retrains), found through its SSM parameters in the same
    account, or, from another account, through ``deployed``'s pinned bucket and key and the repository's name (the
    registry stage's resource policies admit this stack's named model, monitor and relay roles). Which model package
    is deployed is decided at deploy time, never by an AWS call at synthesis: ``deployed.model_package_arn`` when
    given (the delivery pipeline pins the approved package it resolved, so dev and prod get the same artifact), else
    the stack parameter ``ModelPackageArn``. Likewise the monitor's baseline: ``deployed.baseline_uri`` (the package's
    drift-check baseline, resolved by the delivery pipeline) or the stack parameter ``BaselineUri``.

    With ``retrain_on_drift`` and the registry in another account, a rule relays this stage's drift alarms to the
    registry account's default event bus, where the training pipeline's drift rule listens.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        project: ProjectConfig,
        deployed: DeployedModel | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        names = config.names
        deployment = project.deployment
        model_package_arn, baseline_uri = (deployed.model_package_arn, deployed.baseline_uri) if deployed else (None, None)
        if model_package_arn is None:
            model_package_arn = model_package_parameter(self, config, project)
        serverless = deployment.serverless
        own = PublishedProject(self, names.project_parameters(project.name))
        studio = PublishedStudio(self, names.studio_parameters)
        # a serverless model runs outside the VPC (Serverless Inference supports no VpcConfig)
        model_vpc = studio.placement(config.network, own.models_security_group_id) if serverless is None else None
        # where the model's image and artifacts (and its baseline) are: the registry stage's project
        registry_project = registry_of(self, config, project, deployed)
        artifacts_bucket, registry_key = registry_project.artifacts_bucket, registry_project.key  # the model's, and its baseline's
        capture_bucket, key, alert_topic = own.capture_bucket, own.key, own.alert_topic
        self.endpoint = ModelEndpoint(
            self,
            "Endpoint",
            props=ModelEndpointProps(
                endpoint_name=names.endpoint(project.name),
                role_name=names.model_role(project.name),
                model_package_arn=model_package_arn,
                repository=registry_project.repository,
                artifacts_bucket=artifacts_bucket,
                artifacts_key=registry_key,
                capture_bucket=capture_bucket,
                key=key,
                alert_topic=alert_topic,
                vpc=model_vpc,
                instance_type=project.instance_types.endpoint,
                instance_count=deployment.instance_count,
                min_capacity=deployment.min_capacity,
                max_capacity=deployment.max_capacity,
                target_invocations_per_instance=deployment.target_invocations_per_instance,
                scale_in_cooldown=Duration.seconds(deployment.scale_in_cooldown_seconds),
                scale_out_cooldown=Duration.seconds(deployment.scale_out_cooldown_seconds),
                data_capture_percent=deployment.data_capture_percent,
                canary_percent=deployment.canary_percent,
                canary_wait=Duration.minutes(deployment.canary_wait_minutes),
                latency_alarm=Duration.millis(deployment.latency_alarm_ms),
                serverless=ServerlessSettings(serverless.memory_mb, serverless.max_concurrency) if serverless else None,
            ),
        )
        self.monitor: DataQualityMonitor | DriftCheck | None = None
        self.drift_relay: events.Rule | None = None
        if project.monitors_endpoint:
            monitoring = project.monitoring
            if baseline_uri is None:
                baseline_uri = baseline_uri_parameter(self)
            image = AwsImage.of_tag(registry_project.repository, project.pipeline.resolved_image_tag)
            common = dict(
                alert_topic=alert_topic,
                drift_alarms=[DriftAlarm(a.feature, a.threshold) for a in monitoring.drift_alarms],
                alarm_name_prefix=drift_alarm_name_prefix(config, project),
                failure_name=names.monitor_failure(project.name),
                alarm_period=Duration.hours(monitoring.period_hours),
            )
            schedule_name = names.monitoring_schedule(self.endpoint.endpoint_name)
            # the check's jobs' placement; a project-engine check that runs in Lambda only starts no job (nothing to place)
            in_lambda_only = monitoring.engine == "project" and monitoring.runner == "lambda"
            jobs_vpc = None if in_lambda_only else studio.placement(config.network, own.jobs_security_group_id)
            if monitoring.engine == "project":
                self.monitor = DriftCheck(
                    self,
                    "Monitor",  # the id a Model Monitor schedule had: its alarms and role are kept when a stage switches
                    props=DriftCheckProps(
                        endpoint_name=self.endpoint.endpoint_name,
                        schedule=monitoring.check_schedule_expression,
                        analyzer=DriftAnalyzerProps(
                            name=schedule_name,
                            role_name=names.monitor_role(project.name),
                            repository=registry_project.repository,
                            image_tag=project.pipeline.resolved_image_tag,
                            baseline_uri=baseline_uri,
                            baseline_bucket=artifacts_bucket,
                            baseline_key=registry_key,
                            reads=[(capture_bucket, f"{self.endpoint.endpoint_name}/")],
                            work_bucket=capture_bucket,
                            work_prefix=f"{MONITORING_PREFIX}{self.endpoint.endpoint_name}/",
                            key=key,
                            metrics_namespace=contract.BYOC_METRICS_NAMESPACE,
                            endpoint_name=self.endpoint.endpoint_name,
                            vpc=jobs_vpc,
                            instance_type=monitoring.instance_type,
                            max_runtime=Duration.minutes(monitoring.max_runtime_minutes),
                            runner=monitoring.runner,
                            lambda_max_mb=monitoring.lambda_max_mb,
                            lambda_memory_mb=monitoring.lambda_memory_mb,
                            capture_prefix=f"{self.endpoint.endpoint_name}/{self.endpoint.endpoint_name}/{VARIANT}/",
                            period_hours=monitoring.period_hours,
                            anchor_hour=monitoring.anchor_hour,
                            delay_minutes=monitoring.delay_minutes,
                            max_periods=monitoring.max_periods_per_run,
                            metric_features=monitoring.metric_features,
                            quality=QualityCheckProps(
                                metric=project.evaluation.metric.value,
                                threshold=project.quality_threshold,
                                min_labels=monitoring.quality.min_labels,
                                label_delay_hours=monitoring.quality.label_delay_hours,
                                labels_prefix=f"{GROUND_TRUTH_PREFIX}{self.endpoint.endpoint_name}/",
                                alarm_name=names.quality_alarm(common["alarm_name_prefix"], project.evaluation.metric.value),
                            )
                            if project.monitors_quality
                            else None,
                        ),
                        **common,
                    ),
                )
                metrics_namespace = contract.BYOC_METRICS_NAMESPACE
            else:
                monitor_props = DataQualityMonitorProps(
                    endpoint_name=self.endpoint.endpoint_name,
                    schedule_name=schedule_name,
                    role_name=names.monitor_role(project.name),
                    analyzer=Analyzer.configured(monitoring, config.region, image),
                    capture_bucket=capture_bucket,
                    baseline_uri=baseline_uri,
                    baseline_bucket=artifacts_bucket,
                    baseline_key=registry_key,
                    key=key,
                    vpc=jobs_vpc,
                    instance_type=monitoring.instance_type,
                    instance_count=monitoring.instance_count,
                    schedule_expression=monitoring.schedule_expression,
                    max_runtime=Duration.minutes(monitoring.max_runtime_minutes),
                    **common,
                )
                self.monitor = DataQualityMonitor(self, "Monitor", props=monitor_props)
                metrics_namespace = monitor_props.analyzer.metrics_namespace
            self.monitor.node.add_dependency(self.endpoint)
            if project.retrains_on_drift and config.registry_in_another_account:
                self.drift_relay = relay_drift_alarms(self, config, project, common["alarm_name_prefix"], names.endpoint(project.name))
            self.shown = MonitoredEndpoint(
                endpoint_name=self.endpoint.endpoint_name,
                variant_name=VARIANT,
                instance_backed=True,
                schedule_name=schedule_name,
                failure_rule_name=common["failure_name"] if isinstance(self.monitor, DataQualityMonitor) else None,
                check_state_machine=schedule_name if isinstance(self.monitor, DriftCheck) else None,  # a plain name: no cross-stack reference
                drift_alarms=list(common["drift_alarms"]),
                alarm_names=self.monitor.alarm_names,
                drift_period=common["alarm_period"],
                metrics_namespace=metrics_namespace,
                quality=(project.evaluation.metric.value, project.quality_threshold) if project.monitors_quality else None,
            )
        else:
            self.shown = MonitoredEndpoint(
                endpoint_name=self.endpoint.endpoint_name, variant_name=VARIANT, instance_backed=project.deployment.serverless is None
            )
        api = deployment.api
        self.api = InferenceApi(
            self,
            "Api",
            props=InferenceApiProps(
                endpoint_name=self.endpoint.endpoint_name,
                endpoint_arn=self.endpoint.endpoint_arn,
                auth=api.auth,
                callers=list(api.callers),
                waf=api.waf,
                waf_requests_per_5_minutes=api.waf_requests_per_5_minutes,
                rate_limit=api.rate_limit,
                burst_limit=api.burst_limit,
                quota_per_day=api.quota_per_day,
                max_body_kb=api.max_body_kb,
                source_ips=[str(n) for n in api.source_ips],
                log_key=key,
            ),
        )
        PublishedParameters(
            self,
            "Parameters",
            path=names.endpoint_parameters(project.name),
            keys=ENDPOINT_KEYS,
            values={
                "name": self.endpoint.endpoint_name,
                "capture-uri": self.endpoint.capture_uri,
                "api-url": self.api.url,
                "model-package-arn": model_package_arn,
                **({"monitoring-reports-uri": self.monitor.reports_uri} if self.monitor else {}),
            },
        )
        CfnOutput(self, "PredictUrl", value=self.api.url, description="POST predictions here")
