"""One user's sandbox in one project."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from config import PlatformConfig, SandboxConfig
from mlops_constructs.published_parameters import SANDBOX_KEYS, USER_KEYS, PublishedParameters, PublishedProject, PublishedValues
from mlops_constructs.sandbox import Sandbox, SandboxProps


class SandboxStack(Stack):
    """Composes ``Sandbox``: links one user's role to one project's data, key and artifacts prefix.

    The role, buckets and key are read from the SSM parameters the user and project stacks publish
    (the stage declares the dependencies), and published, with the sandbox's bucket, under
    ``<ns>/sandboxes/<user>/<project>/``, as the Service Catalog sandbox product does.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: PlatformConfig, sandbox: SandboxConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        published = PublishedProject(self, config.names.project_parameters(sandbox.project))
        user = PublishedValues(self, config.names.user_parameters(sandbox.user), USER_KEYS)
        role_arn = user.value("role-arn")
        self.sandbox = Sandbox(
            self,
            "Sandbox",
            props=SandboxProps(
                user_name=sandbox.user,
                user_role=iam.Role.from_role_arn(self, "UserRole", role_arn, mutable=False),
                data_bucket=published.data_bucket,
                artifacts_bucket=published.artifacts_bucket,
                key=published.key,
                noncurrent_version_expiration=Duration.days(config.storage.noncurrent_version_expiration_days),
            ),
        )
        PublishedParameters(
            self,
            "Parameters",
            path=config.names.sandbox_parameters(sandbox.user, sandbox.project),
            keys=SANDBOX_KEYS,
            values={
                "user-role-arn": role_arn,
                "data-bucket-name": published.data_bucket.bucket_name,
                "artifacts-bucket-name": published.artifacts_bucket.bucket_name,
                "key-arn": published.key.key_arn,
                "bucket-name": self.sandbox.bucket.bucket_name,
            },
        )
