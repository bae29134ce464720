"""The batch inference run: read JSON Lines records from S3, score them, write predictions.

One run reads every input object under ``s3://<input-bucket>/<input-prefix>/``, scores each
record with a model, and publishes exactly two objects under the run's own folder
``s3://<output-bucket>/<output-prefix>/run_id=<run-id>/``:

- ``part-00000.jsonl``: one prediction per input record, in input order
  (objects in key order, lines in file order): ``{"id": ..., "prediction": <float>}``,
  plus ``"label": 0 | 1`` when a threshold is given (``prediction >= threshold`` -> 1).
- ``_SUCCESS``: the manifest (JSON), written last: run id, status, started/finished
  timestamps, every input key with its record count, the output keys and record count,
  and the model that produced the predictions (with the artefact's ETag/VersionId).
  A run is complete exactly when its ``_SUCCESS`` exists; consumers read nothing else.

Input record schema (one JSON object per line, UTF-8, ``\\n``-separated; blank lines skipped)::

    {"id": "customer-17", "features": {"age": 42, "income": 3100.5}}

- ``id``: a non-empty string or an integer; unique across the whole run.
- ``features``: an object mapping feature names to finite numbers (not booleans).
- Other top-level keys and features the model does not use are ignored.
- Objects whose file name starts with ``_`` or ``.`` (markers such as ``_SUCCESS``) and
  folder placeholders (keys ending in ``/``) under the input prefix are not read.

Model artefact (``--model-key``, a JSON object in S3; unknown keys are errors)::

    {"name": "churn-v3",                 # optional; default: the artefact's key
     "intercept": -1.2,                  # optional; default: 0
     "coefficients": {"age": 0.03, "income": 0.0004},   # required, non-empty
     "link": "logistic"}                 # optional: "identity" (default) or "logistic"

    prediction = link(intercept + sum(coefficients[f] * features[f]))

Every feature named in ``coefficients`` must be present in every record. Without a model
artefact the run uses the built-in ``baseline-mean`` model: the arithmetic mean of the
record's feature values (each record needs at least one feature).

Outcomes (see ``JobError`` subclasses for exit codes):

- Empty input (no objects, or objects with no records) is a success: the run publishes an
  empty ``part-00000.jsonl`` and a manifest with ``"records": 0`` and ``"empty_input": true``,
  so that scheduled runs over a quiet window do not raise failure alarms.
- A malformed record, a missing or invalid model artefact: ``DataError`` naming the object
  (``s3://bucket/key``), the line and the field. Every record is validated and scored into a
  local staging file (under ``TMPDIR``) before anything is written to S3, so a failed run
  leaves no output. Output of an earlier incomplete attempt of the same run id (no
  ``_SUCCESS``) is removed when the run starts; a run id that already has a ``_SUCCESS`` is
  refused, so a completed run is never overwritten.

Sharded runs (distributed batch, e.g. an AWS Batch array job of N children): with a
:class:`Shard` (index i of count N), a run processes only the input objects whose key hashes
to shard i (:func:`shard_of`: stable, independent of the other keys, so every object belongs to
exactly one shard). All shards share the run folder: shard i publishes ``part-<i>.jsonl`` and
then its own manifest ``_shard-<i>.json``; the shard that finds every ``_shard-*.json`` present
after publishing its own writes the run's ``_SUCCESS`` (merged from the shard manifests only,
so shards finishing together write the same bytes). Until then the run is incomplete and
consumers ignore it, as before. Record ids are unique within a shard (shards cannot see each
other's records). A retried shard whose manifest exists does not score again; it only tries
to complete the run. A failed shard leaves the run without ``_SUCCESS``.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO, Any, Protocol, TextIO

from botocore.exceptions import BotoCoreError, ClientError

PART_NAME = "part-00000.jsonl"
MARKER_NAME = "_SUCCESS"
SHARD_MARKER_FORMAT = "_shard-{index:05d}.json"
MAX_SHARDS = 10000
BASELINE_MODEL_NAME = "baseline-mean"
LINKS = ("identity", "logistic")
MODEL_ARTEFACT_KEYS = ("name", "intercept", "coefficients", "link")

_READ_CHUNK_BYTES = 1 << 20
_SPOOL_MEMORY_BYTES = 32 << 20
_DELETE_BATCH = 1000


# --------------------------------------------------------------------------- errors


class JobError(Exception):
    """A run failure with a clear message for the user and the process exit code to use."""

    exit_code = 1
    kind = "error"


class DataError(JobError):
    """Input records or the model artefact are missing or malformed. Retrying cannot help."""

    exit_code = 1
    kind = "data_error"


class UsageError(JobError):
    """The run's parameters are wrong (bad value, missing, conflicting). Retrying cannot help."""

    exit_code = 2
    kind = "usage_error"


