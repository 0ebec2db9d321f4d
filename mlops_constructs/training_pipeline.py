"""The per-project training pipeline: a Step Functions state machine that turns data into a registered model."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from config import layout
from config.schema import PipelineConfig
from mlops_constructs.container_contract import contract
from mlops_constructs.data_quality_monitor import Analyzer
from mlops_constructs.handler_function import HandlerFunction, HandlerFunctionProps
from mlops_constructs.nag import acknowledge_wildcards
from mlops_constructs.pipeline_steps import PROVENANCE_KEYS, SDK_RETRYABLE, DataLineage, MlflowLink, ModelSource
from mlops_constructs.project_mlflow import MlflowTracking
from mlops_constructs.sagemaker_permissions import (
    VpcPlacement,
    allow_image_pull,
    allow_job_logs_and_metrics,
    allow_vpc_networking,
    job_log_groups,
)
from mlops_constructs.service_principals import state_machine_role
from mlops_constructs.studio_domain import sagemaker_role

# Errors worth retrying: SageMaker throttling and its transient service errors.
RETRYABLE = ["ThrottlingException", "SageMaker.ThrottlingException", "SageMaker.AmazonSageMakerException"]


_PIPELINE = PipelineConfig()  # defaults are the config schema's

SEAL_TIMEOUT = Duration.minutes(15)  # Lambda's longest: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html


# Where a run's model may come from (a training job's output, a published archive) and the one key it is sealed at;
# ``{}`` stands for the run id, ``*`` for one path part.
SEAL_SOURCES = (layout.run_path("{}", layout.MODEL, "*", layout.TRAINED_MODEL), layout.PUBLISHED_ARCHIVES)
SEALED_KEY = layout.run_path("{}", layout.REGISTERED_MODEL)


def seal_environment(bucket: str, key_arn: str) -> dict[str, str]:
    """The seal function's environment (``lambda/seal_model``)."""
    return {"ARTIFACTS_BUCKET": bucket, "KEY_ARN": key_arn, "SEALED_KEY": SEALED_KEY, "SOURCE_KEYS": " ".join(SEAL_SOURCES)}


# A job's start-up (instance provisioning, image pull) on top of its own runtime limit.
JOB_START_UP = Duration.minutes(20)
# Time the states around the jobs may take in one execution (reading the evaluation, registering, notifying).
OTHER_STATES = Duration.hours(2)


@dataclass(frozen=True)
class JobKind:
    """A kind of SageMaker job the pipeline waits for with Step Functions' ``.sync`` integration, and what that
    integration needs: https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html."""

    noun: str  # ProcessingJob, TrainingJob
    arn_type: str  # processing-job, training-job
    log_group: str  # /aws/sagemaker/<log_group>

    @property
    def resource(self) -> str:
        return f"arn:{Aws.PARTITION}:states:::sagemaker:create{self.noun}.sync"

    @property
    def actions(self) -> list[str]:
        """Create, and what ``.sync`` does: describe until done, stop on abort."""
        return [f"sagemaker:{verb}{self.noun}" for verb in ("Create", "Describe", "Stop")]

    @property
    def sync_rule(self) -> str:
        """The managed EventBridge rule ``.sync`` creates and reads for this kind of job."""
        return f"StepFunctionsGetEventsForSageMaker{self.noun}sRule"


PROCESSING = JobKind("ProcessingJob", "processing-job", "ProcessingJobs")
TRAINING = JobKind("TrainingJob", "training-job", "TrainingJobs")
TRANSFORM = JobKind("TransformJob", "transform-job", "TransformJobs")  # batch scoring's (mlops_constructs.batch_scoring)


def alert_task(scope: Construct, state_id: str, topic: sns.ITopic, subject: str, message: dict) -> tasks.SnsPublish:
    """A message to ``topic`` that leaves the state's input as it was; retried when SNS is busy (the training pipeline's
    and batch scoring's notifications)."""
    task = tasks.SnsPublish(
        scope,
        state_id,
        topic=topic,
        subject=subject,
        message=sfn.TaskInput.from_object(message),
        result_path=sfn.JsonPath.DISCARD,
        task_timeout=sfn.Timeout.duration(Duration.minutes(1)),
    )
    task.add_retry(errors=["SNS.ThrottledException", "States.TaskFailed"], max_attempts=3, backoff_rate=2)
    return task


@dataclass(frozen=True)
class JobStep:
    """One SageMaker job of a run: everything about it in one object.

    The job is named ``<project>-<job>-<run id>`` (``names_key`` under ``$.names``); ``parameters`` is its
    request without the name and role; it may run ``max_runtime`` (for managed spot training, the wait
    limit) plus ``JOB_START_UP``; SageMaker throttling is retried with backoff and any failure caught.
    The pipeline grants the state machine what ``kind`` needs and the job role the kind's log group.
    """

    state_id: str
    job: str
    names_key: str
    kind: JobKind
    parameters: dict
    max_runtime: Duration
    result_selector: dict
    result_path: str

    @property
    def timeout(self) -> Duration:
        return self.max_runtime.plus(JOB_START_UP)

    def job_name(self, project: str) -> dict:
        """The ``NameJobs`` entry of this job."""
        return {f"{self.names_key}.$": f"States.Format('{project}-{self.job}-{{}}', $.run.runId)"}

    def state(self, scope: Construct, *, role_arn: str, on_failure: sfn.IChainable) -> sfn.CustomState:
        state = sfn.CustomState(
            scope,
            self.state_id,
            state_json={
                "Type": "Task",
                "Resource": self.kind.resource,
                "Parameters": {f"{self.kind.noun}Name.$": f"$.names.{self.names_key}", "RoleArn": role_arn, **self.parameters},
                "ResultSelector": self.result_selector,
                "ResultPath": self.result_path,
                "TimeoutSeconds": int(self.timeout.to_seconds()),
            },
        )
        state.add_retry(errors=RETRYABLE, interval=Duration.seconds(30), max_attempts=4, backoff_rate=2, jitter_strategy=sfn.JitterType.FULL)
        state.add_catch(on_failure, errors=["States.ALL"], result_path="$.error")
        return state


