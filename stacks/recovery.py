"""Recovery objectives: what losing a region costs, per capability, from the stack's config.

Exported as the stack output ``recovery`` (so ``pulumi stack output recovery`` shows the
deployed stack's targets) and printed by ``python -m stacks plan``. The figures are AWS's
published behaviour of each replication mechanism, not measurements of this platform:

- DynamoDB global tables propagate a write to the other replicas "usually within a second"
  (DynamoDB developer guide, "Global tables: how it works"; ReplicationLatency metric in
  "Monitoring global tables").
- S3 Replication Time Control replicates 99.99% of objects within 15 minutes, most in
  seconds (S3 user guide, "Meeting compliance requirements with S3 Replication Time
  Control"); without it, most objects replicate within 15 minutes but some take hours, up to
  48 (AWS re:Post knowledge center, "s3-crr-replication-time").
- EFS replication: most changes within a minute, an RPO of 15 minutes for most file systems
  (AWS News Blog, "New - Replication for Amazon Elastic File System (EFS)", 2022); a replica
  is read-only until its replication configuration is deleted (EFS user guide,
  "Replicating EFS file systems"; pulumi-aws ReplicationConfiguration docs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from stacks.config import PlatformConfig


@dataclass(frozen=True)
class Objective:
    """One capability's copy in the other region(s), and what losing its region costs."""

    capability: str
    copy: str
    rpo: str
    rto: str


def standby_region(cfg: PlatformConfig) -> str:
    """The region that takes over when the initially active region is lost."""
    if cfg.active_region != cfg.secondary_region:
        return cfg.secondary_region
    return cfg.primary_region


def _failover_command(cfg: PlatformConfig) -> str:
    return f"python -m stacks failover <stack> --to {standby_region(cfg)}"


