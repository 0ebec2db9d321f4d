"""Local mode: the platform's whole ML loop on a laptop, with the image's own entrypoints, no AWS, no Docker.

    preprocess -> train -> evaluate -> quality gate -> serve (gunicorn; nginx when installed)
    -> send traffic (two periods) -> data capture (SageMaker's format) -> stop -> drift check
    -> model quality (labels from the held-out truth, the world changing in the second period) -> summary

Every step runs the same module the image runs (``python -m mlops_container.<step>``, in a process of its own:
forked from a process that has made the steps' imports, on Linux; ``run_module``) with
``MLOPS_ML_ROOT`` pointing into the run folder ``<out>/run-<timestamp>/``, which keeps the data,
model, ``model.tar.gz``, ``evaluation.json``, the captured traffic and one log per step.

Exit status: 0 done; 1 a step failed (the message names it and shows its log); 3 the quality gate
failed (nothing is served, as the cloud pipeline registers nothing).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import runpy
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from mlops_container import metrics as gate_metrics
from mlops_container import monitor
from mlops_container.capture import CAPTURE_DIR_ENV, ENDPOINT_ENV, read_records
from mlops_container.data import DEFAULT_TARGET, DataError, Table, builtin_dataset, read_channel, read_table, write_table
from mlops_container.paths import ML_ROOT_ENV, ProcessingPaths, TrainingPaths

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
ENDPOINT_NAME = "local-endpoint"


class StepFailed(Exception):
    def __init__(self, step: str, reason: str, log: Path | None = None) -> None:
        super().__init__(f"{step}: {reason}")
        self.step, self.reason, self.log = step, reason, log


@dataclass
class Progress:
    """One line per step with its duration; a bar for long loops (plain lines when not on a terminal)."""

    stream: object = sys.stderr
    started: float = field(default_factory=time.perf_counter)
    tty: bool = field(default_factory=lambda: sys.stderr.isatty())

    def step(self, name: str, detail: str = "") -> float:
        print(f"==> {name}{(': ' + detail) if detail else ''}", file=self.stream, flush=True)
        return time.perf_counter()

    def done(self, since: float, detail: str) -> None:
        print(f"    done in {time.perf_counter() - since:.1f} s: {detail}", file=self.stream, flush=True)

    def bar(self, done: int, total: int, label: str) -> None:
        if self.tty:
            width = 30
            filled = int(width * done / total)
            end = "\n" if done == total else ""
            print(f"\r    {label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end=end, file=self.stream, flush=True)
        elif done == total or done % max(1, total // 4) == 0:
            print(f"    {label}: {done}/{total}", file=self.stream, flush=True)


# What the steps import that takes time (numpy and scikit-learn in every step, ~1 s; MLflow in training, ~1.4 s): made
# once by the process the steps are forked from, each step then starts in ~0.05 s. A name missing here costs only time.
STEP_PRELOAD = [
    "numpy",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.metrics",
    "sklearn.model_selection",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "mlflow",
]


def _forked_steps() -> bool:
    """Steps forked from a process that has made their imports (multiprocessing's forkserver) on Linux; elsewhere each
    step is a fresh interpreter: on macOS "the fork start method should be considered unsafe as it can lead to crashes
    of the subprocess as macOS system libraries may start threads"
    (https://docs.python.org/3/library/multiprocessing.html#contexts-and-start-methods)."""
    return sys.platform == "linux"


def start_step_server() -> None:
    """Start the process the steps are forked from, and its imports, now: they overlap the work done before the first
    step. A no-op where steps are fresh interpreters, or once it runs (it serves every run of this process)."""
    if _forked_steps():
        import multiprocessing.forkserver

        multiprocessing.set_forkserver_preload(STEP_PRELOAD)
        multiprocessing.forkserver.ensure_running()


def _step_main(module: str, args: list[str], env: dict, log: str) -> None:
    """One step, in a process forked from the step server: the step's environment, its log as stdout and stderr, and
    its module run as ``__main__``, as ``python -m`` runs it."""
    os.environ.clear()
    os.environ.update(env)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    # the step's PYTHONPATH, ahead of the rest, as an interpreter started with it would have it
    sys.path[:0] = [entry for entry in env.get("PYTHONPATH", "").split(os.pathsep) if entry and entry not in sys.path]
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def run_module(module: str, args: list[str], *, env: dict, log: Path) -> int:
    """``python -m <module> <args>`` with ``env``, its output into ``log``: its exit status (1 for an exception, whose
    traceback is in the log)."""
    if _forked_steps():
        import multiprocessing

        start_step_server()
        process = multiprocessing.get_context("forkserver").Process(target=_step_main, args=(module, args, env, str(log)))
        process.start()
        process.join()
        return process.exitcode
    with log.open("w") as fh:
        return subprocess.call([sys.executable, "-m", module, *args], env=env, stdout=fh, stderr=subprocess.STDOUT)


def _run_step(step: str, module: str, args: list[str], *, env: dict, log: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    code = run_module(f"mlops_container.{module}", args, env=env, log=log)
    if code != 0:
        lines = log.read_text().strip().splitlines()
        reason = next((line for line in reversed(lines) if "failed:" in line), lines[-1] if lines else f"exit status {code}")
        raise StepFailed(step, reason, log)


def _local_tracking(run_dir: Path) -> dict[str, str]:
    """The training step's MLflow settings: a local store in the run's folder (``mlruns``), the same code path as a training
    job logging to the project's MLflow; none when MLflow is not installed (``container/requirements-mlflow.txt``)."""
    import importlib.util

    from mlops_container.contract import MLFLOW_EXPERIMENT_NAME, MLFLOW_TRACKING_URI, TRAINING_JOB_NAME

    if importlib.util.find_spec("mlflow") is None:
        return {}
    return {
        MLFLOW_TRACKING_URI: (run_dir / "mlruns").resolve().as_uri(),
        MLFLOW_EXPERIMENT_NAME: "local",
        TRAINING_JOB_NAME: f"local-train-{run_dir.name}",
        # MLflow's file store: the one local store mlflow-skinny can write (no SQL backend); MLflow 3 asks for the opt-in
        "MLFLOW_ALLOW_FILE_STORE": "true",
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(port: int, body: bytes, content_type: str, accept: str, timeout: float = 30, request_id: str | None = None) -> tuple[int, bytes, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.perf_counter()
    headers = {"Content-Type": content_type, "Accept": accept, **({"X-Request-Id": request_id} if request_id else {})}
    try:
        conn.request("POST", "/invocations", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read(), time.perf_counter() - started
    finally:
        conn.close()


def _wait_ready(port: int, server: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.poll() is not None:
            raise StepFailed("serve", f"the server exited with status {server.returncode}", log)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/ping")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise StepFailed("serve", f"/ping did not answer 200 within {timeout:.0f} s", log)


def drift(table: Table, reference: Table, *, features: int = 5, shift_sd: float = 2.0, seed: int = 7) -> tuple[Table, list[str]]:
    """Shift the first ``features`` features by ``shift_sd`` of their training standard deviation and widen them."""
    rng = np.random.default_rng(seed)
    X = table.X.copy()
    names = reference.features[:features]
    for j in range(min(features, X.shape[1])):
        sd = float(reference.X[:, j].std()) or 1.0
        X[:, j] = X[:, j] * 1.3 + shift_sd * sd + rng.normal(0, 0.1 * sd, size=X.shape[0])
    return Table(features=table.features, X=X, y=table.y, target=table.target), names


def send_traffic(
    port: int,
    rows: np.ndarray,
    features: list[str],
    *,
    requests: int,
    batch_size: int,
    progress: Progress,
    seed: int = 11,
    ids: str | None = None,
    sent: dict[str, list[int]] | None = None,
) -> dict:
    """Mixed traffic: CSV and JSON, single rows and batches. Returns counts and latencies. With ``ids``, each request is
    sent as ``X-Request-Id: <ids><i>`` (the capture's eventId) and ``sent`` records which rows it carried."""
    rng = random.Random(seed)
    latencies, errors, sent_rows = [], 0, 0
    for i in range(requests):
        kind = i % 4
        size = 1 if kind in (0, 2) else batch_size
        indices = [rng.randrange(len(rows)) for _ in range(size)]
        picked = rows[indices]
        request_id = f"{ids}{i}" if ids is not None else None
        if kind < 2:
            body = "\n".join(",".join(repr(float(v)) for v in r) for r in picked).encode()
            status, _, seconds = _request(port, body, "text/csv", "text/csv", request_id=request_id)
        else:
            body = json.dumps({"instances": [dict(zip(features, map(float, r))) for r in picked]}).encode()
            status, _, seconds = _request(port, body, "application/json", "application/json", request_id=request_id)
        if sent is not None and request_id is not None and status == 200:
            sent[request_id] = indices
        latencies.append(seconds)
        errors += status != 200
        sent_rows += size
        progress.bar(i + 1, requests, "requests")
    ms = np.array(latencies) * 1000
    return {
        "requests": requests,
        "rows": sent_rows,
        "errors": errors,
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


def _package_model(model_dir: Path, archive: Path) -> None:
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:  # what SageMaker uploads from /opt/ml/model
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)


def run(args: argparse.Namespace, progress: Progress) -> dict:
    run_dir = Path(args.out) / f"run-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')[:-3]}"
    ml_root = run_dir / "opt_ml"
    # The step's own view of /opt/ml (mlops_container.paths), rooted in this run's folder.
    training, processing = TrainingPaths(ml_root), ProcessingPaths.under(ml_root)
    logs = run_dir / "logs"
    env = {**os.environ, ML_ROOT_ENV: str(ml_root), "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))}
    summary: dict = {"run_dir": str(run_dir)}
    start_step_server()

    t = progress.step("data", "your CSV " + str(args.csv) if args.csv else "built-in breast-cancer data set (ships with scikit-learn)")
    raw_dir = processing.input("data")
    raw_dir.mkdir(parents=True)
    if args.csv:
        try:
            read_table(Path(args.csv), target=args.target)  # fail early with a clear message
        except (DataError, OSError) as exc:
            raise StepFailed("data", str(exc)) from None
        shutil.copy(args.csv, raw_dir / "data.csv")
    else:
        write_table(raw_dir / "data.csv", builtin_dataset())
    progress.done(t, f"input in {raw_dir.relative_to(run_dir)}")

    t = progress.step("preprocess", "split train/validation/test, write the monitoring baseline")
    _run_step("preprocess", "preprocess", ["--target", args.target], env=env, log=logs / "preprocess.log")
    schema = json.loads((processing.output("baseline") / "schema.json").read_text())
    summary["data"] = {"rows": schema["rows"], "features": len(schema["features"]), "splits": schema["splits"]}
    progress.done(t, ", ".join(f"{k} {v}" for k, v in schema["splits"].items()))

    t = progress.step("train", f"hyperparameters {args.hyperparameters or '(defaults)'}")
    for channel in ("train", "validation"):
        shutil.copytree(processing.output(channel), training.channel(channel))
    config = training.hyperparameters.parent
    config.mkdir(parents=True)
    training.hyperparameters.write_text(json.dumps(dict(args.hyperparameters)))  # strings, as SageMaker passes them
    tracked = _local_tracking(run_dir)
    try:
        _run_step("train", "train", [], env={**env, **tracked}, log=logs / "train.log")
    except StepFailed as exc:
        failure = training.failure
        if failure.exists():
            exc.reason = failure.read_text().strip()
        raise
    archive = run_dir / "artifacts" / "model.tar.gz"
    _package_model(training.model, archive)
    metadata = json.loads((training.model / "model_metadata.json").read_text())
    summary["model"] = {"type": metadata["model_type"], "hyperparameters": metadata["hyperparameters"], "artifact": str(archive)}
    if tracked:  # the run the training step logged (its log says which)
        run_line = next((line for line in (logs / "train.log").read_text().splitlines() if line.startswith("MLflow run ")), None)
        summary["mlflow"] = {"tracking_uri": tracked["MLFLOW_TRACKING_URI"], "run_id": run_line.split()[-1] if run_line else None}
    progress.done(t, f"{metadata['model_type']}, validation auc {metadata['validation_metrics'].get('auc', float('nan')):.4f}")

    t = progress.step("evaluate", "score the test split, and the training features for Model Monitor's baseline")
    evaluation_dir = run_dir / "evaluation"
    _run_step(
        "evaluate",
        "evaluate",
        [
            "--model-dir",
            str(archive.parent),
            "--test-dir",
            str(processing.output("test")),
            "--output-dir",
            str(evaluation_dir),
            "--baseline-dir",
            str(processing.output("baseline")),
            "--scored-baseline-dir",
            str(run_dir / "scored-baseline"),
        ],
        env=env,
        log=logs / "evaluate.log",
    )
    evaluation = json.loads((evaluation_dir / "evaluation.json").read_text())
    summary["metrics"] = evaluation["metrics"]
    progress.done(t, "  ".join(f"{k} {v:.4f}" for k, v in evaluation["metrics"].items() if v is not None))

    t = progress.step("quality gate", f"{args.metric} against {args.threshold}")
    passed, verdict = gate_metrics.gate(evaluation["metrics"], args.metric, args.threshold)
    summary["gate"] = {"passed": passed, "verdict": verdict}
    progress.done(t, verdict)
    if not passed:
        return summary

    port = args.port or _free_port()
    capture_dir = run_dir / "capture"
    serve_env = {**env, CAPTURE_DIR_ENV: str(capture_dir), ENDPOINT_ENV: ENDPOINT_NAME, "MODEL_SERVER_WORKERS": str(args.workers)}
    serve_args = ["--host", "127.0.0.1", "--port", str(port)] + ([] if args.nginx else ["--no-nginx"])
    t = progress.step("serve", f"http://127.0.0.1:{port} ({'nginx + ' if args.nginx else ''}gunicorn, {args.workers} workers)")
    serve_log = logs / "serve.log"
    with serve_log.open("w") as fh:
        server = subprocess.Popen(
            [sys.executable, "-m", "mlops_container.serve", *serve_args], env=serve_env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_ready(port, server, serve_log)
        progress.done(t, "/ping answered 200")

        test = read_channel(processing.output("test"), target=args.target)
        rows, shifted = test, []
        if args.drift:
            rows, shifted = drift(test, read_channel(processing.output("train"), target=args.target))
        t = progress.step("traffic", f"{args.requests} requests, {'drifted: ' + ', '.join(shifted) if shifted else 'clean'}")
        # two periods of traffic (model quality is checked per period), each request's id and rows kept for its label
        sent: dict[str, list[int]] = {}
        half = max(1, args.requests // 2) if args.quality else args.requests
        bounds = [_millisecond_bound()]
        results = []
        for period, count in enumerate((half, args.requests - half)):
            if count:
                traffic = dict(requests=count, batch_size=args.batch_size, progress=progress, seed=11 + period, ids=f"p{period + 1}-", sent=sent)
                results.append(send_traffic(port, rows.X, test.features, **traffic))
            bounds.append(_millisecond_bound())
        summary["traffic"] = {**_merged_traffic(results), "drifted_features": shifted}
        progress.done(t, f"{summary['traffic']['errors']} errors, p50 {summary['traffic']['p50_ms']} ms, p99 {summary['traffic']['p99_ms']} ms")
    finally:
        t = progress.step("stop", "SIGTERM to the server")
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        progress.done(t, f"exit status {server.returncode}")

    records = read_records(capture_dir)
    folders = sorted({str(p.parent.relative_to(run_dir)) for p in capture_dir.rglob("*.jsonl")})
    summary["capture"] = {"records": len(records), "folders": folders}

    t = progress.step("drift check", "captured traffic against the training baseline (Model Monitor's formats)")
    monitoring = run_dir / "monitoring"
    result = drift_check(processing.output("baseline"), capture_dir, run_dir)
    summary["drift"] = {
        "drifted_features": result["drifted_features"],
        "malformed": result["malformed"],
        "report": str(monitoring / "report.html"),
        "violations": str(monitoring / "constraint_violations.json"),
    }
    drifted = result["drifted_features"]
    progress.done(t, f"drift in {', '.join(drifted)}" if drifted else "no drift")
    if args.quality:
        changed = f"then {args.world_change:.0%} of the labels flip (the world changes; the inputs do not)" if args.world_change else "truth"
        t = progress.step("model quality", f"{args.label_fraction:.0%} of the requests labelled from the held-out truth, {changed}")
        summary["quality"] = quality_check(run_dir, capture_dir, sent, test.y, bounds, args=args, seed=13)
        q = summary["quality"]
        progress.done(t, ("ALARM: " if q["alarm"] else "") + "; ".join(f"{p['metric']} {_value(p['value'])} ({p['status']})" for p in q["periods"]))
    return summary


def _millisecond_bound() -> datetime:
    """A period boundary the capture's millisecond times fall on the right side of: a moment 2 ms after the requests
    before it (their times, cut to the millisecond, are earlier), itself cut to the millisecond (the requests after it
    are at or past it)."""
    time.sleep(0.002)
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _merged_traffic(results: list[dict]) -> dict:
    """One line of figures for the periods' traffic (latency percentiles: the larger period's, which is most of it)."""
    main = max(results, key=lambda r: r["requests"])
    return {
        "requests": sum(r["requests"] for r in results),
        "rows": sum(r["rows"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "p50_ms": main["p50_ms"],
        "p99_ms": main["p99_ms"],
    }


def quality_check(run_dir: Path, capture: Path, sent: dict[str, list[int]], truth: np.ndarray, bounds: list[datetime], *, args, seed: int) -> dict:
    """The endpoint's model-quality check, here: ``label_fraction`` of each period's requests get labels from the held-out
    truth, written in Model Monitor's ground-truth layout under ``ground-truth/<endpoint>/yyyy/mm/dd/hh/`` (as a producer
    or ``mlops label`` would); in the second period ``world_change`` of them are flipped. Each period is then merged and
    scored with the cloud check's code (``mlops_container.quality``): the alarm is the quality alarm's rule (below the
    threshold over at least ``min_labels`` rows). Writes ``quality/quality.json`` (each period) and ``quality/quality.html``
    (the metric over time)."""
    from mlops_container import quality

    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    labels_dir = run_dir / "ground-truth" / ENDPOINT_NAME / now.strftime("%Y/%m/%d/%H")
    labels_dir.mkdir(parents=True)
    lines = []
    for request_id, indices in sorted(sent.items()):
        if rng.random() >= args.label_fraction:
            continue
        values = [int(truth[i]) for i in indices]
        if request_id.startswith("p2-") and args.world_change:
            values = [1 - v if rng.random() < args.world_change else v for v in values]
        lines.append(quality.label_line(request_id, values))
    (labels_dir / "labels.jsonl").write_text("\n".join(lines) + "\n")
    captured = [(str(f), f.read_text().splitlines()) for f in sorted(capture.rglob("*.jsonl"))]
    predictions, _ = quality.read_predictions(captured)
    label_files = [(str(f.relative_to(run_dir)), f.read_text().splitlines()) for f in sorted((run_dir / "ground-truth").rglob("*.jsonl"))]
    labels, read = quality.read_labels(label_files)
    periods = []
    for start, end in zip(bounds, bounds[1:]):
        merged = quality.merge(predictions, labels, start, end, timedelta(hours=1))
        scored = quality.score(merged, args.metric, args.threshold, args.min_labels)
        periods.append({**scored, "start": start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "counts": {**merged.counts, "duplicates": read.duplicates}})
    out = run_dir / "quality"
    out.mkdir()
    (out / "quality.json").write_text(json.dumps(periods, indent=1))
    (out / "quality.html").write_text(quality.html_report(periods))
    alarm = any(p["status"] == "below threshold" for p in periods)
    return {"alarm": alarm, "periods": periods, "labels": len(lines), "report": str(out / "quality.html")}


def drift_check(baseline: Path, capture: Path, run_dir: Path) -> dict:
    """The cloud's two monitoring jobs, run here with the environment SageMaker gives them (``monitor``): the
    training pipeline's baseline job on the training features (into ``run_dir/baseline``), then a scheduled run on
    the captured traffic against that baseline's files (into ``run_dir/monitoring``). Same code, same files: the
    same verdict as the endpoint's monitor on the same data (``monitoring.analyzer: project``)."""
    root = run_dir / "monitor-job"  # the jobs' /opt/ml (metrics and messages, unused here)
    files = run_dir / "baseline"
    monitor.run(root, {"dataset_format": json.dumps({"csv": {"header": True}}), "dataset_source": str(baseline), "output_path": str(files)})
    scheduled = {
        "dataset_format": json.dumps({"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}}),
        "dataset_source": str(capture),
        "output_path": str(run_dir / "monitoring"),
        "baseline_statistics": str(files / "statistics.json"),
        "baseline_constraints": str(files / "constraints.json"),
        "publish_cloudwatch_metrics": "Disabled",
    }
    return monitor.run(root, scheduled)


def print_summary(summary: dict, seconds: float) -> None:
    out = [f"\nLocal run finished in {seconds:.1f} s: {summary['run_dir']}"]
    if "data" in summary:
        d = summary["data"]
        out.append(f"  data          {d['rows']} rows, {d['features']} features; " + ", ".join(f"{k} {v}" for k, v in d["splits"].items()))
    if "model" in summary:
        out.append(f"  model         {summary['model']['type']} {json.dumps(summary['model']['hyperparameters'])}")
    if "metrics" in summary:
        out.append("  test metrics  " + "  ".join(f"{k} {v:.4f}" for k, v in summary["metrics"].items() if v is not None))
    if "gate" in summary:
        out.append(f"  gate          {summary['gate']['verdict']}")
    if "traffic" in summary:
        tr = summary["traffic"]
        kind = "drifted (" + ", ".join(tr["drifted_features"]) + ")" if tr["drifted_features"] else "clean"
        out.append(
            f"  traffic       {tr['requests']} requests, {tr['rows']} rows, {kind}, {tr['errors']} errors, p50 {tr['p50_ms']} ms, p99 {tr['p99_ms']} ms"
        )
    if "capture" in summary:
        c = summary["capture"]
        out.append(f"  data capture  {c['records']} records in {', '.join(c['folders']) or '(none)'}")
    if "drift" in summary:
        d = summary["drift"]
        verdict = f"DRIFT in {', '.join(d['drifted_features'])}" if d["drifted_features"] else "no drift"
        out.append(f"  drift check   {verdict}; report {d['report']}")
    if "quality" in summary:
        q = summary["quality"]
        periods = ", then ".join(f"{p['metric']} {_value(p['value'])} over {p['rows']} labelled rows ({p['status']})" for p in q["periods"])
        verdict = "QUALITY ALARM: the model fell below the bar" if q["alarm"] else "quality held"
        out.append(f"  model quality {verdict}: {periods}; report {q['report']}")
    run_dir = summary["run_dir"]
    out.append(f"  files         {run_dir}/artifacts/model.tar.gz, {run_dir}/evaluation/evaluation.json, {run_dir}/logs/, {run_dir}/summary.json")
    print("\n".join(out))


def _hyperparameter(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: write hyperparameters as name=value")
    return key, value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make local", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", help="your own CSV (header row, numeric features, a 0/1 label column)")
    parser.add_argument("--target", default=DEFAULT_TARGET, help="label column of --csv (default: target)")
    parser.add_argument(
        "--hp",
        dest="hyperparameters",
        type=_hyperparameter,
        action="append",
        default=[],
        help="hyperparameter name=value, repeatable (e.g. --hp model_type=random_forest --hp n_estimators=300)",
    )
    parser.add_argument("--metric", default="auc", choices=sorted(gate_metrics.HIGHER_IS_BETTER), help="quality-gate metric (default auc)")
    parser.add_argument("--threshold", type=float, default=0.75, help="quality-gate threshold (default 0.75)")
    parser.add_argument("--drift", action="store_true", help="send drifted traffic: shift 5 features' distributions")
    parser.add_argument("--requests", type=int, default=200, help="requests to send (default 200)")
    parser.add_argument("--batch-size", type=int, default=20, help="rows per batch request (default 20)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument(
        "--nginx",
        action=argparse.BooleanOptionalAction,
        default=shutil.which("nginx") is not None,
        help="put nginx in front (default: when nginx is installed)",
    )
    parser.add_argument(
        "--quality",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="label part of the traffic and run the model-quality check over two periods (default: on)",
    )
    parser.add_argument("--label-fraction", type=float, default=0.5, help="share of requests labelled (default 0.5)")
    parser.add_argument(
        "--world-change", type=float, default=0.6, help="share of the second period's labels flipped: the world changes (default 0.6; 0: none)"
    )
    parser.add_argument("--min-labels", type=int, default=20, help="labelled rows a period needs for its metric (default 20)")
    parser.add_argument("--out", default=".local", help="where run folders go (default .local)")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 100_000:
        parser.error("--requests must be between 1 and 100000")
    if not 1 <= args.batch_size <= 10_000:
        parser.error("--batch-size must be between 1 and 10000")
    if not 1 <= args.workers <= 64:
        parser.error("--workers must be between 1 and 64")
    if not 0 < args.label_fraction <= 1:
        parser.error("--label-fraction must be more than 0 and at most 1")
    if not 0 <= args.world_change <= 1:
        parser.error("--world-change must be between 0 and 1")
    if not 1 <= args.min_labels <= 1_000_000:
        parser.error("--min-labels must be between 1 and 1000000")
    if args.quality and args.requests < 2:
        parser.error("--quality needs at least 2 requests (one period each); or --no-quality")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    progress = Progress()
    started = time.perf_counter()
    try:
        summary = run(args, progress)
    except StepFailed as exc:
        print(f"\nlocal mode failed at step '{exc.step}': {exc.reason}", file=sys.stderr)
        if exc.log is not None and exc.log.exists():
            tail = exc.log.read_text().strip().splitlines()[-15:]
            print(f"last lines of {exc.log}:\n  " + "\n  ".join(tail), file=sys.stderr)
        return 1
    Path(summary["run_dir"], "summary.json").write_text(json.dumps(summary, indent=2))
    print_summary(summary, time.perf_counter() - started)
    return 0 if summary["gate"]["passed"] else 3


if __name__ == "__main__":
    sys.exit(main())
