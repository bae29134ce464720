"""``mlops:dns``: the web service's one global HTTPS entry (components/entry).

A Route 53 hosted zone and the service's record name in it, the routing policy between the
regions (``failover``: the first region serves, the second takes over when its health check
fails; ``latency``: every healthy region serves its nearest clients), and the health check
that decides. Limits come from botocore's Route 53 model where it has them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator

from components.entry import (
    ALIAS_TTL_SECONDS,
    health_check_problems,
    health_checker_regions,
    worst_case_failover_seconds,
)
from stacks.config.base import NAMESPACE, ConfigModel, is_production, section

KEY = f"{NAMESPACE}:dns"

_ZONE_ID_RE = re.compile(r"^Z[A-Z0-9]{1,31}$")
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _domain_problem(value: str) -> str | None:
    name = value.rstrip(".").lower()
    if not name or len(name) > 253 or not all(_LABEL_RE.match(p) for p in name.split(".")):
        return f"{value!r} is not a domain name (labels of a-z, 0-9 and '-', dot-separated)"
    return None


class HealthCheckConfig(ConfigModel):
    """The Route 53 health check of each region's load balancer (HTTPS, the service's
    health path)."""

    interval: int = Field(
        default=30, description="Seconds between checks: 10 (fast) or 30 (standard)."
    )
    failure_threshold: int = Field(
        default=3, description="Consecutive failed checks before a region is unhealthy, 1-10."
    )
    regions: tuple[str, ...] = Field(
        default=(),
        description="Health checker regions (at least 3 of Route 53's list). Default: all.",
    )

    @field_validator("interval", "failure_threshold")
    @classmethod
    def _range(cls, value: int, info: Any) -> int:
        problems = (
            health_check_problems(interval=value)
            if info.field_name == "interval"
            else health_check_problems(failure_threshold=value)
        )
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("regions")
    @classmethod
    def _checker_regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        problems = health_check_problems(regions=value) if value else []
        if problems:
            raise ValueError("; ".join(problems))
        return value


class DnsConfig(ConfigModel):
    """The global entry: one HTTPS name in a Route 53 zone, served by the regions' load
    balancers with failover or latency routing."""

    zone_id: str = Field(description="The Route 53 public hosted zone id (Z...).")
    zone_name: str = Field(description="The hosted zone's domain name, e.g. example.com.")
    record_name: str = Field(description="The service's name, in the zone: api.example.com.")
    routing: Literal["failover", "latency"] = Field(
        description="failover: regions[0] serves, regions[1] takes over; latency: every "
        "healthy region serves its nearest clients."
    )
    health_check: HealthCheckConfig = Field(
        default_factory=HealthCheckConfig, description="The health check of every region."
    )
    health_alarm_topic_arn: str = Field(
        description="An SNS topic in us-east-1 for the health-check alarms (Route 53 metrics "
        "and so their alarms live in us-east-1; an alarm notifies topics of its own region)."
    )

    @field_validator("routing", mode="before")
    @classmethod
    def _routing_known(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in ("failover", "latency"):
            raise ValueError(f"{value!r} is not a routing policy; use 'failover' or 'latency'")
        return value

    @field_validator("zone_id")
    @classmethod
    def _zone_id(cls, value: str) -> str:
        if not _ZONE_ID_RE.match(value):
            raise ValueError(
                f"{value!r} is not a Route 53 hosted zone id (Z followed by letters and digits)"
            )
        return value

    @field_validator("zone_name", "record_name")
    @classmethod
    def _domain(cls, value: str) -> str:
        problem = _domain_problem(value)
        if problem:
            raise ValueError(problem)
        return value.rstrip(".").lower()

    @field_validator("health_alarm_topic_arn")
    @classmethod
    def _alarm_topic(cls, value: str) -> str:
        parts = value.split(":")
        if len(parts) != 6 or parts[:3] != ["arn", "aws", "sns"] or parts[3] != "us-east-1":
            raise ValueError(
                f"{value!r} is not an SNS topic ARN in us-east-1 "
                "(arn:aws:sns:us-east-1:<account>:<name>)"
            )
        return value

    @property
    def url(self) -> str:
        return f"https://{self.record_name}/"

    @property
    def failover_seconds(self) -> int:
        """Worst-case time until clients reach a healthy region (README, "Global entry")."""
        return worst_case_failover_seconds(
            self.health_check.interval, self.health_check.failure_threshold
        )

    def checker_regions(self) -> tuple[str, ...]:
        return self.health_check.regions or health_checker_regions()


def dns_cross_checks(data: Mapping[str, Any]) -> list[str]:
    """The record name lies in the zone; failover routes between exactly two regions;
    production serves no plain HTTP (``mlops:dns`` or a certificate for every region)."""
    problems: list[str] = []
    dns = section(data, "dns")
    raw_regions = data.get("regions")
    regions: list[Any] = raw_regions if isinstance(raw_regions, list) else []
    if dns is not None:
        zone, record = dns.get("zoneName"), dns.get("recordName")
        if isinstance(zone, str) and isinstance(record, str):
            z, r = zone.rstrip(".").lower(), record.rstrip(".").lower()
            if not r.endswith("." + z) and r != z:
                problems.append(
                    f"{KEY}.recordName: {record!r} is not in the zone {zone!r} "
                    f"({KEY}.zoneName); use a name ending in .{z}"
                )
        # Route 53 failover records are PRIMARY or SECONDARY (botocore route53 model,
        # ResourceRecordSetFailover): one of each per name.
        if dns.get("routing") == "failover" and len(regions) > 2:
            problems.append(
                f"{KEY}.routing: failover serves from {NAMESPACE}:regions[0] and fails over "
                f"to {NAMESPACE}:regions[1] only, and {len(regions)} regions are listed; use "
                "'latency' to serve from every region"
            )
        web = section(data, "containers")
        if web is not None and web.get("certificateArns"):
            problems.append(
                f"{KEY}: only one of {KEY} (certificates requested per region) and "
                f"{NAMESPACE}:containers.certificateArns can be given"
            )
    problems += _production_tls_problems(data, dns)
    return problems


def _production_tls_problems(data: Mapping[str, Any], dns: Mapping[str, Any] | None) -> list[str]:
    if not is_production(data) or dns is not None:
        return []
    web = section(data, "containers")
    if web is None or web.get("enabled") is False:
        return []
    names = [r.get("name") for r in data.get("regions") or [] if isinstance(r, dict)]
    certificates = web.get("certificateArns")
    covered = set(certificates) if isinstance(certificates, dict) else set()
    missing = [n for n in names if isinstance(n, str) and n not in covered]
    if not missing:
        return []
    return [
        f"{KEY}: production must not serve plain HTTP: set {KEY} (the global HTTPS entry) or "
        f"{NAMESPACE}:containers.certificateArns for every region (missing: "
        f"{', '.join(missing)})"
    ]


__all__ = ["ALIAS_TTL_SECONDS", "DnsConfig", "HealthCheckConfig", "dns_cross_checks"]
