"""The README's main job through the pinned CDK CLI, as `make synth` runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CDK = ROOT / "node_modules" / ".bin" / "cdk"

pytestmark = pytest.mark.skipif(not CDK.exists(), reason="the CDK CLI is installed by `make test` (npm ci)")


def _cdk(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "CDK_DISABLE_VERSION_CHECK": "true",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for key in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(key, None)
    return subprocess.run([str(CDK), *args, "-o", str(tmp_path / "cdk.out")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_cli_synthesizes_every_stack_without_credentials(tmp_path):
    result = _cdk("synth", "--quiet", "-c", "stage=dev", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    listing = subprocess.run([sys.executable, "tools/list_stacks.py", str(tmp_path / "cdk.out")], cwd=ROOT, capture_output=True, text=True)
    assert "14 stacks synthesized" in listing.stdout
    report = json.loads((tmp_path / "cdk.out" / "validation-report.json").read_text())
    assert all(p["conclusion"] == "success" for p in report["pluginReports"])
    assert not (ROOT / "cdk.context.json").exists() or "availability-zones" not in (ROOT / "cdk.context.json").read_text()


def test_cli_synth_of_a_bad_stage_fails_with_the_report(tmp_path):
    result = _cdk("synth", "--quiet", "-c", "stage=staging", tmp_path=tmp_path)
    assert result.returncode != 0
    assert "stage: 'staging': no file" in result.stderr
    assert "Traceback" not in result.stderr
