"""Network: one VPC per region with public, private and optional isolated subnets.

Subnet CIDRs come from :func:`plan_subnets`, a pure function whose layout is public API:
each tier owns a fixed block of the VPC range and each AZ a fixed slot inside it, so adding
an AZ or a tier never renumbers (and so never replaces) an existing subnet.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.checks import raise_problems
from components.endpoints import interface_endpoint_problems
from components.kms import KeyInput, as_key, key_input_problem
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


def plan_subnets(vpc_cidr: str, az_count: int, tiers: Sequence[str]) -> dict[str, list[str]]:
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


_AZ_ID_RE = re.compile(r"^[a-z]{3,6}\d+-az\d+$")


def is_availability_zone_id(zone: str) -> bool:
    """``zone`` is an AZ ID (``euw1-az1``), not an AZ name (``eu-west-1a``)."""
    return bool(_AZ_ID_RE.match(zone))


@dataclass(frozen=True)
class NetworkArgs:
    """Arguments of :class:`Network`."""

    cidr: str
    """The VPC's IPv4 CIDR block."""
    availability_zones: Sequence[str]
    """AZ names (``eu-west-1a``) or AZ IDs (``euw1-az1``), one public and one private subnet
    in each (order is stable identity). Pinned by the caller: the component never looks AZs
    up, so rendering it needs no regional API."""
    key: KeyInput
    """The region key, or the ARN of an existing KMS key (its key policy must let CloudWatch
    Logs in this region use it, as the region key's ``logs`` use does); encrypts the
    flow-log group."""
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

    def tiers(self) -> list[str]:
        """The subnet tiers this network has, in allocation order."""
        return ["public", "private"] + (["isolated"] if self.isolated_subnets else [])

    def problems(self) -> list[str]:
        """Every problem with these arguments, each naming its field."""
        problems = []
        key_problem = key_input_problem(self.key, "key")
        if key_problem:
            problems.append(key_problem)
        if self.nat not in NAT_STRATEGIES:
            problems.append(f"nat: {self.nat!r} is not one of {list(NAT_STRATEGIES)}")
        problems += [
            f"interface_endpoints: {problem}"
            for problem in interface_endpoint_problems(self.interface_endpoints)
        ]
        if len(set(self.availability_zones)) != len(self.availability_zones):
            problems.append(f"availability_zones: duplicates in {list(self.availability_zones)}")
        if not self.availability_zones:
            problems.append("availability_zones: at least one AZ is needed")
        if self.flow_log_retention_days not in LOG_RETENTION_DAYS:
            problems.append(
                f"flow_log_retention_days: {self.flow_log_retention_days} is not a retention "
                f"CloudWatch Logs accepts (use one of {', '.join(map(str, LOG_RETENTION_DAYS))})"
            )
        try:
            plan_subnets(self.cidr, max(1, len(self.availability_zones)), self.tiers())
        except ValueError as exc:
            problems.append(f"cidr: {exc}")
        return problems


#: What each subnet needs before a workload placed in it can reach anything, by tier and AZ:
#: its route table association and the routes of that table (see ``Network.subnet_ids``).
Routing = dict[str, list[list[pulumi.Resource]]]


