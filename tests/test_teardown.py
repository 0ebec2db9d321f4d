"""`make teardown` (tools/teardown.py): a used Studio domain emptied and deleted so that `make destroy` can delete the VPC.

EC2, EFS and SSM run in moto. moto 5.2 has no Studio apps, spaces, user profiles or MLflow, so the SageMaker client is
botocore's Stubber, which checks every request against SageMaker's own API model and answers as SageMaker documents;
the order of the stubs is the order the calls must come in.
"""

from __future__ import annotations

import sys
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from config import load_config
from config.parameters import PROJECT_KEYS, STUDIO_KEYS, parameter_name

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from tools import teardown  # noqa: E402  (under its path's name: make mutate mutates it so)

REGION, DOMAIN = "us-east-1", "d-0a1b2c3d4e5f"


@pytest.fixture
def aws(monkeypatch):
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_DEFAULT_REGION", REGION)):
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


def _stage(config) -> dict:
    """The VPC of a used stage as moto holds it: the stage's groups, the domain's NFS groups and home volume's mount
    targets, a leftover interface of a job, and a foreign interface that is none of the stage's business."""
    ec2, efs, ssm = (boto3.client(s, region_name=REGION) for s in ("ec2", "efs", "ssm"))
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]

    def group(name: str) -> str:
        return ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]

    studio, endpoints, foreign = group("studio"), group("endpoints"), group("someone-elses")
    inbound, outbound = group(f"security-group-for-inbound-nfs-{DOMAIN}"), group(f"security-group-for-outbound-nfs-{DOMAIN}")
    nfs = [{"IpProtocol": "tcp", "FromPort": 2049, "ToPort": 2049}]
    ec2.authorize_security_group_ingress(GroupId=inbound, IpPermissions=[{**nfs[0], "UserIdGroupPairs": [{"GroupId": outbound}]}])
    ec2.authorize_security_group_egress(GroupId=outbound, IpPermissions=[{**nfs[0], "UserIdGroupPairs": [{"GroupId": inbound}]}])
    names = config.names
    values = {"domain-id": DOMAIN, "vpc-id": vpc, "studio-security-group-id": studio, "endpoints-security-group-id": endpoints}
    for key in STUDIO_KEYS:
        ssm.put_parameter(Name=parameter_name(names.studio_parameters, STUDIO_KEYS, key), Value=values.get(key, "x"), Type="String")
    jobs = {}
    for project in config.projects:
        path = names.project_parameters(project.name)
        jobs[project.name] = group(f"{project.name}-jobs")
        project_values = {
            "jobs-security-group-id": jobs[project.name],
            "models-security-group-id": group(f"{project.name}-models"),
            "key-arn": f"arn:aws:kms:{REGION}:123456789012:key/0123abcd-0123-4567-89ab-0123456789ab",
        }
        for key in PROJECT_KEYS:
            ssm.put_parameter(Name=parameter_name(path, PROJECT_KEYS, key), Value=project_values.get(key, f"{project.name}-{key}"), Type="String")
    volume = efs.create_file_system(CreationToken=DOMAIN, Encrypted=True)["FileSystemId"]
    targets = [efs.create_mount_target(FileSystemId=volume, SubnetId=s, SecurityGroups=[inbound])["MountTargetId"] for s in subnets]
    leftover = ec2.create_network_interface(SubnetId=subnets[0], Groups=[jobs["churn"]], Description="SageMaker job")["NetworkInterface"]
    bare = ec2.create_network_interface(SubnetId=subnets[1], Groups=[studio, endpoints])["NetworkInterface"]  # no description
    theirs = ec2.create_network_interface(SubnetId=subnets[0], Groups=[foreign], Description="not ours")["NetworkInterface"]
    return {
        "vpc": vpc,
        "volume": volume,
        "targets": targets,
        "nfs": {inbound, outbound},
        "own": {studio, endpoints, *jobs.values()},
        "leftover": leftover["NetworkInterfaceId"],
        "bare": bare["NetworkInterfaceId"],
        "theirs": theirs["NetworkInterfaceId"],
    }


def _not_found(stubber: Stubber, method: str, message: str) -> None:
    stubber.add_client_error(method, service_error_code="ResourceNotFound", service_message=message, http_status_code=400)


