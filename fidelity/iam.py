"""Evaluate AWS calls against the synthesized IAM policies with a real policy engine.

:class:`Policies` indexes a resolved :class:`~fidelity.cfn.Deployment`: each role's identity
policies (inline, attached ``AWS::IAM::Policy`` from any stack, customer-managed), and the resource
policies of buckets, keys, topics, queues, image repositories, model package groups and event buses, with
the key that encrypts each bucket and topic. :meth:`Policies.across` joins two deployments in two accounts
(a stage's roles reaching its model registry stage's resources).
:func:`evaluate` sends :class:`Call`s to ``tools/iam_simulate.mjs`` (``@cloud-copilot/iam-simulate``,
pinned in package.json), which applies AWS's evaluation logic: explicit denies, identity and resource
policies, conditions, cross-account rules, and KMS's rule that the key policy must allow.

What is not modelled: AWS-managed policies attached to a role (listed in ``Policies.unresolved``),
service control policies (none are used), permission boundaries (a role's, where it has one), and the resource policies of
resources AWS owns (the Model Monitor analyzer's ECR repository): calls to those are evaluated on
the identity side only, as ``Call.aws_owned`` says.
"""

from __future__ import annotations

import atexit
import json
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fidelity.cfn import UNRESOLVED, Deployment, contains_unresolved

ROOT = Path(__file__).resolve().parent.parent
SIMULATOR = ROOT / "tools" / "iam_simulate.mjs"


@dataclass(frozen=True)
class Call:
    """One request: ``principal`` (a role ARN) does ``action`` on ``resource``."""

    principal: str
    action: str
    resource: str
    context: tuple[tuple[str, Any], ...] = ()
    why: str = ""
    aws_owned: bool = False  # the resource belongs to AWS (an AWS account's repository): identity side only
    endpoint_policy: str = ""  # the policy (JSON) of the VPC endpoint the request goes through, if any


@dataclass
class Result:
    call: Call
    decision: str  # Allowed, ImplicitlyDenied, ExplicitlyDenied, Error
    detail: Any = None

    @property
    def allowed(self) -> bool:
        return self.decision == "Allowed"

    def __str__(self) -> str:
        role = self.call.principal.rsplit("/", 1)[-1]
        return f"{self.decision}: {role} {self.call.action} {self.call.resource} ({self.call.why})"


def _statements(document: dict) -> list[dict]:
    statements = document.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