class Network(pulumi.ComponentResource):
    """A VPC with subnets per tier and AZ, routing, NAT, endpoints and flow logs.

    Built in steps, each registering one part, in this order: the VPC, its default security
    group, the subnets, the internet gateway and public routes, the NAT gateways, the private
    and isolated routes, the gateway and interface endpoints, the flow logs; then the subnet
    ids that carry each subnet's routing.
    """

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        raise_problems(f"Network {name!r}", args.problems())
        key = as_key(args.key, "key")
        layout = plan_subnets(args.cidr, len(args.availability_zones), args.tiers())

        super().__init__("mlops:network:Network", name, None, opts)
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        self._region = aws.get_region_output(opts=pulumi.InvokeOptions(parent=self)).region
        self._identity = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        self._partition = aws.get_partition_output(opts=pulumi.InvokeOptions(parent=self)).partition
        self.key = key
        self.cidr = args.cidr
        self.availability_zones = list(args.availability_zones)

        self.vpc = self._vpc()
        self.default_security_group = self._default_security_group()
        self.subnets = self._subnets(layout)
        routing: Routing = {tier: [[] for _ in subnets] for tier, subnets in self.subnets.items()}
        self._internet_gateway(routing)
        self._nat()
        self._private_routes(routing)
        self._isolated_routes(routing)
        self._gateway_endpoints()
        self._interface_endpoints()
        self._flow_logs()

        self.vpc_id = self.vpc.id
        self.subnet_ids = self._routable_subnet_ids(routing)
        self.register_outputs(
            {"vpc_id": self.vpc.id, "subnet_ids": self.subnet_ids, "cidr": args.cidr}
        )

    def _tags(self, purpose: str, **extra: str) -> dict[str, str]:
        return {"Name": f"{self._name}-{purpose}", **self._args.tags, **extra}

    # The VPC and its subnets ------------------------------------------------------------------

    def _vpc(self) -> aws.ec2.Vpc:
        return aws.ec2.Vpc(
            f"{self._name}-vpc",
            cidr_block=self._args.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=self._tags("vpc"),
            opts=self._child,
        )

    def _default_security_group(self) -> aws.ec2.DefaultSecurityGroup:
        # Adopt the default security group and strip every rule from it.
        return aws.ec2.DefaultSecurityGroup(
            f"{self._name}-default-sg",
            vpc_id=self.vpc.id,
            ingress=[],
            egress=[],
            tags=self._tags("default-sg"),
            opts=self._child,
        )

    def _subnets(self, layout: Mapping[str, Sequence[str]]) -> dict[str, list[aws.ec2.Subnet]]:
        subnets: dict[str, list[aws.ec2.Subnet]] = {}
        for tier, cidrs in layout.items():
            subnets[tier] = [
                aws.ec2.Subnet(
                    f"{self._name}-{tier}-{i}",
                    vpc_id=self.vpc.id,
                    cidr_block=cidr,
                    # An AZ ID (euw1-az1) names the same zone in every account; a name
                    # (eu-west-1a) is the account's own mapping (AZ IDs, https://docs.aws.
                    # amazon.com/global-infrastructure/latest/regions/az-ids.html).
                    availability_zone=None if is_availability_zone_id(az) else az,
                    availability_zone_id=az if is_availability_zone_id(az) else None,
                    map_public_ip_on_launch=False,
                    tags=self._tags(f"{tier}-{i}", tier=tier),
                    opts=self._child,
                )
                for i, (cidr, az) in enumerate(
                    zip(cidrs, self._args.availability_zones, strict=False)
                )
            ]
        return subnets

    # Routing ----------------------------------------------------------------------------------

    def _internet_gateway(self, routing: Routing) -> None:
        """The internet gateway and the public route table every public subnet uses."""
        name = self._name
        self.internet_gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=self.vpc.id, tags=self._tags("igw"), opts=self._child
        )
        self.public_route_table = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=self.vpc.id, tags=self._tags("public-rt"), opts=self._child
        )
        self.public_default_route = aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=self.public_route_table.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=self.internet_gateway.id,
            opts=self._child,
        )
        for i, subnet in enumerate(self.subnets["public"]):
            association = aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}",
                subnet_id=subnet.id,
                route_table_id=self.public_route_table.id,
                opts=self._child,
            )
            routing["public"][i] += [self.internet_gateway, self.public_default_route, association]

    def _nat(self) -> None:
        """NAT gateways (and their addresses) in the public subnets, as the strategy says."""
        args = self._args
        nat_count = {"none": 0, "single": 1, "per_az": len(args.availability_zones)}[args.nat]
        self.nat_eips: list[aws.ec2.Eip] = []
        self.nat_gateways: list[aws.ec2.NatGateway] = []
        for i in range(nat_count):
            eip = aws.ec2.Eip(
                f"{self._name}-nat-{i}", domain="vpc", tags=self._tags(f"nat-{i}"), opts=self._child
            )
            nat = aws.ec2.NatGateway(
                f"{self._name}-nat-{i}",
                allocation_id=eip.allocation_id,
                subnet_id=self.subnets["public"][i].id,
                connectivity_type="public",
                tags=self._tags(f"nat-{i}"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.internet_gateway]),
            )
            self.nat_eips.append(eip)
            self.nat_gateways.append(nat)

    def _private_routes(self, routing: Routing) -> None:
        # One private route table per AZ whatever the NAT strategy, so changing the strategy
        # changes routes, never tables or associations.
        name, child = self._name, self._child
        self.private_route_tables: list[aws.ec2.RouteTable] = []
        for i, subnet in enumerate(self.subnets["private"]):
            table = aws.ec2.RouteTable(
                f"{name}-private-rt-{i}",
                vpc_id=self.vpc.id,
                tags=self._tags(f"private-rt-{i}"),
                opts=child,
            )
            routing["private"][i].append(
                aws.ec2.RouteTableAssociation(
                    f"{name}-private-{i}",
                    subnet_id=subnet.id,
                    route_table_id=table.id,
                    opts=child,
                )
            )
            if self.nat_gateways:
                nat = self.nat_gateways[i if self._args.nat == "per_az" else 0]
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

    def _isolated_routes(self, routing: Routing) -> None:
        """One route table with no route at all for the isolated subnets, when they exist."""
        self.isolated_route_table: aws.ec2.RouteTable | None = None
        if not self._args.isolated_subnets:
            return
        name = self._name
        self.isolated_route_table = aws.ec2.RouteTable(
            f"{name}-isolated-rt",
            vpc_id=self.vpc.id,
            tags=self._tags("isolated-rt"),
            opts=self._child,
        )
        for i, subnet in enumerate(self.subnets["isolated"]):
            routing["isolated"][i].append(
                aws.ec2.RouteTableAssociation(
                    f"{name}-isolated-{i}",
                    subnet_id=subnet.id,
                    route_table_id=self.isolated_route_table.id,
                    opts=self._child,
                )
            )

    # Endpoints --------------------------------------------------------------------------------

    def _gateway_endpoints(self) -> None:
        # Gateway endpoints keep S3 and DynamoDB traffic off the NAT and the internet.
        inner_tables = [t.id for t in self.private_route_tables]
        if self.isolated_route_table is not None:
            inner_tables.append(self.isolated_route_table.id)
        self.gateway_endpoints: dict[str, aws.ec2.VpcEndpoint] = {}
        for service in ("s3", "dynamodb"):
            self.gateway_endpoints[service] = aws.ec2.VpcEndpoint(
                f"{self._name}-{service}-endpoint",
                vpc_id=self.vpc.id,
                service_name=pulumi.Output.concat("com.amazonaws.", self._region, f".{service}"),
                vpc_endpoint_type="Gateway",
                route_table_ids=inner_tables,
                tags=self._tags(f"{service}-endpoint"),
                opts=self._child,
            )

    def _interface_endpoints(self) -> None:
        """Interface endpoints in the private subnets, behind a group allowing HTTPS from the
        VPC only, for the services named in ``interface_endpoints``."""
        args = self._args
        self.endpoint_security_group: aws.ec2.SecurityGroup | None = None
        self.interface_endpoints: dict[str, aws.ec2.VpcEndpoint] = {}
        if not args.interface_endpoints:
            return
        self.endpoint_security_group = aws.ec2.SecurityGroup(
            f"{self._name}-endpoints-sg",
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
            tags=self._tags("endpoints-sg"),
            opts=self._child,
        )
        for service in args.interface_endpoints:
            self.interface_endpoints[service] = aws.ec2.VpcEndpoint(
                f"{self._name}-{service.replace('.', '-')}-endpoint",
                vpc_id=self.vpc.id,
                service_name=pulumi.Output.concat("com.amazonaws.", self._region, f".{service}"),
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[s.id for s in self.subnets["private"]],
                security_group_ids=[self.endpoint_security_group.id],
                tags=self._tags(f"{service}-endpoint"),
                opts=self._child,
            )

    # Flow logs --------------------------------------------------------------------------------

    def _flow_logs(self) -> None:
        # Flow logs (ALL traffic) into a KMS-encrypted log group, through a role that may
        # write to that group only.
        self.flow_log_group = aws.cloudwatch.LogGroup(
            f"{self._name}-flow-logs",
            retention_in_days=self._args.flow_log_retention_days,
            kms_key_id=self.key.arn,
            tags=self._tags("flow-logs"),
            opts=self._child,
        )
        self.flow_log_role = self._flow_log_role()
        self.flow_log_policy = self._flow_log_policy()
        self.flow_log = aws.ec2.FlowLog(
            f"{self._name}-flow-log",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=self.flow_log_group.arn,
            iam_role_arn=self.flow_log_role.arn,
            max_aggregation_interval=60,
            tags=self._tags("flow-log"),
            # Delivery starts at once: the role must already be allowed to write.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.flow_log_policy]),
        )

    def _flow_log_role(self) -> aws.iam.Role:
        """The role VPC flow logs assume, for this account's flow logs only."""
        account = self._identity.account_id
        flow_log_source_arn = pulumi.Output.format(
            "arn:{0}:ec2:{1}:{2}:vpc-flow-log/*", self._partition, self._region, account
        )
        return aws.iam.Role(
            f"{self._name}-flow-logs",
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
                                "StringEquals": {"aws:SourceAccount": account},
                                "ArnLike": {"aws:SourceArn": flow_log_source_arn},
                            },
                        }
                    ],
                }
            ),
            tags=self._tags("flow-logs"),
            opts=self._child,
        )

    def _flow_log_policy(self) -> aws.iam.RolePolicy:
        """The flow-log role's one policy: write to its log group's streams."""
        group_arn = self.flow_log_group.arn
        return aws.iam.RolePolicy(
            f"{self._name}-flow-logs",
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
                                group_arn,
                                pulumi.Output.concat(group_arn, ":log-stream:*"),
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
            opts=self._child,
        )

    # Subnet ids -------------------------------------------------------------------------------

    def _routable_subnet_ids(self, routing: Routing) -> dict[str, list[pulumi.Output[str]]]:
        """Subnet ids by tier, each resolved only once the subnet is routed.

        Its route table association and routes (public: the internet gateway and its default
        route; private: the NAT route) and, for private and isolated subnets, the VPC
        endpoints. A resource given these ids depends on all of that, so it is created after
        it (an internet-facing load balancer fails with "VPC ... has no internet gateway"
        otherwise) and deleted before it (the gateway cannot be detached while public
        addresses remain mapped). ``self.subnets`` keeps the Subnet resources themselves.
        """
        # Private and isolated subnets reach AWS services through the endpoints.
        endpoints = [*self.gateway_endpoints.values(), *self.interface_endpoints.values()]
        for tier in ("private", "isolated"):
            for needs in routing.get(tier, []):
                needs += endpoints
        return {
            tier: [routable_subnet_id(subnet, routing[tier][i]) for i, subnet in enumerate(subnets)]
            for tier, subnets in self.subnets.items()
        }


def routable_subnet_id(subnet: aws.ec2.Subnet, needs: list[pulumi.Resource]) -> pulumi.Output[str]:
    """``subnet``'s id as an Output that also depends on ``needs`` (its routing)."""
    return pulumi.Output.all(subnet.id, *[r.urn for r in needs]).apply(lambda v: v[0])


__all__ = [
    "Network",
    "NetworkArgs",
    "plan_subnets",
    "routable_subnet_id",
    "TIER_BLOCKS",
    "AZ_SLOTS",
]
