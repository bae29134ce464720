"""Command line of the batch inference job: ``python -m services.batch_inference ...``.

Parameters (each may also come from an environment variable)::

    --input-bucket   BATCH_INFERENCE_INPUT_BUCKET   required  curated-zone bucket to read
    --input-prefix   BATCH_INFERENCE_INPUT_PREFIX   required  folder of JSON Lines input objects
    --output-bucket  BATCH_INFERENCE_OUTPUT_BUCKET  required  bucket for predictions (the models zone)
    --output-prefix  BATCH_INFERENCE_OUTPUT_PREFIX  required  folder for runs, e.g. predictions/churn
    --run-id         BATCH_INFERENCE_RUN_ID         required  namespaces the output: <output-prefix>/run_id=<id>/
                                                              fallback: AWS_BATCH_JOB_ID (set by AWS Batch)
    --model-bucket   BATCH_INFERENCE_MODEL_BUCKET   optional  bucket of the model artefact; default: output bucket
    --model-key      BATCH_INFERENCE_MODEL_KEY      optional  JSON linear-model artefact; default: built-in baseline-mean
    --threshold      BATCH_INFERENCE_THRESHOLD      optional  adds "label": prediction >= threshold
    --shard-count    BATCH_INFERENCE_SHARD_COUNT    optional  split the input into this many shards
                                                              (an array job's size); process one
    --shard-index    BATCH_INFERENCE_SHARD_INDEX    optional  the shard to process, 0..count-1
                                                              fallback: AWS_BATCH_JOB_ARRAY_INDEX
    --trigger-bucket BATCH_INFERENCE_TRIGGER_BUCKET optional  bucket of the object that triggered
                                                              the run; must be the input bucket
    --trigger-key    BATCH_INFERENCE_TRIGGER_KEY    optional  key of the object that triggered the
                                                              run: read only this object (below)
    --registry-table BATCH_INFERENCE_REGISTRY_TABLE optional  the model registry (DynamoDB): score with
    --model-name     BATCH_INFERENCE_MODEL_NAME               the approved version of this model (both
                                                              or neither; not with --model-key); see
                                                              ``registry``

Where the data lives: inputs are read from the data lake's ``curated`` zone; predictions and
model artefacts live in the ``models`` zone (artefacts under e.g. ``artefacts/``, runs under
e.g. ``predictions/<model>/``), so the job role needs: read ``curated/<input-prefix>``, read
the artefact, list/write/delete ``models/<output-prefix>``. The job itself accepts any buckets.

Precedence, for every parameter: the command-line value, then the ``BATCH_INFERENCE_*``
environment variable, then the fallback above. An empty value and an unresolved AWS Batch
placeholder (``Ref::name``, which Batch leaves in the command when a run supplies no such
parameter and the job definition has no default) count as not given, so the next source
applies. With AWS Batch, override a run's value through SubmitJob ``parameters`` when the job
definition's command passes it as ``Ref::name``, and through container environment overrides
otherwise (a job-definition parameter default wins over an environment override).

Triggered runs: the platform submits a run for each new object in a lake zone with the job
parameters ``trigger_bucket`` and ``trigger_key`` (EventBridge ``Object Created`` events); a
job definition passes them as ``--trigger-bucket Ref::trigger_bucket --trigger-key
Ref::trigger_key``. Such a run reads only that object and lists nothing, so each new object
costs one read instead of a re-read of the whole folder (see ``inputs``). The key must lie
under ``--input-prefix`` in ``--input-bucket`` (the only place the job may read; anything else
is a usage error, exit 2). A scheduled or manual run of the same definition leaves the
placeholders unresolved and reads the whole input folder, as before. A triggering object that
is a marker or folder placeholder gives an empty result (exit 0). A triggering object that is
archived (S3 Glacier Flexible Retrieval, Deep Archive, or an Intelligent-Tiering archive tier)
or no longer exists fails the run with a data error (exit 1, no output, never retried): it was
sent to this job to be scored and no later run will score it, so the run must show up as
failed (the queue's failed-run alert notifies the alert topic) with a message saying what to
do (restore the object, then submit again with the same ``trigger_key``). A *listing* run instead skips archived
objects, one ``archived_object_skipped`` log line each, and records them in the manifest.

Array jobs (distributed batch): AWS Batch starts the children of an array job with
``AWS_BATCH_JOB_ARRAY_INDEX`` (0..size-1) and ``AWS_BATCH_JOB_ID`` ``<parent id>:<index>``.
Give ``--shard-count`` the array size (e.g. ``Ref::array_size``): each child then processes
its own shard of the input and the children share one run, ``run_id=<parent id>`` (the
``:<index>`` suffix of the fallback run id is dropped); the child that completes last writes
the run's ``_SUCCESS`` (see ``job``). Without ``--shard-count`` an array child is refused
(exit 2): children would overwrite each other's output.

Exit codes: 0 success (including empty input, see ``job``); 1 data error (malformed record,
missing or invalid model artefact, a triggering object that is archived or gone) or an
unexpected internal error; 2 usage error (bad, missing or conflicting parameter, a run id
that already completed); 3 storage error (S3 access denied, throttled, unreachable; the only
code worth a retry, e.g. in the job definition's ``evaluateOnExit``). Every outcome is logged as JSON lines on stdout; usage errors are also
printed to stderr in the usual ``prog: error: ...`` form.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import re
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn, TextIO

from services.batch_inference import job

PROG = "python -m services.batch_inference"
ENV_PREFIX = "BATCH_INFERENCE_"
PLACEHOLDER_PREFIX = "Ref::"
BATCH_CONTEXT_VARIABLES = (
    "AWS_BATCH_JOB_ID",
    "AWS_BATCH_JOB_ATTEMPT",
    "AWS_BATCH_JQ_NAME",
    "AWS_BATCH_CE_NAME",
)
#: Parameters that fall back to a variable AWS Batch sets.
FALLBACKS = {"run_id": "AWS_BATCH_JOB_ID", "shard_index": "AWS_BATCH_JOB_ARRAY_INDEX"}
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


@dataclass(frozen=True)
class Param:
    """One run parameter: its flag, its environment variable and whether it is required."""

    name: str
    help: str
    required: bool = False

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``--input-bucket``."""
        return f"--{self.name.replace('_', '-')}"

    @property
    def env(self) -> str:
        """The environment variable, e.g. ``BATCH_INFERENCE_INPUT_BUCKET``."""
        return f"{ENV_PREFIX}{self.name.upper()}"


