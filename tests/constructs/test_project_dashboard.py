"""ProjectDashboard: the widgets a project's dashboard shows, for each kind of project."""

from __future__ import annotations

import json

from aws_cdk import Duration
from aws_cdk.assertions import Template

from mlops_constructs.data_quality_monitor import DriftAlarm
from mlops_constructs.project_dashboard import MonitoredEndpoint, ProjectDashboard, ProjectDashboardProps

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:churn-pipeline"
PSEUDO = {"AWS::Region": "us-east-1", "AWS::Partition": "aws", "AWS::AccountId": "123456789012"}


def body(stack, **kwargs) -> dict:
    ProjectDashboard(stack, "Dashboard", props=ProjectDashboardProps(dashboard_name="mlops-dev-churn", **kwargs))
    (dashboard,) = Template.from_stack(stack).find_resources("AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == "mlops-dev-churn"
    raw = dashboard["Properties"]["DashboardBody"]
    text = raw if isinstance(raw, str) else "".join(p if isinstance(p, str) else PSEUDO[p["Ref"]] for p in raw["Fn::Join"][1])
    return json.loads(text)


def metrics_of(widgets: list[dict]) -> set[tuple[str, str]]:
    return {(m[0], m[1]) for w in widgets for m in w["properties"].get("metrics", [])}


def monitored(**overrides) -> MonitoredEndpoint:
    values = dict(
        endpoint_name="mlops-dev-churn",
        variant_name="AllTraffic",
        instance_backed=True,
        schedule_name="mlops-dev-churn-dq",
        failure_rule_name="mlops-dev-churn-monitor-failed",
        drift_alarms=[DriftAlarm("mean_radius", 0.1), DriftAlarm("worst_area", 0.2)],
        alarm_names=["mlops-dev-churn-drift-dev-mean_radius", "mlops-dev-churn-drift-dev-worst_area", "mlops-dev-churn-monitor-failed"],
        drift_period=Duration.hours(1),
    )
    values.update(overrides)
    return MonitoredEndpoint(**values)


def test_monitored_endpoint_and_pipeline_show_everything(stack):
    widgets = body(stack, endpoint=monitored(), state_machine_arn=MACHINE)["widgets"]
    assert metrics_of(widgets) == {
        ("AWS/SageMaker", "Invocations"),
        ("AWS/SageMaker", "Invocation4XXErrors"),
        ("AWS/SageMaker", "Invocation5XXErrors"),
        ("AWS/SageMaker", "ModelLatency"),
        ("/aws/sagemaker/Endpoints", "CPUUtilization"),
        ("/aws/sagemaker/Endpoints", "MemoryUtilization"),
        ("aws/sagemaker/Endpoints/data-metrics", "feature_baseline_drift_mean_radius"),
        ("aws/sagemaker/Endpoints/data-metrics", "feature_baseline_drift_worst_area"),
        ("aws/sagemaker/Endpoints/data-metrics", "feature_data_mean_radius"),
        ("AWS/Events", "TriggeredRules"),
        ("AWS/States", "ExecutionsStarted"),
        ("AWS/States", "ExecutionsSucceeded"),
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/States", "ExecutionsTimedOut"),
    }
    latency = next(w for w in widgets if "latency" in w["properties"].get("title", ""))
    assert [m[-1]["stat"] for m in latency["properties"]["metrics"]] == ["p50", "p99"]
    drift = next(w for w in widgets if w["properties"].get("title", "").startswith("Data drift"))
    assert [a["value"] for a in drift["properties"]["annotations"]["horizontal"]] == [0.1, 0.2]
    assert all(m[2:6] == ["Endpoint", "mlops-dev-churn", "MonitoringSchedule", "mlops-dev-churn-dq"] for m in drift["properties"]["metrics"])
    alarms = next(w for w in widgets if w["type"] == "alarm")
    assert alarms["properties"]["alarms"] == [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{n}" for n in monitored().alarm_names]
    pipeline = next(w for w in widgets if "pipeline" in w["properties"].get("title", ""))
    assert all(m[2:4] == ["StateMachineArn", MACHINE] for m in pipeline["properties"]["metrics"])


def test_model_quality_shows_the_metric_against_its_bar_and_the_predictions_labelled(stack):
    widgets = body(stack, endpoint=monitored(quality=("auc", 0.75)), state_machine_arn=None)["widgets"]
    (q,) = [w for w in widgets if w["properties"].get("title", "").startswith("Model quality")]
    metrics = q["properties"]["metrics"]
    assert [(m[1], m[-1].get("stat"), m[-1].get("yAxis", "left")) for m in metrics] == [
        ("model_quality_auc", "Minimum", "left"),
        ("model_quality_matched", "Sum", "right"),
        ("model_quality_unmatched", "Sum", "right"),
        ("model_quality_late", "Sum", "right"),
    ]
    assert all(m[2:6] == ["Endpoint", "mlops-dev-churn", "MonitoringSchedule", "mlops-dev-churn-dq"] for m in metrics)
    assert [a["value"] for a in q["properties"]["annotations"]["horizontal"]] == [0.75]
    # without quality, no such row: test_monitored_endpoint_and_pipeline_show_everything lists every metric shown


def test_serverless_endpoint_without_monitor_shows_traffic_and_latency_only(stack):
    endpoint = monitored(instance_backed=False, schedule_name=None, failure_rule_name=None, drift_alarms=[], alarm_names=[])
    widgets = body(stack, endpoint=endpoint, state_machine_arn=None)["widgets"]
    assert {ns for ns, _ in metrics_of(widgets)} == {"AWS/SageMaker"}
    assert not any(w["type"] == "alarm" for w in widgets)


def test_a_project_with_nothing_to_show_says_so(stack):
    (widget,) = body(stack, endpoint=None, state_machine_arn=None)["widgets"]
    assert widget["type"] == "text" and "neither an endpoint nor a training pipeline" in widget["properties"]["markdown"]
