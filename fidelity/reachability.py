"""Whether every call made from inside a stage's VPC has a way out: the reachability check, beside the IAM engine.

The IAM engine judges whether a call is allowed; this judges whether it can be made at all. Studio runs VPC-only, in
subnets with no route out unless the stage declares egress, so each host a call reaches must be answered by an
interface endpoint of the stage's VPC (its private DNS), or be S3 through the gateway endpoint, or the stage must have
egress (which hosts outside AWS, a Git provider or PyPI, always need).

The actors and their calls (``stage_reaches``), taken from what the stage deploys:

- **each configured user's Studio apps**: Studio itself (what AWS's VPC-only page requires and the SageMaker SDK's
  account lookup: ``config.endpoints.STUDIO``), Studio's Projects (Service Catalog, the platform's project template),
  and for each of the user's sandboxes the mlops CLI's declared operations (``mlops_cli.work.PERMISSIONS``), the
  project's MLflow (the ARN it publishes: an app or a tracking server) and its Git repository;
- **a self-served user** (the catalog's user and sandbox products, on any project): the same, with a self-served
  project's MLflow app and every project's repository;
- **every SageMaker job a state machine starts** (the training pipelines, the drift checks, batch scoring), from its
  request in the definition: its S3 inputs and outputs (SageMaker moves them through the VPC); and, unless it is
  network-isolated, what its container calls: the MLflow of ``MLFLOW_TRACKING_URI``, CloudWatch when it publishes
  metrics itself (the drift check's ``METRICS_NAMESPACE``, or ``publish_cloudwatch_metrics: Direct``); an image pulled through the VPC
  (``TrainingRepositoryAccessMode: Vpc``) would add ECR;
- **every model in the VPC** (an endpoint's, batch scoring's): its model data from S3;
- **a Lambda function in the VPC**: none is; one would be reported as not modelled.

Service hosts come from botocore's endpoint resolution for the stage's Region (the host the SDK really calls); MLflow's
and Git's from their URLs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlparse

import boto3

from config.endpoints import ENDPOINTS, endpoint_for_host, is_s3_host
from mlops_constructs.project_mlflow import NO_MLFLOW

SERVICE_CATALOG_CALLS = (("servicecatalog", "SearchProducts"), ("servicecatalog", "ProvisionProduct"))
STUDIO_CALLS = (("sagemaker", "DescribeDomain"), ("sagemaker-runtime", "InvokeEndpoint"), ("sts", "GetCallerIdentity"))
NOT_MODELLED = "*"  # the host of an actor whose calls the check does not know
MLFLOW_HOSTS = {"mlflow-app": "mlflow.sagemaker.{region}.app.aws", "mlflow-tracking-server": "{region}.experiments.sagemaker.aws"}


@dataclass(frozen=True)
class Reach:
    """``actor`` makes ``call``, which reaches ``host``."""

    actor: str
    call: str
    host: str


def _groups(deployment, stack: str) -> list[tuple[object, dict]]:
    """The security groups of ``stack`` as (group id, resolved properties), and their separate egress rules as groups of
    one rule."""
    out = []
    for logical_id, resource in deployment.templates[stack].get("Resources", {}).items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::EC2::SecurityGroup":
            out.append((deployment.get_att(stack, logical_id, "GroupId"), deployment.resolve(stack, props)))
        elif resource["Type"] == "AWS::EC2::SecurityGroupEgress":
            rule = deployment.resolve(stack, props)
            out.append((rule.get("GroupId"), {"SecurityGroupEgress": [rule]}))
    return out


def _studio_groups(deployment, stacks: list[str]) -> set:
    """The security groups Studio's apps run in: the domain's default user and space settings', and each user profile's."""
    settings = {"AWS::SageMaker::Domain": ("DefaultUserSettings", "DefaultSpaceSettings"), "AWS::SageMaker::UserProfile": ("UserSettings",)}
    found = set()
    for stack in stacks:
        for resource in deployment.templates[stack].get("Resources", {}).values():
            for key in settings.get(resource["Type"], ()):
                found |= set(deployment.resolve(stack, resource.get("Properties", {}).get(key, {})).get("SecurityGroups", []) or [])
    return found


def _lets_https_out(group: dict) -> bool:
    """Whether a security group lets HTTPS (443) out to anywhere."""
    for rule in group.get("SecurityGroupEgress", []) or []:
        low, high = rule.get("FromPort", 0), rule.get("ToPort", 65535)
        if rule.get("CidrIp") == "0.0.0.0/0" and rule.get("IpProtocol") in ("tcp", "-1") and low <= 443 <= high:
            return True
    return False


@dataclass(frozen=True)
class StageNetwork:
    """The ways out of a stage's VPC: its interface endpoints (config names), its gateway endpoints, whether it routes out."""

    region: str
    interface: frozenset[str]
    gateways: frozenset[str]
    egress: bool

    @classmethod
    def of(cls, deployment, config, stacks: list[str]) -> StageNetwork:
        """The endpoints the stage's templates (``stacks``) create (an existing VPC whose endpoints are its owner's: those
        of the stage named in ``network.endpoints_from``, else those the stage needs, which the owner provides), and the
        egress the config declares."""
        names = {service.resolved(config.region): name for name, service in ENDPOINTS.items()}
        interface, gateways = set(), set()
        for stack in stacks:
            for resource in deployment.templates[stack].get("Resources", {}).values():
                if resource["Type"] != "AWS::EC2::VPCEndpoint":
                    continue
                props = deployment.resolve(stack, resource["Properties"])
                service = props["ServiceName"]
                if props.get("VpcEndpointType") == "Gateway":
                    gateways.add(service.rsplit(".", 1)[-1])
                elif service in names:
                    interface.add(names[service])
                else:
                    raise AssertionError(f"{stack}: an interface endpoint for {service}, which config.endpoints does not know")
        network = config.network
        # a route out is a way out for Studio only if one of its apps' security groups lets HTTPS out (StudioNetwork,
        # StudioAppSecurityGroup); a job's or a model's group that did would not count
        studio = _studio_groups(deployment, stacks)
        https_out = any(gid in studio and _lets_https_out(props) for stack in stacks for gid, props in _groups(deployment, stack))
        if network.mode == "existing":
            gateways.add("s3")  # an existing VPC's S3 route is its owner's (s3_prefix_list_id names it)
            if not network.create_endpoints:  # the owner's: a stage of this directory (as the loader found them), or assumed
                interface |= config.shared_endpoints if config.shared_endpoints is not None else set(config.endpoint_needs)
        egress = network.egress == "sagemaker" or (network.egress != "none" and https_out)  # frugal: SageMaker's own internet
        return cls(config.region, frozenset(interface), frozenset(gateways), egress)

    def way_out(self, host: str) -> str | None:
        """How ``host`` is reached from the VPC, or None."""
        if is_s3_host(host, self.region) and "s3" in self.gateways:
            return "the S3 gateway endpoint"
        endpoint = endpoint_for_host(host, self.region)
        if endpoint is not None and endpoint in self.interface:
            return f"the {endpoint} interface endpoint"
        return "egress" if self.egress else None


