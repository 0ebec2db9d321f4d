"""The platform's own drift check: one analyzer (a Lambda function of the project's image, or a processing job of it for
large inputs) shared by an endpoint's scheduled check and by batch scoring's check of each run's input.

SageMaker Model Monitor is closed to new customers
(https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-availability-change.html), so nothing here is a Model Monitor
resource: a state machine plans the work (``lambda/drift_check_plan``), runs ``mlops_container.check`` (the code of local
mode's drift step and of Model Monitor's bring-your-own-container contract), which writes Model Monitor's report files and
publishes the per-feature metrics the drift alarms read.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Annotations, Aws, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from config.layout import PIPELINE_PREFIX, RUN_ID_INTRINSIC, RUN_ID_WILDCARD
from config.schema import MonitoringConfig
from mlops_constructs.container_contract import contract
from mlops_constructs.data_quality_monitor import DriftAlarm, drift_alarms, drift_metric, grant_analyzer_job
from mlops_constructs.handler_function import HandlerFunction, HandlerFunctionProps
from mlops_constructs.nag import acknowledge_wildcards
from mlops_constructs.sagemaker_permissions import AwsImage, VpcPlacement
from mlops_constructs.service_principals import from_this_account, state_machine_role
from mlops_constructs.training_pipeline import JOB_START_UP, PROCESSING, RETRYABLE, alert_task

_MONITORING = MonitoringConfig()  # defaults are the config schema's


@dataclass(frozen=True)
class QualityCheckProps:
    """The model-quality part of a scheduled check (``mlops_container.quality``): the project's evaluation ``metric`` held
    to ``threshold`` over at least ``min_labels`` labelled rows, labels arriving up to ``label_delay_hours`` after the
    prediction, under ``labels_prefix`` (``ground-truth/<endpoint>/``) of the work bucket, and the alarm's name."""

    metric: str
    threshold: float
    min_labels: int
    label_delay_hours: int
    labels_prefix: str
    alarm_name: str


MB = 1024 * 1024
# A job name ends in a run id made per period (a failed period's retry needs a new job name).
JOB_SUFFIX = RUN_ID_INTRINSIC


@dataclass(frozen=True)
class DriftAnalyzerProps:
    """Props of :class:`DriftAnalyzer`.

    ``name``: the check's name, the metrics' ``MonitoringSchedule`` dimension (what the alarms read) and the prefix of its
    processing jobs' names. ``repository``/``image_tag``: the project's image (``image`` as a job pulls it).
    ``baseline_uri``: the ``s3://`` prefix of the deployed package's ``statistics.json`` and ``constraints.json`` (in
    ``baseline_bucket``, under ``baseline_key``). ``reads``: the (bucket, key prefix) pairs the analysis reads.
    ``work_bucket``/``work_prefix``: where it writes its reports, manifests and state (under ``key``).
    ``metrics_namespace``/``endpoint_name``: where the per-feature metrics go (``endpoint_name`` is their ``Endpoint``
    dimension; None for batch scoring). Periods up to ``lambda_max_mb`` of input run in the function
    (``lambda_memory_mb``, 15 minutes at most), larger ones in a processing job on ``instance_type`` in ``vpc``
    (``runner`` forces one); both stop after ``max_runtime``.
    """

    name: str
    repository: ecr.IRepository
    image_tag: str
    baseline_uri: str
    baseline_bucket: s3.IBucket
    baseline_key: kms.IKey
    reads: list[tuple[s3.IBucket, str]]
    work_bucket: s3.IBucket
    work_prefix: str
    key: kms.IKey
    metrics_namespace: str
    vpc: VpcPlacement | None  # None: the job runs in no VPC (the frugal network)
    endpoint_name: str | None = None
    role_name: str | None = None
    # the features whose metrics are published (each custom metric bills per month): None publishes every feature's
    metric_features: list[str] | None = None
    instance_type: str = _MONITORING.instance_type
    max_runtime: Duration = Duration.minutes(_MONITORING.max_runtime_minutes)
    runner: str = _MONITORING.runner
    lambda_max_mb: int = _MONITORING.lambda_max_mb
    lambda_memory_mb: int = _MONITORING.lambda_memory_mb
    # the scheduled check's periods (batch scoring's check has none)
    capture_prefix: str = ""
    period_hours: int = 1
    anchor_hour: int = 0
    delay_minutes: int = _MONITORING.delay_minutes
    max_periods: int = _MONITORING.max_periods_per_run
    quality: QualityCheckProps | None = None  # the scheduled check's model quality (an endpoint's only)

    @property
    def image(self) -> AwsImage:
        return AwsImage.of_tag(self.repository, self.image_tag)


