"""A component test's instance pool: one pool in a 2-AZ eu-west-1 network with the region
key and alert topic, rendered under the offline engine (shared by the compute tests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi

from components.compute import InstancePool, InstancePoolArgs
from components.kms import RegionKey, RegionKeyArgs
from components.monitoring import AlertTopic, AlertTopicArgs
from components.network import Network, NetworkArgs
from stacks.offline import Plan, render_components

TYPES = ["t3.large", "t3a.large"]


def render(
    extra: Callable[[InstancePool, Network, Any], None] | None = None, **fields: Any
) -> Plan:
    """One pool (in a 2-AZ network with the region key and alert topic) with ``fields``."""

    def build(opts: pulumi.ResourceOptions) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t", services=("logs", "alarms")), opts=opts)
        alerts = AlertTopic("alerts", AlertTopicArgs(key=key), opts=opts)
        network = Network(
            "n",
            NetworkArgs(
                cidr="10.0.0.0/16",
                availability_zones=["eu-west-1a", "eu-west-1b"],
                key=key,
                nat="single",
            ),
            opts=opts,
        )
        values: dict[str, Any] = {
            "vpc_id": network.vpc_id,
            "subnet_ids": network.subnet_ids["private"],
            "availability_zones": network.availability_zones,
            "key": key,
            "alerts": alerts,
            "instance_types": TYPES,
            **fields,
        }
        if callable(values.get("load_balancer")):
            values["load_balancer"] = values["load_balancer"](network)
        pool = InstancePool("pool", InstancePoolArgs(**values), opts=opts)
        if extra is not None:
            extra(pool, network, key)

    return render_components(build)
