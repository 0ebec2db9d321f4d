"""``serve``: SageMaker's serving entrypoint: nginx on port 8080 in front of gunicorn workers.

- Workers: ``MODEL_SERVER_WORKERS`` (default: the CPU count), each single-threaded
  (``OMP_NUM_THREADS=1`` unless set: N workers with N OpenMP threads each oversubscribe the CPUs
  and were measured 20x slower); request timeout:
  ``MODEL_SERVER_TIMEOUT`` seconds (default 60); body limit: ``MODEL_SERVER_MAX_PAYLOAD_BYTES``.
- With nginx on the PATH (the image has it), gunicorn listens on a Unix socket behind nginx, which
  buffers slow clients; without nginx (a laptop), or with ``--no-nginx``, gunicorn listens on
  ``--host``/``--port`` itself. SIGTERM stops both gracefully.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlops_container.wsgi import DEFAULT_MAX_PAYLOAD, MAX_PAYLOAD_ENV

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
APP = "mlops_container.wsgi:create_app()"


def _positive_int(env: str, default: int) -> int:
    raw = os.environ.get(env, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"serve: {env}={raw!r} must be a positive integer") from None
    if value < 1:
        raise SystemExit(f"serve: {env}={raw!r} must be a positive integer")
    return value


def settings() -> dict:
    return {
        "workers": _positive_int("MODEL_SERVER_WORKERS", os.cpu_count() or 1),
        "timeout": _positive_int("MODEL_SERVER_TIMEOUT", 60),
        "max_payload": _positive_int(MAX_PAYLOAD_ENV, DEFAULT_MAX_PAYLOAD),
    }


def nginx_config(*, host: str, port: int, socket: str, timeout: int, max_payload: int, workdir: str = "/tmp") -> str:
    text = TEMPLATE.read_text()
    listen = str(port) if host == "0.0.0.0" else f"{host}:{port}"  # noqa: S104
    for key, value in {
        "__LISTEN__": listen,
        "__SOCKET__": socket,
        "__WORKDIR__": workdir,
        "__TIMEOUT__": str(timeout),
        "__MAX_BODY__": str(max_payload),
    }.items():
        text = text.replace(key, value)
    return text


def worker_environment() -> dict:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def gunicorn_command(bind: str, *, workers: int, timeout: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        APP,
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--timeout",
        str(timeout),
        "--worker-class",
        "sync",
        "--preload",
        "--graceful-timeout",
        "20",
        "--log-level",
        "info",
        # gunicorn 25.1+ also serves a management socket (worker count, reload, shutdown) in $HOME unless told not to:
        # nothing here uses it (https://gunicorn.org/reference/settings/#control_socket_disable)
        "--no-control-socket",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 (the container's port, as SageMaker requires)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--no-nginx", action="store_true", help="let gunicorn listen itself")
    args = parser.parse_args(argv)
    conf = settings()
    use_nginx = not args.no_nginx and shutil.which("nginx") is not None

    processes: list[subprocess.Popen] = []
    if use_nginx:
        workdir = Path(tempfile.mkdtemp(prefix="mlops-serve-"))
        workdir.chmod(0o755)  # nginx workers run as an unprivileged user and must reach the socket
        socket = str(workdir / "gunicorn.sock")
        (workdir / "nginx.conf").write_text(
            nginx_config(
                host=args.host, port=args.port, socket=socket, timeout=conf["timeout"], max_payload=conf["max_payload"], workdir=str(workdir)
            )
        )
        processes.append(
            subprocess.Popen(gunicorn_command(f"unix:{socket}", workers=conf["workers"], timeout=conf["timeout"]), env=worker_environment())
        )
        processes.append(subprocess.Popen(["nginx", "-c", str(workdir / "nginx.conf"), "-p", str(workdir)]))
    else:
        processes.append(
            subprocess.Popen(gunicorn_command(f"{args.host}:{args.port}", workers=conf["workers"], timeout=conf["timeout"]), env=worker_environment())
        )
    print(f"serve: {'nginx + ' if use_nginx else ''}gunicorn, {conf['workers']} workers, timeout {conf['timeout']} s, port {args.port}", flush=True)

    stopped_by_signal = False

    def stop(signum=None, _frame=None):
        nonlocal stopped_by_signal
        stopped_by_signal = stopped_by_signal or signum is not None
        for p in processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM if p is processes[0] else signal.SIGQUIT)  # both mean "graceful"

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopped_by_signal and all(p.poll() is None for p in processes):
        time.sleep(0.2)
    stop()
    deadline = time.time() + 30
    for p in processes:
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
    if stopped_by_signal:
        return 0
    print("serve: a server process exited on its own; stopping", file=sys.stderr)
    return next((p.returncode for p in processes if p.returncode), 1)


if __name__ == "__main__":
    sys.exit(main())
