"""Service Catalog products through which projects, users and sandboxes are self-served."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, CfnParameter, Duration, Tags
from aws_cdk import aws_iam as iam
from aws_cdk import aws_servicecatalog as servicecatalog
from constructs import Construct

from config.naming import Names
from config.parameters import PROJECT_KEYS, SANDBOX_KEYS, STUDIO_KEYS, USER_KEYS, parameter_name
from config.schema import (
    NAME_MAX_LENGTH,
    NAME_PATTERN,
    NAME_RULE,
    PROJECT_NAME_MIN_LENGTH,
    USER_NAME_MIN_LENGTH,
    USER_RULE,
    MlflowConfig,
    StorageConfig,
)
from mlops_constructs.nag import acknowledge_wildcards
from mlops_constructs.project_mlflow import MlflowTracking
from mlops_constructs.project_resources import ProjectResources, ProjectResourcesProps
from mlops_constructs.published_parameters import PublishedParameters, PublishedStudio, resolved_at_deploy, sandbox_sources
from mlops_constructs.sandbox import ProjectWork, Sandbox
from mlops_constructs.service_principals import from_this_account
from mlops_constructs.studio_network import WorkloadNetwork
from mlops_constructs.studio_user import StudioUser, StudioUserProps

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def _ssm_value_parameter(scope: Construct, construct_id: str, *, description: str, default: str | None = None) -> str:
    """A template parameter that names an SSM parameter; CloudFormation passes on its value."""
    return CfnParameter(scope, construct_id, type="AWS::SSM::Parameter::Value<String>", description=description, default=default).value_as_string


def _name_parameter(scope: Construct, construct_id: str, *, rule: str, min_length: int, description: str) -> str:
    """A project or user name, held to the config schema's own rule (``config.schema.NAME_PATTERN``)."""
    return CfnParameter(
        scope,
        construct_id,
        type="String",
        allowed_pattern=NAME_PATTERN,
        min_length=min_length,
        max_length=NAME_MAX_LENGTH,
        constraint_description=f"must be {rule}",
        description=description,
    ).value_as_string


# The parameters a SageMaker project template takes (Studio passes them when a user creates a project there).
STUDIO_PROJECT_NAME, STUDIO_PROJECT_ID = "SageMakerProjectName", "SageMakerProjectId"
STUDIO_VISIBILITY_TAG = ("sagemaker:studio-visibility", "true")  # lists a product under Studio's organization templates


def grant_studio_project_creation(scope: Construct, role: iam.IRole, names: Names) -> iam.ManagedPolicy:
    """Let ``role`` (a configured Studio user's) create SageMaker projects from this stage's project product in Studio,
    through a managed policy of its own in ``scope`` (the role's inline policies are kept for its sandboxes: 10,240 characters).

    Studio lists the organization templates the role may see (``servicecatalog:SearchProducts``, Service Catalog's
    end-user view), reads the chosen one's launch path and parameters, and ``sagemaker:CreateProject`` provisions it
    with the caller's own ``servicecatalog:ProvisionProduct`` (then the launch role builds the stack). The kinds of
    actions are those AWS's ``AmazonSageMakerFullAccess`` grants for projects (Service Catalog's end-user reads and
    provisioning, SageMaker's project calls), narrowed with the Service Authorization Reference's resource types and
    condition keys (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsservicecatalog.html): the
    product actions to products tagged as a Studio template of this platform stage (``Product`` takes ``aws:ResourceTag``),
    so never the sandbox or user product, nor another stage's; the provisioned products' state to the caller's own
    (``servicecatalog:userLevel`` self). Updating, terminating and deleting projects stay with the platform engineers (a
    project's data is retained either way). Not yet exercised against a live Studio.
    """
    arn = f"arn:{Aws.PARTITION}"
    products = f"{arn}:catalog:{Aws.REGION}:{Aws.ACCOUNT_ID}:product/*"
    projects = f"{arn}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:project/*"
    template_tags = {f"aws:ResourceTag/{key}": value for key, value in {**names.tags, STUDIO_VISIBILITY_TAG[0]: STUDIO_VISIBILITY_TAG[1]}.items()}
    statements = [
        iam.PolicyStatement(
            sid="StudioProjectTemplates",
            actions=[
                "servicecatalog:DescribeProduct",
                "servicecatalog:ListLaunchPaths",
                "servicecatalog:DescribeProvisioningParameters",
                "servicecatalog:DescribeProvisioningArtifact",
                "servicecatalog:ProvisionProduct",
            ],
            resources=[products],
            conditions={"StringEquals": template_tags},
        ),
        iam.PolicyStatement(
            sid="StudioProjects", actions=["sagemaker:CreateProject", "sagemaker:DescribeProject", "sagemaker:AddTags"], resources=[projects]
        ),
        iam.PolicyStatement(
            sid="StudioProjectListings",
            actions=["servicecatalog:SearchProducts", "sagemaker:ListProjects", "sagemaker:GetSagemakerServicecatalogPortfolioStatus"],
            resources=["*"],
        ),
        iam.PolicyStatement(
            sid="StudioOwnProvisionedProjects",
            actions=["servicecatalog:DescribeProvisionedProduct", "servicecatalog:DescribeRecord"],
            resources=["*"],
            conditions={"StringEquals": {"servicecatalog:userLevel": "self"}},
        ),
    ]
    policy = iam.ManagedPolicy(
        scope, "StudioProjectsPolicy", description="Create SageMaker projects from the stage's Studio template", statements=statements, roles=[role]
    )
    acknowledge_wildcards(
        policy,
        reason="Studio project templates: product ids and project names are only known at run time; the product actions are "
        "held to this stage's Studio template by its tags, the provisioned products' state to the caller's own "
        "(servicecatalog:userLevel self), and SearchProducts, ListProjects, GetSagemakerServicecatalogPortfolioStatus, "
        "DescribeProvisionedProduct and DescribeRecord support no resource-level permissions",
        resources=[products, projects, "*"],
    )
    return policy


