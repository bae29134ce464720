"""Network: the subnet planner (pure, property-tested) and the component's graph."""

from __future__ import annotations

import ipaddress
import itertools
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.kms import RegionKey, RegionKeyArgs
from components.network import AZ_SLOTS, TIER_BLOCKS, Network, NetworkArgs, plan_subnets
from stacks.offline import render_components

TIERS = list(TIER_BLOCKS)


@st.composite
def vpc_cidrs(draw) -> str:
    prefix = draw(st.integers(min_value=16, max_value=22))
    base = draw(st.sampled_from(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]))
    parent = ipaddress.IPv4Network(base)
    if prefix < parent.prefixlen:
        prefix = parent.prefixlen
    count = 2 ** (prefix - parent.prefixlen)
    index = draw(st.integers(min_value=0, max_value=count - 1))
    return str(next(itertools.islice(parent.subnets(new_prefix=prefix), index, None)))


tier_sets = st.lists(st.sampled_from(TIERS), min_size=1, max_size=len(TIERS), unique=True)


@given(cidr=vpc_cidrs(), az_count=st.integers(1, AZ_SLOTS), tiers=tier_sets)
def test_subnets_are_disjoint_and_inside_the_vpc(
    cidr: str, az_count: int, tiers: list[str]
) -> None:
    vpc = ipaddress.IPv4Network(cidr)
    subnets = [
        ipaddress.IPv4Network(c) for cs in plan_subnets(cidr, az_count, tiers).values() for c in cs
    ]
    assert len(subnets) == az_count * len(tiers)
    for a in subnets:
        assert a.subnet_of(vpc)
        assert a.prefixlen <= 28
    for a, b in itertools.combinations(subnets, 2):
        assert not a.overlaps(b)


@given(cidr=vpc_cidrs(), az_count=st.integers(1, AZ_SLOTS - 1), tiers=tier_sets)
def test_adding_an_az_keeps_existing_subnets(cidr: str, az_count: int, tiers: list[str]) -> None:
    before = plan_subnets(cidr, az_count, tiers)
    after = plan_subnets(cidr, az_count + 1, tiers)
    for tier in tiers:
        assert after[tier][:az_count] == before[tier]


@given(cidr=vpc_cidrs(), az_count=st.integers(1, AZ_SLOTS), tiers=tier_sets, data=st.data())
def test_adding_a_tier_keeps_existing_subnets(cidr, az_count, tiers, data) -> None:
    missing = [t for t in TIERS if t not in tiers]
    if not missing:
        return
    extra = data.draw(st.sampled_from(missing))
    position = data.draw(st.integers(0, len(tiers)))
    before = plan_subnets(cidr, az_count, tiers)
    after = plan_subnets(cidr, az_count, tiers[:position] + [extra] + tiers[position:])
    for tier in tiers:
        assert after[tier] == before[tier]


def test_layout_is_public_api() -> None:
    """A known layout, pinned: changing it would replace every subnet of every stack."""
    assert plan_subnets("10.10.0.0/16", 2, ["public", "private", "isolated"]) == {
        "public": ["10.10.128.0/21", "10.10.136.0/21"],
        "private": ["10.10.0.0/20", "10.10.16.0/20"],
        "isolated": ["10.10.192.0/21", "10.10.200.0/21"],
    }


