"""One region of the platform: everything that lives in that region hangs off one component.

The environment creates one :class:`RegionalPlatform` per configured region, handing it that
region's AWS provider (``providers={"aws": p}``); every child uses ``parent=self`` and so the
region's provider. The first region is the primary and holds the global pieces.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pulumi

from components.buckets import Transition
from components.compute import (
    DriveReplication,
    InstancePool,
)
from components.containers import ContainerService
from components.data_lake import DataLake, DataLakeArgs
from components.jobs import (
    Jobs,
)
from components.kms import RegionKey, RegionKeyArgs
from components.monitoring import (
    AlertTopic,
    AlertTopicArgs,
    Dashboard,
    DashboardArgs,
    ExistingAlertTopic,
    Widget,
    network_widgets,
)
from components.network import Network, NetworkArgs
from components.serverless import (
    LambdaService,
    Table,
    TableArgs,
)
from components.training import ContinuousTraining, ModelRegistry
from stacks import entry as global_entry
from stacks import resilience, standby
from stacks import training as continuous
from stacks.config import PlatformConfig, RegionConfig
from stacks.regional_args import (  # noqa: F401  (default_tags: re-exported)
    container_service_args,
    default_tags,
    ingest_service_args,
    instance_pool_args,
    jobs_args,
)
from stacks.standby import StandbyInventory


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
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlops:stacks:RegionalPlatform", name, None, opts)
        self._name = name
        cfg = args.config
        self.region = args.region.name
        self.is_primary = args.is_primary
        prefix = f"mlops-{cfg.environment}"
        # --- dashboard: capabilities register widget sources; the environment builds it last
        self.dashboard_name = f"{prefix}-{self.region}"
        self.dashboard: Dashboard | None = None
        self._widget_sources: list[Callable[[], Sequence[Widget]]] = []
        # --- audit: the primary region's key encrypts the environment's one trail --------
        self.trail_name: str | None = f"{prefix}-audit" if args.is_primary else None

        self.key = RegionKey(
            f"{name}-kms",
            RegionKeyArgs(
                alias=f"{prefix}-{self.region}",
                services=("logs", "alarms") + (("cloudtrail",) if args.is_primary else ()),
                cloudtrail_trail_name=self.trail_name,
                deletion_window_in_days=7 if cfg.ephemeral else 30,
                protect=cfg.protect_stateful,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._args = args

    def build(
        self,
        region_keys: Mapping[str, RegionKey],
        entry_validation_record: pulumi.Resource | None = None,
        primary: RegionalPlatform | None = None,
    ) -> None:
        """Create everything but the key, once every region's key exists.

        The environment creates every region's platform (and so its key) first, then builds
        each: what one region creates may need another region's key (replicas of the global
        tables, EFS replication, the lake's replication both ways). ``region_keys``: every
        region's key by region name; ``entry_validation_record``: the primary's ACM
        validation record (``mlops:dns``), none in the primary (it creates the record);
        ``primary``: the primary region's platform, already built (None in the primary):
        the global tables are its tables, and this region uses their local replicas.
        """
        args = self._args
        cfg = args.config
        name = self._name
        self.region_keys = dict(region_keys)
        # --- warm standby: what failover switches in this region (stacks/standby.py); each
        # capability adds its entries, and the SSM parameters are written last.
        self.standby = StandbyInventory(cfg.environment, self.region)
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
        # --- alerting: a persistent topic (mlops:alerts.topicArns) or one of this stack ---
        persistent = cfg.alerts.topic_arn(self.region)
        self.alerts: AlertTopic | ExistingAlertTopic = (
            ExistingAlertTopic(persistent, field_name=f"mlops:alerts.topicArns.{self.region}")
            if persistent is not None
            else AlertTopic(
                f"{name}-alerts",
                AlertTopicArgs(key=self.key, emails=list(cfg.alerts.emails)),
                opts=pulumi.ResourceOptions(parent=self),
            )
        )
        rebuild_warning = cfg.alerts.rebuild_warning(self.region, cfg.ephemeral)
        if rebuild_warning:
            pulumi.log.warn(rebuild_warning, resource=self)
        self.add_widgets(self.alerts.widgets)
        self.add_widgets(
            lambda: network_widgets(
                self.network.flow_log_group.name, [n.id for n in self.network.nat_gateways]
            )
        )
        # --- data lake ------------------------------------------------------------------
        lake = cfg.data_lake
        self.data_lake = DataLake(
            f"{name}-lake",
            DataLakeArgs(
                key=self.key,
                zones=lake.zones,
                noncurrent_version_expiration_days=lake.noncurrent_version_expiration_days,
                access_log_retention_days=lake.access_log_retention_days,
                transitions={
                    zone: tuple(Transition(t.days, t.storage_class) for t in items)
                    for zone, items in lake.transitions.items()
                },
                force_destroy=cfg.ephemeral,
                protect=cfg.protect_stateful,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.standby.add_buckets(self.data_lake.bucket_names())
        # --- continuous training: the model registry (the loop follows the jobs) ---------
        # One global table in the primary, a replica in every other region (resilience.py).
        replica_keys, registry_of = (
            resilience.global_table_replicas(
                self.region,
                self.region_keys,
                primary.model_registry if primary is not None else None,
                args.is_primary,
            )
            if cfg.training.enabled
            else ({}, None)
        )
        self.model_registry: ModelRegistry | None = continuous.model_registry(
            name, cfg, self.key, parent=self, replica_keys=replica_keys, replica_of=registry_of
        )
        if self.model_registry is not None:
            self.standby.add_table(self.model_registry.name)
        # --- containers: the web service behind a load balancer -------------------------
        self.service: ContainerService | None = None
        # --- global entry (mlops:dns): the certificate the HTTPS listener waits for -----
        self.entry_certificate = global_entry.certificate(
            name,
            cfg,
            is_primary=args.is_primary,
            primary_validation_record=entry_validation_record,
            parent=self,
        )
        if cfg.containers is not None and cfg.containers.enabled:
            self.service = ContainerService(
                f"{name}-web",
                container_service_args(
                    cfg,
                    cfg.containers,
                    self.region,
                    self.key,
                    self.alerts,
                    self.network,
                    access_log_bucket=self.data_lake.log_bucket_name,
                    certificate_arn=(
                        self.entry_certificate.certificate_arn
                        if self.entry_certificate is not None
                        else None
                    ),
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            # The lake's access-log bucket only accepts the sources it is told about.
            if self.service.log_bucket is not None:
                self.data_lake.accept_access_logs(
                    self.service.log_bucket.arn, self.service.access_log_prefix
                )
            self.add_widgets(self.service.widgets)
        # --- global entry: health check, its alarm and this region's record -------------
        self.entry = global_entry.regional_entry(name, cfg, self.region, self.service, parent=self)
        self.firewall = global_entry.firewall(name, cfg, self.service, self.key, parent=self)
        if self.firewall is not None:
            self.add_widgets(self.firewall.widgets)
        # --- compute: instance pools in the primary, warm standbys in the secondary -------
        self.pools: dict[str, InstancePool] = {}
        if cfg.compute.enabled:
            self._compute(primary)
        # --- serverless: the ingest Lambda, raw zone (upstream) -> records table ----------
        self.table: Table | None = None
        self.ingest: LambdaService | None = None
        if cfg.ingest.enabled:
            records_keys, records_of = resilience.global_table_replicas(
                self.region, self.region_keys, primary.table if primary else None, args.is_primary
            )
            self.table = Table(
                f"{name}-records",
                TableArgs(
                    key=self.key,
                    hash_key="id",
                    deletion_protection=cfg.protect_stateful,
                    protect=cfg.protect_stateful,
                    replica_keys=records_keys,
                    replica_of=records_of,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.standby.add_table(self.table.name)
            self.ingest = LambdaService(
                f"{name}-ingest",
                ingest_service_args(
                    cfg, self.key, self.alerts, self.network, self.data_lake, self.table
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.add_widgets(self.ingest.widgets)
        # --- jobs: batch jobs and their runs (AWS Batch on Fargate) ----------------------
        # Definitions, queue, roles and FAILED alerts exist in every region: they cost
        # nothing while idle, and a standby region can take runs (submitted by hand) at once,
        # on its replica of the lake. Schedules and object triggers exist in every region too
        # but are ENABLED only in the active region (mlops:resilience.activeRegion at first
        # deploy, then `python -m stacks failover`), so no run is started twice (replication
        # would also re-trigger the standby's raw zone). Airflow stays in the primary.
        is_active = self.region == cfg.active_region
        self.jobs = Jobs(
            f"{name}-jobs",
            jobs_args(
                cfg,
                self.key,
                self.alerts,
                self.network,
                self.data_lake,
                args.is_primary,
                is_active=is_active,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.add_widgets(self.jobs.widgets)
        standby.record_jobs(self.standby, self.jobs)
        # --- continuous training: drift check -> alarm -> training -> registry -> serving
        self.training: ContinuousTraining | None = None
        if self.model_registry is not None:
            self.training = continuous.continuous_training(
                name,
                cfg,
                registry=self.model_registry,
                lake=self.data_lake,
                jobs=self.jobs,
                vpc_id=self.network.vpc_id,
                private_subnet_ids=self.network.subnet_ids["private"],
                is_active=is_active,
                parent=self,
            )
            continuous.grant_serving(
                cfg, self.training, self.jobs, self.service.task_role if self.service else None
            )
            self.add_widgets(self.training.widgets)
        standby.record_training(self.standby, self.training)

        # --- warm standby: keep last, once every capability has added its entries -------
        self.failover_parameters = standby.failover_parameters(
            name, self.standby, cfg.active_region, parent=self
        )
        self.register_outputs(
            {"vpc_id": self.network.vpc_id, "subnet_ids": self.network.subnet_ids}
        )

    # --- compute --------------------------------------------------------------------------
    def _compute(self, primary: RegionalPlatform | None) -> None:
        """The pools of ``mlops:compute``: active in the primary region; with
        ``mlops:resilience.standbyPools``, also in the secondary as warm standbys at zero
        capacity (min and desired 0, no schedule actions) mounting the replica of the primary
        pool's drive (EFS replication, encrypted with the secondary's key). Users have one
        entry point at a time; ``python -m stacks failover`` scales the standby to the sizes
        recorded in the standby inventory. Other regions run no pool.

        A pool in ``mlops:resilience.promotedDrives`` (its replica made writable by a
        failover) declares no replication, and its standby mounts the promoted drive by the id
        given, the value the replication's output had, so nothing built on it is replaced."""
        cfg = self._args.config
        standbys = cfg.resilience.standby_pools
        is_standby = standbys and self.region == cfg.secondary_region and not self.is_primary
        if not (self.is_primary or is_standby):
            return
        for pool in cfg.compute.pools:
            replication = replica = None
            promoted = cfg.resilience.promoted_drives.get(pool.name)
            if pool.efs and standbys and self.is_primary and promoted is None:
                replication = DriveReplication(
                    region=cfg.secondary_region,
                    key_arn=self.region_keys[cfg.secondary_region].arn,
                )
            if pool.efs and is_standby:
                replica = promoted or _replica_of(primary, pool.name, self.region)
            built = InstancePool(
                f"{self._name}-pool-{pool.name}",
                instance_pool_args(
                    cfg,
                    pool,
                    self.key,
                    self.alerts,
                    self.network,
                    self.region,
                    standby=is_standby,
                    replication=replication,
                    replica_file_system_id=replica,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.pools[pool.name] = built
            self.add_widgets(built.widgets)
            # The sizes failover scales to: the configured ones, in both regions.
            self.standby.add_pool(
                pool.name,
                built.group.name,
                min_size=pool.min_size,
                max_size=pool.max_size,
                desired_capacity=pool.desired_capacity,
                standby=is_standby,
            )

    # --- dashboard ----------------------------------------------------------------------
    def add_widgets(self, source: Callable[[], Sequence[Widget]]) -> None:
        """Register a source of dashboard widgets (e.g. a component's ``widgets`` method);
        it is called when the dashboard is built, so it sees everything created until then."""
        if self.dashboard is not None:
            raise RuntimeError(
                f"{self.dashboard_name}: the dashboard is already built; register widget "
                "sources before Environment builds the dashboards"
            )
        self._widget_sources.append(source)

    def build_dashboard(self) -> Dashboard:
        """Create the region's dashboard from every registered source (call once, last)."""
        if self.dashboard is not None:
            raise RuntimeError(f"{self.dashboard_name}: the dashboard is already built")
        widgets = [w for source in self._widget_sources for w in source()]
        self.dashboard = Dashboard(
            f"{self._name}-dashboard",
            DashboardArgs(dashboard_name=self.dashboard_name, region=self.region, widgets=widgets),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return self.dashboard

    def outputs(self) -> dict[str, object]:
        """What other stacks may reference (exported per region)."""
        return {
            "vpcId": self.network.vpc_id,
            "vpcCidr": self.network.cidr,
            "availabilityZones": self.network.availability_zones,
            "subnetIds": dict(self.network.subnet_ids),
            "kmsKeyArn": self.key.arn,
            "alertTopicArn": self.alerts.arn,
            "dashboardName": self.dashboard_name,
            "dataLakeBuckets": self.data_lake.bucket_names(),
            "primary": self.is_primary,
            # --- compute
            "instancePools": {name: pool.outputs() for name, pool in self.pools.items()},
            # --- containers
            "webService": (
                {
                    "loadBalancerDnsName": self.service.load_balancer_dns_name,
                    "repositoryUrl": self.service.repository_url,
                }
                if self.service is not None
                else None
            ),
            # --- jobs
            "jobs": self.jobs.outputs() or None,
            "training": self.training.outputs() if self.training is not None else None,
            # --- serverless
            "ingest": (
                {
                    "functionName": self.ingest.function.name,
                    "tableName": self.table.name,
                    "deadLetterQueueUrl": self.ingest.dead_letter_queue.url,
                }
                if self.ingest is not None and self.table is not None
                else None
            ),
        }


def _replica_of(primary: RegionalPlatform | None, pool: str, region: str) -> pulumi.Output[str]:
    """The replica of the primary region's pool ``pool``'s drive (the primary builds first)."""
    found = primary.pools.get(pool) if primary is not None else None
    if found is None or found.replica_file_system_id is None:
        raise RuntimeError(
            f"{region}: the standby of pool {pool!r} mounts the replica of the primary "
            "region's pool drive; build the primary first and pass it as primary"
        )
    return found.replica_file_system_id
