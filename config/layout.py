"""The S3 layout of a training pipeline run, defined once.

Every run writes under ``s3://<artifacts bucket>/pipeline/<run id>/``; the pipeline, the model's and
the monitor's permissions, the baseline the endpoint monitor reads, the delivery pipeline's resolver
and the app's pins all take their paths from here.
"""

from __future__ import annotations

import re

PIPELINE_PREFIX = "pipeline/"  # every run's objects; roles that read or write runs are granted this prefix
RUN_ID_PATTERN = "[0-9a-f]{8}"  # 8 hex digits, made per execution
# How a state machine makes a run id (the first group of a UUID's hex digits), and the IAM pattern of exactly one: a
# job ARN ending in -<RUN_ID_WILDCARD> matches <name>-<run id> but not another name's <name>-x-<run id>.
RUN_ID_INTRINSIC = "States.ArrayGetItem(States.StringSplit(States.UUID(), '-'), 0)"
RUN_ID_WILDCARD = "?" * 8
# Each sandbox user's own prefix of the project's artifacts bucket (read and written by that user only): what a data
# scientist publishes is uploaded here, then copied by the training pipeline into a run of its own.
SANDBOX_PREFIX = "sandbox/"
# What `mlops publish` uploads below a user's prefix (sandbox/<user>/published/<time>-<id>/model.tar.gz): a publish request
PUBLISHED_ARCHIVES = f"{SANDBOX_PREFIX}*/published/*/model.tar.gz"
# What `mlops run` uploads below a user's prefix (sandbox/<user>/requests/<time>-<id>/run.json): a training run request,
# taken by the pipeline's guard as a manual trigger from that user; its answer is written beside it (ANSWER)
RUN_REQUESTS = f"{SANDBOX_PREFIX}*/requests/*/run.json"
RUN_REQUEST_ANSWERS = f"{SANDBOX_PREFIX}*/requests/*/answer.json"
# One record per run of the training pipeline, runs/<execution name>.json (its status, start and end, its error or its
# output), written by the guard and the publisher when they start a run and when it ends: what `mlops run --wait` and
# `mlops status` read through S3 (the gateway endpoint, free) instead of Step Functions' API (an interface endpoint)
RUN_RECORDS_PREFIX = "runs/"
SCORING_PREFIX = "scoring/"  # batch scoring's outputs, one prefix per run (scoring/<run id>/<input object>.out)
# Labels for model quality, in the capture bucket: ground-truth/<endpoint>/yyyy/mm/dd/hh/<file>.jsonl, Model Monitor's
# documented layout (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-merge.html). Written by
# the project's sandboxes and its configured label writers; read by the endpoint's scheduled check.
GROUND_TRUTH_PREFIX = "ground-truth/"
# The drift and quality checks' reports, state and manifests in the capture bucket: monitoring/<endpoint>/ (the project's
# sandboxes read them: statistics, verdicts and each period's event ids, never the captured traffic itself)
MONITORING_PREFIX = "monitoring/"
MLFLOW_PREFIX = "mlflow/"  # the project's MLflow artifact store (its runs' artifacts, written by the MLflow clients)

# Below a run's prefix:
PREPROCESS = "preprocess"  # preprocess/<train|validation|test|baseline>
MODEL = "model"  # the training job's output: model/<job>/output/model.tar.gz
TRAINED_MODEL = "output/model.tar.gz"  # below MODEL/<job>/
# The model a run registers: the trained or published model, copied here once (lambda/seal_model) and never written again
# (the artifacts bucket's policy, ProjectResources). The evaluation, the baseline and the package use this copy.
REGISTERED = "registered"
REGISTERED_MODEL = f"{REGISTERED}/model.tar.gz"
CHECKPOINTS = "checkpoints"
EVALUATION = "evaluation"  # evaluation/evaluation.json
SCORED_BASELINE = "scored-baseline"  # the training features scored, as Model Monitor reads captured traffic
BASELINE = "baseline"  # Model Monitor's statistics.json and constraints.json
DATA_MANIFEST = "lineage/data.json"  # the data the run trained on: each object's key, ETag, size and time, as listed at its start
STATISTICS, CONSTRAINTS = "statistics.json", "constraints.json"
BASELINE_FILES = (STATISTICS, CONSTRAINTS)

# an S3 bucket name: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
BUCKET_NAME_PATTERN = "[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
BASELINE_URI_PATTERN = rf"^s3://{BUCKET_NAME_PATTERN}/{PIPELINE_PREFIX}{RUN_ID_PATTERN}/{BASELINE}$"
BASELINE_URI_RULE = f"s3://<artifacts bucket>/{PIPELINE_PREFIX}<run id>/{BASELINE}"
# Where the run id stands in a baseline URI split at "/": s3: / "" / bucket / pipeline / <run id> / baseline
BASELINE_URI_RUN_ID_INDEX = 2 + PIPELINE_PREFIX.count("/") + 1


def run_path(run_id: str, *parts: str) -> str:
    """``pipeline/<run id>[/<part>...]`` (``run_id`` may be a placeholder such as ``{}`` for States.Format)."""
    return "/".join((PIPELINE_PREFIX + run_id, *parts))


def sandbox_path(user: str) -> str:
    """``sandbox/<user>/``: the user's prefix of the project's artifacts bucket (``user`` may be a token)."""
    return f"{SANDBOX_PREFIX}{user}/"


def run_uri(bucket: str, run_id: str, *parts: str) -> str:
    return f"s3://{bucket}/{run_path(run_id, *parts)}"


def baseline_prefix(uris: list[str]) -> str | None:
    """The common prefix of a baseline's ``statistics.json`` and ``constraints.json`` URIs, or None when they are not a pair."""
    prefixes = {u.rsplit("/", 1)[0] for u in uris if u}
    names = {u.rsplit("/", 1)[-1] for u in uris}
    if len(prefixes) == 1 and names == set(BASELINE_FILES):
        return prefixes.pop()
    return None


def is_baseline_uri(value: str) -> bool:
    return re.match(BASELINE_URI_PATTERN, value) is not None
