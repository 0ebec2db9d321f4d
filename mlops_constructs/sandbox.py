"""A user's scoped access to one project."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from config import layout
from config.layout import MONITORING_PREFIX
from config.naming import Names
from config.schema import StorageConfig
from mlops_constructs.nag import acknowledge_wildcards
from mlops_constructs.project_mlflow import MlflowTracking
from mlops_constructs.secure_bucket import SecureBucket, access_logs_bucket


@dataclass(frozen=True)
class ProjectWork:
    """What a sandbox user may do with the project's pipeline and registry, and nothing more (the ``mlops`` command):
    read the SSM parameters matching ``parameter_patterns``; ask for runs and publish models by uploading them under the
    user's own prefix (the pipeline's guard and publisher take them from S3's events, so the user is who wrote them); follow
    the runs through their records (``runs/`` of the artifacts bucket); list and describe the packages of
    ``model_package_group``. All names, so a sandbox depends on no pipeline stack. Every call goes to S3 (the VPC's free
    gateway endpoint), SSM or the SageMaker API: none needs Lambda's or Step Functions' interface endpoint."""

    parameter_patterns: tuple[str, ...]
    model_package_group: str
    codecommit_repository: str | None = None  # the project's CodeCommit repository (ARN): pulled and pushed with the role, no token
    mlflow: MlflowTracking | None = None  # the project's MLflow: its experiments, and its artifact store mlflow/

    @classmethod
    def of(
        cls, names: Names, user: str, project: str, *, codecommit_repository: str | None = None, mlflow: MlflowTracking | None = None
    ) -> ProjectWork:
        """The work of ``user`` in ``project`` (either may be a token): the sandbox's and the project's parameters of this
        stage, and which package the project's endpoint or batch scoring serves in each stage of the platform (``mlops status``)."""
        return cls(
            parameter_patterns=(
                f"{names.sandbox_parameters(user, project)}/*",
                f"{names.project_parameters(project)}/*",
                f"{Names(names.prefix, '*').endpoint_parameters(project)}/*",
                f"{Names(names.prefix, '*').batch_parameters(project)}/*",
            ),
            model_package_group=names.model_package_group(project),
            codecommit_repository=codecommit_repository,
            mlflow=mlflow,
        )


@dataclass(frozen=True)
class SandboxProps:
    """Props of :class:`Sandbox`; the default lifecycle is the config schema's (``StorageConfig``)."""

    user_name: str
    user_role: iam.IRole
    data_bucket: s3.IBucket
    artifacts_bucket: s3.IBucket
    key: kms.IKey
    noncurrent_version_expiration: Duration = Duration.days(StorageConfig().noncurrent_version_expiration_days)
    work: ProjectWork | None = None
    capture_bucket: s3.IBucket | None = None  # the project's: the user may put model-quality labels under ground-truth/


