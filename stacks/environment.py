"""The environment: one AWS provider and one :class:`RegionalPlatform` per region."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_aws as aws

from stacks.config import NAMESPACE, PlatformConfig
from stacks.regional import RegionalPlatform, RegionalPlatformArgs


def default_tags(cfg: PlatformConfig, region: str, stack: str) -> dict[str, str]:
    """Tags every resource in ``region`` carries, through the provider's default tags.

    The platform's own keys win over ``mlops:tags`` so that ``stack``/``managed-by`` (which
    the leftover sweep relies on) cannot be overridden by accident.
    """
    return {
        **cfg.tags,
        "environment": cfg.environment,
        "region": region,
        "stack": stack,
        "managed-by": "pulumi",
    }


class Environment:
    """Builds the whole stack from a validated config."""

    def __init__(self, cfg: PlatformConfig, stack: Optional[str] = None) -> None:
        self.config = cfg
        self.stack = stack or pulumi.get_stack()
        self.providers: dict[str, aws.Provider] = {}
        self.regions: dict[str, RegionalPlatform] = {}
        for region in cfg.regions:
            provider = aws.Provider(
                f"aws-{region.name}",
                region=region.name,
                default_tags=aws.ProviderDefaultTagsArgs(
                    tags=default_tags(cfg, region.name, self.stack)
                ),
                allowed_account_ids=list(cfg.allowed_account_ids) or None,
            )
            self.providers[region.name] = provider
            zones = aws.get_availability_zones(
                state="available", opts=pulumi.InvokeOptions(provider=provider)
            ).names
            if len(zones) < cfg.network.az_count:
                raise pulumi.RunError(
                    f"{NAMESPACE}:network.azCount: {cfg.network.az_count} AZs requested but "
                    f"{region.name} has only {len(zones)} available"
                )
            self.regions[region.name] = RegionalPlatform(
                region.name,
                RegionalPlatformArgs(
                    config=cfg,
                    region=region,
                    availability_zones=sorted(zones)[: cfg.network.az_count],
                ),
                opts=pulumi.ResourceOptions(providers={"aws": provider}),
            )

    @property
    def primary(self) -> RegionalPlatform:
        return self.regions[self.config.primary_region]

    def export(self) -> None:
        """Stack outputs: the primary region and, per region, what other stacks reference."""
        pulumi.export("environment", self.config.environment)
        pulumi.export("primaryRegion", self.config.primary_region)
        pulumi.export(
            "regions", {name: platform.outputs() for name, platform in self.regions.items()}
        )


def build(cfg: PlatformConfig) -> Environment:
    """Create every resource of the environment and export its outputs."""
    env = Environment(cfg)
    env.export()
    return env
