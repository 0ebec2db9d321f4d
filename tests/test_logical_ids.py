"""Logical IDs of stateful resources are pinned: changing one replaces (or orphans) data."""

from __future__ import annotations

import pytest

from mlops_constructs.aspects import STATEFUL_TYPES  # the aspect that enforces retention names them

PINNED = {
    "mlops-dev-environment": {
        "AWS::KMS::Key": ["StudioKey41A0D9EC"],
        "AWS::Logs::LogGroup": ["NetworkFlowLogGroup4F8CEEEF"],
        "AWS::SageMaker::Domain": ["StudioDomain20F5E462"],
    },
    "mlops-dev-project-churn": {
        "AWS::ECR::Repository": ["ProjectImageRepositoryB1EFFA61"],
        "AWS::KMS::Key": ["ProjectKey6FC0972B"],
        "AWS::S3::Bucket": [
            "ProjectAccessLogsBucket7A382485",
            "ProjectArtifactsBucketA004C8A7",
            "ProjectCaptureBucket80E5CEF6",
            "ProjectDataBucket1741EDAC",
        ],
        "AWS::SageMaker::ModelPackageGroup": ["ProjectModelPackageGroup3B13BA52"],
    },
    "mlops-dev-user-alice": {"AWS::SageMaker::UserProfile": ["UserUserProfile3D1E8E1C"]},
    "mlops-dev-sandbox-alice-churn": {"AWS::S3::Bucket": ["SandboxAccessLogsBucketBE5201A7", "SandboxBucket04C1F073"]},
}


def _stateful(template: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] in STATEFUL_TYPES:
            out.setdefault(resource["Type"], []).append(logical_id)
    return {k: sorted(v) for k, v in sorted(out.items())}


@pytest.mark.parametrize("stack_name", sorted(PINNED))
def test_stateful_logical_ids_are_pinned(dev, stack_name):
    assert _stateful(dev.templates()[stack_name]) == PINNED[stack_name]


def test_every_stateful_resource_in_every_stack_is_retained(dev, prod):
    for synthesized in (dev, prod):
        for name, template in synthesized.templates().items():
            for logical_id, resource in template["Resources"].items():
                if resource["Type"] in STATEFUL_TYPES:
                    assert resource.get("DeletionPolicy") == "Retain", (name, logical_id)
                    assert resource.get("UpdateReplacePolicy") == "Retain", (name, logical_id)


def test_same_project_has_the_same_ids_in_prod(dev, prod):
    assert _stateful(prod.templates()["mlops-prod-project-churn"]) == _stateful(dev.templates()["mlops-dev-project-churn"])
