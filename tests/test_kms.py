"""Bring your own key: ExistingKey, as_key and the key ARN parser.

A component that takes the region key also takes an existing key's ARN; these tests hold the
shared pieces to their contract (clear errors naming the field, the same ARN/context/grants
as a RegionKey offers). The components' own tests check that the ARN reaches their
encrypted resources.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from components.iam import ServiceRole, ServiceRoleArgs
from components.kms import (
    ExistingKey,
    KeyContext,
    RegionKey,
    RegionKeyArgs,
    as_key,
    key_input_problem,
    parse_key_arn,
)
from stacks.offline import Plan, render_components

KEY_ARN = "arn:aws:kms:us-east-1:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


# Parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arn, expected",
    [
        (KEY_ARN, KeyContext("aws", "us-east-1", "210987654321")),
        (
            "arn:aws-cn:kms:cn-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            KeyContext("aws-cn", "cn-north-1", "123456789012"),
        ),
        (
            "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab",
            KeyContext("aws-us-gov", "us-gov-west-1", "123456789012"),
        ),
    ],
)
def test_key_arns_parse_into_their_context(arn: str, expected: KeyContext) -> None:
    assert parse_key_arn(arn) == expected
    assert key_input_problem(arn) is None


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:kms:eu-west-1:123456789012:alias/team-key",
        "arn:aws-cn:kms:cn-north-1:123456789012:alias/aws/s3",
    ],
)
def test_alias_arns_are_refused_with_the_reason(arn: str) -> None:
    with pytest.raises(ValueError, match=r"^flow_key: .* is an alias ARN: give the key's own ARN"):
        parse_key_arn(arn, "flow_key")
    with pytest.raises(ValueError, match=r"^flow_key: .* is an alias ARN"):
        as_key(arn, "flow_key")


@pytest.mark.parametrize(
    "arn",
    [
        "",
        "not-an-arn",
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "alias/team-key",
        "arn:aws:s3:::a-bucket",
        "arn:aws:kms:eu-west-1:12345:key/1234abcd",
        "arn:aws:kms:eu-west-1:123456789012:key/",
        f" {KEY_ARN}",
        f"{KEY_ARN}/extra",
    ],
)
def test_garbage_is_not_a_key_arn(arn: str) -> None:
    with pytest.raises(
        ValueError, match=r"^key: .* is not a KMS key ARN \(expected arn:<partition>:kms:"
    ):
        parse_key_arn(arn)
    assert key_input_problem(arn, "key") is not None


@pytest.mark.parametrize("value", [42, None, 3.5, {"arn": KEY_ARN}, [KEY_ARN], b"arn"])
def test_wrong_types_name_the_field(value: Any) -> None:
    problem = key_input_problem(value, "data_key")
    assert problem is not None
    assert problem.startswith("data_key: expected a RegionKey or an existing KMS key ARN")
    assert type(value).__name__ in problem
    with pytest.raises(ValueError, match=r"^data_key: expected a RegionKey"):
        as_key(value, "data_key")


# ExistingKey ------------------------------------------------------------------------------


def render_grants(key_value: Any) -> Plan:
    """A role granted decrypt and encrypt/decrypt on ``key_value`` (through ``as_key``),
    and a log group encrypted with it."""

    def build(opts: pulumi.ResourceOptions) -> None:
        key = as_key(key_value() if callable(key_value) else key_value)
        aws.cloudwatch.LogGroup("group", retention_in_days=30, kms_key_id=key.arn, opts=opts)
        aws.sns.Topic(
            "probe",
            tags={"keyId": key.key_id, "keyRegion": key.context.apply(lambda c: c.region)},
            opts=opts,
        )
        role = ServiceRole(
            "job", ServiceRoleArgs(service="ecs-tasks.amazonaws.com", description="job"), opts=opts
        )
        key.grant_decrypt(role)
        key.grant_encrypt_decrypt(role, purpose="use-team-key")

    return render_components(build)


def grants_by_name(plan: Plan) -> dict[str, dict[str, Any]]:
    return {p["name"]: json.loads(p["inputs"]["policy"]) for p in plan.of_type(ROLE_POLICY)}


@pytest.mark.parametrize("given", ["string", "output"])
def test_existing_key_offers_arn_id_context_and_grants(given: str) -> None:
    value = KEY_ARN if given == "string" else (lambda: pulumi.Output.from_input(KEY_ARN))
    plan = render_grants(value)
    assert plan.find("aws:cloudwatch/logGroup:LogGroup", "group")["inputs"]["kmsKeyId"] == KEY_ARN
    assert plan.find("aws:sns/topic:Topic", "probe")["inputs"]["tags"] == {
        "keyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
        "keyRegion": "us-east-1",
    }
    grants = grants_by_name(plan)
    # A string ARN names its grants after the ARN (stable, distinct per key); an Output
    # ARN is not known when the grant is named.
    label = [n for n in grants if n.startswith("job-kms-decrypt-")][0].removeprefix(
        "job-kms-decrypt-"
    )
    assert re.fullmatch("existing-[0-9a-f]{8}" if given == "string" else "existing-key", label)
    assert grants[f"job-kms-decrypt-{label}"]["Statement"] == [
        {
            "Sid": "DecryptWithRegionKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": KEY_ARN,
        }
    ]
    assert grants["job-use-team-key"]["Statement"] == [
        {
            "Sid": "UseRegionKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"],
            "Resource": KEY_ARN,
        }
    ]


def test_two_existing_keys_get_distinct_grant_names() -> None:
    other = KEY_ARN.replace("1234abcd-12ab", "9999abcd-12ab")

    def build(opts: pulumi.ResourceOptions) -> None:
        role = ServiceRole(
            "job", ServiceRoleArgs(service="ecs-tasks.amazonaws.com", description="job"), opts=opts
        )
        as_key(KEY_ARN).grant_decrypt(role)
        as_key(other).grant_decrypt(role)

    names = sorted(grants_by_name(render_components(build)))
    assert len(names) == 2 and names[0] != names[1]


def test_an_output_arn_that_is_not_a_key_arn_fails_naming_the_field() -> None:
    """An Output's value is only known later: the check runs then, with the same message."""

    def build(opts: pulumi.ResourceOptions) -> None:
        as_key(
            pulumi.Output.from_input("arn:aws:kms:eu-west-1:123456789012:alias/team"), "lake_key"
        )

    with pytest.raises(ValueError, match=r"^lake_key: .* is an alias ARN"):
        render_components(build)


def test_keys_are_taken_as_they_are() -> None:
    def build(opts: pulumi.ResourceOptions) -> None:
        region_key = RegionKey("k", RegionKeyArgs(alias="t"), opts=opts)
        existing = ExistingKey(KEY_ARN)
        assert as_key(region_key) is region_key
        assert as_key(existing) is existing
        assert key_input_problem(region_key) is None and key_input_problem(existing) is None

    render_components(build)


def test_existing_key_refuses_a_bad_value_at_once() -> None:
    with pytest.raises(
        ValueError,
        match=r"^audit_key: 'arn:aws:kms:eu-west-1:123456789012:alias/x' is an alias ARN",
    ):
        ExistingKey("arn:aws:kms:eu-west-1:123456789012:alias/x", "audit_key")
    with pytest.raises(
        ValueError, match=r"^audit_key: expected a RegionKey or an existing KMS key ARN"
    ):
        ExistingKey(42, "audit_key")  # type: ignore[arg-type]
