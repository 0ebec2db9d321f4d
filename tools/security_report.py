"""Figures for a security review of a synthesized stage: wildcard IAM statements, cdk-nag acknowledgments, checkov.

    python tools/security_report.py cdk.out            # after `make synth` (and `make setup` for checkov)

Wildcard statements: Allow statements of identity policies (AWS::IAM::Policy, ManagedPolicy, Role inline policies,
product templates included) with a ``*`` in an action or a resource. Acknowledgments: the cdk-nag findings the
validation report lists as acknowledged. checkov: its CloudFormation checks over the same directory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _statements(template: dict):
    for resource in template.get("Resources", {}).values():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield from props["PolicyDocument"]["Statement"]
        elif kind == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                yield from policy["PolicyDocument"]["Statement"]


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def report(out: Path) -> dict:
    templates = [json.loads(p.read_text()) for p in out.rglob("*.json") if p.name.endswith((".template.json", ".product.template.json"))]
    allow = [s for t in templates for s in _statements(t) if s.get("Effect") == "Allow"]
    wildcard = [s for s in allow if any("*" in json.dumps(a) for a in _listed(s.get("Action", [])) + _listed(s.get("Resource", [])))]
    star_resource = [s for s in allow if "*" in _listed(s.get("Resource", []))]
    validation = out / "validation-report.json"
    acknowledged = 0
    if validation.exists():
        acknowledged = json.dumps(json.loads(validation.read_text())).count('"acknowledgedId"')
    figures = {
        "templates": len(templates),
        "allow statements": len(allow),
        "statements with a wildcard": len(wildcard),
        "statements on Resource *": len(star_resource),
        "  of them without a condition": sum(1 for s in star_resource if not s.get("Condition")),
        "wildcard statements without a condition": sum(1 for s in wildcard if not s.get("Condition")),
        "cdk-nag acknowledgments": acknowledged,
    }
    checkov = ROOT / ".venv-checkov" / "bin" / "checkov"
    if checkov.exists():
        run = subprocess.run(
            [str(checkov), "-d", str(out), "--framework", "cloudformation", "-o", "json", "--quiet", "--skip-download"],
            capture_output=True,
            text=True,
        )
        summary = json.loads(run.stdout)["summary"]
        figures |= {"checkov failed": summary["failed"], "checkov skipped (with reasons)": summary["skipped"], "checkov passed": summary["passed"]}
    return figures


if __name__ == "__main__":
    for key, value in report(Path(sys.argv[1] if len(sys.argv) > 1 else "cdk.out")).items():
        print(f"{key}: {value}")
