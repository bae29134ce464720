"""``mlops:resilience``: what losing a region may cost, and how the standby takes over.

- ``activeRegion``: the region whose schedules and raw-data triggers run when the stack is
  first deployed (default: the first of ``mlops:regions``). After that, the active region is
  runtime state owned by ``python -m stacks failover``/``failback`` (an SSM parameter per
  region and the schedules' and rules' own state), so switching never needs a ``pulumi up``
  of the failed region.
- ``lakeReplication``: the data lake's replication in both directions between the primary
  and the secondary region (S3 Replication Time Control, replication metrics, delete
  markers, alarm thresholds).
- ``standbyPools``: instance pools in the secondary region at zero capacity, mounting the
  replica of the shared drive (EFS replication), ready for ``failover`` to scale up.
- ``promotedDrives``: pool -> id of its replica once a failover made it writable (the runbook
  sets it): the program stops declaring that pool's drive replication, so the next ``up``
  neither recreates it (a new empty replica, and the standby's mount targets replaced onto
  it) nor fails once the primary is the destination of the fail-back replication.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

from stacks.config.base import NAMESPACE, ConfigModel, checked, is_production, section

KEY = f"{NAMESPACE}:resilience"

#: S3 Replication Time Control replicates 99.99% of objects within 15 minutes; 15 is the only
#: value S3 accepts for ReplicationTime.Time.Minutes and for the metrics' EventThreshold
#: (S3 API reference, "ReplicationTimeValue": "Valid value: 15").
RTC_MINUTES = 15


class LakeReplicationConfig(ConfigModel):
    """Replication of every lake zone between the primary and the secondary region, both ways."""

    time_control: bool | None = Field(
        default=None,
        description=(
            "S3 Replication Time Control (99.99% of objects within 15 minutes, billed per GB). "
            "Default: on in production, off otherwise."
        ),
    )
    metrics: bool | None = Field(
        default=None,
        description=(
            "S3 replication metrics (latency, pending bytes/operations, failed operations) and "
            "their alarms. Required by timeControl. Default: on when timeControl is on or in "
            "production."
        ),
    )
    delete_markers: bool = Field(
        default=True,
        description=(
            "Replicate delete markers (a plain DELETE hides the object in both regions). "
            "Deletes of a specific version are never replicated (S3's rule), so a version "
            "deleted in one region stays in the other."
        ),
    )
    replica_modifications: bool = Field(
        default=True,
        description=(
            "Replica modification sync: metadata changes (tags, ACLs, object lock) made to a "
            "replica flow back, so both directions stay alike."
        ),
    )
    latency_alarm_minutes: int = Field(
        default=RTC_MINUTES,
        description=(
            "Alarm when the replication latency of a zone exceeds this many minutes "
            "(needs metrics)."
        ),
    )

    @field_validator("latency_alarm_minutes")
    @classmethod
    def _minutes(cls, value: int) -> int:
        if not 1 <= value <= 24 * 60:
            raise ValueError(f"{value} minutes; give 1 to 1440")
        return value

    def rtc(self, production: bool) -> bool:
        """Whether S3 Replication Time Control is on."""
        return production if self.time_control is None else self.time_control

    def metrics_on(self, production: bool) -> bool:
        """Whether replication metrics (and their alarms) are on."""
        if self.metrics is not None:
            return self.metrics
        return self.rtc(production) or production


@lru_cache(maxsize=1)
def efs_file_system_id_pattern() -> str:
    """The ``FileSystemId`` pattern of botocore's EFS model (what the EFS API accepts)."""
    from botocore.loaders import create_loader

    model = create_loader().load_service_model("efs", "service-2")
    return str(model["shapes"]["FileSystemId"]["pattern"])


def _file_system_id(value: str) -> str:
    """An EFS file system id (``fs-`` + hex): the component's check, which is the id form of
    botocore's EFS ``FileSystemId`` pattern (:func:`efs_file_system_id_pattern`)."""
    from components.compute.shared_drive import file_system_id_problem

    return checked(file_system_id_problem(value), value)


FileSystemId = Annotated[str, AfterValidator(_file_system_id)]


class ResilienceConfig(ConfigModel):
    """How the stack survives the loss of a region."""

    active_region: str | None = Field(
        default=None,
        description=(
            "The region whose schedules and raw-data triggers are enabled at first deploy; "
            "afterwards `python -m stacks failover` switches it. Default: the first region."
        ),
    )
    lake_replication: LakeReplicationConfig = Field(
        default_factory=LakeReplicationConfig,
        description="The lake's replication between the primary and the secondary, both ways.",
    )
    standby_pools: bool = Field(
        default=True,
        description=(
            "Instance pools (mlops:compute) also in the secondary region at zero capacity, with "
            "the shared drive replicated there (EFS replication), for failover to scale up."
        ),
    )

    # Failback order, from the EFS user guide: a promoted replica is replicated back into the
    # original with "replication to an existing file system", which needs that file system's
    # replication overwrite protection disabled and keeps it read-only while it is a
    # destination (https://docs.aws.amazon.com/efs/latest/ug/replicate-existing-destination.html,
    # https://docs.aws.amazon.com/efs/latest/ug/replication-overwrite.html); deleting that
    # replication makes it writable again, protection re-enabled
    # (https://docs.aws.amazon.com/efs/latest/ug/delete-replications.html); then the original
    # replication is created anew (https://docs.aws.amazon.com/efs/latest/ug/replication-fail-over.html).
    promoted_drives: dict[str, FileSystemId] = Field(
        default_factory=dict,
        description=(
            "Pool name -> id (fs-...) of the replica of its shared drive that a failover made "
            "writable (the EFS replication deleted). Set it before the next `pulumi up` after "
            "a failover: the pool's drive replication is then no longer declared (else `up` "
            "recreates it: a new empty read-only replica, and the standby's mount targets, "
            "access point and policies replaced onto it) and the standby keeps mounting the "
            "promoted drive, unchanged. Failback: (1) replicate the promoted drive back to "
            "the primary's file system (replication to an existing file system; the primary's "
            "replication overwrite protection off), (2) once synced, delete that replication "
            "(the primary becomes writable), (3) `failback` (the standby pools go to zero), (4) "
            "remove the entry and `up` (a new replication creates a new replica; the standby's "
            "mount targets move to it), (5) delete the old promoted drive by hand. Needs standbyPools and a pool of "
            "mlops:compute.pools with efs: true. Default: none."
        ),
    )

    def active(self, regions: tuple[str, ...]) -> str:
        """The initially active region (``activeRegion`` or the first region)."""
        return self.active_region or regions[0]


