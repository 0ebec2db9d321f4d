"""Benchmark: the drift check on 1,000,000 captured records vs evidently's data-drift report on the same data.

Generates the records once, in a process of its own (SageMaker's capture format, one CSV row each, five features shifted) from the
built-in data set, plus the same rows as a NumPy file for the peer. Then, ``BENCH_RUNS`` times (default 3),
each in a fresh process so that its peak memory (max RSS, from the kernel) is its own:
- ours, end to end: read the capture JSON Lines, parse, profile, check, write every output
  (``statistics.json``, ``constraints.json``, ``constraint_violations.json``, ``report.html``, ``summary.json``);
- evidently's ``DataDriftPreset`` report on the same baseline and rows given as pandas DataFrames (its input
  format: building the DataFrames is not counted, reading the capture is not asked of it).
Prints every run, the medians, the ratio of the medians and both peak memories, side by side.

Run: ``make bench-drift`` (evidently lives in ``.venv-bench``, never in the tests); ``BENCH_RECORDS`` to change the size.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "container"))

from mlops_container import capture, data, drift, preprocess  # noqa: E402

RECORDS = int(os.environ.get("BENCH_RECORDS", "1000000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
GOAL = 10.0


def ours(root: Path) -> dict:
    started = time.perf_counter()
    summary = drift.analyze(root / "baseline.csv", root / "capture", root / "monitoring")
    return {"seconds": time.perf_counter() - started, "drifted": summary["drifted_features"], "rows": summary["rows"]}


def evidently(root: Path) -> dict:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    names = json.loads((root / "names.json").read_text())
    reference = pd.DataFrame(np.load(root / "baseline.npy"), columns=names)
    current = pd.DataFrame(np.load(root / "current.npy"), columns=names)
    started = time.perf_counter()
    result = Report([DataDriftPreset()]).run(reference_data=reference, current_data=current)
    seconds = time.perf_counter() - started
    del result
    return {"seconds": seconds, "version": __import__("evidently").__version__}


def _worker(kind: str, root: Path) -> dict:
    """Run one measurement in a fresh process; its result and its peak resident memory (the kernel's max RSS)."""
    completed = subprocess.run([sys.executable, __file__, "--worker", kind, str(root)], stdout=subprocess.PIPE, text=True)
    if completed.returncode:
        raise SystemExit(f"bench-drift: the {kind} run failed")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["peak_mb"] = result.pop("peak_kb") / 1024
    return result


def _generate(root: Path) -> None:
    data.write_table(root / "raw" / "d.csv", data.builtin_dataset())
    preprocess.run(root / "raw", root / "out", target="target", validation_fraction=0.15, test_fraction=0.15, seed=42)
    (root / "baseline.csv").write_bytes((root / "out" / "baseline" / "baseline.csv").read_bytes())
    baseline = data.read_table(root / "baseline.csv", target=None)
    rng = np.random.default_rng(0)
    rows = baseline.X[rng.integers(0, len(baseline), RECORDS)] * rng.normal(1, 0.02, (RECORDS, baseline.X.shape[1]))
    rows[:, :5] += 1.5 * baseline.X.std(axis=0)[:5]
    when = datetime(2026, 11, 23, 12, tzinfo=UTC)
    folder = root / "capture" / "ep" / "AllTraffic" / "2026" / "11" / "23" / "12"
    folder.mkdir(parents=True)
    texts = [",".join(f"{v:.6g}" for v in row) for row in rows]
    with (folder / "part.jsonl").open("w") as fh:
        for i, text in enumerate(texts):
            fh.write(json.dumps(capture.capture_record(text.encode(), "text/csv", b"0.5\n", "text/csv", event_id=str(i), when=when)) + "\n")
    # the peer gets exactly the values the capture holds
    np.save(root / "current.npy", np.array([[float(v) for v in t.split(",")] for t in texts]))
    np.save(root / "baseline.npy", baseline.X)
    (root / "names.json").write_text(json.dumps(baseline.features))


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--generate":
        _generate(Path(sys.argv[2]))
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        result = (ours if sys.argv[2] == "ours" else evidently)(Path(sys.argv[3]))
        result["peak_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps(result))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        # in a process of its own: a child's max RSS starts from its parent's at fork, so the parent stays small
        subprocess.run([sys.executable, __file__, "--generate", str(root)], check=True)
        size = sum(p.stat().st_size for p in (root / "capture").rglob("*.jsonl"))
        print(f"generated {RECORDS:,} capture records ({size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s", flush=True)
        runs: dict[str, list[dict]] = {"ours": [], "evidently": []}
        for i in range(RUNS):
            for kind in runs:
                result = _worker(kind, root)
                runs[kind].append(result)
                print(f"run {i + 1}, {kind}: {result['seconds']:.2f} s, peak memory {result['peak_mb']:.0f} MB", flush=True)
    seconds = {kind: statistics.median(r["seconds"] for r in results) for kind, results in runs.items()}
    peak = {kind: max(r["peak_mb"] for r in results) for kind, results in runs.items()}
    print(f"\nmedian of {RUNS} runs, {RECORDS:,} records, {os.cpu_count()} cores; evidently {runs['evidently'][0]['version']}")
    print("| | ours: capture JSON Lines -> every output | evidently DataDriftPreset, DataFrames given |")
    print("| --- | --- | --- |")
    print(f"| time | {seconds['ours']:.2f} s ({RECORDS / seconds['ours']:,.0f} records/s) | {seconds['evidently']:.2f} s |")
    print(f"| peak memory (max RSS) | {peak['ours']:.0f} MB | {peak['evidently']:.0f} MB |")
    ratio = seconds["evidently"] / seconds["ours"]
    print(f"ours drifted: {', '.join(runs['ours'][0]['drifted'])}")
    print(
        f"ratio evidently / ours: {ratio:.2f}x (goal >= {GOAL:g}x: {'met' if ratio >= GOAL else 'NOT met'}); "
        f"memory ours / evidently: {peak['ours'] / peak['evidently']:.2f} (goal <= 1: {'met' if peak['ours'] <= peak['evidently'] else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
