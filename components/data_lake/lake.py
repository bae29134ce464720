"""The lake itself: one locked-down bucket per zone, the access-log bucket, scoped grants.

A :class:`DataLake` holds one :class:`~components.buckets.SecureBucket` per zone (by default
``raw``, ``curated``, ``features``, ``models``), each encrypted with the region's KMS key and
bucket keys, versioned, with all four public-access-block flags, ``BucketOwnerEnforced``
ownership, a TLS-only bucket policy, lifecycle rules (noncurrent versions expire; optional
per-zone transitions to cheaper storage classes) and EventBridge notifications, so that new
data can trigger work. Every zone bucket writes server access logs to the lake's log bucket,
which uses SSE-S3 (S3 log delivery cannot write SSE-KMS objects), expires its logs after a
retention period and lets only ``logging.s3.amazonaws.com`` write, only for this account's
zone buckets (``aws:SourceAccount`` / ``aws:SourceArn``) and the buckets registered with
:meth:`DataLake.accept_access_logs`, each under its own prefix. A team may give its own log
bucket instead (``access_log_bucket``).

Grants are tighter than AWS CDK's: object actions on the object ARNs under a prefix, bucket
actions on the bucket ARN (``s3:ListBucket`` limited by ``s3:prefix`` when a prefix is
given), and the KMS actions S3 needs on the region key, only through S3 in that region and
only for that bucket (``kms:ViaService`` and the ``aws:s3:arn`` encryption context).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.buckets import SecureBucket, SecureBucketArgs, Transition
from components.checks import raise_problems
from components.data_lake.replication import (
    LakeReplication,
    LakeReplicationArgs,
    ReplicationSettings,
)
from components.data_lake.rules import (
    DEFAULT_ZONES,
    camel,
    clean_prefix,
    log_delivery_statement,
    s3_via_service,
    transition_problems,
    zone_problems,
)
from components.iam import ServiceRole, Statement
from components.kms import ExistingKey, KeyInput, RegionKey, as_key, key_input_problem


@dataclass(frozen=True)
class DataLakeArgs:
    """Arguments of :class:`DataLake`."""

    key: KeyInput
    """The region key, or the ARN of an existing KMS key (its key policy must let the
    account's principals use it through S3): encrypts every zone bucket (SSE-KMS with
    bucket keys)."""
    zones: Sequence[str] = DEFAULT_ZONES
    """Default: the zones raw, curated, features and models, one bucket each."""
    noncurrent_version_expiration_days: int = 30
    """Default: overwritten or deleted object versions are kept 30 days, then expire."""
    access_log_retention_days: int = 90
    """Default: server access logs are kept 90 days, then expire."""
    access_log_bucket: pulumi.Input[str] | None = None
    """Default: the lake creates its own access-log bucket (SSE-S3, logs expire after
    ``access_log_retention_days``). When given, the name of an existing log bucket (in this
    region and account) whose policy already lets S3 log delivery write under ``<zone>/``
    for the zone buckets (and under the prefixes given to :meth:`DataLake.accept_access_logs`);
    the lake then creates no log bucket."""
    transitions: Mapping[str, Sequence[Transition]] = field(default_factory=dict)
    """Default: objects stay in S3 Standard in every zone. Zone -> transitions of current
    objects to cheaper storage classes."""
    force_destroy: bool = False
    """Default: buckets with objects cannot be deleted. When true (ephemeral stacks), the
    buckets and every object version are deleted with the stack."""
    protect: bool = False
    """Default: unprotected. When true (production), every bucket is protected and
    retained on delete."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: no extra tags beyond ``Name``, ``purpose`` and ``zone``."""

    def problems(self) -> list[str]:
        """Every problem with these arguments, each naming its field."""
        key_problem = key_input_problem(self.key, "key")
        out = [key_problem] if key_problem else []
        out += [f"zones: {p}" for p in zone_problems(list(self.zones))]
        if self.noncurrent_version_expiration_days < 1:
            out.append("noncurrent_version_expiration_days: must be at least 1")
        if self.access_log_retention_days < 1:
            out.append("access_log_retention_days: must be at least 1")
        if isinstance(self.access_log_bucket, str) and not self.access_log_bucket.strip():
            out.append("access_log_bucket: give an existing bucket's name, or leave it out")
        for zone, transitions in self.transitions.items():
            if zone not in self.zones:
                out.append(f"transitions[{zone!r}]: unknown zone; known zones: {list(self.zones)}")
            out += [f"transitions[{zone!r}]: {p}" for p in transition_problems(transitions)]
        if self.force_destroy and self.protect:
            out.append("Only one of [force_destroy] and [protect] can be given")
        return out


