"""What a route out through a NAT gateway costs (network.egress: nat): the longest-names stage has one."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import cost  # noqa: E402


def test_a_nat_gateway_is_priced_idle_with_its_address_and_per_gb_apart(longest):
    """Its hours and its public IPv4 address bill while idle; what it processes, per GB."""
    report = cost.report(longest.outdir, cost.Prices.load(cost.PRICES))
    environment = next(s for s in report.stack_totals() if s.endswith("-environment"))
    lines = {(line.stack, line.item): line.monthly for line in report.idle}
    assert lines[(environment, "NAT gateways (network.egress: nat): 1")] == 32.85  # 730 h x $0.045
    assert lines[(environment, "public IPv4 addresses (the NAT gateway's): 1")] == 3.65  # 730 h x $0.005
    assert sum(report.per_use["NAT gateways: per GB processed (nat_gateway_gb), internet data transfer on top"].values()) == 1