def host_of(service: str, region: str) -> str:
    """The host botocore's ``service`` client calls in ``region``."""
    client = boto3.client(service, region_name=region, aws_access_key_id="x", aws_secret_access_key="x")  # noqa: S106 (never sent)
    return urlparse(client.meta.endpoint_url).hostname


def unreachable(reaches: list[Reach], network: StageNetwork) -> list[str]:
    """What cannot be reached, each naming the actor, the call and what to add."""
    out = []
    for reach in reaches:
        if reach.host == NOT_MODELLED:
            out.append(f"{reach.actor}: {reach.call}: model its calls in fidelity.reachability before it runs in the VPC")
            continue
        if network.way_out(reach.host) is not None:
            continue
        endpoint = endpoint_for_host(reach.host, network.region)
        fix = (
            f"add the interface endpoint {endpoint} ({ENDPOINTS[endpoint].resolved(network.region)})"
            if endpoint is not None
            else "outside AWS: it needs egress (network.egress)"
        )
        out.append(f"{reach.actor}: {reach.call} reaches {reach.host}: {fix}")
    return out


def _calls(actor: str, calls, region: str) -> list[Reach]:
    return [Reach(actor, f"{service}:{operation}", host_of(service, region)) for service, operation in calls]


def _mlflow(actor: str, arn: str, region: str) -> Reach:
    kind = arn.split(":")[5].split("/")[0]
    return Reach(actor, f"MLflow REST API ({kind})", MLFLOW_HOSTS[kind].format(region=region))


def _git(actor: str, url: str) -> Reach:
    return Reach(actor, f"git clone/push {url}", urlparse(url).hostname)


