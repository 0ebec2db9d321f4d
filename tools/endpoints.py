"""Print the interface endpoints a stage creates and which of its features needs each (``config.endpoints``), with what
they cost idle: ``make synth`` runs it.

    python tools/endpoints.py dev
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from cost import PRICES, Prices  # noqa: E402  (the price table's one reader)

from config.errors import ConfigError  # noqa: E402
from config.loader import load_config  # noqa: E402


def render(stage: str) -> str:
    config = load_config(stage)
    needs = config.endpoint_needs
    network = config.network
    if network.mode == "frugal":  # no interface endpoint at all: nothing of the network bills while idle
        return (
            f"Interface endpoints of {config.names.base}: none (network.mode frugal: Studio uses SageMaker's internet access, "
            "the jobs and models run in no VPC)\n  egress: sagemaker (the risk: docs/cost.md, the frugal profile)"
        )
    zones = network.endpoint_azs or len(network.availability_zones)
    creates = network.creates_endpoints
    owner = f"stage {config.network.endpoints_from}'s" if network.endpoints_from else "the existing VPC owner's"
    lines = [f"Interface endpoints of {config.names.base}, in {zones} zone(s){'' if creates else f' ({owner}: they bill there)'}:"]
    width = max(len(name) for name in needs)
    lines += [f"  {name:<{width}}  {'; '.join(why)}" for name, why in needs.items()]
    if creates:
        prices = Prices.load(PRICES)
        per_zone_month = prices.idle_price("interface_endpoint_az_hour") * prices.hours
        total = len(needs) * zones * per_zone_month
        lines.append(f"  {len(needs)} endpoints x {zones} zone(s) x ${per_zone_month:.2f} a month = ${total:,.2f} a month idle ({PRICES.name})")
    lines.append(f"  egress: {network.egress} (a host outside AWS, such as a Git provider, needs one)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python tools/endpoints.py <stage>", file=sys.stderr)
        return 2
    try:
        print(render(args[0]))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
