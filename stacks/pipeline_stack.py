"""One project's training pipeline and its triggers (stateless)."""

from __future__ import annotations

import hashlib
from typing import Any

from aws_cdk import CfnResource, Duration, Stack
from constructs import Construct

from config import PlatformConfig, ProjectConfig
from config.naming import Names
from config.parameters import PIPELINE_KEYS
from config.schema import StageLink
from mlops_constructs.data_quality_monitor import Analyzer
from mlops_constructs.pipeline_triggers import PipelineTriggers, PipelineTriggersProps
from mlops_constructs.project_mlflow import MlflowTracking
from mlops_constructs.published_parameters import PublishedParameters, PublishedProject, PublishedStudio
from mlops_constructs.sagemaker_permissions import AwsImage
from mlops_constructs.training_pipeline import TrainingPipeline, TrainingPipelineProps

EVENT_BUS_STATEMENT_ID_MAX = 64


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
                vpc=studio.placement(config.network, published.jobs_security_group_id),
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
                artifacts_bucket=published.artifacts_bucket,
                data_prefix=pipeline_config.data_prefix,
                schedule=project.retrain_schedule,
                schedule_enabled=project.retrain_schedule_enabled,
                max_publish_runs=pipeline_config.max_publish_runs,
                drift_alarm_prefix=names.retraining_drift_alarm_prefix(project.name),
                queue_parameter_name=names.queued_triggers(project.name),
                repository=repository,
                image_tag=pipeline_config.resolved_image_tag,
                function_name=names.pipeline_guard(project.name),
            ),
        )
        self.drift_admissions = [
            self._admit_drift_alarms(config, project.name, consumer)
            for consumer in config.consumers
            if (served := consumer.serving(project.name)) is not None and served.retrains_on_drift
        ]
        PublishedParameters(
            self,
            "Parameters",
            path=names.pipeline_parameters(project.name),
            keys=PIPELINE_KEYS,
            values={
                "state-machine-arn": self.pipeline.state_machine.state_machine_arn,
                "drift-alarm-prefix": self.triggers.drift_alarm_prefix,
            },
        )

    def _admit_drift_alarms(self, config: PlatformConfig, project: str, consumer: StageLink) -> CfnResource:
        """Let ``consumer``'s drift relay role (and nothing else of its account) put its alarms' state changes on this
        account's default event bus, where the drift rule retrains on them (``EndpointStack`` relays them).
        https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cross-account.html

        A plain ``AWS::Events::EventBusPolicy``: the L1 class reads its deprecated ``Principal`` property (which fails
        under ``JSII_DEPRECATED=fail``), and the L2 cannot resolve a statement with an account principal."""
        statement_id = f"{config.names.project(project)}-from-{consumer.stage}"
        if len(statement_id) > EVENT_BUS_STATEMENT_ID_MAX:  # https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutPermission.html
            statement_id = statement_id[: EVENT_BUS_STATEMENT_ID_MAX - 17] + "-" + hashlib.sha256(statement_id.encode()).hexdigest()[:16]
        relay = consumer.role_arn(Names(config.prefix, consumer.stage).drift_relay_role(project), self.partition)
        return CfnResource(
            self,
            f"DriftFrom{''.join(part.capitalize() for part in consumer.stage.split('-'))}",
            type="AWS::Events::EventBusPolicy",
            properties={
                "EventBusName": "default",
                "StatementId": statement_id,
                "Statement": {  # no Sid: EventBridge names the statement with StatementId (IAM Sids are alphanumeric)
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{self.partition}:iam::{consumer.account}:root"},
                    "Action": "events:PutEvents",
                    "Resource": f"arn:{self.partition}:events:{self.region}:{self.account}:event-bus/default",
                    # events:source and events:detail-type are multivalued: every value must match, and they must be there
                    "Condition": {
                        "ArnEquals": {"aws:PrincipalArn": relay},
                        "ForAllValues:StringEquals": {"events:source": "aws.cloudwatch", "events:detail-type": "CloudWatch Alarm State Change"},
                        "Null": {"events:source": "false", "events:detail-type": "false"},
                    },
                },
            },
        )
