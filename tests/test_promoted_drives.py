"""``mlops:resilience.promotedDrives``: after a failover, the standby keeps its promoted drive.

The runbook deletes the shared drive's EFS replication to make the standby's replica writable.
Without this key the next ``up`` (which refreshes first) would declare the replication again:
EFS would create a new, empty, read-only replica, and every resource built on the replica's id
(mount targets, access point, backup policy, file system policy, the launch template's mount)
would be replaced onto it, cutting NFS for the now-active standby. With the pool listed, the
replication is not declared and the standby mounts the promoted drive by the same id, so the
diff from the deployed plan removes only the (already deleted) replication.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pool_render import render  # tests/pool_render.py
from render_cache import render_config  # tests/render_cache.py

from components.compute import SharedFileSystem
from stacks.config import ConfigError, parse_raw_config
from stacks.failover.run import Result, Switch, manual_steps
from stacks.failover.steps import RegionRun
from stacks.offline import PROJECT_DIR, Plan
from stacks.plan_diff.model import diff_plans
from stacks.standby_document import Inventory, PoolRef

REPLICATION = "aws:efs/replicationConfiguration:ReplicationConfiguration"
EFS = "aws:efs/fileSystem:FileSystem"
BUILT_ON_THE_DRIVE = (
    "aws:efs/mountTarget:MountTarget",
    "aws:efs/accessPoint:AccessPoint",
    "aws:efs/backupPolicy:BackupPolicy",
    "aws:efs/fileSystemPolicy:FileSystemPolicy",
    "aws:ec2/launchTemplate:LaunchTemplate",
)
KEY = "mlops:resilience.promotedDrives"


def flat(config: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def prod_config() -> dict[str, Any]:
    text = (PROJECT_DIR / "Pulumi.prod.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text)["config"])


def problems_of(config: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_raw_config(flat(config))
    return info.value.problems


def in_region(plan: Plan, typ: str, region: str) -> list[dict[str, Any]]:
    return [r for r in plan.of_type(typ) if r["region"] == region]


# -- the stack: before and after promotion ------------------------------------------------------


@pytest.fixture(scope="module")
def promotion(
    prod_plan: Plan, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Plan, Plan, str, str]:
    """prod as deployed (replication declared; the session's render of the real stack file),
    then with its pool's replica promoted under the id the replication's output had:
    (before, after, pool, replica id)."""
    config = prod_config()
    before = prod_plan
    secondary = config["mlops:regions"][1]["name"]
    (pool,) = [p["name"] for p in config["mlops:compute"]["pools"] if p.get("efs")]
    targets = in_region(before, "aws:efs/mountTarget:MountTarget", secondary)
    (replica,) = {t["inputs"]["fileSystemId"] for t in targets}
    config["mlops:resilience"] = {
        **(config.get("mlops:resilience") or {}),
        "promotedDrives": {pool: replica},
    }
    after = render_config(config, tmp_path_factory, stack="prod")  # the same URNs as before
    return before, after, pool, replica


def test_a_promoted_drive_declares_no_replication(
    promotion: tuple[Plan, Plan, str, str],
) -> None:
    before, after, _, _ = promotion
    assert len(before.of_type(REPLICATION)) == 1
    assert after.of_type(REPLICATION) == []
    # The primary keeps its own drive (failback replicates the promoted one back into it).
    assert [r["inputs"] for r in after.of_type(EFS)] == [r["inputs"] for r in before.of_type(EFS)]


def test_the_standby_keeps_mounting_the_promoted_drive_unchanged(
    promotion: tuple[Plan, Plan, str, str],
) -> None:
    before, after, _, replica = promotion
    for typ in BUILT_ON_THE_DRIVE:
        old = {r["urn"]: r["inputs"] for r in before.of_type(typ)}
        new = {r["urn"]: r["inputs"] for r in after.of_type(typ)}
        assert new == old, typ
    targets = after.of_type("aws:efs/mountTarget:MountTarget")
    assert replica in {t["inputs"]["fileSystemId"] for t in targets}


def test_the_diff_removes_only_the_deleted_replication(
    promotion: tuple[Plan, Plan, str, str],
) -> None:
    """What `up` would do after the runbook's deletion: nothing is replaced or updated."""
    before, after, _, _ = promotion
    diff = diff_plans(before.to_dict(), after.to_dict())

    assert [(r.action, r.type) for r in diff.resources] == [("remove", REPLICATION)]


def test_recovery_objectives_say_the_promoted_drive_has_no_copy(
    promotion: tuple[Plan, Plan, str, str],
) -> None:
    _, after, pool, _ = promotion
    rows = {o["capability"]: o for o in after.to_dict()["outputs"]["recovery"]["objectives"]}
    drive = rows[f"shared drive ({pool})"]
    assert drive["copy"].startswith("none while promoted")
    assert "15 min" not in drive["rpo"]


# -- configuration errors: one message naming the key --------------------------------------------


def with_promoted(drives: Any, **resilience: Any) -> dict[str, Any]:
    config = prod_config()
    config["mlops:resilience"] = {**resilience, "promotedDrives": drives}
    return config


def test_promoted_drives_are_accepted_and_typed() -> None:
    cfg = parse_raw_config(flat(with_promoted({"datascience": "fs-0123456789abcdef0"})))
    assert cfg.resilience.promoted_drives == {"datascience": "fs-0123456789abcdef0"}
    assert parse_raw_config(flat(prod_config())).resilience.promoted_drives == {}


@pytest.mark.parametrize(
    "value",
    ["fs-XYZ", "fs-0123", "0123456789abcdef0", "arn:aws:elasticfilesystem:eu-central-1:1:fs-0a"],
)
def test_a_promoted_drive_must_be_an_efs_id(value: str) -> None:
    problems = problems_of(with_promoted({"datascience": value}))
    assert problems == [
        f"{KEY}.datascience: {value!r} is not an EFS file system id such as "
        "'fs-0123456789abcdef0' ('fs-' and 8 to 40 lowercase hexadecimal digits; the id, not "
        "the ARN)"
    ]


def test_a_promoted_drive_must_name_a_pool() -> None:
    problems = problems_of(with_promoted({"notebooks": "fs-0123456789abcdef0"}))
    assert problems == [
        f"{KEY}.notebooks: 'notebooks' is not a pool of mlops:compute.pools (pools: "
        "['datascience']); name the pool whose standby mounts the promoted drive"
    ]


def test_a_promoted_drive_needs_a_pool_with_a_shared_drive() -> None:
    config = with_promoted({"datascience": "fs-0123456789abcdef0"})
    config["mlops:compute"]["pools"][0]["efs"] = False
    assert problems_of(config) == [
        f"{KEY}.datascience: pool 'datascience' has no shared drive (mlops:compute.pools entry "
        "without efs: true); remove the entry"
    ]


def test_a_promoted_drive_needs_standby_pools() -> None:
    config = with_promoted({"datascience": "fs-0123456789abcdef0"}, standbyPools=False)
    assert problems_of(config) == [
        f"{KEY}: mlops:resilience.standbyPools is not true, so no standby pool mounts a "
        "promoted drive; remove promotedDrives or turn standbyPools on"
    ]


def test_two_pools_cannot_promote_the_same_drive() -> None:
    config = with_promoted({"datascience": "fs-0123456789abcdef0", "gpu": "fs-0123456789abcdef0"})
    config["mlops:compute"]["pools"].append({**config["mlops:compute"]["pools"][0], "name": "gpu"})
    problems = problems_of(config)
    assert problems == [
        f"{KEY}.gpu: 'fs-0123456789abcdef0' is already given for {KEY}.datascience; each "
        "pool's standby mounts its own promoted drive"
    ]


def test_a_bad_promoted_drive_exits_2_without_a_traceback(
    project_with: Callable[..., Path],
    stack_config: Callable[[str], dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``plan`` run in-process (its exit code and stderr as ``python -m stacks`` gives them;
    tests/test_config_limits.py runs the process itself)."""
    from stacks.cli import main

    config = stack_config("prod")
    config["mlops:resilience"] = {"promotedDrives": {"datascience": "fs-nothex"}}
    root = project_with(config)
    assert main(["plan", "test", "--project-dir", str(root)]) == 2
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr
    assert f"{KEY}.datascience: 'fs-nothex' is not an EFS file system id" in stderr


# -- the component -------------------------------------------------------------------------------


def render_pool(spec: SharedFileSystem) -> Plan:
    """A standby pool mounting ``spec`` (tests/pool_render.py)."""
    return render(standby=True, shared_file_system=spec)


@pytest.mark.parametrize("value", ["fs-XYZ", "arn:aws:elasticfilesystem:eu-west-1:1:fs-0a"])
def test_a_standby_refuses_a_drive_id_that_is_not_an_efs_id(value: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"replica_file_system_id: {value!r} is not")):
        render_pool(SharedFileSystem(replica_file_system_id=value))


def test_the_component_id_rule_is_the_id_form_of_botocores_pattern() -> None:
    """The EFS API's own pattern: an ARN or ``fs-`` + 8-40 hex; the pool takes the id form."""
    from components.compute.shared_drive import EFS_FILE_SYSTEM_ID_RE
    from stacks.config.resilience import efs_file_system_id_pattern

    pattern = efs_file_system_id_pattern()
    alternatives = pattern.removeprefix("^(").removesuffix(")$").split("|")
    assert EFS_FILE_SYSTEM_ID_RE.pattern in alternatives
    assert all(a.startswith("arn:") for a in alternatives if a != EFS_FILE_SYSTEM_ID_RE.pattern)


# -- the runbook the failover command prints -----------------------------------------------------


def printed(command: str) -> str:
    switch = Switch(
        command=command,
        stack="prod",
        environment="prod",
        regions=("eu-west-1", "eu-central-1"),
        target="eu-central-1" if command == "failover" else "eu-west-1",
    )
    run = RegionRun("eu-central-1", "prod", clients=None, dry_run=False)  # type: ignore[arg-type]
    pool = PoolRef("datascience", "g", min_size=2, max_size=6, desired_capacity=2, standby=True)
    run.inventory = Inventory(environment="prod", region="eu-central-1", pools=(pool,))
    result = Result(switch, runs=[run])
    return "\n".join(manual_steps(result))


def test_failover_tells_the_operator_to_set_promoted_drives_before_the_next_up() -> None:
    text = printed("failover")
    assert "delete-replication-configuration" in text
    assert "mlops:resilience.promotedDrives.<pool>: <replica id>" in text
    assert text.index("delete-replication-configuration") < text.index("promotedDrives")


def test_failback_lists_the_drive_steps_in_order() -> None:
    text = printed("failback")
    steps = [
        "(1) ",
        "(2) ",
        "(3) this failback",
        "(4) remove the `mlops:resilience.promotedDrives`",
        "(5) ",
    ]
    positions = [text.index(s) for s in steps]
    assert positions == sorted(positions)
