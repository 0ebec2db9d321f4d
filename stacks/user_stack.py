"""One data scientist's Studio user profile."""

from __future__ import annotations

import dataclasses
from typing import Any

from aws_cdk import Stack
from constructs import Construct

from config import PlatformConfig, UserConfig
from config.parameters import USER_KEYS
from mlops_constructs.published_parameters import PublishedParameters, PublishedStudio
from mlops_constructs.self_service_catalog import grant_studio_project_creation
from mlops_constructs.studio_user import StudioUser, StudioUserProps


class UserStack(Stack):
    """Composes ``StudioUser`` for one configured user and publishes the role ARN to SSM.

    Configured users may also create projects from the stage's project product in Studio
    (``grant_studio_project_creation``). The domain id and security group come from the environment stack's SSM parameters (the stage
    declares the dependency), the same way the Service Catalog user product finds them.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: PlatformConfig, user: UserConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        studio = PublishedStudio(self, config.names.studio_parameters)
        self.user = StudioUser(
            self,
            "User",
            props=StudioUserProps(
                domain_id=studio.domain_id,
                user_name=user.name,
                email=str(user.email),
                network=dataclasses.replace(studio.workload_network, https_out=config.studio_https_out),
                code_repositories=tuple(config.git_repositories(user.name)),
            ),
        )
        # configured users see the project product in Studio (the Studio portfolio is shared with their role-name pattern)
        grant_studio_project_creation(self, self.user.role, config.names)
        PublishedParameters(
            self, "Parameters", path=config.names.user_parameters(user.name), keys=USER_KEYS, values={"role-arn": self.user.role.role_arn}
        )