def _used_domain(stubber: Stubber, config, volume: str, retention: str) -> None:
    """What SageMaker answers for a domain with a user (alice), her private space with a JupyterLab app, a
    KernelGateway app of her profile, and an app deleted earlier; one project on an MLflow tracking server."""
    by_domain = {"DomainIdEquals": DOMAIN}
    stubber.add_response("describe_domain", {"DomainId": DOMAIN, "HomeEfsFileSystemId": volume, "Status": "InService"}, {"DomainId": DOMAIN})
    apps = [
        {"DomainId": DOMAIN, "SpaceName": "old", "AppType": "CodeEditor", "AppName": "default", "Status": "Deleted"},  # first: skipped
        {"DomainId": DOMAIN, "SpaceName": "alice-lab", "AppType": "JupyterLab", "AppName": "default", "Status": "InService"},
        {"DomainId": DOMAIN, "UserProfileName": "alice", "AppType": "KernelGateway", "AppName": "datascience-1-0", "Status": "InService"},
    ]
    stubber.add_response("list_apps", {"Apps": apps, "NextToken": "page-2"}, by_domain)
    stubber.add_response("list_apps", {"Apps": []}, {**by_domain, "NextToken": "page-2"})
    stubber.add_response("delete_app", {}, {"DomainId": DOMAIN, "AppType": "JupyterLab", "AppName": "default", "SpaceName": "alice-lab"})
    stubber.add_response("delete_app", {}, {"DomainId": DOMAIN, "AppType": "KernelGateway", "AppName": "datascience-1-0", "UserProfileName": "alice"})
    stubber.add_response("list_apps", {"Apps": apps[:1] + [{**a, "Status": "Deleting"} for a in apps[1:]]}, by_domain)  # still going
    stubber.add_response("list_apps", {"Apps": [{**a, "Status": "Deleted"} for a in apps]}, by_domain)
    spaces = [
        {"DomainId": DOMAIN, "SpaceName": "shared", "Status": "Deleting"},
        {"DomainId": DOMAIN, "SpaceName": "alice-lab", "Status": "InService"},
    ]
    stubber.add_response("list_spaces", {"Spaces": spaces}, by_domain)  # the one already going is not deleted again
    stubber.add_response("delete_space", {}, {"DomainId": DOMAIN, "SpaceName": "alice-lab"})
    stubber.add_response("list_spaces", {"Spaces": []}, by_domain)
    stubber.add_response("list_user_profiles", {"UserProfiles": [{"DomainId": DOMAIN, "UserProfileName": "alice", "Status": "InService"}]}, by_domain)
    stubber.add_response("delete_user_profile", {}, {"DomainId": DOMAIN, "UserProfileName": "alice"})
    stubber.add_response("list_user_profiles", {"UserProfiles": []}, by_domain)
    for project in config.projects:
        name = config.names.mlflow(project.name)
        if project.mlflow.server == "tracking_server":
            stubber.add_response(
                "describe_mlflow_tracking_server", {"TrackingServerName": name, "TrackingServerStatus": "Started"}, {"TrackingServerName": name}
            )
            stubber.add_response("stop_mlflow_tracking_server", {}, {"TrackingServerName": name})
        else:
            _not_found(stubber, "describe_mlflow_tracking_server", f"tracking server {name} not found")
    stubber.add_response("delete_domain", {}, {"DomainId": DOMAIN, "RetentionPolicy": {"HomeEfsFileSystem": retention}})
    stubber.add_response("describe_domain", {"DomainId": DOMAIN, "Status": "Deleting"}, {"DomainId": DOMAIN})
    _not_found(stubber, "describe_domain", f"domain {DOMAIN} not found")


def _config(tmp_path, **changes):
    import shutil

    import yaml

    shutil.copytree(
        Path(__file__).resolve().parent.parent / "config", tmp_path, ignore=shutil.ignore_patterns("*.py", "__pycache__"), dirs_exist_ok=True
    )
    dev = yaml.safe_load((tmp_path / "dev.yaml").read_text())
    dev["projects"][1]["mlflow"] = {"server": "tracking_server"}  # fraud: a tracking server, churn: an app
    dev.update(changes)
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(dev))
    return load_config("dev", tmp_path)


def _run(config, retention: str):
    stage = _stage(config)
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    stubber = Stubber(sagemaker)
    _used_domain(stubber, config, stage["volume"], retention)
    clients = teardown.Clients(sagemaker, *(boto3.client(s, region_name=REGION) for s in ("ec2", "efs", "ssm")))
    stage["ec2_calls"] = calls = []  # what the teardown asked EC2, in order (moto deletes a group another refers to; EC2 does not)
    clients.ec2.meta.events.register("provide-client-params.ec2.*", lambda params, model, **_: calls.append((model.name, dict(params))))
    with stubber:
        report = teardown.teardown(config, clients, timeout=5, interval=0)
        stubber.assert_no_pending_responses()  # every call SageMaker had to see, in order
    return stage, report


