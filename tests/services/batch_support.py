"""Shared helpers of the batch inference job's tests: names, S3 helpers, and running the
command line in-process (the ``aws_env`` and ``s3`` fixtures are in ``conftest.py``)."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.batch_inference.__main__ import main

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = PROJECT_ROOT / "services" / "batch_inference"

CURATED = "mlops-dev-curated"
MODELS = "mlops-dev-models"
INPUT_PREFIX = "customers/2024-05-01"
OUTPUT_PREFIX = "predictions/churn"
MODEL_KEY = "artefacts/churn/v3.json"
RUN_ID = "run-42"
RUN_FOLDER = f"{OUTPUT_PREFIX}/run_id={RUN_ID}/"
PART_KEY = f"{RUN_FOLDER}part-00000.jsonl"
MARKER_KEY = f"{RUN_FOLDER}_SUCCESS"

LINEAR_MODEL = {
    "name": "churn-v3",
    "intercept": 0.5,
    "coefficients": {"age": 0.1, "income": -0.002},
}
ENV_NAMES = (
    "BATCH_INFERENCE_INPUT_BUCKET",
    "BATCH_INFERENCE_INPUT_PREFIX",
    "BATCH_INFERENCE_OUTPUT_BUCKET",
    "BATCH_INFERENCE_OUTPUT_PREFIX",
    "BATCH_INFERENCE_RUN_ID",
    "BATCH_INFERENCE_MODEL_BUCKET",
    "BATCH_INFERENCE_MODEL_KEY",
    "BATCH_INFERENCE_THRESHOLD",
    "BATCH_INFERENCE_SHARD_COUNT",
    "BATCH_INFERENCE_SHARD_INDEX",
    "BATCH_INFERENCE_TRIGGER_BUCKET",
    "BATCH_INFERENCE_TRIGGER_KEY",
    "AWS_BATCH_JOB_ID",
    "AWS_BATCH_JOB_ATTEMPT",
    "AWS_BATCH_JOB_ARRAY_INDEX",
    "AWS_BATCH_JQ_NAME",
    "AWS_BATCH_CE_NAME",
)


# --------------------------------------------------------------------------- helpers


def jsonl(*records: Mapping[str, Any]) -> bytes:
    """JSON Lines bytes of ``records``."""
    return "".join(json.dumps(r) + "\n" for r in records).encode("utf-8")


def put(s3: Any, bucket: str, key: str, body: bytes | str) -> None:
    """Write one object."""
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)


def keys_under(s3: Any, bucket: str, prefix: str) -> list[str]:
    """Every key under ``prefix``."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def read_jsonl(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    """The records of a JSON Lines object."""
    text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    return [json.loads(line) for line in text.splitlines()]


def read_json(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    """A JSON object stored in S3."""
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def base_args(**overrides: str | None) -> list[str]:
    """A complete command line; ``overrides`` replace (or with ``None`` drop) one option."""
    options: dict[str, str | None] = {
        "input-bucket": CURATED,
        "input-prefix": INPUT_PREFIX,
        "output-bucket": MODELS,
        "output-prefix": OUTPUT_PREFIX,
        "run-id": RUN_ID,
        "model-key": MODEL_KEY,
    }
    options.update({k.replace("_", "-"): v for k, v in overrides.items()})
    argv: list[str] = []
    for name, value in options.items():
        if value is not None:
            argv += [f"--{name}", value]
    return argv


class FakeClock:
    """Returns 2024-05-01T12:00:00Z, then one second later on every call."""

    def __init__(self) -> None:
        self.moment = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        current = self.moment
        self.moment += timedelta(seconds=1)
        return current


@dataclass(frozen=True)
class Outcome:
    """Exit code, structured log lines (parsed) and stderr of one ``main`` call."""

    code: int
    logs: list[dict[str, Any]]
    stderr: str

    def events(self, name: str) -> list[dict[str, Any]]:
        """Log lines with ``event == name``."""
        return [line for line in self.logs if line["event"] == name]

    @property
    def failure(self) -> str:
        """The message of the single ``run_failed`` line."""
        (line,) = self.events("run_failed")
        return str(line["message"])


def run_main(
    argv: Sequence[str], environ: Mapping[str, str] | None = None, s3: Any = None
) -> Outcome:
    """Run the command line in-process with an explicit environment; parse its log lines."""
    out, err = io.StringIO(), io.StringIO()
    code = main(
        list(argv), environ=dict(environ or {}), stdout=out, stderr=err, s3=s3, now=FakeClock()
    )
    logs = [json.loads(line) for line in out.getvalue().splitlines()]
    return Outcome(code, logs, err.getvalue())


GOOD = b'{"id": "ok", "features": {"age": 1, "income": 2}}\n'


class Untouchable:
    """An S3 client stand-in that fails the test if the job makes any S3 call."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"S3 was used ({name}) although the parameters are invalid")
