"""DynamoDB: :class:`Table`, a table that meets the baseline, optionally a global table.

On-demand billing, point-in-time recovery, SSE with the region's KMS key (or an existing
key given by ARN), deletion protection and ``protect`` in production. Its grant methods give
a role exactly the item actions it needs on this table, plus the KMS actions DynamoDB
performs for it, only through DynamoDB (``kms:ViaService``).

Global tables (version 2019.11.21; the AWS sources are cited at :func:`global_table_arguments`):
the table of the primary region lists a replica per other region (``replica_keys``), each
encrypted with that region's key, with point-in-time recovery and the table's deletion
protection; every other region creates a :class:`Table` with ``replica_of`` set, which
creates no table and grants on its region's replica (same name, that region's ARN and key).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.checks import present, raise_problems
from components.iam import ServiceRole, Statement
from components.kms import ExistingKey, KeyInput, RegionKey, as_key, key_input_problem
from components.serverless.grants import purpose_label, via_service

_ATTRIBUTE_TYPES = ("S", "N", "B")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")


# Global tables (version 2019.11.21) ---------------------------------------------------------


def replica_problems(replica_keys: Mapping[str, KeyInput], replica_of: object) -> list[str]:
    """Problems with a table's global-table arguments (``replica_keys``, ``replica_of``)."""
    out = []
    if replica_keys and replica_of is not None:
        out.append("Only one of [replica_keys] and [replica_of] can be given")
    for region, key in replica_keys.items():
        if not (isinstance(region, str) and _REGION_RE.match(region)):
            out.append(f"replica_keys: {region!r} is not a region name (e.g. eu-central-1)")
        problem = key_input_problem(key, f"replica_keys[{region!r}]")
        if problem:
            out.append(problem)
    return out


@dataclass(frozen=True)
class GlobalTableArguments:
    """The ``aws.dynamodb.Table`` arguments that make a table global (all None: not global)."""

    stream_enabled: bool | None = None
    stream_view_type: str | None = None
    replicas: list[aws.dynamodb.TableReplicaArgs] | None = None


def global_table_arguments(
    replica_keys: Mapping[str, KeyInput], deletion_protection: bool
) -> GlobalTableArguments:
    """The ``aws.dynamodb.Table`` arguments that make it a global table (none without replicas).

    - One replica per region, each encrypted with that region's customer managed key: "each
      regional replica of your global table requires a regional customer managed key"
      (https://aws.amazon.com/about-aws/whats-new/2020/11/encrypt-your-amazon-dynamodb-global-tables-by-using-your-own-encryption-keys/).
    - Point-in-time recovery and deletion protection are settings of each replica table
      (pulumi_aws ``TableReplicaArgs.point_in_time_recovery`` /
      ``deletion_protection_enabled``, both off unless set), so every replica sets them.
    - Tags are propagated to the replicas (``propagate_tags``; one direction only).
    - Streams with new and old images: DynamoDB turns the stream on when a replica is added,
      and a table that leaves ``stream_enabled`` unset then plans to turn it off on every
      update, which a replicated table refuses
      (https://github.com/hashicorp/terraform-provider-aws/issues/43625; the replica
      requirements: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateGlobalTable.html,
      "DynamoDB Streams enabled, with the stream containing both the new and the old images").
    - Replicas can be added to a table that already holds items (version 2019.11.21):
      DynamoDB copies them into the new replica
      (https://aws.amazon.com/blogs/aws/new-convert-your-single-region-amazon-dynamodb-tables-to-global-tables/),
      but not into a region that already has a table of the same name.
    - Concurrent writes of one item in two regions: "last writer wins" reconciliation
      (https://docs.amazonaws.cn/en_us/amazondynamodb/latest/developerguide/V2globaltables_HowItWorks.html).
    """
    if not replica_keys:
        return GlobalTableArguments()
    return GlobalTableArguments(
        stream_enabled=True,
        stream_view_type="NEW_AND_OLD_IMAGES",
        replicas=[
            aws.dynamodb.TableReplicaArgs(
                region_name=region,
                kms_key_arn=as_key(key, f"replica_keys[{region!r}]").arn,
                point_in_time_recovery=True,
                deletion_protection_enabled=deletion_protection,
                propagate_tags=True,
            )
            for region, key in sorted(replica_keys.items())
        ],
    )


