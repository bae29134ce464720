"""Ingest Lambda: JSON Lines objects from the data lake's raw zone -> DynamoDB.

Trigger
    S3 "Object Created" events, either as delivered by EventBridge (``detail.bucket.name``,
    ``detail.object.key``, ``detail.object.version-id``) or as a classic S3 notification
    (``Records[].s3``). Classic notification keys are URL-encoded (``red+flower.jsonl``);
    the handler decodes them and, should the object not exist under the decoded key, tries
    the key exactly as written (and the other way round for EventBridge), so a key with
    ``+`` or spaces is found whichever encoding the sender used. When the event names an
    object version, exactly that version is read, so a retry reads the same bytes.

Input format (one JSON object per line, UTF-8, blank lines ignored)::

    {"id": "sensor-17", "ts": "2024-05-01T12:00:00Z", "features": {"temp": 21.5, "ok": true}}

    id        required, non-empty string of at most 1024 UTF-8 bytes; the table's key
    ts        required, ISO-8601 date-time with a time zone; stored normalised to UTC
              (``2024-05-01T12:00:00+00:00``)
    features  required, object; keys are non-empty strings, values are numbers, strings,
              booleans or null (flat; no nested objects or arrays)

    No other top-level field is accepted: a typo must not be dropped silently. An ``id``
    may appear only once per object. Numbers must fit DynamoDB (38 significant digits,
    magnitude 1E-130 .. 9.99E+125); NaN and Infinity are rejected.

Item written to the table (partition key ``id``, type string)::

    {"id", "ts", "features", "source_object": "s3://bucket/key", "source_line": n,
     "source_version": "..." (only when the event names a version)}

Behaviour
    Every object named by the event is read and validated in full before anything is
    written: invalid input raises ``InvalidObjectError`` naming the object and each bad
    line, with zero items written. Raising makes Lambda's asynchronous invocation retry and
    then hand the event to the function's dead-letter queue. Valid records are written with
    a batch writer keyed by ``id``, so re-processing an object overwrites the same items
    with the same values (idempotent; across objects the last write wins). If DynamoDB
    fails part-way through a write, the exception propagates and the retry re-writes the
    whole object, which is safe for the same reason.

Configuration (environment variables only, validated at cold start; a problem raises
``ConfigError`` listing every bad variable, so the function fails to initialise)
    TABLE_NAME        required: the DynamoDB table records are written to
    SOURCE_BUCKET     optional: events for any other bucket are rejected. Default: any bucket
    SOURCE_PREFIX     optional: events for keys outside this prefix are rejected.
                      Default: any key
    MAX_OBJECT_BYTES  optional: larger objects are rejected before being read.
                      Default: 67108864 (64 MiB)
    LOG_LEVEL         optional: DEBUG, INFO, WARNING or ERROR. Default: INFO

Logging: one JSON object per line on stdout (``time``, ``level``, ``logger``,
``message`` and the event's fields such as ``bucket``, ``key``, ``records``,
``request_id``).

Only boto3, which the Lambda Python runtime provides, is needed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote_plus

import boto3
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

LOGGER_NAME = "ingest"
DEFAULT_MAX_OBJECT_BYTES = 64 * 1024 * 1024
MAX_ID_BYTES = 1024
# DynamoDB's item limit is 400 KB. The JSON of the serialised item over-estimates the
# size DynamoDB counts, so an item accepted here always fits.
MAX_ITEM_BYTES = 400 * 1024
# At most this many problems are listed in one error message (the total is always given).
MAX_REPORTED_PROBLEMS = 10
RECORD_FIELDS = ("id", "ts", "features")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_TABLE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")


class ConfigError(RuntimeError):
    """The function's environment variables are missing or invalid."""


class InvalidEventError(ValueError):
    """The invocation event is not an S3 object-created event this function accepts."""


