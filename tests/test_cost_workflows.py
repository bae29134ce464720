"""The cost in CI: the PR workflow comments the cost change next to the plan diff, the nightly
workflow and the destroy command print what the night saves."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks import delivery
from stacks.offline import PROJECT_DIR

WORKFLOWS = PROJECT_DIR / ".github" / "workflows"


def _steps(workflow: str, job: str) -> list[dict[str, Any]]:
    document = yaml.safe_load((WORKFLOWS / workflow).read_text())
    return document["jobs"][job]["steps"]


def test_pr_workflow_comments_the_cost_diff_of_each_stack() -> None:
    steps = _steps("pr.yml", "plan")
    names = [s.get("name") for s in steps]
    diff = steps[names.index("Cost diff")]
    assert (
        'python -m stacks cost --diff "base-$STACK.json" "plan-$STACK.json" --format markdown'
        in diff["run"]
    )
    comment = steps[names.index("Comment the cost diff on the PR")]
    assert comment["with"]["path"] == "cost-diff-${{ matrix.stack }}.md"
    assert (
        names.index("Offline plan (base branch)")
        < names.index("Cost diff")
        < names.index("Comment the cost diff on the PR")
    )


def test_nightly_prints_what_the_night_saves_after_the_destroy() -> None:
    steps = _steps("nightly.yml", "destroy-dev")
    runs = [str(s.get("run", "")) for s in steps]
    destroy = next(i for i, r in enumerate(runs) if "stacks destroy dev" in r)
    night = next(i for i, r in enumerate(runs) if "stacks cost dev --night" in r)
    assert destroy < night


@pytest.mark.parametrize(("code", "printed"), [(0, True), (1, False)])
def test_destroy_prints_the_night_saving_only_when_it_succeeded(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], code: int, printed: bool
) -> None:
    monkeypatch.setattr(delivery, "run_operation", lambda request: code)
    seen: list[tuple[str, Path]] = []

    def saving(stack: str, project_dir: Path) -> str:
        seen.append((stack, project_dir))
        return "Destroying at ... saves $1.23 until the rebuild"

    monkeypatch.setattr("stacks.cost.cli.night_saving_text", saving)
    args = argparse.Namespace(stack="dev", project_dir=str(PROJECT_DIR), yes=True)
    assert delivery.destroy_command(args) == code
    assert ("saves $1.23" in capsys.readouterr().out) is printed
    assert bool(seen) is printed


def test_a_failing_estimate_never_fails_the_destroy(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(delivery, "run_operation", lambda request: 0)

    def broken(stack: str, project_dir: Path) -> str:
        raise RuntimeError("no plan")

    monkeypatch.setattr("stacks.cost.cli.night_saving_text", broken)
    assert (
        delivery.destroy_command(argparse.Namespace(stack="dev", project_dir=None, yes=True)) == 0
    )
    assert "no cost estimate of the night: no plan" in capsys.readouterr().out
