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

from stacks.offline import Plan
from stacks.plan_diff import replacement as rp
from stacks.plan_diff.replace_table import REGION_SOURCE
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
            "replace",
            ("launchType",),
        ),
        (
            "aws:ecs/service:Service",
            {"loadBalancers": [{"containerPort": 80}]},
            {"loadBalancers": [{"containerPort": 8080}]},
            "in-place",
            (),
        ),
        # Provider-only flags and properties nobody has read are still "not known".
        (
            "aws:ecs/service:Service",
            {"forceNewDeployment": False},
            {"forceNewDeployment": True},
            "unknown",
            ("forceNewDeployment",),
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
        (
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            {"bucket": "a"},
            {"bucket": "b"},
            "replace",
            ("bucket",),
        ),
        (
            "aws:sqs/queuePolicy:QueuePolicy",
            {"queueUrl": "a"},
            {"queueUrl": "b"},
            "replace",
            ("queueUrl",),
        ),
        ("aws:sns/topicPolicy:TopicPolicy", {"policy": "{}"}, {"policy": "{ }"}, "in-place", ()),
        (
            "aws:ssm/parameter:Parameter",
            {"tier": "Advanced"},
            {"tier": "Standard"},
            "may-replace",
            ("tier",),
        ),
        (
            "aws:ssm/parameter:Parameter",
            {"type": "String"},
            {"type": "SecureString"},
            "in-place",
            (),
        ),
        (
            "aws:dynamodb/table:Table",
            {"replicas": [{"regionName": "eu-central-1"}]},
            {"replicas": [{"regionName": "eu-west-2"}]},
            "in-place",
            (),
        ),
        (
            "aws:batch/jobDefinition:JobDefinition",
            {"retryStrategy": {"attempts": 2, "evaluateOnExits": [{"action": "RETRY"}]}},
            {"retryStrategy": {"attempts": 2, "evaluateOnExits": [{"action": "EXIT"}]}},
            "replace",
            ("retryStrategy.evaluateOnExits[0].action",),
        ),
        (
            "aws:batch/jobDefinition:JobDefinition",
            {"retryStrategy": {"attempts": 2}},
            {"retryStrategy": {"attempts": 3}},
            "in-place",
            (),
        ),
        ("aws:ec2/internetGateway:InternetGateway", {"vpcId": "a"}, {"vpcId": "b"}, "in-place", ()),
        (
            "aws:kms/grant:Grant",
            {"operations": ["Decrypt"]},
            {"operations": ["Encrypt"]},
            "replace",
            ("operations[0]",),
        ),
        # The per-resource Region of any AWS resource.
        (
            "aws:cloudwatch/metricAlarm:MetricAlarm",
            {"region": "eu-west-1"},
            {"region": "eu-central-1"},
            "replace",
            ("region",),
        ),
        (
            "aws:cloudwatch/metricAlarm:MetricAlarm",
            {},
            {"region": "eu-west-1", "threshold": 2},
            "may-replace",
            ("region",),
        ),
        (
            "aws:cloudwatch/metricAlarm:MetricAlarm",
            {"name": "a"},
            {"region": "eu-west-1", "name": "b"},
            "replace",
            ("name",),
        ),
        (
            "pulumi:providers:aws",
            {"region": "eu-west-1"},
            {"region": "eu-central-1"},
            "unknown",
            ("region",),
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
    assert REGION_SOURCE.startswith("https://github.com/hashicorp/terraform-provider-aws/")


# Coverage of the real plans ---------------------------------------------------------------------

#: (type, top-level input property) of the real plans the table does not know yet, each with the
#: reason it is not in the table. Empty: every input of both stacks is known. A property added
#: here must say why; one the plans no longer contain fails the test below.
NOT_YET_KNOWN: dict[tuple[str, str], str] = {}


def plan_inputs(plans: dict[str, Plan]) -> dict[tuple[str, str], set[str]]:
    """(type, top-level input property) -> the stacks whose plans have it, for every AWS
    resource (components own none; providers are not AWS resources)."""
    found: dict[tuple[str, str], set[str]] = {}
    for stack, plan in plans.items():
        for resource in plan.resources:
            if not resource["custom"] or resource["type"].startswith("pulumi:providers:"):
                continue
            for prop in resource["inputs"]:
                found.setdefault((resource["type"], prop), set()).add(stack)
    return found


def test_every_input_of_the_real_plans_is_in_the_table(plans: dict[str, Plan]) -> None:
    """A change to any input of any resource dev or prod deploys gets a verdict with a source:
    a new resource type or property fails here until the table has an entry for it (read from
    the provider source or the CloudFormation schema, as the entries above are)."""
    found = plan_inputs(plans)
    missing = sorted(
        f"{type_} {prop} (in {', '.join(sorted(stacks))})"
        for (type_, prop), stacks in found.items()
        if not rp.known(type_, prop) and (type_, prop) not in NOT_YET_KNOWN
    )
    assert not missing, "not in stacks/plan_diff/replace_table.py:\n" + "\n".join(missing)
    stale = sorted(f"{t} {p}" for t, p in NOT_YET_KNOWN if (t, p) not in found or rp.known(t, p))
    assert not stale, (
        "NOT_YET_KNOWN lists inputs the plans no longer have or the table knows:\n"
        + "\n".join(stale)
    )
    assert all(reason.strip() for reason in NOT_YET_KNOWN.values())


def test_a_known_input_never_gets_an_unknown_verdict(plans: dict[str, Plan]) -> None:
    """What ``known`` says is what ``verdict`` does: a change to any one input of the real
    plans is replace, may replace or in place, never "not known"."""
    for type_, prop in plan_inputs(plans):
        if (type_, prop) in NOT_YET_KNOWN:
            continue
        result = verdict(type_, {prop: "old"}, {prop: "new"})
        assert result.kind != rp.UNKNOWN, (type_, prop, result)


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
