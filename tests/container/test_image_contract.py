"""The Dockerfile, the entrypoint scripts and the code agree (the image cannot be built here: no Docker)."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from mlops_container import paths, serve

CONTAINER = Path(__file__).resolve().parents[2] / "container"
DOCKERFILE = (CONTAINER / "Dockerfile").read_text()
ENTRYPOINTS = ("train", "serve", "preprocess", "evaluate")


def _instructions(keyword: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(keyword + " ")]


def test_base_image_is_a_slim_python_matching_the_tested_one():
    (base,) = _instructions("FROM")
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base)
    assert sys.version_info[:2] == (3, 11)


def test_every_entrypoint_is_copied_onto_the_path_and_runs_an_existing_module():
    copied = " ".join(_instructions("COPY"))
    for name in ENTRYPOINTS:
        script = CONTAINER / "bin" / name
        assert f"bin/{name}" in copied
        assert script.stat().st_mode & 0o111, f"{script} is not executable"
        module = re.search(r"python3 -m (\S+)", script.read_text()).group(1)
        assert callable(importlib.import_module(module).main), module
    assert re.search(r"COPY bin/train bin/serve bin/preprocess bin/evaluate bin/monitor bin/check /usr/local/bin/", DOCKERFILE)


def test_no_entrypoint_overrides_sagemakers_train_and_serve_arguments():
    assert _instructions("ENTRYPOINT") == [] and _instructions("CMD") == []


def test_environment_matches_the_code():
    env = " ".join(_instructions("ENV"))
    assert f"{paths.ML_ROOT_ENV}={paths.DEFAULT_ML_ROOT}" in env
    assert "PYTHONPATH=/opt/program" in env and "PYTHONUNBUFFERED=1" in env
    assert "COPY mlops_container/ /opt/program/mlops_container/" in DOCKERFILE


def test_serving_port_and_nginx_match():
    assert _instructions("EXPOSE") == ["8080"]
    conf = serve.nginx_config(host="0.0.0.0", port=8080, socket="/tmp/g.sock", timeout=60, max_payload=6291456)
    assert "listen 8080 deferred;" in conf and "server unix:/tmp/g.sock;" in conf
    assert "location ~ ^/(ping|invocations|execution-parameters)$" in conf
    assert "client_max_body_size 6291456;" in conf and "__" not in conf
    assert "nginx" in " ".join(_instructions("RUN"))


def test_serve_defaults_to_port_8080_on_all_interfaces():
    result = subprocess.run(
        [sys.executable, "-m", "mlops_container.serve", "--help"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(CONTAINER), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0 and "MODEL_SERVER_WORKERS" in result.stdout
    assert re.search(r'add_argument\("--port", type=int, default=8080\)', (CONTAINER / "mlops_container" / "serve.py").read_text())
    assert re.search(r'add_argument\("--host", default="0.0.0.0"\)', (CONTAINER / "mlops_container" / "serve.py").read_text())


def test_requirements_are_pinned_and_installed_here():
    lines = [line for line in (CONTAINER / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert lines and all("==" in line for line in lines)
    for line in lines:
        name, pinned = line.split("==")
        assert version(name) == pinned, name
    assert "COPY requirements.txt" in DOCKERFILE and "pip install --no-cache-dir -r /opt/program/requirements.txt" in DOCKERFILE


@pytest.mark.parametrize(
    ("env", "message"),
    [({"MODEL_SERVER_WORKERS": "zero"}, "must be a positive integer"), ({"MODEL_SERVER_TIMEOUT": "0"}, "must be a positive integer")],
)
def test_bad_server_settings_are_refused(monkeypatch, env, message):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit, match=message):
        serve.settings()


def test_server_settings_default_to_cpu_count_and_60_seconds(monkeypatch):
    monkeypatch.delenv("MODEL_SERVER_WORKERS", raising=False)
    monkeypatch.delenv("MODEL_SERVER_TIMEOUT", raising=False)
    import os

    assert serve.settings()["workers"] == os.cpu_count() and serve.settings()["timeout"] == 60


def test_workers_are_single_threaded_unless_told_otherwise(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert serve.worker_environment()["OMP_NUM_THREADS"] == "1"
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert serve.worker_environment()["OMP_NUM_THREADS"] == "4"


def test_gunicorn_reads_the_command_as_meant():
    """gunicorn's own parser over the command serve runs: sync workers, the app loaded before they fork, and no
    management socket (gunicorn 25.1+ opens one in $HOME by default: worker count, reload, shutdown; nothing uses it)."""
    from gunicorn.config import Config

    command = serve.gunicorn_command("127.0.0.1:8080", workers=3, timeout=45)
    parsed = Config().parser().parse_args(command[command.index("gunicorn") + 1 :])
    assert (parsed.worker_class, parsed.preload_app, parsed.workers, parsed.timeout) == ("sync", True, 3, 45)
    assert parsed.control_socket_disable is True


def test_contract_paths_are_where_the_code_reads_and_writes(monkeypatch):
    from mlops_container import contract

    monkeypatch.setenv(paths.ML_ROOT_ENV, "/opt/ml")
    processing = paths.ProcessingPaths.from_env()
    assert contract.PREPROCESS_INPUT == str(processing.input("data"))
    assert contract.PREPROCESS_OUTPUTS == {n: str(processing.output(n)) for n in ("train", "validation", "test", "baseline")}
    assert (contract.EVALUATE_MODEL, contract.EVALUATE_TEST, contract.EVALUATE_OUTPUT) == (
        str(processing.model),
        str(processing.test),
        str(processing.evaluation),
    )
    assert (contract.EVALUATE_BASELINE, contract.EVALUATE_SCORED_BASELINE) == (str(processing.baseline), str(processing.scored_baseline))
    for entrypoint in contract.ENTRYPOINTS.values():
        assert (CONTAINER / "bin" / entrypoint[0]).exists()


def test_a_process_of_the_package_skips_the_final_collections_at_exit():
    """Every process that imports the package (entrypoints, gunicorn's arbiter and the workers it forks) freezes the
    garbage collector as it exits: Python's final collections over NumPy, scikit-learn and MLflow were most of an exit."""
    probe = (
        "import atexit, gc\n"
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))  # registered first: runs last\n"
        "import mlops_container\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], env={"PYTHONPATH": str(CONTAINER)}, capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "frozen at exit: True", run.stderr
