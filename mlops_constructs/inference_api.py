"""An authenticated, throttled REST API in front of a SageMaker endpoint."""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_cdk import Acknowledgment, Aws, Duration, RemovalPolicy, Validations
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from config.schema import ApiConfig
from mlops_constructs.handler_function import HandlerFunction, HandlerFunctionProps
from mlops_constructs.service_principals import unconditioned

_API_DEFAULTS = ApiConfig()
CANARY_ERROR_RATE = 0.05  # of the API's requests answered 5xx in a minute: a canary shift above it rolls back


@dataclass(frozen=True)
class InferenceApiProps:
    """Props of :class:`InferenceApi`. Defaults: the config schema's (``config.schema.ApiConfig``)."""

    endpoint_name: str
    endpoint_arn: str
    auth: str = _API_DEFAULTS.auth
    callers: list[str] = field(default_factory=lambda: list(_API_DEFAULTS.callers))
    waf: bool = _API_DEFAULTS.waf
    waf_requests_per_5_minutes: int = _API_DEFAULTS.waf_requests_per_5_minutes
    rate_limit: float = _API_DEFAULTS.rate_limit
    burst_limit: int = _API_DEFAULTS.burst_limit
    quota_per_day: int = _API_DEFAULTS.quota_per_day
    max_body_kb: int = _API_DEFAULTS.max_body_kb
    source_ips: list[str] = field(default_factory=list)  # CIDR ranges: with any, the resource policy refuses other sources
    log_key: kms.IKey | None = None  # encrypts the function's and the access logs (the project key)


