"""Seal a run's model: copy it, once, to the object its model package will name.

Every job of a run runs as the project's one job role, which may write the jobs' output folders of any run
(``pipeline/<run id>/model/...``), and the evaluation job loads whatever model a run has, possibly a sandbox user's.
So the training job's output is not what a package may point at. After training (or, for a publish run, straight from
the user's archive under ``sandbox/<user>/published/``), the training pipeline calls this function, and the evaluation,
the baseline and the registered package all use the sealed copy at ``SEALED_KEY`` (``pipeline/<run id>/registered/
model.tar.gz``), which no job can write.

**Write-once.** The copy is a multipart copy (UploadPartCopy) completed with ``If-None-Match: *``: S3 completes it only if
no object has that key, https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-requests.html. The artifacts
bucket's policy denies every write to ``pipeline/*/registered/*`` without that header and every delete
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes-enforce.html), so nobody, this function
included, can replace or remove a sealed model. CopyObject cannot be used: under that policy S3 answers it with 403
without the header and 501 Not Implemented with it (same page).

The source is pinned: each part copies the version (or, without versioning, the ETag) read when the seal started, so a
job that rewrites the source during the copy makes the copy fail rather than mix two models. A retry after a success
finds its own seal (the sealed object records its source's key and ETag) and returns it; a different object already at
the key is refused. A failed copy aborts its upload.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

# https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html: parts are 5 MiB to 5 GiB (the last may be smaller),
# at most 10,000 of them. 512 MiB parts copy up to 5 TiB, S3's largest object, in 10,000 parts.
MIN_PART_BYTES = 5 * 1024**2
PART_BYTES = 512 * 1024**2
MAX_PARTS = 10_000
SOURCE_KEY, SOURCE_ETAG = "sealed-from-key", "sealed-from-etag"  # the sealed object's user metadata (x-amz-meta-...)

_RUN_ID = re.compile(r"^[0-9a-f]{8}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}$")
_SAFE_PART = re.compile(r"^[A-Za-z0-9_.=+-]+$")


class ConfigurationError(RuntimeError):
    """The function's environment is wrong: it names the variable, the value and what is expected."""


class BadRequest(ValueError):
    """The event is not a request this function accepts."""


class AlreadySealed(RuntimeError):
    """Another model is already sealed at this run's key: a run has one model."""


@dataclass(frozen=True)
class Settings:
    bucket: str  # the project's artifacts bucket: sources and the sealed copy are in it
    key_arn: str  # the project key the copy is encrypted with
    sealed_key: str  # pipeline/{}/registered/model.tar.gz: {} is the run id
    sources: tuple[str, ...]  # the key formats a source may have; {} is the run id, * one safe path part

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def need(name: str, pattern: re.Pattern | None = None, what: str = "") -> str:
            value = env.get(name, "")
            if not value or (pattern is not None and not pattern.match(value)):
                raise ConfigurationError(f"{name}={value!r}: expected {what or 'a value'}")
            return value

        sealed = need("SEALED_KEY", what="a key format with one {} for the run id")
        sources = tuple(s for s in need("SOURCE_KEYS", what="key formats separated by spaces").split(" ") if s)
        for name, value in (("SEALED_KEY", sealed), *(("SOURCE_KEYS", s) for s in sources)):
            if value.count("{}") > 1 or value.startswith("/") or "//" in value:
                raise ConfigurationError(f"{name}={value!r}: expected a relative key format with at most one {{}} for the run id")
        if sealed.count("{}") != 1:
            raise ConfigurationError(f"SEALED_KEY={sealed!r}: expected exactly one {{}} for the run id")
        return cls(
            bucket=need("ARTIFACTS_BUCKET", _BUCKET, "an S3 bucket name"),
            key_arn=need("KEY_ARN", _KEY_ARN, "a KMS key ARN"),
            sealed_key=sealed,
            sources=sources,
        )


def _matches(key: str, source_format: str, run_id: str) -> bool:
    """Whether ``key`` has ``source_format``'s shape for ``run_id`` (``*``: one safe path part, never ``..``)."""
    parts, wanted = key.split("/"), source_format.format(run_id).split("/")
    if len(parts) != len(wanted):
        return False
    for part, want in zip(parts, wanted, strict=True):
        if want == "*":
            if not _SAFE_PART.match(part) or part in (".", ".."):
                return False
        elif part != want:
            return False
    return True


