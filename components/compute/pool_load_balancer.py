"""The network load balancer in front of an instance pool: one entry point for Jupyter.

Owns :class:`PoolLoadBalancer` (what a pool asks for), the pure checks the stack configuration
shares (:func:`allowed_cidr_problem`, the AWS name prefixes) and :class:`PoolEntryPoint`,
which registers the load balancer, its security group and rules, target groups and listeners
as children of the pool.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

#: Jupyter's port; SSH (22) is forwarded only when asked for explicitly.
JUPYTER_PORT = 8888
SSH_PORT = 22
#: Name prefix of a pool's network load balancer (AWS appends a unique suffix; at most 6
#: characters, as AWS allows for load balancer and target group name prefixes).
NLB_NAME_PREFIX = "pool-"


def target_group_name_prefix(port: int) -> str:
    """Name prefix of a pool load balancer's target group for ``port`` (``8888-``): at most 6
    characters, AWS appends a unique suffix."""
    return f"{port}-"


@dataclass(frozen=True)
class PoolLoadBalancer:
    """A network load balancer in front of the pool: one entry point for Jupyter (and, only
    when asked, SSH), reachable from ``allowed_cidrs`` only.

    Its security group admits the forwarded ports from those CIDRs; the instances admit them
    from the load balancer's group only. Connections from one client address stick to one
    instance (source-IP stickiness), so a browser session stays on its Jupyter server. The
    Auto Scaling group uses the load balancer's health checks: the instances must serve the
    ports (an image or startup scripts that run Jupyter), or they are replaced. AWS names the
    load balancer and its target groups from short prefixes (``pool-``, ``8888-``): their names
    end at 32 characters, which a pool's name with Pulumi's suffix would exceed.
    """

    allowed_cidrs: Sequence[str]
    """IPv4 CIDR blocks that may connect (office or VPN ranges); never ``0.0.0.0/0``."""

    internet_facing: bool = False
    """Default: internal, reachable from the VPC and networks routed to it. When true, in
    ``public_subnet_ids`` with public addresses (the instances stay private)."""

    public_subnet_ids: Sequence[pulumi.Input[str]] = ()
    """Public subnets (one per AZ) for an internet-facing load balancer. Default: none; an
    internal load balancer uses the pool's private subnets."""

    ssh: bool = False
    """Default: Jupyter only. When true, TCP 22 is forwarded too. SSH conflicts with the
    platform's SSM-instead-of-SSH rule (``ec2-no-ssh``); prefer Session Manager."""

    jupyter_port: int = JUPYTER_PORT
    """Port Jupyter listens on, on the load balancer and the instances. Default: 8888."""

    access_logs_bucket: pulumi.Input[str] | None = None
    """Default: no access logs. When given, the name of a bucket that accepts load balancer
    log delivery. A network load balancer logs TLS listeners only, so a TCP-only one writes
    nothing there."""

    access_logs_bucket_policy: pulumi.Resource | None = None
    """Default: nothing to wait for (the bucket's policy predates this program). With
    ``access_logs_bucket``, the resource that grants log delivery to it (its
    ``aws.s3.BucketPolicy``) when the same program creates it: the load balancer waits for it,
    because AWS checks the bucket when access logs are enabled."""

    @property
    def ports(self) -> tuple[int, ...]:
        """The forwarded TCP ports."""
        return (self.jupyter_port,) + ((SSH_PORT,) if self.ssh else ())

    def problems(self, key: str) -> list[str]:
        """Every problem, each prefixed with ``key``."""
        found = []
        cidrs = self.allowed_cidrs
        if isinstance(cidrs, (str, bytes)) or not isinstance(cidrs, Sequence) or not cidrs:
            found.append(
                f"{key}.allowed_cidrs: give the IPv4 CIDR blocks that may connect, such as "
                "['10.0.0.0/8']"
            )
        else:
            for index, cidr in enumerate(cidrs):
                problem = allowed_cidr_problem(cidr)
                if problem:
                    found.append(f"{key}.allowed_cidrs[{index}]: {problem}")
            if len(set(cidrs)) != len(cidrs):
                found.append(f"{key}.allowed_cidrs: lists a block more than once")
        port = self.jupyter_port
        if isinstance(port, bool) or not isinstance(port, int) or not 1024 <= port <= 65535:
            found.append(f"{key}.jupyter_port: {port!r} must be a port from 1024 to 65535")
        if self.internet_facing and len(self.public_subnet_ids) < 2:
            found.append(
                f"{key}.public_subnet_ids: an internet-facing load balancer needs public "
                "subnets in at least 2 AZs"
            )
        if self.access_logs_bucket_policy is not None and self.access_logs_bucket is None:
            found.append(
                f"{key}.access_logs_bucket_policy: only with access_logs_bucket (the policy "
                "the load balancer waits for before it enables access logs)"
            )
        if not self.internet_facing and self.public_subnet_ids:
            found.append(
                f"{key}.public_subnet_ids: only for an internet-facing load balancer; an "
                "internal one uses the pool's subnets"
            )
        return found


def allowed_cidr_problem(value: object) -> str | None:
    """Why ``value`` cannot be an allowed source block (invalid, or the whole internet)."""
    try:
        network = ipaddress.IPv4Network(str(value), strict=True)
    except ValueError as error:
        return f"{value!r} is not an IPv4 CIDR block ({error}); write it like 10.0.0.0/8"
    if network.prefixlen == 0:
        return f"{value!r} admits the whole internet; list the networks that need access"
    return None


