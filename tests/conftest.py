"""Shared fixtures: the real stack files rendered through the offline engine."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.offline import PROJECT_DIR, Plan, render_stack

STACKS = ("dev", "prod")


@pytest.fixture(scope="session")
def plans() -> dict[str, Plan]:
    """dev and prod, rendered once per test session from the real stack files."""
    return {name: render_stack(name) for name in STACKS}


@pytest.fixture(scope="session")
def dev_plan(plans: dict[str, Plan]) -> Plan:
    return plans["dev"]


@pytest.fixture(scope="session")
def prod_plan(plans: dict[str, Plan]) -> Plan:
    return plans["prod"]


@pytest.fixture(params=STACKS)
def stack_plan(request: pytest.FixtureRequest, plans: dict[str, Plan]) -> Plan:
    """Each real stack in turn."""
    return plans[request.param]


@pytest.fixture
def stack_config() -> Callable[[str], dict[str, Any]]:
    """The ``config:`` mapping of a real stack file, as a fresh dict to modify."""

    def load(stack: str = "dev") -> dict[str, Any]:
        text = (PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
        return dict(yaml.safe_load(text)["config"])

    return load


@pytest.fixture
def project_with(tmp_path: Path) -> Callable[..., Path]:
    """A throwaway project directory with ``Pulumi.yaml`` and one stack file."""

    def make(
        config: dict[str, Any] | None = None, stack: str = "test", raw: str | None = None
    ) -> Path:
        shutil.copy(PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
        path = tmp_path / f"Pulumi.{stack}.yaml"
        if raw is not None:
            path.write_text(raw, encoding="utf-8")
        else:
            path.write_text(yaml.safe_dump({"config": config}), encoding="utf-8")
        return tmp_path

    return make


def policy_documents(plan: Plan) -> list[tuple[str, str, dict[str, Any]]]:
    """Every IAM-style policy document in a plan: (urn, input key, parsed document)."""
    keys = ("policy", "assumeRolePolicy", "accessPolicy")
    found = []
    for r in plan.resources:
        for key in keys:
            value = r["inputs"].get(key)
            if isinstance(value, str) and value.strip().startswith("{"):
                found.append((r["urn"], key, json.loads(value)))
    return found