def resilience_cross_checks(data: Mapping[str, Any]) -> list[str]:
    """``activeRegion`` is one of ``mlops:regions``; timeControl needs metrics (S3 refuses a
    rule with ReplicationTime but without Metrics: S3 API reference "ReplicationTime": "Must
    be specified together with a Metrics block")."""
    config = section(data, "resilience") or {}
    problems: list[str] = []
    active = config.get("activeRegion")
    regions = data.get("regions")
    names = (
        [r.get("name") for r in regions if isinstance(r, dict)] if isinstance(regions, list) else []
    )
    if isinstance(active, str) and names and active not in names:
        problems.append(
            f"{KEY}.activeRegion: {active!r} is not one of {NAMESPACE}:regions ({names}); name "
            "one of them (the first is the default)"
        )
    lake = config.get("lakeReplication")
    if isinstance(lake, dict):
        rtc = lake.get("timeControl")
        rtc_on = rtc if isinstance(rtc, bool) else is_production(data)
        if rtc_on and lake.get("metrics") is False:
            problems.append(
                f"{KEY}.lakeReplication.metrics: false, but timeControl is on; S3 Replication "
                "Time Control needs replication metrics: turn metrics on or timeControl off"
            )
    return problems + _rtc_region_problems(data, config, names) + _promoted_problems(data, config)


def _promoted_problems(data: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """Each ``promotedDrives`` entry names a pool of ``mlops:compute`` with a shared drive,
    standby pools are on (the promoted drive is the standby's), and no file system is given
    for two pools (EFS allows one mount target per AZ and file system: CreateMountTarget,
    botocore's EFS model)."""
    promoted = config.get("promotedDrives")
    if not isinstance(promoted, dict) or not promoted:
        return []  # absent, empty, or the wrong shape (reported at the key itself)
    at = f"{KEY}.promotedDrives"
    problems: list[str] = []
    if config.get("standbyPools", True) is not True:
        problems.append(
            f"{at}: {KEY}.standbyPools is not true, so no standby pool mounts a promoted drive; "
            "remove promotedDrives or turn standbyPools on"
        )
    compute = section(data, "compute") or {}
    pools = compute.get("pools")
    listed = pools if isinstance(pools, list) else []
    efs = {p.get("name"): p.get("efs") is True for p in listed if isinstance(p, dict)}
    enabled = compute.get("enabled") is True
    seen: dict[Any, str] = {}
    for pool, file_system in promoted.items():
        if not enabled:
            problems.append(
                f"{at}.{pool}: {NAMESPACE}:compute.enabled is not true, so no pool runs; "
                "remove the entry or enable compute"
            )
        elif pool not in efs:
            names = sorted(str(n) for n in efs)
            problems.append(
                f"{at}.{pool}: {pool!r} is not a pool of {NAMESPACE}:compute.pools "
                f"(pools: {names}); name the pool whose standby mounts the promoted drive"
            )
        elif not efs[pool]:
            problems.append(
                f"{at}.{pool}: pool {pool!r} has no shared drive ({NAMESPACE}:compute.pools "
                "entry without efs: true); remove the entry"
            )
        if isinstance(file_system, str) and file_system in seen:
            problems.append(
                f"{at}.{pool}: {file_system!r} is already given for {at}.{seen[file_system]}; "
                "each pool's standby mounts its own promoted drive"
            )
        elif isinstance(file_system, str):
            seen[file_system] = str(pool)
    return problems


#: Where S3 Replication Time Control is not offered: "available in all commercial AWS Regions,
#: including the AWS China (Beijing) Region and the AWS China (Ningxia) Region, but not in the
#: AWS GovCloud (US) Regions" (Amazon S3 pricing, "Replication",
#: https://aws.amazon.com/s3/pricing/).
RTC_UNAVAILABLE_PREFIXES = ("us-gov-",)


def _rtc_region_problems(
    data: Mapping[str, Any], config: Mapping[str, Any], names: list[Any]
) -> list[str]:
    """timeControl (on by default in production) for a replication pair S3 has no RTC in."""
    lake = config.get("lakeReplication")
    lake = lake if isinstance(lake, dict) else {}
    rtc = lake.get("timeControl")
    if not (rtc if isinstance(rtc, bool) else is_production(data)):
        return []
    pair = [n for n in names[:2] if isinstance(n, str)]
    without = [n for n in pair if n.startswith(RTC_UNAVAILABLE_PREFIXES)]
    if not without:
        return []
    how = "true" if rtc is True else "on by default in production"
    return [
        f"{KEY}.lakeReplication.timeControl: {how}, but S3 Replication Time Control is not "
        f"offered in {without} (AWS GovCloud (US) Regions); set timeControl: false "
        "(replication still runs, without the 15-minute guarantee)"
    ]
