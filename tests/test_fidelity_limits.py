"""Each documented rule of ``fidelity/limits.py`` on small templates written here: at its limit it passes, one past it
it fails with its exact finding, and what it must not judge (another stack, a feature the account already uses) it
leaves alone. The stage tests (``tests/fidelity/test_documented_rules.py``) run the rules over every synthesized template;
these run in milliseconds, so that ``make mutate`` can judge the rules themselves."""

from __future__ import annotations

import json

import pytest

from fidelity.cfn import Deployment
from fidelity.limits import RULES, _size

BY_ID = {rule.id: rule for rule in RULES}


def _check(rule_id: str, templates: dict[str, dict], stacks: list[str] | None = None, **deployment) -> list[str]:
    return BY_ID[rule_id].check(Deployment(templates, **deployment), stacks if stacks is not None else list(templates))


def _stack(**resources) -> dict:
    return {"Resources": resources}


def _padded(size: int, key: str = "p") -> dict:
    """A policy-like document of exactly ``size`` characters as IAM counts them (no whitespace)."""
    document = {key: ""}
    document[key] = "x" * (size - _size(document))
    assert _size(document) == size
    return document


# -- serverless endpoints ---------------------------------------------------------------------------------


def _serverless(variant: dict | None = None, model: dict | None = None, **config) -> dict:
    return _stack(
        Model={"Type": "AWS::SageMaker::Model", "Properties": model or {}},
        Config={
            "Type": "AWS::SageMaker::EndpointConfig",
            "Properties": {
                "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": {"Ref": "Model"}, "ServerlessConfig": {}, **(variant or {})}],
                **config,
            },
        },
        Endpoint={"Type": "AWS::SageMaker::Endpoint", "Properties": {"EndpointName": "ep", "EndpointConfigName": {"Ref": "Config"}}},
    )


def test_a_serverless_endpoint_without_excluded_features_passes():
    assert _check("serverless-exclusions", {"s": _serverless()}) == []


def test_each_feature_serverless_inference_excludes_is_found():
    stack = _serverless({"InstanceType": "ml.m5.large"}, {"VpcConfig": {}, "EnableNetworkIsolation": True}, DataCaptureConfig={})
    stack["Resources"]["Config"]["Properties"]["ProductionVariants"].append({"VariantName": "B", "InstanceType": "ml.m5.large"})
    stack["Resources"]["Monitor"] = {
        "Type": "AWS::SageMaker::DataQualityJobDefinition",
        "Properties": {"DataQualityJobInput": {"EndpointInput": {"EndpointName": "ep"}}},
    }
    stack["Resources"]["Scaling"] = {
        "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
        "Properties": {"ResourceId": "endpoint/ep/variant/AllTraffic"},
    }
    assert _check("serverless-exclusions", {"s": stack}) == [
        "s/Config: a serverless endpoint config has one production variant, not 2",
        "s/Config: serverless endpoints support no data capture (DataCaptureConfig)",
        "s/Config: a serverless variant has no InstanceType or AcceleratorType",
        "s/Model: the model of serverless variant AllTraffic has a VpcConfig; Serverless Inference supports no VPC configuration",
        "s/Model: Serverless Inference supports no network isolation",
        "s/Monitor: Model Monitor cannot watch serverless endpoint ep",
        "s/Scaling: a serverless endpoint scales by itself, not by DesiredInstanceCount",
    ]


def test_serverless_rules_leave_instance_endpoints_and_other_endpoints_alone():
    instance = _serverless(DataCaptureConfig={})
    del instance["Resources"]["Config"]["Properties"]["ProductionVariants"][0]["ServerlessConfig"]
    assert _check("serverless-exclusions", {"s": instance}) == []
    other = _serverless({"AcceleratorType": "ml.eia1.medium"}, {"EnableNetworkIsolation": False})
    other["Resources"]["Monitor"] = {
        "Type": "AWS::SageMaker::DataQualityJobDefinition",
        "Properties": {"DataQualityJobInput": {"EndpointInput": {"EndpointName": "another"}}},
    }
    other["Resources"]["Scaling"] = {
        "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
        "Properties": {"ResourceId": "endpoint/another/variant/x"},
    }
    assert _check("serverless-exclusions", {"s": other}) == ["s/Config: a serverless variant has no InstanceType or AcceleratorType"]


