"""The environment: one AWS provider and one :class:`RegionalPlatform` per region."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.audit import Audit, AuditArgs
from stacks import entry as global_entry
from stacks import recovery, resilience
from stacks.config import PlatformConfig
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
            # AZs are pinned in config (mlops:regions[i].availabilityZones), never looked up:
            # a lookup needs the region's API, so an outage there would block operating the
            # others, and an AZ leaving "available" would silently move every subnet.
            self.regions[region.name] = RegionalPlatform(
                region.name,
                RegionalPlatformArgs(
                    config=cfg,
                    region=region,
                    availability_zones=list(region.availability_zones),
                ),
                opts=pulumi.ResourceOptions(
                    providers={"aws": provider},
                    transformations=self._transformations(),
                ),
            )
        # Every region's key exists before any region builds the rest: replicas and
        # replication in one region are encrypted with another region's key.
        keys = {name: platform.key for name, platform in self.regions.items()}
        for platform in self.regions.values():
            platform.build(
                keys,
                entry_validation_record=(
                    None if platform.is_primary else self._entry_validation_record()
                ),
                primary=None if platform.is_primary else self.primary,
            )
        # --- data lake replication: the primary's zones <-> their twins in the secondary --
        secondary = self.regions[cfg.secondary_region]
        self.lake_replications = resilience.replicate_lakes(cfg, self.primary, secondary)
        self.lake_replication = self.lake_replications[self.primary.region]
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
                deploy_role_arns=list(cfg.iam.deploy_role_arns),
                force_destroy=cfg.ephemeral,
                protect=cfg.protect_stateful,
            ),
            opts=pulumi.ResourceOptions(parent=primary),
        )
        primary.add_widgets(audit.widgets)
        return audit

    def _entry_validation_record(self) -> pulumi.Resource | None:
        """The primary's shared ACM validation record (built first), for the others."""
        primary = self.regions.get(self.config.primary_region)
        certificate = primary.entry_certificate if primary is not None else None
        return certificate.validation_record if certificate is not None else None

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
        pulumi.export(
            "entry",
            global_entry.outputs(self.config, {name: p.entry for name, p in self.regions.items()}),
        )
        pulumi.export(
            "recovery",
            recovery.as_output(
                self.config,
                recovery.objectives(
                    self.config,
                    self.config.dns.failover_seconds if self.config.dns is not None else None,
                ),
            ),
        )


def build(cfg: PlatformConfig) -> Environment:
    """Create every resource of the environment and export its outputs."""
    env = Environment(cfg)
    env.export()
    return env