PARAMS: tuple[Param, ...] = (
    Param("input_bucket", "bucket to read input objects from (the curated zone)", required=True),
    Param("input_prefix", "folder of the JSON Lines input objects", required=True),
    Param("output_bucket", "bucket to write predictions to (the models zone)", required=True),
    Param("output_prefix", "folder for runs; output goes to <prefix>/run_id=<id>/", required=True),
    Param("run_id", "unique id of this run; default: $AWS_BATCH_JOB_ID", required=True),
    Param("model_bucket", "bucket of the model artefact; default: the output bucket"),
    Param("model_key", "key of the JSON linear-model artefact; default: built-in baseline-mean"),
    Param("threshold", 'decision threshold; adds "label": 1 when prediction >= threshold'),
    Param("shard_count", "number of shards (an array job's size); process only one of them"),
    Param("shard_index", "shard to process, 0..count-1; default: $AWS_BATCH_JOB_ARRAY_INDEX"),
    Param(
        "trigger_bucket", "bucket of the object that triggered the run; default: the input bucket"
    ),
    Param("trigger_key", "key of the object that triggered the run: read only this object"),
    Param("registry_table", "model registry table: score with the approved version of the model"),
    Param("model_name", "the model's name in the registry (with --registry-table)"),
)


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors raise ``UsageError`` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise job.UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; every option defaults to ``None`` (= not given on the command line)."""
    parser = _Parser(
        prog=PROG,
        description="Score JSON Lines records from S3 with a linear model; write predictions "
        "and a _SUCCESS manifest under <output-prefix>/run_id=<id>/.",
        epilog="Each option can also be set with its BATCH_INFERENCE_<NAME> environment "
        "variable; the command line wins. Exit codes: 0 ok, 1 data error, 2 usage error, "
        "3 storage error.",
        allow_abbrev=False,
    )
    for param in PARAMS:
        parser.add_argument(
            param.flag,
            dest=param.name,
            metavar=param.name.upper(),
            default=None,
            help=f"{'(required) ' if param.required else ''}{param.help} [env: {param.env}]",
        )
    return parser


def _given(value: str | None) -> bool:
    return value is not None and value.strip() != "" and not value.startswith(PLACEHOLDER_PREFIX)


@dataclass(frozen=True)
class Resolved:
    """A parameter's value and where it came from (flag or variable name), for messages."""

    value: str | None
    source: str
    placeholder: str | None = None
    """The unresolved ``Ref::name`` the command line carried, if any."""


