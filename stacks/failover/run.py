"""``failover``/``failback``: make one region the active one, region by region.

Order (the target first: in an outage it is the region that matters, and an unreachable
old region then costs its timeout only after the target is active):

1. Target region: read its inventory; check each global table's local replica is ACTIVE
   and each lake bucket answers; scale its pools to the inventory sizes (instances take
   minutes to boot, so they start early); enable its schedules and rules; then, only when
   every step above reached its state, write the active-region parameter there.
2. Every other region, only once the target is active (a failed target step never leaves
   the stack with no active region): read its inventory; disable its schedules and rules;
   failback also scales its standby pools to zero, failover with ``--stop-old-pools`` every
   pool; write the active-region parameter.
   A region that cannot be reached is reported, not fatal: re-run the command after it
   comes back.

Exit codes: 0 the target is active (``--dry-run``: every read succeeded), 1 a step failed
(the target unreachable included, or a reachable other region that could not be switched
off), 2 bad input, 3 no credentials.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from stacks.failover.clients import Clients
from stacks.failover.steps import (
    CHANGED,
    SKIPPED,
    UNCHANGED,
    UNREACHABLE,
    WARNING,
    RegionRun,
    Step,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NO_CREDENTIALS = 3


@dataclass(frozen=True)
class Switch:
    """What one run of the command does."""

    command: str
    """"failover" or "failback"."""
    stack: str
    environment: str
    regions: tuple[str, ...]
    target: str
    dry_run: bool = False
    standby_to_zero: bool = False
    """failback: scale the other regions' standby pools (inventory standby=true) to zero."""
    stop_old_pools: bool = False
    """failover --stop-old-pools: scale every pool of the other regions to zero, so users
    stop writing to the old region's shared drive (whose writes the new region's replica
    does not receive once it is made writable)."""
    dns: bool = False
    airflow: bool = False
    primary: str = ""


@dataclass
class Result:
    """Every region's steps, and whether the target became active."""

    switch: Switch
    runs: list[RegionRun] = field(default_factory=list)
    target_active: bool = False

    @property
    def standby_pools(self) -> bool:
        """Whether any region read has a standby pool (and so a replica of the shared drive)."""
        return any(
            p.standby for run in self.runs if run.inventory is not None for p in run.inventory.pools
        )

    @property
    def steps(self) -> list[Step]:
        return [s for run in self.runs for s in run.steps]

    @property
    def unreachable(self) -> list[str]:
        return [r.region for r in self.runs if r.down is not None]

    @property
    def exit_code(self) -> int:
        if not self.target_active or any(r.failed for r in self.runs):
            return EXIT_FAILED
        return EXIT_OK


def switch_regions(switch: Switch, clients: Clients) -> Result:
    """Run the switch; every step is recorded in the result."""
    result = Result(switch)
    target = RegionRun(switch.target, switch.environment, clients, switch.dry_run)
    result.runs.append(target)
    inventory = target.read_inventory()
    if inventory is not None:
        for name in inventory.tables:
            target.table(name)
        for zone, bucket in sorted(inventory.buckets.items()):
            target.bucket(zone, bucket)
        for pool in inventory.pools:
            target.pool(pool)
        for schedule in inventory.schedules:
            target.schedule(schedule, enabled=True)
        for rule in inventory.rules:
            target.rule(rule, enabled=True)
        if target.down is None and not target.failed:
            result.target_active = target.active_region(switch.target)
        elif target.down is None:
            target.record(
                "write active region",
                "",
                SKIPPED,
                "not written: a step above failed; fix it and run the command again",
            )
    for region in switch.regions:
        if region == switch.target:
            continue
        run = RegionRun(region, switch.environment, clients, switch.dry_run)
        result.runs.append(run)
        if not result.target_active:
            run.record(
                "switch off",
                "",
                SKIPPED,
                f"left as it is: {switch.target} is not active yet, and the stack keeps an "
                "active region",
            )
            continue
        _switch_off(run, switch)
    return result


def _switch_off(run: RegionRun, switch: Switch) -> None:
    inventory = run.read_inventory()
    if inventory is None:
        return
    for schedule in inventory.schedules:
        run.schedule(schedule, enabled=False)
    for rule in inventory.rules:
        run.rule(rule, enabled=False)
    for pool in inventory.pools:
        if switch.stop_old_pools or (switch.standby_to_zero and pool.standby):
            run.pool(pool, zero=True)
    run.active_region(switch.target)


def _old_pools_note(result: Result) -> list[str]:
    """failover: the other regions' pools keep running unless --stop-old-pools stopped them.

    The command to stop one is UpdateAutoScalingGroup with MinSize and DesiredCapacity 0
    (properties not given are not changed: EC2 Auto Scaling API Reference,
    https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_UpdateAutoScalingGroup.html).
    """
    switch = result.switch
    if switch.command != "failover":
        return []
    notes = []
    for run in result.runs[1:]:
        if run.inventory is None:
            if run.down is not None:
                notes.append(
                    f"Old pools: {run.region} could not be reached, so its instance pools may "
                    "still run (and users may still write to its shared drive): run the command "
                    "again with --stop-old-pools when it answers."
                )
            continue
        stopped = {
            s.resource
            for s in run.steps
            if s.step == "scale pool to zero" and s.outcome in (CHANGED, UNCHANGED)
        }
        commands = [
            f"`aws autoscaling update-auto-scaling-group --auto-scaling-group-name "
            f"{p.auto_scaling_group_name} --min-size 0 --desired-capacity 0 --region "
            f"{run.region}`"
            for p in run.inventory.pools
            if f"{p.pool} ({p.auto_scaling_group_name})" not in stopped
        ]
        if commands:
            notes.append(
                f"Old pools: the instance pools in {run.region} keep running, and users can "
                f"keep writing to {run.region}'s shared drive (writes {switch.target} never "
                f"sees). Scale them to zero with {' and '.join(commands)}, or run the command "
                "again with --stop-old-pools."
            )
    return notes


