"""Benchmark: the drift check on 1,000,000 captured records, and evidently's data-drift report on the same data.

Generates the records (SageMaker's capture format, one row each, five features shifted) from the
built-in data set, then times, in this one process:
- ours end to end: read and parse the capture files, check every feature, write the four outputs;
- ours, check only (the rows already parsed into columns: profiling and checking);
- evidently's ``DataDriftPreset`` report on the same baseline and rows as pandas DataFrames (its
  input format; the parsing it needs is not counted for it).
"""

from __future__ import annotations

import json
import os
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


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data.write_table(root / "raw" / "d.csv", data.builtin_dataset())
        preprocess.run(root / "raw", root / "out", target="target", validation_fraction=0.15, test_fraction=0.15, seed=42)
        baseline_csv = root / "out" / "baseline" / "baseline.csv"
        baseline = data.read_table(baseline_csv, target=None)
        rng = np.random.default_rng(0)
        rows = baseline.X[rng.integers(0, len(baseline), RECORDS)] * rng.normal(1, 0.02, (RECORDS, baseline.X.shape[1]))
        sd = baseline.X.std(axis=0)
        rows[:, :5] += 1.5 * sd[:5]
        started = time.perf_counter()
        when = datetime(2026, 11, 23, 12, tzinfo=UTC)
        capture_dir = root / "capture" / "ep" / "AllTraffic" / "2026" / "11" / "23" / "12"
        capture_dir.mkdir(parents=True)
        with (capture_dir / "part.jsonl").open("w") as fh:
            for i, row in enumerate(rows):
                body = ",".join(f"{v:.6g}" for v in row).encode()
                fh.write(json.dumps(capture.capture_record(body, "text/csv", b"0.5\n", "text/csv", event_id=str(i), when=when)) + "\n")
        size = (capture_dir / "part.jsonl").stat().st_size
        print(f"generated {RECORDS:,} capture records ({size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s")

        t = time.perf_counter()
        summary = drift.analyze(baseline_csv, root / "capture", root / "monitoring")
        ours_total = time.perf_counter() - t
        print(
            f"ours, end to end (parse + check + outputs): {ours_total:.2f} s, {RECORDS / ours_total:,.0f} records/s; "
            f"drift in {len(summary['drifted_features'])} features: {', '.join(summary['drifted_features'])}"
        )

        base = drift.profiles(drift.read_dataset(baseline_csv))
        constraints = drift.suggest_constraints(base, drift.DEFAULT_THRESHOLD)
        dataset = drift.capture_dataset(drift.read_capture(root / "capture"), baseline.features)
        t = time.perf_counter()
        drift.check(constraints, base, drift.profiles(dataset))
        ours_check = time.perf_counter() - t
        print(f"ours, check only: {ours_check:.2f} s, {RECORDS / ours_check:,.0f} records/s")

        try:
            import pandas as pd
            from evidently import Report
            from evidently.presets import DataDriftPreset
        except ImportError as exc:
            print(f"evidently not installed ({exc}); run `make bench-drift`")
            return 1
        reference = pd.DataFrame(baseline.X, columns=baseline.features)
        current = pd.DataFrame(rows, columns=baseline.features)
        t = time.perf_counter()
        result = Report([DataDriftPreset()]).run(reference_data=reference, current_data=current)
        peer = time.perf_counter() - t
        drifted = json.loads(result.json()) if hasattr(result, "json") else {}
        print(f"evidently {__import__('evidently').__version__} DataDriftPreset (DataFrames given): {peer:.2f} s, {RECORDS / peer:,.0f} records/s")
        print(f"ratio evidently / ours: end to end {peer / ours_total:.2f}x, check only {peer / ours_check:.2f}x")
        del drifted
    return 0


if __name__ == "__main__":
    sys.exit(main())
