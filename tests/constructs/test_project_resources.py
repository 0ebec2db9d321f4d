"""ProjectResources: key, buckets, repository, model package group and alert topic."""

from __future__ import annotations

import json

import pytest
from aws_cdk import Duration
from aws_cdk.assertions import Match, Template

from config.parameters import PROJECT_KEYS
from mlops_constructs.project_resources import ProjectResources, ProjectResourcesProps
from mlops_constructs.published_parameters import PublishedProject
from mlops_constructs.studio_network import WorkloadNetwork

NETWORK = WorkloadNetwork("vpc-0123456789abcdef0", "sg-0123456789abcdef0", "pl-63a5400a")


@pytest.fixture
def template(stack) -> Template:
    ProjectResources(
        stack,
        "Project",
        props=ProjectResourcesProps(
            project_name="churn",
            model_package_group_name="mlops-dev-churn",
            network=NETWORK,
            alert_emails=["a@example.com", "b@example.com"],
            noncurrent_version_expiration=Duration.days(45),
            capture_transition_after=Duration.days(60),
            access_log_expiration=Duration.days(120),
        ),
    )
    return Template.from_stack(stack)


def _buckets(template: Template) -> dict:
    return template.find_resources("AWS::S3::Bucket")


def _kms_buckets(template: Template) -> dict:
    return {
        k: v
        for k, v in _buckets(template).items()
        if v["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    }


def test_key_rotates_and_is_retained(template):
    template.resource_count_is("AWS::KMS::Key", 1)
    template.has_resource(
        "AWS::KMS::Key",
        {
            "Properties": {"EnableKeyRotation": True},
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_key_lets_cloudwatch_and_events_publish_to_the_topic_from_this_account_only(template):
    key = next(iter(template.find_resources("AWS::KMS::Key").values()))
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    service_statements = [s for s in statements if "Service" in s.get("Principal", {}) and s.get("Sid") != "StateMachineLogDelivery"]
    services: set[str] = set()
    for s in service_statements:
        principal = s["Principal"]["Service"]
        services |= set(principal if isinstance(principal, list) else [principal])
        assert s["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
        assert set(s["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert services == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}
    # the pipeline's state machine is encrypted with the key: log delivery of this account may decrypt its execution data
    (delivery,) = [s for s in statements if s.get("Sid") == "StateMachineLogDelivery"]
    assert delivery["Principal"] == {"Service": "delivery.logs.amazonaws.com"} and delivery["Action"] == "kms:Decrypt"
    assert delivery["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_four_buckets_three_with_the_project_key(template):
    assert len(_buckets(template)) == 4
    kms_buckets = _kms_buckets(template)
    assert len(kms_buckets) == 3
    for bucket in kms_buckets.values():
        rule = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["BucketKeyEnabled"] is True
        assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]["Fn::GetAtt"][0].startswith("ProjectKey")


@pytest.mark.parametrize("prop", ["versioned", "private", "retained", "lifecycle", "logged"])
def test_every_bucket_property(template, prop):
    logs_bucket_ids = [k for k in _buckets(template) if k.startswith("ProjectAccessLogsBucket")]
    assert len(logs_bucket_ids) == 1
    for logical_id, bucket in _buckets(template).items():
        props = bucket["Properties"]
        if prop == "versioned":
            assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        elif prop == "private":
            assert props["PublicAccessBlockConfiguration"] == {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            }
            assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        elif prop == "retained":
            assert bucket["DeletionPolicy"] == "Retain" and bucket["UpdateReplacePolicy"] == "Retain"
        elif prop == "lifecycle":
            rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
            assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 45}
            assert rules["expire-noncurrent-versions"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
        elif prop == "logged":
            if logical_id in logs_bucket_ids:
                assert "LoggingConfiguration" not in props
            else:
                assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": logs_bucket_ids[0]}


def test_every_bucket_refuses_plain_http_and_old_tls(template):
    policies = template.find_resources("AWS::S3::BucketPolicy")
    assert len(policies) == 4
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        denies = [s for s in statements if s["Effect"] == "Deny"]
        conditions = [s.get("Condition") for s in denies]
        assert {"Bool": {"aws:SecureTransport": "false"}} in conditions
        assert {"NumericLessThan": {"s3:TlsVersion": 1.2}} in conditions


def test_capture_bucket_moves_to_infrequent_access(template):
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        {
                            "Id": "capture-to-infrequent-access",
                            "Status": "Enabled",
                            "Transitions": [{"StorageClass": "STANDARD_IA", "TransitionInDays": 60}],
                        },
                    ]
                )
            },
        },
    )


def test_access_logs_expire(template):
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {"Rules": Match.array_with([{"Id": "expire-access-logs", "Status": "Enabled", "ExpirationInDays": 120}])},
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
        },
    )


