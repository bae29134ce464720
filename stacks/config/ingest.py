"""``mlops:ingest``: the ingest Lambda of every region, raw zone objects -> the records table
(components/serverless's ``LambdaService`` and ``Table``). The limits are the component's
(Lambda's own limits, published by components/serverless)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator

from stacks.config.base import NAMESPACE, ConfigModel, field_default, section
from stacks.config.data_lake import lake_zones

KEY = f"{NAMESPACE}:ingest"


class IngestAlarmsConfig(ConfigModel):
    """Alarm thresholds of the ingest function (per period, to the region's alert topic)."""

    errors: int = Field(default=1, description="Failed invocations per period that alarm.")
    throttles: int = Field(default=1, description="Throttled invocations per period that alarm.")
    period_seconds: int = Field(default=300, description="Alarm period: 60, 120, ... seconds.")

    @field_validator("errors", "throttles")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"{value} would alarm without any event; give at least 1")
        return value

    @field_validator("period_seconds")
    @classmethod
    def _period(cls, value: int) -> int:
        # Stricter than CloudWatch's period_problem (which also takes 10, 20 and 30 seconds):
        # Lambda's metrics are standard resolution, one data point a minute.
        if value < 60 or value % 60:
            raise ValueError(f"{value} is not a whole number of minutes; use 60, 120, 300, ...")
        return value


class IngestConfig(ConfigModel):
    """The ingest Lambda of every region: raw zone objects -> the records table.

    Absent from the stack file: no ingest. Present: on unless ``enabled: false``.
    """

    enabled: bool = Field(default=True, description="Create the table and the function.")
    memory_mb: int = Field(default=256, description="Function memory, 128-10240 MB.")
    timeout_seconds: int = Field(default=60, description="Invocation timeout, 1-900 seconds.")
    reserved_concurrency: int | None = Field(
        default=None,
        description=(
            "Concurrent executions reserved for the function in each region (>= 1), which is "
            "also its ceiling. Lambda keeps 100 of a region's concurrency unreserved, so the "
            "account's concurrent executions quota in every region must be at least the "
            "reservations there + 100 (`python -m stacks plan` says how much). Default: none "
            "(the function shares the account's unreserved pool)."
        ),
    )
    in_vpc: bool = Field(
        default=False, description="Run in the private subnets (all AZs) with its own group."
    )
    raw_prefix: str | None = Field(
        default=None,
        description="Only objects under this raw-zone key prefix are ingested (and readable).",
    )
    retry_attempts: int = Field(default=2, description="Retries of a failed invocation, 0-2.")
    max_event_age_seconds: int = Field(
        default=21600, description="Oldest event still processed, 60-21600 seconds."
    )
    max_object_bytes: int = Field(
        default=64 * 1024 * 1024,
        description="Larger objects are rejected; at most a quarter of memoryMb.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="The function's log level."
    )
    tracing: bool = Field(default=False, description="X-Ray active tracing.")
    architecture: Literal["arm64", "x86_64"] = Field(
        default="arm64", description="Instruction set of the function."
    )
    alarms: IngestAlarmsConfig = Field(default_factory=IngestAlarmsConfig)

    @field_validator("memory_mb")
    @classmethod
    def _memory(cls, value: int) -> int:
        from components.serverless import MAX_MEMORY_MB, MIN_MEMORY_MB

        if not MIN_MEMORY_MB <= value <= MAX_MEMORY_MB:
            raise ValueError(
                f"{value} MB is outside what Lambda offers; use {MIN_MEMORY_MB} to {MAX_MEMORY_MB}"
            )
        return value

    @field_validator("timeout_seconds")
    @classmethod
    def _timeout(cls, value: int) -> int:
        from components.serverless import MAX_TIMEOUT_SECONDS, MIN_TIMEOUT_SECONDS

        if not MIN_TIMEOUT_SECONDS <= value <= MAX_TIMEOUT_SECONDS:
            raise ValueError(
                f"{value} seconds is outside what Lambda allows; use {MIN_TIMEOUT_SECONDS} to "
                f"{MAX_TIMEOUT_SECONDS}"
            )
        return value

    @field_validator("reserved_concurrency")
    @classmethod
    def _reserved(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(
                f"{value} would stop the function; give at least 1, or remove the key for no "
                "reservation"
            )
        return value

    @field_validator("raw_prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        from components.serverless import clean_key_prefix

        return clean_key_prefix(value)

    @field_validator("retry_attempts")
    @classmethod
    def _retries(cls, value: int) -> int:
        from components.serverless import MAX_ASYNC_RETRY_ATTEMPTS

        if not 0 <= value <= MAX_ASYNC_RETRY_ATTEMPTS:
            allowed = ", ".join(map(str, range(MAX_ASYNC_RETRY_ATTEMPTS)))
            raise ValueError(
                f"{value} is outside what Lambda allows; use {allowed} or {MAX_ASYNC_RETRY_ATTEMPTS}"
            )
        return value

    @field_validator("max_event_age_seconds")
    @classmethod
    def _event_age(cls, value: int) -> int:
        from components.serverless import MAX_ASYNC_EVENT_AGE_SECONDS, MIN_EVENT_AGE_SECONDS

        if not MIN_EVENT_AGE_SECONDS <= value <= MAX_ASYNC_EVENT_AGE_SECONDS:
            raise ValueError(
                f"{value} seconds is outside what Lambda allows; use {MIN_EVENT_AGE_SECONDS} to "
                f"{MAX_ASYNC_EVENT_AGE_SECONDS}"
            )
        return value

    @field_validator("max_object_bytes")
    @classmethod
    def _object_bytes(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"{value} bytes; give a positive size")
        return value


def ingest_cross_checks(data: Mapping[str, Any]) -> list[str]:
    """Ingest keys that depend on other keys: the lake must have a ``raw`` zone, and the
    largest accepted object must fit the function's memory (the handler holds the bytes,
    the decoded text and the parsed records at once, so at most a quarter of it)."""
    from components.serverless import MIN_MEMORY_MB

    ingest = section(data, "ingest")
    if ingest is None or ingest.get("enabled", True) is not True:
        return []
    problems = []
    zones = lake_zones(data)
    if isinstance(zones, list) and "raw" not in zones:
        problems.append(
            f"{KEY}.enabled: the ingest function reads the lake's 'raw' zone, but "
            f"{NAMESPACE}:dataLake.zones is {zones}; add 'raw' there or set enabled: false"
        )
    memory = ingest.get("memoryMb", field_default(IngestConfig, "memory_mb"))
    size = ingest.get("maxObjectBytes", field_default(IngestConfig, "max_object_bytes"))
    if (
        isinstance(memory, int)
        and isinstance(size, int)
        and not isinstance(size, bool)
        and MIN_MEMORY_MB <= memory
        and size > memory * 1024 * 1024 // 4
    ):
        problems.append(
            f"{KEY}.maxObjectBytes: {size} bytes does not fit a {memory} MB "
            f"function; use at most a quarter of {KEY}.memoryMb "
            f"({memory * 1024 * 1024 // 4} bytes) or raise memoryMb"
        )
    return problems
