"""The region's customer-managed KMS key.

One key per region encrypts everything the platform stores there (log groups, buckets,
topics, queues, tables). Its key policy lets the account administer it through IAM (no
``kms:*``: every action is named) and lets the AWS services listed in ``services`` use it,
each scoped by an encryption-context or source condition where AWS documents one (the one
exception, with its reason, is :data:`UNSCOPED_SERVICE_STATEMENTS`). There is never a public
principal. Services that use the key with a caller's role (EventBridge Scheduler, Lambda
environment variables) need no statement here: IAM grants them (the account statement).

A team may bring its own key instead: every component that takes the region key also takes
an existing key's ARN (:data:`KeyInput`, resolved by :func:`as_key` into an
:class:`ExistingKey` that offers the same ARN, context and grants).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from components.checks import raise_problems

if TYPE_CHECKING:
    from components.iam import ServiceRole, Statement

#: What the account root (and so IAM policies in the account) may do with the key.
#: Named one by one so the policy holds no wildcard action.
ADMIN_ACTIONS = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)

#: Data-key actions a service needs to encrypt and decrypt with the key.
USE_ACTIONS = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)


@dataclass(frozen=True)
class KeyContext:
    """Where the key lives: the values service statements are scoped with."""

    partition: str
    region: str
    account_id: str
    trail_name: str | None = None
    """The CloudTrail trail (home region: this key's region) allowed to use the key."""


def _logs_statement(ctx: KeyContext) -> dict[str, Any]:
    # As AWS documents for log group encryption, minus kms:Describe*, which that condition
    # can never match (DescribeKey carries no encryption context).
    return {
        "Sid": "CloudWatchLogsInThisAccount",
        "Effect": "Allow",
        "Principal": {"Service": f"logs.{ctx.region}.amazonaws.com"},
        "Action": [a for a in USE_ACTIONS if a != "kms:DescribeKey"],
        "Resource": "*",
        "Condition": {
            "StringLike": {
                "kms:EncryptionContext:aws:logs:arn": (
                    f"arn:{ctx.partition}:logs:{ctx.region}:{ctx.account_id}:log-group:*"
                )
            }
        },
    }


#: Sids of the ``alarms`` statements, by the delivery they allow.
ALARMS_TOPIC_SID = "CloudWatchAlarmsPublishToEncryptedTopics"
RULES_TOPIC_SID = "EventBridgeRulesPublishToEncryptedTopics"
RULES_QUEUE_SID = "EventBridgeRulesSendToEncryptedQueues"

#: Service statements of a region key that carry no source condition, each with the reason
#: (AWS documents no condition key that the service's KMS requests carry). Tests hold every
#: other service statement to an ``aws:Source*`` or ``kms:EncryptionContext:*`` condition.
UNSCOPED_SERVICE_STATEMENTS: Mapping[str, str] = {
    RULES_QUEUE_SID: (
        "EventBridge delivering to an SSE-KMS queue (rule dead-letter queues): AWS documents the "
        "statement without a condition (EventBridge user guide, 'My events are not delivered to "
        "the target Amazon SQS queue'), aws:SourceArn/aws:SourceAccount are not supported for "
        "EventBridge's KMS requests (Amazon SNS developer guide, Key management), and the SQS "
        "developer guide names no encryption-context key to scope it by."
    ),
}


def _alarms_statements(ctx: KeyContext) -> list[dict[str, Any]]:
    """CloudWatch alarms and EventBridge rules deliver to topics and queues this key encrypts.

    - CloudWatch alarms -> encrypted SNS topics: the statement AWS documents for event
      sources of encrypted topics, with the confused-deputy conditions it recommends
      (aws:SourceAccount and aws:SourceArn = this account's alarms; "Enable compatibility
      between event sources from AWS services and encrypted topics", Amazon SNS developer
      guide, https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html; AWS KMS
      developer guide, "Using aws:SourceArn or aws:SourceAccount condition keys"), and the
      topic SNS encrypts for (kms:EncryptionContext:aws:sns:topicArn, the context SNS sets;
      used the same way in AWS's GameLift guide "Set up an SNS topic with server-side
      encryption").
    - EventBridge -> encrypted SNS topics: the SNS guide says aws:SourceAccount/aws:SourceArn
      in a KMS policy are not supported for EventBridge-to-encrypted topics (delivery fails
      silently with them), so only the topic's encryption context scopes it.
    - EventBridge -> encrypted SQS queues (rule dead-letter queues): see
      :data:`UNSCOPED_SERVICE_STATEMENTS`.

    Who may publish or send is further decided by the topic and queue policies (this
    account's alarms and rules only); these statements only let the services make and read
    data keys.
    """
    topics = f"arn:{ctx.partition}:sns:{ctx.region}:{ctx.account_id}:*"
    actions = ["kms:Decrypt", "kms:GenerateDataKey"]
    return [
        {
            "Sid": ALARMS_TOPIC_SID,
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": actions,
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ctx.account_id},
                "ArnLike": {
                    "aws:SourceArn": (
                        f"arn:{ctx.partition}:cloudwatch:{ctx.region}:{ctx.account_id}:alarm:*"
                    )
                },
                "StringLike": {"kms:EncryptionContext:aws:sns:topicArn": topics},
            },
        },
        {
            "Sid": RULES_TOPIC_SID,
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": actions,
            "Resource": "*",
            "Condition": {"StringLike": {"kms:EncryptionContext:aws:sns:topicArn": topics}},
        },
        {
            "Sid": RULES_QUEUE_SID,
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": actions,
            "Resource": "*",
        },
    ]


