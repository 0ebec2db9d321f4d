"""The self-service Service Catalog portfolio (stateless)."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from config import PlatformConfig
from config.schema import MlflowConfig
from mlops_constructs.published_parameters import PublishedStudio
from mlops_constructs.self_service_catalog import SelfServiceCatalog, SelfServiceCatalogProps


class SelfServiceStack(Stack):
    """Composes ``SelfServiceCatalog`` for the stage."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PlatformConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.catalog = SelfServiceCatalog(
            self,
            "Catalog",
            props=SelfServiceCatalogProps(
                prefix=config.prefix,
                stage=config.stage,
                storage=config.storage,
                principal_role_arns=list(config.self_service_role_arns),
                domain_id=(studio := PublishedStudio(self, config.names.studio_parameters)).domain_id,
                vpc_id=studio.vpc_id,
                mlflow=MlflowConfig() if config.trains_models else None,  # what a configured project gets by default
                studio_https_out=config.studio_https_out,
            ),
        )
