"""The diff between two plans: what the engine would add, change, replace and remove.

Resources are matched by URN. Only changes the engine acts on count: input changes outside
``ignoreChanges``, resource option changes, and a change of provider. A resource whose inputs,
options and provider are identical while its ``dependencies`` or ``parent`` differ is not a
change (the engine only records the new ordering); such resources are listed as informational.
Component resources (``custom: false``) own no AWS resource and are not listed: their children
are. Each change is placed by region (as the plan records it, else its provider's region, else
its parent's) and by capability: the top-level component under the regional platform
(``mlops:network:Network`` -> "network"), read from the URN's type chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from stacks.plan_diff import replacement as rp
from stacks.plan_diff.risk import Alert, deletion_warning, unprotect_warning
from stacks.plan_diff.values import ABSENT, ValueChange, diff_values, split_path

ADD: Final = "add"
UPDATE: Final = "update"
REPLACE: Final = "replace"
REMOVE: Final = "remove"
#: Order within a group: what can lose something first.
_ACTION_RANK: Final = {REMOVE: 0, REPLACE: 1, UPDATE: 2, ADD: 3}

GLOBAL: Final = "global"
PLATFORM_TYPE: Final = "mlops:stacks:RegionalPlatform"
PROVIDER_PREFIX: Final = "pulumi:providers:"
#: The engine asks the provider (DiffConfig) whether a resource moved to another provider must
#: be replaced: https://github.com/pulumi/pulumi/pull/18509
PROVIDER_CHANGE_SOURCE: Final = "https://github.com/pulumi/pulumi/pull/18509"


@dataclass
class ResourceChange:
    """One resource the engine would add, update, replace or remove."""

    action: str
    urn: str
    type: str
    name: str
    region: str
    capability: str
    #: Input changes the engine acts on (outside ignoreChanges).
    changes: list[ValueChange] = field(default_factory=list)
    #: Resource option changes (``options.protect``) and a provider change (``provider``).
    option_changes: list[ValueChange] = field(default_factory=list)
    #: Changed input paths the new ignoreChanges makes the engine skip.
    ignored: list[str] = field(default_factory=list)
    verdict: rp.Verdict | None = None
    alert: Alert | None = None
    protected: bool = False
    retained: bool = False
    delete_before_replace: bool = False

    @property
    def keys(self) -> list[str]:
        """The changed top-level keys: ``inputs.cidrBlock``, ``options.protect``, ``provider``."""
        inputs = {f"inputs.{c.top}" for c in self.changes}
        others = {".".join(split_path(c.path)[:2]) for c in self.option_changes}
        return sorted(inputs) + sorted(others)

    @property
    def state_only(self) -> bool:
        """Only resource options changed: the engine updates its state, AWS is not called."""
        return not self.changes and all(c.path.startswith("options.") for c in self.option_changes)


@dataclass
class PlanDiff:
    """The changes between an old and a new plan, grouped by region and capability."""

    old_stack: str = ""
    new_stack: str = ""
    resources: list[ResourceChange] = field(default_factory=list)
    #: Regions in display order: the primary first.
    regions: list[str] = field(default_factory=list)
    primary: str | None = None
    #: URNs whose dependencies or parent alone changed (not acted on by the engine).
    dependency_only: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not self.resources

    @property
    def added(self) -> list[str]:
        return [r.urn for r in self.resources if r.action == ADD]

    @property
    def removed(self) -> list[str]:
        return [r.urn for r in self.resources if r.action == REMOVE]

    @property
    def changed(self) -> dict[str, list[str]]:
        return {r.urn: r.keys for r in self.resources if r.action in (UPDATE, REPLACE)}

    @property
    def alerts(self) -> list[ResourceChange]:
        return [r for r in self.resources if r.alert is not None]

    def counts(self, region: str | None = None) -> dict[str, int]:
        """added / changed / replaced / removed; ``replaced`` is part of ``changed``."""
        rs = [r for r in self.resources if region is None or r.region == region]
        return {
            "added": sum(r.action == ADD for r in rs),
            "changed": sum(r.action in (UPDATE, REPLACE) for r in rs),
            "replaced": sum(r.action == REPLACE for r in rs),
            "removed": sum(r.action == REMOVE for r in rs),
        }

    def groups(self) -> list[tuple[str, str, list[ResourceChange]]]:
        """(region, capability, changes) in display order."""
        out: list[tuple[str, str, list[ResourceChange]]] = []
        for region in self.regions:
            in_region = [r for r in self.resources if r.region == region]
            for capability in sorted({r.capability for r in in_region}):
                out.append(
                    (region, capability, [r for r in in_region if r.capability == capability])
                )
        return out

    def render(self) -> str:
        """The text rendering (``python -m stacks diff``'s default output)."""
        from stacks.plan_diff.render_text import render_text

        return render_text(self)


# Placing resources ---------------------------------------------------------------------------


def type_chain(urn: str, type_: str) -> list[str]:
    """The URN's qualified type: the types of the resource's ancestors, then its own."""
    parts = urn.split("::", 3)
    return parts[2].split("$") if len(parts) == 4 else [type_]


def _module(token: str) -> str:
    """``mlops:data_lake:DataLake`` -> ``data lake``; ``awsx:ecr:Image`` -> ``ecr``."""
    parts = token.split(":")
    module = parts[1].split("/")[0] if len(parts) > 1 else token
    return module.replace("_", " ")


def capability_of(urn: str, type_: str) -> str:
    """The top-level component under the regional platform that owns the resource."""
    chain = type_chain(urn, type_)
    if PLATFORM_TYPE in chain:
        below = chain[chain.index(PLATFORM_TYPE) + 1 :]
        if not below or (len(below) == 1 and not below[0].startswith("mlops:")):
            return "platform"
        return _module(below[0])
    if type_.startswith(PROVIDER_PREFIX):
        return "providers"
    return _module(chain[0]) if len(chain) > 1 else "stack"


def region_of(resource: Mapping[str, Any], by_urn: Mapping[str, Mapping[str, Any]]) -> str:
    """The recorded region, else the provider's, else the nearest ancestor's; else global."""
    seen: set[str] = set()
    current: Mapping[str, Any] | None = resource
    while current is not None and current.get("urn") not in seen:
        seen.add(str(current.get("urn")))
        if isinstance(current.get("region"), str) and current["region"]:
            return str(current["region"])
        provider = by_urn.get(str(current.get("provider")))
        if provider is not None:
            region = provider.get("inputs", {}).get("region")
            if isinstance(region, str) and region:
                return region
        current = by_urn.get(str(current.get("parent")))
    return GLOBAL


# Diffing ------------------------------------------------------------------------------------


def _restack(plan: Mapping[str, Any], stack: str) -> list[dict[str, Any]]:
    """The plan's resources with their URNs moved to ``stack`` (to compare dev with prod)."""
    old_prefix, new_prefix = f"urn:pulumi:{plan['stack']}::", f"urn:pulumi:{stack}::"

    def move(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(old_prefix):
            return new_prefix + value[len(old_prefix) :]
        return value

    return [
        dict(
            r,
            urn=move(r["urn"]),
            parent=move(r["parent"]),
            provider=move(r["provider"]),
            dependencies=[move(d) for d in r["dependencies"]],
        )
        for r in plan["resources"]
    ]


def _ignored(path: str, ignore_changes: list[Any]) -> bool:
    keys = split_path(path)
    for entry in ignore_changes:
        wanted = split_path(str(entry).replace('["', ".").replace('"]', ""))
        if wanted and keys[: len(wanted)] == wanted:
            return True
    return False


def _change(old: Mapping[str, Any], new: Mapping[str, Any], region: str) -> ResourceChange | None:
    ignore = new["options"].get("ignoreChanges") or []
    ignore = ignore if isinstance(ignore, list) else []
    acted: list[ValueChange] = []
    ignored: list[str] = []
    for change in diff_values(old["inputs"], new["inputs"]):
        (ignored.append(change.path) if _ignored(change.path, ignore) else acted.append(change))
    option_changes: list[ValueChange] = []
    for key in sorted(set(old["options"]) | set(new["options"])):
        option_changes += diff_values(
            old["options"].get(key, ABSENT), new["options"].get(key, ABSENT), f"options.{key}"
        )
    if old["provider"] != new["provider"]:
        option_changes.append(ValueChange("provider", old["provider"], new["provider"]))
    if not acted and not option_changes:
        return None
    verdict = rp.verdict(new["type"], acted, old["inputs"], new["inputs"])
    if old["provider"] != new["provider"] and verdict.kind != rp.REPLACE:
        verdict = rp.Verdict(rp.MAY_REPLACE, ("provider",), PROVIDER_CHANGE_SOURCE)
    action = REPLACE if verdict.kind == rp.REPLACE else UPDATE
    if action == REPLACE or verdict.kind == rp.MAY_REPLACE:
        alert = deletion_warning(old, action if action == REPLACE else rp.MAY_REPLACE)
    else:
        alert = unprotect_warning(old, new)
    return ResourceChange(
        action=action,
        urn=new["urn"],
        type=new["type"],
        name=new["name"],
        region=region,
        capability=capability_of(new["urn"], new["type"]),
        changes=acted,
        option_changes=option_changes,
        ignored=sorted(ignored),
        verdict=verdict,
        alert=alert,
        protected=bool(old["options"].get("protect")),
        retained=bool(old["options"].get("retainOnDelete")),
        delete_before_replace=bool(new["options"].get("deleteBeforeReplace")),
    )


def _one_sided(resource: Mapping[str, Any], action: str, region: str) -> ResourceChange:
    options = resource["options"]
    return ResourceChange(
        action=action,
        urn=resource["urn"],
        type=resource["type"],
        name=resource["name"],
        region=region,
        capability=capability_of(resource["urn"], resource["type"]),
        alert=deletion_warning(resource, REMOVE) if action == REMOVE else None,
        protected=bool(options.get("protect")),
        retained=bool(options.get("retainOnDelete")),
    )


def _region_order(regions: set[str], primary: str | None) -> list[str]:
    return sorted(regions, key=lambda r: (r != primary, r == GLOBAL, r))


def diff_plans(old: Mapping[str, Any], new: Mapping[str, Any]) -> PlanDiff:
    """What the engine would do to go from ``old`` to ``new`` (both validated plans)."""
    old_resources = (
        _restack(old, new["stack"]) if old.get("stack") != new.get("stack") else old["resources"]
    )
    old_by = {r["urn"]: r for r in old_resources}
    new_by = {r["urn"]: r for r in new["resources"]}
    result = PlanDiff(old_stack=str(old.get("stack")), new_stack=str(new.get("stack")))
    for urn in sorted(set(old_by) | set(new_by)):
        before, after = old_by.get(urn), new_by.get(urn)
        either = after if after is not None else before
        assert either is not None
        if not either["custom"]:
            continue
        if before is None or after is None:
            region = region_of(either, new_by if after is not None else old_by)
            result.resources.append(_one_sided(either, ADD if before is None else REMOVE, region))
            continue
        change = _change(before, after, region_of(after, new_by))
        if change is not None:
            result.resources.append(change)
        elif (before["dependencies"], before["parent"]) != (after["dependencies"], after["parent"]):
            result.dependency_only.append(urn)
    outputs = new.get("outputs") or {}
    primary = outputs.get("primaryRegion") or (old.get("outputs") or {}).get("primaryRegion")
    result.primary = primary if isinstance(primary, str) else None
    result.regions = _region_order({r.region for r in result.resources}, result.primary)
    result.resources.sort(
        key=lambda r: (
            result.regions.index(r.region),
            r.capability,
            _ACTION_RANK[r.action],
            r.type,
            r.name,
            r.urn,
        )
    )
    return result
