"""fidelity/api_model.py's validator on requests written here, against botocore's real SageMaker shapes: each kind of
shape, each finding word for word, and what it counts. The stage tests validate every synthesized resource and task
request with it; these run in milliseconds, so that ``make mutate`` can judge the validator itself."""

from __future__ import annotations

import datetime

import pytest

from fidelity.api_model import Report, _compiled, input_shape, validate
from fidelity.cfn import UNRESOLVED

ROLE = "arn:aws:iam::123456789012:role/r"
MODEL_NAME = "[a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?"  # CreateModel's ModelName pattern


def _shape(path: str):
    """A member shape by its path from an operation's input: ``CreateModel.PrimaryContainer.Environment``."""
    service, operation, *members = path.split(".")
    shape = input_shape(service, operation)
    for member in members:
        shape = shape.member if member == "[]" else shape.members[member]
    return shape


def _report(path: str, value) -> Report:
    report = Report()
    validate(_shape(path), value, "v", report)
    return report


@pytest.mark.parametrize(
    ("path", "value", "errors"),
    [
        ("sagemaker.CreateModel", [], ["v: expected a structure, got []"]),
        ("sagemaker.CreateModel", {"ExecutionRoleArn": ROLE}, ["v: missing required member ModelName"]),
        ("sagemaker.CreateEndpointConfig.ProductionVariants", {}, ["v: expected a list, got {}"]),
        ("sagemaker.CreateEndpointConfig.ProductionVariants", [], ["v: 0 items is below the minimum 1"]),
        ("sagemaker.CreateModel.PrimaryContainer.Environment", [], ["v: expected a map, got []"]),
        ("sagemaker.CreateModel.PrimaryContainer.Environment", {f"K{i}": "v" for i in range(101)}, ["v: 101 entries is above the maximum 100"]),
        (
            "sagemaker.CreateModel.PrimaryContainer.Environment",
            {"1BAD": "v"},
            ["v.<key 1BAD>: '1BAD' does not match the pattern '[a-zA-Z_][a-zA-Z0-9_]*'"],
        ),
        ("sagemaker.CreateModel.PrimaryContainer.Environment", {"K": "v" * 1025}, ["v.K: 1025 characters is above the maximum 1024"]),
        ("sagemaker.CreateModel.ModelName", 7, ["v: expected a string, got 7"]),
        ("sagemaker.CreateModel.ModelName", "m" * 64, ["v: 64 characters is above the maximum 63"]),
        ("sagemaker.CreateModel.ModelName", "", ["v: '' does not match the pattern " + repr(MODEL_NAME)]),
        ("sagemaker.CreateDomain.AppNetworkAccessType", "Open", ["v: 'Open' is not one of ['PublicInternetOnly', 'VpcOnly']"]),
        ("sagemaker.CreateEndpointConfig.ProductionVariants.[].ServerlessConfig.MemorySizeInMB", 1023, ["v: 1023 is below the minimum 1024"]),
        ("sagemaker.CreateEndpointConfig.ProductionVariants.[].ServerlessConfig.MemorySizeInMB", 6145, ["v: 6145 is above the maximum 6144"]),
        ("sagemaker.CreateEndpointConfig.ProductionVariants.[].ServerlessConfig.MemorySizeInMB", True, ["v: expected an integer, got True"]),
        ("sagemaker.CreateEndpointConfig.ProductionVariants.[].ServerlessConfig.MemorySizeInMB", "2048", ["v: expected an integer, got '2048'"]),
        ("sagemaker.CreateEndpointConfig.ProductionVariants.[].InitialVariantWeight", -0.5, ["v: -0.5 is below the minimum 0"]),
        ("sagemaker.CreateEndpointConfig.ProductionVariants.[].InitialVariantWeight", False, ["v: expected a number, got False"]),
        ("sagemaker.CreateEndpointConfig.ProductionVariants.[].InitialVariantWeight", "1", ["v: expected a number, got '1'"]),
        ("sagemaker.CreateModel.EnableNetworkIsolation", "true", ["v: expected a boolean, got 'true'"]),
        ("sagemaker.ListModels.CreationTimeBefore", 17, ["v: expected a timestamp, got 17"]),
        ("sagemaker-runtime.InvokeEndpoint.Body", 17, ["v: expected a blob, got 17"]),
    ],
)
def test_each_kind_of_shape_says_what_aws_would_reject(path, value, errors):
    assert _report(path, value).errors == errors