def studio_reaches(config, deployment, cli_calls) -> list[Reach]:
    """Each configured user's Studio apps, and a self-served user's."""
    region, ns = config.region, f"/{config.prefix}/{config.stage}"
    out: list[Reach] = []

    def mlflow_arn(project: str) -> str | None:
        value = deployment.ssm_value(f"{ns}/projects/{project}/mlflow-arn")
        real = isinstance(value, str) and value.startswith("arn:") and not value.endswith(f":{NO_MLFLOW}")  # MLflow off: no server
        return value if real else None

    def sandbox(actor: str, project) -> list[Reach]:
        reaches = _calls(actor, cli_calls, region)
        arn = mlflow_arn(project.name)
        if arn is not None:
            reaches.append(_mlflow(actor, arn, region))
        if project.git is not None:
            reaches.append(_git(actor, project.git.url))
        return reaches

    for user in config.users:
        actor = f"user {user.name}'s Studio apps"
        out += _calls(actor, STUDIO_CALLS + SERVICE_CATALOG_CALLS, region)
        for s in config.sandboxes:
            if s.user == user.name:
                out += sandbox(f"{actor} (sandbox {s.project})", config.project(s.project))
    actor = "a self-served user's Studio apps (catalog products)"
    out += _calls(actor, STUDIO_CALLS + SERVICE_CATALOG_CALLS, region)
    for project in config.projects:
        out += sandbox(f"{actor} (sandbox {project.name})", project)
    if config.trains_models:  # a self-served project's MLflow is an app
        out.append(Reach(f"{actor} (a self-served project)", "MLflow REST API (mlflow-app)", MLFLOW_HOSTS["mlflow-app"].format(region=region)))
    return out


def _job_reaches(actor: str, params: dict, region: str) -> list[Reach]:
    s3 = Reach(actor, "S3 inputs and outputs (moved by SageMaker through the VPC)", host_of("s3", region))
    isolated = params.get("NetworkConfig", {}).get("EnableNetworkIsolation") or params.get("EnableNetworkIsolation")
    if isolated:
        return [s3]
    out = [s3]
    environment = params.get("Environment", {})
    tracking = environment.get("MLFLOW_TRACKING_URI")
    if isinstance(tracking, str) and tracking.startswith("arn:"):
        out.append(_mlflow(actor, tracking, region))
    # the project's drift check (mlops_container.check: METRICS_NAMESPACE) or the monitor entrypoint publishing directly
    if environment.get("publish_cloudwatch_metrics") == "Direct" or "METRICS_NAMESPACE" in environment:
        out += _calls(actor, (("cloudwatch", "PutMetricData"),), region)
    if params.get("AlgorithmSpecification", {}).get("TrainingImageConfig", {}).get("TrainingRepositoryAccessMode") == "Vpc":
        out += _calls(actor, (("ecr", "GetAuthorizationToken"),), region)
    return out


def _states(definition: dict):
    for name, state in definition.get("States", {}).items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch)
        if "Iterator" in state or "ItemProcessor" in state:
            yield from _states(state.get("ItemProcessor") or state["Iterator"])


def workload_reaches(deployment, stacks: list[str], region: str) -> list[Reach]:
    """Every SageMaker job a state machine of ``stacks`` starts in the VPC, every model in the VPC, and any Lambda function
    in the VPC (not modelled: reported as such)."""
    out: list[Reach] = []
    for stack in stacks:
        for logical_id, resource in deployment.templates[stack].get("Resources", {}).items():
            kind = resource["Type"]
            if kind == "AWS::StepFunctions::StateMachine":
                definition = json.loads(deployment.resolve(stack, resource["Properties"]["DefinitionString"]))
                for name, state in _states(definition):
                    job = state.get("Resource", "").rsplit(":", 1)[-1].removesuffix(".sync")
                    params = state.get("Parameters", {})
                    in_vpc = "VpcConfig" in params or "VpcConfig" in params.get("NetworkConfig", {})
                    if job in ("createProcessingJob", "createTrainingJob") and in_vpc:
                        out += _job_reaches(f"{stack}: job {name}", params, region)
            elif kind == "AWS::SageMaker::Model" and "VpcConfig" in resource["Properties"]:
                out.append(Reach(f"{stack}: model {logical_id}", "model data from S3 (SageMaker, through the VPC)", host_of("s3", region)))
            elif kind == "AWS::Lambda::Function" and "VpcConfig" in resource["Properties"]:
                out.append(Reach(f"{stack}: function {logical_id}", "a Lambda function in the VPC", NOT_MODELLED))
    return out


def stage_reaches(config, deployment, stacks: list[str], cli_calls) -> list[Reach]:
    """Every reach of every actor in the stage's VPC."""
    return studio_reaches(config, deployment, cli_calls) + workload_reaches(deployment, stacks, config.region)
