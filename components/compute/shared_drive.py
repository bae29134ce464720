"""The shared network drive of an instance pool: an EFS file system every instance mounts.

Owns :class:`SharedFileSystem` (what a pool asks for), :class:`DriveReplication` (a read-only
copy in another region), :func:`file_system_policy` (the file system's resource policy) and
:class:`SharedDrive`, which registers the file system, its backup policy, replication,
security group, mount targets, access point and policy as children of the pool and grants the
pool's instance role access through the access point.

A warm standby pool (in the standby region) does not own a file system: it mounts the replica
that EFS replication keeps of the active pool's drive (``SharedFileSystem.replica_file_system_id``),
adding mount targets, an access point and the same policies to it. What AWS documents of
replicas, and what this module relies on:

- EFS creates the replica (``destination`` of the replication configuration, in the other
  region, encrypted with the KMS key given there) read-only; it stays read-only while the
  replication configuration exists, and writes to it fail. Deleting the replication
  configuration makes it writeable (several minutes); this can be done from the source or the
  destination region, and when the other region cannot be reached, with deletion mode
  ``LOCAL_CONFIGURATION_ONLY`` from the reachable one (EFS user guide, "Deleting replication
  configurations", https://docs.aws.amazon.com/efs/latest/ug/delete-replications.html; EFS API
  reference, DeleteReplicationConfiguration ``DeletionMode``).
- RPO: "most changes are replicated within a minute, with an overall Recovery Point Objective
  (RPO) of 15 minutes for most file systems"; longer with more than 100 million files or files
  over 100 GB that change very often (AWS News Blog, "New - Replication for Amazon Elastic
  File System (EFS)", 2022; EFS user guide, "Amazon EFS replication", Performance). Changes
  are not transferred point-in-time consistently; the ``TimeSinceLastSync`` metric and the
  replication's ``LastReplicatedTimestamp`` say up to when the replica is complete (EFS user
  guide, "Viewing replication details").
- EFS creates no mount targets for a replica; mount targets must be created to mount it (EFS
  user guide, "Configuring replication to new EFS file system",
  https://docs.aws.amazon.com/efs/latest/ug/create-replication.html).
- The replica gets default settings (lifecycle management off; automatic backups on only for
  One Zone replicas), which may be changed after creation (same page). The backup policy is
  therefore set explicitly on the replica, as on the source; the lifecycle policy is a
  property of the file system resource, which EFS (not this program) owns, so the replica
  keeps every file in Standard storage until its lifecycle is set by hand after a failover.
- Deleting the replication configuration does not delete the replica file system
  (pulumi-aws ``aws.efs.ReplicationConfiguration`` docs): a destroyed stack leaves it behind.
- Failback: either discard what the standby wrote (re-create the original replication, the
  replica as destination) or keep it by replicating the replica back to the original file
  system ("replication to an existing file system", which needs the original's replication
  overwrite protection disabled; it is re-enabled, and the file system writeable, when that
  replication configuration is deleted) (EFS user guide, "Using the replica",
  https://docs.aws.amazon.com/efs/latest/ug/replication-fail-over.html, and "File system
  protection", https://docs.aws.amazon.com/efs/latest/ug/replication-overwrite.html).

After a failover the standby keeps mounting the promoted replica by id: the stack then gives
the source pool no ``replication`` and the standby the promoted file system's id as
``replica_file_system_id`` (``mlops:resilience.promotedDrives``). Declaring the replication
again would make EFS create a new, empty, read-only replica with a new id (CreateReplication
Configuration creates the destination; "Configuring replication to new EFS file system"), and
every resource built on the id (mount targets, access point, policies) would be replaced onto
it; and once the primary is itself a destination of the fail-back replication, EFS refuses it
as a source ("A file system can be part of only one replication configuration", EFS user guide,
"Configuring replication to an existing EFS file system",
https://docs.aws.amazon.com/efs/latest/ug/replicate-existing-destination.html).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.compute.validators import mount_path_problems
from components.iam import ServiceRole, Statement

NFS_PORT = 2049
_EFS_ROOT_PATH_RE = re.compile(r"(/[A-Za-z0-9._\-]+)+")
#: Days without access after which EFS may move files to Infrequent Access.
_EFS_IA_DAYS = (1, 7, 14, 30, 60, 90, 180, 270, 365)


_REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")

#: An EFS file system id: the id form of botocore's EFS model ``FileSystemId`` pattern
#: (``^(arn:aws[-a-z]*:elasticfilesystem:...:file-system/fs-[0-9a-f]{8,40}|fs-[0-9a-f]{8,40})$``,
#: elasticfilesystem 2015-02-01 service-2.json; tests hold the two together). The ARN form is
#: refused: the pool builds the ARN itself, and a replication's destination is an id.
EFS_FILE_SYSTEM_ID_RE = re.compile(r"fs-[0-9a-f]{8,40}")


def file_system_id_problem(value: object) -> str | None:
    """Why ``value`` is not an EFS file system id such as ``fs-0123456789abcdef0``, or None."""
    if isinstance(value, str) and EFS_FILE_SYSTEM_ID_RE.fullmatch(value):
        return None
    return (
        f"{value!r} is not an EFS file system id such as 'fs-0123456789abcdef0' ('fs-' and 8 "
        "to 40 lowercase hexadecimal digits; the id, not the ARN)"
    )


@dataclass(frozen=True)
class DriveReplication:
    """A read-only replica of a pool's file system in another region (EFS replication).

    Created by EFS (Regional storage, the source's performance mode) and encrypted with
    ``key_arn``, which must be a key in ``region``: EFS uses it on the deployer's behalf, as
    for the source file system, so a key whose policy delegates to IAM (the region key's
    account statement, :func:`components.kms.key_policy`) needs no EFS statement (EFS user
    guide, "Amazon EFS key policies for AWS KMS": the permissions EFS uses, all in the
    default key policy). The replication configuration lives in the source's region.
    """

    region: str
    """The region of the replica, such as ``eu-central-1`` (not the pool's own)."""

    key_arn: pulumi.Input[str]
    """The KMS key (in ``region``) that encrypts the replica; it cannot be changed later."""

    def problems(self, key: str) -> list[str]:
        """Every problem, each prefixed with ``key``."""
        if isinstance(self.region, str) and _REGION_RE.fullmatch(self.region):
            return []
        return [f"{key}.region: {self.region!r} is not an AWS region name such as 'eu-west-1'"]


@dataclass(frozen=True)
class SharedFileSystem:
    """An EFS file system shared by every instance of a pool (homes, notebooks, data).

    Encrypted with the region key, automatic backups on (unless turned off), a lifecycle
    policy, one mount target
    per private subnet reachable on NFS only from the pool's instances, and one access point
    (non-root directory, fixed POSIX user) through which the instances mount it over TLS with
    IAM authorisation. Its policy refuses clients without TLS.
    """

    mount_path: str = "/mnt/shared"
    """Where instances mount it. Default: ``/mnt/shared``."""

    root_directory: str = "/shared"
    """Directory of the file system the access point exposes (created on first use, owned by
    the POSIX user). Default: ``/shared``; never ``/``."""

    posix_uid: int = 1000
    """User id every file operation through the access point runs as. Default: 1000
    (``ec2-user`` on Amazon Linux), so files on the share belong to the login user."""

    posix_gid: int = 1000
    """Group id of those operations. Default: 1000."""

    transition_to_ia_days: int = 30
    """Days without access after which files move to Infrequent Access (they move back on
    first access). Default: 30. One of 1, 7, 14, 30, 60, 90, 180, 270, 365."""

    automatic_backups: bool = True
    """Default: on; AWS Backup backs the file system up daily and keeps each backup 35 days
    (EFS's default backup plan). When false, the backup policy says DISABLED explicitly. For
    stacks destroyed on a schedule: recovery points live in the backup vault, outside the
    stack, until their lifecycle expires them, so every rebuilt file system would leave a
    month of backups behind (and their storage charge)."""

    replication: DriveReplication | None = None
    """Default: no copy elsewhere. When given, EFS replication keeps a read-only replica of the
    file system in another region (see :class:`DriveReplication`), for a standby pool there."""

    replica_file_system_id: pulumi.Input[str] | None = None
    """Default: the pool creates and owns its file system. When given (a warm standby), the id
    of the replica EFS replication keeps of the active pool's drive: the pool mounts it instead
    and adds to it mount targets in its subnets, an access point, the TLS-only policy and an
    explicit backup policy, never the file system itself (EFS owns it). Read-only until the
    replication configuration is deleted (failover); after that, the same id (a plain string
    then, the source pool given no ``replication``) keeps every resource on the promoted drive
    unchanged. A plain string must be an EFS file system id (:func:`file_system_id_problem`)."""

    def problems(self, key: str) -> list[str]:
        """Every problem, each prefixed with ``key``."""
        found = mount_path_problems(f"{key}.mount_path", self.mount_path)
        if self.replication is not None and self.replica_file_system_id is not None:
            found.append(
                f"Only one of [{key}.replication] and [{key}.replica_file_system_id] can be given"
            )
        if self.replication is not None:
            found += self.replication.problems(f"{key}.replication")
        if isinstance(self.replica_file_system_id, str):
            problem = file_system_id_problem(self.replica_file_system_id)
            if problem:
                found.append(f"{key}.replica_file_system_id: {problem}")
        root = self.root_directory
        if not (isinstance(root, str) and _EFS_ROOT_PATH_RE.fullmatch(root)) or any(
            part in (".", "..") for part in str(root).split("/")
        ):
            found.append(
                f"{key}.root_directory: {root!r} is not a directory below the file system's "
                "root such as '/shared' (the access point must not expose '/')"
            )
        for name in ("posix_uid", "posix_gid"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 1 <= value <= 4294967295
            ):
                found.append(
                    f"{key}.{name}: {value!r} must be an id from 1 to 4294967295 (not root)"
                )
        if not isinstance(self.automatic_backups, bool):
            found.append(
                f"{key}.automatic_backups: {self.automatic_backups!r} must be true or false"
            )
        if self.transition_to_ia_days not in _EFS_IA_DAYS:
            found.append(
                f"{key}.transition_to_ia_days: {self.transition_to_ia_days!r} is not one of "
                f"{', '.join(map(str, _EFS_IA_DAYS))}"
            )
        return found


def file_system_policy(
    file_system_arn: str, access_point_arn: str, role_arn: str
) -> dict[str, Any]:
    """The shared file system's policy: the pool's role mounts and writes through the access
    point over a mount target; nobody connects without TLS; nobody gets root access."""
    client_actions = [
        "elasticfilesystem:ClientMount",
        "elasticfilesystem:ClientRootAccess",
        "elasticfilesystem:ClientWrite",
    ]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PoolMountsThroughAccessPoint",
                "Effect": "Allow",
                "Principal": {"AWS": role_arn},
                "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                "Resource": file_system_arn,
                "Condition": {
                    "ArnEquals": {"elasticfilesystem:AccessPointArn": access_point_arn},
                    "Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"},
                },
            },
            {
                "Sid": "DenyWithoutTls",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": client_actions,
                "Resource": file_system_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


class SharedDrive:
    """A pool's shared file system: EFS encrypted with the pool's key, backed up (unless the
    spec turns it off), one mount
    target per subnet, an access point and a TLS-only policy.

    Not a component of its own: every resource is registered as a child of ``parent`` (the
    pool), so the pool's resource tree, logical names and parents are what they always were.
    ``egress_rule`` is the NFS rule added to the instances' security group.
    """

    file_system_id: pulumi.Output[str]
    """The id of the file system the pool mounts: its own, or the replica it was given."""
    file_system_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        spec: SharedFileSystem,
        *,
        vpc_id: pulumi.Input[str],
        subnet_ids: Sequence[pulumi.Input[str]],
        key_arn: pulumi.Input[str],
        instances_security_group: aws.ec2.SecurityGroup,
        role: ServiceRole,
        protect: bool,
        tags: Callable[[str], dict[str, str]],
        parent: pulumi.Resource,
        file_system_arn_prefix: pulumi.Input[str] | None = None,
    ) -> None:
        self._name, self._tags, self._parent = name, tags, parent
        self.file_system: aws.efs.FileSystem | None = None
        self.replication: aws.efs.ReplicationConfiguration | None = None
        self.replica_file_system_id: pulumi.Output[str] | None = None
        """The replica's id (``spec.replication``): what the standby pool mounts."""
        if spec.replica_file_system_id is not None:
            self._replica(spec, file_system_arn_prefix)
        else:
            self._file_system(spec, key_arn, protect)
        self._backup_policy(spec)
        self._network(vpc_id, subnet_ids, instances_security_group)
        self._access(spec, role)

    def _file_system(
        self, spec: SharedFileSystem, key_arn: pulumi.Input[str], protect: bool
    ) -> None:
        """The file system (encrypted, elastic throughput, tiered) and, when asked for, its
        replication; its backup policy follows (:meth:`_backup_policy`).

        The backup policy is always explicit. EFS turns automatic backups on by itself only for file
        systems created in the console or One Zone ones (EFS API Reference, CreateFileSystem
        ``Backup``: default false, true with an ``AvailabilityZoneName``; EFS User Guide,
        "Backing up EFS file systems"), but a policy states the intent either way. Recovery
        points are AWS Backup's: the default EFS plan backs up daily and keeps each one 35 days
        in the EFS automatic backup vault (same EFS page), and AWS Backup deletes a recovery
        point when its plan's lifecycle expires it, or by hand (AWS Backup Developer Guide,
        "Deleting backups"), not when the file system goes.
        """
        name = self._name
        days = spec.transition_to_ia_days
        self.file_system = aws.efs.FileSystem(
            f"{name}-efs",
            encrypted=True,
            kms_key_id=key_arn,
            performance_mode="generalPurpose",
            throughput_mode="elastic",
            lifecycle_policies=[
                aws.efs.FileSystemLifecyclePolicyArgs(
                    transition_to_ia=f"AFTER_{days}_DAY" + ("" if days == 1 else "S")
                ),
                aws.efs.FileSystemLifecyclePolicyArgs(
                    transition_to_primary_storage_class="AFTER_1_ACCESS"
                ),
            ],
            tags=self._tags("efs"),
            opts=pulumi.ResourceOptions(
                parent=self._parent, protect=protect, retain_on_delete=protect
            ),
        )
        self.file_system_id = self.file_system.id
        self.file_system_arn = self.file_system.arn
        if spec.replication is not None:
            self._replication(spec.replication, protect)

    def _replication(self, replication: DriveReplication, protect: bool) -> None:
        """EFS replication of the file system to a new read-only replica in another region,
        encrypted with that region's key (module docstring: what a replica is and how it
        becomes writeable). Protected with the file system: deleting it is a failover (the
        replica becomes writeable), never a side effect of a deployment."""
        self.replication = aws.efs.ReplicationConfiguration(
            f"{self._name}-efs-replication",
            source_file_system_id=self.file_system_id,
            destination=aws.efs.ReplicationConfigurationDestinationArgs(
                region=replication.region, kms_key_id=replication.key_arn
            ),
            opts=pulumi.ResourceOptions(parent=self._parent, protect=protect),
        )
        self.replica_file_system_id = self.replication.destination.apply(
            lambda destination: destination.file_system_id or ""
        )

    def _replica(
        self, spec: SharedFileSystem, file_system_arn_prefix: pulumi.Input[str] | None
    ) -> None:
        """A standby's drive: the replica of the active pool's file system, by id. EFS created
        it (and keeps it after the replication configuration goes), so the pool registers only
        what it adds to it.

        Mount targets on a replica are what AWS documents for mounting one; the access point,
        the file system policy and the backup policy are settings that "can be changed after
        creation" (EFS user guide, "Configuring replication to new EFS file system"). That an
        access point can be created while the replica is read-only is not stated in so many
        words: the access point's root directory already exists there (replicated from the
        source, where the active pool's access point created it). Rehearse it in a drill."""
        if file_system_arn_prefix is None:
            raise ValueError("SharedDrive: a replica needs file_system_arn_prefix")
        self.file_system_id = pulumi.Output.from_input(spec.replica_file_system_id).apply(str)
        self.file_system_arn = pulumi.Output.concat(file_system_arn_prefix, self.file_system_id)

    def _backup_policy(self, spec: SharedFileSystem) -> None:
        """The backup policy, always explicit, on the pool's file system or on the replica: a
        replica gets default settings (automatic backups on only for One Zone replicas) that
        may be changed after its creation (EFS user guide, "Configuring replication to new EFS
        file system"), so a standby's drive is backed up exactly as the active one is, and an
        ephemeral stack's replica leaves no recovery points behind."""
        self.backup_policy = aws.efs.BackupPolicy(
            f"{self._name}-efs-backup",
            file_system_id=self.file_system_id,
            backup_policy=aws.efs.BackupPolicyBackupPolicyArgs(
                status="ENABLED" if spec.automatic_backups else "DISABLED"
            ),
            opts=pulumi.ResourceOptions(parent=self._parent),
        )

    def _network(
        self,
        vpc_id: pulumi.Input[str],
        subnet_ids: Sequence[pulumi.Input[str]],
        instances: aws.ec2.SecurityGroup,
    ) -> None:
        """The mount targets' security group (NFS from the instances only), the instances' NFS
        egress to it, and one mount target per subnet."""
        name, child = self._name, pulumi.ResourceOptions(parent=self._parent)
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-efs-sg",
            vpc_id=vpc_id,
            description=f"EFS mount targets of pool {name}: NFS from the pool instances only",
            tags=self._tags("efs-sg"),
            opts=child,
        )
        self.ingress = aws.vpc.SecurityGroupIngressRule(
            f"{name}-efs-nfs-in",
            security_group_id=self.security_group.id,
            referenced_security_group_id=instances.id,
            description=f"NFS from the instances of pool {name}",
            ip_protocol="tcp",
            from_port=NFS_PORT,
            to_port=NFS_PORT,
            opts=child,
        )
        self.egress_rule = aws.vpc.SecurityGroupEgressRule(
            f"{name}-nfs-out",
            security_group_id=instances.id,
            referenced_security_group_id=self.security_group.id,
            description="NFS to the shared file system of the pool",
            ip_protocol="tcp",
            from_port=NFS_PORT,
            to_port=NFS_PORT,
            opts=child,
        )
        self.mount_targets = [
            aws.efs.MountTarget(
                f"{name}-efs-{index}",
                file_system_id=self.file_system_id,
                subnet_id=subnet,
                security_groups=[self.security_group.id],
                opts=child,
            )
            for index, subnet in enumerate(subnet_ids)
        ]

    def _access(self, spec: SharedFileSystem, role: ServiceRole) -> None:
        """The access point (non-root directory, fixed POSIX user), the TLS-only file system
        policy, and the instance role's grant to mount through the access point."""
        name, child = self._name, pulumi.ResourceOptions(parent=self._parent)
        self.access_point = aws.efs.AccessPoint(
            f"{name}-efs-ap",
            file_system_id=self.file_system_id,
            posix_user=aws.efs.AccessPointPosixUserArgs(uid=spec.posix_uid, gid=spec.posix_gid),
            root_directory=aws.efs.AccessPointRootDirectoryArgs(
                path=spec.root_directory,
                creation_info=aws.efs.AccessPointRootDirectoryCreationInfoArgs(
                    owner_uid=spec.posix_uid,
                    owner_gid=spec.posix_gid,
                    permissions="0750",
                ),
            ),
            tags=self._tags("efs-ap"),
            opts=child,
        )
        self.policy = aws.efs.FileSystemPolicy(
            f"{name}-efs-policy",
            file_system_id=self.file_system_id,
            policy=pulumi.Output.all(self.file_system_arn, self.access_point.arn, role.arn).apply(
                lambda v: json.dumps(file_system_policy(v[0], v[1], v[2]), sort_keys=True)
            ),
            opts=child,
        )
        role.grant(
            "shared-file-system",
            [
                Statement(
                    sid="MountThroughAccessPoint",
                    actions=("elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"),
                    resources=[self.file_system_arn],
                    conditions={
                        "ArnEquals": {"elasticfilesystem:AccessPointArn": self.access_point.arn}
                    },
                )
            ],
        )
