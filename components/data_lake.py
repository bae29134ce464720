"""The S3 data lake: one locked-down bucket per zone, scoped grants, cross-region replication.

A :class:`DataLake` holds one :class:`~components.buckets.SecureBucket` per zone (by default
``raw``, ``curated``, ``features``, ``models``), each encrypted with the region's KMS key and
bucket keys, versioned, with all four public-access-block flags, ``BucketOwnerEnforced``
ownership, a TLS-only bucket policy, lifecycle rules (noncurrent versions expire; optional
per-zone transitions to cheaper storage classes) and EventBridge notifications, so that new
data can trigger work. Every zone bucket writes server access logs to the lake's log bucket,
which uses SSE-S3 (S3 log delivery cannot write SSE-KMS objects), expires its logs after a
retention period and lets only ``logging.s3.amazonaws.com`` write, only for this account's
zone buckets (``aws:SourceAccount`` / ``aws:SourceArn``) and the buckets registered with
:meth:`DataLake.accept_access_logs`, each under its own prefix.

Grants are tighter than AWS CDK's: object actions on the object ARNs under a prefix, bucket
actions on the bucket ARN (``s3:ListBucket`` limited by ``s3:prefix`` when a prefix is
given), and the KMS actions S3 needs on the region key, only through S3 in that region and
only for that bucket (``kms:ViaService`` and the ``aws:s3:arn`` encryption context).

:meth:`DataLake.replicate_to` replicates every zone bucket to its twin zone bucket in another
region's lake (:class:`LakeReplication`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.checks import duplicates, raise_problems
from components.buckets import STORAGE_CLASSES, SecureBucket, SecureBucketArgs, Transition
from components.iam import ServiceRole, ServiceRoleArgs, Statement
from components.kms import KeyContext, RegionKey

#: The zones a lake has unless told otherwise, in the order data flows through them.
DEFAULT_ZONES: tuple[str, ...] = ("raw", "curated", "features", "models")

#: Zone names: lowercase, usable in bucket names, role names and tag values.
ZONE_NAME_RE = re.compile(r"^[a-z](?:[a-z0-9-]{0,18}[a-z0-9])?$")
ZONE_NAME_RULE = "1-20 lowercase letters, digits or '-', starting with a letter and not ending with '-'"

#: Lifecycle transitions S3 supports (the "waterfall"): storage class -> the classes an
#: object in it may move on to.
NEXT_STORAGE_CLASSES: Mapping[str, frozenset[str]] = {
    "STANDARD_IA": frozenset({"INTELLIGENT_TIERING", "ONEZONE_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"}),
    "INTELLIGENT_TIERING": frozenset({"ONEZONE_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"}),
    "ONEZONE_IA": frozenset({"GLACIER", "DEEP_ARCHIVE"}),
    "GLACIER_IR": frozenset({"GLACIER", "DEEP_ARCHIVE"}),
    "GLACIER": frozenset({"DEEP_ARCHIVE"}),
    "DEEP_ARCHIVE": frozenset(),
}

#: Classes objects may only enter 30 days after creation, and must stay in for 30 days
#: before the next transition (S3 rejects lifecycle rules that do otherwise).
THIRTY_DAY_CLASSES = frozenset({"STANDARD_IA", "ONEZONE_IA"})

#: Server access log delivery principal (writes the log bucket).
LOG_DELIVERY_SERVICE = "logging.s3.amazonaws.com"


# Pure rules ---------------------------------------------------------------------------------


def zone_problems(zones: Sequence[str]) -> list[str]:
    """What is wrong with a list of zone names (empty list, bad names, duplicates)."""
    if not zones:
        return ["no zones given; list at least one (e.g. raw, curated, features, models)"]
    out = []
    bad = [z for z in zones if not isinstance(z, str) or not ZONE_NAME_RE.match(z)]
    if bad:
        out.append(f"{bad} are not zone names; use {ZONE_NAME_RULE}")
    dupes = duplicates(z for z in zones if isinstance(z, str))
    if dupes:
        out.append(f"{dupes} listed more than once")
    return out


def transition_problems(transitions: Sequence[Transition]) -> list[str]:
    """What S3 would reject in one zone's list of transitions of current objects.

    Rules (S3 lifecycle "supported transitions" and constraints): a class lifecycle rules
    can move objects to; days >= 0, >= 30 for STANDARD_IA and ONEZONE_IA; each transition
    later than the previous one, to a class the previous one may move on to, and at least
    30 days later when the previous class is STANDARD_IA or ONEZONE_IA.
    """
    out: list[str] = []
    previous: Optional[Transition] = None
    for i, t in enumerate(transitions):
        where = f"transition {i + 1} ({t.storage_class} at day {t.days})"
        if t.storage_class not in STORAGE_CLASSES:
            out.append(
                f"{where}: {t.storage_class!r} is not a storage class lifecycle rules move "
                f"objects to; use one of {', '.join(STORAGE_CLASSES)}"
            )
            previous = None
            continue
        minimum = 30 if t.storage_class in THIRTY_DAY_CLASSES else 0
        if t.days < minimum:
            out.append(f"{where}: days must be at least {minimum} for {t.storage_class}")
        if previous is not None:
            if t.storage_class not in NEXT_STORAGE_CLASSES[previous.storage_class]:
                allowed = sorted(NEXT_STORAGE_CLASSES[previous.storage_class])
                out.append(
                    f"{where}: S3 cannot move objects from {previous.storage_class} to "
                    f"{t.storage_class}; after {previous.storage_class} use one of "
                    f"{allowed or 'nothing (it is the last class)'}"
                )
            gap = 30 if previous.storage_class in THIRTY_DAY_CLASSES else 1
            if t.days < previous.days + gap:
                out.append(
                    f"{where}: must come at least {gap} day(s) after the "
                    f"{previous.storage_class} transition at day {previous.days}; use day "
                    f"{previous.days + gap} or later"
                )
        previous = t
    return out


def log_delivery_statement(
    log_bucket_arn: str,
    prefixes: Sequence[str],
    source_bucket_arns: Sequence[str],
    account_id: str,
) -> dict[str, Any]:
    """Bucket policy statement: S3 server access log delivery may write the lake's logs.

    Only under the zones' log prefixes, only for the given source buckets of this account.
    """
    return {
        "Sid": "S3ServerAccessLogDelivery",
        "Effect": "Allow",
        "Principal": {"Service": LOG_DELIVERY_SERVICE},
        "Action": "s3:PutObject",
        "Resource": [f"{log_bucket_arn}/{p.strip('/')}/*" for p in prefixes],
        "Condition": {
            "ArnLike": {"aws:SourceArn": list(source_bucket_arns)},
            "StringEquals": {"aws:SourceAccount": account_id},
        },
    }


def s3_via_service(ctx: KeyContext) -> str:
    """The ``kms:ViaService`` value of S3 in the key's region."""
    suffix = "amazonaws.com.cn" if ctx.partition == "aws-cn" else "amazonaws.com"
    return f"s3.{ctx.region}.{suffix}"


