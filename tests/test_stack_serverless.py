"""The ingest Lambda and records table in both real stack files, and ``mlops:ingest`` errors.

Every region runs one ingest function under its regional component and provider, reading
that region's raw zone (under the configured prefix) and writing that region's replica of the
one global records table (created in the primary region): dev small, outside the VPC and
destroyable; prod in the private subnets of every AZ, with reserved concurrency, tracing and
a protected table. Bad ``mlops:ingest`` values are reported by key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from render_cache import dev_switched_off, render_config  # tests/render_cache.py

from policies.check import check, load_plan
from stacks.config import ConfigError, PlatformConfig, load_stack_config, parse_raw_config
from stacks.offline import PROJECT_DIR, Plan

SERVICE = "mlops:serverless:LambdaService"
TABLE_COMPONENT = "mlops:serverless:Table"
FUNCTION = "aws:lambda/function:Function"
TABLE = "aws:dynamodb/table:Table"
RULE = "aws:cloudwatch/eventRule:EventRule"
ACCOUNT = "123456789012"


def config_of(plan: Plan) -> PlatformConfig:
    return load_stack_config(PROJECT_DIR, plan.stack)


def one_in(plan: Plan, region: str, typ: str, name: str) -> dict[str, Any]:
    """The one resource of ``typ`` named ``<region>-<name>`` in ``region``."""
    found = [
        r for r in plan.in_region(region) if r["type"] == typ and r["name"] == f"{region}-{name}"
    ]
    assert len(found) == 1, (region, typ, name, [r["name"] for r in found])
    return found[0]


def under(plan: Plan, component: dict[str, Any]) -> list[dict[str, Any]]:
    """Every resource below ``component`` in the parent tree."""
    parents = {r["urn"]: r["parent"] for r in plan.resources}

    def inside(urn: str) -> bool:
        parent = parents.get(urn)
        while parent is not None:
            if parent == component["urn"]:
                return True
            parent = parents.get(parent)
        return False

    return [r for r in plan.resources if inside(r["urn"])]


def records_table(plan: Plan) -> dict[str, Any]:
    """The one records table: a global table in the primary region (replicas elsewhere)."""
    primary = config_of(plan).primary_region
    return one_in(plan, primary, TABLE, "records-table")


def raw_bucket(plan: Plan, region: str) -> str:
    return next(
        r["id"]
        for r in plan.in_region(region)
        if r["type"] == "aws:s3/bucket:Bucket" and r["name"] == f"{region}-lake-raw"
    )


def ingest_policies(plan: Plan, region: str) -> list[dict[str, Any]]:
    return [
        json.loads(p["inputs"]["policy"])
        for p in plan.in_region(region)
        if p["type"] == "aws:iam/rolePolicy:RolePolicy"
        and p["name"].startswith(f"{region}-ingest-exec-")
    ]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# Both stacks --------------------------------------------------------------------------------------


def test_one_function_and_table_component_per_region_under_its_regional_component(
    stack_plan: Plan,
) -> None:
    cfg = config_of(stack_plan)
    regional = {r["name"]: r["urn"] for r in stack_plan.of_type("mlops:stacks:RegionalPlatform")}
    services = stack_plan.of_type(SERVICE)
    tables = stack_plan.of_type(TABLE_COMPONENT)
    assert sorted(s["name"] for s in services) == sorted(f"{r.name}-ingest" for r in cfg.regions)
    assert sorted(t["name"] for t in tables) == sorted(f"{r.name}-records" for r in cfg.regions)
    for component in services + tables:
        region = component["name"].rsplit("-", 1)[0]
        assert component["parent"] == regional[region]
        for child in under(stack_plan, component):
            if child["custom"]:
                assert child["region"] == region, child["urn"]


def test_each_function_reads_its_regions_raw_zone_and_writes_its_regions_table(
    stack_plan: Plan,
) -> None:
    cfg = config_of(stack_plan)
    for region in cfg.regions:
        name = region.name
        fn = one_in(stack_plan, name, FUNCTION, "ingest-function")["inputs"]
        table = records_table(stack_plan)  # this region's replica: same name, its own ARN
        raw = raw_bucket(stack_plan, name)
        assert fn["name"] == f"mlops-{cfg.environment}-ingest"
        assert fn["handler"] == "handler.handler"
        assert fn["environment"]["variables"] == {
            "TABLE_NAME": table["id"],
            "SOURCE_BUCKET": raw,
            "SOURCE_PREFIX": cfg.ingest.raw_prefix,
            "MAX_OBJECT_BYTES": str(cfg.ingest.max_object_bytes),
            "LOG_LEVEL": cfg.ingest.log_level,
        }
        pattern = json.loads(
            one_in(stack_plan, name, RULE, "ingest-trigger")["inputs"]["eventPattern"]
        )
        assert pattern["detail"] == {
            "bucket": {"name": [raw]},
            "object": {"key": [{"prefix": cfg.ingest.raw_prefix}]},
        }
        found = [s for doc in ingest_policies(stack_plan, name) for s in doc["Statement"]]
        dynamo = [s for s in found if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))]
        assert [s["Resource"] for s in dynamo] == [
            f"arn:aws:dynamodb:{name}:{ACCOUNT}:table/{table['id']}"
        ]
        s3 = {
            r
            for s in found
            if any(a.startswith("s3:") for a in as_list(s["Action"]))
            for r in as_list(s["Resource"])
        }
        assert s3 == {f"arn:aws:s3:::{raw}/{cfg.ingest.raw_prefix}*", f"arn:aws:s3:::{raw}"}


def test_the_role_reaches_no_other_zone_region_or_write_action(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    buckets = [r for r in stack_plan.of_type("aws:s3/bucket:Bucket")]
    for region in cfg.regions:
        found = [s for doc in ingest_policies(stack_plan, region.name) for s in doc["Statement"]]
        actions = {a for s in found for a in as_list(s["Action"])}
        assert not {
            a
            for a in actions
            if a.startswith("s3:")
            and a not in ("s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket")
        }
        assert not {
            a
            for a in actions
            if a.startswith("dynamodb:")
            and a not in ("dynamodb:BatchWriteItem", "dynamodb:PutItem")
        }
        text = json.dumps(found)
        for bucket in buckets:
            if bucket["name"] != f"{region.name}-lake-raw":
                assert bucket["id"] not in text, bucket["name"]
        for other in cfg.regions:
            if other.name != region.name:
                assert f":{other.name}:" not in text


def test_async_invocations_and_alarms_follow_the_config(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    for region in cfg.regions:
        config = one_in(
            stack_plan,
            region.name,
            "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
            "ingest-async",
        )["inputs"]
        assert config["maximumRetryAttempts"] == cfg.ingest.retry_attempts
        assert config["maximumEventAgeInSeconds"] == cfg.ingest.max_event_age_seconds
        fn = one_in(stack_plan, region.name, FUNCTION, "ingest-function")["inputs"]
        assert (
            config["destinationConfig"]["onFailure"]["destination"]
            == fn["deadLetterConfig"]["targetArn"]
        )
        topic_arn = cfg.alerts.topic_arn(region.name)
        if topic_arn is None:  # the stack's own topic (a persistent one is given by ARN)
            topic = one_in(stack_plan, region.name, "aws:sns/topic:Topic", "alerts-topic")
            topic_arn = f"arn:aws:sns:{region.name}:{ACCOUNT}:{topic['id']}"
        alarms = {
            a["inputs"]["metricName"]: a["inputs"]
            for a in stack_plan.in_region(region.name)
            if a["type"] == "aws:cloudwatch/metricAlarm:MetricAlarm"
            and a["name"].startswith(f"{region.name}-ingest-")
        }
        assert alarms["Errors"]["threshold"] == cfg.ingest.alarms.errors
        assert alarms["Throttles"]["threshold"] == cfg.ingest.alarms.throttles
        assert {"DeadLetterErrors", "ApproximateNumberOfMessagesVisible"} <= set(alarms)
        assert all(a["alarmActions"] == [topic_arn] for a in alarms.values())


def test_the_dashboard_shows_the_function(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    for region in cfg.regions:
        body = one_in(
            stack_plan, region.name, "aws:cloudwatch/dashboard:Dashboard", "dashboard-dashboard"
        )["inputs"]["dashboardBody"]
        titles = [w["properties"].get("title") for w in json.loads(body)["widgets"]]
        assert f"Lambda mlops-{cfg.environment}-ingest: invocations" in titles


def test_outputs_name_the_function_and_the_table(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    for region in cfg.regions:
        out = stack_plan.outputs["regions"][region.name]["ingest"]
        assert out["functionName"] == f"mlops-{cfg.environment}-ingest"
        assert out["tableName"] == records_table(stack_plan)["id"]
        assert out["deadLetterQueueUrl"].startswith(
            f"https://sqs.{region.name}.amazonaws.com/{ACCOUNT}/"
        )


def test_serverless_resources_cause_no_policy_violation(stack_plan: Plan) -> None:
    result = check(load_plan(stack_plan.to_dict()))
    mine = {
        r["urn"]
        for c in stack_plan.of_type(SERVICE) + stack_plan.of_type(TABLE_COMPONENT)
        for r in under(stack_plan, c)
    }
    assert [v for v in result.violations if v.urn in mine] == []
    assert [e for e in result.exemptions if e.violation.urn in mine] == []


def test_dev_is_small_outside_the_vpc_and_destroyable(dev_plan: Plan) -> None:
    for fn in dev_plan.of_type(FUNCTION):
        assert "vpcConfig" not in fn["inputs"]
        assert fn["inputs"]["reservedConcurrentExecutions"] == -1
        assert fn["inputs"]["memorySize"] == 256
    groups = dev_plan.of_type("aws:ec2/securityGroup:SecurityGroup")
    assert [g["name"] for g in groups if g["name"].endswith("-ingest-sg")] == []
    for table in dev_plan.of_type(TABLE):
        assert table["inputs"]["deletionProtectionEnabled"] is False
        assert not table["options"]["protect"] and not table["options"]["retainOnDelete"]


def test_prod_runs_in_every_private_subnet_with_reserved_concurrency_and_protected_table(
    prod_plan: Plan,
) -> None:
    cfg = config_of(prod_plan)
    for region in cfg.regions:
        fn = one_in(prod_plan, region.name, FUNCTION, "ingest-function")["inputs"]
        private = {
            s["id"]: s["inputs"]["availabilityZone"]
            for s in prod_plan.in_region(region.name)
            if s["type"] == "aws:ec2/subnet:Subnet" and s["inputs"]["tags"]["tier"] == "private"
        }
        assert sorted(fn["vpcConfig"]["subnetIds"]) == sorted(private)
        assert len(set(private.values())) == cfg.network.az_count >= 2
        assert cfg.ingest.reserved_concurrency is not None
        assert fn["reservedConcurrentExecutions"] == cfg.ingest.reserved_concurrency >= 1
        assert fn["tracingConfig"] == {"mode": "Active"}
    table = records_table(prod_plan)
    assert table["inputs"]["deletionProtectionEnabled"] is True
    assert table["options"]["protect"] and table["options"]["retainOnDelete"]
    assert table["inputs"]["pointInTimeRecovery"] == {"enabled": True}
    for replica in table["inputs"]["replicas"]:
        assert replica["deletionProtectionEnabled"] is True
        assert replica["pointInTimeRecovery"] is True


def test_switched_off_ingest_is_not_built(tmp_path_factory) -> None:
    # dev with mlops:ingest.enabled false (and switches other files check: render_cache).
    config = dev_switched_off()
    assert config["mlops:ingest"]["enabled"] is False
    plan = render_config(config, tmp_path_factory)
    # The only table left would be the training loop's model registry (training is off here).
    tables = [t["inputs"].get("name") for t in plan.of_type(TABLE)]
    assert all(name and name.endswith("-model-registry") for name in tables), tables
    assert plan.of_type(SERVICE) == [] and plan.of_type(FUNCTION) == []
    assert all(out["ingest"] is None for out in plan.outputs["regions"].values())


# Config -----------------------------------------------------------------------------------------


def flat(config: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def ingest_problems(
    stack_config: Callable[[str], dict[str, Any]], stack: str, **changes: Any
) -> list[str]:
    config = stack_config(stack)
    config["mlops:ingest"].update(changes)
    with pytest.raises(ConfigError) as info:
        parse_raw_config(flat(config))
    return info.value.problems


def test_defaults_without_the_key_and_inside_it(stack_config) -> None:
    config = stack_config("dev")
    del config["mlops:ingest"]
    assert not parse_raw_config(flat(config)).ingest.enabled
    config["mlops:ingest"] = {}
    ingest = parse_raw_config(flat(config)).ingest
    assert ingest.enabled and not ingest.in_vpc and ingest.reserved_concurrency is None
    assert (ingest.memory_mb, ingest.timeout_seconds, ingest.retry_attempts) == (256, 60, 2)
    assert ingest.raw_prefix is None and ingest.architecture == "arm64"
    config["mlops:ingest"] = {"rawPrefix": "/landing/json"}
    assert parse_raw_config(flat(config)).ingest.raw_prefix == "landing/json/"


def test_stack_files_choose_dev_cheap_and_prod_isolated() -> None:
    dev = load_stack_config(PROJECT_DIR, "dev").ingest
    prod = load_stack_config(PROJECT_DIR, "prod").ingest
    assert dev.enabled and not dev.in_vpc and dev.reserved_concurrency is None
    assert prod.enabled and prod.in_vpc and prod.reserved_concurrency and prod.tracing


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"memoryMb": 64}, "mlops:ingest.memoryMb: 64 MB is outside what Lambda offers"),
        ({"memoryMb": "big"}, "mlops:ingest.memoryMb: Input should be a valid integer"),
        ({"timeoutSeconds": 901}, "mlops:ingest.timeoutSeconds: 901 seconds is outside"),
        ({"reservedConcurrency": 0}, "mlops:ingest.reservedConcurrency: 0 would stop the function"),
        ({"rawPrefix": "in*"}, "mlops:ingest.rawPrefix: 'in*' contains '*', '?' or '$'"),
        ({"rawPrefix": "/"}, "mlops:ingest.rawPrefix: '/' is empty"),
        ({"retryAttempts": 3}, "mlops:ingest.retryAttempts: 3 is outside what Lambda allows"),
        ({"maxEventAgeSeconds": 30}, "mlops:ingest.maxEventAgeSeconds: 30 seconds is outside"),
        ({"maxObjectBytes": 0}, "mlops:ingest.maxObjectBytes: 0 bytes; give a positive size"),
        (
            {"maxObjectBytes": 64 * 1024 * 1024 + 1},
            "mlops:ingest.maxObjectBytes: 67108865 bytes does not fit a 256 MB function",
        ),
        ({"logLevel": "LOUD"}, "mlops:ingest.logLevel:"),
        ({"architecture": "arm"}, "mlops:ingest.architecture:"),
        ({"inVpc": "maybe"}, "mlops:ingest.inVpc:"),
        ({"alarms": {"errors": 0}}, "mlops:ingest.alarms.errors: 0 would alarm without any event"),
        (
            {"alarms": {"periodSeconds": 90}},
            "mlops:ingest.alarms.periodSeconds: 90 is not a whole number of minutes",
        ),
        (
            {"alarms": {"throttle": 1}},
            "mlops:ingest.alarms.throttle: unknown key; did you mean mlops:ingest.alarms.throttles?",
        ),
        ({"memory": 512}, "mlops:ingest.memory: unknown key"),
    ],
)
def test_bad_ingest_config_names_the_key(
    stack_config, changes: dict[str, Any], expected: str
) -> None:
    problems = ingest_problems(stack_config, "dev", **changes)
    assert any(p.startswith(expected) for p in problems), problems


def test_ingest_needs_a_raw_zone(stack_config) -> None:
    config = stack_config("prod")
    config["mlops:dataLake"] = {"zones": ["landing", "curated"]}
    with pytest.raises(ConfigError) as info:
        parse_raw_config(flat(config))
    assert any(
        p.startswith("mlops:ingest.enabled: the ingest function reads the lake's 'raw' zone")
        for p in info.value.problems
    ), info.value.problems
    # Switched off, the ingest keys raise nothing (other capabilities may still need 'raw').
    config["mlops:ingest"]["enabled"] = False
    try:
        parse_raw_config(flat(config))
    except ConfigError as exc:
        assert not [p for p in exc.problems if p.startswith("mlops:ingest")], exc.problems


def test_every_ingest_problem_is_reported_at_once(stack_config) -> None:
    problems = ingest_problems(
        stack_config, "prod", memoryMb=1, timeoutSeconds=0, reservedConcurrency=-1
    )
    keys = {p.split(": ", 1)[0] for p in problems}
    assert {
        "mlops:ingest.memoryMb",
        "mlops:ingest.timeoutSeconds",
        "mlops:ingest.reservedConcurrency",
    } <= keys
