"""Documented AWS rules that span fields or resources, which no API schema holds.

Each :class:`Rule` names the AWS documentation page it comes from and returns its findings for a
:class:`~fidelity.cfn.Deployment` (resolved as CloudFormation would). Where a configuration can break
a rule, ``config/`` rejects it at synth with the same page; these checks run over every synthesized
template (and over a stage built from the longest names the config allows) so that a construct
change cannot break one unnoticed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fidelity.api_model import Report, input_shape, validate
from fidelity.cfn import UNRESOLVED, Deployment, contains_unresolved

Resource = tuple[str, str, dict]  # (stack, logical id, resource)


@dataclass(frozen=True)
class Rule:
    id: str
    doc: str
    what: str
    check: Callable[[Deployment, list[str]], list[str]]


def _resources(deployment: Deployment, stacks: list[str], *types: str) -> Iterator[Resource]:
    for stack in stacks:
        for logical_id, resource in deployment.templates[stack]["Resources"].items():
            if not types or resource["Type"] in types:
                yield stack, logical_id, resource


def _target(reference: Any) -> str | None:
    """The logical id a ``Ref``/``Fn::GetAtt`` points to, if it is one."""
    if isinstance(reference, dict):
        if "Ref" in reference:
            return reference["Ref"]
        if "Fn::GetAtt" in reference:
            return reference["Fn::GetAtt"][0]
    return None


# -- SageMaker ----------------------------------------------------------------------------------------

SERVERLESS_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html#serverless-endpoints-how-it-works-exclusions"


def _serverless_exclusions(deployment: Deployment, stacks: list[str]) -> list[str]:
    """Serverless Inference supports no VPC configuration, network isolation, data capture, Model Monitor,
    GPUs, multiple production variants, or instance-based autoscaling."""
    findings = []
    for stack, logical_id, config in _resources(deployment, stacks, "AWS::SageMaker::EndpointConfig"):
        template = deployment.templates[stack]
        variants = config["Properties"]["ProductionVariants"]
        serverless = [v for v in variants if "ServerlessConfig" in v]
        if not serverless:
            continue
        where = f"{stack}/{logical_id}"
        if len(variants) > 1:
            findings.append(f"{where}: a serverless endpoint config has one production variant, not {len(variants)}")
        if "DataCaptureConfig" in config["Properties"]:
            findings.append(f"{where}: serverless endpoints support no data capture (DataCaptureConfig)")
        for variant in serverless:
            if "InstanceType" in variant or "AcceleratorType" in variant:
                findings.append(f"{where}: a serverless variant has no InstanceType or AcceleratorType")
            model_id = _target(variant.get("ModelName"))
            model = template["Resources"].get(model_id, {}).get("Properties", {}) if model_id else {}
            if "VpcConfig" in model:
                findings.append(
                    f"{stack}/{model_id}: the model of serverless variant {variant['VariantName']} has a VpcConfig; "
                    "Serverless Inference supports no VPC configuration"
                )
            if model.get("EnableNetworkIsolation") is True:
                findings.append(f"{stack}/{model_id}: Serverless Inference supports no network isolation")
        endpoints = [
            e for e in _resources(deployment, [stack], "AWS::SageMaker::Endpoint") if _target(e[2]["Properties"]["EndpointConfigName"]) == logical_id
        ]
        for _, _, endpoint in endpoints:
            name = deployment.resolve(stack, endpoint["Properties"].get("EndpointName", UNRESOLVED))
            for other_stack, other_id, other in _resources(deployment, list(deployment.templates)):
                props = other.get("Properties", {})
                if other["Type"] == "AWS::SageMaker::DataQualityJobDefinition":
                    if deployment.resolve(other_stack, props["DataQualityJobInput"].get("EndpointInput", {}).get("EndpointName")) == name:
                        findings.append(f"{other_stack}/{other_id}: Model Monitor cannot watch serverless endpoint {name}")
                if other["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget":
                    if f"endpoint/{name}/" in str(deployment.resolve(other_stack, props.get("ResourceId"))):
                        findings.append(f"{other_stack}/{other_id}: a serverless endpoint scales by itself, not by DesiredInstanceCount")
    return findings


GUARDRAILS_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html"
CANARY_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-blue-green-canary.html"


def _guardrails(deployment: Deployment, stacks: list[str]) -> list[str]:
    """Blue/green canary or linear traffic shifting is not available to endpoints on Inf1 instances or with
    Marketplace containers (they silently fall back to all at once); a canary is at most half the fleet."""
    findings = []
    for stack, logical_id, endpoint in _resources(deployment, stacks, "AWS::SageMaker::Endpoint"):
        policy = endpoint["Properties"].get("DeploymentConfig", {}).get("BlueGreenUpdatePolicy")
        if not policy:
            continue
        routing = policy["TrafficRoutingConfiguration"]
        template = deployment.templates[stack]
        config_id = _target(endpoint["Properties"]["EndpointConfigName"])
        variants = template["Resources"][config_id]["Properties"]["ProductionVariants"] if config_id else []
        if routing["Type"] in ("CANARY", "LINEAR"):
            for variant in variants:
                instance = str(deployment.resolve(stack, variant.get("InstanceType", "")))
                if instance.startswith("ml.inf1."):
                    findings.append(
                        f"{stack}/{logical_id}: {routing['Type']} traffic shifting is not available on {instance} "
                        "(Inf1 endpoints fall back to all-at-once)"
                    )
                if "ServerlessConfig" in variant:
                    findings.append(f"{stack}/{logical_id}: a serverless endpoint takes no {routing['Type']} deployment guardrails")
        size = routing.get("CanarySize") or routing.get("LinearStepSize")
        if size and size["Type"] == "CAPACITY_PERCENT" and size["Value"] > 50:
            findings.append(f"{stack}/{logical_id}: a canary or linear step is at most 50% of the fleet, not {size['Value']}%")
    return findings


CAPTURE_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html"


def _monitor_needs_capture(deployment: Deployment, stacks: list[str]) -> list[str]:
    """A monitored endpoint captures both its requests (Input) and its responses (Output): Model Monitor
    reads the captured traffic, and this platform's baseline starts with the model's output."""
    endpoints: dict[str, dict | None] = {}
    for stack, _, endpoint in _resources(deployment, list(deployment.templates), "AWS::SageMaker::Endpoint"):
        name = deployment.resolve(stack, endpoint["Properties"].get("EndpointName", UNRESOLVED))
        config_id = _target(endpoint["Properties"]["EndpointConfigName"])
        config = deployment.templates[stack]["Resources"].get(config_id, {}).get("Properties", {})
        endpoints[name] = config.get("DataCaptureConfig")
    findings = []
    monitors = [
        (stack, logical_id, definition["Properties"]["DataQualityJobInput"].get("EndpointInput"))
        for stack, logical_id, definition in _resources(deployment, stacks, "AWS::SageMaker::DataQualityJobDefinition")
    ]
    for stack, logical_id, schedule in _resources(deployment, stacks, "AWS::SageMaker::MonitoringSchedule"):
        inline = schedule["Properties"]["MonitoringScheduleConfig"].get("MonitoringJobDefinition")  # a container of one's own
        monitors += [(stack, logical_id, i.get("EndpointInput")) for i in (inline or {}).get("MonitoringInputs", [])]
    for stack, logical_id, function in _resources(deployment, stacks, "AWS::Lambda::Function"):  # the platform's own check
        prefix = deployment.resolve(stack, function["Properties"]).get("Environment", {}).get("Variables", {}).get("CAPTURE_PREFIX")
        if isinstance(prefix, str) and prefix:
            monitors.append((stack, logical_id, {"EndpointName": prefix.split("/")[0]}))
    for stack, logical_id, endpoint_input in monitors:
        if endpoint_input is None:
            continue
        name = deployment.resolve(stack, endpoint_input["EndpointName"])
        if name not in endpoints:
            findings.append(f"{stack}/{logical_id}: monitors endpoint {name}, which no template of this deployment creates")
            continue
        capture = endpoints[name]
        modes = {o["CaptureMode"] for o in (capture or {}).get("CaptureOptions", [])}
        if not capture or capture.get("EnableCapture") is False or modes != {"Input", "Output"}:
            findings.append(f"{stack}/{logical_id}: endpoint {name} must capture Input and Output (captures {sorted(modes) or 'nothing'})")
    return findings


# -- features closed to new customers ------------------------------------------------------------------------

CLOSED_DOC = (
    "https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-availability-change.html, "
    "https://docs.aws.amazon.com/sagemaker/latest/dg/clarify-availability-change.html, "
    "https://docs.aws.amazon.com/sagemaker/latest/dg/debugger-availability-change.html, "
    "https://docs.aws.amazon.com/codecommit/latest/userguide/references.html (AWS CodeCommit)"
)
# What each closed feature deploys: its resource types, and the image repositories (or request members) that use it.
CLOSED_TYPES = {
    "AWS::SageMaker::MonitoringSchedule": "model_monitor",
    "AWS::SageMaker::DataQualityJobDefinition": "model_monitor",
    "AWS::SageMaker::ModelQualityJobDefinition": "model_monitor",
    "AWS::SageMaker::ModelBiasJobDefinition": "clarify",
    "AWS::SageMaker::ModelExplainabilityJobDefinition": "clarify",
    "AWS::CodeCommit::Repository": "codecommit",
}
CLOSED_MARKS = {
    "sagemaker-model-monitor-analyzer": "model_monitor",
    "sagemaker-clarify-processing": "clarify",
    "sagemaker-debugger-rules": "debugger",
    "DebugRuleConfigurations": "debugger",
    "DebugHookConfig": "debugger",
    "git-codecommit.": "codecommit",  # a repository's clone URL (Studio's CodeRepositories)
    "codecommit:Git": "codecommit",  # a grant to pull or push a repository
    '"Provider": "CodeCommit"': "codecommit",  # a CodePipeline source action
}


def _closed_features(deployment: Deployment, stacks: list[str]) -> list[str]:
    """SageMaker Model Monitor, Clarify and Debugger are closed to new customers (since 2026-07-30), and AWS CodeCommit
    too: a new account cannot create their resources, nor run their images, nor has a repository to reach. Only a stage that declares its account already uses one
    (``account_already_uses``) may deploy it."""
    findings = []
    for stack, logical_id, resource in _resources(deployment, stacks):
        feature = CLOSED_TYPES.get(resource["Type"])
        if feature and feature not in deployment.already_uses:
            findings.append(f"{stack}/{logical_id}: {resource['Type']} is {feature}, closed to new customers (account_already_uses)")
            continue
        text = json.dumps(resource.get("Properties", {}))
        for mark, feature in CLOSED_MARKS.items():
            if mark in text and feature not in deployment.already_uses:
                findings.append(f"{stack}/{logical_id}: uses {mark} ({feature}), closed to new customers (account_already_uses)")
    return findings


# -- names ------------------------------------------------------------------------------------------------

# (CloudFormation type, name property) -> (botocore service, operation, member) whose length and pattern apply.
NAME_MEMBERS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("AWS::SageMaker::Endpoint", "EndpointName"): ("sagemaker", "CreateEndpoint", "EndpointName"),
    ("AWS::SageMaker::ModelPackageGroup", "ModelPackageGroupName"): ("sagemaker", "CreateModelPackageGroup", "ModelPackageGroupName"),
    ("AWS::SageMaker::MonitoringSchedule", "MonitoringScheduleName"): ("sagemaker", "CreateMonitoringSchedule", "MonitoringScheduleName"),
    ("AWS::SageMaker::DataQualityJobDefinition", "JobDefinitionName"): ("sagemaker", "CreateDataQualityJobDefinition", "JobDefinitionName"),
    ("AWS::SageMaker::Domain", "DomainName"): ("sagemaker", "CreateDomain", "DomainName"),
    ("AWS::SageMaker::UserProfile", "UserProfileName"): ("sagemaker", "CreateUserProfile", "UserProfileName"),
    ("AWS::SageMaker::StudioLifecycleConfig", "StudioLifecycleConfigName"): ("sagemaker", "CreateStudioLifecycleConfig", "StudioLifecycleConfigName"),
    ("AWS::CloudWatch::Alarm", "AlarmName"): ("cloudwatch", "PutMetricAlarm", "AlarmName"),
    ("AWS::CloudWatch::Dashboard", "DashboardName"): ("cloudwatch", "PutDashboard", "DashboardName"),
    ("AWS::Events::Rule", "Name"): ("events", "PutRule", "Name"),
    ("AWS::IAM::Role", "RoleName"): ("iam", "CreateRole", "RoleName"),
    ("AWS::IAM::Policy", "PolicyName"): ("iam", "PutRolePolicy", "PolicyName"),
    ("AWS::Lambda::Function", "FunctionName"): ("lambda", "CreateFunction", "FunctionName"),
    ("AWS::Logs::LogGroup", "LogGroupName"): ("logs", "CreateLogGroup", "logGroupName"),
    ("AWS::StepFunctions::StateMachine", "StateMachineName"): ("stepfunctions", "CreateStateMachine", "name"),
    ("AWS::SSM::Parameter", "Name"): ("ssm", "PutParameter", "Name"),
    ("AWS::ECR::Repository", "RepositoryName"): ("ecr", "CreateRepository", "repositoryName"),
    ("AWS::SNS::Topic", "TopicName"): ("sns", "CreateTopic", "Name"),
    ("AWS::ServiceCatalog::Portfolio", "DisplayName"): ("servicecatalog", "CreatePortfolio", "DisplayName"),
    ("AWS::ServiceCatalog::CloudFormationProduct", "Name"): ("servicecatalog", "CreateProduct", "Name"),
    ("AWS::ServiceCatalog::TagOption", "Key"): ("servicecatalog", "CreateTagOption", "Key"),
    ("AWS::ServiceCatalog::TagOption", "Value"): ("servicecatalog", "CreateTagOption", "Value"),
    ("AWS::ApiGateway::UsagePlan", "UsagePlanName"): ("apigateway", "CreateUsagePlan", "name"),
}
NAMES_DOC = "the API reference of each operation in fidelity.limits.NAME_MEMBERS; S3: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html"
_BUCKET = re.compile(r"^(?!xn--)(?!.*-s3alias$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# SNS topic names: https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html (the model has no length)
_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
# Stack names: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cfn-using-console-create-stack-parameters.html
_STACK = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")


def _names(deployment: Deployment, stacks: list[str]) -> list[str]:
    """Every physical name this app sets is within its service's length and character rules."""
    findings = []
    for stack in stacks:
        if not _STACK.match(stack):
            findings.append(f"{stack}: not a valid CloudFormation stack name (letter first, letters, digits, hyphens, at most 128)")
    for stack, logical_id, resource in _resources(deployment, stacks):
        props = resource.get("Properties", {})
        for (kind, prop), (service, operation, member) in NAME_MEMBERS.items():
            if resource["Type"] == kind and prop in props:
                value = deployment.resolve(stack, props[prop])
                if contains_unresolved(value):
                    continue
                report = Report()
                validate(input_shape(service, operation).members[member], value, f"{stack}/{logical_id}.{prop}", report)
                findings += report.errors
                if kind == "AWS::SNS::Topic" and not _TOPIC.match(value):
                    findings.append(f"{stack}/{logical_id}.TopicName: {value!r} breaks SNS's rule (1-256 letters, digits, - and _)")
        if resource["Type"] == "AWS::S3::Bucket" and "BucketName" in props:
            name = deployment.resolve(stack, props["BucketName"])
            if not contains_unresolved(name) and not _BUCKET.match(name):
                findings.append(f"{stack}/{logical_id}.BucketName: {name!r} breaks S3's bucket naming rules")
    return findings


