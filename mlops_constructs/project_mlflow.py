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
from config.schema import MlflowConfig
from mlops_constructs.nag import acknowledge_wildcards
from mlops_constructs.studio_domain import sagemaker_role

# What a client of the project's MLflow calls: its REST API, and SageMaker's presigned URL and description of the server for
# the UI. AWS authorizes the REST API differently per kind: a tracking server's under the IAM prefix sagemaker-mlflow
# (https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-create-tracking-server-iam.html; requests signed for
# sagemaker-mlflow), an MLflow app's as sagemaker:CallMlflowAppApi on the app (requests signed for sagemaker, as AWS's
# sagemaker-mlflow plugin does; Service Authorization Reference: CallMlflowAppApi, resource type mlflow-app). An app's calls
# are not sagemaker-mlflow actions: granting those alone denied every run logged to the default (app) MLflow.
MLFLOW_API = "sagemaker-mlflow:*"
SERVER_API = {"app": ["sagemaker:CallMlflowAppApi"], "tracking_server": [MLFLOW_API]}
SERVER_API["either"] = [*SERVER_API["app"], *SERVER_API["tracking_server"]]
# Of that API, what finding a run by experiment and name and tagging it takes (lambda/link_mlflow_run)
RUN_TAGGING_API = {
    "app": SERVER_API["app"],
    "tracking_server": ["sagemaker-mlflow:GetExperimentByName", "sagemaker-mlflow:SearchRuns", "sagemaker-mlflow:SetTag"],
}
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
    """A project's MLflow as its clients (the pipeline's jobs, sandboxes) know it: its ARN (the tracking URI) and kind
    (``app``, ``tracking_server``, or ``either`` for a client that cannot know which)."""

    arn: str
    server: str = "app"

    def client_statements(self, artifacts_bucket: s3.IBucket) -> list[iam.PolicyStatement]:
        """What an MLflow client may do, and nothing more: the server's REST API and UI on this one server, and its artifact
        store ``mlflow/`` of the project's artifacts bucket (MLflow clients write artifacts to S3 themselves; the project
        key is the client's already)."""
        store = f"{layout.MLFLOW_PREFIX}*"
        return [
            iam.PolicyStatement(actions=[*SERVER_API[self.server], *SERVER_ACTIONS[self.server]], resources=[self.arn]),
            iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], resources=[artifacts_bucket.arn_for_objects(store)]),
            iam.PolicyStatement(
                actions=["s3:ListBucket"], resources=[artifacts_bucket.bucket_arn], conditions={"StringLike": {"s3:prefix": [store]}}
            ),
        ]

    def run_tagging_statement(self) -> iam.PolicyStatement:
        """What the pipeline's MLflow link (``lambda/link_mlflow_run``) calls on this MLflow: find a run by experiment and name,
        tag it. On an app that is its one REST API action; on a tracking server, exactly those three of sagemaker-mlflow's."""
        return iam.PolicyStatement(actions=RUN_TAGGING_API[self.server], resources=[self.arn])

    def acknowledge_client(self, construct: Construct, artifacts_bucket: s3.IBucket) -> None:
        """The cdk-nag findings of :meth:`client_statements`, acknowledged on ``construct`` (the role or policy holding them)."""
        acknowledge_wildcards(
            construct,
            reason="The project's MLflow: the actions of its REST API (sagemaker-mlflow's on a tracking server) on that one server, "
            "whatever the MLflow client's version calls; its artifact store is mlflow/ of the project's artifacts bucket.",
            actions=SERVER_API[self.server],
            resources=[artifacts_bucket.arn_for_objects(f"{layout.MLFLOW_PREFIX}*")],
        )

    def grant_use(self, role: iam.Role, artifacts_bucket: s3.IBucket) -> None:
        """:meth:`client_statements` in ``role``'s policy."""
        for statement in self.client_statements(artifacts_bucket):
            role.add_to_principal_policy(statement)
        self.acknowledge_client(role, artifacts_bucket)


@dataclass(frozen=True)
class MlflowServer:
    """Which MLflow a project gets: its ``name`` and the project's ``settings`` (server kind, size, maintenance window)."""

    name: str
    settings: MlflowConfig = MlflowConfig()


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
    ``tracking`` is how its clients know it (``MlflowTracking``: its ARN, the tracking URI, and kind).
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: ProjectMlflowProps) -> None:
        super().__init__(scope, construct_id)
        p, name, settings = props, props.server.name, props.server.settings
        self.role = sagemaker_role(self, "Role", f"The MLflow server {name}: its artifact store only")
        p.artifacts_bucket.grant_read_write(self.role, f"{layout.MLFLOW_PREFIX}*")
        p.key.grant_encrypt_decrypt(self.role)
        common = {
            "artifact_store_uri": f"s3://{p.artifacts_bucket.bucket_name}/{layout.MLFLOW_PREFIX}",
            "role_arn": self.role.role_arn,
            "weekly_maintenance_window_start": settings.weekly_maintenance_window_start,
        }
        if settings.server == "app":
            resource = sagemaker.CfnMlflowApp(self, "App", name=name, model_registration_mode="AutoModelRegistrationDisabled", **common)
            arn = resource.attr_arn
        else:
            resource = sagemaker.CfnMlflowTrackingServer(
                self, "TrackingServer", tracking_server_name=name, tracking_server_size=settings.size, automatic_model_registration=False, **common
            )
            arn = resource.attr_tracking_server_arn
        self.tracking = MlflowTracking(arn, settings.server)
        resource.node.add_dependency(self.role)  # the server reaches its store from the start
        resource.apply_removal_policy(RemovalPolicy.RETAIN)
        self.resource = resource
        acknowledge_wildcards(
            self.role,
            reason="The MLflow server's artifact store: objects under mlflow/ of this project's artifacts bucket, with its key.",
            resources=[p.artifacts_bucket.arn_for_objects(f"{layout.MLFLOW_PREFIX}*")],
            actions=["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
        )
