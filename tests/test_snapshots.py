"""One snapshot per stack (and per Service Catalog product template), asset hashes normalized.

Update on purpose with ``pytest --snapshot-update`` and review the diff.
"""

from __future__ import annotations

import json

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from tests.conftest import normalize_hashes


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


STACKS = [
    "mlops-dev-environment", "mlops-dev-self-service", "mlops-dev-project-churn", "mlops-dev-project-fraud",
    "mlops-dev-user-alice", "mlops-dev-user-bob", "mlops-dev-sandbox-alice-churn", "mlops-dev-sandbox-bob-fraud",
    "mlops-dev-pipeline-churn", "mlops-dev-pipeline-fraud", "mlops-dev-endpoint-churn", "mlops-dev-endpoint-fraud",
    "mlops-dev-dashboard-churn", "mlops-dev-dashboard-fraud",
]


def test_dev_has_exactly_the_snapshotted_stacks(dev):
    assert sorted(dev.templates()) == sorted(STACKS)


@pytest.mark.parametrize("stack_name", STACKS)
def test_stack_snapshot(dev, stack_name, snapshot_json):
    assert normalize_hashes(dev.templates()[stack_name]) == snapshot_json


@pytest.mark.parametrize("product", ["Project", "User", "Sandbox"])
def test_product_template_snapshot(dev, product, snapshot_json):
    path = next(dev.outdir.glob(f"*{product}ProductStack*.product.template.json"))
    assert normalize_hashes(json.loads(path.read_text())) == snapshot_json


def test_snapshots_are_stable_across_synths(dev, tmp_path):
    from tests.conftest import synth_stage

    again = synth_stage("dev", tmp_path)
    for name, template in dev.templates().items():
        assert normalize_hashes(again.templates()[name]) == normalize_hashes(template), name
