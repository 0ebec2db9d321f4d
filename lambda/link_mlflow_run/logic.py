"""The run -> package half of the MLflow link: tag a registered model's training run with its model package.

The package names its run (``mlflowRun`` in its metadata, the training job's name); after registration the training
pipeline calls this to write the package's ARN and the pipeline run onto that run, so the run shows where its model went.

The REST calls are MLflow's own (``experiments/get-by-name``, ``runs/search``, ``runs/set-tag``), sent where AWS's
``sagemaker-mlflow`` plugin sends them and signed as it signs them (:func:`endpoint`; a test holds the two together):
a tracking server at ``https://<region>.experiments.sagemaker.aws`` signed for ``sagemaker-mlflow``, an MLflow app at
``https://mlflow.sagemaker.<region>.app.aws`` signed for ``sagemaker``, each with the ARN in its routing header.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

PACKAGE_TAG = "sagemaker.model_package_arn"
PIPELINE_RUN_TAG = "mlops.pipeline_run"
# arn:<partition>:sagemaker:<region>:<account>:mlflow-app/<id> | mlflow-tracking-server/<name>
MLFLOW_ARN = re.compile(r"^arn:(aws|aws-us-gov):sagemaker:([a-z0-9-]+):(\d{12}):(mlflow-app|mlflow-tracking-server)/([A-Za-z0-9-]{1,256})$")
PACKAGE_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/[A-Za-z0-9-]{1,63}/\d+$")
JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # SageMaker's training job name pattern: the run's name
EXPERIMENT = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # the project's name
RUN_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class BadRequest(ValueError):
    """The input is not what the pipeline sends."""


class NotFound(LookupError):
    """The experiment or the run is not in that MLflow (the training job logged nothing there)."""


@dataclass(frozen=True)
class Endpoint:
    url: str
    headers: dict[str, str]
    signing_name: str
    region: str


def endpoint(arn: str) -> Endpoint:
    """Where and how AWS's plugin reaches the MLflow ``arn`` (sagemaker_mlflow: host metadata, request header, auth)."""
    match = MLFLOW_ARN.match(arn or "")
    if match is None:
        raise BadRequest(f"trackingArn: {arn!r} is not an MLflow app or tracking server ARN")
    _, region, _, kind, _ = match.groups()  # both partitions the plugin supports use the DNS suffix aws
    if kind == "mlflow-tracking-server":
        return Endpoint(f"https://{region}.experiments.sagemaker.aws", {"x-mlflow-sm-tracking-server-arn": arn}, "sagemaker-mlflow", region)
    return Endpoint(f"https://mlflow.sagemaker.{region}.app.aws", {"x-sm-mlflow-app-arn": arn}, "sagemaker", region)


Call = Callable[[str, str, dict | None], dict]
Sign = Callable[[str, str, dict[str, str], bytes], dict[str, str]]


def caller(base_url: str, headers: dict[str, str], sign: Sign, *, timeout: float = 10.0) -> Call:
    """``call(method, path, body)`` against MLflow's REST API 2.0 at ``base_url``, each request signed by ``sign``."""

    def call(method: str, path: str, body: dict | None = None) -> dict:
        url = f"{base_url}/api/2.0/mlflow/{path}"
        data = json.dumps(body).encode() if body is not None else b""
        all_headers = {"Content-Type": "application/json", **headers}
        all_headers.update(sign(method, url, all_headers, data))
        request = urllib.request.Request(url, data=data if body is not None else None, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (an https URL built above)
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:1000].decode(errors="replace")
            try:
                code = json.loads(detail).get("error_code", "")
            except ValueError:
                code = ""
            if exc.code == 404 or code == "RESOURCE_DOES_NOT_EXIST":
                raise NotFound(f"{method} {path}: {detail}") from None
            raise RuntimeError(f"MLflow answered {exc.code} to {method} {path}: {detail}") from None

    return call


def parse(event: dict) -> dict:
    if not isinstance(event, dict):
        raise BadRequest("the input must be a JSON object")
    checks = {
        "trackingArn": MLFLOW_ARN,
        "experiment": EXPERIMENT,
        "runName": JOB_NAME,
        "modelPackageArn": PACKAGE_ARN,
        "pipelineRun": RUN_ID,
    }
    problems = [
        f"{key}: {event.get(key)!r}" for key, pattern in checks.items() if not isinstance(event.get(key), str) or not pattern.match(event[key])
    ]
    if problems:
        raise BadRequest("invalid " + "; ".join(problems))
    return {key: event[key] for key in checks}


def link(request: dict, *, call: Call, log: Callable[..., None]) -> dict:
    """Tag the run named ``runName`` in ``experiment`` with the package and the pipeline run; return the run's id."""
    experiment = call("GET", "experiments/get-by-name?" + urllib.parse.urlencode({"experiment_name": request["experiment"]}), None)
    experiment_id = experiment["experiment"]["experiment_id"]
    found = call(
        "POST",
        "runs/search",
        {"experiment_ids": [experiment_id], "filter": f"attributes.run_name = '{request['runName']}'", "max_results": 2},
    )
    runs = found.get("runs", [])
    if not runs:
        raise NotFound(f"no run named {request['runName']} in experiment {request['experiment']}")
    if len(runs) > 1:  # a retried training job of the same name: tag each, the package is theirs
        log("several_runs", runName=request["runName"], runs=[r["info"]["run_id"] for r in runs])
    run_ids = [r["info"]["run_id"] for r in runs]
    for run_id in run_ids:
        for key, value in ((PACKAGE_TAG, request["modelPackageArn"]), (PIPELINE_RUN_TAG, request["pipelineRun"])):
            call("POST", "runs/set-tag", {"run_id": run_id, "key": key, "value": value})
    log("linked", runIds=run_ids, modelPackageArn=request["modelPackageArn"])
    return {"runId": run_ids[0], "experimentId": experiment_id}
