"""How long ``up`` and ``destroy`` take: the critical path of the plan's dependency graph with
a duration per resource type (``durations.json``, each with its source).

The graph is the one the engine walks. A resource waits for its dependencies (the plan's
``dependencies``: input references and ``depends_on``, component dependencies already
expanded to their children by the SDK) and for a custom-resource parent. Component resources
take no time, except those that do work while they are constructed (``awsx:ecr:Image`` builds
and pushes an image). ``destroy`` walks the same edges backwards: a resource is deleted only
after everything that depends on it. Retained resources are only dropped from the state.

The engine runs steps in parallel as far as the graph allows: ``pulumi up --parallel``
"Defaults to unbounded. (default 2147483647)" (the CLI's flag help,
https://www.pulumi.com/docs/iac/cli/commands/pulumi_up/; the Automation API's ``parallel``
docstring says the same), and the platform's ``python -m stacks up`` passes no limit. With a
bound (``--parallel N``) the total comes from a list schedule that starts the longest
remaining path first.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks.offline.plan import physical_name

DURATIONS_FILE = Path(__file__).with_name("durations.json")
UNBOUNDED = 2147483647
COMPONENTS_WITH_WORK = {"awsx:ecr:Image"}

#: Explicit dependencies an AWS or provider ordering rule requires even without an input
#: reference: (dependent type, dependency type) -> source.
ORDERING_RULES: dict[tuple[str, str], str] = {
    ("aws:ecs/service:Service", "aws:iam/rolePolicy:RolePolicy"): (
        "pulumi_aws ecs.Service: 'To prevent a race condition during service deletion, make sure to "
        "set dependsOn to the related aws.iam.RolePolicy' (https://www.pulumi.com/registry/packages/aws/api-docs/ecs/service/)"
    ),
}


class TimelineError(ValueError):
    """The durations table or the plan cannot be read."""


@dataclass(frozen=True)
class Durations:
    default: Mapping[str, Any]
    types: Mapping[str, Mapping[str, Any]]
    rules: Mapping[str, Mapping[str, Any]]

    def of(self, typ: str, operation: str) -> tuple[float, str]:
        entry = self.types.get(typ)
        if entry is not None:
            return float(entry[operation]), str(entry["source"])
        return float(self.default[operation]), "default"


def load_durations(path: Path = DURATIONS_FILE) -> Durations:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TimelineError(f"cannot read {path}: {exc}") from None
    problems = [
        f"{path.name}: types[{t!r}] needs create, update, delete and source"
        for t, e in data.get("types", {}).items()
        if not all(k in e for k in ("create", "update", "delete", "source"))
    ]
    if not data.get("default", {}).get("source"):
        problems.append(f"{path.name}: the default needs its source")
    if problems:
        raise TimelineError("; ".join(problems))
    return Durations(data["default"], data.get("types", {}), data.get("rules", {}))


@dataclass
class Node:
    urn: str
    name: str
    type: str
    region: str | None
    seconds: float
    source: str
    start: float = 0.0
    finish: float = 0.0


@dataclass
class Timeline:
    operation: str
    nodes: dict[str, Node]
    edges: dict[str, set[str]]
    """urn -> the urns it waits for (in this operation's direction)."""
    critical_path: list[str]
    total: float
    parallel: int
    scheduled_total: float
    defaults: dict[str, int] = field(default_factory=dict)
    """type -> resources that took the stated default."""
    protected: list[str] = field(default_factory=list)
    unneeded: list[UnneededDependency] = field(default_factory=list)

    def dominating(self, count: int = 10) -> list[Node]:
        """The resources that dominate the total: those on the critical path, longest first,
        then the longest of the rest."""
        on_path = set(self.critical_path)
        ranked = sorted(
            self.nodes.values(), key=lambda n: (n.urn not in on_path, -n.seconds, n.name)
        )
        return [n for n in ranked if n.seconds > 0][:count]


@dataclass(frozen=True)
class UnneededDependency:
    dependent: str
    dependency: str
    saving: float


# Building the graph -----------------------------------------------------------------------


def _participates(r: Mapping[str, Any]) -> bool:
    return bool(r.get("custom")) or r["type"] in COMPONENTS_WITH_WORK


def _service_delete(r: Mapping[str, Any], by_urn: Mapping[str, Mapping[str, Any]]) -> float:
    delay, stop = 300.0, 30.0  # the AWS defaults (durations.json rules.ecs_service_delete)
    for d in r.get("dependencies", []):
        dep = by_urn.get(d)
        if dep is None:
            continue
        if dep["type"] == "aws:lb/targetGroup:TargetGroup":
            delay = float(dep["inputs"].get("deregistrationDelay", delay))
        if dep["type"] == "aws:ecs/taskDefinition:TaskDefinition":
            try:
                containers = json.loads(dep["inputs"].get("containerDefinitions") or "[]")
                stop = max([float(c.get("stopTimeout", 30)) for c in containers] or [stop])
            except (ValueError, TypeError, AttributeError):
                pass
    if not any(
        by_urn.get(d, {}).get("type") == "aws:lb/targetGroup:TargetGroup"
        for d in r.get("dependencies", [])
    ):
        delay = 0.0
    return delay + stop


def _duration(
    r: Mapping[str, Any],
    operation: str,
    durations: Durations,
    by_urn: Mapping[str, Mapping[str, Any]],
) -> tuple[float, str]:
    typ = r["type"]
    if operation == "delete":
        if r.get("options", {}).get("retainOnDelete"):
            return 0.0, "retained: only dropped from the state"
        if typ == "aws:ecs/service:Service":
            return _service_delete(r, by_urn), str(durations.rules["ecs_service_delete"]["source"])
        if typ == "aws:lambda/function:Function" and (r["inputs"].get("vpcConfig") or {}).get(
            "subnetIds"
        ):
            rule = durations.rules["lambda_vpc_delete"]
            return float(rule["seconds"]), str(rule["source"])
    if not r.get("custom") and typ not in durations.types:
        return 0.0, "component: no cloud call"
    return durations.of(typ, operation)


def build(
    plan: Mapping[str, Any], operation: str = "create", durations: Durations | None = None
) -> tuple[dict[str, Node], dict[str, set[str]]]:
    """Nodes and "waits for" edges of ``operation`` (create: dependencies first; delete: the
    dependents first)."""
    durations = durations or load_durations()
    resources = [r for r in plan["resources"] if _participates(r)]
    by_urn = {r["urn"]: r for r in plan["resources"]}
    nodes: dict[str, Node] = {}
    for r in resources:
        seconds, source = _duration(r, operation, durations, by_urn)
        nodes[r["urn"]] = Node(r["urn"], r["name"], r["type"], r.get("region"), seconds, source)
    waits: dict[str, set[str]] = {u: set() for u in nodes}
    for r in resources:
        before = set(r.get("dependencies", []))
        parent = by_urn.get(r.get("parent") or "")
        if parent is not None and parent.get("custom"):
            before.add(parent["urn"])
        for d in before & nodes.keys():
            if d == r["urn"]:
                continue
            if operation == "delete":
                waits[d].add(r["urn"])
            else:
                waits[r["urn"]].add(d)
    return nodes, waits


# Critical path ----------------------------------------------------------------------------


def _order(nodes: Mapping[str, Node], waits: Mapping[str, set[str]]) -> list[str]:
    remaining = {u: len(waits[u]) for u in nodes}
    dependents: dict[str, list[str]] = {u: [] for u in nodes}
    for u, before in waits.items():
        for d in before:
            dependents[d].append(u)
    ready = sorted(u for u, n in remaining.items() if n == 0)
    order: list[str] = []
    while ready:
        u = ready.pop()
        order.append(u)
        for v in dependents[u]:
            remaining[v] -= 1
            if remaining[v] == 0:
                ready.append(v)
    if len(order) != len(nodes):
        raise TimelineError("the dependency graph has a cycle")
    return order


def longest_path(
    nodes: Mapping[str, Node], waits: Mapping[str, set[str]]
) -> tuple[float, list[str]]:
    """Earliest start/finish of every node with unbounded parallelism (set on the nodes), the
    total, and the critical path (first to last)."""
    best: dict[str, str | None] = {}
    for u in _order(nodes, waits):
        node = nodes[u]
        pred = max(waits[u], key=lambda d: (nodes[d].finish, d), default=None)
        node.start = nodes[pred].finish if pred else 0.0
        node.finish = node.start + node.seconds
        best[u] = pred
    if not nodes:
        return 0.0, []
    last = max(nodes, key=lambda u: (nodes[u].finish, u))
    path = [last]
    while best[path[-1]] is not None:
        path.append(best[path[-1]])  # type: ignore[arg-type]
    return nodes[last].finish, list(reversed(path))


def list_schedule(nodes: Mapping[str, Node], waits: Mapping[str, set[str]], parallel: int) -> float:
    """Makespan with at most ``parallel`` operations at once, longest remaining path first."""
    order = _order(nodes, waits)
    dependents: dict[str, list[str]] = {u: [] for u in nodes}
    for u, before in waits.items():
        for d in before:
            dependents[d].append(u)
    tail: dict[str, float] = {}
    for u in reversed(order):
        tail[u] = nodes[u].seconds + max((tail[v] for v in dependents[u]), default=0.0)
    remaining = {u: len(waits[u]) for u in nodes}
    ready = [(-tail[u], u) for u in nodes if remaining[u] == 0]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []
    now = 0.0
    done = 0
    while done < len(nodes):
        while ready and len(running) < parallel:
            _, u = heapq.heappop(ready)
            heapq.heappush(running, (now + nodes[u].seconds, u))
        now, u = heapq.heappop(running)
        done += 1
        for v in dependents[u]:
            remaining[v] -= 1
            if remaining[v] == 0:
                heapq.heappush(ready, (-tail[v], v))
    return now


# Dependencies that cost time without need -------------------------------------------------


def _tokens(r: Mapping[str, Any]) -> set[str]:
    """Strings that appear in a dependent's inputs when it references ``r``'s outputs."""
    tokens = {str(r["urn"])}
    if r.get("id") and r["id"] != "[unknown]":
        tokens.add(str(r["id"]))
    if r.get("custom"):
        tokens.add(physical_name(r["type"], r["name"], r["urn"], dict(r.get("inputs") or {})))
    for key in ("name", "bucket", "repositoryUrl", "imageTag", "family"):
        value = (r.get("inputs") or {}).get(key)
        if isinstance(value, str) and len(value) >= 6:
            tokens.add(value)
    return {t for t in tokens if t}


def explicit_dependencies(plan: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(dependent, dependency) pairs with no input reference and no recorded ordering rule."""
    by_urn = {r["urn"]: r for r in plan["resources"]}
    result = []
    for r in plan["resources"]:
        text = json.dumps(r.get("inputs") or {}, sort_keys=True)
        for d in r.get("dependencies", []):
            dep = by_urn.get(d)
            if dep is None or (r["type"], dep["type"]) in ORDERING_RULES:
                continue
            if not any(t in text for t in _tokens(dep)):
                result.append((r["urn"], d))
    return result


def unneeded_dependencies(
    plan: Mapping[str, Any],
    nodes: dict[str, Node],
    waits: dict[str, set[str]],
    total: float,
    path: list[str],
    operation: str,
) -> list[UnneededDependency]:
    """Explicit dependencies without an input reference or ordering rule whose removal would
    shorten the critical path, with the time saved."""
    on_path = set(path)
    found = []
    for dependent, dependency in explicit_dependencies(plan):
        a, b = (dependent, dependency) if operation == "create" else (dependency, dependent)
        if a not in on_path or b not in on_path or b not in waits.get(a, set()):
            continue
        waits[a].discard(b)
        shorter, _ = longest_path(nodes, waits)
        waits[a].add(b)
        if shorter < total - 1e-9:
            found.append(UnneededDependency(dependent, dependency, total - shorter))
    longest_path(nodes, waits)  # restore the nodes' start/finish
    return sorted(found, key=lambda u: -u.saving)


def timeline(
    plan: Mapping[str, Any],
    destroy: bool = False,
    parallel: int = UNBOUNDED,
    durations: Durations | None = None,
) -> Timeline:
    operation = "delete" if destroy else "create"
    nodes, waits = build(plan, operation, durations)
    total, path = longest_path(nodes, waits)
    unneeded = unneeded_dependencies(plan, nodes, waits, total, path, operation)
    scheduled = total if parallel >= len(nodes) else list_schedule(nodes, waits, parallel)
    longest_path(nodes, waits)
    defaults: dict[str, int] = {}
    for n in nodes.values():
        if n.source == "default":
            defaults[n.type] = defaults.get(n.type, 0) + 1
    protected = [
        r["urn"] for r in plan["resources"] if destroy and r.get("options", {}).get("protect")
    ]
    return Timeline(
        "destroy" if destroy else "up",
        nodes,
        waits,
        path,
        total,
        parallel,
        scheduled,
        defaults,
        protected,
        unneeded,
    )


def minutes(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s"


def describe(items: Iterable[Node]) -> list[str]:
    return [f"{n.name} ({n.type}, {n.region or '-'}): {minutes(n.seconds)}" for n in items]