@dataclass
class Policies:
    """Identity and resource policies of a deployment, resolved."""

    deployment: Deployment
    identity: dict[str, list[dict]] = field(default_factory=dict)  # role ARN -> policy documents
    resource: dict[str, dict] = field(default_factory=dict)  # resource ARN -> its policy
    keys: dict[str, str] = field(default_factory=dict)  # bucket or topic ARN -> the KMS key ARN encrypting it
    unresolved: list[str] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=dict)  # bucket ARN -> the account it is in (S3 ARNs name none)
    boundaries: dict[str, dict] = field(default_factory=dict)  # role ARN -> its permissions boundary's document

    @classmethod
    def across(cls, consumer: Policies, registry: Policies) -> Policies:
        """The policies AWS evaluates when ``consumer``'s roles (one account) reach ``registry``'s resources (another):
        the consumer's identity policies, both deployments' resource policies."""
        return cls(
            consumer.deployment,
            identity=dict(consumer.identity),
            resource={**consumer.resource, **registry.resource},
            keys={**consumer.keys, **registry.keys},
            unresolved=consumer.unresolved + registry.unresolved,
            owners={**consumer.owners, **registry.owners},
            boundaries=dict(consumer.boundaries),
        )

    @classmethod
    def of(cls, deployment: Deployment) -> Policies:
        policies = cls(deployment)
        policies._index()
        return policies

    def _arn_of_role_name(self, name: str) -> str:
        return f"arn:aws:iam::{self.deployment.account}:role/{name}"

    def _add_identity(self, role_arn: str, document: Any, where: str) -> None:
        if contains_unresolved(document):
            self.unresolved.append(f"{where}: a policy with unresolvable values")
            return
        self.identity.setdefault(role_arn, []).append(document)

    def _index(self) -> None:
        d = self.deployment
        managed: dict[str, Any] = {}
        for stack, template in d.templates.items():
            for logical_id, resource in template["Resources"].items():
                if resource["Type"] == "AWS::IAM::ManagedPolicy":
                    arn = f"arn:aws:iam::{d.account}:policy/{d.ref(stack, logical_id)}"
                    managed[arn] = d.resolve(stack, resource["Properties"])
        for stack, template in d.templates.items():
            for logical_id, resource in template["Resources"].items():
                kind, raw = resource["Type"], resource.get("Properties", {})
                where = f"{stack}/{logical_id}"
                if kind == "AWS::IAM::Role":
                    arn = d.get_att(stack, logical_id, "Arn")
                    self.identity.setdefault(arn, [])
                    if "PermissionsBoundary" in raw:  # evaluated with it (a boundary outside these templates is unresolved)
                        boundary = d.resolve(stack, raw["PermissionsBoundary"])
                        if boundary in managed:
                            self.boundaries[arn] = managed[boundary]["PolicyDocument"]
                        else:
                            self.unresolved.append(f"{where}: permissions boundary {boundary} (not in these templates)")
                    for policy in raw.get("Policies", []):
                        self._add_identity(arn, d.resolve(stack, policy["PolicyDocument"]), where)
                    for managed_arn in d.resolve(stack, raw.get("ManagedPolicyArns", [])):
                        if managed_arn in managed:
                            self._add_identity(arn, managed[managed_arn]["PolicyDocument"], where)
                        else:
                            self.unresolved.append(f"{where}: managed policy {managed_arn} (not in these templates)")
                elif kind == "AWS::IAM::Policy":
                    props = d.resolve(stack, raw)
                    for role in props.get("Roles", []):
                        if role is UNRESOLVED:
                            self.unresolved.append(f"{where}: attached to an unresolvable role")
                            continue
                        self._add_identity(self._arn_of_role_name(role), props["PolicyDocument"], where)
                elif kind == "AWS::IAM::ManagedPolicy":
                    props = managed[f"arn:aws:iam::{d.account}:policy/{d.ref(stack, logical_id)}"]
                    for role in props.get("Roles", []):
                        self._add_identity(self._arn_of_role_name(role), props["PolicyDocument"], where)
                elif kind == "AWS::S3::BucketPolicy":
                    props = d.resolve(stack, raw)
                    self.resource[f"arn:aws:s3:::{props['Bucket']}"] = props["PolicyDocument"]
                elif kind == "AWS::KMS::Key":
                    self.resource[d.get_att(stack, logical_id, "Arn")] = d.resolve(stack, raw["KeyPolicy"])
                elif kind == "AWS::SNS::TopicPolicy":
                    props = d.resolve(stack, raw)
                    for topic in props["Topics"]:
                        self.resource[topic] = props["PolicyDocument"]
                elif kind == "AWS::SQS::QueuePolicy":
                    props = d.resolve(stack, raw)
                    for queue_url in props["Queues"]:
                        self.resource[self._queue_arn(queue_url)] = props["PolicyDocument"]
                elif kind == "AWS::ECR::Repository" and "RepositoryPolicyText" in raw:
                    self.resource[d.get_att(stack, logical_id, "Arn")] = d.resolve(stack, raw["RepositoryPolicyText"])
                elif kind == "AWS::SageMaker::ModelPackageGroup" and "ModelPackageGroupPolicy" in raw:
                    props = d.resolve(stack, raw)
                    group = f"arn:aws:sagemaker:{d.region}:{d.account}:model-package-group/{props['ModelPackageGroupName']}"
                    self.resource[group] = props["ModelPackageGroupPolicy"]
                elif kind == "AWS::Events::EventBusPolicy":
                    props = d.resolve(stack, raw)
                    bus = f"arn:aws:events:{d.region}:{d.account}:event-bus/{props.get('EventBusName', 'default')}"
                    self.resource.setdefault(bus, {"Version": "2012-10-17", "Statement": []})["Statement"].append(props["Statement"])
                elif kind == "AWS::S3::Bucket":
                    props = d.resolve(stack, raw)
                    self.owners[d.get_att(stack, logical_id, "Arn")] = d.account
                    rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
                    key = rules[0].get("ServerSideEncryptionByDefault", {}).get("KMSMasterKeyID") if rules else None
                    if key:
                        self.keys[d.get_att(stack, logical_id, "Arn")] = key
                elif kind == "AWS::SNS::Topic":
                    props = d.resolve(stack, raw)
                    if props.get("KmsMasterKeyId"):
                        self.keys[d.ref(stack, logical_id)] = props["KmsMasterKeyId"]

    def _queue_arn(self, url: str) -> str:
        return f"arn:aws:sqs:{self.deployment.region}:{self.deployment.account}:{url.rsplit('/', 1)[1]}"

    # -- what a call implies --------------------------------------------------------------------------

    def resource_policy(self, resource: str) -> dict | None:
        if resource in self.resource:
            return self.resource[resource]
        if ":model-package/" in resource:  # a model package is governed by its group's policy
            group = resource.replace(":model-package/", ":model-package-group/").rsplit("/", 1)[0]
            return self.resource.get(group)
        if resource.startswith("arn:aws:s3:::"):
            return self.resource.get("arn:aws:s3:::" + resource.removeprefix("arn:aws:s3:::").split("/", 1)[0])
        return None

    def key_of(self, resource: str) -> str | None:
        """The KMS key encrypting an S3 object's bucket or an SNS topic, if any."""
        if resource.startswith("arn:aws:s3:::"):
            return self.keys.get("arn:aws:s3:::" + resource.removeprefix("arn:aws:s3:::").split("/", 1)[0])
        return self.keys.get(resource)


