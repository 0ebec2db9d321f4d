"""Print, as JSON, the newest Approved model package of every project of the first delivery stage,
with its data-quality baseline (the package's ``DriftCheckBaselines``, which the training pipeline
registers) for the endpoints' monitors, and the registry project's artifacts bucket and key (from the
parameters the project stack publishes; a stage in another account cannot read them itself):
``{"<project>": {"model_package_arn": ..., "baseline_uri": ..., "artifacts_bucket": ..., "key_arn": ...}}``.

Run by the delivery pipeline's synth step (which has AWS credentials), never by the app itself:
the app only reads the file it writes (``-c model_packages_file=...``). Projects with no approved
package are left out, and their endpoints are not deployed yet.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import (
    layout,  # noqa: E402
    load_delivery_config,  # noqa: E402
)
from config.naming import Names  # noqa: E402
from config.parameters import registry_parameters  # noqa: E402


def baseline_prefix(package: dict) -> str | None:
    """The S3 prefix holding the package's data-quality ``statistics.json`` and ``constraints.json``, or None."""
    quality = package.get("DriftCheckBaselines", {}).get("ModelDataQuality", {})
    return layout.baseline_prefix([quality.get(k, {}).get("S3Uri", "") for k in ("Statistics", "Constraints")])


def resolve(sagemaker, ssm, prefix: str, stage: str, projects: list[str]) -> dict[str, dict[str, str]]:
    pinned = {}
    for project in projects:
        found = sagemaker.list_model_packages(
            ModelPackageGroupName=Names(prefix, stage).model_package_group(project),
            ModelApprovalStatus="Approved",
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=1,
        )["ModelPackageSummaryList"]
        if found:
            arn = found[0]["ModelPackageArn"]
            pin = {"model_package_arn": arn}
            baseline = baseline_prefix(sagemaker.describe_model_package(ModelPackageName=arn))
            if baseline is not None:
                pin["baseline_uri"] = baseline
            for key, name in registry_parameters(Names(prefix, stage), project).items():
                pin[key] = ssm.get_parameter(Name=name)["Parameter"]["Value"]
            pinned[project] = pin
    return pinned


def main() -> int:
    import boto3

    _, stages = load_delivery_config()
    registry = stages[0]
    sagemaker, ssm = (boto3.client(service, region_name=registry.region) for service in ("sagemaker", "ssm"))
    print(json.dumps(resolve(sagemaker, ssm, registry.prefix, registry.stage, [p.name for p in registry.projects]), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
