"""One project's real-time endpoint and its API front (stateless: the data lives in the project stack)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, CfnParameter, Duration, Fn, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from config import PlatformConfig, ProjectConfig
from mlops_constructs.inference_api import InferenceApi
from mlops_constructs.model_endpoint import ModelEndpoint, ModelEndpointProps, ServerlessSettings
from mlops_constructs.published_parameters import (
    PublishedParameters,
    project_path,
    read_list_parameter,
    read_parameter,
    studio_path,
)

MODEL_PACKAGE_PATTERN = r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/[a-zA-Z0-9-]+/\d+$"


class EndpointStack(Stack):
    """Composes ``ModelEndpoint`` and ``InferenceApi`` for one project.

    The model's image and artifacts come from the project resources of ``config.registry_stage``
    (prod serves what dev registered: promotion never retrains; same account). Which model package
    is deployed is decided at deploy time, never by an AWS call at synthesis:
    ``model_package_arn`` when given (the delivery pipeline pins the approved package it resolved,
    so dev and prod get the same artifact), else the stack parameter ``ModelPackageArn``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        project: ProjectConfig,
        model_package_arn: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        ns = project_path(config.prefix, config.stage, project.name)
        registry = project_path(config.prefix, config.registry_stage, project.name)  # where the model's image and artifacts are
        studio = studio_path(config.prefix, config.stage)
        deployment = project.deployment
        if model_package_arn is None:
            model_package_arn = CfnParameter(
                self,
                "ModelPackageArn",
                type="String",
                allowed_pattern=MODEL_PACKAGE_PATTERN,
                constraint_description="must be a versioned model package ARN (...:model-package/<group>/<version>)",
                description=f"Approved model package of group {config.prefix}-{config.registry_stage}-{project.name} to deploy",
            ).value_as_string
        subnets = read_list_parameter(self, f"{studio}/subnet-ids")
        serverless = deployment.serverless
        self.endpoint = ModelEndpoint(
            self,
            "Endpoint",
            props=ModelEndpointProps(
                endpoint_name=f"{config.prefix}-{config.stage}-{project.name}",
                model_package_arn=model_package_arn,
                repository=ecr.Repository.from_repository_name(self, "Repository", read_parameter(self, f"{registry}/repository-name")),
                artifacts_bucket=s3.Bucket.from_bucket_name(self, "ArtifactsBucket", read_parameter(self, f"{registry}/artifacts-bucket-name")),
                artifacts_key=kms.Key.from_key_arn(self, "RegistryKey", read_parameter(self, f"{registry}/key-arn")),
                capture_bucket=s3.Bucket.from_bucket_name(self, "CaptureBucket", read_parameter(self, f"{ns}/capture-bucket-name")),
                key=kms.Key.from_key_arn(self, "ProjectKey", read_parameter(self, f"{ns}/key-arn")),
                alert_topic=sns.Topic.from_topic_arn(self, "AlertTopic", read_parameter(self, f"{ns}/alert-topic-arn")),
                subnet_ids=[Fn.select(i, subnets) for i in range(len(config.network.availability_zones))],
                security_group_ids=[read_parameter(self, f"{studio}/security-group-id")],
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
        api = deployment.api
        self.api = InferenceApi(
            self,
            "Api",
            endpoint_name=self.endpoint.endpoint_name,
            endpoint_arn=self.endpoint.endpoint_arn,
            auth=api.auth,
            rate_limit=api.rate_limit,
            burst_limit=api.burst_limit,
            quota_per_day=api.quota_per_day,
            max_body_kb=api.max_body_kb,
        )
        PublishedParameters(
            self,
            "Parameters",
            path=f"{ns}/endpoint",
            values={"name": self.endpoint.endpoint_name, "capture-uri": self.endpoint.capture_uri, "api-url": self.api.url},
        )
        CfnOutput(self, "PredictUrl", value=self.api.url, description="POST predictions here")
