"""``mlops:alerts``: where alarms go (each region's alert topic, components/monitoring).

A region's alarms and failure events notify either a topic the stack creates, with an email
subscription per ``emails`` address, or the persistent topic ``topicArns`` names for that
region. An email subscription is only delivered to once its owner confirmed it (SNS
``Subscribe``: "the endpoint owner must call the ConfirmSubscription action with the token
from the confirmation message"; https://docs.aws.amazon.com/sns/latest/api/API_Subscribe.html),
so a stack that is destroyed and rebuilt (``mlops:ephemeral``) gets new, unconfirmed
subscriptions every time: it should point at persistent topics (``deploy/alerts``), whose
subscriptions are confirmed once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

from components.checks import duplicates
from components.monitoring import email_key, is_email, topic_arn_parts, topic_arn_problem
from stacks.config.base import NAMESPACE, ConfigModel, section

KEY = f"{NAMESPACE}:alerts"


def persistent_topic_name(environment: str) -> str:
    """The name of an environment's persistent alert topic (and of its key's alias) in each
    region, as ``deploy/alerts`` creates it: its ARN is known before it exists."""
    return f"mlops-{environment}-alerts"


def _email(value: str) -> str:
    if not is_email(value):
        raise ValueError(f"{value!r} is not an email address (write it like ops@example.com)")
    return value


def _topic_arn(value: str) -> str:
    problem = topic_arn_problem(value, "topic")
    if problem:
        raise ValueError(problem.removeprefix("topic: "))
    return value


Email = Annotated[str, AfterValidator(_email)]
TopicArn = Annotated[str, AfterValidator(_topic_arn)]


class AlertsConfig(ConfigModel):
    """Where alarms go."""

    emails: tuple[Email, ...] = Field(
        default=(),
        description="Addresses subscribed by email to the alert topic of every region that "
        "has no persistent topic in topicArns (each subscription must be confirmed by its "
        "owner; an ephemeral stack's must be confirmed again after every rebuild).",
    )
    topic_arns: dict[str, TopicArn] = Field(
        default_factory=dict,
        description="Region -> ARN of a persistent standard SNS topic in that region and "
        "account (deploy/alerts creates them) that the region's alarms notify instead of a "
        "topic of this stack; the stack creates no topic and no subscriptions there.",
    )

    @field_validator("emails")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        dupes = duplicates(email_key(v) for v in value)
        if dupes:
            raise ValueError(
                f"{dupes} listed more than once (addresses are compared ignoring case)"
            )
        return value

    def topic_arn(self, region: str) -> str | None:
        """The persistent topic of ``region``, or None when the stack creates its own."""
        return self.topic_arns.get(region)

    def rebuild_warning(self, region: str, ephemeral: bool) -> str | None:
        """What to tell the user when ``region`` of an ephemeral stack subscribes addresses to
        a topic of its own: every rebuild makes new subscriptions nobody has confirmed."""
        if not ephemeral or self.topic_arn(region) is not None or not self.emails:
            return None
        return (
            f"{KEY}: {region}: this ephemeral stack creates its own alert topic, so its "
            f"{len(self.emails)} email subscription(s) must be confirmed again after every "
            "rebuild (until then no alert reaches anyone). Create persistent topics once "
            f"(deploy/alerts) and set {KEY}.topicArns.{region}."
        )


def alerts_cross_checks(data: Mapping[str, Any]) -> list[str]:
    """Each persistent topic belongs to a listed region, is in that region (CloudWatch alarms
    notify topics of their own region only) and in an allowed account (the topic policy of
    ``deploy/alerts`` lets this account's alarms publish); ``emails`` is refused when no
    region would subscribe them."""
    alerts = section(data, "alerts")
    if alerts is None:
        return []
    regions = data.get("regions")
    names = (
        [r.get("name") for r in regions if isinstance(r, dict)] if isinstance(regions, list) else []
    )
    accounts = data.get("allowedAccountIds")
    allowed = [str(a) for a in accounts] if isinstance(accounts, list) else []
    topics = alerts.get("topicArns")
    topics = topics if isinstance(topics, dict) else {}
    problems: list[str] = []
    for region, arn in topics.items():
        parts = topic_arn_parts(arn) if isinstance(arn, str) else None
        key = f"{KEY}.topicArns.{region}"
        if region not in names:
            problems.append(
                f"{key}: {region!r} is not a region of {NAMESPACE}:regions "
                f"({', '.join(map(str, names))})"
            )
        elif parts is not None and parts.region != region:
            problems.append(
                f"{key}: the topic is in {parts.region}; a region's alarms can only notify a "
                f"topic in that region ({region})"
            )
        if parts is not None and allowed and parts.account_id not in allowed:
            problems.append(
                f"{key}: the topic is in account {parts.account_id}, not one of "
                f"{NAMESPACE}:allowedAccountIds ({', '.join(allowed)}); create it in the "
                "stack's account (deploy/alerts)"
            )
    emails = alerts.get("emails")
    if emails and names and all(n in topics for n in names):
        problems.append(
            f"{KEY}.emails: no region would use these addresses: every region's alarms notify "
            f"its persistent topic in {KEY}.topicArns (subscribe the addresses there, "
            "deploy/alerts); remove emails"
        )
    return problems