def _zone_bucket_args(
    zone: str, args: DataLakeArgs, key: RegionKey | ExistingKey
) -> SecureBucketArgs:
    """The SecureBucket arguments of one zone's bucket (the logging target is set once the
    log bucket exists)."""
    return SecureBucketArgs(
        key=key,
        purpose=f"data-lake-{zone}",
        noncurrent_version_expiration_days=args.noncurrent_version_expiration_days,
        transitions=tuple(args.transitions.get(zone, ())),
        access_log_prefix=f"{zone}/",
        force_destroy=args.force_destroy,
        protect=args.protect,
        eventbridge_notifications=True,
        tags={"zone": zone, **args.tags},
    )


def _log_bucket_args(args: DataLakeArgs, statements: Sequence[Any] = ()) -> SecureBucketArgs:
    """The SecureBucket arguments of the lake's own access-log bucket."""
    return SecureBucketArgs(
        key=None,
        purpose="data-lake-access-logs",
        sse_s3_for_log_delivery=True,
        expiration_days=args.access_log_retention_days,
        noncurrent_version_expiration_days=args.noncurrent_version_expiration_days,
        force_destroy=args.force_destroy,
        protect=args.protect,
        extra_policy_statements=list(statements),
        tags=dict(args.tags),
    )


class DataLake(pulumi.ComponentResource):
    """One region's data lake: a bucket per zone, an access-log bucket, scoped grants."""

    def __init__(
        self, name: str, args: DataLakeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        problems = args.problems()
        raise_problems(f"DataLake {name!r}", problems)
        key = as_key(args.key, "key")
        zone_args = {zone: _zone_bucket_args(zone, args, key) for zone in args.zones}
        late = (_log_bucket_args(args).problems() if args.access_log_bucket is None else []) + [
            p for a in zone_args.values() for p in a.problems()
        ]
        if late:
            raise ValueError(f"DataLake {name!r}: " + "; ".join(late))
        super().__init__("mlops:data_lake:DataLake", name, None, opts)
        self._name = name
        self._label = re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")[:32] or "lake"
        self.key = key
        self.zones: tuple[str, ...] = tuple(args.zones)
        invoke = pulumi.InvokeOptions(parent=self)
        self.account_id = aws.get_caller_identity_output(opts=invoke).account_id

        self._log_sources: list[tuple[str, pulumi.Input[str]]] = []
        self._log_statement_built = False
        resolve_log_statement = self._log_bucket(args)
        self.buckets: dict[str, SecureBucket] = {}
        try:
            self._zone_buckets(zone_args)
        finally:
            # Apply callbacks run once the program's synchronous body has returned control
            # to the engine, so sources registered later in the same body are included.
            if resolve_log_statement is not None:
                resolve_log_statement(
                    pulumi.Output.from_input(None).apply(lambda _: self._build_log_statement())
                )
        self.register_outputs(
            {
                "bucket_names": self.bucket_names(),
                "bucket_arns": self.bucket_arns(),
                "log_bucket": self.log_bucket_name,
            }
        )

    def _log_bucket(
        self, args: DataLakeArgs
    ) -> Callable[[pulumi.Output[dict[str, Any]]], None] | None:
        """The lake's own access-log bucket, unless an existing one is given.

        The log bucket's policy names its sources (aws:SourceArn), which need the log bucket
        as their logging target: the delivery statement is deferred, and built once the
        program has registered every source (the zone buckets, and any
        accept_access_logs() call). Returns what resolves it (None for an existing bucket).
        """
        self.log_bucket: SecureBucket | None = None
        if args.access_log_bucket is not None:
            self.log_bucket_name: pulumi.Output[str] = pulumi.Output.from_input(
                args.access_log_bucket
            )
            return None
        log_statement: pulumi.Output[dict[str, Any]]
        resolve_log_statement: Callable[[pulumi.Output[dict[str, Any]]], None]
        log_statement, resolve_log_statement = pulumi.deferred_output()
        self.log_bucket = SecureBucket(
            f"{self._name}-access-logs",
            _log_bucket_args(args, [log_statement]),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.log_bucket_name = self.log_bucket.name
        return resolve_log_statement

    def _zone_buckets(self, zone_args: Mapping[str, SecureBucketArgs]) -> None:
        """One bucket per zone, logging to the log bucket under ``<zone>/``."""
        target = self.log_bucket.id if self.log_bucket is not None else self.log_bucket_name
        for zone in self.zones:
            self.buckets[zone] = SecureBucket(
                f"{self._name}-{zone}",
                dataclasses.replace(zone_args[zone], access_log_bucket=target),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self._log_sources.append((f"{zone}/", self.buckets[zone].arn))

    def _build_log_statement(self) -> pulumi.Output[dict[str, Any]]:
        """The log bucket's delivery statement over every source registered so far."""
        assert self.log_bucket is not None, "only the lake's own log bucket has this statement"
        self._log_statement_built = True
        sources = list(self._log_sources)
        return pulumi.Output.all(
            self.log_bucket.arn, self.account_id, *[arn for _, arn in sources]
        ).apply(lambda v: log_delivery_statement(v[0], [p for p, _ in sources], v[2:], v[1]))

    def accept_access_logs(self, source_bucket_arn: pulumi.Input[str], prefix: str) -> None:
        """Let S3 server access logging of another bucket of this account and region write
        to the lake's log bucket, only under ``prefix`` (the source's ``target_prefix``).

        Call it in the program's body, right after creating the source bucket with
        ``access_log_bucket=lake.log_bucket_name`` (a SecureBucket source then switches its
        logging on only once this policy, naming it, exists: S3 checks the grants then);
        once the log bucket's policy has been built it raises RuntimeError instead of
        silently leaving the source out. When the
        lake uses an existing log bucket (``access_log_bucket``), that bucket's policy is its
        owner's: the source is only recorded (:attr:`log_sources`), and the owner's policy
        must let S3 log delivery write under ``prefix`` for it.
        """
        clean = clean_prefix(prefix)
        if clean in self.zones:
            raise ValueError(
                f"prefix {prefix!r} is the log prefix of the lake's zone {clean!r}; pick another"
            )
        if any(p == f"{clean}/" for p, _ in self._log_sources):
            raise ValueError(f"prefix {prefix!r} already receives access logs of another bucket")
        if self._log_statement_built:
            raise RuntimeError(
                f"data lake {self._name!r}: the log bucket policy is already built; call "
                "accept_access_logs() in the program body, not inside an apply or after a "
                "synchronous invoke"
            )
        self._log_sources.append((f"{clean}/", source_bucket_arn))

    # Accessors ------------------------------------------------------------------------------

    @property
    def log_sources(self) -> list[tuple[str, pulumi.Input[str]]]:
        """``(prefix, source bucket ARN)`` of every bucket logging to the lake's log bucket."""
        return list(self._log_sources)

    def bucket(self, zone: str) -> SecureBucket:
        """The bucket of ``zone``; ValueError naming the known zones for any other name."""
        if zone not in self.buckets:
            raise ValueError(
                f"data lake {self._name!r} has no zone {zone!r}; known zones: {list(self.zones)}"
            )
        return self.buckets[zone]

    def bucket_arns(self) -> dict[str, pulumi.Output[str]]:
        """Zone -> bucket ARN, in zone order."""
        return {zone: b.arn for zone, b in self.buckets.items()}

    def bucket_names(self) -> dict[str, pulumi.Output[str]]:
        """Zone -> bucket name, in zone order."""
        return {zone: b.name for zone, b in self.buckets.items()}

    # Grants ---------------------------------------------------------------------------------

    def _purpose(self, zone: str, access: str, prefix: str) -> str:
        base = f"{self._label}-{zone}-{access}"
        if prefix:
            slug = re.sub(r"[^a-z0-9]+", "-", prefix.lower()).strip("-")[:16].strip("-")
            digest = hashlib.sha256(prefix.encode()).hexdigest()[:6]
            base = f"{base}-{slug}-{digest}" if slug else f"{base}-{digest}"
        if len(base) > 63:
            digest = hashlib.sha256(base.encode()).hexdigest()[:8]
            base = f"{base[:54].rstrip('-')}-{digest}"
        return base

    def _kms_statement(self, sid: str, zone: str, actions: Sequence[str]) -> Statement:
        """KMS ``actions`` on the lake's key, only through S3 here and only for ``zone``."""
        bucket = self.bucket(zone)
        return Statement(
            sid=sid,
            actions=tuple(actions),
            resources=[self.key.arn],
            conditions={
                "StringEquals": {"kms:ViaService": self.key.context.apply(s3_via_service)},
                "StringLike": {
                    "kms:EncryptionContext:aws:s3:arn": [
                        bucket.arn,
                        pulumi.Output.concat(bucket.arn, "/*"),
                    ]
                },
            },
        )

    def read_statements(
        self, zone: str, prefix: str | None = None, versions: bool = False
    ) -> list[Statement]:
        """Statements to read ``zone`` (under ``prefix`` when given): get and list objects,
        decrypt them. ``versions`` adds s3:GetObjectVersion (reading earlier versions)."""
        bucket = self.bucket(zone)
        clean = clean_prefix(prefix)
        name = camel(zone)
        get = ["s3:GetObject"] + (["s3:GetObjectVersion"] if versions else [])
        listing = Statement(
            sid=f"List{name}Bucket",
            actions=("s3:ListBucket",),
            resources=[bucket.arn],
            conditions={"StringLike": {"s3:prefix": [f"{clean}/", f"{clean}/*"]}}
            if clean
            else None,
        )
        return [
            Statement(
                sid=f"Read{name}Objects", actions=tuple(get), resources=[bucket.objects_arn(clean)]
            ),
            listing,
            self._kms_statement(f"Decrypt{name}Objects", zone, ("kms:Decrypt",)),
        ]

    def write_statements(
        self, zone: str, prefix: str | None = None, allow_delete: bool = False
    ) -> list[Statement]:
        """Statements to write ``zone`` (under ``prefix`` when given): put objects (multipart
        included) and encrypt them; ``allow_delete`` adds s3:DeleteObject (a delete marker
        in these versioned buckets; earlier versions are never deletable)."""
        self.bucket(zone)
        clean = clean_prefix(prefix)
        name = camel(zone)
        actions = ["s3:PutObject", "s3:AbortMultipartUpload"]
        if allow_delete:
            actions.append("s3:DeleteObject")
        return [
            Statement(
                sid=f"Write{name}Objects",
                actions=tuple(actions),
                resources=[self.bucket(zone).objects_arn(clean)],
            ),
            # GenerateDataKey encrypts new objects; Decrypt is needed to complete multipart
            # uploads (S3 decrypts the data key of each part).
            self._kms_statement(
                f"Encrypt{name}Objects", zone, ("kms:GenerateDataKey", "kms:Decrypt")
            ),
        ]

    def grant_read(
        self,
        role: ServiceRole,
        zone: str,
        prefix: str | None = None,
        *,
        versions: bool = False,
        purpose: str | None = None,
    ) -> aws.iam.RolePolicy:
        """Let ``role`` read ``zone`` (only under ``prefix`` when given), and nothing else."""
        clean = clean_prefix(prefix)
        statements = self.read_statements(zone, prefix, versions=versions)
        return role.grant(purpose or self._purpose(zone, "read", clean), statements)

    def grant_write(
        self,
        role: ServiceRole,
        zone: str,
        prefix: str | None = None,
        *,
        allow_delete: bool = False,
        purpose: str | None = None,
    ) -> aws.iam.RolePolicy:
        """Let ``role`` write (and with ``allow_delete`` delete) objects in ``zone`` (only
        under ``prefix`` when given); it can neither read nor list them."""
        clean = clean_prefix(prefix)
        statements = self.write_statements(zone, prefix, allow_delete=allow_delete)
        access = "write-delete" if allow_delete else "write"
        return role.grant(purpose or self._purpose(zone, access, clean), statements)

    def grant_read_write(
        self,
        role: ServiceRole,
        zone: str,
        prefix: str | None = None,
        *,
        allow_delete: bool = False,
        versions: bool = False,
        purpose: str | None = None,
    ) -> aws.iam.RolePolicy:
        """Read and write ``zone`` (under ``prefix`` when given) in one inline policy."""
        clean = clean_prefix(prefix)
        name = camel(zone)
        read = self.read_statements(zone, prefix, versions=versions)
        write = self.write_statements(zone, prefix, allow_delete=allow_delete)
        objects = Statement(
            sid=f"ReadWrite{name}Objects",
            actions=tuple(read[0].actions) + tuple(write[0].actions),
            resources=list(read[0].resources),
        )
        kms = self._kms_statement(f"Use{name}Key", zone, ("kms:Decrypt", "kms:GenerateDataKey"))
        access = "read-write-delete" if allow_delete else "read-write"
        return role.grant(purpose or self._purpose(zone, access, clean), [objects, read[1], kms])

    # Replication ----------------------------------------------------------------------------

    def replicate_to(
        self,
        other: DataLake,
        opts: pulumi.ResourceOptions | None = None,
        *,
        settings: ReplicationSettings | None = None,
    ) -> LakeReplication:
        """Replicate every zone bucket of this lake to its twin zone bucket in ``other``.

        The replication component is a child of this lake (so it uses this region's
        provider, as the source buckets' replication configurations must). ``settings``:
        time control, metrics and alarms, delete markers, replica modification sync
        (default: delete markers only). Two lakes may replicate to each other (two calls):
        replicas are never replicated again.
        """
        replication = LakeReplication(
            f"{self._name}-replication",
            LakeReplicationArgs(
                source=self, destination=other, settings=settings or ReplicationSettings()
            ),
            opts=pulumi.ResourceOptions.merge(pulumi.ResourceOptions(parent=self), opts),
        )
        return replication
