"""Network rules: VPC flow logs, the default security group, subnets, security groups and
SSH (port 22 ingress, key pairs)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from policies.model import Resource, Stack, as_list, as_mapping, is_true, is_unknown, present
from policies.rules.helpers import as_int, children, quote
from policies.rules.registry import Finding, rule
from policies.rules.types import (
    DEFAULT_SG,
    FLOW_LOG,
    INSTANCE,
    LAUNCH_TEMPLATE,
    LOAD_BALANCERS,
    SECURITY_GROUP,
    SG_EGRESS_RULE,
    SG_INGRESS_RULE,
    SG_RULE,
    SUBNET,
    VPC,
)

# ---------------------------------------------------------------------------------------------
# VPC


@rule("vpc-flow-logs", "Every VPC has a flow log capturing ALL traffic.")
def vpc_flow_logs(stack: Stack) -> Iterable[Finding]:
    """A FlowLog whose `vpcId` is the VPC and `trafficType` is ALL must exist per VPC."""
    for vpc in stack.of(VPC):
        logs = children(stack, vpc, (FLOW_LOG,), "vpcId")
        if not logs:
            yield (
                vpc,
                "no aws:ec2/flowLog:FlowLog has vpcId referring to this VPC",
                "Create aws.ec2.FlowLog(vpc_id=vpc.id, traffic_type='ALL', "
                "log_destination=<log group or bucket ARN>).",
            )
        elif not any(
            is_unknown(f.props.get("trafficType")) or f.props.get("trafficType") == "ALL"
            for f in logs
        ):
            seen = sorted({str(f.props.get("trafficType")) for f in logs})
            yield (
                vpc,
                f"the VPC's flow logs capture trafficType {', '.join(seen)}; expected 'ALL'",
                "Set traffic_type='ALL' on the VPC's aws.ec2.FlowLog.",
            )


@rule("vpc-default-sg-closed", "Every VPC's default security group is managed and has no rules.")
def vpc_default_sg_closed(stack: Stack) -> Iterable[Finding]:
    """A DefaultSecurityGroup with empty `ingress` and `egress` must exist per VPC."""
    for vpc in stack.of(VPC):
        groups = children(stack, vpc, (DEFAULT_SG,), "vpcId")
        if not groups:
            yield (
                vpc,
                "the VPC's default security group is not managed: no "
                "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup has vpcId referring "
                "to it",
                "Create aws.ec2.DefaultSecurityGroup(vpc_id=vpc.id) with no ingress and "
                "no egress, which removes the default rules.",
            )
    for group in stack.of(DEFAULT_SG):
        for direction in ("ingress", "egress"):
            rules = group.props.get(direction)
            if present(rules) and not is_unknown(rules):
                yield (
                    group,
                    f"{direction} has {len(as_list(rules))} rule(s); the default "
                    "security group must have none",
                    f"Remove every {direction} rule from the DefaultSecurityGroup.",
                )


@rule("vpc-subnet-no-public-ip", "No subnet auto-assigns public IPs.")
def vpc_subnet_no_public_ip(stack: Stack) -> Iterable[Finding]:
    """Subnet `mapPublicIpOnLaunch` must not be true."""
    for subnet in stack.of(SUBNET):
        if is_true(subnet.props.get("mapPublicIpOnLaunch")):
            yield (
                subnet,
                "mapPublicIpOnLaunch is true; expected false",
                "Set map_public_ip_on_launch=False (load balancers and NAT gateways get "
                "their public addresses explicitly).",
            )


# ---------------------------------------------------------------------------------------------
# Security groups


@dataclass(frozen=True)
class _SgRule:
    """One security-group rule, wherever it is declared."""

    owner: Resource
    where: str
    direction: str
    group: Resource | None
    cidrs: tuple[Any, ...]
    protocol: Any
    from_port: Any
    to_port: Any
    description: Any

    def label(self) -> str:
        """Where the rule is declared, for messages."""
        return f"{self.where} " if self.where else ""


def _sg_rules(stack: Stack) -> list[_SgRule]:
    """Every ingress/egress rule: inline on groups, SecurityGroupRule and the vpc rule types."""
    groups = stack.of(SECURITY_GROUP, DEFAULT_SG)
    found: list[_SgRule] = []
    for group in groups:
        for direction in ("ingress", "egress"):
            items = group.props.get(direction)
            if is_unknown(items):
                continue
            for i, item in enumerate(as_list(items)):
                item = as_mapping(item)
                found.append(
                    _SgRule(
                        group,
                        f"{direction}[{i}]",
                        direction,
                        group,
                        tuple(
                            as_list(item.get("cidrBlocks")) + as_list(item.get("ipv6CidrBlocks"))
                        ),
                        item.get("protocol"),
                        item.get("fromPort"),
                        item.get("toPort"),
                        item.get("description"),
                    )
                )
    for r in stack.of(SG_RULE):
        owner_groups = stack.refers(r, "securityGroupId", r.props.get("securityGroupId"), groups)
        found.append(
            _SgRule(
                r,
                "",
                str(r.props.get("type")),
                owner_groups[0] if owner_groups else None,
                tuple(as_list(r.props.get("cidrBlocks")) + as_list(r.props.get("ipv6CidrBlocks"))),
                r.props.get("protocol"),
                r.props.get("fromPort"),
                r.props.get("toPort"),
                r.props.get("description"),
            )
        )
    for rtype, direction in ((SG_INGRESS_RULE, "ingress"), (SG_EGRESS_RULE, "egress")):
        for r in stack.of(rtype):
            owner_groups = stack.refers(
                r, "securityGroupId", r.props.get("securityGroupId"), groups
            )
            found.append(
                _SgRule(
                    r,
                    "",
                    direction,
                    owner_groups[0] if owner_groups else None,
                    tuple(c for c in (r.props.get("cidrIpv4"), r.props.get("cidrIpv6")) if c),
                    r.props.get("ipProtocol"),
                    r.props.get("fromPort"),
                    r.props.get("toPort"),
                    r.props.get("description"),
                )
            )
    return found


_ALL_PROTOCOLS: Final = ("-1", "all")
_OPEN_CIDRS: Final = ("0.0.0.0/0", "::/0")


def _covers_port(sg_rule: _SgRule, port: int) -> bool:
    """True when the rule certainly admits TCP `port`."""
    protocol = str(sg_rule.protocol).lower() if sg_rule.protocol is not None else None
    if protocol in _ALL_PROTOCOLS:
        return True
    if protocol not in ("tcp", "6"):
        return False
    low, high = as_int(sg_rule.from_port), as_int(sg_rule.to_port)
    return low is not None and high is not None and low <= port <= high


def _is_web_port_only(sg_rule: _SgRule) -> bool:
    """True when the rule admits exactly TCP 80 or exactly TCP 443."""
    protocol = str(sg_rule.protocol).lower()
    low, high = as_int(sg_rule.from_port), as_int(sg_rule.to_port)
    return protocol in ("tcp", "6") and low == high and low in (80, 443)


def _is_load_balancer_group(stack: Stack, group: Resource) -> bool:
    """True when a load balancer's `securityGroups` refers to `group`."""
    return bool(stack.referencing(group, stack.of(*LOAD_BALANCERS), "securityGroups"))


