"""ModelEndpoint and InferenceApi: data capture, autoscaling, blue/green with rollback alarms, the API front."""

from __future__ import annotations

import json

import pytest
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from mlops_constructs.inference_api import InferenceApi, InferenceApiProps
from mlops_constructs.model_endpoint import ModelEndpoint, ModelEndpointProps, ServerlessSettings
from mlops_constructs.sagemaker_permissions import VpcPlacement

KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/mlops-dev-churn/3"


def build(stack, **overrides) -> ModelEndpoint:
    props = dict(
        endpoint_name="mlops-dev-churn",
        model_package_arn=PACKAGE,
        repository=ecr.Repository.from_repository_name(stack, "Repo", "churn-images"),
        artifacts_bucket=s3.Bucket.from_bucket_name(stack, "Artifacts", "artifacts-bucket"),
        artifacts_key=kms.Key.from_key_arn(stack, "RegistryKey", KEY),
        capture_bucket=s3.Bucket.from_bucket_name(stack, "Capture", "capture-bucket"),
        key=kms.Key.from_key_arn(stack, "Key", KEY),
        alert_topic=sns.Topic.from_topic_arn(stack, "Topic", "arn:aws:sns:us-east-1:123456789012:alerts"),
        vpc=VpcPlacement("vpc-0123456789abcdef0", ["subnet-0123456789abcdef0"], "sg-0123456789abcdef0"),
        instance_type="ml.m5.large",
        instance_count=2,
        min_capacity=2,
        max_capacity=6,
        data_capture_percent=25,
    )
    props.update(overrides)
    return ModelEndpoint(stack, "Endpoint", props=ModelEndpointProps(**props))


@pytest.fixture
def template(stack) -> Template:
    build(stack)
    return Template.from_stack(stack)


def test_model_is_the_registered_package_in_the_vpc(template):
    template.has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": {"ModelPackageName": PACKAGE},
            "VpcConfig": {"SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": ["subnet-0123456789abcdef0"]},
        },
    )


def test_endpoint_config_captures_inputs_and_outputs_encrypted_per_endpoint(template):
    template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "KmsKeyId": KEY,
            "ProductionVariants": [Match.object_like({"InstanceType": "ml.m5.large", "InitialInstanceCount": 2, "VariantName": "AllTraffic"})],
            "DataCaptureConfig": {
                "EnableCapture": True,
                "InitialSamplingPercentage": 25,
                "DestinationS3Uri": "s3://capture-bucket/mlops-dev-churn",
                "KmsKeyId": KEY,
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json", "application/jsonlines"]},
            },
        },
    )


def test_blue_green_canary_rolls_back_on_both_alarms(template):
    endpoint = next(iter(template.find_resources("AWS::SageMaker::Endpoint").values()))["Properties"]
    policy = endpoint["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "CANARY",
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
        "WaitIntervalInSeconds": 600,
    }
    alarms = [a["AlarmName"]["Ref"] for a in endpoint["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]]
    assert len(alarms) == 2 and all(a.startswith(("EndpointErrors5xxAlarm", "EndpointLatencyAlarm")) for a in alarms)
    assert endpoint["RetainAllVariantProperties"] is True  # an update keeps the autoscaled instance count
    assert endpoint["ExcludeRetainedVariantProperties"] == [{"VariantPropertyType": "DataCaptureConfig"}]


def test_rollback_alarms_watch_5xx_and_p99_latency_and_notify(template):
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "Invocation5XXErrors",
            "Namespace": "AWS/SageMaker",
            "Statistic": "Sum",
            "Threshold": 0,
            "Dimensions": [{"Name": "EndpointName", "Value": "mlops-dev-churn"}, {"Name": "VariantName", "Value": "AllTraffic"}],
            "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:alerts"],
        },
    )
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "ModelLatency", "ExtendedStatistic": "p99", "Threshold": 1_000_000})


def test_autoscaling_tracks_invocations_per_instance(template):
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "ServiceNamespace": "sagemaker",
            "ResourceId": "endpoint/mlops-dev-churn/variant/AllTraffic",
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
            "MinCapacity": 2,
            "MaxCapacity": 6,
        },
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                "TargetValue": 200,
                "ScaleInCooldown": 300,
                "ScaleOutCooldown": 60,
            },
        },
    )


def test_serverless_option_for_a_frugal_dev(stack):
    build(stack, serverless=ServerlessSettings(memory_mb=3072, max_concurrency=4), vpc=None)
    t = Template.from_stack(stack)
    config = next(iter(t.find_resources("AWS::SageMaker::EndpointConfig").values()))["Properties"]
    assert config["ProductionVariants"][0]["ServerlessConfig"] == {"MaxConcurrency": 4, "MemorySizeInMB": 3072}
    assert "DataCaptureConfig" not in config and "InstanceType" not in config["ProductionVariants"][0]
    t.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)
    assert "DeploymentConfig" not in next(iter(t.find_resources("AWS::SageMaker::Endpoint").values()))["Properties"]


