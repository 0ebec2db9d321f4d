"""SSM parameters through which stacks and Service Catalog products find each other's resources."""

from __future__ import annotations

from functools import cached_property

from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from constructs import Construct


def namespace(prefix: str, stage: str) -> str:
    """The parameter path of one stage of the platform, e.g. ``/mlops/dev``."""
    return f"/{prefix}/{stage}"


def project_path(prefix: str, stage: str, project: str) -> str:
    return f"{namespace(prefix, stage)}/projects/{project}"


def user_path(prefix: str, stage: str, user: str) -> str:
    return f"{namespace(prefix, stage)}/users/{user}"


def studio_path(prefix: str, stage: str) -> str:
    return f"{namespace(prefix, stage)}/studio"


class PublishedParameters(Construct):
    """One SSM String parameter per entry of ``values`` (StringList per ``list_values``), named ``<path>/<key>``.

    Deploys standard-tier (free) ``AWS::SSM::Parameter`` resources, deleted with the stack (they only
    point at resources; the resources themselves are retained). ``path`` may contain tokens.
    ``parameters`` maps each key to its construct.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, path: str, values: dict[str, str], list_values: dict[str, list[str]] | None = None
    ) -> None:
        super().__init__(scope, construct_id)
        def common(key: str) -> dict:
            construct_id = "".join(part.capitalize() for part in key.split("-"))
            return {"scope": self, "id": construct_id, "parameter_name": f"{path}/{key}", "simple_name": False,
                    "description": f"{key} (published by the MLOps platform)"}

        self.parameters: dict[str, ssm.StringParameter | ssm.StringListParameter] = {
            key: ssm.StringParameter(**common(key), string_value=value) for key, value in values.items()
        }
        for key, items in (list_values or {}).items():
            self.parameters[key] = ssm.StringListParameter(**common(key), string_list_value=items)


def read_parameter(scope: Construct, name: str) -> str:
    """The value of SSM parameter ``name``, resolved by CloudFormation at deploy time (no synth-time call)."""
    return ssm.StringParameter.value_for_string_parameter(scope, name)


def read_list_parameter(scope: Construct, name: str) -> list[str]:
    """The value of StringList parameter ``name`` as a list, resolved by CloudFormation at deploy time."""
    return ssm.StringListParameter.value_for_typed_list_parameter(scope, name)


class PublishedProject:
    """A project's resources as its stack publishes them (``ProjectResources.parameter_values``),
    imported into ``scope`` from the SSM parameters under ``path`` (resolved at deploy time).

    Each resource is imported on first use, once. ``id_prefix`` keeps the construct ids of two
    projects' imports apart in one stack (an endpoint reads its own stage's project and its
    registry stage's). Imports create no resources, so the ids do not reach the template.
    """

    PARAMETERS = ("data-bucket-name", "artifacts-bucket-name", "capture-bucket-name", "key-arn", "repository-name",
                  "model-package-group-name", "alert-topic-arn")

    def __init__(self, scope: Construct, path: str, *, id_prefix: str = "") -> None:
        self._scope, self._path, self._id = scope, path, id_prefix

    def value(self, name: str) -> str:
        if name not in self.PARAMETERS:
            raise KeyError(f"a project publishes no parameter {name!r}; it publishes {', '.join(self.PARAMETERS)}")
        return read_parameter(self._scope, f"{self._path}/{name}")

    def _bucket(self, kind: str) -> s3.IBucket:
        return s3.Bucket.from_bucket_name(self._scope, f"{self._id}{kind.capitalize()}Bucket", self.value(f"{kind}-bucket-name"))

    @cached_property
    def data_bucket(self) -> s3.IBucket:
        return self._bucket("data")

    @cached_property
    def artifacts_bucket(self) -> s3.IBucket:
        return self._bucket("artifacts")

    @cached_property
    def capture_bucket(self) -> s3.IBucket:
        return self._bucket("capture")

    @cached_property
    def key(self) -> kms.IKey:
        return kms.Key.from_key_arn(self._scope, f"{self._id}ProjectKey", self.value("key-arn"))

    @cached_property
    def repository(self) -> ecr.IRepository:
        return ecr.Repository.from_repository_name(self._scope, f"{self._id}Repository", self.value("repository-name"))

    @cached_property
    def alert_topic(self) -> sns.ITopic:
        return sns.Topic.from_topic_arn(self._scope, f"{self._id}AlertTopic", self.value("alert-topic-arn"))