@pytest.mark.parametrize(
    ("path", "value", "checked"),
    [
        ("sagemaker.CreateModel", {"ModelName": "m", "ExecutionRoleArn": ROLE, "EnableNetworkIsolation": True}, 3),
        ("sagemaker.CreateModel.PrimaryContainer.Environment", {"K": "v", "_K2": ""}, 4),  # each key and each value
        ("sagemaker.CreateEndpointConfig.ProductionVariants.[].ServerlessConfig.MemorySizeInMB", 6144, 1),
        ("sagemaker.CreateEndpointConfig.ProductionVariants.[].ServerlessConfig.MemorySizeInMB", 1024, 1),
        ("sagemaker.CreateEndpointConfig.ProductionVariants.[].InitialVariantWeight", 0, 1),
        ("sagemaker.ListModels.CreationTimeBefore", "2026-12-07T00:00:00Z", 1),
        ("sagemaker.ListModels.CreationTimeBefore", datetime.datetime(2026, 12, 7), 1),
        ("sagemaker-runtime.InvokeEndpoint.Body", b"1,2", 1),
        ("sagemaker-runtime.InvokeEndpoint.Body", "1,2", 1),
        ("sagemaker.CreateModel.ModelName", "m" * 63, 1),
    ],
)
def test_valid_values_pass_and_are_counted(path, value, checked):
    report = _report(path, value)
    assert (report.errors, report.checked, report.unchecked) == ([], checked, [])


def test_structures_name_unknown_members_and_paths_lead_to_the_value():
    report = _report(
        "sagemaker.CreateEndpointConfig",
        {"EndpointConfigName": "c", "Tagz": [], "ProductionVariants": [{"VariantName": "v"}, {"VariantName": "w", "InstanceType": "ml.t3.large"}]},
    )
    (unknown, instance) = report.errors
    assert unknown.startswith("v: unknown member Tagz (allowed: EndpointConfigName, ProductionVariants, DataCaptureConfig,")
    assert instance.startswith("v.ProductionVariants[1].InstanceType: 'ml.t3.large' is not one of ['ml.t2.medium', ")
    assert instance.endswith(" more']") and instance.count("'") == 2 * 14  # the value, 12 of the enum's, then how many more


def test_an_unresolved_value_is_unchecked_never_passed():
    report = Report()
    validate(_shape("sagemaker.CreateModel"), {"ModelName": UNRESOLVED, "ExecutionRoleArn": ROLE}, "v", report)
    assert (report.unchecked, report.checked, report.errors) == (["v.ModelName"], 1, [])


def test_java_patterns_are_translated_or_left_unchecked():
    assert _compiled("[\\uD800\\uDC00-\\uDBFF\\uDFFF]+").fullmatch("\U0001f600") is not None  # every code point above the BMP
    assert _compiled("\\p{Alnum}+").fullmatch("a1") is not None and _compiled("\\p{Alnum}+").fullmatch("a-1") is None
    assert _compiled("(unclosed") is None


def test_reports_add_up():
    total, part = Report(checked=1, standins=1, unchecked=["a"], errors=["x"]), Report(checked=2, standins=3, unchecked=["b"], errors=["y"])
    total.add(part)
    assert (total.checked, total.standins, total.unchecked, total.errors) == (3, 4, ["a", "b"], ["x", "y"])


# -- CloudFormation resources as the create requests CloudFormation sends --------------------------------------------------


def _check(kind: str, properties: dict, **parameters):
    from fidelity.api_model import check_sagemaker_resource
    from fidelity.cfn import Deployment

    template = {
        "Parameters": {k: {"Type": "String", "Default": v} for k, v in parameters.items()},
        "Resources": {"R": {"Type": kind, "Properties": properties}},
    }
    deployment = Deployment({"s": template})
    return check_sagemaker_resource(deployment, "s", "R", template["Resources"]["R"])


