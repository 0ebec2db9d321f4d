"""One user's sandbox in one project."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from constructs import Construct

from config import PlatformConfig, SandboxConfig
from config.parameters import PROJECT_KEYS, SANDBOX_KEYS, parameter_name
from mlops_constructs.project_mlflow import MlflowTracking
from mlops_constructs.published_parameters import PublishedParameters, read_parameter, sandbox_sources
from mlops_constructs.sandbox import ProjectWork, Sandbox


def _codecommit_arn(scope: Stack, config: PlatformConfig, project: str) -> str | None:
    """The ARN of the project's Git repository when it is CodeCommit's (in the stage's account), else None."""
    git = config.project(project).git
    if git is None or git.codecommit is None:
        return None
    region, name = git.codecommit
    return scope.format_arn(service="codecommit", region=region, resource=name)


class SandboxStack(Stack):
    """Composes ``Sandbox``: links one user's role to one project's data, key and artifacts prefix.

    The role, buckets and key are read from the SSM parameters the user and project stacks publish
    (the stage declares the dependencies), and published, with the sandbox's bucket, under
    ``<ns>/sandboxes/<user>/<project>/``, as the Service Catalog sandbox product does.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: PlatformConfig, sandbox: SandboxConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        names = config.names
        linked = {
            key: read_parameter(self, name)
            for key, name in sandbox_sources(names.user_parameters(sandbox.user), names.project_parameters(sandbox.project)).items()
        }
        self.sandbox = Sandbox.linking(
            self,
            "Sandbox",
            user_name=sandbox.user,
            linked=linked,
            noncurrent_version_expiration=Duration.days(config.storage.noncurrent_version_expiration_days),
            work=ProjectWork.of(
                names,
                sandbox.user,
                sandbox.project,
                codecommit_repository=_codecommit_arn(self, config, sandbox.project),
                mlflow=MlflowTracking(
                    read_parameter(self, parameter_name(names.project_parameters(sandbox.project), PROJECT_KEYS, "mlflow-arn")), m.server
                )
                if (m := config.mlflow(config.project(sandbox.project)))
                else None,
            ),
        )
        PublishedParameters(
            self,
            "Parameters",
            path=names.sandbox_parameters(sandbox.user, sandbox.project),
            keys=SANDBOX_KEYS,
            values={**linked, "bucket-name": self.sandbox.bucket.bucket_name, "artifacts-prefix": self.sandbox.artifacts_prefix},
        )