@dataclass(frozen=True)
class TrainingPipelineProps:
    """What the pipeline needs of the project, the network and the config.

    One instance per job with 30 GB encrypted volumes; the other defaults are the config schema's
    (``PipelineConfig``: data prefix, spot training, per-job limits, approval status). With
    ``baseline_analyzer`` (the project's monitoring analyzer) a model that passes the gate gets a
    data-quality baseline before it is registered.
    """

    project_name: str
    image_uri: str
    repository: ecr.IRepository
    data_bucket: s3.IBucket
    artifacts_bucket: s3.IBucket
    key: kms.IKey
    alert_topic: sns.ITopic
    model_package_group_name: str
    vpc: VpcPlacement | None  # None: the jobs run in no VPC (the frugal network)
    processing_instance_type: str
    training_instance_type: str
    endpoint_instance_type: str
    metric: str
    threshold: float
    higher_is_better: bool
    data_prefix: str = _PIPELINE.data_prefix
    hyperparameters: dict[str, str] = field(default_factory=dict)
    spot_training: bool = _PIPELINE.spot_training
    processing_max_runtime: Duration = Duration.minutes(_PIPELINE.processing_max_runtime_minutes)
    training_max_runtime: Duration = Duration.minutes(_PIPELINE.training_max_runtime_minutes)
    approval_status: str = _PIPELINE.approval_status
    volume_size_gb: int = 30
    baseline_analyzer: Analyzer | None = None
    state_machine_name: str | None = None  # CloudFormation's generated name without
    mlflow: MlflowTracking | None = None  # the project's MLflow: the training job logs its run there


