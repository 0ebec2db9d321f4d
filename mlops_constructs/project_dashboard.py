"""One CloudWatch dashboard per project: endpoint health, drift, training pipeline and monitoring runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from mlops_constructs.container_contract import contract
from mlops_constructs.data_quality_monitor import DATA_METRICS_NAMESPACE, DriftAlarm, drift_metric_name


@dataclass(frozen=True)
class MonitoredEndpoint:
    """What the dashboard shows of the project's endpoint; names only, so it may live in another stack.

    ``schedule_name``/``failure_rule_name``/``alarm_names``: the data-quality monitor's, when the
    endpoint has one (``check_state_machine`` instead of ``failure_rule_name`` for the platform's own check) (``drift_alarms`` then lists the watched features and thresholds);
    ``metrics_namespace``: where its analyzer publishes the per-feature metrics.
    """

    endpoint_name: str
    variant_name: str
    instance_backed: bool
    schedule_name: str | None = None
    failure_rule_name: str | None = None
    check_state_machine: str | None = None  # the platform's own check (``DriftCheck``): its failed runs, in place of the rule's
    drift_alarms: list[DriftAlarm] = field(default_factory=list)
    alarm_names: list[str] = field(default_factory=list)
    drift_period: Duration = Duration.hours(1)
    metrics_namespace: str = DATA_METRICS_NAMESPACE
    quality: tuple[str, float] | None = None  # model quality: the project's metric (auc...) and its alarm's bar


@dataclass(frozen=True)
class MonitoredBatch:
    """What the dashboard shows of batch scoring's drift check: the scoring state machine (its name is the metrics'
    ``MonitoringSchedule`` dimension), the watched features and the alarms' names (names only: another stack's)."""

    state_machine_name: str
    metrics_namespace: str
    drift_alarms: list[DriftAlarm] = field(default_factory=list)
    alarm_names: list[str] = field(default_factory=list)
    drift_period: Duration = Duration.hours(1)


@dataclass(frozen=True)
class ProjectDashboardProps:
    """Props of :class:`ProjectDashboard`. ``batch``: batch scoring's drift check, where the project scores in batch."""

    dashboard_name: str
    endpoint: MonitoredEndpoint | None
    state_machine_arn: str | None
    batch: MonitoredBatch | None = None


