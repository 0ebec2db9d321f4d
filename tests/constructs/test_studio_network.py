"""StudioNetwork: private isolated subnets, endpoints, security groups; or an existing VPC."""

from __future__ import annotations

from aws_cdk.assertions import Match, Template

from mlops_constructs.studio_network import ExistingVpcProps, NewVpcProps, StudioNetwork, StudioNetworkProps

ENDPOINTS = ["sagemaker.api", "sagemaker.runtime", "sts", "logs", "ecr.api", "ecr.dkr", "kms"]


def test_new_vpc_has_only_isolated_subnets_and_no_way_out(stack):
    StudioNetwork(
        stack,
        "Net",
        props=StudioNetworkProps(
            network=NewVpcProps(cidr="10.42.0.0/16", availability_zones=["us-east-1a", "us-east-1b"]), interface_endpoints=ENDPOINTS
        ),
    )
    t = Template.from_stack(stack)
    t.resource_count_is("AWS::EC2::VPC", 1)
    t.resource_count_is("AWS::EC2::Subnet", 2)
    for subnet in t.find_resources("AWS::EC2::Subnet").values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False
    for kind in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EIP"):
        t.resource_count_is(kind, 0)
    t.has_resource_properties("AWS::EC2::Subnet", {"AvailabilityZone": "us-east-1b"})


def test_new_vpc_logs_flows_with_retention(stack):
    StudioNetwork(
        stack,
        "Net",
        props=StudioNetworkProps(network=NewVpcProps(cidr="10.42.0.0/16", availability_zones=["us-east-1a"]), interface_endpoints=ENDPOINTS),
    )
    t = Template.from_stack(stack)
    t.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"})
    t.has_resource("AWS::Logs::LogGroup", {"Properties": {"RetentionInDays": 365}, "DeletionPolicy": "Retain"})


def test_endpoints_one_per_service_private_dns_https_from_vpc_only(stack):
    StudioNetwork(
        stack,
        "Net",
        props=StudioNetworkProps(
            network=NewVpcProps(cidr="10.42.0.0/16", availability_zones=["us-east-1a", "us-east-1b"]), interface_endpoints=ENDPOINTS
        ),
    )
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


def test_studio_security_group_admits_only_its_own_members(stack):
    StudioNetwork(
        stack,
        "Net",
        props=StudioNetworkProps(network=NewVpcProps(cidr="10.42.0.0/16", availability_zones=["us-east-1a"]), interface_endpoints=ENDPOINTS),
    )
    t = Template.from_stack(stack)
    rules = t.find_resources("AWS::EC2::SecurityGroupIngress")
    assert len(rules) == 1
    rule = next(iter(rules.values()))["Properties"]
    assert rule["IpProtocol"] == "-1"
    assert rule["SourceSecurityGroupId"] == rule["GroupId"]


def test_existing_vpc_is_used_as_given_without_lookups(stack):
    network = StudioNetwork(
        stack,
        "Net",
        props=StudioNetworkProps(
            network=ExistingVpcProps(
                vpc_id="vpc-0123456789abcdef0",
                cidr="10.1.0.0/16",
                subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
                availability_zones=["us-east-1a", "us-east-1b"],
            ),
            interface_endpoints=ENDPOINTS,
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
    StudioNetwork(
        stack,
        "Net",
        props=StudioNetworkProps(
            network=ExistingVpcProps(
                vpc_id="vpc-0123456789abcdef0",
                cidr="10.1.0.0/16",
                subnet_ids=["subnet-0123456789abcdef0"],
                availability_zones=["us-east-1a"],
                create_endpoints=False,
            ),
            interface_endpoints=ENDPOINTS,
        ),
    )
    Template.from_stack(stack).resource_count_is("AWS::EC2::VPCEndpoint", 0)
