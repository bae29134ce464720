"""The global tables: one table in the primary, a replica with its region's key everywhere else.

Component level (:class:`Table` and :class:`ModelRegistry` with ``replica_keys`` /
``replica_of``) and stack level (both real stack files): each global table exists once, in
the primary region, with a replica in every other region encrypted with that region's key,
point-in-time recovery and (prod) deletion protection on every replica; no other region has
a table of its own; every region's roles are granted on their own region's replica; the
failover inventory of every region names the tables.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from components.kms import RegionKey, RegionKeyArgs
from components.serverless import Table, TableArgs
from components.serverless.table import in_region
from components.training import ModelRegistry, ModelRegistryArgs
from stacks.config import load_stack_config
from stacks.offline import PROJECT_DIR, Plan, render_components
from stacks.standby import parse_inventory

TABLE = "aws:dynamodb/table:Table"
ACCOUNT = "123456789012"


def key_arn(plan: Plan, name: str) -> str:
    key = plan.find("aws:kms/key:Key", name)
    return f"arn:aws:kms:{key['region']}:{ACCOUNT}:key/{key['id']}"


def render_global(kind: str, deletion_protection: bool = True) -> tuple[Plan, dict[str, Any]]:
    """A global ``kind`` (records table or registry) in eu-west-1 with replicas in eu-central-1
    and us-east-1, and each replica region's component; returns the plan and what they
    expose (name, ARN) per region."""
    exposed: dict[str, Any] = {}

    def build(opts: pulumi.ResourceOptions) -> None:
        keys: dict[str, RegionKey] = {
            "eu-west-1": RegionKey("k-eu-west-1", RegionKeyArgs(alias="w"), opts)
        }
        region_opts = {"eu-west-1": opts}
        for region in ("eu-central-1", "us-east-1"):
            region_opts[region] = pulumi.ResourceOptions(
                providers={"aws": aws.Provider(f"aws-{region}", region=region)}
            )
            keys[region] = RegionKey(
                f"k-{region}", RegionKeyArgs(alias=region), region_opts[region]
            )
        others = {r: k for r, k in keys.items() if r != "eu-west-1"}
        primary: Table | ModelRegistry
        if kind == "table":
            primary = Table(
                "eu-west-1-records",
                TableArgs(
                    key=keys["eu-west-1"],
                    hash_key="id",
                    deletion_protection=deletion_protection,
                    replica_keys=others,
                ),
                region_opts["eu-west-1"],
            )
            replicas = {
                r: Table(
                    f"{r}-records",
                    TableArgs(key=k, hash_key="id", replica_of=primary),
                    region_opts[r],
                )
                for r, k in others.items()
            }
        else:
            primary = ModelRegistry(
                "eu-west-1-registry",
                ModelRegistryArgs(
                    table_name="mlops-t-model-registry",
                    key=keys["eu-west-1"],
                    deletion_protection=deletion_protection,
                    replica_keys=others,
                ),
                region_opts["eu-west-1"],
            )
            replicas = {
                r: ModelRegistry(
                    f"{r}-registry",
                    ModelRegistryArgs(
                        table_name="mlops-t-model-registry", key=k, replica_of=primary
                    ),
                    region_opts[r],
                )
                for r, k in others.items()
            }
        for region, component in {"eu-west-1": primary, **replicas}.items():
            pulumi.Output.all(component.name, component.arn).apply(
                lambda v, region=region: exposed.__setitem__(region, v)
            )

    return render_components(build), exposed


@pytest.mark.parametrize("kind", ["table", "registry"])
def test_one_table_in_the_primary_with_a_replica_per_region_each_with_its_key(kind: str) -> None:
    plan, exposed = render_global(kind)
    (table,) = plan.of_type(TABLE)
    assert table["region"] == "eu-west-1"
    inputs = table["inputs"]
    assert inputs["streamEnabled"] is True
    assert inputs["streamViewType"] == "NEW_AND_OLD_IMAGES"
    assert inputs["pointInTimeRecovery"] == {"enabled": True}
    assert inputs["serverSideEncryption"]["kmsKeyArn"] == key_arn(plan, "k-eu-west-1-key")
    assert inputs["replicas"] == [
        {
            "regionName": region,
            "kmsKeyArn": key_arn(plan, f"k-{region}-key"),
            "pointInTimeRecovery": True,
            "deletionProtectionEnabled": True,
            "propagateTags": True,
        }
        for region in ("eu-central-1", "us-east-1")
    ]
    # Every region exposes the same name and the ARN of its own replica.
    names = {name for name, _ in exposed.values()}
    assert names == {table["id"]}
    for region, (name, arn) in exposed.items():
        assert arn == f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}"


def test_replicas_follow_the_tables_deletion_protection() -> None:
    plan, _ = render_global("table", deletion_protection=False)
    (table,) = plan.of_type(TABLE)
    assert {r["deletionProtectionEnabled"] for r in table["inputs"]["replicas"]} == {False}


def test_a_table_without_replicas_has_no_stream_and_no_replica() -> None:
    def build(opts: pulumi.ResourceOptions) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t"), opts)
        Table("t", TableArgs(key=key, hash_key="id"), opts)

    (table,) = render_components(build).of_type(TABLE)
    assert "replicas" not in table["inputs"] and "streamEnabled" not in table["inputs"]


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("both", "Only one of [replica_keys] and [replica_of] can be given"),
        ("region", "replica_keys: 'Frankfurt' is not a region name"),
        ("key", "replica_keys['eu-central-1']"),
        ("name", "table_name: 'other-name' differs from the global table's"),
    ],
)
def test_bad_global_table_arguments_are_refused_before_anything_is_registered(
    kind: str, problem: str
) -> None:
    errors: list[str] = []

    def build(opts: pulumi.ResourceOptions) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t"), opts)
        primary = ModelRegistry(
            "p",
            ModelRegistryArgs(table_name="reg", key=key, replica_keys={"eu-central-1": key}),
            opts,
        )
        args = {
            "both": {
                "table_name": "reg",
                "replica_keys": {"eu-central-1": key},
                "replica_of": primary,
            },
            "region": {"table_name": "reg", "replica_keys": {"Frankfurt": key}},
            "key": {"table_name": "reg", "replica_keys": {"eu-central-1": "not-a-key"}},
            "name": {"table_name": "other-name", "replica_of": primary},
        }[kind]
        try:
            ModelRegistry("bad", ModelRegistryArgs(key=key, **args), opts)  # type: ignore[arg-type]
        except ValueError as exc:
            errors.append(str(exc))

    plan = render_components(build)
    assert len(errors) == 1 and problem in errors[0], errors
    assert [r for r in plan.resources if r["name"].startswith("bad")] == []


def test_in_region_moves_only_the_region_of_a_table_arn() -> None:
    arn = "arn:aws-cn:dynamodb:cn-north-1:123456789012:table/a:b"
    assert (
        in_region(arn, "cn-northwest-1")
        == "arn:aws-cn:dynamodb:cn-northwest-1:123456789012:table/a:b"
    )
    with pytest.raises(ValueError):
        in_region("table/x", "eu-west-1")


# Stacks -----------------------------------------------------------------------------------------


def config_of(plan: Plan) -> Any:
    return load_stack_config(PROJECT_DIR, plan.stack)


def region_key_arn(plan: Plan, region: str) -> str:
    (key,) = [
        k
        for k in plan.in_region(region)
        if k["type"] == "aws:kms/key:Key" and k["name"] == f"{region}-kms-key"
    ]
    return f"arn:aws:kms:{region}:{ACCOUNT}:key/{key['id']}"


def test_each_global_table_is_in_the_primary_with_a_replica_in_every_other_region(
    stack_plan: Plan,
) -> None:
    cfg = config_of(stack_plan)
    primary = cfg.primary_region
    tables = stack_plan.of_type(TABLE)
    assert sorted(t["name"] for t in tables) == [
        f"{primary}-model-registry-table",
        f"{primary}-records-table",
    ]
    for table in tables:
        assert table["region"] == primary
        inputs = table["inputs"]
        assert inputs["pointInTimeRecovery"] == {"enabled": True}
        assert inputs["serverSideEncryption"]["kmsKeyArn"] == region_key_arn(stack_plan, primary)
        assert inputs["deletionProtectionEnabled"] is cfg.is_production
        assert inputs["streamEnabled"] is True
        replicas = {r["regionName"]: r for r in inputs["replicas"]}
        assert sorted(replicas) == sorted(r.name for r in cfg.regions if r.name != primary)
        for region, replica in replicas.items():
            assert replica["kmsKeyArn"] == region_key_arn(stack_plan, region)
            assert replica["pointInTimeRecovery"] is True
            assert replica["deletionProtectionEnabled"] is cfg.is_production
            assert replica["propagateTags"] is True


def test_every_region_grants_on_its_own_replica(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    names = {t["id"] for t in stack_plan.of_type(TABLE)}
    for region in cfg.regions:
        for policy in stack_plan.in_region(region.name):
            if policy["type"] != "aws:iam/rolePolicy:RolePolicy":
                continue
            for statement in json.loads(policy["inputs"]["policy"])["Statement"]:
                actions = (
                    statement["Action"]
                    if isinstance(statement["Action"], list)
                    else [statement["Action"]]
                )
                if not any(a.startswith("dynamodb:") for a in actions):
                    continue
                resources = (
                    statement["Resource"]
                    if isinstance(statement["Resource"], list)
                    else [statement["Resource"]]
                )
                for resource in resources:
                    assert resource.startswith(
                        f"arn:aws:dynamodb:{region.name}:{ACCOUNT}:table/"
                    ), (
                        policy["name"],
                        resource,
                    )
                    assert resource.split("/")[1] in names


def test_every_ingest_function_writes_the_global_tables_name(stack_plan: Plan) -> None:
    (records,) = [t for t in stack_plan.of_type(TABLE) if t["name"].endswith("-records-table")]
    functions = [
        f
        for f in stack_plan.of_type("aws:lambda/function:Function")
        if f["name"].endswith("-ingest-function")
    ]
    assert len(functions) == len(config_of(stack_plan).regions)
    for function in functions:
        assert function["inputs"]["environment"]["variables"]["TABLE_NAME"] == records["id"]


def test_every_regions_failover_inventory_names_the_tables_and_the_lake(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    names = sorted(t["id"] for t in stack_plan.of_type(TABLE))
    for region in cfg.regions:
        (parameter,) = [
            p
            for p in stack_plan.in_region(region.name)
            if p["type"] == "aws:ssm/parameter:Parameter"
            and p["name"] == f"{region.name}-failover-inventory"
        ]
        inventory = parse_inventory(parameter["inputs"]["insecureValue"])
        assert sorted(inventory.tables) == names
        buckets = {
            zone: b["id"]
            for zone in cfg.data_lake.zones
            for b in stack_plan.in_region(region.name)
            if b["type"] == "aws:s3/bucket:Bucket" and b["name"] == f"{region.name}-lake-{zone}"
        }
        assert dict(inventory.buckets) == buckets
