"""StudioNetwork: private isolated subnets, endpoints, security groups; or an existing VPC."""

from __future__ import annotations

import dataclasses
import json

from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template

from mlops_constructs.studio_network import ExistingVpcProps, NewVpcProps, StudioNetwork, StudioNetworkProps

ENDPOINTS = ["sagemaker.api", "sagemaker.runtime", "sts", "logs", "ecr.api", "ecr.dkr", "kms"]
S3 = "pl-63a5400a"


def _network(stack, network: NewVpcProps | ExistingVpcProps) -> StudioNetwork:
    return StudioNetwork(stack, "Net", props=StudioNetworkProps(network=network, interface_endpoints=ENDPOINTS, s3_prefix_list_id=S3))


def test_new_vpc_has_only_isolated_subnets_and_no_way_out(stack):
    _network(stack, NewVpcProps(cidr="10.42.0.0/16", availability_zones=["us-east-1a", "us-east-1b"]))
    t = Template.from_stack(stack)
    t.resource_count_is("AWS::EC2::VPC", 1)
    t.resource_count_is("AWS::EC2::Subnet", 2)
    for subnet in t.find_resources("AWS::EC2::Subnet").values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False
    for kind in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EIP"):
        t.resource_count_is(kind, 0)
    t.has_resource_properties("AWS::EC2::Subnet", {"AvailabilityZone": "us-east-1b"})


def test_new_vpc_logs_flows_with_retention_encrypted(stack):
    network = _network(stack, NewVpcProps(cidr="10.42.0.0/16", availability_zones=["us-east-1a"]))
    key = kms.Key(stack, "Key")
    assert network.log_flows(key, log_group_pattern="mlops-dev-*") is not None
    t = Template.from_stack(stack)
    t.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"})
    t.has_resource(
        "AWS::Logs::LogGroup",
        {"Properties": {"RetentionInDays": 365, "KmsKeyId": {"Fn::GetAtt": [Match.string_like_regexp("Key"), "Arn"]}}, "DeletionPolicy": "Retain"},
    )
    statements = next(iter(t.find_resources("AWS::KMS::Key").values()))["Properties"]["KeyPolicy"]["Statement"]
    (logs,) = [s for s in statements if s.get("Sid") == "CloudWatchLogsOfThisStage"]
    assert "mlops-dev-*" in json.dumps(logs["Condition"]["ArnLike"])


def test_endpoints_one_per_service_private_dns_https_from_vpc_only(stack):
    _network(stack, NewVpcProps(cidr="10.42.0.0/16", availability_zones=["us-east-1a", "us-east-1b"]))
    t = Template.from_stack(stack)
    interface = [e for e in t.find_resources("AWS::EC2::VPCEndpoint").values() if e["Properties"].get("VpcEndpointType") == "Interface"]
    gateway = [e for e in t.find_resources("AWS::EC2::VPCEndpoint").values() if e["Properties"].get("VpcEndpointType") == "Gateway"]
    services = sorted(e["Properties"]["ServiceName"] for e in interface)
    assert services == sorted(f"com.amazonaws.us-east-1.{s}" for s in ENDPOINTS)
    assert all(e["Properties"]["PrivateDnsEnabled"] for e in interface)
    assert len(gateway) == 1
    t.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": Match.string_like_regexp("Interface VPC endpoints"),
            "SecurityGroupIngress": [
                {"CidrIp": "10.42.0.0/16", "FromPort": 443, "ToPort": 443, "IpProtocol": "tcp", "Description": "HTTPS from the VPC"}
            ],
        },
    )


