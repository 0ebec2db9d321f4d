"""checkov (CloudFormation checks) over every synthesized template: the dev and prod stages (with the Service
Catalog products) and the delivery app. Every finding that stands is skipped in checkov's own per-resource
metadata with its reason (mlops_constructs/checkov.py); none may fail unexplained."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def _checkov(*directories: Path) -> list[dict]:
    """One checkov report per directory (run side by side), over its templates only (stacks' and products'): checkov
    then parses no manifest, tree or asset files, which it would read and drop."""
    assert CHECKOV.exists(), "checkov is installed by `make setup` (requirements-checkov.txt)"
    runs = []
    for d in directories:
        templates = sorted(d.rglob("*.template.json"))
        assert templates, f"no templates under {d}"
        runs.append(
            subprocess.Popen(
                [str(CHECKOV), "--framework", "cloudformation", "-o", "json", "--compact", "--skip-download"]  # --compact: no code lines
                + [arg for t in templates for arg in ("-f", str(t))],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        )
    reports = []
    for run in runs:
        out, _ = run.communicate(timeout=300)
        report = json.loads(out)
        reports += report if isinstance(report, list) else [report]
    return reports


def test_checkov_finds_nothing_unexplained(dev, prod, delivery_app):
    reports = _checkov(dev.outdir, prod.outdir, delivery_app.outdir)
    summary = {key: sum(r["summary"][key] for r in reports) for key in ("passed", "failed", "skipped", "resource_count")}
    print(f"\ncheckov {reports[0]['summary']['checkov_version']} over {len(reports)} assemblies: {summary}")
    failed = [f"{f['check_id']} {f['resource']} ({f['file_path']})" for r in reports for f in r["results"]["failed_checks"]]
    assert failed == []
    skipped = [s for r in reports for s in r["results"]["skipped_checks"]]
    assert skipped and all(len(s.get("check_result", {}).get("suppress_comment", "")) > 40 for s in skipped)
    assert summary["passed"] > 500
    templates = [json.loads(t.read_text()) for d in (dev.outdir, prod.outdir, delivery_app.outdir) for t in d.rglob("*.template.json")]
    assert summary["resource_count"] == sum(len(t.get("Resources", {})) for t in templates)  # every resource of every template read
