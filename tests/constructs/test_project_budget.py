"""ProjectBudget: the project's monthly budget on its cost-allocation tag, alerting its encrypted topic."""

from __future__ import annotations

import json

from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from mlops_constructs.project_budget import ProjectBudget, ProjectBudgetProps


def _build(stack) -> Template:
    key = kms.Key(stack, "Key")
    topic = sns.Topic(stack, "Topic", master_key=key)
    ProjectBudget(
        stack,
        "Budget",
        props=ProjectBudgetProps(
            budget_name="mlops-dev-churn-monthly", amount_usd=75.0, tag_key="project", tag_value="churn", alert_topic=topic, key=key
        ),
    )
    return Template.from_stack(stack)


def test_a_monthly_cost_budget_on_the_projects_tag_alerts_at_80_and_100_percent(stack):
    t = _build(stack)
    (budget,) = t.find_resources("AWS::Budgets::Budget").values()
    data = budget["Properties"]["Budget"]
    assert (data["BudgetType"], data["TimeUnit"], data["BudgetLimit"]) == ("COST", "MONTHLY", {"Amount": 75.0, "Unit": "USD"})
    assert data["CostFilters"] == {"TagKeyValue": ["user:project$churn"]}
    alerts = budget["Properties"]["NotificationsWithSubscribers"]
    assert [a["Notification"]["Threshold"] for a in alerts] == [80, 100]
    assert all(a["Notification"]["NotificationType"] == "ACTUAL" and a["Notification"]["ThresholdType"] == "PERCENTAGE" for a in alerts)
    assert all(a["Subscribers"] == [{"SubscriptionType": "SNS", "Address": {"Ref": next(iter(t.find_resources("AWS::SNS::Topic")))}}] for a in alerts)


def test_budgets_may_publish_to_the_encrypted_topic_for_this_accounts_budgets_only(stack):
    t = _build(stack)
    (policy,) = t.find_resources("AWS::SNS::TopicPolicy").values()
    (statement,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Principal"] == {"Service": "budgets.amazonaws.com"}]
    assert statement["Action"] == "sns:Publish"
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert "budgets::" in json.dumps(statement["Condition"]["ArnLike"]["aws:SourceArn"])
    (key,) = t.find_resources("AWS::KMS::Key").values()
    (grant,) = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "budgets.amazonaws.com"}]
    assert sorted(grant["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"] and "aws:SourceAccount" in json.dumps(grant["Condition"])
