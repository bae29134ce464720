"""Reading a window of curated data: which objects, which records, and what is refused.

A **window** is every input object under ``s3://<bucket>/<prefix>/`` whose ``LastModified``
lies within the last ``days`` days before the run (objects are the unit: an object written
inside the window is read whole). Markers and folder placeholders (names starting with ``_``
or ``.``, keys ending in ``/``) are not input, and archived objects (S3 Glacier Flexible
Retrieval, Deep Archive) cannot be read without a restore and are skipped with a log line.

Records are JSON Lines, the batch inference job's schema plus a label for training::

    {"id": "customer-17", "features": {"age": 42, "income": 3100.5}, "label": 1}

Everything is validated before anything is written anywhere: an empty window, a record
without one of the features, a value that is not a finite number (``NaN``, ``Infinity``,
``1e400``), a missing or non-binary label (training) each fail the run with a
:class:`~services.training.errors.DataError` naming the object, the line and the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from services.training.errors import DataError, JsonLog, StorageError, UsageError, iso_utc

ARCHIVE_STORAGE_CLASSES = ("GLACIER", "DEEP_ARCHIVE")


def s3_uri(bucket: str, key: str) -> str:
    """``s3://bucket/key``, the form every message uses."""
    return f"s3://{bucket}/{key}"


