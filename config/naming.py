"""Every name the platform derives from the configuration, defined once.

Stacks, constructs, product templates, tools and tests read names from here; nothing else spells
``<prefix>-<stage>-...`` or an SSM path. The limits they must keep are checked over the longest names
the config allows (tests/fidelity/test_documented_rules.py).
"""

from __future__ import annotations

from dataclasses import dataclass

MONITOR_FAILURE_SUFFIX = "-monitor-failed"
EVENTBRIDGE_NAME_MAX = 64  # https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html


@dataclass(frozen=True)
class Names:
    """The names of one stage (``prefix``, ``stage``) of the platform."""

    prefix: str
    stage: str

    @property
    def base(self) -> str:
        """``<prefix>-<stage>``: the Studio domain's name and the start of every other name."""
        return f"{self.prefix}-{self.stage}"

    def stack(self, kind: str, *parts: str) -> str:
        """A CloudFormation stack: ``<prefix>-<stage>-<kind>[-<part>...]``."""
        return "-".join((self.base, kind, *parts))

    def project(self, project: str) -> str:
        """``<prefix>-<stage>-<project>``: the project's model package group, ECR repository, MLflow, endpoint and dashboard."""
        return f"{self.base}-{project}"

    model_package_group = endpoint = dashboard = repository = mlflow = project

    def pipeline_guard(self, project: str) -> str:
        """The function that starts the project's training pipeline (``<prefix>-<stage>-<project>-start``): named, so that a
        sandbox may invoke it by ARN. At most 12 + 1 + 12 + 1 + 32 + 6 = 64 characters, Lambda's limit:
        https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html"""
        return f"{self.project(project)}-start"

    def training_state_machine(self, project: str) -> str:
        """The project's training pipeline (``<prefix>-<stage>-<project>-training``, at most 67 of Step Functions' 80
        characters): named, so that a sandbox may follow its runs by ARN."""
        return f"{self.project(project)}-training"

    # -- the roles another account's resource policies name (at most 58 + 6 = 64 characters, IAM's limit:
    # https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html) -------------------------------

    def model_role(self, project: str) -> str:
        """The execution role of the model behind the project's endpoint: reads the registered artifact and pulls its image."""
        return f"{self.project(project)}-model"

    def monitor_role(self, project: str) -> str:
        """The execution role of the project's endpoint monitor: reads the registered baseline and pulls the project analyzer."""
        return f"{self.project(project)}-dq"

    def drift_relay_role(self, project: str) -> str:
        """The role with which the project's endpoint stack sends its drift alarms to the model registry stage's event bus."""
        return f"{self.project(project)}-relay"

    def scoring_state_machine(self, project: str) -> str:
        """The project's batch scoring (``<prefix>-<stage>-<project>-scoring``, at most 66 of Step Functions' 80 characters)."""
        return f"{self.project(project)}-scoring"

    def retraining_drift_alarm_prefix(self, project: str) -> str:
        """Drift alarms named so start the project's training pipeline of this stage (its drift rule listens to the prefix)."""
        return f"{self.project(project)}-drift-"

    def notifying_drift_alarm_prefix(self, project: str) -> str:
        """Drift alarms that only notify: a prefix that the retraining prefix never matches."""
        return f"{self.project(project)}-datadrift-"

    @staticmethod
    def quality_alarm(drift_alarm_prefix: str, metric: str) -> str:
        """The model-quality alarm: named with the drift alarms' prefix, so that it retrains (or only notifies) as they do,
        and a ``:`` no feature name has (``DriftAlarmConfig.feature``), so that it is never a feature's drift alarm."""
        return f"{drift_alarm_prefix}quality:{metric}"

    def monitor_failure(self, project: str) -> str:
        """The rule and alarm on the endpoint monitor's failed runs (within EventBridge's 64 characters)."""
        return self.project(project)[: EVENTBRIDGE_NAME_MAX - len(MONITOR_FAILURE_SUFFIX)] + MONITOR_FAILURE_SUFFIX

    @staticmethod
    def monitoring_schedule(endpoint: str) -> str:
        return f"{endpoint}-dq"

    @property
    def role_pattern(self) -> str:
        """Every IAM role of this stage's stacks and products starts so."""
        return f"{self.base}-*"

    @property
    def user_role_pattern(self) -> str:
        """The execution roles of this stage's configured users: CloudFormation names them after their stack ``<base>-user-<user>``."""
        return f"{self.stack('user')}-*"

    PROJECT_TAG = "project"  # the cost-allocation tag: the project's name, or SHARED_TAG_VALUE

    def budget(self, project: str) -> str:
        """The project's monthly cost budget: ``<prefix>-<stage>-<project>-monthly``."""
        return f"{self.project(project)}-monthly"

    @property
    def tags(self) -> dict[str, str]:
        """The tags every resource of the stage carries (the Service Catalog launch role is held to resources so tagged)."""
        return {"platform": self.prefix, "stage": self.stage}

    STACK_TAG = "platform-stage"  # the tag Service Catalog puts on this stage's provisioned stacks (a TagOption)

    @property
    def stack_tags(self) -> dict[str, str]:
        """The tag of every stack this stage's products provision (``platform-stage: <prefix>-<stage>``), the TagOption of
        each product: the launch roles change or delete only stacks so tagged. One key with the stage's whole name as
        value: Service Catalog refuses a second TagOption of the same key and value in an account
        (https://docs.aws.amazon.com/servicecatalog/latest/dg/API_CreateTagOption.html, DuplicateResourceException), and
        two stages of one account would both have ``platform: mlops``."""
        return {self.STACK_TAG: self.base}

    @property
    def log_group_pattern(self) -> str:
        """Every log group of this stage's stacks: CloudFormation names them after their stack, ``<prefix>-<stage>-...``."""
        return f"{self.base}-*"

    @property
    def portfolio(self) -> str:
        return f"{self.base} ML platform"

    @property
    def product_role_boundary(self) -> str:
        """The managed policy every role a self-service product creates carries as its permissions boundary."""
        return f"{self.base}-product-role-boundary"

    def product(self, name: str) -> str:
        return f"{self.base} {name}"

    # -- SSM parameters through which stacks and products find each other --------------------------------

    @property
    def parameters(self) -> str:
        """The stage's SSM namespace, e.g. ``/mlops/dev``."""
        return f"/{self.prefix}/{self.stage}"

    @property
    def studio_parameters(self) -> str:
        return f"{self.parameters}/studio"

    def project_parameters(self, project: str) -> str:
        return f"{self.parameters}/projects/{project}"

    def user_parameters(self, user: str) -> str:
        return f"{self.parameters}/users/{user}"

    def sandbox_parameters(self, user: str, project: str) -> str:
        return f"{self.parameters}/sandboxes/{user}/{project}"

    def pipeline_parameters(self, project: str) -> str:
        return f"{self.project_parameters(project)}/pipeline"

    def queued_triggers(self, project: str) -> str:
        """The SSM parameter holding the triggers that arrived during a run (the follow-up run's), ``{}`` when none."""
        return f"{self.pipeline_parameters(project)}/queued-triggers"

    def endpoint_parameters(self, project: str) -> str:
        return f"{self.project_parameters(project)}/endpoint"

    def batch_parameters(self, project: str) -> str:
        return f"{self.project_parameters(project)}/batch"


# The CDK bootstrap stack's qualifier (the CLI's default; docs/deploy.md's `cdk bootstrap` keeps it).
BOOTSTRAP_QUALIFIER = "hnb659fds"


def cloudformation_execution_role(account: str, region: str, partition: str = "aws") -> str:
    """The role CloudFormation deploys a bootstrapped environment's stacks with (CDK's default bootstrap template):
    a stage in another account creates its model from a registered package with it."""
    return f"arn:{partition}:iam::{account}:role/cdk-{BOOTSTRAP_QUALIFIER}-cfn-exec-role-{account}-{region}"


def delivery_pipeline(prefix: str) -> str:
    """The delivery pipeline and its stack: ``<prefix>-delivery``."""
    return f"{prefix}-delivery"
