"""The environment: one AWS provider and one :class:`RegionalPlatform` per region."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.audit import Audit, AuditArgs
from stacks.config import NAMESPACE, PlatformConfig
from stacks.regional import RegionalPlatform, RegionalPlatformArgs, default_tags

ROLE_TYPE = "aws:iam/role:Role"


def permissions_boundary(policy_arn: str) -> pulumi.ResourceTransformation:
    """A transformation that sets ``policy_arn`` as the boundary of every IAM role.

    Whatever component creates a role, it cannot grant beyond the boundary; a role that
    already names a boundary keeps its own.
    """

    def transform(
        args: pulumi.ResourceTransformationArgs,
    ) -> pulumi.ResourceTransformationResult | None:
        if args.type_ != ROLE_TYPE or args.props.get("permissions_boundary"):
            return None
        return pulumi.ResourceTransformationResult(
            props={**args.props, "permissions_boundary": policy_arn}, opts=args.opts
        )

    return transform


class Environment:
    """Builds the whole stack from a validated config."""

    def __init__(self, cfg: PlatformConfig, stack: str | None = None) -> None:
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
                opts=pulumi.ResourceOptions(
                    providers={"aws": provider},
                    transformations=self._transformations(),
                ),
            )
        # --- data lake replication: primary zone buckets -> their twins in regions[1] ---
        secondary = self.regions[cfg.regions[1].name]
        self.lake_replication = self.primary.data_lake.replicate_to(secondary.data_lake)
        # --- audit: one multi-region trail, in the primary region (its provider) ----------
        self.audit = self._build_audit()
        # --- dashboards: keep this block last, so every capability's widgets are in -------
        for platform in self.regions.values():
            platform.build_dashboard()

    def _build_audit(self) -> Audit:
        """The environment's one CloudTrail trail: a child of the primary region's component,
        recording S3 data events for the lake buckets of every region."""
        cfg, primary = self.config, self.primary
        assert primary.trail_name is not None  # the primary's key allows this trail
        audit = Audit(
            f"{primary.region}-audit",
            AuditArgs(
                trail_name=primary.trail_name,
                key=primary.key,
                alert_topic=primary.alerts,
                log_retention_days=cfg.log_retention_days,
                data_event_bucket_arns=[
                    arn
                    for platform in self.regions.values()
                    for arn in platform.data_lake.bucket_arns().values()
                ],
                force_destroy=cfg.ephemeral,
                protect=cfg.protect_stateful,
            ),
            opts=pulumi.ResourceOptions(parent=primary),
        )
        primary.add_widgets(audit.widgets)
        return audit

    def _transformations(self) -> list[pulumi.ResourceTransformation]:
        """Applied to every resource of a region (children inherit them)."""
        boundary = self.config.iam.permissions_boundary_arn
        return [permissions_boundary(boundary)] if boundary else []

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
        pulumi.export("audit", {"region": self.config.primary_region, **self.audit.outputs()})


def build(cfg: PlatformConfig) -> Environment:
    """Create every resource of the environment and export its outputs."""
    env = Environment(cfg)
    env.export()
    return env
