"""A bucket and a key with the platform's non-negotiable defaults already applied."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Aws, Duration, RemovalPolicy, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct


def allow_log_encryption(key: kms.IKey, log_group_pattern: str) -> None:
    """Let CloudWatch Logs of the Region encrypt the log groups named ``log_group_pattern`` (with ``*``) with ``key``:
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html"""
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchLogsOfThisStage",
            principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
            # AWS's statement also lists kms:Describe*, which carries no encryption context and so could never pass the condition.
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:{log_group_pattern}"
                }
            },
        )
    )


def retained_key(scope: Construct, construct_id: str, *, description: str) -> kms.Key:
    """A customer-managed KMS key with yearly rotation, retained on destroy (what it encrypts outlives the stack)."""
    return kms.Key(scope, construct_id, description=description, enable_key_rotation=True, removal_policy=RemovalPolicy.RETAIN)


class SecureBucket(s3.Bucket):
    """An S3 bucket that is encrypted, versioned, private, TLS-only, access-logged and retained.

    Deploys one ``AWS::S3::Bucket`` and its ``AWS::S3::BucketPolicy`` (TLS-only statement).

    Defaults and what they mean:
    - ``encryption_key``: when given, SSE-KMS with that key and an S3 Bucket Key (fewer KMS calls,
      lower cost); when omitted, SSE-S3 (only for access-log buckets, which cannot use SSE-KMS).
    - ``access_logs_bucket``: server access logs go there under ``access_logs_prefix``; when omitted
      the bucket is not logged (only for the access-log bucket itself, and the caller acknowledges it).
    - ``noncurrent_version_expiration``: old object versions are deleted after this long; incomplete
      multipart uploads are aborted after 7 days.
    - ``extra_lifecycle_rules``: added after those two.
    - ``event_bridge_enabled``: off; turn on to emit object events to EventBridge.
    - The removal policy is always RETAIN: a ``cdk destroy`` leaves the bucket and its data.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey | None,
        access_logs_bucket: s3.IBucket | None,
        access_logs_prefix: str | None = None,
        noncurrent_version_expiration: Duration,
        extra_lifecycle_rules: list[s3.LifecycleRule] | None = None,
        event_bridge_enabled: bool = False,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            encryption=s3.BucketEncryption.KMS if encryption_key else s3.BucketEncryption.S3_MANAGED,
            encryption_key=encryption_key,
            bucket_key_enabled=encryption_key is not None,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            server_access_logs_bucket=access_logs_bucket,
            server_access_logs_prefix=access_logs_prefix,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=noncurrent_version_expiration,
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                ),
                *(extra_lifecycle_rules or []),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        if event_bridge_enabled:
            # The L2 flag deploys a custom-resource Lambda to set this; the L1 property needs none.
            cfn_bucket: s3.CfnBucket = self.node.default_child  # type: ignore[assignment]
            cfn_bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
                event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(event_bridge_enabled=True)
            )


def access_logs_bucket(
    scope: Construct, construct_id: str, *, logged: str, expiration: Duration, noncurrent_version_expiration: Duration
) -> SecureBucket:
    """The server-access-log destination of the ``logged`` buckets: SSE-S3 (the only encryption S3 logging supports),
    logs expire after ``expiration``; not logged itself (logging into itself would loop), acknowledged here. Its id ends
    with ``AccessLogsBucket``: checkov's matching skip (``mlops_constructs/checkov.py``) finds it by that."""
    if not construct_id.endswith("AccessLogsBucket"):
        raise ValueError(f"{construct_id}: an access-log bucket's id ends with AccessLogsBucket (checkov's skip finds it so)")
    bucket = SecureBucket(
        scope,
        construct_id,
        encryption_key=None,
        access_logs_bucket=None,
        noncurrent_version_expiration=noncurrent_version_expiration,
        extra_lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=expiration)],
    )
    Validations.of(bucket).acknowledge(
        Acknowledgment(
            id="AwsSolutions::AwsSolutions-S1",
            reason=f"This is the server-access-log destination of {logged}; logging it into itself would loop.",
        )
    )
    return bucket