def parse(event: Any, settings: Settings) -> dict[str, str]:
    """``{"source": "s3://<artifacts bucket>/<key>", "runId": "<8 hex>"}``: the key must be one the pipeline puts models at."""
    if not isinstance(event, dict):
        raise BadRequest(f"expected an object with source and runId, got {type(event).__name__}")
    run_id, source = event.get("runId"), event.get("source")
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise BadRequest(f"runId {run_id!r} is not a run id (8 lowercase hex digits)")
    prefix = f"s3://{settings.bucket}/"
    if not isinstance(source, str) or not source.startswith(prefix):
        raise BadRequest(f"source {source!r} is not in the project's artifacts bucket ({prefix})")
    key = source.removeprefix(prefix)
    if not any(_matches(key, f, run_id) for f in settings.sources):
        allowed = ", ".join(f.format(run_id) for f in settings.sources)
        raise BadRequest(f"source {source!r} is not where run {run_id} keeps a model ({allowed})")
    return {"runId": run_id, "key": key}


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _head(s3, bucket: str, key: str) -> dict | None:
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def _existing_seal(s3, settings: Settings, target: str, source_key: str, etag: str) -> dict | None:
    """The seal already at ``target``, if it is of this source (a retry); :class:`AlreadySealed` if it is of another."""
    sealed = _head(s3, settings.bucket, target)
    if sealed is None:
        return None
    meta = sealed.get("Metadata", {})
    if meta.get(SOURCE_KEY) == source_key and meta.get(SOURCE_ETAG) == etag:
        return sealed
    raise AlreadySealed(
        f"s3://{settings.bucket}/{target} already holds a model sealed from {meta.get(SOURCE_KEY)!r}; a run seals one model, "
        f"and a sealed model is never replaced (refusing {source_key!r})"
    )


def _ranges(size: int, part_bytes: int) -> list[str]:
    if size <= 0:
        raise BadRequest("the model archive is empty")
    count = -(-size // part_bytes)
    if count > MAX_PARTS:
        raise BadRequest(f"the model archive is {size} bytes: more than {MAX_PARTS} parts of {part_bytes} bytes")
    return [f"bytes={start}-{min(start + part_bytes, size) - 1}" for start in range(0, size, part_bytes)]


def seal(
    request: dict[str, str],
    *,
    s3,
    settings: Settings,
    log: Callable[..., None] = lambda *a, **k: None,
    part_bytes: int = PART_BYTES,
) -> dict[str, Any]:
    """Copy the request's source to its run's sealed key, once. Returns ``uri`` (what the package names), ``etag``,
    ``versionId`` (empty without versioning), ``bytes`` and ``source``."""
    if part_bytes < MIN_PART_BYTES:
        raise ValueError(f"part_bytes {part_bytes} is below S3's minimum part size {MIN_PART_BYTES}")
    bucket, source_key = settings.bucket, request["key"]
    target = settings.sealed_key.format(request["runId"])
    source = _head(s3, bucket, source_key)
    if source is None:
        raise BadRequest(f"source s3://{bucket}/{source_key} does not exist")
    etag, size = source["ETag"], int(source["ContentLength"])
    result = lambda head, how: {  # noqa: E731
        "uri": f"s3://{bucket}/{target}",
        "etag": head["ETag"],
        "versionId": head.get("VersionId", ""),
        "bytes": size,
        "source": f"s3://{bucket}/{source_key}",
        "sealed": how,
    }
    done = _existing_seal(s3, settings, target, source_key, etag)
    if done is not None:
        log("already_sealed", key=target, source=source_key)
        return result(done, "earlier")
    ranges = _ranges(size, part_bytes)
    copy_source = {"Bucket": bucket, "Key": source_key, **({"VersionId": source["VersionId"]} if source.get("VersionId") else {})}
    upload = s3.create_multipart_upload(
        Bucket=bucket,
        Key=target,
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=settings.key_arn,
        ContentType=source.get("ContentType") or "application/gzip",
        Metadata={SOURCE_KEY: source_key, SOURCE_ETAG: etag},
    )["UploadId"]
    try:
        parts = []
        for number, byte_range in enumerate(ranges, start=1):
            copied = s3.upload_part_copy(
                Bucket=bucket,
                Key=target,
                UploadId=upload,
                PartNumber=number,
                CopySource=copy_source,
                CopySourceRange=byte_range,
                CopySourceIfMatch=etag,  # the object read above, part after part
            )
            parts.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
        s3.complete_multipart_upload(Bucket=bucket, Key=target, UploadId=upload, MultipartUpload={"Parts": parts}, IfNoneMatch="*")
    except ClientError as exc:
        s3.abort_multipart_upload(Bucket=bucket, Key=target, UploadId=upload)
        if _code(exc) == "PreconditionFailed" and exc.operation_name == "CompleteMultipartUpload":
            done = _existing_seal(s3, settings, target, source_key, etag)  # sealed meanwhile: by a retry of this call, or refused
            if done is not None:
                return result(done, "earlier")
            raise AlreadySealed(f"s3://{bucket}/{target} was written while this seal ran") from exc
        if _code(exc) == "PreconditionFailed":
            raise AlreadySealed(f"s3://{bucket}/{source_key} changed while it was being sealed; run the pipeline again") from exc
        raise
    except BaseException:
        s3.abort_multipart_upload(Bucket=bucket, Key=target, UploadId=upload)
        raise
    sealed = s3.head_object(Bucket=bucket, Key=target)
    log("sealed", key=target, source=source_key, bytes=size, parts=len(parts))
    return result(sealed, "now")
