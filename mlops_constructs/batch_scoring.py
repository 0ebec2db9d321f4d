"""Batch scoring of one approved model package: a SageMaker batch transform, on a schedule and on demand."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from config.layout import RUN_ID_INTRINSIC, RUN_ID_WILDCARD, SCORING_PREFIX
from config.schema import BatchConfig, MonitoringConfig
from mlops_constructs.data_quality_monitor import DriftAlarm, drift_alarms, drift_metric
from mlops_constructs.drift_check import DriftAnalyzer, DriftAnalyzerProps
from mlops_constructs.model_endpoint import registered_model, registered_model_role
from mlops_constructs.nag import acknowledge_wildcards
from mlops_constructs.sagemaker_permissions import (
    VpcPlacement,
    allow_job_logs_and_metrics,
    allow_vpc_networking,
    job_log_groups,
)
from mlops_constructs.service_principals import state_machine_role
from mlops_constructs.training_pipeline import JOB_START_UP, RETRYABLE, TRANSFORM, alert_task

_BATCH = BatchConfig()  # defaults are the config schema's
_MONITORING = MonitoringConfig()
CSV = "text/csv"  # what the serving container takes and answers (mlops_container.contract)
# Where a batch transform's data-quality metrics go (Model Monitor's documented namespace and dimension for batch transform
# jobs: https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-cloudwatch.html); the check publishes them itself.
CHECK_METRICS_NAMESPACE = "/aws/sagemaker/ModelMonitoring/data-metrics"


@dataclass(frozen=True)
class BatchDriftCheck:
    """After each scoring run, its input is checked against the package's data-quality baseline by the project's analyzer
    (``mlops_constructs.drift_check.DriftAnalyzer``: the project image, ``repository``:``image_tag``, in a Lambda function
    or, for an input over ``lambda_max_mb``, a processing job): a batch transform captures nothing to monitor.
    ``baseline_uri`` (the package's DriftCheckBaselines prefix) is in the registry's artifacts bucket, under its key. Per
    configured feature an alarm named ``<alarm_name_prefix><feature>`` (the training pipeline's drift trigger listens to
    such names) when the run's baseline-drift distance reaches its threshold."""

    repository: ecr.IRepository
    image_tag: str
    baseline_uri: str
    drift_alarms: list[DriftAlarm]
    alarm_name_prefix: str
    vpc: VpcPlacement | None  # the project's jobs security group; None: in no VPC (the frugal network)
    instance_type: str = _MONITORING.instance_type
    max_runtime: Duration = Duration.minutes(_MONITORING.max_runtime_minutes)
    alarm_period: Duration = Duration.hours(1)
    role_name: str | None = None  # ``Names.monitor_role``: a registry in another account admits it by name
    runner: str = _MONITORING.runner
    lambda_max_mb: int = _MONITORING.lambda_max_mb
    lambda_memory_mb: int = _MONITORING.lambda_memory_mb
    metric_features: list[str] | None = None  # the features whose metrics are published (None: all)


@dataclass(frozen=True)
class BatchScoringProps:
    """Props of :class:`BatchScoring`: the package, where its image and artifacts are (the registry stage's), what it
    scores (``input_prefix`` of ``data_bucket``) and where the scores go (``scoring/<run>/`` of ``output_bucket``, with
    ``key``), on which instances, when."""

    project_name: str
    state_machine_name: str
    model_package_arn: str
    repository: ecr.IRepository
    artifacts_bucket: s3.IBucket
    artifacts_key: kms.IKey
    data_bucket: s3.IBucket
    output_bucket: s3.IBucket
    key: kms.IKey
    alert_topic: sns.ITopic
    vpc: VpcPlacement | None  # None: the model runs in no VPC (the frugal network)
    instance_type: str
    role_name: str | None = None
    input_prefix: str = _BATCH.input_prefix
    instance_count: int = _BATCH.instance_count
    max_payload_mb: int = _BATCH.max_payload_mb
    max_runtime: Duration = Duration.minutes(_BATCH.max_runtime_minutes)
    schedule: str = _BATCH.schedule
    schedule_enabled: bool = _BATCH.schedule_enabled
    drift_check: BatchDriftCheck | None = None


class BatchScoring(Construct):
    """Scores every CSV object under ``input_prefix`` of the data bucket with the approved package: no endpoint, nothing
    billed between runs.

    Deploys:
    - ``role``: the model's execution role (``registered_model_role``: the image, the registered artifacts), which the
      transform job uses to read ``input_prefix`` of the data bucket and write ``scoring/`` of the output bucket with the
      project key, in the VPC, logging to ``/aws/sagemaker/TransformJobs``.
    - ``model``: a SageMaker model from the package, in the VPC, network-isolated.
    - ``state_machine`` (``state_machine_name``, standard workflow, logged, X-Ray, encrypted with the key): a run names
      its job ``<project>-score-<run id>``, runs ``createTransformJob.sync`` (rows split by line, several per request up to
      ``max_payload_mb``, outputs assembled by line, volumes and outputs encrypted with the key, stopped after
      ``max_runtime``) into ``s3://<output>/scoring/<run id>/`` (one ``<input object>.out`` per input object), and tells
      the alert topic that it scored or why it failed.
    - ``schedule_rule``: starts a run on ``schedule`` (disabled with ``schedule_enabled: false``); start one on demand
      with ``aws stepfunctions start-execution --state-machine-arn <arn>``.
    - with ``drift_check``: after scoring, the project's analyzer (``analyzer``, a ``DriftAnalyzer``: the drift check an
      endpoint's scheduled check runs) checks the input against the baseline, in a Lambda function or, for a large input,
      a processing job, writes its reports to ``scoring/<run id>/monitoring/`` and publishes the per-feature metrics with
      the state machine's name as the ``MonitoringSchedule`` dimension; ``drift_alarms`` watch them. Drift is a verdict,
      not a failure: the run succeeds and the notification says where the reports are; a check that cannot run fails the
      run after the scores are written.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: BatchScoringProps) -> None:
        super().__init__(scope, construct_id)
        self._props = p = props
        self.role = registered_model_role(
            self,
            "ModelRole",
            description=f"Execution role of the batch scoring model of {p.project_name}",
            role_name=p.role_name,
            repository=p.repository,
            artifacts_bucket=p.artifacts_bucket,
            artifacts_key=p.artifacts_key,
        )
        p.data_bucket.grant_read(self.role, f"{p.input_prefix}*")
        p.output_bucket.grant_put(self.role, f"{SCORING_PREFIX}*")
        p.key.grant_encrypt_decrypt(self.role)  # reads the data, writes the scores (both under the project key)
        (log_group,) = job_log_groups(TRANSFORM.log_group)
        allow_job_logs_and_metrics(self.role, log_groups=[log_group], metric_namespaces=["/aws/sagemaker/TransformJobs"], metrics_sid="JobMetrics")
        allow_vpc_networking(self.role, "ModelInTheVpc", p.vpc)
        acknowledge_wildcards(
            self.role,
            reason="Reads the objects under the scoring input prefix of the data bucket and writes the job's outputs under scoring/ of "
            "the artifacts bucket: objects named at run time; the key's ReEncrypt and GenerateDataKey families; the job's log streams.",
            resources=[p.data_bucket.arn_for_objects(f"{p.input_prefix}*"), p.output_bucket.arn_for_objects(f"{SCORING_PREFIX}*"), log_group],
            actions=["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:Abort*", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
        )
        acknowledge_wildcards(
            self.role,
            reason="ecr:GetAuthorizationToken, cloudwatch:PutMetricData (held to the transform jobs' namespace) and the EC2 "
            "network-interface actions SageMaker needs to run the job in the VPC support no resource-level permissions.",
            resources=["*"],
        )
        self.model = registered_model(self, "Model", role=self.role, model_package_arn=p.model_package_arn, vpc=p.vpc)

        run = sfn.Pass(
            self,
            "PrepareRun",
            parameters={"runId.$": RUN_ID_INTRINSIC},
            result_path="$.run",
        )
        names = sfn.Pass(
            self,
            "NameJob",
            parameters={
                "job.$": f"States.Format('{p.project_name}-score-{{}}', $.run.runId)",
                "output.$": f"States.Format('s3://{p.output_bucket.bucket_name}/{SCORING_PREFIX}{{}}', $.run.runId)",
                **(
                    {
                        "reports.$": f"States.Format('s3://{p.output_bucket.bucket_name}/{SCORING_PREFIX}{{}}/monitoring', $.run.runId)",
                    }
                    if p.drift_check is not None
                    else {}
                ),
            },
            result_path="$.names",
        )
        failed = sfn.Fail(self, "ScoringFailed", error="ScoringFailed", cause="The batch transform failed; the alert topic has the cause")
        notify_failure = self._notify(
            "NotifyFailure",
            f"{p.project_name}: batch scoring failed",
            {
                "project": p.project_name,
                "result": "batch scoring failed",
                "error": sfn.JsonPath.string_at("$.error.Error"),
                "cause": sfn.JsonPath.string_at("$.error.Cause"),
                "execution": sfn.JsonPath.execution_id,
            },
        ).next(failed)
        self.timeout = p.max_runtime.plus(JOB_START_UP)
        score = sfn.CustomState(
            self,
            "Score",
            state_json={
                "Type": "Task",
                "Resource": TRANSFORM.resource,
                "Parameters": {
                    "TransformJobName.$": "$.names.job",
                    "ModelName": self.model.attr_model_name,
                    "BatchStrategy": "MultiRecord",
                    "MaxPayloadInMB": p.max_payload_mb,
                    "TransformInput": {
                        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{p.data_bucket.bucket_name}/{p.input_prefix}"}},
                        "ContentType": CSV,
                        "SplitType": "Line",
                    },
                    "TransformOutput": {"S3OutputPath.$": "$.names.output", "Accept": CSV, "AssembleWith": "Line", "KmsKeyId": p.key.key_arn},
                    "TransformResources": {"InstanceType": p.instance_type, "InstanceCount": p.instance_count, "VolumeKmsKeyId": p.key.key_arn},
                    "Tags": [{"Key": "project", "Value": p.project_name}],
                },
                "ResultSelector": {"arn.$": "$.TransformJobArn"},
                "ResultPath": "$.job",
                "TimeoutSeconds": int(self.timeout.to_seconds()),
            },
        )
        score.add_retry(errors=RETRYABLE, interval=Duration.seconds(30), max_attempts=4, backoff_rate=2, jitter_strategy=sfn.JitterType.FULL)
        score.add_catch(notify_failure, errors=["States.ALL"], result_path="$.error")
        scored = self._notify(
            "NotifyScored",
            f"{p.project_name}: batch scoring done",
            {
                "project": p.project_name,
                "result": "scored",
                "output": sfn.JsonPath.string_at("$.names.output"),
                "transformJob": sfn.JsonPath.string_at("$.job.arn"),
                **({"driftReports": sfn.JsonPath.string_at("$.names.reports")} if p.drift_check is not None else {}),
                "execution": sfn.JsonPath.execution_id,
            },
        )
        scored.add_catch(notify_failure, errors=["States.ALL"], result_path="$.error")
        scored.next(sfn.Succeed(self, "Scored"))
        self.analyzer: DriftAnalyzer | None = None
        self.drift_alarms: dict[str, cloudwatch.Alarm] = {}
        after_scoring: sfn.IChainable = scored
        if p.drift_check is not None:
            first, last = self._drift_check(p.drift_check, notify_failure)
            last.next(scored)
            after_scoring = first

        self.log_group = logs.LogGroup(
            self, "LogGroup", retention=logs.RetentionDays.ONE_YEAR, removal_policy=RemovalPolicy.RETAIN, encryption_key=p.key
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(run.next(names).next(score).next(after_scoring)),
            state_machine_name=p.state_machine_name,
            role=state_machine_role(self, "StateMachineRole", state_machine_name=p.state_machine_name, description="Runs batch scoring's steps"),
            state_machine_type=sfn.StateMachineType.STANDARD,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            timeout=self.timeout.plus(Duration.minutes(10)).plus(
                p.drift_check.max_runtime.plus(JOB_START_UP) if p.drift_check is not None else Duration.seconds(0)
            ),
            comment=f"Batch scoring of ML project {p.project_name}",
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(p.key, Duration.minutes(5)),
        )
        self._grant_state_machine()
        self.schedule_rule = events.Rule(
            self,
            "ScheduleRule",
            description=f"Batch scoring of {p.project_name}",
            schedule=events.Schedule.expression(p.schedule),
            enabled=p.schedule_enabled,
            targets=[targets.SfnStateMachine(self.state_machine, input=events.RuleTargetInput.from_object({"trigger": "schedule"}))],
        )
        self.output_uri = f"s3://{p.output_bucket.bucket_name}/{SCORING_PREFIX}"
        if p.drift_check is not None:
            self._alarms(p.drift_check)

    def _drift_check(self, c: BatchDriftCheck, on_failure: sfn.IChainable) -> tuple[sfn.IChainable, sfn.INextable]:
        """The check of the run's input (plain CSV rows against the baseline) by the project's analyzer, the one an
        endpoint's scheduled check runs: its planner lists the input into a manifest and picks the runner by size."""
        p = self._props
        self.analyzer = DriftAnalyzer(
            self,
            "Check",
            props=DriftAnalyzerProps(
                name=p.state_machine_name,  # the metrics' MonitoringSchedule dimension, as the alarms read it
                role_name=c.role_name,
                repository=c.repository,
                image_tag=c.image_tag,
                baseline_uri=c.baseline_uri,
                baseline_bucket=p.artifacts_bucket,
                baseline_key=p.artifacts_key,
                reads=[(p.data_bucket, p.input_prefix)],
                work_bucket=p.output_bucket,
                work_prefix=SCORING_PREFIX,
                key=p.key,
                metrics_namespace=CHECK_METRICS_NAMESPACE,
                vpc=c.vpc,
                instance_type=c.instance_type,
                max_runtime=c.max_runtime,
                runner=c.runner,
                lambda_max_mb=c.lambda_max_mb,
                lambda_memory_mb=c.lambda_memory_mb,
                metric_features=c.metric_features,
            ),
        )
        plan = self.analyzer.plan_task(
            self,
            "PlanCheck",
            {"action": "input", "bucket": p.data_bucket.bucket_name, "prefix": p.input_prefix, "name.$": "$.run.runId"},
            "$.plan",
        )
        plan.add_catch(on_failure, errors=["States.ALL"], result_path="$.error")
        request = sfn.Pass(
            self,
            "CheckRequest",
            parameters={"format": "csv", "manifest.$": "$.plan.value.manifest", "output.$": "$.names.reports"},
            result_path="$.request",
        )
        analyze, analyzed = self.analyzer.analyze(
            self, "CheckDrift", request_path="$.request", runner_path="$.plan.value.runner", result_path="$.check"
        )
        self.analyzer.catch(on_failure)
        plan.next(request).next(analyze)
        return plan, analyzed

    def drift_metric(self, feature: str) -> cloudwatch.Metric:
        """The baseline-drift distance of ``feature`` in a scoring run's check, highest per alarm period."""
        c = self._props.drift_check
        assert c is not None
        return drift_metric(CHECK_METRICS_NAMESPACE, {"MonitoringSchedule": self._props.state_machine_name}, feature, c.alarm_period)

    def _alarms(self, c: BatchDriftCheck) -> None:
        self.drift_alarms = drift_alarms(
            self,
            c.drift_alarms,
            name_prefix=c.alarm_name_prefix,
            what=f"{self._props.project_name} batch scoring",
            where="a run's input",
            reports=f"{self.output_uri}<run>/monitoring/",
            metric_of=self.drift_metric,
            topic=self._props.alert_topic,
        )

    def _notify(self, state_id: str, subject: str, message: dict) -> tasks.SnsPublish:
        return alert_task(self, state_id, self._props.alert_topic, subject, message)

    def _grant_state_machine(self) -> None:
        """Run this project's transform jobs (and what ``.sync`` does with them), publish to the encrypted topic."""
        role = self.state_machine.role
        arn = f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}"
        jobs = f"{arn}:{TRANSFORM.arn_type}/{self._props.project_name}-score-{RUN_ID_WILDCARD}"  # not another project's <project>-x-...
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RunThisProjectsTransformJobs", actions=[*TRANSFORM.actions, "sagemaker:AddTags", "sagemaker:ListTags"], resources=[jobs]
            )
        )
        kinds = [TRANSFORM]
        if self.analyzer is not None:
            self.analyzer.grant_run(role)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="SyncIntegrationRule",
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:rule/{k.sync_rule}" for k in kinds],
            )
        )
        self._props.key.grant(role, "kms:Decrypt", "kms:GenerateDataKey*")  # publish to the encrypted topic
        acknowledge_wildcards(
            role,
            reason="Transform jobs are named <project>-score-<run id>, made per execution: the statement covers this project's jobs "
            "only; publishing to the topic encrypted with the project key needs its GenerateDataKey family.",
            resources=[jobs],
            actions=["kms:GenerateDataKey*"],
        )
        acknowledge_wildcards(
            role,
            reason="Step Functions' own policy for X-Ray tracing and CloudWatch Logs delivery: these actions support no resource-level permissions.",
            resources=["*"],
        )