class TrainingPipeline(Construct):
    """A state machine: preprocess -> train -> evaluate -> quality gate -> baseline -> register -> notify.

    Deploys:
    - ``job_role``: the SageMaker execution role of the pipeline's jobs: read on the data bucket,
      read/write on ``pipeline/`` in the artifacts bucket, the project key, pulls from the project's
      repository, its own logs and metrics, and the network interfaces VPC jobs need.
    - ``state_machine`` (standard workflow, X-Ray tracing, every event logged to ``log_group``,
      kept one year). Each execution:
      1. names its jobs ``<project>-<step>-<run id>`` (run id: 8 hex digits, new per execution) and
         writes everything under ``s3://<artifacts>/pipeline/<run id>/``; records the data it trains on
         (``_data_lineage``: the data manifest, or ``NoData`` when there is none);
      2. runs a preprocessing job on ``s3://<data>/<data_prefix>`` (``createProcessingJob.sync``
         through a ``CustomState``: CDK has no processing-job task, aws-cdk issue 9537), a training
         job (``createTrainingJob.sync``; managed spot with checkpoints when ``spot_training``), and
         an evaluation processing job, all with the project key, in the given private subnets;
      3. reads ``evaluation.json`` and applies the quality gate: ``metric`` >= ``threshold``
         (<= when lower is better); a missing or non-numeric metric fails the gate;
      4. with ``baseline_analyzer``, runs it in baselining mode and writes ``statistics.json`` and
         ``constraints.json`` to ``pipeline/<run id>/baseline/``, next to ``model/``: Model Monitor's
         analyzer on the evaluation job's scored baseline (the training features with the model's
         score as the first column: it reads captured traffic as the endpoint's output, then its
         input), or the project's ``monitor`` entrypoint on the training features (it checks the
         endpoint's input, as local mode does);
      5. registers a model package in the project's group with ``approval_status`` (a publish run's: always
         ``PendingManualApproval``), the evaluation
         as its model-quality report and the baseline as its data-quality report and drift-check
         baseline (what the endpoint's monitor compares traffic with), and notifies the alert topic.
      A ``publish`` run (a sandbox user's model, ``$.detail.modelKey`` under ``sandbox/<user>/``, checked by the
      guard) copies that archive into ``pipeline/<run id>/model/published/`` instead of training: the same
      evaluation, gate, baseline and registration follow, and the package records who published it and the
      code's commit (``$.provenance``; a trained model records its training job).
      A gate failure notifies metric, value and threshold and ends in ``QualityGateFailed``; any
      other failure is caught, notified with its cause, and ends in ``PipelineFailed``. Every task
      has a timeout; SageMaker throttling and transient errors are retried with backoff.
    - The state machine role may pass only ``job_role``, to SageMaker only, and holds the
      ``events:PutRule``/``PutTargets``/``DescribeRule`` rights on the
      ``StepFunctionsGetEventsForSageMaker*JobsRule`` rules that ``.sync`` integrations need.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: TrainingPipelineProps) -> None:
        super().__init__(scope, construct_id)
        self._props = p = props
        bucket = p.artifacts_bucket.bucket_name
        data_url = p.data_bucket.s3_url_for_object(p.data_prefix)  # the data every run trains on
        run = layout.run_path("{}")  # this execution's prefix, for States.Format with $.run.runId

        # The run's SageMaker jobs, in order; each owns its name, request, limits, retries and permissions.
        network = {"VpcConfig": p.vpc.api_config} if p.vpc is not None else {}
        jobs = self._job_steps(network, bucket, run)
        # the data-quality baseline: only for models that passed the gate (nothing is spent on the others)
        baseline = self._baseline_step(p.baseline_analyzer, network, bucket, run) if p.baseline_analyzer is not None else None
        self.steps: list[JobStep] = [*jobs, *([baseline] if baseline else [])]
        self.job_role = self._job_role()

        start, prepare, names = self._start_states(bucket, run)
        notify_failure = self._notify(
            "NotifyFailure",
            f"{p.project_name}: training pipeline failed",
            {
                "project": p.project_name,
                "result": "pipeline failed",
                "error": sfn.JsonPath.string_at("$.error.Error"),
                "cause": sfn.JsonPath.string_at("$.error.Cause"),
                "execution": sfn.JsonPath.execution_id,
            },
        )
        notify_failure.next(sfn.Fail(self, "PipelineFailed", error="PipelineFailed", cause="A pipeline step failed; the alert topic has the cause"))
        job_states = {step.state_id: step.state(self, role_arn=self.job_role.role_arn, on_failure=notify_failure) for step in self.steps}

        read_evaluation = tasks.CallAwsService(
            self,
            "ReadEvaluation",
            service="s3",
            action="getObject",
            iam_resources=[p.artifacts_bucket.arn_for_objects(f"{layout.PIPELINE_PREFIX}*")],
            parameters={"Bucket": bucket, "Key.$": "$.names.evaluationKey"},
            result_selector={"report.$": "States.StringToJson($.Body)"},
            result_path="$.evaluation",
            task_timeout=sfn.Timeout.duration(Duration.minutes(2)),
        )
        register = self._register(bucket, run, data_url, with_baseline=baseline is not None)
        notify_registered, notify_gate, gate_failed = self._outcomes()
        for task in (read_evaluation, register, notify_registered):
            task.add_retry(errors=SDK_RETRYABLE, interval=Duration.seconds(5), max_attempts=3, backoff_rate=2)
            task.add_catch(notify_failure, errors=["States.ALL"], result_path="$.error")
        notify_gate.add_catch(notify_failure, errors=["States.ALL"], result_path="$.error")

        registered = notify_registered.next(sfn.Succeed(self, "ModelRegistered"))
        link = MlflowLink(self, p.project_name, p.key, p.mlflow, invoked=self._invoked) if p.mlflow is not None else None
        registration = register.next(link.states(then=registered) if link else registered)
        gate = self._gate(job_states["Baseline"].next(registration) if baseline else registration, notify_gate.next(gate_failed))
        lineage = DataLineage(self, p.data_bucket, p.data_prefix, p.artifacts_bucket, data_url, run, on_failure=notify_failure)
        prepare.next(names).next(lineage.first)
        lineage.last.next(job_states["Preprocess"])
        source = ModelSource(self, bucket, mlflow=p.mlflow is not None, approval_status=p.approval_status)
        job_states["Preprocess"].next(source.choice(train=job_states["Train"]))
        seal = self._seal_model(on_failure=notify_failure)
        source.trained.next(seal)
        source.published.next(seal)
        seal.next(job_states["Evaluate"])
        job_states["Evaluate"].next(read_evaluation).next(gate)
        self._state_machine(start)

    # -- pieces -----------------------------------------------------------------------------------

    def _job_steps(self, network: dict, bucket: str, run: str) -> list[JobStep]:
        """Preprocess, train and evaluate (the baseline, when there is one, follows them)."""
        p = self._props
        preprocess = self._processing_step(
            "Preprocess",
            job="pre",
            names_key="preprocessJob",
            entrypoint=contract.ENTRYPOINTS["preprocess"],
            inputs=[self._processing_input("data", p.data_bucket.s3_url_for_object(p.data_prefix), contract.PREPROCESS_INPUT)],
            outputs=[
                self._processing_output(name, f"{layout.PREPROCESS}/{name}", local_path) for name, local_path in contract.PREPROCESS_OUTPUTS.items()
            ],
            network=network,
            result_path="$.jobs.preprocess",
        )
        train = self._training_step(network, run)
        evaluate = self._processing_step(
            "Evaluate",
            job="eval",
            names_key="evaluateJob",
            entrypoint=contract.ENTRYPOINTS["evaluate"],
            inputs=[
                self._processing_input("model", None, contract.EVALUATE_MODEL, uri_path="$.model.uri"),  # the sealed copy
                self._processing_input("test", f"s3://{bucket}/{run}/{layout.PREPROCESS}/test", contract.EVALUATE_TEST, formatted=True),
                self._processing_input("baseline", f"s3://{bucket}/{run}/{layout.PREPROCESS}/baseline", contract.EVALUATE_BASELINE, formatted=True),
            ],
            outputs=[
                self._processing_output("evaluation", layout.EVALUATION, contract.EVALUATE_OUTPUT),
                self._processing_output("scored-baseline", layout.SCORED_BASELINE, contract.EVALUATE_SCORED_BASELINE),
            ],
            network=network,
            result_path="$.jobs.evaluate",
        )
        return [preprocess, train, evaluate]

    def _start_states(self, bucket: str, run: str) -> tuple[sfn.Choice, sfn.Pass, sfn.Pass]:
        """What every execution starts with: its trigger (``manual`` when started otherwise), the image's digest and
        commit (``unknown`` then), its run id (``PrepareRun``) and its jobs' names and paths (``NameJobs``). Returns the
        first state, ``PrepareRun`` and ``NameJobs``."""
        p = self._props
        prepare = sfn.Pass(
            self,
            "PrepareRun",
            comment="Run id, job names and S3 paths of this execution",
            parameters={
                "trigger.$": "$.trigger",
                "detail.$": "$.detail",
                "imageDigest.$": "$.imageDigest",
                "imageCommit.$": "$.imageCommit",
                "runId.$": layout.RUN_ID_INTRINSIC,
            },
            result_path="$.run",
        )
        evaluation_key = f"{run}/{layout.EVALUATION}/{contract.EVALUATION_FILE}"
        names = sfn.Pass(
            self,
            "NameJobs",
            parameters={
                **{k: v for step in self.steps for k, v in step.job_name(p.project_name).items()},
                "prefix.$": f"States.Format('s3://{bucket}/{run}', $.run.runId)",
                "evaluationKey.$": f"States.Format('{evaluation_key}', $.run.runId)",
            },
            result_path="$.names",
        )
        # the trigger guard starts every run with its trigger, the digest of the image (its tag is immutable) and the commit
        # the image was built from; a run started otherwise (the console) is a manual one whose image is not known
        unknown_image = sfn.Pass(
            self,
            "UnknownImageDigest",
            parameters={"trigger.$": "$.trigger", "detail.$": "$.detail", "imageDigest": "unknown", "imageCommit": "unknown"},
        )
        has_digest = (
            sfn.Choice(self, "HasImageDigest")
            .when(sfn.Condition.and_(sfn.Condition.is_present("$.imageDigest"), sfn.Condition.is_present("$.imageCommit")), prepare)
            .otherwise(unknown_image.next(prepare))
        )
        defaults = sfn.Pass(self, "DefaultTrigger", result=sfn.Result.from_object({"trigger": "manual", "detail": {}}))
        has_trigger = (
            sfn.Choice(self, "HasTrigger")
            .when(sfn.Condition.and_(sfn.Condition.is_present("$.trigger"), sfn.Condition.is_present("$.detail")), has_digest)
            .otherwise(defaults.next(has_digest))
        )
        return has_trigger, prepare, names

    @property
    def _relation(self) -> str:
        return ">=" if self._props.higher_is_better else "<="

    def _gate(self, passed: sfn.IChainable, failed: sfn.IChainable) -> sfn.Choice:
        """The quality gate: ``metric`` of the evaluation ``>=`` (``<=`` when lower is better) ``threshold``; a missing or
        non-numeric metric fails it."""
        p = self._props
        value_path = f"$.evaluation.report.metrics.{p.metric}"
        compare = (
            sfn.Condition.number_greater_than_equals(value_path, p.threshold)
            if p.higher_is_better
            else sfn.Condition.number_less_than_equals(value_path, p.threshold)
        )
        passes = sfn.Condition.and_(sfn.Condition.is_present(value_path), sfn.Condition.is_numeric(value_path), compare)
        return sfn.Choice(self, "QualityGate", comment=f"{p.metric} {self._relation} {p.threshold}").when(passes, passed).otherwise(failed)

    def _register(self, bucket: str, run: str, data_url: str, *, with_baseline: bool) -> tasks.CallAwsService:
        """``RegisterModel``: the sealed model as a package of the project's group, its evaluation as its model quality,
        its baseline (``with_baseline``) as its data quality and drift-check baseline, and its lineage as metadata."""
        p = self._props
        model_metrics: dict = {
            "ModelQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri.$": f"States.Format('s3://{bucket}/{{}}', $.names.evaluationKey)",
                }
            }
        }
        drift_baselines: dict = {}
        if with_baseline:
            reports = {
                name: {"ContentType": "application/json", "S3Uri.$": f"States.Format('s3://{bucket}/{run}/{layout.BASELINE}/{file}', $.run.runId)"}
                for name, file in (("Statistics", layout.STATISTICS), ("Constraints", layout.CONSTRAINTS))
            }
            model_metrics["ModelDataQuality"] = reports
            drift_baselines = {"DriftCheckBaselines": {"ModelDataQuality": reports}}
        arn, region_account = f"arn:{Aws.PARTITION}", f"{Aws.REGION}:{Aws.ACCOUNT_ID}"
        return tasks.CallAwsService(
            self,
            "RegisterModel",
            service="sagemaker",
            action="createModelPackage",
            iam_resources=[
                f"{arn}:sagemaker:{region_account}:model-package-group/{p.model_package_group_name}",
                f"{arn}:sagemaker:{region_account}:model-package/{p.model_package_group_name}/*",
            ],
            parameters={
                "ModelPackageGroupName": p.model_package_group_name,
                "ModelPackageDescription.$": f"States.Format('{p.project_name} model from pipeline run {{}} (trigger: {{}})', $.run.runId, $.run.trigger)",
                "ModelApprovalStatus.$": "$.provenance.approvalStatus",
                "InferenceSpecification": {
                    "Containers": [{"Image": p.image_uri, "ModelDataUrl.$": "$.model.uri"}],  # written once: nobody can replace it
                    "SupportedContentTypes": contract.CONTENT_TYPES,
                    "SupportedResponseMIMETypes": contract.CONTENT_TYPES,
                    "SupportedRealtimeInferenceInstanceTypes": [p.endpoint_instance_type],
                    "SupportedTransformInstanceTypes": [p.processing_instance_type],
                },
                "ModelMetrics": model_metrics,
                **drift_baselines,
                "CustomerMetadataProperties": {
                    "runId.$": "$.run.runId",
                    "trigger.$": "$.run.trigger",
                    # the image its jobs ran (and that serves it): the digest behind the package's immutable tag
                    "imageDigest.$": "$.run.imageDigest",
                    # where the model comes from: this run's training job, or a sandbox user's archive and commit
                    **{f"{key}.$": f"$.provenance.{key}" for key in PROVENANCE_KEYS},
                    # the training features; the monitoring baseline computed from them is DriftCheckBaselines
                    "trainingFeatures.$": f"States.Format('s3://{bucket}/{run}/{layout.PREPROCESS}/baseline', $.run.runId)",
                    # the data it was trained on: the prefix, how many objects, and the manifest of each one's ETag
                    "dataPrefix": data_url,
                    "dataObjects.$": "States.Format('{}', $.data.objects)",
                    "dataManifest.$": f"States.Format('s3://{bucket}/{run}/{layout.DATA_MANIFEST}', $.run.runId)",
                    **({"mlflowTrackingServer": p.mlflow.arn, "mlflowExperiment": p.project_name} if p.mlflow is not None else {}),
                },
            },
            result_selector={"arn.$": "$.ModelPackageArn"},
            result_path="$.registered",
            task_timeout=sfn.Timeout.duration(Duration.minutes(2)),
        )

    def _outcomes(self) -> tuple[tasks.SnsPublish, tasks.SnsPublish, sfn.Fail]:
        """The alert topic's two endings of a run that got past its jobs: registered, or stopped by the gate."""
        p = self._props
        registered = self._notify(
            "NotifyRegistered",
            f"{p.project_name}: model registered",
            {
                "project": p.project_name,
                "result": "registered",
                "modelPackageArn": sfn.JsonPath.string_at("$.registered.arn"),
                "approvalStatus": sfn.JsonPath.string_at("$.provenance.approvalStatus"),
                "metrics": sfn.JsonPath.object_at("$.evaluation.report.metrics"),
                # the MLflow run it names, tagged with it: {runId}, or why not ({Error, Cause}; {skipped} for a published model)
                **({"mlflowLink": sfn.JsonPath.object_at("$.mlflowLink")} if p.mlflow is not None else {}),
                "execution": sfn.JsonPath.execution_id,
            },
        )
        gate = self._notify(
            "NotifyGateFailed",
            f"{p.project_name}: quality gate failed",
            {
                "project": p.project_name,
                "result": "quality gate failed; model not registered",
                "metric": p.metric,
                "required": f"{self._relation} {p.threshold}",
                "metrics": sfn.JsonPath.object_at("$.evaluation.report.metrics"),
                "execution": sfn.JsonPath.execution_id,
            },
        )
        failed = sfn.Fail(self, "QualityGateFailed", error="QualityGateFailed", cause=f"{p.metric} did not meet {self._relation} {p.threshold}")
        return registered, gate, failed

    def _state_machine(self, start: sfn.IChainable) -> None:
        """The state machine from ``start``, its log group, and what its role may do beyond what its states grant."""
        p = self._props
        self.log_group = logs.LogGroup(
            self, "LogGroup", retention=logs.RetentionDays.ONE_YEAR, removal_policy=RemovalPolicy.RETAIN, encryption_key=p.key
        )
        total = OTHER_STATES
        for step in self.steps:
            total = total.plus(step.max_runtime)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(start),
            state_machine_name=p.state_machine_name,
            role=state_machine_role(
                self, "StateMachineRole", state_machine_name=p.state_machine_name, description="Runs the training pipeline's steps"
            ),
            state_machine_type=sfn.StateMachineType.STANDARD,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            timeout=total,
            comment=f"Training pipeline of ML project {p.project_name}",
            # Definition and execution history encrypted with the project key (its policy lets log delivery decrypt:
            # ProjectResources): https://docs.aws.amazon.com/step-functions/latest/dg/encryption-at-rest.html
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(p.key, Duration.minutes(5)),
        )
        self._grant_state_machine(f"arn:{Aws.PARTITION}", f"{Aws.REGION}:{Aws.ACCOUNT_ID}")

    def _notify(self, state_id: str, subject: str, message: dict) -> tasks.SnsPublish:
        return alert_task(self, state_id, self._props.alert_topic, subject, message)

    def _seal_model(self, *, on_failure: sfn.State) -> tasks.LambdaInvoke:
        """``SealModel``: the run's model (``$.jobs.train.modelArtifacts``: the training job's output or a sandbox user's
        archive) copied once to ``pipeline/<run id>/registered/model.tar.gz`` by ``lambda/seal_model``; its URI goes to
        ``$.model.uri``, which the evaluation job, the baseline and the package use. No job can write there, and the
        artifacts bucket's policy lets nobody replace or delete it (``ProjectResources``)."""
        p = self._props
        function = HandlerFunction(
            self,
            "ModelSeal",
            props=HandlerFunctionProps(
                code="seal_model",
                description=f"Seals the model each training pipeline run of {p.project_name} registers: one copy, never replaced",
                environment=seal_environment(p.artifacts_bucket.bucket_name, p.key.key_arn),
                log_key=p.key,
                # a multipart copy inside S3 (parts of 512 MiB): minutes for the largest models
                timeout=SEAL_TIMEOUT,
            ),
        )
        role = function.role
        sources = [p.artifacts_bucket.arn_for_objects(key.replace("{}", "*")) for key in SEAL_SOURCES]
        sealed = p.artifacts_bucket.arn_for_objects(SEALED_KEY.replace("{}", "*"))
        role.add_to_principal_policy(
            # HeadObject, and UploadPartCopy of one version of the source (s3:GetObjectVersion)
            iam.PolicyStatement(sid="ReadModels", actions=["s3:GetObject", "s3:GetObjectVersion"], resources=[*sources, sealed])
        )
        role.add_to_principal_policy(iam.PolicyStatement(sid="SealModels", actions=["s3:PutObject", "s3:AbortMultipartUpload"], resources=[sealed]))
        p.key.grant_encrypt_decrypt(role)
        acknowledge_wildcards(
            role,
            reason="Reads a run's trained model or a sandbox user's published archive and writes the run's sealed copy "
            "(pipeline/<run>/registered/), named at run time; the bucket policy makes that copy write-once.",
            resources=[*sources, sealed],
            actions=["kms:ReEncrypt*", "kms:GenerateDataKey*"],
        )
        seal = tasks.LambdaInvoke(
            self,
            "SealModel",
            comment="The model this run registers, copied once to where nobody can change it",
            lambda_function=function.function,
            payload=sfn.TaskInput.from_object(
                {"source": sfn.JsonPath.string_at("$.jobs.train.modelArtifacts"), "runId": sfn.JsonPath.string_at("$.run.runId")}
            ),
            result_selector={"uri.$": "$.Payload.uri", "etag.$": "$.Payload.etag", "versionId.$": "$.Payload.versionId"},
            result_path="$.model",
            task_timeout=sfn.Timeout.duration(SEAL_TIMEOUT.plus(Duration.minutes(1))),
        )
        self._invoked(seal, function, "the seal function", on_failure=on_failure, error_path="$.error")
        return seal

    def _invoked(self, task: tasks.LambdaInvoke, function: HandlerFunction, what: str, *, on_failure: sfn.IChainable, error_path: str) -> None:
        """A Lambda task of the pipeline: Lambda's transient errors retried, any other failure caught to ``on_failure``
        (the error at ``error_path``), and the grant Step Functions' integration makes acknowledged."""
        acknowledge_wildcards(
            self,
            reason=f"The state machine invokes {what}: Step Functions' Lambda integration grants it and its versions",
            resources=[f"{function.function.function_arn}:*"],
        )
        task.add_retry(errors=["Lambda.ServiceException", "Lambda.TooManyRequestsException", "Lambda.SdkClientException"], max_attempts=3)
        task.add_catch(on_failure, errors=["States.ALL"], result_path=error_path)

    def _baseline_step(self, analyzer: Analyzer, network: dict, bucket: str, run: str) -> JobStep:
        """The baselining job, as the SageMaker SDK's ``suggest_baseline`` configures Model Monitor's analyzer (the
        project's ``monitor`` reads the same environment: ``mlops_container.monitor``)."""
        if analyzer.is_project:
            data_format = {"csv": {"header": True}}
            dataset = f"s3://{bucket}/{run}/{layout.PREPROCESS}/baseline/{contract.BASELINE_FILE}"  # the training features
        else:
            data_format = {"csv": {"header": True, "output_columns_position": "START"}}
            dataset = f"s3://{bucket}/{run}/{layout.SCORED_BASELINE}"
        return self._processing_step(
            "Baseline",
            job="baseline",
            names_key="baselineJob",
            image_uri=analyzer.image.uri,
            entrypoint=analyzer.entrypoint,
            environment={
                "dataset_format": json.dumps(data_format),
                "dataset_source": contract.MONITOR_BASELINE_INPUT,
                "output_path": contract.MONITOR_OUTPUT,
                "publish_cloudwatch_metrics": "Disabled",
            },
            inputs=[self._processing_input("baseline_dataset_input", dataset, contract.MONITOR_BASELINE_INPUT, formatted=True)],
            outputs=[self._processing_output("monitoring_output", layout.BASELINE, contract.MONITOR_OUTPUT)],
            network=network,
            result_path="$.jobs.baseline",
        )

    def _processing_input(self, name: str, uri: str | None, local_path: str, *, uri_path: str | None = None, formatted: bool = False) -> dict:
        s3_input: dict = {"LocalPath": local_path, "S3DataType": "S3Prefix", "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}
        if uri_path is not None:
            s3_input["S3Uri.$"] = uri_path
        elif formatted:
            s3_input["S3Uri.$"] = f"States.Format('{uri}', $.run.runId)"
        else:
            s3_input["S3Uri"] = uri
        return {"InputName": name, "S3Input": s3_input}

    def _processing_output(self, name: str, suffix: str, local_path: str) -> dict:
        bucket = self._props.artifacts_bucket.bucket_name
        return {
            "OutputName": name,
            "S3Output": {
                "LocalPath": local_path,
                "S3UploadMode": "EndOfJob",
                "S3Uri.$": f"States.Format('s3://{bucket}/{layout.run_path('{}', suffix)}', $.run.runId)",
            },
        }

    def _processing_step(
        self,
        state_id: str,
        *,
        job: str,
        names_key: str,
        entrypoint: list[str] | None,
        inputs: list[dict],
        outputs: list[dict],
        network: dict,
        result_path: str,
        image_uri: str | None = None,
        environment: dict[str, str] | None = None,
    ) -> JobStep:
        """A processing job (CDK has no processing-job task, aws-cdk issue 9537: the optimized integration, by hand)."""
        p = self._props
        app_spec: dict = {"ImageUri": image_uri or p.image_uri}
        if entrypoint is not None:
            app_spec["ContainerEntrypoint"] = entrypoint
        extra = {"Environment": environment} if environment else {}
        return JobStep(
            state_id=state_id,
            job=job,
            names_key=names_key,
            kind=PROCESSING,
            parameters={
                "AppSpecification": app_spec,
                "ProcessingInputs": inputs,
                "ProcessingOutputConfig": {"Outputs": outputs, "KmsKeyId": p.key.key_arn},
                "ProcessingResources": {
                    "ClusterConfig": {
                        "InstanceCount": 1,
                        "InstanceType": p.processing_instance_type,
                        "VolumeSizeInGB": p.volume_size_gb,
                        "VolumeKmsKeyId": p.key.key_arn,
                    }
                },
                "StoppingCondition": {"MaxRuntimeInSeconds": int(p.processing_max_runtime.to_seconds())},
                # No network from the container: these jobs load the project's data and a model, possibly a sandbox user's
                # (the evaluation job); SageMaker moves their inputs and outputs itself
                # (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_NetworkConfig.html).
                "NetworkConfig": {"EnableInterContainerTrafficEncryption": True, "EnableNetworkIsolation": True, **network},
                "Tags": [{"Key": "project", "Value": p.project_name}],
                **extra,
            },
            max_runtime=p.processing_max_runtime,
            result_selector={"arn.$": "$.ProcessingJobArn", "status.$": "$.ProcessingJobStatus"},
            result_path=result_path,
        )

    def _training_step(self, network: dict, run: str) -> JobStep:
        """The training job; with managed spot training it may wait twice its runtime and checkpoints."""
        p = self._props
        bucket = p.artifacts_bucket.bucket_name
        runtime = int(p.training_max_runtime.to_seconds())
        stopping = {"MaxRuntimeInSeconds": runtime}
        spot = {}
        if p.spot_training:
            stopping["MaxWaitTimeInSeconds"] = runtime * 2
            spot = {
                "EnableManagedSpotTraining": True,
                "CheckpointConfig": {"S3Uri.$": f"States.Format('s3://{bucket}/{run}/{layout.CHECKPOINTS}', $.run.runId)"},
            }
        return JobStep(
            state_id="Train",
            job="train",
            names_key="trainJob",
            kind=TRAINING,
            parameters={
                "AlgorithmSpecification": {
                    "TrainingImage": p.image_uri,
                    "TrainingInputMode": "File",
                    "MetricDefinitions": contract.METRIC_DEFINITIONS,
                },
                "HyperParameters": p.hyperparameters,
                "InputDataConfig": [
                    {
                        "ChannelName": channel,
                        "ContentType": "text/csv",
                        "DataSource": {
                            "S3DataSource": {
                                "S3DataType": "S3Prefix",
                                "S3DataDistributionType": "FullyReplicated",
                                "S3Uri.$": f"States.Format('s3://{bucket}/{run}/{layout.PREPROCESS}/{channel}', $.run.runId)",
                            }
                        },
                    }
                    for channel in contract.TRAINING_CHANNELS
                ],
                "OutputDataConfig": {
                    "S3OutputPath.$": f"States.Format('s3://{bucket}/{run}/{layout.MODEL}', $.run.runId)",
                    "KmsKeyId": p.key.key_arn,
                },
                "ResourceConfig": {
                    "InstanceCount": 1,
                    "InstanceType": p.training_instance_type,
                    "VolumeSizeInGB": p.volume_size_gb,
                    "VolumeKmsKeyId": p.key.key_arn,
                },
                "StoppingCondition": stopping,
                **(
                    {"Environment": {contract.MLFLOW_TRACKING_URI: p.mlflow.arn, contract.MLFLOW_EXPERIMENT_NAME: p.project_name}}
                    if p.mlflow is not None
                    else {}
                ),
                "EnableInterContainerTrafficEncryption": True,
                "Tags": [{"Key": "project", "Value": p.project_name}],
                **network,
                **spot,
            },
            max_runtime=Duration.seconds(stopping.get("MaxWaitTimeInSeconds", runtime)),
            result_selector={"arn.$": "$.TrainingJobArn", "modelArtifacts.$": "$.ModelArtifacts.S3ModelArtifacts"},
            result_path="$.jobs.train",
        )

    @property
    def _kinds(self) -> list[JobKind]:
        """The kinds of job the steps run, in order of first use."""
        return list(dict.fromkeys(step.kind for step in self.steps))

    def _job_role(self) -> iam.Role:
        p = self._props
        role = sagemaker_role(self, "JobRole", f"SageMaker processing and training jobs of ML project {p.project_name}")
        runs = f"{layout.PIPELINE_PREFIX}*"
        p.data_bucket.grant_read(role, f"{p.data_prefix}*")
        p.artifacts_bucket.grant_read(role, runs)
        # Writes: the jobs' own outputs below a run (never the lineage the state machine records, never a delete); the
        # checkpoints of spot training, which SageMaker keeps in sync, may also be removed.
        outputs = [layout.PREPROCESS, layout.MODEL, layout.EVALUATION, layout.SCORED_BASELINE, layout.BASELINE, layout.CHECKPOINTS]
        written = [layout.run_path("*", part, "*") for part in outputs]
        for pattern in written:
            p.artifacts_bucket.grant_put(role, pattern)
        p.artifacts_bucket.grant_delete(role, layout.run_path("*", layout.CHECKPOINTS, "*"))
        p.key.grant_encrypt_decrypt(role)
        p.repository.grant_pull(role)
        log_groups = job_log_groups(*(kind.log_group for kind in self._kinds))
        allow_job_logs_and_metrics(role, log_groups=log_groups, metric_namespaces=["/aws/sagemaker/*"], metrics_sid="JobMetrics")
        if p.baseline_analyzer is not None and not p.baseline_analyzer.is_project:  # the project's image is pulled above
            allow_image_pull(role, sid="PullModelMonitorAnalyzer", image=p.baseline_analyzer.image)
        allow_vpc_networking(role, "JobsInTheVpc", p.vpc)
        if p.mlflow is not None:  # the training job logs its parameters, metrics and model to the project's MLflow
            p.mlflow.grant_use(role, p.artifacts_bucket)
        acknowledge_wildcards(
            role,
            reason="Reads the data prefix and the runs of this project's buckets; writes only the jobs' output folders of a run "
            "(pipeline/<run>/<output>/), named at run time; deletes only spot-training checkpoints.",
            resources=[
                p.data_bucket.arn_for_objects(f"{p.data_prefix}*"),
                p.artifacts_bucket.arn_for_objects(runs),
                *(p.artifacts_bucket.arn_for_objects(w) for w in written),
            ],
            actions=["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
        )
        acknowledge_wildcards(role, reason="SageMaker names each job's log stream at run time inside these two log groups.", resources=log_groups)
        acknowledge_wildcards(
            role,
            reason="ecr:GetAuthorizationToken (from grant_pull), cloudwatch:PutMetricData (limited to the /aws/sagemaker/ namespaces) and the EC2 "
            "network-interface actions SageMaker needs to run jobs in the VPC support no resource-level permissions.",
            resources=["*"],
        )
        return role

    def _grant_state_machine(self, arn: str, region_account: str) -> None:
        p = self._props
        role = self.state_machine.role
        kinds = self._kinds
        # each step's own jobs, <project>-<step>-<8 hex>: a bare <project>-* would also match a project named <project>-x
        run_id = layout.RUN_ID_WILDCARD
        jobs = list(
            dict.fromkeys(f"{arn}:sagemaker:{region_account}:{step.kind.arn_type}/{p.project_name}-{step.job}-{run_id}" for step in self.steps)
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RunThisProjectsJobs",
                # the steps' jobs are tagged at creation
                actions=[*(action for kind in kinds for action in kind.actions), "sagemaker:AddTags", "sagemaker:ListTags"],
                resources=jobs,
            )
        )
        sync_rules = [f"{arn}:events:{region_account}:rule/{kind.sync_rule}" for kind in kinds]
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="SyncIntegrationRules", actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"], resources=sync_rules
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PassOnlyTheJobRoleToSageMaker",
                actions=["iam:PassRole"],
                resources=[self.job_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        p.key.grant(role, "kms:Decrypt", "kms:GenerateDataKey*")  # read evaluation.json; publish to the encrypted topic
        acknowledge_wildcards(
            role,
            reason="Job names are <project>-<step>-<run id> (8 characters), made per execution; the statement covers this project's jobs only.",
            resources=jobs,
        )
        acknowledge_wildcards(
            role,
            reason="Reads evaluation.json of any run under pipeline/ (the run id is made per execution) and writes its data "
            "manifest; creates model packages only in this project's group (versions are numbered by SageMaker).",
            resources=[
                p.artifacts_bucket.arn_for_objects(f"{layout.PIPELINE_PREFIX}*"),
                f"{arn}:sagemaker:{region_account}:model-package/{p.model_package_group_name}/*",
            ],
            actions=["kms:GenerateDataKey*"],
        )
        acknowledge_wildcards(
            role,
            reason="Step Functions' own policy for X-Ray tracing and CloudWatch Logs delivery: these actions support no resource-level permissions.",
            resources=["*"],
        )