def _rules(t: Template, group: str, direction: str) -> list[tuple]:
    """(protocol, from, to, peer) of every ``direction`` rule of ``group``, inline or a resource of its own."""
    inline = t.find_resources("AWS::EC2::SecurityGroup")[group]["Properties"].get(f"SecurityGroup{direction}", [])
    separate = [
        r["Properties"]
        for r in t.find_resources(f"AWS::EC2::SecurityGroup{direction}").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}
    ]
    peer_keys = ("CidrIp", "SourceSecurityGroupId", "DestinationSecurityGroupId", "DestinationPrefixListId")
    return sorted((r["IpProtocol"], r["FromPort"], r["ToPort"], json.dumps([r[k] for k in peer_keys if k in r])) for r in [*inline, *separate])


def test_studio_security_group_admits_only_nfs_and_app_traffic_of_its_members_and_sends_https_to_endpoints_and_s3(stack):
    network = _network(stack, NewVpcProps(cidr="10.42.0.0/16", availability_zones=["us-east-1a"]))
    t = Template.from_stack(stack)
    studio = stack.resolve(network.studio_security_group.security_group_id)["Fn::GetAtt"][0]
    endpoints = stack.resolve(network.endpoint_security_group.security_group_id)["Fn::GetAtt"][0]
    itself = json.dumps([{"Fn::GetAtt": [studio, "GroupId"]}])
    assert _rules(t, studio, "Ingress") == [("tcp", 2049, 2049, itself), ("tcp", 8192, 65535, itself)]
    assert _rules(t, studio, "Egress") == sorted(
        [
            ("tcp", 2049, 2049, itself),
            ("tcp", 8192, 65535, itself),
            ("tcp", 443, 443, json.dumps([{"Fn::GetAtt": [endpoints, "GroupId"]}])),
            ("tcp", 443, 443, json.dumps([S3])),
        ]
    )


def test_existing_vpc_is_used_as_given_without_lookups(stack):
    network = _network(
        stack,
        ExistingVpcProps(
            vpc_id="vpc-0123456789abcdef0",
            cidr="10.1.0.0/16",
            subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
            availability_zones=["us-east-1a", "us-east-1b"],
        ),
    )
    t = Template.from_stack(stack)
    t.resource_count_is("AWS::EC2::VPC", 0)
    t.resource_count_is("AWS::EC2::FlowLog", 0)
    assert [s.subnet_id for s in network.subnets.subnets] == ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
    endpoints = t.find_resources("AWS::EC2::VPCEndpoint")
    assert len(endpoints) == len(ENDPOINTS)
    assert all(e["Properties"]["VpcId"] == "vpc-0123456789abcdef0" for e in endpoints.values())
    assert stack.node.metadata == [] or all(m.type != "aws:cdk:error" for m in stack.node.metadata)


def test_existing_vpc_can_skip_endpoints(stack):
    network = _network(
        stack,
        ExistingVpcProps(
            vpc_id="vpc-0123456789abcdef0",
            cidr="10.1.0.0/16",
            subnet_ids=["subnet-0123456789abcdef0"],
            availability_zones=["us-east-1a"],
            create_endpoints=False,
            endpoints_security_group_id="sg-0fedcba9876543210",
        ),
    )
    t = Template.from_stack(stack)
    t.resource_count_is("AWS::EC2::VPCEndpoint", 0)
    assert network.workload_network.endpoints_security_group_id == "sg-0fedcba9876543210"  # the existing endpoints' group
    studio = stack.resolve(network.studio_security_group.security_group_id)["Fn::GetAtt"][0]
    assert ("tcp", 443, 443, json.dumps(["sg-0fedcba9876543210"])) in _rules(t, studio, "Egress")