def objectives(cfg: PlatformConfig, worst_case_dns_seconds: int | None = None) -> list[Objective]:
    """The objectives of the stack ``cfg`` describes, losing its active region.

    ``worst_case_dns_seconds``: the global entry's worst-case failover (``mlops:dns``), if
    any.
    """
    regions = [r.name for r in cfg.regions]
    others = ", ".join(regions[1:])
    pair = f"{cfg.primary_region} <-> {cfg.secondary_region}"
    failover = _failover_command(cfg)
    out: list[Objective] = []
    tables = []
    if cfg.ingest.enabled:
        tables.append("ingest records")
    if cfg.training.enabled:
        tables.append("model registry")
    if tables:
        out.append(
            Objective(
                capability=f"tables ({', '.join(tables)})",
                copy=f"DynamoDB global table, a replica in every region ({', '.join(regions)})",
                rpo="about 1 s (replication usually within a second)",
                rto="0: every region reads and writes its own replica",
            )
        )
    replication = cfg.resilience.lake_replication
    rtc = replication.rtc(cfg.is_production)
    out.append(
        Objective(
            capability="data lake objects",
            copy=(
                f"S3 replication both ways {pair}"
                + (" with Replication Time Control" if rtc else "")
                + (
                    ", delete markers replicated"
                    if replication.delete_markers
                    else ", delete markers not replicated"
                )
            ),
            rpo=(
                "15 min (RTC: 99.99% of objects)"
                if rtc
                else "minutes, unbounded (no RTC: most within 15 min, some up to 48 h)"
            ),
            rto="0: the standby reads and writes its own buckets",
        )
    )
    pools = cfg.compute.pools if cfg.compute.enabled else ()
    if pools:
        drives = [p.name for p in pools if p.efs]
        if cfg.resilience.standby_pools:
            out.append(
                Objective(
                    capability="instance pools",
                    copy=f"standby pools at zero capacity in {cfg.secondary_region}",
                    rpo="n/a (instances hold no state; homes live on the shared drive)",
                    rto=f"one command ({failover}) + instance launch, a few minutes",
                )
            )
            promoted = [d for d in drives if d in cfg.resilience.promoted_drives]
            drives = [d for d in drives if d not in promoted]
            if promoted:
                # Failed over: the standby writes its promoted drive, nothing copies it.
                out.append(
                    Objective(
                        capability=f"shared drive ({', '.join(promoted)})",
                        copy=(
                            f"none while promoted in {cfg.secondary_region} "
                            "(mlops:resilience.promotedDrives; failback replicates it back)"
                        ),
                        rpo="the last EFS backup, if backups are on",
                        rto="none: no other copy until failback replicates it back",
                    )
                )
            if drives:
                out.append(
                    Objective(
                        capability=f"shared drive ({', '.join(drives)})",
                        copy=f"EFS replication to {cfg.secondary_region} (read-only replica)",
                        rpo="15 min for most file systems (EFS replication)",
                        rto=(
                            "read-only at once; writable after deleting the replication "
                            "(manual step `failover` prints)"
                        ),
                    )
                )
        else:
            out.append(
                Objective(
                    capability="instance pools",
                    copy=f"none (mlops:resilience.standbyPools is false): {cfg.primary_region} only",
                    rpo=(
                        "shared drive: the last EFS backup, if backups are on"
                        if drives
                        else "n/a (instances hold no state)"
                    ),
                    rto="a `pulumi up` with the standby region listed first",
                )
            )
    switchable = [j.name for j in cfg.jobs.jobs if j.schedule is not None or j.on_new_raw_data]
    if cfg.training.enabled:
        switchable.append("training drift check")
    if switchable:
        out.append(
            Objective(
                capability="schedules and raw-data triggers",
                copy=(
                    f"in every region, enabled only in the active region "
                    f"(first: {cfg.active_region})"
                ),
                rpo="runs due while the region was down are not replayed",
                rto=f"one command: {failover}",
            )
        )
    if cfg.jobs.jobs or cfg.training.enabled:
        out.append(
            Objective(
                capability="job definitions and queues",
                copy=f"in every region ({', '.join(regions)})",
                rpo="n/a (runs read and write the lake)",
                rto="0: submit runs in the standby",
            )
        )
    if cfg.jobs.airflow.enabled:
        out.append(
            Objective(
                capability="managed Airflow",
                copy=f"none: {cfg.primary_region} only (an environment costs money around the clock)",
                rpo="DAGs: the lake's RPO (they live in S3)",
                rto="a `pulumi up` with the standby region listed first (20-30 min)",
            )
        )
    if cfg.containers is not None and cfg.containers.enabled:
        if cfg.dns is not None and worst_case_dns_seconds is not None:
            rto = f"about {worst_case_dns_seconds} s, automatic (Route 53 failover)"
        else:
            rto = "clients switch to the other region's load balancer URL (manual)"
        out.append(
            Objective(
                capability="web service",
                copy=f"running in every region ({', '.join(regions)})",
                rpo="n/a (stateless; models come from the registry)",
                rto=rto,
            )
        )
    if cfg.ingest.enabled:
        out.append(
            Objective(
                capability="ingest function",
                copy=f"in every region, triggered by its own raw zone ({others} too)",
                rpo="the lake's RPO (replicated objects are ingested again, idempotently by id)",
                rto="0",
            )
        )
    out.append(
        Objective(
            capability="audit trail",
            copy=(
                f"multi-region trail delivered to {cfg.primary_region}; CloudTrail event "
                "history in every region"
            ),
            rpo="management events: none (90-day event history per region)",
            rto="0 for event history; the trail itself resumes with its region",
        )
    )
    return out


def as_output(cfg: PlatformConfig, items: list[Objective]) -> dict[str, object]:
    """The stack output ``recovery``: the region whose loss is described, the standby, and
    one mapping per capability."""
    return {
        "losing": cfg.active_region,
        "standby": standby_region(cfg),
        "objectives": [asdict(item) for item in items],
    }


def format_table(output: dict[str, object]) -> str:
    """The text ``plan`` prints from the ``recovery`` output."""
    items = output.get("objectives")
    lines = [
        f"Recovery objectives (losing {output.get('losing')}; standby {output.get('standby')}):"
    ]
    for item in items if isinstance(items, list) else []:
        lines.append(f"  {item['capability']}: RPO {item['rpo']}; RTO {item['rto']}")
        lines.append(f"      copy: {item['copy']}")
    return "\n".join(lines)
