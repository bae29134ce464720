"""Reading and scoring: the model artefact, then every selected input object, record by
record, into a local staging file (see ``job`` for the formats and ``inputs`` for which
objects are read)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import IO, TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from services.batch_inference.errors import DataError, RecordError, StorageError
from services.batch_inference.inputs import (
    ObjectArchived,
    SkippedObject,
    archived_object,
    archived_trigger_error,
    log_skipped,
    select_inputs,
)
from services.batch_inference.logs import JsonLog
from services.batch_inference.models import MeanBaseline, Model, parse_model_artefact, parse_record
from services.batch_inference.registry import approved_version
from services.batch_inference.storage import describe_error, error_code, s3_uri, storage_failure

if TYPE_CHECKING:
    from services.batch_inference.job import RunArgs

_READ_CHUNK_BYTES = 1 << 20


def load_model(args: RunArgs, s3: Any, dynamodb: Any = None, log: JsonLog | None = None) -> Model:
    """The run's model: the artefact at ``model_bucket/model_key``, the registry's approved
    version (``registry_table``), or the built-in baseline.

    A missing artefact or bucket is a ``DataError`` naming its ``s3://`` URI.
    """
    if args.registry_table is not None and args.model_name is not None:
        approved = approved_version(dynamodb, args.registry_table, args.model_name)
        if approved is None:
            if log is not None:
                log.warning(
                    "no_approved_model",
                    message=f"model {args.model_name!r} has no approved version in "
                    f"{args.registry_table}; scoring with the built-in {MeanBaseline().name!r}",
                )
            return MeanBaseline()
        registry = {
            "table": args.registry_table,
            "model": approved.model,
            "version": approved.version,
        }
        return _load_artefact(s3, approved.bucket, approved.key, approved.key, registry)
    if args.model_key is None:
        return MeanBaseline()
    return _load_artefact(s3, args.model_bucket, args.model_key, args.model_key, None)


def _load_artefact(
    s3: Any, bucket: str, key: str, default_name: str, registry: dict[str, Any] | None
) -> Model:
    """Read and parse one model artefact; ``registry`` (table, model, version) when it is a
    registry version."""
    uri = s3_uri(bucket, key)
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
        body = response["Body"].read()
    except ClientError as exc:
        code = error_code(exc)
        if code in ("NoSuchKey", "404", "NotFound"):
            raise DataError(f"model artefact {uri} does not exist (--model-key)") from None
        if code == "NoSuchBucket":
            raise DataError(
                f"model artefact {uri}: bucket {bucket!r} does not exist (--model-bucket)"
            ) from None
        raise StorageError(f"reading model artefact {uri} failed: {describe_error(exc)}") from None
    except BotoCoreError as exc:
        raise StorageError(f"reading model artefact {uri} failed: {exc}") from None
    source = {
        "uri": uri,
        "etag": str(response.get("ETag", "")).strip('"'),
        **({"version_id": response["VersionId"]} if response.get("VersionId") else {}),
        **({"registry": registry} if registry else {}),
    }
    model = parse_model_artefact(body, uri, default_name=default_name, source=source)
    return replace(model, version=registry["version"]) if registry else model


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


@dataclass(frozen=True)
class InputObject:
    """One input object read by the run and how many records it held."""

    key: str
    records: int


def _open_input(s3: Any, args: RunArgs, key: str) -> Any:
    """GetObject of one input object: its streaming body. ``ObjectArchived`` when S3 refuses
    an archived object; a triggering object that is gone is a ``DataError`` (a retry cannot
    bring it back); other failures are storage errors."""
    try:
        return s3.get_object(Bucket=args.input_bucket, Key=key)["Body"]
    except ClientError as exc:
        archived = archived_object(key, exc)
        if archived is not None:
            raise ObjectArchived(archived) from None
        if key == args.trigger_key and error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            raise DataError(
                f"{s3_uri(args.input_bucket, key)} (--trigger-key) does not exist: it was deleted "
                "or renamed after the run was submitted"
            ) from None
        raise storage_failure(
            f"reading {s3_uri(args.input_bucket, key)}", exc, args.input_bucket, "--input-bucket"
        ) from None
    except BotoCoreError as exc:
        raise storage_failure(
            f"reading {s3_uri(args.input_bucket, key)}", exc, args.input_bucket, "--input-bucket"
        ) from None


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
    An archived object raises ``ObjectArchived`` before anything is written to ``sink``.
    """
    uri = s3_uri(args.input_bucket, key)
    body = _open_input(s3, args, key)
    try:
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
                raise DataError(
                    f"{where}: duplicate id {record.id!r} (first seen at {seen[identity]})"
                )
            seen[identity] = where
            sink.write(
                _prediction_line(
                    record.id, prediction, args.threshold, getattr(model, "version", None)
                )
            )
            count += 1
    except (ClientError, BotoCoreError) as exc:
        raise storage_failure(f"reading {uri}", exc, args.input_bucket, "--input-bucket") from None
    return count


@dataclass(frozen=True)
class Scored:
    """What scoring read: the objects with their record counts, and the archived objects
    it skipped (found at listing or refused by GetObject)."""

    inputs: tuple[InputObject, ...]
    skipped: tuple[SkippedObject, ...]

    @property
    def records(self) -> int:
        """Records scored in all objects."""
        return sum(item.records for item in self.inputs)


def score_objects(s3: Any, args: RunArgs, model: Model, staged: IO[bytes], log: JsonLog) -> Scored:
    """Select the run's input objects (:func:`inputs.select_inputs`) and score them in order
    into ``staged``. An archived object is skipped with a log line, except the object of a
    triggered run, which fails the run. Warns when there are no records at all (an empty
    result is still published)."""
    selection = select_inputs(s3, args, log)
    seen: dict[tuple[str, str | int], str] = {}
    inputs: list[InputObject] = []
    skipped = list(selection.skipped)
    for key in selection.keys:
        try:
            count = score_object(s3, args, key, model, seen, staged)
        except ObjectArchived as archived:
            if key == args.trigger_key:
                raise archived_trigger_error(args.input_bucket, archived.skipped) from None
            skipped.append(archived.skipped)
            log_skipped(log, args.input_bucket, archived.skipped)
            continue
        inputs.append(InputObject(key=key, records=count))
        log.info("object_scored", key=s3_uri(args.input_bucket, key), records=count)
    scored = Scored(inputs=tuple(inputs), skipped=tuple(sorted(skipped, key=lambda item: item.key)))
    if scored.records == 0:
        log.warning(
            "empty_input",
            message="no input records; publishing an empty result",
            objects=len(inputs),
            skipped=len(skipped),
        )
    return scored


def _prediction_line(
    record_id: str | int, prediction: float, threshold: float | None, version: int | None = None
) -> bytes:
    row: dict[str, Any] = {"id": record_id, "prediction": prediction}
    if threshold is not None:
        row["label"] = 1 if prediction >= threshold else 0
    if version is not None:
        row["model_version"] = version
    return (json.dumps(row, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")
