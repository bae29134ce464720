"""``python -m stacks timeline``: critical path arithmetic on hand-made graphs with known
answers, the duration table's sources, unneeded dependencies, the SVG, and both real stacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from stacks.offline import PROJECT_DIR
from stacks.timeline import (
    Durations,
    build,
    list_schedule,
    load_durations,
    longest_path,
    render_svg,
    timeline,
)
from stacks.timeline.graph import UNBOUNDED, explicit_dependencies

DUR = Durations(
    default={"create": 1, "update": 1, "delete": 1, "source": "test default"},
    types={
        "t:a:A": {"create": 10, "update": 1, "delete": 4, "source": "s"},
        "t:b:B": {"create": 20, "update": 1, "delete": 3, "source": "s"},
        "t:c:C": {"create": 50, "update": 1, "delete": 2, "source": "s"},
        "t:d:D": {"create": 5, "update": 1, "delete": 1, "source": "s"},
    },
    rules=load_durations().rules,
)


def _r(
    name: str, typ: str, deps: list[str] = (), inputs: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:  # type: ignore[assignment]
    return {
        "urn": f"urn:pulumi:s::p::{typ}::{name}",
        "name": name,
        "type": typ,
        "custom": True,
        "region": "r-1",
        "id": f"id-{name}",
        "inputs": inputs or {},
        "parent": None,
        "dependencies": [f"urn:pulumi:s::p::{d}" for d in deps],
        "options": extra.get("options", {}),
    }


# A -> B -> D and A -> C -> D; D references B and C by id, B and C reference A.
DIAMOND = {
    "resources": [
        _r("a", "t:a:A"),
        _r("b", "t:b:B", ["t:a:A::a"], {"x": "id-a"}),
        _r("c", "t:c:C", ["t:a:A::a"], {"x": "id-a"}),
        _r("d", "t:d:D", ["t:b:B::b", "t:c:C::c"], {"x": ["id-b", "id-c"]}),
    ]
}


def test_critical_path_of_a_diamond() -> None:
    t = timeline(DIAMOND, durations=DUR)
    assert t.total == 65  # a 10 + c 50 + d 5
    assert [t.nodes[u].name for u in t.critical_path] == ["a", "c", "d"]
    assert t.nodes[t.critical_path[-1]].start == 60


def test_destroy_walks_the_graph_backwards_with_delete_durations() -> None:
    t = timeline(DIAMOND, destroy=True, durations=DUR)
    assert [t.nodes[u].name for u in t.critical_path] == ["d", "b", "a"]
    assert t.total == 1 + 3 + 4


def test_bounded_parallelism() -> None:
    nodes, waits = build(DIAMOND, "create", DUR)
    assert list_schedule(nodes, waits, 1) == 85  # one at a time: the sum
    assert list_schedule(nodes, waits, 2) == 65  # b and c side by side
    longest_path(nodes, waits)
    assert timeline(DIAMOND, parallel=1, durations=DUR).scheduled_total == 85
    assert timeline(DIAMOND, durations=DUR).parallel == UNBOUNDED


def test_depends_on_without_input_reference_that_lengthens_the_path_is_flagged() -> None:
    plan = {
        "resources": [
            _r("a", "t:a:A"),
            _r("c", "t:c:C"),
            _r("d", "t:d:D", ["t:a:A::a", "t:c:C::c"], {"x": "id-a"}),  # c only by depends_on
        ]
    }
    assert explicit_dependencies(plan) == [
        ("urn:pulumi:s::p::t:d:D::d", "urn:pulumi:s::p::t:c:C::c")
    ]
    t = timeline(plan, durations=DUR)
    (flag,) = t.unneeded
    # 55 (c 50 then d 5) -> 50: c still runs, but d no longer waits for it.
    assert flag.dependency.endswith("::c") and flag.saving == 5
    # Once d reads c's id the dependency is needed.
    plan["resources"][2]["inputs"] = {"x": ["id-a", "id-c"]}
    assert timeline(plan, durations=DUR).unneeded == []


def test_an_ordering_rule_justifies_a_dependency_without_reference() -> None:
    policy = _r("p", "aws:iam/rolePolicy:RolePolicy")
    service = _r("s", "aws:ecs/service:Service", ["aws:iam/rolePolicy:RolePolicy::p"])
    assert explicit_dependencies({"resources": [policy, service]}) == []


def test_slow_deletes_lambda_in_a_vpc_and_a_draining_service() -> None:
    rules = load_durations().rules
    subnet = _r("subnet", "aws:ec2/subnet:Subnet")
    fn = _r(
        "fn",
        "aws:lambda/function:Function",
        ["aws:ec2/subnet:Subnet::subnet"],
        {"vpcConfig": {"subnetIds": ["id-subnet"]}},
    )
    tg = _r("tg", "aws:lb/targetGroup:TargetGroup", inputs={"deregistrationDelay": 120})
    svc = _r(
        "svc", "aws:ecs/service:Service", ["aws:lb/targetGroup:TargetGroup::tg"], {"x": "id-tg"}
    )
    t = timeline({"resources": [subnet, fn, tg, svc]}, destroy=True, durations=DUR)
    by_name = {n.name: n for n in t.nodes.values()}
    assert by_name["fn"].seconds == rules["lambda_vpc_delete"]["seconds"]
    assert by_name["svc"].seconds == 120 + 30
    assert t.total == rules["lambda_vpc_delete"]["seconds"] + 1  # then the subnet
    retained = _r("kept", "t:a:A", options={"retainOnDelete": True})
    assert timeline({"resources": [retained]}, destroy=True, durations=DUR).total == 0


def test_every_duration_has_a_source() -> None:
    data = json.loads((PROJECT_DIR / "stacks" / "timeline" / "durations.json").read_text())
    assert data["default"]["source"]
    for typ, entry in data["types"].items():
        assert entry["source"] and {"create", "update", "delete"} <= entry.keys(), typ
    for name, rule in data["rules"].items():
        assert rule["source"] and rule["date"], name


def test_svg_gantt_chart_is_well_formed() -> None:
    t = timeline(DIAMOND, durations=DUR)
    root = ET.fromstring(render_svg(t))
    bars = [
        e
        for e in root.iter("{http://www.w3.org/2000/svg}rect")
        if e.find("{http://www.w3.org/2000/svg}title") is not None
    ]
    assert len(bars) == 4 and sum(1 for b in bars if b.get("fill") == "#c0392b") == 3


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_real_plans_give_a_connected_critical_path(stack: str) -> None:
    plan = json.loads((PROJECT_DIR / "tests" / "golden" / f"plan-{stack}.json").read_text())
    for destroy in (False, True):
        t = timeline(plan, destroy=destroy)
        assert t.total > 0 and t.critical_path
        for before, after in zip(t.critical_path, t.critical_path[1:], strict=False):
            assert before in t.edges[after]
        assert t.total == pytest.approx(sum(t.nodes[u].seconds for u in t.critical_path))
        in_vpc = any(
            r["type"] == "aws:lambda/function:Function"
            and (r["inputs"].get("vpcConfig") or {}).get("subnetIds")
            for r in plan["resources"]
        )
        if destroy and in_vpc:
            assert t.total >= load_durations().rules["lambda_vpc_delete"]["seconds"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_timeline_command_on_the_real_stacks(
    stack: str, tmp_path: Path, shared_render, capsys: pytest.CaptureFixture[str]
) -> None:
    """In-process, the stack from the session's render (conftest ``shared_render``)."""
    from stacks.cli import main

    svg = tmp_path / "gantt.svg"
    assert main(["timeline", stack, "--destroy", "--svg", str(svg)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "critical path" in out and "Resources that dominate" in out
    assert out.rstrip().endswith(f"Gantt chart written to {svg}")
    ET.fromstring(svg.read_text())


@pytest.mark.subprocess
def test_timeline_command_as_a_process(dev_plan, tmp_path: Path) -> None:
    """The command as a user runs it (exit code, stdout only), on a plan file so that the
    process does not render the stack again."""
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(dev_plan.to_json(), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    result = subprocess.run(
        [sys.executable, "-m", "stacks", "timeline", "--plan", str(plan_file), "--destroy"],
        cwd=PROJECT_DIR,
        env=env,
        text=True,
        capture_output=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and "critical path" in result.stdout
