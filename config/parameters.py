"""The SSM parameters through which stacks, Service Catalog products and tools find each other: what each kind of stack
publishes under its path (``config.naming.Names.*_parameters``), as plain data (no CDK import: the tools read them too)."""

from __future__ import annotations

from config.naming import Names

# What each kind of stack publishes under its path (``config.naming.Names.*_parameters``): the one list
# that writers are checked against and readers read from.
STUDIO_KEYS = ("domain-id", "studio-security-group-id", "subnet-ids", "vpc-id", "endpoints-security-group-id", "s3-prefix-list-id")
PROJECT_KEYS = (
    "data-bucket-name",
    "artifacts-bucket-name",
    "capture-bucket-name",
    "key-arn",
    "repository-name",
    "model-package-group-name",
    "alert-topic-arn",
    "jobs-security-group-id",
    "models-security-group-id",
    "mlflow-arn",  # in the stages that train: the project's MLflow, or project_mlflow.NO_MLFLOW's ARN of no server
)
USER_KEYS = ("role-arn",)
# A sandbox publishes what it links (its user's role, its project's buckets and key), its own bucket and the user's
# prefix of the project's artifacts bucket.
SANDBOX_KEYS = ("user-role-arn", "data-bucket-name", "artifacts-bucket-name", "capture-bucket-name", "key-arn", "bucket-name", "artifacts-prefix")
PIPELINE_KEYS = ("state-machine-arn", "drift-alarm-prefix")
ENDPOINT_KEYS = ("name", "capture-uri", "api-url", "monitoring-reports-uri", "model-package-arn")
BATCH_KEYS = ("state-machine-arn", "output-uri", "model-package-arn")


def _checked(keys: tuple[str, ...], name: str) -> str:
    if name not in keys:
        raise KeyError(f"no published parameter {name!r} here; the keys are {', '.join(keys)}")
    return name


def parameter_name(path: str, keys: tuple[str, ...], key: str) -> str:
    """The SSM name of ``key`` (one of ``keys``) under ``path``."""
    return f"{path}/{_checked(keys, key)}"


# What a model package pin carries of its registry project's published parameters (``tools/resolve_model_packages.py``),
# by pin key: what a stage in another account needs and cannot read there.
REGISTRY_PIN_KEYS = {"artifacts_bucket": "artifacts-bucket-name", "key_arn": "key-arn"}


def registry_parameters(names: Names, project: str) -> dict[str, str]:
    """The SSM parameters of ``project`` (of the stage named by ``names``) a pin carries, by pin key."""
    path = names.project_parameters(project)
    return {pin: parameter_name(path, PROJECT_KEYS, key) for pin, key in REGISTRY_PIN_KEYS.items()}