def aws_failure(action: str, exc: Exception) -> StorageError | UsageError:
    """An AWS exception as a job error: a missing bucket or table is a usage error (the
    parameters name something that does not exist); anything else may heal on retry."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        text = f"{code}: {error.get('Message', '')}".rstrip(": ")
        if code in ("NoSuchBucket", "ResourceNotFoundException"):
            return UsageError(f"{action} failed: {text}")
        return StorageError(f"{action} failed: {text}")
    return StorageError(f"{action} failed: {exc}")


# --------------------------------------------------------------------------- records


class _RecordProblem(Exception):
    pass


def _reject_constant(name: str) -> float:
    raise _RecordProblem(f"{name} is not allowed (numbers must be finite)")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _RecordProblem(f"{what} must be a number, got {type(value).__name__} {value!r}")
    try:
        number = float(value)
    except OverflowError:
        raise _RecordProblem(f"{what} is not a finite number ({value!r})") from None
    if not math.isfinite(number):
        raise _RecordProblem(f"{what} is not a finite number ({value!r})")
    return number


def parse_line(text: str, labelled: bool) -> tuple[dict[str, float], int | None]:
    """The features (and with ``labelled`` the 0/1 label) of one JSON Lines record."""
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _RecordProblem(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(document, dict):
        raise _RecordProblem(f"a record must be a JSON object, got {type(document).__name__}")
    raw = document.get("features")
    if not isinstance(raw, dict):
        raise _RecordProblem("field 'features' must be an object of feature name -> number")
    features = {name: _number(value, f"features.{name}") for name, value in raw.items()}
    if not labelled:
        return features, None
    label = document.get("label")
    if isinstance(label, bool) or label not in (0, 1):
        raise _RecordProblem(f"field 'label' must be 0 or 1, got {label!r}")
    return features, int(label)


# --------------------------------------------------------------------------- the window


@dataclass(frozen=True)
class Window:
    """Where and when a window of data was read: what the registry records as its data window."""

    bucket: str
    prefix: str
    start: datetime
    end: datetime
    objects: tuple[str, ...]
    records: int

    def describe(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefix": f"{self.prefix}/",
            "start": iso_utc(self.start),
            "end": iso_utc(self.end),
            "objects": len(self.objects),
            "records": self.records,
        }


@dataclass(frozen=True)
class Dataset:
    """The records of a window as arrays: one row per record, columns in ``features`` order."""

    features: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray | None
    window: Window


def window_keys(
    s3: Any, bucket: str, prefix: str, start: datetime, end: datetime, log: JsonLog
) -> list[str]:
    """Input keys under ``prefix/`` last modified in ``[start, end]``, in key order."""
    folder = f"{prefix}/"
    keys = []
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder)
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"]
                name = key[len(folder) :].rsplit("/", 1)[-1]
                if key.endswith("/") or name.startswith(("_", ".")):
                    continue
                if not start <= item["LastModified"] <= end:
                    continue
                if item.get("StorageClass") in ARCHIVE_STORAGE_CLASSES:
                    log.warning(
                        "archived_object_skipped",
                        key=s3_uri(bucket, key),
                        storage_class=item.get("StorageClass"),
                    )
                    continue
                keys.append(key)
    except (ClientError, BotoCoreError) as exc:
        raise aws_failure(f"listing {s3_uri(bucket, folder)}", exc) from None
    return sorted(keys)


def _lines(s3: Any, bucket: str, key: str) -> Iterator[tuple[int, str]]:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise aws_failure(f"reading {s3_uri(bucket, key)}", exc) from None
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{s3_uri(bucket, key)} is not UTF-8 text") from None
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, line


def read_window(
    s3: Any,
    bucket: str,
    prefix: str,
    days: int,
    now: datetime,
    log: JsonLog,
    *,
    labelled: bool,
    features: Sequence[str] = (),
) -> Dataset:
    """Every record of the window, validated. ``features``: the columns to read (every record
    must have each; others are ignored). Without it, the first record's features, sorted,
    and every record must have exactly those."""
    start, end = now - timedelta(days=days), now
    keys = window_keys(s3, bucket, prefix, start, end, log)
    where = (
        f"{s3_uri(bucket, prefix + '/')} (objects last modified {iso_utc(start)} .. {iso_utc(end)})"
    )
    if not keys:
        raise DataError(f"the window is empty: no input objects in {where}")
    columns: tuple[str, ...] = tuple(features)
    rows: list[list[float]] = []
    labels: list[int] = []
    for key in keys:
        for number, line in _lines(s3, bucket, key):
            at = f"{s3_uri(bucket, key)} line {number}"
            try:
                values, label = parse_line(line, labelled)
            except _RecordProblem as exc:
                raise DataError(f"{at}: {exc}") from None
            if not columns:
                columns = tuple(sorted(values))
                if not columns:
                    raise DataError(f"{at}: the record has no features")
            missing = [name for name in columns if name not in values]
            if missing:
                raise DataError(f"{at}: feature(s) missing: {', '.join(missing)}")
            if not features and len(values) != len(columns):
                extra = sorted(set(values) - set(columns))
                raise DataError(
                    f"{at}: unexpected feature(s) {', '.join(extra)}: every record of the window "
                    f"must have the same features ({', '.join(columns)})"
                )
            rows.append([values[name] for name in columns])
            if label is not None:
                labels.append(label)
    if not rows:
        raise DataError(f"the window is empty: the objects in {where} hold no records")
    window = Window(bucket, prefix, start, end, tuple(keys), len(rows))
    log.info("window_read", **window.describe(), features=list(columns))
    return Dataset(
        features=columns,
        x=np.asarray(rows, dtype=np.float64),
        y=np.asarray(labels, dtype=np.int64) if labelled else None,
        window=window,
    )


def read_json(s3: Any, bucket: str, key: str, what: str) -> dict[str, Any]:
    """A JSON object stored in S3 (an artefact); a missing or malformed one is a DataError."""
    uri = s3_uri(bucket, key)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in ("NoSuchKey", "404"):
            raise DataError(f"{what} {uri} does not exist") from None
        raise aws_failure(f"reading {uri}", exc) from None
    except BotoCoreError as exc:
        raise aws_failure(f"reading {uri}", exc) from None
    try:
        document = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, _RecordProblem):
        raise DataError(f"{what} {uri} is not valid JSON") from None
    if not isinstance(document, dict):
        raise DataError(f"{what} {uri} must be a JSON object")
    return document


def write_json(s3: Any, bucket: str, key: str, document: dict[str, Any]) -> None:
    """Store a JSON object (an artefact or a report)."""
    body = (json.dumps(document, indent=2, allow_nan=False) + "\n").encode("utf-8")
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    except (ClientError, BotoCoreError) as exc:
        raise aws_failure(f"writing {s3_uri(bucket, key)}", exc) from None
