"""SSM parameters through which stacks and Service Catalog products find each other's resources."""

from __future__ import annotations

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