# Data-plane calls on encrypted resources need the key too (SSE-KMS objects, KMS-encrypted topics).
KMS_FOR = {
    "s3:GetObject": ["kms:Decrypt"],
    "s3:PutObject": ["kms:GenerateDataKey"],
    "sns:Publish": ["kms:GenerateDataKey", "kms:Decrypt"],
}


def with_key_calls(policies: Policies, calls: list[Call]) -> list[Call]:
    """``calls`` and, after each on an encrypted bucket or topic, the KMS calls it makes on the caller's behalf."""
    out = []
    for call in calls:
        out.append(call)
        key = policies.key_of(call.resource)
        for action in KMS_FOR.get(call.action, []) if key else []:
            service = "s3" if call.action.startswith("s3:") else "sns"
            out.append(
                Call(
                    call.principal,
                    action,
                    key,
                    (("kms:ViaService", f"{service}.{policies.deployment.region}.amazonaws.com"),),
                    why=f"{call.why}: {call.action} on a resource encrypted with this key",
                )
            )
    return out


def evaluate(policies: Policies, calls: list[Call]) -> list[Result]:
    """Every call's decision, in order (one simulator process for all)."""
    account = policies.deployment.account
    requests = []
    for i, call in enumerate(calls):
        parts = call.resource.split(":")
        # The resource's account as AWS puts it in the request (aws:ResourceAccount): the ARN's, else the context's
        # (an S3 bucket of another account), else the account whose deployment holds the bucket, else this one.
        # An AWS-owned resource is judged on the identity side only.
        bucket = "arn:aws:s3:::" + call.resource.removeprefix("arn:aws:s3:::").split("/", 1)[0] if call.resource.startswith("arn:aws:s3:::") else ""
        owner = (
            dict(call.context).get("aws:ResourceAccount")
            or (parts[4] if len(parts) > 4 and parts[4].isdigit() else None)
            or policies.owners.get(bucket, account)
        )
        principal_account = call.principal.split(":")[4]
        resource_account = principal_account if call.aws_owned else owner
        context = {
            "aws:SecureTransport": "true",
            "aws:PrincipalAccount": principal_account,
            "aws:PrincipalArn": call.principal,
            "aws:RequestedRegion": policies.deployment.region,
        }
        if call.resource != "*":  # AWS puts the resource's account in every request that has a resource
            context["aws:ResourceAccount"] = owner
        context.update(dict(call.context))
        requests.append(
            {
                "id": i,
                "principal": call.principal,
                "action": call.action,
                "resource": call.resource,
                "resourceAccount": resource_account,
                "context": context,
                "identityPolicies": policies.identity.get(call.principal, []),
                "permissionBoundary": policies.boundaries.get(call.principal),
                "resourcePolicy": None if call.aws_owned else policies.resource_policy(call.resource),
                "vpcEndpointPolicy": json.loads(call.endpoint_policy) if call.endpoint_policy else None,
            }
        )
    answers = _SIMULATOR.run(requests)
    return [Result(calls[a["id"]], a["result"], a.get("errors")) for a in answers]


