"""What Route 53 accepts for the entry's health checks and records, and the failover time
they give. Limits come from botocore's Route 53 model (the data a deploy is checked against)
where it has them, otherwise from the AWS documentation cited beside each value."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

#: Health checkers request "every 10 seconds or every 30 seconds" ("How Amazon Route 53
#: determines whether a health check is healthy", https://docs.aws.amazon.com/Route53/latest/
#: DeveloperGuide/dns-failover-determining-health-of-endpoints.html); botocore's model only
#: bounds RequestInterval to 10..30.
HEALTH_CHECK_INTERVALS = (10, 30)
#: Alias records to a load balancer have a fixed TTL of 60 seconds: Route 53 uses the
#: target's TTL (an alias record has none of its own), and "to configure DNS failover for ELB
#: ... you must use alias records, which have a fixed TTL of 60 seconds" (Amazon Route 53
#: FAQs, "Do I need to adjust the TTL of my records in order to use DNS Failover?",
#: https://aws.amazon.com/route53/faqs/).
ALIAS_TTL_SECONDS = 60


@lru_cache(maxsize=1)
def _health_check_shapes() -> tuple[tuple[int, int], tuple[str, ...], int]:
    """(FailureThreshold bounds, HealthCheckRegion values, minimum number of regions) from
    botocore's route53 model (HealthCheckConfig)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("route53")
    config = model.shape_for("HealthCheckConfig").members
    threshold = config["FailureThreshold"].metadata
    regions = config["Regions"]
    return (
        (int(threshold["min"]), int(threshold["max"])),
        tuple(regions.member.enum),
        int(regions.metadata["min"]),
    )


def health_checker_regions() -> tuple[str, ...]:
    """Every region Route 53 runs health checkers in (botocore's HealthCheckRegion)."""
    return _health_check_shapes()[1]


def health_check_problems(
    *,
    interval: int | None = None,
    failure_threshold: int | None = None,
    regions: Sequence[str] | None = None,
) -> list[str]:
    """Why Route 53 would reject these health-check settings (empty when it would not)."""
    (low, high), known, minimum = _health_check_shapes()
    problems: list[str] = []
    if interval is not None and interval not in HEALTH_CHECK_INTERVALS:
        problems.append(
            f"{interval} is not a health-check interval Route 53 accepts; use 10 or 30 (seconds)"
        )
    if failure_threshold is not None and not low <= failure_threshold <= high:
        problems.append(f"{failure_threshold} is outside {low}..{high} consecutive checks")
    if regions is not None:
        unknown = [r for r in regions if r not in known]
        if unknown:
            problems.append(f"{unknown} are not Route 53 health checker regions ({list(known)})")
        if len(set(regions)) < minimum:
            problems.append(f"list at least {minimum} distinct health checker regions")
    return problems


def worst_case_failover_seconds(interval: int, failure_threshold: int) -> int:
    """Longest time until clients are sent to a healthy region: the failed checks needed to
    mark the region unhealthy, then resolvers keeping the old answer for one TTL."""
    return interval * failure_threshold + ALIAS_TTL_SECONDS
