"""`make deploy-local` / `make destroy-local`: the pinned CDK CLI deploys a stage into moto's server on 127.0.0.1.

No AWS account, no Docker. ``deploy``:

1. adapts the synthesized stage's templates to moto's known gaps (``fidelity.moto_adapt``, the same
   adaptations the deploy smoke test uses) in a copy of its cloud assembly;
2. starts ``moto.server`` on a free loopback port (in the config's account) and keeps it running;
3. ``cdk bootstrap``, then ``cdk deploy --method=direct`` of the project stacks, then of every stack,
   the endpoint stacks with a model package and baseline passed as ``--parameters <stack name>:Name=value``
   (the CLI keys parameters by stack name; ``Dev/Endpoint-churn:...`` would be silently ignored);
4. checks what a green CLI does not prove: every stack's status, and every SSM parameter the templates
   publish, with its value where the template fixes it;
5. starts each training pipeline: the deployed state machine accepts an execution (moto does not run
   state machines CloudFormation created), and a copy of its definition, run in moto's interpreter,
   shows how far moto gets (its Step Functions cannot wait for SageMaker jobs: ``.sync`` integrations fail,
   and the pipeline's Catch reports it).

``destroy`` runs ``cdk destroy --all``, reports the stacks moto could not delete (the environment stack:
moto keeps the VPC endpoints CloudFormation made, so the VPC has dependencies), checks that the retained
resources (buckets, repositories, keys) are still there, and stops the server, which discards everything.

moto limitations worked around or reported (docs/deploy.md, "Try it without an AWS account"):
- the resource types in ``fidelity.moto_adapt.MOTO_SKIPS`` are accepted and not created (SageMaker Domain,
  UserProfile, ModelPackageGroup, monitoring, alarms, bucket and topic policies, Service Catalog, ...);
  references to them read ``moto-skipped:<LogicalId>.<Attribute>``;
- KMS key tags, SSM parameter tags and unnamed ECR repositories are adapted (moto answers 500 otherwise);
- change-set deploys break on update (``--method=direct``); a moto crash reaches the CLI as a misleading
  ``AlreadyExistsException`` after an SDK retry, hence the status checks;
- Lambdas would need Docker: they are created, not invoked; state machines made by CloudFormation do
  not execute; ``.sync`` integrations are unsupported; the environment stack cannot be deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fidelity.moto_adapt import moto_compatible  # noqa: E402

CDK = ROOT / "node_modules" / ".bin" / "cdk"
STATE_FILE = "server.json"
DONE = ("CREATE_COMPLETE", "UPDATE_COMPLETE")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stacks(assembly: Path) -> list[dict]:
    """The stack artifacts of a cloud assembly: {id, name, template (path), account, region}."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    stacks = []
    for artifact_id, artifact in manifest["artifacts"].items():
        if artifact["type"] == "aws:cloudformation:stack":
            env = artifact["environment"].removeprefix("aws://").split("/")
            stacks.append(
                {
                    "id": artifact_id,
                    "name": artifact["properties"].get("stackName", artifact_id),
                    "template": assembly / artifact["properties"]["templateFile"],
                    "account": env[0],
                    "region": env[1],
                    "path": artifact.get("displayName", artifact_id),
                }
            )
    return stacks