class InvalidObjectError(ValueError):
    """An object's content does not follow the record schema; nothing was written.

    ``uri`` names the object, ``problems`` lists ``(line, message)`` pairs (line 0 means the
    whole object).
    """

    def __init__(self, uri: str, problems: list[tuple[int, str]]) -> None:
        self.uri = uri
        self.problems = list(problems)
        shown = [
            f"line {line}: {message}" if line else message
            for line, message in self.problems[:MAX_REPORTED_PROBLEMS]
        ]
        more = len(self.problems) - len(shown)
        suffix = f"; and {more} more problem(s)" if more else ""
        super().__init__(
            f"{uri} is invalid ({len(self.problems)} problem(s)), nothing was written: "
            + "; ".join(shown)
            + suffix
        )


class ObjectNotFoundError(LookupError):
    """The object (or object version) named by the event does not exist."""


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class Config:
    """Validated runtime configuration (see the module docstring for each variable)."""

    table_name: str
    source_bucket: str | None
    source_prefix: str
    max_object_bytes: int
    log_level: str


def load_config(environ: Mapping[str, str]) -> Config:
    """Read and validate the configuration; raise ``ConfigError`` listing every problem."""
    problems: list[str] = []
    table_name = environ.get("TABLE_NAME", "").strip()
    if not table_name:
        problems.append("TABLE_NAME is required: the name of the DynamoDB table to write to")
    elif not _TABLE_NAME_RE.match(table_name):
        problems.append(
            f"TABLE_NAME={table_name!r} is not a DynamoDB table name "
            "(3-255 characters of A-Z a-z 0-9 _ . -)"
        )
    source_bucket = environ.get("SOURCE_BUCKET", "").strip() or None
    source_prefix = environ.get("SOURCE_PREFIX", "")
    max_bytes = _parse_positive_int(environ, "MAX_OBJECT_BYTES", DEFAULT_MAX_OBJECT_BYTES, problems)
    log_level = environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if log_level not in LOG_LEVELS:
        problems.append(
            f"LOG_LEVEL={environ.get('LOG_LEVEL')!r} is not one of {', '.join(LOG_LEVELS)}"
        )
    if problems:
        raise ConfigError("invalid ingest configuration: " + "; ".join(problems))
    return Config(table_name, source_bucket, source_prefix, max_bytes, log_level)


def _parse_positive_int(
    environ: Mapping[str, str], name: str, default: int, problems: list[str]
) -> int:
    """Return ``environ[name]`` as a positive int (or ``default``); record a problem if bad."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        problems.append(f"{name}={raw!r} must be a positive whole number of bytes")
        return default
    return int(raw)


# --------------------------------------------------------------------------- logging

_STANDARD_LOG_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Format a log record as one JSON object: time, level, logger, message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD_LOG_ATTRS and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logger(level: str) -> logging.Logger:
    """Return the ``ingest`` logger writing JSON lines to stdout at ``level``.

    It does not propagate, so the Lambda runtime's own root handler does not print each
    line a second time in its text format. Calling it again replaces the handler (bound to
    the current ``sys.stdout``) rather than adding a second one.
    """
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    logger.propagate = False
    for old in list(logger.handlers):
        logger.removeHandler(old)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    return logger


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class ObjectRef:
    """One object named by an event: the key candidates to try, in order."""

    bucket: str
    keys: tuple[str, ...]
    version_id: str | None
    size: int | None

    @property
    def uri(self) -> str:
        """``s3://bucket/key`` for the first key candidate (for messages)."""
        return f"s3://{self.bucket}/{self.keys[0]}"


def objects_from_event(event: Any) -> list[ObjectRef]:
    """Extract the objects of an EventBridge or classic S3 object-created event.

    Raises ``InvalidEventError`` for any other event, naming what is missing.
    """
    if not isinstance(event, dict):
        raise InvalidEventError(f"event must be a JSON object, got {type(event).__name__}")
    if "detail" in event and event.get("source") == "aws.s3":
        return [_object_from_eventbridge(event)]
    if "Records" in event:
        records = event["Records"]
        if not isinstance(records, list) or not records:
            raise InvalidEventError("event Records must be a non-empty list")
        return [_object_from_record(i, record) for i, record in enumerate(records)]
    raise InvalidEventError(
        "event is neither an EventBridge S3 event (source 'aws.s3' with 'detail') "
        "nor an S3 notification ('Records')"
    )


