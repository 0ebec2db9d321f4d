"""Typed, validated per-stage configuration of the platform (``config/<stage>.yaml``)."""

from config.errors import ConfigError, Problem
from config.loader import available_stages, load_config, load_delivery_config
from config.schema import (
    ApiConfig,
    DeliveryConfig,
    DeploymentConfig,
    DriftAlarmConfig,
    EvaluationConfig,
    ExistingVpcConfig,
    FrugalNetworkConfig,
    InstanceTypesConfig,
    MonitoringConfig,
    NewVpcConfig,
    PipelineConfig,
    PlatformConfig,
    ProjectConfig,
    SandboxConfig,
    ServerlessConfig,
    StorageConfig,
    UserConfig,
)

__all__ = [
    "ApiConfig",
    "DeliveryConfig",
    "DeploymentConfig",
    "DriftAlarmConfig",
    "MonitoringConfig",
    "ServerlessConfig",
    "ConfigError",
    "EvaluationConfig",
    "ExistingVpcConfig",
    "InstanceTypesConfig",
    "FrugalNetworkConfig",
    "NewVpcConfig",
    "PipelineConfig",
    "PlatformConfig",
    "Problem",
    "ProjectConfig",
    "SandboxConfig",
    "StorageConfig",
    "UserConfig",
    "available_stages",
    "load_config",
    "load_delivery_config",
]
