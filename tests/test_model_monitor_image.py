"""The Model Monitor analyzer image table matches the SageMaker SDK's own (``requirements-sdk.txt``)."""

from __future__ import annotations

import json
from importlib.metadata import distribution

from config.model_monitor_images import ANALYZER_ACCOUNTS, ANALYZER_REPOSITORY, analyzer_image_uri


def sdk_table() -> dict:
    # Read as a file: sagemaker-core is installed without its dependencies and is never imported.
    path = distribution("sagemaker-core").locate_file("sagemaker/core/image_uri_config/model-monitor.json")
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_region_and_account_is_the_sdks():
    (version,) = sdk_table()["versions"].values()
    assert ANALYZER_ACCOUNTS == version["registries"]
    assert ANALYZER_REPOSITORY == version["repository"]


def test_image_uri_has_the_sdks_form():
    # sagemaker.core.image_uris: "{registry}.dkr.{hostname}/{repository}", hostname "ecr.<region>.<suffix>", no tag
    assert analyzer_image_uri("eu-west-1", "amazonaws.com") == "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer"
    assert analyzer_image_uri("cn-north-1", "amazonaws.com.cn").endswith(".dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-model-monitor-analyzer")
