"""Network: one VPC per region with public, private and optional isolated subnets.

Subnet CIDRs come from :func:`plan_subnets`, a pure function whose layout is public API:
each tier owns a fixed block of the VPC range and each AZ a fixed slot inside it, so adding
an AZ or a tier never renumbers (and so never replaces) an existing subnet.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.checks import raise_problems
from components.kms import RegionKey
from components.monitoring import LOG_RETENTION_DAYS

#: Where each tier's block sits in the VPC range: (prefix bits added, block index).
#: private: the first half; public: the third quarter; isolated: the last quarter.
TIER_BLOCKS: Mapping[str, tuple[int, int]] = {
    "private": (1, 0),
    "public": (2, 2),
    "isolated": (2, 3),
}
#: Slots per tier block; a tier can grow to this many AZs without renumbering.
AZ_SLOTS = 8
_SLOT_BITS = 3  # log2(AZ_SLOTS)
#: AWS does not allow subnets smaller than /28.
_MIN_SUBNET_PREFIX = 28

NAT_STRATEGIES = ("none", "single", "per_az")


def plan_subnets(
    vpc_cidr: str, az_count: int, tiers: Sequence[str]
) -> dict[str, list[str]]:
    """Allocate subnet CIDRs: ``{tier: [cidr for AZ 0, AZ 1, ...]}``.

    Pure and stable: the CIDR of (tier, AZ i) depends only on the VPC CIDR, the tier and i.
    """
    net = ipaddress.IPv4Network(vpc_cidr, strict=True)
    problems = []
    unknown = [t for t in tiers if t not in TIER_BLOCKS]
    if unknown:
        problems.append(f"unknown tier(s) {unknown}; known: {list(TIER_BLOCKS)}")
    if len(set(tiers)) != len(tiers):
        problems.append(f"tiers {list(tiers)} contain duplicates")
    if not 1 <= az_count <= AZ_SLOTS:
        problems.append(f"az_count {az_count} is out of range 1..{AZ_SLOTS}")
    smallest = net.prefixlen + max(b for b, _ in TIER_BLOCKS.values()) + _SLOT_BITS
    if smallest > _MIN_SUBNET_PREFIX:
        problems.append(
            f"VPC {vpc_cidr} is too small: subnets would be /{smallest}, AWS allows /28 at most"
        )
    if problems:
        raise ValueError("; ".join(problems))
    plan: dict[str, list[str]] = {}
    for tier in tiers:
        bits, index = TIER_BLOCKS[tier]
        block = list(net.subnets(prefixlen_diff=bits))[index]
        slots = list(block.subnets(prefixlen_diff=_SLOT_BITS))
        plan[tier] = [str(slots[i]) for i in range(az_count)]
    return plan


@dataclass(frozen=True)
class NetworkArgs:
    """Arguments of :class:`Network`."""

    cidr: str
    """The VPC's IPv4 CIDR block."""
    availability_zones: Sequence[str]
    """AZ names, one public and one private subnet in each (order is stable identity)."""
    key: RegionKey
    """The region's KMS key; encrypts the flow-log group."""
    nat: str = "per_az"
    """NAT strategy: ``none``, ``single`` or ``per_az``. Default: one NAT gateway per AZ."""
    isolated_subnets: bool = False
    """Default: no isolated tier. When true, one isolated subnet per AZ with no internet route."""
    interface_endpoints: Sequence[str] = ()
    """Default: none. Service short names (``ssm``, ``ecr.api``) get interface endpoints in
    the private subnets, reachable on 443 from the VPC CIDR only."""
    flow_log_retention_days: int = 30
    """Default: flow logs are kept 30 days."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: no extra tags beyond ``Name`` (provider default tags still apply)."""


