"""The private network the Studio domain and SageMaker jobs run in."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, RemovalPolicy, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct


@dataclass(frozen=True)
class NewVpcProps:
    """Create a VPC: ``cidr`` split into one private isolated subnet per zone."""

    cidr: str
    availability_zones: list[str]


@dataclass(frozen=True)
class ExistingVpcProps:
    """Use an existing VPC's private subnets (one per zone, same order); no lookup at synth time."""

    vpc_id: str
    cidr: str
    subnet_ids: list[str]
    availability_zones: list[str]
    create_endpoints: bool = True


@dataclass(frozen=True)
class StudioNetworkProps:
    """Props of :class:`StudioNetwork`."""

    network: NewVpcProps | ExistingVpcProps
    interface_endpoints: list[str]
    flow_log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR


class StudioNetwork(Construct):
    """A private, internet-less network for a VPC-only Studio domain and its jobs.

    Deploys, for a new VPC: a VPC with private isolated subnets only (no internet gateway, no NAT:
    nothing to pay for idle and no route out), VPC flow logs to a CloudWatch log group kept
    ``flow_log_retention`` (default one year); in every case, when endpoints are wanted:
    an S3 gateway endpoint (new VPC only: an existing VPC's route tables are not ours to change),
    one interface endpoint per service in ``interface_endpoints`` with private DNS, and
    two security groups:
    - ``studio_security_group``: for Studio apps and SageMaker jobs; allows all traffic between its
      own members (Studio's JupyterServer-KernelGateway and EFS NFS traffic need it) and all egress
      (there is no route out of the VPC but the endpoints).
    - ``endpoint_security_group``: for the interface endpoints; HTTPS from the VPC's CIDR only.

    ``subnets`` are the subnets the domain and jobs use.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: StudioNetworkProps) -> None:
        super().__init__(scope, construct_id)
        network, interface_endpoints, flow_log_retention = props.network, props.interface_endpoints, props.flow_log_retention

        if isinstance(network, NewVpcProps):
            self.vpc: ec2.IVpc = ec2.Vpc(
                self,
                "Vpc",
                ip_addresses=ec2.IpAddresses.cidr(network.cidr),
                availability_zones=network.availability_zones,
                nat_gateways=0,
                subnet_configuration=[ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=20)],
                restrict_default_security_group=False,
            )
            Validations.of(self.vpc).acknowledge(
                Acknowledgment(
                    id="CloudFormation-Validate::W3010",
                    reason="Zones come from network.availability_zones in the config, so synthesis needs no AWS lookup.",
                )
            )
            flow_log_group = logs.LogGroup(self, "FlowLogGroup", retention=flow_log_retention, removal_policy=RemovalPolicy.RETAIN)
            self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group))
            self.vpc.add_gateway_endpoint("S3Endpoint", service=ec2.GatewayVpcEndpointAwsService.S3)
            create_endpoints = True
        else:
            self.vpc = ec2.Vpc.from_vpc_attributes(
                self,
                "Vpc",
                vpc_id=network.vpc_id,
                vpc_cidr_block=network.cidr,
                availability_zones=network.availability_zones,
                isolated_subnet_ids=network.subnet_ids,
            )
            create_endpoints = network.create_endpoints

        self.subnets = self.vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)

        self.studio_security_group = ec2.SecurityGroup(
            self,
            "StudioSecurityGroup",
            vpc=self.vpc,
            description="Studio apps and SageMaker jobs: traffic between members, egress to VPC endpoints",
            allow_all_outbound=True,
        )
        self.studio_security_group.add_ingress_rule(
            self.studio_security_group, ec2.Port.all_traffic(), "Studio apps, kernels and EFS talk to each other"
        )

        self.endpoint_security_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="Interface VPC endpoints: HTTPS from inside the VPC",
            allow_all_outbound=False,
        )
        self.endpoint_security_group.add_ingress_rule(ec2.Peer.ipv4(network.cidr), ec2.Port.tcp(443), "HTTPS from the VPC")

        if create_endpoints:
            for service in interface_endpoints:
                self.vpc.add_interface_endpoint(
                    _endpoint_id(service),
                    service=ec2.InterfaceVpcEndpointAwsService(service),
                    subnets=ec2.SubnetSelection(subnets=self.subnets.subnets),
                    security_groups=[self.endpoint_security_group],
                    private_dns_enabled=True,
                    open=False,  # the security group above already admits HTTPS from the VPC CIDR
                )


def _endpoint_id(service: str) -> str:
    return "".join(part.capitalize() for part in service.replace(".", "-").split("-")) + "Endpoint"
