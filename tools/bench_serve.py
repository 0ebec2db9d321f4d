"""Benchmark: the real serving stack on loopback vs ``model.predict`` in-process (the floor).

Trains the default model on the built-in data set, starts ``serve`` (nginx + gunicorn when nginx is
installed, else gunicorn alone) with 2 workers on a free 127.0.0.1 port, and drives it from client
threads in this process:
- 1-row CSV requests: requests/s, p50 and p99 latency;
- 1,000-row CSV requests: rows/s;
then, in the same run, the floor: the model's own scoring of the same rows in-process.
Every loop is bounded in count and time. The client shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "container"))

from mlops_container import data, preprocess, train  # noqa: E402
from mlops_container.model import TrainedModel  # noqa: E402
from mlops_container.paths import TrainingPaths  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_model(root: Path) -> TrainedModel:
    data.write_table(root / "raw" / "data.csv", data.builtin_dataset())
    preprocess.run(root / "raw", root / "processed", target="target", validation_fraction=0.15, test_fraction=0.15, seed=42)
    paths = TrainingPaths(root / "opt_ml")
    for channel in ("train", "validation"):
        shutil.copytree(root / "processed" / channel, paths.channel(channel))
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return train.run(paths)


def drive(port: int, body: bytes, *, threads: int, max_requests: int, max_seconds: float) -> dict:
    """Send ``body`` from ``threads`` clients until ``max_requests`` are done or ``max_seconds`` pass."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(max_requests))
    deadline = time.perf_counter() + max_seconds

    def client() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Content-Type": "text/csv", "Accept": "text/csv"}
        while time.perf_counter() < deadline:
            with lock:
                if next(counter, None) is None:
                    break
            start = time.perf_counter()
            try:
                conn.request("POST", "/invocations", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                errors += not ok
        conn.close()

    started = time.perf_counter()
    workers = [threading.Thread(target=client) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": wall,
        "rps": len(latencies) / wall,
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
    }


def floor(model: TrainedModel, X: np.ndarray, *, max_calls: int, max_seconds: float) -> dict:
    """The faster of: default threading (OpenMP on every core) and one thread."""
    from threadpoolctl import threadpool_limits

    default = _floor(model, X, max_calls=max_calls, max_seconds=max_seconds)
    with threadpool_limits(limits=1):
        single = _floor(model, X, max_calls=max_calls, max_seconds=max_seconds)
    return max(default, single, key=lambda r: r["per_s"])


def _floor(model: TrainedModel, X: np.ndarray, *, max_calls: int, max_seconds: float) -> dict:
    calls = 0
    started = time.perf_counter()
    while calls < max_calls and time.perf_counter() - started < max_seconds:
        model.scores(X)
        calls += 1
    wall = time.perf_counter() - started
    return {"calls": calls, "per_s": calls / wall, "rows_per_s": calls * len(X) / wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="client threads for 1-row requests")
    parser.add_argument("--single-requests", type=int, default=3000)
    parser.add_argument("--batch-requests", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20, help="time bound of each phase")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = train_model(root)
        test = data.read_table(root / "processed" / "test" / "test.csv")
        rng = np.random.default_rng(0)
        batch = test.X[rng.integers(0, len(test), 1000)]
        one_row = ",".join(repr(float(v)) for v in test.X[0]).encode()
        thousand = "\n".join(",".join(repr(float(v)) for v in row) for row in batch).encode()

        port = _free_port()
        use_nginx = shutil.which("nginx") is not None
        env = {
            **os.environ,
            "MLOPS_ML_ROOT": str(root / "opt_ml"),
            "PYTHONPATH": str(ROOT / "container"),
            "MODEL_SERVER_WORKERS": str(args.workers),
            "MODEL_SERVER_LOG_LEVEL": "WARNING",
        }
        command = [sys.executable, "-m", "mlops_container.serve", "--host", "127.0.0.1", "--port", str(port)]
        server = subprocess.Popen(
            command + ([] if use_nginx else ["--no-nginx"]), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            deadline = time.time() + 60
            while True:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    conn.request("GET", "/ping")
                    if conn.getresponse().status == 200:
                        break
                except OSError:
                    if time.time() > deadline or server.poll() is not None:
                        raise SystemExit("server did not start") from None
                    time.sleep(0.2)
            drive(port, one_row, threads=args.threads, max_requests=200, max_seconds=5)  # warm-up
            single = drive(port, one_row, threads=args.threads, max_requests=args.single_requests, max_seconds=args.seconds)
            batched = drive(port, thousand, threads=2, max_requests=args.batch_requests, max_seconds=args.seconds)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)

        floor_one = floor(model, test.X[:1], max_calls=20000, max_seconds=5)
        floor_batch = floor(model, batch, max_calls=2000, max_seconds=5)

    front = "nginx + gunicorn" if use_nginx else "gunicorn (nginx not installed)"
    served_rows = batched["rps"] * 1000
    print(f"serving stack: {front}, {args.workers} workers, model {model.metadata.model_type}, {os.cpu_count()} cores shared with the client")
    print(
        f"1-row requests   : {single['rps']:8.0f} req/s  p50 {single['p50']:.2f} ms  p99 {single['p99']:.2f} ms  "
        f"({single['requests']} requests, {args.threads} client threads, {single['errors']} errors)"
    )
    print(
        f"1,000-row requests: {served_rows:8.0f} rows/s  p50 {batched['p50']:.2f} ms  p99 {batched['p99']:.2f} ms  "
        f"({batched['requests']} requests, 2 client threads, {batched['errors']} errors)"
    )
    print(
        f"floor, in-process model.scores (best of all-core and 1-thread): 1 row {floor_one['per_s']:8.0f} calls/s; "
        f"1,000 rows {floor_batch['rows_per_s']:8.0f} rows/s"
    )
    print(
        f"ratios: floor/served 1-row calls {floor_one['per_s'] / single['rps']:.2f}x; "
        f"floor/served batch rows {floor_batch['rows_per_s'] / served_rows:.2f}x (aim: <= 1.5x)"
    )
    return 0 if single["errors"] == 0 and batched["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
