"""The training pipeline's steps that are not SageMaker jobs (``JobStep`` is those), each in one place: the data lineage
a run records, where its model comes from (trained, or a sandbox user's published archive), and the MLflow link after
registration. Each builds its states in the pipeline's scope (their ids, and so the templates, are the pipeline's) and
owns its wiring, retries and permissions; ``TrainingPipeline`` chains them."""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from config import layout
from mlops_constructs.handler_function import HandlerFunction, HandlerFunctionProps
from mlops_constructs.project_mlflow import MlflowTracking

SDK_RETRYABLE = ["SageMaker.ThrottlingException", "S3.SlowDownException", "S3.S3Exception"]  # not NoSuchKey: it stays missing
PUBLISH_TRIGGER = "publish"  # a sandbox user's model to evaluate and register (lambda/start_pipeline starts such runs)
# What a registered package records of its model's origin (``$.provenance``, set on each path of a run).
PROVENANCE_KEYS = ("trainingJob", "publishedBy", "publishedFrom", "codeCommit", "mlflowRun")
PENDING = "PendingManualApproval"


class DataLineage:
    """The data a run trains on, as it stands when the run starts: ``RecordData`` lists every object under the data
    prefix (ListObjectsV2: the first 1,000, ``truncated`` says if there were more); ``DataManifest`` keeps each one's
    key, ETag and size at ``$.data`` (the listing itself is dropped); ``WriteDataManifest`` writes it as the run's data
    manifest (``pipeline/<run id>/lineage/data.json``), which the registered package names. No object: ``NoData``
    (nothing to train on) stops the run at once through ``on_failure``. ``first`` and ``last`` are its ends."""

    def __init__(
        self,
        scope: Construct,
        data_bucket: s3.IBucket,
        data_prefix: str,
        artifacts_bucket: s3.IBucket,
        data_url: str,
        run: str,
        *,
        on_failure: sfn.State,
    ) -> None:
        record = tasks.CallAwsService(
            scope,
            "RecordData",
            comment="The data this run trains on",
            service="s3",
            action="listObjectsV2",
            iam_action="s3:ListBucket",
            iam_resources=[data_bucket.bucket_arn],
            parameters={"Bucket": data_bucket.bucket_name, "Prefix": data_prefix},
            result_selector={"listing.$": "$"},  # Contents is absent when nothing is there (HasData says so)
            result_path="$.data",
            task_timeout=sfn.Timeout.duration(Duration.minutes(2)),
        )
        manifest = sfn.Pass(
            scope,
            "DataManifest",
            comment="Each object's key, ETag and size, in the order listed (index i of each list is one object)",
            parameters={
                "prefix": data_url,
                "objects.$": "$.data.listing.KeyCount",
                "truncated.$": "$.data.listing.IsTruncated",
                "keys.$": "$.data.listing.Contents[*].Key",
                "etags.$": "$.data.listing.Contents[*].ETag",
                "sizes.$": "$.data.listing.Contents[*].Size",
            },
            result_path="$.data",
        )
        write = tasks.CallAwsService(
            scope,
            "WriteDataManifest",
            service="s3",
            action="putObject",
            iam_resources=[artifacts_bucket.arn_for_objects(f"{layout.PIPELINE_PREFIX}*")],
            parameters={
                "Bucket": artifacts_bucket.bucket_name,
                "Key.$": f"States.Format('{run}/{layout.DATA_MANIFEST}', $.run.runId)",
                "Body.$": "States.JsonToString($.data)",
                "ContentType": "application/json",
            },
            result_path=sfn.JsonPath.DISCARD,
            task_timeout=sfn.Timeout.duration(Duration.minutes(2)),
        )
        for task in (record, write):
            task.add_retry(errors=SDK_RETRYABLE, interval=Duration.seconds(5), max_attempts=3, backoff_rate=2)
            task.add_catch(on_failure, errors=["States.ALL"], result_path="$.error")
        no_data = sfn.Pass(
            scope, "NoData", parameters={"Error": "NoData", "Cause": f"no object under {data_url}: nothing to train on"}, result_path="$.error"
        )
        no_data.next(on_failure)
        record.next(
            sfn.Choice(scope, "HasData")
            .when(sfn.Condition.number_greater_than("$.data.listing.KeyCount", 0), manifest.next(write))
            .otherwise(no_data)
        )
        self.first, self.last = record, write