def _email_parameter(scope: Construct, construct_id: str, *, description: str) -> str:
    return CfnParameter(
        scope,
        construct_id,
        type="String",
        allowed_pattern=EMAIL_PATTERN,
        constraint_description="must be an email address",
        description=description,
    ).value_as_string


class ProjectProduct(servicecatalog.ProductStack):
    """Product template: one project's stateful resources (see ``ProjectResources``) and its parameters.

    A SageMaker project template too (Studio > Projects > Organization templates): its name is the
    ``SageMakerProjectName`` parameter and it takes ``SageMakerProjectId``, which Studio passes when a user
    creates a project there (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-projects-templates-custom.html);
    launched from Service Catalog the id is ``none``. Resources carry it as the tag ``studio-project-id``.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, prefix: str, stage: str, storage: StorageConfig, mlflow: MlflowConfig | None = None
    ) -> None:
        super().__init__(scope, construct_id, description="An ML project: key, buckets, image repository, model group, alert topic")
        name = _name_parameter(
            self,
            STUDIO_PROJECT_NAME,
            rule=NAME_RULE,
            min_length=PROJECT_NAME_MIN_LENGTH,
            description="Project name (Studio passes the name given there); also names its model package group",
        )
        project_id = CfnParameter(
            self,
            STUDIO_PROJECT_ID,
            type="String",
            default="none",
            allowed_pattern=r"^(none|[a-zA-Z0-9](-*[a-zA-Z0-9])*)$",  # SageMaker's ProjectId pattern (API_Project), or none
            max_length=20,
            description="The SageMaker project's id, which Studio passes; none when launched from Service Catalog",
        ).value_as_string
        Tags.of(self).add("studio-project-id", project_id)
        email = _email_parameter(self, "AlertEmail", description="Email address for the project's alerts")
        project = ProjectResources(
            self,
            "Project",
            props=ProjectResourcesProps.for_stage(
                names=Names(prefix, stage),
                storage=storage,
                project_name=name,
                alert_emails=[email],
                network=PublishedStudio(self, Names(prefix, stage).studio_parameters).workload_network,
                mlflow=mlflow,
            ),
        )
        PublishedParameters(
            self, "Parameters", path=Names(prefix, stage).project_parameters(name), keys=PROJECT_KEYS, values=project.parameter_values()
        )
        Tags.of(self).add(Names.PROJECT_TAG, name)  # what the project's budget (ProjectResources, default amount) counts


class UserProduct(servicecatalog.ProductStack):
    """Product template: a Studio user profile with its own execution role (see ``StudioUser``)."""

    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, stage: str, https_out: bool = False) -> None:
        super().__init__(scope, construct_id, description="A Studio user profile with its own execution role")
        name = _name_parameter(self, "UserName", rule=USER_RULE, min_length=USER_NAME_MIN_LENGTH, description="Studio user profile name")
        email = _email_parameter(self, "Email", description="The user's email address")
        names = Names(prefix, stage)
        studio = names.studio_parameters
        domain_id = _ssm_value_parameter(
            self, "DomainId", description="SSM parameter holding the Studio domain id", default=parameter_name(studio, STUDIO_KEYS, "domain-id")
        )
        vpc, endpoints_group, s3_prefix_list = (
            _ssm_value_parameter(
                self, construct_id, description=f"SSM parameter holding the {what}", default=parameter_name(studio, STUDIO_KEYS, key)
            )
            for construct_id, what, key in (
                ("VpcId", "Studio VPC's id", "vpc-id"),
                ("EndpointsSecurityGroupId", "VPC endpoints' security group id", "endpoints-security-group-id"),
                ("S3PrefixListId", "Region's S3 prefix list id", "s3-prefix-list-id"),
            )
        )
        user = StudioUser(
            self,
            "User",
            props=StudioUserProps(
                domain_id=domain_id,
                user_name=name,
                email=email,
                network=WorkloadNetwork(vpc, endpoints_group, s3_prefix_list, https_out),
            ),
        )
        PublishedParameters(self, "Parameters", path=names.user_parameters(name), keys=USER_KEYS, values={"role-arn": user.role.role_arn})


class SandboxProduct(servicecatalog.ProductStack):
    """Product template: links one user to one project (see ``Sandbox``).

    The launcher names a user and a project, nothing else: the user's role and the project's buckets and
    key are derived from the SSM parameters that user and project publish, all of the one project named
    (so no launch can mix one project's bucket with another's key, or point "data" at a capture bucket).
    The sandbox publishes what it linked under ``<ns>/sandboxes/<user>/<project>/`` (``SANDBOX_KEYS``):
    CloudFormation resolves the user's and project's parameters into them when it creates them, and the
    sandbox's grants read their values, so an unknown user or project fails the launch naming the parameter.
    """

    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, stage: str, storage: StorageConfig, trains_models: bool = False) -> None:
        super().__init__(scope, construct_id, description="Links one Studio user to one project with a personal sandbox bucket")
        user = _name_parameter(
            self, "UserName", rule=USER_RULE, min_length=USER_NAME_MIN_LENGTH, description="The user's name (the artifacts prefix)"
        )
        project = _name_parameter(
            self, "ProjectName", rule=NAME_RULE, min_length=PROJECT_NAME_MIN_LENGTH, description="The project to link the user to"
        )
        names = Names(prefix, stage)
        Tags.of(self).add(Names.PROJECT_TAG, project)  # a sandbox's costs are its project's
        path = names.sandbox_parameters(user, project)
        links = PublishedParameters(
            self,
            "Links",
            path=path,
            keys=SANDBOX_KEYS,
            values={
                key: resolved_at_deploy(name) for key, name in sandbox_sources(names.user_parameters(user), names.project_parameters(project)).items()
            },
        )
        sandbox = Sandbox.linking(
            self,
            "Sandbox",
            user_name=user,
            linked={key: parameter.string_value for key, parameter in links.parameters.items()},  # GetAtt Value: resolved
            noncurrent_version_expiration=Duration.days(storage.noncurrent_version_expiration_days),
            # in a stage that trains every project publishes an mlflow-arn (its MLflow's, else one of no server)
            work=ProjectWork.of(
                names,
                user,
                project,
                mlflow=MlflowTracking(resolved_at_deploy(parameter_name(names.project_parameters(project), PROJECT_KEYS, "mlflow-arn")), "either")
                if trains_models
                else None,
            ),
        )
        PublishedParameters(
            self,
            "Parameters",
            path=path,
            keys=SANDBOX_KEYS,
            values={"bucket-name": sandbox.bucket.bucket_name, "artifacts-prefix": sandbox.artifacts_prefix},
        )


@dataclass(frozen=True)
class SelfServiceCatalogProps:
    """Props of :class:`SelfServiceCatalog`."""

    prefix: str
    stage: str
    storage: StorageConfig
    principal_role_arns: list[str]
    domain_id: str  # the stage's Studio domain: user profiles are created and changed in it only
    vpc_id: str  # the stage's VPC: products create and change security groups in it only
    mlflow: MlflowConfig | None = None  # a self-served project's MLflow (the schema's default, in the stages that train)
    studio_https_out: bool = False  # a self-served user's apps may send HTTPS out (PlatformConfig.studio_https_out)


def product_role_boundary_statements() -> list[iam.PolicyStatement]:
    """The permissions boundary of every role a product creates (a Studio user's execution role, with what its sandboxes
    attach; a project's MLflow role): the services the platform's workloads use, and never IAM, Organizations or a key's
    or bucket's policy, whatever a product's own policies grant."""
    return [
        iam.PolicyStatement(
            sid="PlatformServices",
            actions=[
                "sagemaker:Create*",
                "sagemaker:Describe*",
                "sagemaker:List*",
                "sagemaker:Search",
                "sagemaker:Update*",
                "sagemaker:Delete*",
                "sagemaker:Start*",
                "sagemaker:Stop*",
                "sagemaker:AddTags",
                "sagemaker:Get*",
                "sagemaker:Batch*",
                "sagemaker:InvokeEndpoint*",
                "sagemaker:CallMlflowAppApi",
                "sagemaker-mlflow:Get*",
                "sagemaker-mlflow:Search*",
                "sagemaker-mlflow:List*",
                "sagemaker-mlflow:Create*",
                "sagemaker-mlflow:Log*",
                "sagemaker-mlflow:Update*",
                "sagemaker-mlflow:Delete*",
                "sagemaker-mlflow:Set*",
                "sagemaker-mlflow:Restore*",
                "sagemaker-mlflow:Rename*",
                "sagemaker-mlflow:Transition*",
                "sagemaker-mlflow:AccessUI",
                "s3:Get*",
                "s3:List*",
                "s3:PutObject*",
                "s3:DeleteObject*",
                "s3:AbortMultipartUpload",
                "kms:Decrypt",
                "kms:Encrypt",
                "kms:GenerateDataKey*",
                "kms:ReEncrypt*",
                "kms:DescribeKey",
                "kms:CreateGrant",
                "ssm:GetParameter*",
                "ecr:GetAuthorizationToken",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchCheckLayerAvailability",
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:Describe*",
                "logs:GetLogEvents",
                "cloudwatch:PutMetricData",
                "cloudwatch:GetMetric*",
                "cloudwatch:ListMetrics",
                "servicecatalog:Describe*",
                "servicecatalog:List*",
                "servicecatalog:Search*",
                "servicecatalog:ProvisionProduct",
                "ec2:Describe*",
                "ec2:CreateNetworkInterface",
                "ec2:CreateNetworkInterfacePermission",
                "ec2:DeleteNetworkInterface",
                "ec2:DeleteNetworkInterfacePermission",
                "sts:GetCallerIdentity",
                "iam:PassRole",
            ],
            resources=["*"],
        ),
    ]


class SelfServiceCatalog(Construct):
    """A Service Catalog portfolio offering the project, user and sandbox as products.

    Deploys:
    - ``portfolio``, shared with the IAM roles in ``principal_role_arns`` (default: none; nobody can
      launch anything until roles are listed). Whoever can launch the sandbox product can link a user
      to any project, so list the roles of people entitled to grant data access.
    - Three ``CloudFormationProduct``s built from ``ProductStack``s that reuse the very constructs the
      CDK stacks use (``ProjectResources``, ``StudioUser``, ``Sandbox``), with the same props factory
      (``ProjectResourcesProps.for_stage``, the stage's ``storage`` lifecycle settings), so a self-served
      project is the same as a configured one (a test compares the two templates).
    - ``launch_role``: the role Service Catalog provisions with (a launch constraint on each product),
      so launching needs no broad permissions of the user. It may create and change only what the
      products contain, on resources named by Service Catalog (``SC-*`` stacks, ``sc-*`` buckets of
      this account) or by the platform (``<prefix>-<stage>-*``); it changes or deletes only stacks that
      carry this stage's TagOption (``Names.stack_tags``), and only roles, keys and the other resources
      whose later calls it makes that carry the same tag, which the product templates set and the
      stage's own stacks never carry; it attaches sandbox policies only to roles of this platform stage,
      and makes security groups in the stage's VPC only. Stacks provisioned before the TagOption existed
      get it from ``tools/tag_provisioned_stacks.py``. ``tests/fidelity/test_launch_handlers.py`` holds
      that every call CloudFormation makes for a product is allowed.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: SelfServiceCatalogProps) -> None:
        super().__init__(scope, construct_id)
        prefix, stage, storage, principal_role_arns = props.prefix, props.stage, props.storage, props.principal_role_arns
        self._domain_id, self._vpc_id = props.domain_id, props.vpc_id
        names = Names(prefix, stage)

        self.portfolio = servicecatalog.Portfolio(
            self,
            "Portfolio",
            display_name=names.portfolio,
            provider_name="ML platform team",
            description="Self-service ML projects, Studio users and project sandboxes",
        )
        for i, arn in enumerate(principal_role_arns):
            self.portfolio.give_access_to_role(iam.Role.from_role_arn(self, f"Principal{i}", arn, mutable=False))

        self.role_boundary = iam.ManagedPolicy(
            self,
            "ProductRoleBoundary",
            managed_policy_name=names.product_role_boundary,
            description="The most any role a self-service product creates may do (its permissions boundary)",
            statements=product_role_boundary_statements(),
        )
        acknowledge_wildcards(
            self.role_boundary,
            reason="A permissions boundary is a ceiling, not a grant: it names the services a product's roles (a Studio user's "
            "execution role with its sandboxes, a project's MLflow role) may ever use; their own policies scope the resources.",
            actions=[a for st in product_role_boundary_statements() for a in st.actions if "*" in a],
            resources=["*"],
        )
        self.launch_role = iam.Role(
            self,
            "LaunchRole",
            description="Service Catalog provisions the ML platform's products with this role",
            assumed_by=from_this_account("servicecatalog.amazonaws.com"),
        )
        self._grant_launch_permissions(self.launch_role, prefix, stage, project_only=False)
        # What every Studio user may launch (the project template) gets a role of its own: the project product's needs only
        self.studio_launch_role = iam.Role(
            self,
            "LaunchRoleForStudio",
            description="Service Catalog provisions the Studio project template (the project product) with this role",
            assumed_by=from_this_account("servicecatalog.amazonaws.com"),
        )
        self._grant_launch_permissions(self.studio_launch_role, prefix, stage, project_only=True)

        template_kwargs = {
            "Project": {"prefix": prefix, "stage": stage, "storage": storage, "mlflow": props.mlflow},
            "User": {"prefix": prefix, "stage": stage, "https_out": props.studio_https_out},
            "Sandbox": {"prefix": prefix, "stage": stage, "storage": storage, "trains_models": props.mlflow is not None},
        }
        products = {
            "Project": (ProjectProduct, "ML project", "Key, data/artifacts/capture buckets, ECR repository, model package group, alert topic"),
            "User": (UserProduct, "Studio user", "A Studio user profile with its own execution role"),
            "Sandbox": (SandboxProduct, "Project sandbox", "Gives one user read on a project's data and a personal sandbox bucket"),
        }
        # Service Catalog applies a product's TagOptions to the stack it provisions ("TagOptions are a tagging feature that
        # AWS Service Catalog applies to provisioned products at the CloudFormation stack level":
        # https://docs.aws.amazon.com/servicecatalog/latest/adminguide/tagoption-policies.html); one value per key is no
        # choice for the launcher (https://docs.aws.amazon.com/servicecatalog/latest/adminguide/tagoptions-launching.html).
        # The launch roles change or delete only stacks so tagged. On the products, not a portfolio: both launch paths
        # (the main portfolio and the Studio users' one) carry it.
        self.stack_tag_options = servicecatalog.TagOptions(self, "StackTag", allowed_values_for_tags={k: [v] for k, v in names.stack_tags.items()})
        self.products: dict[str, servicecatalog.CloudFormationProduct] = {}
        for key, (stack_class, product_name, description) in products.items():
            product = servicecatalog.CloudFormationProduct(
                self,
                f"{key}Product",
                product_name=names.product(product_name),
                owner="ML platform team",
                description=description,
                tag_options=self.stack_tag_options,
                product_versions=[
                    servicecatalog.CloudFormationProductVersion(
                        product_version_name="v1",
                        cloud_formation_template=servicecatalog.CloudFormationTemplate.from_product_stack(
                            product_stack := stack_class(self, f"{key}ProductStack", **template_kwargs[key])
                        ),
                    )
                ],
            )
            # the stage's tags, and the product tag (the TagOption's key and value, set in the template too so that every
            # resource carries it from its creating call on): the launch roles' key, role statements require it, and the
            # stage's own stacks never carry it, so no launch reaches a configured project's key or a configured role
            for key_, value in {**names.tags, **names.stack_tags}.items():
                Tags.of(product_stack).add(key_, value)
            # every role the product creates carries the platform's boundary (the launch roles may create no other)
            iam.PermissionsBoundary.of(product_stack).apply(
                iam.ManagedPolicy.from_managed_policy_name(product_stack, "RoleBoundary", names.product_role_boundary)
            )
            if key == "Project":  # a SageMaker project template: listed in Studio
                Tags.of(product).add(*STUDIO_VISIBILITY_TAG)
            self.portfolio.add_product(product)
            self.portfolio.set_launch_role(product, self.launch_role)
            self.products[key] = product

        # Studio lists the project templates of the portfolios a user's execution role may use. The project product
        # alone goes to this stage's configured Studio users (a role-name pattern: users come and go), in a portfolio
        # of its own: the main one holds the sandbox product, which links anyone to any project's data.
        self.studio_portfolio = servicecatalog.Portfolio(
            self,
            "StudioPortfolio",
            display_name=f"{names.portfolio} (Studio projects)",
            provider_name="ML platform team",
            description="ML projects Studio users may create (Studio > Projects > Organization templates)",
        )
        self.studio_portfolio.add_product(self.products["Project"])
        self.studio_portfolio.set_launch_role(self.products["Project"], self.studio_launch_role)
        self.studio_users_access = servicecatalog.CfnPortfolioPrincipalAssociation(
            self,
            "StudioUsers",
            portfolio_id=self.studio_portfolio.portfolio_id,
            principal_arn=f"arn:{Aws.PARTITION}:iam:::role/{names.user_role_pattern}",
            principal_type="IAM_PATTERN",
        )

    def _grant_launch_permissions(self, role: iam.Role, prefix: str, stage: str, *, project_only: bool) -> None:
        """Each statement: (sid, actions, resources, why its wildcards are needed, conditions); ``project_only``: the
        statements the project product needs, and none of the user's or the sandbox's (profiles, users' roles)."""
        arn = f"arn:{Aws.PARTITION}"
        region_account = f"{Aws.REGION}:{Aws.ACCOUNT_ID}"
        names = Names(prefix, stage)
        sc_named = "Service Catalog names provisioned stacks SC-<account>-pp-<id>; CloudFormation derives the physical names from it"
        stacks = [f"{arn}:cloudformation:{region_account}:stack/SC-*"]
        this_stages = {f"aws:ResourceTag/{k}": v for k, v in names.stack_tags.items()}  # the resource is this stage's product's
        tagged_so = {f"aws:RequestTag/{k}": v for k, v in names.stack_tags.items()}  # the call tags it as one
        # A call that only an update or a termination makes, or another resource's creation (which CloudFormation starts
        # once the resource it names exists, tags and all), needs the resource tagged as this stage's products'; a call
        # of a resource's own creation does not (AWS does not document whether a handler tags before it configures).
        products_only = {"StringEquals": this_stages}
        later = "; changed or removed only if tagged as this stage's products' (no configured project's, no other team's)"
        statements: list[tuple[str, list[str], list[str], str, dict | None]] = [
            (
                "CreateStacks",
                ["cloudformation:CreateStack"],
                stacks,
                sc_named + "; a new stack changes no other (the tag that lets the roles change it later is the product's "
                "TagOption, which Service Catalog puts on the stack)",
                None,
            ),
            (
                # If CloudFormation authorizes the tags a CreateStack or UpdateStack sets as cloudformation:TagResource (its
                # cloudformation:CreateAction key "controls which APIs IAM users can use to add or remove tags on a stack":
                # https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscloudformation.html), only so;
                # TagResource on its own (which could plant this stage's tag on another stack) is never allowed
                "TagStacksAsTheyAreMade",
                ["cloudformation:TagResource"],
                stacks,
                sc_named + "; only as part of creating or updating a stack (cloudformation:CreateAction)",
                {"StringEquals": {"cloudformation:CreateAction": ["CreateStack", "UpdateStack"]}},
            ),
            (
                "ReadStacks",
                ["cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents", "cloudformation:DescribeChangeSet"],
                stacks,
                sc_named + "; reads only",
                None,
            ),
            (
                "ChangeThisStagesStacks",
                [
                    "cloudformation:UpdateStack",
                    "cloudformation:DeleteStack",
                    "cloudformation:SetStackPolicy",
                    "cloudformation:CreateChangeSet",
                    "cloudformation:ExecuteChangeSet",
                    "cloudformation:DeleteChangeSet",
                ],
                stacks,
                sc_named + f"; only stacks that carry this stage's TagOption ({', '.join(f'{k}: {v}' for k, v in names.stack_tags.items())}), "
                "so a product of another stage or team is never changed, and an update never moves the tag to another stage",
                {
                    "StringEquals": this_stages,
                    "StringEqualsIfExists": tagged_so,
                },
            ),
            (
                "ReadTemplates",
                ["cloudformation:GetTemplateSummary", "cloudformation:ValidateTemplate"],
                ["*"],
                "GetTemplateSummary and ValidateTemplate support no resource-level permissions",
                None,
            ),
            (
                "ReadProvisioningTemplates",
                ["s3:GetObject"],
                ["*"],
                "Service Catalog keeps product templates in buckets of its own; limited to objects tagged for provisioning",
                {"StringEquals": {"s3:ExistingObjectTag/servicecatalog:provisioning": "true"}},
            ),
            (
                "ReadPlatformParameters",
                ["ssm:GetParameters", "ssm:GetParameter"],
                [f"{arn}:ssm:{region_account}:parameter/{prefix}/{stage}/*"],
                "Products read the SSM parameters of this platform stage only (domain, users, projects)",
                None,
            ),
            (
                "WritePlatformParameters",
                ["ssm:PutParameter", "ssm:AddTagsToResource"],
                [
                    f"{arn}:ssm:{region_account}:parameter/{prefix}/{stage}/projects/*",
                    f"{arn}:ssm:{region_account}:parameter/{prefix}/{stage}/users/*",
                    f"{arn}:ssm:{region_account}:parameter/{prefix}/{stage}/sandboxes/*",
                ],
                "Project, user and sandbox products publish their parameters under this stage's projects/, users/ and sandboxes/ paths",
                None,
            ),
            (
                "RemovePlatformParameters",
                ["ssm:DeleteParameter", "ssm:RemoveTagsFromResource"],
                [
                    f"{arn}:ssm:{region_account}:parameter/{prefix}/{stage}/projects/*",
                    f"{arn}:ssm:{region_account}:parameter/{prefix}/{stage}/users/*",
                    f"{arn}:ssm:{region_account}:parameter/{prefix}/{stage}/sandboxes/*",
                ],
                "The products' parameters" + later,
                products_only,
            ),
            (
                "CreateProductBuckets",
                ["s3:CreateBucket"],
                [f"{arn}:s3:::sc-*"],
                sc_named + " (lower-cased for buckets); a new bucket changes no other",
                None,
            ),
            (
                "ManageProductBuckets",
                [
                    "s3:GetBucketLocation",
                    "s3:GetBucketPolicy",
                    "s3:PutBucketPolicy",
                    "s3:GetEncryptionConfiguration",
                    "s3:PutEncryptionConfiguration",
                    "s3:GetBucketVersioning",
                    "s3:PutBucketVersioning",
                    "s3:GetLifecycleConfiguration",
                    "s3:PutLifecycleConfiguration",
                    "s3:GetBucketPublicAccessBlock",
                    "s3:PutBucketPublicAccessBlock",
                    "s3:GetBucketOwnershipControls",
                    "s3:PutBucketOwnershipControls",
                    "s3:GetBucketLogging",
                    "s3:PutBucketLogging",
                    "s3:GetBucketNotification",
                    "s3:PutBucketNotification",
                    "s3:GetBucketTagging",
                    "s3:PutBucketTagging",
                    "s3:ListBucket",
                    "s3:DeleteBucketPolicy",
                ],
                [f"{arn}:s3:::sc-*"],
                sc_named + " (lower-cased for buckets), in this account (a bucket ARN names no account: s3:ResourceAccount)",
                {"StringEquals": {"s3:ResourceAccount": Aws.ACCOUNT_ID}},
            ),
            (
                "CreateProjectKeys",
                ["kms:CreateKey"],
                ["*"],
                "kms:CreateKey supports no resource-level permissions; only keys tagged at creation as this stage's products'",
                {"StringEquals": tagged_so},
            ),
            (
                "ManageProjectKeys",
                [
                    "kms:DescribeKey",
                    "kms:EnableKeyRotation",
                    "kms:GetKeyRotationStatus",
                    "kms:PutKeyPolicy",
                    "kms:GetKeyPolicy",
                    "kms:UpdateKeyDescription",
                    "kms:TagResource",
                    "kms:UntagResource",
                    "kms:ListResourceTags",
                    "kms:CreateGrant",
                    "kms:RetireGrant",
                    "kms:GenerateDataKey*",
                    "kms:Decrypt",
                ],
                [f"{arn}:kms:{region_account}:key/*"],
                "Key ids are random and only known after CreateKey, so keys are held by the tag set at creation (this stage's "
                "products' only, never a configured project's); GenerateDataKey* covers the variants SNS and ECR use while "
                "CloudFormation sets up encrypted topics and repositories",
                products_only,
            ),
            (
                "ManageProjectRepositories",
                [
                    "ecr:CreateRepository",
                    "ecr:DescribeRepositories",
                    "ecr:PutLifecyclePolicy",
                    "ecr:TagResource",
                    "ecr:SetRepositoryPolicy",
                ],
                [f"{arn}:ecr:{region_account}:repository/{names.repository('*')}"],
                "A self-served project's repository is named <prefix>-<stage>-<project>, as a configured one's (whose existing "
                "name a launch cannot take: CreateRepository refuses it); its creation sets its lifecycle and policy",
                None,
            ),
            (
                "ChangeProductRepositories",
                ["ecr:PutImageScanningConfiguration", "ecr:PutImageTagMutability", "ecr:UntagResource"],
                [f"{arn}:ecr:{region_account}:repository/{names.repository('*')}"],
                "A self-served project's repository" + later,
                products_only,
            ),
            (
                "ManageModelPackageGroups",
                [
                    "sagemaker:CreateModelPackageGroup",
                    "sagemaker:DescribeModelPackageGroup",
                    "sagemaker:AddTags",
                    "sagemaker:ListTags",
                ],
                [f"{arn}:sagemaker:{region_account}:model-package-group/{names.model_package_group('*')}"],
                "Model package groups of self-served projects are named <prefix>-<stage>-<project>",
                None,
            ),
            (
                "ChangeProductModelPackageGroups",
                ["sagemaker:DeleteTags"],
                [f"{arn}:sagemaker:{region_account}:model-package-group/{names.model_package_group('*')}"],
                "A self-served project's model package group" + later,
                products_only,
            ),
            (
                "ManageAlertTopics",
                [
                    "sns:CreateTopic",
                    "sns:GetTopicAttributes",
                    "sns:TagResource",
                    "sns:ListTagsForResource",
                    "sns:ListSubscriptionsByTopic",
                    "sns:Unsubscribe",
                    "sns:GetSubscriptionAttributes",
                    "sns:SetSubscriptionAttributes",
                ],
                [f"{arn}:sns:{region_account}:SC-*"],
                sc_named + " (a subscription's calls name the topic it is of)",
                None,
            ),
            (
                "ChangeProductTopics",
                ["sns:SetTopicAttributes", "sns:Subscribe", "sns:DeleteTopic", "sns:UntagResource"],
                [f"{arn}:sns:{region_account}:SC-*"],
                sc_named + "; a topic's policy and subscribers set by its own policy and subscription resources" + later,
                products_only,
            ),
            (
                "ManageProjectBudgets",
                ["budgets:ModifyBudget", "budgets:ViewBudget", "budgets:TagResource", "budgets:UntagResource", "budgets:ListTagsForResource"],
                [f"{arn}:budgets::{Aws.ACCOUNT_ID}:budget/{names.budget('*')}"],
                "Budgets of self-served projects are named <prefix>-<stage>-<project>-monthly",
                None,
            ),
            (
                "ReadSecurityGroups",
                ["ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules", "ec2:DescribeInstances"],
                ["*"],
                "DescribeSecurityGroups, DescribeSecurityGroupRules and DescribeInstances (a group's delete checks it has no "
                "instance) support no resource-level permissions",
                None,
            ),
            (
                "CreateSecurityGroupsInThisStagesVpc",
                ["ec2:CreateSecurityGroup"],
                [f"{arn}:ec2:{region_account}:vpc/{self._vpc_id}", f"{arn}:ec2:{region_account}:security-group/*"],
                "A project's job and model groups and a user's apps group, in this stage's VPC only (a new group's id is "
                "random, so its ARN is not known beforehand)",
                None,
            ),
            (
                "ManageSecurityGroupsInThisStagesVpc",
                [
                    "ec2:AuthorizeSecurityGroupIngress",
                    "ec2:AuthorizeSecurityGroupEgress",
                    "ec2:RevokeSecurityGroupIngress",
                    "ec2:RevokeSecurityGroupEgress",
                    "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
                    "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
                    "ec2:DeleteSecurityGroup",
                    "ec2:CreateTags",
                    "ec2:DeleteTags",
                ],
                [f"{arn}:ec2:{region_account}:security-group/*"],
                "Group ids are random: held to groups in this stage's VPC (ec2:Vpc), whatever their tags, since CloudFormation "
                "may set a group's rules before its tags",
                {"ArnEquals": {"ec2:Vpc": f"{arn}:ec2:{region_account}:vpc/{self._vpc_id}"}},
            ),
            (
                "ManageUserProfiles",
                [
                    "sagemaker:CreateUserProfile",
                    "sagemaker:DescribeUserProfile",
                    "sagemaker:AddTags",
                    "sagemaker:ListTags",
                ],
                [f"{arn}:sagemaker:{region_account}:user-profile/{self._domain_id}/*"],
                "User profiles of this stage's domain, named by the launcher",
                None,
            ),
            (
                "ChangeUserProfiles",
                ["sagemaker:UpdateUserProfile", "sagemaker:DeleteTags"],
                [f"{arn}:sagemaker:{region_account}:user-profile/{self._domain_id}/*"],
                "Self-served user profiles of this stage's domain (never a configured user's: a profile names the role its apps run with)" + later,
                products_only,
            ),
            (
                "CreateBoundedProductRoles",
                ["iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy"],
                [f"{arn}:iam::{Aws.ACCOUNT_ID}:role/SC-*"],
                sc_named + "; only a role that carries the platform's boundary (iam:PermissionsBoundary), so no product role can "
                "outgrow it, whatever a template asks",
                {"ArnEquals": {"iam:PermissionsBoundary": f"{arn}:iam::{Aws.ACCOUNT_ID}:policy/{names.product_role_boundary}"}},
            ),
            (
                "ReadProductRoles",
                ["iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies"],
                [f"{arn}:iam::{Aws.ACCOUNT_ID}:role/SC-*"],
                sc_named + "; reads only",
                None,
            ),
            (
                "ManageThisStagesProductRoles",
                ["iam:DeleteRole", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole", "iam:UpdateRoleDescription", "iam:TagRole", "iam:UntagRole"],
                [f"{arn}:iam::{Aws.ACCOUNT_ID}:role/SC-*"],
                sc_named + "; only roles tagged as this stage's products' (the product templates tag every resource so), never "
                "another product's role: a role's trust decides who may use it",
                products_only,
            ),
            (
                "TagProductRolesAsTheyAreMade",
                ["iam:TagRole"],
                [f"{arn}:iam::{Aws.ACCOUNT_ID}:role/SC-*"],
                sc_named + "; the tags CreateRole sets, which must be this stage's products'",
                {"StringEquals": tagged_so},
            ),
            (
                "ManageProjectMlflow",
                [
                    "sagemaker:CreateMlflowApp",
                    "sagemaker:DescribeMlflowApp",
                    "sagemaker:AddTags",
                    "sagemaker:ListTags",
                ],
                [f"{arn}:sagemaker:{region_account}:mlflow-app/*"],
                "A self-served project's serverless MLflow: its ARN carries an id SageMaker makes (the name is "
                "<prefix>-<stage>-<project>); retained on termination, never deleted by the launch role",
                None,
            ),
            (
                "ChangeProjectMlflow",
                ["sagemaker:UpdateMlflowApp", "sagemaker:DeleteTags"],
                [f"{arn}:sagemaker:{region_account}:mlflow-app/*"],
                "A self-served project's serverless MLflow" + later,
                products_only,
            ),
            (
                "ManageSandboxWorkPolicies",
                [
                    "iam:CreatePolicy",
                    "iam:DeletePolicy",
                    "iam:GetPolicy",
                    "iam:GetPolicyVersion",
                    "iam:ListPolicyVersions",
                    "iam:CreatePolicyVersion",
                    "iam:DeletePolicyVersion",
                    "iam:ListEntitiesForPolicy",
                ],
                [f"{arn}:iam::{Aws.ACCOUNT_ID}:policy/SC-*"],
                sc_named + "; a sandbox's mlops work, a managed policy of its own",
                None,
            ),
            (
                "AttachSandboxWorkPolicies",
                ["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
                [f"{arn}:iam::{Aws.ACCOUNT_ID}:role/SC-*", f"{arn}:iam::{Aws.ACCOUNT_ID}:role/{names.user_role_pattern}"],
                "A sandbox attaches its work policy, and only a Service Catalog-named policy (iam:PolicyARN), to its user's "
                "role: a self-served user's SC-* role or a configured user's",
                {"ArnLike": {"iam:PolicyARN": f"{arn}:iam::{Aws.ACCOUNT_ID}:policy/SC-*"}},
            ),
            (
                "PassProductRolesToSageMaker",
                ["iam:PassRole"],
                [f"{arn}:iam::{Aws.ACCOUNT_ID}:role/SC-*"],
                sc_named + "; the user product hands its execution role, the project its MLflow role, to SageMaker only, and "
                "only a role tagged as this stage's products'",
                {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com", **this_stages}},
            ),
            (
                "AttachSandboxPolicies",
                ["iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:GetRolePolicy"],
                [f"{arn}:iam::{Aws.ACCOUNT_ID}:role/{names.user_role_pattern}"],
                "Sandboxes attach their policy to the execution roles of this stage's configured users, named after their "
                "<prefix>-<stage>-user-<user> stacks (self-served users' roles are SC-* roles, above)",
                None,
            ),
        ]
        not_for_projects = {
            "ManageUserProfiles",
            "ChangeUserProfiles",
            "ManageSandboxWorkPolicies",
            "AttachSandboxWorkPolicies",
            "AttachSandboxPolicies",
        }
        for sid, actions, resources, reason, conditions in statements:
            if project_only and sid in not_for_projects:
                continue
            if project_only and sid in ("WritePlatformParameters", "RemovePlatformParameters"):
                resources = [r for r in resources if r.endswith("/projects/*")]
            role.add_to_principal_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources, conditions=conditions))
            acknowledge_wildcards(role, reason=f"{sid}: {reason}.", actions=actions, resources=resources)