def test_a_resource_is_its_create_request_with_the_names_cloudformation_generates():
    report = _check("AWS::SageMaker::Model", {"ExecutionRoleArn": {"Ref": "Role"}, "EnableNetworkIsolation": True}, Role=ROLE)
    assert (report.errors, report.checked, report.standins, report.unchecked) == ([], 3, 1, [])  # the generated ModelName too
    bad = _check("AWS::SageMaker::Model", {"ModelName": "bad_name", "ExecutionRoleArn": ROLE})
    assert bad.errors == ["s/R (AWS::SageMaker::Model) CreateModel.ModelName: 'bad_name' does not match the pattern " + repr(MODEL_NAME)]
    unknown = _check("AWS::SageMaker::Model", {"ModelName": "m", "ExecutionRoleArn": ROLE, "Vpc": {}})
    assert unknown.errors[0].startswith("s/R (AWS::SageMaker::Model) CreateModel: unknown member Vpc (allowed: ")


def test_cloudformation_only_properties_are_checked_as_the_calls_that_carry_them():
    policy = {"Version": "2012-10-17", "Statement": []}
    group = _check("AWS::SageMaker::ModelPackageGroup", {"ModelPackageGroupName": "g", "ModelPackageGroupPolicy": policy})
    assert (group.errors, group.unchecked) == ([], [])  # the policy sent as text to PutModelPackageGroupPolicy
    too_long = _check("AWS::SageMaker::ModelPackageGroup", {"ModelPackageGroupName": "g", "ModelPackageGroupPolicy": {"p": "x" * 20480}})
    assert too_long.errors == [
        "s/R (AWS::SageMaker::ModelPackageGroup) PutModelPackageGroupPolicy.ResourcePolicy: 20489 characters is above the maximum 20480"
    ]
    endpoint = _check("AWS::SageMaker::Endpoint", {"EndpointConfigName": "c", "RetainAllVariantProperties": "yes"})
    assert endpoint.errors == ["s/R (AWS::SageMaker::Endpoint) UpdateEndpoint.RetainAllVariantProperties: expected a boolean, got 'yes'"]
    schedule = _check(
        "AWS::SageMaker::MonitoringSchedule",
        {
            "MonitoringScheduleName": "m",
            "MonitoringScheduleConfig": {"MonitoringJobDefinitionName": "j", "MonitoringType": "DataQuality"},
            "FailureReason": "x",
        },
    )
    assert schedule.errors == [] and schedule.unchecked == [
        "s/R (AWS::SageMaker::MonitoringSchedule).FailureReason (CloudFormation-only: read-only status CloudFormation reports)"
    ]


def test_values_that_were_tokens_are_counted_as_stand_ins():
    report = _check(
        "AWS::SageMaker::Model",
        {
            "ExecutionRoleArn": {"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:role/r"},
            "PrimaryContainer": {"Image": {"Ref": "Image"}, "Environment": {"A": "1", "B": {"Fn::Join": ["", ["x"]]}}},
        },
        Image="123456789012.dkr.ecr.us-east-1.amazonaws.com/r:1",
    )
    assert report.errors == [] and report.standins == 3


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("arn:aws:states:::sagemaker:createTrainingJob.sync", ("sagemaker", "CreateTrainingJob")),
        ("arn:aws:states:::sns:publish", ("sns", "Publish")),
        ("arn:aws:states:::aws-sdk:s3:putObject", ("s3", "PutObject")),
        ("arn:aws:states:::states:startExecution.sync:2", ("stepfunctions", "StartExecution")),
        ("arn:aws:states:::lambda:invoke.waitForTaskToken", ("lambda", "Invoke")),
        ("arn:aws:states:::sagemaker:noSuchCall", None),
        ("arn:aws:lambda:us-east-1:123456789012:function:f", None),  # a function's own ARN: no service integration
    ],
)
def test_a_task_resource_names_its_service_and_operation(resource, expected):
    from fidelity.api_model import task_operation

    assert task_operation(resource) == expected
