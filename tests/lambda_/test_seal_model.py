"""The seal Lambda, against moto's S3: a run's model is copied once to the key its package names, and never replaced."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.sfn_harness import lambda_logic

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
MODULE = "lambda.seal_model.logic"  # its name from the repository's root (what `make mutate` mutates it as)


@pytest.fixture
def world(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    logic = lambda_logic("seal_model")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield logic, s3, logic.Settings.from_env(ENV)
    sys.modules.pop(MODULE, None)


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


# -- what `make mutate` found untested (each test below kills mutants that survived the ones above) -------------------


def _recording(s3, name: str):
    calls = []
    original = getattr(s3, name)

    def record(**kwargs):
        calls.append(kwargs)
        return original(**kwargs)

    setattr(s3, name, record)
    return calls


def test_each_part_is_numbered_from_one_and_pinned_to_the_version_and_etag_read_first(world):
    logic, s3, settings = world
    s3.put_object(Bucket=BUCKET, Key=TRAINED, Body=b"z" * (11 * MIB), ContentType="application/x-tar")
    head = s3.head_object(Bucket=BUCKET, Key=TRAINED)
    parts = _recording(s3, "upload_part_copy")
    events = []
    out = _seal(logic, s3, settings, TRAINED, part_bytes=5 * MIB, log=lambda event, **fields: events.append((event, fields)))
    assert [p["PartNumber"] for p in parts] == [1, 2, 3]
    assert {(p["CopySource"]["VersionId"], p["CopySourceIfMatch"]) for p in parts} == {(head["VersionId"], head["ETag"])}
    assert out["source"] == f"s3://{BUCKET}/{TRAINED}" and out["bytes"] == 11 * MIB
    assert s3.head_object(Bucket=BUCKET, Key=SEALED)["ContentType"] == "application/x-tar"  # the source's
    assert events == [("sealed", {"key": SEALED, "source": TRAINED, "bytes": 11 * MIB, "parts": 3})]


def test_a_retry_reads_the_seal_and_starts_no_upload(world):
    logic, s3, settings = world
    s3.put_object(Bucket=BUCKET, Key=TRAINED, Body=b"model")
    _seal(logic, s3, settings, TRAINED)
    started = _recording(s3, "create_multipart_upload")
    events = []
    again = _seal(logic, s3, settings, TRAINED, log=lambda event, **fields: events.append((event, fields)))
    assert started == [] and again["sealed"] == "earlier"
    assert events == [("already_sealed", {"key": SEALED, "source": TRAINED})]


def test_without_versioning_the_seal_has_no_version_and_a_one_byte_model_is_sealed(world):
    logic, s3, settings = world
    bucket = "mlops-dev-fraud-artifacts"  # never versioned: no VersionId anywhere
    s3.create_bucket(Bucket=bucket)
    plain = dataclasses.replace(settings, bucket=bucket)
    s3.put_object(Bucket=bucket, Key=TRAINED, Body=b"m")
    request = logic.parse({"source": f"s3://{bucket}/{TRAINED}", "runId": RUN}, plain)
    out = logic.seal(request, s3=s3, settings=plain)
    assert out["versionId"] == "" and out["bytes"] == 1
    assert s3.get_object(Bucket=bucket, Key=SEALED)["Body"].read() == b"m"


def _failing(s3, name: str, code: str):
    def fail(**kwargs):
        raise ClientError({"Error": {"Code": code, "Message": "injected"}}, name.title().replace("_", ""))

    setattr(s3, name, fail)


@pytest.mark.parametrize(
    ("operation", "code", "raised", "message"),
    [
        # S3 answers 412 to CopySourceIfMatch when the source changed (moto does not check it: the answer is injected)
        (
            "upload_part_copy",
            "PreconditionFailed",
            "AlreadySealed",
            f"s3://{BUCKET}/{TRAINED} changed while it was being sealed; run the pipeline again",
        ),
        ("upload_part_copy", "AccessDenied", "ClientError", "AccessDenied"),
        ("complete_multipart_upload", "PreconditionFailed", "AlreadySealed", f"s3://{BUCKET}/{SEALED} was written while this seal ran"),
    ],
)
def test_a_failed_copy_aborts_its_upload_and_says_why(world, operation, code, raised, message):
    logic, s3, settings = world
    s3.put_object(Bucket=BUCKET, Key=TRAINED, Body=b"model")
    aborted = _recording(s3, "abort_multipart_upload")
    _failing(s3, operation, code)
    with pytest.raises(getattr(logic, raised, ClientError)) as caught:
        _seal(logic, s3, settings, TRAINED)
    assert str(caught.value) == message if raised == "AlreadySealed" else code in str(caught.value)
    assert [(a["Bucket"], a["Key"]) for a in aborted] == [(BUCKET, SEALED)]
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=SEALED)


def test_an_error_that_is_not_s3s_also_aborts_the_upload(world):
    logic, s3, settings = world
    s3.put_object(Bucket=BUCKET, Key=TRAINED, Body=b"model")
    aborted = _recording(s3, "abort_multipart_upload")

    def interrupted(**kwargs):
        raise TimeoutError("the function ran out of time")

    s3.upload_part_copy = interrupted
    with pytest.raises(TimeoutError):
        _seal(logic, s3, settings, TRAINED)
    assert len(aborted) == 1 and s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_another_model_at_the_key_is_named_in_the_refusal(world):
    logic, s3, settings = world
    s3.put_object(Bucket=BUCKET, Key=TRAINED, Body=b"model")
    _seal(logic, s3, settings, TRAINED)
    s3.put_object(Bucket=BUCKET, Key=PUBLISHED, Body=b"another")
    with pytest.raises(logic.AlreadySealed) as caught:
        _seal(logic, s3, settings, PUBLISHED)
    assert str(caught.value) == (
        f"s3://{BUCKET}/{SEALED} already holds a model sealed from {TRAINED!r}; a run seals one model, and a sealed model "
        f"is never replaced (refusing {PUBLISHED!r})"
    )


def test_the_parts_cover_the_archive_exactly_up_to_s3s_part_limit(world):
    logic, _, _ = world
    part = logic.MIN_PART_BYTES
    assert logic._ranges(1, part) == ["bytes=0-0"]
    assert logic._ranges(part, part) == [f"bytes=0-{part - 1}"]
    assert logic._ranges(part + 1, part) == [f"bytes=0-{part - 1}", f"bytes={part}-{part}"]
    assert len(logic._ranges(part * logic.MAX_PARTS, part)) == logic.MAX_PARTS
    with pytest.raises(logic.BadRequest, match=f"^the model archive is {part * logic.MAX_PARTS + 1} bytes: more than 10000 parts of {part} bytes$"):
        logic._ranges(part * logic.MAX_PARTS + 1, part)
    with pytest.raises(logic.BadRequest, match="^the model archive is empty$"):
        logic._ranges(0, part)
    with pytest.raises(ValueError, match=f"^part_bytes {part - 1} is below S3's minimum part size {part}$"):
        logic.seal({"key": TRAINED, "runId": RUN}, s3=None, settings=None, part_bytes=part - 1)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("x", "expected an object with source and runId, got str"),
        (
            {"source": f"s3://{BUCKET}/pipeline/{RUN}/x", "runId": RUN},
            f"source 's3://{BUCKET}/pipeline/{RUN}/x' is not where run {RUN} keeps a model "
            f"(pipeline/{RUN}/model/*/output/model.tar.gz, sandbox/*/published/*/model.tar.gz)",
        ),
        ({"source": f"s3://{BUCKET}/sandbox/./published/x/model.tar.gz", "runId": RUN}, "is not where run"),
        ({"source": f"s3://{BUCKET}/sandbox/../published/x/model.tar.gz", "runId": RUN}, "is not where run"),
        ({"source": f"s3://{BUCKET}/sandbox/al ice/published/x/model.tar.gz", "runId": RUN}, "is not where run"),
    ],
)
def test_a_refused_request_says_exactly_why(world, event, message):
    logic, _, settings = world
    with pytest.raises(logic.BadRequest) as caught:
        logic.parse(event, settings)
    assert message in str(caught.value)
    assert not message.startswith("expected") or str(caught.value) == message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ARTIFACTS_BUCKET": ""}, "ARTIFACTS_BUCKET='': expected an S3 bucket name"),
        ({"ARTIFACTS_BUCKET": "Not_A_Bucket"}, "ARTIFACTS_BUCKET='Not_A_Bucket': expected an S3 bucket name"),
        ({"KEY_ARN": "alias/x"}, "KEY_ARN='alias/x': expected a KMS key ARN"),
        ({"SEALED_KEY": ""}, "SEALED_KEY='': expected a key format with one {} for the run id"),
        ({"SOURCE_KEYS": ""}, "SOURCE_KEYS='': expected key formats separated by spaces"),
        ({"SEALED_KEY": "pipeline//{}"}, "SEALED_KEY='pipeline//{}': expected a relative key format with at most one {} for the run id"),
        ({"SOURCE_KEYS": "a/{}/b/{}"}, "SOURCE_KEYS='a/{}/b/{}': expected a relative key format with at most one {} for the run id"),
        ({"SEALED_KEY": "pipeline/registered"}, "SEALED_KEY='pipeline/registered': expected exactly one {} for the run id"),
    ],
)
def test_each_wrong_variable_is_named_with_its_value_and_what_is_expected(world, change, message):
    logic, _, _ = world
    with pytest.raises(logic.ConfigurationError) as caught:
        logic.Settings.from_env({**ENV, **change})
    assert str(caught.value) == message


def test_source_formats_may_be_separated_by_several_spaces(world):
    logic, _, _ = world
    settings = logic.Settings.from_env({**ENV, "SOURCE_KEYS": "a/{}/x  b/{}/y"})
    assert settings.sources == ("a/{}/x", "b/{}/y")
    assert logic.Settings.from_env({k: v for k, v in ENV.items() if k != "KEY_ARN"} | {"KEY_ARN": KEY_ARN}).key_arn == KEY_ARN


def test_the_tests_environment_is_the_one_the_pipeline_deploys():
    """ENV above is what every test here seals with: the construct's seal_environment, not a copy that could drift."""
    from mlops_constructs.training_pipeline import seal_environment

    assert seal_environment(BUCKET, KEY_ARN) == ENV
