"""Reading recorded plans: per-region summaries and diffs between two plans."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks.offline import PLAN_FORMAT, PROVIDER_TYPE_PREFIX


class PlanFileError(Exception):
    """A plan file is missing, unreadable or not an ``mlops-plan/1`` document."""


def load_plan_file(path: Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanFileError(f"cannot read {path}: {exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PlanFileError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise PlanFileError(f"{path} is not a plan file (expected format {PLAN_FORMAT!r})")
    resources = data.get("resources")
    if not isinstance(resources, list) or not all(
        isinstance(r, dict) and isinstance(r.get("urn"), str) for r in resources
    ):
        raise PlanFileError(f"{path}: 'resources' must be a list of resources with a urn")
    return data


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
        names = sorted(
            str(e["inputs"].get("serviceName", "")).rsplit(".", 1)[-1] for e in endpoints
        )
        lines.append(("VPC endpoints", ", ".join(names)))
    groups = of("aws:cloudwatch/logGroup:LogGroup")
    if groups:
        days = sorted({g["inputs"].get("retentionInDays") for g in groups}, key=str)
        lines.append(("Log groups", f"{len(groups)}, retention {days} days"))
    protected = [r for r in resources if r.get("options", {}).get("protect")]
    lines.append(("Protected", str(len(protected))))
    return lines


def summary(plan: Mapping[str, Any]) -> str:
    """A readable summary per region: resource counts by type and key settings."""
    resources = plan["resources"]
    by_region: dict[str, list[Mapping[str, Any]]] = {}
    for r in resources:
        if r.get("custom") and not r["type"].startswith(PROVIDER_TYPE_PREFIX):
            by_region.setdefault(r.get("region") or "(no region)", []).append(r)
    outputs = plan.get("outputs", {})
    primary = outputs.get("primaryRegion")
    total = sum(len(v) for v in by_region.values())
    lines = [
        f"Stack {plan['stack']} of {plan['project']}: {total} resources in "
        f"{len(by_region)} region(s)"
    ]
    for region in sorted(by_region, key=lambda r: (r != primary, r)):
        items = by_region[region]
        title = f"{region} (primary)" if region == primary else region
        lines.append("")
        lines.append(f"== {title}: {len(items)} resources")
        for key, value in _settings(items):
            lines.append(f"   {key + ':':<16} {value}")
        counts = Counter(r["type"] for r in items)
        for typ, n in sorted(counts.items()):
            lines.append(f"   {n:>4}  {typ}")
    return "\n".join(lines) + "\n"


# Diff ----------------------------------------------------------------------------------------


@dataclass
class PlanDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)

    @property
    def equal(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def render(self) -> str:
        if self.equal:
            return "No differences.\n"
        lines = [
            f"{len(self.added)} to add, {len(self.changed)} to change, "
            f"{len(self.removed)} to remove"
        ]
        for urn in self.added:
            lines.append(f"+ {urn}")
        for urn, keys in self.changed.items():
            lines.append(f"~ {urn}")
            lines.append(f"    changed: {', '.join(keys)}")
        for urn in self.removed:
            lines.append(f"- {urn}")
        return "\n".join(lines) + "\n"


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    keys: list[str] = []
    old_in, new_in = old.get("inputs", {}), new.get("inputs", {})
    for key in sorted(set(old_in) | set(new_in)):
        if old_in.get(key) != new_in.get(key):
            keys.append(f"inputs.{key}")
    old_opt, new_opt = old.get("options", {}), new.get("options", {})
    for key in sorted(set(old_opt) | set(new_opt)):
        if old_opt.get(key) != new_opt.get(key):
            keys.append(f"options.{key}")
    for key in ("provider", "parent", "dependencies"):
        if old.get(key) != new.get(key):
            keys.append(key)
    return keys


def diff_plans(old: Mapping[str, Any], new: Mapping[str, Any]) -> PlanDiff:
    """Added, removed and changed resources (by URN) with the keys that changed."""
    old_by = {r["urn"]: r for r in old["resources"]}
    new_by = {r["urn"]: r for r in new["resources"]}
    result = PlanDiff(
        added=sorted(set(new_by) - set(old_by)),
        removed=sorted(set(old_by) - set(new_by)),
    )
    for urn in sorted(set(old_by) & set(new_by)):
        keys = _changed_keys(old_by[urn], new_by[urn])
        if keys:
            result.changed[urn] = keys
    return result