def encrypted_table(
    resource_name: str,
    *,
    key: KeyInput,
    hash_key: str,
    attributes: Sequence[aws.dynamodb.TableAttributeArgs],
    replica_keys: Mapping[str, KeyInput],
    deletion_protection: bool,
    tags: Mapping[str, str],
    protect: bool,
    parent: pulumi.Resource,
    range_key: str | None = None,
    ttl_attribute: str | None = None,
    table_name: str | None = None,
) -> aws.dynamodb.Table:
    """The platform's one way to make a DynamoDB table: on demand, encrypted with ``key``,
    point-in-time recovery on, protected and retained when ``protect``, and global (a
    replica per ``replica_keys`` region, :func:`global_table_arguments`) when given
    replica keys. Used by :class:`Table` and the model registry."""
    global_table = global_table_arguments(replica_keys, deletion_protection)
    return aws.dynamodb.Table(
        resource_name,
        name=table_name,
        billing_mode="PAY_PER_REQUEST",
        hash_key=hash_key,
        range_key=range_key,
        attributes=list(attributes),
        point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
        server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(
            enabled=True, kms_key_arn=as_key(key, "key").arn
        ),
        ttl=(
            aws.dynamodb.TableTtlArgs(attribute_name=ttl_attribute, enabled=True)
            if ttl_attribute
            else None
        ),
        deletion_protection_enabled=deletion_protection,
        tags=dict(tags),
        stream_enabled=global_table.stream_enabled,
        stream_view_type=global_table.stream_view_type,
        replicas=global_table.replicas,
        opts=pulumi.ResourceOptions(parent=parent, protect=protect, retain_on_delete=protect),
    )


def in_region(arn: str, region: str) -> str:
    """``arn`` (``arn:<partition>:dynamodb:<region>:<account>:table/<name>``) in ``region``:
    a global table's replicas share its name, each with its own region in the ARN."""
    parts = arn.split(":", 5)
    if len(parts) != 6:
        raise ValueError(f"{arn!r} is not an ARN")
    parts[3] = region
    return ":".join(parts)


def replica_arn(primary_arn: pulumi.Input[str], key: RegionKey | ExistingKey) -> pulumi.Output[str]:
    """The ARN of the replica in ``key``'s region of the global table ``primary_arn``."""
    return pulumi.Output.all(primary_arn, key.context).apply(lambda v: in_region(v[0], v[1].region))


@dataclass(frozen=True)
class TableArgs:
    """Arguments of :class:`Table`."""

    key: KeyInput
    """The region key, or the ARN of an existing KMS key (its key policy must let this
    account's IAM policies use it, which DynamoDB does on the callers' behalf): the table is
    encrypted with it (SSE-KMS). Anything else is refused."""
    hash_key: str
    """Name of the partition key attribute."""
    hash_key_type: str = "S"
    """Default: the partition key is a string (``S``); ``N`` and ``B`` are allowed."""
    range_key: str | None = None
    """Default: no sort key. When given, the name of the sort key attribute."""
    range_key_type: str | None = None
    """Default: a string sort key (``S``) when ``range_key`` is given. Only with ``range_key``."""
    ttl_attribute: str | None = None
    """Default: items never expire. When given, the attribute holding each item's expiry
    time (epoch seconds); DynamoDB deletes expired items."""
    deletion_protection: bool = False
    """Default: the table can be deleted (dev's nightly destroy). When true (production),
    DynamoDB refuses to delete it until protection is turned off."""
    protect: bool = False
    """Default: unprotected. When true (production), ``pulumi destroy`` refuses and the
    table is retained in the account if removed from the program."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: no extra tags beyond ``Name``."""
    replica_keys: Mapping[str, KeyInput] = field(default_factory=dict)
    """Default: a table of this region only. Region name -> that region's key: the table
    becomes a global table with a replica in each of those regions, encrypted with its key,
    with point-in-time recovery, this table's deletion protection and tags."""
    replica_of: Table | None = None
    """Default: this region creates the table. When given, the global table of the primary
    region (created with this region in its ``replica_keys``): no table is created here, and
    the grants name this region's replica (same name, this region's ARN, ``key``)."""

    def problems(self) -> list[str]:
        """Every problem with these arguments, each naming its field."""
        out = replica_problems(self.replica_keys, self.replica_of)
        for label, value in (
            ("hash_key", self.hash_key),
            ("range_key", self.range_key),
            ("ttl_attribute", self.ttl_attribute),
        ):
            if value is not None and not (
                isinstance(value, str) and 1 <= len(value.encode()) <= 255
            ):
                out.append(f"{label}: {value!r} must be an attribute name of 1-255 bytes")
        if self.hash_key_type not in _ATTRIBUTE_TYPES:
            out.append(
                f"hash_key_type: {self.hash_key_type!r} is not one of {list(_ATTRIBUTE_TYPES)}"
            )
        if self.range_key_type is not None:
            if self.range_key is None:
                out.append("range_key_type: given without range_key")
            elif self.range_key_type not in _ATTRIBUTE_TYPES:
                out.append(
                    f"range_key_type: {self.range_key_type!r} is not one of {list(_ATTRIBUTE_TYPES)}"
                )
        if self.range_key is not None and self.range_key == self.hash_key:
            out.append(f"range_key: {self.range_key!r} is also the hash_key; use another attribute")
        if self.ttl_attribute is not None and self.ttl_attribute in (self.hash_key, self.range_key):
            out.append(
                f"ttl_attribute: {self.ttl_attribute!r} is a key attribute; keys cannot expire"
            )
        return out