def _object_from_eventbridge(event: dict[str, Any]) -> ObjectRef:
    """Read bucket, key, version and size from an EventBridge "Object Created" event."""
    detail_type = event.get("detail-type")
    if detail_type != "Object Created":
        raise InvalidEventError(f"event detail-type is {detail_type!r}, expected 'Object Created'")
    detail: Any = event.get("detail")  # a dict with both paths, once _get_str returns
    bucket = _get_str(detail, ("bucket", "name"), "detail.bucket.name")
    key = _get_str(detail, ("object", "key"), "detail.object.key")
    obj = detail["object"]
    return ObjectRef(
        bucket=bucket,
        keys=_key_candidates(key, encoded=False),
        version_id=_optional_str(obj.get("version-id")),
        size=_optional_int(obj.get("size")),
    )


def _object_from_record(index: int, record: Any) -> ObjectRef:
    """Read bucket, key, version and size from one classic S3 notification record."""
    where = f"Records[{index}]"
    if not isinstance(record, dict):
        raise InvalidEventError(f"{where} must be an object")
    name = record.get("eventName", "")
    if not isinstance(name, str) or not name.startswith("ObjectCreated:"):
        raise InvalidEventError(f"{where}.eventName is {name!r}, expected 'ObjectCreated:*'")
    s3: Any = record.get("s3")  # a dict with both paths, once _get_str returns
    bucket = _get_str(s3, ("bucket", "name"), f"{where}.s3.bucket.name")
    key = _get_str(s3, ("object", "key"), f"{where}.s3.object.key")
    obj = s3["object"]
    return ObjectRef(
        bucket=bucket,
        keys=_key_candidates(key, encoded=True),
        version_id=_optional_str(obj.get("versionId")),
        size=_optional_int(obj.get("size")),
    )


def _get_str(container: Any, path: tuple[str, ...], label: str) -> str:
    """Return the non-empty string at ``path`` inside ``container`` or raise naming ``label``."""
    value = container
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    if not isinstance(value, str) or not value:
        raise InvalidEventError(f"event field {label} is missing or not a non-empty string")
    return value


def _optional_str(value: Any) -> str | None:
    """A non-empty string, or None for anything else (absent, null, "null")."""
    return value if isinstance(value, str) and value and value != "null" else None


def _optional_int(value: Any) -> int | None:
    """An int size, or None when absent or not a whole number."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _key_candidates(key: str, *, encoded: bool) -> tuple[str, ...]:
    """The keys to try: the likely decoding first, the other reading second if it differs."""
    decoded = unquote_plus(key)
    ordered = (decoded, key) if encoded else (key, decoded)
    return ordered if ordered[0] != ordered[1] else (ordered[0],)


def check_source(ref: ObjectRef, config: Config) -> None:
    """Reject an object outside the configured source bucket or prefix."""
    if config.source_bucket is not None and ref.bucket != config.source_bucket:
        raise InvalidEventError(
            f"{ref.uri} is not in the configured SOURCE_BUCKET {config.source_bucket!r}"
        )
    if not any(key.startswith(config.source_prefix) for key in ref.keys):
        raise InvalidEventError(
            f"{ref.uri} is not under the configured SOURCE_PREFIX {config.source_prefix!r}"
        )


# --------------------------------------------------------------------------- parsing

_SERIALIZER = TypeSerializer()


def _reject_constant(name: str) -> Any:
    """json ``parse_constant`` hook: NaN and Infinity are not valid record values."""
    raise ValueError(f"{name} is not a valid number")


def parse_jsonl(data: bytes, uri: str, source_version: str | None = None) -> list[dict[str, Any]]:
    """Parse and validate a whole JSON Lines object; return the items to write.

    Raises ``InvalidObjectError`` listing every bad line; returns ``[]`` for an object
    with no records (empty, or only blank lines).
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        at_line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidObjectError(uri, [(at_line, f"not valid UTF-8 at byte {exc.start}")]) from exc
    problems: list[tuple[int, str]] = []
    items: list[dict[str, Any]] = []
    first_line_of: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        item, problem = _parse_line(line, number, uri, source_version)
        if problem is not None:
            problems.append((number, problem))
            continue
        assert item is not None
        earlier = first_line_of.setdefault(item["id"], number)
        if earlier != number:
            problems.append((number, f"duplicate id {item['id']!r} (first on line {earlier})"))
            continue
        items.append(item)
    if problems:
        raise InvalidObjectError(uri, problems)
    return items


