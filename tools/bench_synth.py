"""Benchmark: wall time to synthesize the whole default app vs a one-bucket CDK app (the jsii floor).

Each run is a fresh Python process writing to a temporary outdir, timed to its exit: the default app is ``app.py`` run
as ``cdk synth`` runs it (output directory and validation setting in ``CDK_OUTDIR`` and ``CDK_VALIDATION``), with
cdk-nag; the floor is a one-bucket ``cdk.App``. Both apps are timed twice over: with aws-cdk-lib's built-in CloudFormation validation off
(issue 14's measure: the app's own cost per resource) and on (what ``make synth`` runs). Prints per-run
times, medians, the resources synthesized (stack and product templates), the seconds per 100 resources
above the floor and the ratio to the floor. ``BENCH_RUNS`` (default 3) runs of each.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
GOALS = {"per_100_resources_s": 1.0, "ratio": 2.5}

PLATFORM_APP = """
import runpy, sys
sys.path.insert(0, {root!r})
sys.argv = ["app.py"]
runpy.run_path({root!r} + "/app.py", run_name="__main__")  # what `cdk synth` runs: python app.py, to its exit
"""

ONE_BUCKET_APP = """
import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
app = cdk.App(outdir={outdir!r}, analytics_reporting=False, builtin_cloud_formation_validation={validation!r})
stack = cdk.Stack(app, "OneBucket")
s3.Bucket(stack, "Bucket")
app.synth()
"""


def time_once(source: str, validation: bool) -> tuple[float, int]:
    """Seconds to synthesize, and the resources in the templates written (stacks and Service Catalog products)."""
    with tempfile.TemporaryDirectory() as outdir:
        code = source.format(root=str(ROOT), outdir=outdir, validation=validation)
        # app.py takes its output directory and validation setting as the CDK CLI gives them (the floor takes its own)
        env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_OUTDIR": outdir, "CDK_VALIDATION": str(validation).lower()}
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)
        seconds = time.perf_counter() - start
        resources = sum(len(json.loads(p.read_text()).get("Resources", {})) for p in Path(outdir).rglob("*.template.json"))
        return seconds, resources


def main() -> int:
    time_once(ONE_BUCKET_APP, False)  # warm the jsii module cache once, as any second synth on a machine is
    for validation in (False, True):
        label = "built-in validation " + ("on (as make synth)" if validation else "off (issue 14's measure)")
        medians, counts = {}, {}
        for name, source in (("default app (all stacks of config/dev.yaml)", PLATFORM_APP), ("one-bucket app (floor)", ONE_BUCKET_APP)):
            runs = [time_once(source, validation) for _ in range(RUNS)]
            times = [t for t, _ in runs]
            medians[name], counts[name] = statistics.median(times), runs[0][1]
            print(f"{label}: {name}: median {medians[name]:.2f} s, runs {' '.join(f'{t:.2f}' for t in times)}, {runs[0][1]} resources")
        (platform, floor), (resources, floor_resources) = medians.values(), counts.values()
        per_100 = (platform - floor) / (resources - floor_resources) * 100
        ratio = platform / floor
        print(f"{label}: {per_100:.2f} s per 100 resources above the floor; default app / floor {ratio:.2f}x")
        if not validation:
            print(
                f"goals (validation off): <= {GOALS['per_100_resources_s']:g} s per 100 resources: "
                f"{'met' if per_100 <= GOALS['per_100_resources_s'] else 'NOT met'}; <= {GOALS['ratio']:g}x the floor: "
                f"{'met' if ratio <= GOALS['ratio'] else 'NOT met'}"
            )
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {RUNS} runs each (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