@rule(
    "sg-open-ingress",
    "0.0.0.0/0 (or ::/0) ingress only on TCP 80/443 and only on a load balancer's group.",
)
def sg_open_ingress(stack: Stack) -> Iterable[Finding]:
    """Ingress from anywhere must be TCP 80 or 443 into a group a load balancer uses."""
    for r in _sg_rules(stack):
        if r.direction != "ingress":
            continue
        open_cidrs = [c for c in r.cidrs if c in _OPEN_CIDRS]
        if not open_cidrs or any(is_unknown(v) for v in (r.protocol, r.from_port, r.to_port)):
            continue
        source = " and ".join(open_cidrs)
        if not _is_web_port_only(r):
            yield (
                r.owner,
                f"{r.label()}admits {source} on protocol {quote(r.protocol)} ports "
                f"{quote(r.from_port)}-{quote(r.to_port)}; open ingress is allowed "
                "only on TCP 80 or TCP 443",
                "Restrict the source to a security group or a private CIDR, or limit the "
                "rule to from_port=to_port=443 (or 80) with protocol 'tcp'.",
            )
        elif r.group is None or not _is_load_balancer_group(stack, r.group):
            yield (
                r.owner,
                f"{r.label()}admits {source} on port {quote(r.from_port)} into a "
                "security group no load balancer uses (securityGroups of an "
                "aws:lb/loadBalancer:LoadBalancer)",
                "Open 80/443 to the internet only on the load balancer's security group; "
                "let other groups admit traffic from that group "
                "(referenced_security_group_id).",
            )


@rule("sg-descriptions", "Every security group and every rule has a description.")
def sg_descriptions(stack: Stack) -> Iterable[Finding]:
    """`description` set (and not Pulumi's default) on groups and every rule."""
    for group in stack.of(SECURITY_GROUP):
        description = group.props.get("description")
        if not present(description) or description == "Managed by Pulumi":
            yield (
                group,
                f"description is {quote(description)}; expected a sentence saying what "
                "the group admits",
                "Set description= on the security group (it cannot be changed later "
                "without replacing the group).",
            )
    for r in _sg_rules(stack):
        if not present(r.description):
            yield (
                r.owner,
                f"{r.label()}{r.direction} rule has no description",
                "Set description= on every ingress/egress rule, saying who connects and why.",
            )


@rule("ec2-no-ssh", "SSM Session Manager instead of SSH: no port 22 ingress, no key pairs.")
def ec2_no_ssh(stack: Stack) -> Iterable[Finding]:
    """No ingress rule admitting TCP 22; no `keyName` on launch templates or instances."""
    for r in _sg_rules(stack):
        if r.direction == "ingress" and _covers_port(r, 22):
            yield (
                r.owner,
                f"{r.label()}admits TCP port 22 (SSH)",
                "Remove the rule; reach instances with SSM Session Manager "
                "(AmazonSSMManagedInstanceCore on the instance role).",
            )
    for res in stack.of(LAUNCH_TEMPLATE, INSTANCE):
        if present(res.props.get("keyName")) and not is_unknown(res.props.get("keyName")):
            yield (
                res,
                f"keyName is {quote(res.props.get('keyName'))}; expected not set",
                "Drop key_name; use SSM Session Manager for shell access.",
            )