class ModelSource:
    """Where a run's model comes from, and what the package records of it (``$.provenance``). A training run's model is
    its training job's (``trained``: ``TrainedHere``); a publish run's (``$.run.trigger`` ``publish``) is a sandbox user's
    archive (``$.run.detail.modelKey``, under ``sandbox/<user>/published/``: the publisher checked it), put where a
    training job's model goes (``$.jobs.train``) by ``PublishedModel``, then ``published``: ``RecordPublisher`` records who
    published it and the commit, always pending approval. Both paths go on to the seal."""

    def __init__(self, scope: Construct, bucket: str, *, mlflow: bool, approval_status: str) -> None:
        self._scope = scope
        self.trained = sfn.Pass(
            scope,
            "TrainedHere",
            parameters={
                "trainingJob.$": "$.names.trainJob",
                "publishedBy": "none",
                "publishedFrom": "none",
                "codeCommit.$": "$.run.imageCommit",  # the commit the image was built from (its commit-<sha> tag)
                # the training job's MLflow run is named after the job (SageMaker's TRAINING_JOB_NAME)
                **({"mlflowRun.$": "$.names.trainJob"} if mlflow else {"mlflowRun": "none"}),
                "approvalStatus": approval_status,
            },
            result_path="$.provenance",
        )
        self.placed = sfn.Pass(
            scope,
            "PublishedModel",
            parameters={"modelArtifacts.$": f"States.Format('s3://{bucket}/{{}}', $.run.detail.modelKey)"},
            result_path="$.jobs.train",
        )
        self.published = sfn.Pass(
            scope,
            "RecordPublisher",
            parameters={
                "trainingJob": "none",
                "publishedBy.$": "$.run.detail.user",
                "publishedFrom.$": "$.run.detail.modelKey",
                "codeCommit.$": "$.run.detail.commit",
                "mlflowRun": "none",  # trained elsewhere: the sandbox's own runs, if any, are the user's
                "approvalStatus": PENDING,  # whatever the project's approval_status: a sandbox's model is always reviewed
            },
            result_path="$.provenance",
        )
        self.placed.next(self.published)

    def choice(self, *, train: sfn.State) -> sfn.Choice:
        """``TrainOrPublish``: a publish run's model as it is, otherwise ``train`` then ``trained``."""
        return (
            sfn.Choice(self._scope, "TrainOrPublish", comment="A sandbox user's model is evaluated as it is; otherwise one is trained")
            .when(sfn.Condition.string_equals("$.run.trigger", PUBLISH_TRIGGER), self.placed)
            .otherwise(train.next(self.trained))
        )


class MlflowLink:
    """After registration, a trained model's MLflow run is tagged with its package (``lambda/link_mlflow_run``: the run ->
    package half of the link; the package names its run). The outcome is in ``$.mlflowLink``, which the registration's
    notification carries: the run's id, or why the link failed (the run goes on: the package is registered either way),
    or that a published model has no run of the platform's. ``invoked`` is the pipeline's wiring of a Lambda task
    (retries, the catch, the acknowledged grant)."""

    def __init__(self, scope: Construct, project_name: str, key: kms.IKey, mlflow: MlflowTracking, *, invoked: Callable) -> None:
        self._scope, self._project, self._mlflow, self._invoked = scope, project_name, mlflow, invoked
        self.function = HandlerFunction(
            scope,
            "MlflowLink",
            props=HandlerFunctionProps(
                code="link_mlflow_run",
                description=f"Tags {project_name}'s MLflow runs with the model packages registered from them",
                environment={"PROJECT_NAME": project_name},
                log_key=key,
            ),
        )
        self.function.role.add_to_principal_policy(mlflow.run_tagging_statement())

    def states(self, *, then: sfn.IChainable) -> sfn.Choice:
        """``HasMlflowRun``: ``LinkMlflowRun`` for a trained model, ``NoMlflowRun`` for a published one; both go on to ``then``."""
        scope = self._scope
        link = tasks.LambdaInvoke(
            scope,
            "LinkMlflowRun",
            lambda_function=self.function.function,
            payload=sfn.TaskInput.from_object(
                {
                    "trackingArn": self._mlflow.arn,
                    "experiment": self._project,
                    "runName": sfn.JsonPath.string_at("$.provenance.mlflowRun"),
                    "modelPackageArn": sfn.JsonPath.string_at("$.registered.arn"),
                    "pipelineRun": sfn.JsonPath.string_at("$.run.runId"),
                }
            ),
            result_selector={"runId.$": "$.Payload.runId"},
            result_path="$.mlflowLink",
            task_timeout=sfn.Timeout.duration(Duration.minutes(1)),
        )
        self._invoked(link, self.function, "the MLflow link function", on_failure=then, error_path="$.mlflowLink")
        skipped = sfn.Pass(
            scope,
            "NoMlflowRun",
            result=sfn.Result.from_object({"skipped": "a published model: no run of the platform's"}),
            result_path="$.mlflowLink",
        )
        return (
            sfn.Choice(scope, "HasMlflowRun")
            .when(sfn.Condition.string_equals("$.provenance.mlflowRun", "none"), skipped.next(then))
            .otherwise(link.next(then))
        )
