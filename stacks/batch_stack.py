"""One project's batch scoring (stateless: the data and the scores live in the project's buckets)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from constructs import Construct

from config import PlatformConfig, ProjectConfig
from config.parameters import BATCH_KEYS
from mlops_constructs.batch_scoring import CHECK_METRICS_NAMESPACE, BatchDriftCheck, BatchScoring, BatchScoringProps
from mlops_constructs.data_quality_monitor import DriftAlarm
from mlops_constructs.project_dashboard import MonitoredBatch
from mlops_constructs.published_parameters import PublishedParameters, PublishedProject, PublishedStudio
from stacks.endpoint_stack import (
    DeployedModel,
    baseline_uri_parameter,
    drift_alarm_name_prefix,
    model_package_parameter,
    registry_of,
    relay_drift_alarms,
)


class BatchScoringStack(Stack):
    """Composes ``BatchScoring`` for a project in ``deployment.mode: batch``: the approved package (``deployed`` when the
    delivery pipeline pins it, else the stack parameter ``ModelPackageArn``, as for an endpoint), its image and artifacts
    from the registry stage's project (``registry_of``), the stage's own data bucket, artifacts bucket, key, topic and
    the project's models security group. Publishes the state machine and where the scores go."""

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
        names, batch = config.names, project.deployment.batch
        model_package_arn = deployed.model_package_arn if deployed else model_package_parameter(self, config, project)
        own = PublishedProject(self, names.project_parameters(project.name))
        studio = PublishedStudio(self, names.studio_parameters)
        registry = registry_of(self, config, project, deployed)
        drift_check = None
        if project.monitors_batch:
            monitoring = project.monitoring
            drift_check = BatchDriftCheck(
                repository=registry.repository,
                image_tag=project.pipeline.resolved_image_tag,
                baseline_uri=(deployed.baseline_uri if deployed else None) or baseline_uri_parameter(self),
                drift_alarms=[DriftAlarm(a.feature, a.threshold) for a in monitoring.drift_alarms],
                alarm_name_prefix=drift_alarm_name_prefix(config, project),
                # a check that runs in Lambda only starts no job, which alone is placed in the VPC
                vpc=None if monitoring.runner == "lambda" else studio.placement(config.network, own.jobs_security_group_id),
                instance_type=monitoring.instance_type,
                max_runtime=Duration.minutes(monitoring.max_runtime_minutes),
                alarm_period=Duration.hours(monitoring.period_hours),
                role_name=names.monitor_role(project.name),
                runner=monitoring.runner,
                lambda_max_mb=monitoring.lambda_max_mb,
                lambda_memory_mb=monitoring.lambda_memory_mb,
                metric_features=monitoring.metric_features,
            )
        self.scoring = BatchScoring(
            self,
            "Scoring",
            props=BatchScoringProps(
                project_name=project.name,
                state_machine_name=names.scoring_state_machine(project.name),
                model_package_arn=model_package_arn,
                repository=registry.repository,
                artifacts_bucket=registry.artifacts_bucket,
                artifacts_key=registry.key,
                data_bucket=own.data_bucket,
                output_bucket=own.artifacts_bucket,
                key=own.key,
                alert_topic=own.alert_topic,
                vpc=studio.placement(config.network, own.models_security_group_id),
                instance_type=project.instance_types.processing,
                role_name=names.model_role(project.name),
                input_prefix=batch.input_prefix,
                instance_count=batch.instance_count,
                max_payload_mb=batch.max_payload_mb,
                max_runtime=Duration.minutes(batch.max_runtime_minutes),
                schedule=batch.schedule,
                schedule_enabled=batch.schedule_enabled,
                drift_check=drift_check,
            ),
        )
        # what the project's dashboard shows of the check (names only: no cross-stack reference)
        self.shown = (
            MonitoredBatch(
                state_machine_name=names.scoring_state_machine(project.name),
                metrics_namespace=CHECK_METRICS_NAMESPACE,
                drift_alarms=list(drift_check.drift_alarms),
                alarm_names=[f"{drift_check.alarm_name_prefix}{a.feature}" for a in drift_check.drift_alarms],
                drift_period=drift_check.alarm_period,
            )
            if drift_check is not None
            else None
        )
        self.drift_relay = None
        if drift_check is not None and project.retrains_on_drift and config.registry_in_another_account:
            self.drift_relay = relay_drift_alarms(self, config, project, drift_check.alarm_name_prefix, f"the batch scoring of {project.name}")
        PublishedParameters(
            self,
            "Parameters",
            path=names.batch_parameters(project.name),
            keys=BATCH_KEYS,
            values={
                "state-machine-arn": self.scoring.state_machine.state_machine_arn,
                "output-uri": self.scoring.output_uri,
                "model-package-arn": model_package_arn,
            },
        )
        CfnOutput(self, "ScoringStateMachine", value=self.scoring.state_machine.state_machine_arn, description="Start a scoring run here")