class StorageError(JobError):
    """S3 could not be read or written (access denied, throttling, network). A retry may help."""

    exit_code = 3
    kind = "storage_error"


class RecordError(Exception):
    """A problem with one record or value; the caller adds where it was found."""


# --------------------------------------------------------------------------- arguments


@dataclass(frozen=True)
class Shard:
    """This process handles shard ``index`` (0-based) of ``count`` shards of the input."""

    index: int
    count: int


def shard_of(key: str, count: int) -> int:
    """The shard (0..count-1) of an input key: a hash of the key alone, so the assignment is
    the same in every shard whatever else is listed."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % count


@dataclass(frozen=True)
class RunArgs:
    """The validated parameters of one run (see ``__main__`` for how they are resolved).

    Prefixes carry no leading or trailing ``/``; they name folders.
    """

    input_bucket: str
    input_prefix: str
    output_bucket: str
    output_prefix: str
    run_id: str
    model_bucket: str
    """Bucket of the model artefact. Default (resolved by the command line): the output bucket."""
    model_key: str | None = None
    """Key of the model artefact. Default: the built-in ``baseline-mean`` model."""
    threshold: float | None = None
    """Decision threshold. Default: no ``label`` in the output, only the score."""
    shard: Shard | None = None
    """Default: the run processes all input. When given, only this shard of it."""

    @property
    def input_folder(self) -> str:
        """The key prefix listed for input objects (always ends in ``/``)."""
        return f"{self.input_prefix}/"

    @property
    def run_folder(self) -> str:
        """The key prefix that holds this run's output (always ends in ``/``)."""
        return f"{self.output_prefix}/run_id={self.run_id}/"

    @property
    def part_key(self) -> str:
        """Key of the predictions object (``part-<shard index>.jsonl`` for a shard)."""
        if self.shard is not None:
            return f"{self.run_folder}part-{self.shard.index:05d}.jsonl"
        return f"{self.run_folder}{PART_NAME}"

    @property
    def shard_marker_key(self) -> str:
        """Key of this shard's manifest (only for sharded runs)."""
        assert self.shard is not None
        return f"{self.run_folder}{SHARD_MARKER_FORMAT.format(index=self.shard.index)}"

    @property
    def marker_key(self) -> str:
        """Key of the ``_SUCCESS`` manifest."""
        return f"{self.run_folder}{MARKER_NAME}"


def s3_uri(bucket: str, key: str) -> str:
    """``s3://bucket/key``, the form every message uses to name an object."""
    return f"s3://{bucket}/{key}"


# --------------------------------------------------------------------------- logging


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def iso_utc(moment: datetime) -> str:
    """``2024-05-01T12:00:00.123Z``: millisecond ISO-8601 in UTC."""
    text = moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