def _actions(statement: dict) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


def test_model_role_reads_pipeline_artifacts_and_writes_only_its_capture_prefix(template):
    statements = [s for p in template.find_resources("AWS::IAM::Policy").values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    reads = json.dumps([s["Resource"] for s in statements if "s3:GetObject*" in _actions(s)])
    writes = [s for s in statements if "s3:PutObject" in _actions(s)]
    assert "artifacts-bucket/pipeline/*" in reads and "capture-bucket" not in reads
    assert len(writes) == 1 and writes[0]["Resource"] == "arn:aws:s3:::capture-bucket/mlops-dev-churn/*"
    kms = {a for s in statements if s["Resource"] == KEY for a in _actions(s)}
    assert {"kms:GenerateDataKey*", "kms:Encrypt", "kms:Decrypt"} <= kms


def test_serverless_model_gets_no_capture_rights(stack):
    build(stack, serverless=ServerlessSettings(), vpc=None)
    statements = [
        s for p in Template.from_stack(stack).find_resources("AWS::IAM::Policy").values() for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert not any("s3:PutObject" in _actions(s) for s in statements)
    assert not any("ec2:CreateNetworkInterface" in _actions(s) for s in statements)  # no VPC, no network interfaces


def test_serverless_model_has_no_vpc_config(stack):
    # Serverless Inference supports no VPC configuration: SageMaker rejects the endpoint config otherwise
    # (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html, "Feature exclusions").
    build(stack, serverless=ServerlessSettings(), vpc=None)
    model = next(iter(Template.from_stack(stack).find_resources("AWS::SageMaker::Model").values()))["Properties"]
    assert "VpcConfig" not in model and model["PrimaryContainer"] == {"ModelPackageName": PACKAGE}


@pytest.mark.parametrize("auth", ["iam", "api_key"])
def test_api_front_auth_throttling_logs_and_tracing(stack, auth):
    InferenceApi(
        stack,
        "Api",
        props=InferenceApiProps(
            endpoint_name="mlops-dev-churn",
            endpoint_arn="arn:aws:sagemaker:us-east-1:123456789012:endpoint/mlops-dev-churn",
            auth=auth,
            rate_limit=20,
            burst_limit=40,
            quota_per_day=5000,
            max_body_kb=256,
        ),
    )
    t = Template.from_stack(stack)
    t.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "AuthorizationType": "AWS_IAM" if auth == "iam" else "NONE",
            "ApiKeyRequired": True,  # the caller's key in both modes: its quota applies to every caller
            "RequestValidatorId": Match.any_value(),
        },
    )
    t.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "v1",
            "TracingEnabled": True,
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
            "MethodSettings": [
                Match.object_like({"ThrottlingRateLimit": 20, "ThrottlingBurstLimit": 40, "LoggingLevel": "INFO", "DataTraceEnabled": False})
            ],
        },
    )
    t.has_resource_properties(
        "AWS::ApiGateway::UsagePlan", {"Throttle": {"RateLimit": 20, "BurstLimit": 40}, "Quota": {"Limit": 5000, "Period": "DAY"}}
    )
    t.resource_count_is("AWS::ApiGateway::ApiKey", 1)  # the default caller
    t.resource_count_is("AWS::WAFv2::WebACL", 0)  # off by default
    t.resource_count_is("AWS::ApiGateway::Account", 0)  # the Region-wide logging role is the stage's (ApiGatewayLogging)
    t.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {"Variables": {"ENDPOINT_NAME": "mlops-dev-churn", "MAX_BODY_BYTES": str(256 * 1024)}},
            "TracingConfig": {"Mode": "Active"},
        },
    )
    invoke = [
        s
        for p in t.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "InvokeThisEndpoint"
    ]
    assert invoke == [
        {
            "Sid": "InvokeThisEndpoint",
            "Action": "sagemaker:InvokeEndpoint",
            "Effect": "Allow",
            "Resource": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/mlops-dev-churn",
        }
    ]


def test_unknown_auth_is_refused(stack):
    with pytest.raises(ValueError, match="auth='oauth'"):
        InferenceApi(stack, "Api", props=InferenceApiProps(endpoint_name="e", endpoint_arn="arn", auth="oauth"))