def test_data_bucket_sends_events_to_eventbridge_without_a_custom_resource(template):
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "NotificationConfiguration": {"EventBridgeConfiguration": {"EventBridgeEnabled": True}},
        },
    )
    assert template.find_resources("AWS::Lambda::Function") == {}
    assert template.find_resources("Custom::S3BucketNotifications") == {}


def test_repository_scans_is_immutable_encrypted_and_retained(template):
    template.has_resource(
        "AWS::ECR::Repository",
        {
            "Properties": {
                "ImageScanningConfiguration": {"ScanOnPush": True},
                "ImageTagMutability": "IMMUTABLE",
                "EncryptionConfiguration": {"EncryptionType": "KMS", "KmsKey": Match.any_value()},
                "LifecyclePolicy": {"LifecyclePolicyText": Match.string_like_regexp("sinceImagePushed")},
            },
            "DeletionPolicy": "Retain",
        },
    )


def test_model_package_group_is_named_and_retained(template):
    template.has_resource(
        "AWS::SageMaker::ModelPackageGroup",
        {
            "Properties": {"ModelPackageGroupName": "mlops-dev-churn"},
            "DeletionPolicy": "Retain",
        },
    )


def test_alert_topic_is_encrypted_tls_only_and_emails_subscribers(template):
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.resource_count_is("AWS::SNS::Subscription", 2)
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "b@example.com"})
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
                    ]
                )
            },
        },
    )


def test_published_project_reads_each_parameter_once_and_names_a_wrong_one(stack):
    published = PublishedProject(stack, "/mlops/dev/projects/x")
    assert published.key is published.key and published.data_bucket is not published.artifacts_bucket
    with pytest.raises(KeyError, match="no published parameter 'data-bucket'"):
        published.value("data-bucket")


def test_attributes_are_exposed_for_later_stacks(stack):
    from mlops_constructs.project_mlflow import MlflowServer

    project = ProjectResources(
        stack, "P", props=ProjectResourcesProps(project_name="x", model_package_group_name="g", network=NETWORK, mlflow=MlflowServer("mlops-dev-x"))
    )
    assert set(project.parameter_values()) == set(PROJECT_KEYS)  # what the later stacks read is what is published
    for attribute in ("key", "data_bucket", "artifacts_bucket", "capture_bucket", "access_logs_bucket", "repository", "alert_topic"):
        assert getattr(project, attribute) is not None


def test_a_stack_cannot_publish_a_parameter_no_reader_knows(stack):
    from mlops_constructs.published_parameters import PublishedParameters

    with pytest.raises(KeyError, match="no published parameter 'bucket'"):
        PublishedParameters(stack, "P", path="/mlops/dev/projects/x", keys=PROJECT_KEYS, values={"bucket": "b"})


