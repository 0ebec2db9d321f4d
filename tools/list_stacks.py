"""Print the stacks of a synthesized cloud assembly (``cdk.out``): stack name, construct path, resources."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def templates(assembly: Path):
    """(stack name, construct path, template) of every stack of the assembly, nested assemblies (stages) included."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        if artifact["type"] == "cdk:cloud-assembly":
            yield from templates(assembly / artifact["properties"]["directoryName"])
        elif artifact["type"] == "aws:cloudformation:stack":
            template = json.loads((assembly / artifact["properties"]["templateFile"]).read_text())
            yield artifact["properties"].get("stackName", artifact_id), artifact.get("displayName", artifact_id), template


def stacks(assembly: Path):
    for name, path, template in templates(assembly):
        yield name, path, len(template.get("Resources", {}))


def main(outdir: str = "cdk.out") -> int:
    rows = list(stacks(Path(outdir)))
    if not rows:
        print(f"no stacks in {outdir}", file=sys.stderr)
        return 1
    width = max(len(r[0]) for r in rows)
    print(f"{len(rows)} stacks synthesized into {outdir}/:")
    for name, path, resources in rows:
        print(f"  {name:<{width}}  {path:<28} {resources:>3} resources")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