def manual_steps(result: Result) -> list[str]:
    """What the command does not do, with the commands to do it."""
    switch = result.switch
    target = switch.target
    notes: list[str] = []
    if switch.command == "failover" and result.standby_pools:
        notes.append(
            f"Shared drive: the pools in {target} mount the replica of the shared drive, which "
            "stays read-only while its EFS replication exists. Make it writable by deleting the "
            f"replication (takes several minutes): `aws efs describe-replication-configurations "
            f"--region {target}` shows the SourceFileSystemId, then `aws efs "
            f"delete-replication-configuration --source-file-system-id <SourceFileSystemId> "
            f"--region {target}` (add `--deletion-mode LOCAL_CONFIGURATION_ONLY` only when the "
            "source region cannot be reached). Writes made before the loss and not yet "
            "replicated are lost to the replica. Then, before the next `pulumi up`, set "
            f"`mlops:resilience.promotedDrives.<pool>: <replica id>` in Pulumi.{switch.stack}.yaml "
            "for each pool with a shared drive (the replica id is the Destinations[0]."
            "FileSystemId the describe command shows; note it before deleting): otherwise the "
            "`up` re-creates the replication, a new empty read-only replica, and moves the "
            "standby's mount targets onto it."
        )
    if switch.command == "failback" and result.standby_pools:
        notes.append(
            "Shared drive: if the standby's replica was made writable during the failover, what "
            f"was written there is not in {target}'s drive. Before users return to {target}: "
            f"(1) disable the replication overwrite protection of {target}'s file system and "
            "replicate the promoted drive to it (EFS replication to an existing file system), "
            "(2) delete that replication once it has caught up, (3) this failback (the "
            "standby pools go to zero, so nothing mounts the promoted drive any more), (4) "
            f"remove the `mlops:resilience.promotedDrives` entries from Pulumi.{switch.stack}.yaml "
            f"and run `up` (a new {target} -> standby replication creates a new replica; the "
            "standby's mount targets move to it), (5) delete the old promoted drive by hand "
            '(README, "Failover and failback").'
        )
    notes.append(
        "Web entry: with mlops:dns, Route 53 health checks move the traffic by themselves; "
        "nothing to do."
        if switch.dns
        else "Web entry: no mlops:dns, so clients keep calling each region's load balancer; "
        f"point them at {target}'s."
    )
    if switch.airflow and target != switch.primary:
        notes.append(
            f"Airflow (MWAA) runs only in the primary ({switch.primary}): its DAGs do not run in "
            f"{target}; they resume when {switch.primary} is back."
        )
    notes += _old_pools_note(result)
    notes += [
        f"Table {s.resource} ({s.region}): {s.reason}."
        for s in result.steps
        if s.outcome == WARNING
    ]
    for region in result.unreachable:
        if region == target:
            continue
        notes.append(
            f"{region} could not be reached: its schedules and rules may still be enabled. When "
            f"it answers again, run `python -m stacks {switch.command} {switch.stack}"
            f"{' --to ' + target if switch.command == 'failover' else ''}` again (already "
            "switched steps report unchanged)."
        )
    return notes


def render_text(result: Result) -> str:
    switch = result.switch
    head = f"{switch.command} {switch.stack}: make {switch.target} the active region"
    lines = [head + (" (dry run: nothing is changed)" if switch.dry_run else "")]
    for run in result.runs:
        lines.append(f"{run.region}:")
        for step in run.steps:
            resource = f" {step.resource}" if step.resource else ""
            reason = f" ({step.reason})" if step.reason else ""
            lines.append(f"  {step.step}{resource}: {step.outcome}{reason}")
    lines.append("")
    if switch.dry_run:
        verdict = "would succeed" if result.exit_code == EXIT_OK else "has failing steps"
        lines.append(f"Dry run: the {switch.command} {verdict}.")
    elif result.exit_code == EXIT_OK:
        lines.append(f"{switch.target} is the active region.")
    elif result.target_active:
        lines.append(
            f"{switch.target} is the active region, but a step failed in another region (its "
            "schedules or rules may still run there): fix it and run the command again."
        )
    else:
        lines.append(
            f"{switch.target} is NOT fully active: fix the failed steps and run the command "
            "again (what is already done reports unchanged)."
        )
    manual = manual_steps(result)
    if manual:
        lines += ["", "What remains manual:"] + [f"- {note}" for note in manual]
    return "\n".join(lines) + "\n"


def render_json(result: Result) -> str:
    switch = result.switch
    doc: dict[str, Any] = {
        "command": switch.command,
        "stack": switch.stack,
        "target": switch.target,
        "dryRun": switch.dry_run,
        "active": result.target_active and not switch.dry_run,
        "exitCode": result.exit_code,
        "unreachable": result.unreachable,
        "steps": [s.to_dict() for s in result.steps],
        "manual": manual_steps(result),
    }
    return json.dumps(doc, indent=2) + "\n"


__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_NO_CREDENTIALS",
    "EXIT_OK",
    "UNREACHABLE",
    "Result",
    "Switch",
    "manual_steps",
    "render_json",
    "render_text",
    "switch_regions",
]
