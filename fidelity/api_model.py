"""Validate requests against the AWS service models that botocore ships.

botocore's own client-side validation checks required members, types and ranges, but not enums or
patterns; :func:`validate` checks all of them, with AWS's (Java) regular expressions translated for
Python's ``regex`` module and matched against the whole value, as the services do.

:data:`SAGEMAKER_RESOURCES` maps each CloudFormation SageMaker type this platform uses to the API
operation CloudFormation calls to create it, and each CloudFormation-only property to the
operation member it stands for (or to a reason it has none). A SageMaker type missing from it fails
the checks, so a new resource cannot skip them.
"""

from __future__ import annotations

import datetime
import functools
import json
from dataclasses import dataclass, field
from typing import Any

import botocore.session
import regex

from fidelity.cfn import UNRESOLVED, Deployment, generated_name


@functools.cache
def service_model(service: str):
    return botocore.session.get_session().get_service_model(service)


def input_shape(service: str, operation: str):
    return service_model(service).operation_model(operation).input_shape


@functools.cache
def _compiled(pattern: str):
    # Java's surrogate-pair range (every code point above the BMP) and POSIX classes, for Python's regex module.
    translated = pattern.replace("\\uD800\\uDC00-\\uDBFF\\uDFFF", "\\U00010000-\\U0010FFFF")
    translated = translated.replace("\\p{Alnum}", "[[:alnum:]]")
    try:
        return regex.compile(translated)
    except regex.error:
        return None


@dataclass
class Report:
    """What a validation checked: ``checked`` leaf values (``standins`` of them were physical IDs the
    resolver made up in AWS's shapes), ``unchecked`` values that were not resolvable, and ``errors``."""

    checked: int = 0
    standins: int = 0
    unchecked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, other: Report) -> None:
        self.checked += other.checked
        self.standins += other.standins
        self.unchecked += other.unchecked
        self.errors += other.errors


def validate(shape, value: Any, path: str, report: Report) -> None:
    """Check ``value`` against botocore ``shape``; record findings in ``report`` under ``path``."""
    if value is UNRESOLVED:
        report.unchecked.append(path)
        return
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            report.errors.append(f"{path}: expected a structure, got {value!r}")
            return
        for member in shape.required_members:
            if member not in value:
                report.errors.append(f"{path}: missing required member {member}")
        for key, item in value.items():
            if key not in shape.members:
                report.errors.append(f"{path}: unknown member {key} (allowed: {', '.join(shape.members)})")
                continue
            validate(shape.members[key], item, f"{path}.{key}", report)
        return
    if kind == "list":
        if not isinstance(value, list):
            report.errors.append(f"{path}: expected a list, got {value!r}")
            return
        _range(len(value), meta, path, report, "items")
        for i, item in enumerate(value):
            validate(shape.member, item, f"{path}[{i}]", report)
        return
    if kind == "map":
        if not isinstance(value, dict):
            report.errors.append(f"{path}: expected a map, got {value!r}")
            return
        _range(len(value), meta, path, report, "entries")
        for key, item in value.items():
            validate(shape.key, key, f"{path}.<key {key}>", report)
            validate(shape.value, item, f"{path}.{key}", report)
        return
    report.checked += 1
    if kind == "string":
        if not isinstance(value, str):
            report.errors.append(f"{path}: expected a string, got {value!r}")
            return
        _range(len(value), meta, path, report, "characters")
        if shape.enum and value not in shape.enum:
            shown = shape.enum if len(shape.enum) <= 12 else [*shape.enum[:12], f"... {len(shape.enum) - 12} more"]
            report.errors.append(f"{path}: {value!r} is not one of {shown}")
        pattern = meta.get("pattern")
        if pattern:
            compiled = _compiled(pattern)
            if compiled is None:
                report.unchecked.append(f"{path} (pattern {pattern!r} does not compile)")
            elif compiled.fullmatch(value) is None:
                report.errors.append(f"{path}: {value!r} does not match the pattern {pattern!r}")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            report.errors.append(f"{path}: expected an integer, got {value!r}")
            return
        _range(value, meta, path, report, "")
    elif kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            report.errors.append(f"{path}: expected a number, got {value!r}")
            return
        _range(value, meta, path, report, "")
    elif kind == "boolean":
        if not isinstance(value, bool):
            report.errors.append(f"{path}: expected a boolean, got {value!r}")
    elif kind == "timestamp":
        if not isinstance(value, (str, datetime.datetime)):
            report.errors.append(f"{path}: expected a timestamp, got {value!r}")
    elif kind == "blob":
        if not isinstance(value, (str, bytes)):
            report.errors.append(f"{path}: expected a blob, got {value!r}")
    else:
        report.errors.append(f"{path}: unexpected shape type {kind}")


def _range(size: float, meta: dict, path: str, report: Report, unit: str) -> None:
    low, high = meta.get("min"), meta.get("max")
    if low is not None and size < low:
        report.errors.append(f"{path}: {size} {unit} is below the minimum {low}".replace("  ", " "))
    if high is not None and size > high:
        report.errors.append(f"{path}: {size} {unit} is above the maximum {high}".replace("  ", " "))


# -- CloudFormation SageMaker resources -> create requests --------------------------------------------


@dataclass(frozen=True)
class ApiMapping:
    """How CloudFormation creates a type: the operation, the members CloudFormation names itself when a
    template leaves them out, and CloudFormation-only properties (-> ``(operation, member)`` they are
    sent as, or a string saying why they are not an API member)."""

    operation: str
    generated: tuple[str, ...] = ()
    cfn_only: dict[str, tuple[str, str] | str] = field(default_factory=dict)


