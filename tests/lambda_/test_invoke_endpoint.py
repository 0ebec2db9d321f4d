"""The API's Lambda: request checks and SageMaker error mapping, with botocore's Stubber."""

from __future__ import annotations

import base64
import importlib
import io
import json
import sys
from pathlib import Path

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

LAMBDA_DIR = Path(__file__).resolve().parents[2] / "lambda" / "invoke_endpoint"


@pytest.fixture
def logic(monkeypatch):
    monkeypatch.syspath_prepend(str(LAMBDA_DIR))
    for name in ("handler", "logic"):
        sys.modules.pop(name, None)
    return importlib.import_module("logic")


@pytest.fixture
def runtime():
    client = boto3.client("sagemaker-runtime", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber


def call(logic, runtime, body, content_type="text/csv", *, accept=None, b64=False, limit=1000):
    headers = {"Content-Type": content_type} if content_type else {}
    if accept:
        headers["Accept"] = accept
    event = {"headers": headers, "body": base64.b64encode(body.encode()).decode() if b64 else body, "isBase64Encoded": b64}
    logged = []
    result = logic.handle(
        event, runtime=runtime, settings=logic.Settings("mlops-dev-churn", limit), request_id="req-9", log=lambda name, **f: logged.append((name, f))
    )
    return result, logged


def expect_invoke(stubber, body=b"0.97\n", content_type="text/csv"):
    stubber.add_response(
        "invoke_endpoint",
        {"Body": StreamingBody(io.BytesIO(body), len(body)), "ContentType": content_type},
        {"EndpointName": "mlops-dev-churn", "ContentType": "text/csv", "Accept": "text/csv", "Body": b"1,2,3"},
    )


def test_a_valid_request_returns_the_models_answer(logic, runtime):
    client, stubber = runtime
    expect_invoke(stubber)
    result, logged = call(logic, client, "1,2,3")
    assert result["statusCode"] == 200 and result["body"] == "0.97\n"
    assert result["headers"] == {"Content-Type": "text/csv", "X-Request-Id": "req-9"}
    assert logged[-1][0] == "invoked"
    stubber.assert_no_pending_responses()


def test_base64_bodies_are_decoded(logic, runtime):
    client, stubber = runtime
    expect_invoke(stubber)
    assert call(logic, client, "1,2,3", b64=True)[0]["statusCode"] == 200


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        ("", "text/csv", 400, "empty request body"),
        ("   ", "text/csv", 400, "empty request body"),
        ("1,2,3", "application/xml", 415, "not accepted"),
        ("1,2,3", None, 415, "'(none)'"),
        ("{nope", "application/json", 400, "invalid JSON"),
        ("9" * 1001, "text/csv", 413, "over the 1000-byte limit"),
    ],
)
def test_bad_requests_never_reach_the_endpoint(logic, runtime, body, content_type, status, message):
    client, stubber = runtime  # no response queued: any call would fail the test
    result, _ = call(logic, client, body, content_type)
    payload = json.loads(result["body"])
    assert result["statusCode"] == status and message in payload["error"] and payload["requestId"] == "req-9"


@pytest.mark.parametrize(
    ("code", "http", "extra", "status", "message"),
    [
        ("ModelError", 424, {"OriginalMessage": "row 0: 3 values, the model expects 30", "OriginalStatusCode": 400}, 424, "row 0: 3 values"),
        ("ThrottlingException", 429, {}, 429, "too many requests"),
        ("ModelNotReadyException", 429, {}, 503, "not ready"),
        ("ServiceUnavailable", 503, {}, 503, "not ready"),
        ("ValidationError", 400, {}, 400, "request rejected: Endpoint mlops-dev-churn of account x not found"),
        ("InternalFailure", 500, {}, 502, "the model endpoint failed"),
    ],
)
def test_sagemaker_errors_map_to_meaningful_statuses(logic, runtime, code, http, extra, status, message):
    client, stubber = runtime
    text = "Endpoint mlops-dev-churn of account x not found" if code == "ValidationError" else "upstream said no"
    stubber.add_client_error(
        "invoke_endpoint", service_error_code=code, service_message=text, http_status_code=http, response_meta={}, modeled_fields=extra or None
    )
    result, logged = call(logic, client, "1,2,3")
    payload = json.loads(result["body"])
    assert result["statusCode"] == status and message in payload["error"]
    assert "Traceback" not in result["body"] and logged[-1][0] == "invoke_failed"


def test_handler_turns_an_unexpected_error_into_a_500_with_the_request_id(logic, monkeypatch, capsys):
    monkeypatch.setenv("ENDPOINT_NAME", "mlops-dev-churn")
    monkeypatch.setenv("MAX_BODY_BYTES", "1000")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    handler = importlib.import_module("handler")
    monkeypatch.setattr(handler, "handle", lambda *a, **k: 1 / 0)

    class Context:
        aws_request_id = "req-500"

    result = handler.handler({"headers": {}, "body": "x"}, Context())
    assert result["statusCode"] == 500 and json.loads(result["body"]) == {"error": "internal error", "requestId": "req-500"}
    assert "ZeroDivisionError" in capsys.readouterr().out  # in the log, not in the answer


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ENDPOINT_NAME": "bad name!", "MAX_BODY_BYTES": "10"}, "ENDPOINT_NAME='bad name!'"),
        ({"ENDPOINT_NAME": "ok", "MAX_BODY_BYTES": "lots"}, "MAX_BODY_BYTES='lots'"),
    ],
)
def test_bad_environment_is_named(logic, env, message):
    with pytest.raises(logic.ConfigurationError, match=message):
        logic.Settings.from_env(env)
