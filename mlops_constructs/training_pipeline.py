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

from mlops_constructs.container_contract import contract
from mlops_constructs.nag import acknowledge_wildcards
from mlops_constructs.sagemaker_permissions import AwsImage, allow_image_pull, allow_job_logs_and_metrics, allow_vpc_networking, job_log_groups
from mlops_constructs.studio_domain import sagemaker_role

# Model Monitor analyzer's mounts, as the SageMaker SDK's ``suggest_baseline`` sets them.
MONITOR_BASELINE_INPUT = "/opt/ml/processing/input/baseline_dataset_input"
MONITOR_OUTPUT = "/opt/ml/processing/output"

# Errors worth retrying: SageMaker throttling and its transient service errors.
RETRYABLE = ["ThrottlingException", "SageMaker.ThrottlingException", "SageMaker.AmazonSageMakerException"]
SDK_RETRYABLE = ["SageMaker.ThrottlingException", "S3.SlowDownException", "S3.S3Exception"]  # not NoSuchKey: it stays missing


@dataclass(frozen=True)
class TrainingPipelineProps:
    """What the pipeline needs of the project, the network and the config.

    Defaults: one instance per job, 30 GB encrypted volumes, on-demand training (``spot_training``
    off), 60-minute limits per job, models registered as ``PendingManualApproval``. With
    ``monitor_image`` (Model Monitor's analyzer image) a model that passes the gate gets a
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
    subnet_ids: list[str]
    security_group_ids: list[str]
    processing_instance_type: str
    training_instance_type: str
    endpoint_instance_type: str
    metric: str
    threshold: float
    higher_is_better: bool
    data_prefix: str = "incoming/"
    hyperparameters: dict[str, str] = field(default_factory=dict)
    spot_training: bool = False
    processing_max_runtime: Duration = Duration.minutes(60)
    training_max_runtime: Duration = Duration.minutes(60)
    approval_status: str = "PendingManualApproval"
    volume_size_gb: int = 30
    monitor_image: AwsImage | None = None


class TrainingPipeline(Construct):
    """A state machine: preprocess -> train -> evaluate -> quality gate -> baseline -> register -> notify.

    Deploys:
    - ``job_role``: the SageMaker execution role of the pipeline's jobs: read on the data bucket,
      read/write on ``pipeline/`` in the artifacts bucket, the project key, pulls from the project's
      repository, its own logs and metrics, and the network interfaces VPC jobs need.
    - ``state_machine`` (standard workflow, X-Ray tracing, every event logged to ``log_group``,
      kept one year). Each execution:
      1. names its jobs ``<project>-<step>-<run id>`` (run id: 8 hex digits, new per execution) and
         writes everything under ``s3://<artifacts>/pipeline/<run id>/``;
      2. runs a preprocessing job on ``s3://<data>/<data_prefix>`` (``createProcessingJob.sync``
         through a ``CustomState``: CDK has no processing-job task, aws-cdk issue 9537), a training
         job (``createTrainingJob.sync``; managed spot with checkpoints when ``spot_training``), and
         an evaluation processing job, all with the project key, in the given private subnets;
      3. reads ``evaluation.json`` and applies the quality gate: ``metric`` >= ``threshold``
         (<= when lower is better); a missing or non-numeric metric fails the gate;
      4. with ``monitor_image``, runs Model Monitor's analyzer on the evaluation job's scored
         baseline (the training features with the model's score as the first column: Model Monitor
         reads captured traffic as the endpoint's output, then its input) and writes
         ``statistics.json`` and ``constraints.json`` to ``pipeline/<run id>/baseline/``, next to ``model/``;
      5. registers a model package in the project's group with ``approval_status``, the evaluation
         as its model-quality report and the baseline as its data-quality report and drift-check
         baseline (what the endpoint's monitor compares traffic with), and notifies the alert topic.
      A gate failure notifies metric, value and threshold and ends in ``QualityGateFailed``; any
      other failure is caught, notified with its cause, and ends in ``PipelineFailed``. Every task
      has a timeout; SageMaker throttling and transient errors are retried with backoff.
    - The state machine role may pass only ``job_role``, to SageMaker only, and holds the
      ``events:PutRule``/``PutTargets``/``DescribeRule`` rights on the
      ``StepFunctionsGetEventsForSageMaker*JobsRule`` rules that ``.sync`` integrations need.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: TrainingPipelineProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        p = props
        arn = f"arn:{Aws.PARTITION}"
        region_account = f"{Aws.REGION}:{Aws.ACCOUNT_ID}"
        bucket = p.artifacts_bucket.bucket_name
        run_path = "pipeline/{}"

        self.job_role = self._job_role()

        # 0. Per-execution names and paths.
        prepare = sfn.Pass(
            self,
            "PrepareRun",
            comment="Run id, job names and S3 paths of this execution",
            parameters={
                "trigger.$": "$.trigger",
                "detail.$": "$.detail",
                "runId.$": "States.ArrayGetItem(States.StringSplit(States.UUID(), '-'), 0)",
            },
            result_path="$.run",
        )
        names = sfn.Pass(
            self,
            "NameJobs",
            parameters={
                "preprocessJob.$": f"States.Format('{p.project_name}-pre-{{}}', $.run.runId)",
                "trainJob.$": f"States.Format('{p.project_name}-train-{{}}', $.run.runId)",
                "evaluateJob.$": f"States.Format('{p.project_name}-eval-{{}}', $.run.runId)",
                "baselineJob.$": f"States.Format('{p.project_name}-baseline-{{}}', $.run.runId)",
                "prefix.$": f"States.Format('s3://{bucket}/{run_path}', $.run.runId)",
                "evaluationKey.$": f"States.Format('{run_path}/evaluation/{contract.EVALUATION_FILE}', $.run.runId)",
            },
            result_path="$.names",
        )
        defaults = sfn.Pass(self, "DefaultTrigger", result=sfn.Result.from_object({"trigger": "manual", "detail": {}}))
        has_trigger = (
            sfn.Choice(self, "HasTrigger")
            .when(sfn.Condition.and_(sfn.Condition.is_present("$.trigger"), sfn.Condition.is_present("$.detail")), prepare)
            .otherwise(defaults.next(prepare))
        )

        network = {"VpcConfig": {"SecurityGroupIds": p.security_group_ids, "Subnets": p.subnet_ids}}
        job_timeout = lambda runtime: int(runtime.plus(Duration.minutes(20)).to_seconds())  # noqa: E731  (job limit + start-up)

        # 1. Preprocessing.
        preprocess = self._processing_job(
            "Preprocess",
            job_name_path="$.names.preprocessJob",
            entrypoint=contract.ENTRYPOINTS["preprocess"],
            inputs=[self._processing_input("data", p.data_bucket.s3_url_for_object(p.data_prefix), contract.PREPROCESS_INPUT)],
            outputs=[
                self._processing_output(name, f"preprocess/{name}", local_path)
                for name, local_path in contract.PREPROCESS_OUTPUTS.items()
            ],
            network=network,
            result_path="$.jobs.preprocess",
            timeout=job_timeout(p.processing_max_runtime),
        )

        # 2. Training.
        stopping = {"MaxRuntimeInSeconds": int(p.training_max_runtime.to_seconds())}
        spot = {}
        if p.spot_training:
            stopping["MaxWaitTimeInSeconds"] = int(p.training_max_runtime.to_seconds()) * 2
            spot = {
                "EnableManagedSpotTraining": True,
                "CheckpointConfig": {"S3Uri.$": f"States.Format('s3://{bucket}/{run_path}/checkpoints', $.run.runId)"},
            }
        train = sfn.CustomState(
            self,
            "Train",
            state_json={
                "Type": "Task",
                "Resource": f"{arn}:states:::sagemaker:createTrainingJob.sync",
                "Parameters": {
                    "TrainingJobName.$": "$.names.trainJob",
                    "RoleArn": self.job_role.role_arn,
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
                                    "S3Uri.$": f"States.Format('s3://{bucket}/{run_path}/preprocess/{channel}', $.run.runId)",
                                }
                            },
                        }
                        for channel in contract.TRAINING_CHANNELS
                    ],
                    "OutputDataConfig": {
                        "S3OutputPath.$": f"States.Format('s3://{bucket}/{run_path}/model', $.run.runId)",
                        "KmsKeyId": p.key.key_arn,
                    },
                    "ResourceConfig": {
                        "InstanceCount": 1,
                        "InstanceType": p.training_instance_type,
                        "VolumeSizeInGB": p.volume_size_gb,
                        "VolumeKmsKeyId": p.key.key_arn,
                    },
                    "StoppingCondition": stopping,
                    "EnableInterContainerTrafficEncryption": True,
                    "Tags": [{"Key": "project", "Value": p.project_name}],
                    **network,
                    **spot,
                },
                "ResultSelector": {"arn.$": "$.TrainingJobArn", "modelArtifacts.$": "$.ModelArtifacts.S3ModelArtifacts"},
                "ResultPath": "$.jobs.train",
                "TimeoutSeconds": int(p.training_max_runtime.to_seconds()) * (2 if p.spot_training else 1) + 1200,
            },
        )

        # 3. Evaluation.
        evaluate = self._processing_job(
            "Evaluate",
            job_name_path="$.names.evaluateJob",
            entrypoint=contract.ENTRYPOINTS["evaluate"],
            inputs=[
                self._processing_input("model", None, contract.EVALUATE_MODEL, uri_path="$.jobs.train.modelArtifacts"),
                self._processing_input("test", f"s3://{bucket}/{run_path}/preprocess/test", contract.EVALUATE_TEST, formatted=True),
                self._processing_input("baseline", f"s3://{bucket}/{run_path}/preprocess/baseline", contract.EVALUATE_BASELINE, formatted=True),
            ],
            outputs=[
                self._processing_output("evaluation", "evaluation", contract.EVALUATE_OUTPUT),
                self._processing_output("scored-baseline", "scored-baseline", contract.EVALUATE_SCORED_BASELINE),
            ],
            network=network,
            result_path="$.jobs.evaluate",
            timeout=job_timeout(p.processing_max_runtime),
        )

        read_evaluation = tasks.CallAwsService(
            self,
            "ReadEvaluation",
            service="s3",
            action="getObject",
            iam_resources=[p.artifacts_bucket.arn_for_objects("pipeline/*")],
            parameters={"Bucket": bucket, "Key.$": "$.names.evaluationKey"},
            result_selector={"report.$": "States.StringToJson($.Body)"},
            result_path="$.evaluation",
            task_timeout=sfn.Timeout.duration(Duration.minutes(2)),
        )

        # 4. Quality gate.
        value_path = f"$.evaluation.report.metrics.{p.metric}"
        compare = (
            sfn.Condition.number_greater_than_equals(value_path, p.threshold)
            if p.higher_is_better
            else sfn.Condition.number_less_than_equals(value_path, p.threshold)
        )
        relation = ">=" if p.higher_is_better else "<="
        passes = sfn.Condition.and_(sfn.Condition.is_present(value_path), sfn.Condition.is_numeric(value_path), compare)

        # 5. Data-quality baseline (only for models that passed the gate: nothing is spent on the others).
        baseline = None
        model_metrics: dict = {
            "ModelQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri.$": f"States.Format('s3://{bucket}/{{}}', $.names.evaluationKey)",
                }
            }
        }
        drift_baselines: dict = {}
        if p.monitor_image is not None:
            baseline = self._processing_job(
                "Baseline",
                job_name_path="$.names.baselineJob",
                image_uri=p.monitor_image.uri,
                entrypoint=None,
                environment={
                    "dataset_format": json.dumps({"csv": {"header": True, "output_columns_position": "START"}}),
                    "dataset_source": MONITOR_BASELINE_INPUT,
                    "output_path": MONITOR_OUTPUT,
                    "publish_cloudwatch_metrics": "Disabled",
                },
                inputs=[self._processing_input("baseline_dataset_input", f"s3://{bucket}/{run_path}/scored-baseline",
                                               MONITOR_BASELINE_INPUT, formatted=True)],
                outputs=[self._processing_output("monitoring_output", "baseline", MONITOR_OUTPUT)],
                network=network,
                result_path="$.jobs.baseline",
                timeout=job_timeout(p.processing_max_runtime),
            )
            reports = {
                name: {"ContentType": "application/json", "S3Uri.$": f"States.Format('s3://{bucket}/{run_path}/baseline/{name.lower()}.json', $.run.runId)"}
                for name in ("Statistics", "Constraints")
            }
            model_metrics["ModelDataQuality"] = reports
            drift_baselines = {"DriftCheckBaselines": {"ModelDataQuality": reports}}

        register = tasks.CallAwsService(
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
                "ModelApprovalStatus": p.approval_status,
                "InferenceSpecification": {
                    "Containers": [{"Image": p.image_uri, "ModelDataUrl.$": "$.jobs.train.modelArtifacts"}],
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
                    "trainingJob.$": "$.names.trainJob",
                    # the training features; the monitoring baseline computed from them is DriftCheckBaselines
                    "trainingFeatures.$": f"States.Format('s3://{bucket}/{run_path}/preprocess/baseline', $.run.runId)",
                },
            },
            result_selector={"arn.$": "$.ModelPackageArn"},
            result_path="$.registered",
            task_timeout=sfn.Timeout.duration(Duration.minutes(2)),
        )

        notify_registered = self._notify("NotifyRegistered", f"{p.project_name}: model registered", {
            "project": p.project_name,
            "result": "registered",
            "modelPackageArn": sfn.JsonPath.string_at("$.registered.arn"),
            "approvalStatus": p.approval_status,
            "metrics": sfn.JsonPath.object_at("$.evaluation.report.metrics"),
            "execution": sfn.JsonPath.execution_id,
        })
        notify_gate = self._notify("NotifyGateFailed", f"{p.project_name}: quality gate failed", {
            "project": p.project_name,
            "result": "quality gate failed; model not registered",
            "metric": p.metric,
            "required": f"{relation} {p.threshold}",
            "metrics": sfn.JsonPath.object_at("$.evaluation.report.metrics"),
            "execution": sfn.JsonPath.execution_id,
        })
        gate_failed = sfn.Fail(
            self, "QualityGateFailed", error="QualityGateFailed", cause=f"{p.metric} did not meet {relation} {p.threshold}"
        )
        notify_failure = self._notify("NotifyFailure", f"{p.project_name}: training pipeline failed", {
            "project": p.project_name,
            "result": "pipeline failed",
            "error": sfn.JsonPath.string_at("$.error.Error"),
            "cause": sfn.JsonPath.string_at("$.error.Cause"),
            "execution": sfn.JsonPath.execution_id,
        })
        failed = sfn.Fail(self, "PipelineFailed", error="PipelineFailed", cause="A pipeline step failed; the alert topic has the cause")
        notify_failure.next(failed)

        for task in (preprocess, train, evaluate, *([baseline] if baseline else [])):
            task.add_retry(errors=RETRYABLE, interval=Duration.seconds(30), max_attempts=4, backoff_rate=2, jitter_strategy=sfn.JitterType.FULL)
            task.add_catch(notify_failure, errors=["States.ALL"], result_path="$.error")
        for task in (read_evaluation, register, notify_registered):
            task.add_retry(errors=SDK_RETRYABLE, interval=Duration.seconds(5), max_attempts=3, backoff_rate=2)
            task.add_catch(notify_failure, errors=["States.ALL"], result_path="$.error")
        notify_gate.add_catch(notify_failure, errors=["States.ALL"], result_path="$.error")

        gate = (
            sfn.Choice(self, "QualityGate", comment=f"{p.metric} {relation} {p.threshold}")
            .when(passes, (baseline.next(register) if baseline else register).next(notify_registered).next(sfn.Succeed(self, "ModelRegistered")))
            .otherwise(notify_gate.next(gate_failed))
        )
        prepare.next(names).next(preprocess).next(train).next(evaluate).next(read_evaluation).next(gate)

        self.log_group = logs.LogGroup(
            self, "LogGroup", retention=logs.RetentionDays.ONE_YEAR, removal_policy=RemovalPolicy.RETAIN
        )
        total = p.processing_max_runtime.plus(p.processing_max_runtime).plus(p.processing_max_runtime).plus(p.training_max_runtime)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(has_trigger),
            state_machine_type=sfn.StateMachineType.STANDARD,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            timeout=total.plus(Duration.hours(2)) if not p.spot_training else total.plus(p.training_max_runtime).plus(Duration.hours(2)),
            comment=f"Training pipeline of ML project {p.project_name}",
        )
        self._grant_state_machine(arn, region_account)

    # -- pieces -----------------------------------------------------------------------------------

    def _notify(self, state_id: str, subject: str, message: dict) -> tasks.SnsPublish:
        """A message to the alert topic that leaves the state's input as it was; retried when SNS is busy."""
        task = tasks.SnsPublish(
            self,
            state_id,
            topic=self.props.alert_topic,
            subject=subject,
            message=sfn.TaskInput.from_object(message),
            result_path=sfn.JsonPath.DISCARD,
            task_timeout=sfn.Timeout.duration(Duration.minutes(1)),
        )
        task.add_retry(errors=["SNS.ThrottledException", "States.TaskFailed"], max_attempts=3, backoff_rate=2)
        return task

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
        bucket = self.props.artifacts_bucket.bucket_name
        return {
            "OutputName": name,
            "S3Output": {
                "LocalPath": local_path,
                "S3UploadMode": "EndOfJob",
                "S3Uri.$": f"States.Format('s3://{bucket}/pipeline/{{}}/{suffix}', $.run.runId)",
            },
        }

    def _processing_job(self, state_id: str, *, job_name_path: str, entrypoint: list[str] | None, inputs: list[dict], outputs: list[dict],
                        network: dict, result_path: str, timeout: int, image_uri: str | None = None,
                        environment: dict[str, str] | None = None) -> sfn.CustomState:
        p = self.props
        app_spec: dict = {"ImageUri": image_uri or p.image_uri}
        if entrypoint is not None:
            app_spec["ContainerEntrypoint"] = entrypoint
        extra = {"Environment": environment} if environment else {}
        return sfn.CustomState(
            self,
            state_id,
            state_json={
                "Type": "Task",
                # CDK has no processing-job task (aws-cdk issue 9537): the optimized integration, by hand.
                "Resource": f"arn:{Aws.PARTITION}:states:::sagemaker:createProcessingJob.sync",
                "Parameters": {
                    "ProcessingJobName.$": job_name_path,
                    "RoleArn": self.job_role.role_arn,
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
                    "NetworkConfig": {"EnableInterContainerTrafficEncryption": True, **network},
                    "Tags": [{"Key": "project", "Value": p.project_name}],
                    **extra,
                },
                "ResultSelector": {"arn.$": "$.ProcessingJobArn", "status.$": "$.ProcessingJobStatus"},
                "ResultPath": result_path,
                "TimeoutSeconds": timeout,
            },
        )

    def _job_role(self) -> iam.Role:
        p = self.props
        role = sagemaker_role(self, "JobRole", f"SageMaker processing and training jobs of ML project {p.project_name}")
        p.data_bucket.grant_read(role, f"{p.data_prefix}*")
        p.artifacts_bucket.grant_read_write(role, "pipeline/*")
        p.key.grant_encrypt_decrypt(role)
        p.repository.grant_pull(role)
        log_groups = job_log_groups("ProcessingJobs", "TrainingJobs")
        allow_job_logs_and_metrics(role, log_groups=log_groups, metric_namespaces=["/aws/sagemaker/*"], metrics_sid="JobMetrics")
        if p.monitor_image is not None:
            allow_image_pull(role, sid="PullModelMonitorAnalyzer", image=p.monitor_image)
        allow_vpc_networking(role, "JobsInTheVpc")
        acknowledge_wildcards(
            role,
            reason="Object access from grant_read/grant_read_write, limited to the data prefix and pipeline/ of this project's buckets.",
            resources=[p.data_bucket.arn_for_objects(f"{p.data_prefix}*"), p.artifacts_bucket.arn_for_objects("pipeline/*")],
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
        p = self.props
        role = self.state_machine.role
        jobs = [
            f"{arn}:sagemaker:{region_account}:processing-job/{p.project_name}-*",
            f"{arn}:sagemaker:{region_account}:training-job/{p.project_name}-*",
        ]
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RunThisProjectsJobs",
                actions=[
                    "sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob",
                    "sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob",
                    "sagemaker:AddTags", "sagemaker:ListTags",
                ],
                resources=jobs,
            )
        )
        sync_rules = [
            f"{arn}:events:{region_account}:rule/StepFunctionsGetEventsForSageMakerProcessingJobsRule",
            f"{arn}:events:{region_account}:rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule",
        ]
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
            reason="Job names are <project>-<step>-<run id>, made per execution; the statement covers this project's jobs only.",
            resources=jobs,
        )
        acknowledge_wildcards(
            role,
            reason="Reads evaluation.json of any run under pipeline/ (the run id is made per execution); creates model packages "
            "only in this project's group (versions are numbered by SageMaker).",
            resources=[
                p.artifacts_bucket.arn_for_objects("pipeline/*"),
                f"{arn}:sagemaker:{region_account}:model-package/{p.model_package_group_name}/*",
            ],
            actions=["kms:GenerateDataKey*"],
        )
        acknowledge_wildcards(
            role,
            reason="Step Functions' own policy for X-Ray tracing and CloudWatch Logs delivery: these actions support no "
            "resource-level permissions.",
            resources=["*"],
        )
