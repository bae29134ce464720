"""The persistent alert topics of one environment: per region a KMS key and an encrypted SNS
topic with the platform's topic policy and one email subscription per address.

An ephemeral platform stack (dev: destroyed every night, rebuilt every weekday morning)
would otherwise create a new topic, and new subscriptions nobody has confirmed, on every
rebuild. These topics are created once, by an administrator, and never destroyed (every
resource is protected and retained on delete); the platform stack names them in
``mlops:alerts.topicArns`` and creates no topic or subscription of its own there.

It is built from the platform's own components, so the topic policy (this account's
CloudWatch alarms and EventBridge rules may publish, nothing without TLS) and the key policy
(CloudWatch and EventBridge may make data keys for the encrypted topic) are the ones the
platform's own topics get, and are checked by the same tests.

Config (namespace ``mlops-alerts``): ``environment``, ``regions`` (the platform stack's
regions), ``emails``, ``allowedAccountIds``. Outputs: ``topicArns`` (region -> ARN, for
``mlops:alerts.topicArns``) and ``keyArns``.
"""

import sys
from pathlib import Path

import pulumi
import pulumi_aws as aws

# The repository's components: this program lives in deploy/alerts/ of the repository.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from components.kms import RegionKey, RegionKeyArgs  # noqa: E402
from components.monitoring import AlertTopic, AlertTopicArgs  # noqa: E402
from stacks.config.alerts import persistent_topic_name  # noqa: E402

config = pulumi.Config()
environment = config.require("environment")
regions: list[str] = config.require_object("regions")
emails: list[str] = config.get_object("emails") or []
accounts: list[str] = config.get_object("allowedAccountIds") or []
if not isinstance(regions, list) or not regions or len(set(regions)) != len(regions):
    raise ValueError(f"mlops-alerts:regions: {regions!r} must list each region once")

topic_arns: dict[str, pulumi.Output[str]] = {}
key_arns: dict[str, pulumi.Output[str]] = {}
for region in regions:
    provider = aws.Provider(
        f"aws-{region}",
        region=region,
        allowed_account_ids=[str(a) for a in accounts] or None,
        # Not the platform stack's tags: the nightly sweep looks for `stack=<platform stack>`
        # and must never count these topics as leftovers of a destroy.
        default_tags=aws.ProviderDefaultTagsArgs(
            tags={
                "environment": environment,
                "stack": f"{pulumi.get_project()}-{pulumi.get_stack()}",
                "managed-by": "pulumi",
                "purpose": "persistent-alerts",
            }
        ),
    )
    opts = pulumi.ResourceOptions(providers={"aws": provider})
    key = RegionKey(
        f"{region}-alerts-kms",
        RegionKeyArgs(
            alias=persistent_topic_name(environment),
            services=("alarms",),
            protect=True,
        ),
        opts=opts,
    )
    topic = AlertTopic(
        f"{region}-alerts",
        AlertTopicArgs(
            key=key,
            emails=emails,
            topic_name=persistent_topic_name(environment),
            protect=True,
        ),
        opts=opts,
    )
    topic_arns[region] = topic.arn
    key_arns[region] = key.arn

pulumi.export("topicArns", topic_arns)
pulumi.export("keyArns", key_arns)