def _camel(text: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^a-zA-Z0-9]+", text) if part)


def _clean_prefix(prefix: Optional[str]) -> str:
    """A key prefix without surrounding slashes; ValueError for wildcards or empty input."""
    if prefix is None:
        return ""
    if not isinstance(prefix, str):
        raise ValueError(f"prefix must be a string, got {type(prefix).__name__}")
    clean = prefix.strip("/")
    if not clean:
        raise ValueError(
            f"prefix {prefix!r} is empty; pass prefix=None to grant the whole zone"
        )
    if any(c in clean for c in "*?$"):
        raise ValueError(
            f"prefix {prefix!r} contains a wildcard or policy variable ('*', '?', '$'); "
            "give a literal key prefix such as 'runs/2024'"
        )
    return clean


# The lake -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataLakeArgs:
    """Arguments of :class:`DataLake`."""

    key: RegionKey
    """The region's KMS key: encrypts every zone bucket (SSE-KMS with bucket keys)."""
    zones: Sequence[str] = DEFAULT_ZONES
    """Default: the zones raw, curated, features and models, one bucket each."""
    noncurrent_version_expiration_days: int = 30
    """Default: overwritten or deleted object versions are kept 30 days, then expire."""
    access_log_retention_days: int = 90
    """Default: server access logs are kept 90 days, then expire."""
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
        out = [f"zones: {p}" for p in zone_problems(list(self.zones))]
        if self.noncurrent_version_expiration_days < 1:
            out.append("noncurrent_version_expiration_days: must be at least 1")
        if self.access_log_retention_days < 1:
            out.append("access_log_retention_days: must be at least 1")
        for zone, transitions in self.transitions.items():
            if zone not in self.zones:
                out.append(
                    f"transitions[{zone!r}]: unknown zone; known zones: {list(self.zones)}"
                )
            out += [f"transitions[{zone!r}]: {p}" for p in transition_problems(transitions)]
        if self.force_destroy and self.protect:
            out.append("Only one of [force_destroy] and [protect] can be given")
        return out


