"""checkov (CloudFormation checks) over every synthesized template: the dev, prod and trial stages (with the Service
Catalog products) and the delivery app. Every finding that stands is skipped in checkov's own per-resource
metadata with its reason (mlops_constructs/checkov.py); none may fail unexplained."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKOV_PYTHON = ROOT / ".venv-checkov" / "bin" / "python"
RUNNER = Path(__file__).resolve().parent / "checkov_runner.py"  # checkov's CLI, each JSONPath parser built once


def distinct_templates(*directories: Path) -> list[Path]:
    """The templates (stacks' and products') of ``directories``, one per distinct content: the delivery app's stages
    hold many templates byte for byte the same as the standalone stages' (34 distinct of 59), and checkov's findings
    on a template depend on its content only."""
    by_content: dict[bytes, Path] = {}
    for d in directories:
        found = sorted(d.rglob("*.template.json"))
        assert found, f"no templates under {d}"
        for path in found:
            by_content.setdefault(hashlib.sha256(path.read_bytes()).digest(), path)
    return list(by_content.values())


def _checkov(templates: list[Path]) -> list[dict]:
    """checkov's report over ``templates``, in one run: checkov then parses no manifest, tree or asset files, which it
    would read and drop, and starts once."""
    assert CHECKOV_PYTHON.exists(), "checkov is installed by `make setup` (requirements-checkov.txt)"
    run = subprocess.run(
        [str(CHECKOV_PYTHON), str(RUNNER), "--framework", "cloudformation", "-o", "json", "--compact", "--skip-download"]  # --compact: no code lines
        + [arg for t in templates for arg in ("-f", str(t))],
        capture_output=True,
        text=True,
        timeout=300,
        # one process: its pool of parsers pickles every template back (1 s of CPU here) for a second core that
        # `make test`'s other worker is using
        env={**os.environ, "CHECKOV_PARALLELIZATION_TYPE": "none"},
    )
    assert run.stdout.strip(), run.stderr[-2000:]
    report = json.loads(run.stdout)
    return report if isinstance(report, list) else [report]


def test_checkov_finds_nothing_unexplained(dev, prod, trial, delivery_app):
    templates = distinct_templates(dev.outdir, prod.outdir, trial.outdir, delivery_app.outdir)
    reports = _checkov(templates)
    summary = {key: sum(r["summary"][key] for r in reports) for key in ("passed", "failed", "skipped", "resource_count")}
    print(f"\ncheckov {reports[0]['summary']['checkov_version']}: {summary}")
    failed = [f"{f['check_id']} {f['resource']} ({f['file_path']})" for r in reports for f in r["results"]["failed_checks"]]
    assert failed == []
    skipped = [s for r in reports for s in r["results"]["skipped_checks"]]
    assert skipped and all(len(s.get("check_result", {}).get("suppress_comment", "")) > 40 for s in skipped)
    assert summary["passed"] > 500
    # every resource of every distinct template read
    assert summary["resource_count"] == sum(len(json.loads(t.read_text()).get("Resources", {})) for t in templates)
