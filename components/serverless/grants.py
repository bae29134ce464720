"""Permission helpers shared by the table and the function: the ``Grant`` callables a
caller hands the function's role, grant-purpose labels, ``kms:ViaService`` scoping of key
use, the scoped network-interface statements of a function in a VPC, and the resolution of
the key and alert topic a component is given (its own or an existing one's ARN).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

import pulumi
import pulumi_aws as aws

from components.iam import ServiceRole, Statement
from components.kms import KeyContext

T = TypeVar("T")

_PURPOSE_CLEAN_RE = re.compile(r"[^a-z0-9-]+")

#: A grant the caller gives the execution role: called with the role, returns its policy
#: (e.g. ``table.grant_write`` or ``lambda role: lake.grant_read(role, "raw")``).
Grant = Callable[[ServiceRole], aws.iam.RolePolicy]


def purpose_label(name: str, size: int = 40) -> str:
    """``name`` as a lowercase grant-purpose fragment."""
    return _PURPOSE_CLEAN_RE.sub("-", name.lower()).strip("-")[:size].strip("-") or "x"


def via_service(service: str) -> Callable[[KeyContext], str]:
    """The ``kms:ViaService`` value of ``service`` in the key's region."""

    def value(ctx: KeyContext) -> str:
        suffix = "amazonaws.com.cn" if ctx.partition == "aws-cn" else "amazonaws.com"
        return f"{service}.{ctx.region}.{suffix}"

    return value


def eni_statements(
    arn_prefix: pulumi.Input[str],
    subnet_ids: Sequence[pulumi.Input[str]],
    security_group_id: pulumi.Input[str],
) -> list[Statement]:
    """What Lambda needs to manage the function's network interfaces in a VPC.

    ``arn_prefix`` is ``arn:<partition>:ec2:<region>:<account>``. Creating an interface is
    allowed only in the given subnets with the function's security group; deleting and
    (un)assigning private IPs only on network interfaces of this account and region.
    ``ec2:DescribeNetworkInterfaces`` and ``ec2:DescribeSubnets`` support no resource-level
    permissions and are allow-listed for ``"Resource": "*"``. These are the EC2 actions of
    AWS's managed policy AWSLambdaVPCAccessExecutionRole (v3: CreateNetworkInterface,
    DescribeNetworkInterfaces, DescribeSubnets, DeleteNetworkInterface, Assign/Unassign
    PrivateIpAddresses; https://docs.aws.amazon.com/aws-managed-policy/latest/reference/
    AWSLambdaVPCAccessExecutionRole.html), here scoped to the function's subnets, group and
    network interfaces wherever EC2 allows it.
    """
    interfaces = pulumi.Output.concat(arn_prefix, ":network-interface/*")
    return [
        Statement(
            sid="CreateFunctionNetworkInterfaces",
            actions=("ec2:CreateNetworkInterface",),
            resources=[interfaces]
            + [pulumi.Output.concat(arn_prefix, ":subnet/", s) for s in subnet_ids]
            + [pulumi.Output.concat(arn_prefix, ":security-group/", security_group_id)],
        ),
        Statement(
            sid="ManageFunctionNetworkInterfaces",
            actions=(
                "ec2:AssignPrivateIpAddresses",
                "ec2:DeleteNetworkInterface",
                "ec2:UnassignPrivateIpAddresses",
            ),
            resources=[interfaces],
        ),
        Statement(
            sid="DescribeNetworkInterfacesAndSubnets",
            actions=("ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"),
            resources=["*"],
        ),
    ]
