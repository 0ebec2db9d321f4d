"""SelfServiceCatalog: portfolio, three products built from the platform's constructs, launch role."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from mlops_constructs.self_service_catalog import SelfServiceCatalog

PRINCIPAL = "arn:aws:iam::123456789012:role/ml-team-lead"


@pytest.fixture
def catalog(stack):
    return SelfServiceCatalog(stack, "Catalog", prefix="mlops", stage="dev", principal_role_arns=[PRINCIPAL])


@pytest.fixture
def template(stack, catalog) -> Template:
    return Template.from_stack(stack)


def test_portfolio_with_three_products_each_with_a_launch_role(template):
    template.resource_count_is("AWS::ServiceCatalog::Portfolio", 1)
    template.resource_count_is("AWS::ServiceCatalog::CloudFormationProduct", 3)
    template.resource_count_is("AWS::ServiceCatalog::PortfolioProductAssociation", 3)
    template.resource_count_is("AWS::ServiceCatalog::LaunchRoleConstraint", 3)
    names = sorted(p["Properties"]["Name"] for p in template.find_resources("AWS::ServiceCatalog::CloudFormationProduct").values())
    assert names == ["mlops-dev ML project", "mlops-dev Project sandbox", "mlops-dev Studio user"]


def test_portfolio_is_shared_with_the_configured_roles_only(template):
    associations = template.find_resources("AWS::ServiceCatalog::PortfolioPrincipalAssociation")
    assert [a["Properties"]["PrincipalARN"] for a in associations.values()] == [PRINCIPAL]


def test_launch_role_is_assumed_by_service_catalog_from_this_account(template):
    template.has_resource_properties("AWS::IAM::Role", {
        "AssumeRolePolicyDocument": {"Statement": [Match.object_like({
            "Principal": {"Service": "servicecatalog.amazonaws.com"},
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        })]},
    })


def test_launch_role_has_no_wildcard_action_and_no_unscoped_write(template):
    policy = next(iter(template.find_resources("AWS::IAM::Policy").values()))
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        assert all(a != "*" and not a.endswith(":*") for a in actions)
        if statement["Resource"] == "*":
            allowed_unscoped = {"cloudformation:GetTemplateSummary", "cloudformation:ValidateTemplate", "kms:CreateKey", "s3:GetObject"}
            assert set(actions) <= allowed_unscoped, statement
            if actions == ["s3:GetObject"] or actions == "s3:GetObject":
                assert statement["Condition"] == {"StringEquals": {"s3:ExistingObjectTag/servicecatalog:provisioning": "true"}}


def test_product_templates_reuse_the_platform_constructs(stack, catalog, tmp_path):
    import os

    assembly = stack.node.root.synth()
    products = {f: json.loads(open(os.path.join(assembly.directory, f)).read()) for f in os.listdir(assembly.directory) if f.endswith(".product.template.json")}
    assert len(products) == 3
    by_kind = {}
    for name, tmpl in products.items():
        kind = next(k for k in ("Project", "User", "Sandbox") if f"{k}ProductStack" in name)
        by_kind[kind] = tmpl
    project_types = {r["Type"] for r in by_kind["Project"]["Resources"].values()}
    assert {"AWS::KMS::Key", "AWS::S3::Bucket", "AWS::ECR::Repository", "AWS::SageMaker::ModelPackageGroup", "AWS::SNS::Topic", "AWS::SSM::Parameter"} <= project_types
    assert set(by_kind["Project"]["Parameters"]) >= {"ProjectName", "AlertEmail"}
    assert by_kind["Project"]["Parameters"]["ProjectName"]["AllowedPattern"] == "^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
    assert {"AWS::SageMaker::UserProfile", "AWS::IAM::Role"} <= {r["Type"] for r in by_kind["User"]["Resources"].values()}
    assert by_kind["User"]["Parameters"]["DomainId"] == {
        "Type": "AWS::SSM::Parameter::Value<String>", "Default": "/mlops/dev/studio/domain-id",
        "Description": "SSM parameter holding the Studio domain id",
    }
    sandbox_params = by_kind["Sandbox"]["Parameters"]
    assert {"UserRoleArn", "DataBucketName", "ArtifactsBucketName", "KeyArn"} <= set(sandbox_params)
    assert all(sandbox_params[p]["Type"] == "AWS::SSM::Parameter::Value<String>" for p in ("UserRoleArn", "DataBucketName", "ArtifactsBucketName", "KeyArn"))
    for tmpl in products.values():
        for resource in tmpl["Resources"].values():
            if resource["Type"] in ("AWS::S3::Bucket", "AWS::KMS::Key", "AWS::SageMaker::UserProfile", "AWS::SageMaker::ModelPackageGroup", "AWS::ECR::Repository"):
                assert resource["DeletionPolicy"] == "Retain"


def test_launch_role_passes_roles_to_sagemaker_only(template):
    policy = next(iter(template.find_resources("AWS::IAM::Policy").values()))
    passing = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if "iam:PassRole" in s["Action"]]
    assert len(passing) == 1
    assert passing[0]["Action"] == "iam:PassRole"
    assert passing[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
