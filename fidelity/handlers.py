"""What CloudFormation calls, with the caller's credentials, to create, update and delete a resource: the handler
permissions of each type's resource schema (the registry schema AWS publishes, as pinned cfn-lint ships it).

A Service Catalog launch role is that caller for every resource of a product: a product whose launch role lacks one of
these calls fails to launch, update or terminate in a real account, though it synthesizes and deploys into moto.
``tests/fidelity/test_launch_handlers.py`` judges the launch roles against them with the IAM engine.

A schema lists every call a handler may make, including those only some properties cause (S3 Tables for a bucket's
metadata configuration, IAM Identity Center for a user profile of an Identity Center domain). ``NOT_CALLED`` holds the
ones this platform's products never cause, each with the reason; a test keeps every entry in the schema.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import cfnlint

SCHEMAS = Path(cfnlint.__file__).parent / "data" / "schemas" / "resources"
HANDLERS = ("create", "update", "delete")


@functools.cache
def _schemas() -> dict[str, dict]:
    found = {}
    for path in SCHEMAS.glob("*.json"):
        schema = json.loads(path.read_text())
        if isinstance(schema, dict) and "typeName" in schema:
            found[schema["typeName"]] = schema
    return found


def handler_permissions(resource_type: str) -> dict[str, list[str]]:
    """``handler -> actions`` of ``resource_type``'s create, update and delete handlers (an unknown type: KeyError)."""
    handlers = _schemas()[resource_type].get("handlers", {})
    return {h: list(handlers[h]["permissions"]) for h in HANDLERS if h in handlers}


_S3_TABLES = "only for a bucket's MetadataConfiguration (S3 Tables), which no product sets"
_UNSET = "only for a property no product sets"

