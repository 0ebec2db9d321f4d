"""The stateful resources of one ML project."""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from config.layout import GROUND_TRUTH_PREFIX, PIPELINE_PREFIX, REGISTERED, run_path
from config.naming import Names
from config.schema import MlflowConfig, ProjectConfig, StorageConfig
from mlops_constructs.project_budget import ProjectBudget, ProjectBudgetProps
from mlops_constructs.project_mlflow import MlflowServer, ProjectMlflow, ProjectMlflowProps
from mlops_constructs.secure_bucket import SecureBucket, access_logs_bucket, allow_log_encryption, retained_key
from mlops_constructs.service_principals import from_this_account
from mlops_constructs.studio_network import WorkloadNetwork, WorkloadSecurityGroup, WorkloadSecurityGroupProps

# What a stage in another account does with this project's registry: SageMaker creates its model from a package
# (CloudFormation's role: DescribeModelPackage and the listing, the actions AWS's cross-account model-group policies
# name, https://docs.aws.amazon.com/sagemaker/latest/dg/model-registry-ram-discover.html), pulls the image and reads the
# artifact with the model's role (ECR decrypts the layers with its own grant on the key; S3 needs the key's Decrypt).
REGISTRY_READ_ACTIONS = ["sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup", "sagemaker:ListModelPackages"]
IMAGE_PULL_ACTIONS = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]


@dataclass(frozen=True)
class RegistryReader:
    """A stage in another account serving this project's registered models: ``deployer`` (its CloudFormation role) creates
    models from the packages, ``readers`` (its model and monitor roles) read the artifacts and baselines under
    ``pipeline/``, ``pullers`` (its model role, and its monitor role where the project's own analyzer runs) pull the
    image. Roles are named by ARN; they need not exist yet (the policies match them by ``aws:PrincipalArn``, with the
    account as principal)."""

    stage: str
    account: str
    deployer: str
    readers: list[str]
    pullers: list[str]


# the lifecycle and budget defaults are the config schema's
_STORAGE_DEFAULTS = StorageConfig()
_PROJECT_DEFAULTS = ProjectConfig.model_fields


@dataclass(frozen=True)
class ProjectResourcesProps:
    """Props of :class:`ProjectResources`.

    ``project_name`` and ``model_package_group_name`` may be tokens (Service Catalog parameters).
    Build them with :meth:`for_stage`, which both the configured project stack and the self-service
    project product use, so the two cannot drift apart.
    """

    project_name: str
    model_package_group_name: str
    network: WorkloadNetwork
    repository_name: str | None = None  # CloudFormation's generated name without (``Names.repository``: the delivery pipeline pushes by name)
    alert_emails: list[str] = field(default_factory=list)
    noncurrent_version_expiration: Duration = Duration.days(_STORAGE_DEFAULTS.noncurrent_version_expiration_days)
    capture_transition_after: Duration = Duration.days(_STORAGE_DEFAULTS.capture_transition_days)
    access_log_expiration: Duration = Duration.days(_STORAGE_DEFAULTS.access_log_expiration_days)
    log_group_pattern: str | None = None  # log groups (names, with *) CloudWatch Logs may encrypt with the key; none by default
    # the EventBridge rules (names, with *) that may publish to the alert topic: any rule of the account by default
    event_rule_pattern: str | None = None
    budget_name: str | None = None  # the project's monthly cost budget (none by default)
    mlflow: MlflowServer | None = None  # the project's MLflow (none by default)
    monthly_budget_usd: float = _PROJECT_DEFAULTS["monthly_budget_usd"].default
    # roles of this account (an application's) that may write model-quality labels under ground-truth/ of the capture bucket
    label_writers: list[str] = field(default_factory=list)

    @classmethod
    def for_stage(
        cls,
        *,
        names: Names,
        storage: StorageConfig,
        project_name: str,
        alert_emails: list[str],
        network: WorkloadNetwork,
        monthly_budget_usd: float = _PROJECT_DEFAULTS["monthly_budget_usd"].default,
        mlflow: MlflowConfig | None = None,
        label_writers: list[str] | None = None,
    ) -> ProjectResourcesProps:
        """A project of the stage named by ``names``, with the stage's storage lifecycle settings, in the stage's ``network``,
        with its monthly budget ``<prefix>-<stage>-<project>-monthly``."""
        return cls(
            project_name=project_name,
            model_package_group_name=names.model_package_group(project_name),
            repository_name=names.repository(project_name),
            network=network,
            alert_emails=alert_emails,
            noncurrent_version_expiration=Duration.days(storage.noncurrent_version_expiration_days),
            capture_transition_after=Duration.days(storage.capture_transition_days),
            access_log_expiration=Duration.days(storage.access_log_expiration_days),
            log_group_pattern=names.log_group_pattern,
            event_rule_pattern=f"{names.base}-*",  # CloudFormation names a stack's rules after the stack
            budget_name=names.budget(project_name),
            monthly_budget_usd=monthly_budget_usd,
            mlflow=None if mlflow is None else MlflowServer(names.mlflow(project_name), mlflow),
            label_writers=list(label_writers or []),
        )


