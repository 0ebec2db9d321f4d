#!/usr/bin/env python3
"""CDK app: synthesizes one stage of the MLOps platform, chosen with ``-c stage=NAME`` (default ``dev``).

``-c config_dir=DIR`` reads ``DIR/<stage>.yaml`` instead of ``config/<stage>.yaml``.

The only place that reads the environment or the CDK context. A bad configuration is reported as a
list of problems and the process exits non-zero, without a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from config import ConfigError, load_config
from config.loader import CONFIG_DIR
from stacks.platform_stage import PlatformStage

DEFAULT_STAGE = "dev"
CDK_JSON = Path(__file__).resolve().parent / "cdk.json"


def cdk_json_context() -> dict:
    """The feature flags of ``cdk.json``; the CLI passes them itself, ``python app.py`` and tests do not."""
    return json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]


def new_app(**kwargs) -> cdk.App:
    """An App with ``cdk.json``'s context (overridden by ``kwargs['context']`` and CLI ``-c`` values)."""
    context = {**cdk_json_context(), **kwargs.pop("context", {})}
    return cdk.App(context=context, analytics_reporting=False, **kwargs)


def build_app(app: cdk.App) -> PlatformStage:
    """Add the configured stage and the cdk-nag checks to ``app``; raises ``ConfigError``."""
    stage_name = app.node.try_get_context("stage") or DEFAULT_STAGE
    config_dir = app.node.try_get_context("config_dir")
    config = load_config(str(stage_name), Path(config_dir) if config_dir else CONFIG_DIR)
    stage = PlatformStage(app, config.stage.capitalize(), config=config)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stage


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
    sys.exit(main())
