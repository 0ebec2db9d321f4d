"""config/instance_types.py is botocore's own list of instance types per SageMaker API (regenerate it with
tools/update_instance_types.py after bumping boto3/botocore)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import botocore

from config.instance_types import BOTOCORE_VERSION, INSTANCE_TYPES

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("update_instance_types", ROOT / "tools" / "update_instance_types.py")
generator = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generator)


def test_the_table_is_the_pinned_botocores():
    assert BOTOCORE_VERSION == botocore.__version__, "run tools/update_instance_types.py"
    assert {use: sorted(values) for use, values in INSTANCE_TYPES.items()} == generator.tables()
    assert generator.render() == (ROOT / "config" / "instance_types.py").read_text()


def test_apis_differ_in_what_they_accept():
    assert "ml.t2.medium" in INSTANCE_TYPES["endpoint"] and "ml.t2.medium" not in INSTANCE_TYPES["processing"]
    assert "ml.t3.medium" in INSTANCE_TYPES["processing"] and "ml.t3.medium" not in INSTANCE_TYPES["transform"]
