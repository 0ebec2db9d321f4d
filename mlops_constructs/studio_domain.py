"""A VPC-only SageMaker Studio domain with idle shutdown."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from mlops_constructs.nag import acknowledge_wildcards
from mlops_constructs.secure_bucket import retained_key
from mlops_constructs.service_principals import from_this_account

IDLE_SHUTDOWN_DIR = Path(__file__).resolve().parent / "assets" / "idle_shutdown"
LIFECYCLE_CONFIG_MAX_BYTES = 16384  # base64 content limit of AWS::SageMaker::StudioLifecycleConfig
# Studio's own idle shutdown (IdleSettings) takes 60 to 525,600 minutes:
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_IdleSettings.html
NATIVE_IDLE_MIN_MINUTES = 60


def idle_shutdown_script(idle_minutes: int) -> str:
    """The lifecycle-configuration script (bash) that stops a JupyterLab app after ``idle_minutes``."""
    checker = (IDLE_SHUTDOWN_DIR / "idle_check.py").read_text(encoding="utf-8").rstrip("\n")
    script = (IDLE_SHUTDOWN_DIR / "on_start.sh").read_text(encoding="utf-8")
    return script.replace("__IDLE_CHECK_PY__", checker).replace("__IDLE_MINUTES__", str(idle_minutes))


def sagemaker_role(scope: Construct, construct_id: str, description: str, role_name: str | None = None) -> iam.Role:
    """An execution role SageMaker (Studio apps, jobs) may assume, from this account only; named ``role_name`` when another
    account's resource policies name it (CloudFormation's generated name otherwise)."""
    return iam.Role(
        scope,
        construct_id,
        role_name=role_name,
        description=description,
        assumed_by=from_this_account("sagemaker.amazonaws.com"),
    )


def grant_studio_app_use(role: iam.IRole, domain_id: str, *, user_name: str | None) -> None:
    """Let ``role`` use Studio in domain ``domain_id``: as user ``user_name``, its own spaces and the apps of its own
    private spaces; anyone's apps in shared spaces; the descriptions and listings the UI needs. With no
    ``user_name`` (the domain's default role, which shared spaces run with) only shared spaces' apps.

    A user never creates, changes or deletes another user's space, nor starts or stops apps in it (those
    run with the other user's role). Conditions on the space's owner and sharing type, the condition keys
    AWS documents for these actions (Service Authorization Reference, Amazon SageMaker AI; Studio's
    private-space permissions). Idle shutdown (the lifecycle configuration) calls ``DeleteApp`` with the
    app's own role, which these statements allow.
    """
    arn = f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}"
    spaces, apps = f"{arn}:space/{domain_id}/*", f"{arn}:app/{domain_id}/*"
    if user_name is not None:
        owner = {"ArnLike": {"sagemaker:OwnerUserProfileArn": f"{arn}:user-profile/{domain_id}/{user_name}"}}
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="StudioOwnSpaces",
                actions=["sagemaker:CreateSpace", "sagemaker:UpdateSpace", "sagemaker:DeleteSpace"],
                resources=[spaces],
                conditions={**owner, "StringEquals": {"sagemaker:SpaceSharingType": ["Private", "Shared"]}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="StudioAppsInOwnPrivateSpaces",
                actions=["sagemaker:CreateApp", "sagemaker:DeleteApp"],
                resources=[apps],
                conditions={**owner, "StringEquals": {"sagemaker:SpaceSharingType": "Private"}},
            )
        )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="StudioAppsInSharedSpaces",
            actions=["sagemaker:CreateApp", "sagemaker:DeleteApp"],
            resources=[apps],
            conditions={"StringEquals": {"sagemaker:SpaceSharingType": "Shared"}},
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="StudioDescribeThisDomain",
            actions=["sagemaker:DescribeDomain", "sagemaker:DescribeUserProfile", "sagemaker:DescribeSpace", "sagemaker:DescribeApp"],
            resources=[f"{arn}:domain/{domain_id}", f"{arn}:user-profile/{domain_id}/*", spaces, apps],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="StudioListings",
            actions=["sagemaker:ListApps", "sagemaker:ListSpaces", "sagemaker:ListUserProfiles"],
            resources=["*"],
        )
    )
    acknowledge_wildcards(
        role,
        reason="Studio names spaces, apps and user profiles at run time; the statements are scoped to this one domain, and "
        "changes to spaces and apps to the user's own (sagemaker:OwnerUserProfileArn) or shared ones (sagemaker:SpaceSharingType).",
        resources=[apps, spaces, f"{arn}:user-profile/{domain_id}/*"],
    )
    acknowledge_wildcards(
        role,
        reason="sagemaker:ListApps, ListSpaces and ListUserProfiles support no resource-level permissions; read-only listings the Studio UI needs.",
        resources=["*"],
    )


@dataclass(frozen=True)
class StudioDomainProps:
    """Props of :class:`StudioDomain` (see its docstring for what each does)."""

    domain_name: str
    vpc: ec2.IVpc
    subnets: list[ec2.ISubnet]
    security_group: ec2.ISecurityGroup
    idle_shutdown_minutes: int
    default_instance_type: str = "ml.t3.medium"
    # "VpcOnly": apps reach AWS only through the VPC; "PublicInternetOnly": through SageMaker's own internet access (the
    # frugal network, config.schema.FrugalNetworkConfig, which states its risk)
    app_network_access_type: str = "VpcOnly"


class StudioDomain(Construct):
    """A SageMaker Studio domain that reaches AWS only through the VPC, with idle apps shut down.

    Deploys:
    - ``key``: a customer-managed KMS key (rotation on, retained) for the domain's EFS home volumes.
    - ``default_execution_role``: the role Studio apps use when a user profile names none. It may
      only run Studio apps and spaces in this domain; it reaches no data.
    - idle shutdown: Studio's own (``AppLifecycleManagement.IdleSettings``) for JupyterLab and Code Editor
      apps after ``idle_shutdown_minutes`` (users may choose 60 minutes to that, not more). Its floor is
      60 minutes: below it, ``lifecycle_config``, a JupyterLab lifecycle configuration, stops an app after
      ``idle_shutdown_minutes`` without kernel, terminal or browser activity (checked every 5 minutes),
      and Code Editor apps stop at 60; at 60 and above there is no lifecycle configuration (None).
    - ``domain``: IAM authentication, ``AppNetworkAccessType`` ``app_network_access_type`` (``VpcOnly`` by default) in ``subnets`` with
      ``security_group``, storage encrypted with ``key``, the new Studio UI, JupyterLab on
      ``default_instance_type`` (default ``ml.t3.medium``). Retained on destroy: home folders survive.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: StudioDomainProps) -> None:
        super().__init__(scope, construct_id)
        domain_name, vpc, subnets, security_group, idle_shutdown_minutes, default_instance_type = (
            props.domain_name,
            props.vpc,
            props.subnets,
            props.security_group,
            props.idle_shutdown_minutes,
            props.default_instance_type,
        )

        self.key = retained_key(self, "Key", description=f"Encrypts the home volumes of Studio domain {domain_name}")
        self.default_execution_role = sagemaker_role(self, "DefaultExecutionRole", "Default Studio execution role: Studio apps only, no data access")

        # Studio's own idle shutdown for JupyterLab and Code Editor (a user may shorten it, never lengthen it); under
        # its 60-minute floor, JupyterLab keeps the lifecycle script at the configured minutes and Code Editor stops at 60.
        native_minutes = max(idle_shutdown_minutes, NATIVE_IDLE_MIN_MINUTES)
        idle = sagemaker.CfnDomain.AppLifecycleManagementProperty(
            idle_settings=sagemaker.CfnDomain.IdleSettingsProperty(
                lifecycle_management="ENABLED",
                idle_timeout_in_minutes=native_minutes,
                min_idle_timeout_in_minutes=NATIVE_IDLE_MIN_MINUTES,
                max_idle_timeout_in_minutes=native_minutes,
            )
        )
        self.lifecycle_config: sagemaker.CfnStudioLifecycleConfig | None = None
        if idle_shutdown_minutes < NATIVE_IDLE_MIN_MINUTES:
            script = idle_shutdown_script(idle_shutdown_minutes)
            content = base64.b64encode(script.encode("utf-8")).decode("ascii")
            if len(content) > LIFECYCLE_CONFIG_MAX_BYTES:
                raise ValueError(f"idle-shutdown script is {len(content)} bytes base64; the limit is {LIFECYCLE_CONFIG_MAX_BYTES}")
            self.lifecycle_config = sagemaker.CfnStudioLifecycleConfig(
                self,
                "IdleShutdownLifecycleConfig",
                studio_lifecycle_config_name=f"{domain_name}-idle-shutdown-{idle_shutdown_minutes}m",
                studio_lifecycle_config_app_type="JupyterLab",
                studio_lifecycle_config_content=content,
            )
        script_arn = self.lifecycle_config.attr_studio_lifecycle_config_arn if self.lifecycle_config else None

        jupyter_lab = sagemaker.CfnDomain.JupyterLabAppSettingsProperty(
            app_lifecycle_management=idle,
            lifecycle_config_arns=[script_arn] if script_arn else None,
            default_resource_spec=sagemaker.CfnDomain.ResourceSpecProperty(instance_type=default_instance_type, lifecycle_config_arn=script_arn),
        )
        code_editor = sagemaker.CfnDomain.CodeEditorAppSettingsProperty(app_lifecycle_management=idle)
        self.domain = sagemaker.CfnDomain(
            self,
            "Domain",
            domain_name=domain_name,
            auth_mode="IAM",
            app_network_access_type=props.app_network_access_type,
            vpc_id=vpc.vpc_id,
            subnet_ids=[s.subnet_id for s in subnets],
            kms_key_id=self.key.key_arn,
            default_user_settings=sagemaker.CfnDomain.UserSettingsProperty(
                execution_role=self.default_execution_role.role_arn,
                security_groups=[security_group.security_group_id],
                studio_web_portal="ENABLED",
                default_landing_uri="studio::",
                jupyter_lab_app_settings=jupyter_lab,
                code_editor_app_settings=code_editor,
            ),
            default_space_settings=sagemaker.CfnDomain.DefaultSpaceSettingsProperty(
                execution_role=self.default_execution_role.role_arn,
                security_groups=[security_group.security_group_id],
                jupyter_lab_app_settings=jupyter_lab,
            ),
        )
        self.domain.apply_removal_policy(RemovalPolicy.RETAIN)
        self.domain_id = self.domain.attr_domain_id
        self.domain_arn = self.domain.attr_domain_arn

        grant_studio_app_use(self.default_execution_role, self.domain_id, user_name=None)  # shared spaces run with it
