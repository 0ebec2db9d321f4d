"""One ML project's stateful resources."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from config import PlatformConfig, ProjectConfig
from mlops_constructs.project_mlflow import no_mlflow_arn
from mlops_constructs.project_resources import ProjectResources, ProjectResourcesProps
from mlops_constructs.published_parameters import PROJECT_KEYS, PublishedParameters, PublishedStudio


class ProjectStack(Stack):
    """Composes ``ProjectResources`` for one configured project (in the network the environment stack publishes, with its
    ``monthly_budget_usd``) and publishes them to SSM.

    ``resources`` is the attribute later stacks (pipeline, endpoint, monitoring) build on.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: PlatformConfig, project: ProjectConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.resources = ProjectResources(
            self,
            "Project",
            props=ProjectResourcesProps.for_stage(
                names=config.names,
                storage=config.storage,
                project_name=project.name,
                alert_emails=[str(e) for e in project.alert_emails],
                network=PublishedStudio(self, config.names.studio_parameters).workload_network,
                monthly_budget_usd=project.monthly_budget_usd,
                mlflow=config.mlflow(project),
            ),
        )
        PublishedParameters(
            self,
            "Parameters",
            path=config.names.project_parameters(project.name),
            keys=PROJECT_KEYS,
            # a stage that trains publishes an ARN of no server for a project without MLflow (project_mlflow.NO_MLFLOW)
            values={**({"mlflow-arn": no_mlflow_arn(self)} if config.trains_models else {}), **self.resources.parameter_values()},
        )
