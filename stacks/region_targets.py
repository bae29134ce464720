"""Region-scoped engine commands: ``python -m stacks preview|up|refresh <stack> --region R``.

The targets are computed from the offline plan (the same program, the same URNs the engine
sees): the region's provider, its ``RegionalPlatform`` component and everything under it,
and every resource elsewhere that depends on one of those (transitively), with their parent
components. Pulumi's ``--target`` then touches only those; everything else is read from the
state as it is, so another region's API is never called and may be down.

``up`` also refuses to run when its preview would delete (or replace) a protected resource:
the engine would stop half-way through the update; the message says what to do instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

REGIONAL_TYPE = "mlops:stacks:RegionalPlatform"
PROVIDER_PREFIX = "pulumi:providers:"
#: Engine step operations that remove the old resource.
DELETING_OPS = frozenset({"delete", "replace", "delete-replaced", "discard"})


class RegionTargetError(ValueError):
    """A ``--region`` that the stack does not have (the message names the known ones)."""


def _parent_chain(urn: str, parents: Mapping[str, str | None]) -> list[str]:
    chain: list[str] = []
    current = parents.get(urn)
    while current:
        chain.append(current)
        current = parents.get(current)
    return chain


def _region_tree(
    resources: Sequence[Mapping[str, Any]], regions: Sequence[str], *, own_region_only: bool
) -> set[str]:
    """The regions' ``RegionalPlatform`` components, everything under them (with
    ``own_region_only``, only resources whose region is one of ``regions``: a child may be
    created in another region, such as us-east-1 health alarms) and the regions' providers (a
    new region's provider must be created first). RegionTargetError for an unknown region."""
    components = {
        r["name"]: r["urn"] for r in resources if r["type"] == REGIONAL_TYPE and not r["custom"]
    }
    unknown = [r for r in regions if r not in components]
    if unknown:
        raise RegionTargetError(
            f"--region {', '.join(unknown)}: not a region of this stack (its regions: "
            f"{', '.join(sorted(components))})"
        )
    parents = {r["urn"]: r.get("parent") for r in resources}
    roots = {components[r] for r in regions}
    tree = {
        r["urn"]
        for r in resources
        if roots & ({r["urn"]} | set(_parent_chain(r["urn"], parents)))
        and (not own_region_only or not r.get("custom") or r.get("region") in regions)
    }
    for r in resources:
        if r["type"].startswith(PROVIDER_PREFIX) and r.get("inputs", {}).get("region") in regions:
            tree.add(r["urn"])
    return tree


def region_own_urns(plan: Mapping[str, Any], regions: Sequence[str]) -> list[str]:
    """The URNs of ``regions`` themselves (sorted): the regions' providers, their
    ``RegionalPlatform`` components and everything under them; no dependent elsewhere.

    What a region-scoped ``up`` refreshes first: reading a resource calls its region's API,
    so the dependents in other regions (which may be down) are left as the state has them."""
    resources: list[Mapping[str, Any]] = list(plan.get("resources", []))
    return sorted(_region_tree(resources, regions, own_region_only=True))


def region_target_urns(plan: Mapping[str, Any], regions: Sequence[str]) -> list[str]:
    """Every URN a region-scoped operation on ``regions`` targets (sorted)."""
    resources: list[Mapping[str, Any]] = list(plan.get("resources", []))
    parents = {r["urn"]: r.get("parent") for r in resources}
    targets = _region_tree(resources, regions, own_region_only=False)
    # Dependents elsewhere (a trail logging this region's buckets, replication into them),
    # until nothing new depends on the targets, with their parent components.
    changed = True
    while changed:
        changed = False
        for r in resources:
            if r["urn"] in targets:
                continue
            if targets & set(r.get("dependencies", [])):
                targets.add(r["urn"])
                # Parent components (not the stack's root resource, which is no resource).
                targets.update(p for p in _parent_chain(r["urn"], parents) if p in parents)
                changed = True
    return sorted(targets)


def _field(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def protected_deletions(events: Iterable[Any]) -> list[str]:
    """The URNs a preview's engine events would delete or replace while protected."""
    found: list[str] = []
    for event in events:
        pre = _field(event, "resource_pre_event")
        metadata = _field(pre, "metadata") if pre is not None else None
        if metadata is None:
            continue
        op = str(getattr(_field(metadata, "op"), "value", _field(metadata, "op")))
        old = _field(metadata, "old")
        if op in DELETING_OPS and old is not None and _field(old, "protect"):
            urn = _field(metadata, "urn")
            if urn not in found:
                found.append(urn)
    return found


def protected_deletion_message(stack: str, urns: Sequence[str]) -> str:
    """Why ``up`` refuses, and what to do instead."""
    listed = "\n".join(f"  - {u}" for u in urns)
    return (
        f"up {stack}: refused: the update would delete or replace {len(urns)} protected "
        f"resource(s):\n{listed}\n"
        "Protected resources (stateful, prod) are never deleted by an update. If this comes "
        "from reordering mlops:regions (moving the primary), keep the order and switch the "
        "active region instead; if the resource must really go, move its data first, then "
        "`pulumi state unprotect <urn>` in a reviewed change and run up again."
    )
