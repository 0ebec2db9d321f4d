"""Conformance run of the drift check over real Model Monitor artifacts and real captured traffic.

Not a test (the suite must not depend on files outside this repository): the corpus of public SageMaker
files (default ``../shared/corpus/model-monitor``, each with its source in ``SOURCES.md``) is read with the
drift check's own readers, and what each gives is printed: per capture file the records, rows, columns,
inferred types and malformed lines (with the reason); per statistics.json its features and types; per
constraints.json its features. Exit status 1 when a reader raises (a crash, not a counted rejection).

Run: ``PYTHONPATH=container .venv/bin/python tools/conformance_model_monitor.py [corpus dir]``
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "container"))

from mlops_container import drift  # noqa: E402


def main(argv: list[str]) -> int:
    corpus = Path(argv[0]) if argv else ROOT.parent / "shared" / "corpus" / "model-monitor"
    if not corpus.is_dir():
        print(f"no corpus at {corpus}")
        return 1
    crashes = 0
    for path in sorted(corpus.rglob("*")):
        name = path.relative_to(corpus)
        try:
            if path.suffix == ".jsonl":
                with tempfile.TemporaryDirectory() as tmp:
                    shutil.copy(path, Path(tmp) / "capture.jsonl")
                    capture = drift.read_capture(Path(tmp))
                dataset = drift.capture_dataset(capture, [])
                types = Counter(p.inferred_type for p in drift.profiles(dataset))
                why = f"; rejected: {capture.malformed_examples[0]}" if capture.malformed_examples else ""
                print(
                    f"{name}: {capture.records} records, {dataset.rows} rows x {len(dataset.names)} columns "
                    f"({', '.join(f'{n} {t}' for t, n in sorted(types.items()))}), {capture.malformed} malformed{why}"
                )
            elif path.name == "statistics.json":
                found = drift.read_statistics(path)
                types = Counter(p.inferred_type for p in found)
                sketched = sum(p.values is not None for p in found)
                print(f"{name}: {len(found)} features ({', '.join(f'{n} {t}' for t, n in sorted(types.items()))}), {sketched} with a KLL sketch")
            elif path.name == "constraints.json":
                found = drift.read_constraints(path)
                print(f"{name}: {len(found['features'])} features, monitoring_config keys: {', '.join(sorted(found.get('monitoring_config', {})))}")
        except Exception as exc:  # a crash is what this run is for
            crashes += 1
            print(f"{name}: CRASH {type(exc).__name__}: {exc}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
