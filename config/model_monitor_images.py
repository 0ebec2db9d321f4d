"""Where SageMaker Model Monitor's analyzer image lives, per region (no AWS call at synthesis).

Copied from the ``sagemaker`` SDK's own table (``sagemaker/core/image_uri_config/model-monitor.json``
in ``sagemaker-core``); ``tests/test_model_monitor_image.py`` checks this copy against the pinned SDK
wheel, so a region the SDK adds or moves fails the tests until it is copied here.
"""

from __future__ import annotations

ANALYZER_REPOSITORY = "sagemaker-model-monitor-analyzer"

# Region -> account that publishes the analyzer image there.
ANALYZER_ACCOUNTS: dict[str, str] = {
    "af-south-1": "875698925577",
    "ap-east-1": "001633400207",
    "ap-northeast-1": "574779866223",
    "ap-northeast-2": "709848358524",
    "ap-northeast-3": "990339680094",
    "ap-south-1": "126357580389",
    "ap-southeast-1": "245545462676",
    "ap-southeast-2": "563025443158",
    "ap-southeast-3": "669540362728",
    "ca-central-1": "536280801234",
    "cn-north-1": "453000072557",
    "cn-northwest-1": "453252182341",
    "eu-central-1": "048819808253",
    "eu-central-2": "590183933784",
    "eu-north-1": "895015795356",
    "eu-south-1": "933208885752",
    "eu-south-2": "437450045455",
    "eu-west-1": "468650794304",
    "eu-west-2": "749857270468",
    "eu-west-3": "680080141114",
    "il-central-1": "843974653677",
    "me-central-1": "588750061953",
    "me-south-1": "607024016150",
    "sa-east-1": "539772159869",
    "us-east-1": "156813124566",
    "us-east-2": "777275614652",
    "us-isof-east-1": "853188333426",
    "us-isof-south-1": "467912361380",
    "us-west-1": "890145073186",
    "us-west-2": "159807026194",
}


def analyzer_image_uri(region: str, url_suffix: str) -> str:
    """The analyzer image of ``region`` (``url_suffix``: ``amazonaws.com``, or ``Aws.URL_SUFFIX`` in a stack)."""
    return f"{ANALYZER_ACCOUNTS[region]}.dkr.ecr.{region}.{url_suffix}/{ANALYZER_REPOSITORY}"


def analyzer_repository_arn(region: str, partition: str) -> str:
    """The analyzer's repository, for a role's pull permission (``partition``: ``Aws.PARTITION`` in a stack)."""
    return f"arn:{partition}:ecr:{region}:{ANALYZER_ACCOUNTS[region]}:repository/{ANALYZER_REPOSITORY}"