# CloudFormation property names: https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/AWS_SageMaker.html
SAGEMAKER_RESOURCES: dict[str, ApiMapping] = {
    "AWS::SageMaker::Model": ApiMapping("CreateModel", generated=("ModelName",)),
    "AWS::SageMaker::EndpointConfig": ApiMapping("CreateEndpointConfig", generated=("EndpointConfigName",)),
    "AWS::SageMaker::Endpoint": ApiMapping(
        "CreateEndpoint",
        generated=("EndpointName",),
        cfn_only={
            # CloudFormation sends these with UpdateEndpoint when the endpoint config changes.
            "RetainAllVariantProperties": ("UpdateEndpoint", "RetainAllVariantProperties"),
            "ExcludeRetainedVariantProperties": ("UpdateEndpoint", "ExcludeRetainedVariantProperties"),
            "RetainDeploymentConfig": ("UpdateEndpoint", "RetainDeploymentConfig"),
        },
    ),
    "AWS::SageMaker::Domain": ApiMapping("CreateDomain"),
    "AWS::SageMaker::UserProfile": ApiMapping("CreateUserProfile"),
    "AWS::SageMaker::StudioLifecycleConfig": ApiMapping("CreateStudioLifecycleConfig"),
    "AWS::SageMaker::MlflowApp": ApiMapping("CreateMlflowApp"),
    "AWS::SageMaker::MlflowTrackingServer": ApiMapping(
        "CreateMlflowTrackingServer",
        cfn_only={"AutomaticModelRegistration": ("CreateMlflowTrackingServer", "AutomaticModelRegistration")},
    ),
    "AWS::SageMaker::ModelPackageGroup": ApiMapping(
        "CreateModelPackageGroup",
        cfn_only={"ModelPackageGroupPolicy": ("PutModelPackageGroupPolicy", "ResourcePolicy")},
    ),
    "AWS::SageMaker::DataQualityJobDefinition": ApiMapping(
        "CreateDataQualityJobDefinition",
        generated=("JobDefinitionName",),
        cfn_only={"EndpointName": ("DescribeEndpoint", "EndpointName")},
    ),
    "AWS::SageMaker::MonitoringSchedule": ApiMapping(
        "CreateMonitoringSchedule",
        cfn_only={
            "EndpointName": ("DescribeEndpoint", "EndpointName"),
            "FailureReason": "read-only status CloudFormation reports",
            "LastMonitoringExecutionSummary": "read-only status CloudFormation reports",
            "MonitoringScheduleStatus": "read-only status CloudFormation reports",
        },
    ),
}


def check_sagemaker_resource(deployment: Deployment, stack: str, logical_id: str, resource: dict) -> Report:
    """Validate one SageMaker resource's resolved properties as the create request CloudFormation sends."""
    report = Report()
    kind = resource["Type"]
    where = f"{stack}/{logical_id} ({kind})"
    mapping = SAGEMAKER_RESOURCES.get(kind)
    if mapping is None:
        report.errors.append(f"{where}: no API mapping: add {kind} to fidelity.api_model.SAGEMAKER_RESOURCES")
        return report
    raw = resource.get("Properties", {})
    resolved = deployment.resolve(stack, raw)
    request, extra = {}, {}
    for key, value in resolved.items():
        if key in mapping.cfn_only:
            extra[key] = value
        else:
            request[key] = value
    shape = input_shape("sagemaker", mapping.operation)
    for member in mapping.generated:
        if member not in request:
            request[member] = generated_name(stack, logical_id, 63).replace("_", "-")
    _count_standins(raw, report)
    validate(shape, request, f"{where} {mapping.operation}", report)
    for key, value in extra.items():
        target = mapping.cfn_only[key]
        if isinstance(target, str):
            report.unchecked.append(f"{where}.{key} (CloudFormation-only: {target})")
            continue
        operation, member = target
        if member == "ResourcePolicy" and not isinstance(value, str):
            value = json.dumps(value)  # CloudFormation takes the policy as JSON, the API as text
        validate(input_shape("sagemaker", operation).members[member], value, f"{where} {operation}.{member}", report)
    return report


def _count_standins(node: Any, report: Report) -> None:
    """Count the leaf values that were tokens in the template (resolved to stand-ins in AWS's shapes)."""
    if isinstance(node, dict):
        if len(node) == 1 and (next(iter(node)) == "Ref" or next(iter(node)).startswith("Fn::")):
            report.standins += 1
            return
        for value in node.values():
            _count_standins(value, report)
    elif isinstance(node, list):
        for value in node:
            _count_standins(value, report)


# -- Step Functions tasks -> API requests ---------------------------------------------------------------


def task_operation(resource: str) -> tuple[str, str] | None:
    """(botocore service, operation) of a Task state's ``Resource``, or None for a non-AWS task."""
    parts = resource.split(":::", 1)
    if len(parts) != 2:
        return None
    # the integration patterns: .sync, .sync:2 (a nested workflow's output as JSON) and .waitForTaskToken
    # (https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html)
    integration = parts[1].removesuffix(":2").removesuffix(".sync").removesuffix(".waitForTaskToken")
    if integration.startswith("aws-sdk:"):
        _, service, action = integration.split(":", 2)
    else:
        service, action = integration.split(":", 1)
    service = {"states": "stepfunctions"}.get(service, service)
    model = service_model(service)
    wanted = action.lower()
    for name in model.operation_names:
        if name.lower() == wanted:
            return service, name
    return None