def test_api_meters_each_caller_on_its_own_key_and_can_have_a_waf(stack):
    api = InferenceApi(
        stack,
        "Api",
        props=InferenceApiProps(
            endpoint_name="mlops-dev-churn",
            endpoint_arn="arn:aws:sagemaker:us-east-1:123456789012:endpoint/mlops-dev-churn",
            callers=["scoring-service", "batch-reports"],
            quota_per_day=5000,
            waf=True,
            waf_requests_per_5_minutes=600,
        ),
    )
    t = Template.from_stack(stack)
    assert sorted(api.api_keys) == ["batch-reports", "scoring-service"]
    t.resource_count_is("AWS::ApiGateway::ApiKey", 2)
    t.resource_count_is("AWS::ApiGateway::UsagePlanKey", 2)  # each key on the plan: quota_per_day is per caller
    t.has_resource_properties("AWS::ApiGateway::Method", {"AuthorizationType": "AWS_IAM", "ApiKeyRequired": True})
    (acl,) = t.find_resources("AWS::WAFv2::WebACL").values()
    rules = {r["Name"]: r for r in acl["Properties"]["Rules"]}
    assert rules["RequestsPerClientIp"]["Statement"]["RateBasedStatement"] == {"Limit": 600, "AggregateKeyType": "IP"}
    assert {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"} <= set(rules)
    assert acl["Properties"]["Scope"] == "REGIONAL"
    t.resource_count_is("AWS::WAFv2::WebACLAssociation", 1)


def test_the_api_function_deploys_as_a_canary_rolled_back_on_the_apis_error_alarm(stack):
    """The API invokes the alias ``live``; CodeDeploy shifts it to a new version 10% for 5 minutes, then all, and
    rolls back on the API's 5xx-rate alarm, a failed or a stopped deployment."""
    InferenceApi(
        stack,
        "Api",
        props=InferenceApiProps(endpoint_name="mlops-dev-churn", endpoint_arn="arn:aws:sagemaker:us-east-1:123456789012:endpoint/mlops-dev-churn"),
    )
    t = Template.from_stack(stack)
    ((alias_id, alias),) = t.find_resources("AWS::Lambda::Alias").items()
    assert alias["Properties"]["Name"] == "live" and "CodeDeployLambdaAliasUpdate" in alias["UpdatePolicy"]
    (version_id,) = t.find_resources("AWS::Lambda::Version")
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}
    (method,) = t.find_resources("AWS::ApiGateway::Method").values()
    assert alias_id in json.dumps(method["Properties"]["Integration"]["Uri"])  # the API calls the alias, never $LATEST
    (group,) = t.find_resources("AWS::CodeDeploy::DeploymentGroup").values()
    props = group["Properties"]
    assert props["DeploymentConfigName"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert set(props["AutoRollbackConfiguration"]["Events"]) == {"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST", "DEPLOYMENT_STOP_ON_ALARM"}
    ((alarm_id, alarm),) = [(i, a) for i, a in t.find_resources("AWS::CloudWatch::Alarm").items() if a["Properties"]["MetricName"] == "5XXError"]
    assert props["AlarmConfiguration"]["Alarms"] == [{"Name": {"Ref": alarm_id}}] and props["AlarmConfiguration"]["Enabled"] is True
    a = alarm["Properties"]
    assert (a["Namespace"], a["Statistic"], a["Period"], a["Threshold"]) == ("AWS/ApiGateway", "Average", 60, 0.05)
    assert a["ComparisonOperator"] == "GreaterThanThreshold" and a["TreatMissingData"] == "notBreaching"


def test_an_api_key_api_with_source_ips_refuses_every_other_source(stack):
    """The key authenticates nobody: the resource policy admits the configured ranges only (API Gateway's documented
    source-IP pattern); without ranges there is no policy (the config refuses api_key then, unless a web ACL guards it)."""
    InferenceApi(
        stack,
        "Api",
        props=InferenceApiProps(
            endpoint_name="mlops-dev-fraud",
            endpoint_arn="arn:aws:sagemaker:us-east-1:123456789012:endpoint/mlops-dev-fraud",
            auth="api_key",
            source_ips=["198.51.100.0/24", "203.0.113.7/32"],
        ),
    )
    (api,) = Template.from_stack(stack).find_resources("AWS::ApiGateway::RestApi").values()
    allow, deny = api["Properties"]["Policy"]["Statement"]
    assert (allow["Effect"], allow["Action"], allow["Principal"]) == ("Allow", "execute-api:Invoke", {"AWS": "*"})
    assert (deny["Effect"], deny["Resource"], deny["Principal"]) == ("Deny", "execute-api:/*", {"AWS": "*"})
    assert deny["Condition"] == {"NotIpAddress": {"aws:SourceIp": ["198.51.100.0/24", "203.0.113.7/32"]}}


def test_an_api_without_source_ips_has_no_resource_policy(stack):
    InferenceApi(stack, "Api", props=InferenceApiProps(endpoint_name="e", endpoint_arn="arn:aws:sagemaker:us-east-1:123456789012:endpoint/e"))
    (api,) = Template.from_stack(stack).find_resources("AWS::ApiGateway::RestApi").values()
    assert "Policy" not in api["Properties"]