def adapt(source: Path, target: Path) -> list[dict]:
    """Copy the assembly at ``source`` to ``target`` with every template adapted to moto."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    # Asset paths are relative to the original assembly ("../asset.<hash>" in a stage's nested one): make them absolute.
    for manifest in target.glob("*.assets.json"):
        assets = json.loads(manifest.read_text())
        for entry in [*assets.get("files", {}).values(), *assets.get("dockerImages", {}).values()]:
            path = entry["source"].get("path") if "path" in entry["source"] else entry["source"].get("directory")
            key = "path" if "path" in entry["source"] else "directory"
            if path and not Path(path).is_absolute() and not (target / path).exists():
                entry["source"][key] = str((source / path).resolve())
        manifest.write_text(json.dumps(assets, indent=1))
    stacks = _stacks(target)
    for stack in stacks:
        template = json.loads(stack["template"].read_text())
        stack["template"].write_text(json.dumps(moto_compatible(template, stack["name"])))
    return stacks


class Local:
    """The moto server of a local deployment and the environment that points clients at it."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        state = json.loads((state_dir / STATE_FILE).read_text()) if (state_dir / STATE_FILE).exists() else {}
        self.port, self.pid, self.account, self.region = state.get("port"), state.get("pid"), state.get("account"), state.get("region")

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            # "localhost", not 127.0.0.1: moto parses the bucket of a change set's TemplateURL only then.
            "AWS_ENDPOINT_URL": f"http://localhost:{self.port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "CDK_DISABLE_CLI_TELEMETRY": "true",
            "CDK_DISABLE_VERSION_CHECK": "true",
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        }

    def client(self, service: str):
        import boto3

        return boto3.client(
            service,
            endpoint_url=f"http://localhost:{self.port}",
            region_name=self.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def start(self, account: str, region: str) -> None:
        self.port, self.account, self.region = _free_port(), account, region
        log = open(self.state_dir / "moto.log", "wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env={**os.environ, "MOTO_ACCOUNT_ID": account, "MOTO_PORT": str(self.port)},  # MOTO_PORT: where its Step Functions call back
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = server.pid
        (self.state_dir / STATE_FILE).write_text(json.dumps({"port": self.port, "pid": self.pid, "account": account, "region": region}))
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/moto-api/", timeout=1)
                return
            except OSError:
                if server.poll() is not None:
                    raise SystemExit(f"moto's server exited; see {self.state_dir / 'moto.log'}") from None
                time.sleep(0.05)
        raise SystemExit("moto's server did not answer within 30 s")

    def stop(self) -> None:
        if self.pid:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        (self.state_dir / STATE_FILE).unlink(missing_ok=True)

    def cdk(self, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
        completed = subprocess.run([str(CDK), *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        with open(self.state_dir / "cdk.log", "a") as log:
            log.write(f"$ cdk {' '.join(args)}\n{completed.stdout}{completed.stderr}\n")
        return completed

    def set_execution(self, on: bool) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/moto-api/config",
            method="POST",
            data=json.dumps({"stepfunctions": {"execute_state_machine": on}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=5)


# -- deploy -------------------------------------------------------------------------------------------------


def _published(stacks: list[dict]) -> dict[str, str | None]:
    """SSM parameter name -> the value its template fixes (None where a token decides it at deploy time)."""
    out = {}
    for stack in stacks:
        for resource in json.loads(stack["template"].read_text())["Resources"].values():
            if resource["Type"] == "AWS::SSM::Parameter" and isinstance(resource["Properties"].get("Name"), str):
                value = resource["Properties"]["Value"]
                out[resource["Properties"]["Name"]] = value if isinstance(value, str) else None
    return out


def _endpoint_parameters(local: Local, stacks: list[dict]) -> list[str]:
    """``--parameters <stack name>:<name>=<value>`` for every endpoint stack that takes a model package (and baseline):
    version 1 of the registry project's group, and a baseline prefix in its artifacts bucket (no model is trained here)."""
    ssm = local.client("ssm")
    args = []
    for stack in stacks:
        declared = json.loads(stack["template"].read_text()).get("Parameters", {})
        if "ModelPackageArn" not in declared:
            continue
        # The registry project's namespace: the endpoint stack reads its artifacts bucket from SSM.
        artifacts = next(p["Default"] for p in declared.values() if str(p.get("Default", "")).endswith("/artifacts-bucket-name"))
        registry = artifacts.removesuffix("/artifacts-bucket-name")
        group = ssm.get_parameter(Name=f"{registry}/model-package-group-name")["Parameter"]["Value"]
        args += ["--parameters", f"{stack['name']}:ModelPackageArn=arn:aws:sagemaker:{local.region}:{local.account}:model-package/{group}/1"]
        if "BaselineUri" in declared:
            bucket = ssm.get_parameter(Name=artifacts)["Parameter"]["Value"]
            args += ["--parameters", f"{stack['name']}:BaselineUri=s3://{bucket}/pipeline/00000000/baseline"]
    return args


def _check_deployed(local: Local, stacks: list[dict]) -> list[str]:
    problems = []
    cfn = local.client("cloudformation")
    for stack in stacks:
        try:
            status = cfn.describe_stacks(StackName=stack["name"])["Stacks"][0]
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            problems.append(f"{stack['name']}: not found ({exc})")
            continue
        if status["StackStatus"] not in DONE:
            problems.append(f"{stack['name']}: {status['StackStatus']} {status.get('StackStatusReason', '')}")
        elif not cfn.describe_stack_resources(StackName=stack["name"])["StackResources"]:
            problems.append(f"{stack['name']}: {status['StackStatus']} but empty (a moto crash the CLI retried into success)")
    ssm = local.client("ssm")
    for name, expected in _published(stacks).items():
        try:
            value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except Exception as exc:  # noqa: BLE001
            problems.append(f"SSM {name}: missing ({type(exc).__name__})")
            continue
        if expected is not None and value != expected:
            problems.append(f"SSM {name}: {value!r}, expected {expected!r}")
        elif not value:
            problems.append(f"SSM {name}: empty")
    return problems


def _run_pipelines(local: Local) -> list[str]:
    """Start every deployed training pipeline, then run a copy of each in moto's interpreter; report how far it got."""
    ssm, sfn = local.client("ssm"), local.client("stepfunctions")
    names = [
        p["Name"]
        for page in ssm.get_paginator("describe_parameters").paginate()
        for p in page["Parameters"]
        if p["Name"].endswith("/pipeline/state-machine-arn")
    ]
    report = []
    for name in sorted(names):
        arn = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        started = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"trigger": "manual", "detail": {}}))
        status = sfn.describe_execution(executionArn=started["executionArn"])["status"]
        machine = sfn.describe_state_machine(stateMachineArn=arn)
        local.set_execution(True)
        try:
            copy = sfn.create_state_machine(name=f"{machine['name'][:60]}-local-run", definition=machine["definition"], roleArn=machine["roleArn"])
            run = sfn.start_execution(stateMachineArn=copy["stateMachineArn"], input=json.dumps({"trigger": "manual", "detail": {}}))
            deadline = time.time() + 60
            while (result := sfn.describe_execution(executionArn=run["executionArn"]))["status"] == "RUNNING" and time.time() < deadline:
                time.sleep(0.05)
            entered = [
                e["stateEnteredEventDetails"]["name"]
                for e in sfn.get_execution_history(executionArn=run["executionArn"])["events"]
                if "stateEnteredEventDetails" in e
            ]
        finally:
            local.set_execution(False)
        report.append(
            f"{arn.rsplit(':', 1)[1]}: execution accepted ({status}); run in moto's interpreter: "
            f"{' -> '.join(entered)} => {result['status']} {result.get('error', '')}: {result.get('cause', '')[:100]}"
        )
    return report


def deploy(args) -> int:
    state_dir = Path(args.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    local = Local(state_dir)
    if local.pid:
        print(f"a local deployment is running on port {local.port}: `make destroy-local` first", file=sys.stderr)
        return 2
    (state_dir / "cdk.log").unlink(missing_ok=True)
    started = time.time()
    stacks = adapt(Path(args.assembly), state_dir / "assembly")
    accounts = {(s["account"], s["region"]) for s in stacks}
    if len(accounts) != 1:
        print(f"one account and region expected, got {sorted(accounts)}", file=sys.stderr)
        return 2
    ((account, region),) = accounts
    local.start(account, region)
    print(f"moto server on 127.0.0.1:{local.port} (account {account}, {region}); state in {state_dir}")
    app = str(state_dir / "assembly")
    steps = [("bootstrap", ["bootstrap", f"aws://{account}/{region}", "--app", app])]
    projects = [s["path"] for s in stacks if "/Project-" in s["path"]]
    steps.append(("deploy projects", ["deploy", "--app", app, *projects, "--require-approval", "never", "--method=direct"]))
    for label, cdk_args in steps:
        completed = local.cdk(*cdk_args)
        print(f"cdk {label}: exit {completed.returncode}")
        if completed.returncode != 0:
            print(completed.stderr[-3000:], file=sys.stderr)
            return 1
    completed = local.cdk("deploy", "--app", app, "--all", "--require-approval", "never", "--method=direct", *_endpoint_parameters(local, stacks))
    print(f"cdk deploy --all: exit {completed.returncode}")
    problems = _check_deployed(local, stacks)
    for problem in problems:
        print(f"  problem: {problem}", file=sys.stderr)
    if completed.returncode != 0 or problems:
        print(completed.stderr[-3000:], file=sys.stderr)
        return 1
    published = _published(stacks)
    print(f"{len(stacks)} stacks CREATE_COMPLETE, {len(published)} SSM parameters published and checked ({time.time() - started:.1f} s)")
    for line in _run_pipelines(local):
        print(f"  pipeline {line}")
    print(f"AWS_ENDPOINT_URL=http://localhost:{local.port} aws cloudformation list-stacks  # look around; `make destroy-local` ends it")
    return 0


def destroy(args) -> int:
    state_dir = Path(args.state_dir)
    local = Local(state_dir)
    if not local.pid:
        print("no local deployment is running", file=sys.stderr)
        return 0
    stacks = _stacks(state_dir / "assembly")
    retained = []
    for stack in stacks:
        for logical_id, resource in json.loads(stack["template"].read_text())["Resources"].items():
            if resource.get("DeletionPolicy") == "Retain" and resource["Type"] in ("AWS::S3::Bucket", "AWS::ECR::Repository"):
                retained.append((stack["name"], logical_id, resource["Type"]))
    cfn = local.client("cloudformation")
    physical = {}  # (DescribeStackResource answers 500 in moto; DescribeStackResources works)
    for stack_name in {s for s, _, _ in retained}:
        for resource in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]:
            if "LogicalResourceId" in resource:  # moto lists the types it skipped without one
                physical[(stack_name, resource["LogicalResourceId"])] = resource.get("PhysicalResourceId")
    completed = local.cdk("destroy", "--app", str(state_dir / "assembly"), "--all", "--force")
    # moto stops listing a stack whose deletion failed, so the CLI's own report says which did.
    failed = {
        line.split("(", 1)[1].split(")", 1)[0]: line.split("destroy failed", 1)[1].strip(" :")
        for line in (completed.stdout + completed.stderr).splitlines()
        if line.startswith("❌") and "destroy failed" in line
    }
    print(f"cdk destroy --all: exit {completed.returncode}; {len(stacks) - len(failed)} of {len(stacks)} stacks deleted")
    expected = {s["name"] for s in stacks if s["name"].endswith("-environment")}
    unexpected = [name for name in failed if not (name in expected and "has dependencies and cannot be deleted" in failed[name])]
    for name, reason in failed.items():
        print(f"  not deleted: {name}: {reason}" + ("  (moto keeps the VPC endpoints CloudFormation made)" if name not in unexpected else ""))
    s3, ecr = local.client("s3"), local.client("ecr")
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    repositories = {r["repositoryName"] for r in ecr.describe_repositories()["repositories"]}
    lost = [f"{s}/{lid}" for (s, lid, kind) in retained if physical[(s, lid)] not in (buckets if kind == "AWS::S3::Bucket" else repositories)]
    print(f"retained after destroy: {len(retained) - len(lost)} of {len(retained)} buckets and repositories")
    local.stop()
    print("moto server stopped: everything it held is gone")
    if unexpected or lost:
        print(f"unexpected: stacks left {unexpected}, retained resources lost {lost}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["deploy", "destroy"])
    parser.add_argument("--assembly", help="the synthesized stage's cloud assembly (cdk.out/assembly-Dev)")
    parser.add_argument("--state-dir", default=str(ROOT / ".local-deploy"), help="where the server's state and logs go")
    args = parser.parse_args(argv)
    if args.command == "deploy":
        if not args.assembly or not (Path(args.assembly) / "manifest.json").exists():
            parser.error(f"--assembly must be a synthesized stage assembly (a directory with manifest.json), got {args.assembly!r}")
        return deploy(args)
    return destroy(args)


if __name__ == "__main__":
    sys.exit(main())
