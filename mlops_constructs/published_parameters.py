"""SSM parameters through which stacks and Service Catalog products find each other's resources."""

from __future__ import annotations

from functools import cached_property

from aws_cdk import Fn, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from config.parameters import PROJECT_KEYS, STUDIO_KEYS, USER_KEYS, parameter_name
from mlops_constructs.sagemaker_permissions import VpcPlacement
from mlops_constructs.studio_network import WorkloadNetwork


class PublishedParameters(Construct):
    """One SSM String parameter per entry of ``values`` (StringList per ``list_values``), named ``<path>/<key>``.

    Deploys standard-tier (free) ``AWS::SSM::Parameter`` resources, deleted with the stack (they only
    point at resources; the resources themselves are retained). ``path`` may contain tokens.
    ``parameters`` maps each key to its construct.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        path: str,
        keys: tuple[str, ...],
        values: dict[str, str],
        list_values: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        for key in [*values, *(list_values or {})]:
            parameter_name(path, keys, key)  # a key the kind of stack does not publish stops the synth

        def common(key: str) -> dict:
            construct_id = "".join(part.capitalize() for part in key.split("-"))
            return {
                "scope": self,
                "id": construct_id,
                "parameter_name": f"{path}/{key}",
                "simple_name": False,
                "description": f"{key} (published by the MLOps platform)",
            }

        self.parameters: dict[str, ssm.StringParameter | ssm.StringListParameter] = {
            key: ssm.StringParameter(**common(key), string_value=value) for key, value in values.items()
        }
        for key, items in (list_values or {}).items():
            self.parameters[key] = ssm.StringListParameter(**common(key), string_list_value=items)


def sandbox_sources(user_path: str, project_path: str) -> dict[str, str]:
    """The SSM parameter each value a sandbox links is read from: its user's role, its project's buckets and key
    (``SANDBOX_KEYS`` but the sandbox's own bucket). Configured sandboxes and the sandbox product read the same ones."""
    return {
        "user-role-arn": parameter_name(user_path, USER_KEYS, "role-arn"),
        **{
            key: parameter_name(project_path, PROJECT_KEYS, key)
            for key in ("data-bucket-name", "artifacts-bucket-name", "capture-bucket-name", "key-arn")
        },
    }


def resolved_at_deploy(name: str) -> str:
    """An ``ssm`` dynamic reference to parameter ``name``, which may contain template parameters (``Fn::Join``).

    For a name only known at deploy time (e.g. derived from a product's ``ProjectName``), which a template
    parameter of type ``AWS::SSM::Parameter::Value<String>`` cannot take (its name is the launcher's to choose).
    CloudFormation resolves it when it creates or updates the resource that holds it; a missing parameter
    fails the stack there, with its name. Keep it out of strings that intrinsic functions take apart
    (``Fn::Split``): put it in a published parameter and read that parameter's value (``GetAtt Value``).
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/dynamic-references-ssm.html
    """
    return f"{{{{resolve:ssm:{name}}}}}"


def read_parameter(scope: Construct, name: str) -> str:
    """The value of SSM parameter ``name``, resolved by CloudFormation at deploy time (no synth-time call)."""
    return ssm.StringParameter.value_for_string_parameter(scope, name)


def read_list_parameter(scope: Construct, name: str) -> list[str]:
    """The value of StringList parameter ``name`` as a list, resolved by CloudFormation at deploy time."""
    return ssm.StringListParameter.value_for_typed_list_parameter(scope, name)


class PublishedValues:
    """Values another stack published under ``path`` (one of the key lists above), read into ``scope`` at deploy time."""

    def __init__(self, scope: Construct, path: str, keys: tuple[str, ...]) -> None:
        self._scope, self._path, self._keys = scope, path, keys

    def value(self, name: str) -> str:
        return read_parameter(self._scope, parameter_name(self._path, self._keys, name))

    def list_value(self, name: str) -> list[str]:
        return read_list_parameter(self._scope, parameter_name(self._path, self._keys, name))


class PublishedStudio(PublishedValues):
    """The environment stack's network and domain (``STUDIO_KEYS``)."""

    def __init__(self, scope: Construct, path: str) -> None:
        super().__init__(scope, path, STUDIO_KEYS)

    @property
    def domain_id(self) -> str:
        return self.value("domain-id")

    @property
    def vpc_id(self) -> str:
        return self.value("vpc-id")

    @property
    def studio_security_group_id(self) -> str:
        return self.value("studio-security-group-id")

    @property
    def workload_network(self) -> WorkloadNetwork:
        """The VPC, its endpoints' security group and S3's prefix list: what a project's security groups need."""
        return WorkloadNetwork(self.vpc_id, self.value("endpoints-security-group-id"), self.value("s3-prefix-list-id"))

    def subnet_ids(self, count: int) -> list[str]:
        """One string per subnet (a list token in a state machine definition would need a CfnJson custom resource)."""
        subnets = self.list_value("subnet-ids")
        return [Fn.select(i, subnets) for i in range(count)]

    def placement(self, network, security_group_id: str) -> VpcPlacement | None:
        """Where a project's workload runs with ``security_group_id`` (its jobs' or models' group): in every subnet of this
        VPC (one per zone of ``network``, the stage's network config), or in no VPC at all on the frugal network."""
        if network.mode == "frugal":
            return None
        return VpcPlacement(self.vpc_id, self.subnet_ids(len(network.availability_zones)), security_group_id)


class PublishedProject:
    """A project's resources as its stack publishes them (``ProjectResources.parameter_values``),
    imported into ``scope`` from the SSM parameters under ``path`` (resolved at deploy time).

    Each resource is imported on first use, once. ``id_prefix`` keeps the construct ids of two
    projects' imports apart in one stack (an endpoint reads its own stage's project and its
    registry stage's). Imports create no resources, so the ids do not reach the template.
    """

    def __init__(self, scope: Construct, path: str, *, id_prefix: str = "") -> None:
        self._scope, self._id = scope, id_prefix
        self._values = PublishedValues(scope, path, PROJECT_KEYS)

    def value(self, name: str) -> str:
        return self._values.value(name)

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

    @property
    def jobs_security_group_id(self) -> str:
        """The group of the project's SageMaker jobs (processing, training, monitoring)."""
        return self.value("jobs-security-group-id")

    @property
    def models_security_group_id(self) -> str:
        """The group of the project's models behind instance-backed endpoints."""
        return self.value("models-security-group-id")

    @cached_property
    def alert_topic(self) -> sns.ITopic:
        return sns.Topic.from_topic_arn(self._scope, f"{self._id}AlertTopic", self.value("alert-topic-arn"))


class RegistryInAnotherAccount:
    """What a stage serves of a model registry stage in another account: the registry project's artifacts bucket and key
    (their values pinned at synth, ``tools/resolve_model_packages.py`` reads them from the registry stage's parameters,
    which CloudFormation cannot read across accounts) and its image repository (named ``Names.repository``).

    Grants on these imports are identity statements only; the registry stage's resource policies admit this stage's
    roles (``ProjectResources.share_registry``). Same attributes as :class:`PublishedProject`'s for the registry's part.
    """

    def __init__(
        self, scope: Construct, *, account: str, region: str, repository_name: str, artifacts_bucket: str, key_arn: str, id_prefix: str = "Registry"
    ) -> None:
        partition = Stack.of(scope).partition
        self.artifacts_bucket = s3.Bucket.from_bucket_attributes(
            scope, f"{id_prefix}ArtifactsBucket", bucket_name=artifacts_bucket, account=account, region=region
        )
        self.key = kms.Key.from_key_arn(scope, f"{id_prefix}ProjectKey", key_arn)
        self.repository = ecr.Repository.from_repository_attributes(
            scope,
            f"{id_prefix}Repository",
            repository_name=repository_name,
            repository_arn=f"arn:{partition}:ecr:{region}:{account}:repository/{repository_name}",
        )
