"""Isolation: a sandbox's policy names only its own project's buckets and key, and nothing grants * on *."""

from __future__ import annotations

import json

import pytest


def _policy_statements(template: dict) -> list[dict]:
    return [
        s
        for r in template["Resources"].values()
        if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]


def _ssm_parameter_names(template: dict) -> dict[str, str]:
    return {name: p["Default"] for name, p in template.get("Parameters", {}).items() if p["Type"].startswith("AWS::SSM::Parameter::Value")}


@pytest.mark.parametrize(
    ("sandbox", "own", "other"), [("mlops-dev-sandbox-alice-churn", "churn", "fraud"), ("mlops-dev-sandbox-bob-fraud", "fraud", "churn")]
)
def test_sandbox_policy_references_only_its_own_project(dev, sandbox, own, other):
    template = dev.templates()[sandbox]
    parameters = _ssm_parameter_names(template)
    project_parameters = {k: v for k, v in parameters.items() if "/projects/" in v}
    assert sorted(project_parameters.values()) == sorted(
        f"/mlops/dev/projects/{own}/{key}" for key in ("artifacts-bucket-name", "capture-bucket-name", "data-bucket-name", "key-arn", "mlflow-arn")
    )
    statements = json.dumps(_policy_statements(template))
    referenced = {name for name in parameters if name in statements}
    # Every resource the policy names comes from its own project's parameters or this stack's own bucket.
    assert {p for p in referenced if p in project_parameters} == set(project_parameters)  # data, artifacts, key, MLflow
    assert other not in statements
    for s in _policy_statements(template):
        for resource in s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]:
            text = json.dumps(resource)
            if s["Action"] == "sagemaker:ListModelPackages":  # authorized on no resource: names and statuses only
                assert resource == "*"
                continue
            # this project's parameters, bucket and key, this sandbox's bucket, or what the mlops command reaches by name:
            # the project's parameters (every stage's endpoint), its pipeline's guard and runs, its model packages
            named = (f"/projects/{own}/", f"/sandboxes/alice/{own}/", f"/sandboxes/bob/{own}/", f"mlops-dev-{own}-", f"mlops-dev-{own}/")
            if s["Action"] == ["codecommit:GitPull", "codecommit:GitPush"]:  # the project's own repository (config: its git.url)
                from config import load_config

                git = load_config("dev").project(own).git
                assert git is not None and git.codecommit is not None and resource.endswith(f":{git.codecommit[1]}")
                continue
            assert any(p in text for p in project_parameters) or "SandboxBucket" in text or any(n in text for n in named), text


def test_sandbox_user_is_its_own(dev):
    template = dev.templates()["mlops-dev-sandbox-alice-churn"]
    users = [v for v in _ssm_parameter_names(template).values() if "/users/" in v]
    assert users == ["/mlops/dev/users/alice/role-arn"]


def test_users_reach_no_project_without_a_sandbox(dev):
    for name in ("mlops-dev-user-alice", "mlops-dev-user-bob"):
        text = json.dumps(_policy_statements(dev.templates()[name]))
        assert "s3:" not in text and "kms:" not in text and "/projects/" not in text


def _actions(statement: dict) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement.get("Action", [])


def test_no_statement_anywhere_grants_star_on_star(dev, prod):
    for synthesized in (dev, prod):
        templates = dict(synthesized.templates())
        templates |= {p.name: json.loads(p.read_text()) for p in synthesized.outdir.glob("*.product.template.json")}
        for name, template in templates.items():
            for s in _policy_statements(template):
                if s["Effect"] != "Allow":
                    continue
                resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
                for action in _actions(s):
                    assert action != "*" and not (action.endswith(":*") and "*" in resources), (name, s)


def _service_statements(templates: dict[str, dict]):
    """(stack, kind, statement) for every Allow statement whose principal is an AWS service: role trust, topic, queue, key policies."""
    documents = {
        "AWS::IAM::Role": "AssumeRolePolicyDocument",
        "AWS::SNS::TopicPolicy": "PolicyDocument",
        "AWS::SQS::QueuePolicy": "PolicyDocument",
        "AWS::KMS::Key": "KeyPolicy",
    }
    for stack, template in templates.items():
        for resource in template["Resources"].values():
            document = documents.get(resource["Type"])
            if document is None or document not in resource["Properties"]:
                continue
            for s in resource["Properties"][document]["Statement"]:
                principal = s.get("Principal")
                if s["Effect"] == "Allow" and isinstance(principal, dict) and "Service" in principal:
                    yield stack, resource["Type"], s


def test_services_act_for_this_account_only(dev, prod, delivery_app):
    """Every trust, topic, queue and key policy that lets an AWS service in checks the account (or the source) it acts for,
    but for the services mlops_constructs.service_principals.UNCONDITIONED lists with their reason."""
    from mlops_constructs.service_principals import UNCONDITIONED

    templates = {**dev.templates(), **prod.templates(), **delivery_app.templates()}
    templates |= {p.name: json.loads(p.read_text()) for p in dev.outdir.glob("*.product.template.json")}
    unchecked, checked = [], 0
    for stack, kind, s in _service_statements(templates):
        services = s["Principal"]["Service"] if isinstance(s["Principal"]["Service"], list) else [s["Principal"]["Service"]]
        condition = json.dumps(s.get("Condition", {}))
        held = any(key in condition for key in ("aws:SourceAccount", "aws:SourceArn", "kms:EncryptionContext:aws:logs:arn"))
        if held:
            checked += 1
        elif not all(service in UNCONDITIONED for service in services):
            unchecked.append((stack, kind, services, s.get("Action")))
    print(f"\nservice principals: {checked} statements held to this account or source, unconditioned: {len(unchecked)}")
    assert unchecked == [] and checked > 30
