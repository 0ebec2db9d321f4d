"""fidelity/cfn.py resolves templates as CloudFormation would, on templates written here: each intrinsic function, pseudo
parameter, parameter type and dynamic reference, and the physical IDs in AWS's shapes. The stage tests resolve every
synthesized template with it; these run in milliseconds, so that ``make mutate`` can judge the resolver itself."""

from __future__ import annotations

import re

import pytest

from fidelity.cfn import UNRESOLVED, Deployment, contains_unresolved, generated_name

ACCOUNT, REGION = "210987654321", "eu-west-1"


def _deployment(**templates) -> Deployment:
    return Deployment(templates, account=ACCOUNT, region=REGION)


STACK = {
    "Parameters": {
        "Given": {"Type": "String"},
        "Defaulted": {"Type": "String", "Default": "d"},
        "Bare": {"Type": "String"},
        "Listed": {"Type": "CommaDelimitedList", "Default": "a,b,c"},
        "Typed": {"Type": "List<String>", "Default": "x,y"},
        "FromSsm": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/p/name"},
        "FromSsmList": {"Type": "AWS::SSM::Parameter::Value<List<String>>", "Default": "/p/list"},
        "FromMissingSsm": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/p/none"},
    },
    "Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "my-bucket"}},
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "Name": {"Type": "AWS::SSM::Parameter", "Properties": {"Name": "/p/name", "Type": "String", "Value": {"Fn::Sub": "v-${AWS::Region}"}}},
        "List": {"Type": "AWS::SSM::Parameter", "Properties": {"Name": "/p/list", "Type": "StringList", "Value": "l1,l2"}},
    },
}


@pytest.fixture
def deployment() -> Deployment:
    d = _deployment(s=STACK, other={"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q"}}}})
    d.parameters["s"] = {"Given": "g"}
    return d


def test_unresolved_is_found_at_any_depth():
    assert contains_unresolved(UNRESOLVED) and contains_unresolved({"a": [1, {"b": UNRESOLVED}]}) and contains_unresolved([UNRESOLVED])
    assert not contains_unresolved({"a": [1, {"b": "x"}]}) and not contains_unresolved("UNRESOLVED") and repr(UNRESOLVED) == "UNRESOLVED"


def test_generated_names_fit_their_limit_with_cloudformations_suffix():
    name = generated_name("stack", "Logical", 30)
    assert re.fullmatch(r"stack-Logical-[0-9A-F]{13}", name) and name == generated_name("stack", "Logical", 30)
    long = generated_name("s" * 40, "L" * 40, 63, lower=True)
    assert len(long) == 63 and long == long.lower() and long.startswith("s" * 40 + "-" + "l" * 8 + "-")
    assert generated_name("stack", "Other", 30) != name


def test_pseudo_parameters_and_parameters(deployment):
    r = deployment.resolve
    assert [r("s", {"Ref": p}) for p in ("AWS::AccountId", "AWS::Region", "AWS::Partition", "AWS::URLSuffix", "AWS::StackName")] == [
        ACCOUNT,
        REGION,
        "aws",
        "amazonaws.com",
        "s",
    ]
    assert r("s", {"Ref": "AWS::NoValue"}) is None and r("s", {"Ref": "AWS::NotificationARNs"}) is UNRESOLVED
    assert (r("s", {"Ref": "Given"}), r("s", {"Ref": "Defaulted"}), r("s", {"Ref": "Bare"})) == ("g", "d", UNRESOLVED)
    assert (r("s", {"Ref": "Listed"}), r("s", {"Ref": "Typed"})) == (["a", "b", "c"], ["x", "y"])
    deployment.parameters["s"]["Listed"] = ["given", "list"]
    assert r("s", {"Ref": "Listed"}) == ["given", "list"]
    # an SSM-typed parameter takes what another stack of the set publishes under that name, resolved there
    assert (r("s", {"Ref": "FromSsm"}), r("s", {"Ref": "FromSsmList"}), r("s", {"Ref": "FromMissingSsm"})) == (
        f"v-{REGION}",
        ["l1", "l2"],
        UNRESOLVED,
    )
    assert r("s", {"Ref": "Nothing"}) is UNRESOLVED and r("other", {"Ref": "Queue"}) == f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/q"