def test_a_used_domain_is_emptied_and_what_blocks_the_vpc_goes(aws, tmp_path):
    config = _config(tmp_path)
    stage, report = _run(config, "Retain")
    ec2, efs = boto3.client("ec2", region_name=REGION), boto3.client("efs", region_name=REGION)
    groups = {g["GroupId"] for g in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [stage["vpc"]]}])["SecurityGroups"]}
    assert not stage["nfs"] & groups and stage["own"] <= groups  # SageMaker's NFS groups gone, the stacks' own left to them
    interfaces = {e["NetworkInterfaceId"] for e in ec2.describe_network_interfaces()["NetworkInterfaces"]}
    assert stage["leftover"] not in interfaces and stage["theirs"] in interfaces
    assert efs.describe_mount_targets(FileSystemId=stage["volume"])["MountTargets"] == []
    assert [f["FileSystemId"] for f in efs.describe_file_systems()["FileSystems"]] == [stage["volume"]]  # the home folders stay
    text = report.render()
    assert "app JupyterLab/default of alice-lab" in text and "space alice-lab" in text and "user profile alice" in text
    assert f"Studio domain {DOMAIN}" in text and "CodeEditor" not in text  # the app deleted earlier is not deleted again
    assert report.stopped == [f"MLflow tracking server {config.names.mlflow('fraud')} (its runs and artifacts stay; start it again to use it)"]
    assert any(stage["volume"] in k and "retain" in k for k in report.kept)
    for project in ("churn", "fraud"):
        assert any(k.startswith(f"project {project}: ") and "artifacts-bucket-name" in k and "key-arn" in k for k in report.kept)
    assert "project churn: data-bucket-name churn-data-bucket-name, artifacts-bucket-name churn-artifacts-bucket-name, " in text
    assert f"network interface {stage['leftover']} (SageMaker job)" in report.deleted
    assert f"network interface {stage['bare']} (no description)" in report.deleted  # in the stage's groups only
    assert any(d.startswith("mount target ") and f"of {stage['volume']} in subnet-" in d for d in report.deleted)
    assert any(d.startswith("security group ") and f"(security-group-for-inbound-nfs-{DOMAIN})" in d for d in report.deleted)
    lines = text.split("\n")
    assert lines[0] == f"Deleted ({len(report.deleted)}):" and lines[1] == f"  - {report.deleted[0]}"
    assert "Stopped (1):" in lines and f"Kept ({len(report.kept)}):" in lines
    assert teardown.Report().render() == "Deleted (0):\n  (none)\nStopped (0):\n  (none)\nKept (0):\n  (none)"
    # the NFS groups refer to each other: EC2 refuses to delete a group another group's rule names, so their rules go first
    ops = [(op, p.get("GroupId")) for op, p in stage["ec2_calls"] if op.endswith(("SecurityGroupIngress", "SecurityGroupEgress", "SecurityGroup"))]
    revoked = [g for op, g in ops if op.startswith("Revoke")]
    deleted = [g for op, g in ops if op == "DeleteSecurityGroup"]
    assert set(revoked) == set(deleted) == stage["nfs"] and max(
        ops.index(("RevokeSecurityGroupIngress", g)) for g in revoked if ("RevokeSecurityGroupIngress", g) in ops
    ) < min(ops.index(("DeleteSecurityGroup", g)) for g in deleted)
    for direction in ("Ingress", "Egress"):  # the NFS rules themselves, as DescribeSecurityGroups gave them
        revokes = [p["IpPermissions"] for op, p in stage["ec2_calls"] if op == f"RevokeSecurityGroup{direction}"]
        assert any(rule.get("FromPort") == 2049 and rule.get("UserIdGroupPairs") for rules in revokes for rule in rules), direction


