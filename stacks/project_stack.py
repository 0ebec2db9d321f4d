"""One ML project's stateful resources."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from config import PlatformConfig, ProjectConfig
from config.naming import Names, cloudformation_execution_role
from config.parameters import PROJECT_KEYS
from config.schema import StageLink
from mlops_constructs.project_mlflow import no_mlflow_arn
from mlops_constructs.project_resources import ProjectResources, ProjectResourcesProps, RegistryReader
from mlops_constructs.published_parameters import PublishedParameters, PublishedStudio


def registry_reader(config: PlatformConfig, consumer: StageLink, project: ProjectConfig, *, partition: str = "aws") -> RegistryReader:
    """The roles of ``consumer`` (a stage in another account) that use the models of ``project`` (its project of that name):
    its model role (the artifact, the image), its monitor role where it monitors the endpoint (the baseline; the image
    where the project's own analyzer runs), and its CloudFormation role (the packages)."""
    names = Names(config.prefix, consumer.stage)
    model, monitor = (consumer.role_arn(name, partition) for name in (names.model_role(project.name), names.monitor_role(project.name)))
    return RegistryReader(
        stage=consumer.stage,
        account=consumer.account,
        deployer=cloudformation_execution_role(consumer.account, consumer.region, partition),
        readers=[model, *([monitor] if project.monitors_input else [])],
        pullers=[model, *([monitor] if project.monitor_runs_project_image else [])],
    )


class ProjectStack(Stack):
    """Composes ``ProjectResources`` for one configured project (in the network the environment stack publishes, with its
    ``monthly_budget_usd``) and publishes them to SSM.

    ``resources`` is the attribute later stacks (pipeline, endpoint, monitoring) build on. For every stage in another
    account that serves the project's models (``config.consumers``), its resource policies admit that stage's roles.
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
                label_writers=project.monitoring.quality.label_writers if project.monitors_quality else None,
            ),
        )
        for consumer in config.consumers:
            if (served := consumer.serving(project.name)) is not None:
                self.resources.share_registry(registry_reader(config, consumer, served, partition=self.partition))
        PublishedParameters(
            self,
            "Parameters",
            path=config.names.project_parameters(project.name),
            keys=PROJECT_KEYS,
            # a stage that trains publishes an ARN of no server for a project without MLflow (project_mlflow.NO_MLFLOW)
            values={**({"mlflow-arn": no_mlflow_arn(self)} if config.trains_models else {}), **self.resources.parameter_values()},
        )
