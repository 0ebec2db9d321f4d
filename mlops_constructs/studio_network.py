"""The private network the Studio domain and SageMaker jobs run in."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from aws_cdk import Acknowledgment, Aws, RemovalPolicy, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from config.endpoints import ENDPOINTS
from mlops_constructs.sagemaker_permissions import IMAGE_PULL_ACTIONS
from mlops_constructs.secure_bucket import allow_log_encryption
from mlops_constructs.service_principals import from_this_account

# What Studio apps need between each other in a VPC-only domain: NFS to the home volume (EFS) and the
# JupyterServer/KernelGateway app-to-app range:
# https://docs.aws.amazon.com/sagemaker/latest/dg/studio-notebooks-and-internet-access.html
STUDIO_PORTS = ((2049, 2049, "NFS to the EFS home volumes"), (8192, 65535, "Studio app-to-app traffic"))
HTTPS = 443


def perimeter_statement(actions: list[str]) -> iam.PolicyStatement:
    """Through a VPC endpoint: this account's principals on this account's resources only (a data perimeter:
    https://docs.aws.amazon.com/whitepapers/latest/building-a-data-perimeter-on-aws/perimeter-implementation.html).
    IfExists on the resource account: actions without a resource (sts:GetCallerIdentity, ecr:GetAuthorizationToken,
    cloudwatch:PutMetricData) carry none."""
    return iam.PolicyStatement(
        sid="ThisAccountOnly",
        principals=[iam.StarPrincipal()],
        actions=actions,
        resources=["*"],
        conditions={"StringEquals": {"aws:PrincipalAccount": Aws.ACCOUNT_ID}, "StringEqualsIfExists": {"aws:ResourceAccount": Aws.ACCOUNT_ID}},
    )


def aws_owned_statement(sid: str, actions: list[str], resources: list[str]) -> iam.PolicyStatement:
    """An exception to the perimeter: this account's principals on resources AWS owns."""
    return iam.PolicyStatement(
        sid=sid,
        principals=[iam.StarPrincipal()],
        actions=actions,
        resources=resources,
        conditions={"StringEquals": {"aws:PrincipalAccount": Aws.ACCOUNT_ID}},
    )


ENDPOINTS_EGRESS, S3_EGRESS = "HTTPS to the VPC's interface endpoints", "HTTPS to S3 through the gateway endpoint"
# An existing VPC that routes out (network.egress: existing): Studio apps reach a Git provider or a package index over
# HTTPS; the projects' jobs and models never do (their groups keep the endpoints and S3 only)
HTTPS_OUT = "HTTPS out through the VPC's route out (network.egress): Git providers, package indexes"
ANYWHERE = "0.0.0.0/0"


@dataclass(frozen=True)
class WorkloadNetwork:
    """Where a project's workloads run and may connect; any value may be a token (the environment's SSM parameters)."""

    vpc_id: str
    endpoints_security_group_id: str
    s3_prefix_list_id: str
    https_out: bool = False  # Studio apps may send HTTPS out of the VPC (its route out: PlatformConfig.studio_https_out)


@dataclass(frozen=True)
class WorkloadSecurityGroupProps:
    """Props of :class:`WorkloadSecurityGroup`."""

    network: WorkloadNetwork
    description: str


class WorkloadSecurityGroup(ec2.CfnSecurityGroup):
    """A security group for one kind of workload of one project (its SageMaker jobs, its models).

    No ingress at all (jobs run on single instances and models are invoked through SageMaker, not
    through the VPC); egress only HTTPS to the interface endpoints and to S3.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: WorkloadSecurityGroupProps) -> None:
        super().__init__(
            scope,
            construct_id,
            group_description=props.description,
            vpc_id=props.network.vpc_id,
            security_group_egress=[
                ec2.CfnSecurityGroup.EgressProperty(ip_protocol="tcp", from_port=HTTPS, to_port=HTTPS, description=why, **destination)
                for why, destination in (
                    (ENDPOINTS_EGRESS, {"destination_security_group_id": props.network.endpoints_security_group_id}),
                    (S3_EGRESS, {"destination_prefix_list_id": props.network.s3_prefix_list_id}),
                )
            ],
        )


class StudioAppSecurityGroup(ec2.CfnSecurityGroup):
    """One Studio user's apps: between its own members NFS and the app-to-app range Studio documents (``STUDIO_PORTS``),
    and HTTPS to the interface endpoints and S3; nothing from any other group. Each user has one, so a service a user
    runs on a high port (a Dask or Ray dashboard) is open to that user's apps only, not to other users' or projects'.
    (Shared spaces run with the domain's default space group; a user reaches them through Studio, not the VPC.)"""

    def __init__(self, scope: Construct, construct_id: str, *, network: WorkloadNetwork, description: str) -> None:
        super().__init__(
            scope,
            construct_id,
            group_description=description,
            vpc_id=network.vpc_id,
            security_group_egress=[
                ec2.CfnSecurityGroup.EgressProperty(ip_protocol="tcp", from_port=HTTPS, to_port=HTTPS, description=why, **destination)
                for why, destination in (
                    (ENDPOINTS_EGRESS, {"destination_security_group_id": network.endpoints_security_group_id}),
                    (S3_EGRESS, {"destination_prefix_list_id": network.s3_prefix_list_id}),
                    *([(HTTPS_OUT, {"cidr_ip": ANYWHERE})] if network.https_out else []),
                )
            ],
        )
        for low, high, why in STUDIO_PORTS:  # a rule naming the group itself is a resource of its own
            tag = f"{low}to{high}" if low != high else str(low)
            ec2.CfnSecurityGroupIngress(
                self,
                f"From{tag}",
                group_id=self.attr_group_id,
                source_security_group_id=self.attr_group_id,
                ip_protocol="tcp",
                from_port=low,
                to_port=high,
                description=f"{why}: this user's own apps",
            )
            ec2.CfnSecurityGroupEgress(
                self,
                f"To{tag}",
                group_id=self.attr_group_id,
                destination_security_group_id=self.attr_group_id,
                ip_protocol="tcp",
                from_port=low,
                to_port=high,
                description=f"{why}: this user's own apps",
            )


@dataclass(frozen=True)
class NewVpcProps:
    """Create a VPC: ``cidr`` split into one private isolated subnet per zone (/20s from its start); with ``nat``, one NAT
    gateway in a public subnet of its own (the last /28 of ``cidr``, in the first zone) that every private subnet routes
    out through."""

    cidr: str
    availability_zones: list[str]
    nat: bool = False


@dataclass(frozen=True)
class ExistingVpcProps:
    """Use an existing VPC's private subnets (one per zone, same order); no lookup at synth time."""

    vpc_id: str
    cidr: str
    subnet_ids: list[str]
    availability_zones: list[str]
    create_endpoints: bool = True
    endpoints_security_group_id: str | None = None  # the existing endpoints' group, when create_endpoints is False


@dataclass(frozen=True)
class StudioNetworkProps:
    """Props of :class:`StudioNetwork`."""

    network: NewVpcProps | ExistingVpcProps
    interface_endpoints: list[str]  # config.endpoints names: what the stage's features need (PlatformConfig.endpoint_needs)
    s3_prefix_list_id: str
    endpoint_azs: int | None = None  # how many of the zones (the first) hold them: all without
    aws_owned_repositories: list[str] = field(default_factory=list)  # ECR repositories of AWS (the Model Monitor analyzer)
    https_out: bool = False  # Studio apps may send HTTPS out (an existing VPC that routes out: network.egress existing)
    flow_log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR


class StudioNetwork(Construct):
    """A private, internet-less network for a VPC-only Studio domain and its jobs.

    Deploys, for a new VPC: a VPC with private isolated subnets only (no internet gateway, no NAT:
    nothing to pay for idle and no route out) and an S3 gateway endpoint; flow logs come with
    :meth:`log_flows` (their key is the domain's). In every case, when endpoints are wanted: one
    interface endpoint per service in ``interface_endpoints`` with private DNS. Every endpoint has a policy
    (``perimeter_statement``): only that service's actions, by this account's principals, on this account's
    resources, so nothing readable can be copied out to another account through them; the exceptions are
    AWS's own resources: ECR's layer bucket (S3), ``aws_owned_repositories`` (ECR), SageMaker's public
    metadata (Describe/List). Two security groups:
    - ``endpoint_security_group``: for the interface endpoints; HTTPS from the VPC's CIDR only.
      With an existing VPC whose endpoints are not ours, ``endpoints_security_group_id`` names theirs.
    - ``studio_security_group``: for Studio apps only (projects' jobs and models have their own,
      ``WorkloadSecurityGroup``): between its members NFS (2049) and the app-to-app range
      (8192-65535) only; out, those to its members and HTTPS to the endpoints and S3's prefix list
      (``s3_prefix_list_id``).

    ``subnets`` are the subnets the domain and jobs use.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: StudioNetworkProps) -> None:
        super().__init__(scope, construct_id)
        network, interface_endpoints = props.network, props.interface_endpoints
        self._flow_log_retention = props.flow_log_retention

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
            if network.nat:
                self._route_out_through_nat(network)
            s3_endpoint = self.vpc.add_gateway_endpoint("S3Endpoint", service=ec2.GatewayVpcEndpointAwsService.S3)
            s3_endpoint.add_to_policy(perimeter_statement(["s3:*"]))
            # ECR keeps image layers in an AWS bucket of the Region (Amazon ECR interface endpoints: S3 gateway permissions).
            s3_endpoint.add_to_policy(
                aws_owned_statement("EcrImageLayers", ["s3:GetObject"], [f"arn:{Aws.PARTITION}:s3:::prod-{Aws.REGION}-starport-layer-bucket/*"])
            )
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
        self.s3_prefix_list_id = props.s3_prefix_list_id

        if create_endpoints:
            self.endpoint_security_group: ec2.ISecurityGroup = ec2.SecurityGroup(
                self,
                "EndpointSecurityGroup",
                vpc=self.vpc,
                description="Interface VPC endpoints: HTTPS from inside the VPC",
                allow_all_outbound=False,
            )
            self.endpoint_security_group.add_ingress_rule(ec2.Peer.ipv4(network.cidr), ec2.Port.tcp(HTTPS), "HTTPS from the VPC")
        else:
            if not isinstance(network, ExistingVpcProps) or network.endpoints_security_group_id is None:
                raise ValueError("an existing VPC whose endpoints are not created here needs endpoints_security_group_id")
            self.endpoint_security_group = ec2.SecurityGroup.from_security_group_id(
                self, "EndpointSecurityGroup", network.endpoints_security_group_id, mutable=False
            )

        self.studio_security_group = ec2.SecurityGroup(
            self,
            "StudioSecurityGroup",
            vpc=self.vpc,
            description="Studio apps: NFS and app-to-app between members, HTTPS to the VPC endpoints and S3",
            allow_all_outbound=False,
        )
        for low, high, why in STUDIO_PORTS:
            port = ec2.Port.tcp(low) if low == high else ec2.Port.tcp_range(low, high)
            self.studio_security_group.add_ingress_rule(self.studio_security_group, port, why)
            self.studio_security_group.add_egress_rule(self.studio_security_group, port, why)
        self.studio_security_group.add_egress_rule(
            ec2.Peer.security_group_id(self.endpoint_security_group.security_group_id), ec2.Port.tcp(HTTPS), ENDPOINTS_EGRESS
        )
        self.studio_security_group.add_egress_rule(ec2.Peer.prefix_list(props.s3_prefix_list_id), ec2.Port.tcp(HTTPS), S3_EGRESS)
        if props.https_out:
            self.studio_security_group.add_egress_rule(ec2.Peer.ipv4(ANYWHERE), ec2.Port.tcp(HTTPS), HTTPS_OUT)
        self._https_out = props.https_out

        if create_endpoints:
            # the first endpoint_azs zones' subnets (one per zone): an endpoint bills per zone it is in
            endpoint_subnets = self.subnets.subnets[: props.endpoint_azs] if props.endpoint_azs else self.subnets.subnets
            for service in interface_endpoints:
                prefix_part, name_part = ENDPOINTS[service].service_name.split(".{region}.")
                endpoint = self.vpc.add_interface_endpoint(
                    _endpoint_id(service),
                    service=ec2.InterfaceVpcEndpointAwsService(name_part, prefix=prefix_part),
                    subnets=ec2.SubnetSelection(subnets=endpoint_subnets),
                    security_groups=[self.endpoint_security_group],
                    private_dns_enabled=True,
                    open=False,  # the security group above already admits HTTPS from the VPC CIDR
                )
                prefix = ENDPOINTS[service].iam_prefix
                endpoint.add_to_policy(perimeter_statement([f"{prefix}:*"]))
                if prefix == "ecr" and props.aws_owned_repositories:  # SageMaker pulls AWS's images (the analyzer) through them
                    endpoint.add_to_policy(aws_owned_statement("AwsOwnedImages", IMAGE_PULL_ACTIONS, props.aws_owned_repositories))
                if service == "sagemaker.api":  # Studio reads AWS's public SageMaker resources (images, their versions)
                    endpoint.add_to_policy(aws_owned_statement("AwsOwnedSageMakerMetadata", ["sagemaker:Describe*", "sagemaker:List*"], ["*"]))

    def _route_out_through_nat(self, network: NewVpcProps) -> None:
        """An internet gateway, a public /28 (the last of the VPC's range, in the first zone, no public IPs on launch) routing
        to it, a NAT gateway there with its Elastic IP, and a default route from every private subnet to the NAT gateway.
        The private subnets keep their CIDRs and ids: turning ``nat`` on or off replaces no subnet (nor the domain in it)."""
        gateway = ec2.CfnInternetGateway(self, "InternetGateway")
        attachment = ec2.CfnVPCGatewayAttachment(self, "InternetGatewayAttachment", vpc_id=self.vpc.vpc_id, internet_gateway_id=gateway.ref)
        last = list(ipaddress.ip_network(network.cidr).subnets(new_prefix=28))[-1]
        public = ec2.CfnSubnet(
            self,
            "NatSubnet",
            vpc_id=self.vpc.vpc_id,
            cidr_block=str(last),
            availability_zone=network.availability_zones[0],
            map_public_ip_on_launch=False,
        )
        table = ec2.CfnRouteTable(self, "NatSubnetRoutes", vpc_id=self.vpc.vpc_id)
        ec2.CfnSubnetRouteTableAssociation(self, "NatSubnetRouteTable", subnet_id=public.ref, route_table_id=table.ref)
        to_internet = ec2.CfnRoute(self, "NatSubnetToInternet", route_table_id=table.ref, destination_cidr_block=ANYWHERE, gateway_id=gateway.ref)
        to_internet.add_resource_dependency(attachment)  # the route needs the gateway attached
        address = ec2.CfnEIP(self, "NatAddress", domain="vpc")
        nat = ec2.CfnNatGateway(self, "NatGateway", subnet_id=public.ref, allocation_id=address.attr_allocation_id)
        nat.add_resource_dependency(to_internet)  # a NAT gateway needs its subnet to reach the internet
        for i, subnet in enumerate(self.vpc.isolated_subnets):
            ec2.CfnRoute(
                self, f"PrivateToNat{i}", route_table_id=subnet.route_table.route_table_id, destination_cidr_block=ANYWHERE, nat_gateway_id=nat.ref
            )

    @property
    def workload_network(self) -> WorkloadNetwork:
        """This network, as projects' workloads see it (what the environment publishes for them)."""
        return WorkloadNetwork(self.vpc.vpc_id, self.endpoint_security_group.security_group_id, self.s3_prefix_list_id, self._https_out)

    def log_flows(self, key: kms.IKey, *, log_group_pattern: str) -> logs.LogGroup | None:
        """Flow logs of a VPC created here to a log group encrypted with ``key`` (whose policy lets CloudWatch Logs
        use it for log groups named ``log_group_pattern``); an existing VPC's flow logs are its owner's."""
        if not isinstance(self.vpc, ec2.Vpc):
            return None
        allow_log_encryption(key, log_group_pattern)
        group = logs.LogGroup(self, "FlowLogGroup", retention=self._flow_log_retention, encryption_key=key, removal_policy=RemovalPolicy.RETAIN)
        # https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html (confused deputy prevention)
        role = iam.Role(
            self,
            "FlowLogRole",
            description="VPC Flow Logs of this VPC write to their log group",
            assumed_by=from_this_account(
                "vpc-flow-logs.amazonaws.com", source_arn=f"arn:{Aws.PARTITION}:ec2:{Aws.REGION}:{Aws.ACCOUNT_ID}:vpc-flow-log/*"
            ),
        )
        self.vpc.add_flow_log("FlowLog", destination=ec2.FlowLogDestination.to_cloud_watch_logs(group, role))
        return group


def _endpoint_id(service: str) -> str:
    return "".join(part.capitalize() for part in service.replace(".", "-").split("-")) + "Endpoint"
