"""Typed, validated per-stage configuration of the platform (``config/<stage>.yaml``)."""

from config.errors import ConfigError, Problem
from config.loader import available_stages, load_config, load_delivery_config
from config.schema import (
    ApiConfig,
    DeliveryConfig,
    DeploymentConfig,
    DriftAlarmConfig,
    MonitoringConfig,
    ServerlessConfig,
    EvaluationConfig,
    ExistingVpcConfig,
    InstanceTypesConfig,
    NewVpcConfig,
    PipelineConfig,
    PlatformConfig,
    ProjectConfig,
    SandboxConfig,
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
