"""Stages of one account share one set of interface endpoints: a stage in another stage's VPC names it
(``network.endpoints_from``), creates none of its own, and the loader checks that the shared set is every one it needs."""

from __future__ import annotations

import pytest
import yaml

from config import ConfigError, load_config
from fidelity.reachability import StageNetwork

QA_NETWORK = {
    "mode": "existing",
    "vpc_id": "vpc-0a1b2c3d4e5f60718",  # dev's VPC (its id once deployed)
    "cidr": "10.42.0.0/16",
    "subnet_ids": ["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60719"],
    "availability_zones": ["us-east-1a", "us-east-1b"],
    "s3_prefix_list_id": "pl-63a5400a",
    "create_endpoints": False,
    "endpoints_security_group_id": "sg-0a1b2c3d4e5f60718",  # dev's endpoints' group: HTTPS from the VPC's CIDR
    "endpoints_from": "dev",
}


def _qa(config_dir, **changes) -> None:
    """A qa stage in dev's account and VPC: dev's config under another name, sharing dev's endpoints."""
    raw = yaml.safe_load((config_dir / "dev.yaml").read_text())
    raw.update({"stage": "qa", "network": QA_NETWORK, **changes})
    (config_dir / "qa.yaml").write_text(yaml.safe_dump(raw))


def test_a_stage_in_another_stages_vpc_shares_its_endpoints_and_creates_none(config_dir):
    _qa(config_dir)
    qa, dev = load_config("qa", config_dir), load_config("dev", config_dir)
    assert qa.shared_endpoints == frozenset(dev.endpoint_needs) and not qa.network.creates_endpoints
    # the reachability check judges qa's calls against dev's endpoints, and its S3 route
    network = StageNetwork.of(None, qa, [])
    assert network.interface == frozenset(dev.endpoint_needs) and network.gateways == {"s3"} and not network.egress
    assert load_config("dev", config_dir).shared_endpoints is None  # dev creates its own


def test_an_endpoint_the_shared_set_lacks_is_named_with_what_needs_it(config_dir):
    raw = yaml.safe_load((config_dir / "dev.yaml").read_text())
    raw["projects"][1]["mlflow"] = {"server": "tracking_server"}  # fraud's MLflow as a tracking server: .experiments
    _qa(config_dir, projects=raw["projects"])
    with pytest.raises(ConfigError) as info:  # qa needs sagemaker.experiments, which dev's VPC lacks
        load_config("qa", config_dir)
    (problem,) = info.value.problems
    assert (problem.path, problem.value) == ("network.endpoints_from", "dev")
    assert problem.message == (
        "stage dev's VPC has no endpoint for what this stage needs: sagemaker.experiments (project fraud's MLflow tracking_server). "
        "Add sagemaker.experiments to dev's interface_endpoints"
    )
    text = (config_dir / "dev.yaml").read_text().replace("storage:", "interface_endpoints: [sagemaker.experiments]\n\nstorage:", 1)
    (config_dir / "dev.yaml").write_text(text)
    assert "sagemaker.experiments" in load_config("qa", config_dir).shared_endpoints  # added there: shared here


def _problems(config_dir) -> list[str]:
    """What the loader reports about the qa stage."""
    with pytest.raises(ConfigError) as info:
        load_config("qa", config_dir)
    return [p.message for p in info.value.problems]


def test_the_owner_must_be_another_stage_of_the_same_account_and_region_that_creates_endpoints(config_dir):
    def problem(**network) -> str:
        _qa(config_dir, network={**QA_NETWORK, **network})
        return "; ".join(_problems(config_dir))

    assert problem(endpoints_from="qa") == "names this stage itself: name the stage whose VPC and endpoints this stage shares"
    assert problem(endpoints_from="nope").startswith("no stage 'nope'; allowed: dev, prod, trial")
    assert problem(endpoints_from="trial").startswith("creates no interface endpoints of its own (its network.mode is frugal)")
    _qa(config_dir, account="210987654321")
    assert any("interface endpoints are shared within one account's VPC in one Region" in m for m in _problems(config_dir))


def test_endpoints_from_goes_with_create_endpoints_false(config_dir):
    network = {k: v for k, v in QA_NETWORK.items() if k != "endpoints_security_group_id"}
    _qa(config_dir, network={**network, "create_endpoints": True})
    assert any("endpoints_from names the stage whose endpoints this stage shares" in m for m in _problems(config_dir))
