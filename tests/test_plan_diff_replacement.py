"""Replacement marking: the verdicts, and the maintained table checked against AWS's own data.

AWS publishes which properties of a resource can only be set at creation (CloudFormation
resource schemas, ``createOnlyProperties``; they ship with cfn-lint, which the test
dependencies install). Every table entry that names a CloudFormation type must agree with it,
property by property, except where the entry records that the provider behaves differently.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

import pytest

from stacks.plan_diff import replacement as rp
from stacks.plan_diff.values import diff_values


def verdict(type_: str, old: dict[str, Any], new: dict[str, Any]) -> rp.Verdict:
    return rp.verdict(type_, list(diff_values(old, new)), old, new)


@pytest.mark.parametrize(
    ("type_", "old", "new", "kind", "because"),
    [
        (
            "aws:ec2/vpc:Vpc",
            {"cidrBlock": "10.0.0.0/16"},
            {"cidrBlock": "10.1.0.0/16"},
            "replace",
            ("cidrBlock",),
        ),
        (
            "aws:ec2/vpc:Vpc",
            {"enableDnsHostnames": False},
            {"enableDnsHostnames": True},
            "in-place",
            (),
        ),
        ("aws:ec2/subnet:Subnet", {"tags": {"a": "1"}}, {"tags": {"a": "2"}}, "in-place", ()),
        # Terraform updates the association in place (ReplaceRouteTableAssociation),
        # although CloudFormation replaces it.
        (
            "aws:ec2/routeTableAssociation:RouteTableAssociation",
            {"routeTableId": "rtb-1"},
            {"routeTableId": "rtb-2"},
            "in-place",
            (),
        ),
        (
            "aws:ec2/routeTableAssociation:RouteTableAssociation",
            {"subnetId": "s-1"},
            {"subnetId": "s-2"},
            "replace",
            ("subnetId",),
        ),
        ("aws:dynamodb/table:Table", {"hashKey": "id"}, {"hashKey": "pk"}, "replace", ("hashKey",)),
        (
            "aws:dynamodb/table:Table",
            {"billingMode": "PROVISIONED"},
            {"billingMode": "PAY_PER_REQUEST"},
            "in-place",
            (),
        ),
        ("aws:kms/key:Key", {"description": "a"}, {"description": "b"}, "in-place", ()),
        (
            "aws:kms/key:Key",
            {"keyUsage": "ENCRYPT_DECRYPT"},
            {"keyUsage": "SIGN_VERIFY"},
            "replace",
            ("keyUsage",),
        ),
        (
            "aws:batch/computeEnvironment:ComputeEnvironment",
            {"computeResources": {"maxVcpus": 4}},
            {"computeResources": {"maxVcpus": 8}},
            "may-replace",
            ("computeResources.maxVcpus",),
        ),
        (
            "aws:batch/computeEnvironment:ComputeEnvironment",
            {"computeResources": {"placementGroup": "a"}},
            {"computeResources": {"placementGroup": "b"}},
            "replace",
            ("computeResources.placementGroup",),
        ),
        # An optional property removed may keep the value the provider read back.
        (
            "aws:lambda/function:Function",
            {"name": "f", "memorySize": 128},
            {"memorySize": 256},
            "may-replace",
            ("name",),
        ),
        (
            "aws:ecs/service:Service",
            {"launchType": "FARGATE"},
            {"launchType": "EC2"},
            "unknown",
            ("launchType",),
        ),
        ("aws:example/unknown:Thing", {"a": 1}, {"a": 2}, "unknown", ("a",)),
        (
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            {"fromPort": 80, "cidrIpv4": "0.0.0.0/0"},
            {"fromPort": 81, "cidrIpv4": "0.0.0.0/0"},
            "in-place",
            (),
        ),
        (
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            {"cidrIpv4": "10.0.0.0/8"},
            {"prefixListId": "pl-1"},
            "replace",
            ("source changed from cidrIpv4 to prefixListId",),
        ),
        (
            "aws:s3/bucketVersioning:BucketVersioning",
            {"bucket": "a"},
            {"bucket": "b"},
            "replace",
            ("bucket",),
        ),
    ],
)
def test_verdicts(
    type_: str, old: dict[str, Any], new: dict[str, Any], kind: str, because: tuple[str, ...]
) -> None:
    result = verdict(type_, old, new)
    assert (result.kind, result.because) == (kind, because)
    assert result.source


def test_every_entry_cites_its_source() -> None:
    for type_, rule in rp.RULES.items():
        assert rule.source.startswith((rp.TF, "AWS: ")), type_
        assert not (rule.replace & (rule.in_place or frozenset())), type_


# AWS's immutability data -----------------------------------------------------------------------

cfnlint = pytest.importorskip("cfnlint", reason="cfn-lint ships the CloudFormation schemas")
SCHEMAS = files("cfnlint.data.schemas")


@cache
def cfn_schema(type_name: str) -> dict[str, Any]:
    index = json.loads((SCHEMAS / "providers" / "us-east-1.json").read_text(encoding="utf-8"))
    return json.loads((SCHEMAS / "resources" / f"{index[type_name]}.json").read_text("utf-8"))


def create_only(type_name: str) -> set[str]:
    return {
        p.split("/")[2]
        for p in cfn_schema(type_name).get("createOnlyProperties", [])
        if p.count("/") == 2
    }


def cfn_name(rule: rp.Rule, prop: str) -> str | None:
    return rule.cfn_names.get(prop, prop[0].upper() + prop[1:])


CHECKED = {t: r for t, r in rp.RULES.items() if r.cfn}


@pytest.mark.parametrize("type_", sorted(CHECKED))
def test_entry_agrees_with_the_cloudformation_schema(type_: str) -> None:
    rule = CHECKED[type_]
    assert rule.cfn is not None
    schema_props = set(cfn_schema(rule.cfn)["properties"])
    immutable = create_only(rule.cfn)
    problems = []
    for prop in sorted(rule.replace | (rule.in_place or frozenset())):
        name = cfn_name(rule, prop.split(".")[0])
        if name is None:
            continue
        if name not in schema_props:
            problems.append(f"{prop}: {rule.cfn} has no property {name} (map it in cfn_names)")
            continue
        forced = prop in rule.replace
        if prop in rule.cfn_differs:
            if forced == (name in immutable):
                problems.append(f"{prop} is listed in cfn_differs but agrees with {name}")
        elif forced and name not in immutable:
            problems.append(f"{prop} replaces, but {rule.cfn}.{name} is not create-only")
        elif not forced and name in immutable:
            problems.append(f"{prop} updates in place, but {rule.cfn}.{name} is create-only")
    assert not problems, "\n".join(problems)
