"""The S3 data lake: one locked-down bucket per zone, scoped grants, cross-region replication.

- :mod:`components.data_lake.lake`: :class:`DataLake`, a region's zone buckets, their
  access-log bucket and the grants (``lake.grant_read(role, zone="curated")``);
- :mod:`components.data_lake.replication`: :class:`LakeReplication`, every zone bucket
  replicated to its twin in another region's lake (:meth:`DataLake.replicate_to`);
- :mod:`components.data_lake.rules`: the pure rules (zone names, lifecycle transitions S3
  accepts, the log bucket's delivery statement), also used by the stack configuration.

Everything public is importable from ``components.data_lake``.
"""

from components.data_lake.lake import DataLake, DataLakeArgs
from components.data_lake.replication import (
    LakeReplication,
    LakeReplicationArgs,
    replication_statements,
)
from components.data_lake.rules import (
    DEFAULT_ZONES,
    LOG_DELIVERY_SERVICE,
    NEXT_STORAGE_CLASSES,
    THIRTY_DAY_CLASSES,
    ZONE_NAME_RE,
    ZONE_NAME_RULE,
    log_delivery_statement,
    s3_via_service,
    transition_problems,
    zone_problems,
)

__all__ = [
    "DEFAULT_ZONES",
    "LOG_DELIVERY_SERVICE",
    "NEXT_STORAGE_CLASSES",
    "THIRTY_DAY_CLASSES",
    "ZONE_NAME_RE",
    "ZONE_NAME_RULE",
    "DataLake",
    "DataLakeArgs",
    "LakeReplication",
    "LakeReplicationArgs",
    "log_delivery_statement",
    "replication_statements",
    "s3_via_service",
    "transition_problems",
    "zone_problems",
]