# -- IAM ---------------------------------------------------------------------------------------------------

IAM_DOC = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html#reference_iam-quotas-entity-length"
ROLE_INLINE_CHARS = 10_240  # aggregate of a role's inline policies, whitespace not counted
MANAGED_POLICY_CHARS = 6_144
TRUST_POLICY_CHARS = 2_048  # the default quota (can be raised to 4,096)
MANAGED_POLICIES_PER_ROLE = 10  # the default quota (can be raised to 20)


def _size(document: Any) -> int:
    return len(re.sub(r"\s", "", json.dumps(document, separators=(",", ":"))))


def _iam_sizes(deployment: Deployment, stacks: list[str]) -> list[str]:
    """Role inline policies (all of a role's, across stacks) within 10,240 characters; managed policies within 6,144;
    trust policies within 2,048; at most 10 managed policies per role."""
    inline: dict[str, int] = {}
    findings = []
    everything = list(deployment.templates)
    for stack, logical_id, role in _resources(deployment, everything, "AWS::IAM::Role"):
        props = role["Properties"]
        name = deployment.ref(stack, logical_id)
        inline[name] = inline.get(name, 0) + sum(_size(deployment.resolve(stack, p["PolicyDocument"])) for p in props.get("Policies", []))
        if stack in stacks:
            trust = _size(deployment.resolve(stack, props["AssumeRolePolicyDocument"]))
            if trust > TRUST_POLICY_CHARS:
                findings.append(f"{stack}/{logical_id}: trust policy of {trust} characters (limit {TRUST_POLICY_CHARS})")
            if len(props.get("ManagedPolicyArns", [])) > MANAGED_POLICIES_PER_ROLE:
                findings.append(f"{stack}/{logical_id}: {len(props['ManagedPolicyArns'])} managed policies (limit {MANAGED_POLICIES_PER_ROLE})")
    for stack, _, policy in _resources(deployment, everything, "AWS::IAM::Policy"):
        props = deployment.resolve(stack, policy["Properties"])
        for role in props.get("Roles", []):
            inline[role] = inline.get(role, 0) + _size(props["PolicyDocument"])
    for stack, logical_id, policy in _resources(deployment, stacks, "AWS::IAM::ManagedPolicy"):
        size = _size(deployment.resolve(stack, policy["Properties"]["PolicyDocument"]))
        if size > MANAGED_POLICY_CHARS:
            findings.append(f"{stack}/{logical_id}: managed policy of {size} characters (limit {MANAGED_POLICY_CHARS})")
    for role, size in inline.items():
        if size > ROLE_INLINE_CHARS:
            findings.append(f"role {role}: inline policies of {size} characters in all (limit {ROLE_INLINE_CHARS})")
    return findings


