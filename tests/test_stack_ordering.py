"""Grant, then use: in both real stacks, whatever AWS checks against another resource's
resource policy when it is created waits for that policy.

Some AWS APIs look, while they create or change a resource, at the resource policy of a
resource it names: enabling S3 server access logging checks the target bucket's grants,
creating a trail checks the trail bucket's policy, and so on. Pulumi only orders what depends
on what; a resource that names a bucket only by its name waits for the bucket, not for the
bucket's policy, so a deploy can race the grant and fail (issue 16: every BucketLogging
failed with InvalidTargetBucketForLogging, ~4 s before the log bucket's policy existed).

:data:`GRANTS` is the table of such references, one row per (resource type, input path), each
with the AWS source that says the check happens at creation. The test reads the recorded
graph (every resource's inputs, ``dependencies`` and ``parent``) and reports every pair
(resource, policy it needs) where the resource does not wait, directly or transitively, for
the policy, or where the stack manages the named resource but no such policy at all.

One row is not a check at creation but the same race with a permanent cost: replication
(objects S3 may not replicate turn FAILED and are never retried).

Left out on purpose (not checked when the user is created, so no deploy fails):

- EventBridge targets (``aws:cloudwatch/eventTarget``) publishing to an SNS topic or SQS queue:
  PutTargets does not check the target's policy; a missing permission shows at delivery as
  ``FailedInvocations`` (https://repost.aws/knowledge-center/sns-not-getting-eventbridge-notification),
  and such events are not retried but dropped or sent to the target's dead-letter queue
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html). That is a
  runtime window, not a failed deploy.
- CloudWatch alarm actions naming an SNS topic: no AWS source says PutMetricAlarm checks the
  topic policy, so it is not claimed here.
- KMS keys: a key's policy is part of the ``aws:kms/key`` resource itself, so naming the key
  by its ARN (an Output) already makes the user wait for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from stacks.offline import Plan, physical_name

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
FUNCTION = "aws:lambda/function:Function"
PERMISSION = "aws:lambda/permission:Permission"

#: The input of each policy type that names the resource it governs.
POLICY_SUBJECT: Mapping[str, str] = {
    BUCKET_POLICY: "bucket",
    TOPIC_POLICY: "arn",
    QUEUE_POLICY: "queueUrl",
    PERMISSION: "function",
}

S3_NOTIFICATION_SOURCE = (
    "https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketNotificationConfiguration.html: "
    "S3 first verifies that an SNS or SQS destination exists and that the bucket owner may "
    "publish to it (a test notification), and that a Lambda function's permissions let S3 "
    "invoke it; otherwise the whole PUT fails"
)


@dataclass(frozen=True)
class Grant:
    """``user`` names a ``target`` at input ``path``; AWS checks the target's ``policy``
    when it creates or changes the user (``source`` says where AWS documents it)."""

    user: str
    path: str
    """Dotted input path (camelCase wire names); ``[]`` after a key walks a list."""
    target: str
    policy: str
    source: str
    applies: Callable[[Mapping[str, Any]], bool] = lambda inputs: True
    """Only users whose inputs satisfy this are checked (e.g. flow logs to S3 only)."""
    principal: str | None = None
    """For Lambda permissions: the service principal the permission must be for."""


GRANTS: tuple[Grant, ...] = (
    Grant(
        "aws:s3/bucketLogging:BucketLogging",
        "targetBucket",
        BUCKET,
        BUCKET_POLICY,
        "Amazon S3 checks the logging configuration when it is PUT and answers "
        "InvalidTargetBucketForLogging when the target lacks the grants (Amazon S3 Developer "
        "Guide 2006-03-01, 'Server Access Logging Configuration API', "
        "archived at https://documentation.help/s3-dg-20060301/LoggingAPI.html); with "
        "BucketOwnerEnforced only the target's bucket policy can grant logging.s3.amazonaws.com "
        "(https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html)",
    ),
    Grant(
        "aws:lb/loadBalancer:LoadBalancer",
        "accessLogs.bucket",
        BUCKET,
        BUCKET_POLICY,
        "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html: "
        "the bucket must have a policy granting ELB write access; enabling logs without it fails "
        "with InvalidConfigurationRequest 'Access Denied for bucket ... Please check S3bucket "
        "permission' (kubernetes-sigs/aws-load-balancer-controller#1956)",
        applies=lambda inputs: (inputs.get("accessLogs") or {}).get("enabled") is True,
    ),
    Grant(
        "aws:cloudtrail/trail:Trail",
        "s3BucketName",
        BUCKET,
        BUCKET_POLICY,
        "https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_CreateTrail.html: "
        "CreateTrail/UpdateTrail fail with InsufficientS3BucketPolicyException",
    ),
    Grant(
        "aws:cloudtrail/trail:Trail",
        "snsTopicName",
        TOPIC,
        TOPIC_POLICY,
        "https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_CreateTrail.html: "
        "CreateTrail/UpdateTrail fail with InsufficientSnsTopicPolicyException",
    ),
    Grant(
        "aws:ec2/flowLog:FlowLog",
        "logDestination",
        BUCKET,
        BUCKET_POLICY,
        "https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-s3-permissions.html: unless "
        "the creator may write the bucket policy, the bucket owner must add it first 'or flow "
        "log creation fails'",
        applies=lambda inputs: inputs.get("logDestinationType") == "s3",
    ),
    Grant(
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
        "rules[].destination.bucket",
        BUCKET,
        BUCKET_POLICY,
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/setting-repl-config-perm-overview.html: "
        "a destination owned by another account must grant the replication in its bucket "
        "policy. Not a check at creation: replication starts with the configuration, and an "
        "object S3 may not replicate (bucket permissions) turns FAILED for good "
        "(https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-status.html)",
    ),
    Grant(
        "aws:s3/bucketNotification:BucketNotification",
        "queues[].queueArn",
        QUEUE,
        QUEUE_POLICY,
        S3_NOTIFICATION_SOURCE,
    ),
    Grant(
        "aws:s3/bucketNotification:BucketNotification",
        "topics[].topicArn",
        TOPIC,
        TOPIC_POLICY,
        S3_NOTIFICATION_SOURCE,
    ),
    Grant(
        "aws:s3/bucketNotification:BucketNotification",
        "lambdaFunctions[].lambdaFunctionArn",
        FUNCTION,
        PERMISSION,
        S3_NOTIFICATION_SOURCE,
        principal="s3.amazonaws.com",
    ),
)


# Reading the recorded graph --------------------------------------------------------------------


def values_at(inputs: Mapping[str, Any], path: str) -> list[Any]:
    """Every value at ``path`` in ``inputs`` (``key[]`` walks a list); missing parts give none."""
    current: list[Any] = [inputs]
    for step in path.split("."):
        key, many = (step[:-2], True) if step.endswith("[]") else (step, False)
        found: list[Any] = []
        for value in current:
            item = value.get(key) if isinstance(value, Mapping) else None
            if item is None:
                continue
            found.extend(item if many and isinstance(item, list) else [item])
        current = found
    return current


def identifiers(resource: Mapping[str, Any]) -> set[str]:
    """What other resources use to name ``resource``: its id and its physical name."""
    names = {
        physical_name(resource["type"], resource["name"], resource["urn"], dict(resource["inputs"]))
    }
    if resource.get("id"):
        names.add(str(resource["id"]))
    return names


def names(value: Any, resource: Mapping[str, Any]) -> bool:
    """Whether ``value`` (a name, ARN or URL read from an input) names ``resource``.

    An ARN names it when it is in the resource's region (or regionless, as S3's are) and one of
    its ``:``/``/``-separated resource parts is an identifier of it; a URL (a queue URL) when its
    last path segment is.
    """
    if not isinstance(value, str) or not value:
        return False
    idents = identifiers(resource)
    if value in idents:
        return True
    if value.startswith("https://"):
        return value.rstrip("/").rsplit("/", 1)[-1] in idents
    parts = value.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return False
    region = parts[3]
    if region and resource.get("region") and region != resource["region"]:
        return False
    return bool(idents & set(parts[5].replace("/", ":").split(":")))


def waits_for(plan: Plan) -> Callable[[str], set[str]]:
    """URN -> every URN it waits for: its dependencies and its parent, transitively (a child
    is registered only once its parent is, and the parent only after its own dependencies)."""
    direct: dict[str, set[str]] = {}
    for r in plan.resources:
        edges = set(r["dependencies"])
        if r.get("parent") and "::pulumi:pulumi:Stack::" not in r["parent"]:
            edges.add(r["parent"])
        direct[r["urn"]] = edges
    memo: dict[str, set[str]] = {}

    def closure(urn: str) -> set[str]:
        if urn in memo:
            return memo[urn]
        memo[urn] = set()  # a cycle (none expected) must not recurse forever
        seen: set[str] = set()
        for dep in direct.get(urn, ()):
            seen.add(dep)
            seen |= closure(dep)
        memo[urn] = seen
        return seen

    return closure


@dataclass(frozen=True)
class Pair:
    """One resource and a policy (of a resource it names) AWS checks when creating it."""

    grant: Grant
    user: Mapping[str, Any]
    value: str
    target: Mapping[str, Any]
    policies: tuple[Mapping[str, Any], ...]

    def describe(self, problem: str) -> str:
        user = self.grant.user.rsplit(":", 1)[-1]
        target = self.grant.target.rsplit(":", 1)[-1]
        return (
            f"[{self.user.get('region')}] {user} {self.user['name']!r} "
            f"({self.grant.path} = {self.value}) -> {target} {self.target['name']!r}: {problem}"
        )


def pairs(plan: Plan) -> Iterator[Pair]:
    """Every (user, named resource, its policies) the table covers in ``plan``; resources the
    stack does not manage (an existing bucket given by name) are not its to order."""
    for grant in GRANTS:
        targets = plan.of_type(grant.target)
        candidates = [
            p
            for p in plan.of_type(grant.policy)
            if grant.principal is None or p["inputs"].get("principal") == grant.principal
        ]
        for user in plan.of_type(grant.user):
            if not grant.applies(user["inputs"]):
                continue
            for value in values_at(user["inputs"], grant.path):
                for target in (t for t in targets if names(value, t)):
                    policies = tuple(
                        p
                        for p in candidates
                        if names(p["inputs"].get(POLICY_SUBJECT[grant.policy]), target)
                    )
                    yield Pair(grant, user, str(value), target, policies)


def ordering_problems(plan: Plan) -> list[str]:
    """Each pair where the user does not wait for every policy it needs, or there is none."""
    closure = waits_for(plan)
    problems = []
    for pair in pairs(plan):
        wanted = pair.grant.policy.rsplit(":", 1)[-1]
        if not pair.policies:
            problems.append(pair.describe(f"the stack has no {wanted} for it"))
            continue
        missing = [p["name"] for p in pair.policies if p["urn"] not in closure(pair.user["urn"])]
        if missing:
            problems.append(pair.describe(f"does not wait for {wanted} {', '.join(missing)}"))
    return sorted(set(problems))


# The real stacks -------------------------------------------------------------------------------


def test_every_resource_waits_for_the_policy_aws_checks_when_creating_it(stack_plan: Plan) -> None:
    problems = ordering_problems(stack_plan)
    assert not problems, (
        f"{stack_plan.stack}: {len(problems)} resource(s) may be created before the resource "
        "policy AWS checks when creating them (see GRANTS for each AWS source):\n  "
        + "\n  ".join(problems)
    )


def test_the_check_covers_the_stacks_log_buckets(stack_plan: Plan) -> None:
    """Not vacuous: every server access logging configuration and every load balancer with
    access logs of the stack is among the checked pairs."""
    checked = {(p.grant.user, p.user["urn"]) for p in pairs(stack_plan)}
    for typ in ("aws:s3/bucketLogging:BucketLogging", "aws:lb/loadBalancer:LoadBalancer"):
        users = stack_plan.of_type(typ)
        assert users, typ
        assert {(typ, u["urn"]) for u in users} <= checked, typ


# The check itself, on small hand-made graphs ---------------------------------------------------


def resource(
    typ: str, name: str, inputs: dict[str, Any], deps: tuple[str, ...] = (), parent: str = ""
) -> dict[str, Any]:
    urn = f"urn:pulumi:t::p::{typ}::{name}"
    return {
        "urn": urn,
        "type": typ,
        "name": name,
        "id": inputs.pop("_id", None) or f"{name}-id",
        "region": "eu-west-1",
        "parent": parent or None,
        "dependencies": list(deps),
        "inputs": inputs,
    }


def urn(typ: str, name: str) -> str:
    return f"urn:pulumi:t::p::{typ}::{name}"


LOGGING = "aws:s3/bucketLogging:BucketLogging"


def logging_plan(*logging_deps: str, parent: str = "", target: str = "logs-id") -> Plan:
    component = "mlops:x:Thing"
    return Plan(
        project="p",
        stack="t",
        resources=[
            resource(BUCKET, "logs", {}),
            resource(BUCKET, "data", {}),
            resource(BUCKET_POLICY, "logs-policy", {"bucket": "logs-id"}),
            resource(component, "thing", {}, deps=(urn(BUCKET_POLICY, "logs-policy"),)),
            resource(
                LOGGING,
                "data-logging",
                {"bucket": "data-id", "targetBucket": target},
                deps=logging_deps,
                parent=parent,
            ),
        ],
    )


def test_a_logging_configuration_racing_its_target_policy_is_reported() -> None:
    problems = ordering_problems(logging_plan(urn(BUCKET, "logs")))
    assert problems == [
        "[eu-west-1] BucketLogging 'data-logging' (targetBucket = logs-id) -> Bucket 'logs': "
        "does not wait for BucketPolicy logs-policy"
    ]


@pytest.mark.parametrize(
    "plan",
    [
        logging_plan(urn(BUCKET_POLICY, "logs-policy")),
        # transitively, through a parent that waits for the policy
        logging_plan(parent=urn("mlops:x:Thing", "thing")),
        # a bucket the stack does not manage: its policy is its owner's
        logging_plan(target="team-access-logs"),
    ],
)
def test_waiting_directly_or_transitively_or_naming_an_unmanaged_bucket_is_fine(
    plan: Plan,
) -> None:
    assert ordering_problems(plan) == []


def test_a_managed_target_without_any_policy_is_reported() -> None:
    plan = logging_plan()
    plan.resources = [r for r in plan.resources if r["type"] != BUCKET_POLICY]
    assert ordering_problems(plan) == [
        "[eu-west-1] BucketLogging 'data-logging' (targetBucket = logs-id) -> Bucket 'logs': "
        "the stack has no BucketPolicy for it"
    ]


def test_arns_urls_and_conditions_of_the_table() -> None:
    queue = resource(QUEUE, "q", {"name": "jobs-q"})
    topic = resource(TOPIC, "t", {"_id": "alerts"})
    function = resource(FUNCTION, "f", {"_id": "ingest"})
    plan = Plan(
        project="p",
        stack="t",
        resources=[
            queue,
            topic,
            function,
            resource(BUCKET, "flows", {}),
            resource(
                QUEUE_POLICY,
                "q-policy",
                {"queueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs-q"},
            ),
            resource(TOPIC_POLICY, "t-policy", {"arn": "arn:aws:sns:eu-west-1:1:alerts"}),
            resource(PERMISSION, "f-events", {"function": "ingest", "principal": "events"}),
            resource(
                "aws:s3/bucketNotification:BucketNotification",
                "n",
                {
                    "bucket": "data",
                    "queues": [{"queueArn": "arn:aws:sqs:eu-west-1:1:jobs-q"}],
                    "topics": [{"topicArn": "arn:aws:sns:eu-west-1:1:alerts"}],
                    "lambdaFunctions": [
                        {"lambdaFunctionArn": "arn:aws:lambda:eu-west-1:1:function:ingest"}
                    ],
                },
                deps=(urn(QUEUE_POLICY, "q-policy"),),
            ),
            # to CloudWatch Logs: no bucket policy involved
            resource(
                "aws:ec2/flowLog:FlowLog",
                "cw",
                {
                    "logDestination": "arn:aws:s3:::flows-id",
                    "logDestinationType": "cloud-watch-logs",
                },
            ),
            resource(
                "aws:ec2/flowLog:FlowLog",
                "s3",
                {"logDestination": "arn:aws:s3:::flows-id/vpc/", "logDestinationType": "s3"},
            ),
        ],
    )
    assert ordering_problems(plan) == [
        "[eu-west-1] BucketNotification 'n' (lambdaFunctions[].lambdaFunctionArn = "
        "arn:aws:lambda:eu-west-1:1:function:ingest) -> Function 'f': the stack has no "
        "Permission for it",
        "[eu-west-1] BucketNotification 'n' (topics[].topicArn = arn:aws:sns:eu-west-1:1:alerts) "
        "-> Topic 't': does not wait for TopicPolicy t-policy",
        "[eu-west-1] FlowLog 's3' (logDestination = arn:aws:s3:::flows-id/vpc/) -> Bucket "
        "'flows': the stack has no BucketPolicy for it",
    ]
