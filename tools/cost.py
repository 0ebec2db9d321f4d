"""The monthly cost of a synthesized stage (``make cost``): what bills while the stage sits idle, per stack and in all,
priced from the checked-in table ``config/pricing/prices.yaml`` (its date and sources are printed with the figures); what bills
per use (jobs, requests, storage) is listed apart. An idle item the table has no price for is reported as unpriced,
never counted as zero.

    python tools/cost.py cdk.out/assembly-Dev [--prices config/pricing/prices.yaml]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PRICES = ROOT / "config" / "pricing" / "prices.yaml"
GOALS = ROOT / "config" / "pricing" / "goals.yaml"
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT))

from list_stacks import templates  # noqa: E402  (the one reader of cdk.out's stacks)

from mlops_constructs.container_contract import contract  # noqa: E402  (plain constants: no container import)


class PriceTableError(ValueError):
    """The price table lacks a field the report needs."""


@dataclass(frozen=True)
class Prices:
    region: str
    read_on: str
    hours: float
    idle: dict
    per_use: dict
    drift_check_run: dict | None = None
    quality_check_run: dict | None = None

    @classmethod
    def load(cls, path: Path) -> Prices:
        data = _mapping(path, "region, read_on, hours_per_month, idle and per_use")
        missing = [key for key in ("region", "read_on", "hours_per_month", "idle", "per_use") if key not in data]
        if missing:
            raise PriceTableError(f"{path}: missing {', '.join(missing)}")
        for group in ("idle", "per_use"):
            if not isinstance(data[group], dict):
                raise PriceTableError(f"{path}: {group} must map each price's name to its price and source")
            for name, entry in data[group].items():
                nested = name in ("sagemaker_hosting_hour", "sagemaker_processing_hour") and isinstance(entry, dict)
                entries = entry.values() if nested else [entry]
                for e in entries:
                    if not isinstance(e, dict) or not isinstance(e.get("price"), (int, float)) or not e.get("source"):
                        raise PriceTableError(f"{path}: {group}.{name} needs a numeric price and its source")
        return cls(
            data["region"],
            str(data["read_on"]),
            float(data["hours_per_month"]),
            data["idle"],
            data["per_use"],
            data.get("drift_check_run"),
            data.get("quality_check_run"),
        )

    _RUN_PRICES = ("lambda_gb_second", "lambda_request_million", "sfn_transition_1k", "s3_put_1k", "s3_get_1k", "cloudwatch_api_1k")

    def _run_price(self, *, gb_seconds: float, requests: int, transitions: int, puts: int, gets: int, metric_calls: int) -> float | None:
        """One run of a scheduled check at the table's per-use prices (None when the table lacks one of them)."""
        use = self.per_use
        if any(k not in use for k in self._RUN_PRICES):
            return None
        return (
            gb_seconds * use["lambda_gb_second"]["price"]
            + requests * use["lambda_request_million"]["price"] / 1e6
            + transitions * use["sfn_transition_1k"]["price"] / 1000
            + puts * use["s3_put_1k"]["price"] / 1000
            + gets * use["s3_get_1k"]["price"] / 1000
            + metric_calls * use["cloudwatch_api_1k"]["price"] / 1000
        )

    def quality_run_price(self, analysis_memory_mb: int, lists: int) -> float | None:
        """One period's model-quality check: the function for the measured seconds times the allowance, one request, the
        quality Map's transitions, its S3 requests and ``lists`` LISTs of label and capture folders, one PutMetricData."""
        run = self.quality_check_run
        if run is None:
            return None
        seconds = run["allowance"] * run["analysis_seconds"] * analysis_memory_mb / 1024
        return self._run_price(
            gb_seconds=seconds, requests=1, transitions=run["transitions"], puts=run["s3_puts"] + lists, gets=run["s3_gets"], metric_calls=1
        )

    def check_run_price(self, analysis_memory_mb: int, planner_memory_mb: int, metrics: int) -> float | None:
        """One run of the platform's drift check (one period): its two functions for the measured seconds times the
        table's allowance, two requests, its state transitions, its S3 and PutMetricData requests."""
        run = self.drift_check_run
        if run is None:
            return None
        from config.schema import STATE_TRANSITIONS_PER_RUN

        seconds = run["allowance"] * (run["planner_seconds"] * planner_memory_mb + run["analysis_seconds"] * analysis_memory_mb) / 1024
        return self._run_price(
            gb_seconds=seconds,
            requests=2,
            transitions=STATE_TRANSITIONS_PER_RUN,
            puts=run["s3_puts"],
            gets=run["s3_gets"],
            metric_calls=-(-metrics // 20),
        )

    def idle_price(self, name: str) -> float:
        return float(self.idle[name]["price"])

    def hosting_price(self, instance_type: str) -> float | None:
        entry = self.idle.get("sagemaker_hosting_hour", {}).get(instance_type)
        return None if entry is None else float(entry["price"])


@dataclass(frozen=True)
class Line:
    """An idle item of one stack: ``quantity`` units at ``price`` (None: not in the table) per unit."""

    stack: str
    item: str
    quantity: float
    unit: str
    price: float | None

    @property
    def monthly(self) -> float | None:
        return None if self.price is None else round(self.quantity * self.price, 2)


@dataclass(frozen=True)
class Report:
    stage: str
    prices: Prices
    idle: list[Line]
    per_use: dict[str, Counter]  # what bills per use -> stack -> how many
    endpoint_zones: int = 0  # the most zones an interface endpoint of the stage is in

    @property
    def total(self) -> float:
        return round(sum(line.monthly for line in self.idle if line.monthly is not None), 2)

    @property
    def unpriced(self) -> list[Line]:
        return [line for line in self.idle if line.price is None]

    def stack_totals(self) -> dict[str, float]:
        totals: dict[str, float] = defaultdict(float)
        for line in self.idle:
            totals[line.stack] += line.monthly or 0.0
        return {stack: round(total, 2) for stack, total in totals.items()}


def _variants(template: dict, endpoint: dict) -> list[dict]:
    """The production variants of the endpoint config an endpoint uses (a GetAtt or Ref to a config of the same template)."""
    name = endpoint["Properties"].get("EndpointConfigName")
    target = name.get("Fn::GetAtt", [None])[0] if isinstance(name, dict) else None
    target = target or (name.get("Ref") if isinstance(name, dict) else None)
    config = template["Resources"].get(target or "", {})
    return config.get("Properties", {}).get("ProductionVariants", [])


# What bills per use, by resource type: (what, how it bills)
PER_USE = {
    "AWS::S3::Bucket": "S3 buckets: storage per GB-month and requests",
    "AWS::Logs::LogGroup": "log groups: ingestion per GB (logs_ingestion_gb) and storage per GB-month",
    "AWS::EC2::FlowLog": "VPC flow logs: delivered to CloudWatch Logs per GB",
    "AWS::EC2::NatGateway": "NAT gateways: per GB processed (nat_gateway_gb), internet data transfer on top",
    "AWS::ECR::Repository": "ECR repositories: image storage per GB-month",
    "AWS::StepFunctions::StateMachine": "state machines: per state transition; their SageMaker jobs per instance-second",
    "AWS::Lambda::Function": "Lambda functions: per request and GB-second",
    "AWS::ApiGateway::RestApi": "REST APIs: per million requests",
    "AWS::SageMaker::MonitoringSchedule": "Model Monitor schedules: a processing job per run, per instance-second",
    "AWS::SageMaker::MlflowApp": "MLflow apps (serverless): per use; no price in the table",
    "AWS::SageMaker::Domain": "Studio domains: apps per instance-hour while running; home EFS per GB-month",
    "AWS::SNS::Topic": "SNS topics: per notification",
    "AWS::Events::Rule": "EventBridge rules: schedules and AWS events are free; custom events per million",
}


def _env(resource: dict) -> dict:
    variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
    return variables if isinstance(variables, dict) else {}


def drift_check_lines(stack: str, template: dict, prices: Prices) -> list[Line]:
    """The platform's drift checks of ``template`` (an endpoint's scheduled check runs every period, traffic or not): a
    month of runs, and the custom metrics they publish (three per watched feature, each billed a month)."""
    resources = template.get("Resources", {}).values()
    functions = [r for r in resources if r["Type"] == "AWS::Lambda::Function"]
    analyses = [r for r in functions if "CHECK_NAME" in _env(r)]
    planners = [r for r in functions if "MANIFEST_PREFIX" in _env(r)]
    lines = []
    for analysis, planner in zip(analyses, planners):
        env = _env(analysis)
        watched = [f for f in str(env.get("METRIC_FEATURES", "")).split(",") if f]
        metrics = 3 * len(watched)
        name = env["CHECK_NAME"] if isinstance(env["CHECK_NAME"], str) else "check"
        if _env(planner).get("CAPTURE_PREFIX"):  # scheduled (an endpoint's); batch scoring's runs with each scoring run
            runs = prices.hours / int(_env(planner)["PERIOD_HOURS"])
            price = prices.check_run_price(
                int(analysis["Properties"].get("MemorySize", 128)), int(planner["Properties"].get("MemorySize", 128)), metrics
            )
            lines.append(Line(stack, f"drift check {name}: a run every {_env(planner)['PERIOD_HOURS']} h", runs, "runs", price))
        if watched:
            metric_price = prices.per_use.get("cloudwatch_metric_month", {}).get("price")
            lines.append(Line(stack, f"drift metrics of {name}: {len(watched)} features x 3", metrics, "metric-months", metric_price))
        else:
            lines.append(Line(stack, f"drift metrics of {name}: 3 per feature of the data (publish_metrics: all)", 0, "metric-months", None))
        if env.get("QUALITY_METRIC"):  # model quality: each period once more, a label delay later
            hours, delay = int(_env(planner)["PERIOD_HOURS"]), int(env["LABEL_DELAY_HOURS"])
            price = prices.quality_run_price(int(analysis["Properties"].get("MemorySize", 128)), lists=(hours + delay) + (hours + 2))
            lines.append(Line(stack, f"model-quality check of {name}: a period every {hours} h", prices.hours / hours, "runs", price))
            metric_price = prices.per_use.get("cloudwatch_metric_month", {}).get("price")
            counts = len(contract.QUALITY_PUBLISHED_COUNTS)
            lines.append(Line(stack, f"model-quality metrics of {name}: the metric and {counts} counts", 1 + counts, "metric-months", metric_price))
    return lines


def stack_lines(stack: str, template: dict, prices: Prices) -> tuple[list[Line], Counter]:
    """The idle lines of one template, and its per-use items by kind."""
    hours = prices.hours
    counts: Counter = Counter()
    az_hours = 0.0
    endpoints = 0
    lines: list[Line] = []
    per_use: Counter = Counter()
    for resource in template.get("Resources", {}).values():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::EC2::VPCEndpoint" and props.get("VpcEndpointType") == "Interface":
            endpoints += 1
            az_hours += len(props.get("SubnetIds") or []) * hours  # one subnet per AZ: SageMaker and endpoints span the same AZs
        elif kind in (
            "AWS::KMS::Key",
            "AWS::CloudWatch::Alarm",
            "AWS::CloudWatch::Dashboard",
            "AWS::Budgets::Budget",
            "AWS::EC2::NatGateway",
            "AWS::EC2::EIP",
        ):
            counts[kind] += 1
        elif kind == "AWS::SageMaker::Endpoint":
            for variant in _variants(template, resource):
                if "ServerlessConfig" in variant:
                    per_use["serverless endpoints: per inference-second by memory size, and data processed"] += 1
                    continue
                instance, count = variant["InstanceType"], int(variant.get("InitialInstanceCount", 1))
                item = f"endpoint {props.get('EndpointName', '?')}: {count} x {instance}"
                lines.append(Line(stack, item, count * hours, "instance-hours", prices.hosting_price(instance)))
        elif kind == "AWS::SageMaker::MlflowTrackingServer":
            size = props.get("TrackingServerSize", "Small")
            lines.append(Line(stack, f"MLflow tracking server ({size})", hours, "server-hours", None))
        if kind in PER_USE:
            per_use[PER_USE[kind]] += 1
    lines += drift_check_lines(stack, template, prices)
    if endpoints:
        lines.append(Line(stack, f"interface endpoints: {endpoints}", az_hours, "endpoint-AZ-hours", prices.idle_price("interface_endpoint_az_hour")))
    for kind, item, unit, key, per_month in (
        ("AWS::KMS::Key", "KMS keys", "key-months", "kms_key_month", 1),
        ("AWS::CloudWatch::Alarm", "CloudWatch alarms", "alarm-months", "cloudwatch_alarm_month", 1),
        ("AWS::CloudWatch::Dashboard", "CloudWatch dashboards", "dashboard-months", "cloudwatch_dashboard_month", 1),
        ("AWS::Budgets::Budget", "budgets", "budget-days", "budget_day", hours / 24),
        ("AWS::EC2::NatGateway", "NAT gateways (network.egress: nat)", "gateway-hours", "nat_gateway_hour", hours),
        ("AWS::EC2::EIP", "public IPv4 addresses (the NAT gateway's)", "address-hours", "public_ipv4_hour", hours),
    ):
        if counts[kind]:
            lines.append(Line(stack, f"{item}: {counts[kind]}", counts[kind] * per_month, unit, prices.idle_price(key)))
    return lines, per_use


def report(assembly: Path, prices: Prices) -> Report:
    idle: list[Line] = []
    per_use: dict[str, Counter] = defaultdict(Counter)
    found, zones = False, 0
    for name, _, template in templates(assembly):
        found = True
        lines, uses = stack_lines(name, template, prices)
        idle += lines
        for what, n in uses.items():
            per_use[what][name] += n
        for resource in template.get("Resources", {}).values():
            if resource["Type"] == "AWS::EC2::VPCEndpoint" and resource["Properties"].get("VpcEndpointType") == "Interface":
                zones = max(zones, len(resource["Properties"].get("SubnetIds") or []))  # one subnet per zone
    if not found:
        raise FileNotFoundError(f"no stacks in {assembly}: run `make synth` first")
    return Report(assembly.name.removeprefix("assembly-"), prices, idle, dict(per_use), zones)


def goal_lines(r: Report, goals: dict) -> list[str]:
    """Each goal of ``goals`` (config/pricing/goals.yaml) for this stage: met, or not and by how much."""
    goal, out = goals.get(r.stage) or {}, []
    if "idle_max_usd" in goal:
        limit = float(goal["idle_max_usd"])
        if r.unpriced:
            out.append(f"idle <= ${limit:g}: NOT MET: ${r.total:,.2f} priced, and {len(r.unpriced)} idle item(s) without a price")
        elif r.total <= limit:
            out.append(f"idle <= ${limit:g}: met (${r.total:,.2f})")
        else:
            out.append(f"idle <= ${limit:g}: NOT MET: ${r.total:,.2f}, ${r.total - limit:,.2f} over")
    if "endpoint_zones_min" in goal:
        least = int(goal["endpoint_zones_min"])
        state = "met" if r.endpoint_zones >= least else "NOT MET"
        out.append(f"interface endpoints in >= {least} zones: {state} ({r.endpoint_zones})")
    return out


def load_goals(path: Path = GOALS) -> dict:
    return _mapping(path, "stage to its goals")


class _UniqueKeys(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys without a word: a second ``sagemaker_hosting_hour`` would hide the first."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        repeated = sorted({str(k) for k in keys if keys.count(k) > 1})
        if repeated:
            raise yaml.constructor.ConstructorError(None, None, f"key(s) {', '.join(repeated)} given twice", node.start_mark)
        return super().construct_mapping(node, deep)


def _mapping(path: Path, of: str) -> dict:
    """The YAML mapping in ``path`` (a clear error naming the file when it is missing, unreadable, not a mapping or gives
    a key twice)."""
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeys)  # noqa: S506 (a SafeLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise PriceTableError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise PriceTableError(f"{path}: not a mapping of {of}")
    return data


def _unit_price(price: float) -> str:
    if price >= 1:
        return f"${price:.2f}"
    if price >= 0.01:
        return f"${price:.3f}".rstrip("0").rstrip(".")
    return f"${price:.6f}".rstrip("0")


def _money(value: float | None) -> str:
    return "unpriced" if value is None else f"${value:,.2f}"


def render(r: Report, goals: dict | None = None) -> str:
    p = r.prices
    out = [
        f"Idle monthly cost of {r.stage}: {p.region} on-demand prices read {p.read_on} (config/pricing/prices.yaml, its sources per price), "
        f"{p.hours:g} hours a month, before account free tiers",
        "",
    ]
    width = max([len(line.stack) for line in r.idle] + [5])
    item_width = max([len(line.item) for line in r.idle] + [4])
    out.append(f"  {'stack':<{width}}  {'item':<{item_width}}  {'quantity':>22}  {'unit price':>10}  {'per month':>10}")
    for line in sorted(r.idle, key=lambda x: (x.stack, -(x.monthly or 0))):
        quantity = f"{line.quantity:,.1f} {line.unit}"
        price = "—" if line.price is None else _unit_price(line.price)
        out.append(f"  {line.stack:<{width}}  {line.item:<{item_width}}  {quantity:>22}  {price:>10}  {_money(line.monthly):>10}")
    out.append("")
    for stack, total in sorted(r.stack_totals().items(), key=lambda kv: -kv[1]):
        out.append(f"  {stack:<{width}}  {_money(total):>10}")
    out.append(f"  {'stage total (priced items)':<{width}}  {_money(r.total):>10}")
    if r.unpriced:
        out.append("  not in that total (no price in config/pricing/prices.yaml): " + "; ".join(f"{x.stack}: {x.item}" for x in r.unpriced))
    met = goal_lines(r, goals or {})
    if met:
        out += ["", f"Goals of {r.stage} (config/pricing/goals.yaml):", *(f"  {line}" for line in met)]
    out += ["", "Per use (billed only when used; not in the total):"]
    for what, by_stack in sorted(r.per_use.items()):
        out.append(f"  {what}: {sum(by_stack.values())} ({', '.join(f'{s} {n}' for s, n in sorted(by_stack.items()))})")
    for name, entry in sorted(p.per_use.items()):
        if name == "sagemaker_processing_hour":
            for instance, e in sorted(entry.items()):
                out.append(f"  price {name} {instance}: ${e['price']:g} per instance-hour ({e['source']})")
        else:
            out.append(f"  price {name}: ${entry['price']:g} per {entry['unit']} ({entry['source']})")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assembly", type=Path, help="a stage's cloud assembly, e.g. cdk.out/assembly-Dev")
    parser.add_argument("--prices", type=Path, default=PRICES)
    args = parser.parse_args(argv)
    try:
        prices = Prices.load(args.prices)
        print(render(report(args.assembly, prices), load_goals()))
    except (PriceTableError, FileNotFoundError) as exc:
        print(f"cost: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
