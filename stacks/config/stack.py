"""The whole ``mlops:`` namespace of a stack file (:class:`PlatformConfig`): the
environment-wide keys (environment, ephemeral, tags, log retention, accounts), one section
per capability, and every cross-key check, in the order problems are reported."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import Field, field_validator

from components.monitoring import LOG_RETENTION_DAYS
from stacks.config.alerts import AlertsConfig, alerts_cross_checks
from stacks.config.base import NAMESPACE, PRODUCTION_ENVIRONMENTS, ConfigModel, is_production
from stacks.config.compute import ComputeConfig, compute_cross_checks
from stacks.config.containers import ContainersConfig, containers_cross_checks
from stacks.config.data_lake import DataLakeConfig, data_lake_cross_checks
from stacks.config.dns import DnsConfig, dns_cross_checks
from stacks.config.iam import IamConfig, iam_cross_checks
from stacks.config.ingest import IngestConfig, ingest_cross_checks
from stacks.config.jobs import JobsConfig, jobs_cross_checks
from stacks.config.limits import limits_cross_checks
from stacks.config.network import NetworkConfig, RegionConfig, network_cross_checks
from stacks.config.resilience import ResilienceConfig, resilience_cross_checks
from stacks.config.training import TrainingConfig, training_cross_checks

#: Retention values CloudWatch Logs accepts: the components' one table.
CLOUDWATCH_RETENTION_DAYS = LOG_RETENTION_DAYS

_TAG_KEY_RE = re.compile(r"^[\w .:/=+\-@]{1,128}$")
_TAG_VALUE_RE = re.compile(r"^[\w .:/=+\-@]{0,256}$")


class PlatformConfig(ConfigModel):
    """The whole ``mlops:`` namespace of a stack file."""

    environment: str = Field(description="Environment name: dev, staging, prod, ...")
    ephemeral: bool = Field(
        description="May the stack be destroyed on a schedule (nightly destroy)."
    )
    regions: tuple[RegionConfig, ...] = Field(
        description="Regions, the first being the primary; at least two."
    )
    network: NetworkConfig
    tags: dict[str, str] = Field(default_factory=dict, description="Tags added to every resource.")
    log_retention_days: int = Field(
        default=30, description="Retention of every CloudWatch log group, in days."
    )
    allowed_account_ids: tuple[str, ...] = Field(
        default=(),
        description="If set, the providers refuse to touch any other AWS account.",
    )
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    iam: IamConfig = Field(default_factory=IamConfig)
    data_lake: DataLakeConfig = Field(
        default_factory=DataLakeConfig, description="The data lake of every region."
    )
    containers: ContainersConfig | None = Field(
        default=None, description="The web service of every region. Default: none."
    )
    dns: DnsConfig | None = Field(
        default=None,
        description="The web service's global HTTPS entry (Route 53). Default: none.",
    )
    compute: ComputeConfig = Field(
        default_factory=ComputeConfig,
        description="Instance pools (primary region). Default: switched off.",
    )
    ingest: IngestConfig = Field(
        default_factory=lambda: IngestConfig(enabled=False),
        description="The ingest Lambda and records table of every region. Default: none.",
    )
    jobs: JobsConfig = Field(
        default_factory=JobsConfig,
        description="Batch jobs and optional managed Airflow. Default: none.",
    )
    training: TrainingConfig = Field(
        default_factory=TrainingConfig,
        description="Continuous training: drift check, retraining, registry. Default: on.",
    )
    resilience: ResilienceConfig = Field(
        default_factory=ResilienceConfig,
        description="Active region, lake replication both ways, standby pools.",
    )

    @field_validator("environment")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,15}", value):
            raise ValueError(
                f"{value!r} is not an environment name; use 1-16 lowercase letters, "
                "digits or '-', starting with a letter"
            )
        return value

    @field_validator("regions")
    @classmethod
    def _at_least_two(cls, value: tuple[RegionConfig, ...]) -> tuple[RegionConfig, ...]:
        if len(value) < 2:
            raise ValueError(
                f"{len(value)} region(s) given; list at least two (the first is the primary, "
                "the others hold replicas)"
            )
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        problems = []
        for key, val in value.items():
            if not _TAG_KEY_RE.match(key) or key.lower().startswith("aws:"):
                problems.append(f"tag key {key!r} is not allowed (1-128 chars, not 'aws:')")
            if not _TAG_VALUE_RE.match(val):
                problems.append(f"tag {key!r} has an invalid value {val!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        # The table is the components' (components/monitoring); they check it inline too and
        # publish no problem function for it.
        if value not in CLOUDWATCH_RETENTION_DAYS:
            raise ValueError(
                f"{value} is not a retention CloudWatch Logs accepts; use one of "
                f"{', '.join(map(str, CLOUDWATCH_RETENTION_DAYS))}"
            )
        return value

    @field_validator("allowed_account_ids")
    @classmethod
    def _accounts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not re.fullmatch(r"\d{12}", v)]
        if bad:
            raise ValueError(f"{bad} are not 12-digit AWS account ids")
        return value

    # Derived settings -------------------------------------------------------------------
    @property
    def primary_region(self) -> str:
        return self.regions[0].name

    @property
    def active_region(self) -> str:
        """The region whose schedules and triggers are enabled at first deploy."""
        return self.resilience.active(tuple(r.name for r in self.regions))

    @property
    def secondary_region(self) -> str:
        """The standby: the second region (lake replication partner, standby pools)."""
        return self.regions[1].name

    @property
    def is_production(self) -> bool:
        return self.environment in PRODUCTION_ENVIRONMENTS

    @property
    def protect_stateful(self) -> bool:
        """Stateful resources are protected and retained unless the stack is ephemeral."""
        return not self.ephemeral


def environment_cross_checks(data: Mapping[str, Any]) -> list[str]:
    """A production environment is never ephemeral (the nightly destroy would delete it)."""
    if is_production(data) and data.get("ephemeral") is True:
        return [
            f"{NAMESPACE}:ephemeral: environment {data.get('environment')!r} is production and "
            "must not be ephemeral (the nightly destroy would delete it); set it to false"
        ]
    return []


#: Checks of keys that depend on other keys, each naming the key to change; they work on the
#: decoded raw values, so they are reported together with every per-key problem even when
#: other keys are invalid. Problems are reported in this order, after the per-key ones.
CROSS_CHECKS: tuple[Callable[[Mapping[str, Any]], list[str]], ...] = (
    environment_cross_checks,
    network_cross_checks,
    data_lake_cross_checks,
    containers_cross_checks,
    dns_cross_checks,
    compute_cross_checks,
    ingest_cross_checks,
    jobs_cross_checks,
    training_cross_checks,
    resilience_cross_checks,
    alerts_cross_checks,
    iam_cross_checks,
    limits_cross_checks,
)


def cross_key_problems(data: Mapping[str, Any]) -> list[str]:
    """Every cross-key problem of the decoded ``mlops:`` keys (``data``: key -> value)."""
    return [problem for check in CROSS_CHECKS for problem in check(data)]
