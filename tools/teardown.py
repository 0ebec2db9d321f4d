"""Empty a stage's Studio domain so that `make destroy` finishes: run before it (``make teardown STAGE=dev CONFIRM=dev``).

CloudFormation cannot delete a VPC that still has network interfaces and security groups in it, and a Studio domain
that users have used leaves them: its apps and spaces (which no stack created), the home EFS volume's mount targets,
the NFS security groups SageMaker made for it, and interfaces SageMaker left behind. The domain and the user
profiles are retained by their stacks (their home folders are data), so a destroy alone leaves all of that in the
VPC. This tool, with real AWS API calls and in this order:

1. deletes every app, then every space of the domain, and waits until they are gone;
2. deletes every user profile (retained by the user stacks; their home folders stay on the EFS volume);
3. stops each project's MLflow tracking server (billed per hour; its metadata and artifacts stay);
4. deletes the domain, keeping its home EFS volume (``home_efs_on_teardown: retain``, the default) or deleting it
   (``delete``), and waits;
5. deletes what blocks the VPC: the kept volume's mount targets (the data stays on the volume), the unattached
   interfaces in the stage's own security groups, and the NFS security groups SageMaker made for the domain.

It prints what it deleted and what it kept (the volume, the projects' buckets, keys, repositories and registries,
MLflow). Nothing outside the stage is touched: the domain is the one the environment stack publishes, interfaces are
deleted only when every group they are in is the stage's, security groups only when they name the domain.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from stage_cli import paginated, parse_stage, render  # noqa: E402

from config import PlatformConfig  # noqa: E402
from config.parameters import PROJECT_KEYS, STUDIO_KEYS, parameter_name  # noqa: E402

# what a project stack retains (its buckets, key, repository and registry), as its parameters name them
RETAINED_PROJECT_KEYS = ("data-bucket-name", "artifacts-bucket-name", "capture-bucket-name", "key-arn", "repository-name", "model-package-group-name")
GONE_APP_STATES = ("Deleted", "Failed")  # a failed app holds nothing; DeleteApp on it is refused
NFS_GROUP_PREFIXES = ("security-group-for-inbound-nfs-", "security-group-for-outbound-nfs-")  # SageMaker names them so


class TeardownError(Exception):
    """A step that did not finish: what it waited for, and what is left."""


@dataclass
class Report:
    deleted: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def render(self) -> str:
        return render((("Deleted", self.deleted), ("Stopped", self.stopped), ("Kept", self.kept)))


@dataclass
class Clients:
    sagemaker: Any
    ec2: Any
    efs: Any
    ssm: Any


def _wait(what: str, done: Callable[[], bool], *, timeout: float, interval: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TeardownError(f"gave up after {timeout:.0f} s waiting for {what}; run the teardown again to resume")
        time.sleep(interval)


def _parameter(ssm: Any, name: str) -> str | None:
    try:
        return ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None


def teardown(config: PlatformConfig, clients: Clients, *, timeout: float = 1800, interval: float = 15) -> Report:
    """Steps 1-5 of the module docstring for the stage ``config`` describes; idempotent (a second run finds less)."""
    names, sm, ec2, efs, ssm = config.names, clients.sagemaker, clients.ec2, clients.efs, clients.ssm
    report = Report()
    studio = {
        key: _parameter(ssm, parameter_name(names.studio_parameters, STUDIO_KEYS, key))
        for key in ("domain-id", "vpc-id", "studio-security-group-id", "endpoints-security-group-id")
    }
    domain_id, vpc_id = studio["domain-id"], studio["vpc-id"]
    home_efs = None
    if domain_id is not None:
        try:
            domain = sm.describe_domain(DomainId=domain_id)
        except sm.exceptions.ResourceNotFound:
            domain = None
        if domain is not None:
            home_efs = domain.get("HomeEfsFileSystemId")
            _empty_domain(sm, domain_id, report, timeout=timeout, interval=interval)
    for project in config.projects:
        _stop_tracking_server(sm, names.mlflow(project.name), report)
    if domain_id is not None and home_efs is not None:
        keep = config.home_efs_on_teardown == "retain"
        sm.delete_domain(DomainId=domain_id, RetentionPolicy={"HomeEfsFileSystem": "Retain" if keep else "Delete"})

        def domain_gone() -> bool:
            try:
                sm.describe_domain(DomainId=domain_id)
            except sm.exceptions.ResourceNotFound:
                return True
            return False

        _wait(f"domain {domain_id} to be deleted", domain_gone, timeout=timeout, interval=interval)
        report.deleted.append(f"Studio domain {domain_id}")
        if keep:
            report.kept.append(f"home EFS volume {home_efs} (the users' home folders; home_efs_on_teardown: retain)")
            _delete_mount_targets(efs, home_efs, vpc_id, report, timeout=timeout, interval=interval)
        else:
            report.deleted.append(f"home EFS volume {home_efs} (home_efs_on_teardown: delete)")
    if vpc_id is not None:
        own_groups = {studio["studio-security-group-id"], studio["endpoints-security-group-id"]}
        for project in config.projects:
            path = names.project_parameters(project.name)
            own_groups |= {_parameter(ssm, parameter_name(path, PROJECT_KEYS, k)) for k in ("jobs-security-group-id", "models-security-group-id")}
        nfs_groups = _nfs_groups(ec2, vpc_id, domain_id) if domain_id else []
        _delete_loose_interfaces(ec2, vpc_id, (own_groups - {None}) | {g["GroupId"] for g in nfs_groups}, report)
        _delete_groups(ec2, nfs_groups, report)
    for project in config.projects:
        path = names.project_parameters(project.name)
        values = {k: _parameter(ssm, parameter_name(path, PROJECT_KEYS, k)) for k in RETAINED_PROJECT_KEYS}
        kept = ", ".join(f"{k} {v}" for k, v in values.items() if v)
        if kept:
            report.kept.append(f"project {project.name}: {kept} (retained by its stack)")
    return report


def _empty_domain(sm: Any, domain_id: str, report: Report, *, timeout: float, interval: float) -> None:
    """Apps, then spaces, then user profiles: each kind gone before the next (a space with an app, a profile with a
    private space cannot be deleted)."""
    for app in paginated(sm, "list_apps", "Apps", DomainIdEquals=domain_id):
        if app["Status"] in GONE_APP_STATES or app["Status"] == "Deleting":
            continue
        owner = {"SpaceName": app["SpaceName"]} if app.get("SpaceName") else {"UserProfileName": app["UserProfileName"]}
        sm.delete_app(DomainId=domain_id, AppType=app["AppType"], AppName=app["AppName"], **owner)
        report.deleted.append(f"app {app['AppType']}/{app['AppName']} of {next(iter(owner.values()))}")
    _wait(
        f"the apps of domain {domain_id} to be deleted",
        lambda: all(a["Status"] in GONE_APP_STATES for a in paginated(sm, "list_apps", "Apps", DomainIdEquals=domain_id)),
        timeout=timeout,
        interval=interval,
    )
    for kind, lister, key, name_key, deleter in (
        ("space", "list_spaces", "Spaces", "SpaceName", sm.delete_space),
        ("user profile", "list_user_profiles", "UserProfiles", "UserProfileName", sm.delete_user_profile),
    ):
        for item in paginated(sm, lister, key, DomainIdEquals=domain_id):
            if item["Status"] != "Deleting":
                deleter(DomainId=domain_id, **{name_key: item[name_key]})
                report.deleted.append(f"{kind} {item[name_key]}")
        _wait(
            f"the {kind}s of domain {domain_id} to be deleted",
            lambda lister=lister, key=key: not paginated(sm, lister, key, DomainIdEquals=domain_id),
            timeout=timeout,
            interval=interval,
        )


def _stop_tracking_server(sm: Any, name: str, report: Report) -> None:
    try:
        server = sm.describe_mlflow_tracking_server(TrackingServerName=name)
    except sm.exceptions.ResourceNotFound:
        return  # the project runs an MLflow app (no idle hours to stop) or none
    if server.get("TrackingServerStatus") in ("Created", "Started", "StartFailed", "StopFailed", "Updated", "UpdateFailed"):
        sm.stop_mlflow_tracking_server(TrackingServerName=name)
        report.stopped.append(f"MLflow tracking server {name} (its runs and artifacts stay; start it again to use it)")
    else:
        report.kept.append(f"MLflow tracking server {name} ({server.get('TrackingServerStatus')})")


def _delete_mount_targets(efs: Any, file_system: str, vpc_id: str | None, report: Report, *, timeout: float, interval: float) -> None:
    """The kept volume's mount targets in the stage's VPC (a mount target is a network interface in a subnet)."""
    targets = [t for t in efs.describe_mount_targets(FileSystemId=file_system)["MountTargets"] if vpc_id is None or t.get("VpcId") in (None, vpc_id)]
    for target in targets:
        efs.delete_mount_target(MountTargetId=target["MountTargetId"])
        report.deleted.append(f"mount target {target['MountTargetId']} of {file_system} in {target['SubnetId']} (the data stays on the volume)")
    _wait(
        f"the mount targets of {file_system} to be deleted",
        lambda: (
            not [
                t
                for t in efs.describe_mount_targets(FileSystemId=file_system)["MountTargets"]
                if t["MountTargetId"] in {x["MountTargetId"] for x in targets}
            ]
        ),
        timeout=timeout,
        interval=interval,
    )


def _nfs_groups(ec2: Any, vpc_id: str, domain_id: str) -> list[dict]:
    """The security groups SageMaker made in the VPC for the domain's NFS traffic."""
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    return [g for g in groups if g["GroupName"] in {prefix + domain_id for prefix in NFS_GROUP_PREFIXES}]


