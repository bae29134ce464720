"""DynamoDB: :class:`Table`, a table that meets the baseline.

On-demand billing, point-in-time recovery, SSE with the region's KMS key (or an existing
key given by ARN), deletion protection and ``protect`` in production. Its grant methods give
a role exactly the item actions it needs on this table, plus the KMS actions DynamoDB
performs for it, only through DynamoDB (``kms:ViaService``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.checks import present, raise_problems
from components.iam import ServiceRole, Statement
from components.kms import ExistingKey, KeyInput, RegionKey, as_key, key_input_problem
from components.serverless.grants import purpose_label, via_service

_ATTRIBUTE_TYPES = ("S", "N", "B")


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

    def problems(self) -> list[str]:
        """Every problem with these arguments, each naming its field."""
        out = []
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
        self.table = aws.dynamodb.Table(
            f"{name}-table",
            billing_mode="PAY_PER_REQUEST",
            hash_key=args.hash_key,
            range_key=args.range_key,
            attributes=attributes,
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(
                enabled=True, kms_key_arn=key.arn
            ),
            ttl=(
                aws.dynamodb.TableTtlArgs(attribute_name=args.ttl_attribute, enabled=True)
                if args.ttl_attribute
                else None
            ),
            deletion_protection_enabled=args.deletion_protection,
            tags={"Name": f"{name}-table", **args.tags},
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, retain_on_delete=args.protect
            ),
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