def _parse_line(
    line: str, number: int, uri: str, source_version: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    """Validate one line; return ``(item, None)`` or ``(None, problem)``."""
    try:
        record = json.loads(
            line, parse_float=Decimal, parse_int=Decimal, parse_constant=_reject_constant
        )
    except ValueError as exc:
        return None, f"not valid JSON ({exc})"
    problem = _record_problem(record)
    if problem is not None:
        return None, problem
    item: dict[str, Any] = {
        "id": record["id"],
        "ts": _parse_timestamp(record["ts"]).isoformat(),
        "features": record["features"],
        "source_object": uri,
        "source_line": number,
    }
    if source_version is not None:
        item["source_version"] = source_version
    return item, _item_problem(item)


def _record_problem(record: Any) -> str | None:
    """Describe the first way ``record`` breaks the schema, or None if it follows it."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {_json_type(record)}"
    missing = [name for name in RECORD_FIELDS if name not in record]
    if missing:
        return f"missing required field(s): {', '.join(missing)}"
    unknown = sorted(set(record) - set(RECORD_FIELDS))
    if unknown:
        return f"unknown field(s): {', '.join(unknown)} (allowed: {', '.join(RECORD_FIELDS)})"
    rid = record["id"]
    if not isinstance(rid, str):
        return f"field 'id' must be a string, got {_json_type(rid)}"
    if not rid.strip():
        return "field 'id' must not be empty"
    if len(rid.encode("utf-8")) > MAX_ID_BYTES:
        return f"field 'id' is longer than {MAX_ID_BYTES} bytes"
    ts = record["ts"]
    if not isinstance(ts, str):
        return f"field 'ts' must be an ISO-8601 string, got {_json_type(ts)}"
    try:
        _parse_timestamp(ts)
    except ValueError as exc:
        return f"field 'ts' {exc}"
    return _features_problem(record["features"])


def _features_problem(features: Any) -> str | None:
    """Describe what is wrong with the ``features`` object, or None."""
    if not isinstance(features, dict):
        return f"field 'features' must be an object, got {_json_type(features)}"
    for name, value in features.items():
        if not name:
            return "field 'features' has an empty feature name"
        if isinstance(value, (dict, list)):
            return (
                f"feature {name!r} must be a number, string, boolean or null, "
                f"got {_json_type(value)}"
            )
    return None


def _item_problem(item: dict[str, Any]) -> str | None:
    """Check the item the way DynamoDB will: representable numbers, size limit."""
    try:
        serialised = {name: _SERIALIZER.serialize(value) for name, value in item.items()}
    except (ArithmeticError, TypeError) as exc:
        return f"a number cannot be stored in DynamoDB ({type(exc).__name__}: {exc})"
    size = len(json.dumps(serialised, separators=(",", ":")).encode("utf-8"))
    if size > MAX_ITEM_BYTES:
        return f"record is too large for DynamoDB (about {size} bytes, limit {MAX_ITEM_BYTES})"
    return None


def _parse_timestamp(value: str) -> datetime:
    """Parse an ISO-8601 date-time with a time zone into an aware UTC datetime."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"is not an ISO-8601 date-time: {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"has no time zone (add 'Z' or an offset): {value!r}")
    return parsed.astimezone(UTC)


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type (for messages)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# --------------------------------------------------------------------------- I/O


def read_object(s3: Any, ref: ObjectRef, max_bytes: int) -> tuple[str, bytes]:
    """Return ``(uri, body)`` of the object, trying each key candidate in turn.

    Raises ``InvalidObjectError`` if it is larger than ``max_bytes`` and
    ``ObjectNotFoundError`` if no candidate exists. Without ``s3:ListBucket`` S3 answers
    a missing key with AccessDenied rather than NoSuchKey: that also moves on to the next
    candidate, and is re-raised if no candidate could be read.
    """
    if ref.size is not None and ref.size > max_bytes:
        raise InvalidObjectError(
            ref.uri, [(0, f"object is {ref.size} bytes, larger than MAX_OBJECT_BYTES={max_bytes}")]
        )
    denied: ClientError | None = None
    for key in ref.keys:
        uri = f"s3://{ref.bucket}/{key}"
        params: dict[str, str] = {"Bucket": ref.bucket, "Key": key}
        if ref.version_id is not None:
            params["VersionId"] = ref.version_id
        try:
            response = s3.get_object(**params)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "NoSuchVersion", "404"):
                continue
            if code in ("AccessDenied", "403"):
                denied = exc
                continue
            raise
        length = int(response.get("ContentLength", 0))
        if length > max_bytes:
            response["Body"].close()
            raise InvalidObjectError(
                uri, [(0, f"object is {length} bytes, larger than MAX_OBJECT_BYTES={max_bytes}")]
            )
        return uri, response["Body"].read()
    if denied is not None:
        raise denied
    version = f" version {ref.version_id}" if ref.version_id else ""
    raise ObjectNotFoundError(
        f"{ref.uri}{version} does not exist (tried keys: {', '.join(map(repr, ref.keys))})"
    )