# -- CloudFormation, Lambda, Step Functions, EventBridge ----------------------------------------------------

CFN_DOC = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html"
CFN_LIMITS = {"Resources": 500, "Outputs": 200, "Parameters": 200, "Mappings": 200}
TEMPLATE_BYTES = 1_000_000  # a template body in S3 (CDK uploads every template there)


def _stack_limits(deployment: Deployment, stacks: list[str]) -> list[str]:
    """At most 500 resources, 200 outputs, 200 parameters, 200 mappings and 1 MB of template per stack."""
    findings = []
    for stack in stacks:
        template = deployment.templates[stack]
        for section, limit in CFN_LIMITS.items():
            if len(template.get(section, {})) > limit:
                findings.append(f"{stack}: {len(template[section])} {section.lower()} (limit {limit})")
        size = len(json.dumps(template).encode())
        if size > TEMPLATE_BYTES:
            findings.append(f"{stack}: template of {size} bytes (limit {TEMPLATE_BYTES})")
    return findings


LAMBDA_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
LAMBDA_ENV_BYTES = 4 * 1024


def _lambda_environment(deployment: Deployment, stacks: list[str]) -> list[str]:
    """A function's environment variables take at most 4 KB in all."""
    findings = []
    for stack, logical_id, function in _resources(deployment, stacks, "AWS::Lambda::Function"):
        variables = deployment.resolve(stack, function["Properties"].get("Environment", {}).get("Variables", {}))
        size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in variables.items())
        if size > LAMBDA_ENV_BYTES:
            findings.append(f"{stack}/{logical_id}: environment of {size} bytes (limit {LAMBDA_ENV_BYTES})")
    return findings


