"""One snapshot per stack (and per Service Catalog product template), asset hashes normalized.

Update on purpose with ``pytest --snapshot-update`` and review the diff.
"""

from __future__ import annotations

import json

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from tests.conftest import normalize_hashes, synthesized


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


def pytest_generate_tests(metafunc):
    # One snapshot per stack of the synthesized dev stage: a new stack gets a snapshot without editing a list here.
    if "stack_name" in metafunc.fixturenames:
        metafunc.parametrize("stack_name", sorted(synthesized("dev").templates()))


def test_dev_has_the_stacks_its_config_asks_for(dev):
    config = dev.stage.config
    per_project = [
        config.names.stack(kind, p.name)
        for p in config.projects
        for kind in ("project", "pipeline", "batch" if p.scores_batch else "endpoint", "dashboard")
    ]
    expected = [
        config.names.stack("environment"),
        config.names.stack("self-service"),
        *per_project,
        *(config.names.stack("user", u.name) for u in config.users),
        *(config.names.stack("sandbox", s.user, s.project) for s in config.sandboxes),
    ]
    assert sorted(dev.templates()) == sorted(expected)


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
