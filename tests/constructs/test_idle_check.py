"""The idle checker that the Studio lifecycle configuration installs, run against a fake Jupyter server."""

from __future__ import annotations

import importlib.util
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlops_constructs.studio_domain import IDLE_SHUTDOWN_DIR

spec = importlib.util.spec_from_file_location("idle_check", IDLE_SHUTDOWN_DIR / "idle_check.py")
idle_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(idle_check)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def ago(minutes: float) -> str:
    return (NOW - timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def test_idle_time_is_since_the_latest_activity():
    status = {"last_activity": ago(90)}
    kernels = [{"execution_state": "idle", "last_activity": ago(70)}]
    terminals = [{"last_activity": ago(30)}]
    assert idle_check.idle_minutes(status, kernels, terminals, NOW) == pytest.approx(30)


def test_busy_kernel_is_never_idle():
    kernels = [{"execution_state": "busy", "last_activity": ago(600)}]
    assert idle_check.idle_minutes({"last_activity": ago(600)}, kernels, [], NOW) == 0


def test_no_timestamps_means_not_idle():
    assert idle_check.idle_minutes({}, [], [], NOW) == 0


class _FakeJupyter(BaseHTTPRequestHandler):
    routes: dict = {}

    def do_GET(self):  # noqa: N802
        body = json.dumps(self.routes[self.path.removeprefix("/jupyterlab/default")]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def jupyter(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeJupyter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(idle_check, "BASE_URL", f"http://127.0.0.1:{server.server_port}/jupyterlab/default")
    yield _FakeJupyter.routes
    server.shutdown()


def test_main_stops_the_app_after_the_limit(jupyter, monkeypatch, tmp_path):
    old = (datetime.now(UTC) - timedelta(minutes=120)).isoformat()
    jupyter.update({"/api/status": {"last_activity": old}, "/api/kernels": [], "/api/terminals": []})
    metadata = tmp_path / "resource-metadata.json"
    metadata.write_text(json.dumps({"DomainId": "d-123", "SpaceName": "alice-space", "ResourceName": "default", "AppType": "JupyterLab"}))
    calls = []
    monkeypatch.setattr(idle_check, "METADATA", str(metadata))
    monkeypatch.setattr(idle_check.subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    monkeypatch.setenv("IDLE_MINUTES", "60")
    assert idle_check.main() == 0
    assert calls == [
        ["aws", "sagemaker", "delete-app", "--domain-id", "d-123", "--space-name", "alice-space", "--app-type", "JupyterLab", "--app-name", "default"]
    ]


def test_main_leaves_an_active_app_alone(jupyter, monkeypatch):
    recent = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    jupyter.update({"/api/status": {"last_activity": recent}, "/api/kernels": [], "/api/terminals": []})
    monkeypatch.setattr(idle_check.subprocess, "call", lambda cmd: pytest.fail("must not stop an active app"))
    monkeypatch.setenv("IDLE_MINUTES", "60")
    assert idle_check.main() == 0


def test_main_waits_while_the_server_is_down(monkeypatch):
    monkeypatch.setattr(idle_check, "BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setattr(idle_check.subprocess, "call", lambda cmd: pytest.fail("must not stop the app"))
    monkeypatch.setenv("IDLE_MINUTES", "60")
    assert idle_check.main() == 0
