"""DataQualityMonitor: job definition, schedule, drift alarms and failed-run alerts of one endpoint."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from config.layout import BASELINE_URI_PATTERN
from mlops_constructs.container_contract import contract
from mlops_constructs.data_quality_monitor import Analyzer, DataQualityMonitor, DataQualityMonitorProps, DriftAlarm
from mlops_constructs.sagemaker_permissions import AwsImage, VpcPlacement

KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
REGISTRY_KEY = "arn:aws:kms:us-east-1:123456789012:key/99999999-2222-3333-4444-555555555555"
TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"
ANALYZER = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
ANALYZER_REPO = "arn:aws:ecr:us-east-1:156813124566:repository/sagemaker-model-monitor-analyzer"
BASELINE = "s3://artifacts-bucket/pipeline/0a1b2c3d/baseline"


def build(stack, **overrides) -> DataQualityMonitor:
    props = dict(
        endpoint_name="mlops-dev-churn",
        schedule_name="mlops-dev-churn-dq",
        analyzer=Analyzer(AwsImage(ANALYZER, ANALYZER_REPO)),
        capture_bucket=s3.Bucket.from_bucket_name(stack, "Capture", "capture-bucket"),
        baseline_uri=BASELINE,
        baseline_bucket=s3.Bucket.from_bucket_name(stack, "Artifacts", "artifacts-bucket"),
        baseline_key=kms.Key.from_key_arn(stack, "RegistryKey", REGISTRY_KEY),
        key=kms.Key.from_key_arn(stack, "Key", KEY),
        alert_topic=sns.Topic.from_topic_arn(stack, "Topic", TOPIC),
        vpc=VpcPlacement("vpc-0123456789abcdef0", ["subnet-0123456789abcdef0"], "sg-0123456789abcdef0"),
        instance_type="ml.m5.large",
        schedule_expression="cron(0 * ? * * *)",
        drift_alarms=[DriftAlarm("mean_radius", 0.1), DriftAlarm("worst_area", 0.25)],
        alarm_name_prefix="mlops-dev-churn-drift-dev-",
        failure_name="mlops-dev-churn-monitor-failed",
    )
    props.update(overrides)
    return DataQualityMonitor(stack, "Monitor", props=DataQualityMonitorProps(**props))


@pytest.fixture
def template(stack) -> Template:
    build(stack)
    return Template.from_stack(stack)


def _one(template: Template, kind: str) -> dict:
    (resource,) = template.find_resources(kind).values()
    return resource["Properties"]


def test_job_definition_compares_capture_with_the_baseline_encrypted_in_the_vpc(template):
    d = _one(template, "AWS::SageMaker::DataQualityJobDefinition")
    assert d["DataQualityAppSpecification"] == {"ImageUri": ANALYZER, "Environment": {"publish_cloudwatch_metrics": "Enabled"}}
    assert d["DataQualityBaselineConfig"] == {
        "StatisticsResource": {"S3Uri": f"{BASELINE}/statistics.json"},
        "ConstraintsResource": {"S3Uri": f"{BASELINE}/constraints.json"},
    }
    assert d["DataQualityJobInput"]["EndpointInput"]["EndpointName"] == "mlops-dev-churn"
    output = d["DataQualityJobOutputConfig"]
    assert output["KmsKeyId"] == KEY
    assert output["MonitoringOutputs"][0]["S3Output"]["S3Uri"] == "s3://capture-bucket/monitoring/mlops-dev-churn"
    assert d["JobResources"]["ClusterConfig"] == {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20, "VolumeKmsKeyId": KEY}
    assert d["NetworkConfig"] == {
        "EnableInterContainerTrafficEncryption": True,
        "VpcConfig": {"SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": ["subnet-0123456789abcdef0"]},
    }
    assert d["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800}


def test_the_analyzer_spreads_over_the_configured_instances(stack):
    build(stack, instance_count=4)
    (definition,) = Template.from_stack(stack).find_resources("AWS::SageMaker::DataQualityJobDefinition").values()
    assert definition["Properties"]["JobResources"]["ClusterConfig"]["InstanceCount"] == 4


def test_job_definition_name_changes_with_settings_and_baseline():
    """A job definition is replaced on any change, so its name must change too (CloudFormation rule for named resources)."""

    def name(**overrides) -> str:
        app = cdk.App()
        s = cdk.Stack(app, "S", env=cdk.Environment(account="123456789012", region="us-east-1"))
        build(s, **overrides)
        return _one(Template.from_stack(s), "AWS::SageMaker::DataQualityJobDefinition")["JobDefinitionName"]

    base = name()
    assert base.startswith("mlops-dev-churn-dq-") and base.endswith("-0a1b2c3d") and len(base) <= 63
    assert name() == base  # deterministic
    assert name(instance_type="ml.m5.xlarge") != base
    assert name(instance_count=2) != base
    assert name(baseline_uri="s3://artifacts-bucket/pipeline/ffff0000/baseline").endswith("-ffff0000")
    long = name(endpoint_name="a" * 58)
    assert len(long) <= 63


def test_job_definition_name_follows_a_baseline_given_at_deploy_time(stack):
    uri = cdk.CfnParameter(stack, "BaselineUri", allowed_pattern=BASELINE_URI_PATTERN).value_as_string
    build(stack, baseline_uri=uri)
    name = _one(Template.from_stack(stack), "AWS::SageMaker::DataQualityJobDefinition")["JobDefinitionName"]
    assert name["Fn::Join"][1][1] == {"Fn::Select": [4, {"Fn::Split": ["/", {"Ref": "BaselineUri"}]}]}


def test_schedule_runs_the_definition_on_the_endpoint(template):
    schedule = _one(template, "AWS::SageMaker::MonitoringSchedule")
    definition_name = _one(template, "AWS::SageMaker::DataQualityJobDefinition")["JobDefinitionName"]
    assert schedule["MonitoringScheduleName"] == "mlops-dev-churn-dq" and schedule["EndpointName"] == "mlops-dev-churn"
    assert schedule["MonitoringScheduleConfig"] == {
        "MonitoringJobDefinitionName": definition_name,
        "MonitoringType": "DataQuality",
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
    }
    (resource,) = template.find_resources("AWS::SageMaker::MonitoringSchedule").values()
    (definition_id,) = template.find_resources("AWS::SageMaker::DataQualityJobDefinition")
    assert definition_id in resource["DependsOn"]


def test_one_drift_alarm_per_feature_named_for_the_retrain_trigger(template):
    alarms = {a["Properties"]["AlarmName"]: a["Properties"] for a in template.find_resources("AWS::CloudWatch::Alarm").values()}
    for feature, threshold in (("mean_radius", 0.1), ("worst_area", 0.25)):
        alarm = alarms[f"mlops-dev-churn-drift-dev-{feature}"]
        assert alarm["Namespace"] == "aws/sagemaker/Endpoints/data-metrics"
        assert alarm["MetricName"] == f"feature_baseline_drift_{feature}"
        assert alarm["Dimensions"] == [
            {"Name": "Endpoint", "Value": "mlops-dev-churn"},
            {"Name": "MonitoringSchedule", "Value": "mlops-dev-churn-dq"},
        ]
        assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["Statistic"]) == (threshold, "GreaterThanOrEqualToThreshold", "Maximum")
        assert alarm["Period"] == 3600 and alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == [TOPIC]


def test_failed_runs_of_this_schedule_reach_the_topic_with_their_reason(template):
    rule = _one(template, "AWS::Events::Rule")
    assert rule["Name"] == "mlops-dev-churn-monitor-failed"
    (schedule_id,) = template.find_resources("AWS::SageMaker::MonitoringSchedule")
    assert rule["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Processing Job State Change"],
        "detail": {"ProcessingJobStatus": ["Failed", "Stopped"], "MonitoringScheduleArn": [{"Fn::GetAtt": [schedule_id, "MonitoringScheduleArn"]}]},
    }
    target = rule["Targets"][0]
    assert target["Arn"] == TOPIC and "<detail-FailureReason>" in target["InputTransformer"]["InputTemplate"]
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "mlops-dev-churn-monitor-failed",
            "Namespace": "AWS/Events",
            "MetricName": "TriggeredRules",
            "Dimensions": [{"Name": "RuleName", "Value": Match.any_value()}],
            "Threshold": 1,
            "AlarmActions": Match.absent(),
        },
    )


def _flat(value) -> str:
    """An IAM resource as text, with the partition filled in."""
    if isinstance(value, dict) and "Fn::Join" in value:
        return "".join("aws" if part == {"Ref": "AWS::Partition"} else part if isinstance(part, str) else "<token>" for part in value["Fn::Join"][1])
    return value if isinstance(value, str) else "<token>"


def test_role_reads_capture_and_baseline_writes_only_reports(template):
    statements = [s for p in template.find_resources("AWS::IAM::Policy").values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    s3_access = {}
    for s in statements:
        actions = [s["Action"]] if isinstance(s["Action"], str) else s["Action"]
        for resource in s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]:
            if _flat(resource).startswith("arn:aws:s3:::") and "/" in _flat(resource):
                s3_access.setdefault(_flat(resource), set()).update(a for a in actions if a.startswith("s3:"))
    assert set(s3_access) == {
        "arn:aws:s3:::capture-bucket/mlops-dev-churn/*",
        "arn:aws:s3:::capture-bucket/monitoring/mlops-dev-churn/*",
        "arn:aws:s3:::artifacts-bucket/pipeline/*",
    }
    for read_only in ("arn:aws:s3:::capture-bucket/mlops-dev-churn/*", "arn:aws:s3:::artifacts-bucket/pipeline/*"):
        assert not any(a.startswith(("s3:Put", "s3:Delete")) for a in s3_access[read_only]), read_only
    reports = s3_access["arn:aws:s3:::capture-bucket/monitoring/mlops-dev-churn/*"]
    assert "s3:PutObject" in reports and not any(a.startswith("s3:Delete") for a in reports)
    text = json.dumps(statements)
    assert REGISTRY_KEY in text and ANALYZER_REPO in text
    metrics = next(s for s in statements if s.get("Sid") == "DriftMetrics")
    assert metrics["Condition"] == {"StringLike": {"cloudwatch:namespace": ["aws/sagemaker/Endpoints/*", "/aws/sagemaker/Endpoints/*"]}}
    template.has_resource_properties(
        "AWS::IAM::Role", {"AssumeRolePolicyDocument": {"Statement": [Match.object_like({"Principal": {"Service": "sagemaker.amazonaws.com"}})]}}
    )


PROJECT_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-dev-churn:1.0.0"
PROJECT_REPO = "arn:aws:ecr:us-east-1:123456789012:repository/mlops-dev-churn"


def test_the_project_analyzer_is_the_schedules_own_container(stack):
    """Model Monitor's bring-your-own-container form: the job inline in the schedule, the project's image running
    ``monitor``, the same baseline, capture, reports, encryption and network as Model Monitor's analyzer."""
    build(stack, analyzer=Analyzer.project(AwsImage(PROJECT_IMAGE, PROJECT_REPO)))
    template = Template.from_stack(stack)
    assert template.find_resources("AWS::SageMaker::DataQualityJobDefinition") == {}
    schedule = _one(template, "AWS::SageMaker::MonitoringSchedule")
    config = schedule["MonitoringScheduleConfig"]
    assert set(config) == {"MonitoringJobDefinition", "ScheduleConfig"}  # no MonitoringType: that names a job definition's kind
    job = config["MonitoringJobDefinition"]
    assert job["MonitoringAppSpecification"] == {"ImageUri": PROJECT_IMAGE, "ContainerEntrypoint": ["monitor"]}
    assert job["BaselineConfig"] == {
        "StatisticsResource": {"S3Uri": f"{BASELINE}/statistics.json"},
        "ConstraintsResource": {"S3Uri": f"{BASELINE}/constraints.json"},
    }
    (source,) = job["MonitoringInputs"]
    assert source["EndpointInput"] == {
        "EndpointName": "mlops-dev-churn",
        "LocalPath": "/opt/ml/processing/input/endpoint",
        "S3InputMode": "File",
        "S3DataDistributionType": "FullyReplicated",
    }
    assert job["MonitoringOutputConfig"]["KmsKeyId"] == KEY
    assert job["MonitoringOutputConfig"]["MonitoringOutputs"][0]["S3Output"]["S3Uri"] == "s3://capture-bucket/monitoring/mlops-dev-churn"
    assert job["MonitoringResources"]["ClusterConfig"] == {
        "InstanceCount": 1,
        "InstanceType": "ml.m5.large",
        "VolumeSizeInGB": 20,
        "VolumeKmsKeyId": KEY,
    }
    assert job["NetworkConfig"]["EnableInterContainerTrafficEncryption"] is True and job["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800}

    alarms = [a["Properties"] for a in template.find_resources("AWS::CloudWatch::Alarm").values() if "MetricName" in a["Properties"]]
    drift = [a for a in alarms if a["MetricName"].startswith("feature_baseline_drift_")]
    assert len(drift) == 2 and {a["Namespace"] for a in drift} == {contract.BYOC_METRICS_NAMESPACE}
    statements = [s for p in template.find_resources("AWS::IAM::Policy").values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    metrics = next(s for s in statements if s.get("Sid") == "DriftMetrics")
    assert metrics["Condition"] == {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/Endpoint/*"}}
    pull = next(s for s in statements if s.get("Sid") == "PullProjectImage")
    assert pull["Resource"] == PROJECT_REPO and ANALYZER_REPO not in json.dumps(statements)
