"""A monthly cost budget of one ML project, on its cost-allocation tag, alerting the project's topic."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from mlops_constructs.service_principals import from_this_account

BUDGETS = "budgets.amazonaws.com"
ALERT_PERCENTS = (80, 100)  # of the monthly amount, on what was actually spent


@dataclass(frozen=True)
class ProjectBudgetProps:
    """``tag_key``/``tag_value``: the cost-allocation tag the project's resources carry (activated once per account in
    Billing's cost allocation tags, after which Cost Explorer sees it: a budget on it counts from then on)."""

    budget_name: str
    amount_usd: float
    tag_key: str
    tag_value: str
    alert_topic: sns.ITopic
    key: kms.IKey


class ProjectBudget(Construct):
    """Deploys ``budget``: an ``AWS::Budgets::Budget`` of ``amount_usd`` a month on the costs tagged
    ``tag_key=tag_value``, telling ``alert_topic`` when the month's actual cost passes 80% and 100% of it.

    Budgets publishes to the topic as ``budgets.amazonaws.com`` for this account's budgets only (the topic policy
    and, the topic being encrypted, the key's policy):
    https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-sns-policy.html.
    """

    def __init__(self, scope: Construct, construct_id: str, *, props: ProjectBudgetProps) -> None:
        super().__init__(scope, construct_id)
        p = props
        publisher = from_this_account(BUDGETS, source_arn=f"arn:{Aws.PARTITION}:budgets::{Aws.ACCOUNT_ID}:*")
        p.alert_topic.grant_publish(publisher)
        p.key.grant(publisher, "kms:Decrypt", "kms:GenerateDataKey*")
        B = budgets.CfnBudget
        self.budget = B(
            self,
            "Budget",
            budget=B.BudgetDataProperty(
                budget_name=p.budget_name,
                budget_type="COST",
                time_unit="MONTHLY",
                budget_limit=B.SpendProperty(amount=p.amount_usd, unit="USD"),
                # a user-defined cost-allocation tag, as Budgets filters on it (CostFilters' TagKeyValue: user:<key>$<value>)
                cost_filters={"TagKeyValue": [f"user:{p.tag_key}${p.tag_value}"]},
            ),
            notifications_with_subscribers=[
                B.NotificationWithSubscribersProperty(
                    notification=B.NotificationProperty(
                        notification_type="ACTUAL", comparison_operator="GREATER_THAN", threshold=percent, threshold_type="PERCENTAGE"
                    ),
                    subscribers=[B.SubscriberProperty(subscription_type="SNS", address=p.alert_topic.topic_arn)],
                )
                for percent in ALERT_PERCENTS
            ],
        )
