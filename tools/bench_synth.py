"""Benchmark: wall time to synthesize the whole default app vs a one-bucket CDK app (the jsii floor).

Each run is a fresh Python process, as ``cdk synth`` starts one, writing to a temporary outdir.
Both apps run with the same settings (built-in CloudFormation validation on, as in ``make synth``);
the platform app also runs cdk-nag. Prints per-run times, medians and their ratio.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "5"))

PLATFORM_APP = """
import sys
sys.path.insert(0, {root!r})
from app import build_app, new_app
app = new_app(outdir={outdir!r})
build_app(app)
app.synth()
"""

ONE_BUCKET_APP = """
import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
app = cdk.App(outdir={outdir!r}, analytics_reporting=False)
stack = cdk.Stack(app, "OneBucket")
s3.Bucket(stack, "Bucket")
app.synth()
"""


def time_once(source: str) -> float:
    with tempfile.TemporaryDirectory() as outdir:
        code = source.format(root=str(ROOT), outdir=outdir)
        env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)
        return time.perf_counter() - start


def main() -> int:
    time_once(ONE_BUCKET_APP)  # warm the jsii module cache once, as any second synth on a machine is
    results = {}
    for name, source in (("default app (all stacks of config/dev.yaml)", PLATFORM_APP), ("one-bucket app (floor)", ONE_BUCKET_APP)):
        times = [time_once(source) for _ in range(RUNS)]
        results[name] = times
        print(f"{name}: median {statistics.median(times):.2f} s, min {min(times):.2f} s, runs {' '.join(f'{t:.2f}' for t in times)}")
    platform, floor = (statistics.median(t) for t in results.values())
    print(f"ratio (median default app / median one-bucket app): {platform / floor:.2f}x")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {RUNS} runs each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
