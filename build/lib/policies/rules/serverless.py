"""Serverless rules: Lambda functions (runtime, permissions, VPC AZs, DLQ, log group),
DynamoDB tables and SNS topics."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from datetime import date
from typing import Any

from components.baseline import LAMBDA_RUNTIME_DEPRECATION, runtime_supported
from policies.model import (
    Resource,
    Stack,
    denies_insecure_transport,
    is_true,
    is_unknown,
    present,
    statement_actions,
    statements,
)
from policies.rules.helpers import children, distinct_azs, is_protected_stack, parsed_or_none, quote
from policies.rules.registry import Finding, rule
from policies.rules.types import (
    DYNAMODB_TABLE,
    LAMBDA_EVENT_INVOKE_CONFIG,
    LAMBDA_FUNCTION,
    LAMBDA_PERMISSION,
    LOG_GROUP,
    SNS_TOPIC,
    SNS_TOPIC_POLICY,
)

# ---------------------------------------------------------------------------------------------
# Lambda


@rule("lambda-runtime", "Lambda functions use a supported, not yet deprecated runtime.")
def lambda_runtime(stack: Stack) -> Iterable[Finding]:
    """`runtime` must be in LAMBDA_RUNTIME_DEPRECATION and before its deprecation date."""
    today = date.today()
    for fn in stack.of(LAMBDA_FUNCTION):
        runtime = fn.props.get("runtime")
        if fn.props.get("packageType") == "Image" or is_unknown(runtime):
            continue
        if not isinstance(runtime, str) or not runtime_supported(runtime, today):
            accepted = ", ".join(
                r for r in LAMBDA_RUNTIME_DEPRECATION if runtime_supported(r, today)
            )
            yield (
                fn,
                f"runtime is {quote(runtime)}; expected one of {accepted}",
                "Move the function to a supported runtime (see "
                "policies.rules.LAMBDA_RUNTIME_DEPRECATION).",
            )


@rule(
    "lambda-no-public-permission",
    "No Lambda permission lets anyone (or any account of a service) invoke a function.",
)
def lambda_no_public_permission(stack: Stack) -> Iterable[Finding]:
    """Permission with principal "*" or a service principal needs sourceArn/sourceAccount
    (or principalOrgId); function URLs need IAM auth."""
    for perm in stack.of(LAMBDA_PERMISSION):
        principal = perm.props.get("principal")
        if is_unknown(principal):
            continue
        if perm.props.get("functionUrlAuthType") == "NONE":
            yield (
                perm,
                "functionUrlAuthType is 'NONE'; the function URL is public",
                "Use function_url_auth_type='AWS_IAM'.",
            )
        scoped = any(
            present(perm.props.get(p)) for p in ("sourceArn", "sourceAccount", "principalOrgId")
        )
        service = isinstance(principal, str) and principal.endswith(".amazonaws.com")
        if (principal == "*" or service) and not scoped:
            yield (
                perm,
                f"principal is {quote(principal)} with no sourceArn, sourceAccount or "
                "principalOrgId; anyone (any account's resources) can invoke it",
                "Set source_arn to the invoking resource's ARN (and source_account).",
            )


@rule("lambda-vpc-multi-az", "A Lambda function in a VPC uses subnets in at least 2 AZs.")
def lambda_vpc_multi_az(stack: Stack) -> Iterable[Finding]:
    """`vpcConfig.subnetIds`, when set, covers at least 2 availability zones."""
    for fn in stack.of(LAMBDA_FUNCTION):
        subnet_ids = fn.get("vpcConfig", "subnetIds")
        if not present(subnet_ids):
            continue
        count = distinct_azs(stack, fn, "vpcConfig", subnet_ids)
        if count is not None and count < 2:
            yield (
                fn,
                f"vpcConfig.subnetIds covers {count} availability zone(s); expected at least 2",
                "Pass private subnets from at least two AZs in vpc_config.subnet_ids.",
            )


@rule("lambda-dlq", "Lambda functions have a dead-letter queue or an on-failure destination.")
def lambda_dlq(stack: Stack) -> Iterable[Finding]:
    """`deadLetterConfig.targetArn`, or a FunctionEventInvokeConfig with
    `destinationConfig.onFailure.destination` for the function."""
    configs = stack.of(LAMBDA_EVENT_INVOKE_CONFIG)
    for fn in stack.of(LAMBDA_FUNCTION):
        if present(fn.get("deadLetterConfig", "targetArn")):
            continue
        destinations = [
            c
            for c in stack.referencing(fn, configs, "functionName")
            if present(c.get("destinationConfig", "onFailure", "destination"))
        ]
        if not destinations:
            yield (
                fn,
                "deadLetterConfig.targetArn is not set and no "
                "FunctionEventInvokeConfig gives an onFailure destination",
                "Set dead_letter_config={'target_arn': <SQS queue or SNS topic ARN>}.",
            )


@rule("lambda-log-group", "Every Lambda function has a managed log group.")
def lambda_log_group(stack: Stack) -> Iterable[Finding]:
    """`loggingConfig.logGroup` names a LogGroup of the stack, or a LogGroup named
    /aws/lambda/<function name> exists."""
    groups = stack.of(LOG_GROUP)
    for fn in stack.of(LAMBDA_FUNCTION):
        named = fn.get("loggingConfig", "logGroup")
        if present(named):
            if is_unknown(named) or stack.refers(fn, "loggingConfig", named, groups):
                continue
            yield (
                fn,
                f"loggingConfig.logGroup is {quote(named)}, which is not a log group of this stack",
                "Create the aws.cloudwatch.LogGroup (with retention and KMS) and pass its "
                "name as logging_config.log_group.",
            )
            continue
        names = {n for n in (fn.props.get("name"), fn.id) if isinstance(n, str)}
        if any(g.props.get("name") in {f"/aws/lambda/{n}" for n in names} for g in groups):
            continue
        if is_unknown(fn.props.get("name")):
            continue
        yield (
            fn,
            "no log group: loggingConfig.logGroup is not set and no "
            "aws:cloudwatch/logGroup:LogGroup is named /aws/lambda/<function name>",
            "Create an aws.cloudwatch.LogGroup with retention and KMS and set "
            "logging_config={'log_format': 'JSON', 'log_group': group.name}.",
        )


# ---------------------------------------------------------------------------------------------
# DynamoDB


@rule("dynamodb-on-demand", "DynamoDB tables use on-demand billing.")
def dynamodb_on_demand(stack: Stack) -> Iterable[Finding]:
    """`billingMode` PAY_PER_REQUEST."""
    for table in stack.of(DYNAMODB_TABLE):
        mode = table.props.get("billingMode")
        if not is_unknown(mode) and mode != "PAY_PER_REQUEST":
            yield (
                table,
                f"billingMode is {quote(mode)}; expected 'PAY_PER_REQUEST'",
                "Set billing_mode='PAY_PER_REQUEST'.",
            )


@rule("dynamodb-pitr", "DynamoDB tables have point-in-time recovery.")
def dynamodb_pitr(stack: Stack) -> Iterable[Finding]:
    """`pointInTimeRecovery.enabled` true."""
    for table in stack.of(DYNAMODB_TABLE):
        enabled = table.get("pointInTimeRecovery", "enabled")
        if not is_unknown(enabled) and not is_true(enabled):
            yield (
                table,
                f"pointInTimeRecovery.enabled is {quote(enabled)}; expected true",
                "Set point_in_time_recovery={'enabled': True}.",
            )


@rule("dynamodb-kms", "DynamoDB tables are encrypted with a customer KMS key.")
def dynamodb_kms(stack: Stack) -> Iterable[Finding]:
    """`serverSideEncryption.enabled` true with `kmsKeyArn`."""
    for table in stack.of(DYNAMODB_TABLE):
        enabled = table.get("serverSideEncryption", "enabled")
        key = table.get("serverSideEncryption", "kmsKeyArn")
        if is_unknown(enabled):
            continue
        if not is_true(enabled) or not present(key):
            yield (
                table,
                f"serverSideEncryption.enabled is {quote(enabled)}, "
                f"kmsKeyArn {quote(key)}; expected enabled true with the region's key",
                "Set server_side_encryption={'enabled': True, 'kms_key_arn': key.arn}.",
            )


@rule(
    "dynamodb-deletion-protection",
    "DynamoDB tables of a protected (prod) stack have deletion protection.",
)
def dynamodb_deletion_protection(stack: Stack) -> Iterable[Finding]:
    """In a protected stack, `deletionProtectionEnabled` true."""
    if not is_protected_stack(stack):
        return
    for table in stack.of(DYNAMODB_TABLE):
        value = table.props.get("deletionProtectionEnabled")
        if not is_unknown(value) and not is_true(value):
            yield (
                table,
                f"deletionProtectionEnabled is {quote(value)} in a protected stack; expected true",
                "Set deletion_protection_enabled=True when the stack is protected.",
            )


# ---------------------------------------------------------------------------------------------
# SNS


def _topic_policies(stack: Stack, topic: Resource) -> list[Any]:
    """Raw policies of the topic: its inline `policy` and TopicPolicy resources."""
    raws = [topic.props.get("policy")]
    raws += [p.props.get("policy") for p in children(stack, topic, (SNS_TOPIC_POLICY,), "arn")]
    return [r for r in raws if r is not None]


@rule("sns-kms", "SNS topics are encrypted with a KMS key.")
def sns_kms(stack: Stack) -> Iterable[Finding]:
    """`kmsMasterKeyId` set."""
    for topic in stack.of(SNS_TOPIC):
        if not present(topic.props.get("kmsMasterKeyId")):
            yield (
                topic,
                "kmsMasterKeyId is not set; expected the region's KMS key",
                "Set kms_master_key_id=key.arn (the key policy must let the publishing "
                "services use it).",
            )


@rule("sns-tls-publish", "SNS topic policies deny publishing without TLS.")
def sns_tls_publish(stack: Stack) -> Iterable[Finding]:
    """A Deny covering sns:Publish to "*" when aws:SecureTransport is false."""
    for topic in stack.of(SNS_TOPIC):
        raws = _topic_policies(stack, topic)
        if any(is_unknown(r) for r in raws):
            continue
        ok = any(
            denies_insecure_transport(st)
            and any(fnmatch.fnmatchcase("sns:publish", a.lower()) for a in statement_actions(st))
            for doc in (parsed_or_none(r) for r in raws)
            if doc is not None
            for st in statements(doc)
        )
        if not ok:
            yield (
                topic,
                "no topic policy statement denies sns:Publish to Principal '*' when "
                "aws:SecureTransport is false",
                "Add an aws.sns.TopicPolicy with {Effect: Deny, Principal: '*', Action: "
                "'sns:Publish', Resource: topic ARN, Condition: {Bool: "
                "{'aws:SecureTransport': 'false'}}}.",
            )
