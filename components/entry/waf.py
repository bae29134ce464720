"""A WAFv2 regional web ACL on an internet-facing application load balancer: AWS managed rule
groups (IP reputation, known bad inputs, core rule set), a rate-based rule per client IP,
logs to a KMS-encrypted CloudWatch log group with retention, metrics for the dashboard.

Sources: rule group names, "Baseline rule groups" and "IP reputation rule groups"
(https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-baseline.html,
.../aws-managed-rule-groups-ip-rep.html); rate limit "the lowest limit setting allowed is
10" ("Rate-based rule high-level settings", .../waf-rule-statement-type-rate-based-high-level-
settings.html); a logging destination's name "must start with aws-waf-logs-" (WAFv2 API,
LoggingConfiguration, https://docs.aws.amazon.com/waf/latest/APIReference/
API_LoggingConfiguration.html); metrics in ``AWS/WAFV2`` by WebACL, Region and Rule ("AWS WAF
metrics and dimensions", .../waf-metrics.html).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.checks import raise_problems
from components.kms import KeyInput, as_key, key_input_problem
from components.monitoring import LOG_RETENTION_DAYS, Metric, MetricWidget, Widget

#: AWS managed rule groups, evaluated in this order (cheap IP checks first).
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesCommonRuleSet",
)
MIN_RATE_LIMIT = 10
WAF_LOG_GROUP_PREFIX = "aws-waf-logs-"


@dataclass(frozen=True)
class WebFirewallArgs:
    """Arguments of :class:`WebFirewall`."""

    load_balancer_arn: pulumi.Input[str]
    key: KeyInput
    """The region key (or an existing key ARN CloudWatch Logs may use): encrypts the logs."""
    rate_limit: int = 2000
    """Default: a client IP sending more than 2000 requests in 5 minutes is blocked."""
    log_retention_days: int = 30
    """Default: logs are kept 30 days."""
    tags: Mapping[str, str] = field(default_factory=dict)

    def problems(self) -> list[str]:
        out = []
        problem = key_input_problem(self.key, "key")
        if problem:
            out.append(problem)
        if self.rate_limit < MIN_RATE_LIMIT:
            out.append(f"rate_limit: {self.rate_limit} is below WAF's minimum {MIN_RATE_LIMIT}")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            out.append(f"log_retention_days: {self.log_retention_days} is not a valid retention")
        return out


def _visibility(metric: str) -> aws.wafv2.WebAclVisibilityConfigArgs:
    return aws.wafv2.WebAclVisibilityConfigArgs(
        cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
    )


def _managed_rule(priority: int, group: str) -> aws.wafv2.WebAclRuleArgs:
    return aws.wafv2.WebAclRuleArgs(
        name=group,
        priority=priority,
        override_action=aws.wafv2.WebAclRuleOverrideActionArgs(
            none=aws.wafv2.WebAclRuleOverrideActionNoneArgs()
        ),
        statement=aws.wafv2.WebAclRuleStatementArgs(
            managed_rule_group_statement=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs(
                vendor_name="AWS", name=group
            )
        ),
        visibility_config=aws.wafv2.WebAclRuleVisibilityConfigArgs(
            cloudwatch_metrics_enabled=True, metric_name=group, sampled_requests_enabled=True
        ),
    )


class WebFirewall(pulumi.ComponentResource):
    """``<name>-acl`` (REGIONAL), its association with the load balancer, the log group
    ``aws-waf-logs-<name>`` and the logging configuration."""

    def __init__(
        self, name: str, args: WebFirewallArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        raise_problems(f"WebFirewall {name!r}", args.problems())
        key = as_key(args.key, "key")
        super().__init__("mlops:entry:WebFirewall", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.metric_name = f"{name}-acl".replace(".", "-")
        rules = [_managed_rule(i, group) for i, group in enumerate(MANAGED_RULE_GROUPS)]
        rules.append(
            aws.wafv2.WebAclRuleArgs(
                name="rate-limit-per-ip",
                priority=len(rules),
                action=aws.wafv2.WebAclRuleActionArgs(block=aws.wafv2.WebAclRuleActionBlockArgs()),
                statement=aws.wafv2.WebAclRuleStatementArgs(
                    rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
                        limit=args.rate_limit, aggregate_key_type="IP"
                    )
                ),
                visibility_config=aws.wafv2.WebAclRuleVisibilityConfigArgs(
                    cloudwatch_metrics_enabled=True,
                    metric_name="rate-limit-per-ip",
                    sampled_requests_enabled=True,
                ),
            )
        )
        self.web_acl = aws.wafv2.WebAcl(
            f"{name}-acl",
            scope="REGIONAL",
            default_action=aws.wafv2.WebAclDefaultActionArgs(
                allow=aws.wafv2.WebAclDefaultActionAllowArgs()
            ),
            rules=rules,
            visibility_config=_visibility(self.metric_name),
            tags={"Name": f"{name}-acl", **args.tags},
            opts=child,
        )
        self.association = aws.wafv2.WebAclAssociation(
            f"{name}-acl-association",
            resource_arn=args.load_balancer_arn,
            web_acl_arn=self.web_acl.arn,
            opts=child,
        )
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"{WAF_LOG_GROUP_PREFIX}{name}",
            retention_in_days=args.log_retention_days,
            kms_key_id=key.arn,
            tags={"Name": f"{name}-logs", **args.tags},
            opts=child,
        )
        self.logging = aws.wafv2.WebAclLoggingConfiguration(
            f"{name}-acl-logging",
            resource_arn=self.web_acl.arn,
            log_destination_configs=[self.log_group.arn],
            opts=child,
        )
        self.register_outputs({"web_acl_arn": self.web_acl.arn})

    def widgets(self) -> list[Widget]:
        """Allowed and blocked requests, and what each rule blocked."""
        region = aws.get_region_output(opts=pulumi.InvokeOptions(parent=self)).region
        acl: dict[str, pulumi.Input[str]] = {"WebACL": self.metric_name, "Region": region}
        rules = [*MANAGED_RULE_GROUPS, "rate-limit-per-ip"]
        return [
            MetricWidget(
                title=f"{self.metric_name}: requests",
                metrics=[
                    Metric("AWS/WAFV2", "AllowedRequests", {**acl, "Rule": "ALL"}, "allowed"),
                    Metric("AWS/WAFV2", "BlockedRequests", {**acl, "Rule": "ALL"}, "blocked"),
                ],
            ),
            MetricWidget(
                title=f"{self.metric_name}: blocked by rule",
                metrics=[
                    Metric("AWS/WAFV2", "BlockedRequests", {**acl, "Rule": r}, r) for r in rules
                ],
            ),
        ]
