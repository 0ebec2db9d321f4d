"""The template adaptations moto 5.2.5's CloudFormation needs, and only those (one home: the deploy smoke
test and ``make deploy-local`` both use them). Each works around a documented moto gap:

- moto does not emulate the types in ``MOTO_SKIPS``: it accepts the stack and creates nothing for them,
  and then cannot resolve a ``Ref`` or ``Fn::GetAtt`` to them; such references become the placeholder
  ``moto-skipped:<LogicalId>.<Attribute>`` (an ``...Arn`` attribute: an ARN of this account and region, as moto's IAM
  accepts in a policy: ``arn:<partition>:sagemaker:<region>:<account>:moto-skipped/<LogicalId>``), except a reference to
  a Lambda alias, which becomes its function (what the alias invokes; a placeholder there makes moto's Lambda answer 500);
- moto's KMS reads key tags as ``TagKey``/``TagValue`` (the KMS API shape) instead of CloudFormation's
  ``Key``/``Value``, and answers 500 otherwise;
- moto's SSM reads parameter tags as a list of ``Key``/``Value``; CloudFormation's ``AWS::SSM::Parameter``
  takes them as a map;
- moto names an unnamed ECR repository with upper-case letters, which its own ECR then rejects;
  CloudFormation generates a lower-case name, so the adaptation names it the way CloudFormation would;
- moto's CloudFormation deletes an ``AWS::IAM::ManagedPolicy`` without detaching it from its roles (CloudFormation
  detaches it first), so the role's stack then fails to delete ("must detach all policies first"): a managed policy
  attached to roles is deployed as the ``AWS::IAM::Policy`` of the same statements and roles, which moto removes.
"""

from __future__ import annotations

import json

# Resource types of this platform that moto 5.2.5's CloudFormation does not emulate (checked against
# moto's own model map by tests/test_deploy_smoke.py, so a change in what moto covers shows up).
MOTO_SKIPS = {
    "AWS::ApiGateway::Account",
    "AWS::ApiGateway::ApiKey",
    "AWS::ApiGateway::Model",
    "AWS::ApiGateway::RequestValidator",
    "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::UsagePlan",
    "AWS::ApiGateway::UsagePlanKey",
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::Budgets::Budget",
    "AWS::CloudWatch::Alarm",
    "AWS::CodeDeploy::Application",
    "AWS::CodeDeploy::DeploymentGroup",
    "AWS::EC2::SecurityGroupEgress",
    "AWS::Lambda::Alias",
    "AWS::WAFv2::WebACL",
    "AWS::WAFv2::WebACLAssociation",
    "AWS::SageMaker::DataQualityJobDefinition",
    "AWS::SageMaker::MonitoringSchedule",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::Subscription",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::SageMaker::Domain",
    "AWS::SageMaker::MlflowApp",
    "AWS::SageMaker::ModelPackageGroup",
    "AWS::SageMaker::StudioLifecycleConfig",
    "AWS::SageMaker::UserProfile",
    "AWS::ServiceCatalog::CloudFormationProduct",
    "AWS::ServiceCatalog::LaunchRoleConstraint",
    "AWS::ServiceCatalog::Portfolio",
    "AWS::ServiceCatalog::PortfolioProductAssociation",
    "AWS::ServiceCatalog::PortfolioPrincipalAssociation",
    "AWS::ServiceCatalog::TagOption",
    "AWS::ServiceCatalog::TagOptionAssociation",
}


def moto_compatible(template: dict, stack_name: str) -> dict:
    """``template`` as CloudFormation would take it, adapted to moto's known gaps (see the module docstring)."""
    template = json.loads(json.dumps(template))
    skipped = {lid for lid, r in template["Resources"].items() if r["Type"] in MOTO_SKIPS}
    aliased = {lid: r["Properties"]["FunctionName"] for lid, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Alias"}

    def substitute(node):
        if isinstance(node, dict):
            target = node.get("Ref") or (node["Fn::GetAtt"][0] if isinstance(node.get("Fn::GetAtt"), list) else None)
            if target in aliased:
                return substitute(aliased[target])
            if "Fn::GetAtt" in node and node["Fn::GetAtt"][0] in skipped:
                logical_id, attribute = node["Fn::GetAtt"]
                if attribute.endswith("Arn"):
                    return {"Fn::Sub": f"arn:${{AWS::Partition}}:sagemaker:${{AWS::Region}}:${{AWS::AccountId}}:moto-skipped/{logical_id}"}
                return f"moto-skipped:{logical_id}.{attribute}"
            if "Ref" in node and node["Ref"] in skipped:
                return f"moto-skipped:{node['Ref']}"
            return {k: substitute(v) for k, v in node.items()}
        if isinstance(node, list):
            return [substitute(v) for v in node]
        return node

    template = substitute(template)
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::KMS::Key" and "Tags" in props:
            props["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props["Tags"]]
        if resource["Type"] == "AWS::ECR::Repository" and "RepositoryName" not in props:
            props["RepositoryName"] = f"{stack_name}-{logical_id}".lower()
        if resource["Type"] == "AWS::IAM::ManagedPolicy" and props.get("Roles") and not props.get("Users") and not props.get("Groups"):
            resource["Type"] = "AWS::IAM::Policy"
            resource["Properties"] = {
                "PolicyName": f"{stack_name}-{logical_id}"[:128],
                "PolicyDocument": props["PolicyDocument"],
                "Roles": props["Roles"],
            }
        if resource["Type"] == "AWS::SSM::Parameter" and isinstance(props.get("Tags"), dict):
            props["Tags"] = [{"Key": k, "Value": v} for k, v in props["Tags"].items()]
    return template
