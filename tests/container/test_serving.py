"""End to end: the real serving stack (``serve`` -> gunicorn workers) on a free loopback port."""

from __future__ import annotations

import http.client
import io
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlops_container import data
from mlops_container.capture import read_records
from mlops_container.model import TrainedModel
from mlops_container.wsgi import InferenceApp

ROOT = Path(__file__).resolve().parents[2]
MAX_PAYLOAD = 100_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=["gunicorn", "nginx+gunicorn"])
def server(request, ml_root, tmp_path_factory):
    front = request.param
    if front == "nginx+gunicorn" and shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (the image has it; `apt-get install nginx` to test it here)")
    port = _free_port()
    capture_dir = tmp_path_factory.mktemp("capture")
    env = {
        **os.environ,
        "MLOPS_ML_ROOT": str(ml_root),
        "PYTHONPATH": str(ROOT / "container"),
        "MLOPS_LOCAL_CAPTURE_DIR": str(capture_dir),
        "MODEL_SERVER_WORKERS": "2",
        "MODEL_SERVER_MAX_PAYLOAD_BYTES": str(MAX_PAYLOAD),
        "MODEL_SERVER_TIMEOUT": "30",
    }
    log = tmp_path_factory.mktemp("logs") / "serve.log"
    with log.open("w") as fh:
        nginx = [] if front == "nginx+gunicorn" else ["--no-nginx"]
        process = subprocess.Popen(
            [sys.executable, "-m", "mlops_container.serve", *nginx, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if _call(port, "GET", "/ping")[0] == 200:
                break
        except OSError:
            pass
        time.sleep(0.05)  # also after nginx's 502 while gunicorn starts: a tight loop would take the CPU it needs
    else:
        process.kill()
        pytest.fail(f"server did not start: {log.read_text()[-2000:]}")
    yield {"port": port, "capture": capture_dir, "log": log, "process": process}
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def _call(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def test_rows(processed):
    return data.read_table(processed / "test" / "test.csv")


def _csv(rows) -> bytes:
    return "\n".join(",".join(repr(float(v)) for v in r) for r in rows).encode()


def invoke(server, body: bytes, content_type: str, accept: str | None = None):
    headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {})}
    return _call(server["port"], "POST", "/invocations", body, headers)


def test_ping(server):
    status, body, _ = _call(server["port"], "GET", "/ping")
    assert status == 200 and json.loads(body) == {"status": "healthy"}


def test_csv_single_row_and_batch(server, test_rows, ml_root):
    model = TrainedModel.load(ml_root / "model")
    status, body, headers = invoke(server, _csv(test_rows.X[:1]), "text/csv")
    assert status == 200 and headers["Content-Type"] == "text/csv"
    assert float(body) == pytest.approx(model.scores(test_rows.X[:1])[0], abs=1e-6)
    status, body, _ = invoke(server, _csv(test_rows.X[:50]), "text/csv", "text/csv")
    scores = [float(v) for v in body.decode().split()]
    assert status == 200 and scores == pytest.approx(list(model.scores(test_rows.X[:50])), abs=1e-6)


def test_json_single_row_and_batch(server, test_rows):
    one = json.dumps({"instances": [dict(zip(test_rows.features, map(float, test_rows.X[0])))]}).encode()
    status, body, _ = invoke(server, one, "application/json")
    assert status == 200 and len(json.loads(body)["predictions"]) == 1
    batch = json.dumps({"instances": test_rows.X[:20].tolist()}).encode()
    status, body, _ = invoke(server, batch, "application/json", "text/csv")
    assert status == 200 and len(body.decode().split()) == 20


def test_json_lines_for_batch_transform(server, test_rows):
    body = "\n".join(json.dumps(r) for r in test_rows.X[:5].tolist()).encode()
    status, out, headers = invoke(server, body, "application/jsonlines")
    assert status == 200 and headers["Content-Type"] == "application/jsonlines"
    assert len(out.decode().splitlines()) == 5


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status", "message"),
    [
        (b"", "text/csv", None, 400, "empty request body"),
        (b"1,2,3\n", "text/csv", None, 400, "row 0: 3 values, the model expects 30"),
        (("a," * 29 + "b").encode(), "text/csv", None, 400, "is not a number"),
        (b"1,2,3", "application/x-protobuf", None, 415, "unsupported content type"),
        (b"1", "text/csv", "image/png", 406, "cannot answer"),
        (b"1," * (MAX_PAYLOAD // 2 + 10), "text/csv", None, 413, "over the 100000-byte limit"),
    ],
)
def test_bad_input_gets_a_4xx_with_a_reason_and_the_server_keeps_answering(server, test_rows, body, content_type, accept, status, message):
    got, out, headers = invoke(server, body, content_type, accept)
    assert got == status
    reply = json.loads(out)
    assert message in reply["error"]
    if status != 413 or "X-Request-Id" in headers:  # behind nginx, nginx itself refuses an oversized body
        assert reply["requestId"] == headers["X-Request-Id"]
    assert invoke(server, _csv(test_rows.X[:1]), "text/csv")[0] == 200


def test_other_routes_and_methods(server):
    assert _call(server["port"], "GET", "/invocations")[0] == 405
    status, body, _ = _call(server["port"], "GET", "/nope")
    assert status == 404 and "no route" in json.loads(body)["error"]
    status, body, _ = _call(server["port"], "GET", "/execution-parameters")
    assert status == 200 and json.loads(body)["BatchStrategy"] == "MULTI_RECORD"


def test_workers_survive_a_burst_of_bad_requests(server, test_rows):
    for _ in range(30):
        assert invoke(server, b"garbage", "text/csv")[0] == 400
    assert invoke(server, _csv(test_rows.X[:3]), "text/csv")[0] == 200
    assert server["process"].poll() is None


def test_every_answered_invocation_is_captured(server, test_rows):
    before = len(read_records(server["capture"]))
    for i in range(10):
        assert invoke(server, _csv(test_rows.X[i : i + 1]), "text/csv")[0] == 200
    records = read_records(server["capture"])
    assert len(records) == before + 10
    sent = {_csv(test_rows.X[i : i + 1]).decode() for i in range(10)}
    newest = records[-10:]
    assert {r["captureData"]["endpointInput"]["data"] for r in newest} == sent
    for record in newest:
        assert record["captureData"]["endpointInput"]["encoding"] == "CSV"
        assert record["captureData"]["endpointOutput"]["data"].endswith("\n")
        assert record["eventVersion"] == "0" and record["eventMetadata"]["inferenceTime"].endswith("Z")
    rejected = [r for r in records if r["captureData"]["endpointInput"]["data"] == "garbage"]
    assert rejected == []  # a 4xx is not an inference; SageMaker does not capture it either


class _Broken:
    def predict_proba(self, X):
        raise RuntimeError("boom")


def test_server_error_is_a_500_with_a_request_id_in_the_log(ml_root, caplog):
    app = InferenceApp(ml_root / "model")
    app.model.estimator = _Broken()
    seen = {}
    body = b",".join([b"1"] * 30)
    environ = {
        "PATH_INFO": "/invocations",
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "text/csv",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "HTTP_X_REQUEST_ID": "req-42",
    }
    with caplog.at_level(logging.ERROR, logger="mlops_container.serving"):
        out = b"".join(app(environ, lambda status, headers: seen.update(status=status)))
    assert seen["status"].startswith("500")
    assert json.loads(out) == {"error": "internal error; see the server log", "requestId": "req-42"}
    assert "request req-42 failed" in caplog.text and "boom" in caplog.text


def test_ping_is_503_with_the_reason_when_the_model_is_missing(tmp_path):
    app = InferenceApp(tmp_path / "no-model")
    seen = {}
    out = b"".join(app({"PATH_INFO": "/ping", "REQUEST_METHOD": "GET"}, lambda s, h: seen.update(status=s)))
    assert seen["status"].startswith("503") and "model not loaded" in json.loads(out)["reason"]
