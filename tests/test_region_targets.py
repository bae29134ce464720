"""``python -m stacks preview|up|refresh <stack> --region R``: the targets come from the
offline plan (the region's component tree, its provider and what depends on them), so a
deploy to the healthy region needs nothing of the other; a targeted ``up`` that would delete
a protected resource is refused before it starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from stacks import delivery
from stacks.delivery import EXIT_FAILED, EXIT_OK, EXIT_USAGE, OperationRequest, run_operation
from stacks.offline import Plan
from stacks.region_targets import (
    RegionTargetError,
    protected_deletions,
    region_own_urns,
    region_target_urns,
)

ACCOUNT = "210987654321"


def _descends_from(plan: Plan, urn: str, root: str) -> bool:
    parents = {r["urn"]: r["parent"] for r in plan.resources}
    current: str | None = urn
    while current:
        if current == root:
            return True
        current = parents.get(current)
    return False


def test_targets_are_the_regions_tree_its_provider_and_its_dependents(prod_plan: Plan) -> None:
    plan = prod_plan.to_dict()
    targets = set(region_target_urns(plan, ["eu-central-1"]))
    (root,) = [
        r["urn"]
        for r in prod_plan.resources
        if r["type"] == "mlops:stacks:RegionalPlatform" and r["name"] == "eu-central-1"
    ]
    tree = {r["urn"] for r in prod_plan.resources if _descends_from(prod_plan, r["urn"], root)}
    assert tree <= targets
    provider = "urn:pulumi:prod::mlops-platform::pulumi:providers:aws::aws-eu-central-1"
    assert provider in targets
    assert "urn:pulumi:prod::mlops-platform::pulumi:providers:aws::aws-eu-west-1" not in targets
    # Outside the tree only what depends on a target (e.g. the trail logging this region's
    # lake buckets) and the components holding those.
    by_urn = {r["urn"]: r for r in prod_plan.resources}
    for urn in targets - tree - {provider}:
        r = by_urn[urn]
        assert not r["custom"] or set(r["dependencies"]) & targets, urn
    # The other region's network is not touched.
    assert not [u for u in targets if u.endswith("::eu-west-1-network-vpc")]
    assert [u for u in targets if u.endswith("::eu-central-1-network-vpc")]


def test_both_regions_target_every_regional_resource(prod_plan: Plan) -> None:
    targets = set(region_target_urns(prod_plan.to_dict(), ["eu-west-1", "eu-central-1"]))
    custom = {r["urn"] for r in prod_plan.resources if r["custom"]}
    assert custom <= targets


def test_an_unknown_region_is_refused_naming_the_known_ones(prod_plan: Plan) -> None:
    with pytest.raises(RegionTargetError) as info:
        region_target_urns(prod_plan.to_dict(), ["us-east-2"])
    assert str(info.value) == (
        "--region us-east-2: not a region of this stack (its regions: eu-central-1, eu-west-1)"
    )


def _event(op: str, urn: str, protect: bool) -> dict[str, Any]:
    return {"resource_pre_event": {"metadata": {"op": op, "urn": urn, "old": {"protect": protect}}}}


def test_protected_deletions_are_found_in_the_preview_events() -> None:
    events = [
        _event("delete", "urn:a", True),
        _event("replace", "urn:b", True),
        _event("delete", "urn:c", False),
        _event("update", "urn:d", True),
        {"summary_event": {}},
    ]
    assert protected_deletions(events) == ["urn:a", "urn:b"]


@dataclass
class TargetedStack:
    """A stand-in for auto.Stack recording targets and answering preview events."""

    preview_events: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def _run(self, name: str, kwargs: dict[str, Any]) -> Any:
        self.calls.append((name, {k: v for k, v in kwargs.items() if k.startswith("target")}))
        for event in self.preview_events if name == "preview" else []:
            kwargs["on_event"](event)
        return None

    def preview(self, **kwargs: Any) -> Any:
        return self._run("preview", kwargs)

    def up(self, **kwargs: Any) -> Any:
        return self._run("up", kwargs)

    def refresh(self, **kwargs: Any) -> Any:
        return self._run("refresh", kwargs)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: mlops-platform\nruntime: python\n")
    (tmp_path / "Pulumi.prod.yaml").write_text(
        f'config:\n  mlops:environment: prod\n  mlops:allowedAccountIds: ["{ACCOUNT}"]\n'
    )
    return tmp_path


def _run(project: Path, stack: TargetedStack, operation: str, own: tuple[str, ...] = ()) -> int:
    request = OperationRequest(
        operation,  # type: ignore[arg-type]
        "prod",
        project,
        targets=("urn:x", "urn:y"),
        refresh_targets=own,
    )
    return run_operation(
        request,
        environ={"PULUMI_CONFIG_PASSPHRASE": "correct horse"},
        which=lambda name: f"/opt/bin/{name}",
        selector=lambda *a: stack,
    )


@pytest.mark.parametrize("operation", ["preview", "refresh"])
def test_targets_reach_the_engine(project: Path, operation: str) -> None:
    stack = TargetedStack()
    assert _run(project, stack, operation) == EXIT_OK
    assert stack.calls == [(operation, {"target": ["urn:x", "urn:y"], "target_dependents": True})]


def test_a_targeted_up_previews_first_and_runs_when_nothing_protected_goes(project) -> None:
    stack = TargetedStack(preview_events=[_event("delete", "urn:z", False)])
    assert _run(project, stack, "up") == EXIT_OK
    assert [name for name, _ in stack.calls] == ["preview", "up"]


def test_a_targeted_up_that_would_delete_a_protected_resource_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = TargetedStack(preview_events=[_event("delete", "urn:pulumi:prod::p::t::bucket", True)])
    assert _run(project, stack, "up") == EXIT_FAILED
    assert [name for name, _ in stack.calls] == ["preview"]
    err = capsys.readouterr().err
    assert "refused: the update would delete or replace 1 protected resource(s)" in err
    assert "urn:pulumi:prod::p::t::bucket" in err
    assert "switch the active region instead" in err


def test_cli_region_flag_computes_targets_from_the_offline_plan(monkeypatch, shared_render) -> None:
    # The offline plan is the session's render of prod (conftest ``shared_render``).
    seen: list[OperationRequest] = []
    monkeypatch.setattr(delivery, "run_operation", lambda request: seen.append(request) or 0)
    from stacks.cli import main

    assert main(["preview", "prod", "--region", "eu-central-1"]) == EXIT_OK
    (request,) = seen
    assert any(u.endswith("RegionalPlatform::eu-central-1") for u in request.targets)
    assert not any(u.endswith("::eu-west-1-network-vpc") for u in request.targets)
    assert request.refresh_targets and set(request.refresh_targets) < set(request.targets)
    assert main(["up", "prod", "--region", "mars-1"]) == EXIT_USAGE


def test_reordering_the_regions_lists_the_primarys_protected_pieces_moving(
    prod_plan: Plan, project_with, stack_config
) -> None:
    """Moving the primary (reordering mlops:regions) deletes the old primary's global pieces
    and creates them in the new one: the diff lists those moves, protected ones flagged, so
    a reviewer sees what a targeted `up` would refuse."""
    from stacks.offline import render_stack
    from stacks.plan_diff import diff_plans

    config = stack_config("prod")
    config["mlops:regions"] = list(reversed(config["mlops:regions"]))
    moved = render_stack("prod", project_with(config, stack="prod"))
    diff = diff_plans(prod_plan.to_dict(), moved.to_dict())
    deleted = {c.name: c for c in diff.resources if c.action == "remove"}
    created = {c.name for c in diff.resources if c.action == "add"}
    assert deleted["eu-west-1-audit-trail"].protected
    assert "eu-central-1-audit-trail" in created
    # The validation record moves with the primary too (one owner, in the new primary).
    assert "eu-west-1-entry-cert-record" in deleted
    assert "eu-central-1-entry-cert-record" in created


def test_a_region_scoped_refresh_never_reads_another_region(prod_plan: Plan) -> None:
    """The global tables in the primary depend on the secondary's key, so a --region of the
    secondary targets them; reading them would call the primary's API, which may be down."""
    plan = prod_plan.to_dict()
    by_urn = {r["urn"]: r for r in plan["resources"]}
    targets = set(region_target_urns(plan, ["eu-central-1"]))
    own = set(region_own_urns(plan, ["eu-central-1"]))
    assert own < targets
    elsewhere = {
        u for u in targets if by_urn[u]["custom"] and by_urn[u]["region"] != "eu-central-1"
    }
    assert any(by_urn[u]["type"] == "aws:dynamodb/table:Table" for u in elsewhere)
    assert not own & elsewhere
    assert all(
        by_urn[u]["region"] == "eu-central-1"
        for u in own
        if by_urn[u]["custom"] and not by_urn[u]["type"].startswith("pulumi:providers:")
    )


def test_a_targeted_up_refreshes_only_the_regions_own_resources_first(project: Path) -> None:
    stack = TargetedStack()
    assert _run(project, stack, "up", own=("urn:x",)) == EXIT_OK
    assert stack.calls[0] == ("refresh", {"target": ["urn:x"]})
    assert [name for name, _ in stack.calls] == ["refresh", "preview", "up"]
    # ... and the up itself does not refresh again (that would read every target).
    assert stack.calls[2] == ("up", {"target": ["urn:x", "urn:y"], "target_dependents": True})


def test_a_targeted_refresh_reads_only_the_regions_own_resources(project: Path) -> None:
    stack = TargetedStack()
    assert _run(project, stack, "refresh", own=("urn:x",)) == EXIT_OK
    assert stack.calls == [("refresh", {"target": ["urn:x"]})]