class Sandbox(Construct):
    """Links one Studio user to one project, and to nothing else.

    Deploys:
    - ``access_logs_bucket``: server-access-log destination of the sandbox bucket (SSE-S3, retained).
    - ``bucket``: the user's personal sandbox bucket, SSE-KMS with the project key, versioned (old
      versions expire after ``noncurrent_version_expiration``, default 30 days), private, TLS only,
      access-logged, retained on destroy.
    - An IAM policy, in this construct's stack, attached to ``user_role``, made only of ``grant_*``:
      read on the project's ``data_bucket``; read and write on ``bucket``; read, write and list
      (``s3:prefix``) only ``sandbox/<user_name>/`` in the project's ``artifacts_bucket``; the
      project ``key`` through S3 only (``kms:ViaService``); with ``work``, what ``ProjectWork`` lists, and with
      ``capture_bucket`` its reports (``monitoring/``) and labels (``ground-truth/``). Nothing of any other project is named, so
      nothing else is reachable.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: SandboxProps) -> None:
        super().__init__(scope, construct_id)
        user_name, user_role, data_bucket, artifacts_bucket, key, noncurrent_version_expiration = (
            props.user_name,
            props.user_role,
            props.data_bucket,
            props.artifacts_bucket,
            props.key,
            props.noncurrent_version_expiration,
        )

        # Import the role here so that the grants below become a policy in this stack: the user's
        # stack never depends on a sandbox, and deleting a sandbox removes exactly its access.
        grantee = iam.Role.from_role_arn(self, "UserRole", user_role.role_arn, mutable=True)

        self.access_logs_bucket = access_logs_bucket(
            self,
            "AccessLogsBucket",
            logged="the sandbox bucket",
            expiration=Duration.days(365),
            noncurrent_version_expiration=noncurrent_version_expiration,
        )
        self.bucket = SecureBucket(
            self,
            "Bucket",
            encryption_key=key,
            access_logs_bucket=self.access_logs_bucket,
            access_logs_prefix="sandbox/",
            noncurrent_version_expiration=noncurrent_version_expiration,
        )

        self.artifacts_prefix = layout.sandbox_path(user_name)
        # The grants below go through key-less references of the buckets: Bucket.grant_* would add the key's actions
        # without a condition, so the user could call KMS directly. The key is granted once, below, through S3 only.
        data_bucket, own_bucket, artifacts_bucket = (
            s3.Bucket.from_bucket_attributes(self, f"{name}Grants", bucket_arn=b.bucket_arn, bucket_name=b.bucket_name)
            for name, b in (("Data", data_bucket), ("Sandbox", self.bucket), ("Artifacts", artifacts_bucket))
        )
        data_bucket.grant_read(grantee)
        own_bucket.grant_read_write(grantee)
        # The user's prefix of the artifacts bucket, and only it: Bucket.grant_read_write would also let the user list the
        # whole bucket (every run's and every other user's keys), so reading and listing are written out, held by s3:prefix.
        artifacts_bucket.grant_put(grantee, f"{self.artifacts_prefix}*")
        artifacts_bucket.grant_delete(grantee, f"{self.artifacts_prefix}*")
        grantee.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:GetObjectVersion"], resources=[artifacts_bucket.arn_for_objects(f"{self.artifacts_prefix}*")]
            )
        )
        grantee.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[artifacts_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [self.artifacts_prefix, f"{self.artifacts_prefix}*"]}},
            )
        )
        # The project key through S3 only (the buckets above): the user's own KMS calls, or another service's on the user's
        # behalf, are refused. S3 needs GenerateDataKey to write and Decrypt to read (and to complete a multipart upload).
        # https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
        # https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#require-sse-kms
        grantee.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Stack.of(self).region}.amazonaws.com"}},
            )
        )
        acknowledge_wildcards(
            grantee,
            reason="Object-level access granted by Bucket.grant_read/grant_read_write, limited to this project's data "
            "bucket, this sandbox's bucket and this user's prefix of the project's artifacts bucket.",
            resources=[
                data_bucket.arn_for_objects("*"),
                self.bucket.arn_for_objects("*"),
                artifacts_bucket.arn_for_objects(f"{self.artifacts_prefix}*"),
            ],
        )
        acknowledge_wildcards(
            grantee,
            reason="Action groups generated by Bucket.grant_read/grant_read_write, applied only to this project's buckets.",
            actions=[
                "s3:GetObject*",
                "s3:GetBucket*",
                "s3:List*",
                "s3:DeleteObject*",
                "s3:Abort*",
            ],
        )

        if props.work is not None:
            self._grant_work(grantee, props.work, artifacts_bucket, props.capture_bucket)

    def _capture_statements(self, capture_bucket: s3.IBucket) -> tuple[list[iam.PolicyStatement], list[str]]:
        """The project's capture bucket: read its drift and quality reports (``monitoring/``: statistics, verdicts and each
        period's event ids, which `mlops label` checks a label file against; never the captured traffic itself) and put
        model-quality labels under ``ground-truth/``; nothing else is read, written or deleted there. Returns the
        statements and their wildcard resources."""
        capture = s3.Bucket.from_bucket_attributes(
            self, "CaptureGrants", bucket_arn=capture_bucket.bucket_arn, bucket_name=capture_bucket.bucket_name
        )
        reports, labels = capture.arn_for_objects(f"{MONITORING_PREFIX}*"), capture.arn_for_objects(f"{layout.GROUND_TRUTH_PREFIX}*")
        return [
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[reports]),
            iam.PolicyStatement(
                actions=["s3:ListBucket"], resources=[capture.bucket_arn], conditions={"StringLike": {"s3:prefix": [f"{MONITORING_PREFIX}*"]}}
            ),
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[labels]),
        ], [reports, labels]

    def _grant_work(self, grantee: iam.IRole, work: ProjectWork, artifacts_bucket: s3.IBucket, capture_bucket: s3.IBucket | None) -> None:
        """``work``'s statements, as a managed policy of this stack attached to the user's role: the role's inline
        policies share IAM's 10,240 characters (``config.loader.MAX_SANDBOXES_PER_USER``), a managed policy has 6,144 of
        its own. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"""
        stack = Stack.of(self)

        def arn(service: str, resource: str, name: str, separator: ArnFormat = ArnFormat.SLASH_RESOURCE_NAME) -> str:
            return stack.format_arn(service=service, resource=resource, resource_name=name, arn_format=separator)

        parameters = [arn("ssm", "parameter", pattern.removeprefix("/")) for pattern in work.parameter_patterns]
        records = artifacts_bucket.arn_for_objects(f"{layout.RUN_RECORDS_PREFIX}*")
        packages = arn("sagemaker", "model-package", f"{work.model_package_group}/*")
        capture, capture_wildcards = self._capture_statements(capture_bucket) if capture_bucket is not None else ([], [])
        self.work_policy = iam.ManagedPolicy(
            self,
            "WorkPolicy",
            description="What the mlops command does in this sandbox's project: read its parameters, follow its pipeline's runs "
            "through their records, read its model packages (runs and publications are uploads under the user's own prefix)",
            roles=[grantee],
            statements=[
                iam.PolicyStatement(actions=["ssm:GetParameter"], resources=parameters),
                iam.PolicyStatement(actions=["s3:GetObject"], resources=[records]),
                iam.PolicyStatement(
                    actions=["s3:ListBucket"],
                    resources=[artifacts_bucket.bucket_arn],
                    conditions={"StringLike": {"s3:prefix": [f"{layout.RUN_RECORDS_PREFIX}*"]}},
                ),
                iam.PolicyStatement(actions=["sagemaker:DescribeModelPackage"], resources=[packages]),
                # listing is authorized on no particular package (fidelity.iam); what a package holds is read by Describe only
                iam.PolicyStatement(actions=["sagemaker:ListModelPackages"], resources=["*"]),
                *(
                    [iam.PolicyStatement(actions=["codecommit:GitPull", "codecommit:GitPush"], resources=[work.codecommit_repository])]
                    if work.codecommit_repository
                    else []
                ),
                *(work.mlflow.client_statements(artifacts_bucket) if work.mlflow is not None else []),
                *capture,  # mlops label (and the reports)
            ],
        )
        if capture_wildcards:
            acknowledge_wildcards(
                self.work_policy,
                reason="The project's monitoring reports are read by its data scientists (objects named per endpoint and period "
                "at run time); model-quality labels are put per endpoint and hour (ground-truth/<endpoint>/yyyy/mm/dd/hh/, Model "
                "Monitor's layout) and nowhere else.",
                resources=capture_wildcards,
            )
        acknowledge_wildcards(
            self.work_policy,
            reason="The mlops command's reads, each within this project: its SSM parameters (this sandbox's, the project's, and its "
            "endpoint's in each stage), the records of its training pipeline's runs (runs/<execution>.json), the versions of "
            "its model package group.",
            resources=[*parameters, records, packages],
        )
        if work.mlflow is not None:
            work.mlflow.acknowledge_client(self.work_policy, artifacts_bucket)
        acknowledge_wildcards(
            self.work_policy,
            reason="sagemaker:ListModelPackages is authorized on no particular resource; it lists names, versions and statuses "
            "(reading a package, DescribeModelPackage, is held to this project's group).",
            resources=["*"],
        )

    @classmethod
    def linking(
        cls,
        scope: Construct,
        construct_id: str,
        *,
        user_name: str,
        linked: dict[str, str],
        noncurrent_version_expiration: Duration,
        work: ProjectWork | None = None,
    ) -> Sandbox:
        """A sandbox of the user's role and the project's buckets and key given by value (``published_parameters.sandbox_sources``
        keys): imported into ``scope``, as configured sandboxes and the sandbox product both do."""
        return cls(
            scope,
            construct_id,
            props=SandboxProps(
                user_name=user_name,
                user_role=iam.Role.from_role_arn(scope, "UserRole", linked["user-role-arn"], mutable=False),
                data_bucket=s3.Bucket.from_bucket_name(scope, "DataBucket", linked["data-bucket-name"]),
                artifacts_bucket=s3.Bucket.from_bucket_name(scope, "ArtifactsBucket", linked["artifacts-bucket-name"]),
                key=kms.Key.from_key_arn(scope, "Key", linked["key-arn"]),
                noncurrent_version_expiration=noncurrent_version_expiration,
                work=work,
                capture_bucket=s3.Bucket.from_bucket_name(scope, "CaptureBucket", linked["capture-bucket-name"]),
            ),
        )
