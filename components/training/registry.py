"""The model registry's table: one DynamoDB table of model versions, and its grants.

The table meets the DynamoDB baseline (on-demand, point-in-time recovery, SSE with the
region's KMS key, deletion protection and ``protect`` in production) and has a **fixed
name** (``<name_prefix>-model-registry``): the jobs, the web service and
``python -m stacks models`` find it without reading stack outputs, and the same name in
every region is what a global table needs. Its items are described in
``services/training/registry.py`` (key ``model`` string + ``version`` number).

Grants are per use, each the item actions the user calls and the KMS actions DynamoDB
performs for it, only through DynamoDB in the table's region (``kms:ViaService``):

- read (scoring jobs, the web service, the drift job): ``Query``, ``GetItem``;
- read-write (the training job): also ``PutItem`` (register a candidate) and ``UpdateItem``
  (take a version number; approve and retire in a ``TransactWriteItems``, whose ``Update``
  actions IAM authorises as ``UpdateItem``: Amazon DynamoDB Developer Guide, "Using IAM with
  DynamoDB transactions", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
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
from components.serverless.grants import via_service

_TABLE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query")
WRITE_ACTIONS = ("dynamodb:PutItem", "dynamodb:UpdateItem")


def registry_table_name(name_prefix: str) -> str:
    """The registry table's name in every region of an environment (``mlops-dev`` ->
    ``mlops-dev-model-registry``)."""
    return f"{name_prefix}-model-registry"


@dataclass(frozen=True)
class ModelRegistryArgs:
    """Arguments of :class:`ModelRegistry`."""

    table_name: str
    """The table's name (see :func:`registry_table_name`)."""
    key: KeyInput
    """The region key, or the ARN of an existing KMS key: the table is encrypted with it."""
    deletion_protection: bool = False
    """Default: the table can be deleted (dev's nightly destroy). True in production."""
    protect: bool = False
    """Default: unprotected. When true, ``pulumi destroy`` refuses and the table is retained."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: no extra tags beyond ``Name``."""


class ModelRegistry(pulumi.ComponentResource):
    """The model registry table and its read / read-write grants."""

    def __init__(
        self, name: str, args: ModelRegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        problems = present(key_input_problem(args.key, "key"))
        if not _TABLE_NAME_RE.match(args.table_name):
            problems.append(
                f"table_name: {args.table_name!r} must be 3-255 letters, digits, '_', '-' or '.'"
            )
        raise_problems(f"ModelRegistry {name!r}", problems)
        key = as_key(args.key, "key")
        super().__init__("mlops:training:ModelRegistry", name, None, opts)
        self.key: RegionKey | ExistingKey = key
        self.table = aws.dynamodb.Table(
            f"{name}-table",
            name=args.table_name,
            billing_mode="PAY_PER_REQUEST",
            hash_key="model",
            range_key="version",
            attributes=[
                aws.dynamodb.TableAttributeArgs(name="model", type="S"),
                aws.dynamodb.TableAttributeArgs(name="version", type="N"),
            ],
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(
                enabled=True, kms_key_arn=key.arn
            ),
            deletion_protection_enabled=args.deletion_protection,
            tags={"Name": f"{name}-table", **args.tags},
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, retain_on_delete=args.protect
            ),
        )
        self.table_name = args.table_name
        self.arn = self.table.arn
        self.name = self.table.name
        self.register_outputs({"arn": self.table.arn, "name": self.table.name})

    def _kms(self, sid: str, actions: Sequence[str]) -> Statement:
        return Statement(
            sid=sid,
            actions=tuple(actions),
            resources=[self.key.arn],
            conditions={
                "StringEquals": {"kms:ViaService": self.key.context.apply(via_service("dynamodb"))}
            },
        )

    def read_statements(self) -> list[Statement]:
        """Find versions (Query, GetItem) and decrypt them through DynamoDB."""
        return [
            Statement(sid="ReadModelVersions", actions=READ_ACTIONS, resources=[self.arn]),
            self._kms("DecryptModelVersions", ("kms:Decrypt",)),
        ]

    def read_write_statements(self) -> list[Statement]:
        """Find, register and approve versions (no deletes, no scans, no table changes)."""
        return [
            Statement(
                sid="ReadWriteModelVersions",
                actions=READ_ACTIONS + WRITE_ACTIONS,
                resources=[self.arn],
            ),
            self._kms("EncryptModelVersions", ("kms:Decrypt", "kms:GenerateDataKey")),
        ]

    def grant_read(
        self, role: ServiceRole, *, purpose: str = "model-registry-read"
    ) -> aws.iam.RolePolicy:
        """Let ``role`` read model versions, and nothing else."""
        return role.grant(purpose, self.read_statements())

    def grant_read_write(
        self, role: ServiceRole, *, purpose: str = "model-registry-read-write"
    ) -> aws.iam.RolePolicy:
        """Let ``role`` read, register and approve model versions, and nothing else."""
        return role.grant(purpose, self.read_write_statements())
