"""Both real stack files, rendered offline and held to the platform's invariants."""

from __future__ import annotations

import json
from collections import Counter

from stacks.config import load_stack_config
from stacks.offline import PROJECT_DIR, PROVIDER_TYPE_PREFIX, Plan


def config_of(plan: Plan):
    return load_stack_config(PROJECT_DIR, plan.stack)


def custom(plan: Plan) -> list[dict]:
    return [
        r for r in plan.resources if r["custom"] and not r["type"].startswith(PROVIDER_TYPE_PREFIX)
    ]


def test_one_provider_per_configured_region(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    providers = stack_plan.of_type("pulumi:providers:aws")
    assert sorted(p["inputs"]["region"] for p in providers) == sorted(r.name for r in cfg.regions)
    for p in providers:
        tags = json.loads(p["inputs"]["defaultTags"])["tags"]
        assert tags["environment"] == cfg.environment
        assert tags["region"] == p["inputs"]["region"]
        assert tags["stack"] == stack_plan.stack
        assert tags["managed-by"] == "pulumi"
        for key, value in cfg.tags.items():
            assert tags[key] == value


def test_every_custom_resource_has_its_regions_provider(stack_plan: Plan) -> None:
    providers = {
        p["urn"]: p["inputs"]["region"] for p in stack_plan.of_type("pulumi:providers:aws")
    }
    regional = {r["name"]: r["urn"] for r in stack_plan.of_type("mlops:stacks:RegionalPlatform")}
    for r in custom(stack_plan):
        assert r["provider"] in providers, r["urn"]
        region = providers[r["provider"]]
        assert r["region"] == region
        # ...and it lives under that region's component.
        ancestor = r["parent"]
        chain = []
        while ancestor:
            chain.append(ancestor)
            ancestor = next(
                (x["parent"] for x in stack_plan.resources if x["urn"] == ancestor), None
            )
        assert regional[region] in chain, r["urn"]


def test_one_regional_component_per_region_primary_first(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    assert sorted(r["name"] for r in stack_plan.of_type("mlops:stacks:RegionalPlatform")) == sorted(
        r.name for r in cfg.regions
    )
    assert stack_plan.outputs["primaryRegion"] == cfg.regions[0].name
    assert [name for name, out in stack_plan.outputs["regions"].items() if out["primary"]] == [
        cfg.regions[0].name
    ]


def test_subnets_per_tier_in_distinct_azs(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    for region in cfg.regions:
        subnets = [
            s for s in stack_plan.in_region(region.name) if s["type"] == "aws:ec2/subnet:Subnet"
        ]
        tiers = ["public", "private"] + (["isolated"] if cfg.network.isolated_subnets else [])
        for tier in tiers:
            azs = [
                s["inputs"]["availabilityZone"]
                for s in subnets
                if s["inputs"]["tags"]["tier"] == tier
            ]
            assert len(azs) == cfg.network.az_count
            assert len(set(azs)) == cfg.network.az_count
            assert all(az.startswith(region.name) for az in azs)
        assert all(s["inputs"]["mapPublicIpOnLaunch"] is False for s in subnets)


def test_nat_count_matches_strategy(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    expected = {"none": 0, "single": 1, "per_az": cfg.network.az_count}[cfg.network.nat]
    for region in cfg.regions:
        nats = [
            r
            for r in stack_plan.in_region(region.name)
            if r["type"] == "aws:ec2/natGateway:NatGateway"
        ]
        assert len(nats) == expected


def test_flow_logs_on_every_vpc(stack_plan: Plan) -> None:
    vpcs = stack_plan.of_type("aws:ec2/vpc:Vpc")
    flows = stack_plan.of_type("aws:ec2/flowLog:FlowLog")
    assert {f["inputs"]["vpcId"] for f in flows if f["inputs"]["trafficType"] == "ALL"} == {
        v["id"] for v in vpcs
    }
    for vpc in vpcs:
        assert vpc["inputs"]["enableDnsSupport"] is True
    # Each VPC's default security group is managed with no rules.
    assert {
        g["inputs"]["vpcId"]
        for g in stack_plan.of_type("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    } == {v["id"] for v in vpcs}


def _mentions(value, ids: set[str]) -> bool:
    if isinstance(value, str):
        return value in ids
    if isinstance(value, dict):
        return any(_mentions(v, ids) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, ids) for v in value)
    return False


def test_whatever_is_placed_in_a_subnet_waits_for_its_routing(stack_plan: Plan) -> None:
    """Load balancers in public subnets need the attached internet gateway (else "VPC ...
    has no internet gateway"); workloads in private subnets need their NAT route. Anything
    given a subnet id, other than the network's own plumbing, depends on that routing."""
    own = {
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
    }
    checked = 0
    for region in config_of(stack_plan).regions:
        here = stack_plan.in_region(region.name)
        by_tier: dict[str, set[str]] = {}
        for subnet in (r for r in here if r["type"] == "aws:ec2/subnet:Subnet"):
            by_tier.setdefault(subnet["inputs"]["tags"]["tier"], set()).add(subnet["id"])
        named = {(r["type"], r["name"]): r["urn"] for r in here}
        igw = named[("aws:ec2/internetGateway:InternetGateway", f"{region.name}-network-igw")]
        public_route = named[("aws:ec2/route:Route", f"{region.name}-network-public-default")]
        nat_routes = {
            u
            for (t, n), u in named.items()
            if t == "aws:ec2/route:Route" and "-private-default-" in n
        }
        for resource in here:
            if resource["type"] in own:
                continue
            if _mentions(resource["inputs"], by_tier["public"]):
                assert {igw, public_route} <= set(resource["dependencies"]), resource["urn"]
                checked += 1
            if nat_routes and _mentions(resource["inputs"], by_tier["private"]):
                assert nat_routes & set(resource["dependencies"]), resource["urn"]
                checked += 1
    assert checked  # the stacks do place load balancers and workloads in subnets


def test_every_log_group_has_retention_and_a_kms_key(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    keys_by_region = {k["region"]: k["id"] for k in stack_plan.of_type("aws:kms/key:Key")}
    groups = stack_plan.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert groups
    for g in groups:
        assert g["inputs"]["retentionInDays"] == cfg.log_retention_days
        assert g["inputs"]["kmsKeyId"].endswith(f":key/{keys_by_region[g['region']]}")
        assert f":{g['region']}:" in g["inputs"]["kmsKeyId"]


def test_region_keys_rotate_and_have_no_public_principal(stack_plan: Plan) -> None:
    keys = stack_plan.of_type("aws:kms/key:Key")
    assert Counter(k["region"] for k in keys) == Counter(
        r.name for r in config_of(stack_plan).regions
    )
    for key in keys:
        assert key["inputs"]["enableKeyRotation"] is True
        for statement in json.loads(key["inputs"]["policy"])["Statement"]:
            principal = statement["Principal"]
            assert principal != "*" and principal.get("AWS") != "*"
            assert "kms:*" not in statement["Action"] and "*" not in statement["Action"]


def test_prod_protects_and_dev_does_not(prod_plan: Plan, dev_plan: Plan) -> None:
    for key in prod_plan.of_type("aws:kms/key:Key"):
        assert key["options"]["protect"] and key["options"]["retainOnDelete"]
    assert not [r for r in dev_plan.resources if r["options"]["protect"]]


def test_stack_outputs_per_region(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    outputs = stack_plan.outputs["regions"]
    assert sorted(outputs) == sorted(r.name for r in cfg.regions)
    for region in cfg.regions:
        out = outputs[region.name]
        vpc = [v for v in stack_plan.in_region(region.name) if v["type"] == "aws:ec2/vpc:Vpc"][0]
        assert out["vpcId"] == vpc["id"]
        assert out["vpcCidr"] == region.cidr
        subnets = {
            s["id"]: s
            for s in stack_plan.in_region(region.name)
            if s["type"] == "aws:ec2/subnet:Subnet"
        }
        for tier, ids in out["subnetIds"].items():
            assert len(ids) == cfg.network.az_count
            assert all(subnets[i]["inputs"]["tags"]["tier"] == tier for i in ids)
