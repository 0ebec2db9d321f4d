"""The image's contract with the platform, as plain constants (no imports: the CDK app reads it too).

The training pipeline's job definitions are built from these, and the container's tests check that
the code reads and writes exactly here.
"""

from __future__ import annotations

CLASSIFICATION_METRICS = ("auc", "accuracy", "f1", "precision", "recall")

# What a training job's metric definitions scrape from the ``train`` entrypoint's output.
METRIC_DEFINITIONS = [
    {"Name": f"{split}:{metric}", "Regex": rf"{split}:{metric}=([0-9.]+(?:e-?[0-9]+)?)"}
    for split in ("train", "validation")
    for metric in CLASSIFICATION_METRICS
]

# processing jobs' ContainerEntrypoint (``monitor``: the drift check under Model Monitor's container contract)
ENTRYPOINTS = {"preprocess": ["preprocess"], "evaluate": ["evaluate"], "monitor": ["monitor"], "check": ["check"]}
# The platform's own drift check (``mlops_container.check``) in a Lambda function of this image: the runtime interface
# client (awslambdaric) runs this handler (https://docs.aws.amazon.com/lambda/latest/dg/python-image.html, "Using an
# alternative base image").
CHECK_LAMBDA_ENTRYPOINT = ["python3", "-m", "awslambdaric"]
CHECK_LAMBDA_HANDLER = "mlops_container.check.handler"

# Processing-job mounts (``<ML root>/processing/...`` in the code).
PREPROCESS_INPUT = "/opt/ml/processing/input/data"
PREPROCESS_OUTPUTS = {name: f"/opt/ml/processing/output/{name}" for name in ("train", "validation", "test", "baseline")}
EVALUATE_MODEL = "/opt/ml/processing/model"
EVALUATE_TEST = "/opt/ml/processing/test"
EVALUATE_OUTPUT = "/opt/ml/processing/evaluation"
EVALUATION_FILE = "evaluation.json"
# The evaluation job also scores the training features (the preprocessing job's ``baseline``) and
# writes them with the model's score as the first column, named ``SCORE_COLUMN``: Model Monitor
# reads captured data as the endpoint's output followed by its input, so its baseline is laid out so.
EVALUATE_BASELINE = "/opt/ml/processing/baseline"
EVALUATE_SCORED_BASELINE = "/opt/ml/processing/scored-baseline"
BASELINE_FILE = "baseline.csv"
SCORE_COLUMN = "score"

TRAINING_CHANNELS = ("train", "validation")
CONTENT_TYPES = ["text/csv", "application/json", "application/jsonlines"]

# Model Monitor's mounts (its analyzer's and, under its container contract, the ``monitor`` entrypoint's): the
# baselining job's data set as the SageMaker SDK's ``suggest_baseline`` mounts it, a schedule's captured data,
# and the reports. The monitor reads them from the environment SageMaker sets, not from here.
MONITOR_BASELINE_INPUT = "/opt/ml/processing/input/baseline_dataset_input"
MONITOR_CAPTURE_INPUT = "/opt/ml/processing/input/endpoint"
MONITOR_OUTPUT = "/opt/ml/processing/output"
# Where SageMaker publishes a custom monitoring container's metrics of a real-time endpoint (what the drift alarms
# and the dashboard read with ``monitoring.analyzer: project``):
# https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-cloudwatch.html
BYOC_METRICS_NAMESPACE = "/aws/sagemaker/Endpoint/data-metrics"
# The model-quality check's CloudWatch metrics (``mlops_container.quality``): the project's metric and each count, with
# the drift metrics' dimensions; the quality alarm reads ``<prefix><metric>``.
QUALITY_METRIC_PREFIX = "model_quality_"
QUALITY_PUBLISHED_COUNTS = ("matched", "unmatched", "late")  # the counts published beside the metric (each bills a month)


def quality_metric(name: str) -> str:
    """The CloudWatch metric of the project's ``name`` metric (auc...) or of a count (matched...): what the check
    publishes, the alarm reads and the dashboard shows."""
    return f"{QUALITY_METRIC_PREFIX}{name}"


# The drift check's processing-job mounts (``mlops_container.check`` run as a job, for periods too large for a function).
CHECK_INPUT = "/opt/ml/processing/input/data"
CHECK_BASELINE = "/opt/ml/processing/baseline"
CHECK_OUTPUT = "/opt/ml/processing/output"

# MLflow (optional): the training job logs its run when the platform sets the tracking URI (the project's MLflow ARN, through
# the sagemaker-mlflow plugin; local mode: a local store). The run is named after the job (SageMaker sets TRAINING_JOB_NAME).
MLFLOW_TRACKING_URI = "MLFLOW_TRACKING_URI"
MLFLOW_EXPERIMENT_NAME = "MLFLOW_EXPERIMENT_NAME"
TRAINING_JOB_NAME = "TRAINING_JOB_NAME"