def resolve(param: Param, cli_value: str | None, environ: Mapping[str, str]) -> Resolved:
    """Apply the precedence: command line, then ``BATCH_INFERENCE_*``, then fallbacks."""
    placeholder = cli_value if cli_value and cli_value.startswith(PLACEHOLDER_PREFIX) else None
    if _given(cli_value):
        return Resolved(cli_value.strip(), param.flag)  # type: ignore[union-attr]
    env_value = environ.get(param.env)
    if _given(env_value):
        return Resolved(env_value.strip(), param.env, placeholder)  # type: ignore[union-attr]
    for name, fallback in FALLBACKS.items():
        if param.name == name and _given(environ.get(fallback)):
            return Resolved(environ[fallback].strip(), fallback, placeholder)
    return Resolved(None, param.flag, placeholder)


def _missing_message(param: Param, resolved: Resolved) -> str:
    message = f"{param.flag} is required (or set {param.env}"
    if param.name in FALLBACKS:
        message += f" or {FALLBACKS[param.name]}"
    message += ")"
    if resolved.placeholder:
        message += (
            f"; the command carried the unresolved AWS Batch placeholder {resolved.placeholder!r}:"
            f" submit the run with that parameter or give it a default in the job definition"
        )
    return message


def _check_bucket(value: str, source: str) -> str | None:
    if _BUCKET_RE.match(value):
        return None
    hint = " (give the bucket name only, without s3://)" if value.startswith("s3://") else ""
    return (
        f"{source}: {value!r} is not a valid S3 bucket name: 3-63 characters, lowercase "
        f"letters, digits, '.' and '-', starting and ending with a letter or digit{hint}"
    )


def _normalise_prefix(value: str, source: str) -> tuple[str, str | None]:
    if value.startswith("s3://"):
        return value, f"{source}: {value!r} must be a key prefix, not an s3:// URI"
    stripped = value.strip("/")
    if not stripped:
        return stripped, f"{source}: {value!r} names the bucket root; give a folder"
    if "//" in stripped:
        return stripped, f"{source}: {value!r} contains an empty path segment ('//')"
    return stripped, None


def build_run_args(namespace: argparse.Namespace, environ: Mapping[str, str]) -> job.RunArgs:
    """Resolve and validate every parameter; one ``UsageError`` lists all problems."""
    resolved = {p.name: resolve(p, getattr(namespace, p.name), environ) for p in PARAMS}
    problems: list[str] = []
    values: dict[str, Any] = {}

    for param in PARAMS:
        item = resolved[param.name]
        if item.value is None:
            if param.required:
                problems.append(_missing_message(param, item))
            values[param.name] = None
            continue
        values[param.name] = item.value
        if param.name.endswith("_bucket"):
            problem = _check_bucket(item.value, item.source)
        elif param.name.endswith("_prefix"):
            values[param.name], problem = _normalise_prefix(item.value, item.source)
        elif param.name == "run_id":
            problem = (
                None
                if _RUN_ID_RE.match(item.value)
                else (
                    f"{item.source}: {item.value!r} is not a valid run id: 1-128 characters, letters, "
                    f"digits, '.', '_', ':' and '-', starting with a letter or digit"
                )
            )
        elif param.name == "model_key":
            values[param.name] = item.value.lstrip("/")
            problem = (
                f"{item.source}: {item.value!r} names a folder; give the artefact's key"
                if not values[param.name] or values[param.name].endswith("/")
                else None
            )
        elif param.name == "threshold":
            values[param.name], problem = _parse_threshold(item.value, item.source)
        elif param.name == "shard_count":
            values[param.name], problem = _parse_whole(item.value, item.source, 1, job.MAX_SHARDS)
        elif param.name == "shard_index":
            values[param.name], problem = _parse_whole(
                item.value, item.source, 0, job.MAX_SHARDS - 1
            )
        elif param.name in ("trigger_key", "registry_table", "model_name"):
            problem = None  # a key or name taken as it is; pairs are checked below
        else:  # pragma: no cover - every parameter is handled above
            problem = None
        if problem:
            problems.append(problem)

    if values["model_bucket"] is not None and values["model_key"] is None:
        problems.append(
            f"{resolved['model_bucket'].source} is given but --model-key is not "
            f"(or set {ENV_PREFIX}MODEL_KEY): a model bucket without a key would be ignored"
        )
    problems.extend(_registry_problems(values, resolved))
    problems.extend(_shard_problems(values, resolved))
    if not problems:
        problems.extend(_overlap_problems(values))
        problems.extend(_trigger_problems(values, resolved))
    if problems:
        raise job.UsageError("; ".join(problems))
    shard = None
    if values["shard_count"] is not None and values["shard_index"] is not None:
        shard = job.Shard(index=values["shard_index"], count=values["shard_count"])
        suffix = f":{shard.index}"
        if resolved["run_id"].source == "AWS_BATCH_JOB_ID" and values["run_id"].endswith(suffix):
            values["run_id"] = values["run_id"][: -len(suffix)]  # the array parent's id

    return job.RunArgs(
        input_bucket=values["input_bucket"],
        input_prefix=values["input_prefix"],
        output_bucket=values["output_bucket"],
        output_prefix=values["output_prefix"],
        run_id=values["run_id"],
        model_bucket=values["model_bucket"] or values["output_bucket"],
        model_key=values["model_key"],
        threshold=values["threshold"],
        shard=shard,
        trigger_key=values["trigger_key"],
        registry_table=values["registry_table"],
        model_name=values["model_name"],
    )


