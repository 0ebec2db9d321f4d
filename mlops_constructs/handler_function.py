"""A Python Lambda function of ``lambda/<name>/`` with its own role and log group."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from mlops_constructs.nag import acknowledge_wildcards
from mlops_constructs.service_principals import from_this_account

LAMBDA_ROOT = Path(__file__).resolve().parent.parent / "lambda"


@dataclass(frozen=True)
class HandlerFunctionProps:
    """Props of :class:`HandlerFunction` (see its docstring for the defaults' meaning)."""

    code: str
    description: str
    environment: dict[str, str]
    memory_size: int = 256
    timeout: Duration = Duration.seconds(30)
    reserved_concurrency: int | None = None
    tracing: bool = False
    log_key: kms.IKey | None = None  # encrypts the function's log group (the project key); CloudWatch's own encryption without
    function_name: str | None = None  # CloudFormation's generated name without


class HandlerFunction(Construct):
    """Deploys ``function`` (Python 3.14, ``handler.handler`` of ``lambda/<code>/``, packaged without
    Docker and without ``__pycache__``; 30 s timeout and 256 MB by default), ``role`` (assumed by
    Lambda; by itself it may only write to ``log_group``) and ``log_group`` (kept one year, retained).
    ``tracing`` turns on X-Ray; ``reserved_concurrency`` caps concurrent runs."""

    def __init__(self, scope: Construct, construct_id: str, *, props: HandlerFunctionProps) -> None:
        super().__init__(scope, construct_id)
        code, description, environment, memory_size, timeout, reserved_concurrency, tracing = (
            props.code,
            props.description,
            props.environment,
            props.memory_size,
            props.timeout,
            props.reserved_concurrency,
            props.tracing,
        )
        log_key = props.log_key
        self.log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.ONE_YEAR, removal_policy=RemovalPolicy.RETAIN, encryption_key=log_key
        )
        self.role = iam.Role(self, "Role", description=description, assumed_by=from_this_account("lambda.amazonaws.com"))
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(LAMBDA_ROOT / code), exclude=["__pycache__", "*.pyc", "tests"]),
            role=self.role,
            timeout=timeout,
            memory_size=memory_size,
            reserved_concurrent_executions=reserved_concurrency,
            tracing=lambda_.Tracing.ACTIVE if tracing else lambda_.Tracing.DISABLED,
            log_group=self.log_group,
            environment=environment,
            function_name=props.function_name,
        )
        acknowledge_wildcards(
            self.role, reason="The function writes only to its own log group's streams.", resources=[self.log_group.log_group_arn + ":*"]
        )
        if tracing:
            acknowledge_wildcards(
                self.role, reason="X-Ray tracing: PutTraceSegments/PutTelemetryRecords support no resource-level permissions.", resources=["*"]
            )
