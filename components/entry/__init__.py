"""The web service's global HTTPS entry: per region an ACM certificate validated through
Route 53, a health check of the region's load balancer with its alarm, and an alias record
with failover or latency routing; a WAF web ACL for internet-facing load balancers.

- :mod:`components.entry.limits`: what Route 53 accepts, the worst-case failover time
- :mod:`components.entry.certificate`: :class:`EntryCertificate`
- :mod:`components.entry.routing`: :class:`RegionalEntry`
- :mod:`components.entry.waf`: :class:`WebFirewall`
"""

from components.entry.certificate import EntryCertificate, EntryCertificateArgs
from components.entry.limits import (
    ALIAS_TTL_SECONDS,
    HEALTH_CHECK_INTERVALS,
    health_check_problems,
    health_checker_regions,
    worst_case_failover_seconds,
)
from components.entry.routing import RegionalEntry, RegionalEntryArgs
from components.entry.waf import MANAGED_RULE_GROUPS, WebFirewall, WebFirewallArgs

__all__ = [
    "ALIAS_TTL_SECONDS",
    "HEALTH_CHECK_INTERVALS",
    "EntryCertificate",
    "EntryCertificateArgs",
    "RegionalEntry",
    "RegionalEntryArgs",
    "MANAGED_RULE_GROUPS",
    "WebFirewall",
    "WebFirewallArgs",
    "health_check_problems",
    "health_checker_regions",
    "worst_case_failover_seconds",
]