@pytest.mark.parametrize(
    "args, message",
    [
        (("10.0.0.0/16", 0, ["public"]), "az_count 0"),
        (("10.0.0.0/16", 9, ["public"]), "az_count 9"),
        (("10.0.0.0/16", 2, ["dmz"]), "unknown tier"),
        (("10.0.0.0/16", 2, ["public", "public"]), "duplicates"),
        (("10.0.0.0/26", 2, ["public"]), "too small"),
    ],
)
def test_planner_rejects_bad_input(args, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_subnets(*args)


def _network(nat: str = "per_az", azs=("eu-west-1a", "eu-west-1b"), **kwargs):
    def build(opts):
        key = RegionKey("k", RegionKeyArgs(alias="test"), opts=opts)
        Network(
            "net",
            NetworkArgs(
                cidr="10.0.0.0/16", availability_zones=list(azs), key=key, nat=nat, **kwargs
            ),
            opts=opts,
        )

    return render_components(build)


@pytest.mark.parametrize("nat, expected", [("none", 0), ("single", 1), ("per_az", 3)])
def test_nat_strategy(nat: str, expected: int) -> None:
    plan = _network(nat=nat, azs=("eu-west-1a", "eu-west-1b", "eu-west-1c"))
    assert len(plan.of_type("aws:ec2/natGateway:NatGateway")) == expected
    assert len(plan.of_type("aws:ec2/eip:Eip")) == expected
    # Private route tables exist per AZ whatever the strategy; routes follow it.
    assert (
        len([r for r in plan.of_type("aws:ec2/routeTable:RouteTable") if "private" in r["name"]])
        == 3
    )
    private_routes = [r for r in plan.of_type("aws:ec2/route:Route") if "private" in r["name"]]
    assert len(private_routes) == (0 if nat == "none" else 3)
    nat_ids = {n["id"] for n in plan.of_type("aws:ec2/natGateway:NatGateway")}
    assert {r["inputs"]["natGatewayId"] for r in private_routes} == (
        nat_ids if nat != "none" else set()
    )


def test_subnets_routes_and_public_ips() -> None:
    plan = _network(isolated_subnets=True)
    subnets = plan.of_type("aws:ec2/subnet:Subnet")
    by_tier: dict[str, list[dict]] = {}
    for s in subnets:
        assert s["inputs"]["mapPublicIpOnLaunch"] is False
        by_tier.setdefault(s["inputs"]["tags"]["tier"], []).append(s)
    assert {t: len(v) for t, v in by_tier.items()} == {"public": 2, "private": 2, "isolated": 2}
    igw = plan.of_type("aws:ec2/internetGateway:InternetGateway")[0]
    public_route = plan.find("aws:ec2/route:Route", "net-public-default")
    assert public_route["inputs"]["gatewayId"] == igw["id"]
    assert plan.find("aws:ec2/vpc:Vpc", "net-vpc")["inputs"]["enableDnsSupport"] is True
    # Isolated subnets have a table with no route at all.
    isolated_rt = plan.find("aws:ec2/routeTable:RouteTable", "net-isolated-rt")
    assert not [
        r
        for r in plan.of_type("aws:ec2/route:Route")
        if r["inputs"]["routeTableId"] == isolated_rt["id"]
    ]


def test_default_security_group_has_no_rules() -> None:
    plan = _network()
    sg = plan.of_type("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")[0]
    assert sg["inputs"].get("ingress", []) == [] and sg["inputs"].get("egress", []) == []


def test_gateway_endpoints_on_private_route_tables() -> None:
    plan = _network(isolated_subnets=True)
    tables = {
        r["id"] for r in plan.of_type("aws:ec2/routeTable:RouteTable") if "public" not in r["name"]
    }
    endpoints = plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    assert sorted(e["inputs"]["serviceName"] for e in endpoints) == [
        "com.amazonaws.eu-west-1.dynamodb",
        "com.amazonaws.eu-west-1.s3",
    ]
    for e in endpoints:
        assert e["inputs"]["vpcEndpointType"] == "Gateway"
        assert set(e["inputs"]["routeTableIds"]) == tables


def test_interface_endpoints_allow_https_from_the_vpc_only() -> None:
    plan = _network(interface_endpoints=["ssm", "ecr.api"])
    interface = [
        e
        for e in plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if e["inputs"]["vpcEndpointType"] == "Interface"
    ]
    assert sorted(e["inputs"]["serviceName"] for e in interface) == [
        "com.amazonaws.eu-west-1.ecr.api",
        "com.amazonaws.eu-west-1.ssm",
    ]
    sg = plan.find("aws:ec2/securityGroup:SecurityGroup", "net-endpoints-sg")
    assert sg["inputs"]["ingress"] == [
        {
            "cidrBlocks": ["10.0.0.0/16"],
            "description": "HTTPS from the VPC CIDR",
            "fromPort": 443,
            "protocol": "tcp",
            "toPort": 443,
        }
    ]
    assert sg["inputs"]["egress"] == []
    private_ids = {
        s["id"]
        for s in plan.of_type("aws:ec2/subnet:Subnet")
        if s["inputs"]["tags"]["tier"] == "private"
    }
    for e in interface:
        assert set(e["inputs"]["subnetIds"]) == private_ids
        assert e["inputs"]["securityGroupIds"] == [sg["id"]]
        assert e["inputs"]["privateDnsEnabled"] is True


def test_flow_logs_to_an_encrypted_group_through_a_scoped_role() -> None:
    plan = _network()
    group = plan.find("aws:cloudwatch/logGroup:LogGroup", "net-flow-logs")
    key = plan.find("aws:kms/key:Key", "k-key")
    assert group["inputs"]["kmsKeyId"] == f"arn:aws:kms:eu-west-1:123456789012:key/{key['id']}"
    assert group["inputs"]["retentionInDays"] == 30
    flow = plan.of_type("aws:ec2/flowLog:FlowLog")[0]
    assert flow["inputs"]["trafficType"] == "ALL"
    assert (
        flow["inputs"]["logDestination"]
        == f"arn:aws:logs:eu-west-1:123456789012:log-group:{group['id']}"
    )
    role = plan.find("aws:iam/role:Role", "net-flow-logs")
    trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    policy = json.loads(
        plan.find("aws:iam/rolePolicy:RolePolicy", "net-flow-logs")["inputs"]["policy"]
    )
    write, describe = policy["Statement"]
    assert all(res.startswith(flow["inputs"]["logDestination"]) for res in write["Resource"])
    # Only the action without resource-level permissions is on "*".
    assert describe == {
        "Sid": "FindTheLogGroup",
        "Effect": "Allow",
        "Action": "logs:DescribeLogGroups",
        "Resource": "*",
    }


def test_network_rejects_bad_args_before_registering() -> None:
    with pytest.raises(ValueError, match="nat: 'many'"):
        _network(nat="many")


def _network_with_consumers(**kwargs):
    """A network and, as later capabilities do, resources placed in its subnets by id."""
    import pulumi_aws as aws

    def build(opts):
        key = RegionKey("k", RegionKeyArgs(alias="test"), opts=opts)
        net = Network(
            "net",
            NetworkArgs(
                cidr="10.0.0.0/16",
                availability_zones=["eu-west-1a", "eu-west-1b"],
                key=key,
                **kwargs,
            ),
            opts=opts,
        )
        aws.lb.LoadBalancer(
            "alb", load_balancer_type="application", subnets=net.subnet_ids["public"], opts=opts
        )
        for tier, ids in net.subnet_ids.items():
            aws.ec2.NetworkInterface(f"eni-{tier}", subnet_id=ids[0], opts=opts)

    return render_components(build)


def _dependency_names(plan, resource) -> set[tuple[str, str]]:
    by_urn = {r["urn"]: r for r in plan.resources}
    return {(by_urn[u]["type"], by_urn[u]["name"]) for u in resource["dependencies"]}


def test_load_balancer_in_public_subnets_waits_for_the_internet_gateway() -> None:
    """AWS refuses an internet-facing load balancer in a VPC whose gateway is not attached
    yet ("VPC ... has no internet gateway"); on destroy the gateway cannot be detached while
    the load balancer's public addresses remain. The public subnet ids carry the dependency."""
    plan = _network_with_consumers(nat="single")
    deps = _dependency_names(plan, plan.find("aws:lb/loadBalancer:LoadBalancer", "alb"))
    assert ("aws:ec2/internetGateway:InternetGateway", "net-igw") in deps
    assert ("aws:ec2/route:Route", "net-public-default") in deps
    assert {
        ("aws:ec2/routeTableAssociation:RouteTableAssociation", f"net-public-{i}") for i in (0, 1)
    } <= deps
    # The ids themselves are unchanged: the real subnet ids.
    subnets = {s["name"]: s["id"] for s in plan.of_type("aws:ec2/subnet:Subnet")}
    assert plan.find("aws:lb/loadBalancer:LoadBalancer", "alb")["inputs"]["subnets"] == [
        subnets["net-public-0"],
        subnets["net-public-1"],
    ]


def test_workloads_in_private_subnets_wait_for_nat_routes_and_endpoints() -> None:
    plan = _network_with_consumers(nat="per_az", interface_endpoints=["ssm"], isolated_subnets=True)
    private = _dependency_names(
        plan, plan.find("aws:ec2/networkInterface:NetworkInterface", "eni-private")
    )
    assert {
        ("aws:ec2/routeTableAssociation:RouteTableAssociation", "net-private-0"),
        ("aws:ec2/route:Route", "net-private-default-0"),
        ("aws:ec2/natGateway:NatGateway", "net-nat-0"),
        ("aws:ec2/vpcEndpoint:VpcEndpoint", "net-s3-endpoint"),
        ("aws:ec2/vpcEndpoint:VpcEndpoint", "net-dynamodb-endpoint"),
        ("aws:ec2/vpcEndpoint:VpcEndpoint", "net-ssm-endpoint"),
    } <= private
    assert ("aws:ec2/internetGateway:InternetGateway", "net-igw") not in private
    isolated = _dependency_names(
        plan, plan.find("aws:ec2/networkInterface:NetworkInterface", "eni-isolated")
    )
    assert ("aws:ec2/routeTableAssociation:RouteTableAssociation", "net-isolated-0") in isolated
    assert ("aws:ec2/vpcEndpoint:VpcEndpoint", "net-s3-endpoint") in isolated
    assert not {
        d for d in isolated if d[0] in ("aws:ec2/natGateway:NatGateway", "aws:ec2/route:Route")
    }


def test_flow_log_waits_for_its_role_policy() -> None:
    plan = _network()
    flow = plan.of_type("aws:ec2/flowLog:FlowLog")[0]
    policy = plan.find("aws:iam/rolePolicy:RolePolicy", "net-flow-logs")
    assert policy["urn"] in flow["dependencies"]


def test_network_rejects_a_flow_log_retention_cloudwatch_does_not_accept() -> None:
    with pytest.raises(
        ValueError, match="flow_log_retention_days: 10 is not a retention CloudWatch Logs accepts"
    ):
        _network(flow_log_retention_days=10)


# An existing key ----------------------------------------------------------------------------

TEAM_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _network_with_key(key):
    def build(opts):
        Network(
            "net",
            NetworkArgs(
                cidr="10.0.0.0/16", availability_zones=["eu-west-1a", "eu-west-1b"], key=key
            ),
            opts=opts,
        )

    return render_components(build)


def test_flow_logs_can_use_an_existing_key_arn() -> None:
    plan = _network_with_key(TEAM_KEY_ARN)
    group = plan.find("aws:cloudwatch/logGroup:LogGroup", "net-flow-logs")
    assert group["inputs"]["kmsKeyId"] == TEAM_KEY_ARN
    assert plan.of_type("aws:kms/key:Key") == []


@pytest.mark.parametrize(
    "key, message",
    [
        (42, r"key: expected a RegionKey or an existing KMS key ARN .*got int"),
        ("arn:aws:kms:eu-west-1:123456789012:alias/net", r"key: .* is an alias ARN"),
    ],
)
def test_a_wrong_key_is_refused_before_anything_is_registered(key, message: str) -> None:
    caught: list[ValueError] = []

    def build(opts):
        try:
            Network(
                "net",
                NetworkArgs(
                    cidr="10.0.0.0/16", availability_zones=["eu-west-1a"], key=key, nat="many"
                ),
                opts=opts,
            )
        except ValueError as exc:
            caught.append(exc)

    plan = render_components(build)
    assert len(caught) == 1
    error = str(caught[0])
    assert error.startswith("Network 'net': ") and re.search(message, error), error
    # Reported with the other problems, at once.
    assert "nat: 'many'" in error
    assert [r["type"] for r in plan.resources] == ["pulumi:providers:aws"]