def test_registered_images_never_expire(stack):
    ProjectResources(stack, "P", props=ProjectResourcesProps(project_name="x", model_package_group_name="g", network=NETWORK))
    repository = next(iter(Template.from_stack(stack).find_resources("AWS::ECR::Repository").values()))["Properties"]
    rules = json.loads(repository["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert [r["selection"]["tagStatus"] for r in rules] == ["untagged"]  # a tagged image may back a registered model package


def test_jobs_and_models_have_groups_of_their_own_with_https_out_to_endpoints_and_s3_only(template):
    groups = template.find_resources("AWS::EC2::SecurityGroup")
    assert len(groups) == 2
    for group in groups.values():
        properties = group["Properties"]
        assert properties["VpcId"] == "vpc-0123456789abcdef0" and "SecurityGroupIngress" not in properties
        assert [(e["IpProtocol"], e["FromPort"], e["ToPort"]) for e in properties["SecurityGroupEgress"]] == [("tcp", 443, 443)] * 2
        assert {e.get("DestinationSecurityGroupId") or e.get("DestinationPrefixListId") for e in properties["SecurityGroupEgress"]} == {
            "sg-0123456789abcdef0",
            "pl-63a5400a",
        }
    assert not template.find_resources("AWS::EC2::SecurityGroupIngress") and not template.find_resources("AWS::EC2::SecurityGroupEgress")


def test_mlflow_is_serverless_by_default_its_store_is_the_projects_bucket_and_it_is_retained(stack):
    from mlops_constructs.project_mlflow import MlflowServer

    project = ProjectResources(
        stack, "P", props=ProjectResourcesProps(project_name="x", model_package_group_name="g", network=NETWORK, mlflow=MlflowServer("mlops-dev-x"))
    )
    template = Template.from_stack(stack)
    (app,) = template.find_resources("AWS::SageMaker::MlflowApp").values()
    assert app["DeletionPolicy"] == "Retain" and app["Properties"]["Name"] == "mlops-dev-x"
    assert app["Properties"]["ModelRegistrationMode"] == "AutoModelRegistrationDisabled"  # the pipeline registers, after its gate
    store = json.dumps(app["Properties"]["ArtifactStoreUri"])
    assert store.startswith('{"Fn::Join": ["", ["s3://", {"Ref": "PArtifactsBucket') and store.endswith('"/mlflow/"]]}')
    assert project.mlflow is not None
    template.resource_count_is("AWS::SageMaker::MlflowTrackingServer", 0)


def test_a_tracking_server_of_the_configured_size_when_asked(stack):
    from config.schema import MlflowConfig
    from mlops_constructs.project_mlflow import MlflowServer

    ProjectResources(
        stack,
        "P",
        props=ProjectResourcesProps(
            project_name="x",
            model_package_group_name="g",
            network=NETWORK,
            mlflow=MlflowServer("mlops-dev-x", MlflowConfig(server="tracking_server", size="Medium", weekly_maintenance_window_start="Sun:03:00")),
        ),
    )
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::SageMaker::MlflowApp", 0)
    template.has_resource(
        "AWS::SageMaker::MlflowTrackingServer",
        {
            "DeletionPolicy": "Retain",
            "Properties": {"TrackingServerName": "mlops-dev-x", "TrackingServerSize": "Medium", "AutomaticModelRegistration": False},
        },
    )


def test_a_project_without_mlflow_in_a_stage_that_trains_publishes_an_arn_of_no_server(config_dir, tmp_path):
    import yaml

    from tests.conftest import synth_stage

    dev = yaml.safe_load((config_dir / "dev.yaml").read_text())
    dev["projects"][1]["mlflow"] = {"enabled": False}
    (config_dir / "dev.yaml").write_text(yaml.safe_dump(dev))
    stage = synth_stage("dev", tmp_path / "out", config_dir=str(config_dir))
    templates = stage.templates()
    fraud = dev["projects"][1]["name"]
    published = {
        r["Properties"]["Name"]: r["Properties"]["Value"]
        for r in templates[f"mlops-dev-project-{fraud}"]["Resources"].values()
        if r["Type"] == "AWS::SSM::Parameter"
    }
    assert published[f"/mlops/dev/projects/{fraud}/mlflow-arn"] == "arn:aws:sagemaker:us-east-1:123456789012:mlflow-app/none"
    assert "AWS::SageMaker::MlflowApp" not in json.dumps(templates[f"mlops-dev-project-{fraud}"])
    machine = next(r for r in templates[f"mlops-dev-pipeline-{fraud}"]["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine")
    assert "MLFLOW_TRACKING_URI" not in json.dumps(machine)
