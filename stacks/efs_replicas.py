"""What ``destroy`` deletes after Pulumi: the shared drives' EFS replicas.

A standby pool mounts the replica EFS creates for the primary's drive (EFS replication).
Pulumi manages the replication configuration, not the replica: destroying the stack deletes
the configuration (and the standby's mount targets and access point on the replica), and EFS
leaves the replica behind as a writable file system of its own (pulumi-aws
``efs.ReplicationConfiguration`` docs: "Deleting this resource does not delete the
destination file system that was created"). Nothing tags it for the stack, so the leftover
sweep cannot find it either; every nightly destroy of dev would leave one behind.

So ``destroy`` reads the replicas' ids from the stack outputs before it runs (the file
system of every standby pool, ``regions.<region>.instancePools.<pool>`` with ``standby``
true) and deletes them after it succeeded. A file system that is still part of a replication configuration cannot be
deleted, and deleting a configuration can take several minutes (EFS user guide, "Deleting
replication configurations"); a file system with mount targets or access points cannot be
deleted either ("Deleting EFS file systems"). Both are retried until a deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: How long a replica may stay undeletable (its replication still being deleted, its mount
#: targets still going) before destroy reports it for a manual delete.
DEFAULT_TIMEOUT_SECONDS = 15 * 60
RETRY_SECONDS = 15

#: Errors that mean "not yet": the replication or the mount targets are still being deleted
#: (EFS API reference, DeleteFileSystem errors: FileSystemInUse; a member of a replication
#: configuration is refused until that configuration is gone).
RETRYABLE = frozenset({"FileSystemInUse", "BadRequest", "IncorrectFileSystemLifeCycleState"})
GONE = frozenset({"FileSystemNotFound"})


@dataclass(frozen=True)
class Replica:
    """A standby pool's drive replica: where it is and which pool mounted it."""

    region: str
    pool: str
    file_system_id: str


def replicas_in_outputs(outputs: Mapping[str, Any]) -> list[Replica]:
    """The replicas the stack outputs name: the file systems the standby pools mount."""
    found: list[Replica] = []
    regions = outputs.get("regions")
    if not isinstance(regions, Mapping):
        return found
    for region, platform in sorted(regions.items()):
        pools = platform.get("instancePools") if isinstance(platform, Mapping) else None
        if not isinstance(pools, Mapping):
            continue
        for pool, values in sorted(pools.items()):
            # A standby pool owns no file system: the one it mounts is the replica (or, once
            # promoted, the former replica: mlops:resilience.promotedDrives), made by EFS.
            if not isinstance(values, Mapping) or values.get("standby") is not True:
                continue
            fs_id = values.get("fileSystemId")
            if isinstance(fs_id, str) and fs_id.startswith("fs-"):
                found.append(Replica(str(region), str(pool), fs_id))
    return found


def _code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def delete_replicas(
    replicas: Iterable[Replica],
    client: Callable[[str], Any],
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    retry_seconds: float = RETRY_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] = print,
) -> list[str]:
    """Delete each replica (``client(region)`` is an EFS client); the problems, one line
    each with the command to finish by hand (empty when every replica is gone)."""
    problems: list[str] = []
    for replica in replicas:
        efs = client(replica.region)
        deadline = clock() + timeout_seconds
        while True:
            try:
                efs.delete_file_system(FileSystemId=replica.file_system_id)
            except Exception as exc:  # botocore ClientError and endpoint errors alike
                code = _code(exc)
                if code in GONE:
                    say(f"  {replica.file_system_id} ({replica.region}): already gone")
                    break
                if code in RETRYABLE and clock() < deadline:
                    sleep(retry_seconds)
                    continue
                problems.append(
                    f"{replica.file_system_id} ({replica.region}, the replica pool "
                    f"{replica.pool!r} mounted) was not deleted: {exc}. Delete it by hand once "
                    f"its replication and mount targets are gone: aws efs delete-file-system "
                    f"--file-system-id {replica.file_system_id} --region {replica.region}"
                )
                break
            say(f"  {replica.file_system_id} ({replica.region}): deleted")
            break
    return problems


def efs_client_factory() -> Callable[[str], Any]:
    """EFS clients by region (honours AWS_ENDPOINT_URL, like every boto3 client)."""
    import boto3

    session = boto3.session.Session()
    return lambda region: session.client("efs", region_name=region)
