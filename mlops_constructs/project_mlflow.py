"""A project's managed MLflow: serverless MLflow (the default) or a tracking server, its artifacts in the project's bucket."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from config import layout
from mlops_constructs.nag import acknowledge_wildcards
from mlops_constructs.studio_domain import sagemaker_role

# What a client of the project's MLflow calls: its REST API (IAM prefix sagemaker-mlflow), and SageMaker's presigned URL and
# description of the server for the UI. https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-create-tracking-server-iam.html
MLFLOW_API = "sagemaker-mlflow:*"
SERVER_ACTIONS = {
    "app": ["sagemaker:CreatePresignedMlflowAppUrl", "sagemaker:DescribeMlflowApp"],
    "tracking_server": ["sagemaker:CreatePresignedMlflowTrackingServerUrl", "sagemaker:DescribeMlflowTrackingServer"],
}
SERVER_ACTIONS["either"] = [*SERVER_ACTIONS["app"], *SERVER_ACTIONS["tracking_server"]]  # a client that cannot know which kind
# What a project of a stage that trains publishes as its mlflow-arn when its MLflow is off: an ARN of no server, so that
# a sandbox product (which cannot know at synth which projects have one) may grant on it and reach nothing.
NO_MLFLOW = "mlflow-app/none"


def no_mlflow_arn(scope: Construct) -> str:
    return Stack.of(scope).format_arn(service="sagemaker", resource=NO_MLFLOW.split("/")[0], resource_name=NO_MLFLOW.split("/")[1])


@dataclass(frozen=True)
class MlflowTracking:
    """A project's MLflow as its clients (the pipeline's jobs, sandboxes) know it: its ARN (the tracking URI) and kind."""

    arn: str
    server: str = "app"


@dataclass(frozen=True)
class MlflowServer:
    """Which MLflow a project gets: its ``name``; ``server``, ``size`` and the window as ``config.schema.MlflowConfig`` takes them."""

    name: str
    server: str = "app"
    size: str | None = None
    weekly_maintenance_window_start: str | None = None


@dataclass(frozen=True)
class ProjectMlflowProps:
    """Props of :class:`ProjectMlflow`."""

    server: MlflowServer
    artifacts_bucket: s3.IBucket
    key: kms.IKey


class ProjectMlflow(Construct):
    """The project's MLflow.

    Deploys:
    - ``role``: assumed by SageMaker for the MLflow server: read and write ``mlflow/`` of the project's artifacts bucket, with
      the project key (the bucket's default encryption), and nothing else.
    - an ``AWS::SageMaker::MlflowApp`` (``server: app``: serverless, nothing runs while unused) or an
      ``AWS::SageMaker::MlflowTrackingServer`` of ``size``, named ``name``, its artifact store ``s3://<artifacts>/mlflow/``,
      automatic registration into the Model Registry off (the pipeline registers, after its quality gate). Retained on
      destroy: it holds the project's experiments and runs.
    ``arn`` is its ARN (the MLflow tracking URI); :meth:`grant_use` lets a role track experiments in it, and in nothing else.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: ProjectMlflowProps) -> None:
        super().__init__(scope, construct_id)
        p, server = props, props.server
        self.server, self._bucket, self._key = server.server, p.artifacts_bucket, p.key
        self.role = sagemaker_role(self, "Role", f"The MLflow server {server.name}: its artifact store only")
        p.artifacts_bucket.grant_read_write(self.role, f"{layout.MLFLOW_PREFIX}*")
        p.key.grant_encrypt_decrypt(self.role)
        store = f"s3://{p.artifacts_bucket.bucket_name}/{layout.MLFLOW_PREFIX}"
        if server.server == "app":
            resource = sagemaker.CfnMlflowApp(
                self,
                "App",
                name=server.name,
                artifact_store_uri=store,
                role_arn=self.role.role_arn,
                model_registration_mode="AutoModelRegistrationDisabled",
                weekly_maintenance_window_start=server.weekly_maintenance_window_start,
            )
            self.arn = resource.attr_arn
        else:
            resource = sagemaker.CfnMlflowTrackingServer(
                self,
                "TrackingServer",
                tracking_server_name=server.name,
                artifact_store_uri=store,
                role_arn=self.role.role_arn,
                tracking_server_size=server.size,
                automatic_model_registration=False,
                weekly_maintenance_window_start=server.weekly_maintenance_window_start,
            )
            self.arn = resource.attr_tracking_server_arn
        resource.node.add_dependency(self.role)  # the server reaches its store from the start
        resource.apply_removal_policy(RemovalPolicy.RETAIN)
        self.resource = resource
        acknowledge_wildcards(
            self.role,
            reason="The MLflow server's artifact store: objects under mlflow/ of this project's artifacts bucket, with its key.",
            resources=[p.artifacts_bucket.arn_for_objects(f"{layout.MLFLOW_PREFIX}*")],
            actions=["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
        )

    def grant_use(self, grantee: iam.IGrantable) -> None:
        """Track experiments in this MLflow: its REST API and UI on this server only, and its artifact store (the client
        writes artifacts to S3 itself)."""
        self.grant_use_of(grantee, arn=self.arn, server=self.server, bucket=self._bucket, key=self._key)

    @staticmethod
    def grant_use_of(grantee: iam.IGrantable, *, arn: str, server: str, bucket: s3.IBucket, key: kms.IKey) -> None:
        """:meth:`grant_use` for an MLflow of another stack, known by its ``arn`` (an SSM parameter's value)."""
        iam.Grant.add_to_principal(grantee=grantee, actions=[MLFLOW_API, *SERVER_ACTIONS[server]], resource_arns=[arn])
        bucket.grant_read_write(grantee, f"{layout.MLFLOW_PREFIX}*")
        key.grant_encrypt_decrypt(grantee)
        if isinstance(grantee, Construct):
            acknowledge_wildcards(
                grantee,
                reason="The project's MLflow: the actions of its REST API (sagemaker-mlflow) on that one server, whatever the "
                "MLflow client's version calls; its artifact store is mlflow/ of the project's artifacts bucket.",
                actions=[MLFLOW_API],
                resources=[bucket.arn_for_objects(f"{layout.MLFLOW_PREFIX}*")],
            )