def write_items(table: Any, items: Iterable[dict[str, Any]]) -> int:
    """Put every item with a batch writer (retries unprocessed items); return the count."""
    count = 0
    with table.batch_writer(overwrite_by_pkeys=["id"]) as batch:
        for item in items:
            batch.put_item(Item=item)
            count += 1
    return count


# --------------------------------------------------------------------------- entry point


def process_event(
    event: Any,
    *,
    config: Config,
    s3: Any,
    table: Any,
    logger: logging.Logger,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Validate every object the event names, then write all their records.

    Returns ``{"objects": [{"object", "records"}...], "records_written": n}``.
    """
    refs = objects_from_event(event)
    for ref in refs:
        check_source(ref, config)
    batches: list[tuple[str, list[dict[str, Any]]]] = []
    for ref in refs:
        uri, body = read_object(s3, ref, config.max_object_bytes)
        batches.append((uri, parse_jsonl(body, uri, ref.version_id)))
        logger.debug(
            "object validated",
            extra={"object": uri, "records": len(batches[-1][1]), "request_id": request_id},
        )
    written = 0
    summary = []
    for uri, items in batches:
        count = write_items(table, items)
        written += count
        summary.append({"object": uri, "records": count})
        logger.info(
            "object ingested",
            extra={
                "object": uri,
                "records": count,
                "table": config.table_name,
                "request_id": request_id,
            },
        )
    return {"objects": summary, "records_written": written}


def _cold_start() -> tuple[Config, logging.Logger, Any, Any]:
    """Validate the environment and create the clients once per execution environment."""
    config = load_config(os.environ)
    logger = configure_logger(config.log_level)
    s3 = boto3.client("s3")
    table = boto3.resource("dynamodb").Table(config.table_name)
    return config, logger, s3, table


CONFIG, LOGGER, _S3, _TABLE = _cold_start()


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point (``handler.handler``); see the module docstring."""
    request_id = getattr(context, "aws_request_id", None)
    try:
        return process_event(
            event, config=CONFIG, s3=_S3, table=_TABLE, logger=LOGGER, request_id=request_id
        )
    except Exception as exc:
        # Re-raised so that Lambda retries the asynchronous invocation and then sends the
        # event to the dead-letter queue; the log line says why.
        LOGGER.error(
            "event failed, nothing from it was written"
            if isinstance(exc, (InvalidEventError, InvalidObjectError, ObjectNotFoundError))
            else "event failed",
            extra={"error_type": type(exc).__name__, "error": str(exc), "request_id": request_id},
        )
        raise