class ProjectDashboard(Construct):
    """A CloudWatch dashboard ``dashboard_name`` for one project.

    Deploys one ``cloudwatch.Dashboard`` (default range: the last 7 days) with, when there is an
    endpoint: invocations and 4xx/5xx errors, model latency p50/p99, and for instance-backed
    endpoints CPU and memory utilization; when it is monitored: the drift distance of every watched
    feature against its alarm threshold, the state of the drift and monitoring-failure alarms, the
    records each monitoring run analyzed and the failed runs; when ``state_machine_arn`` is given:
    training pipeline executions started, succeeded, failed and timed out per day.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: ProjectDashboardProps) -> None:
        super().__init__(scope, construct_id)
        dashboard_name, endpoint, state_machine_arn = props.dashboard_name, props.endpoint, props.state_machine_arn
        rows: list[list[cloudwatch.IWidget]] = []
        if endpoint is not None:
            rows.extend(self._endpoint_rows(endpoint))
            if endpoint.schedule_name is not None:
                rows.extend(self._monitoring_rows(endpoint))
        if props.batch is not None and props.batch.drift_alarms:
            b = props.batch
            rows.extend(
                self._drift_rows(
                    namespace=b.metrics_namespace,
                    dims={"MonitoringSchedule": b.state_machine_name},
                    drift_alarms=b.drift_alarms,
                    alarm_names=b.alarm_names,
                    period=b.drift_period,
                    failures=self._failed_runs(b.state_machine_name, b.drift_period, "failed scoring runs (incl. their checks)"),
                    what="batch scoring's input",
                )
            )
        if state_machine_arn is not None:
            rows.append([self._pipeline_widget(state_machine_arn)])
        if not rows:
            rows.append(
                [
                    cloudwatch.TextWidget(
                        markdown=f"# {dashboard_name}\nThis project has neither an endpoint nor a training pipeline in this stage.",
                        width=24,
                        height=2,
                    )
                ]
            )
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=dashboard_name,
            default_interval=Duration.days(7),
            widgets=rows,
        )

    @staticmethod
    def _endpoint_rows(e: MonitoredEndpoint) -> list[list[cloudwatch.IWidget]]:
        dims = {"EndpointName": e.endpoint_name, "VariantName": e.variant_name}

        def metric(name: str, statistic: str, label: str, namespace: str = "AWS/SageMaker") -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=namespace, metric_name=name, dimensions_map=dims, statistic=statistic, label=label, period=Duration.minutes(5)
            )

        traffic = cloudwatch.GraphWidget(
            title=f"{e.endpoint_name}: invocations and errors (per 5 minutes)",
            left=[metric("Invocations", "Sum", "invocations")],
            right=[metric("Invocation4XXErrors", "Sum", "4xx"), metric("Invocation5XXErrors", "Sum", "5xx")],
            width=12,
        )
        latency = cloudwatch.GraphWidget(
            title=f"{e.endpoint_name}: model latency (microseconds)",
            left=[metric("ModelLatency", "p50", "p50"), metric("ModelLatency", "p99", "p99")],
            width=12,
        )
        rows: list[list[cloudwatch.IWidget]] = [[traffic, latency]]
        if e.instance_backed:
            rows.append(
                [
                    cloudwatch.GraphWidget(
                        title=f"{e.endpoint_name}: CPU and memory utilization (%, all instances)",
                        left=[metric("CPUUtilization", "Average", "CPU", "/aws/sagemaker/Endpoints")],
                        right=[metric("MemoryUtilization", "Average", "memory", "/aws/sagemaker/Endpoints")],
                        width=24,
                    )
                ]
            )
        return rows

    def _monitoring_rows(self, e: MonitoredEndpoint) -> list[list[cloudwatch.IWidget]]:
        if e.check_state_machine:
            failures = self._failed_runs(e.check_state_machine, e.drift_period, "failed runs")
        else:
            failures = cloudwatch.Metric(
                namespace="AWS/Events",
                metric_name="TriggeredRules",
                dimensions_map={"RuleName": e.failure_rule_name},
                statistic="Sum",
                label="failed or stopped runs",
                period=e.drift_period,
            )
        dims = {"Endpoint": e.endpoint_name, "MonitoringSchedule": e.schedule_name}
        rows = self._drift_rows(
            namespace=e.metrics_namespace,
            dims=dims,
            drift_alarms=e.drift_alarms,
            alarm_names=e.alarm_names,
            period=e.drift_period,
            failures=failures,
            what="the captured traffic",
        )
        return rows if e.quality is None else [*rows, [self._quality_widget(e, dims)]]

    @staticmethod
    def _quality_widget(e: MonitoredEndpoint, dims: dict) -> cloudwatch.GraphWidget:
        """The project's metric from labelled traffic against its alarm's bar, and how many predictions were labelled in
        time, were not, or were labelled late (``mlops_container.quality``)."""
        assert e.quality is not None
        name, threshold = e.quality

        def metric(metric_name: str, statistic: str, label: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=e.metrics_namespace, metric_name=metric_name, dimensions_map=dims, statistic=statistic, label=label, period=e.drift_period
            )

        return cloudwatch.GraphWidget(
            title="Model quality from labels: the metric (alarm below the line) and the predictions labelled",
            left=[metric(contract.quality_metric(name), "Minimum", name)],
            left_annotations=[cloudwatch.HorizontalAnnotation(value=threshold, label="quality alarm")],
            right=[metric(contract.quality_metric(count), "Sum", count) for count in contract.QUALITY_PUBLISHED_COUNTS],
            width=24,
        )

    @staticmethod
    def _failed_runs(state_machine_name: str, period: Duration, label: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/States",
            metric_name="ExecutionsFailed",
            dimensions_map={"StateMachineArn": f"arn:{Aws.PARTITION}:states:{Aws.REGION}:{Aws.ACCOUNT_ID}:stateMachine:{state_machine_name}"},
            statistic="Sum",
            label=label,
            period=period,
        )

    def _drift_rows(
        self,
        *,
        namespace: str,
        dims: dict,
        drift_alarms: list[DriftAlarm],
        alarm_names: list[str],
        period: Duration,
        failures: cloudwatch.Metric,
        what: str,
    ) -> list[list[cloudwatch.IWidget]]:
        """The drift distance per watched feature against its threshold, the drift and failure alarms, the records each
        check analyzed and the failed runs: an endpoint's check and batch scoring's show the same rows."""
        drift = cloudwatch.GraphWidget(
            title=f"Data drift of {what}: distance to the training data per feature (alarm at the line)",
            left=[
                cloudwatch.Metric(
                    namespace=namespace,
                    metric_name=drift_metric_name(a.feature),
                    dimensions_map=dims,
                    statistic="Maximum",
                    label=a.feature,
                    period=period,
                )
                for a in drift_alarms
            ],
            left_annotations=[cloudwatch.HorizontalAnnotation(value=a.threshold, label=f"{a.feature} alarm") for a in drift_alarms],
            width=16,
        )
        alarms = cloudwatch.AlarmStatusWidget(
            title="Drift and monitoring alarms",
            alarms=[
                cloudwatch.Alarm.from_alarm_arn(self, f"Alarm{i}", f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:{name}")
                for i, name in enumerate(alarm_names)
            ],
            width=8,
        )
        runs = cloudwatch.GraphWidget(
            title="Monitoring runs: records analyzed, failed runs",
            left=[
                cloudwatch.Metric(
                    namespace=namespace,
                    metric_name=f"feature_data_{drift_alarms[0].feature}",
                    dimensions_map=dims,
                    statistic="SampleCount",
                    label="records analyzed",
                    period=period,
                )
            ]
            if drift_alarms
            else [],
            right=[failures],
            width=24,
        )
        return [[drift, alarms], [runs]]

    @staticmethod
    def _pipeline_widget(state_machine_arn: str) -> cloudwatch.GraphWidget:
        def executions(name: str, label: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/States",
                metric_name=name,
                dimensions_map={"StateMachineArn": state_machine_arn},
                statistic="Sum",
                label=label,
                period=Duration.days(1),
            )

        return cloudwatch.GraphWidget(
            title="Training pipeline executions (per day)",
            left=[
                executions("ExecutionsStarted", "started"),
                executions("ExecutionsSucceeded", "succeeded (model registered)"),
                executions("ExecutionsFailed", "failed (incl. quality gate)"),
                executions("ExecutionsTimedOut", "timed out"),
            ],
            width=24,
        )
