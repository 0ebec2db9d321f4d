"""A user's scoped access to one project."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from config.schema import StorageConfig
from mlops_constructs.nag import acknowledge_wildcards
from mlops_constructs.secure_bucket import SecureBucket


@dataclass(frozen=True)
class SandboxProps:
    """Props of :class:`Sandbox`; the default lifecycle is the config schema's (``StorageConfig``)."""

    user_name: str
    user_role: iam.IRole
    data_bucket: s3.IBucket
    artifacts_bucket: s3.IBucket
    key: kms.IKey
    noncurrent_version_expiration: Duration = Duration.days(StorageConfig().noncurrent_version_expiration_days)


class Sandbox(Construct):
    """Links one Studio user to one project, and to nothing else.

    Deploys:
    - ``access_logs_bucket``: server-access-log destination of the sandbox bucket (SSE-S3, retained).
    - ``bucket``: the user's personal sandbox bucket, SSE-KMS with the project key, versioned (old
      versions expire after ``noncurrent_version_expiration``, default 30 days), private, TLS only,
      access-logged, retained on destroy.
    - An IAM policy, in this construct's stack, attached to ``user_role``, made only of ``grant_*``:
      read on the project's ``data_bucket``; read and write on ``bucket``; read, write and list
      (``s3:prefix``) only ``sandbox/<user_name>/`` in the project's ``artifacts_bucket``; encrypt/decrypt with the
      project ``key``. Nothing of any other project is named, so nothing else is reachable.
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

        self.access_logs_bucket = SecureBucket(
            self,
            "AccessLogsBucket",
            encryption_key=None,
            access_logs_bucket=None,
            noncurrent_version_expiration=noncurrent_version_expiration,
            extra_lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(365))],
        )
        Validations.of(self.access_logs_bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-S1",
                reason="This is the server-access-log destination of the sandbox bucket; logging it into itself would loop.",
            )
        )
        self.bucket = SecureBucket(
            self,
            "Bucket",
            encryption_key=key,
            access_logs_bucket=self.access_logs_bucket,
            access_logs_prefix="sandbox/",
            noncurrent_version_expiration=noncurrent_version_expiration,
        )

        self.artifacts_prefix = f"sandbox/{user_name}/"
        data_bucket.grant_read(grantee)
        self.bucket.grant_read_write(grantee)
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
        key.grant_encrypt_decrypt(grantee)
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
            reason="Action groups generated by Bucket.grant_read/grant_read_write and Key.grant_encrypt_decrypt, "
            "applied only to this project's buckets and key.",
            actions=[
                "s3:GetObject*",
                "s3:GetBucket*",
                "s3:List*",
                "s3:DeleteObject*",
                "s3:Abort*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
            ],
        )
