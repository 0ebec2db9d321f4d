"""Stage configs the config tests start from: the shipped dev config, with its churn project served by a real-time
endpoint that is monitored (drift and model quality), as prod serves it. dev itself scores churn in batch (its idle
goal), so the rules of an instance-backed, monitored endpoint are tested on this variant."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEV = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())

# churn in real time with capture, drift and model quality: what dev's churn was before it was scored in batch
REALTIME_CHURN = {
    "instance_types": {"processing": "ml.m5.large", "training": "ml.m5.large", "endpoint": "ml.t2.medium"},
    "deployment": {"instance_count": 1, "min_capacity": 1, "max_capacity": 2, "data_capture_percent": 100},
    "monitoring": {
        "schedule": "hourly",
        "instance_type": "ml.t3.medium",
        "drift_alarms": [{"feature": "mean_radius", "threshold": 0.1}, {"feature": "worst_area", "threshold": 0.2}],
        "quality": {
            "enabled": True,
            "label_delay_hours": 24,
            "min_labels": 100,
            "label_writers": ["arn:aws:iam::123456789012:role/churn-crm-export"],
        },
    },
}


def dev_with_realtime_churn() -> dict:
    """A fresh copy of dev's config whose churn project (the first) serves in real time, monitored."""
    raw = copy.deepcopy(DEV)
    assert raw["projects"][0]["name"] == "churn"
    raw["projects"][0].update(copy.deepcopy(REALTIME_CHURN))
    return raw


def existing_vpc(**more) -> dict:
    """An existing VPC's network settings, with one subnet in one zone, and ``more`` of its keys."""
    return {
        "mode": "existing",
        "vpc_id": "vpc-0123456789abcdef0",
        "cidr": "10.1.0.0/16",
        "subnet_ids": ["subnet-0123456789abcdef0"],
        "availability_zones": ["us-east-1a"],
        "s3_prefix_list_id": "pl-63a5400a",
        **more,
    }
