"""StudioUser: a user profile with its own execution role that reaches no data by itself."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Template

from mlops_constructs.studio_network import STUDIO_PORTS, WorkloadNetwork
from mlops_constructs.studio_user import StudioUser, StudioUserProps

NETWORK = WorkloadNetwork("vpc-0123456789abcdef0", "sg-0e0e0e0e0e0e0e0e0", "pl-63a5400a")


def _template(stack) -> Template:
    StudioUser(stack, "Alice", props=StudioUserProps(domain_id="d-abc123", user_name="alice", email="alice@example.com", network=NETWORK))
    return Template.from_stack(stack)


def test_user_profile_uses_its_own_role_and_is_retained(stack):
    t = _template(stack)
    profile = next(iter(t.find_resources("AWS::SageMaker::UserProfile").values()))
    assert profile["DeletionPolicy"] == "Retain"
    props = profile["Properties"]
    assert props["DomainId"] == "d-abc123" and props["UserProfileName"] == "alice"
    assert props["UserSettings"]["ExecutionRole"]["Fn::GetAtt"][0].startswith("AliceExecutionRole")
    ((group_id,),) = [props["UserSettings"]["SecurityGroups"]]
    assert group_id["Fn::GetAtt"][0].startswith("AliceAppsSecurityGroup")  # its own, not the domain's
    assert {"Key": "owner-email", "Value": "alice@example.com"} in props["Tags"]


def test_role_alone_reaches_no_bucket_or_key(stack):
    t = _template(stack)
    statements = [s for p in t.find_resources("AWS::IAM::Policy").values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions and all(a.startswith("sagemaker:") for a in actions)
    scoped = [s for s in statements if s["Resource"] != "*"]
    for s in scoped:
        for resource in s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]:
            assert "d-abc123" in str(resource)  # this domain only


def test_jupyterlab_suggests_the_repositories_of_the_users_projects(stack):
    """The config picks the repositories of the projects the user has a sandbox in; the profile suggests exactly those."""
    import yaml

    from config.loader import parse_config

    raw = yaml.safe_load(open("config/dev.yaml").read())
    raw["account_already_uses"] = ["codecommit"]  # CodeCommit is closed to new customers (config.schema.CLOSED_FEATURES)
    for project in raw["projects"]:
        project["git"] = {"url": f"https://git-codecommit.us-east-1.amazonaws.com/v1/repos/{project['name']}-models"}
    config = parse_config(yaml.safe_dump(raw), source="dev.yaml")
    # alice has a sandbox in churn only: churn's repository, not fraud's
    urls = config.git_repositories("alice")
    assert urls == ["https://git-codecommit.us-east-1.amazonaws.com/v1/repos/churn-models"]
    props = StudioUserProps(domain_id="d-1", user_name="alice", email="a@example.com", network=NETWORK, code_repositories=tuple(urls))
    StudioUser(stack, "U", props=props)
    (profile,) = Template.from_stack(stack).find_resources("AWS::SageMaker::UserProfile").values()
    assert profile["Properties"]["UserSettings"]["JupyterLabAppSettings"]["CodeRepositories"] == [{"RepositoryUrl": urls[0]}]


def test_more_repositories_than_jupyterlab_takes_is_an_error(stack):
    from mlops_constructs.studio_user import MAX_CODE_REPOSITORIES

    urls = tuple(f"https://github.com/org/repo{i}.git" for i in range(MAX_CODE_REPOSITORIES + 1))
    with pytest.raises(ValueError, match="at most 10"):
        StudioUser(stack, "U", props=StudioUserProps(domain_id="d-1", user_name="u", email="u@example.com", network=NETWORK, code_repositories=urls))


def test_each_users_apps_admit_only_that_users_apps(dev):
    """M3: one shared group let any service a user ran on a high port reach every other user's apps. Each user's apps
    now have a group of their own, admitting its own members on Studio's documented ports only."""
    for user in ("alice", "bob"):
        template = dev.templates()[f"mlops-dev-user-{user}"]["Resources"]
        (profile,) = [r for r in template.values() if r["Type"] == "AWS::SageMaker::UserProfile"]
        ((group,),) = [profile["Properties"]["UserSettings"]["SecurityGroups"]]
        logical = group["Fn::GetAtt"][0]
        ingress = [r["Properties"] for r in template.values() if r["Type"] == "AWS::EC2::SecurityGroupIngress"]
        assert ingress and all(i["SourceSecurityGroupId"] == {"Fn::GetAtt": [logical, "GroupId"]} for i in ingress)  # itself only
        assert sorted((i["FromPort"], i["ToPort"]) for i in ingress) == sorted((low, high) for low, high, _ in STUDIO_PORTS)
        assert "SecurityGroupIngress" not in template[logical]["Properties"]  # no inline rule from anywhere else