def _registry_problems(values: Mapping[str, Any], resolved: Mapping[str, Resolved]) -> list[str]:
    """The registry table and the model name come together, and never with a model key."""
    table, name = values["registry_table"], values["model_name"]
    if (table is None) != (name is None):
        given, missing = (
            ("registry_table", "model_name") if name is None else ("model_name", "registry_table")
        )
        flag = f"--{missing.replace('_', '-')}"
        return [
            f"{resolved[given].source} is given but {flag} is not (or set {ENV_PREFIX}{missing.upper()})"
        ]
    if table is not None and values["model_key"] is not None:
        return [
            f"Only one of [{resolved['model_key'].source}] and [{resolved['registry_table'].source}] "
            "can be given: a fixed model artefact, or the registry's approved version"
        ]
    return []


def _parse_threshold(value: str, source: str) -> tuple[float | None, str | None]:
    try:
        number = float(value)
    except ValueError:
        return None, f"{source}: {value!r} is not a number"
    if not math.isfinite(number):
        return None, f"{source}: {value!r} must be a finite number"
    return number, None


def _parse_whole(value: str, source: str, low: int, high: int) -> tuple[int | None, str | None]:
    text = value.strip()
    if not text.isdigit() or not low <= int(text) <= high:
        return None, f"{source}: {value!r} must be a whole number from {low} to {high}"
    return int(text), None


def _shard_problems(values: Mapping[str, Any], resolved: Mapping[str, Resolved]) -> list[str]:
    """Shard count and index come together, and the index is below the count. An index only
    from AWS_BATCH_JOB_ARRAY_INDEX without a count is left to ``refuse_array_job``."""
    count, index = values["shard_count"], values["shard_index"]
    index_source = resolved["shard_index"].source
    if count is not None and index is None and resolved["shard_index"].value is None:
        return [
            "--shard-count is given but no shard index: set --shard-index (or "
            f"{ENV_PREFIX}SHARD_INDEX), or run as an AWS Batch array child (AWS_BATCH_JOB_ARRAY_INDEX)"
        ]
    if count is None and index is not None and index_source != "AWS_BATCH_JOB_ARRAY_INDEX":
        return [
            f"{index_source} is given but --shard-count is not (or set {ENV_PREFIX}SHARD_COUNT)"
        ]
    if count is not None and index is not None and index >= count:
        return [f"{index_source}: shard {index} is outside 0..{count - 1} (--shard-count {count})"]
    return []


def _overlap_problems(values: Mapping[str, Any]) -> list[str]:
    """The output folder must not lie inside the input folder or contain it (same bucket)."""
    if values["input_bucket"] != values["output_bucket"]:
        return []
    input_folder = f"{values['input_prefix']}/"
    output_folder = f"{values['output_prefix']}/"
    if output_folder.startswith(input_folder) or input_folder.startswith(output_folder):
        return [
            f"--output-prefix {values['output_prefix']!r} overlaps --input-prefix "
            f"{values['input_prefix']!r} in the same bucket: a run would read its own output"
        ]
    return []