def test_each_intrinsic_function(deployment):
    r = deployment.resolve
    assert r("s", {"Fn::GetAtt": ["Bucket", "Arn"]}) == r("s", {"Fn::GetAtt": "Bucket.Arn"}) == "arn:aws:s3:::my-bucket"
    assert r("s", {"Fn::GetAtt": ["Missing", "Arn"]}) is UNRESOLVED and r("s", {"Fn::GetAtt": ["Bucket", "Nope"]}) is UNRESOLVED
    assert r("s", {"Fn::Join": ["-", ["a", {"Ref": "Given"}, 3]]}) == "a-g-3"
    assert r("s", {"Fn::Join": ["-", ["a", {"Ref": "Bare"}]]}) is UNRESOLVED
    assert r("s", {"Fn::Join": ["", ["{{resolve:ssm:", "/p/name}}"]]}) == f"v-{REGION}"  # a reference the join builds
    assert (r("s", {"Fn::Select": [1, ["a", "b"]]}), r("s", {"Fn::Select": ["0", {"Ref": "Listed"}]})) == ("b", "a")
    assert r("s", {"Fn::Select": [2, ["a", "b"]]}) is UNRESOLVED and r("s", {"Fn::Select": [0, {"Ref": "Bare"}]}) is UNRESOLVED
    assert r("s", {"Fn::Select": [{"Ref": "Bare"}, ["a"]]}) is UNRESOLVED
    assert r("s", {"Fn::Split": [",", "a,b"]}) == ["a", "b"] and r("s", {"Fn::Split": [",", {"Ref": "Bare"}]}) is UNRESOLVED
    assert r("s", {"Fn::GetAZs": ""}) == [f"{REGION}a", f"{REGION}b", f"{REGION}c"]
    assert r("s", {"Fn::If": ["c", "a", "b"]}) is UNRESOLVED and r("s", {"Fn::ImportValue": "x"}) is UNRESOLVED
    assert r("s", {"a": {"Ref": "Given"}, "b": [{"Ref": "Defaulted"}, 1, None]}) == {"a": "g", "b": ["d", 1, None]}


def test_sub_with_variables_attributes_references_and_literals(deployment):
    r = deployment.resolve
    assert r("s", {"Fn::Sub": "${AWS::AccountId}/${Bucket}/${Bucket.Arn}/${Given}"}) == f"{ACCOUNT}/my-bucket/arn:aws:s3:::my-bucket/g"
    assert r("s", {"Fn::Sub": ["${X}-${Given}", {"X": {"Ref": "Defaulted"}}]}) == "d-g"
    assert r("s", {"Fn::Sub": "${!Literal}-${Given}"}) == "${!Literal}-g"
    assert r("s", {"Fn::Sub": "${Bare}"}) is UNRESOLVED and r("s", {"Fn::Sub": "${Bucket.Nope}"}) is UNRESOLVED
    assert r("s", {"Fn::Sub": "{{resolve:ssm:/p/${Given}}}"}) is UNRESOLVED  # /p/g is published by no stack


def test_dynamic_references_take_the_published_value(deployment):
    r = deployment.resolve
    assert r("s", "x-{{resolve:ssm:/p/name}}-y") == f"x-v-{REGION}-y"
    assert r("s", "{{resolve:ssm:/p/name:3}}") == f"v-{REGION}"  # a version: the published value
    assert r("s", "{{resolve:ssm:/p/none}}") is UNRESOLVED and r("s", "{{resolve:secretsmanager:s}}") is UNRESOLVED
    assert r("s", "plain") == "plain" and deployment.ssm_value("/p/none") is UNRESOLVED
    assert deployment.published["/p/list"] == ("s", "l1,l2")


def test_a_products_parameter_named_by_an_expression_is_published_under_its_resolved_name():
    stack = {
        "Parameters": {"Project": {"Type": "String", "Default": "churn"}},
        "Resources": {"P": {"Type": "AWS::SSM::Parameter", "Properties": {"Name": {"Fn::Sub": "/x/${Project}"}, "Value": "v"}}},
    }
    assert _deployment(product=stack).ssm_value("/x/churn") == "v"
    unnamed = {"Resources": {"P": {"Type": "AWS::SSM::Parameter", "Properties": {"Value": "v"}}}}
    assert _deployment(product=unnamed).published == {}  # a name CloudFormation generates is known to no reader


