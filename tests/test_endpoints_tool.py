"""``make synth`` prints which feature needs which interface endpoint, and what they cost idle (tools/endpoints.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("endpoints_tool", ROOT / "tools" / "endpoints.py")
endpoints_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(endpoints_tool)


def test_dev_prints_each_endpoint_with_its_features_and_the_idle_cost(capsys):
    assert endpoints_tool.main(["dev"]) == 0
    out = capsys.readouterr().out
    assert "Interface endpoints of mlops-dev, in 1 zone(s):" in out
    assert "sagemaker.mlflow   project churn's MLflow app; project fraud's MLflow app; a self-served project's MLflow app" in out
    assert "git-codecommit" not in out  # dev names no repository: CodeCommit is closed to new customers
    assert "6 endpoints x 1 zone(s) x $7.30 a month = $43.80 a month idle" in out  # tools/cost.py prices the same


def test_an_unknown_stage_is_a_clear_error(capsys):
    assert endpoints_tool.main(["nope"]) == 2
    assert "nope" in capsys.readouterr().err
    assert endpoints_tool.main([]) == 2


def test_the_frugal_stage_prints_that_it_has_no_endpoint(capsys):
    """make synth STAGE=trial (the frugal profile) ends with this list: it has none (the tool crashed on an empty list)."""
    assert endpoints_tool.main(["trial"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Interface endpoints of mlops-trial: none (network.mode frugal") and "egress: sagemaker" in out
