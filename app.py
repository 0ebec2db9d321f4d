#!/usr/bin/env python3
"""CDK app: synthesizes one stage of the MLOps platform, chosen with ``-c stage=NAME`` (default ``dev``).

``-c config_dir=DIR`` reads ``DIR/<stage>.yaml`` instead of ``config/<stage>.yaml``;
``-c target=delivery`` synthesizes the delivery pipeline (``config/delivery/pipeline.yaml``) instead;
``-c model_packages_file=FILE`` pins the model package each endpoint deploys.

The only place that reads the environment or the CDK context. A bad configuration is reported as a
list of problems and the process exits non-zero, without a traceback.
"""

from __future__ import annotations

import gc
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from config import ConfigError, Problem, load_config, load_delivery_config
from config.layout import BASELINE_URI_RULE, BUCKET_NAME_PATTERN, is_baseline_uri
from config.loader import CONFIG_DIR
from config.naming import delivery_pipeline
from config.parameters import REGISTRY_PIN_KEYS
from stacks.endpoint_stack import MODEL_PACKAGE_PATTERN, DeployedModel
from stacks.platform_stage import PlatformStage

if TYPE_CHECKING:
    from stacks.delivery_stack import DeliveryPipelineStack

DEFAULT_STAGE = "dev"
PIN_KEYS = ("model_package_arn", "baseline_uri", *REGISTRY_PIN_KEYS)
# a KMS key id (or a multi-Region key's)
KEY_ARN_PATTERN = r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
CDK_JSON = Path(__file__).resolve().parent / "cdk.json"


def cdk_json_context() -> dict:
    """The feature flags of ``cdk.json``; the CLI passes them itself, ``python app.py`` and tests do not."""
    return json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]


def new_app(**kwargs) -> cdk.App:
    """An App with ``cdk.json``'s context (overridden by ``kwargs['context']`` and CLI ``-c`` values)."""
    context = {**cdk_json_context(), **kwargs.pop("context", {})}
    return cdk.App(context=context, analytics_reporting=False, **kwargs)


def model_packages(app: cdk.App) -> dict[str, DeployedModel] | None:
    """Pinned model packages (``-c model_packages_file=FILE``), or None.

    The file maps project names to ``{"model_package_arn": ..., "baseline_uri": ..., "artifacts_bucket": ...,
    "key_arn": ...}`` (what ``tools/resolve_model_packages.py`` prints; the registry project's bucket and key are what a
    stage in another account needs) or to a bare model package ARN (then a monitored endpoint takes its baseline as the
    stack parameter ``BaselineUri``).
    """
    path = app.node.try_get_context("model_packages_file")
    if not path:
        return None
    try:
        pins = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(str(path), [Problem("model_packages_file", str(path), f"must be a readable JSON object: {exc}")]) from None
    if not isinstance(pins, dict):
        raise ConfigError(str(path), [Problem("model_packages_file", pins, "must be a JSON object mapping project names to model packages")])
    problems, deployed = [], {}
    for project, pin in pins.items():
        pin = pin if isinstance(pin, dict) else {"model_package_arn": pin}
        arn, baseline, bucket, key = (pin.get(k) for k in PIN_KEYS)
        if set(pin) - set(PIN_KEYS):
            problems.append(Problem(f"{project}", pin, f"allowed keys: {', '.join(PIN_KEYS)}"))
        elif not re.match(MODEL_PACKAGE_PATTERN, str(arn)):
            problems.append(
                Problem(f"{project}.model_package_arn", arn, "must be a versioned model package ARN (...:model-package/<group>/<version>)")
            )
        elif baseline is not None and not is_baseline_uri(str(baseline)):
            problems.append(Problem(f"{project}.baseline_uri", baseline, f"must be a pipeline run's baseline prefix: {BASELINE_URI_RULE}"))
        elif bucket is not None and not re.fullmatch(BUCKET_NAME_PATTERN, str(bucket)):
            problems.append(
                Problem(f"{project}.artifacts_bucket", bucket, "must be an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)")
            )
        elif key is not None and not re.fullmatch(KEY_ARN_PATTERN, str(key)):
            problems.append(Problem(f"{project}.key_arn", key, "must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>)"))
        else:
            deployed[project] = DeployedModel(arn, baseline, bucket, key)
    if problems:
        raise ConfigError(str(path), problems)
    return deployed


def build_app(app: cdk.App) -> PlatformStage | DeliveryPipelineStack:
    """Add the configured stage (or, with ``-c target=delivery``, the delivery pipeline) and the cdk-nag
    checks to ``app``; raises ``ConfigError``."""
    config_dir = Path(app.node.try_get_context("config_dir") or CONFIG_DIR)
    target = app.node.try_get_context("target") or "stage"
    if target == "delivery":
        # CDK Pipelines, CodeBuild and CodeCommit load only for this target (~0.12 s of every stage's synth)
        from stacks.delivery_stack import DeliveryPipelineStack

        delivery, configs = load_delivery_config(config_dir)
        pins = model_packages(app) or {}
        stages = [PlatformStage(app, c.stage.capitalize(), config=c, model_packages=pins) for c in configs]
        built = DeliveryPipelineStack(
            app,
            "Delivery",
            delivery=delivery,
            stages=stages,
            stack_name=delivery_pipeline(configs[0].prefix),
            env=cdk.Environment(account=delivery.account, region=delivery.region),
        )
    elif target == "stage":
        stage_name = app.node.try_get_context("stage") or DEFAULT_STAGE
        config = load_config(str(stage_name), config_dir)
        built = PlatformStage(app, config.stage.capitalize(), config=config, model_packages=model_packages(app))
    else:
        raise ConfigError("the 'target' context value", [Problem("target", target, "allowed: stage (default), delivery")])
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return built


def main() -> int:
    app = new_app()
    try:
        build_app(app)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    status = main()
    # The synthesized app leaves millions of Python objects (aws-cdk-lib's modules and jsii's proxies): the collection
    # Python runs over them at exit took ~0.5 s of a ~5 s `cdk synth`. Nothing is left to collect, so they are frozen.
    gc.freeze()
    sys.exit(status)
