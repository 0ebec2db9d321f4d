"""One project's training pipeline and its triggers (stateless)."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from constructs import Construct

from config import PlatformConfig, ProjectConfig
from mlops_constructs.data_quality_monitor import Analyzer
from mlops_constructs.pipeline_triggers import PipelineTriggers, PipelineTriggersProps
from mlops_constructs.project_mlflow import MlflowTracking
from mlops_constructs.published_parameters import PIPELINE_KEYS, PublishedParameters, PublishedProject, PublishedStudio
from mlops_constructs.sagemaker_permissions import AwsImage
from mlops_constructs.training_pipeline import TrainingPipeline, TrainingPipelineProps


class TrainingPipelineStack(Stack):
    """Composes ``TrainingPipeline`` and ``PipelineTriggers`` for one project.

    The project's resources and the network come from the SSM parameters the project and
    environment stacks publish (the stage declares the dependencies). The pipeline computes a
    data-quality baseline with the project's configured analyzer (Model Monitor's image of the region,
    or the project's own) when the project's monitoring is enabled. Publishes the state machine ARN and the drift-alarm name prefix.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: PlatformConfig, project: ProjectConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        names = config.names
        studio = PublishedStudio(self, names.studio_parameters)
        pipeline_config = project.pipeline
        published = PublishedProject(self, names.project_parameters(project.name))
        repository, data_bucket, key, topic = published.repository, published.data_bucket, published.key, published.alert_topic
        evaluation = project.evaluation

        self.pipeline = TrainingPipeline(
            self,
            "Pipeline",
            props=TrainingPipelineProps(
                project_name=project.name,
                state_machine_name=names.training_state_machine(project.name),
                mlflow=MlflowTracking(published.value("mlflow-arn"), mlflow.server) if (mlflow := config.mlflow(project)) else None,
                image_uri=repository.repository_uri_for_tag(pipeline_config.resolved_image_tag),
                repository=repository,
                data_bucket=data_bucket,
                artifacts_bucket=published.artifacts_bucket,
                key=key,
                alert_topic=topic,
                model_package_group_name=names.model_package_group(project.name),
                vpc=studio.placement(len(config.network.availability_zones), published.jobs_security_group_id),
                processing_instance_type=project.instance_types.processing,
                training_instance_type=project.instance_types.training,
                endpoint_instance_type=project.instance_types.endpoint,
                metric=evaluation.metric.value,
                threshold=evaluation.threshold,
                higher_is_better=evaluation.higher_is_better,
                data_prefix=pipeline_config.data_prefix,
                hyperparameters=pipeline_config.hyperparameter_strings(),
                spot_training=pipeline_config.spot_training,
                processing_max_runtime=Duration.minutes(pipeline_config.processing_max_runtime_minutes),
                training_max_runtime=Duration.minutes(pipeline_config.training_max_runtime_minutes),
                approval_status=pipeline_config.approval_status,
                baseline_analyzer=Analyzer.configured(
                    project.monitoring, config.region, AwsImage.of_tag(repository, pipeline_config.resolved_image_tag)
                )
                if project.monitoring.enabled
                else None,
            ),
        )
        self.triggers = PipelineTriggers(
            self,
            "Triggers",
            props=PipelineTriggersProps(
                project_name=project.name,
                state_machine=self.pipeline.state_machine,
                alert_topic=topic,
                key=key,
                data_bucket=data_bucket,
                data_prefix=pipeline_config.data_prefix,
                schedule=project.retrain_schedule,
                schedule_enabled=project.retrain_schedule_enabled,
                drift_alarm_prefix=names.retraining_drift_alarm_prefix(project.name),
                queue_parameter_name=names.queued_triggers(project.name),
                function_name=names.pipeline_guard(project.name),
            ),
        )
        PublishedParameters(
            self,
            "Parameters",
            path=names.pipeline_parameters(project.name),
            keys=PIPELINE_KEYS,
            values={
                "state-machine-arn": self.pipeline.state_machine.state_machine_arn,
                "drift-alarm-prefix": self.triggers.drift_alarm_prefix,
                "start-function-arn": self.triggers.function.function_arn,
            },
        )
