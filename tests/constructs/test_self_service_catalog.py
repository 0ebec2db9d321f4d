"""SelfServiceCatalog: portfolio, three products built from the platform's constructs, launch role."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Match, Template

from config.schema import StorageConfig
from mlops_constructs.self_service_catalog import SelfServiceCatalog, SelfServiceCatalogProps

PRINCIPAL = "arn:aws:iam::123456789012:role/ml-team-lead"


@pytest.fixture
def catalog(stack):
    return SelfServiceCatalog(
        stack,
        "Catalog",
        props=SelfServiceCatalogProps(
            prefix="mlops", stage="dev", storage=StorageConfig(), principal_role_arns=[PRINCIPAL], domain_id="d-abcdef123456", vpc_id="vpc-0abc"
        ),
    )


@pytest.fixture
def template(stack, catalog) -> Template:
    return Template.from_stack(stack)


def test_portfolio_with_three_products_each_with_a_launch_role(template):
    template.resource_count_is("AWS::ServiceCatalog::Portfolio", 2)  # and the Studio users' one, with the project product
    template.resource_count_is("AWS::ServiceCatalog::CloudFormationProduct", 3)
    template.resource_count_is("AWS::ServiceCatalog::PortfolioProductAssociation", 3 + 1)
    template.resource_count_is("AWS::ServiceCatalog::LaunchRoleConstraint", 3 + 1)
    names = sorted(p["Properties"]["Name"] for p in template.find_resources("AWS::ServiceCatalog::CloudFormationProduct").values())
    assert names == ["mlops-dev ML project", "mlops-dev Project sandbox", "mlops-dev Studio user"]


def test_portfolio_is_shared_with_the_configured_roles_only_and_studio_users_see_the_project_product_only(template):
    associations = [a["Properties"] for a in template.find_resources("AWS::ServiceCatalog::PortfolioPrincipalAssociation").values()]
    portfolios = {p["Properties"]["DisplayName"]: lid for lid, p in template.find_resources("AWS::ServiceCatalog::Portfolio").items()}
    main, studio = portfolios["mlops-dev ML platform"], portfolios["mlops-dev ML platform (Studio projects)"]
    assert [a["PrincipalARN"] for a in associations if a["PortfolioId"] == {"Ref": main}] == [PRINCIPAL]
    (studio_users,) = [a for a in associations if a["PortfolioId"] == {"Ref": studio}]
    assert studio_users["PrincipalType"] == "IAM_PATTERN"
    assert studio_users["PrincipalARN"] == {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam:::role/mlops-dev-user-*"]]}
    in_studio = [
        a["Properties"]["ProductId"]
        for a in template.find_resources("AWS::ServiceCatalog::PortfolioProductAssociation").values()
        if a["Properties"]["PortfolioId"] == {"Ref": studio}
    ]
    products = {lid: p["Properties"]["Name"] for lid, p in template.find_resources("AWS::ServiceCatalog::CloudFormationProduct").items()}
    assert [products[p["Ref"]] for p in in_studio] == ["mlops-dev ML project"]  # never the sandbox product: it links anyone to any data
    constraints = [c["Properties"] for c in template.find_resources("AWS::ServiceCatalog::LaunchRoleConstraint").values()]
    assert {"Ref": studio} in [c["PortfolioId"] for c in constraints]


def test_launch_role_is_assumed_by_service_catalog_from_this_account(template):
    template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {
                            "Principal": {"Service": "servicecatalog.amazonaws.com"},
                            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                        }
                    )
                ]
            },
        },
    )


def test_launch_role_has_no_wildcard_action_and_no_unscoped_write(template):
    statements = [s for role in ("CatalogLaunchRole", "CatalogLaunchRoleForStudio") for s in _launch_policy(template, role)]
    assert len(statements) > 20
    for statement in statements:
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        assert all(a != "*" and not a.endswith(":*") for a in actions)
        if statement["Resource"] == "*":
            allowed_unscoped = {
                "cloudformation:GetTemplateSummary",
                "cloudformation:ValidateTemplate",
                "kms:CreateKey",
                "s3:GetObject",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSecurityGroupRules",
                "ec2:DescribeInstances",
            }
            assert set(actions) <= allowed_unscoped, statement
            if actions == ["s3:GetObject"] or actions == "s3:GetObject":
                assert statement["Condition"] == {"StringEquals": {"s3:ExistingObjectTag/servicecatalog:provisioning": "true"}}


def test_product_templates_reuse_the_platform_constructs(stack, catalog, tmp_path):
    import os

    assembly = stack.node.root.synth()
    products = {
        f: json.loads(open(os.path.join(assembly.directory, f)).read())
        for f in os.listdir(assembly.directory)
        if f.endswith(".product.template.json")
    }
    assert len(products) == 3
    by_kind = {}
    for name, tmpl in products.items():
        kind = next(k for k in ("Project", "User", "Sandbox") if f"{k}ProductStack" in name)
        by_kind[kind] = tmpl
    project_types = {r["Type"] for r in by_kind["Project"]["Resources"].values()}
    assert {
        "AWS::KMS::Key",
        "AWS::S3::Bucket",
        "AWS::ECR::Repository",
        "AWS::SageMaker::ModelPackageGroup",
        "AWS::SNS::Topic",
        "AWS::SSM::Parameter",
    } <= project_types
    assert set(by_kind["Project"]["Parameters"]) >= {"SageMakerProjectName", "SageMakerProjectId", "AlertEmail"}
    assert by_kind["Project"]["Parameters"]["SageMakerProjectName"]["AllowedPattern"] == "^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
    assert {"AWS::SageMaker::UserProfile", "AWS::IAM::Role"} <= {r["Type"] for r in by_kind["User"]["Resources"].values()}
    assert by_kind["User"]["Parameters"]["DomainId"] == {
        "Type": "AWS::SSM::Parameter::Value<String>",
        "Default": "/mlops/dev/studio/domain-id",
        "Description": "SSM parameter holding the Studio domain id",
    }
    assert set(by_kind["Sandbox"]["Parameters"]) == {"UserName", "ProjectName"}  # nothing else for the launcher to choose
    for tmpl in products.values():
        for resource in tmpl["Resources"].values():
            if resource["Type"] in (
                "AWS::S3::Bucket",
                "AWS::KMS::Key",
                "AWS::SageMaker::UserProfile",
                "AWS::SageMaker::ModelPackageGroup",
                "AWS::ECR::Repository",
            ):
                assert resource["DeletionPolicy"] == "Retain"


def test_launch_role_passes_roles_to_sagemaker_only(template):
    for role in ("CatalogLaunchRole", "CatalogLaunchRoleForStudio"):
        passing = [s for s in _launch_policy(template, role) if "iam:PassRole" in s["Action"]]
        assert len(passing) == 1
        assert passing[0]["Action"] == "iam:PassRole"
        assert passing[0]["Condition"] == {
            "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com", "aws:ResourceTag/platform-stage": "mlops-dev"}
        }


def _comparable(node, project: str):
    """A template part with what legitimately differs made equal: tokens (names, references), tags, CDK metadata."""
    if isinstance(node, dict):
        if len(node) == 1 and (next(iter(node)) == "Ref" or next(iter(node)).startswith("Fn::")):
            return "<token>"
        return {k: _comparable(v, project) for k, v in node.items() if k not in ("Tags", "ResourceTags", "Metadata", "PermissionsBoundary")}
    if isinstance(node, list):
        return [_comparable(v, project) for v in node]
    if isinstance(node, str) and project in node:
        return "<token>"
    return node


def test_a_self_served_project_is_a_configured_project(dev):
    """The project product and a configured project stack are built by the same props factory: the same resources with
    the same settings (the stage's storage lifecycle included), apart from names, references, tags, the subscriptions
    (one per configured address vs the product's one parameter) and the permissions boundary of the product's roles."""
    product = json.loads(next(dev.outdir.glob("*ProjectProductStack*.product.template.json")).read_text())["Resources"]
    # fraud: churn admits its configured label writers too (monitoring.quality.label_writers), which a product has none of
    configured = dev.template(dev.stage.projects["fraud"])["Resources"]
    kinds = lambda resources: sorted(r["Type"] for r in resources.values() if r["Type"] != "AWS::SNS::Subscription")  # noqa: E731
    assert kinds(product) == kinds(configured)
    differing = [
        lid
        for lid in configured
        if configured[lid]["Type"] != "AWS::SNS::Subscription" and _comparable(configured[lid], "fraud") != _comparable(product.get(lid), "fraud")
    ]
    assert differing == []
    lifecycle = configured["ProjectDataBucket1741EDAC"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert {"Id": "expire-noncurrent-versions"}.items() <= lifecycle[0].items() and lifecycle[0]["NoncurrentVersionExpiration"][
        "NoncurrentDays"
    ] == 30


def test_the_launch_role_reaches_only_this_stages_keys_profiles_and_user_roles(template):
    policy = _launch_policy(template, "CatalogLaunchRole")
    by_sid = {s["Sid"]: s for s in policy}
    assert by_sid["CreateProjectKeys"]["Condition"] == {"StringEquals": {"aws:RequestTag/platform-stage": "mlops-dev"}}
    assert by_sid["ManageProjectKeys"]["Condition"] == {"StringEquals": {"aws:ResourceTag/platform-stage": "mlops-dev"}}
    assert json.dumps(by_sid["ManageUserProfiles"]["Resource"]).endswith(':user-profile/d-abcdef123456/*"]]}')
    (roles,) = [s["Resource"] for sid, s in by_sid.items() if sid == "AttachSandboxPolicies"]
    assert json.dumps(roles).endswith(':role/mlops-dev-user-*"]]}')  # not role/mlops-dev-* (which matched the launch role itself)


def test_every_product_carries_the_stage_tagoption_the_launch_roles_require_to_change_a_stack(template):
    """M5: the one TagOption (platform-stage: mlops-dev, the only value of its key, so no launcher chooses another) is on
    each product, whichever portfolio launches it; both launch roles update or delete a stack only with that tag, and tag
    a stack only while creating or updating it."""
    (option_id, option), *others = template.find_resources("AWS::ServiceCatalog::TagOption").items()
    assert others == [] and option["Properties"] == {"Key": "platform-stage", "Value": "mlops-dev", "Active": True}
    associated = sorted(
        json.dumps(a["Properties"]["ResourceId"])
        for a in template.find_resources("AWS::ServiceCatalog::TagOptionAssociation").values()
        if a["Properties"]["TagOptionId"] == {"Ref": option_id}
    )
    products = sorted(json.dumps({"Ref": lid}) for lid in template.find_resources("AWS::ServiceCatalog::CloudFormationProduct"))
    assert associated == products
    for role in ("CatalogLaunchRole", "CatalogLaunchRoleForStudio"):
        by_sid = {s["Sid"]: s for s in _launch_policy(template, role)}
        change = by_sid["ChangeThisStagesStacks"]
        assert change["Condition"] == {
            "StringEquals": {"aws:ResourceTag/platform-stage": "mlops-dev"},
            "StringEqualsIfExists": {"aws:RequestTag/platform-stage": "mlops-dev"},
        }
        unconditioned = {a for s in by_sid.values() if "Condition" not in s for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
        assert (
            unconditioned & {f"cloudformation:{a}" for a in ("UpdateStack", "DeleteStack", "SetStackPolicy", "TagResource", "ExecuteChangeSet")}
            == set()
        )
        assert unconditioned & {"iam:DeleteRole", "iam:UpdateAssumeRolePolicy", "iam:TagRole"} == set()


def test_no_product_template_configures_a_bucket_it_does_not_create(dev):
    """The launch roles' bucket rights are held by name (sc-*, docs/security.md says why not by stage): they are used only
    through a product's stack, so no product may point a bucket setting (a policy, a notification) at a bucket of
    another stack. Every bucket policy names a bucket of its own template, and no custom resource runs code at launch."""
    products = {p.name: json.loads(p.read_text()) for p in dev.outdir.glob("*.product.template.json")}
    assert len(products) == 3
    for name, product in products.items():
        resources = product["Resources"]
        own = {lid for lid, r in resources.items() if r["Type"] == "AWS::S3::Bucket"}
        policies = [r["Properties"]["Bucket"] for r in resources.values() if r["Type"] == "AWS::S3::BucketPolicy"]
        assert all(p in [{"Ref": b} for b in own] for p in policies), (name, policies)
        assert not [r["Type"] for r in resources.values() if r["Type"].startswith("Custom::") or r["Type"] == "AWS::CloudFormation::CustomResource"]
    assert sum(r["Type"] == "AWS::S3::BucketPolicy" for p in products.values() for r in p["Resources"].values()) >= 3


def _launch_policy(template: Template, role_prefix: str) -> list[dict]:
    """Every statement of the role's policies: its inline one and the managed ones CDK moves statements to when the
    inline one grows near IAM's size limit (``...OverflowPolicy``)."""
    roles = [lid for lid in template.find_resources("AWS::IAM::Role") if re.fullmatch(rf"{role_prefix}[0-9A-F]{{8}}", lid)]
    documents = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        for p in template.find_resources(kind).values()
        if p["Properties"].get("Roles") == [{"Ref": r} for r in roles]
    ]
    assert documents
    return [statement for document in documents for statement in document]


def test_the_studio_template_launches_with_a_role_of_its_own_that_reaches_no_user_or_sandbox(template):
    """M5: every Studio user may provision the project template, so its launch role holds the project product's needs
    only: no user profiles, no users' roles, no sandbox policies, parameters under projects/ only."""
    studio = {s["Sid"]: s for s in _launch_policy(template, "CatalogLaunchRoleForStudio")}
    main = {s["Sid"]: s for s in _launch_policy(template, "CatalogLaunchRole")}
    assert {"ManageUserProfiles", "AttachSandboxPolicies", "AttachSandboxWorkPolicies", "ManageSandboxWorkPolicies"} <= set(main)
    assert not {"ManageUserProfiles", "AttachSandboxPolicies", "AttachSandboxWorkPolicies", "ManageSandboxWorkPolicies"} & set(studio)
    assert json.dumps(studio["WritePlatformParameters"]["Resource"]).count("parameter/mlops/dev/") == 1
    assert "/projects/*" in json.dumps(studio["WritePlatformParameters"]["Resource"])
    (constraint,) = [
        c["Properties"]
        for c in template.find_resources("AWS::ServiceCatalog::LaunchRoleConstraint").values()
        if "StudioPortfolio" in json.dumps(c["Properties"]["PortfolioId"])
    ]
    assert "LaunchRoleForStudio" in json.dumps(constraint)


def test_every_role_a_product_creates_carries_the_platforms_boundary(template, dev):
    """The launch roles create, change or attach to an SC-* (product-made) role only with iam:PermissionsBoundary the
    platform's, and every product stack's roles carry it. Unconditioned IAM writes remain on configured users' roles only
    (the sandbox product puts its policy there), never in the Studio template's role."""
    for role in ("CatalogLaunchRole", "CatalogLaunchRoleForStudio"):
        statements = {s["Sid"]: s for s in _launch_policy(template, role)}
        bounded = statements["CreateBoundedProductRoles"]
        assert {"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy"} <= set(bounded["Action"])
        assert json.dumps(bounded["Condition"]["ArnEquals"]["iam:PermissionsBoundary"]).endswith(':policy/mlops-dev-product-role-boundary"]]}')
        writes = {"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy"}
        for sid, st in statements.items():
            actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
            if writes & set(actions) and "Condition" not in st:
                assert (role, sid) == ("CatalogLaunchRole", "AttachSandboxPolicies") and json.dumps(st["Resource"]).endswith(
                    ':role/mlops-dev-user-*"]]}'
                )
    template.has_resource_properties("AWS::IAM::ManagedPolicy", {"ManagedPolicyName": "mlops-dev-product-role-boundary"})
    products = list(dev.outdir.glob("*.product.template.json"))
    roles = [r for product in products for r in json.loads(product.read_text())["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    assert len(roles) == 2  # the project's MLflow role, the user's execution role
    assert all("mlops-dev-product-role-boundary" in json.dumps(r["Properties"]["PermissionsBoundary"]) for r in roles)


def test_product_resources_carry_the_product_tag_the_launch_roles_require_and_the_stage_never_does(dev):
    """Every taggable resource of every product carries platform-stage: mlops-dev from its creating call on (the launch
    roles' key and role statements require it); no stack of the stage's own carries that key, so no launch reaches a
    configured project's key or a configured role."""
    products = [json.loads(p.read_text()) for p in dev.outdir.glob("*.product.template.json")]
    tagged = [r for p in products for r in p["Resources"].values() if "Tags" in r.get("Properties", {})]
    assert len(tagged) > 20
    for resource in tagged:
        tags = resource["Properties"]["Tags"]
        tags = {t["Key"]: t["Value"] for t in tags} if isinstance(tags, list) else tags
        assert tags.get("platform-stage") == "mlops-dev" and tags.get("stage") == "dev", resource["Type"]
    own = [r for t in dev.templates().values() for r in t["Resources"].values() if "Tags" in r.get("Properties", {})]
    assert len(own) > 100 and not [r["Type"] for r in own if "platform-stage" in json.dumps(r["Properties"]["Tags"])]


def test_the_sandbox_product_derives_everything_from_one_user_and_one_project(stack, catalog):
    """The launcher names a user and a project; the role, buckets and key are that user's and that project's published
    parameters (resolved into the sandbox's own), and the sandbox's grants read nothing else."""
    import os

    assembly = stack.node.root.synth()
    (name,) = [f for f in os.listdir(assembly.directory) if "SandboxProductStack" in f and f.endswith(".product.template.json")]
    resources = json.loads(open(os.path.join(assembly.directory, name)).read())["Resources"]
    links = {
        json.dumps(r["Properties"]["Name"]).rsplit("/", 1)[-1].strip('"]}'): r["Properties"]["Value"]
        for lid, r in resources.items()
        if lid.startswith("Links")
    }
    sources = {
        "user-role-arn": ["{{resolve:ssm:/mlops/dev/users/", {"Ref": "UserName"}, "/role-arn}}"],
        **{
            key: ["{{resolve:ssm:/mlops/dev/projects/", {"Ref": "ProjectName"}, f"/{key}}}}}"]
            for key in ("data-bucket-name", "artifacts-bucket-name", "capture-bucket-name", "key-arn")
        },
    }
    assert links == {key: {"Fn::Join": ["", parts]} for key, parts in sources.items()}

    def read(node):
        if isinstance(node, dict):
            if "Ref" in node:
                yield node["Ref"]
            if "Fn::GetAtt" in node:
                yield node["Fn::GetAtt"][0]
            for value in node.values():
                yield from read(value)
        elif isinstance(node, list):
            for value in node:
                yield from read(value)

    (policy,) = [r for r in resources.values() if r["Type"] == "AWS::IAM::Policy"]
    referenced = set(read(policy["Properties"]))
    assert {r for r in referenced if not r.startswith("AWS::")} == {
        "LinksUserRoleArnF4E4589E",
        "LinksDataBucketName53E1FFD7",
        "LinksArtifactsBucketNameA458C32B",
        "LinksKeyArn07719568",
        "SandboxBucket04C1F073",
        "UserName",
    }
    # the managed work policy (the mlops command) links the project's capture bucket: its reports and labels prefixes
    (work,) = [r for r in resources.values() if r["Type"] == "AWS::IAM::ManagedPolicy"]
    assert "LinksCaptureBucketName10E8E152" in set(read(work["Properties"]))


def test_the_project_product_is_a_sagemaker_project_template_listed_in_studio(dev):
    """Studio > Projects > Organization templates (sagemaker-projects-templates-custom): the product tagged
    sagemaker:studio-visibility=true, its template taking SageMakerProjectName and SageMakerProjectId, the
    portfolio open to this stage's Studio users' roles."""
    template = dev.template(dev.stage.self_service)["Resources"]
    products = {r["Properties"]["Name"]: r["Properties"] for r in template.values() if r["Type"] == "AWS::ServiceCatalog::CloudFormationProduct"}
    visible = {name for name, p in products.items() if {"Key": "sagemaker:studio-visibility", "Value": "true"} in p["Tags"]}
    assert visible == {"mlops-dev ML project"}  # the user and sandbox products are not project templates
    (association,) = [r["Properties"] for r in template.values() if r["Type"] == "AWS::ServiceCatalog::PortfolioPrincipalAssociation"]
    assert association["PrincipalType"] == "IAM_PATTERN"  # the dev config shares the main portfolio with nobody
    product = json.loads(next(dev.outdir.glob("*ProjectProductStack*.product.template.json")).read_text())
    name, project_id = product["Parameters"]["SageMakerProjectName"], product["Parameters"]["SageMakerProjectId"]
    assert "Default" not in name and project_id["Default"] == "none"
    bucket = next(r for r in product["Resources"].values() if r["Type"] == "AWS::S3::Bucket")
    assert {"Key": "studio-project-id", "Value": {"Ref": "SageMakerProjectId"}} in bucket["Properties"]["Tags"]
    assert {"Key": "project", "Value": {"Ref": "SageMakerProjectName"}} in bucket["Properties"]["Tags"]