SFN_DOC = "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html"
SFN_DEFINITION_BYTES = 1024 * 1024


def _state_machine_size(deployment: Deployment, stacks: list[str]) -> list[str]:
    """A state machine definition is at most 1 MB."""
    findings = []
    for stack, logical_id, machine in _resources(deployment, stacks, "AWS::StepFunctions::StateMachine"):
        definition = deployment.resolve(stack, machine["Properties"]["DefinitionString"])
        if definition is UNRESOLVED:
            findings.append(f"{stack}/{logical_id}: definition not resolvable, size unchecked")
        elif len(definition.encode()) > SFN_DEFINITION_BYTES:
            findings.append(f"{stack}/{logical_id}: definition of {len(definition.encode())} bytes (limit {SFN_DEFINITION_BYTES})")
    return findings


EVENTS_DOC = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html"


def _rule_targets(deployment: Deployment, stacks: list[str]) -> list[str]:
    """An EventBridge rule has at most 5 targets."""
    return [
        f"{stack}/{logical_id}: {len(rule['Properties']['Targets'])} targets (limit 5)"
        for stack, logical_id, rule in _resources(deployment, stacks, "AWS::Events::Rule")
        if len(rule["Properties"].get("Targets", [])) > 5
    ]


APIGW_LOGGING_DOC = "https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html"


