"""Every SageMaker resource and every Step Functions task request, validated against AWS's own API models.

Resources: each SageMaker resource of every synthesized template (both stages, the delivery app,
every Service Catalog product launched with the longest allowed names) is resolved as CloudFormation
would (``fidelity.cfn``) and validated as the create request CloudFormation sends
(``fidelity.api_model.SAGEMAKER_RESOURCES``): required members, types, ranges, enums (the instance
types of each API differ) and patterns.

Tasks: each training pipeline of each stage that trains is resolved the same way and run in moto's
Step Functions interpreter on the paths a run can take (model registered, gate failed, training
failed); every request its Task states make is recorded and validated against the model of the
service it goes to. Every Task state must have been exercised.

Both print what they checked, what were stand-ins for deploy-time values, and what they could not check.
"""

from __future__ import annotations

from collections import Counter

import pytest

from fidelity.api_model import Report, check_sagemaker_resource, input_shape, task_operation, validate
from fidelity.cfn import Deployment
from tests.fidelity.conftest import own_stacks


def _sagemaker_reports(deployments, dev, prod) -> tuple[Report, Counter]:
    total, kinds = Report(), Counter()
    for checked in deployments:
        deployment = checked.deployment
        for stack in own_stacks(checked, dev, prod):
            for logical_id, resource in deployment.templates[stack]["Resources"].items():
                if resource["Type"].startswith("AWS::SageMaker::"):
                    kinds[resource["Type"]] += 1
                    total.add(check_sagemaker_resource(deployment, stack, logical_id, resource))
    return total, kinds


def test_every_sagemaker_resource_is_a_valid_create_request(deployments, dev, prod):
    report, kinds = _sagemaker_reports(deployments, dev, prod)
    print(f"\nSageMaker resources: {sum(kinds.values())} ({dict(sorted(kinds.items()))})")
    print(
        f"API fields checked: {report.checked} (of which {report.standins} resolved from deploy-time tokens to stand-ins); "
        f"unchecked: {len(report.unchecked)}"
    )
    for path in sorted(set(report.unchecked)):
        print(f"  unchecked: {path}")
    assert report.errors == []
    assert set(kinds) >= {
        "AWS::SageMaker::Model",
        "AWS::SageMaker::EndpointConfig",
        "AWS::SageMaker::Endpoint",
        "AWS::SageMaker::Domain",
        "AWS::SageMaker::UserProfile",
        "AWS::SageMaker::StudioLifecycleConfig",
        "AWS::SageMaker::ModelPackageGroup",
    }
    assert report.checked > 500


@pytest.mark.parametrize(
    ("operation", "request_", "finding"),
    [
        (
            "CreateEndpointConfig",
            {"EndpointConfigName": "c", "ProductionVariants": [{"VariantName": "v", "InstanceType": "ml.t3.large"}]},
            "is not one of",
        ),  # t3 does not host endpoints
        ("CreateModel", {"ModelName": "bad_name", "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r"}, "does not match the pattern"),
        ("CreateModel", {"ExecutionRoleArn": "arn:aws:iam::123456789012:role/r"}, "missing required member ModelName"),
        ("CreateModel", {"ModelName": "m", "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r", "Vpc": {}}, "unknown member Vpc"),
        (
            "CreateEndpointConfig",
            {
                "EndpointConfigName": "c",
                "ProductionVariants": [{"VariantName": "v", "ServerlessConfig": {"MemorySizeInMB": 512, "MaxConcurrency": 1}}],
            },
            "below the minimum 1024",
        ),
        (
            "CreateDomain",
            {
                "DomainName": "d",
                "AuthMode": "IAM",
                "DefaultUserSettings": {},
                "SubnetIds": ["subnet-1"],
                "VpcId": "vpc-1",
                "AppNetworkAccessType": "VpcOnly",
                "DomainSettings": {"SecurityGroupIds": "sg-1"},
            },
            "expected a list",
        ),
    ],
)
def test_the_validator_finds_what_aws_rejects(operation, request_, finding):
    report = Report()
    validate(input_shape("sagemaker", operation), request_, operation, report)
    assert any(finding in e for e in report.errors), report.errors


def test_a_sagemaker_type_without_a_mapping_fails_the_check():
    deployment = Deployment({"s": {"Resources": {"X": {"Type": "AWS::SageMaker::Space", "Properties": {}}}}})
    report = check_sagemaker_resource(deployment, "s", "X", deployment.templates["s"]["Resources"]["X"])
    assert report.errors and "add AWS::SageMaker::Space" in report.errors[0]


def test_deploy_time_tokens_resolve_to_stand_ins_of_aws_shapes(deployments):
    prod = next(c.deployment for c in deployments if c.label == "prod stage")  # a real-time endpoint in the VPC
    endpoint = prod.templates["mlops-prod-endpoint-churn"]
    model = next(r for r in endpoint["Resources"].values() if r["Type"] == "AWS::SageMaker::Model")
    resolved = prod.resolve("mlops-prod-endpoint-churn", model["Properties"])
    assert resolved["VpcConfig"]["SecurityGroupIds"][0].startswith("sg-") and len(resolved["VpcConfig"]["Subnets"]) == 3
    assert all(s.startswith("subnet-") for s in resolved["VpcConfig"]["Subnets"])  # read from the environment stack's SSM parameter
    assert resolved["ExecutionRoleArn"] == "arn:aws:iam::123456789012:role/mlops-prod-churn-model"  # named: Names.model_role


# -- Task states -------------------------------------------------------------------------------------


def test_every_task_request_of_every_pipeline_is_valid(pipeline_runs, dev, prod, longest, trial):
    stages = (dev, prod, longest, trial)
    assert len(pipeline_runs) == sum(len(s.stage.pipelines) for s in stages) == 7  # trial's jobs run in no VPC
    total, requests, tasks = Report(), Counter(), 0
    for run in pipeline_runs:
        task_states = {name: s for name, s in run.definition["States"].items() if s["Type"] == "Task"}
        tasks += len(task_states)
        wanted = {task_operation(s["Resource"]) for s in task_states.values()}
        made = {(service, op) for service, op, _ in run.calls}
        assert wanted <= made, f"{run.stack}: Task states never exercised: {wanted - made}"
        for service, operation, params in run.calls:
            if (service, operation) in wanted:
                requests[f"{service}:{operation}"] += 1
                validate(input_shape(service, operation), params, f"{run.stack} {service}:{operation}", total)
    print(
        f"\nTask states: {tasks} in {len(pipeline_runs)} state machines; requests validated: {sum(requests.values())} "
        f"({dict(sorted(requests.items()))}); fields checked: {total.checked}; unchecked: {len(total.unchecked)}"
    )
    for path in sorted(set(total.unchecked)):
        print(f"  unchecked: {path}")
    assert total.errors == []
