"""Structured logging of a run: one JSON object per line on stdout."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """``2024-05-01T12:00:00.123Z``: millisecond ISO-8601 in UTC."""
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
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