# --- audit (components/audit.py): the environment's CloudTrail trail ----------------------
def cloudtrail_trail_arn(ctx: KeyContext) -> str:
    """The ARN of the trail named in ``ctx`` (built from its name: no key <-> trail cycle)."""
    if not ctx.trail_name:
        raise ValueError("services: 'cloudtrail' needs the trail's name (cloudtrail_trail_name)")
    return f"arn:{ctx.partition}:cloudtrail:{ctx.region}:{ctx.account_id}:trail/{ctx.trail_name}"


def _cloudtrail_statements(ctx: KeyContext) -> list[dict[str, Any]]:
    # As AWS documents for trails: data keys for this account's trail log files, only on
    # behalf of this trail; DescribeKey carries no encryption context, so it gets its own.
    # The trail bucket uses S3 Bucket Keys with this key, and then CloudTrail also needs
    # kms:Decrypt to create or update the trail ("Configure AWS KMS key policies for
    # CloudTrail": "If you are using an existing S3 bucket with an S3 Bucket Key,
    # kms:Decrypt permissions are required to create or update a trail with SSE-KMS
    # encryption enabled"); without it CreateTrail fails with
    # InsufficientEncryptionPolicyException.
    trail_arn = cloudtrail_trail_arn(ctx)
    return [
        {
            "Sid": "CloudTrailEncryptsLogFiles",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": ["kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceArn": trail_arn},
                "StringLike": {
                    "kms:EncryptionContext:aws:cloudtrail:arn": (
                        f"arn:{ctx.partition}:cloudtrail:*:{ctx.account_id}:trail/*"
                    )
                },
            },
        },
        {
            "Sid": "CloudTrailDescribesKey",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": ["kms:DescribeKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
        },
        {
            "Sid": "CloudTrailDecryptsForBucketKey",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": ["kms:Decrypt"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
        },
    ]


#: Service uses the key policy can allow, by name. Each builds one statement (or a list).
SERVICE_STATEMENTS: dict[str, Callable[[KeyContext], dict[str, Any] | list[dict[str, Any]]]] = {
    "logs": _logs_statement,
    "alarms": _alarms_statements,
    "cloudtrail": _cloudtrail_statements,
}


def key_policy(ctx: KeyContext, services: Sequence[str]) -> dict[str, Any]:
    """The key policy document for a region key used by ``services``."""
    unknown = [s for s in services if s not in SERVICE_STATEMENTS]
    if unknown:
        raise ValueError(
            f"services: unknown service use(s) {unknown}; known: {sorted(SERVICE_STATEMENTS)}"
        )
    statements = [
        {
            "Sid": "AccountAdministersThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{ctx.partition}:iam::{ctx.account_id}:root"},
            "Action": list(ADMIN_ACTIONS),
            "Resource": "*",
        }
    ]
    for service in sorted(set(services)):
        built = SERVICE_STATEMENTS[service](ctx)
        statements += built if isinstance(built, list) else [built]
    return {"Version": "2012-10-17", "Statement": statements}


def _json(document: dict[str, Any]) -> pulumi.Input[str]:
    """``document`` as JSON text (typed as an Input so ``Output.apply`` infers ``str``)."""
    return pulumi.Output.json_dumps(document)


@dataclass(frozen=True)
class RegionKeyArgs:
    """Arguments of :class:`RegionKey`."""

    alias: str
    """Alias name without the ``alias/`` prefix, unique in the account and region."""
    services: Sequence[str] = ("logs",)
    """AWS services allowed to use the key directly. Default: CloudWatch Logs only."""
    deletion_window_in_days: int = 30
    """Default: a deleted key can be recovered for 30 days (7 to 30 allowed)."""
    protect: bool = False
    """Default: the key is scheduled for deletion with the stack. When true, the key is
    protected (``pulumi destroy`` refuses) and retained in the account on delete."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: no extra tags beyond ``Name``."""
    cloudtrail_trail_name: str | None = None
    """Default: no trail. Required exactly when ``services`` has ``"cloudtrail"``: the name of
    the trail (whose home region is this key's) that may encrypt its log files with the key."""