class Network(pulumi.ComponentResource):
    """A VPC with subnets per tier and AZ, routing, NAT, endpoints and flow logs."""

    def __init__(
        self, name: str, args: NetworkArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        problems = []
        if args.nat not in NAT_STRATEGIES:
            problems.append(f"nat: {args.nat!r} is not one of {list(NAT_STRATEGIES)}")
        if len(set(args.availability_zones)) != len(args.availability_zones):
            problems.append(f"availability_zones: duplicates in {list(args.availability_zones)}")
        if not args.availability_zones:
            problems.append("availability_zones: at least one AZ is needed")
        if args.flow_log_retention_days not in LOG_RETENTION_DAYS:
            problems.append(
                f"flow_log_retention_days: {args.flow_log_retention_days} is not a retention "
                f"CloudWatch Logs accepts (use one of {', '.join(map(str, LOG_RETENTION_DAYS))})"
            )
        tiers = ["public", "private"] + (["isolated"] if args.isolated_subnets else [])
        try:
            layout = plan_subnets(args.cidr, max(1, len(args.availability_zones)), tiers)
        except ValueError as exc:
            problems.append(f"cidr: {exc}")
        raise_problems(f"Network {name!r}", problems)

        super().__init__("mlops:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        region = aws.get_region_output(opts=pulumi.InvokeOptions(parent=self)).region
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOptions(parent=self)).partition

        def tags(purpose: str, **extra: str) -> dict[str, str]:
            return {"Name": f"{name}-{purpose}", **args.tags, **extra}

        self.cidr = args.cidr
        self.availability_zones = list(args.availability_zones)
        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=tags("vpc"),
            opts=child,
        )
        # Adopt the default security group and strip every rule from it.
        self.default_security_group = aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=self.vpc.id,
            ingress=[],
            egress=[],
            tags=tags("default-sg"),
            opts=child,
        )

        self.subnets: dict[str, list[aws.ec2.Subnet]] = {}
        for tier, cidrs in layout.items():
            self.subnets[tier] = [
                aws.ec2.Subnet(
                    f"{name}-{tier}-{i}",
                    vpc_id=self.vpc.id,
                    cidr_block=cidr,
                    availability_zone=az,
                    map_public_ip_on_launch=False,
                    tags=tags(f"{tier}-{i}", tier=tier),
                    opts=child,
                )
                for i, (cidr, az) in enumerate(zip(cidrs, args.availability_zones))
            ]

        # What each subnet needs before a workload placed in it can reach anything: its route
        # table association and the routes of that table (see ``subnet_ids``).
        routing: dict[str, list[list[pulumi.Resource]]] = {
            tier: [[] for _ in subnets] for tier, subnets in self.subnets.items()
        }

        self.internet_gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=self.vpc.id, tags=tags("igw"), opts=child
        )
        self.public_route_table = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=self.vpc.id, tags=tags("public-rt"), opts=child
        )
        self.public_default_route = aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=self.public_route_table.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=self.internet_gateway.id,
            opts=child,
        )
        for i, subnet in enumerate(self.subnets["public"]):
            association = aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}",
                subnet_id=subnet.id,
                route_table_id=self.public_route_table.id,
                opts=child,
            )
            routing["public"][i] += [self.internet_gateway, self.public_default_route, association]

        nat_count = {"none": 0, "single": 1, "per_az": len(args.availability_zones)}[args.nat]
        self.nat_eips: list[aws.ec2.Eip] = []
        self.nat_gateways: list[aws.ec2.NatGateway] = []
        for i in range(nat_count):
            eip = aws.ec2.Eip(f"{name}-nat-{i}", domain="vpc", tags=tags(f"nat-{i}"), opts=child)
            nat = aws.ec2.NatGateway(
                f"{name}-nat-{i}",
                allocation_id=eip.allocation_id,
                subnet_id=self.subnets["public"][i].id,
                connectivity_type="public",
                tags=tags(f"nat-{i}"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.internet_gateway]),
            )
            self.nat_eips.append(eip)
            self.nat_gateways.append(nat)

        # One private route table per AZ whatever the NAT strategy, so changing the strategy
        # changes routes, never tables or associations.
        self.private_route_tables: list[aws.ec2.RouteTable] = []
        for i, subnet in enumerate(self.subnets["private"]):
            table = aws.ec2.RouteTable(
                f"{name}-private-rt-{i}", vpc_id=self.vpc.id, tags=tags(f"private-rt-{i}"),
                opts=child,
            )
            routing["private"][i].append(
                aws.ec2.RouteTableAssociation(
                    f"{name}-private-{i}", subnet_id=subnet.id, route_table_id=table.id,
                    opts=child,
                )
            )
            if self.nat_gateways:
                nat = self.nat_gateways[i if args.nat == "per_az" else 0]
                routing["private"][i] += [
                    nat,
                    aws.ec2.Route(
                        f"{name}-private-default-{i}",
                        route_table_id=table.id,
                        destination_cidr_block="0.0.0.0/0",
                        nat_gateway_id=nat.id,
                        opts=child,
                    ),
                ]
            self.private_route_tables.append(table)

        self.isolated_route_table: Optional[aws.ec2.RouteTable] = None
        if args.isolated_subnets:
            self.isolated_route_table = aws.ec2.RouteTable(
                f"{name}-isolated-rt", vpc_id=self.vpc.id, tags=tags("isolated-rt"), opts=child
            )
            for i, subnet in enumerate(self.subnets["isolated"]):
                routing["isolated"][i].append(
                    aws.ec2.RouteTableAssociation(
                        f"{name}-isolated-{i}",
                        subnet_id=subnet.id,
                        route_table_id=self.isolated_route_table.id,
                        opts=child,
                    )
                )

        # Gateway endpoints keep S3 and DynamoDB traffic off the NAT and the internet.
        inner_tables = [t.id for t in self.private_route_tables]
        if self.isolated_route_table is not None:
            inner_tables.append(self.isolated_route_table.id)
        self.gateway_endpoints: dict[str, aws.ec2.VpcEndpoint] = {}
        for service in ("s3", "dynamodb"):
            self.gateway_endpoints[service] = aws.ec2.VpcEndpoint(
                f"{name}-{service}-endpoint",
                vpc_id=self.vpc.id,
                service_name=pulumi.Output.concat("com.amazonaws.", region, f".{service}"),
                vpc_endpoint_type="Gateway",
                route_table_ids=inner_tables,
                tags=tags(f"{service}-endpoint"),
                opts=child,
            )

        self.endpoint_security_group: Optional[aws.ec2.SecurityGroup] = None
        self.interface_endpoints: dict[str, aws.ec2.VpcEndpoint] = {}
        if args.interface_endpoints:
            self.endpoint_security_group = aws.ec2.SecurityGroup(
                f"{name}-endpoints-sg",
                vpc_id=self.vpc.id,
                description="Interface VPC endpoints: HTTPS from inside the VPC only",
                ingress=[
                    aws.ec2.SecurityGroupIngressArgs(
                        description="HTTPS from the VPC CIDR",
                        protocol="tcp",
                        from_port=443,
                        to_port=443,
                        cidr_blocks=[args.cidr],
                    )
                ],
                egress=[],
                tags=tags("endpoints-sg"),
                opts=child,
            )
            for service in args.interface_endpoints:
                self.interface_endpoints[service] = aws.ec2.VpcEndpoint(
                    f"{name}-{service.replace('.', '-')}-endpoint",
                    vpc_id=self.vpc.id,
                    service_name=pulumi.Output.concat("com.amazonaws.", region, f".{service}"),
                    vpc_endpoint_type="Interface",
                    private_dns_enabled=True,
                    subnet_ids=[s.id for s in self.subnets["private"]],
                    security_group_ids=[self.endpoint_security_group.id],
                    tags=tags(f"{service}-endpoint"),
                    opts=child,
                )

        # Flow logs (ALL traffic) into a KMS-encrypted log group, through a role that may
        # write to that group only.
        self.flow_log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            retention_in_days=args.flow_log_retention_days,
            kms_key_id=args.key.arn,
            tags=tags("flow-logs"),
            opts=child,
        )
        flow_log_source_arn = pulumi.Output.format(
            "arn:{0}:ec2:{1}:{2}:vpc-flow-log/*", partition, region, identity.account_id
        )
        self.flow_log_role = aws.iam.Role(
            f"{name}-flow-logs",
            description="VPC flow logs delivery to its own log group",
            assume_role_policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Condition": {
                                "StringEquals": {"aws:SourceAccount": identity.account_id},
                                "ArnLike": {"aws:SourceArn": flow_log_source_arn},
                            },
                        }
                    ],
                }
            ),
            tags=tags("flow-logs"),
            opts=child,
        )
        self.flow_log_policy = aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=self.flow_log_role.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "WriteFlowLogs",
                            "Effect": "Allow",
                            "Action": [
                                "logs:CreateLogStream",
                                "logs:DescribeLogStreams",
                                "logs:PutLogEvents",
                            ],
                            "Resource": [
                                self.flow_log_group.arn,
                                pulumi.Output.concat(self.flow_log_group.arn, ":log-stream:*"),
                            ],
                        },
                        {
                            # In AWS's documented flow-log role; the action supports no
                            # resource-level permissions (see RESOURCE_STAR_ALLOWED).
                            "Sid": "FindTheLogGroup",
                            "Effect": "Allow",
                            "Action": "logs:DescribeLogGroups",
                            "Resource": "*",
                        },
                    ],
                }
            ),
            opts=child,
        )
        self.flow_log = aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=self.flow_log_group.arn,
            iam_role_arn=self.flow_log_role.arn,
            max_aggregation_interval=60,
            tags=tags("flow-log"),
            # Delivery starts at once: the role must already be allowed to write.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.flow_log_policy]),
        )

        # Private and isolated subnets reach AWS services through the endpoints.
        endpoints = [*self.gateway_endpoints.values(), *self.interface_endpoints.values()]
        for tier in ("private", "isolated"):
            for needs in routing.get(tier, []):
                needs += endpoints

        # Subnet ids by tier, each resolved only once the subnet is routed: its route table
        # association and routes (public: the internet gateway and its default route;
        # private: the NAT route) and, for private and isolated subnets, the VPC endpoints.
        # A resource given these ids depends on all of that, so it is created after it (an
        # internet-facing load balancer fails with "VPC ... has no internet gateway"
        # otherwise) and deleted before it (the gateway cannot be detached while public
        # addresses remain mapped). ``self.subnets`` keeps the Subnet resources themselves.
        self.vpc_id = self.vpc.id
        self.subnet_ids: dict[str, list[pulumi.Output[str]]] = {
            tier: [
                routable_subnet_id(subnet, routing[tier][i]) for i, subnet in enumerate(subnets)
            ]
            for tier, subnets in self.subnets.items()
        }
        self.register_outputs(
            {"vpc_id": self.vpc.id, "subnet_ids": self.subnet_ids, "cidr": args.cidr}
        )


def routable_subnet_id(
    subnet: aws.ec2.Subnet, needs: list[pulumi.Resource]
) -> pulumi.Output[str]:
    """``subnet``'s id as an Output that also depends on ``needs`` (its routing)."""
    return pulumi.Output.all(subnet.id, *[r.urn for r in needs]).apply(lambda v: v[0])


__all__ = [
    "Network", "NetworkArgs", "plan_subnets", "routable_subnet_id", "TIER_BLOCKS", "AZ_SLOTS",
]
