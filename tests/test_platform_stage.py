"""PlatformStage: stack layout, dependencies, termination protection, and the retention aspect."""

from __future__ import annotations

import json
import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3

from app import new_app
from mlops_constructs.aspects import PlatformRules, StatefulResourcesRetained


def test_stateful_stacks_are_termination_protected_in_prod_only(dev, prod):
    stateless = {prod.stage.self_service, *prod.stage.pipelines.values(), *prod.stage.endpoints.values(), *prod.stage.dashboards.values()}
    for stack in prod.stacks:
        assert stack.termination_protection is (stack not in stateless), stack.stack_name
    assert not any(stack.termination_protection for stack in dev.stacks)


def test_stacks_depend_on_what_they_read(dev):
    stage = dev.stage
    assert stage.environment in stage.users["alice"].dependencies
    sandbox = stage.sandboxes[("alice", "churn")]
    assert {stage.users["alice"], stage.projects["churn"]} <= set(sandbox.dependencies)
    assert stage.projects["fraud"] not in sandbox.dependencies


def test_dashboards_are_deployed_after_what_they_show(dev, prod):
    stage = dev.stage
    assert {stage.pipelines["churn"], stage.batches["churn"]} <= set(stage.dashboards["churn"].dependencies)  # scored in batch
    assert {stage.pipelines["fraud"], stage.endpoints["fraud"]} <= set(stage.dashboards["fraud"].dependencies)
    assert set(prod.stage.dashboards) == {"churn", "fraud"} and prod.stage.pipelines == {}
    assert prod.stage.endpoints["churn"] in prod.stage.dashboards["churn"].dependencies


def _resources(synthesized, stack, kind: str) -> list[dict]:
    return [r["Properties"] for r in synthesized.template(stack)["Resources"].values() if r["Type"] == kind]


def test_drift_alarms_are_named_for_the_pipeline_that_retrains(dev, prod):
    """Dev's pipeline listens for alarms with its drift prefix: dev's batch scoring and prod's endpoint name theirs so."""
    (dev_rule,) = [r for r in _resources(dev, dev.stage.pipelines["churn"], "AWS::Events::Rule") if "alarmName" in json.dumps(r)]
    prefix = dev_rule["EventPattern"]["detail"]["alarmName"][0]["prefix"]
    assert prefix == "mlops-dev-churn-drift-"
    for synthesized, stage, serving in ((dev, "dev", dev.stage.batches["churn"]), (prod, "prod", prod.stage.endpoints["churn"])):
        names = {
            a["AlarmName"] for a in _resources(synthesized, serving, "AWS::CloudWatch::Alarm") if "AlarmName" in a and "drift" in str(a["AlarmName"])
        }
        assert names == {f"{prefix}{stage}-mean_radius", f"{prefix}{stage}-worst_area"}


def test_dashboard_shows_the_alarms_the_endpoint_stack_creates(prod):
    for name in ("churn", "fraud"):
        created = {a["AlarmName"] for a in _resources(prod, prod.stage.endpoints[name], "AWS::CloudWatch::Alarm") if "AlarmName" in a}
        (dashboard,) = _resources(prod, prod.stage.dashboards[name], "AWS::CloudWatch::Dashboard")
        body = json.dumps(dashboard["DashboardBody"])
        shown = set(re.findall(r":alarm:([\w.-]+)", body))
        assert shown and shown == created, name
        assert f'\\"MonitoringSchedule\\",\\"mlops-prod-{name}-dq\\"' in body
        (machine,) = [m for m in _resources(prod, prod.stage.endpoints[name], "AWS::StepFunctions::StateMachine")]
        assert machine["StateMachineName"] == f"mlops-prod-{name}-dq"  # the check keeps the schedule's name and dimension
        assert f"stateMachine:mlops-prod-{name}-dq" in body  # its failed runs
        # the drift graphs read the namespace the alarms watch: the project's check publishes where Model Monitor's custom
        # containers did, so a stage that switches keeps its alarms
        namespaces = {
            a["Namespace"] for a in _resources(prod, prod.stage.endpoints[name], "AWS::CloudWatch::Alarm") if "data-metrics" in a.get("Namespace", "")
        }
        assert namespaces == {"/aws/sagemaker/Endpoint/data-metrics"}, name
        assert f'[\\"{namespaces.pop()}\\",\\"feature_baseline_drift_' in body, name


def test_only_endpoints_with_data_capture_are_monitored(dev, prod):
    kind = "AWS::Events::Rule"

    def checks(stage, name):
        return [r for r in _resources(stage, stage.stage.endpoints[name], kind) if "Drift check" in r.get("Description", "")]

    assert len(checks(prod, "churn")) == 1
    assert checks(dev, "fraud") == []  # serverless in dev: no capture
    (prod_fraud,) = checks(prod, "fraud")
    assert prod_fraud["ScheduleExpression"] == "cron(3 0 ? * * *)"  # daily in prod.yaml, 3 minutes after the period


