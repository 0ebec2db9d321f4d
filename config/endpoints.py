"""The VPC endpoints a stage needs, derived from what it enables: one home for which feature calls which service.

Studio runs VPC-only, in subnets with no route out (unless the stage declares egress), so every call made from inside the
VPC (a Studio app, a job that is not network-isolated) needs an interface endpoint, or S3's gateway endpoint. What each
feature calls from there, and so which endpoint it needs:

- **Studio** (every stage): the SageMaker API and runtime, which AWS's VPC-only page requires
  (https://docs.aws.amazon.com/sagemaker/latest/dg/studio-updated-and-internet-access.html), and STS, which the SageMaker
  Python SDK's ``Session`` asks for the account.
- **The mlops CLI** (each sandbox, configured or self-served: the catalog's sandbox product is in every stage): SSM
  (discovery), the SageMaker API (packages) and S3 (``mlops_cli.work.PERMISSIONS``). A run or a publication is an upload
  under the user's own prefix, which the pipeline takes from S3's event, and runs are followed through their records in
  S3, so the command needs no Lambda or Step Functions endpoint ($14.60 a month in one zone, $43.80 in three).
- **Studio's Projects** (the catalog's project template, in every stage): Service Catalog, which AWS's page names
  "to use SageMaker Projects" (same page).
- **MLflow** (each project's, where models are trained; a self-served project's is an app): an app is reached at
  ``mlflow.sagemaker.<region>.app.aws`` through ``aws.sagemaker.<region>.mlflow``, a tracking server at
  ``<region>.experiments.sagemaker.aws`` through ``aws.sagemaker.<region>.experiments``
  (https://docs.aws.amazon.com/sagemaker/latest/dg/mlflow-interface-endpoint-create.html). Studio and the training jobs
  log there.
- **Git**: a CodeCommit repository is cloned and pushed at ``git-codecommit.<region>.amazonaws.com`` (the credential
  helper signs locally: no CodeCommit API call). Any other provider is outside AWS: it needs egress.
- **The drift check's job runner** (a project whose monitor or batch check may run as a processing job): it publishes the
  drift metrics to CloudWatch from inside the VPC.

Nothing else runs calls from inside the VPC: the processing jobs are network-isolated; SageMaker pulls job and model
images from ECR itself (``TrainingRepositoryAccessMode`` ``Platform``, the default:
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TrainingImageConfig.html) and ships their logs; the
serving container makes no AWS call; the platform's Lambda functions run outside the VPC. ``interface_endpoints`` in
the config adds endpoints beyond these (``logs``, ``ecr.api``, ``kms``: for what a team runs itself).
``fidelity/reachability.py`` checks every call of every actor against the endpoints a stage has.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EndpointService:
    """An interface endpoint's service: its name (``{region}`` stands for the Region), the IAM prefix of the actions its
    policy lets through, and the host names its private DNS answers for."""

    service_name: str
    iam_prefix: str
    hosts: tuple[str, ...]

    def resolved(self, region: str) -> str:
        return self.service_name.format(region=region)

    def answers(self, host: str, region: str) -> bool:
        return any(host == h.format(region=region) for h in self.hosts)


def _aws(name: str, prefix: str, *hosts: str) -> EndpointService:
    return EndpointService(f"com.amazonaws.{{region}}.{name}", prefix, hosts or (f"{name}.{{region}}.amazonaws.com",))


# The interface endpoints the platform knows, by the name the config uses.
ENDPOINTS: dict[str, EndpointService] = {
    "sagemaker.api": _aws("sagemaker.api", "sagemaker", "api.sagemaker.{region}.amazonaws.com"),
    "sagemaker.runtime": _aws("sagemaker.runtime", "sagemaker", "runtime.sagemaker.{region}.amazonaws.com"),
    "sts": _aws("sts", "sts"),
    "ssm": _aws("ssm", "ssm"),
    "lambda": _aws("lambda", "lambda"),
    "states": _aws("states", "states"),
    "servicecatalog": _aws("servicecatalog", "servicecatalog"),
    "monitoring": _aws("monitoring", "cloudwatch"),
    "sagemaker.mlflow": EndpointService("aws.sagemaker.{region}.mlflow", "sagemaker", ("mlflow.sagemaker.{region}.app.aws",)),
    "sagemaker.experiments": EndpointService("aws.sagemaker.{region}.experiments", "sagemaker-mlflow", ("{region}.experiments.sagemaker.aws",)),
    "git-codecommit": _aws("git-codecommit", "codecommit"),
    "codecommit": _aws("codecommit", "codecommit"),
    "logs": _aws("logs", "logs"),
    "ecr.api": _aws("ecr.api", "ecr", "api.ecr.{region}.amazonaws.com"),
    "ecr.dkr": _aws("ecr.dkr", "ecr", "dkr.ecr.{region}.amazonaws.com"),
    "kms": _aws("kms", "kms"),
    "sns": _aws("sns", "sns"),
    "events": _aws("events", "events"),
}
GATEWAY_SERVICES = ("s3",)  # S3's gateway endpoint: free, in every VPC the platform creates

STUDIO = ("sagemaker.api", "sagemaker.runtime", "sts")
CLI = ("ssm", "sagemaker.api")  # and S3, through the gateway: runs and publications are uploads, runs are followed in S3
MLFLOW = {"app": "sagemaker.mlflow", "tracking_server": "sagemaker.experiments"}


def endpoint_for_host(host: str, region: str) -> str | None:
    """The interface endpoint (config name) whose private DNS answers for ``host``, if any."""
    if host.endswith("*"):
        return None
    ecr_registry = host.endswith(f".dkr.ecr.{region}.amazonaws.com")  # <account>.dkr.ecr...: ecr.dkr's wildcard name
    if ecr_registry:
        return "ecr.dkr"
    return next((name for name, service in ENDPOINTS.items() if service.answers(host, region)), None)


def is_s3_host(host: str, region: str) -> bool:
    """A host S3's gateway endpoint serves: the Region's S3 (us-east-1's is also the legacy global name)."""
    regional = (f"s3.{region}.amazonaws.com", f"s3.dualstack.{region}.amazonaws.com")
    return host in regional or any(host.endswith("." + r) for r in regional) or (region == "us-east-1" and host in ("s3.amazonaws.com",))


def needed(config) -> dict[str, list[str]]:
    """Each interface endpoint the stage ``config`` needs (config name, in ``ENDPOINTS`` order), with why."""
    need: dict[str, list[str]] = {}
    if config.frugal:  # Studio on SageMaker's internet, workloads in no VPC: nothing calls from a VPC
        return need

    def add(services, why: str) -> None:
        for service in services if isinstance(services, tuple) else (services,):
            need.setdefault(service, []).append(why)

    add(STUDIO, "Studio (VPC-only)")
    sandboxes = sorted({f"{s.user}/{s.project}" for s in config.sandboxes})
    add(CLI, "the mlops CLI of sandboxes (" + ", ".join([*sandboxes, "self-served"]) + ")")
    add("servicecatalog", "Studio's Projects (the platform's project template)")
    if config.trains_models:
        for project in config.projects:
            mlflow = config.mlflow(project)
            if mlflow is not None:
                add(MLFLOW[mlflow.server], f"project {project.name}'s MLflow {mlflow.server}")
        add(MLFLOW["app"], "a self-served project's MLflow app")
    for project in config.projects:
        if project.git is not None and project.git.codecommit is not None:
            add("git-codecommit", f"project {project.name}'s CodeCommit repository")
        if project.monitors_input and project.monitoring.runner != "lambda":
            add("monitoring", f"project {project.name}'s drift check job (its metrics)")
    for service in config.interface_endpoints:
        add(service, "interface_endpoints in the config")
    return {name: need[name] for name in ENDPOINTS if name in need}
