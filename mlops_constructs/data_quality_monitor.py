"""Model Monitor data-quality monitoring of one endpoint: job definition, schedule, drift and failure alarms."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from aws_cdk import Annotations, Duration, Fn, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from config.layout import BASELINE_URI_RUN_ID_INDEX, CONSTRAINTS, PIPELINE_PREFIX, STATISTICS
from config.schema import MonitoringConfig
from mlops_constructs.container_contract import contract
from mlops_constructs.nag import acknowledge_wildcards
from mlops_constructs.sagemaker_permissions import (
    AwsImage,
    VpcPlacement,
    allow_image_pull,
    allow_job_logs_and_metrics,
    allow_vpc_networking,
    job_log_groups,
)
from mlops_constructs.studio_domain import sagemaker_role

DATA_METRICS_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"  # where Model Monitor's analyzer publishes per feature


def drift_metric_name(feature: str) -> str:
    """The analyzer's per-feature distance to the baseline distribution (emitted when the baseline constraints ask)."""
    return f"feature_baseline_drift_{feature}"


def drift_metric(namespace: str, dimensions: dict[str, str], feature: str, period: Duration) -> cloudwatch.Metric:
    """The baseline-drift distance of ``feature`` that a drift check published, highest per ``period``."""
    return cloudwatch.Metric(
        namespace=namespace, metric_name=drift_metric_name(feature), dimensions_map=dimensions, statistic="Maximum", period=period
    )


def drift_alarm(
    scope: Construct, alarm: DriftAlarm, *, name: str, description: str, metric: cloudwatch.Metric, topic: sns.ITopic
) -> cloudwatch.Alarm:
    """An alarm ``name`` when ``metric`` (a feature's drift distance) reaches ``alarm.threshold`` in a period; a period
    without a check is not drift. It notifies ``topic``; its name may start the training pipeline (its drift trigger)."""
    created = cloudwatch.Alarm(
        scope,
        f"Drift-{alarm.feature}",
        alarm_name=name,
        alarm_description=description,
        metric=metric,
        threshold=alarm.threshold,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluation_periods=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    created.add_alarm_action(actions.SnsAction(topic))
    return created


def drift_alarms(
    scope: Construct, alarms: list[DriftAlarm], *, name_prefix: str, what: str, where: str, reports: str, metric_of, topic: sns.ITopic
) -> dict[str, cloudwatch.Alarm]:
    """One ``drift_alarm`` per watched feature, named ``<name_prefix><feature>`` (the training pipeline's drift trigger
    listens to such names), on ``metric_of(feature)``: the same alarms for an endpoint's check, its Model Monitor schedule
    and batch scoring's check. ``what`` is whose data drifted, ``where`` the data, ``reports`` where the reports are."""
    return {
        a.feature: drift_alarm(
            scope,
            a,
            name=f"{name_prefix}{a.feature}",
            description=(
                f"{what}: the distribution of feature '{a.feature}' in {where} drifted from the training data (baseline distance "
                f">= {a.threshold}); reports in {reports}"
            ),
            metric=metric_of(a.feature),
            topic=topic,
        )
        for a in alarms
    }


def grant_analyzer_job(
    role: iam.IRole, *, image: AwsImage, image_sid: str, metric_namespaces: list[str], vpc: VpcPlacement | None, vpc_sid: str
) -> None:
    """What every drift-analysis job's role needs besides its data (an endpoint's monitor, a batch scoring run's check): pull
    the analyzer ``image``, write the processing jobs' logs, publish to ``metric_namespaces`` only, log in to ECR, run in
    ``vpc``; with the acknowledgments of the wildcards these take."""
    allow_image_pull(role, sid=image_sid, image=image)
    (logs,) = job_log_groups("ProcessingJobs")
    allow_job_logs_and_metrics(role, log_groups=[logs], metric_namespaces=metric_namespaces, metrics_sid="DriftMetrics")
    role.add_to_principal_policy(iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]))
    allow_vpc_networking(role, vpc_sid, vpc)
    acknowledge_wildcards(role, reason="SageMaker names each analysis job's log stream at run time in this log group.", resources=[logs])
    acknowledge_wildcards(
        role,
        reason="cloudwatch:PutMetricData (limited to the analyzer's data-metrics namespaces), ecr:GetAuthorizationToken and the EC2 "
        "network-interface actions SageMaker needs to run jobs in the VPC support no resource-level permissions.",
        resources=["*"],
    )