def _api_gateway_account(deployment: Deployment, stacks: list[str]) -> list[str]:
    """API Gateway's CloudWatch role is one setting per account and Region: a stage sets it once, not per API.
    (Stages sharing an account each set it to an equivalent role; the last deployed wins, harmlessly.)"""
    # A stage's stacks are named <prefix>-<stage>-<kind>...; its environment stack names the stage.
    # longest first where one stage's name begins another's (dev- and dev-eu-): reverse order puts a string before its prefixes
    stages = sorted((name.removesuffix("environment") for name in deployment.templates if name.endswith("-environment")), reverse=True)
    per_stage: dict[str, list[str]] = {}
    for stack, logical_id, _ in _resources(deployment, stacks, "AWS::ApiGateway::Account"):
        stage = next((s for s in stages if stack.startswith(s)), stack)
        per_stage.setdefault(stage, []).append(f"{stack}/{logical_id}")
    return [
        f"stage {stage.rstrip('-')}: {len(found)} AWS::ApiGateway::Account resources ({', '.join(found)}): one per stage"
        for stage, found in per_stage.items()
        if len(found) > 1
    ]


RULES = [
    Rule(
        "serverless-exclusions",
        SERVERLESS_DOC,
        "serverless endpoints: no VPC, isolation, capture, monitor, multiple variants",
        _serverless_exclusions,
    ),
    Rule(
        "guardrail-exclusions", f"{GUARDRAILS_DOC}, {CANARY_DOC}", "canary/linear updates: not on Inf1 or serverless; at most 50% a step", _guardrails
    ),
    Rule("closed-features", CLOSED_DOC, "no feature closed to new customers unless the account already uses it", _closed_features),
    Rule("monitor-needs-capture", CAPTURE_DOC, "a monitored endpoint captures Input and Output", _monitor_needs_capture),
    Rule("name-limits", NAMES_DOC, "physical names within each service's length and pattern", _names),
    Rule("iam-sizes", IAM_DOC, "role inline, managed and trust policy sizes; managed policies per role", _iam_sizes),
    Rule("stack-limits", CFN_DOC, "resources, outputs, parameters, mappings and template size per stack", _stack_limits),
    Rule("lambda-environment", LAMBDA_DOC, "Lambda environment variables within 4 KB", _lambda_environment),
    Rule("state-machine-size", SFN_DOC, "state machine definitions within 1 MB", _state_machine_size),
    Rule("rule-targets", EVENTS_DOC, "EventBridge rules with at most 5 targets", _rule_targets),
    Rule("api-gateway-account-once", APIGW_LOGGING_DOC, "the Region-wide API Gateway logging role set once per stage", _api_gateway_account),
]
