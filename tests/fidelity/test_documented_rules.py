"""Documented AWS rules that span fields or resources (``fidelity.limits.RULES``), over every deployment,
including a stage of the longest names the config allows; each rule shown to find what it is about."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from fidelity.cfn import Deployment
from fidelity.limits import RULES, Rule
from tests.fidelity.conftest import own_stacks


def test_every_deployment_keeps_every_documented_rule(deployments, dev, prod):
    findings, checks = [], 0
    for checked in deployments:
        stacks = own_stacks(checked, dev, prod)
        for rule in RULES:
            checks += 1
            findings += [f"[{rule.id}] {checked.label}: {f} ({rule.doc})" for f in rule.check(checked.deployment, stacks)]
    print(f"\n{len(RULES)} documented rules x {len(deployments)} deployments = {checks} checks; findings: {len(findings)}")
    assert findings == []


def test_every_rule_names_its_aws_page():
    assert len({r.id for r in RULES}) == len(RULES)
    assert all("https://docs.aws.amazon.com/" in r.doc for r in RULES)


def _rule(rule_id: str) -> Rule:
    return next(r for r in RULES if r.id == rule_id)


def _mutated(deployments, label: str, stack: str, change) -> Deployment:
    deployment = next(c.deployment for c in deployments if c.label == label)
    templates = dict(deployment.templates)
    templates[stack] = copy.deepcopy(templates[stack])
    change(templates[stack]["Resources"])
    return Deployment(templates, parameters=deployment.parameters)


def _of_type(resources: dict, kind: str) -> dict:
    return next(r for r in resources.values() if r["Type"] == kind)


def test_a_serverless_model_in_the_vpc_is_found(deployments):
    # the shipped dev config did exactly this before the fix: its fraud endpoint is serverless
    def add_vpc(resources):
        _of_type(resources, "AWS::SageMaker::Model")["Properties"]["VpcConfig"] = {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}

    found = _rule("serverless-exclusions").check(
        _mutated(deployments, "dev stage", "mlops-dev-endpoint-fraud", add_vpc), ["mlops-dev-endpoint-fraud"]
    )
    assert any("Serverless Inference supports no VPC configuration" in f for f in found)


def test_a_monitor_on_an_endpoint_without_output_capture_is_found(deployments):
    def input_only(resources):
        config = _of_type(resources, "AWS::SageMaker::EndpointConfig")["Properties"]
        config["DataCaptureConfig"]["CaptureOptions"] = [{"CaptureMode": "Input"}]

    found = _rule("monitor-needs-capture").check(
        _mutated(deployments, "prod stage", "mlops-prod-endpoint-churn", input_only), ["mlops-prod-endpoint-churn"]
    )
    assert found and "must capture Input and Output" in found[0]


def test_a_closed_feature_is_found_unless_the_account_already_uses_it(deployments):
    """Model Monitor, Clarify and Debugger are closed to new customers: their resources and images fail a stage that does
    not declare them, and pass one that does."""

    def schedule(resources):
        resources["LegacySchedule"] = {
            "Type": "AWS::SageMaker::MonitoringSchedule",
            "Properties": {"MonitoringScheduleName": "x", "MonitoringScheduleConfig": {"MonitoringJobDefinitionName": "d"}},
        }

    def clarify_image(resources):
        model = _of_type(resources, "AWS::SageMaker::Model")["Properties"]
        model["PrimaryContainer"] = {"Image": "205585389593.dkr.ecr.us-east-1.amazonaws.com/sagemaker-clarify-processing:1.0"}

    rule = _rule("closed-features")
    stack = ["mlops-prod-endpoint-churn"]  # a monitored real-time endpoint (dev scores churn in batch)
    assert rule.check(next(c.deployment for c in deployments if c.label == "prod stage"), stack) == []
    legacy = _mutated(deployments, "prod stage", stack[0], schedule)
    (found,) = rule.check(legacy, stack)
    assert "MonitoringSchedule is model_monitor, closed to new customers" in found
    assert rule.check(dataclasses.replace(legacy, already_uses=frozenset({"model_monitor"})), stack) == []
    (found,) = rule.check(_mutated(deployments, "prod stage", stack[0], clarify_image), stack)
    assert "sagemaker-clarify-processing (clarify)" in found


def test_every_shipped_deployment_is_free_of_closed_features(deployments):
    rule = _rule("closed-features")
    for checked in deployments:
        assert rule.check(checked.deployment, list(checked.deployment.templates)) == [], checked.label


def test_a_canary_on_inf1_is_found(deployments):
    def inf1(resources):
        _of_type(resources, "AWS::SageMaker::EndpointConfig")["Properties"]["ProductionVariants"][0]["InstanceType"] = "ml.inf1.xlarge"

    found = _rule("guardrail-exclusions").check(_mutated(deployments, "prod stage", "mlops-prod-endpoint-churn", inf1), ["mlops-prod-endpoint-churn"])
    assert found and "Inf1" in found[0]


def test_a_name_over_its_limit_is_found(deployments):
    def long_name(resources):
        _of_type(resources, "AWS::SageMaker::Endpoint")["Properties"]["EndpointName"] = "e" * 64

    found = _rule("name-limits").check(_mutated(deployments, "prod stage", "mlops-prod-endpoint-churn", long_name), ["mlops-prod-endpoint-churn"])
    assert found and "above the maximum 63" in found[0]


def test_an_oversized_role_policy_is_found(deployments):
    def big_policy(resources):
        policy = _of_type(resources, "AWS::IAM::Policy")["Properties"]["PolicyDocument"]
        policy["Statement"].append({"Effect": "Allow", "Action": "s3:GetObject", "Resource": [f"arn:aws:s3:::b/{i:05d}" for i in range(500)]})

    found = _rule("iam-sizes").check(_mutated(deployments, "dev stage", "mlops-dev-pipeline-churn", big_policy), ["mlops-dev-pipeline-churn"])
    assert found and "limit 10240" in found[0]


@pytest.mark.parametrize(("rule_id", "section", "count"), [("stack-limits", "Outputs", 201), ("stack-limits", "Resources", 501)])
def test_stack_limits_are_found(deployments, rule_id, section, count):
    deployment = next(c.deployment for c in deployments if c.label == "dev stage")
    template = {"Resources": {}, section: {f"X{i}": {"Type": "AWS::SNS::Topic", "Value": "x"} for i in range(count)}}
    found = _rule(rule_id).check(Deployment({**deployment.templates, "big": template}), ["big"])
    assert found and f"{count} {section.lower()}" in found[0]


def test_an_oversized_lambda_environment_is_found(deployments):
    def big_environment(resources):
        _of_type(resources, "AWS::Lambda::Function")["Properties"]["Environment"]["Variables"]["X"] = "x" * 4096

    found = _rule("lambda-environment").check(
        _mutated(deployments, "dev stage", "mlops-dev-pipeline-churn", big_environment), ["mlops-dev-pipeline-churn"]
    )
    assert found and "limit 4096" in found[0]


def test_the_longest_names_the_config_allows_are_part_of_the_checks(deployments, longest):
    from tests.fidelity.conftest import LONGEST_FEATURE, LONGEST_PREFIX, LONGEST_STAGE

    checked = next(c for c in deployments if c.label == "longest names")
    templates = checked.deployment.templates
    assert any(name.startswith(f"{LONGEST_PREFIX}-{LONGEST_STAGE}-sandbox-u1") for name in templates)
    alarms = [
        r["Properties"].get("AlarmName", "") for t in templates.values() for r in t["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    assert any(LONGEST_FEATURE[:-1] in str(a) for a in alarms)


def test_the_sandboxes_per_user_limit_follows_from_the_measured_policy_sizes(deployments):
    """config.loader.MAX_SANDBOXES_PER_USER: the user's own inline policy plus one per sandbox fit IAM's 10,240 characters."""
    from config.loader import MAX_SANDBOXES_PER_USER
    from fidelity.limits import ROLE_INLINE_CHARS, _size

    deployment = next(c.deployment for c in deployments if c.label == "longest names")
    sizes: dict[str, list[int]] = {"user": [], "sandbox": []}
    for stack, template in deployment.templates.items():
        kind = "sandbox" if "-sandbox-" in stack else "user" if "-user-" in stack else None
        for resource in template["Resources"].values():
            if kind and resource["Type"] == "AWS::IAM::Policy":
                sizes[kind].append(_size(deployment.resolve(stack, resource["Properties"]["PolicyDocument"])))
    own, each = max(sizes["user"]), max(sizes["sandbox"])
    print(f"\nuser role: own inline policy {own} characters, {each} per sandbox; limit {ROLE_INLINE_CHARS}")
    assert MAX_SANDBOXES_PER_USER == (ROLE_INLINE_CHARS - own) // each
    # each sandbox also attaches one managed policy (its mlops work): within the 10 a role may have attached by default
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
    attached = {stack: [] for stack in deployment.templates if "-user-" in stack}
    for stack, template in deployment.templates.items():
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::IAM::Role" and stack in attached:
                attached[stack] += resource["Properties"].get("ManagedPolicyArns", [])
    sandbox_policies = [
        r
        for stack, t in deployment.templates.items()
        if "-sandbox-" in stack
        for r in t["Resources"].values()
        if r["Type"] == "AWS::IAM::ManagedPolicy"
    ]
    assert sandbox_policies and all(len(r["Properties"]["Roles"]) == 1 for r in sandbox_policies)
    assert max(len(a) for a in attached.values()) + MAX_SANDBOXES_PER_USER <= 10
    managed = max(
        _size(deployment.resolve(stack, r["Properties"]["PolicyDocument"]))
        for stack, t in deployment.templates.items()
        if "-sandbox-" in stack
        for r in t["Resources"].values()
        if r["Type"] == "AWS::IAM::ManagedPolicy"
    )
    print(f"sandbox work policy (managed): {managed} characters of 6,144")
    assert managed <= 6144


def test_an_api_gateway_account_per_api_is_found(deployments):
    deployment = next(c.deployment for c in deployments if c.label == "dev stage")
    account = {
        "Type": "AWS::ApiGateway::Account",
        "Properties": {"CloudWatchRoleArn": "arn:aws:iam::123456789012:role/r"},
        "Metadata": {"aws:cdk:path": "Dev/Endpoint-x/Api/Account"},
    }
    templates = {**deployment.templates, "mlops-dev-endpoint-x": {"Resources": {"Account": account}}}
    stacks = [*deployment.templates, "mlops-dev-endpoint-x"]
    found = _rule("api-gateway-account-once").check(Deployment(templates), stacks)
    assert found and "one per stage" in found[0]


# -- a negative case for each rule that had none (issue 34: a rule made never to fire passed every test) -------------


def test_a_rule_with_six_targets_is_found(deployments):
    def six_targets(resources):
        rule = _of_type(resources, "AWS::Events::Rule")["Properties"]
        rule["Targets"] = [{**rule["Targets"][0], "Id": f"T{i}"} for i in range(6)]

    found = _rule("rule-targets").check(_mutated(deployments, "dev stage", "mlops-dev-pipeline-churn", six_targets), ["mlops-dev-pipeline-churn"])
    assert found and "6 targets (limit 5)" in found[0]


def test_a_state_machine_over_1_mb_is_found(deployments):
    def big_definition(resources):
        machine = _of_type(resources, "AWS::StepFunctions::StateMachine")["Properties"]
        machine["DefinitionString"] = {"Fn::Join": ["", [machine["DefinitionString"]["Fn::Join"][1][0], " " * (1024 * 1024)]]}

    found = _rule("state-machine-size").check(
        _mutated(deployments, "dev stage", "mlops-dev-pipeline-churn", big_definition), ["mlops-dev-pipeline-churn"]
    )
    assert found and "limit 1048576" in found[0]


def test_an_oversized_trust_policy_is_found(deployments):
    def big_trust(resources):
        trust = _of_type(resources, "AWS::IAM::Role")["Properties"]["AssumeRolePolicyDocument"]
        services = [f"s{i:04d}.amazonaws.com" for i in range(120)]
        trust["Statement"].append({"Effect": "Allow", "Principal": {"Service": services}, "Action": "sts:AssumeRole"})

    found = _rule("iam-sizes").check(_mutated(deployments, "dev stage", "mlops-dev-pipeline-churn", big_trust), ["mlops-dev-pipeline-churn"])
    assert found and "trust policy of" in found[0] and "(limit 2048)" in found[0]


def test_more_than_ten_managed_policies_on_a_role_is_found(deployments):
    def eleven(resources):
        role = _of_type(resources, "AWS::IAM::Role")["Properties"]
        role["ManagedPolicyArns"] = [f"arn:aws:iam::aws:policy/P{i}" for i in range(11)]

    found = _rule("iam-sizes").check(_mutated(deployments, "dev stage", "mlops-dev-pipeline-churn", eleven), ["mlops-dev-pipeline-churn"])
    assert found and "11 managed policies (limit 10)" in found[0]


def test_a_canary_over_half_the_fleet_is_found(deployments):
    def big_canary(resources):
        policy = _of_type(resources, "AWS::SageMaker::Endpoint")["Properties"]["DeploymentConfig"]["BlueGreenUpdatePolicy"]
        policy["TrafficRoutingConfiguration"]["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": 60}

    stack = "mlops-prod-endpoint-churn"
    assert _rule("guardrail-exclusions").check(_mutated(deployments, "prod stage", stack, lambda r: None), [stack]) == []
    found = _rule("guardrail-exclusions").check(_mutated(deployments, "prod stage", stack, big_canary), [stack])
    assert found and "at most 50% of the fleet, not 60%" in found[0]
