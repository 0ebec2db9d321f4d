"""The MLflow link Lambda: where it sends and how it signs (held to AWS's sagemaker-mlflow plugin), and what it does to
a run, against a real MLflow server (MLflow's own tracking server app on loopback, file store)."""

from __future__ import annotations

import importlib
import sys
import threading
from pathlib import Path

import pytest

LINK_DIR = Path(__file__).resolve().parents[2] / "lambda" / "link_mlflow_run"
APP = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-app/app-0123456789ab"
SERVER = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/mlops-dev-churn"
PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/mlops-dev-churn/7"


@pytest.fixture
def link_code(monkeypatch):
    """The Lambda's ``logic`` and ``handler`` modules, as the runtime imports them (dummy credentials for signing)."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.syspath_prepend(str(LINK_DIR))
    for name in ("logic", "handler"):
        sys.modules.pop(name, None)
    logic, handler = importlib.import_module("logic"), importlib.import_module("handler")
    yield logic, handler
    for name in ("logic", "handler"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize("arn", [APP, SERVER])
def test_it_reaches_and_signs_for_mlflow_as_aws_plugin_does(link_code, arn):
    from sagemaker_mlflow.auth_provider import AuthProvider
    from sagemaker_mlflow.mlflow_sagemaker_helpers import SageMakerMLflowHostMetadataProvider
    from sagemaker_mlflow.mlflow_sagemaker_request_header_provider import MlflowSageMakerRequestHeaderProvider

    logic, handler = link_code
    target = logic.endpoint(arn)
    host = SageMakerMLflowHostMetadataProvider()
    host.set_arn(arn)
    headers, auth = MlflowSageMakerRequestHeaderProvider(), AuthProvider()
    headers.host_metadata_provider.set_arn(arn)
    auth.host_metadata_provider.set_arn(arn)
    assert target.url == host.construct_tracking_server_url()
    assert target.headers == headers._get_arn_header()
    assert (target.signing_name, target.region) == (auth._get_auth_service_name(), host.region)
    signed = handler.sigv4(target.signing_name, target.region)("POST", f"{target.url}/api/2.0/mlflow/runs/set-tag", target.headers, b"{}")
    assert f"/{target.region}/{target.signing_name}/aws4_request" in signed["Authorization"]
    assert "x-amz-date" in {k.lower() for k in signed}


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """MLflow's own tracking server (mlflow.server's Flask app) on a free loopback port, storing into a temporary folder."""
    import os

    store = tmp_path_factory.mktemp("mlflow")
    saved = {k: os.environ.get(k) for k in ("MLFLOW_ALLOW_FILE_STORE", "_MLFLOW_SERVER_FILE_STORE", "_MLFLOW_SERVER_ARTIFACT_ROOT")}
    os.environ.update(
        {"MLFLOW_ALLOW_FILE_STORE": "true", "_MLFLOW_SERVER_FILE_STORE": str(store / "runs"), "_MLFLOW_SERVER_ARTIFACT_ROOT": str(store / "art")}
    )
    from mlflow.server import app, handlers
    from werkzeug.serving import make_server

    handlers._tracking_store = None  # read the store above, whatever ran before in this process
    server = make_server("127.0.0.1", 0, app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _event(**overrides) -> dict:
    return {
        "trackingArn": APP,
        "experiment": "churn",
        "runName": "churn-train-abcd1234",
        "modelPackageArn": PACKAGE,
        "pipelineRun": "abcd1234",
    } | overrides


def test_the_run_of_the_training_job_is_tagged_with_its_package(link_code, mlflow_server):
    from mlflow.tracking import MlflowClient

    logic, handler = link_code
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.create_experiment("churn")
    run = client.create_run(experiment, run_name="churn-train-abcd1234")
    other = client.create_run(experiment, run_name="churn-train-ffff0000")  # another training job's run: untouched
    logged = []
    target = logic.endpoint(APP)
    call = logic.caller(mlflow_server, target.headers, handler.sigv4(target.signing_name, target.region))
    result = logic.link(logic.parse(_event()), call=call, log=lambda event, **fields: logged.append(event))
    assert result == {"runId": run.info.run_id, "experimentId": experiment}
    tags = client.get_run(run.info.run_id).data.tags
    assert (tags[logic.PACKAGE_TAG], tags[logic.PIPELINE_RUN_TAG]) == (PACKAGE, "abcd1234")
    assert logic.PACKAGE_TAG not in client.get_run(other.info.run_id).data.tags
    assert logged == ["linked"]
    # a run or an experiment MLflow does not have is a clear NotFound, not a KeyError
    with pytest.raises(logic.NotFound, match="no run named churn-train-00000000"):
        logic.link(logic.parse(_event(runName="churn-train-00000000")), call=call, log=lambda *a, **k: None)
    with pytest.raises(logic.NotFound):
        logic.link(logic.parse(_event(experiment="fraud")), call=call, log=lambda *a, **k: None)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"trackingArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/x"}, "trackingArn"),
        ({"runName": "churn-train' OR '1'='1"}, "runName"),  # the run name goes into a search filter: only a job name
        ({"modelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/x"}, "modelPackageArn"),
        ({"pipelineRun": None}, "pipelineRun"),
    ],
)
def test_bad_input_is_refused_with_the_field(link_code, overrides, field):
    logic, _ = link_code
    with pytest.raises(logic.BadRequest, match=field):
        logic.parse(_event(**overrides))
