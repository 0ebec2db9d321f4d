"""One project's CloudWatch dashboard (stateless)."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from constructs import Construct

from config import PlatformConfig, ProjectConfig
from mlops_constructs.data_quality_monitor import DriftAlarm
from mlops_constructs.model_endpoint import VARIANT
from mlops_constructs.project_dashboard import MonitoredEndpoint, ProjectDashboard
from mlops_constructs.published_parameters import project_path, read_parameter
from stacks.endpoint_stack import drift_alarm_names, monitor_failure_name


class DashboardStack(Stack):
    """Composes ``ProjectDashboard`` for one project, named ``<prefix>-<stage>-<project>``.

    The endpoint, its monitor and its alarms are known by name (``EndpointStack`` names them from
    the same config); the training pipeline's state machine ARN is read from the SSM parameter that
    the pipeline stack of ``config.registry_stage`` publishes (prod shows the dev pipeline that
    trains its models), so that stack must be deployed first.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: PlatformConfig, project: ProjectConfig,
                 has_endpoint: bool, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        name = f"{config.prefix}-{config.stage}-{project.name}"
        endpoint = None
        if has_endpoint:
            monitored = project.monitors_endpoint
            drift = [DriftAlarm(a.feature, a.threshold) for a in project.monitoring.drift_alarms] if monitored else []
            failure = monitor_failure_name(config, project)
            endpoint = MonitoredEndpoint(
                endpoint_name=name,
                variant_name=VARIANT,
                instance_backed=project.deployment.serverless is None,
                schedule_name=f"{name}-dq" if monitored else None,
                failure_rule_name=failure if monitored else None,
                drift_alarms=drift,
                alarm_names=[f"{drift_alarm_names(config, project)}{a.feature}" for a in drift] + ([failure] if monitored else []),
                drift_period=Duration.hours(project.monitoring.period_hours),
            )
        pipeline = project_path(config.prefix, config.registry_stage, project.name)
        self.dashboard = ProjectDashboard(
            self,
            "Dashboard",
            dashboard_name=name,
            endpoint=endpoint,
            state_machine_arn=read_parameter(self, f"{pipeline}/pipeline/state-machine-arn"),
        )