class DriftAnalyzer(Construct):
    """What runs a drift check, for a state machine to call.

    Deploys:
    - ``role``: the analysis' role, assumed by SageMaker (the processing job) and Lambda (the function): reads ``reads`` and
      the baseline, writes under ``work_prefix`` (nothing deleted), uses the keys, pulls the project image, publishes to
      ``metrics_namespace`` only, runs its jobs in the VPC.
    - ``function``: the project image as a Lambda function (``mlops_container.check.handler``), outside the VPC: it calls
      only S3, KMS and CloudWatch, on AWS's network; its log group kept a year, encrypted with ``key``.
    - ``planner``: ``lambda/drift_check_plan`` (the periods due, one run at a time, the manifests and the runner by size).

    ``plan_task`` and ``analyze`` make the states that call them; ``grant_run`` lets a state machine do so.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: DriftAnalyzerProps, role: iam.Role | None = None) -> None:
        super().__init__(scope, construct_id)
        self.props = p = props
        self.work_uri = f"s3://{p.work_bucket.bucket_name}/{p.work_prefix}"
        self.role = role if role is not None else analysis_role(self, "Role", p)
        self._grant_analysis(self.role)
        self.log_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.ONE_YEAR, removal_policy=RemovalPolicy.RETAIN, encryption_key=p.key)
        self.log_group.grant_write(self.role)
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            description=f"Drift check {p.name}: the project's analyzer (mlops_container.check)",
            code=lambda_.DockerImageCode.from_ecr(
                p.repository, tag_or_digest=p.image_tag, entrypoint=contract.CHECK_LAMBDA_ENTRYPOINT, cmd=[contract.CHECK_LAMBDA_HANDLER]
            ),
            role=self.role,
            memory_size=p.lambda_memory_mb,
            ephemeral_storage_size=_size_mb(max(512, min(10240, 2 * p.lambda_max_mb + 512))),
            timeout=Duration.minutes(min(15, int(p.max_runtime.to_minutes()))),
            log_group=self.log_group,
            environment={**self.environment, "MLOPS_ML_ROOT": "/tmp/ml"},
        )
        self.function.node.add_dependency(self.role)
        state_key = f"{p.work_prefix}state.json"
        self.quality_state_key = f"{p.work_prefix}quality-state.json"
        manifests = f"{p.work_prefix}manifests/"
        quality_env = (
            {
                "QUALITY_STATE_KEY": self.quality_state_key,
                "LABELS_PREFIX": p.quality.labels_prefix,
                "LABEL_DELAY_HOURS": str(p.quality.label_delay_hours),
            }
            if p.quality is not None
            else {}
        )
        self.planner = HandlerFunction(
            self,
            "Planner",
            props=HandlerFunctionProps(
                code="drift_check_plan",
                description=f"Drift check {p.name}: the periods due and their data",
                environment={
                    "BUCKET": p.work_bucket.bucket_name,
                    "CAPTURE_PREFIX": p.capture_prefix,
                    "STATE_KEY": state_key,
                    "MANIFEST_PREFIX": manifests,
                    "PERIOD_HOURS": str(p.period_hours),
                    "ANCHOR_HOUR": str(p.anchor_hour),
                    "DELAY_MINUTES": str(p.delay_minutes),
                    "MAX_PERIODS": str(p.max_periods),
                    "LAMBDA_MAX_BYTES": str(p.lambda_max_mb * MB),
                    "RUNNER": p.runner,
                    **quality_env,
                },
                timeout=Duration.minutes(2),
                log_key=p.key,
            ),
        )
        self.state_key = state_key
        planner = self.planner.role
        for bucket, prefix in self.reads:
            bucket.grant_read(planner, f"{prefix}*")  # lists the data (GetObject too: the grant's smallest form)
        for key in (state_key, *([self.quality_state_key] if p.quality else [])):
            p.work_bucket.grant_read(planner, key)
            p.work_bucket.grant_put(planner, key)  # the very first run records where the checks start
        p.work_bucket.grant_put(planner, f"{manifests}*")
        p.key.grant_encrypt_decrypt(planner)
        planner.add_to_principal_policy(  # one run at a time: the running executions of the check's state machine (named so)
            iam.PolicyStatement(
                sid="RunningChecks",
                actions=["states:ListExecutions"],
                resources=[f"arn:{Aws.PARTITION}:states:{Aws.REGION}:{Aws.ACCOUNT_ID}:stateMachine:{p.name}"],
            )
        )
        acknowledge_wildcards(
            planner,
            reason="Lists the check's input (objects written at run time) and writes one manifest per period or run under its "
            "manifests prefix; the key's ReEncrypt and GenerateDataKey families.",
            resources=[*(b.arn_for_objects(f"{prefix}*") for b, prefix in self.reads), p.work_bucket.arn_for_objects(f"{manifests}*")],
            actions=["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:Abort*", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
        )

    @property
    def reads(self) -> list[tuple[s3.IBucket, str]]:
        """What the planner lists and the analysis reads: ``reads``, and the labels when quality is checked."""
        p = self.props
        return [*p.reads, *([(p.work_bucket, p.quality.labels_prefix)] if p.quality is not None else [])]

    def _grant_analysis(self, role: iam.Role) -> None:
        p = self.props
        for bucket, prefix in self.reads:
            bucket.grant_read(role, f"{prefix}*")
        p.work_bucket.grant_read(role, f"{p.work_prefix}manifests/*")
        p.work_bucket.grant_put(role, f"{p.work_prefix}*")  # reports; nothing here may be deleted
        p.baseline_bucket.grant_read(role, f"{PIPELINE_PREFIX}*")
        p.baseline_key.grant_decrypt(role)
        p.key.grant_encrypt_decrypt(role)
        grant_analyzer_job(
            role, image=p.image, image_sid="PullProjectImage", metric_namespaces=[p.metrics_namespace], vpc=p.vpc, vpc_sid="JobsInTheVpc"
        )
        acknowledge_wildcards(
            role,
            reason="Reads the check's input and the registered baselines (pipeline/<run>/baseline/), and writes reports under its "
            "own prefix: objects named at run time; the key's ReEncrypt and GenerateDataKey families.",
            resources=[
                *(b.arn_for_objects(f"{prefix}*") for b, prefix in self.reads),
                p.work_bucket.arn_for_objects(f"{p.work_prefix}manifests/*"),
                p.work_bucket.arn_for_objects(f"{p.work_prefix}*"),
                p.baseline_bucket.arn_for_objects(f"{PIPELINE_PREFIX}*"),
            ],
            actions=["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:Abort*", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
        )
        acknowledge_wildcards(role, reason="The function writes only to its own log group's streams.", resources=["*"])

    @property
    def environment(self) -> dict[str, str]:
        """What the analysis is checked against and where its metrics go (``mlops_container.check.Environment``): the
        function's environment and the processing job's, the same."""
        p = self.props
        return {
            "BASELINE_URI": p.baseline_uri,
            "METRICS_NAMESPACE": p.metrics_namespace,
            "CHECK_NAME": p.name,
            "CHECK_ENDPOINT": p.endpoint_name or "",
            "KMS_KEY_ARN": p.key.key_arn,
            "METRIC_FEATURES": ",".join(p.metric_features or []),
            **(
                {
                    "QUALITY_METRIC": p.quality.metric,
                    "QUALITY_THRESHOLD": str(p.quality.threshold),
                    "QUALITY_MIN_LABELS": str(p.quality.min_labels),
                    "LABEL_DELAY_HOURS": str(p.quality.label_delay_hours),
                }
                if p.quality is not None
                else {}
            ),
        }

    @property
    def job_prefix(self) -> str:
        """What the check's processing jobs' names start with: its name, cut so that ``-<8 hex>`` fits the API's 63."""
        return self.props.name[: 63 - 9]

    @property
    def job_arn_pattern(self) -> str:
        return f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:{PROCESSING.arn_type}/{self.job_prefix}-{RUN_ID_WILDCARD}"

    def plan_task(self, scope: Construct, state_id: str, payload: dict, result_path: str) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            scope,
            state_id,
            lambda_function=self.planner.function,
            payload=sfn.TaskInput.from_object(payload),
            result_selector={"value.$": "$.Payload"},
            result_path=result_path,
            task_timeout=sfn.Timeout.duration(Duration.minutes(3)),
        )
        return task

    def analyze(self, scope: Construct, state_id: str, *, request_path: str, runner_path: str, result_path: str) -> tuple[sfn.IChainable, sfn.Pass]:
        """States that check the request at ``request_path`` (``mlops_container.check``'s request) in the runner at
        ``runner_path`` (``lambda`` or ``job``), their summary at ``result_path``; in the function only when ``runner`` is
        ``lambda``. Returns the first and the last state."""
        p = self.props
        done = sfn.Pass(scope, f"{state_id}Done")
        in_lambda = tasks.LambdaInvoke(
            scope,
            f"{state_id}InLambda",
            lambda_function=self.function,
            payload=sfn.TaskInput.from_json_path_at(request_path),
            result_selector={"runner": "lambda", "summary.$": "$.Payload"},
            result_path=result_path,
            task_timeout=sfn.Timeout.duration(Duration.minutes(16)),
        )
        if p.runner == "lambda":  # never a job: no job state, so nothing in the VPC publishes metrics (no monitoring endpoint)
            in_lambda.next(done)
            self._states = (in_lambda,)
            return in_lambda, done
        in_job = sfn.CustomState(
            scope,
            f"{state_id}InJob",
            state_json={
                "Type": "Task",
                "Resource": PROCESSING.resource,
                "Parameters": {
                    "ProcessingJobName.$": f"States.Format('{self.job_prefix}-{{}}', {JOB_SUFFIX})",
                    "RoleArn": self.role.role_arn,
                    "AppSpecification": {"ImageUri": p.image.uri, "ContainerEntrypoint": contract.ENTRYPOINTS["check"]},
                    "Environment": {"CHECK_REQUEST.$": f"States.JsonToString({request_path})", **self.environment},
                    "ProcessingInputs": [
                        _s3_input("data", f"{request_path}.manifest", contract.CHECK_INPUT, "ManifestFile"),
                        {"InputName": "baseline", "S3Input": {**_S3_INPUT, "S3Uri": p.baseline_uri, "LocalPath": contract.CHECK_BASELINE}},
                    ],
                    "ProcessingOutputConfig": {
                        "Outputs": [
                            {
                                "OutputName": "reports",
                                "S3Output": {"S3Uri.$": f"{request_path}.output", "LocalPath": contract.CHECK_OUTPUT, "S3UploadMode": "EndOfJob"},
                            }
                        ],
                        "KmsKeyId": p.key.key_arn,
                    },
                    "ProcessingResources": {
                        "ClusterConfig": {"InstanceCount": 1, "InstanceType": p.instance_type, "VolumeSizeInGB": 20, "VolumeKmsKeyId": p.key.key_arn}
                    },
                    "StoppingCondition": {"MaxRuntimeInSeconds": int(p.max_runtime.to_seconds())},
                    "NetworkConfig": {
                        "EnableInterContainerTrafficEncryption": True,
                        **({"VpcConfig": p.vpc.api_config} if p.vpc is not None else {}),
                    },
                    "Tags": [{"Key": "drift-check", "Value": p.name}],
                },
                "ResultSelector": {"runner": "job", "job.$": "$.ProcessingJobArn"},  # ExitMessage is optional: absent unless written
                "ResultPath": result_path,
                "TimeoutSeconds": int(p.max_runtime.plus(JOB_START_UP).to_seconds()),
            },
        )
        in_job.add_retry(errors=RETRYABLE, interval=Duration.seconds(30), max_attempts=4, backoff_rate=2, jitter_strategy=sfn.JitterType.FULL)
        choice = sfn.Choice(scope, f"{state_id}Runner")
        choice.when(sfn.Condition.string_equals(runner_path, "job"), in_job.next(done))
        choice.otherwise(in_lambda.next(done))
        self._states = (in_lambda, in_job)
        return choice, done

    def catch(self, handler: sfn.IChainable) -> None:
        for state in self._states:
            state.add_catch(handler, errors=["States.ALL"], result_path="$.error")

    def grant_run(self, role: iam.IRole) -> None:
        """Let a state machine's ``role`` call the planner and the function, run this check's processing jobs (and what
        ``.sync`` does with them) and hand them the analysis' role; no job rights when the check runs in Lambda only."""
        self.planner.function.grant_invoke(role)
        self.function.grant_invoke(role)
        if self.props.runner == "lambda":
            acknowledge_wildcards(
                role,
                reason="Invokes the check's planner and function (their versions).",
                resources=[f"{self.planner.function.function_arn}:*", f"{self.function.function_arn}:*"],
            )
            return
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RunThisChecksJobs", actions=[*PROCESSING.actions, "sagemaker:AddTags", "sagemaker:ListTags"], resources=[self.job_arn_pattern]
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="SyncIntegrationRuleOfChecks",
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:rule/{PROCESSING.sync_rule}"],
            )
        )
        self.role.grant_pass_role(role)
        acknowledge_wildcards(
            role,
            reason=f"The check's processing jobs are named {self.job_prefix}-<run id>, made per period; the functions' versions.",
            resources=[self.job_arn_pattern, f"{self.planner.function.function_arn}:*", f"{self.function.function_arn}:*"],
        )


