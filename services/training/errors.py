"""Failures and logging shared by the training and drift jobs.

Each ``JobError`` carries the exit code the process ends with (the same codes as the batch
inference job, so the job definitions' retry strategy applies unchanged): 1 data error
(never retried), 2 usage error, 3 storage error (S3, DynamoDB or CloudWatch unreachable,
throttled or denied: the only code worth a retry). Every outcome is one JSON line on stdout
(:class:`JsonLog`), so each run's log stream in CloudWatch Logs says what happened.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO


class JobError(Exception):
    """A run failure with a clear message and the process exit code to use."""

    exit_code = 1
    kind = "error"


class DataError(JobError):
    """The data (records, window, baseline, model artefact) is missing or malformed."""

    exit_code = 1
    kind = "data_error"


class UsageError(JobError):
    """The run's parameters are wrong (bad value, missing, conflicting)."""

    exit_code = 2
    kind = "usage_error"


class StorageError(JobError):
    """An AWS call failed (access denied, throttling, network). A retry may help."""

    exit_code = 3
    kind = "storage_error"


class RegistryConflict(JobError):
    """The registry changed under the caller (a concurrent approval); nothing was changed."""

    exit_code = 1
    kind = "registry_conflict"


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """``2024-05-01T12:00:00.123Z``: millisecond ISO-8601 in UTC."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLog:
    """One JSON object per line (``ts``, ``level``, ``logger``, ``event``, context, fields)."""

    def __init__(
        self,
        stream: TextIO,
        logger: str,
        now: Callable[[], datetime] = utc_now,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self._stream = stream
        self._logger = logger
        self._now = now
        self._context = dict(context or {})

    def bind(self, **context: Any) -> JsonLog:
        """A log that adds ``context`` to every line."""
        return JsonLog(self._stream, self._logger, self._now, {**self._context, **context})

    def info(self, event: str, **fields: Any) -> None:
        self._write("INFO", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._write("WARNING", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._write("ERROR", event, fields)

    def _write(self, level: str, event: str, fields: Mapping[str, Any]) -> None:
        line = {
            "ts": iso_utc(self._now()),
            "level": level,
            "logger": self._logger,
            "event": event,
            **self._context,
            **fields,
        }
        self._stream.write(json.dumps(line, default=str) + "\n")
        self._stream.flush()
