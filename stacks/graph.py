"""Reading recorded plans: per-region summaries (diffs live in :mod:`stacks.plan_diff`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

# The diff moved to stacks.plan_diff (grouping, values, replacement, warnings, formats); its
# names stay importable from here.
from stacks.offline import PROVIDER_TYPE_PREFIX
from stacks.offline.plan import count_resources
from stacks.plan_diff import PlanDiff, PlanFileError, diff_plans, load_plan_file

# Summary -----------------------------------------------------------------------------------


#: Key settings shown per region: a title and a function of that region's resources.
def _settings(resources: list[Mapping[str, Any]]) -> list[tuple[str, str]]:
    def of(typ: str) -> list[Mapping[str, Any]]:
        return [r for r in resources if r["type"] == typ]

    lines: list[tuple[str, str]] = []
    for vpc in of("aws:ec2/vpc:Vpc"):
        lines.append(("VPC", f"{vpc['inputs'].get('cidrBlock')} ({vpc['name']})"))
    subnets = of("aws:ec2/subnet:Subnet")
    if subnets:
        tiers: dict[str, set[str]] = {}
        for s in subnets:
            tier = s["inputs"].get("tags", {}).get("tier", "?")
            tiers.setdefault(tier, set()).add(s["inputs"].get("availabilityZone", "?"))
        lines.append(("Subnets", ", ".join(f"{t}: {len(z)} AZ" for t, z in sorted(tiers.items()))))
    nats = of("aws:ec2/natGateway:NatGateway")
    lines.append(("NAT gateways", str(len(nats))))
    endpoints = of("aws:ec2/vpcEndpoint:VpcEndpoint")
    if endpoints:
        lines.append(("VPC endpoints", endpoint_names(endpoints)))
    groups = of("aws:cloudwatch/logGroup:LogGroup")
    if groups:
        days = sorted({g["inputs"].get("retentionInDays") for g in groups}, key=str)
        lines.append(("Log groups", f"{len(groups)}, retention {days} days"))
    protected = [r for r in resources if r.get("options", {}).get("protect")]
    lines.append(("Protected", str(len(protected))))
    return lines


def endpoint_service(endpoint: Mapping[str, Any]) -> str:
    """A VPC endpoint's service as configured (``ecr.api``, not ``api``): its ``serviceName``
    less the ``com.amazonaws.<region>.`` prefix."""
    service = str(endpoint["inputs"].get("serviceName", ""))
    prefix = f"com.amazonaws.{endpoint.get('region')}."
    return service[len(prefix) :] if service.startswith(prefix) else service


def endpoint_names(endpoints: list[Mapping[str, Any]]) -> str:
    """VPC endpoints by the service names as configured, gateways marked as such."""
    names = []
    for e in endpoints:
        gateway = e["inputs"].get("vpcEndpointType") == "Gateway"
        names.append(f"{endpoint_service(e)} (gateway)" if gateway else endpoint_service(e))
    return ", ".join(sorted(names))


def summary(plan: Mapping[str, Any]) -> str:
    """A readable summary per region: what is counted, resource counts by type and key
    settings. The counts are those of the plan JSON's ``counts`` and of ``check``: every
    recorded resource (cloud resources, components and providers; not the stack resource)."""
    resources = plan["resources"]
    by_region: dict[str, list[Mapping[str, Any]]] = {}
    for r in resources:
        by_region.setdefault(r.get("region") or "(no region)", []).append(r)
    outputs = plan.get("outputs", {})
    primary = outputs.get("primaryRegion")
    lines = [
        f"Stack {plan['stack']} of {plan['project']}: {count_resources(resources).describe()} "
        f"in {len(by_region)} region(s)"
    ]
    for region in sorted(by_region, key=lambda r: (r != primary, r)):
        everything = by_region[region]
        items = [
            r
            for r in everything
            if r.get("custom") and not r["type"].startswith(PROVIDER_TYPE_PREFIX)
        ]
        title = f"{region} (primary)" if region == primary else region
        lines.append("")
        lines.append(f"== {title}: {count_resources(everything).describe()}")
        for key, value in _settings(items):
            lines.append(f"   {key + ':':<16} {value}")
        counts = Counter(r["type"] for r in items)
        for typ, n in sorted(counts.items()):
            lines.append(f"   {n:>4}  {typ}")
    return "\n".join(lines) + "\n"


__all__ = [
    "PlanDiff",
    "PlanFileError",
    "diff_plans",
    "endpoint_names",
    "endpoint_service",
    "load_plan_file",
    "summary",
]