class _Simulator:
    """One simulator process for every evaluation of this Python process (a request array per line), started on first
    use (starting Node and loading the IAM data cost ~0.3 s, more than most evaluations), stopped at exit."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._stderr = None
        self._lock = threading.Lock()
        atexit.register(self.stop)

    def run(self, requests: list[dict]) -> list[dict]:
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._stderr = tempfile.TemporaryFile(mode="w+")
                self._process = subprocess.Popen(
                    ["node", str(SIMULATOR)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True, cwd=ROOT
                )
            try:
                self._process.stdin.write(json.dumps(requests) + "\n")
                self._process.stdin.flush()
                line = self._process.stdout.readline()
            except BrokenPipeError:
                line = ""
            if not line:
                self._process.wait(timeout=30)
                self._stderr.seek(0)
                raise RuntimeError(f"the IAM simulator failed (exit status {self._process.returncode}): {self._stderr.read()[-2000:]}")
            return json.loads(line)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.stdin.close()
            self._process.wait(timeout=30)
        if self._stderr is not None:
            self._stderr.close()


_SIMULATOR = _Simulator()


# -- recorded API calls -> the IAM requests AWS authorizes ------------------------------------------------

# Step Functions' optimized SageMaker integrations with .sync also describe and stop the job and manage a
# managed EventBridge rule: https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html
SYNC_RULES = {
    "CreateProcessingJob": "StepFunctionsGetEventsForSageMakerProcessingJobsRule",
    "CreateTrainingJob": "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
}


def s3_object(uri: str, leaf: str = "") -> str:
    """The ARN of an object under ``uri`` (``s3://bucket/prefix``), ``leaf`` appended."""
    path = uri.removeprefix("s3://").rstrip("/")
    return f"arn:aws:s3:::{path}/{leaf}" if leaf else f"arn:aws:s3:::{path}"


def s3_list(principal: str, uri: str, why: str) -> Call:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return Call(principal, "s3:ListBucket", f"arn:aws:s3:::{bucket}", (("s3:prefix", prefix),), why)


# The S3 operations authorized as s3:PutObject, and whether each creates the object (s3:ObjectCreationOperation): the parts
# of a multipart upload do not (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes-enforce.html).
S3_OBJECT_CREATION = {
    "PutObject": True,
    "CopyObject": True,
    "CompleteMultipartUpload": True,
    "CreateMultipartUpload": False,
    "UploadPart": False,
    "UploadPartCopy": False,
}


def api_calls_to_iam(principal: str, service: str, operation: str, params: dict, *, region: str, account: str, sync: bool = False) -> list[Call]:
    """The IAM requests one recorded API call makes (with its ``.sync`` integration's extra calls)."""
    arn = f"arn:aws:{{}}:{region}:{account}:{{}}"
    why = f"{service}:{operation}"
    if service == "sagemaker" and operation in ("CreateProcessingJob", "CreateTrainingJob"):
        kind, name_key = ("processing-job", "ProcessingJobName") if operation == "CreateProcessingJob" else ("training-job", "TrainingJobName")
        job = arn.format("sagemaker", f"{kind}/{params[name_key].lower()}")
        calls = [
            Call(principal, f"sagemaker:{operation}", job, why=why),
            Call(principal, "iam:PassRole", params["RoleArn"], (("iam:PassedToService", "sagemaker.amazonaws.com"),), why),
        ]
        if params.get("Tags"):
            calls.append(Call(principal, "sagemaker:AddTags", job, why=f"{why} with Tags"))
        if sync:
            noun = operation.removeprefix("Create")
            calls += [
                Call(principal, f"sagemaker:Describe{noun}", job, why=f"{why}.sync"),
                Call(principal, f"sagemaker:Stop{noun}", job, why=f"{why}.sync (on abort)"),
            ]
            rule = arn.format("events", f"rule/{SYNC_RULES[operation]}")
            calls += [Call(principal, f"events:{a}", rule, why=f"{why}.sync") for a in ("PutTargets", "PutRule", "DescribeRule")]
        return calls
    if service == "sagemaker" and operation == "CreateModelPackage":
        group = params["ModelPackageGroupName"]
        return [Call(principal, "sagemaker:CreateModelPackage", arn.format("sagemaker", f"model-package/{group.lower()}/1"), why=why)]
    if service == "sagemaker" and operation == "ListModelPackages":
        return [Call(principal, "sagemaker:ListModelPackages", "*", why=why)]
    if service == "sagemaker" and operation == "DescribeModelPackage":
        return [Call(principal, "sagemaker:DescribeModelPackage", params["ModelPackageName"], why=why)]
    if service == "sagemaker-runtime" and operation == "InvokeEndpoint":
        return [Call(principal, "sagemaker:InvokeEndpoint", arn.format("sagemaker", f"endpoint/{params['EndpointName'].lower()}"), why=why)]
    if service == "s3" and operation == "ListObjectsV2":
        return [Call(principal, "s3:ListBucket", f"arn:aws:s3:::{params['Bucket']}", (("s3:prefix", params.get("Prefix", "")),), why=why)]
    if service == "s3" and operation in ("GetObject", "HeadObject"):  # HeadObject is authorized as s3:GetObject
        return [Call(principal, "s3:GetObject", f"arn:aws:s3:::{params['Bucket']}/{params['Key']}", why=why)]
    if service == "s3" and operation in S3_OBJECT_CREATION:
        # s3:PutObject, with the keys a bucket policy may test: whether the request creates the object (not a part of it)
        # and its If-None-Match header: https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes-enforce.html
        context = [("s3:ObjectCreationOperation", "true" if S3_OBJECT_CREATION[operation] else "false")]
        if params.get("IfNoneMatch"):
            context.append(("s3:if-none-match", params["IfNoneMatch"]))
        calls = [Call(principal, "s3:PutObject", f"arn:aws:s3:::{params['Bucket']}/{params['Key']}", tuple(context), why=why)]
        if "CopySource" in params:  # read the source (one version of it: s3:GetObjectVersion)
            source = params["CopySource"]
            if isinstance(source, str):  # bucket/key[?versionId=...]
                path, _, query = source.lstrip("/").partition("?")
                source = {**dict(zip(("Bucket", "Key"), path.split("/", 1), strict=True)), "VersionId": query.removeprefix("versionId=")}
            action = "s3:GetObjectVersion" if source.get("VersionId") else "s3:GetObject"
            calls.insert(0, Call(principal, action, f"arn:aws:s3:::{source['Bucket']}/{source['Key']}", why=f"{why} (source)"))
        return calls
    if service == "s3" and operation == "AbortMultipartUpload":
        return [Call(principal, "s3:AbortMultipartUpload", f"arn:aws:s3:::{params['Bucket']}/{params['Key']}", why=why)]
    if service == "sns" and operation == "Publish":
        return [Call(principal, "sns:Publish", params["TopicArn"], why=why)]
    if service == "ssm" and operation in ("GetParameter", "PutParameter"):
        return [Call(principal, f"ssm:{operation}", arn.format("ssm", f"parameter/{params['Name'].lstrip('/')}"), why=why)]
    if service == "ecr" and operation == "DescribeImages":
        return [Call(principal, "ecr:DescribeImages", arn.format("ecr", f"repository/{params['repositoryName']}"), why=why)]
    if service == "stepfunctions" and operation in ("ListExecutions", "StartExecution"):
        return [Call(principal, f"states:{operation}", params["stateMachineArn"], why=why)]
    if service == "stepfunctions" and operation == "DescribeExecution":  # authorized on the execution
        return [Call(principal, "states:DescribeExecution", params["executionArn"], why=why)]
    raise KeyError(f"no IAM mapping for {service}:{operation}: add it to fidelity.iam.api_calls_to_iam")


def image_pull(principal: str, image_uri: str, why: str, *, own_account: str) -> list[Call]:
    """Pulling ``image_uri`` (``<account>.dkr.ecr.<region>.amazonaws.com/<repo>[:tag]``); an image of another
    account is AWS's own (the Model Monitor analyzer), whose repository policy is not ours to check."""
    registry, _, path = image_uri.partition("/")
    account, region = registry.split(".")[0], registry.split(".")[3]
    repository = f"arn:aws:ecr:{region}:{account}:repository/{path.split(':')[0].split('@')[0]}"
    owned = account != own_account
    calls = [Call(principal, "ecr:GetAuthorizationToken", "*", why=why)]
    for action in ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"):
        calls.append(Call(principal, action, repository, why=why, aws_owned=owned))
    return calls