def test_monitored_endpoint_takes_its_baseline_at_deploy_time_without_pins(dev, prod):
    parameters = prod.template(prod.stage.endpoints["churn"])["Parameters"]
    assert "BaselineUri" in parameters and "ModelPackageArn" in parameters
    assert "BaselineUri" not in dev.template(dev.stage.endpoints["fraud"])["Parameters"]  # serverless, unmonitored


def test_pipeline_baselines_with_the_projects_analyzer(dev):
    def definition(project: str) -> str:
        return json.dumps(_resources(dev, dev.stage.pipelines[project], "AWS::StepFunctions::StateMachine")[0]["DefinitionString"])

    for project in ("churn", "fraud"):  # the project's analyzer by default: Model Monitor's image is closed to new customers
        text = definition(project)
        assert "156813124566" not in text and '\\"ContainerEntrypoint\\":[\\"monitor\\"]' in text


def test_alert_topic_accepts_eventbridge_messages_from_its_stages_rules(dev):
    (policy,) = _resources(dev, dev.stage.projects["churn"], "AWS::SNS::TopicPolicy")
    (statement,) = [s for s in policy["PolicyDocument"]["Statement"] if s.get("Principal") == {"Service": "events.amazonaws.com"}]
    assert statement["Action"] == "sns:Publish"
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    # this stage's rules only (CloudFormation names a stack's rules after it), not any rule of the account
    assert json.dumps(statement["Condition"]["ArnLike"]["aws:SourceArn"]).endswith(':rule/mlops-dev-*"]]}')


def test_stacks_live_in_the_configured_account_and_region(prod):
    for stack in prod.stacks:
        assert (stack.account, stack.region) == ("123456789012", "us-east-1")


def test_synthesis_needs_no_context_lookup(dev):
    manifest = json.loads((dev.outdir / "manifest.json").read_text())
    assert "missing" not in manifest


def _synth_with_aspect(stack: cdk.Stack) -> None:
    app = stack.node.root
    PlatformRules(StatefulResourcesRetained()).apply_to(app)
    app.synth()


def test_the_platform_rules_reach_every_resource_once(dev, prod, delivery_app):
    """The rules walk the tree once at synthesis (aspects.PlatformRules): every CloudFormation resource of the final
    tree, the products' and the pipeline's included, got them exactly once."""
    for built in (dev.stage, prod.stage, delivery_app.stack, *delivery_app.stack.stages):
        resources = [n.node.path for n in built.node.find_all() if isinstance(n, cdk.CfnResource)]
        assert len(resources) > 30 and sorted(r.node.path for r in built.platform_rules.visited) == sorted(resources)


def test_platform_rules_added_as_a_plain_aspect_stop_the_synth_with_the_way_to_attach_them():
    app = new_app()
    s3.Bucket(cdk.Stack(app, "S"), "B", removal_policy=cdk.RemovalPolicy.RETAIN)
    cdk.Aspects.of(app).add(PlatformRules(StatefulResourcesRetained()))
    with pytest.raises(Exception, match=r"apply_to\(scope\)"):
        app.synth()


def test_aspect_fails_synthesis_for_a_bucket_that_would_be_deleted():
    stack = cdk.Stack(new_app(), "S")
    s3.Bucket(stack, "Doomed", removal_policy=cdk.RemovalPolicy.DESTROY)
    with pytest.raises(RuntimeError, match="AWS::S3::Bucket must be retained on destroy"):
        _synth_with_aspect(stack)


def test_aspect_fails_synthesis_for_a_log_group_kept_forever():
    stack = cdk.Stack(new_app(), "S")
    logs.LogGroup(stack, "Forever", retention=logs.RetentionDays.INFINITE, removal_policy=cdk.RemovalPolicy.RETAIN)
    with pytest.raises(RuntimeError, match="needs a retention period"):
        _synth_with_aspect(stack)


def test_aspect_accepts_retained_resources():
    stack = cdk.Stack(new_app(), "S")
    s3.Bucket(stack, "Kept", removal_policy=cdk.RemovalPolicy.RETAIN)
    _synth_with_aspect(stack)


def test_the_region_wide_api_gateway_logging_role_is_set_once_by_the_environment(dev):
    accounts = {name: [r for r in t["Resources"].values() if r["Type"] == "AWS::ApiGateway::Account"] for name, t in dev.templates().items()}
    assert {name: len(found) for name, found in accounts.items() if found} == {"mlops-dev-environment": 1}
    (account,) = accounts["mlops-dev-environment"]
    assert account["DeletionPolicy"] == "Retain"


