"""One region's part of the global entry: a Route 53 health check of its load balancer, the
alarm on it, and its alias record under the service's name with the chosen routing policy.

Route 53 publishes health-check metrics in us-east-1 only, so the alarm is created there
(per-resource ``region``, pulumi-aws v7 "Enhanced Region Support",
https://www.pulumi.com/registry/packages/aws/how-to-guides/aws-enhanced-region-support/),
and a CloudWatch alarm notifies SNS topics of its own region only, so its topic is one in
us-east-1 ("Route53 health checks must live in us-east-1", Doenet/DoenetApps#2975; "Cloudwatch
alarms cannot communicate across regions", cds-snc/covid-alert-portal#333).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

from components.checks import raise_problems
from components.entry.limits import health_check_problems

#: Where Route 53 publishes the HealthCheckStatus metric (see the module docstring).
ROUTE53_METRICS_REGION = "us-east-1"


@dataclass(frozen=True)
class RegionalEntryArgs:
    """Arguments of :class:`RegionalEntry`."""

    zone_id: str
    record_name: str
    region: str
    """The region served (the record's set identifier and latency region)."""
    routing: Literal["failover", "latency"]
    load_balancer_dns_name: pulumi.Input[str]
    load_balancer_zone_id: pulumi.Input[str]
    health_check_path: str
    alarm_topic_arn: str
    """An SNS topic in us-east-1 (where the alarm is)."""
    failover_role: Literal["PRIMARY", "SECONDARY"] | None = None
    """Required with ``failover`` routing: this region's role."""
    interval: int = 30
    """Default: standard checks every 30 seconds."""
    failure_threshold: int = 3
    """Default: three failed checks in a row mark the region unhealthy."""
    checker_regions: Sequence[str] = ()
    """Default: every health checker region."""
    tags: Mapping[str, str] = field(default_factory=dict)

    def problems(self) -> list[str]:
        out = health_check_problems(
            interval=self.interval,
            failure_threshold=self.failure_threshold,
            regions=list(self.checker_regions) if self.checker_regions else None,
        )
        if self.routing == "failover" and self.failover_role is None:
            out.append("failover_role: give PRIMARY or SECONDARY with failover routing")
        if not self.alarm_topic_arn.startswith(f"arn:aws:sns:{ROUTE53_METRICS_REGION}:"):
            out.append(f"alarm_topic_arn: must be an SNS topic in {ROUTE53_METRICS_REGION}")
        return out


class RegionalEntry(pulumi.ComponentResource):
    """``<name>-health`` (HTTPS on the health path), ``<name>-health-alarm`` (us-east-1) and
    ``<name>-record`` (alias to the load balancer, evaluate target health on)."""

    def __init__(
        self, name: str, args: RegionalEntryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        raise_problems(f"RegionalEntry {name!r}", args.problems())
        super().__init__("mlops:entry:RegionalEntry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # HTTPS to the load balancer's own name: its certificate names the service, not the
        # load balancer; "if the endpoint responds ... with a certificate that does not
        # include the domain name ... a health checker will retry the handshake" without it
        # (Route 53 API, UpdateHealthCheck EnableSNI). "The endpoint must support TLS v1.0,
        # v1.1, or v1.2" (API HealthCheckConfig, https://docs.aws.amazon.com/Route53/latest/
        # APIReference/API_HealthCheckConfig.html): the listener's default policy
        # ELBSecurityPolicy-TLS13-1-2-2021-06 offers TLS 1.2 and 1.3 (a 1.3-only policy would
        # fail every check).
        self.health_check = aws.route53.HealthCheck(
            f"{name}-health",
            type="HTTPS",
            fqdn=args.load_balancer_dns_name,
            port=443,
            resource_path=args.health_check_path,
            request_interval=args.interval,
            failure_threshold=args.failure_threshold,
            regions=list(args.checker_regions) or None,
            tags={"Name": f"{name}-health", **args.tags},
            opts=child,
        )
        self.alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-health-alarm",
            region=ROUTE53_METRICS_REGION,
            alarm_description=(
                f"The web service in {args.region} fails its Route 53 health check "
                f"({args.record_name}); traffic is sent to the other region(s)"
            ),
            namespace="AWS/Route53",
            metric_name="HealthCheckStatus",
            dimensions={"HealthCheckId": self.health_check.id},
            statistic="Minimum",
            period=60,
            evaluation_periods=1,
            threshold=1,
            comparison_operator="LessThanThreshold",
            treat_missing_data="breaching",
            alarm_actions=[args.alarm_topic_arn],
            ok_actions=[args.alarm_topic_arn],
            tags={"Name": f"{name}-health-alarm", **args.tags},
            opts=child,
        )
        self.record = aws.route53.Record(
            f"{name}-record",
            zone_id=args.zone_id,
            name=args.record_name,
            type="A",
            set_identifier=args.region,
            health_check_id=self.health_check.id,
            aliases=[
                aws.route53.RecordAliasArgs(
                    name=args.load_balancer_dns_name,
                    zone_id=args.load_balancer_zone_id,
                    evaluate_target_health=True,
                )
            ],
            failover_routing_policies=(
                [aws.route53.RecordFailoverRoutingPolicyArgs(type=args.failover_role)]
                if args.routing == "failover" and args.failover_role
                else None
            ),
            latency_routing_policies=(
                [aws.route53.RecordLatencyRoutingPolicyArgs(region=args.region)]
                if args.routing == "latency"
                else None
            ),
            opts=child,
        )
        self.register_outputs(
            {"health_check_id": self.health_check.id, "record_fqdn": self.record.fqdn}
        )
