"""S3 access shared by every step: naming objects, mapping S3 errors to the job's errors
(and so to exit codes), listing and deleting keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from services.batch_inference.errors import JobError, StorageError, UsageError

_DELETE_BATCH = 1000


def s3_uri(bucket: str, key: str) -> str:
    """``s3://bucket/key``, the form every message uses to name an object."""
    return f"s3://{bucket}/{key}"


def error_code(exc: ClientError) -> str:
    """The S3 error code of a failed call (``NoSuchKey``, ``AccessDenied``...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def describe_error(exc: ClientError) -> str:
    """``Code: Message`` of a failed call, for messages."""
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")


def storage_failure(action: str, exc: Exception, bucket: str, bucket_arg: str) -> JobError:
    """Map an S3 exception to a ``UsageError`` (no such bucket) or a ``StorageError``."""
    if isinstance(exc, ClientError):
        if error_code(exc) == "NoSuchBucket":
            return UsageError(f"{bucket_arg}: bucket {bucket!r} does not exist")
        return StorageError(f"{action} failed: {describe_error(exc)}")
    return StorageError(f"{action} failed: {exc}")


def list_keys(s3: Any, bucket: str, prefix: str, bucket_arg: str) -> list[str]:
    """Every key under ``prefix`` in key order."""
    keys: list[str] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
    except (ClientError, BotoCoreError) as exc:
        raise storage_failure(
            f"listing {s3_uri(bucket, prefix)}", exc, bucket, bucket_arg
        ) from None
    return sorted(keys)


def delete_keys(s3: Any, bucket: str, keys: Sequence[str]) -> None:
    """Delete ``keys``; ``StorageError`` if S3 refuses any of them."""
    for start in range(0, len(keys), _DELETE_BATCH):
        batch = keys[start : start + _DELETE_BATCH]
        try:
            response = s3.delete_objects(
                Bucket=bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"deleting from s3://{bucket}/ failed: {exc}") from None
        errors = response.get("Errors", [])
        if errors:
            failed = ", ".join(f"{e.get('Key')} ({e.get('Code')})" for e in errors)
            raise StorageError(f"deleting from s3://{bucket}/ failed for: {failed}")
