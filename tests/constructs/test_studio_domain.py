"""StudioDomain: VPC-only, KMS-encrypted domain with the idle-shutdown lifecycle configuration."""

from __future__ import annotations

import base64
import subprocess

import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Match, Template

from mlops_constructs.studio_domain import StudioDomain, StudioDomainProps, idle_shutdown_script
from mlops_constructs.studio_network import NewVpcProps, StudioNetwork, StudioNetworkProps


@pytest.fixture
def template(stack) -> Template:
    net = StudioNetwork(
        stack,
        "Net",
        props=StudioNetworkProps(
            network=NewVpcProps(cidr="10.42.0.0/16", availability_zones=["us-east-1a", "us-east-1b"]),
            interface_endpoints=["sts"],
            s3_prefix_list_id="pl-63a5400a",
        ),
    )
    StudioDomain(
        stack,
        "Studio",
        props=StudioDomainProps(
            domain_name="mlops-dev", vpc=net.vpc, subnets=net.subnets.subnets, security_group=net.studio_security_group, idle_shutdown_minutes=45
        ),
    )
    return Template.from_stack(stack)


def test_domain_is_vpc_only_iam_auth_and_kms_encrypted(template):
    domain = next(iter(template.find_resources("AWS::SageMaker::Domain").values()))
    props = domain["Properties"]
    assert props["AppNetworkAccessType"] == "VpcOnly"
    assert props["AuthMode"] == "IAM"
    assert props["DomainName"] == "mlops-dev"
    assert props["KmsKeyId"]["Fn::GetAtt"][0].startswith("StudioKey")
    assert len(props["SubnetIds"]) == 2
    assert domain["DeletionPolicy"] == "Retain"
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def _native(minutes: int) -> dict:
    return {
        "IdleSettings": {
            "LifecycleManagement": "ENABLED",
            "IdleTimeoutInMinutes": minutes,
            "MinIdleTimeoutInMinutes": 60,
            "MaxIdleTimeoutInMinutes": minutes,
        }
    }


def test_under_studios_60_minute_floor_jupyterlab_keeps_the_script_and_code_editor_stops_at_60(template):
    lcc_ref = {"Fn::GetAtt": [Match.string_like_regexp("StudioIdleShutdownLifecycleConfig"), "StudioLifecycleConfigArn"]}
    expected = {
        "AppLifecycleManagement": _native(60),
        "LifecycleConfigArns": [lcc_ref],
        "DefaultResourceSpec": {"InstanceType": "ml.t3.medium", "LifecycleConfigArn": lcc_ref},
    }
    template.has_resource_properties(
        "AWS::SageMaker::Domain",
        {
            "DefaultUserSettings": Match.object_like(
                {
                    "JupyterLabAppSettings": expected,
                    "CodeEditorAppSettings": {"AppLifecycleManagement": _native(60)},
                    "SecurityGroups": Match.any_value(),
                }
            ),
            "DefaultSpaceSettings": Match.object_like({"JupyterLabAppSettings": expected}),
        },
    )


def test_at_an_hour_or_more_studios_own_idle_shutdown_does_it_all(stack):
    """``idle_shutdown_minutes`` >= 60: JupyterLab and Code Editor stop through Studio's IdleSettings; no lifecycle script."""
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, subnet_configuration=[ec2.SubnetConfiguration(name="i", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)])
    sg = ec2.SecurityGroup(stack, "Sg", vpc=vpc)
    studio = StudioDomain(
        stack, "Studio", props=StudioDomainProps(domain_name="d", vpc=vpc, subnets=vpc.isolated_subnets, security_group=sg, idle_shutdown_minutes=90)
    )
    t = Template.from_stack(stack)
    assert studio.lifecycle_config is None and t.find_resources("AWS::SageMaker::StudioLifecycleConfig") == {}
    (domain,) = t.find_resources("AWS::SageMaker::Domain").values()
    user = domain["Properties"]["DefaultUserSettings"]
    assert user["JupyterLabAppSettings"] == {"AppLifecycleManagement": _native(90), "DefaultResourceSpec": {"InstanceType": "ml.t3.medium"}}
    assert user["CodeEditorAppSettings"] == {"AppLifecycleManagement": _native(90)}
    assert domain["Properties"]["DefaultSpaceSettings"]["JupyterLabAppSettings"] == user["JupyterLabAppSettings"]


def test_lifecycle_config_runs_the_checker_with_the_configured_minutes(template):
    lcc = next(iter(template.find_resources("AWS::SageMaker::StudioLifecycleConfig").values()))["Properties"]
    assert lcc["StudioLifecycleConfigAppType"] == "JupyterLab"
    assert lcc["StudioLifecycleConfigName"] == "mlops-dev-idle-shutdown-45m"
    script = base64.b64decode(lcc["StudioLifecycleConfigContent"]).decode()
    assert script.startswith("#!/bin/bash")
    assert "IDLE_MINUTES=45 python3" in script
    assert "def idle_minutes(" in script and "delete-app" in script
    assert "__IDLE" not in script  # every placeholder filled
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0


def test_embedded_checker_is_valid_python():
    script = idle_shutdown_script(30)
    checker = script.split("<<'PY'\n", 1)[1].split("\nPY\n", 1)[0]
    compile(checker, "idle_check.py", "exec")


def test_default_role_is_sagemaker_only_from_this_account_and_reaches_no_data(template):
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {
                        "Action": "sts:AssumeRole",
                        "Effect": "Allow",
                        "Principal": {"Service": "sagemaker.amazonaws.com"},
                        "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                    }
                ]
            },
        },
    )
    policies = template.find_resources("AWS::IAM::Policy")
    policy = next(v for k, v in policies.items() if k.startswith("StudioDefaultExecutionRole"))
    actions = {
        a for s in policy["Properties"]["PolicyDocument"]["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert all(a.startswith("sagemaker:") for a in actions)
    assert "sagemaker:DeleteApp" in actions  # idle shutdown stops the app with this role


def test_domain_accepts_existing_subnets(stack):
    vpc = ec2.Vpc.from_vpc_attributes(
        stack, "Vpc", vpc_id="vpc-0123456789abcdef0", availability_zones=["us-east-1a"], isolated_subnet_ids=["subnet-0123456789abcdef0"]
    )
    sg = ec2.SecurityGroup.from_security_group_id(stack, "Sg", "sg-0123456789abcdef0")
    StudioDomain(
        stack, "Studio", props=StudioDomainProps(domain_name="d", vpc=vpc, subnets=vpc.isolated_subnets, security_group=sg, idle_shutdown_minutes=60)
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::Domain",
        {
            "VpcId": "vpc-0123456789abcdef0",
            "SubnetIds": ["subnet-0123456789abcdef0"],
        },
    )