class PoolEntryPoint:
    """A pool's network load balancer: security group and rules, the load balancer, one
    target group and listener per forwarded port.

    Not a component of its own: every resource is registered as a child of ``parent`` (the
    pool), so the pool's resource tree, logical names and parents are what they always were.
    """

    def __init__(
        self,
        name: str,
        spec: PoolLoadBalancer,
        *,
        vpc_id: pulumi.Input[str],
        subnet_ids: Sequence[pulumi.Input[str]],
        instances_security_group: aws.ec2.SecurityGroup,
        protect: bool,
        tags: Callable[[str], dict[str, str]],
        parent: pulumi.Resource,
    ) -> None:
        self._name, self._tags = name, tags
        self._child = pulumi.ResourceOptions(parent=parent)
        self._security_group(spec, vpc_id, instances_security_group)
        self._balancer(spec, subnet_ids, protect)
        self.target_groups: dict[int, aws.lb.TargetGroup] = {}
        for port in spec.ports:
            self.target_groups[port] = self._target(port, vpc_id)

    def _security_group(
        self, spec: PoolLoadBalancer, vpc_id: pulumi.Input[str], instances: aws.ec2.SecurityGroup
    ) -> None:
        """NLB security group admitting the ports from the allowed CIDRs only; the instances
        admit them (and their health checks) from that group only."""
        name, child = self._name, self._child
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-lb-sg",
            vpc_id=vpc_id,
            description=(
                f"Load balancer of pool {name}: ports {', '.join(map(str, spec.ports))} from the "
                "allowed networks only"
            ),
            tags=self._tags("lb-sg"),
            opts=child,
        )
        lb_sg = self.security_group
        for port in spec.ports:
            for index, cidr in enumerate(spec.allowed_cidrs):
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-lb-{port}-in-{index}",
                    security_group_id=lb_sg.id,
                    cidr_ipv4=cidr,
                    description=f"Port {port} from allowed network {cidr}",
                    ip_protocol="tcp",
                    from_port=port,
                    to_port=port,
                    opts=child,
                )
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-lb-{port}-out",
                security_group_id=lb_sg.id,
                referenced_security_group_id=instances.id,
                description=f"Port {port} to the instances of pool {name}",
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                opts=child,
            )
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-{port}-from-lb",
                security_group_id=instances.id,
                referenced_security_group_id=lb_sg.id,
                description=f"Port {port} (and its health checks) from the load balancer of the pool",
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                opts=child,
            )

    def _balancer(
        self, spec: PoolLoadBalancer, subnet_ids: Sequence[pulumi.Input[str]], protect: bool
    ) -> None:
        """The network load balancer: internal in the pool's subnets, or internet-facing in
        the public ones; cross-zone; deletion protection with ``protect``."""
        name = self._name
        policy = spec.access_logs_bucket_policy
        log_grants = [policy] if spec.access_logs_bucket is not None and policy is not None else []
        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-nlb",
            # Load balancer and target group names end at 32 characters; the pool's name
            # plus Pulumi's random suffix would not fit, so AWS names them from a prefix.
            name_prefix=NLB_NAME_PREFIX,
            load_balancer_type="network",
            internal=not spec.internet_facing,
            subnets=list(spec.public_subnet_ids) if spec.internet_facing else list(subnet_ids),
            security_groups=[self.security_group.id],
            enable_cross_zone_load_balancing=True,
            enable_deletion_protection=protect,
            access_logs=(
                aws.lb.LoadBalancerAccessLogsArgs(
                    bucket=spec.access_logs_bucket, enabled=True, prefix=name
                )
                if spec.access_logs_bucket is not None
                else None
            ),
            tags=self._tags("nlb"),
            # The bucket policy must let log delivery write before access logs are enabled:
            # AWS checks the bucket then ("Access Denied for bucket ... Please check S3bucket
            # permission", aws/aws-cdk#8113 for a network load balancer).
            opts=pulumi.ResourceOptions.merge(
                self._child, pulumi.ResourceOptions(depends_on=log_grants)
            ),
        )

    def _target(self, port: int, vpc_id: pulumi.Input[str]) -> aws.lb.TargetGroup:
        """The target group for ``port`` (TCP health checks, source-IP stickiness) and the
        listener forwarding the port to it."""
        name = self._name
        group = aws.lb.TargetGroup(
            f"{name}-tg-{port}",
            name_prefix=target_group_name_prefix(port),
            port=port,
            protocol="TCP",
            target_type="instance",
            vpc_id=vpc_id,
            deregistration_delay=30,
            stickiness=aws.lb.TargetGroupStickinessArgs(type="source_ip", enabled=True),
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                protocol="TCP",
                port="traffic-port",
                healthy_threshold=3,
                unhealthy_threshold=3,
                interval=30,
            ),
            tags=self._tags(f"tg-{port}"),
            opts=self._child,
        )
        aws.lb.Listener(
            f"{name}-listener-{port}",
            load_balancer_arn=self.load_balancer.arn,
            port=port,
            protocol="TCP",
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=group.arn)
            ],
            tags=self._tags(f"listener-{port}"),
            opts=self._child,
        )
        return group
