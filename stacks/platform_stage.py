"""One stage (dev, prod, ...) of the platform: every stack, wired together from one config."""

from __future__ import annotations

from typing import Any

from aws_cdk import Environment, Stack, Stage, Tags
from constructs import Construct

from config import ConfigError, PlatformConfig, Problem
from config.errors import MISSING
from config.schema import SHARED_TAG_VALUE
from mlops_constructs.aspects import platform_rules
from stacks.batch_stack import BatchScoringStack
from stacks.dashboard_stack import DashboardStack
from stacks.endpoint_stack import DeployedModel, EndpointStack
from stacks.environment_stack import EnvironmentStack
from stacks.pipeline_stack import TrainingPipelineStack
from stacks.project_stack import ProjectStack
from stacks.sandbox_stack import SandboxStack
from stacks.self_service_stack import SelfServiceStack
from stacks.user_stack import UserStack


class PlatformStage(Stage):
    """Instantiates the platform's stacks for ``config``; dev and prod differ only by config.

    Stacks (CloudFormation names ``<prefix>-<stage>-...``): ``environment`` (network, Studio domain),
    ``self-service`` (Service Catalog), ``project-<name>`` per project, ``user-<name>`` per user,
    ``sandbox-<user>-<project>`` per sandbox, ``pipeline-<name>``, ``endpoint-<name>`` and
    ``dashboard-<name>`` per project (stateless; ``batch-<name>`` instead of the endpoint in ``deployment.mode: batch``). ``model_packages`` pins the model package deployed per project (see ``EndpointStack``). Stateful stacks get termination protection when the
    config asks for it (prod).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        model_packages: dict[str, DeployedModel] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, env=Environment(account=config.account, region=config.region), **kwargs)
        self.config = config
        protected = config.termination_protection

        def stack_args(name: str, description: str, stateful: bool) -> dict[str, Any]:
            return {
                "stack_name": config.names.stack(name),
                "description": f"MLOps platform ({config.stage}): {description}",
                "termination_protection": protected and stateful,
            }

        self.environment = EnvironmentStack(self, "Environment", config=config, **stack_args("environment", "VPC and SageMaker Studio domain", True))
        self.self_service = SelfServiceStack(self, "SelfService", config=config, **stack_args("self-service", "Service Catalog portfolio", False))
        self.self_service.add_stack_dependency(
            self.environment, "reads the Studio domain's id from SSM (its launch role changes that domain's profiles only)"
        )

        def per_project(stack_class: type[Stack], kind: str, what: str, *, stateful: bool, projects, **extra) -> dict[str, Any]:
            """One ``stack_class`` stack per project of ``projects``: ``<Kind>-<project>`` named ``<prefix>-<stage>-<kind>-<project>``;
            ``extra`` maps keyword arguments to functions of the project."""
            return {
                p.name: stack_class(
                    self,
                    f"{kind.capitalize()}-{p.name}",
                    config=config,
                    project=p,
                    **{key: value(p) for key, value in extra.items()},
                    **stack_args(f"{kind}-{p.name}", f"{what} of project {p.name}", stateful),
                )
                for p in projects
            }

        self.projects = per_project(ProjectStack, "project", "resources", stateful=True, projects=config.projects)
        for project_stack in self.projects.values():
            project_stack.add_stack_dependency(self.environment, "reads the VPC, its endpoints' security group and S3's prefix list from SSM")
        self.pipelines = per_project(TrainingPipelineStack, "pipeline", "training pipeline", stateful=False, projects=config.training_projects)
        for name, pipeline_stack in self.pipelines.items():
            self._reads_project_and_network(pipeline_stack, name)
        missing_baselines = [
            Problem(
                f"{p.name}.baseline_uri",
                MISSING,
                f"needed: the {config.stage} endpoint of project {p.name} is monitored "
                "(tools/resolve_model_packages.py writes the package's drift-check baseline)",
            )
            for p in config.projects
            if model_packages and p.name in model_packages and p.monitors_input and model_packages[p.name].baseline_uri is None
        ]
        if missing_baselines:
            raise ConfigError("the model_packages_file", missing_baselines)
        if config.registry_in_another_account:
            self._require_registry_pins(config, model_packages)

        # Without pins (a local synth), every endpoint or batch scoring takes its package as a stack parameter; with
        # pins (the delivery pipeline), only projects that have an approved package get one.
        def serving(kind: Any) -> list[Any]:
            return [p for p in config.projects if kind(p) and (model_packages is None or p.name in model_packages)]

        def deployed(p: Any) -> DeployedModel | None:
            return None if model_packages is None else model_packages[p.name]

        self.endpoints = per_project(
            EndpointStack, "endpoint", "endpoint and API", stateful=False, projects=serving(lambda p: p.serves_endpoint), deployed=deployed
        )
        self.batches = per_project(
            BatchScoringStack, "batch", "batch scoring", stateful=False, projects=serving(lambda p: p.scores_batch), deployed=deployed
        )
        for name, serving_stack in [*self.endpoints.items(), *self.batches.items()]:
            self._reads_project_and_network(serving_stack, name)
        self.dashboards = per_project(
            DashboardStack,
            "dashboard",
            "dashboard",
            stateful=False,
            projects=config.projects,
            endpoint=lambda p: self.endpoints[p.name].shown if p.name in self.endpoints else None,
            batch=lambda p: self.batches[p.name].shown if p.name in self.batches else None,
        )
        for name, dashboard_stack in self.dashboards.items():
            for shown in (self.pipelines.get(name), self.endpoints.get(name), self.batches.get(name)):
                if shown is not None:
                    dashboard_stack.add_stack_dependency(shown, "shows its state machine and alarms")
        self.users = {
            u.name: UserStack(
                self,
                f"User-{u.name}",
                config=config,
                user=u,
                **stack_args(f"user-{u.name}", f"Studio user {u.name}", True),
            )
            for u in config.users
        }
        for user_stack in self.users.values():
            user_stack.add_stack_dependency(self.environment, "reads the Studio domain's SSM parameters")
        self.sandboxes = {
            (s.user, s.project): SandboxStack(
                self,
                f"Sandbox-{s.user}-{s.project}",
                config=config,
                sandbox=s,
                **stack_args(f"sandbox-{s.user}-{s.project}", f"sandbox of {s.user} in project {s.project}", True),
            )
            for s in config.sandboxes
        }
        for (user, project), sandbox_stack in self.sandboxes.items():
            sandbox_stack.add_stack_dependency(self.users[user], "reads the user's role ARN from SSM")
            sandbox_stack.add_stack_dependency(self.projects[project], "reads the project's bucket names and key from SSM")

        for key, value in config.names.tags.items():
            Tags.of(self).add(key, value)
        # the cost-allocation tag (the project budgets filter on it): each project's stacks carry its name, the rest SHARED_TAG_VALUE
        owners = {
            stack: name for stacks in (self.projects, self.pipelines, self.endpoints, self.batches, self.dashboards) for name, stack in stacks.items()
        }
        owners |= {stack: project for (_, project), stack in self.sandboxes.items()}
        for stack in (c for c in self.node.children if isinstance(c, Stack)):
            Tags.of(stack).add(config.names.PROJECT_TAG, owners.get(stack, SHARED_TAG_VALUE))
        self.platform_rules = platform_rules().apply_to(self)

    @property
    def stacks(self) -> list[Stack]:
        """Every stack of the stage, in an order CloudFormation can deploy them (each after those it depends on)."""
        remaining = [c for c in self.node.children if isinstance(c, Stack)]
        ordered: list[Stack] = []
        while remaining:
            ready = [s for s in remaining if all(d in ordered for d in s.dependencies)]
            if not ready:
                raise ValueError(f"a dependency cycle among {[s.stack_name for s in remaining]}")
            ordered += ready
            remaining = [s for s in remaining if s not in ready]
        return ordered

    @staticmethod
    def _require_registry_pins(config: PlatformConfig, model_packages: dict[str, DeployedModel] | None) -> None:
        """A stage whose registry is in another account cannot read that stage's SSM parameters: what its endpoints need of
        the registry project (artifacts bucket, key) is pinned with the model package, or the synth stops here."""
        why = (
            f"stage {config.stage} (account {config.account}) serves the models of stage {config.registry_stage} (account "
            f"{config.registry_account}): tools/resolve_model_packages.py, run with that account's credentials (the delivery "
            "pipeline's synth step does), writes each approved package with its registry project's artifacts bucket and key"
        )
        if model_packages is None:
            if any(p.deployment.enabled for p in config.projects):  # a stage that serves nothing needs nothing of it
                raise ConfigError("the model_packages_file", [Problem("model_packages_file", MISSING, f"needed: {why}")])
            return
        problems = [
            Problem(f"{p.name}.{field}", MISSING, f"needed: {why}")
            for p in config.projects
            if p.name in model_packages
            for field in ("artifacts_bucket", "key_arn")
            if getattr(model_packages[p.name], field) is None
        ]
        if problems:
            raise ConfigError("the model_packages_file", problems)

    def _reads_project_and_network(self, stack: Stack, project: str) -> None:
        """``stack`` reads SSM parameters of the project's stack and of the environment: deploy it after them."""
        stack.add_stack_dependency(self.projects[project], "reads the project's resources from SSM")
        stack.add_stack_dependency(self.environment, "reads the subnets from SSM; its API logs through the stage's logging role")