class KeyGrants:
    """What components use of a key besides its ARN: IAM statements and grants on it.

    Shared by :class:`RegionKey` and :class:`ExistingKey`; both set ``arn`` and a label that
    names the grants' inline policies.
    """

    arn: pulumi.Output[str]
    _region_label: str

    def statement_decrypt(self, sid: str = "DecryptWithRegionKey") -> Statement:
        """Decrypt data encrypted with this key (readers of encrypted stores)."""
        from components.iam import Statement

        return Statement(sid=sid, actions=("kms:Decrypt", "kms:DescribeKey"), resources=[self.arn])

    def statement_encrypt_decrypt(self, sid: str = "UseRegionKey") -> Statement:
        """Encrypt and decrypt with this key (writers of encrypted stores)."""
        from components.iam import Statement

        return Statement(
            sid=sid,
            actions=("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"),
            resources=[self.arn],
        )

    def statement_schedule_payload(self, sid: str = "DecryptSchedulePayload") -> Statement:
        """What an EventBridge Scheduler execution role needs when its schedule's
        ``kms_key_arn`` is this key: ``kms:Decrypt`` only. Scheduler decrypts the payload
        with the schedule's execution role, so the key policy needs no statement for
        ``scheduler.amazonaws.com`` (its account statement delegates to IAM). AWS CDK's
        ``Schedule`` grants exactly this, after AWS verified that nothing else is needed
        (aws/aws-cdk pull request #31923, "too many KMS permissions granted"; EventBridge
        Scheduler user guide, "Encryption at rest",
        https://docs.aws.amazon.com/scheduler/latest/UserGuide/encryption-rest.html)."""
        from components.iam import Statement

        return Statement(sid=sid, actions=("kms:Decrypt",), resources=[self.arn])

    def grant_decrypt(self, role: ServiceRole, purpose: str | None = None) -> aws.iam.RolePolicy:
        """Let ``role`` decrypt with this key, and nothing else."""
        return role.grant(
            purpose or f"kms-decrypt-{self._region_label}", [self.statement_decrypt()]
        )

    def grant_encrypt_decrypt(
        self, role: ServiceRole, purpose: str | None = None
    ) -> aws.iam.RolePolicy:
        """Let ``role`` encrypt and decrypt with this key (data keys included)."""
        return role.grant(
            purpose or f"kms-use-{self._region_label}", [self.statement_encrypt_decrypt()]
        )


class RegionKey(KeyGrants, pulumi.ComponentResource):
    """A customer-managed, rotating KMS key with an alias."""

    def __init__(
        self, name: str, args: RegionKeyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        problems = []
        if not 7 <= args.deletion_window_in_days <= 30:
            problems.append(
                f"deletion_window_in_days: {args.deletion_window_in_days} is outside 7..30"
            )
        unknown = [s for s in args.services if s not in SERVICE_STATEMENTS]
        if unknown:
            problems.append(f"services: unknown {unknown}; known {sorted(SERVICE_STATEMENTS)}")
        if not args.alias or args.alias.startswith(("alias/", "aws/")):
            problems.append(f"alias: {args.alias!r} must be given without 'alias/' and not 'aws/'")
        if ("cloudtrail" in args.services) != bool(args.cloudtrail_trail_name):
            problems.append("cloudtrail_trail_name: give it exactly when services has 'cloudtrail'")
        raise_problems(f"RegionKey {name!r}", problems)
        super().__init__("mlops:kms:RegionKey", name, None, opts)
        self._region_label = re.sub(r"[^a-z0-9-]", "-", name.lower())[:40]
        invoke = pulumi.InvokeOptions(parent=self)
        ctx = pulumi.Output.all(
            aws.get_partition_output(opts=invoke).partition,
            aws.get_region_output(opts=invoke).region,
            aws.get_caller_identity_output(opts=invoke).account_id,
        ).apply(
            lambda v: KeyContext(
                partition=v[0],
                region=v[1],
                account_id=v[2],
                trail_name=args.cloudtrail_trail_name,
            )
        )
        self.context = ctx
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"{args.alias}: encrypts the platform's data in this region",
            enable_key_rotation=True,
            deletion_window_in_days=args.deletion_window_in_days,
            policy=ctx.apply(lambda c: _json(key_policy(c, args.services))),
            tags={"Name": f"{name}-key", **args.tags},
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, retain_on_delete=args.protect
            ),
        )
        self.alias = aws.kms.Alias(
            f"{name}-alias",
            name=f"alias/{args.alias}",
            target_key_id=self.key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = self.key.arn
        self.key_id = self.key.key_id
        self.register_outputs({"arn": self.key.arn, "alias": self.alias.name})


# Bring your own key -------------------------------------------------------------------------

#: A KMS key ARN (not an alias ARN: key policies, grants and IAM statements need the key).
#: Key ids are UUIDs, or ``mrk-`` and 32 hex digits for multi-Region keys.
KEY_ARN_PATTERN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/(?P<id>[A-Za-z0-9-]+)"
)
_KEY_ARN_FORM = "arn:<partition>:kms:<region>:<account-id>:key/<key-id>"


