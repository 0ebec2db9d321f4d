"""What starts a training pipeline: a schedule, new data, a drift alarm, each through one guard function."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, Duration, Fn, Validations
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from config import layout
from config.schema import PipelineConfig, ProjectConfig
from mlops_constructs.handler_function import HandlerFunction, HandlerFunctionProps
from mlops_constructs.nag import acknowledge_wildcards

_PIPELINE_DEFAULTS = PipelineConfig()
_PROJECT_DEFAULTS = ProjectConfig.model_fields


def drift_alarm_pattern(alarm_name_prefix: str) -> events.EventPattern:
    """A drift alarm (named with ``alarm_name_prefix``) going to ALARM: what the drift rule retrains on, and what an
    endpoint stack in another account relays to the registry account's event bus."""
    return events.EventPattern(
        source=["aws.cloudwatch"],
        detail_type=["CloudWatch Alarm State Change"],
        detail={"alarmName": [{"prefix": alarm_name_prefix}], "state": {"value": ["ALARM"]}},
    )


@dataclass(frozen=True)
class PipelineTriggersProps:
    """Props of :class:`PipelineTriggers`. Defaults: the config schema's (``config.schema``)."""

    project_name: str
    state_machine: sfn.IStateMachine
    alert_topic: sns.ITopic
    key: kms.IKey
    data_bucket: s3.IBucket
    artifacts_bucket: s3.IBucket  # where sandbox users upload what they publish (sandbox/<user>/published/)
    drift_alarm_prefix: str
    queue_parameter_name: str
    repository: ecr.IRepository  # the image the pipeline's jobs run, by its immutable tag: each run records its digest
    image_tag: str
    function_name: str | None = None  # CloudFormation's generated name without (``Names.pipeline_guard``: sandboxes invoke it by name)
    data_prefix: str = _PIPELINE_DEFAULTS.data_prefix
    schedule: str = _PROJECT_DEFAULTS["retrain_schedule"].default
    schedule_enabled: bool = _PROJECT_DEFAULTS["retrain_schedule_enabled"].default
    max_publish_runs: int = _PIPELINE_DEFAULTS.max_publish_runs