# type -> {action: why no product of this platform causes the call}
NOT_CALLED: dict[str, dict[str, str]] = {
    "AWS::S3::Bucket": {
        **{
            a: _S3_TABLES
            for a in (
                "s3tables:CreateNamespace",
                "s3tables:CreateTable",
                "s3tables:CreateTableBucket",
                "s3tables:GetTable",
                "s3tables:PutTableBucketPolicy",
                "s3tables:PutTableEncryption",
                "s3tables:PutTablePolicy",
                "s3tables:GetTableMetadataLocation",
                "s3tables:UpdateTableMetadataLocation",
                "s3:GetBucketMetadataTableConfiguration",
                "s3:CreateBucketMetadataTableConfiguration",
                "s3:DeleteBucketMetadataTableConfiguration",
                "s3:UpdateBucketMetadataJournalTableConfiguration",
                "s3:UpdateBucketMetadataInventoryTableConfiguration",
                "s3:UpdateBucketMetadataAnnotationTableConfiguration",
            )
        },
        **{
            a: _UNSET + " (analytics, CORS, inventory, metrics, replication, website, acceleration, object lock, "
            "intelligent tiering, ACLs: buckets are BucketOwnerEnforced; a delete of a configuration never set)"
            for a in (
                "s3:PutAnalyticsConfiguration",
                "s3:PutBucketCORS",
                "s3:PutInventoryConfiguration",
                "s3:PutMetricsConfiguration",
                "s3:PutBucketReplication",
                "s3:PutReplicationConfiguration",
                "s3:PutBucketWebsite",
                "s3:PutAccelerateConfiguration",
                "s3:PutObjectAcl",
                "s3:PutBucketAcl",
                "s3:GetBucketAcl",
                "s3:PutBucketObjectLockConfiguration",
                "s3:PutObjectLockConfiguration",
                "s3:PutIntelligentTieringConfiguration",
                "s3:DeleteBucketWebsite",
                "s3:DeleteBucketAnalyticsConfiguration",
                "s3:DeleteBucketCors",
                "s3:DeleteBucketMetricsConfiguration",
                "s3:DeleteBucketEncryption",
                "s3:DeleteBucketLifecycle",
                "s3:DeleteBucketReplication",
            )
        },
        "iam:PassRole": _UNSET + " (ReplicationConfiguration's role)",
        "s3:DeleteObject": "listed for the create handler without a property named; the products write and remove no "
        "object while a bucket is created (an assumption no AWS page confirms: a real launch is the proof)",
        "s3:PutBucketAbac": _UNSET + " (AbacStatus)",
        "s3:TagResource": "the S3 Control tagging call of a bucket with ABAC on; no product turns ABAC on (PutBucketTagging tags)",
        "s3:UntagResource": "the S3 Control tagging call of a bucket with ABAC on; no product turns ABAC on",
    },
    "AWS::SageMaker::UserProfile": {
        **{
            a: "only for a domain that authenticates with IAM Identity Center; the platform's domain uses IAM"
            for a in ("sso:DescribeInstance", "sso:ListInstances", "identitystore:DescribeUser", "identitystore:ListUsers")
        },
        "sagemaker:DescribeImage": _UNSET + " (custom images)",
        "sagemaker:DescribeImageVersion": _UNSET + " (custom images)",
    },
    "AWS::SNS::Topic": {
        "iam:GetRole": _UNSET + " (delivery status logging roles)",
        "iam:PassRole": _UNSET + " (delivery status logging roles)",
        "sns:PutDataProtectionPolicy": _UNSET + " (DataProtectionPolicy)",
        "sns:GetDataProtectionPolicy": _UNSET + " (DataProtectionPolicy)",
    },
    "AWS::SNS::Subscription": {
        "iam:GetRole": _UNSET + " (SubscriptionRoleArn: Firehose subscriptions only; products subscribe an e-mail address)",
        "iam:PassRole": _UNSET + " (SubscriptionRoleArn: Firehose subscriptions only; products subscribe an e-mail address)",
    },
    "AWS::SageMaker::ModelPackageGroup": {
        a: _UNSET + " (ModelPackageGroupPolicy: a self-served project shares its registry with no other account)"
        for a in ("sagemaker:GetModelPackageGroupPolicy", "sagemaker:PutModelPackageGroupPolicy", "sagemaker:DeleteModelPackageGroupPolicy")
    },
    "AWS::Budgets::Budget": {"billing:GetBillingViewData": _UNSET + " (BillingViewArn)"},
    "AWS::ECR::Repository": {
        "ecr:DeleteLifecyclePolicy": "only when an update removes the lifecycle policy, which every product keeps",
        "ecr:DeleteRepositoryPolicy": "only when an update removes the repository policy, which every product keeps",
    },
    "AWS::IAM::ManagedPolicy": {
        a: "products attach their managed policy to roles only, never to a group or an IAM user"
        for a in ("iam:AttachGroupPolicy", "iam:AttachUserPolicy", "iam:DetachGroupPolicy", "iam:DetachUserPolicy")
    },
    "AWS::IAM::Policy": {
        a: "products put inline policies on roles only, never on a group or an IAM user"
        for a in (
            "iam:GetUserPolicy",
            "iam:GetGroupPolicy",
            "iam:PutUserPolicy",
            "iam:PutGroupPolicy",
            "iam:DeleteUserPolicy",
            "iam:DeleteGroupPolicy",
        )
    },
    "AWS::IAM::Role": {
        "iam:DeleteRolePermissionsBoundary": "an update never takes the platform's boundary off a product role (the boundary test holds it)",
        "iam:PutRolePermissionsBoundary": "a product role's boundary is set as it is created (CreateRole) and never changes",
    },
    "AWS::KMS::Key": {
        "kms:DisableKey": _UNSET + " (Enabled: false)",
        "kms:EnableKey": _UNSET + " (Enabled: false)",
        "kms:DisableKeyRotation": "rotation is always on",
    },
    "AWS::SageMaker::MlflowApp": {},
}
