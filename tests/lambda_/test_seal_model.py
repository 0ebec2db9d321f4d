"""The seal Lambda, against moto's S3: a run's model is copied once to the key its package names, and never replaced."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

SEAL_DIR = Path(__file__).resolve().parents[2] / "lambda" / "seal_model"
BUCKET = "mlops-dev-churn-artifacts"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
RUN = "0a1b2c3d"
TRAINED = f"pipeline/{RUN}/model/churn-train-{RUN}/output/model.tar.gz"
PUBLISHED = "sandbox/alice/published/20261125T030000Z-0a1b2c3d/model.tar.gz"
SEALED = f"pipeline/{RUN}/registered/model.tar.gz"
ENV = {
    "ARTIFACTS_BUCKET": BUCKET,
    "KEY_ARN": KEY_ARN,
    "SEALED_KEY": "pipeline/{}/registered/model.tar.gz",
    "SOURCE_KEYS": "pipeline/{}/model/*/output/model.tar.gz sandbox/*/published/*/model.tar.gz",
}
MIB = 1024**2


@pytest.fixture
def world(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.syspath_prepend(str(SEAL_DIR))
    sys.modules.pop("logic", None)
    logic = importlib.import_module("logic")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield logic, s3, logic.Settings.from_env(ENV)
    sys.modules.pop("logic", None)


def _seal(logic, s3, settings, source: str, **kwargs):
    return logic.seal(logic.parse({"source": f"s3://{BUCKET}/{source}", "runId": RUN}, settings), s3=s3, settings=settings, **kwargs)


@pytest.mark.parametrize("source", [TRAINED, PUBLISHED])
def test_a_model_is_sealed_encrypted_with_the_project_key_and_its_source_recorded(world, source):
    logic, s3, settings = world
    s3.put_object(Bucket=BUCKET, Key=source, Body=b"model bytes")
    out = _seal(logic, s3, settings, source)
    assert out["uri"] == f"s3://{BUCKET}/{SEALED}" and out["sealed"] == "now" and out["bytes"] == 11
    got = s3.get_object(Bucket=BUCKET, Key=SEALED)
    assert got["Body"].read() == b"model bytes"
    assert (got["ServerSideEncryption"], got["SSEKMSKeyId"]) == ("aws:kms", KEY_ARN)
    assert got["Metadata"] == {logic.SOURCE_KEY: source, logic.SOURCE_ETAG: s3.head_object(Bucket=BUCKET, Key=source)["ETag"]}
    assert out["versionId"] == got["VersionId"]


def test_a_large_model_is_copied_in_parts_byte_for_byte(world):
    logic, s3, settings = world
    body = bytes(range(256)) * (11 * MIB // 256) + b"tail"  # 11 MiB and 4 bytes: three parts of 5 MiB at most
    s3.put_object(Bucket=BUCKET, Key=TRAINED, Body=body)
    calls = []
    original = s3.upload_part_copy
    s3.upload_part_copy = lambda **kw: calls.append(kw["CopySourceRange"]) or original(**kw)
    _seal(logic, s3, settings, TRAINED, part_bytes=5 * MIB)
    assert calls == [f"bytes=0-{5 * MIB - 1}", f"bytes={5 * MIB}-{10 * MIB - 1}", f"bytes={10 * MIB}-{len(body) - 1}"]
    assert s3.get_object(Bucket=BUCKET, Key=SEALED)["Body"].read() == body


def test_a_retry_after_a_success_returns_the_same_seal(world):
    logic, s3, settings = world
    s3.put_object(Bucket=BUCKET, Key=TRAINED, Body=b"model")
    first = _seal(logic, s3, settings, TRAINED)
    again = _seal(logic, s3, settings, TRAINED)
    assert again["sealed"] == "earlier" and (again["etag"], again["versionId"]) == (first["etag"], first["versionId"])
    assert len(s3.list_object_versions(Bucket=BUCKET, Prefix=SEALED)["Versions"]) == 1


def test_a_sealed_model_is_never_replaced(world):
    """Another model for the same run (a rewritten training output, a second publish) is refused, and S3 itself refuses a
    conditional overwrite: the sealed object keeps one version."""
    logic, s3, settings = world
    s3.put_object(Bucket=BUCKET, Key=TRAINED, Body=b"model")
    _seal(logic, s3, settings, TRAINED)
    s3.put_object(Bucket=BUCKET, Key=TRAINED, Body=b"a payload")  # the job role may rewrite the training output
    with pytest.raises(logic.AlreadySealed, match="never replaced"):
        _seal(logic, s3, settings, TRAINED)
    s3.put_object(Bucket=BUCKET, Key=PUBLISHED, Body=b"another")
    with pytest.raises(logic.AlreadySealed):
        _seal(logic, s3, settings, PUBLISHED)
    with pytest.raises(ClientError, match="PreconditionFailed"):
        s3.put_object(Bucket=BUCKET, Key=SEALED, Body=b"a payload", IfNoneMatch="*")
    assert s3.get_object(Bucket=BUCKET, Key=SEALED)["Body"].read() == b"model"
    assert len(s3.list_object_versions(Bucket=BUCKET, Prefix=SEALED)["Versions"]) == 1
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_an_object_written_at_the_key_during_the_copy_wins_and_the_seal_fails(world):
    logic, s3, settings = world
    s3.put_object(Bucket=BUCKET, Key=TRAINED, Body=b"model")
    original = s3.complete_multipart_upload

    def racing(**kw):
        s3.put_object(Bucket=BUCKET, Key=SEALED, Body=b"first", IfNoneMatch="*")
        return original(**kw)

    s3.complete_multipart_upload = racing
    with pytest.raises(logic.AlreadySealed):
        _seal(logic, s3, settings, TRAINED)
    assert s3.get_object(Bucket=BUCKET, Key=SEALED)["Body"].read() == b"first"
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_a_source_rewritten_during_the_copy_does_not_mix_into_the_seal(world):
    """Each part copies the version read when the seal started (the project's buckets are versioned), so a rewrite in the
    middle of the copy leaves the seal all of one model. (Each part also sends CopySourceIfMatch with that ETag, for a
    bucket without versioning; moto does not check it.)"""
    logic, s3, settings = world
    s3.put_object(Bucket=BUCKET, Key=TRAINED, Body=b"x" * (6 * MIB))
    original = s3.upload_part_copy
    sources = []

    def rewritten_after_first_part(**kw):
        sources.append(kw["CopySource"])
        out = original(**kw)
        s3.put_object(Bucket=BUCKET, Key=TRAINED, Body=b"y" * (6 * MIB))
        return out

    s3.upload_part_copy = rewritten_after_first_part
    _seal(logic, s3, settings, TRAINED, part_bytes=5 * MIB)
    assert s3.get_object(Bucket=BUCKET, Key=SEALED)["Body"].read() == b"x" * (6 * MIB)
    assert len({s["VersionId"] for s in sources}) == 1


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("x", "expected an object"),
        ({"source": f"s3://{BUCKET}/{TRAINED}", "runId": "0A1B2C3D"}, "not a run id"),
        ({"source": f"s3://other-bucket/{TRAINED}", "runId": RUN}, "not in the project's artifacts bucket"),
        ({"source": f"s3://{BUCKET}/pipeline/ffffffff/model/churn-train-ffffffff/output/model.tar.gz", "runId": RUN}, "not where run"),
        ({"source": f"s3://{BUCKET}/pipeline/{RUN}/evaluation/evaluation.json", "runId": RUN}, "not where run"),
        ({"source": f"s3://{BUCKET}/sandbox/alice/published/../../pipeline/model.tar.gz", "runId": RUN}, "not where run"),
        ({"source": f"s3://{BUCKET}/sandbox/alice/model.tar.gz", "runId": RUN}, "not where run"),
        ({"source": f"s3://{BUCKET}/{SEALED}", "runId": RUN}, "not where run"),
    ],
)
def test_a_request_for_anything_but_a_runs_model_is_refused(world, event, message):
    logic, _, settings = world
    with pytest.raises(logic.BadRequest, match=message):
        logic.parse(event, settings)


def test_a_missing_or_empty_source_is_refused_with_its_name(world):
    logic, s3, settings = world
    with pytest.raises(logic.BadRequest, match="does not exist"):
        _seal(logic, s3, settings, TRAINED)
    s3.put_object(Bucket=BUCKET, Key=TRAINED, Body=b"")
    with pytest.raises(logic.BadRequest, match="empty"):
        _seal(logic, s3, settings, TRAINED)
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ARTIFACTS_BUCKET": ""}, "ARTIFACTS_BUCKET"),
        ({"KEY_ARN": "alias/x"}, "KEY_ARN"),
        ({"SEALED_KEY": "pipeline/registered/model.tar.gz"}, "exactly one"),
        ({"SOURCE_KEYS": "/abs/{}/x"}, "relative"),
    ],
)
def test_a_wrong_environment_names_the_variable(world, change, message):
    logic, _, _ = world
    with pytest.raises(logic.ConfigurationError, match=message):
        logic.Settings.from_env({**ENV, **change})