def _camel(value):
    """A mapping of snake_case keys as jsii takes a struct: camelCase keys (``s3_uri`` -> ``s3Uri``), all the way down."""
    if isinstance(value, dict):
        return {"".join([k.split("_")[0], *(w.capitalize() for w in k.split("_")[1:])]): _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


@dataclass(frozen=True)
class Analyzer:
    """What analyzes the captured data: Model Monitor's own analyzer, or the project's image under Model Monitor's
    bring-your-own-container contract (``entrypoint`` set). Both read the same baseline files, write the same
    reports and per-feature metrics; they publish them in different namespaces."""

    image: AwsImage
    entrypoint: list[str] | None = None

    @classmethod
    def model_monitor(cls, region: str) -> Analyzer:
        return cls(AwsImage.model_monitor_analyzer(region))

    @classmethod
    def project(cls, image: AwsImage) -> Analyzer:
        """The project's image running ``monitor`` (``mlops_container.monitor``)."""
        return cls(image, contract.ENTRYPOINTS["monitor"])

    @classmethod
    def configured(cls, monitoring: MonitoringConfig, region: str, project_image: AwsImage) -> Analyzer:
        """The analyzer ``monitoring.analyzer`` names."""
        return cls.project(project_image) if monitoring.analyzer == "project" else cls.model_monitor(region)

    @property
    def is_project(self) -> bool:
        return self.entrypoint is not None

    @property
    def metrics_namespace(self) -> str:
        return contract.BYOC_METRICS_NAMESPACE if self.is_project else DATA_METRICS_NAMESPACE

    @property
    def metric_namespace_patterns(self) -> list[str]:
        """What the jobs' role may publish to (the documentation writes Model Monitor's namespace with and without
        the leading slash)."""
        if self.is_project:
            return ["/aws/sagemaker/Endpoint/*"]
        return ["aws/sagemaker/Endpoints/*", "/aws/sagemaker/Endpoints/*"]


@dataclass(frozen=True)
class DriftAlarm:
    """An alarm when the drift distance of ``feature`` reaches ``threshold`` in a monitoring run."""

    feature: str
    threshold: float


@dataclass(frozen=True)
class DataQualityMonitorProps:
    """What the monitor watches, with what, and whom it tells.

    ``baseline_uri``: the S3 prefix holding the baseline's ``statistics.json`` and
    ``constraints.json``, as the training pipeline writes it (``s3://<artifacts>/pipeline/<run id>/baseline``;
    a token such as a stack parameter is fine). ``baseline_bucket``/``baseline_key``: where it is,
    and the key it is encrypted with. ``alarm_name_prefix``: every drift alarm's name starts so (the
    training pipeline's drift trigger listens to such a prefix). ``failure_name``: the name of the
    failed-run rule and of its alarm. One instance with a 20 GB encrypted volume, runs limited to the
    config schema's default (``MonitoringConfig.max_runtime_minutes``), alarm period of one hour.
    """

    endpoint_name: str
    schedule_name: str
    analyzer: Analyzer
    capture_bucket: s3.IBucket
    baseline_uri: str
    baseline_bucket: s3.IBucket
    baseline_key: kms.IKey
    key: kms.IKey
    alert_topic: sns.ITopic
    vpc: VpcPlacement
    instance_type: str
    schedule_expression: str
    drift_alarms: list[DriftAlarm]
    alarm_name_prefix: str
    failure_name: str
    max_runtime: Duration = Duration.minutes(MonitoringConfig().max_runtime_minutes)
    instance_count: int = MonitoringConfig().instance_count
    alarm_period: Duration = Duration.hours(1)
    volume_size_gb: int = 20
    role_name: str | None = None  # the jobs' role's name (``Names.monitor_role``: a registry in another account admits it by name)


class DataQualityMonitor(Construct):
    """Compares what the endpoint receives with the training data, on a schedule, and raises alarms.

    Deploys:
    - ``role``: the monitoring jobs' execution role: reads the endpoint's captured data
      (``s3://<capture>/<endpoint>/``) and the baseline, writes reports under
      ``s3://<capture>/monitoring/<endpoint>/``, uses the project key (and the baseline's key),
      pulls the analyzer image, writes its logs and the analyzer's metrics namespace, and runs in the VPC.
    - with Model Monitor's analyzer, ``job_definition``: a ``DataQualityJobDefinition`` with the analyzer
      image, the baseline's statistics and constraints, reports and volume encrypted with the key,
      inter-container traffic encryption, in the private subnets. Its name carries the baseline's run id
      and a hash of its settings, because every change replaces it. With the project's analyzer the same
      job is defined inline in the schedule (the bring-your-own-container form), with the ``monitor``
      entrypoint; ``job_definition`` is None.
    - ``schedule``: a ``MonitoringSchedule`` ``schedule_name`` on the endpoint, on
      ``schedule_expression``; the analyzer publishes CloudWatch metrics per feature
      (``analyzer.metrics_namespace``).
    - ``drift_alarms``: per configured feature, an alarm named ``<alarm_name_prefix><feature>``
      when ``feature_baseline_drift_<feature>`` reaches its threshold in a period (no traffic is not
      drift); it notifies the alert topic (and, through its name, may start the training pipeline).
    - ``failure_rule``: a monitoring run of this schedule that fails or stops sends its reason to the
      alert topic; ``failure_alarm`` (no action of its own: the rule has already notified) is in
      ALARM for the period in which that happened, for the dashboard.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: DataQualityMonitorProps) -> None:
        super().__init__(scope, construct_id)
        p = props
        self._props = p
        reports_prefix = f"monitoring/{p.endpoint_name}"
        self.reports_uri = f"s3://{p.capture_bucket.bucket_name}/{reports_prefix}"
        self.role = self._role(reports_prefix)

        self.job_definition: sagemaker.CfnDataQualityJobDefinition | None = None
        if p.analyzer.is_project:
            self.schedule = self._own_container_schedule()
        else:
            self.schedule = self._model_monitor_schedule()

        self.drift_alarms = drift_alarms(
            self,
            p.drift_alarms,
            name_prefix=p.alarm_name_prefix,
            what=p.endpoint_name,
            where="the captured traffic",
            reports=f"{self.reports_uri}/",
            metric_of=self.drift_metric,
            topic=p.alert_topic,
        )

        self.failure_rule = events.Rule(
            self,
            "FailedRunRule",
            rule_name=p.failure_name,
            description=f"A monitoring run of schedule {p.schedule_name} failed or was stopped",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Processing Job State Change"],
                detail={"ProcessingJobStatus": ["Failed", "Stopped"], "MonitoringScheduleArn": [self.schedule.attr_monitoring_schedule_arn]},
            ),
        )
        self.failure_rule.add_target(
            targets.SnsTopic(
                p.alert_topic,
                message=events.RuleTargetInput.from_text(
                    f"Model Monitor run {events.EventField.from_path('$.detail.ProcessingJobName')} of schedule {p.schedule_name} "
                    f"(endpoint {p.endpoint_name}) ended {events.EventField.from_path('$.detail.ProcessingJobStatus')}: "
                    f"{events.EventField.from_path('$.detail.FailureReason')}"
                ),
            )
        )
        Annotations.of(self.failure_rule).acknowledge_warning(
            "@aws-cdk/aws-events:ruleUnresolvedEnvironment",
            "The alert topic is the project's, in this stack's account and region; its ARN comes from an SSM parameter.",
        )
        self.failure_alarm = cloudwatch.Alarm(
            self,
            "FailedRunAlarm",
            alarm_name=p.failure_name,
            alarm_description=f"A monitoring run of {p.schedule_name} failed or was stopped (the alert topic has the reason)",
            metric=cloudwatch.Metric(
                namespace="AWS/Events",
                metric_name="TriggeredRules",
                dimensions_map={"RuleName": self.failure_rule.rule_name},
                statistic="Sum",
                period=p.alarm_period,
            ),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def _job(self) -> dict:
        """The monitoring job both forms run, as plain structures CloudFormation's two property families (the job
        definition's and the schedule's inline one) both take: what it reads, where it writes, on what, in which
        network, for how long. The one home of these settings (jsii takes nested structs as camelCase mappings)."""
        p = self._props
        return _camel(
            {
                "baseline": {
                    "constraints_resource": {"s3_uri": f"{p.baseline_uri}/{CONSTRAINTS}"},
                    "statistics_resource": {"s3_uri": f"{p.baseline_uri}/{STATISTICS}"},
                },
                "input": {
                    "endpoint_input": {
                        "endpoint_name": p.endpoint_name,
                        "local_path": contract.MONITOR_CAPTURE_INPUT,
                        "s3_input_mode": "File",
                        "s3_data_distribution_type": "FullyReplicated",
                    }
                },
                "output": {
                    "kms_key_id": p.key.key_arn,
                    "monitoring_outputs": [
                        {"s3_output": {"local_path": contract.MONITOR_OUTPUT, "s3_uri": self.reports_uri, "s3_upload_mode": "EndOfJob"}}
                    ],
                },
                "resources": {
                    "cluster_config": {
                        "instance_count": p.instance_count,
                        "instance_type": p.instance_type,
                        "volume_size_in_gb": p.volume_size_gb,
                        "volume_kms_key_id": p.key.key_arn,
                    }
                },
                "network": {
                    "enable_inter_container_traffic_encryption": True,
                    "vpc_config": {"security_group_ids": [p.vpc.security_group_id], "subnets": p.vpc.subnet_ids},
                },
                "role_arn": self.role.role_arn,
                "stopping_condition": {"max_runtime_in_seconds": int(p.max_runtime.to_seconds())},
            }
        )

    def _schedule(self, job: dict) -> sagemaker.CfnMonitoringSchedule:
        """The schedule ``schedule_name`` on the endpoint, running ``job`` (a definition's name, or one inline)."""
        p = self._props
        return sagemaker.CfnMonitoringSchedule(
            self,
            "Schedule",
            monitoring_schedule_name=p.schedule_name,
            endpoint_name=p.endpoint_name,
            monitoring_schedule_config={**job, "scheduleConfig": {"scheduleExpression": p.schedule_expression}},
        )

    def _model_monitor_schedule(self) -> sagemaker.CfnMonitoringSchedule:
        """Model Monitor's analyzer: a ``DataQualityJobDefinition`` and a schedule naming it."""
        p = self._props
        job = self._job()
        definition = {
            "data_quality_app_specification": {
                "imageUri": p.analyzer.image.uri,
                "environment": {"publish_cloudwatch_metrics": "Enabled"},  # what the drift alarms watch
            },
            "data_quality_baseline_config": job["baseline"],
            "data_quality_job_input": job["input"],
            "data_quality_job_output_config": job["output"],
            "job_resources": job["resources"],
            "network_config": job["network"],
            "role_arn": job["roleArn"],
            "stopping_condition": job["stoppingCondition"],
        }
        self.job_definition = sagemaker.CfnDataQualityJobDefinition(
            self, "JobDefinition", job_definition_name=self._job_definition_name(definition), **definition
        )
        self.job_definition.node.add_dependency(self.role)
        schedule = self._schedule({"monitoringJobDefinitionName": self.job_definition.job_definition_name, "monitoringType": "DataQuality"})
        schedule.node.add_dependency(self.job_definition)  # it names the definition, which CloudFormation cannot see
        return schedule

    def _own_container_schedule(self) -> sagemaker.CfnMonitoringSchedule:
        """The project's image under Model Monitor's bring-your-own-container contract: a schedule with its job
        defined inline (``CreateMonitoringSchedule``'s ``MonitoringJobDefinition``, updated in place). SageMaker
        gives the container the capture, the baseline files and its settings as the contract documents:
        https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-contract-inputs.html."""
        p = self._props
        job = self._job()
        schedule = self._schedule(
            {
                "monitoringJobDefinition": {
                    "monitoringAppSpecification": {"imageUri": p.analyzer.image.uri, "containerEntrypoint": p.analyzer.entrypoint},
                    "baselineConfig": job["baseline"],
                    "monitoringInputs": [job["input"]],
                    "monitoringOutputConfig": job["output"],
                    "monitoringResources": job["resources"],
                    "networkConfig": job["network"],
                    "roleArn": job["roleArn"],
                    "stoppingCondition": job["stoppingCondition"],
                }
            }
        )
        schedule.node.add_dependency(self.role)  # its policy too: the first run must be able to read the capture
        return schedule

    @property
    def alarm_names(self) -> list[str]:
        """The drift alarms' names, then the failed-run alarm's (plain strings: usable in another stack)."""
        return [f"{self._props.alarm_name_prefix}{a.feature}" for a in self._props.drift_alarms] + [self._props.failure_name]

    def drift_metric(self, feature: str) -> cloudwatch.Metric:
        """The baseline-drift distance of ``feature``, highest per ``alarm_period``."""
        p = self._props
        return drift_metric(
            p.analyzer.metrics_namespace, {"Endpoint": p.endpoint_name, "MonitoringSchedule": p.schedule_name}, feature, p.alarm_period
        )

    def _job_definition_name(self, definition: dict) -> str:
        """``<endpoint>-dq-<settings hash>-<baseline run id>`` (at most 63 characters).

        A job definition cannot be updated, only replaced, and CloudFormation replaces a named
        resource only under a new name: the hash changes with the settings, the run id with the
        baseline (also when it arrives as a stack parameter, which a synth-time hash cannot see).
        """
        resolved = Stack.of(self).resolve({k: v for k, v in definition.items()})
        digest = hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest()[:8]
        run_id = Fn.select(BASELINE_URI_RUN_ID_INDEX, Fn.split("/", self._props.baseline_uri))
        return f"{self._props.endpoint_name[:36]}-dq-{digest}-{run_id}"

    def _role(self, reports_prefix: str) -> iam.Role:
        p = self._props
        role = sagemaker_role(self, "Role", f"Model Monitor jobs of endpoint {p.endpoint_name}", p.role_name)
        p.capture_bucket.grant_read(role, f"{p.endpoint_name}/*")
        p.capture_bucket.grant_put(role, f"{reports_prefix}/*")  # reports only; nothing here may be deleted
        p.baseline_bucket.grant_read(role, f"{PIPELINE_PREFIX}*")
        p.baseline_key.grant_decrypt(role)
        p.key.grant_encrypt_decrypt(role)
        grant_analyzer_job(
            role,
            image=p.analyzer.image,
            image_sid="PullProjectImage" if p.analyzer.is_project else "PullModelMonitorAnalyzer",
            metric_namespaces=p.analyzer.metric_namespace_patterns,
            vpc=p.vpc,
            vpc_sid="JobsInTheVpc",
        )
        acknowledge_wildcards(
            role,
            reason="Reads the endpoint's captured data and the registered baselines (pipeline/<run>/baseline/), and writes "
            "reports under monitoring/<endpoint>/: objects SageMaker names at run time.",
            resources=[
                p.capture_bucket.arn_for_objects(f"{p.endpoint_name}/*"),
                p.capture_bucket.arn_for_objects(f"{reports_prefix}/*"),
                p.baseline_bucket.arn_for_objects(f"{PIPELINE_PREFIX}*"),
            ],
            actions=["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:Abort*", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
        )
        return role
