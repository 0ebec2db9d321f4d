"""One project's CloudWatch dashboard (stateless)."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from config import PlatformConfig, ProjectConfig
from config.parameters import PIPELINE_KEYS
from mlops_constructs.project_dashboard import MonitoredBatch, MonitoredEndpoint, ProjectDashboard, ProjectDashboardProps
from mlops_constructs.published_parameters import PublishedValues


class DashboardStack(Stack):
    """Composes ``ProjectDashboard`` for one project, named ``<prefix>-<stage>-<project>``.

    ``endpoint`` is what ``EndpointStack.shown`` names (endpoint, monitoring schedule, alarms), or
    None when the project has no endpoint in this stage; ``batch`` what ``BatchScoringStack.shown`` names of its drift check; names only, so no cross-stack reference.
    The training pipeline's state machine ARN is read from the SSM parameter that the pipeline
    stack of ``config.registry_stage`` publishes (prod shows the dev pipeline that trains its
    models), so that stack must be deployed first. A registry stage in another account shows its pipeline on its own
    dashboard (its metrics and parameters are that account's), so this one has no pipeline row.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        project: ProjectConfig,
        endpoint: MonitoredEndpoint | None,
        batch: MonitoredBatch | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        state_machine_arn = None
        if not config.registry_in_another_account:
            state_machine_arn = PublishedValues(self, config.registry_names.pipeline_parameters(project.name), PIPELINE_KEYS).value(
                "state-machine-arn"
            )
        self.dashboard = ProjectDashboard(
            self,
            "Dashboard",
            props=ProjectDashboardProps(
                dashboard_name=config.names.dashboard(project.name), endpoint=endpoint, state_machine_arn=state_machine_arn, batch=batch
            ),
        )