class PipelineTriggers(Construct):
    """Starts ``state_machine`` on three triggers, never two executions at once, no trigger lost.

    Deploys:
    - ``function``: the guard in ``lambda/start_pipeline`` (Python 3.14, reserved concurrency 1,
      30 s timeout, logs kept one year, named ``function_name`` when given). It starts an execution, or,
      while one runs, queues the trigger (JSON log line and a message on ``alert_topic``): the triggers
      queued during a run are coalesced into exactly one follow-up run, started when that run ends. It refuses
      ``publish``: a caller's word is no proof of who it is.
    - ``publisher``: the same code for S3's Object Created event of an archive a sandbox user uploads under
      ``sandbox/<user>/published/`` (``publish_rule``; EventBridge alone may invoke it): a publish run at once, as that
      user (only that user's role can write there), named after the archive's folder, at most ``max_publish_runs`` at once.
    - ``run_request_rule``: S3's Object Created event of a run request a sandbox user uploads (``mlops run``:
      ``sandbox/<user>/requests/<id>/run.json``) reaches the guard as is: a manual trigger from that user (only that user's
      role can write there), answered beside the request (``answer.json``).
    - Each run's record, ``runs/<execution name>.json`` in the artifacts bucket, written by the guard or the publisher
      when it starts the run and by the guard when it ends: what ``mlops`` reads through S3 instead of Step Functions.
    - ``queue``: the SSM parameter ``queue_parameter_name`` holding the queued triggers (``{}``: none).
    - ``run_ended_rule``: an execution of ``state_machine`` ending (succeeded, failed, timed out,
      aborted) reaches the guard, which then starts the follow-up run if triggers are queued.
    - ``schedule_rule``: ``schedule`` (an EventBridge cron/rate expression), enabled unless
      ``schedule_enabled`` is false.
    - ``new_data_rule``: S3 "Object Created" events (EventBridge notifications of ``data_bucket``,
      not CloudTrail) for keys under ``data_prefix``.
    - ``drift_rule``: a CloudWatch alarm whose name starts with ``drift_alarm_prefix`` going to
      ALARM (the monitoring stack names its drift alarms so).
    - ``dead_letter_queue``: events the function could not take after 4 retries (SSE, TLS only,
      kept 14 days).
    """

    def _upload_rule(self, construct_id: str, description: str, bucket: s3.IBucket, keys: str, function: lambda_.IFunction) -> events.Rule:
        """S3's Object Created event of an upload to ``bucket`` whose key matches ``keys`` (a wildcard), delivered as is to
        ``function`` (retried, then dead-lettered): the function takes the user from the key, never from a payload."""
        return events.Rule(
            self,
            construct_id,
            description=description,
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={"bucket": {"name": [bucket.bucket_name]}, "object": {"key": [{"wildcard": keys}]}},
            ),
            targets=[targets.LambdaFunction(function, retry_attempts=4, max_event_age=Duration.hours(6), dead_letter_queue=self.dead_letter_queue)],
        )

    def _publisher(self, p: PipelineTriggersProps, environment: dict[str, str]) -> None:
        """The publisher: the same code, invoked by EventBridge only (no user may), with S3's Object Created event of an
        archive under ``sandbox/<user>/published/``: the user is whoever could write there (that user's role alone)."""
        published = layout.PUBLISHED_ARCHIVES
        handler = HandlerFunction(
            self,
            "PublishModels",
            props=HandlerFunctionProps(
                code="start_pipeline",
                description=f"Starts a publish run of {p.project_name} for each model a sandbox user uploads",
                reserved_concurrency=1,  # one at a time: the bound on running publish runs is counted, then kept
                environment={**environment, "ACCEPTS": "published-models"},
                log_key=p.key,
            ),
        )
        self.publisher, role = handler.function, handler.role
        p.state_machine.grant_start_execution(role)
        p.state_machine.grant(role, "states:ListExecutions")
        p.repository.grant(role, "ecr:DescribeImages")
        role.add_to_principal_policy(  # the archive's metadata (its commit), and the note beside a refused one
            iam.PolicyStatement(sid="PublishedArchives", actions=["s3:GetObject"], resources=[p.artifacts_bucket.arn_for_objects(published)])
        )
        refused = f"{layout.SANDBOX_PREFIX}*/published/*/refused.json"
        records = p.artifacts_bucket.arn_for_objects(f"{layout.RUN_RECORDS_PREFIX}*")
        role.add_to_principal_policy(  # the note beside a refused archive; the record of each run it starts
            iam.PolicyStatement(
                sid="RefusalNotesAndRunRecords", actions=["s3:PutObject"], resources=[p.artifacts_bucket.arn_for_objects(refused), records]
            )
        )
        # the note and the records, under the bucket's key; the archive's metadata is read (HeadObject) as a GetObject
        # of an object under that key (the IAM engine holds S3's reads of such objects to kms:Decrypt)
        p.key.grant(role, "kms:Decrypt", "kms:GenerateDataKey*")
        acknowledge_wildcards(
            role,
            reason="Reads the metadata of the archives sandbox users publish (sandbox/<user>/published/<id>/model.tar.gz), writes a "
            "refusal note beside one it refuses and the record of each run it starts (runs/<execution>.json): per-user, "
            "per-publication and per-run keys; the key's GenerateDataKey family.",
            resources=[p.artifacts_bucket.arn_for_objects(published), p.artifacts_bucket.arn_for_objects(refused), records],
            actions=["kms:GenerateDataKey*"],
        )
        self.publish_rule = self._upload_rule(
            "PublishRule",
            f"A sandbox user of {p.project_name} published a model: start its publish run",
            p.artifacts_bucket,
            published,
            self.publisher,
        )

    def __init__(self, scope: Construct, construct_id: str, *, props: PipelineTriggersProps) -> None:
        super().__init__(scope, construct_id)
        p = props
        self.drift_alarm_prefix = p.drift_alarm_prefix

        environment = {
            "STATE_MACHINE_ARN": p.state_machine.state_machine_arn,
            "ALERT_TOPIC_ARN": p.alert_topic.topic_arn,
            "PROJECT_NAME": p.project_name,
            "QUEUE_PARAMETER": p.queue_parameter_name,
            "SANDBOX_PREFIX": layout.SANDBOX_PREFIX,
            "IMAGE_REPOSITORY": p.repository.repository_name,
            "IMAGE_TAG": p.image_tag,
            "MAX_PUBLISH_RUNS": str(p.max_publish_runs),
            "ARTIFACTS_BUCKET": p.artifacts_bucket.bucket_name,
        }
        handler = HandlerFunction(
            self,
            "StartPipeline",
            props=HandlerFunctionProps(
                code="start_pipeline",
                description=f"Starts the training pipeline of {p.project_name} unless an execution is running",
                reserved_concurrency=1,
                environment={**environment, "ACCEPTS": "triggers"},
                log_key=p.key,
                function_name=p.function_name,
            ),
        )
        self.function, role = handler.function, handler.role
        self.queue = ssm.StringParameter(
            self,
            "QueuedTriggers",
            parameter_name=p.queue_parameter_name,
            string_value="{}",  # the guard's empty queue (SSM refuses empty values); the guard rewrites it, a deploy does not
            description=f"Triggers of {p.project_name}'s training pipeline queued during a run (one follow-up run); {{}} when none",
        )
        # grant_read adds ssm:DescribeParameters, which takes no resource: the guard reads its one parameter by name
        iam.Grant.add_to_principal(grantee=role, actions=["ssm:GetParameter"], resource_arns=[self.queue.parameter_arn])
        self.queue.grant_write(role)
        p.state_machine.grant_start_execution(role)
        p.repository.grant(role, "ecr:DescribeImages")  # the digest of the run's image
        p.state_machine.grant(role, "states:ListExecutions")
        # DescribeExecution of its own executions: a run-ended event is checked against the execution's real status
        arn = p.state_machine.state_machine_arn
        executions = Fn.join("", [Fn.select(0, Fn.split(":stateMachine:", arn)), ":execution:", Fn.select(1, Fn.split(":stateMachine:", arn)), ":*"])
        role.add_to_principal_policy(iam.PolicyStatement(sid="ItsExecutions", actions=["states:DescribeExecution"], resources=[executions]))
        acknowledge_wildcards(
            role, reason="The pipeline's executions are named per run: DescribeExecution on this state machine's only.", resources=[executions]
        )
        p.alert_topic.grant_publish(role)
        p.key.grant(role, "kms:Decrypt", "kms:GenerateDataKey*")  # the topic and the bucket are encrypted with the project p.key
        # each run's record (runs/<execution>.json) and the answer beside each run request a sandbox user uploads
        records = p.artifacts_bucket.arn_for_objects(f"{layout.RUN_RECORDS_PREFIX}*")
        answers = p.artifacts_bucket.arn_for_objects(layout.RUN_REQUEST_ANSWERS)
        role.add_to_principal_policy(iam.PolicyStatement(sid="RunRecordsAndAnswers", actions=["s3:PutObject"], resources=[records, answers]))
        acknowledge_wildcards(
            role,
            reason="The alert topic and the artifacts bucket are encrypted with the project key: the GenerateDataKey family on that "
            "key only. The guard writes one record per run (runs/<execution>.json) and one answer per run request "
            "(sandbox/<user>/requests/<id>/answer.json): per-run and per-request keys.",
            actions=["kms:GenerateDataKey*"],
            resources=[records, answers],
        )

        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,  # the project key, which EventBridge of this account may use
            encryption_master_key=p.key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        Validations.of(self.dead_letter_queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-SQS3",
                reason="This queue is itself the dead-letter queue of the trigger rules' Lambda targets.",
            )
        )

        def rule(construct_id: str, description: str, trigger: str, detail: dict, **how: object) -> events.Rule:
            """A rule whose events reach the guard as ``{"trigger": ..., "detail": ...}``, retried, then dead-lettered."""
            target = targets.LambdaFunction(
                self.function,
                event=events.RuleTargetInput.from_object({"trigger": trigger, "detail": detail}),
                retry_attempts=4,
                max_event_age=Duration.hours(6),
                dead_letter_queue=self.dead_letter_queue,
            )
            return events.Rule(self, construct_id, description=description, targets=[target], **how)

        self.schedule_rule = rule(
            "ScheduleRule",
            f"Monthly retraining of {p.project_name}",
            "schedule",
            {"schedule": p.schedule},
            schedule=events.Schedule.expression(p.schedule),
            enabled=p.schedule_enabled,
        )
        self.new_data_rule = rule(
            "NewDataRule",
            f"New data for {p.project_name} under {p.data_prefix}",
            "new-data",
            {"key": events.EventField.from_path("$.detail.object.key")},
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={"bucket": {"name": [p.data_bucket.bucket_name]}, "object": {"key": [{"prefix": p.data_prefix}]}},
            ),
        )
        self.run_ended_rule = rule(
            "RunEndedRule",
            f"An execution of {p.project_name}'s training pipeline ended: start the queued follow-up run",
            "run-ended",
            {"execution": events.EventField.from_path("$.detail.executionArn"), "status": events.EventField.from_path("$.detail.status")},
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={"stateMachineArn": [p.state_machine.state_machine_arn], "status": ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]},
            ),
        )
        self.drift_rule = rule(
            "DriftRule",
            f"Drift detected on {p.project_name}'s endpoints",
            "drift",
            {"alarm": events.EventField.from_path("$.detail.alarmName")},
            event_pattern=drift_alarm_pattern(p.drift_alarm_prefix),
        )
        self.run_request_rule = self._upload_rule(
            "RunRequestRule",
            f"A sandbox user of {p.project_name} asked for a training run (mlops run): start or queue it",
            p.artifacts_bucket,
            layout.RUN_REQUESTS,
            self.function,
        )
        self._publisher(p, environment)
