"""A real-time SageMaker endpoint serving one approved model package, updated safely."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, Duration
from aws_cdk import aws_applicationautoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from config.layout import PIPELINE_PREFIX
from config.schema import DeploymentConfig, InstanceTypesConfig, ServerlessConfig
from mlops_constructs.nag import acknowledge_wildcards
from mlops_constructs.sagemaker_permissions import VpcPlacement, allow_vpc_networking
from mlops_constructs.studio_domain import sagemaker_role

VARIANT = "AllTraffic"
_DEPLOYMENT, _SERVERLESS = DeploymentConfig(), ServerlessConfig()  # defaults are the config schema's


@dataclass(frozen=True)
class ServerlessSettings:
    memory_mb: int = _SERVERLESS.memory_mb
    max_concurrency: int = _SERVERLESS.max_concurrency


@dataclass(frozen=True)
class ModelEndpointProps:
    """Props of :class:`ModelEndpoint`. Defaults are the config schema's (``DeploymentConfig``,
    ``InstanceTypesConfig``; see docs/configuration.md): instances scaling between the
    minimum and maximum capacity, a share of requests captured, a canary that bakes before all
    traffic shifts, rollback when 5xx errors appear or p99 model latency passes the limit."""

    endpoint_name: str
    model_package_arn: str
    repository: ecr.IRepository
    artifacts_bucket: s3.IBucket
    artifacts_key: kms.IKey
    capture_bucket: s3.IBucket
    key: kms.IKey
    alert_topic: sns.ITopic
    vpc: VpcPlacement | None  # where an instance-backed endpoint's model runs; None for a serverless one, which runs outside the VPC
    instance_type: str = InstanceTypesConfig().endpoint
    instance_count: int = _DEPLOYMENT.instance_count
    min_capacity: int = _DEPLOYMENT.min_capacity
    max_capacity: int = _DEPLOYMENT.max_capacity
    target_invocations_per_instance: int = _DEPLOYMENT.target_invocations_per_instance
    scale_in_cooldown: Duration = Duration.seconds(_DEPLOYMENT.scale_in_cooldown_seconds)
    scale_out_cooldown: Duration = Duration.seconds(_DEPLOYMENT.scale_out_cooldown_seconds)
    data_capture_percent: int = _DEPLOYMENT.data_capture_percent
    canary_percent: int = _DEPLOYMENT.canary_percent
    canary_wait: Duration = Duration.minutes(_DEPLOYMENT.canary_wait_minutes)
    latency_alarm: Duration = Duration.millis(_DEPLOYMENT.latency_alarm_ms)
    serverless: ServerlessSettings | None = None
    role_name: str | None = None  # the model role's name (``Names.model_role``: a registry in another account admits it by name)


def registered_model_role(
    scope: Construct,
    construct_id: str,
    *,
    description: str,
    role_name: str | None,
    repository: ecr.IRepository,
    artifacts_bucket: s3.IBucket,
    artifacts_key: kms.IKey,
) -> iam.Role:
    """The execution role of a model made from a registered package: pulls its image from ``repository`` and reads its
    artifacts under ``pipeline/`` of ``artifacts_bucket`` with ``artifacts_key`` (the registering stage's). Named
    ``role_name`` (``Names.model_role``): a registry in another account admits it by name. The endpoint's and the
    batch scoring's model role, each adding what its own use needs."""
    role = sagemaker_role(scope, construct_id, description, role_name)
    repository.grant_pull(role)
    artifacts_bucket.grant_read(role, f"{PIPELINE_PREFIX}*")
    artifacts_key.grant_decrypt(role)  # the registry's key, which encrypts the model artifacts
    acknowledge_wildcards(
        role,
        reason="Reads the registered model artifacts, which the pipeline writes under pipeline/<run>/ of the artifacts bucket.",
        resources=[artifacts_bucket.arn_for_objects(f"{PIPELINE_PREFIX}*")],
        actions=["s3:GetObject*", "s3:GetBucket*", "s3:List*"],
    )
    return role


def registered_model(scope: Construct, construct_id: str, *, role: iam.IRole, model_package_arn: str, vpc: VpcPlacement | None) -> sagemaker.CfnModel:
    """A SageMaker model from the package ``model_package_arn`` (the very artifact the pipeline registered). In ``vpc``
    with network isolation (its container makes no calls of its own: SageMaker fetches the artifacts, captures and
    transforms the data); without ``vpc`` (serverless inference) neither."""
    model = sagemaker.CfnModel(
        scope,
        construct_id,
        execution_role_arn=role.role_arn,
        enable_network_isolation=True if vpc else None,
        primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(model_package_name=model_package_arn),
        vpc_config=sagemaker.CfnModel.VpcConfigProperty(security_group_ids=[vpc.security_group_id], subnets=vpc.subnet_ids) if vpc else None,
    )
    model.node.add_dependency(role)
    return model


class ModelEndpoint(Construct):
    """Deploys the model package ``model_package_arn`` to the endpoint ``endpoint_name``.

    Deploys:
    - ``role``: the model's execution role: pulls from ``repository``, reads model artifacts under
      ``pipeline/`` of ``artifacts_bucket`` with ``artifacts_key`` (the registering stage's), and
      writes captured data under ``<endpoint name>/`` of ``capture_bucket`` with ``key``.
    - ``model``: a SageMaker model from the package (the very artifact the pipeline registered), in
      the VPC's private subnets (a serverless model runs in SageMaker's network instead: Serverless
      Inference supports no VPC configuration).
    - ``endpoint_config``: instance-backed by default: ``instance_count`` x ``instance_type``,
      volumes encrypted with the key, data capture of requests and responses at
      ``data_capture_percent`` into ``s3://<capture bucket>/<endpoint name>/`` with the key. With
      ``serverless`` it is a serverless variant instead (no capture, scaling or guardrails there).
    - ``endpoint``: updates are SageMaker blue/green deployments: a ``canary_percent`` canary for
      ``canary_wait``, then all traffic, rolled back automatically when ``errors_alarm`` (any 5xx)
      or ``latency_alarm`` (p99 model latency above ``latency_alarm``) fires; variant instance
      counts are retained across updates, so an update never resets autoscaled capacity.
    - Target-tracking autoscaling on invocations per instance between ``min_capacity`` and
      ``max_capacity`` with the given cooldowns.
    - Both alarms also notify ``alert_topic``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: ModelEndpointProps) -> None:
        super().__init__(scope, construct_id)
        p = props
        if (p.serverless is None) != (p.vpc is not None):
            raise ValueError(
                f"endpoint {p.endpoint_name}: an instance-backed endpoint runs in the VPC (give vpc), a serverless one outside it (no vpc)"
            )
        self.endpoint_name = p.endpoint_name
        self.capture_uri = f"s3://{p.capture_bucket.bucket_name}/{p.endpoint_name}"

        self.role = registered_model_role(
            self,
            "ModelRole",
            description=f"Execution role of the model behind endpoint {p.endpoint_name}",
            role_name=p.role_name,
            repository=p.repository,
            artifacts_bucket=p.artifacts_bucket,
            artifacts_key=p.artifacts_key,
        )
        if p.serverless is None:
            # SageMaker writes the captured requests with the model's role, encrypted with the project key.
            p.capture_bucket.grant_put(self.role, f"{p.endpoint_name}/*")
            p.key.grant(self.role, "kms:GenerateDataKey*", "kms:Encrypt")
        if p.vpc is not None:
            allow_vpc_networking(self.role, "ModelInTheVpc", p.vpc)
        acknowledge_wildcards(
            self.role,
            reason="Data capture writes objects named by SageMaker under this endpoint's own prefix of the capture bucket, "
            "encrypted with data keys of the project key.",
            resources=[p.capture_bucket.arn_for_objects(f"{p.endpoint_name}/*")],
            actions=["s3:Abort*", "kms:GenerateDataKey*"],
        )
        acknowledge_wildcards(
            self.role,
            reason="ecr:GetAuthorizationToken (from grant_pull) and the EC2 network-interface actions SageMaker needs to place "
            "the model in the VPC support no resource-level permissions."
            if p.serverless is None
            else "ecr:GetAuthorizationToken (from grant_pull) supports no resource-level permissions.",
            resources=["*"],
        )

        # Serverless Inference supports no network isolation or VPC configuration; CreateEndpointConfig rejects a serverless
        # variant whose model has one (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html, "Feature exclusions").
        self.model = registered_model(self, "Model", role=self.role, model_package_arn=p.model_package_arn, vpc=p.vpc)

        if p.serverless is not None:
            variant = sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=VARIANT,
                model_name=self.model.attr_model_name,
                serverless_config=sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                    max_concurrency=p.serverless.max_concurrency, memory_size_in_mb=p.serverless.memory_mb
                ),
            )
            capture = None
        else:
            variant = sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=VARIANT,
                model_name=self.model.attr_model_name,
                instance_type=p.instance_type,
                initial_instance_count=p.instance_count,
                initial_variant_weight=1,
            )
            capture = sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
                enable_capture=True,
                initial_sampling_percentage=p.data_capture_percent,
                destination_s3_uri=self.capture_uri,
                kms_key_id=p.key.key_arn,
                capture_options=[
                    sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input"),
                    sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Output"),
                ],
                capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                    csv_content_types=["text/csv"], json_content_types=["application/json", "application/jsonlines"]
                ),
            )
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            production_variants=[variant],
            data_capture_config=capture,
            kms_key_id=p.key.key_arn if p.serverless is None else None,
        )

        metric = lambda name, statistic: cloudwatch.Metric(  # noqa: E731
            namespace="AWS/SageMaker",
            metric_name=name,
            dimensions_map={"EndpointName": p.endpoint_name, "VariantName": VARIANT},
            statistic=statistic,
            period=Duration.minutes(1),
        )
        self.errors_alarm = cloudwatch.Alarm(
            self,
            "Errors5xxAlarm",
            alarm_description=f"{p.endpoint_name}: the model answers with 5xx errors (rolls back a deployment)",
            metric=metric("Invocation5XXErrors", "Sum"),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.latency_alarm = cloudwatch.Alarm(
            self,
            "LatencyAlarm",
            alarm_description=f"{p.endpoint_name}: p99 model latency above {int(p.latency_alarm.to_milliseconds())} ms (rolls back a deployment)",
            metric=metric("ModelLatency", "p99"),
            threshold=p.latency_alarm.to_milliseconds() * 1000,  # ModelLatency is in microseconds
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        for alarm in (self.errors_alarm, self.latency_alarm):
            alarm.add_alarm_action(actions.SnsAction(p.alert_topic))

        deployment = None
        if p.serverless is None:
            deployment = sagemaker.CfnEndpoint.DeploymentConfigProperty(
                blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
                    traffic_routing_configuration=sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                        type="CANARY",
                        canary_size=sagemaker.CfnEndpoint.CapacitySizeProperty(type="CAPACITY_PERCENT", value=p.canary_percent),
                        wait_interval_in_seconds=int(p.canary_wait.to_seconds()),
                    ),
                    termination_wait_in_seconds=300,
                    maximum_execution_timeout_in_seconds=int(p.canary_wait.to_seconds()) + 3600,
                ),
                auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
                    alarms=[
                        sagemaker.CfnEndpoint.AlarmProperty(alarm_name=self.errors_alarm.alarm_name),
                        sagemaker.CfnEndpoint.AlarmProperty(alarm_name=self.latency_alarm.alarm_name),
                    ]
                ),
            )
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=p.endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            deployment_config=deployment,
            retain_all_variant_properties=p.serverless is None,
            exclude_retained_variant_properties=(
                [sagemaker.CfnEndpoint.VariantPropertyProperty(variant_property_type="DataCaptureConfig")] if p.serverless is None else None
            ),
        )

        self.scalable_target = None
        if p.serverless is None:
            self.scalable_target = autoscaling.ScalableTarget(
                self,
                "ScalableTarget",
                service_namespace=autoscaling.ServiceNamespace.SAGEMAKER,
                resource_id=f"endpoint/{p.endpoint_name}/variant/{VARIANT}",
                scalable_dimension="sagemaker:variant:DesiredInstanceCount",
                min_capacity=p.min_capacity,
                max_capacity=p.max_capacity,
            )
            self.scalable_target.node.add_dependency(self.endpoint)
            # Application Auto Scaling's service-linked role (created on first use when RoleARN is left out) instead of a
            # role of our own: https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-service-linked-roles.html
            self.scalable_target.node.default_child.add_property_deletion_override("RoleARN")
            self.scalable_target.node.try_remove_child("Role")
            self.scalable_target.scale_to_track_metric(
                "InvocationsPerInstance",
                target_value=p.target_invocations_per_instance,
                predefined_metric=autoscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
                scale_in_cooldown=p.scale_in_cooldown,
                scale_out_cooldown=p.scale_out_cooldown,
            )

    @property
    def endpoint_arn(self) -> str:
        return f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:endpoint/{self.endpoint_name.lower()}"
