"""ContainerService deployments: a deploy fails unless the service reaches a steady state,
the service starts only once its network rules exist, Container Insights writes to a log
group the stack owns, and access logging is switched on only once ELB may write.

Rendered with the offline engine (components and both real stack files) and checked on the
recorded graph; the timeout formula and the log delivery statement have plain tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from components.compute.pool_load_balancer import PoolEntryPoint, PoolLoadBalancer
from components.containers import ContainerService, ContainerServiceArgs
from components.kms import RegionKey, RegionKeyArgs
from components.monitoring import AlertTopic, AlertTopicArgs
from stacks.config import load_stack_config
from stacks.offline import PROJECT_DIR, Plan, physical_name, render_components
from stacks.offline.engine import RecordingMonitor

ACCOUNT = "123456789012"
REGION = "eu-west-1"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/forecast@sha256:" + "a" * 64
SERVICE = "aws:ecs/service:Service"
CLUSTER = "aws:ecs/cluster:Cluster"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
LB = "aws:lb/loadBalancer:LoadBalancer"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
SERVICE_COMPONENT = "mlops:containers:ContainerService"


# Rendering -----------------------------------------------------------------------------------


def _capture_timeouts(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, str]]:
    """Custom timeouts of every resource registered from now on, by logical name (the
    recorded plan keeps options, not timeouts)."""
    seen: dict[str, dict[str, str]] = {}
    original = RecordingMonitor.RegisterResource

    def register(self: RecordingMonitor, request: Any) -> Any:
        if request.HasField("customTimeouts"):
            t = request.customTimeouts
            seen[request.name] = {"create": t.create, "update": t.update, "delete": t.delete}
        return original(self, request)

    monkeypatch.setattr(RecordingMonitor, "RegisterResource", register)
    return seen


@pytest.fixture
def timeouts(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, dict[str, str]]]:
    """Custom timeouts of every resource the test registers, by logical name."""
    yield _capture_timeouts(monkeypatch)


@pytest.fixture(scope="module")
def default_render() -> tuple[Plan, dict[str, dict[str, str]]]:
    """``render()`` with no overrides and its custom timeouts, rendered once for the module
    (several tests read it; none changes it)."""
    with pytest.MonkeyPatch.context() as patch:
        seen = _capture_timeouts(patch)
        plan = render()
    return plan, seen


def render(
    after: Callable[[ContainerService, pulumi.ResourceOptions], None] | None = None,
    before: Callable[[pulumi.ResourceOptions], dict[str, Any]] | None = None,
    region: str = REGION,
    **overrides: Any,
) -> Plan:
    """A region key, an alert topic and one ContainerService ``web`` in ``region``."""

    def build(opts: pulumi.ResourceOptions) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t", services=("logs", "alarms")), opts=opts)
        topic = AlertTopic("alerts", AlertTopicArgs(key=key), opts=opts)
        values: dict[str, Any] = {
            "key": key,
            "alerts": topic,
            "vpc_id": "vpc-123",
            "public_subnet_ids": ["subnet-pub-a", "subnet-pub-b"],
            "private_subnet_ids": ["subnet-priv-a", "subnet-priv-b"],
            "image_uri": IMAGE,
            "access_log_bucket": None,
        }
        if before is not None:
            values.update(before(opts))
        values.update(overrides)
        service = ContainerService("web", ContainerServiceArgs(**values), opts=opts)
        if after is not None:
            after(service, opts)

    return render_components(build, region=region)


def one(plan: Plan, typ: str, prefix: str = "") -> dict[str, Any]:
    found = [r for r in plan.of_type(typ) if r["name"].startswith(prefix)]
    assert len(found) == 1, [r["name"] for r in found]
    return found[0]


def physical(resource: dict[str, Any]) -> str:
    return physical_name(resource["type"], resource["name"], resource["urn"], resource["inputs"])


def minutes(value: str) -> int:
    assert value.endswith("m"), value
    return int(value[:-1])


# 1. A deploy fails unless the service reaches a steady state --------------------------------


def test_the_service_waits_for_a_steady_state_with_a_bounded_timeout(
    default_render: tuple[Plan, dict[str, dict[str, str]]],
) -> None:
    from components.containers import steady_state_timeout_seconds

    plan, timeouts = default_render
    service = one(plan, SERVICE)
    assert service["inputs"]["waitForSteadyState"] is True
    limits = timeouts["web-service"]
    assert limits["create"] == limits["update"]
    expected = steady_state_timeout_seconds(
        interval_seconds=15,
        healthy_threshold=2,
        unhealthy_threshold=3,
        grace_period_seconds=60,
        deregistration_delay_seconds=30,
        minimum_healthy_percent=100,
        maximum_percent=200,
    )
    assert minutes(limits["update"]) * 60 == expected
    # Below the provider's default of 20 minutes: a failed deploy is reported sooner.
    assert expected < 20 * 60


def test_the_timeout_grows_with_health_checks_grace_and_deregistration(
    timeouts: dict[str, dict[str, str]],
    default_render: tuple[Plan, dict[str, dict[str, str]]],
) -> None:
    base = minutes(default_render[1]["web-service"]["update"])
    larger: dict[str, Any] = {
        "health_check_interval_seconds": 60,
        "healthy_threshold": 5,
        "unhealthy_threshold": 5,
        "health_check_grace_period_seconds": 300,
        "deregistration_delay_seconds": 120,
    }
    for key, value in larger.items():
        timeouts.clear()
        plan = render(**{key: value})
        assert minutes(timeouts["web-service"]["update"]) > base, key
        assert minutes(timeouts["web-service"]["create"]) > base, key
        # The settings are the ones the load balancer and the service really use.
        target = one(plan, "aws:lb/targetGroup:TargetGroup")["inputs"]
        service = one(plan, SERVICE)["inputs"]
        used = {
            "health_check_interval_seconds": target["healthCheck"]["interval"],
            "healthy_threshold": target["healthCheck"]["healthyThreshold"],
            "unhealthy_threshold": target["healthCheck"]["unhealthyThreshold"],
            "health_check_grace_period_seconds": service["healthCheckGracePeriodSeconds"],
            "deregistration_delay_seconds": int(target["deregistrationDelay"]),
        }
        assert used[key] == value
    # A rolling update in two waves (50% -> 100%) takes longer than one (100% -> 200%).
    timeouts.clear()
    render(deployment_minimum_healthy_percent=50, deployment_maximum_percent=100)
    assert minutes(timeouts["web-service"]["update"]) > base


def test_the_timeout_formula() -> None:
    from components.containers import deployment_waves, steady_state_timeout_seconds

    assert deployment_waves(100, 200) == 1
    assert deployment_waves(0, 100) == 1
    assert deployment_waves(50, 100) == 2
    assert deployment_waves(75, 100) == 4
    default = {
        "interval_seconds": 15,
        "healthy_threshold": 2,
        "unhealthy_threshold": 3,
        "grace_period_seconds": 60,
        "deregistration_delay_seconds": 30,
        "minimum_healthy_percent": 100,
        "maximum_percent": 200,
    }
    # 2 x (180 s start + 60 s grace + 15 s x (2 + 3) checks + 30 s drain) + 300 s = 990 s,
    # rounded up to whole minutes.
    assert steady_state_timeout_seconds(**default) == 17 * 60
    slower = steady_state_timeout_seconds(**{**default, "deregistration_delay_seconds": 300})
    assert slower == 26 * 60


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"health_check_interval_seconds": 5}, "health_check_interval_seconds: 5"),
        ({"health_check_interval_seconds": 301}, "health_check_interval_seconds: 301"),
        ({"healthy_threshold": 1}, "healthy_threshold: 1"),
        ({"unhealthy_threshold": 11}, "unhealthy_threshold: 11"),
        ({"health_check_grace_period_seconds": -1}, "health_check_grace_period_seconds: -1"),
        ({"deregistration_delay_seconds": 3601}, "deregistration_delay_seconds: 3601"),
        ({"cluster_name": "web cluster"}, "cluster_name: 'web cluster'"),
    ],
)
def test_health_check_settings_outside_what_aws_accepts_are_refused(
    overrides: dict[str, Any], message: str
) -> None:
    problems = ContainerServiceArgs(
        key="k",
        alerts="a",
        vpc_id="vpc-1",
        public_subnet_ids=["subnet-a", "subnet-b"],
        private_subnet_ids=["subnet-c"],
        image_uri=IMAGE,
        access_log_bucket=None,
        **overrides,
    ).problems("web")
    assert any(p.startswith(message) for p in problems), problems


# 2. The service starts once its own network rules exist --------------------------------------


def test_the_service_waits_for_its_security_group_rules(
    default_render: tuple[Plan, dict[str, dict[str, str]]],
) -> None:
    plan = default_render[0]
    service = one(plan, SERVICE)
    rules = {
        r["name"]: r["urn"]
        for r in plan.resources
        if r["type"].startswith("aws:vpc/securityGroup") and r["name"].startswith("web-")
    }
    # HTTPS out (image pull, logs, secrets), the container port from the load balancer and
    # the load balancer's way to the tasks (its health checks).
    for name in ("web-tasks-out-https", "web-tasks-from-alb", "web-alb-to-tasks"):
        assert rules[name] in service["dependencies"], name


# 3. Container Insights writes to a log group the stack owns ----------------------------------


def test_container_insights_log_group_exists_before_the_cluster() -> None:
    from components.containers import container_insights_log_group_name

    plan = render(cluster_name="mlops-test-web", log_retention_days=14)
    cluster = one(plan, CLUSTER)
    assert cluster["inputs"]["name"] == "mlops-test-web"
    group = one(plan, LOG_GROUP, "web-insights")
    assert container_insights_log_group_name("mlops-test-web") == (
        "/aws/ecs/containerinsights/mlops-test-web/performance"
    )
    assert group["inputs"]["name"] == "/aws/ecs/containerinsights/mlops-test-web/performance"
    assert group["inputs"]["retentionInDays"] == 14
    key = one(plan, "aws:kms/key:Key")
    assert group["inputs"]["kmsKeyId"].endswith(f":key/{key['id']}")
    assert group["urn"] in cluster["dependencies"]


def test_the_default_cluster_name_is_unique_per_project_and_stack(
    default_render: tuple[Plan, dict[str, dict[str, str]]],
) -> None:
    plan = default_render[0]
    cluster = one(plan, CLUSTER)
    # render_components runs project "components", stack "test".
    assert cluster["inputs"]["name"] == "components-test-web"
    group = one(plan, LOG_GROUP, "web-insights")
    assert group["inputs"]["name"] == "/aws/ecs/containerinsights/components-test-web/performance"


def test_every_stack_region_owns_its_container_insights_log_group(stack_plan: Plan) -> None:
    cfg = load_stack_config(PROJECT_DIR, stack_plan.stack)
    keys = {k["region"]: k["id"] for k in stack_plan.of_type("aws:kms/key:Key")}
    for region in cfg.regions:
        in_region = stack_plan.in_region(region.name)
        clusters = [r for r in in_region if r["type"] == CLUSTER]
        assert len(clusters) == 1
        cluster = clusters[0]
        name = cluster["inputs"]["name"]
        assert name == f"mlops-{cfg.environment}-web"
        groups = [
            r
            for r in in_region
            if r["type"] == LOG_GROUP
            and r["inputs"].get("name") == f"/aws/ecs/containerinsights/{name}/performance"
        ]
        assert len(groups) == 1, region.name
        group = groups[0]
        assert group["inputs"]["retentionInDays"] == cfg.log_retention_days
        assert group["inputs"]["kmsKeyId"].endswith(f":key/{keys[region.name]}")
        assert group["urn"] in cluster["dependencies"]


def test_destroy_removes_the_insights_log_group_and_prod_protects_it(
    dev_plan: Plan, prod_plan: Plan
) -> None:
    for plan, protected in ((dev_plan, False), (prod_plan, True)):
        groups = [
            g
            for g in plan.of_type(LOG_GROUP)
            if g["inputs"].get("name", "").startswith("/aws/ecs/containerinsights/")
        ]
        assert groups
        for group in groups:
            assert group["options"]["protect"] is protected
            # Never retained: the name is fixed, a group left behind would block the next
            # create (and Container Insights would write to it unmanaged).
            assert group["options"]["retainOnDelete"] is False


# 4. The access-log bucket policy AWS documents -------------------------------------------------


@pytest.mark.parametrize(
    "region, partition, account",
    [
        ("us-east-1", "aws", "127311923021"),
        ("eu-west-1", "aws", "156460612806"),
        ("eu-central-1", "aws", "054676820928"),
        ("us-gov-west-1", "aws-us-gov", "048591011584"),
        ("cn-north-1", "aws-cn", "638102146993"),
    ],
)
def test_regions_before_august_2022_grant_the_regional_elb_account(
    region: str, partition: str, account: str
) -> None:
    from components.containers import elb_log_delivery_statement

    statement = elb_log_delivery_statement(f"arn:{partition}:s3:::logs", ACCOUNT, region, partition)
    assert statement == {
        "Sid": "ElbAccessLogDelivery",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
        "Action": "s3:PutObject",
        "Resource": f"arn:{partition}:s3:::logs/alb/AWSLogs/{ACCOUNT}/*",
    }


@pytest.mark.parametrize("region", ["ap-southeast-4", "eu-central-2", "me-central-1"])
def test_newer_regions_grant_the_log_delivery_service_principal(region: str) -> None:
    from components.containers import ELB_LOG_DELIVERY_PRINCIPAL, elb_log_delivery_statement

    statement = elb_log_delivery_statement("arn:aws:s3:::logs", ACCOUNT, region, "aws")
    assert ELB_LOG_DELIVERY_PRINCIPAL == "logdelivery.elasticloadbalancing.amazonaws.com"
    assert statement == {
        "Sid": "ElbAccessLogDelivery",
        "Effect": "Allow",
        "Principal": {"Service": ELB_LOG_DELIVERY_PRINCIPAL},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::logs/alb/AWSLogs/{ACCOUNT}/*",
    }


def delivery_statements(plan: Plan) -> list[dict[str, Any]]:
    policy = json.loads(one(plan, BUCKET_POLICY, "web-alb-logs")["inputs"]["policy"])
    return [s for s in policy["Statement"] if s.get("Action") == "s3:PutObject"]


@pytest.mark.parametrize(
    "region, principal",
    [
        ("eu-west-1", {"AWS": "arn:aws:iam::156460612806:root"}),
        ("eu-central-2", {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}),
    ],
)
def test_the_rendered_log_bucket_policy_has_no_undocumented_conditions(
    region: str, principal: dict[str, str]
) -> None:
    plan = render(region=region)
    (delivery,) = delivery_statements(plan)
    assert delivery["Principal"] == principal
    assert "Condition" not in delivery
    bucket = one(plan, "aws:s3/bucket:Bucket", "web-alb-logs")
    assert delivery["Resource"] == f"arn:aws:s3:::{physical(bucket)}/alb/AWSLogs/{ACCOUNT}/*"


def test_the_stacks_grant_the_elb_account_of_each_region(stack_plan: Plan) -> None:
    accounts = {"eu-west-1": "156460612806", "eu-central-1": "054676820928"}
    cfg = load_stack_config(PROJECT_DIR, stack_plan.stack)
    for region in cfg.regions:
        policies = [
            r
            for r in stack_plan.in_region(region.name)
            if r["type"] == BUCKET_POLICY and "alb-logs" in r["name"]
        ]
        assert len(policies) == 1
        statements = json.loads(policies[0]["inputs"]["policy"])["Statement"]
        delivery = [s for s in statements if s.get("Action") == "s3:PutObject"]
        assert [s["Principal"] for s in delivery] == [
            {"AWS": f"arn:aws:iam::{accounts[region.name]}:root"}
        ]
        assert all("Condition" not in s for s in delivery)


# 5. Access logging is switched on only once ELB may write -------------------------------------


def test_the_stack_load_balancers_wait_for_their_log_bucket_policy(stack_plan: Plan) -> None:
    cfg = load_stack_config(PROJECT_DIR, stack_plan.stack)
    for region in cfg.regions:
        in_region = stack_plan.in_region(region.name)
        (lb,) = [r for r in in_region if r["type"] == LB and r["name"].endswith("-web-alb")]
        (policy,) = [r for r in in_region if r["type"] == BUCKET_POLICY and "alb-logs" in r["name"]]
        assert policy["urn"] in lb["dependencies"]


def test_an_existing_log_bucket_policy_is_waited_for() -> None:
    def before(opts: pulumi.ResourceOptions) -> dict[str, Any]:
        policy = aws.s3.BucketPolicy(
            "team-alb-logs-policy", bucket="team-alb-logs", policy="{}", opts=opts
        )
        return {
            "load_balancer_log_bucket": "team-alb-logs",
            "load_balancer_log_bucket_policy": policy,
        }

    plan = render(before=before)
    lb = one(plan, LB)
    policy = one(plan, BUCKET_POLICY, "team-alb-logs-policy")
    assert lb["inputs"]["accessLogs"]["bucket"] == "team-alb-logs"
    assert policy["urn"] in lb["dependencies"]


def test_the_pool_load_balancer_waits_for_its_log_bucket_policy() -> None:
    def build(opts: pulumi.ResourceOptions) -> None:
        holder = pulumi.ComponentResource("test:index:Pool", "pool", None, opts)
        child = pulumi.ResourceOptions(parent=holder)
        instances = aws.ec2.SecurityGroup("pool-sg", vpc_id="vpc-1", opts=child)
        policy = aws.s3.BucketPolicy("nlb-logs-policy", bucket="nlb-logs", policy="{}", opts=child)
        PoolEntryPoint(
            "pool",
            PoolLoadBalancer(
                allowed_cidrs=["10.0.0.0/8"],
                access_logs_bucket="nlb-logs",
                access_logs_bucket_policy=policy,
            ),
            vpc_id="vpc-1",
            subnet_ids=["subnet-a", "subnet-b"],
            instances_security_group=instances,
            protect=False,
            tags=lambda purpose: {"Name": f"pool-{purpose}"},
            parent=holder,
        )

    plan = render_components(build, region=REGION)
    lb = one(plan, LB)
    policy = one(plan, BUCKET_POLICY, "nlb-logs-policy")
    assert lb["inputs"]["accessLogs"]["bucket"] == "nlb-logs"
    assert policy["urn"] in lb["dependencies"]
