"""Resolve synthesized templates as CloudFormation would, offline.

A :class:`Deployment` holds the templates of one set of stacks deployed together (a stage, the
delivery app, a product) in one account and region. It resolves ``Ref``, ``Fn::GetAtt``,
``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::Sub`` and pseudo parameters; a template parameter
of type ``AWS::SSM::Parameter::Value<...>`` takes the value that another stack of the set publishes
under that name (as at deploy time, when the publishing stack was deployed first), and so does an
``ssm`` dynamic reference (``{{resolve:ssm:<name>}}``, once the intrinsic functions around it are
evaluated, as CloudFormation resolves it). Physical IDs
follow the shapes AWS gives them (CloudFormation's generated names ``<stack>-<logical id>-<suffix>``
within each type's length limit, ``sg-<17 hex>``, KMS key UUIDs, ...), so the resolved values can be
checked against AWS's patterns and limits.

What cannot be resolved (an attribute of a type not listed here, a parameter without a value)
becomes :data:`UNRESOLVED`: callers count such values as unchecked, never as passed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any


class _Unresolved:
    def __repr__(self) -> str:
        return "UNRESOLVED"


UNRESOLVED: Any = _Unresolved()


def contains_unresolved(value: Any) -> bool:
    if value is UNRESOLVED:
        return True
    if isinstance(value, dict):
        return any(contains_unresolved(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unresolved(v) for v in value)
    return False


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def generated_name(stack: str, logical_id: str, max_length: int, *, lower: bool = False) -> str:
    """A name as CloudFormation generates it: ``<stack>-<logical id>-<13-character suffix>``, truncated to fit."""
    suffix = _digest(stack, logical_id)[:13].upper()
    head = f"{stack}-{logical_id}"[: max_length - len(suffix) - 1]
    name = f"{head}-{suffix}"
    return name.lower() if lower else name


@dataclass
class Deployment:
    """Templates deployed together into ``account``/``region``; ``parameters[stack][name]`` are the values
    passed to a stack (like ``cdk deploy --parameters``)."""

    templates: dict[str, dict]
    account: str = "123456789012"
    region: str = "us-east-1"
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    # features AWS has closed to new customers that the stage declares its account already uses (``account_already_uses``)
    already_uses: frozenset[str] = frozenset()
    _published: dict[str, tuple[str, Any]] | None = None

    # -- SSM parameters published by the stacks ---------------------------------------------------

    @property
    def published(self) -> dict[str, tuple[str, Any]]:
        """SSM parameter name -> (publishing stack, its unresolved Value)."""
        if self._published is None:
            self._published = {}
            for stack, template in self.templates.items():
                for resource in template.get("Resources", {}).values():
                    if resource["Type"] == "AWS::SSM::Parameter":
                        props = resource["Properties"]
                        name = props.get("Name")
                        if not isinstance(name, str):  # a product's, named after its parameters
                            name = self.resolve(stack, name) if name is not None else UNRESOLVED
                        if isinstance(name, str):
                            self._published[name] = (stack, props["Value"])
        return self._published

    def ssm_value(self, name: str) -> Any:
        if name not in self.published:
            return UNRESOLVED
        stack, value = self.published[name]
        return self.resolve(stack, value)

    # -- intrinsic functions --------------------------------------------------------------------

    def _dynamic(self, value: Any) -> Any:
        """``value`` with its ``ssm`` dynamic references replaced by the values published under their names."""
        if not isinstance(value, str) or "{{resolve:" not in value:
            return value
        unresolved = False

        def replace(match: re.Match) -> str:
            nonlocal unresolved
            found = self.ssm_value(match.group("name")) if match.group("kind") == "ssm" else UNRESOLVED
            if not isinstance(found, str):
                unresolved = True
                return ""
            return found

        result = re.sub(r"\{\{resolve:(?P<kind>[a-z-]+):(?P<name>[^}:]+)(?::\d+)?\}\}", replace, value)
        return UNRESOLVED if unresolved else result

    def resolve(self, stack: str, node: Any) -> Any:
        """``node`` of ``stack``'s template with every intrinsic function and dynamic reference evaluated."""
        if isinstance(node, list):
            return [self.resolve(stack, v) for v in node]
        if isinstance(node, str):
            return self._dynamic(node)
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(stack, arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(stack, logical_id, attribute)
            if key == "Fn::Join":
                separator, parts = arg
                values = self.resolve(stack, parts)
                if contains_unresolved(values):
                    return UNRESOLVED
                return self._dynamic(separator.join(str(v) for v in values))
            if key == "Fn::Select":
                index, values = self.resolve(stack, arg)
                if values is UNRESOLVED or index is UNRESOLVED:
                    return UNRESOLVED
                return values[int(index)] if int(index) < len(values) else UNRESOLVED
            if key == "Fn::Split":
                separator, value = arg[0], self.resolve(stack, arg[1])
                return UNRESOLVED if value is UNRESOLVED else value.split(separator)
            if key == "Fn::Sub":
                return self._sub(stack, arg)
            if key == "Fn::GetAZs":
                return [f"{self.region}{z}" for z in "abc"]
            if key.startswith("Fn::"):
                return UNRESOLVED  # Fn::If, Fn::ImportValue, ...: not used by this project's templates
        return {k: self.resolve(stack, v) for k, v in node.items()}

    def _sub(self, stack: str, arg: Any) -> Any:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(stack, arg[1]))
        unresolved = False

        def replace(match: re.Match) -> str:
            nonlocal unresolved
            name = match.group(1)
            if name in variables:
                value = variables[name]
            elif "." in name:
                value = self.get_att(stack, *name.split(".", 1))
            else:
                value = self.ref(stack, name)
            if value is UNRESOLVED:
                unresolved = True
                return ""
            return str(value)

        result = re.sub(r"\$\{([^}!]+)\}", replace, text)
        return UNRESOLVED if unresolved else self._dynamic(result)

    def pseudo(self, name: str) -> Any:
        return {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
        }.get(name, UNRESOLVED)

    def ref(self, stack: str, name: str) -> Any:
        if name.startswith("AWS::"):
            if name == "AWS::StackName":
                return stack
            return self.pseudo(name)
        template = self.templates[stack]
        if name in template.get("Parameters", {}):
            return self._parameter(stack, name, template["Parameters"][name])
        resource = template["Resources"].get(name)
        if resource is None:
            return UNRESOLVED
        return self._physical(stack, name, resource, "Ref")

    def _parameter(self, stack: str, name: str, declaration: dict) -> Any:
        given = self.parameters.get(stack, {}).get(name, declaration.get("Default", UNRESOLVED))
        kind = declaration.get("Type", "String")
        if given is UNRESOLVED:
            return UNRESOLVED
        if kind.startswith("AWS::SSM::Parameter::Value<"):
            value = self.ssm_value(given)
            if value is not UNRESOLVED and "List<" in kind and isinstance(value, str):
                return value.split(",")
            return value
        if kind.startswith("List<") or kind == "CommaDelimitedList":
            return given.split(",") if isinstance(given, str) else given
        return given

    def get_att(self, stack: str, logical_id: str, attribute: str) -> Any:
        resource = self.templates[stack]["Resources"].get(logical_id)
        if resource is None:
            return UNRESOLVED
        return self._physical(stack, logical_id, resource, attribute)

    # -- physical IDs of the types this project uses ------------------------------------------------

    def _physical(self, stack: str, logical_id: str, resource: dict, attribute: str) -> Any:
        kind = resource["Type"]
        props = resource.get("Properties", {})
        acct, region = self.account, self.region
        h = _digest(stack, logical_id)
        hex17 = h[:17]

        def named(prop: str, max_length: int, *, lower: bool = False) -> Any:
            if prop in props:
                return self.resolve(stack, props[prop])
            return generated_name(stack, logical_id, max_length, lower=lower)

        uuid = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        table: dict[str, dict[str, Any]] = {}
        if kind == "AWS::S3::Bucket":
            name = named("BucketName", 63, lower=True)
            table = {
                "Ref": name,
                "Arn": f"arn:aws:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
            }
        elif kind == "AWS::KMS::Key":
            table = {"Ref": uuid, "KeyId": uuid, "Arn": f"arn:aws:kms:{region}:{acct}:key/{uuid}"}
        elif kind == "AWS::IAM::Role":
            name = named("RoleName", 64)
            path = props.get("Path", "/")
            table = {"Ref": name, "RoleId": f"AROA{h[:17].upper()}", "Arn": f"arn:aws:iam::{acct}:role{path}{name}"}
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            table = {"Ref": named("PolicyName" if kind == "AWS::IAM::Policy" else "ManagedPolicyName", 128)}
        elif kind == "AWS::SNS::Topic":
            name = named("TopicName", 256)
            table = {"Ref": f"arn:aws:sns:{region}:{acct}:{name}", "TopicArn": f"arn:aws:sns:{region}:{acct}:{name}", "TopicName": name}
        elif kind == "AWS::SQS::Queue":
            name = named("QueueName", 80)
            table = {"Ref": f"https://sqs.{region}.amazonaws.com/{acct}/{name}", "Arn": f"arn:aws:sqs:{region}:{acct}:{name}", "QueueName": name}
        elif kind == "AWS::Lambda::Function":
            name = named("FunctionName", 64)
            table = {"Ref": name, "Arn": f"arn:aws:lambda:{region}:{acct}:function:{name}"}
        elif kind == "AWS::Logs::LogGroup":
            name = named("LogGroupName", 512)
            table = {"Ref": name, "Arn": f"arn:aws:logs:{region}:{acct}:log-group:{name}:*"}
        elif kind == "AWS::EC2::VPC":
            table = {"Ref": f"vpc-{hex17}", "VpcId": f"vpc-{hex17}", "CidrBlock": props.get("CidrBlock", UNRESOLVED)}
        elif kind == "AWS::EC2::Subnet":
            table = {"Ref": f"subnet-{hex17}", "SubnetId": f"subnet-{hex17}"}
        elif kind == "AWS::EC2::SecurityGroup":
            table = {"Ref": f"sg-{hex17}", "GroupId": f"sg-{hex17}"}
        elif kind == "AWS::EC2::RouteTable":
            table = {"Ref": f"rtb-{hex17}", "RouteTableId": f"rtb-{hex17}"}
        elif kind == "AWS::EC2::VPCEndpoint":
            table = {"Ref": f"vpce-{hex17}", "Id": f"vpce-{hex17}"}
        elif kind == "AWS::Events::Rule":
            name = named("Name", 64)
            table = {"Ref": name, "Arn": f"arn:aws:events:{region}:{acct}:rule/{name}"}
        elif kind == "AWS::StepFunctions::StateMachine":
            name = named("StateMachineName", 80)
            arn = f"arn:aws:states:{region}:{acct}:stateMachine:{name}"
            table = {"Ref": arn, "Arn": arn, "Name": name}
        elif kind == "AWS::ECR::Repository":
            name = named("RepositoryName", 256, lower=True)
            table = {
                "Ref": name,
                "Arn": f"arn:aws:ecr:{region}:{acct}:repository/{name}",
                "RepositoryUri": f"{acct}.dkr.ecr.{region}.amazonaws.com/{name}",
            }
        elif kind == "AWS::SSM::Parameter":
            table = {"Ref": named("Name", 2048), "Value": self.resolve(stack, props.get("Value", UNRESOLVED)), "Type": props.get("Type")}
        elif kind == "AWS::SageMaker::Domain":
            domain_id = "d-" + h[:12]
            table = {
                "Ref": f"arn:aws:sagemaker:{region}:{acct}:domain/{domain_id}",
                "DomainId": domain_id,
                "DomainArn": f"arn:aws:sagemaker:{region}:{acct}:domain/{domain_id}",
                "HomeEfsFileSystemId": f"fs-{hex17}",
                "SecurityGroupIdForDomainBoundary": f"sg-{h[17:34]}",
            }
        elif kind == "AWS::SageMaker::UserProfile":
            name = self.resolve(stack, props.get("UserProfileName", UNRESOLVED))
            domain = self.resolve(stack, props.get("DomainId", UNRESOLVED))
            arn = UNRESOLVED if UNRESOLVED in (name, domain) else f"arn:aws:sagemaker:{region}:{acct}:user-profile/{domain}/{name}"
            table = {"Ref": arn, "UserProfileArn": arn}
        elif kind == "AWS::SageMaker::StudioLifecycleConfig":
            name = named("StudioLifecycleConfigName", 63)
            table = {"Ref": name, "StudioLifecycleConfigArn": f"arn:aws:sagemaker:{region}:{acct}:studio-lifecycle-config/{name}"}
        elif kind == "AWS::SageMaker::Model":
            name = named("ModelName", 63).replace("_", "-")
            table = {"Ref": f"arn:aws:sagemaker:{region}:{acct}:model/{name.lower()}", "ModelName": name}
        elif kind == "AWS::SageMaker::EndpointConfig":
            name = named("EndpointConfigName", 63).replace("_", "-")
            table = {"Ref": f"arn:aws:sagemaker:{region}:{acct}:endpoint-config/{name.lower()}", "EndpointConfigName": name}
        elif kind == "AWS::SageMaker::Endpoint":
            name = named("EndpointName", 63).replace("_", "-")
            table = {"Ref": f"arn:aws:sagemaker:{region}:{acct}:endpoint/{name.lower()}", "EndpointName": name}
        elif kind == "AWS::SageMaker::ModelPackageGroup":
            name = named("ModelPackageGroupName", 63)
            table = {"Ref": name, "ModelPackageGroupArn": f"arn:aws:sagemaker:{region}:{acct}:model-package-group/{name}"}
        elif kind == "AWS::SageMaker::MlflowApp":  # its ARN carries an id SageMaker makes, not the name
            arn = f"arn:aws:sagemaker:{region}:{acct}:mlflow-app/app-{h[:12].lower()}"
            table = {"Ref": arn, "Arn": arn, "MlflowAppId": f"app-{h[:12].lower()}"}
        elif kind == "AWS::SageMaker::MlflowTrackingServer":
            name = named("TrackingServerName", 256)
            arn = f"arn:aws:sagemaker:{region}:{acct}:mlflow-tracking-server/{name}"
            table = {"Ref": name, "TrackingServerArn": arn}
        elif kind == "AWS::SageMaker::MonitoringSchedule":
            name = named("MonitoringScheduleName", 63)
            arn = f"arn:aws:sagemaker:{region}:{acct}:monitoring-schedule/{str(name).lower()}"
            table = {"Ref": arn, "MonitoringScheduleArn": arn}
        elif kind == "AWS::SageMaker::DataQualityJobDefinition":
            name = named("JobDefinitionName", 63)
            arn = f"arn:aws:sagemaker:{region}:{acct}:data-quality-job-definition/{str(name).lower()}"
            table = {"Ref": arn, "JobDefinitionArn": arn}
        elif kind == "AWS::ApiGateway::RestApi":
            table = {"Ref": h[:10], "RootResourceId": h[10:20]}
        elif kind in (
            "AWS::ApiGateway::Resource",
            "AWS::ApiGateway::Deployment",
            "AWS::ApiGateway::RequestValidator",
            "AWS::ApiGateway::ApiKey",
            "AWS::ApiGateway::UsagePlan",
        ):
            table = {"Ref": h[:10]}
        elif kind == "AWS::ApiGateway::Stage":
            table = {"Ref": self.resolve(stack, props.get("StageName", UNRESOLVED))}
        elif kind == "AWS::ApiGateway::Model":
            table = {"Ref": named("Name", 64)}
        elif kind == "AWS::CloudWatch::Alarm":
            name = named("AlarmName", 255)
            table = {"Ref": name, "Arn": f"arn:aws:cloudwatch:{region}:{acct}:alarm:{name}"}
        elif kind == "AWS::ServiceCatalog::Portfolio":
            table = {"Ref": "port-" + h[:13]}
        elif kind == "AWS::ServiceCatalog::CloudFormationProduct":
            table = {"Ref": "prod-" + h[:13], "ProvisioningArtifactIds": "pa-" + h[13:26]}
        elif kind == "AWS::KMS::Alias":
            table = {"Ref": props.get("AliasName", UNRESOLVED)}
        elif kind == "AWS::CodePipeline::Pipeline":
            table = {"Ref": named("Name", 100)}
        elif kind == "AWS::CodeBuild::Project":
            name = named("Name", 150)
            table = {"Ref": name, "Arn": f"arn:aws:codebuild:{region}:{acct}:project/{name}"}
        return table.get(attribute, UNRESOLVED)