def _trigger_problems(values: Mapping[str, Any], resolved: Mapping[str, Resolved]) -> list[str]:
    """A triggering object must be in the input folder: the job reads nothing else (its role
    may read only there) and the manifest describes the input folder."""
    bucket, key = values["trigger_bucket"], values["trigger_key"]
    if key is None:
        if bucket is not None:
            return [
                f"{resolved['trigger_bucket'].source} is given but --trigger-key is not "
                f"(or set {ENV_PREFIX}TRIGGER_KEY)"
            ]
        return []
    problems = []
    if bucket is not None and bucket != values["input_bucket"]:
        problems.append(
            f"{resolved['trigger_bucket'].source}: {bucket!r} is not the input bucket "
            f"{values['input_bucket']!r}: a triggered run reads only its input folder; trigger "
            "the job on the zone and folder it reads"
        )
    folder = f"{values['input_prefix']}/"
    if not key.startswith(folder):
        problems.append(
            f"{resolved['trigger_key'].source}: {key!r} is not under --input-prefix "
            f"{values['input_prefix']!r}: a triggered run reads only its input folder; trigger "
            "the job on the zone and folder it reads"
        )
    return problems


def aws_batch_context(environ: Mapping[str, str]) -> dict[str, str]:
    """The AWS Batch variables of this container (job id, attempt, queue), for the manifest."""
    return {
        name.removeprefix("AWS_BATCH_").lower(): environ[name]
        for name in BATCH_CONTEXT_VARIABLES
        if environ.get(name)
    }


def refuse_array_job(environ: Mapping[str, str], sharded: bool = False) -> None:
    """Array children share one output folder: without sharding they would overwrite each
    other's output."""
    if environ.get("AWS_BATCH_JOB_ARRAY_INDEX") and not sharded:
        raise job.UsageError(
            "this job runs as an AWS Batch array child (AWS_BATCH_JOB_ARRAY_INDEX is set) but "
            "was not told to shard its input: children would overwrite each other's output; "
            f"pass --shard-count <array size> (or {ENV_PREFIX}SHARD_COUNT), or submit it "
            "without arrayProperties"
        )


@functools.cache
def _session() -> Any:
    """One boto3 session for the job's clients: each session loads botocore's endpoint data
    and service models again."""
    import boto3

    return boto3.session.Session()


def make_s3_client() -> Any:
    """An S3 client from the standard AWS environment (``AWS_ENDPOINT_URL`` is honoured)."""
    from botocore.config import Config

    return _session().client("s3", config=Config(retries={"mode": "standard", "max_attempts": 5}))


def make_dynamodb_client() -> Any:
    """A DynamoDB client (the model registry) from the standard AWS environment."""
    from botocore.config import Config

    return _session().client(
        "dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 5})
    )


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    s3: Any = None,
    now: Callable[[], datetime] = job.utc_now,
    dynamodb: Any = None,
) -> int:
    """Run the job with ``argv`` and ``environ``; return the process exit code."""
    environ = os.environ if environ is None else environ
    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    log = job.JsonLog(out, now)
    parser = build_parser()
    try:
        namespace = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
        args = build_run_args(namespace, environ)
        refuse_array_job(environ, sharded=args.shard is not None)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except job.UsageError as exc:
        log.error("run_failed", error=exc.kind, message=str(exc), exit_code=exc.exit_code)
        err.write(f"{parser.format_usage()}{PROG}: error: {exc}\n")
        err.flush()
        return exc.exit_code

    run_log = log.bind(run_id=args.run_id)
    try:
        client = make_s3_client() if s3 is None else s3
        registry = None
        if args.registry_table is not None:
            registry = make_dynamodb_client() if dynamodb is None else dynamodb
        job.run(args, client, run_log, now, aws_batch_context(environ), dynamodb=registry)
    except job.JobError as exc:
        run_log.error("run_failed", error=exc.kind, message=str(exc), exit_code=exc.exit_code)
        if isinstance(exc, job.UsageError):
            err.write(f"{PROG}: error: {exc}\n")
            err.flush()
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - logged as one structured line, not a traceback
        run_log.error(
            "run_failed",
            error="internal_error",
            message=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
            exit_code=1,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