# Each type's Ref and attributes, in the shapes AWS gives them (named where the template names them).
SHAPES = [
    ("AWS::S3::Bucket", {}, "RegionalDomainName", r"s-r-[0-9a-f]{13}\.s3\.eu-west-1\.amazonaws\.com"),
    ("AWS::S3::Bucket", {"BucketName": "b"}, "DomainName", r"b\.s3\.amazonaws\.com"),
    ("AWS::KMS::Key", {}, "Arn", r"arn:aws:kms:eu-west-1:210987654321:key/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    ("AWS::KMS::Key", {}, "KeyId", r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    ("AWS::IAM::Role", {"RoleName": "n", "Path": "/p/"}, "Arn", r"arn:aws:iam::210987654321:role/p/n"),
    ("AWS::IAM::Role", {}, "RoleId", r"AROA[0-9A-F]{17}"),
    ("AWS::IAM::Role", {}, "Ref", r"s-R-[0-9A-F]{13}"),
    ("AWS::IAM::Policy", {"PolicyName": "pn"}, "Ref", r"pn"),
    ("AWS::IAM::ManagedPolicy", {"ManagedPolicyName": "mp"}, "Ref", r"mp"),
    ("AWS::SNS::Topic", {"TopicName": "t"}, "Ref", r"arn:aws:sns:eu-west-1:210987654321:t"),
    ("AWS::SNS::Topic", {"TopicName": "t"}, "TopicName", r"t"),
    ("AWS::SQS::Queue", {"QueueName": "q"}, "Arn", r"arn:aws:sqs:eu-west-1:210987654321:q"),
    ("AWS::SQS::Queue", {"QueueName": "q"}, "QueueName", r"q"),
    ("AWS::Lambda::Function", {"FunctionName": "f"}, "Arn", r"arn:aws:lambda:eu-west-1:210987654321:function:f"),
    ("AWS::Logs::LogGroup", {"LogGroupName": "/g"}, "Arn", r"arn:aws:logs:eu-west-1:210987654321:log-group:/g:\*"),
    ("AWS::EC2::VPC", {"CidrBlock": "10.0.0.0/16"}, "CidrBlock", r"10\.0\.0\.0/16"),
    ("AWS::EC2::VPC", {}, "VpcId", r"vpc-[0-9a-f]{17}"),
    ("AWS::EC2::Subnet", {}, "SubnetId", r"subnet-[0-9a-f]{17}"),
    ("AWS::EC2::SecurityGroup", {}, "GroupId", r"sg-[0-9a-f]{17}"),
    ("AWS::EC2::RouteTable", {}, "RouteTableId", r"rtb-[0-9a-f]{17}"),
    ("AWS::EC2::VPCEndpoint", {}, "Id", r"vpce-[0-9a-f]{17}"),
    ("AWS::Events::Rule", {"Name": "e"}, "Arn", r"arn:aws:events:eu-west-1:210987654321:rule/e"),
    ("AWS::StepFunctions::StateMachine", {"StateMachineName": "m"}, "Ref", r"arn:aws:states:eu-west-1:210987654321:stateMachine:m"),
    ("AWS::StepFunctions::StateMachine", {"StateMachineName": "m"}, "Name", r"m"),
    ("AWS::ECR::Repository", {"RepositoryName": "r"}, "RepositoryUri", r"210987654321\.dkr\.ecr\.eu-west-1\.amazonaws\.com/r"),
    ("AWS::ECR::Repository", {"RepositoryName": "r"}, "Arn", r"arn:aws:ecr:eu-west-1:210987654321:repository/r"),
    ("AWS::SSM::Parameter", {"Name": "/n", "Type": "String", "Value": "v"}, "Type", r"String"),
    ("AWS::SageMaker::Domain", {}, "DomainArn", r"arn:aws:sagemaker:eu-west-1:210987654321:domain/d-[0-9a-f]{12}"),
    ("AWS::SageMaker::Domain", {}, "HomeEfsFileSystemId", r"fs-[0-9a-f]{17}"),
    ("AWS::SageMaker::Domain", {}, "SecurityGroupIdForDomainBoundary", r"sg-[0-9a-f]{17}"),
    (
        "AWS::SageMaker::UserProfile",
        {"UserProfileName": "u", "DomainId": "d-1"},
        "UserProfileArn",
        r"arn:aws:sagemaker:eu-west-1:210987654321:user-profile/d-1/u",
    ),
    (
        "AWS::SageMaker::StudioLifecycleConfig",
        {"StudioLifecycleConfigName": "l"},
        "StudioLifecycleConfigArn",
        r"arn:aws:sagemaker:eu-west-1:210987654321:studio-lifecycle-config/l",
    ),
    ("AWS::SageMaker::Model", {"ModelName": "My_Model"}, "Ref", r"arn:aws:sagemaker:eu-west-1:210987654321:model/my-model"),
    ("AWS::SageMaker::Model", {"ModelName": "My_Model"}, "ModelName", r"My-Model"),
    ("AWS::SageMaker::EndpointConfig", {"EndpointConfigName": "C_1"}, "Ref", r"arn:aws:sagemaker:eu-west-1:210987654321:endpoint-config/c-1"),
    ("AWS::SageMaker::EndpointConfig", {"EndpointConfigName": "C_1"}, "EndpointConfigName", r"C-1"),
    ("AWS::SageMaker::Endpoint", {"EndpointName": "E_1"}, "Ref", r"arn:aws:sagemaker:eu-west-1:210987654321:endpoint/e-1"),
    ("AWS::SageMaker::Endpoint", {"EndpointName": "E_1"}, "EndpointName", r"E-1"),
    (
        "AWS::SageMaker::ModelPackageGroup",
        {"ModelPackageGroupName": "g"},
        "ModelPackageGroupArn",
        r"arn:aws:sagemaker:eu-west-1:210987654321:model-package-group/g",
    ),
    ("AWS::SageMaker::MlflowApp", {}, "Arn", r"arn:aws:sagemaker:eu-west-1:210987654321:mlflow-app/app-[0-9a-f]{12}"),
    ("AWS::SageMaker::MlflowApp", {}, "MlflowAppId", r"app-[0-9a-f]{12}"),
    (
        "AWS::SageMaker::MlflowTrackingServer",
        {"TrackingServerName": "t"},
        "TrackingServerArn",
        r"arn:aws:sagemaker:eu-west-1:210987654321:mlflow-tracking-server/t",
    ),
    (
        "AWS::SageMaker::MonitoringSchedule",
        {"MonitoringScheduleName": "M"},
        "MonitoringScheduleArn",
        r"arn:aws:sagemaker:eu-west-1:210987654321:monitoring-schedule/m",
    ),
    (
        "AWS::SageMaker::DataQualityJobDefinition",
        {"JobDefinitionName": "J"},
        "JobDefinitionArn",
        r"arn:aws:sagemaker:eu-west-1:210987654321:data-quality-job-definition/j",
    ),
    ("AWS::ApiGateway::RestApi", {}, "RootResourceId", r"[0-9a-f]{10}"),
    ("AWS::ApiGateway::UsagePlan", {}, "Ref", r"[0-9a-f]{10}"),
    ("AWS::ApiGateway::Stage", {"StageName": "prod"}, "Ref", r"prod"),
    ("AWS::ApiGateway::Model", {"Name": "m"}, "Ref", r"m"),
    ("AWS::CloudWatch::Alarm", {"AlarmName": "a"}, "Arn", r"arn:aws:cloudwatch:eu-west-1:210987654321:alarm:a"),
    ("AWS::ServiceCatalog::Portfolio", {}, "Ref", r"port-[0-9a-f]{13}"),
    ("AWS::ServiceCatalog::CloudFormationProduct", {}, "ProvisioningArtifactIds", r"pa-[0-9a-f]{13}"),
    ("AWS::KMS::Alias", {"AliasName": "alias/k"}, "Ref", r"alias/k"),
    ("AWS::CodePipeline::Pipeline", {"Name": "p"}, "Ref", r"p"),
    ("AWS::CodeBuild::Project", {"Name": "b"}, "Arn", r"arn:aws:codebuild:eu-west-1:210987654321:project/b"),
]


@pytest.mark.parametrize(("kind", "props", "attribute", "shape"), SHAPES, ids=[f"{k}.{a}" for k, _, a, _ in SHAPES])
def test_physical_ids_have_aws_shapes(kind, props, attribute, shape):
    logical = "R" if kind == "AWS::IAM::Role" else "r"
    d = _deployment(s={"Resources": {logical: {"Type": kind, "Properties": props}}})
    value = d.get_att("s", logical, attribute) if attribute != "Ref" else d.ref("s", logical)
    assert isinstance(value, str) and re.fullmatch(shape, value), value


def test_ids_differ_by_stack_and_logical_id_and_unknown_attributes_are_unresolved():
    kinds = {"A": {"Type": "AWS::EC2::VPC"}, "B": {"Type": "AWS::EC2::VPC"}}
    d = _deployment(s={"Resources": kinds}, t={"Resources": kinds})
    assert len({d.ref("s", "A"), d.ref("s", "B"), d.ref("t", "A")}) == 3
    assert d.get_att("s", "A", "Nope") is UNRESOLVED and d.ref("s", "Missing") is UNRESOLVED
    assert _deployment(s={"Resources": {"X": {"Type": "Custom::Thing"}}}).ref("s", "X") is UNRESOLVED
    profile = _deployment(s={"Resources": {"U": {"Type": "AWS::SageMaker::UserProfile", "Properties": {"UserProfileName": "u"}}}})
    assert profile.ref("s", "U") is UNRESOLVED  # no domain: no ARN
    no_value = _deployment(s={"Resources": {"P": {"Type": "AWS::SSM::Parameter", "Properties": {"Name": "/n"}}}})
    assert (
        no_value.get_att("s", "P", "Value") is UNRESOLVED
        and _deployment(s={"Resources": {"V": {"Type": "AWS::EC2::VPC"}}}).get_att("s", "V", "CidrBlock") is UNRESOLVED
    )


# Each generated name: (the property that names it, the attribute that is the name, CloudFormation's limit, lower case).
GENERATED = {
    "AWS::S3::Bucket": ("BucketName", "Ref", 63, True),
    "AWS::IAM::Role": ("RoleName", "Ref", 64, False),
    "AWS::IAM::Policy": ("PolicyName", "Ref", 128, False),
    "AWS::IAM::ManagedPolicy": ("ManagedPolicyName", "Ref", 128, False),
    "AWS::SNS::Topic": ("TopicName", "TopicName", 256, False),
    "AWS::SQS::Queue": ("QueueName", "QueueName", 80, False),
    "AWS::Lambda::Function": ("FunctionName", "Ref", 64, False),
    "AWS::Logs::LogGroup": ("LogGroupName", "Ref", 512, False),
    "AWS::Events::Rule": ("Name", "Ref", 64, False),
    "AWS::StepFunctions::StateMachine": ("StateMachineName", "Name", 80, False),
    "AWS::ECR::Repository": ("RepositoryName", "Ref", 256, True),
    "AWS::SSM::Parameter": ("Name", "Ref", 2048, False),
    "AWS::SageMaker::StudioLifecycleConfig": ("StudioLifecycleConfigName", "Ref", 63, False),
    "AWS::SageMaker::Model": ("ModelName", "ModelName", 63, False),
    "AWS::SageMaker::EndpointConfig": ("EndpointConfigName", "EndpointConfigName", 63, False),
    "AWS::SageMaker::Endpoint": ("EndpointName", "EndpointName", 63, False),
    "AWS::SageMaker::ModelPackageGroup": ("ModelPackageGroupName", "Ref", 63, False),
    "AWS::SageMaker::MlflowTrackingServer": ("TrackingServerName", "Ref", 256, False),
    "AWS::ApiGateway::Model": ("Name", "Ref", 64, False),
    "AWS::CloudWatch::Alarm": ("AlarmName", "Ref", 255, False),
    "AWS::CodePipeline::Pipeline": ("Name", "Ref", 100, False),
    "AWS::CodeBuild::Project": ("Name", "Ref", 150, False),
}
# Names that only appear inside an ARN (lower-cased there): the ARN's last part.
IN_ARN = {"AWS::SageMaker::MonitoringSchedule": ("MonitoringScheduleArn", 63), "AWS::SageMaker::DataQualityJobDefinition": ("JobDefinitionArn", 63)}


@pytest.mark.parametrize("kind", sorted(GENERATED))
def test_a_generated_name_takes_the_whole_limit_of_its_type(kind):
    prop, attribute, limit, lower = GENERATED[kind]
    d = _deployment(**{"s" * 1100: {"Resources": {"L" * 1100: {"Type": kind, "Properties": {}}}}})
    name = d.ref("s" * 1100, "L" * 1100) if attribute == "Ref" else d.get_att("s" * 1100, "L" * 1100, attribute)
    assert len(name) == limit and (name == name.lower()) is lower
    named = _deployment(s={"Resources": {"R": {"Type": kind, "Properties": {prop: "Given_Name"}}}})
    value = named.ref("s", "R") if attribute == "Ref" else named.get_att("s", "R", attribute)
    assert value == ("Given-Name" if kind.startswith("AWS::SageMaker::") and attribute != "Ref" else "Given_Name")


@pytest.mark.parametrize("kind", sorted(IN_ARN))
def test_a_generated_name_inside_an_arn_takes_the_whole_limit(kind):
    attribute, limit = IN_ARN[kind]
    d = _deployment(s={"Resources": {"L" * 300: {"Type": kind, "Properties": {}}}})
    arn = d.get_att("s", "L" * 300, attribute)
    assert arn == d.ref("s", "L" * 300) and len(arn.rsplit("/", 1)[1]) == limit and arn == arn.lower()


# Every attribute (and Ref) each type resolves: none is UNRESOLVED where the template gives what it needs.
ATTRIBUTES = {
    "AWS::S3::Bucket": ("Ref", "Arn", "DomainName", "RegionalDomainName"),
    "AWS::KMS::Key": ("Ref", "KeyId", "Arn"),
    "AWS::IAM::Role": ("Ref", "RoleId", "Arn"),
    "AWS::SNS::Topic": ("Ref", "TopicArn", "TopicName"),
    "AWS::SQS::Queue": ("Ref", "Arn", "QueueName"),
    "AWS::Lambda::Function": ("Ref", "Arn"),
    "AWS::Logs::LogGroup": ("Ref", "Arn"),
    "AWS::EC2::VPC": ("Ref", "VpcId", "CidrBlock"),
    "AWS::EC2::Subnet": ("Ref", "SubnetId"),
    "AWS::EC2::SecurityGroup": ("Ref", "GroupId"),
    "AWS::EC2::RouteTable": ("Ref", "RouteTableId"),
    "AWS::EC2::VPCEndpoint": ("Ref", "Id"),
    "AWS::Events::Rule": ("Ref", "Arn"),
    "AWS::StepFunctions::StateMachine": ("Ref", "Arn", "Name"),
    "AWS::ECR::Repository": ("Ref", "Arn", "RepositoryUri"),
    "AWS::SSM::Parameter": ("Ref", "Value", "Type"),
    "AWS::SageMaker::Domain": ("Ref", "DomainId", "DomainArn", "HomeEfsFileSystemId", "SecurityGroupIdForDomainBoundary"),
    "AWS::SageMaker::UserProfile": ("Ref", "UserProfileArn"),
    "AWS::SageMaker::StudioLifecycleConfig": ("Ref", "StudioLifecycleConfigArn"),
    "AWS::SageMaker::Model": ("Ref", "ModelName"),
    "AWS::SageMaker::EndpointConfig": ("Ref", "EndpointConfigName"),
    "AWS::SageMaker::Endpoint": ("Ref", "EndpointName"),
    "AWS::SageMaker::ModelPackageGroup": ("Ref", "ModelPackageGroupArn"),
    "AWS::SageMaker::MlflowApp": ("Ref", "Arn", "MlflowAppId"),
    "AWS::SageMaker::MlflowTrackingServer": ("Ref", "TrackingServerArn"),
    "AWS::SageMaker::MonitoringSchedule": ("Ref", "MonitoringScheduleArn"),
    "AWS::SageMaker::DataQualityJobDefinition": ("Ref", "JobDefinitionArn"),
    "AWS::ApiGateway::RestApi": ("Ref", "RootResourceId"),
    "AWS::ApiGateway::Resource": ("Ref",),
    "AWS::ApiGateway::Deployment": ("Ref",),
    "AWS::ApiGateway::RequestValidator": ("Ref",),
    "AWS::ApiGateway::ApiKey": ("Ref",),
    "AWS::ApiGateway::UsagePlan": ("Ref",),
    "AWS::ApiGateway::Stage": ("Ref",),
    "AWS::ApiGateway::Model": ("Ref",),
    "AWS::CloudWatch::Alarm": ("Ref", "Arn"),
    "AWS::ServiceCatalog::Portfolio": ("Ref",),
    "AWS::ServiceCatalog::CloudFormationProduct": ("Ref", "ProvisioningArtifactIds"),
    "AWS::KMS::Alias": ("Ref",),
    "AWS::CodePipeline::Pipeline": ("Ref",),
    "AWS::CodeBuild::Project": ("Ref", "Arn"),
}
GIVEN = {  # what a type needs from its template to resolve everything
    "AWS::EC2::VPC": {"CidrBlock": "10.0.0.0/16"},
    "AWS::SSM::Parameter": {"Type": "String", "Value": {"Ref": "Value"}},
    "AWS::SageMaker::UserProfile": {"UserProfileName": {"Ref": "Value"}, "DomainId": "d-1"},
    "AWS::ApiGateway::Stage": {"StageName": {"Ref": "Value"}},
    "AWS::KMS::Alias": {"AliasName": "alias/k"},
}


@pytest.mark.parametrize("kind", sorted(ATTRIBUTES))
def test_every_attribute_of_a_type_resolves(kind):
    stack = {"Parameters": {"Value": {"Type": "String", "Default": "v"}}, "Resources": {"R": {"Type": kind, "Properties": GIVEN.get(kind, {})}}}
    d = _deployment(s=stack)
    for attribute in ATTRIBUTES[kind]:
        value = d.ref("s", "R") if attribute == "Ref" else d.get_att("s", "R", attribute)
        assert value is not UNRESOLVED and value not in ("", None), (kind, attribute)
    assert d.get_att("s", "R", "NotAnAttribute") is UNRESOLVED


def test_suffixes_depend_on_stack_and_logical_id_where_the_head_is_cut():
    a, b = "x" * 100 + "a", "x" * 100 + "b"
    assert generated_name(a, "L", 30)[:16] == generated_name(b, "L", 30)[:16] and generated_name(a, "L", 30) != generated_name(b, "L", 30)
    assert generated_name("s", "y" * 100 + "1", 30) != generated_name("s", "y" * 100 + "2", 30)


def test_resolution_corners(deployment):
    r = deployment.resolve
    untyped = _deployment(s={"Parameters": {"P": {"Default": "p"}}, "Resources": {}})
    assert untyped.resolve("s", {"Ref": "P"}) == "p"  # a parameter's Type defaults to String
    assert r("s", {"Fn::Sub": "${Bucket.Arn.Deeper}"}) is UNRESOLVED and r("s", {"Fn::GetAtt": "Bucket.Arn.Deeper"}) is UNRESOLVED
    assert r("s", "{{resolve:secretsmanager:/p/name}}") is UNRESOLVED  # a secret, though an SSM parameter has that name
    published = _deployment(
        pub={
            "Parameters": {"Stage": {"Type": "String", "Default": "dev"}},
            "Resources": {"P": {"Type": "AWS::SSM::Parameter", "Properties": {"Name": "/n", "Value": {"Fn::Sub": "${Stage}-v"}}}},
        },
        reader={"Resources": {}},
    )
    assert published.resolve("reader", "{{resolve:ssm:/n}}") == "dev-v"  # resolved in the stack that publishes it