def test_an_existing_vpc_that_routes_out_lets_studio_apps_and_only_them_send_https_out(stack):
    """network.egress existing: the VPC routes out, and Studio's groups (the domain's, each user's) let HTTPS out to reach
    a Git provider or a package index; the projects' jobs and models keep the endpoints and S3 only. Without it no
    group lets anything out of the VPC, whatever its routes."""
    from mlops_constructs.studio_network import HTTPS_OUT, StudioAppSecurityGroup, WorkloadNetwork, WorkloadSecurityGroup, WorkloadSecurityGroupProps

    existing = ExistingVpcProps(
        vpc_id="vpc-0123456789abcdef0", cidr="10.1.0.0/16", subnet_ids=["subnet-0123456789abcdef0"], availability_zones=["us-east-1a"]
    )
    net = StudioNetwork(stack, "Net", props=StudioNetworkProps(network=existing, interface_endpoints=ENDPOINTS, s3_prefix_list_id=S3, https_out=True))
    out = WorkloadNetwork("vpc-0123456789abcdef0", "sg-0fedcba9876543210", S3, https_out=True)
    assert net.workload_network.https_out is True
    StudioAppSecurityGroup(stack, "Alice", network=out, description="alice's apps")
    WorkloadSecurityGroup(stack, "Jobs", props=WorkloadSecurityGroupProps(network=out, description="jobs"))
    StudioAppSecurityGroup(stack, "Bob", network=dataclasses.replace(out, https_out=False), description="bob's apps")
    t = Template.from_stack(stack)
    anywhere = ("tcp", 443, 443, json.dumps(["0.0.0.0/0"]))
    studio = stack.resolve(net.studio_security_group.security_group_id)["Fn::GetAtt"][0]
    groups = t.find_resources("AWS::EC2::SecurityGroup")
    by_description = {g["Properties"]["GroupDescription"]: lid for lid, g in groups.items()}
    assert anywhere in _rules(t, studio, "Egress") and anywhere in _rules(t, by_description["alice's apps"], "Egress")
    assert anywhere not in _rules(t, by_description["jobs"], "Egress") and anywhere not in _rules(t, by_description["bob's apps"], "Egress")
    assert any(r.get("Description") == HTTPS_OUT for g in groups.values() for r in g["Properties"].get("SecurityGroupEgress", []))


def test_a_new_vpc_with_nat_routes_its_private_subnets_out_and_keeps_them_as_they_were(stack):
    """network.egress nat: an internet gateway, the VPC's last /28 as the NAT gateway's public subnet (in the first zone,
    no public IP on launch), an Elastic IP, and a default route from every private subnet to the NAT gateway. The
    private subnets keep their CIDRs and logical ids, so turning it on or off replaces no subnet (nor the domain)."""
    zones = ["us-east-1a", "us-east-1b"]

    def subnets(template: Template) -> dict:
        return {lid: r["Properties"]["CidrBlock"] for lid, r in template.find_resources("AWS::EC2::Subnet").items()}

    import aws_cdk as cdk

    plain_stack = cdk.Stack(cdk.App(), "Plain")
    _network(plain_stack, NewVpcProps(cidr="10.42.0.0/16", availability_zones=zones))
    StudioNetwork(
        stack,
        "Net",
        props=StudioNetworkProps(
            network=NewVpcProps(cidr="10.42.0.0/16", availability_zones=zones, nat=True), interface_endpoints=ENDPOINTS, s3_prefix_list_id=S3
        ),
    )
    t = Template.from_stack(stack)
    for kind in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EIP", "AWS::EC2::VPCGatewayAttachment"):
        t.resource_count_is(kind, 1)
    (public,) = t.find_resources("AWS::EC2::Subnet", {"Properties": {"CidrBlock": "10.42.255.240/28"}}).values()
    assert public["Properties"]["AvailabilityZone"] == "us-east-1a" and public["Properties"]["MapPublicIpOnLaunch"] is False
    private = subnets(Template.from_stack(plain_stack))
    assert {lid: cidr for lid, cidr in subnets(t).items() if cidr != "10.42.255.240/28"} == private  # the same subnets
    (nat_id,) = t.find_resources("AWS::EC2::NatGateway")
    to_nat = [r["Properties"] for r in t.find_resources("AWS::EC2::Route").values() if r["Properties"].get("NatGatewayId") == {"Ref": nat_id}]
    assert len(to_nat) == len(zones) and all(r["DestinationCidrBlock"] == "0.0.0.0/0" for r in to_nat)
