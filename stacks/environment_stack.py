"""The Studio environment: network and domain (stateful: the domain holds users' home folders)."""

from __future__ import annotations

from typing import Any

from aws_cdk import Annotations, Stack
from constructs import Construct

from config import NewVpcConfig, PlatformConfig
from config.parameters import STUDIO_KEYS
from mlops_constructs.inference_api import ApiGatewayLogging
from mlops_constructs.published_parameters import PublishedParameters
from mlops_constructs.sagemaker_permissions import AwsImage
from mlops_constructs.studio_domain import StudioDomain, StudioDomainProps
from mlops_constructs.studio_network import ExistingVpcProps, NewVpcProps, StudioNetwork, StudioNetworkProps


class EnvironmentStack(Stack):
    """Composes ``StudioNetwork`` and ``StudioDomain`` and publishes the domain's ids to SSM."""

    def __init__(self, scope: Construct, construct_id: str, *, config: PlatformConfig, **kwargs: Any) -> None:
        self._zones = list(config.network.availability_zones)
        super().__init__(scope, construct_id, **kwargs)
        net = config.network
        network_props = (
            NewVpcProps(cidr=net.cidr, availability_zones=list(net.availability_zones), nat=net.egress == "nat")
            if isinstance(net, NewVpcConfig)
            else ExistingVpcProps(
                vpc_id=net.vpc_id,
                cidr=net.cidr,
                subnet_ids=list(net.subnet_ids),
                availability_zones=list(net.availability_zones),
                create_endpoints=net.create_endpoints,
                endpoints_security_group_id=net.endpoints_security_group_id,
            )
        )
        self.network = StudioNetwork(
            self,
            "Network",
            props=StudioNetworkProps(
                network=network_props,
                interface_endpoints=list(config.endpoint_needs),  # derived from the stage's features (config.endpoints)
                endpoint_azs=net.endpoint_azs,
                s3_prefix_list_id=net.s3_prefix_list_id,
                # Model Monitor's analyzer, only where a project still runs it (closed to new customers: account_already_uses)
                aws_owned_repositories=[AwsImage.model_monitor_analyzer(config.region).repository_arn]
                if any(p.baseline_by_model_monitor for p in config.projects)
                else [],
                https_out=config.studio_https_out,
            ),
        )
        self.studio = StudioDomain(
            self,
            "Studio",
            props=StudioDomainProps(
                domain_name=config.names.base,
                vpc=self.network.vpc,
                subnets=self.network.subnets.subnets,
                security_group=self.network.studio_security_group,
                idle_shutdown_minutes=config.idle_shutdown_minutes,
                app_network_access_type="PublicInternetOnly" if config.frugal else "VpcOnly",
            ),
        )
        self.network.log_flows(self.studio.key, log_group_pattern=config.names.log_group_pattern)
        if config.frugal:  # no cdk-nag or checkov rule covers a domain's network access type: the risk is said at every synth
            Annotations.of(self.studio.domain).add_warning_v2(
                "mlops:frugal-network",
                "network.mode frugal: Studio apps use SageMaker's internet access (PublicInternetOnly) and the jobs and models "
                "run in no VPC: code a user runs can reach the internet and send data out of the account, and no flow log "
                "records it. For trials with non-sensitive data in a sandbox account only (config.schema.FrugalNetworkConfig).",
            )
        if any(p.serves_endpoint for p in config.projects):  # the stage's APIs log through it
            self.api_logging = ApiGatewayLogging(self, "ApiGatewayLogging")
        workload_network = self.network.workload_network
        PublishedParameters(
            self,
            "StudioParameters",
            path=config.names.studio_parameters,
            keys=STUDIO_KEYS,
            values={
                "domain-id": self.studio.domain_id,
                "studio-security-group-id": self.network.studio_security_group.security_group_id,
                "vpc-id": workload_network.vpc_id,
                "endpoints-security-group-id": workload_network.endpoints_security_group_id,
                "s3-prefix-list-id": workload_network.s3_prefix_list_id,
            },
            list_values={"subnet-ids": [s.subnet_id for s in self.network.subnets.subnets]},
        )

    @property
    def availability_zones(self) -> list[str]:
        """The configured zones: the VPC never triggers an availability-zone lookup (no AWS call at synth)."""
        return self._zones