@pytest.mark.parametrize(
    "status, stopped",
    [
        *((s, True) for s in ("Created", "Started", "StartFailed", "StopFailed", "Updated", "UpdateFailed")),
        *((s, False) for s in ("Creating", "Stopped", "Stopping", "Starting", "Updating", "Deleting", "CreateFailed", "MaintenanceInProgress")),
    ],
)
def test_a_tracking_server_is_stopped_only_where_it_bills_idle_hours(status, stopped):
    """Stopped in the states it runs (or may run) in; left as it is while it changes state, when stopped, or failed to
    be created; the report says which."""
    sagemaker = boto3.client("sagemaker", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(sagemaker)
    stubber.add_response(
        "describe_mlflow_tracking_server",
        {"TrackingServerName": "mlops-dev-fraud", "TrackingServerStatus": status},
        {"TrackingServerName": "mlops-dev-fraud"},
    )
    if stopped:
        stubber.add_response("stop_mlflow_tracking_server", {}, {"TrackingServerName": "mlops-dev-fraud"})
    report = teardown.Report()
    with stubber:
        teardown._stop_tracking_server(sagemaker, "mlops-dev-fraud", report)
        stubber.assert_no_pending_responses()
    assert (report.stopped, report.kept) == (
        (["MLflow tracking server mlops-dev-fraud (its runs and artifacts stay; start it again to use it)"], [])
        if stopped
        else ([], [f"MLflow tracking server mlops-dev-fraud ({status})"])
    )


def test_a_stage_without_a_domain_still_clears_its_loose_interfaces(aws, tmp_path):
    """A stage whose domain parameter is gone (its environment half destroyed): no domain to empty, and no NFS groups
    to look for, but the stage's leftover interfaces still go."""
    config = _config(tmp_path)
    stage = _stage(config)
    boto3.client("ssm", region_name=REGION).delete_parameter(Name=parameter_name(config.names.studio_parameters, STUDIO_KEYS, "domain-id"))
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    stubber = Stubber(sagemaker)
    for _ in config.projects:
        _not_found(stubber, "describe_mlflow_tracking_server", "not found")
    clients = teardown.Clients(sagemaker, *(boto3.client(s, region_name=REGION) for s in ("ec2", "efs", "ssm")))
    with stubber:
        report = teardown.teardown(config, clients, timeout=5, interval=0)
    assert f"network interface {stage['leftover']} (SageMaker job)" in report.deleted
    assert not any("security group" in d for d in report.deleted)


def test_main_tears_down_in_the_stages_region_and_says_what_next(aws, tmp_path, capsys, monkeypatch):
    config = _config(tmp_path)
    stage = _stage(config)
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    stubber = Stubber(sagemaker)
    _used_domain(stubber, config, stage["volume"], "Retain")
    sessions = []

    class Session:  # boto3's, except that SageMaker is the stubbed client (moto has no Studio)
        def __init__(self, region_name=None):
            sessions.append(region_name)

        def client(self, service):
            return sagemaker if service == "sagemaker" else boto3.client(service, region_name=REGION)

    monkeypatch.setattr("boto3.Session", Session)
    monkeypatch.setattr(sys.modules[teardown.parse_stage.__module__], "load_config", lambda stage: config)  # the stage of tmp_path
    monkeypatch.setattr(teardown.time, "sleep", lambda seconds: None)
    with stubber:
        assert teardown.main(["--stage", "dev", "--confirm", "dev"]) == 0
    out = capsys.readouterr().out
    assert (
        sessions == ["us-east-1"]
        and out.startswith("Deleted (")
        and out.endswith("Now `make destroy STAGE=dev` can delete the stacks and the VPC.\n")
    )
    stubber.add_client_error("describe_domain", service_error_code="ThrottlingException", service_message="Rate exceeded", http_status_code=400)
    with stubber:
        assert teardown.main(["--stage", "dev", "--confirm", "dev"]) == 1
    assert capsys.readouterr().err.startswith("teardown of stage dev stopped: An error occurred (ThrottlingException)")


def test_the_home_volume_goes_with_the_domain_when_configured(aws, tmp_path):
    config = _config(tmp_path, home_efs_on_teardown="delete")
    stage, report = _run(config, "Delete")  # the stubbed DeleteDomain insists on RetentionPolicy Delete
    assert not any("mount target" in d for d in report.deleted)  # SageMaker deletes the volume and its mount targets itself
    assert f"home EFS volume {stage['volume']} (home_efs_on_teardown: delete)" in report.deleted


def test_a_second_run_finds_nothing_left(aws, tmp_path):
    config = _config(tmp_path)
    _stage(config)
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    stubber = Stubber(sagemaker)
    _not_found(stubber, "describe_domain", f"domain {DOMAIN} not found")
    for _ in config.projects:
        _not_found(stubber, "describe_mlflow_tracking_server", "not found")
    clients = teardown.Clients(sagemaker, *(boto3.client(s, region_name=REGION) for s in ("ec2", "efs", "ssm")))
    with stubber:
        report = teardown.teardown(config, clients, timeout=5, interval=0)
    assert not any("domain" in d for d in report.deleted)


def test_a_domain_that_does_not_empty_stops_with_a_message(aws, tmp_path):
    config = _config(tmp_path)
    stage = _stage(config)
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    stubber = Stubber(sagemaker)
    stubber.add_response("describe_domain", {"DomainId": DOMAIN, "HomeEfsFileSystemId": stage["volume"]})
    stuck = [{"DomainId": DOMAIN, "SpaceName": "s", "AppType": "JupyterLab", "AppName": "default", "Status": "Deleting"}]
    for _ in range(200):
        stubber.add_response("list_apps", {"Apps": stuck})
    clients = teardown.Clients(sagemaker, *(boto3.client(s, region_name=REGION) for s in ("ec2", "efs", "ssm")))
    with stubber, pytest.raises(teardown.TeardownError, match="waiting for the apps of domain"):
        teardown.teardown(config, clients, timeout=0.05, interval=0.01)


def test_it_asks_for_the_stage_name_first(capsys):
    assert teardown.main(["--stage", "dev"]) == 2
    assert "CONFIRM=dev" in capsys.readouterr().err
    assert teardown.main(["--stage", "nope", "--confirm", "nope"]) == 2  # an unknown stage: the config's message
