"""fidelity/reachability.py's model of a job's calls, on requests written here (the synthesized stages' are checked in
tests/fidelity/test_reachability.py): what a job reaches from inside the VPC follows from its request."""

from __future__ import annotations

from fidelity.reachability import Reach, _job_reaches

S3 = "s3.amazonaws.com"  # botocore's host for us-east-1's S3
APP = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-app/app-0123456789ab"


def _hosts(reaches: list[Reach]) -> list[str]:
    return [r.host for r in reaches]


def test_an_isolated_job_reaches_s3_only_whatever_its_environment():
    request = {"NetworkConfig": {"EnableNetworkIsolation": True}, "Environment": {"MLFLOW_TRACKING_URI": APP, "METRICS_NAMESPACE": "x"}}
    assert _hosts(_job_reaches("job", request, "us-east-1")) == [S3]


def test_a_job_that_is_not_isolated_reaches_what_its_container_calls():
    assert _hosts(_job_reaches("job", {"Environment": {"MLFLOW_TRACKING_URI": APP}}, "us-east-1")) == [S3, "mlflow.sagemaker.us-east-1.app.aws"]
    assert _hosts(_job_reaches("job", {"Environment": {"METRICS_NAMESPACE": "/aws/x"}}, "us-east-1")) == [S3, "monitoring.us-east-1.amazonaws.com"]
    assert _hosts(_job_reaches("job", {"Environment": {"publish_cloudwatch_metrics": "Direct"}}, "us-east-1"))[1:] == [
        "monitoring.us-east-1.amazonaws.com"
    ]
    vpc_image = {"AlgorithmSpecification": {"TrainingImageConfig": {"TrainingRepositoryAccessMode": "Vpc"}}}
    assert _hosts(_job_reaches("job", vpc_image, "us-east-1")) == [S3, "api.ecr.us-east-1.amazonaws.com"]
    platform_image = {"AlgorithmSpecification": {"TrainingImageConfig": {"TrainingRepositoryAccessMode": "Platform"}}}
    assert _hosts(_job_reaches("job", platform_image, "us-east-1")) == [S3]  # SageMaker pulls it outside the VPC
