"""The global HTTPS entry of the web service (``mlops:dns``) in one region's component tree:
the certificate before the service (its HTTPS listener waits for the validation), the health
check, alarm and record after it (they need the load balancer)."""

from __future__ import annotations

from typing import Any, Literal

import pulumi

from components.containers import ContainerService
from components.entry import (
    EntryCertificate,
    EntryCertificateArgs,
    RegionalEntry,
    RegionalEntryArgs,
)
from components.entry.waf import WebFirewall, WebFirewallArgs
from components.kms import RegionKey
from stacks.config import PlatformConfig


def serves_web(cfg: PlatformConfig) -> bool:
    return cfg.dns is not None and cfg.containers is not None and cfg.containers.enabled


def certificate(
    name: str,
    cfg: PlatformConfig,
    *,
    is_primary: bool,
    primary_validation_record: pulumi.Resource | None,
    parent: pulumi.Resource,
) -> EntryCertificate | None:
    """This region's certificate for ``mlops:dns.recordName``; the primary owns the shared
    validation record, the others wait for it."""
    if not serves_web(cfg):
        return None
    assert cfg.dns is not None
    return EntryCertificate(
        f"{name}-entry",
        EntryCertificateArgs(
            domain_name=cfg.dns.record_name,
            zone_id=cfg.dns.zone_id,
            create_validation_record=is_primary,
            validation_record=None if is_primary else primary_validation_record,
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def failover_role(cfg: PlatformConfig, region: str) -> Literal["PRIMARY", "SECONDARY"] | None:
    """regions[0] is PRIMARY and regions[1] SECONDARY with failover routing (the config
    allows exactly two regions then)."""
    assert cfg.dns is not None
    if cfg.dns.routing != "failover":
        return None
    return "PRIMARY" if region == cfg.primary_region else "SECONDARY"


def regional_entry(
    name: str,
    cfg: PlatformConfig,
    region: str,
    service: ContainerService | None,
    *,
    parent: pulumi.Resource,
) -> RegionalEntry | None:
    """This region's health check, its alarm and its record under the service's name."""
    if not serves_web(cfg) or service is None:
        return None
    assert cfg.dns is not None and cfg.containers is not None
    dns = cfg.dns
    return RegionalEntry(
        f"{name}-entry",
        RegionalEntryArgs(
            zone_id=dns.zone_id,
            record_name=dns.record_name,
            region=region,
            routing=dns.routing,
            failover_role=failover_role(cfg, region),
            load_balancer_dns_name=service.load_balancer.dns_name,
            load_balancer_zone_id=service.load_balancer.zone_id,
            health_check_path=cfg.containers.health_check_path,
            alarm_topic_arn=dns.health_alarm_topic_arn,
            interval=dns.health_check.interval,
            failure_threshold=dns.health_check.failure_threshold,
            checker_regions=list(dns.health_check.regions),
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def firewall(
    name: str,
    cfg: PlatformConfig,
    service: ContainerService | None,
    key: RegionKey,
    *,
    parent: pulumi.Resource,
) -> WebFirewall | None:
    """The WAF on the service's internet-facing load balancer: on in production (the config
    refuses turning it off there), optional elsewhere (``mlops:containers.waf.enabled``)."""
    if service is None or cfg.containers is None:
        return None
    waf = cfg.containers.waf
    enabled = waf.enabled if waf.enabled is not None else cfg.is_production
    if not enabled:
        return None
    return WebFirewall(
        f"{name}-web-waf",
        WebFirewallArgs(
            load_balancer_arn=service.load_balancer.arn,
            key=key,
            rate_limit=waf.rate_limit,
            log_retention_days=cfg.log_retention_days,
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def outputs(cfg: PlatformConfig, entries: dict[str, RegionalEntry | None]) -> dict[str, Any]:
    """The ``entry`` stack output: URL, worst-case failover time, health checks, records."""
    if cfg.dns is None:
        return {"url": None, "reason": "mlops:dns is not set: no global entry"}
    return {
        "url": cfg.dns.url,
        "routing": cfg.dns.routing,
        "worstCaseFailoverSeconds": cfg.dns.failover_seconds,
        "healthCheckIds": {r: e.health_check.id for r, e in entries.items() if e is not None},
        "recordNames": {r: e.record.name for r, e in entries.items() if e is not None},
    }