class Table(pulumi.ComponentResource):
    """A DynamoDB table: on demand, point-in-time recovery, the region's KMS key."""

    def __init__(
        self, name: str, args: TableArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        problems = args.problems()
        problems += present(key_input_problem(args.key, "key"))
        raise_problems(f"Table {name!r}", problems)
        key = as_key(args.key, "key")
        super().__init__("mlops:serverless:Table", name, None, opts)
        self._label = purpose_label(name)
        #: The key given (a RegionKey, or an existing key used by its ARN).
        self.key: RegionKey | ExistingKey = key
        attributes = [aws.dynamodb.TableAttributeArgs(name=args.hash_key, type=args.hash_key_type)]
        if args.range_key is not None:
            attributes.append(
                aws.dynamodb.TableAttributeArgs(
                    name=args.range_key, type=args.range_key_type or "S"
                )
            )
        #: The table (None in a region that uses the primary's replica: ``replica_of``).
        self.table: aws.dynamodb.Table | None = None
        if args.replica_of is not None:
            self.name: pulumi.Output[str] = args.replica_of.name
            self.arn: pulumi.Output[str] = replica_arn(args.replica_of.arn, key)
            self.register_outputs({"arn": self.arn, "name": self.name})
            return
        self.table = encrypted_table(
            f"{name}-table",
            key=key,
            hash_key=args.hash_key,
            range_key=args.range_key,
            attributes=attributes,
            ttl_attribute=args.ttl_attribute,
            replica_keys=args.replica_keys,
            deletion_protection=args.deletion_protection,
            tags={"Name": f"{name}-table", **args.tags},
            protect=args.protect,
            parent=self,
        )
        self.arn = self.table.arn
        self.name = self.table.name
        self.register_outputs({"arn": self.table.arn, "name": self.table.name})

    def _kms_statement(self, sid: str, actions: Sequence[str]) -> Statement:
        """KMS ``actions`` on the table's key, only through DynamoDB in its region."""
        return Statement(
            sid=sid,
            actions=tuple(actions),
            resources=[self.key.arn],
            conditions={
                "StringEquals": {"kms:ViaService": self.key.context.apply(via_service("dynamodb"))}
            },
        )

    def write_statements(self, update: bool = False) -> list[Statement]:
        """Put items (single and batch; ``update`` adds UpdateItem) and the KMS actions
        DynamoDB performs for the writer."""
        actions = ["dynamodb:BatchWriteItem", "dynamodb:PutItem"]
        if update:
            actions.append("dynamodb:UpdateItem")
        return [
            Statement(sid="WriteTableItems", actions=tuple(actions), resources=[self.arn]),
            self._kms_statement("EncryptTableItems", ("kms:Decrypt", "kms:GenerateDataKey")),
        ]

    def read_statements(self) -> list[Statement]:
        """Read items (get, batch get, query, scan, condition checks) on the table and its
        indexes, and decrypt through DynamoDB."""
        return [
            Statement(
                sid="ReadTableItems",
                actions=(
                    "dynamodb:BatchGetItem",
                    "dynamodb:ConditionCheckItem",
                    "dynamodb:DescribeTable",
                    "dynamodb:GetItem",
                    "dynamodb:Query",
                    "dynamodb:Scan",
                ),
                resources=[self.arn, pulumi.Output.concat(self.arn, "/index/*")],
            ),
            self._kms_statement("DecryptTableItems", ("kms:Decrypt",)),
        ]

    def grant_write(
        self, role: ServiceRole, *, update: bool = False, purpose: str | None = None
    ) -> aws.iam.RolePolicy:
        """Let ``role`` write items to this table (no reads, no deletes), and nothing else."""
        return role.grant(purpose or f"{self._label}-write", self.write_statements(update))

    def grant_read(self, role: ServiceRole, *, purpose: str | None = None) -> aws.iam.RolePolicy:
        """Let ``role`` read items of this table and its indexes, and nothing else."""
        return role.grant(purpose or f"{self._label}-read", self.read_statements())
