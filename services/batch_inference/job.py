"""The batch inference run: read JSON Lines records from S3, score them, write predictions.

One run reads its input objects under ``s3://<input-bucket>/<input-prefix>/`` (every input
object there, or only the object that triggered the run: see ``inputs``, which also says how
archived objects are skipped), scores each record with a model, and publishes exactly two
objects under the run's own folder ``s3://<output-bucket>/<output-prefix>/run_id=<run-id>/``:

- ``part-00000.jsonl``: one prediction per input record, in input order
  (objects in key order, lines in file order): ``{"id": ..., "prediction": <float>}``,
  plus ``"label": 0 | 1`` when a threshold is given (``prediction >= threshold`` -> 1).
- ``_SUCCESS``: the manifest (JSON), written last: run id, status, started/finished
  timestamps, every input key with its record count, the archived objects skipped
  (``input.skipped``), the triggering key (``input.trigger``, null for a listing run), the
  output keys and record count, and the model that produced the predictions (with the
  artefact's ETag/VersionId, and its registry ``version`` when it is the registry's
  approved version: see ``registry``; each prediction line then carries ``model_version``).
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
- Archived input objects (``inputs``): a listing run skips them, one
  ``archived_object_skipped`` log line each, and lists them in the manifest's
  ``input.skipped``; a run whose records all sit in archived objects is an empty success. The
  object of a triggered run that is archived or gone is a ``DataError`` (see ``__main__``).
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

import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from services.batch_inference.errors import (
    DataError,
    JobError,
    RecordError,
    StorageError,
    UsageError,
)
from services.batch_inference.inputs import SkippedObject, is_input_key, merge_skipped, shard_of
from services.batch_inference.logs import JsonLog, iso_utc, utc_now
from services.batch_inference.models import (
    BASELINE_MODEL_NAME,
    LinearModel,
    MeanBaseline,
    Model,
    Record,
    check_threshold,
    parse_record,
    strict_json_loads,
)
from services.batch_inference.scoring import (
    InputObject,
    Scored,
    iter_lines,
    load_model,
    score_objects,
)
from services.batch_inference.storage import delete_keys, list_keys, s3_uri, storage_failure

__all__ = [
    "BASELINE_MODEL_NAME",
    "DataError",
    "InputObject",
    "JobError",
    "JsonLog",
    "LinearModel",
    "MAX_SHARDS",
    "MeanBaseline",
    "Model",
    "Record",
    "RecordError",
    "RunArgs",
    "RunResult",
    "Shard",
    "StorageError",
    "UsageError",
    "is_input_key",
    "iso_utc",
    "iter_lines",
    "parse_record",
    "run",
    "s3_uri",
    "shard_of",
    "strict_json_loads",
    "utc_now",
]

PART_NAME = "part-00000.jsonl"
MARKER_NAME = "_SUCCESS"
SHARD_MARKER_FORMAT = "_shard-{index:05d}.json"
MAX_SHARDS = 10000

_SPOOL_MEMORY_BYTES = 32 << 20


# --------------------------------------------------------------------------- arguments


@dataclass(frozen=True)
class Shard:
    """This process handles shard ``index`` (0-based) of ``count`` shards of the input."""

    index: int
    count: int


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
    trigger_key: str | None = None
    """Default: the run lists the input folder and reads every input object in it. When
    given (a run submitted for one new object), it reads only this key of the input bucket
    (under the input folder) and lists nothing."""
    registry_table: str | None = None
    """Default: no registry (the model is ``model_key`` or the built-in baseline). When given
    (with ``model_name``), the run scores with the approved version of ``model_name``."""
    model_name: str | None = None
    """The model's name in the registry (only with ``registry_table``)."""

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


# --------------------------------------------------------------------------- the run


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
    skipped: tuple[SkippedObject, ...] = ()
    """Archived input objects the run did not read."""


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