def key_arn_problem(arn: object, key: str = "key") -> str | None:
    """Why ``arn`` is not a KMS key ARN (naming the field ``key``), or None."""
    if isinstance(arn, str) and KEY_ARN_PATTERN.fullmatch(arn):
        return None
    if isinstance(arn, str) and re.fullmatch(r"arn:aws[a-z-]*:kms:[^:]*:[^:]*:alias/.+", arn):
        return (
            f"{key}: {arn!r} is an alias ARN: give the key's own ARN ({_KEY_ARN_FORM}), as key "
            "policies, grants and IAM statements name the key, not its alias"
        )
    return f"{key}: {arn!r} is not a KMS key ARN (expected {_KEY_ARN_FORM})"


def parse_key_arn(arn: str, key: str = "key") -> KeyContext:
    """The partition, region and account of a KMS key ARN; ``ValueError`` naming ``key`` if
    ``arn`` is not one (alias ARNs are refused: policies and grants need the key itself)."""
    problem = key_arn_problem(arn, key)
    match = KEY_ARN_PATTERN.fullmatch(arn) if problem is None else None
    if match is None:
        raise ValueError(problem)
    return KeyContext(
        partition=match["partition"], region=match["region"], account_id=match["account"]
    )


class ExistingKey(KeyGrants):
    """A customer-managed KMS key the platform did not create, used by its ARN.

    It offers what components use of a :class:`RegionKey` (``arn``, ``key_id``, ``context``
    and the grant helpers). Its key policy is the owner's: it must let the services the
    components use encrypt with it (for example CloudWatch Logs for encrypted log groups and
    CloudWatch/EventBridge for encrypted topics), as :func:`key_policy` shows. It must be in
    the region of the resources it encrypts (KMS keys are regional).

    A string ARN is checked here (``ValueError`` naming ``key``); an Output ARN is checked
    once its value is known (the deployment fails, naming ``key``, if it is not a key ARN).
    Grants on a key given as an Output are named ``kms-decrypt-existing-key`` (and
    ``kms-use-existing-key``): give ``purpose`` when one role is granted two such keys.
    """

    def __init__(self, arn: str | pulumi.Output[str], key: str = "key") -> None:
        if not isinstance(arn, (str, pulumi.Output)):
            raise ValueError(key_input_problem(arn, key))
        if isinstance(arn, str):
            ctx = parse_key_arn(arn, key)
            self.arn = pulumi.Output.from_input(arn)
            self.context: pulumi.Output[KeyContext] = pulumi.Output.from_input(ctx)
            label = "existing-" + hashlib.sha256(arn.encode()).hexdigest()[:8]
        else:
            self.arn = arn.apply(lambda a: _checked_key_arn(a, key))
            self.context = self.arn.apply(lambda a: parse_key_arn(a, key))
            label = "existing-key"
        self.key_id: pulumi.Output[str] = self.arn.apply(lambda a: a.rsplit("/", 1)[-1])
        self._region_label = label


def _checked_key_arn(arn: str, key: str) -> str:
    parse_key_arn(arn, key)
    return arn


#: What a component accepts for "the region key": one it created or an existing key's ARN.
KeyInput = RegionKey | ExistingKey | str | pulumi.Output[str]


def key_input_problem(value: object, key: str = "key") -> str | None:
    """Why ``value`` cannot be used as a key (naming the field ``key``), or None.

    Pure (no Outputs are made): components call it with their other checks, before
    registering anything. An Output is accepted here; its value is checked when known."""
    if isinstance(value, (RegionKey, ExistingKey, pulumi.Output)):
        return None
    if isinstance(value, str):
        return key_arn_problem(value, key)
    return (
        f"{key}: expected a RegionKey or an existing KMS key ARN ({_KEY_ARN_FORM}), "
        f"got {type(value).__name__}"
    )


def as_key(value: object, key: str = "key") -> RegionKey | ExistingKey:
    """``value`` as a usable key: a :class:`RegionKey` or :class:`ExistingKey` as is, a key ARN
    (string or Output) as an :class:`ExistingKey`. Anything else is a ``ValueError`` naming
    ``key``, so a component fails with a clear message instead of deep inside Pulumi."""
    if isinstance(value, (RegionKey, ExistingKey)):
        return value
    problem = key_input_problem(value, key)
    if problem is not None:
        raise ValueError(problem)
    assert isinstance(value, (str, pulumi.Output))
    return ExistingKey(value, key)
