"""`make cost`: the idle monthly cost of the shipped stages from the checked-in price table, figures pinned."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import cost  # noqa: E402


@pytest.fixture(scope="module")
def prices() -> cost.Prices:
    return cost.Prices.load(cost.PRICES)


def _lines(report: cost.Report) -> dict[tuple[str, str], float | None]:
    return {(line.stack, line.item): line.monthly for line in report.idle}


def test_dev_idle_cost_is_dominated_by_the_interface_endpoints(dev, prices):
    report = cost.report(dev.outdir, prices)
    lines = _lines(report)
    # the 6 interface endpoints dev's features need (config.endpoints), in 1 AZ (network.endpoint_azs), 730 h at $0.01 per
    # endpoint-AZ-hour. 9 listed by hand in 2 AZs were $131.40 and left the CLI, MLflow, Git and Projects unreachable; 10 were
    # derived before dev stopped naming CodeCommit repositories (closed to new customers), the CLI went through S3 (no
    # lambda, states) and churn's drift check ran in Lambda only (no monitoring)
    assert lines[("mlops-dev-environment", "interface endpoints: 6")] == 43.80
    assert lines[("mlops-dev-environment", "KMS keys: 1")] == 1.00
    assert lines[("mlops-dev-project-churn", "budgets: 1")] == 0.61
    assert lines[("mlops-dev-dashboard-churn", "CloudWatch dashboards: 1")] == 3.00
    # churn is scored in batch in dev: nothing bills while idle but its drift alarms and metrics (no instance: a real-time
    # ml.t2.medium was $47.45 a month, at the Real-Time Inference price)
    assert lines[("mlops-dev-batch-churn", "CloudWatch alarms: 2")] == 0.20
    assert lines[("mlops-dev-batch-churn", "drift metrics of mlops-dev-churn-scoring: 2 features x 3")] == 1.80
    assert not any("x ml." in item for _, item in lines)  # no instance-backed endpoint in dev
    assert report.unpriced == []  # every idle item has a price (issue 31)
    assert report.total == 56.32  # 135.14 before this session: git-codecommit, lambda, states, monitoring and churn's instance
    assert report.stack_totals()["mlops-dev-environment"] / report.total > 0.75
    # the serverless endpoint, the MLflow apps, the jobs and the batch transforms bill per use: listed apart, not in the total
    assert sum(report.per_use["serverless endpoints: per inference-second by memory size, and data processed"].values()) == 1
    assert sum(report.per_use["MLflow apps (serverless): per use; no price in the table"].values()) == 2
    text = cost.render(report)
    assert "stage total (priced items)      $56.32" in text and "read 2026-12-06" in text


def test_prod_idle_cost(prod, prices):
    report = cost.report(prod.outdir, prices)
    lines = _lines(report)
    assert lines[("mlops-prod-environment", "interface endpoints: 6")] == 131.40  # 6 endpoints in 3 AZs (8 with the CLI's lambda and states)
    # 189.48 with the two checks (churn hourly 0.25 + 1.80, fraud daily 0.01 + 0.90), and three ml.m5.large instances
    assert lines[("mlops-prod-endpoint-churn", "endpoint mlops-prod-churn: 2 x ml.m5.large")] == 195.64
    assert lines[("mlops-prod-endpoint-fraud", "endpoint mlops-prod-fraud: 1 x ml.m5.large")] == 97.82
    assert report.unpriced == [] and report.total == 439.14


def test_an_instance_type_without_a_price_is_unpriced_never_free(prod, prices):
    unpriced = dataclasses.replace(prices, idle={**prices.idle, "sagemaker_hosting_hour": {"ml.t2.medium": {"price": 0.065}}})
    report = cost.report(prod.outdir, unpriced)
    assert sorted((line.item, line.quantity) for line in report.unpriced) == [
        ("endpoint mlops-prod-churn: 2 x ml.m5.large", 1460.0),
        ("endpoint mlops-prod-fraud: 1 x ml.m5.large", 730.0),
    ]
    assert report.total == round(439.14 - 195.64 - 97.82, 2)  # left out, never counted as $0
    text = cost.render(report)
    assert "not in that total (no price in config/pricing/prices.yaml): mlops-prod-endpoint-churn: endpoint mlops-prod-churn" in text
    # a goal on idle cost is never met while an item is unpriced, however low the priced total
    assert cost.goal_lines(report, {"Prod": {"idle_max_usd": 1000}}) == ["idle <= $1000: NOT MET: $145.68 priced, and 2 idle item(s) without a price"]


def test_a_price_without_its_source_or_a_missing_assembly_is_a_clear_error(tmp_path, capsys):
    table = tmp_path / "prices.yaml"
    table.write_text(cost.PRICES.read_text().replace("    price: 0.10\n", "    price: ten cents\n", 1))
    assert cost.main([str(tmp_path), "--prices", str(table)]) == 2
    assert "cloudwatch_alarm_month needs a numeric price and its source" in capsys.readouterr().err
    table.write_text(cost.PRICES.read_text().replace("  kms_key_month:\n", "  kms_key_month: 1.00\n  was_kms_key_month:\n", 1))
    assert cost.main([str(tmp_path), "--prices", str(table)]) == 2  # a bare number where a price and its source go
    assert "idle.kms_key_month needs a numeric price and its source" in capsys.readouterr().err
    table.write_text(cost.PRICES.read_text().replace("idle:", "idle:\n  kms_key_month: {price: 2, source: x}", 1))
    assert cost.main([str(tmp_path), "--prices", str(table)]) == 2  # a second price under one name hides neither
    assert "key(s) kms_key_month given twice" in capsys.readouterr().err
    table.write_text("- not a table\n")
    assert cost.main([str(tmp_path), "--prices", str(table)]) == 2
    assert "not a mapping" in capsys.readouterr().err
    (tmp_path / "manifest.json").write_text('{"artifacts": {}}')
    assert cost.main([str(tmp_path)]) == 2
    assert "no stacks in" in capsys.readouterr().err


def test_a_month_of_drift_checks_is_priced_per_run_and_per_metric(prod, prices):
    """An endpoint's check runs every period, traffic or not: a month of runs at the measured run's price (with the table's
    allowance), and three custom metrics per watched feature, each billed a month."""
    lines = _lines(cost.report(prod.outdir, prices))
    runs = lines[("mlops-prod-endpoint-churn", "drift check mlops-prod-churn-dq: a run every 1 h")]
    metrics = lines[("mlops-prod-endpoint-churn", "drift metrics of mlops-prod-churn-dq: 2 features x 3")]
    assert (runs, metrics) == (0.25, 1.80)
    run = prices.check_run_price(2048, 256, 6)
    assert 0.0002 < run < 0.0005  # Step Functions' transitions are most of it: 9 x $0.000025
    everything = dataclasses.replace(prices, drift_check_run=None)
    assert ("mlops-prod-endpoint-churn", "drift check mlops-prod-churn-dq: a run every 1 h") in _lines(cost.report(prod.outdir, everything))
    assert everything.check_run_price(2048, 256, 6) is None  # no measured run in the table: unpriced, never $0


def test_make_cost_prints_each_stages_goals_met_or_by_how_much(dev, prod, prices):
    """The goals of config/pricing/goals.yaml: prod keeps its endpoints in at least two zones (met: three); dev idles under
    $60 (met)."""
    goals = cost.load_goals()
    prod_text = cost.render(cost.report(prod.outdir, prices), goals)
    assert "Goals of Prod (config/pricing/goals.yaml):\n  interface endpoints in >= 2 zones: met (3)" in prod_text
    dev_report = cost.report(dev.outdir, prices)
    assert dev_report.endpoint_zones == 1  # network.endpoint_azs: 1
    assert cost.goal_lines(dev_report, goals) == ["idle <= $60: met ($56.32)"]


@pytest.mark.parametrize(
    ("lines", "zones", "expected"),
    [
        ([cost.Line("s", "x", 1, "u", 59.99)], 2, ["idle <= $60: met ($59.99)", "interface endpoints in >= 2 zones: met (2)"]),
        ([cost.Line("s", "x", 1, "u", 60.5)], 1, ["idle <= $60: NOT MET: $60.50, $0.50 over", "interface endpoints in >= 2 zones: NOT MET (1)"]),
        (
            [cost.Line("s", "x", 1, "u", 1.0), cost.Line("s", "y", 1, "u", None)],
            3,
            ["idle <= $60: NOT MET: $1.00 priced, and 1 idle item(s) without a price", "interface endpoints in >= 2 zones: met (3)"],
        ),
    ],
)
def test_a_goal_is_met_only_when_every_idle_item_is_priced_and_within_it(prices, lines, zones, expected):
    report = cost.Report("Stage", prices, lines, {}, zones)
    assert cost.goal_lines(report, {"Stage": {"idle_max_usd": 60, "endpoint_zones_min": 2}}) == expected
    assert cost.goal_lines(report, {}) == []  # a stage without goals prints none