def test_every_log_group_of_a_project_is_encrypted_with_the_project_key(dev):
    """CloudWatch Logs encrypts the pipelines', functions' and APIs' log groups with their project's key, which lets the Logs
    service of the Region use it for this stage's log groups only
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html). (The IAM engine cannot evaluate
    kms:EncryptionContext:<key> conditions, so the statement is asserted here.)"""
    from fidelity.cfn import Deployment

    deployment = Deployment(dev.templates())
    groups = 0
    for stack, template in dev.templates().items():
        if not any(kind in stack for kind in ("-pipeline-", "-endpoint-", "-batch-")):
            continue
        project = stack.rsplit("-", 1)[1]
        key = deployment.ssm_value(f"/mlops/dev/projects/{project}/key-arn")
        for logical_id, group in template["Resources"].items():
            if group["Type"] == "AWS::Logs::LogGroup":
                groups += 1
                assert deployment.resolve(stack, group["Properties"].get("KmsKeyId")) == key, f"{stack}/{logical_id}"
    # 5 per pipeline (its MLflow link, publisher and seal functions' among them); fraud's endpoint 2 (its API and function);
    # churn's batch scoring 3 (its state machine, its drift check's planner and analyzer)
    assert groups == 15
    project = dev.template(dev.stage.projects["churn"])
    (key,) = [r for r in project["Resources"].values() if r["Type"] == "AWS::KMS::Key"]
    (statement,) = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == "CloudWatchLogsOfThisStage"]
    assert statement["Principal"] == {"Service": {"Fn::Join": ["", ["logs.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}}
    pattern = deployment.resolve("mlops-dev-project-churn", statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"])
    assert pattern == "arn:aws:logs:us-east-1:123456789012:log-group:mlops-dev-*"


def test_every_tagged_resource_carries_its_projects_cost_allocation_tag(dev):
    """The project budgets filter on the ``project`` tag: each project's stacks carry its name, shared stacks ``shared``."""
    stage = dev.stage
    groups = (stage.projects, stage.pipelines, stage.endpoints, stage.batches, stage.dashboards)
    owners = {s.stack_name: name for group in groups for name, s in group.items()}
    owners |= {s.stack_name: project for (_, project), s in stage.sandboxes.items()}
    checked = 0
    for stack in stage.stacks:
        for logical_id, resource in dev.template(stack)["Resources"].items():
            tags = resource.get("Properties", {}).get("Tags")
            if isinstance(tags, list) and tags and isinstance(tags[0], dict) and "Key" in tags[0]:
                assert {"Key": "project", "Value": owners.get(stack.stack_name, "shared")} in tags, f"{stack.stack_name}/{logical_id}"
                checked += 1
    assert checked > 100
    (budget,) = _resources(dev, stage.projects["churn"], "AWS::Budgets::Budget")
    assert budget["Budget"]["CostFilters"] == {"TagKeyValue": ["user:project$churn"]} and budget["Budget"]["BudgetName"] == "mlops-dev-churn-monthly"


def test_the_vpc_reaches_the_mlflow_apps_through_their_own_endpoint(dev):
    """dev's MLflow apps from VPC-only Studio and the training jobs: the interface endpoint SageMaker names
    aws.sagemaker.<region>.mlflow (a tracking server's is .experiments, which dev does not need), with private DNS and
    the perimeter policy on the apps' API (sagemaker:CallMlflowAppApi)."""
    import json

    template = dev.templates()["mlops-dev-environment"]
    services = [json.dumps(r["Properties"]["ServiceName"]) for r in template["Resources"].values() if r["Type"] == "AWS::EC2::VPCEndpoint"]
    assert not any("experiments" in s for s in services)
    (endpoint,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::EC2::VPCEndpoint" and json.dumps(r["Properties"]["ServiceName"]).endswith('.mlflow"')
    ]
    assert endpoint["ServiceName"] == "aws.sagemaker.us-east-1.mlflow"
    assert endpoint["PrivateDnsEnabled"] is True
    (statement,) = endpoint["PolicyDocument"]["Statement"]
    assert statement["Action"] == "sagemaker:*" and statement["Condition"]["StringEquals"]["aws:PrincipalAccount"] == {"Ref": "AWS::AccountId"}
    assert len(endpoint["SubnetIds"]) == 1  # network.endpoint_azs: 1 in dev


def test_each_state_machine_role_is_for_its_own_state_machine(dev):
    """Step Functions may assume a state machine's role for that state machine only (aws:SourceArn), not for any state
    machine of the account (issue 30's low finding)."""
    checked = 0
    for template in dev.templates().values():
        resources = template["Resources"]
        for machine in (r["Properties"] for r in resources.values() if r["Type"] == "AWS::StepFunctions::StateMachine"):
            role = resources[machine["RoleArn"]["Fn::GetAtt"][0]]["Properties"]
            (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
            source = json.dumps(statement["Condition"]["ArnLike"]["aws:SourceArn"])
            assert source.endswith(f':stateMachine:{machine["StateMachineName"]}"]]}}'), source
            checked += 1
    assert checked == 3  # two training pipelines and churn's drift check
