"""The self-mutating delivery pipeline: source -> tests + synth -> dev -> approval -> prod."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import Duration, Stack, pipelines
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from config import DeliveryConfig
from config.naming import delivery_pipeline
from config.parameters import registry_parameters
from mlops_constructs.aspects import platform_rules
from mlops_constructs.nag import acknowledge_wildcards
from mlops_constructs.secure_bucket import SecureBucket, access_logs_bucket, retained_key
from stacks.platform_stage import PlatformStage

# The AWS calls the synth commands make (tools/resolve_model_packages.py), granted to the synth step's role.
# ListModelPackages names no resource (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html).
RESOLVER_LIST_ACTIONS = ["sagemaker:ListModelPackages"]
RESOLVER_READ_ACTIONS = ["sagemaker:DescribeModelPackage"]

# The CDK CLI and cdk-assets the pipeline's self-mutation and asset steps install: the versions package.json
# pins for `make` (CDK Pipelines installs aws-cdk@2 and cdk-assets@latest otherwise, whatever those are that day).
NODE_PINS = json.loads((Path(__file__).resolve().parent.parent / "package.json").read_text(encoding="utf-8"))["devDependencies"]

# The image steps (tools/ship_image.py): ECR's push and read actions on the registry stage's project repositories.
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-push-iam.html
IMAGE_PUSH_ACTIONS = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecr:BatchGetImage",
    "ecr:DescribeImages",
    "ecr:DescribeImageScanFindings",
]
SHIP_COMMANDS = ["make tools", ".venv/bin/python tools/ship_image.py ship --result ship.result", "export NEW_IMAGE=$(cat ship.result)"]
TRAIN_COMMANDS = ["make tools", ".venv/bin/python tools/ship_image.py train"]

SYNTH_COMMANDS = [
    "make test",
    # The approved model package of each project, resolved once per pipeline run and pinned into
    # every stage's templates: dev and prod deploy the very same artifact.
    ".venv/bin/python tools/resolve_model_packages.py > model-packages.json",
    "PATH=$PWD/.venv/bin:$PATH node_modules/.bin/cdk synth -c target=delivery -c model_packages_file=model-packages.json",
]


class DeliveryPipelineStack(Stack):
    """A CDK Pipelines ``CodePipeline`` that deploys ``stages`` in order.

    - Source: a CodeStar connection (GitHub, GitLab, Bitbucket) or a CodeCommit repository.
    - Synth: ``make test`` (the whole test suite; a red test stops the release), then the model
      packages are resolved and the app synthesized with them pinned.
    - Self-mutation: the pipeline updates itself from the new synth before deploying; it and the asset
      steps install the CDK CLI and cdk-assets versions ``package.json`` pins.
    - One pipeline stage per platform stage, a manual approval before every stage after the first.
    - ``ShipImage`` before the first stage (privileged CodeBuild): builds ``container/`` under its content tag
      (``config.image``), runs the image's own loop inside it, pushes it to that stage's project repositories, fails on
      a CRITICAL finding of ECR's scan; ``TrainOnNewImage`` after that stage: one training run per project when it pushed.
    - ``approval_rule``: an EventBridge rule that starts the pipeline when a model package of the
      first stage's projects becomes Approved, so an approved model reaches dev, then prod.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        delivery: DeliveryConfig,
        stages: list[PlatformStage],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        source_config = delivery.source
        if source_config.kind == "codestar":
            source = pipelines.CodePipelineSource.connection(
                source_config.repository, source_config.branch, connection_arn=source_config.connection_arn
            )
        else:
            repository = codecommit.Repository.from_repository_name(self, "Repository", source_config.repository)
            source = pipelines.CodePipelineSource.code_commit(repository, source_config.branch)

        registry = stages[0].config
        registry_groups = [
            f"arn:{self.partition}:sagemaker:{registry.region}:{registry.account}:model-package/{registry.names.model_package_group(p.name)}/*"
            for p in registry.projects
        ]
        synth = pipelines.CodeBuildStep(
            "Synth",
            input=source,
            commands=SYNTH_COMMANDS,
            primary_output_directory="cdk.out",
            role_policy_statements=[
                iam.PolicyStatement(sid="ListModelPackages", actions=RESOLVER_LIST_ACTIONS, resources=["*"]),
                iam.PolicyStatement(sid="ReadRegisteredModelPackages", actions=RESOLVER_READ_ACTIONS, resources=registry_groups),
                # the registry projects' artifacts bucket and key, pinned for the stages in other accounts
                iam.PolicyStatement(
                    sid="ReadRegistryProjectParameters",
                    actions=["ssm:GetParameter"],
                    resources=[
                        f"arn:{self.partition}:ssm:{registry.region}:{registry.account}:parameter{name}"
                        for p in registry.projects
                        for name in registry_parameters(registry.names, p.name).values()
                    ],
                ),
            ],
        )
        # The pipeline's artifacts in a bucket with the platform's non-negotiables (versioned, KMS with a retained,
        # rotating key, TLS only, access-logged, retained), not the one CDK Pipelines would make and we would patch.
        self.artifact_logs = access_logs_bucket(
            self,
            "ArtifactAccessLogsBucket",
            logged="the pipeline's artifact bucket",
            expiration=Duration.days(365),
            noncurrent_version_expiration=Duration.days(30),
        )
        self.artifact_bucket = SecureBucket(
            self,
            "ArtifactBucket",
            encryption_key=retained_key(self, "ArtifactKey", description="Encrypts the delivery pipeline's artifacts"),
            access_logs_bucket=self.artifact_logs,
            access_logs_prefix="artifacts/",
            noncurrent_version_expiration=Duration.days(30),
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            pipeline_name=delivery_pipeline(stages[0].config.prefix),
            synth=synth,
            self_mutation=True,
            artifact_bucket=self.artifact_bucket,
            docker_enabled_for_synth=False,
            cli_version=NODE_PINS["aws-cdk"],
            cdk_assets_cli_version=NODE_PINS["cdk-assets"],
        )
        # The stages are built at the app's root, as `make synth` builds them, so that their construct
        # paths, logical IDs and templates are exactly the ones the tests check.
        self.stages = stages
        ship, train = self._image_steps(source, registry)
        self.image_steps = [step for step in (ship, train) if step is not None]
        for index, stage in enumerate(stages):
            name = stage.config.stage
            pre = [pipelines.ManualApprovalStep(f"Promote-to-{name}", comment=f"Deploy the same model package to {name}")] if index else []
            if index == 0 and ship is not None:
                self.pipeline.add_stage(stage, pre=[ship], post=[train])
            else:
                self.pipeline.add_stage(stage, pre=pre)
        self.pipeline.build_pipeline()
        self.platform_rules = platform_rules().apply_to(self)
        self._acknowledge_generated_permissions(delivery)
        if self.image_steps:
            acknowledge_wildcards(
                self.image_steps[0].project,
                reason="ecr:GetAuthorizationToken (the registry login before a push) supports no resource-level permission; the push "
                "actions are held to the registry stage's project repositories.",
                resources=["*"],
            )
        acknowledge_wildcards(
            self.pipeline.synth_project,
            reason="The synth step resolves the newest approved model package of each project: sagemaker:ListModelPackages "
            "supports no resource-level permission, and DescribeModelPackage reads only the versions of the registry stage's groups.",
            resources=["*", *registry_groups],
        )
        self.approval_rule = events.Rule(
            self,
            "ModelApprovedRule",
            description="A model package was approved: deliver it",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Model Package State Change"],
                detail={
                    "ModelPackageGroupName": [registry.names.model_package_group(p.name) for p in registry.projects],
                    "ModelApprovalStatus": ["Approved"],
                },
            ),
            targets=[targets.CodePipeline(self.pipeline.pipeline)],
        )

    def _image_steps(self, source: pipelines.IFileSetProducer, registry) -> tuple[pipelines.CodeBuildStep | None, pipelines.CodeBuildStep | None]:
        """The steps that ship the image to the registry stage's project repositories and retrain on a new one (none when
        that stage trains no models)."""
        projects = [p.name for p in registry.training_projects]
        if not projects:
            return None, None
        names = registry.names
        repositories = [f"arn:{self.partition}:ecr:{registry.region}:{registry.account}:repository/{names.repository(p)}" for p in projects]
        guards = [f"arn:{self.partition}:lambda:{registry.region}:{registry.account}:function:{names.pipeline_guard(p)}" for p in projects]
        ship = pipelines.CodeBuildStep(
            "ShipImage",
            input=source,
            commands=SHIP_COMMANDS,
            build_environment=codebuild.BuildEnvironment(build_image=codebuild.LinuxBuildImage.STANDARD_7_0, privileged=True),  # Docker
            role_policy_statements=[
                iam.PolicyStatement(sid="RegistryLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
                iam.PolicyStatement(sid="PushToTheProjectRepositories", actions=IMAGE_PUSH_ACTIONS, resources=repositories),
            ],
            timeout=Duration.minutes(60),
        )
        train = pipelines.CodeBuildStep(
            "TrainOnNewImage",
            input=source,
            commands=TRAIN_COMMANDS,
            env={"NEW_IMAGE": ship.exported_variable("NEW_IMAGE")},
            role_policy_statements=[iam.PolicyStatement(sid="TriggerTheProjectPipelines", actions=["lambda:InvokeFunction"], resources=guards)],
        )
        return ship, train

    def _acknowledge_generated_permissions(self, delivery: DeliveryConfig) -> None:
        """CDK Pipelines writes these policies for its own build projects, asset role and artifact bucket."""
        pipeline = self.pipeline
        region_account = f"{delivery.region}:{delivery.account}"
        projects = [pipeline.synth_project, pipeline.self_mutation_project, *(step.project for step in self.image_steps)]
        acknowledge_wildcards(
            pipeline,
            reason="Generated by CDK Pipelines: its artifact bucket's objects, its CodeBuild projects' logs and reports, "
            "and the cdk bootstrap roles the self-mutation step assumes; not configurable.",
            resources=[
                pipeline.pipeline.artifact_bucket.arn_for_objects("*"),
                f"arn:*:iam::{delivery.account}:role/*",
                f"arn:aws:codebuild:{region_account}:report-group/*",
                f"arn:aws:logs:{region_account}:log-group:/aws/codebuild/*",
                "*",
                *[f"arn:aws:codebuild:{region_account}:report-group/{p.project_name}-*" for p in projects],
                *[f"arn:aws:logs:{region_account}:log-group:/aws/codebuild/{p.project_name}:*" for p in projects],
            ],
            actions=["kms:GenerateDataKey*", "kms:ReEncrypt*", "s3:Abort*", "s3:DeleteObject*", "s3:GetBucket*", "s3:GetObject*", "s3:List*"],
        )
