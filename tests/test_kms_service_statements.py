"""The region key's statements for AWS service principals: each scoped by a source or
encryption-context condition where AWS documents one, with the values AWS sends.

CloudWatch alarms publish to encrypted topics only for this account's alarms (aws:SourceAccount,
aws:SourceArn) and only for this account's topics (the SNS encryption context); EventBridge,
whose KMS requests carry no aws:Source* keys, only for this account's topics. The one statement
AWS documents no condition for is listed, with its reason, in UNSCOPED_SERVICE_STATEMENTS.
EventBridge Scheduler needs no key-policy statement: its execution role decrypts (IAM).
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components.kms import (
    ALARMS_TOPIC_SID,
    RULES_QUEUE_SID,
    RULES_TOPIC_SID,
    UNSCOPED_SERVICE_STATEMENTS,
    ExistingKey,
    KeyContext,
    key_policy,
)
from stacks.offline import Plan, render_components

ACCOUNT = "123456789012"
REGION = "eu-west-1"

#: Condition keys that tie a service principal's use of the key to this account's resources.
SOURCE_KEYS = ("aws:SourceAccount", "aws:SourceArn")


def condition_values(statement: dict[str, Any]) -> dict[str, Any]:
    """Every condition key of ``statement`` with its value (operators flattened)."""
    return {k: v for block in statement.get("Condition", {}).values() for k, v in block.items()}


def service_statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in doc["Statement"] if "Service" in s["Principal"]]


def is_scoped(statement: dict[str, Any]) -> bool:
    keys = condition_values(statement)
    return any(k in keys for k in SOURCE_KEYS) or any(
        k.startswith("kms:EncryptionContext:") for k in keys
    )


@pytest.mark.parametrize("partition", ["aws", "aws-cn"])
def test_alarms_publish_only_for_this_accounts_alarms_to_its_topics(partition: str) -> None:
    doc = key_policy(KeyContext(partition, REGION, ACCOUNT), ("logs", "alarms"))
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    alarms = by_sid[ALARMS_TOPIC_SID]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert alarms["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:{partition}:cloudwatch:{REGION}:{ACCOUNT}:alarm:*"},
        "StringLike": {
            "kms:EncryptionContext:aws:sns:topicArn": f"arn:{partition}:sns:{REGION}:{ACCOUNT}:*"
        },
    }


def test_rules_publish_only_to_this_accounts_topics_without_source_keys() -> None:
    doc = key_policy(KeyContext("aws", REGION, ACCOUNT), ("logs", "alarms"))
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    rules = by_sid[RULES_TOPIC_SID]
    assert rules["Principal"] == {"Service": "events.amazonaws.com"}
    assert rules["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    # aws:SourceAccount/aws:SourceArn are not supported for EventBridge-to-encrypted topics:
    # with them delivery would fail silently.
    assert rules["Condition"] == {
        "StringLike": {
            "kms:EncryptionContext:aws:sns:topicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:*"
        }
    }
    queues = by_sid[RULES_QUEUE_SID]
    assert queues["Principal"] == {"Service": "events.amazonaws.com"}
    assert queues["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]


@pytest.mark.parametrize("services", [("logs", "alarms"), ("logs", "alarms", "cloudtrail")])
def test_every_service_statement_is_scoped_but_the_documented_exception(
    services: tuple[str, ...],
) -> None:
    ctx = KeyContext("aws", REGION, ACCOUNT, trail_name="t" if "cloudtrail" in services else None)
    found = service_statements(key_policy(ctx, services))
    unscoped = sorted(s["Sid"] for s in found if not is_scoped(s))
    assert unscoped == sorted(UNSCOPED_SERVICE_STATEMENTS)
    assert all(reason.strip() for reason in UNSCOPED_SERVICE_STATEMENTS.values())
    # No service gets more than it needs to make and read data keys; none is public.
    for statement in found:
        assert statement["Principal"]["Service"] != "*"
        assert not {"kms:ScheduleKeyDeletion", "kms:PutKeyPolicy", "kms:CreateGrant"} & set(
            statement["Action"]
        ), statement["Sid"]
        # Every value names this account (no other account's resources qualify).
        for key, value in condition_values(statement).items():
            assert ACCOUNT in json.dumps(value), (statement["Sid"], key)


def test_scheduler_needs_no_key_policy_statement_its_role_decrypts() -> None:
    doc = key_policy(KeyContext("aws", REGION, ACCOUNT), ("logs", "alarms"))
    assert "scheduler.amazonaws.com" not in json.dumps(doc)
    found: list[Any] = []

    def build(opts: pulumi.ResourceOptions) -> None:
        # Keys hold Outputs, which need the (mock) runtime the offline engine provides.
        arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        found.append(ExistingKey(arn).statement_schedule_payload())

    render_components(build)
    (statement,) = found
    assert statement.sid == "DecryptSchedulePayload"
    assert tuple(statement.actions) == ("kms:Decrypt",)


# The rendered stacks ----------------------------------------------------------------------------


def region_key_policies(plan: Plan) -> dict[str, dict[str, Any]]:
    return {k["region"]: json.loads(k["inputs"]["policy"]) for k in plan.of_type("aws:kms/key:Key")}


def test_stack_keys_scope_every_service_statement(stack_plan: Plan) -> None:
    policies = region_key_policies(stack_plan)
    assert len(policies) >= 2
    for region, doc in policies.items():
        found = service_statements(doc)
        assert sorted(s["Sid"] for s in found if not is_scoped(s)) == sorted(
            UNSCOPED_SERVICE_STATEMENTS
        ), region
        alarms = next(s for s in found if s["Sid"] == ALARMS_TOPIC_SID)
        values = condition_values(alarms)
        assert values["aws:SourceAccount"] == ACCOUNT
        assert values["aws:SourceArn"] == f"arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:*"
        # The topics the region's alarms notify match the encryption-context pattern.
        pattern = values["kms:EncryptionContext:aws:sns:topicArn"]
        assert pattern == f"arn:aws:sns:{region}:{ACCOUNT}:*"
        notified = {
            arn
            for a in stack_plan.in_region(region)
            if a["type"] == "aws:cloudwatch/metricAlarm:MetricAlarm"
            # An alarm placed in another region (the Route 53 health alarms live in us-east-1)
            # notifies a topic of that region, not one this key encrypts.
            and a["inputs"].get("region") in (None, region)
            for arn in a["inputs"].get("alarmActions", [])
        }
        assert notified and all(arn.startswith(pattern[:-1]) for arn in notified), notified
