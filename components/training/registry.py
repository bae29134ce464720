"""The model registry's table: one DynamoDB table of model versions, and its grants.

The table meets the DynamoDB baseline (on-demand, point-in-time recovery, SSE with the
region's KMS key, deletion protection and ``protect`` in production) and has a **fixed
name** (``<name_prefix>-model-registry``): the jobs, the web service and
``python -m stacks models`` find it without reading stack outputs, and the same name in
every region is what a global table needs. Its items are described in
``services/training/registry.py`` (key ``model`` string + ``version`` number).

One global table (version 2019.11.21; see
:func:`components.serverless.table.global_table_arguments`): the primary region's registry
lists a replica per other region (``replica_keys``), each with its region's key,
point-in-time recovery and the deletion protection; the other regions' registries are
created with ``replica_of`` and grant on their region's replica. Replication is
asynchronous, last writer wins: a version number is taken with an atomic ``UpdateItem ...
ADD`` on a counter item and registered with a conditional put, both atomic in one region
only. Two regions taking numbers at the same time could both get the same one, and the
later write would replace the other's version item.
Training runs in the active region only (its schedule and trigger are switched by
``failover``), so one region writes at a time; after a failover, the new region continues
from the counter it has received (replication usually within a second).

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
from components.serverless.table import encrypted_table, replica_arn, replica_problems

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
    replica_keys: Mapping[str, KeyInput] = field(default_factory=dict)
    """Default: a table of this region only. Region name -> that region's key: one global
    table with a replica in each of those regions (that region's key, point-in-time
    recovery, this registry's deletion protection, tags propagated)."""
    replica_of: ModelRegistry | None = None
    """Default: this region creates the table. When given, the primary region's registry
    (with this region in its ``replica_keys``): no table here; grants name this region's
    replica (same name, this region's ARN and ``key``)."""


class ModelRegistry(pulumi.ComponentResource):
    """The model registry table and its read / read-write grants."""

    def __init__(
        self, name: str, args: ModelRegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        problems = present(key_input_problem(args.key, "key"))
        problems += replica_problems(args.replica_keys, args.replica_of)
        if args.replica_of is not None and args.replica_of.table_name != args.table_name:
            problems.append(
                f"table_name: {args.table_name!r} differs from the global table's "
                f"{args.replica_of.table_name!r}; a replica has its global table's name"
            )
        if not _TABLE_NAME_RE.match(args.table_name):
            problems.append(
                f"table_name: {args.table_name!r} must be 3-255 letters, digits, '_', '-' or '.'"
            )
        raise_problems(f"ModelRegistry {name!r}", problems)
        key = as_key(args.key, "key")
        super().__init__("mlops:training:ModelRegistry", name, None, opts)
        self.key: RegionKey | ExistingKey = key
        self.table_name: str = args.table_name
        #: The table (None in a region that uses the primary's replica: ``replica_of``).
        self.table: aws.dynamodb.Table | None = None
        if args.replica_of is not None:
            self.name: pulumi.Output[str] = args.replica_of.name
            self.arn: pulumi.Output[str] = replica_arn(args.replica_of.arn, key)
            self.register_outputs({"arn": self.arn, "name": self.name})
            return
        self.table = encrypted_table(
            f"{name}-table",
            table_name=args.table_name,
            key=key,
            hash_key="model",
            range_key="version",
            attributes=[
                aws.dynamodb.TableAttributeArgs(name="model", type="S"),
                aws.dynamodb.TableAttributeArgs(name="version", type="N"),
            ],
            replica_keys=args.replica_keys,
            deletion_protection=args.deletion_protection,
            tags={"Name": f"{name}-table", **args.tags},
            protect=args.protect,
            parent=self,
        )
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
