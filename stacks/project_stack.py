"""One ML project's stateful resources."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from constructs import Construct

from config import PlatformConfig, ProjectConfig
from mlops_constructs.project_resources import ProjectResources, ProjectResourcesProps
from mlops_constructs.published_parameters import PublishedParameters, project_path


class ProjectStack(Stack):
    """Composes ``ProjectResources`` for one configured project and publishes them to SSM.

    ``resources`` is the attribute later stacks (pipeline, endpoint, monitoring) build on.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: PlatformConfig, project: ProjectConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        storage = config.storage
        self.resources = ProjectResources(
            self,
            "Project",
            props=ProjectResourcesProps(
                project_name=project.name,
                model_package_group_name=f"{config.prefix}-{config.stage}-{project.name}",
                alert_emails=[str(e) for e in project.alert_emails],
                noncurrent_version_expiration=Duration.days(storage.noncurrent_version_expiration_days),
                capture_transition_after=Duration.days(storage.capture_transition_days),
                access_log_expiration=Duration.days(storage.access_log_expiration_days),
            ),
        )
        PublishedParameters(
            self,
            "Parameters",
            path=project_path(config.prefix, config.stage, project.name),
            values=self.resources.parameter_values(),
        )