def analysis_role(scope: Construct, construct_id: str, props: DriftAnalyzerProps) -> iam.Role:
    """The analysis' role (named ``props.role_name``: another account's registry admits it by name), assumed by SageMaker
    (the processing job) and Lambda (the function); :class:`DriftAnalyzer` grants it what the analysis needs."""
    return iam.Role(
        scope,
        construct_id,
        role_name=props.role_name,
        description=f"Drift check {props.name}: its analysis in Lambda or a processing job",
        assumed_by=iam.CompositePrincipal(from_this_account("sagemaker.amazonaws.com"), from_this_account("lambda.amazonaws.com")),
    )


_S3_INPUT = {"S3DataType": "S3Prefix", "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}


def _s3_input(name: str, uri_path: str, local_path: str, data_type: str) -> dict:
    return {"InputName": name, "S3Input": {**_S3_INPUT, "S3DataType": data_type, "S3Uri.$": uri_path, "LocalPath": local_path}}


def _size_mb(mb: int):
    from aws_cdk import Size

    return Size.mebibytes(mb)


@dataclass(frozen=True)
class DriftCheckProps:
    """Props of :class:`DriftCheck`: the endpoint, its analyzer's props (``analyzer``), when (``schedule``: an
    EventBridge cron, ``delay_minutes`` past each period's end), the alarms and whom they tell."""

    endpoint_name: str
    analyzer: DriftAnalyzerProps
    schedule: str
    alert_topic: sns.ITopic
    drift_alarms: list[DriftAlarm]
    alarm_name_prefix: str
    failure_name: str
    alarm_period: Duration = Duration.hours(1)


class DriftCheck(Construct):
    """An endpoint's scheduled drift check, in place of a Model Monitor schedule.

    Deploys a :class:`DriftAnalyzer` (``analyzer``) and:
    - ``state_machine`` (named ``analyzer.name``, standard, logged, traced, encrypted with the key): plans the run (one at a
      time; the periods due since the last one checked), then for each period in order checks its capture
      (``format: capture``, by ``inferenceTime`` in ``[start, end)``) in the function or a job, writes the reports under
      ``<work prefix><period>/`` and only then records the period as checked. A period that fails stops the run and tells
      the alert topic why; it is due again at the next run. A period without traffic reports ``no data``.
    - ``schedule_rule``: runs it on ``schedule``.
    - ``drift_alarms``: per configured feature, an alarm named ``<alarm_name_prefix><feature>`` on the metric the
      analyzer publishes (the names, metrics and dimensions Model Monitor's schedule had, so a stage that switches keeps
      its alarms and the retrain rule).
    - ``failure_alarm`` (``failure_name``): a run failed in the period (no action: the run told the topic already).
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: DriftCheckProps) -> None:
        super().__init__(scope, construct_id)
        self.props = p = props
        # The role, the drift alarms and the failed-run alarm have the ids a DataQualityMonitor gives them, so that a stage
        # moving from a Model Monitor schedule keeps them with one deploy (a named role or alarm under a new id would be
        # created before the old one is deleted: the role's name would clash, the alarm would then be deleted).
        self.analyzer = DriftAnalyzer(self, "Analyzer", props=p.analyzer, role=analysis_role(self, "Role", p.analyzer))
        a = p.analyzer
        self.reports_uri = self.analyzer.work_uri.rstrip("/")
        failed = sfn.Fail(self, "CheckFailed", error="DriftCheckFailed", cause="A period's check failed; the alert topic has the cause")
        notify_failure = alert_task(
            self,
            "NotifyFailure",
            p.alert_topic,
            f"{p.endpoint_name}: drift check failed",
            {
                "endpoint": p.endpoint_name,
                "result": "drift check failed; the period is checked again at the next run",
                "error": sfn.JsonPath.string_at("$.error.Error"),
                "cause": sfn.JsonPath.string_at("$.error.Cause"),
                "execution": sfn.JsonPath.execution_id,
            },
        ).next(failed)
        plan = self.analyzer.plan_task(
            self,
            "Plan",
            {
                "action": "periods",
                "stateMachine": sfn.JsonPath.state_machine_id,
                "execution": sfn.JsonPath.execution_id,
                "startTime": sfn.JsonPath.string_at("$$.Execution.StartTime"),
            },
            "$.plan",
        )
        plan.add_catch(notify_failure, errors=["States.ALL"], result_path="$.error")
        request = sfn.Pass(
            self,
            "Request",
            parameters={
                "period.$": "$.period",
                "runner.$": "$.period.runner",
                "request": {
                    "format": "capture",
                    "manifest.$": "$.period.manifest",
                    "start.$": "$.period.start",
                    "end.$": "$.period.end",
                    "output.$": f"States.Format('{self.analyzer.work_uri}{{}}', $.period.name)",
                },
                "state": {"checked_until.$": "$.period.end"},
            },
        )
        analyze, analyzed = self.analyzer.analyze(self, "Check", request_path="$.request", runner_path="$.runner", result_path="$.result")
        advance = self._record_state("RecordChecked", self.analyzer.state_key)
        each = self._each("EachPeriod", "$.plan.value.periods")  # the plan stays for what follows (the quality periods)
        analyzed.next(advance)
        each.item_processor(request.next(analyze))
        each.add_catch(notify_failure, errors=["States.ALL"], result_path="$.error")
        checks: sfn.IChainable = each
        if a.quality is not None:
            quality = self._quality_states(notify_failure)
            checks = each.next(quality)
        skip = sfn.Choice(self, "AnotherRunIsChecking")
        skip.when(sfn.Condition.boolean_equals("$.plan.value.skip", True), sfn.Succeed(self, "Skipped"))
        skip.otherwise(checks.next(sfn.Succeed(self, "Checked")))
        self.log_group = logs.LogGroup(
            self, "LogGroup", retention=logs.RetentionDays.ONE_YEAR, removal_policy=RemovalPolicy.RETAIN, encryption_key=a.key
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(plan.next(skip)),
            state_machine_name=a.name,
            role=state_machine_role(self, "StateMachineRole", state_machine_name=a.name, description="Runs the drift check's steps"),
            state_machine_type=sfn.StateMachineType.STANDARD,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            timeout=Duration.hours(24),
            comment=f"Drift check of endpoint {p.endpoint_name}",
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(a.key, Duration.minutes(5)),
        )
        role = self.state_machine.role
        self.analyzer.grant_run(role)
        a.key.grant(role, "kms:Decrypt", "kms:GenerateDataKey*")  # the state object and the encrypted topic
        a.work_bucket.grant_put(role, self.analyzer.state_key)
        if a.quality is not None:
            a.work_bucket.grant_put(role, self.analyzer.quality_state_key)
        acknowledge_wildcards(
            role,
            reason="Writes the check's state object with the project key (its GenerateDataKey family) and publishes to the "
            "encrypted topic; Step Functions' own X-Ray and log delivery actions support no resource-level permissions.",
            resources=["*"],
            actions=["kms:GenerateDataKey*", "s3:Abort*"],
        )
        self.schedule_rule = events.Rule(
            self,
            "ScheduleRule",
            description=f"Drift check of endpoint {p.endpoint_name}, {a.delay_minutes} minutes after each period",
            schedule=events.Schedule.expression(p.schedule),
            targets=[targets.SfnStateMachine(self.state_machine, input=events.RuleTargetInput.from_object({"trigger": "schedule"}))],
        )
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
        self.failure_alarm = cloudwatch.Alarm(
            self,
            "FailedRunAlarm",
            alarm_name=p.failure_name,
            alarm_description=f"A run of drift check {a.name} failed (the alert topic has the reason; its periods are due again)",
            metric=self.state_machine.metric_failed(period=p.alarm_period, statistic="Sum"),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.quality_alarm = self._quality_alarm() if a.quality is not None else None
        Annotations.of(self.schedule_rule).acknowledge_warning(
            "@aws-cdk/aws-events:ruleUnresolvedEnvironment", "The state machine is in this stack's account and region."
        )

    def _record_state(self, state_id: str, key: str) -> tasks.CallAwsService:
        """Write ``$.state`` (the end of the period just checked) to the state object ``key``, after the period's check:
        a failed check leaves it due."""
        a = self.props.analyzer
        task = tasks.CallAwsService(
            self,
            state_id,
            service="s3",
            action="putObject",
            parameters={
                "Bucket": a.work_bucket.bucket_name,
                "Key": key,
                "Body.$": "States.JsonToString($.state)",
                "ContentType": "application/json",
                "ServerSideEncryption": "aws:kms",
                "SSEKMSKeyId": a.key.key_arn,
            },
            iam_resources=[a.work_bucket.arn_for_objects(key)],
            result_path=sfn.JsonPath.DISCARD,
        )
        task.add_retry(errors=["S3.SdkClientException", "S3.S3Exception"], interval=Duration.seconds(5), max_attempts=3, backoff_rate=2)
        return task

    def _each(self, state_id: str, items_path: str) -> sfn.Map:
        """The periods at ``items_path``, one at a time, in order; the state's input passes through unchanged."""
        return sfn.Map(
            self,
            state_id,
            items_path=items_path,
            max_concurrency=1,
            item_selector={"period.$": "$$.Map.Item.Value"},
            result_path=sfn.JsonPath.DISCARD,
        )

    def _quality_states(self, notify_failure: sfn.IChainable) -> sfn.Map:
        """Each quality period due, in order: its predictions joined with its labels in the function (never a job: it keeps
        only ids, times and scores), the report under ``<work prefix>quality/<period>/``, then its state recorded."""
        request = sfn.Pass(
            self,
            "QualityRequest",
            parameters={
                "request": {
                    "format": "quality",
                    "manifest.$": "$.period.manifest",
                    "labels.$": "$.period.labels",
                    "start.$": "$.period.start",
                    "end.$": "$.period.end",
                    "output.$": f"States.Format('{self.analyzer.work_uri}quality/{{}}', $.period.name)",
                },
                "state": {"checked_until.$": "$.period.end"},
            },
        )
        check = tasks.LambdaInvoke(
            self,
            "CheckQuality",
            lambda_function=self.analyzer.function,
            payload=sfn.TaskInput.from_json_path_at("$.request"),
            result_selector={"summary.$": "$.Payload"},
            result_path="$.result",
            task_timeout=sfn.Timeout.duration(Duration.minutes(16)),
        )
        record = self._record_state("RecordQualityChecked", self.analyzer.quality_state_key)
        each = self._each("EachQualityPeriod", "$.plan.value.qualityPeriods")
        each.item_processor(request.next(check).next(record))
        each.add_catch(notify_failure, errors=["States.ALL"], result_path="$.error")
        return each

    def _quality_alarm(self) -> cloudwatch.Alarm:
        """The project's metric below its bar in a checked period (every classification metric is higher-is-better, as
        the quality gate's ``>=``): published only over at least ``min_labels`` rows, so fewer labels never alarm."""
        p, q = self.props, self.props.analyzer.quality
        assert q is not None
        alarm = cloudwatch.Alarm(
            self,
            "QualityAlarm",
            alarm_name=q.alarm_name,
            alarm_description=(
                f"Model quality of {p.endpoint_name}: {q.metric} from labelled traffic fell below {q.threshold} (at least "
                f"{q.min_labels} labelled rows; reports under {self.reports_uri}/quality/)"
            ),
            metric=self.quality_metric(),
            threshold=q.threshold,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(p.alert_topic))
        return alarm

    def quality_metric(self) -> cloudwatch.Metric:
        a = self.props.analyzer
        assert a.quality is not None
        return cloudwatch.Metric(
            namespace=a.metrics_namespace,
            metric_name=contract.quality_metric(a.quality.metric),
            dimensions_map={"Endpoint": self.props.endpoint_name, "MonitoringSchedule": a.name},
            statistic="Minimum",
            period=self.props.alarm_period,
        )

    @property
    def alarm_names(self) -> list[str]:
        """The drift alarms' names, the quality alarm's, then the failed-run alarm's (plain strings: usable in another stack)."""
        quality = [self.props.analyzer.quality.alarm_name] if self.props.analyzer.quality is not None else []
        return [f"{self.props.alarm_name_prefix}{a.feature}" for a in self.props.drift_alarms] + quality + [self.props.failure_name]

    def drift_metric(self, feature: str) -> cloudwatch.Metric:
        a = self.props.analyzer
        return drift_metric(
            a.metrics_namespace, {"Endpoint": self.props.endpoint_name, "MonitoringSchedule": a.name}, feature, self.props.alarm_period
        )