class ProjectResources(Construct):
    """A project's key, buckets, image repository, model registry group and alert topic.

    Deploys:
    - ``key``: a customer-managed KMS key with yearly rotation, retained on destroy. It encrypts every
      data bucket, the repository and the topic. CloudWatch and EventBridge may use it to publish
      alarms and events to the topic (scoped by ``aws:SourceAccount``).
    - ``access_logs_bucket``: the server-access-log destination (SSE-S3, the only encryption S3
      logging supports); logs expire after ``access_log_expiration`` (default 365 days).
    - ``data_bucket`` (EventBridge notifications on, for retraining on new data), ``artifacts_bucket``
      (models, evaluation reports) and ``capture_bucket`` (endpoint data capture and monitoring
      output, moved to Standard-IA after ``capture_transition_after``, default 30 days): SSE-KMS with
      the project key, versioned (old versions expire after ``noncurrent_version_expiration``, default
      90 days), public access blocked, TLS only, access-logged, retained on destroy.
    - ``repository``: an ECR repository, scan on push, immutable tags, KMS-encrypted; untagged images
      expire after 7 days; tagged images never expire (a registered model package names its image by
      tag, so a count rule could delete an image a package still deploys); retained.
    - ``model_package_group``: the SageMaker model registry group, retained on destroy.
    - ``jobs_security_group`` and ``models_security_group``: the project's own security groups for its
      SageMaker jobs and for its models (``WorkloadSecurityGroup``: no ingress, HTTPS out to the VPC
      endpoints and S3 only), so no workload shares a group with another project's or with Studio.
    - ``alert_topic``: an SNS topic encrypted with the key, TLS only, with an email subscription per
      address in ``alert_emails`` (each address must confirm the subscription); EventBridge rules
      of this account may publish to it.
    - with ``budget_name``, ``budget``: the project's monthly cost budget of ``monthly_budget_usd`` on its
      ``project`` cost-allocation tag, alerting the topic (``ProjectBudget``).
    - with ``mlflow``, ``mlflow``: the project's managed MLflow, its artifacts under ``mlflow/`` of the artifacts
      bucket (``ProjectMlflow``), retained.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: ProjectResourcesProps) -> None:
        super().__init__(scope, construct_id)

        self.key = retained_key(self, "Key", description=f"Encrypts the data, models, images and alerts of ML project {props.project_name}")
        rules = (
            None if props.event_rule_pattern is None else f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:rule/{props.event_rule_pattern}"
        )
        for service, source in (("cloudwatch.amazonaws.com", None), ("events.amazonaws.com", rules)):
            self.key.grant(from_this_account(service, source_arn=source), "kms:Decrypt", "kms:GenerateDataKey*")

        if props.log_group_pattern is not None:  # the stage's log groups (pipeline, functions, API access logs)
            allow_log_encryption(self.key, props.log_group_pattern)
        # The training pipeline's state machine is encrypted with this key; CloudWatch's log delivery reads its
        # execution data to log it: https://docs.aws.amazon.com/step-functions/latest/dg/encryption-at-rest.html
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="StateMachineLogDelivery",
                principals=[from_this_account("delivery.logs.amazonaws.com", source_arn=f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:*")],
                actions=["kms:Decrypt"],
                resources=["*"],
            )
        )

        self.access_logs_bucket = access_logs_bucket(
            self,
            "AccessLogsBucket",
            logged="the project's buckets",
            expiration=props.access_log_expiration,
            noncurrent_version_expiration=props.noncurrent_version_expiration,
        )

        def project_bucket(construct_id: str, prefix: str, **kwargs) -> SecureBucket:
            return SecureBucket(
                self,
                construct_id,
                encryption_key=self.key,
                access_logs_bucket=self.access_logs_bucket,
                access_logs_prefix=f"{prefix}/",
                noncurrent_version_expiration=props.noncurrent_version_expiration,
                **kwargs,
            )

        self.data_bucket = project_bucket("DataBucket", "data", event_bridge_enabled=True)
        # its object events reach EventBridge: a sandbox user's upload under sandbox/<user>/published/ is a publish request
        self.artifacts_bucket = project_bucket("ArtifactsBucket", "artifacts", event_bridge_enabled=True)
        self._seal_registered_models()
        self.capture_bucket = project_bucket(
            "CaptureBucket",
            "capture",
            extra_lifecycle_rules=[
                s3.LifecycleRule(
                    id="capture-to-infrequent-access",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=props.capture_transition_after,
                        )
                    ],
                )
            ],
        )

        if props.label_writers:
            self._admit_label_writers(props.label_writers)

        self.repository = ecr.Repository(
            self,
            "ImageRepository",
            repository_name=props.repository_name,
            image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            encryption=ecr.RepositoryEncryption.KMS,
            encryption_key=self.key,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    rule_priority=1,
                    description="Expire untagged images after 7 days",
                    tag_status=ecr.TagStatus.UNTAGGED,
                    max_image_age=Duration.days(7),
                ),
            ],
        )
        self.allow_lambda_images(Aws.ACCOUNT_ID, sid="ThisAccountsFunctions")  # the drift check's function

        self.model_package_group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=props.model_package_group_name,
            model_package_group_description=f"Registered models of ML project {props.project_name}",
        )
        self.model_package_group.apply_removal_policy(RemovalPolicy.RETAIN)
        self.model_package_group_name = props.model_package_group_name
        self._group_policy = iam.PolicyDocument()  # set on the group by share_registry

        self.alert_topic = sns.Topic(
            self,
            "AlertTopic",
            display_name=f"ML project {props.project_name} alerts",
            master_key=self.key,
            enforce_ssl=True,
        )
        for email in props.alert_emails:
            self.alert_topic.add_subscription(subscriptions.EmailSubscription(email))
        # EventBridge rules of this stage (a failed Model Monitor run, where one runs) deliver their messages here.
        self.alert_topic.grant_publish(from_this_account("events.amazonaws.com", source_arn=rules))
        self.budget = None
        if props.budget_name is not None:
            self.budget = ProjectBudget(
                self,
                "Budget",
                props=ProjectBudgetProps(
                    budget_name=props.budget_name,
                    amount_usd=props.monthly_budget_usd,
                    tag_key=Names.PROJECT_TAG,
                    tag_value=props.project_name,
                    alert_topic=self.alert_topic,
                    key=self.key,
                ),
            )

        self.mlflow = None
        if props.mlflow is not None:
            self.mlflow = ProjectMlflow(
                self, "Mlflow", props=ProjectMlflowProps(server=props.mlflow, artifacts_bucket=self.artifacts_bucket, key=self.key)
            )

        self.jobs_security_group, self.models_security_group = (
            WorkloadSecurityGroup(
                self,
                f"{kind}SecurityGroup",
                props=WorkloadSecurityGroupProps(network=props.network, description=f"{what}: HTTPS to the VPC endpoints and S3"),
            )
            for kind, what in (("Jobs", "SageMaker jobs of one ML project"), ("Models", "Models of one ML project"))
        )

    def _admit_label_writers(self, writers: list[str]) -> None:
        """Let ``writers`` (roles of an application that learns the truth later) put model-quality labels under
        ``ground-truth/`` of the capture bucket, and nothing else: the bucket's policy and the key's, through S3 only
        (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service)."""
        principals = [iam.ArnPrincipal(arn) for arn in writers]
        self.capture_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="LabelWritersPutGroundTruth",
                principals=principals,
                actions=["s3:PutObject"],
                resources=[self.capture_bucket.arn_for_objects(f"{GROUND_TRUTH_PREFIX}*")],
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="LabelWritersEncryptThroughS3",
                principals=principals,
                actions=["kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{Stack.of(self).region}.amazonaws.com"}},
            )
        )

    def _seal_registered_models(self) -> None:
        """What a model package points at (``pipeline/<run>/registered/``, written by the pipeline's seal function) is
        write-once, for every principal: a write without ``If-None-Match`` is denied (so S3 creates the object only if
        none has its key, and CopyObject, which cannot send it, is denied too), and so is every delete. Multipart parts
        are exempt through ``s3:ObjectCreationOperation``, as AWS's page says they must be:
        https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes-enforce.html."""
        sealed = self.artifacts_bucket.arn_for_objects(run_path("*", REGISTERED, "*"))
        self.artifacts_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="RegisteredModelsAreWrittenOnce",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[sealed],
                conditions={"Null": {"s3:if-none-match": "true"}, "Bool": {"s3:ObjectCreationOperation": "true"}},
            )
        )
        self.artifacts_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="RegisteredModelsAreNeverDeleted",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:DeleteObject", "s3:DeleteObjectVersion"],
                resources=[sealed],
            )
        )

    def allow_lambda_images(self, account: str, *, sid: str) -> None:
        """Let Lambda pull this repository's images for the functions of ``account`` (the drift check runs the project image
        as a function): the repository policy Lambda requires for container images
        (https://docs.aws.amazon.com/lambda/latest/dg/images-create.html#configuration-images-permissions)."""
        self.repository.add_to_resource_policy(
            iam.PolicyStatement(
                sid=sid,
                principals=[iam.ServicePrincipal("lambda.amazonaws.com")],
                actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                conditions={"StringEquals": {"aws:SourceAccount": account}},
            )
        )

    def share_registry(self, reader: RegistryReader) -> None:
        """Let ``reader``'s roles (and no other principal of its account) use this project's registered models: each of the
        four resource policies names exactly them (the artifacts bucket and key: ``pipeline/`` objects only, through S3)."""
        sid = "ServeStage" + "".join(part.capitalize() for part in reader.stage.split("-"))
        account = iam.AccountPrincipal(reader.account)

        def only(roles: list[str], **more: dict) -> dict:
            return {"ArnEquals": {"aws:PrincipalArn": roles}, **more}

        self.artifacts_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid=sid,
                principals=[account],
                actions=["s3:GetObject"],
                resources=[self.artifacts_bucket.arn_for_objects(f"{PIPELINE_PREFIX}*")],
                conditions=only(reader.readers),
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=sid,
                principals=[account],
                actions=["kms:Decrypt"],
                resources=["*"],
                conditions=only(reader.readers, StringEquals={"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}),
            )
        )
        self.repository.add_to_resource_policy(
            iam.PolicyStatement(sid=sid, principals=[account], actions=IMAGE_PULL_ACTIONS, conditions=only(reader.pullers))
        )
        self.allow_lambda_images(reader.account, sid=f"{sid}Functions")
        group = f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:model-package-group/{self.model_package_group_name}"
        packages = f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:model-package/{self.model_package_group_name}/*"
        self._group_policy.add_statements(
            iam.PolicyStatement(
                sid=sid,
                principals=[account],
                actions=REGISTRY_READ_ACTIONS,
                resources=[group, packages],
                conditions=only([reader.deployer, *dict.fromkeys(reader.readers + reader.pullers)]),
            )
        )
        self.model_package_group.model_package_group_policy = self._group_policy

    def parameter_values(self) -> dict[str, str]:
        """What later stacks and Service Catalog sandboxes need to find this project (see ``PublishedParameters``)."""
        return {
            "data-bucket-name": self.data_bucket.bucket_name,
            "artifacts-bucket-name": self.artifacts_bucket.bucket_name,
            "capture-bucket-name": self.capture_bucket.bucket_name,
            "key-arn": self.key.key_arn,
            "repository-name": self.repository.repository_name,
            "model-package-group-name": self.model_package_group_name,
            "alert-topic-arn": self.alert_topic.topic_arn,
            "jobs-security-group-id": self.jobs_security_group.attr_group_id,
            "models-security-group-id": self.models_security_group.attr_group_id,
            **({"mlflow-arn": self.mlflow.tracking.arn} if self.mlflow is not None else {}),
        }
