"""A data scientist's Studio user profile."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy, Tags
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from mlops_constructs.studio_domain import grant_studio_app_use, sagemaker_role
from mlops_constructs.studio_network import StudioAppSecurityGroup, WorkloadNetwork

# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_JupyterLabAppSettings.html (CodeRepositories: 0-10 items)
MAX_CODE_REPOSITORIES = 10


@dataclass(frozen=True)
class StudioUserProps:
    """Props of :class:`StudioUser`."""

    domain_id: str
    user_name: str
    email: str
    network: WorkloadNetwork  # the VPC, its endpoints' group and S3's prefix list: the user's own apps group is made in it
    code_repositories: tuple[str, ...] = ()  # Git URLs JupyterLab suggests (at most 10, the API's limit)


class StudioUser(Construct):
    """A Studio user profile with an execution role of its own.

    Deploys:
    - ``role``: assumed by SageMaker for this user's apps and jobs. On its own it may only run Studio
      apps and spaces in the domain; data access comes from sandboxes (see ``Sandbox``), one project
      at a time, so a user never reaches a project they were not given.
    - ``security_group``: the user's apps' own (``StudioAppSecurityGroup``): no other user's or project's apps reach them.
    - ``user_profile``: named ``user_name`` in ``domain_id``, using ``role`` and ``security_group``,
      tagged with the user's email; retained on destroy (the user's home folder stays with it). Its JupyterLab
      suggests ``code_repositories`` (``JupyterLabAppSettings.CodeRepositories``: Studio offers to clone them; Code
      Editor has no such setting).
    ``user_name`` and ``email`` may be tokens (Service Catalog parameters).
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: StudioUserProps) -> None:
        super().__init__(scope, construct_id)
        domain_id, user_name, email = props.domain_id, props.user_name, props.email
        if len(props.code_repositories) > MAX_CODE_REPOSITORIES:
            raise ValueError(f"{user_name}: {len(props.code_repositories)} code repositories; JupyterLab takes at most {MAX_CODE_REPOSITORIES}")
        self.role = sagemaker_role(self, "ExecutionRole", f"Studio execution role of user {user_name}")
        grant_studio_app_use(self.role, domain_id, user_name=user_name)

        self.security_group = StudioAppSecurityGroup(
            self, "AppsSecurityGroup", network=props.network, description="Studio apps of one user: its own apps, the VPC endpoints, S3"
        )
        self.user_profile = sagemaker.CfnUserProfile(
            self,
            "UserProfile",
            domain_id=domain_id,
            user_profile_name=user_name,
            user_settings=sagemaker.CfnUserProfile.UserSettingsProperty(
                execution_role=self.role.role_arn,
                security_groups=[self.security_group.attr_group_id],
                jupyter_lab_app_settings=sagemaker.CfnUserProfile.JupyterLabAppSettingsProperty(
                    code_repositories=[sagemaker.CfnUserProfile.CodeRepositoryProperty(repository_url=url) for url in props.code_repositories]
                )
                if props.code_repositories
                else None,
            ),
        )
        self.user_profile.apply_removal_policy(RemovalPolicy.RETAIN)
        Tags.of(self.user_profile).add("owner-email", email)
        self.user_name = user_name