def _delete_loose_interfaces(ec2: Any, vpc_id: str, own_groups: set[str], report: Report) -> None:
    """Unattached interfaces whose every group is the stage's: SageMaker's leftovers (the interface endpoints' are in use)."""
    interfaces = ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "status", "Values": ["available"]}])
    for eni in interfaces["NetworkInterfaces"]:
        groups = {g["GroupId"] for g in eni.get("Groups", [])}
        if groups and groups <= own_groups:
            ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
            report.deleted.append(f"network interface {eni['NetworkInterfaceId']} ({eni.get('Description') or 'no description'})")


def _delete_groups(ec2: Any, groups: list[dict], report: Report) -> None:
    """The NFS groups refer to each other: their rules go first, then the groups."""
    for group in groups:
        if group.get("IpPermissions"):
            ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=group["IpPermissions"])
        if group.get("IpPermissionsEgress"):
            ec2.revoke_security_group_egress(GroupId=group["GroupId"], IpPermissions=group["IpPermissionsEgress"])
    for group in groups:
        ec2.delete_security_group(GroupId=group["GroupId"])
        report.deleted.append(f"security group {group['GroupId']} ({group['GroupName']})")


def main(argv: list[str] | None = None) -> int:
    parsed = parse_stage(
        __doc__,
        argv,
        lambda p: p.add_argument("--confirm", default="", help="the stage's name again: the teardown deletes the domain and its users' apps"),
    )
    if isinstance(parsed, int):
        return parsed
    args, config = parsed
    if args.confirm != config.stage:
        print(f"refused: this deletes the Studio domain of stage {config.stage} and every app, space and user profile in it; "
              f"run it with CONFIRM={config.stage}", file=sys.stderr)  # fmt: skip
        return 2
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.Session(region_name=config.region)
    clients = Clients(*(session.client(service) for service in ("sagemaker", "ec2", "efs", "ssm")))
    try:
        report = teardown(config, clients)
    except (TeardownError, ClientError, BotoCoreError) as exc:
        print(f"teardown of stage {config.stage} stopped: {exc}", file=sys.stderr)
        return 1
    print(report.render())
    print(f"Now `make destroy STAGE={config.stage}` can delete the stacks and the VPC.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