class JsonLog:
    """Writes one JSON object per line (``ts``, ``level``, ``event``, context, fields).

    Lines go to one stream (stdout in the container), flushed at once, so that CloudWatch
    Logs keeps each event as one searchable entry in the run's own log stream.
    """

    def __init__(
        self,
        stream: TextIO,
        now: Callable[[], datetime] = utc_now,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self._stream = stream
        self._now = now
        self._context = dict(context or {})

    def bind(self, **context: Any) -> JsonLog:
        """A log that adds ``context`` to every line."""
        return JsonLog(self._stream, self._now, {**self._context, **context})

    def info(self, event: str, **fields: Any) -> None:
        """Log an ``INFO`` event."""
        self._write("INFO", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Log a ``WARNING`` event."""
        self._write("WARNING", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        """Log an ``ERROR`` event."""
        self._write("ERROR", event, fields)

    def _write(self, level: str, event: str, fields: Mapping[str, Any]) -> None:
        line = {
            "ts": iso_utc(self._now()),
            "level": level,
            "logger": "batch_inference",
            "event": event,
            **self._context,
            **fields,
        }
        self._stream.write(json.dumps(line, default=str, sort_keys=False) + "\n")
        self._stream.flush()


# --------------------------------------------------------------------------- strict JSON


def _reject_constant(name: str) -> float:
    raise RecordError(f"{name} is not allowed (numbers must be finite)")


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise RecordError(f"duplicate key {key!r}")
        result[key] = value
    return result


def strict_json_loads(text: str) -> Any:
    """Parse JSON, rejecting ``NaN``/``Infinity`` and duplicate object keys (``RecordError``)."""
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_pairs)
    except json.JSONDecodeError as exc:
        raise RecordError(f"invalid JSON: {exc.msg} at column {exc.colno}") from None


def finite_number(value: Any, what: str) -> float:
    """``value`` as a finite float; ``RecordError`` naming ``what`` for anything else.

    Booleans are refused although Python treats them as integers.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(f"{what} must be a number, got {type(value).__name__} {value!r}")
    try:
        number = float(value)
    except OverflowError:
        raise RecordError(f"{what} is too large to be a float") from None
    if not math.isfinite(number):
        raise RecordError(f"{what} must be finite, got {value!r}")
    return number


# --------------------------------------------------------------------------- models


class Model(Protocol):
    """What a run needs from a model."""

    name: str

    def predict(self, features: Mapping[str, float]) -> float:
        """The score for one record's features; ``RecordError`` when it cannot be computed."""
        ...

    def describe(self) -> dict[str, Any]:
        """What the manifest records about the model (lineage)."""
        ...

    @property
    def link(self) -> str:
        """``identity`` or ``logistic`` (decides which thresholds make sense)."""
        ...


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


@dataclass(frozen=True)
class LinearModel:
    """``link(intercept + sum(coefficients[f] * features[f]))`` over the named features."""

    name: str
    coefficients: Mapping[str, float]
    intercept: float = 0.0
    link: str = "identity"
    source: Mapping[str, Any] = field(default_factory=dict)
    """Where the model came from (``uri``, ``etag``, ``version_id``), for the manifest."""

    def predict(self, features: Mapping[str, float]) -> float:
        """Score one record; every coefficient's feature must be present."""
        missing = [name for name in self.coefficients if name not in features]
        if missing:
            raise RecordError(f"features missing for model {self.name!r}: {', '.join(missing)}")
        total = self.intercept + sum(
            weight * features[name] for name, weight in self.coefficients.items()
        )
        if not math.isfinite(total):
            raise RecordError("the linear score is not a finite number (values too large)")
        return _sigmoid(total) if self.link == "logistic" else total

    def describe(self) -> dict[str, Any]:
        """Name, kind, link, parameters and source of the model."""
        return {
            "name": self.name,
            "kind": "linear",
            "link": self.link,
            "intercept": self.intercept,
            "coefficients": dict(self.coefficients),
            **({"source": dict(self.source)} if self.source else {}),
        }


@dataclass(frozen=True)
class MeanBaseline:
    """The built-in model used without an artefact: the mean of the record's feature values."""

    name: str = BASELINE_MODEL_NAME
    link: str = "identity"

    def predict(self, features: Mapping[str, float]) -> float:
        """Mean of all feature values; a record with no features is an error."""
        if not features:
            raise RecordError(f"model {self.name!r} needs at least one feature, 'features' is empty")
        mean = math.fsum(features.values()) / len(features)
        if not math.isfinite(mean):
            raise RecordError("the mean of the features is not a finite number (values too large)")
        return mean

    def describe(self) -> dict[str, Any]:
        """Name and kind of the built-in model."""
        return {"name": self.name, "kind": "builtin", "link": self.link}


def parse_model_artefact(
    body: bytes, uri: str, default_name: str, source: Mapping[str, Any]
) -> LinearModel:
    """Build a ``LinearModel`` from an artefact's bytes.

    All problems are collected and raised together as one ``DataError`` naming ``uri`` and
    each offending field (``coefficients.age``).
    """
    try:
        document = strict_json_loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise DataError(f"model artefact {uri} is not UTF-8 text") from None
    except RecordError as exc:
        raise DataError(f"model artefact {uri}: {exc}") from None
    if not isinstance(document, dict):
        raise DataError(f"model artefact {uri} must be a JSON object, got {type(document).__name__}")

    problems: list[str] = []
    unknown = sorted(set(document) - set(MODEL_ARTEFACT_KEYS))
    for key in unknown:
        problems.append(f"unknown key {key!r} (allowed: {', '.join(MODEL_ARTEFACT_KEYS)})")

    name = document.get("name", default_name)
    if not isinstance(name, str) or not name:
        problems.append("name must be a non-empty string")

    intercept = 0.0
    if "intercept" in document:
        try:
            intercept = finite_number(document["intercept"], "intercept")
        except RecordError as exc:
            problems.append(str(exc))

    link = document.get("link", "identity")
    if link not in LINKS:
        problems.append(f"link must be one of {', '.join(LINKS)}, got {link!r}")

    coefficients: dict[str, float] = {}
    raw = document.get("coefficients")
    if raw is None:
        problems.append("coefficients is required (an object of feature name -> number)")
    elif not isinstance(raw, dict) or not raw:
        problems.append("coefficients must be a non-empty object of feature name -> number")
    else:
        for feature, weight in raw.items():
            try:
                coefficients[feature] = finite_number(weight, f"coefficients.{feature}")
            except RecordError as exc:
                problems.append(str(exc))

    if problems:
        raise DataError(f"model artefact {uri} is invalid: " + "; ".join(problems))
    return LinearModel(
        name=name, coefficients=coefficients, intercept=intercept, link=link, source=source
    )


def load_model(args: RunArgs, s3: Any) -> Model:
    """The run's model: the artefact at ``model_bucket/model_key``, or the built-in baseline.

    A missing artefact or bucket is a ``DataError`` naming its ``s3://`` URI.
    """
    if args.model_key is None:
        return MeanBaseline()
    uri = s3_uri(args.model_bucket, args.model_key)
    try:
        response = s3.get_object(Bucket=args.model_bucket, Key=args.model_key)
        body = response["Body"].read()
    except ClientError as exc:
        code = _error_code(exc)
        if code in ("NoSuchKey", "404", "NotFound"):
            raise DataError(f"model artefact {uri} does not exist (--model-key)") from None
        if code == "NoSuchBucket":
            raise DataError(
                f"model artefact {uri}: bucket {args.model_bucket!r} does not exist (--model-bucket)"
            ) from None
        raise StorageError(f"reading model artefact {uri} failed: {_describe(exc)}") from None
    except BotoCoreError as exc:
        raise StorageError(f"reading model artefact {uri} failed: {exc}") from None
    source = {
        "uri": uri,
        "etag": str(response.get("ETag", "")).strip('"'),
        **({"version_id": response["VersionId"]} if response.get("VersionId") else {}),
    }
    return parse_model_artefact(body, uri, default_name=args.model_key, source=source)


def check_threshold(threshold: float | None, model: Model) -> None:
    """A logistic model scores in (0, 1); any other threshold is a ``UsageError``."""
    if threshold is None or model.link != "logistic":
        return
    if not 0.0 < threshold < 1.0:
        raise UsageError(
            f"--threshold {threshold!r} is outside (0, 1), the range of model "
            f"{model.name!r} (logistic link); no record could get a different label"
        )


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Record:
    """One input record: its id and its numeric features."""

    id: str | int
    features: Mapping[str, float]


def parse_record(line: str) -> Record:
    """Parse and validate one JSON Lines record; ``RecordError`` names the bad field."""
    document = strict_json_loads(line)
    if not isinstance(document, dict):
        raise RecordError(f"a record must be a JSON object, got {type(document).__name__}")
    if "id" not in document:
        raise RecordError("field 'id' is missing")
    record_id = document["id"]
    if isinstance(record_id, bool) or not isinstance(record_id, (str, int)) or record_id == "":
        raise RecordError(f"field 'id' must be a non-empty string or an integer, got {record_id!r}")
    if "features" not in document:
        raise RecordError("field 'features' is missing")
    raw = document["features"]
    if not isinstance(raw, dict):
        raise RecordError(f"field 'features' must be an object, got {type(raw).__name__}")
    features = {name: finite_number(value, f"features.{name}") for name, value in raw.items()}
    return Record(id=record_id, features=features)


def iter_lines(chunks: Iterator[bytes]) -> Iterator[tuple[int, bytes]]:
    """``(line_number, line)`` pairs split on ``\\n`` only, numbered from 1."""
    pending = b""
    number = 0
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            number += 1
            yield number, line
    if pending:
        yield number + 1, pending


def is_input_key(key: str, folder: str) -> bool:
    """Whether a listed key is an input object (not a folder placeholder or a marker file)."""
    if key.endswith("/"):
        return False
    name = key[len(folder):].rsplit("/", 1)[-1]
    return not name.startswith(("_", "."))


# --------------------------------------------------------------------------- S3 helpers


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _describe(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")


def _storage_failure(action: str, exc: Exception, bucket: str, bucket_arg: str) -> JobError:
    """Map an S3 exception to a ``UsageError`` (no such bucket) or a ``StorageError``."""
    if isinstance(exc, ClientError):
        if _error_code(exc) == "NoSuchBucket":
            return UsageError(f"{bucket_arg}: bucket {bucket!r} does not exist")
        return StorageError(f"{action} failed: {_describe(exc)}")
    return StorageError(f"{action} failed: {exc}")


def list_keys(s3: Any, bucket: str, prefix: str, bucket_arg: str) -> list[str]:
    """Every key under ``prefix`` in key order."""
    keys: list[str] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
    except (ClientError, BotoCoreError) as exc:
        raise _storage_failure(f"listing {s3_uri(bucket, prefix)}", exc, bucket, bucket_arg) from None
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


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class InputObject:
    """One input object read by the run and how many records it held."""

    key: str
    records: int


@dataclass(frozen=True)
class RunResult:
    """What a successful run published."""

    records: int
    inputs: tuple[InputObject, ...]
    part_key: str
    marker_key: str
    manifest: Mapping[str, Any]
    run_manifest: Mapping[str, Any] | None = None
    """For a shard: the run's ``_SUCCESS`` manifest when this shard completed the run."""


def prepare_run_folder(args: RunArgs, s3: Any, log: JsonLog) -> None:
    """Refuse a run id that already completed; remove leftovers of an incomplete attempt."""
    existing = list_keys(s3, args.output_bucket, args.run_folder, "--output-bucket")
    if args.marker_key in existing:
        raise UsageError(
            f"--run-id {args.run_id!r} already completed: {s3_uri(args.output_bucket, args.marker_key)} "
            "exists; choose a new run id (completed runs are never overwritten)"
        )
    if existing:
        delete_keys(s3, args.output_bucket, existing)
        log.warning(
            "leftovers_removed",
            message="removed output of an earlier incomplete attempt of this run",
            keys=existing,
        )


def score_object(
    s3: Any,
    args: RunArgs,
    key: str,
    model: Model,
    seen: dict[tuple[str, str | int], str],
    sink: IO[bytes],
) -> int:
    """Validate and score every record of one object into ``sink``; returns the record count.

    The first bad record raises ``DataError`` naming ``s3://bucket/key``, the line and the field.
    """
    uri = s3_uri(args.input_bucket, key)
    try:
        body = s3.get_object(Bucket=args.input_bucket, Key=key)["Body"]
        chunks = iter(lambda: body.read(_READ_CHUNK_BYTES), b"")
        count = 0
        for number, raw in iter_lines(chunks):
            where = f"{uri} line {number}"
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise DataError(f"{where}: not valid UTF-8") from None
            if not text.strip():
                continue
            try:
                record = parse_record(text)
                prediction = model.predict(record.features)
            except RecordError as exc:
                raise DataError(f"{where}: {exc}") from None
            identity = (type(record.id).__name__, record.id)
            if identity in seen:
                raise DataError(f"{where}: duplicate id {record.id!r} (first seen at {seen[identity]})")
            seen[identity] = where
            sink.write(_prediction_line(record.id, prediction, args.threshold))
            count += 1
    except (ClientError, BotoCoreError) as exc:
        raise _storage_failure(f"reading {uri}", exc, args.input_bucket, "--input-bucket") from None
    return count


def score_objects(
    s3: Any, args: RunArgs, keys: Sequence[str], model: Model, staged: IO[bytes], log: JsonLog
) -> list[InputObject]:
    """Score every object of ``keys`` in order into ``staged``; warns when there are no
    records at all (an empty result is still published)."""
    seen: dict[tuple[str, str | int], str] = {}
    inputs: list[InputObject] = []
    for key in keys:
        count = score_object(s3, args, key, model, seen, staged)
        inputs.append(InputObject(key=key, records=count))
        log.info("object_scored", key=s3_uri(args.input_bucket, key), records=count)
    if sum(item.records for item in inputs) == 0:
        log.warning(
            "empty_input",
            message="no input records; publishing an empty result",
            objects=len(keys),
        )
    return inputs


def _prediction_line(record_id: str | int, prediction: float, threshold: float | None) -> bytes:
    row: dict[str, Any] = {"id": record_id, "prediction": prediction}
    if threshold is not None:
        row["label"] = 1 if prediction >= threshold else 0
    return (json.dumps(row, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")


def build_manifest(
    args: RunArgs,
    model: Model,
    inputs: Sequence[InputObject],
    started_at: datetime,
    finished_at: datetime,
    aws_batch: Mapping[str, str],
) -> dict[str, Any]:
    """The ``_SUCCESS`` manifest of a completed run."""
    records = sum(item.records for item in inputs)
    return {
        "status": "succeeded",
        "run_id": args.run_id,
        "started_at": iso_utc(started_at),
        "finished_at": iso_utc(finished_at),
        "records": records,
        "empty_input": records == 0,
        "input": {
            "bucket": args.input_bucket,
            "prefix": args.input_folder,
            "objects": [{"key": item.key, "records": item.records} for item in inputs],
        },
        "output": {
            "bucket": args.output_bucket,
            "prefix": args.run_folder,
            "keys": [args.part_key],
            "records": records,
        },
        "model": model.describe(),
        "threshold": args.threshold,
        **({"aws_batch": dict(aws_batch)} if aws_batch else {}),
    }


def publish(
    args: RunArgs,
    s3: Any,
    staged: IO[bytes],
    manifest: Mapping[str, Any],
    log: JsonLog,
    marker_key: str | None = None,
) -> None:
    """Upload the predictions, then the manifest (``_SUCCESS``, or ``marker_key`` for a
    shard); on failure remove what was written."""
    marker_key = marker_key or args.marker_key
    body = (json.dumps(manifest, indent=2, allow_nan=False) + "\n").encode("utf-8")
    try:
        staged.seek(0)
        s3.upload_fileobj(
            staged,
            args.output_bucket,
            args.part_key,
            ExtraArgs={"ContentType": "application/x-ndjson"},
        )
        s3.put_object(
            Bucket=args.output_bucket,
            Key=marker_key,
            Body=body,
            ContentType="application/json",
        )
    except (ClientError, BotoCoreError) as exc:
        failure = _storage_failure(
            f"writing to {s3_uri(args.output_bucket, args.run_folder)}",
            exc,
            args.output_bucket,
            "--output-bucket",
        )
        _remove_partial_output(args, s3, log, marker_key)
        raise failure from None


def _remove_partial_output(args: RunArgs, s3: Any, log: JsonLog, marker_key: str) -> None:
    keys = [args.part_key, marker_key]
    try:
        delete_keys(s3, args.output_bucket, keys)
    except StorageError as exc:
        log.error(
            "cleanup_failed",
            message=f"partial output may be left behind: {exc}",
            keys=[s3_uri(args.output_bucket, key) for key in keys],
        )
    else:
        log.info("partial_output_removed", keys=[s3_uri(args.output_bucket, k) for k in keys])


def run(
    args: RunArgs,
    s3: Any,
    log: JsonLog,
    now: Callable[[], datetime] = utc_now,
    aws_batch: Mapping[str, str] | None = None,
) -> RunResult:
    """Execute one run end to end; raises a ``JobError`` subclass on failure.

    Order: refuse a completed run id -> load the model -> validate the threshold -> list
    inputs -> validate and score everything into a staging file -> upload predictions ->
    write the ``_SUCCESS`` manifest last. A sharded run goes through :func:`run_shard`.
    """
    if args.shard is not None:
        return run_shard(args, s3, log, now, aws_batch)
    started_at = now()
    log.info(
        "run_started",
        input=s3_uri(args.input_bucket, args.input_folder),
        output=s3_uri(args.output_bucket, args.run_folder),
        model=s3_uri(args.model_bucket, args.model_key) if args.model_key else BASELINE_MODEL_NAME,
        threshold=args.threshold,
    )
    prepare_run_folder(args, s3, log)
    model = load_model(args, s3)
    check_threshold(args.threshold, model)
    log.info("model_loaded", model=model.describe())

    keys = [
        key
        for key in list_keys(s3, args.input_bucket, args.input_folder, "--input-bucket")
        if is_input_key(key, args.input_folder)
    ]
    log.info("inputs_listed", objects=len(keys))

    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_MEMORY_BYTES, mode="w+b") as staged:
        inputs = score_objects(s3, args, keys, model, staged, log)
        total = sum(item.records for item in inputs)
        manifest = build_manifest(args, model, inputs, started_at, now(), aws_batch or {})
        publish(args, s3, staged, manifest, log)

    log.info(
        "run_succeeded",
        records=total,
        objects=len(inputs),
        part=s3_uri(args.output_bucket, args.part_key),
        manifest=s3_uri(args.output_bucket, args.marker_key),
    )
    return RunResult(
        records=total,
        inputs=tuple(inputs),
        part_key=args.part_key,
        marker_key=args.marker_key,
        manifest=manifest,
    )


# --------------------------------------------------------------------------- sharded runs


def prepare_shard(args: RunArgs, s3: Any, log: JsonLog) -> bool:
    """Check the run folder before a shard scores; True when this shard already published
    its output (a retry), so only the run's completion remains to be done.

    A completed run (``_SUCCESS``) is refused unless this shard's manifest is part of it;
    leftovers of this shard's incomplete attempt are removed, other shards' files are never
    touched.
    """
    assert args.shard is not None
    existing = list_keys(s3, args.output_bucket, args.run_folder, "--output-bucket")
    own_marker = args.shard_marker_key in existing
    if args.marker_key in existing and not own_marker:
        raise UsageError(
            f"--run-id {args.run_id!r} already completed: {s3_uri(args.output_bucket, args.marker_key)} "
            "exists; choose a new run id (completed runs are never overwritten)"
        )
    if own_marker:
        log.info(
            "shard_already_published",
            message="this shard's output exists from an earlier attempt; not scoring again",
            shard=args.shard.index,
        )
        return True
    leftovers = [key for key in existing if key == args.part_key]
    if leftovers:
        delete_keys(s3, args.output_bucket, leftovers)
        log.warning(
            "leftovers_removed",
            message="removed output of an earlier incomplete attempt of this shard",
            keys=leftovers,
        )
    return False


def run_shard(
    args: RunArgs,
    s3: Any,
    log: JsonLog,
    now: Callable[[], datetime] = utc_now,
    aws_batch: Mapping[str, str] | None = None,
) -> RunResult:
    """Execute one shard of a run: score this shard's input objects, publish
    ``part-<i>.jsonl`` and ``_shard-<i>.json``, then complete the run if every shard has."""
    shard = args.shard
    assert shard is not None
    started_at = now()
    log.info(
        "run_started",
        input=s3_uri(args.input_bucket, args.input_folder),
        output=s3_uri(args.output_bucket, args.run_folder),
        model=s3_uri(args.model_bucket, args.model_key) if args.model_key else BASELINE_MODEL_NAME,
        threshold=args.threshold,
        shard=shard.index,
        shards=shard.count,
    )
    inputs: tuple[InputObject, ...] = ()
    manifest: Mapping[str, Any] = {}
    if not prepare_shard(args, s3, log):
        model = load_model(args, s3)
        check_threshold(args.threshold, model)
        log.info("model_loaded", model=model.describe())
        keys = [
            key
            for key in list_keys(s3, args.input_bucket, args.input_folder, "--input-bucket")
            if is_input_key(key, args.input_folder) and shard_of(key, shard.count) == shard.index
        ]
        log.info("inputs_listed", objects=len(keys), shard=shard.index, shards=shard.count)
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_MEMORY_BYTES, mode="w+b") as staged:
            scored = score_objects(s3, args, keys, model, staged, log)
            manifest = {
                **build_manifest(args, model, scored, started_at, now(), aws_batch or {}),
                "status": "shard_succeeded",
                "shard": {"index": shard.index, "count": shard.count},
            }
            publish(args, s3, staged, manifest, log, marker_key=args.shard_marker_key)
        inputs = tuple(scored)
        log.info(
            "shard_succeeded",
            records=manifest["records"],
            objects=len(inputs),
            part=s3_uri(args.output_bucket, args.part_key),
            manifest=s3_uri(args.output_bucket, args.shard_marker_key),
        )
    run_manifest = complete_run(args, s3, log)
    return RunResult(
        records=sum(item.records for item in inputs),
        inputs=inputs,
        part_key=args.part_key,
        marker_key=args.shard_marker_key,
        manifest=manifest,
        run_manifest=run_manifest,
    )


def _read_shard_manifest(args: RunArgs, s3: Any, key: str) -> dict[str, Any]:
    uri = s3_uri(args.output_bucket, key)
    try:
        body = s3.get_object(Bucket=args.output_bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise _storage_failure(f"reading {uri}", exc, args.output_bucket, "--output-bucket") from None
    try:
        document = json.loads(body)
    except ValueError:
        raise DataError(f"shard manifest {uri} is not valid JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("shard"), dict):
        raise DataError(f"shard manifest {uri} is not a shard manifest")
    return document


def merge_shard_manifests(args: RunArgs, shards: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The run's ``_SUCCESS`` manifest from every shard's manifest (in shard order); depends
    on nothing else, so every shard computes the same document. ``DataError`` when the shards
    disagree on the shard count or used different models."""
    assert args.shard is not None
    counts = {m["shard"].get("count") for m in shards}
    models = {json.dumps(m.get("model"), sort_keys=True) for m in shards}
    if counts != {args.shard.count}:
        raise DataError(
            f"run {args.run_id!r}: shard manifests disagree on the shard count "
            f"({sorted(map(str, counts))}, this shard: {args.shard.count})"
        )
    if len(models) != 1:
        raise DataError(
            f"run {args.run_id!r}: shards used different models (the artefact changed during the "
            "run); submit the run again"
        )
    records = sum(int(m.get("records", 0)) for m in shards)
    objects = sorted(
        (obj for m in shards for obj in m.get("input", {}).get("objects", [])),
        key=lambda obj: obj["key"],
    )
    return {
        "status": "succeeded",
        "run_id": args.run_id,
        "started_at": min(m["started_at"] for m in shards),
        "finished_at": max(m["finished_at"] for m in shards),
        "records": records,
        "empty_input": records == 0,
        "input": {"bucket": args.input_bucket, "prefix": args.input_folder, "objects": objects},
        "output": {
            "bucket": args.output_bucket,
            "prefix": args.run_folder,
            "keys": [key for m in shards for key in m.get("output", {}).get("keys", [])],
            "records": records,
        },
        "model": shards[0].get("model"),
        "threshold": shards[0].get("threshold"),
        "shards": args.shard.count,
    }


def complete_run(args: RunArgs, s3: Any, log: JsonLog) -> dict[str, Any] | None:
    """Write the run's ``_SUCCESS`` once every shard's manifest exists; returns it, or None
    while shards are missing (or when the run was already completed)."""
    assert args.shard is not None
    existing = set(list_keys(s3, args.output_bucket, args.run_folder, "--output-bucket"))
    if args.marker_key in existing:
        log.info("run_already_completed", manifest=s3_uri(args.output_bucket, args.marker_key))
        return None
    count = args.shard.count
    expected = [f"{args.run_folder}{SHARD_MARKER_FORMAT.format(index=i)}" for i in range(count)]
    missing = [key for key in expected if key not in existing]
    if missing:
        log.info("run_waiting_for_shards", completed=count - len(missing), shards=count)
        return None
    manifest = merge_shard_manifests(args, [_read_shard_manifest(args, s3, key) for key in expected])
    body = (json.dumps(manifest, indent=2, allow_nan=False) + "\n").encode("utf-8")
    try:
        s3.put_object(
            Bucket=args.output_bucket, Key=args.marker_key, Body=body, ContentType="application/json"
        )
    except (ClientError, BotoCoreError) as exc:
        raise _storage_failure(
            f"writing {s3_uri(args.output_bucket, args.marker_key)}", exc, args.output_bucket, "--output-bucket"
        ) from None
    log.info(
        "run_succeeded",
        records=manifest["records"],
        shards=count,
        manifest=s3_uri(args.output_bucket, args.marker_key),
    )
    return manifest
