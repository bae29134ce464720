"""One region of the platform: everything that lives in that region hangs off one component.

The environment creates one :class:`RegionalPlatform` per configured region, handing it that
region's AWS provider (``providers={"aws": p}``); every child uses ``parent=self`` and so the
region's provider. The first region is the primary and holds the global pieces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi

from components.kms import RegionKey, RegionKeyArgs
from components.monitoring import AlertTopic, AlertTopicArgs
from components.network import Network, NetworkArgs
from stacks.config import PlatformConfig, RegionConfig


@dataclass(frozen=True)
class RegionalPlatformArgs:
    """Arguments of :class:`RegionalPlatform`."""

    config: PlatformConfig
    """The validated stack configuration."""
    region: RegionConfig
    """This region's entry of ``mlops:regions``."""
    availability_zones: Sequence[str]
    """The AZs to use, already cut to ``network.azCount``."""

    @property
    def is_primary(self) -> bool:
        return self.region.name == self.config.primary_region


class RegionalPlatform(pulumi.ComponentResource):
    """Everything the platform runs in one region."""

    def __init__(
        self,
        name: str,
        args: RegionalPlatformArgs,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("mlops:stacks:RegionalPlatform", name, None, opts)
        cfg = args.config
        self.region = args.region.name
        self.is_primary = args.is_primary
        prefix = f"mlops-{cfg.environment}"

        self.key = RegionKey(
            f"{name}-kms",
            RegionKeyArgs(
                alias=f"{prefix}-{self.region}",
                services=("logs", "alarms"),
                deletion_window_in_days=7 if cfg.ephemeral else 30,
                protect=cfg.protect_stateful,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.network = Network(
            f"{name}-network",
            NetworkArgs(
                cidr=args.region.cidr,
                availability_zones=list(args.availability_zones),
                key=self.key,
                nat=cfg.network.nat,
                isolated_subnets=cfg.network.isolated_subnets,
                interface_endpoints=list(cfg.network.interface_endpoints),
                flow_log_retention_days=cfg.log_retention_days,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # --- alerting -------------------------------------------------------------------
        self.alerts = AlertTopic(
            f"{name}-alerts",
            AlertTopicArgs(key=self.key, emails=list(cfg.alerts.emails)),
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.register_outputs(
            {"vpc_id": self.network.vpc_id, "subnet_ids": self.network.subnet_ids}
        )

    def outputs(self) -> dict[str, object]:
        """What other stacks may reference (exported per region)."""
        return {
            "vpcId": self.network.vpc_id,
            "vpcCidr": self.network.cidr,
            "availabilityZones": self.network.availability_zones,
            "subnetIds": dict(self.network.subnet_ids),
            "kmsKeyArn": self.key.arn,
            "alertTopicArn": self.alerts.arn,
            "primary": self.is_primary,
        }