class InferenceApi(Construct):
    """``POST /predict`` on API Gateway (REST) -> Lambda -> ``InvokeEndpoint`` on ``endpoint_name``.

    Deploys:
    - ``function`` (``lambda/invoke_endpoint``, Python 3.14, 30 s, X-Ray active, logs kept one
      year) allowed to invoke this endpoint only. It checks the body (content type, size up to
      ``max_body_kb``, JSON syntax) and maps SageMaker errors to 4xx/5xx with the request id.
    - ``alias`` ``live`` (what the API invokes) and ``canary``: a CodeDeploy deployment group that
      shifts ``live`` to each new version of the function 10% for 5 minutes, then all, and rolls back
      on ``error_alarm`` (more than 5% of the API's requests answered 5xx in a minute), a failed or a
      stopped deployment.
    - ``api``: a regional REST API, stage ``v1``: ``auth`` ``iam`` (default: a call must be signed by a
      principal allowed ``execute-api:Invoke`` *and* carry its caller's API key) or ``api_key`` (the
      key alone: it identifies and meters a caller, it authenticates nobody); stage throttling
      ``rate_limit``/``burst_limit``; one API key per name in ``callers`` (``api_keys``), each metered
      on its own by the usage plan (``rate_limit``, ``burst_limit``, ``quota_per_day`` per caller);
      request validation, access logs (JSON, one year, with the key's id) and INFO execution logs,
      X-Ray tracing, no request caching.
    - with ``waf``: a WAFv2 web ACL on the stage (AWS's common and known-bad-inputs rule groups and a
      per-IP rate rule of ``waf_requests_per_5_minutes``), metrics and sampled requests on; off by
      default (it is billed per ACL, rule and request).
    - with ``source_ips``: a resource policy that refuses calls from any other source IP range (the config requires it,
      or ``waf``, with ``auth: api_key``, which authenticates nobody).
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: InferenceApiProps) -> None:
        super().__init__(scope, construct_id)
        p = props
        if p.auth not in ("iam", "api_key"):
            raise ValueError(f"auth={p.auth!r}: use 'iam' or 'api_key'")

        handler = HandlerFunction(
            self,
            "InvokeEndpoint",
            props=HandlerFunctionProps(
                code="invoke_endpoint",
                description=f"Validates requests and invokes SageMaker endpoint {p.endpoint_name}",
                memory_size=512,
                tracing=True,
                environment={"ENDPOINT_NAME": p.endpoint_name, "MAX_BODY_BYTES": str(p.max_body_kb * 1024)},
                log_key=p.log_key,
            ),
        )
        self.function = handler.function
        # Every change of the function is a new version reached through the alias ``live``, shifted to by CodeDeploy:
        # 10% of requests for 5 minutes, then all; the API's error alarm during the shift rolls it back.
        self.alias = lambda_.Alias(self, "Live", alias_name="live", version=self.function.current_version)
        handler.role.add_to_principal_policy(
            iam.PolicyStatement(sid="InvokeThisEndpoint", actions=["sagemaker:InvokeEndpoint"], resources=[p.endpoint_arn])
        )

        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.ONE_YEAR, removal_policy=RemovalPolicy.RETAIN, encryption_key=p.log_key
        )
        method_auth = apigw.AuthorizationType.IAM if p.auth == "iam" else apigw.AuthorizationType.NONE
        # With source_ips, a resource policy admits calls from those ranges only: API Gateway's documented example
        # (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-resource-policies-examples.html).
        policy = None
        if p.source_ips:
            invoke = "execute-api:/*"  # this API's own methods (the policy document's shorthand)
            policy = iam.PolicyDocument(
                statements=[
                    iam.PolicyStatement(principals=[iam.AnyPrincipal()], actions=["execute-api:Invoke"], resources=[invoke]),
                    iam.PolicyStatement(
                        sid="OnlyFromTheCallersRanges",
                        effect=iam.Effect.DENY,
                        principals=[iam.AnyPrincipal()],
                        actions=["execute-api:Invoke"],
                        resources=[invoke],
                        conditions={"NotIpAddress": {"aws:SourceIp": list(p.source_ips)}},
                    ),
                ]
            )
        self.api = apigw.RestApi(
            self,
            "Api",
            policy=policy,
            description=f"Predictions from SageMaker endpoint {p.endpoint_name}",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,  # the Region-wide logging role is the stage's ApiGatewayLogging, set once
            deploy_options=apigw.StageOptions(
                stage_name="v1",
                throttling_rate_limit=p.rate_limit,
                throttling_burst_limit=p.burst_limit,
                tracing_enabled=True,
                logging_level=apigw.MethodLoggingLevel.INFO,
                data_trace_enabled=False,
                metrics_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )
        validator = self.api.add_request_validator("BodyValidator", validate_request_body=True, validate_request_parameters=True)
        model = self.api.add_model(
            "PredictBody",
            content_type="application/json",
            schema=apigw.JsonSchema(
                schema=apigw.JsonSchemaVersion.DRAFT4,
                type=apigw.JsonSchemaType.OBJECT,
                description="{'instances': [[...], ...]} or {'features': [...]}",
            ),
        )
        predict = self.api.root.add_resource("predict")
        self.method = predict.add_method(
            "POST",
            apigw.LambdaIntegration(self.alias, proxy=True, timeout=Duration.seconds(29)),
            authorization_type=method_auth,
            api_key_required=True,  # the caller's key: its usage-plan quota applies in both modes
            request_validator=validator,
            request_models={"application/json": model},
        )
        self.plan = self.api.add_usage_plan(
            "UsagePlan",
            description=f"Throttling and daily quota for {p.endpoint_name}",
            throttle=apigw.ThrottleSettings(rate_limit=p.rate_limit, burst_limit=p.burst_limit),
            quota=apigw.QuotaSettings(limit=p.quota_per_day, period=apigw.Period.DAY),
            api_stages=[apigw.UsagePlanPerApiStage(api=self.api, stage=self.api.deployment_stage)],
        )
        self.api_keys: dict[str, apigw.IApiKey] = {}
        for caller in p.callers:  # one key per caller: the usage plan meters each on its own
            key = self.api.add_api_key(f"ApiKey-{caller}", description=f"Caller {caller} of {p.endpoint_name}'s API")
            self.plan.add_api_key(key)
            self.api_keys[caller] = key
        self.web_acl = self._web_acl(p) if p.waf else None
        self.error_alarm, self.canary = self._canary(p)

        self.invoke_arn = self.api.arn_for_execute_api("POST", "/predict", "v1")
        if p.auth == "api_key":
            Validations.of(self.method).acknowledge(
                Acknowledgment(
                    id="AwsSolutions::AwsSolutions-APIG4",
                    reason="auth: api_key was chosen in the config: callers present an API key of the usage plan instead of IAM.",
                ),
                Acknowledgment(
                    id="AwsSolutions::AwsSolutions-COG4",
                    reason="auth: api_key was chosen in the config; there is no Cognito user pool in this platform.",
                ),
            )
        else:
            Validations.of(self.method).acknowledge(
                Acknowledgment(
                    id="AwsSolutions::AwsSolutions-COG4", reason="The method uses IAM (SigV4) authorization; machine callers, no Cognito user pool."
                ),
            )
        if not p.waf:
            Validations.of(self.api.deployment_stage).acknowledge(
                Acknowledgment(
                    id="AwsSolutions::AwsSolutions-APIG3",
                    reason="deployment.api.waf is off (the default, to stay frugal): callers are throttled per stage and per key.",
                ),
            )
        self.url = f"https://{self.api.rest_api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}/v1/predict"

    def _canary(self, p: InferenceApiProps) -> tuple[cloudwatch.Alarm, codedeploy.LambdaDeploymentGroup]:
        """The API's error alarm (5xx responses over ``CANARY_ERROR_RATE`` of requests in a minute: API Gateway's
        5XXError Average is that rate, https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html)
        and the CodeDeploy deployment group that shifts ``live`` to a new version as a canary, rolled back when the
        alarm fires or the deployment fails."""
        alarm = cloudwatch.Alarm(
            self,
            "ErrorAlarm",
            alarm_description=f"{p.endpoint_name}'s API: more than {CANARY_ERROR_RATE:.0%} of requests answered 5xx in a minute",
            metric=self.api.metric_server_error(statistic="Average", period=Duration.minutes(1)),
            threshold=CANARY_ERROR_RATE,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,  # no traffic is no error
        )
        group = codedeploy.LambdaDeploymentGroup(
            self,
            "Canary",
            alias=self.alias,
            deployment_config=codedeploy.LambdaDeploymentConfig.CANARY_10_PERCENT_5_MINUTES,
            alarms=[alarm],
            auto_rollback=codedeploy.AutoRollbackConfig(failed_deployment=True, stopped_deployment=True, deployment_in_alarm=True),
        )
        Validations.of(group.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited]",
                reason="CodeDeploy's service role for Lambda deployments uses AWS's AWSCodeDeployRoleForLambdaLimited policy, which "
                "CDK attaches: it shifts alias weights and invokes hooks, nothing else.",
            )
        )
        return alarm, group

    def _web_acl(self, p: InferenceApiProps) -> wafv2.CfnWebACL:
        """A regional web ACL on the stage: AWS's managed common and known-bad-inputs rules, a per-IP rate limit."""

        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True)

        def managed(priority: int, name: str) -> wafv2.CfnWebACL.RuleProperty:
            return wafv2.CfnWebACL.RuleProperty(
                name=name,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(vendor_name="AWS", name=name)
                ),
                visibility_config=visibility(name),
            )

        rate = wafv2.CfnWebACL.RuleProperty(
            name="RequestsPerClientIp",
            priority=0,
            action=wafv2.CfnWebACL.RuleActionProperty(block={}),
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(limit=p.waf_requests_per_5_minutes, aggregate_key_type="IP")
            ),
            visibility_config=visibility("RequestsPerClientIp"),
        )
        acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            rules=[rate, managed(1, "AWSManagedRulesCommonRuleSet"), managed(2, "AWSManagedRulesKnownBadInputsRuleSet")],
            visibility_config=visibility("InferenceApi"),
        )
        wafv2.CfnWebACLAssociation(self, "WebAclAssociation", resource_arn=self.api.deployment_stage.stage_arn, web_acl_arn=acl.attr_arn)
        return acl


class ApiGatewayLogging(Construct):
    """The Region-wide role through which API Gateway writes the APIs' execution logs, set once per stage.

    Deploys a role for ``apigateway.amazonaws.com`` (AWS's ``AmazonAPIGatewayPushToCloudWatchLogs``) and the
    ``AWS::ApiGateway::Account`` that points API Gateway at it; both retained. The setting is one per account
    and Region (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html), so it is
    not part of each API: one endpoint stack's update or removal can then not take another's logging away.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            description="API Gateway writes the platform's API execution logs to CloudWatch with this role",
            assumed_by=unconditioned("apigateway.amazonaws.com"),
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AmazonAPIGatewayPushToCloudWatchLogs")],
        )
        self.role.apply_removal_policy(RemovalPolicy.RETAIN)
        self.account = apigw.CfnAccount(self, "Account", cloud_watch_role_arn=self.role.role_arn)
        self.account.apply_removal_policy(RemovalPolicy.RETAIN)
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
                reason="API Gateway's account-level logging role needs this AWS-managed policy to write execution logs.",
            ),
        )