# -- deployment guardrails ----------------------------------------------------------------------------------


def _blue_green(routing: dict, variant: dict) -> dict:
    return _stack(
        Config={"Type": "AWS::SageMaker::EndpointConfig", "Properties": {"ProductionVariants": [{"VariantName": "A", **variant}]}},
        Endpoint={
            "Type": "AWS::SageMaker::Endpoint",
            "Properties": {
                "EndpointConfigName": {"Ref": "Config"},
                "DeploymentConfig": {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing}},
            },
        },
    )


@pytest.mark.parametrize(
    ("routing", "variant", "finding"),
    [
        (
            {"Type": "CANARY"},
            {"InstanceType": "ml.inf1.xlarge"},
            "CANARY traffic shifting is not available on ml.inf1.xlarge (Inf1 endpoints fall back to all-at-once)",
        ),
        (
            {"Type": "LINEAR"},
            {"InstanceType": "ml.inf1.2xlarge"},
            "LINEAR traffic shifting is not available on ml.inf1.2xlarge (Inf1 endpoints fall back to all-at-once)",
        ),
        ({"Type": "LINEAR"}, {"ServerlessConfig": {}}, "a serverless endpoint takes no LINEAR deployment guardrails"),
        (
            {"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 51}},
            {"InstanceType": "ml.m5.large"},
            "a canary or linear step is at most 50% of the fleet, not 51%",
        ),
        (
            {"Type": "LINEAR", "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 60}},
            {"InstanceType": "ml.m5.large"},
            "a canary or linear step is at most 50% of the fleet, not 60%",
        ),
    ],
)
def test_each_guardrail_exclusion_is_found(routing, variant, finding):
    assert _check("guardrail-exclusions", {"s": _blue_green(routing, variant)}) == [f"s/Endpoint: {finding}"]


@pytest.mark.parametrize(
    ("routing", "variant"),
    [
        ({"Type": "ALL_AT_ONCE"}, {"InstanceType": "ml.inf1.xlarge"}),  # no shifting: nothing falls back
        ({"Type": "ALL_AT_ONCE"}, {"ServerlessConfig": {}}),
        ({"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50}}, {"InstanceType": "ml.m5.large"}),
        ({"Type": "CANARY", "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 60}}, {"InstanceType": "ml.m5.large"}),
    ],
)
def test_guardrails_within_the_rules_pass(routing, variant):
    assert _check("guardrail-exclusions", {"s": _blue_green(routing, variant)}) == []


# -- features closed to new customers ----------------------------------------------------------------------


def test_a_closed_feature_is_found_by_its_type_or_its_mark_unless_the_account_already_uses_it():
    stack = _stack(
        Schedule={"Type": "AWS::SageMaker::MonitoringSchedule", "Properties": {}},
        Bias={"Type": "AWS::SageMaker::ModelBiasJobDefinition", "Properties": {}},
        Job={"Type": "AWS::SageMaker::Model", "Properties": {"Image": "x.dkr.ecr.us-east-1.amazonaws.com/sagemaker-clarify-processing:1"}},
        Training={"Type": "Custom::Training", "Properties": {"DebugHookConfig": {}}},
        Plain={"Type": "AWS::SageMaker::Model", "Properties": {"Image": "mine:1"}},
    )
    assert _check("closed-features", {"s": stack}) == [
        "s/Schedule: AWS::SageMaker::MonitoringSchedule is model_monitor, closed to new customers (account_already_uses)",
        "s/Bias: AWS::SageMaker::ModelBiasJobDefinition is clarify, closed to new customers (account_already_uses)",
        "s/Job: uses sagemaker-clarify-processing (clarify), closed to new customers (account_already_uses)",
        "s/Training: uses DebugHookConfig (debugger), closed to new customers (account_already_uses)",
    ]
    assert _check("closed-features", {"s": stack}, already_uses=frozenset({"model_monitor", "clarify", "debugger"})) == []
    assert _check("closed-features", {"s": stack}, already_uses=frozenset({"clarify"})) == [
        "s/Schedule: AWS::SageMaker::MonitoringSchedule is model_monitor, closed to new customers (account_already_uses)",
        "s/Training: uses DebugHookConfig (debugger), closed to new customers (account_already_uses)",
    ]


def test_codecommit_is_closed_by_its_repository_its_clone_url_its_grants_and_a_pipeline_source():
    stack = _stack(
        Repository={"Type": "AWS::CodeCommit::Repository", "Properties": {"RepositoryName": "r"}},
        Profile={
            "Type": "AWS::SageMaker::UserProfile",
            "Properties": {"UserSettings": {"CodeRepositories": [{"RepositoryUrl": "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/r"}]}},
        },
        Grant={"Type": "AWS::IAM::Policy", "Properties": {"PolicyDocument": {"Statement": [{"Action": ["codecommit:GitPull"]}]}}},
        Source={"Type": "AWS::CodePipeline::Pipeline", "Properties": {"Stages": [{"Actions": [{"ActionTypeId": {"Provider": "CodeCommit"}}]}]}},
        # an endpoint of the service is not a use of it, nor is a repository of another provider
        Endpoint={"Type": "AWS::EC2::VPCEndpoint", "Properties": {"ServiceName": "com.amazonaws.us-east-1.git-codecommit"}},
        Other={
            "Type": "AWS::CodePipeline::Pipeline",
            "Properties": {"Stages": [{"Actions": [{"ActionTypeId": {"Provider": "CodeStarSourceConnection"}}]}]},
        },
    )
    assert _check("closed-features", {"s": stack}) == [
        "s/Repository: AWS::CodeCommit::Repository is codecommit, closed to new customers (account_already_uses)",
        "s/Profile: uses git-codecommit. (codecommit), closed to new customers (account_already_uses)",
        "s/Grant: uses codecommit:Git (codecommit), closed to new customers (account_already_uses)",
        's/Source: uses "Provider": "CodeCommit" (codecommit), closed to new customers (account_already_uses)',
    ]
    assert _check("closed-features", {"s": stack}, already_uses=frozenset({"codecommit"})) == []


# -- monitored endpoints capture input and output ------------------------------------------------------------


def _monitored(capture: dict | None, monitor: dict) -> dict:
    config = {"ProductionVariants": [{"VariantName": "A"}]} | ({"DataCaptureConfig": capture} if capture is not None else {})
    return _stack(
        Config={"Type": "AWS::SageMaker::EndpointConfig", "Properties": config},
        Endpoint={"Type": "AWS::SageMaker::Endpoint", "Properties": {"EndpointName": "ep", "EndpointConfigName": {"Ref": "Config"}}},
        Monitor=monitor,
    )


BOTH = {"EnableCapture": True, "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}
DATA_QUALITY = {"Type": "AWS::SageMaker::DataQualityJobDefinition", "Properties": {"DataQualityJobInput": {"EndpointInput": {"EndpointName": "ep"}}}}
INLINE = {
    "Type": "AWS::SageMaker::MonitoringSchedule",
    "Properties": {"MonitoringScheduleConfig": {"MonitoringJobDefinition": {"MonitoringInputs": [{"EndpointInput": {"EndpointName": "ep"}}]}}},
}
OWN_CHECK = {"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": {"CAPTURE_PREFIX": "ep/AllTraffic"}}}}


@pytest.mark.parametrize("monitor", [DATA_QUALITY, INLINE, OWN_CHECK], ids=["data-quality", "inline-schedule", "own-check"])
def test_every_kind_of_monitor_needs_its_endpoint_to_capture_input_and_output(monitor):
    assert _check("monitor-needs-capture", {"s": _monitored(BOTH, monitor)}) == []
    finding = "s/Monitor: endpoint ep must capture Input and Output (captures {})"
    assert _check("monitor-needs-capture", {"s": _monitored(None, monitor)}) == [finding.format("nothing")]
    inputs_only = {"EnableCapture": True, "CaptureOptions": [{"CaptureMode": "Input"}]}
    assert _check("monitor-needs-capture", {"s": _monitored(inputs_only, monitor)}) == [finding.format("['Input']")]
    assert _check("monitor-needs-capture", {"s": _monitored({**BOTH, "EnableCapture": False}, monitor)}) == [finding.format("['Input', 'Output']")]


def test_a_monitor_of_an_endpoint_no_template_creates_is_found_and_other_functions_are_not_monitors():
    elsewhere = {
        "Type": "AWS::SageMaker::DataQualityJobDefinition",
        "Properties": {"DataQualityJobInput": {"EndpointInput": {"EndpointName": "gone"}}},
    }
    assert _check("monitor-needs-capture", {"s": _monitored(BOTH, elsewhere)}) == [
        "s/Monitor: monitors endpoint gone, which no template of this deployment creates"
    ]
    batch = {"Type": "AWS::SageMaker::DataQualityJobDefinition", "Properties": {"DataQualityJobInput": {"BatchTransformInput": {}}}}
    plain = {"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": {"CAPTURE_PREFIX": ""}}}}
    schedule = {"Type": "AWS::SageMaker::MonitoringSchedule", "Properties": {"MonitoringScheduleConfig": {"MonitoringJobDefinitionName": "x"}}}
    for monitor in (batch, plain, schedule):
        assert _check("monitor-needs-capture", {"s": _monitored(None, monitor)}) == []


def test_an_endpoint_in_another_stack_is_found_but_only_the_checked_stacks_monitors_are_judged():
    endpoint = _monitored(BOTH, OWN_CHECK)
    del endpoint["Resources"]["Monitor"]
    assert _check("monitor-needs-capture", {"endpoint": endpoint, "monitor": _stack(Monitor=DATA_QUALITY)}, ["monitor"]) == []
    uncaptured = _monitored(None, DATA_QUALITY)
    assert _check("monitor-needs-capture", {"s": uncaptured, "other": _stack()}, ["other"]) == []


# -- names ---------------------------------------------------------------------------------------------


def test_names_within_their_services_rules_pass_and_one_past_is_found():
    ok = _stack(
        Endpoint={"Type": "AWS::SageMaker::Endpoint", "Properties": {"EndpointName": "e" * 63}},
        Bucket={"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "b" * 63}},
        Topic={"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "t" * 256}},
        Unresolved={"Type": "AWS::SageMaker::Endpoint", "Properties": {"EndpointName": {"Fn::ImportValue": "x" * 100}}},
        UnresolvedBucket={"Type": "AWS::S3::Bucket", "Properties": {"BucketName": {"Fn::ImportValue": "X"}}},
    )
    stack_name = "a" + "-" * 127
    assert _check("name-limits", {stack_name: ok}) == []
    bad = _stack(
        Endpoint={"Type": "AWS::SageMaker::Endpoint", "Properties": {"EndpointName": "e" * 64}},
        Bucket={"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "Bucket"}},
        Topic={"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "a.fifo"}},
    )
    findings = _check("name-limits", {"1stack": bad})
    assert findings[0] == "1stack: not a valid CloudFormation stack name (letter first, letters, digits, hyphens, at most 128)"
    assert findings[1:] == [
        "1stack/Endpoint.EndpointName: 64 characters is above the maximum 63",
        f"1stack/Endpoint.EndpointName: {'e' * 64!r} does not match the pattern '[a-zA-Z0-9](-*[a-zA-Z0-9]){{0,62}}'",
        "1stack/Bucket.BucketName: 'Bucket' breaks S3's bucket naming rules",
        "1stack/Topic.TopicName: 'a.fifo' breaks SNS's rule (1-256 letters, digits, - and _)",
    ]
    assert len(_check("name-limits", {"a" * 129: _stack()})) == 1


# -- IAM sizes -------------------------------------------------------------------------------------------


def _role(trust: int = 100, managed: int = 0, inline: int = 0) -> dict:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": "r",
            "AssumeRolePolicyDocument": _padded(trust),
            "ManagedPolicyArns": [f"arn:aws:iam::aws:policy/P{i}" for i in range(managed)],
            "Policies": [{"PolicyName": "own", "PolicyDocument": _padded(inline)}] if inline else [],
        },
    }


def test_iam_sizes_at_their_limits_pass():
    stack = _stack(
        Role=_role(trust=2048, managed=10, inline=5000),
        Policy={"Type": "AWS::IAM::Policy", "Properties": {"Roles": [{"Ref": "Role"}], "PolicyDocument": _padded(5240)}},
        Managed={"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": _padded(6144)}},
    )
    assert _check("iam-sizes", {"s": stack}) == []


def test_iam_sizes_one_past_their_limits_are_found():
    stack = _stack(
        Role=_role(trust=2049, managed=11, inline=5000),
        Policy={"Type": "AWS::IAM::Policy", "Properties": {"Roles": [{"Ref": "Role"}], "PolicyDocument": _padded(5241)}},
        Managed={"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": _padded(6145)}},
    )
    assert _check("iam-sizes", {"s": stack}) == [
        "s/Role: trust policy of 2049 characters (limit 2048)",
        "s/Role: 11 managed policies (limit 10)",
        "s/Managed: managed policy of 6145 characters (limit 6144)",
        "role r: inline policies of 10241 characters in all (limit 10240)",
    ]


def test_a_roles_inline_policies_add_up_across_stacks_and_only_the_checked_stacks_roles_are_judged():
    grants = _stack(Policy={"Type": "AWS::IAM::Policy", "Properties": {"Roles": ["r"], "PolicyDocument": _padded(6000)}})
    assert _check("iam-sizes", {"role": _stack(Role=_role(trust=3000, inline=5000)), "grants": grants}, ["grants"]) == [
        "role r: inline policies of 11000 characters in all (limit 10240)"
    ]


# -- CloudFormation, Lambda, Step Functions, EventBridge, API Gateway ----------------------------------------------


@pytest.mark.parametrize(("section", "limit"), [("Resources", 500), ("Outputs", 200), ("Parameters", 200), ("Mappings", 200)])
def test_each_section_of_a_stack_is_counted_against_its_limit(section, limit):
    def template(count: int) -> dict:
        items = {f"I{i}": {"Type": "AWS::SNS::Topic"} if section == "Resources" else {"Value": "x"} for i in range(count)}
        return {"Resources": {}, section: items} if section != "Resources" else {"Resources": items}

    assert _check("stack-limits", {"s": template(limit)}) == []
    assert _check("stack-limits", {"s": template(limit + 1)}) == [f"s: {limit + 1} {section.lower()} (limit {limit})"]


def test_a_template_over_one_megabyte_is_found():
    def template(size: int) -> dict:
        body = {"Resources": {}, "Description": ""}
        body["Description"] = "x" * (size - len(json.dumps(body).encode()))
        return body

    assert _check("stack-limits", {"s": template(1_000_000)}) == []
    assert _check("stack-limits", {"s": template(1_000_001)}) == ["s: template of 1000001 bytes (limit 1000000)"]


def test_a_lambda_environment_over_4_kb_is_found():
    def function(size: int) -> dict:
        return _stack(
            F={"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": {"K": "é" * ((size - 1) // 2) + "v" * ((size - 1) % 2)}}}}
        )

    assert _check("lambda-environment", {"s": function(4096)}) == []
    assert _check("lambda-environment", {"s": function(4097)}) == ["s/F: environment of 4097 bytes (limit 4096)"]
    assert _check("lambda-environment", {"s": _stack(F={"Type": "AWS::Lambda::Function", "Properties": {}})}) == []


def test_a_state_machine_over_1_mb_or_unresolvable_is_found():
    def machine(definition) -> dict:
        return _stack(M={"Type": "AWS::StepFunctions::StateMachine", "Properties": {"DefinitionString": definition}})

    assert _check("state-machine-size", {"s": machine("é" * (512 * 1024))}) == []
    assert _check("state-machine-size", {"s": machine("é" * (512 * 1024) + "x")}) == ["s/M: definition of 1048577 bytes (limit 1048576)"]
    assert _check("state-machine-size", {"s": machine({"Fn::ImportValue": "x"})}) == ["s/M: definition not resolvable, size unchecked"]


def test_an_eventbridge_rule_has_at_most_five_targets():
    def rule(targets: int) -> dict:
        return _stack(R={"Type": "AWS::Events::Rule", "Properties": {"Targets": [{"Id": str(i)} for i in range(targets)]}})

    assert _check("rule-targets", {"s": rule(5)}) == []
    assert _check("rule-targets", {"s": _stack(R={"Type": "AWS::Events::Rule", "Properties": {}})}) == []
    assert _check("rule-targets", {"s": rule(6)}) == ["s/R: 6 targets (limit 5)"]


def test_api_gateways_logging_role_is_set_once_per_stage():
    account = {"Type": "AWS::ApiGateway::Account", "Properties": {}}
    stages = {
        "mlops-dev-environment": _stack(),
        "mlops-dev-endpoint-churn": _stack(A=account),
        "mlops-dev-endpoint-fraud": _stack(A=account),
        "mlops-devx-environment": _stack(),
        "mlops-devx-endpoint-churn": _stack(A=account),
    }
    assert _check("api-gateway-account-once", stages) == [
        "stage mlops-dev: 2 AWS::ApiGateway::Account resources (mlops-dev-endpoint-churn/A, mlops-dev-endpoint-fraud/A): one per stage"
    ]
    del stages["mlops-dev-endpoint-fraud"]
    assert _check("api-gateway-account-once", stages) == []


# -- values the rules resolve in their own stack, resources they must skip ------------------------------------------------
# Each stack below declares a parameter and names things through it (``Ref``, ``Fn::GetAtt``): a rule that resolved a
# value in the wrong stack, or judged a resource of another type, or stopped at the first resource it skips, fails here.


def _with_parameter(stack: dict, **defaults) -> dict:
    return {**stack, "Parameters": {name: {"Type": "String", "Default": value} for name, value in defaults.items()}}


OTHER = {"Type": "AWS::SNS::Topic"}  # no Properties at all


def test_serverless_rules_resolve_names_in_their_stack_and_skip_instance_configs():
    stack = _serverless(DataCaptureConfig={})
    stack["Resources"]["Endpoint"]["Properties"] = {
        "EndpointName": {"Ref": "Name"},
        "EndpointConfigName": {"Fn::GetAtt": ["Config", "EndpointConfigName"]},
    }
    stack["Resources"] = {
        "Instance": {
            "Type": "AWS::SageMaker::EndpointConfig",
            "Properties": {"ProductionVariants": [{"VariantName": "A", "InstanceType": "ml.m5.large"}]},
        },
        "Other": OTHER,
        **stack["Resources"],
        "Monitor": {
            "Type": "AWS::SageMaker::DataQualityJobDefinition",
            "Properties": {"DataQualityJobInput": {"EndpointInput": {"EndpointName": {"Ref": "Name"}}}},
        },
        "Scaling": {
            "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
            "Properties": {"ResourceId": {"Fn::Sub": "endpoint/${Name}/variant/AllTraffic"}},
        },
    }
    assert _check("serverless-exclusions", {"s": _with_parameter(stack, Name="ep")}) == [
        "s/Config: serverless endpoints support no data capture (DataCaptureConfig)",
        "s/Monitor: Model Monitor cannot watch serverless endpoint ep",
        "s/Scaling: a serverless endpoint scales by itself, not by DesiredInstanceCount",
    ]


def test_guardrails_resolve_instance_types_in_their_stack_and_skip_endpoints_without_a_policy():
    stack = _blue_green({"Type": "CANARY"}, {"InstanceType": {"Ref": "Instance"}})
    endpoint = stack["Resources"]["Endpoint"]
    endpoint["Properties"]["EndpointConfigName"] = {"Fn::GetAtt": ["Config", "EndpointConfigName"]}
    stack["Resources"] = {
        "Plain": {"Type": "AWS::SageMaker::Endpoint", "Properties": {"EndpointConfigName": {"Ref": "Config"}}},
        "Other": OTHER,
        **stack["Resources"],
    }
    assert _check("guardrail-exclusions", {"s": _with_parameter(stack, Instance="ml.inf1.xlarge")}) == [
        "s/Endpoint: CANARY traffic shifting is not available on ml.inf1.xlarge (Inf1 endpoints fall back to all-at-once)"
    ]


def test_every_monitor_is_judged_whatever_comes_before_it():
    stack = _monitored({"EnableCapture": True, "CaptureOptions": [{"CaptureMode": "Input"}]}, DATA_QUALITY)
    stack["Resources"]["Endpoint"]["Properties"] = {
        "EndpointName": {"Ref": "Name"},
        "EndpointConfigName": {"Fn::GetAtt": ["Config", "EndpointConfigName"]},
    }
    stack["Resources"].update(
        Batch={"Type": "AWS::SageMaker::DataQualityJobDefinition", "Properties": {"DataQualityJobInput": {"BatchTransformInput": {}}}},
        Inline=INLINE,
        Gone={"Type": "AWS::SageMaker::DataQualityJobDefinition", "Properties": {"DataQualityJobInput": {"EndpointInput": {"EndpointName": "gone"}}}},
        Gone2={
            "Type": "AWS::SageMaker::DataQualityJobDefinition",
            "Properties": {"DataQualityJobInput": {"EndpointInput": {"EndpointName": "gone2"}}},
        },
        Check={"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": {"CAPTURE_PREFIX": {"Fn::Sub": "${Name}/AllTraffic"}}}}},
        NotAFunction={"Type": "AWS::SSM::Parameter", "Properties": {"Environment": {"Variables": {"CAPTURE_PREFIX": "elsewhere/x"}}}},
        Other=OTHER,
    )
    stack["Resources"] = {"Batch": stack["Resources"].pop("Batch"), **stack["Resources"]}
    findings = _check("monitor-needs-capture", {"s": _with_parameter(stack, Name="ep")})
    uncaptured = "endpoint ep must capture Input and Output (captures ['Input'])"
    assert findings == [
        f"s/Monitor: {uncaptured}",
        "s/Gone: monitors endpoint gone, which no template of this deployment creates",
        "s/Gone2: monitors endpoint gone2, which no template of this deployment creates",
        f"s/Inline: {uncaptured}",
        f"s/Check: {uncaptured}",
    ]


def test_names_are_resolved_in_their_stack_and_only_their_types_names_are_judged():
    stack = _stack(
        Other=OTHER,
        Endpoint={"Type": "AWS::SageMaker::Endpoint", "Properties": {"EndpointName": {"Ref": "Long"}}},
        Bucket={"Type": "AWS::S3::Bucket", "Properties": {"BucketName": {"Ref": "Upper"}}},
        Custom={"Type": "Custom::Thing", "Properties": {"EndpointName": "not a name!", "BucketName": "Not_A_Bucket"}},
    )
    assert _check("name-limits", {"s": _with_parameter(stack, Long="e" * 64, Upper="Bucket")}) == [
        "s/Endpoint.EndpointName: 64 characters is above the maximum 63",
        f"s/Endpoint.EndpointName: {'e' * 64!r} does not match the pattern '[a-zA-Z0-9](-*[a-zA-Z0-9]){{0,62}}'",
        "s/Bucket.BucketName: 'Bucket' breaks S3's bucket naming rules",
    ]


def test_iam_sizes_resolve_in_their_stack_count_roles_of_other_stacks_and_skip_what_is_not_theirs():
    padded = _padded(2048)
    padded["p"] = {"Fn::Join": ["", [{"Ref": "Pad"}, padded["p"][3:]]]}  # 2,048 characters once "xxx" is resolved
    role = _role(inline=100)
    role["Properties"]["AssumeRolePolicyDocument"] = padded
    del role["Properties"]["Policies"]
    stack = _stack(
        Other=OTHER,
        Role=role,
        # a managed policy attached to the role is not inline; a policy of a user has no roles; a role no stack declares
        Managed={"Type": "AWS::IAM::ManagedPolicy", "Properties": {"Roles": ["r"], "PolicyDocument": _padded(6000)}},
        UserPolicy={"Type": "AWS::IAM::Policy", "Properties": {"Users": ["u"], "PolicyDocument": _padded(20000)}},
        External={"Type": "AWS::IAM::Policy", "Properties": {"Roles": ["external"], "PolicyDocument": _padded(10240)}},
    )
    assert _check("iam-sizes", {"s": _with_parameter(stack, Pad="xxx")}) == []
    stack["Resources"]["External"]["Properties"]["PolicyDocument"] = _padded(10241)
    assert _check("iam-sizes", {"s": _with_parameter(stack, Pad="xxx")}) == [
        "role external: inline policies of 10241 characters in all (limit 10240)"
    ]
    stack["Parameters"] = {"Pad": {"Type": "String", "Default": "xxxx"}}
    stack["Resources"]["Managed"]["Properties"]["PolicyDocument"] = {"p": {"Fn::Join": ["", [{"Ref": "Pad"}, "x" * 6133]]}}
    assert _check("iam-sizes", {"s": stack})[:2] == [
        "s/Role: trust policy of 2049 characters (limit 2048)",
        "s/Managed: managed policy of 6145 characters (limit 6144)",
    ]


def test_function_machine_and_rule_limits_judge_their_own_types_with_values_of_their_stack():
    big = {
        "Environment": {"Variables": {"K": "v" * 5000}},
        "DefinitionString": "x" * (1024 * 1024 + 1),
        "Targets": [{"Id": str(i)} for i in range(6)],
    }
    stack = _stack(
        Other=OTHER,
        NotAFunction={"Type": "Custom::Thing", "Properties": big},
        F={"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": {"K": {"Ref": "Value"}}}}},
        M={"Type": "AWS::StepFunctions::StateMachine", "Properties": {"DefinitionString": {"Fn::Join": ["", [{"Ref": "Value"}]]}}},
        R={"Type": "AWS::Events::Rule", "Properties": {"Targets": [{"Id": "1"}]}},
    )
    templates = {"s": _with_parameter(stack, Value="v" * 4095)}
    assert _check("lambda-environment", templates) == []
    assert _check("state-machine-size", templates) == []
    assert _check("rule-targets", templates) == []
    templates = {"s": _with_parameter(stack, Value="v" * 4096)}
    assert _check("lambda-environment", templates) == ["s/F: environment of 4097 bytes (limit 4096)"]


def test_api_gateways_logging_role_belongs_to_the_longest_stage_name_that_fits():
    account = {"Type": "AWS::ApiGateway::Account", "Properties": {}}
    stages = {
        "mlops-dev-environment": _stack(),
        "mlops-dev-endpoint-churn": _stack(A=account, Other=OTHER),
        "mlops-dev-eu-environment": _stack(),  # stage dev-eu: its stacks start with mlops-dev- too
        "mlops-dev-eu-endpoint-churn": _stack(A=account),
        "standalone-a": _stack(A=account),  # stacks of no stage: each its own
        "standalone-b": _stack(A=account),
    }
    assert _check("api-gateway-account-once", stages) == []


def test_rules_read_what_a_template_may_leave_out():
    """An unnamed endpoint, a model or config named by a parameter or a literal, a function without an environment, a
    monitor of batch input, a role with only a policy document of references: judged, never a crash."""
    serverless = _serverless()
    serverless["Resources"]["Endpoint"]["Properties"].pop("EndpointName")  # CloudFormation names it
    serverless["Resources"]["Config"]["Properties"]["ProductionVariants"][0]["ModelName"] = {"Ref": "ModelParameter"}
    serverless["Resources"]["Batch"] = {
        "Type": "AWS::SageMaker::DataQualityJobDefinition",
        "Properties": {"DataQualityJobInput": {"BatchTransformInput": {}}},
    }
    bare_model = _serverless()
    bare_model["Resources"]["Model"] = {"Type": "AWS::SageMaker::Model"}
    assert _check("serverless-exclusions", {"s": _with_parameter(serverless, ModelParameter="m"), "t": bare_model}) == []
    literal = _blue_green({"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 60}}, {"InstanceType": "ml.inf1.xlarge"})
    literal["Resources"]["Endpoint"]["Properties"]["EndpointConfigName"] = "made-elsewhere"
    assert _check("guardrail-exclusions", {"s": literal}) == ["s/Endpoint: a canary or linear step is at most 50% of the fleet, not 60%"]
    monitored = _monitored(
        BOTH,
        {
            "Type": "AWS::SageMaker::DataQualityJobDefinition",
            "Properties": {"DataQualityJobInput": {"EndpointInput": {"EndpointName": {"Ref": "Name"}}}},
        },
    )
    monitored["Resources"]["Endpoint"]["Properties"]["EndpointConfigName"] = "made-elsewhere"
    monitored["Resources"]["Quiet"] = {"Type": "AWS::Lambda::Function", "Properties": {}}
    assert _check("monitor-needs-capture", {"s": _with_parameter(monitored, Name="ep")}) == [
        "s/Monitor: endpoint ep must capture Input and Output (captures nothing)"
    ]
    role = _role()
    role["Properties"]["Policies"] = [{"PolicyName": "own", "PolicyDocument": {"p": {"Fn::Join": ["", [{"Ref": "Pad"}, "x" * 10229]]}}}]
    assert _check("iam-sizes", {"s": _with_parameter(_stack(Role=role), Pad="xxx")}) == []  # 10,240 with the parameter's 3
    assert _check("iam-sizes", {"s": _with_parameter(_stack(Role=role), Pad="xxxx")}) == [
        "role r: inline policies of 10241 characters in all (limit 10240)"
    ]