def build_manifest(
    args: RunArgs,
    model: Model,
    scored: Scored,
    started_at: datetime,
    finished_at: datetime,
    aws_batch: Mapping[str, str],
) -> dict[str, Any]:
    """The ``_SUCCESS`` manifest of a completed run."""
    records = scored.records
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
            "trigger": args.trigger_key,
            "objects": [{"key": item.key, "records": item.records} for item in scored.inputs],
            "skipped": [item.describe() for item in scored.skipped],
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
        failure = storage_failure(
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
    dynamodb: Any = None,
) -> RunResult:
    """Execute one run end to end; raises a ``JobError`` subclass on failure.

    Order: refuse a completed run id -> load the model -> validate the threshold -> select
    inputs (the trigger object, or a listing without archived objects) -> validate and score
    everything into a staging file -> upload predictions -> write the ``_SUCCESS`` manifest
    last. A sharded run goes through :func:`run_shard`.
    """
    if args.shard is not None:
        return run_shard(args, s3, log, now, aws_batch, dynamodb)
    started_at = now()
    log.info("run_started", **_run_started_fields(args))
    prepare_run_folder(args, s3, log)
    model = load_model(args, s3, dynamodb, log)
    check_threshold(args.threshold, model)
    log.info("model_loaded", model=model.describe())

    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_MEMORY_BYTES, mode="w+b") as staged:
        scored = score_objects(s3, args, model, staged, log)
        manifest = build_manifest(args, model, scored, started_at, now(), aws_batch or {})
        publish(args, s3, staged, manifest, log)

    log.info(
        "run_succeeded",
        records=scored.records,
        objects=len(scored.inputs),
        skipped=len(scored.skipped),
        part=s3_uri(args.output_bucket, args.part_key),
        manifest=s3_uri(args.output_bucket, args.marker_key),
    )
    return RunResult(
        records=scored.records,
        inputs=scored.inputs,
        part_key=args.part_key,
        marker_key=args.marker_key,
        manifest=manifest,
        skipped=scored.skipped,
    )


def _run_started_fields(args: RunArgs) -> dict[str, Any]:
    """What the ``run_started`` line says about the run."""
    fields: dict[str, Any] = {
        "input": s3_uri(args.input_bucket, args.input_folder),
        "output": s3_uri(args.output_bucket, args.run_folder),
        "model": s3_uri(args.model_bucket, args.model_key)
        if args.model_key
        else f"{args.model_name} (approved version, registry {args.registry_table})"
        if args.registry_table
        else BASELINE_MODEL_NAME,
        "threshold": args.threshold,
    }
    if args.trigger_key is not None:
        fields["trigger"] = s3_uri(args.input_bucket, args.trigger_key)
    if args.shard is not None:
        fields |= {"shard": args.shard.index, "shards": args.shard.count}
    return fields


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
    dynamodb: Any = None,
) -> RunResult:
    """Execute one shard of a run: score this shard's input objects, publish
    ``part-<i>.jsonl`` and ``_shard-<i>.json``, then complete the run if every shard has."""
    shard = args.shard
    assert shard is not None
    started_at = now()
    log.info("run_started", **_run_started_fields(args))
    scored = Scored(inputs=(), skipped=())
    manifest: Mapping[str, Any] = {}
    if not prepare_shard(args, s3, log):
        model = load_model(args, s3, dynamodb, log)
        check_threshold(args.threshold, model)
        log.info("model_loaded", model=model.describe())
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_MEMORY_BYTES, mode="w+b") as staged:
            scored = score_objects(s3, args, model, staged, log)
            manifest = {
                **build_manifest(args, model, scored, started_at, now(), aws_batch or {}),
                "status": "shard_succeeded",
                "shard": {"index": shard.index, "count": shard.count},
            }
            publish(args, s3, staged, manifest, log, marker_key=args.shard_marker_key)
        log.info(
            "shard_succeeded",
            records=manifest["records"],
            objects=len(scored.inputs),
            skipped=len(scored.skipped),
            part=s3_uri(args.output_bucket, args.part_key),
            manifest=s3_uri(args.output_bucket, args.shard_marker_key),
        )
    run_manifest = complete_run(args, s3, log)
    return RunResult(
        records=scored.records,
        inputs=scored.inputs,
        part_key=args.part_key,
        marker_key=args.shard_marker_key,
        manifest=manifest,
        run_manifest=run_manifest,
        skipped=scored.skipped,
    )


def _read_shard_manifest(args: RunArgs, s3: Any, key: str) -> dict[str, Any]:
    uri = s3_uri(args.output_bucket, key)
    try:
        body = s3.get_object(Bucket=args.output_bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise storage_failure(
            f"reading {uri}", exc, args.output_bucket, "--output-bucket"
        ) from None
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
        "input": {
            "bucket": args.input_bucket,
            "prefix": args.input_folder,
            "trigger": args.trigger_key,
            "objects": objects,
            "skipped": merge_skipped(shards),
        },
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
    manifest = merge_shard_manifests(
        args, [_read_shard_manifest(args, s3, key) for key in expected]
    )
    body = (json.dumps(manifest, indent=2, allow_nan=False) + "\n").encode("utf-8")
    try:
        s3.put_object(
            Bucket=args.output_bucket,
            Key=args.marker_key,
            Body=body,
            ContentType="application/json",
        )
    except (ClientError, BotoCoreError) as exc:
        raise storage_failure(
            f"writing {s3_uri(args.output_bucket, args.marker_key)}",
            exc,
            args.output_bucket,
            "--output-bucket",
        ) from None
    log.info(
        "run_succeeded",
        records=manifest["records"],
        shards=count,
        manifest=s3_uri(args.output_bucket, args.marker_key),
    )
    return manifest