def _zone_bucket_args(zone: str, args: DataLakeArgs) -> SecureBucketArgs:
    """The SecureBucket arguments of one zone's bucket (the logging target is set once the
    log bucket exists)."""
    return SecureBucketArgs(
        key=args.key,
        purpose=f"data-lake-{zone}",
        noncurrent_version_expiration_days=args.noncurrent_version_expiration_days,
        transitions=tuple(args.transitions.get(zone, ())),
        access_log_prefix=f"{zone}/",
        force_destroy=args.force_destroy,
        protect=args.protect,
        eventbridge_notifications=True,
        tags={"zone": zone, **args.tags},
    )


class DataLake(pulumi.ComponentResource):
    """One region's data lake: a bucket per zone, an access-log bucket, scoped grants."""

    def __init__(
        self, name: str, args: DataLakeArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        problems = args.problems()
        raise_problems(f"DataLake {name!r}", problems)
        zone_args = {zone: _zone_bucket_args(zone, args) for zone in args.zones}
        log_args_problems = SecureBucketArgs(
            key=None,
            purpose="data-lake-access-logs",
            sse_s3_for_log_delivery=True,
            expiration_days=args.access_log_retention_days,
            noncurrent_version_expiration_days=args.noncurrent_version_expiration_days,
        ).problems()
        late = log_args_problems + [p for a in zone_args.values() for p in a.problems()]
        if late:
            raise ValueError(f"DataLake {name!r}: " + "; ".join(late))
        super().__init__("mlops:data_lake:DataLake", name, None, opts)
        self._name = name
        self._label = re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")[:32] or "lake"
        self.key = args.key
        self.zones: tuple[str, ...] = tuple(args.zones)
        invoke = pulumi.InvokeOptions(parent=self)
        self.account_id = aws.get_caller_identity_output(opts=invoke).account_id

        # The log bucket's policy names its sources (aws:SourceArn), which need the log
        # bucket as their logging target: the statement is built once the program has
        # registered every source (the zone buckets, and any accept_access_logs() call).
        self._log_sources: list[tuple[str, pulumi.Input[str]]] = []
        self._log_statement_built = False
        log_statement, resolve_log_statement = pulumi.deferred_output()
        self.log_bucket = SecureBucket(
            f"{name}-access-logs",
            SecureBucketArgs(
                key=None,
                purpose="data-lake-access-logs",
                sse_s3_for_log_delivery=True,
                expiration_days=args.access_log_retention_days,
                noncurrent_version_expiration_days=args.noncurrent_version_expiration_days,
                force_destroy=args.force_destroy,
                protect=args.protect,
                extra_policy_statements=[log_statement],
                tags=dict(args.tags),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.buckets: dict[str, SecureBucket] = {}
        try:
            for zone in self.zones:
                self.buckets[zone] = SecureBucket(
                    f"{name}-{zone}",
                    dataclasses.replace(zone_args[zone], access_log_bucket=self.log_bucket.id),
                    opts=pulumi.ResourceOptions(parent=self),
                )
                self._log_sources.append((f"{zone}/", self.buckets[zone].arn))
        finally:
            # Apply callbacks run once the program's synchronous body has returned control
            # to the engine, so sources registered later in the same body are included.
            resolve_log_statement(
                pulumi.Output.from_input(None).apply(lambda _: self._build_log_statement())
            )
        self.register_outputs(
            {
                "bucket_names": self.bucket_names(),
                "bucket_arns": self.bucket_arns(),
                "log_bucket": self.log_bucket.name,
            }
        )

    def _build_log_statement(self) -> pulumi.Output[dict[str, Any]]:
        """The log bucket's delivery statement over every source registered so far."""
        self._log_statement_built = True
        sources = list(self._log_sources)
        return pulumi.Output.all(
            self.log_bucket.arn, self.account_id, *[arn for _, arn in sources]
        ).apply(
            lambda v: log_delivery_statement(v[0], [p for p, _ in sources], v[2:], v[1])
        )

    def accept_access_logs(self, source_bucket_arn: pulumi.Input[str], prefix: str) -> None:
        """Let S3 server access logging of another bucket of this account and region write
        to the lake's log bucket, only under ``prefix`` (the source's ``target_prefix``).

        Call it in the program's body, right after creating the source bucket with
        ``access_log_bucket=lake.log_bucket.id``; once the log bucket's policy has been
        built it raises RuntimeError instead of silently leaving the source out.
        """
        clean = _clean_prefix(prefix)
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
        self, zone: str, prefix: Optional[str] = None, versions: bool = False
    ) -> list[Statement]:
        """Statements to read ``zone`` (under ``prefix`` when given): get and list objects,
        decrypt them. ``versions`` adds s3:GetObjectVersion (reading earlier versions)."""
        bucket = self.bucket(zone)
        clean = _clean_prefix(prefix)
        name = _camel(zone)
        get = ["s3:GetObject"] + (["s3:GetObjectVersion"] if versions else [])
        listing = Statement(
            sid=f"List{name}Bucket",
            actions=("s3:ListBucket",),
            resources=[bucket.arn],
            conditions={"StringLike": {"s3:prefix": [f"{clean}/", f"{clean}/*"]}} if clean else None,
        )
        return [
            Statement(sid=f"Read{name}Objects", actions=tuple(get), resources=[bucket.objects_arn(clean)]),
            listing,
            self._kms_statement(f"Decrypt{name}Objects", zone, ("kms:Decrypt",)),
        ]

    def write_statements(
        self, zone: str, prefix: Optional[str] = None, allow_delete: bool = False
    ) -> list[Statement]:
        """Statements to write ``zone`` (under ``prefix`` when given): put objects (multipart
        included) and encrypt them; ``allow_delete`` adds s3:DeleteObject (a delete marker
        in these versioned buckets; earlier versions are never deletable)."""
        self.bucket(zone)
        clean = _clean_prefix(prefix)
        name = _camel(zone)
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
        prefix: Optional[str] = None,
        *,
        versions: bool = False,
        purpose: Optional[str] = None,
    ) -> aws.iam.RolePolicy:
        """Let ``role`` read ``zone`` (only under ``prefix`` when given), and nothing else."""
        clean = _clean_prefix(prefix)
        statements = self.read_statements(zone, prefix, versions=versions)
        return role.grant(purpose or self._purpose(zone, "read", clean), statements)

    def grant_write(
        self,
        role: ServiceRole,
        zone: str,
        prefix: Optional[str] = None,
        *,
        allow_delete: bool = False,
        purpose: Optional[str] = None,
    ) -> aws.iam.RolePolicy:
        """Let ``role`` write (and with ``allow_delete`` delete) objects in ``zone`` (only
        under ``prefix`` when given); it can neither read nor list them."""
        clean = _clean_prefix(prefix)
        statements = self.write_statements(zone, prefix, allow_delete=allow_delete)
        access = "write-delete" if allow_delete else "write"
        return role.grant(purpose or self._purpose(zone, access, clean), statements)

    def grant_read_write(
        self,
        role: ServiceRole,
        zone: str,
        prefix: Optional[str] = None,
        *,
        allow_delete: bool = False,
        versions: bool = False,
        purpose: Optional[str] = None,
    ) -> aws.iam.RolePolicy:
        """Read and write ``zone`` (under ``prefix`` when given) in one inline policy."""
        clean = _clean_prefix(prefix)
        name = _camel(zone)
        read = self.read_statements(zone, prefix, versions=versions)
        write = self.write_statements(zone, prefix, allow_delete=allow_delete)
        objects = Statement(
            sid=f"ReadWrite{name}Objects",
            actions=tuple(read[0].actions) + tuple(write[0].actions),
            resources=list(read[0].resources),
        )
        kms = self._kms_statement(
            f"Use{name}Key", zone, ("kms:Decrypt", "kms:GenerateDataKey")
        )
        access = "read-write-delete" if allow_delete else "read-write"
        return role.grant(purpose or self._purpose(zone, access, clean), [objects, read[1], kms])

    # Replication ----------------------------------------------------------------------------

    def replicate_to(
        self, other: "DataLake", opts: Optional[pulumi.ResourceOptions] = None
    ) -> "LakeReplication":
        """Replicate every zone bucket of this lake to its twin zone bucket in ``other``.

        The replication component is a child of this lake (so it uses this region's
        provider, as the source buckets' replication configurations must).
        """
        replication = LakeReplication(
            f"{self._name}-replication",
            LakeReplicationArgs(source=self, destination=other),
            opts=pulumi.ResourceOptions.merge(pulumi.ResourceOptions(parent=self), opts),
        )
        return replication


# Replication ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LakeReplicationArgs:
    """Arguments of :class:`LakeReplication`."""

    source: DataLake
    """The primary region's lake: every zone bucket of it is replicated."""
    destination: DataLake
    """The secondary region's lake: must have every zone of ``source``."""

    def problems(self) -> list[str]:
        out = []
        if self.source is self.destination:
            out.append("source and destination are the same lake; replicate to another region's lake")
        missing = [z for z in self.source.zones if z not in self.destination.zones]
        if missing:
            out.append(
                f"destination: lacks zone(s) {missing} of the source; its zones are "
                f"{list(self.destination.zones)}"
            )
        return out


def replication_statements(
    source_bucket: SecureBucket,
    destination_bucket: SecureBucket,
    source_key: RegionKey,
    destination_key: RegionKey,
) -> list[Statement]:
    """Exactly what S3 replication of one zone bucket needs (AWS S3 User Guide,
    "Replicating encrypted objects"): read the source's replication configuration and
    object versions, replicate objects, deletes and tags into the destination, decrypt with
    the source key and encrypt with the destination key, each only through S3 in that
    key's region and only for that bucket. The destination bucket uses S3 Bucket Keys, so
    replication also decrypts with the destination key (S3 verifies the bucket key)."""
    def context(bucket: SecureBucket) -> dict[str, Any]:
        return {"kms:EncryptionContext:aws:s3:arn": [bucket.arn, pulumi.Output.concat(bucket.arn, "/*")]}

    return [
        Statement(
            sid="ReadSourceReplicationConfiguration",
            actions=("s3:GetReplicationConfiguration", "s3:ListBucket"),
            resources=[source_bucket.arn],
        ),
        Statement(
            sid="ReadSourceObjectVersions",
            actions=(
                "s3:GetObjectVersionForReplication",
                "s3:GetObjectVersionAcl",
                "s3:GetObjectVersionTagging",
            ),
            resources=[source_bucket.objects_arn()],
        ),
        Statement(
            sid="ReplicateIntoDestination",
            actions=("s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"),
            resources=[destination_bucket.objects_arn()],
        ),
        Statement(
            sid="DecryptSourceObjects",
            actions=("kms:Decrypt",),
            resources=[source_key.arn],
            conditions={
                "StringEquals": {"kms:ViaService": source_key.context.apply(s3_via_service)},
                "StringLike": context(source_bucket),
            },
        ),
        Statement(
            sid="EncryptReplicas",
            actions=("kms:Encrypt", "kms:Decrypt"),
            resources=[destination_key.arn],
            conditions={
                "StringEquals": {
                    "kms:ViaService": destination_key.context.apply(s3_via_service)
                },
                "StringLike": context(destination_bucket),
            },
        ),
    ]


class LakeReplication(pulumi.ComponentResource):
    """Cross-region replication of every zone bucket of one lake to its twin in another.

    Per zone: a replication role (trusted by ``s3.amazonaws.com`` for that source bucket
    only), its one inline policy (:func:`replication_statements`), and the source bucket's
    replication configuration: all objects, SSE-KMS objects included, replicas encrypted
    with the destination region's key, delete markers replicated. Create it with the source
    region's provider (as a child of the source lake): the configuration belongs to the
    source bucket, and the global IAM role must still have a provider.
    """

    def __init__(
        self,
        name: str,
        args: LakeReplicationArgs,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        problems = args.problems()
        raise_problems(f"LakeReplication {name!r}", problems)
        super().__init__("mlops:data_lake:LakeReplication", name, None, opts)
        source, destination = args.source, args.destination
        self.roles: dict[str, ServiceRole] = {}
        self.policies: dict[str, aws.iam.RolePolicy] = {}
        self.configurations: dict[str, aws.s3.BucketReplicationConfig] = {}
        for zone in source.zones:
            src, dst = source.bucket(zone), destination.bucket(zone)
            role = ServiceRole(
                f"{name}-{zone}",
                ServiceRoleArgs(
                    service="s3.amazonaws.com",
                    description=f"S3 replication of the {zone} zone to the secondary region",
                    source_arn=src.arn,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            policy = role.grant(
                "replicate",
                replication_statements(src, dst, source.key, destination.key),
            )
            self.roles[zone] = role
            self.policies[zone] = policy
            self.configurations[zone] = aws.s3.BucketReplicationConfig(
                f"{name}-{zone}",
                bucket=src.id,
                role=role.arn,
                rules=[
                    aws.s3.BucketReplicationConfigRuleArgs(
                        id=f"replicate-{zone}",
                        status="Enabled",
                        priority=1,
                        filter=aws.s3.BucketReplicationConfigRuleFilterArgs(prefix=""),
                        delete_marker_replication=aws.s3.BucketReplicationConfigRuleDeleteMarkerReplicationArgs(
                            status="Enabled"
                        ),
                        source_selection_criteria=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaArgs(
                            sse_kms_encrypted_objects=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaSseKmsEncryptedObjectsArgs(
                                status="Enabled"
                            )
                        ),
                        destination=aws.s3.BucketReplicationConfigRuleDestinationArgs(
                            bucket=dst.arn,
                            encryption_configuration=aws.s3.BucketReplicationConfigRuleDestinationEncryptionConfigurationArgs(
                                replica_kms_key_id=destination.key.arn
                            ),
                        ),
                    )
                ],
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[src.versioning, dst.versioning, policy]
                ),
            )
        self.register_outputs(
            {"roles": {zone: r.arn for zone, r in self.roles.items()}}
        )
