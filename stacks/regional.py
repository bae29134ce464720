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
    InstancePoolArgs,
    PoolLoadBalancer,
    PoolSchedule,
    SharedFileSystem,
)
from components.containers import AutoscalingArgs, ContainerService, ContainerServiceArgs
from components.data_lake import DataLake, DataLakeArgs
from components.jobs import (
    AirflowSpec,
    JobBuild,
    Jobs,
    JobsArgs,
    JobScheduleArgs,
    JobSpec,
    LakeAccess,
    ObjectTriggerArgs,
    TriggerState,
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
    LambdaServiceArgs,
    LambdaVpcPlacement,
    ObjectCreatedTrigger,
    Table,
    TableArgs,
)
from components.training import ContinuousTraining, ModelRegistry
from stacks import entry as global_entry
from stacks import resilience, standby
from stacks import training as continuous
from stacks.config import PROJECT_ROOT, ContainersConfig, PlatformConfig, PoolConfig, RegionConfig
from stacks.standby import StandbyInventory


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
        recorded in the standby inventory. Other regions run no pool."""
        cfg = self._args.config
        standbys = cfg.resilience.standby_pools
        is_standby = standbys and self.region == cfg.secondary_region and not self.is_primary
        if not (self.is_primary or is_standby):
            return
        for pool in cfg.compute.pools:
            replication = replica = None
            if pool.efs and standbys and self.is_primary:
                replication = DriveReplication(
                    region=cfg.secondary_region,
                    key_arn=self.region_keys[cfg.secondary_region].arn,
                )
            if pool.efs and is_standby:
                replica = _replica_of(primary, pool.name, self.region)
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


# --- containers ---------------------------------------------------------------------------


def container_service_args(
    cfg: PlatformConfig,
    web: ContainersConfig,
    region: str,
    key: RegionKey,
    alerts: AlertTopic | ExistingAlertTopic,
    network: Network,
    access_log_bucket: pulumi.Input[str] | None = None,
    certificate_arn: pulumi.Input[str] | None = None,
) -> ContainerServiceArgs:
    """The region's web service from ``mlops:containers``: sizes and counts from config,
    protection and destroyability from the environment, the certificate of this region."""
    low, high = web.scaling_bounds
    build = web.image_build
    return ContainerServiceArgs(
        key=key,
        alerts=alerts,
        vpc_id=network.vpc_id,
        public_subnet_ids=network.subnet_ids["public"],
        private_subnet_ids=network.subnet_ids["private"],
        image_uri=web.image_uri,
        build_context=build.context if build else None,
        dockerfile=build.dockerfile if build else None,
        build_root=str(PROJECT_ROOT) if build else None,
        container_name="web",
        container_port=web.container_port,
        health_check_path=web.health_check_path,
        cpu=web.cpu,
        memory=web.memory,
        cpu_architecture=web.cpu_architecture,
        environment={**continuous.web_service_environment(cfg), **dict(web.environment)},
        secrets=dict(web.secrets),
        desired_count=web.desired_count,
        autoscaling=AutoscalingArgs(
            min_count=low, max_count=high, target_cpu_percent=web.target_cpu_percent
        ),
        deployment_minimum_healthy_percent=web.deployment_minimum_healthy_percent,
        deployment_maximum_percent=web.deployment_maximum_percent,
        # mlops:dns's validated certificate, else mlops:containers.certificateArns.
        certificate_arn=certificate_arn or web.certificate_arns.get(region),
        deletion_protection=cfg.protect_stateful,
        access_log_bucket=access_log_bucket,
        log_retention_days=cfg.log_retention_days,
        container_insights=web.container_insights,
        force_delete=cfg.ephemeral,
        protect=cfg.protect_stateful,
        family=f"mlops-{cfg.environment}-web",
        # Named in advance: its Container Insights log group is created before it.
        cluster_name=f"mlops-{cfg.environment}-web",
    )


# --- compute ------------------------------------------------------------------------------


def instance_pool_args(
    cfg: PlatformConfig,
    pool: PoolConfig,
    key: RegionKey,
    alerts: AlertTopic | ExistingAlertTopic,
    network: Network,
    region: str,
    *,
    standby: bool = False,
    replication: DriveReplication | None = None,
    replica_file_system_id: pulumi.Input[str] | None = None,
) -> InstancePoolArgs:
    """A pool from ``mlops:compute.pools[i]``: private subnets of every AZ, the region's key and
    alert topic, retention and protection from the environment. ``standby``: the warm
    standby of the pool (zero capacity, no schedule: its start action would scale it up);
    ``replication``: the drive's replica elsewhere; ``replica_file_system_id``: the standby
    mounts that replica instead of a drive of its own."""
    schedule = None
    if pool.schedule is not None and not standby:
        hours = pool.schedule.office_hours
        schedule = (
            PoolSchedule.office_hours(pool.schedule.timezone, hours.start, hours.stop, hours.days)
            if hours is not None
            else PoolSchedule(
                timezone=pool.schedule.timezone,
                start_cron=str(pool.schedule.start_cron),
                stop_cron=str(pool.schedule.stop_cron),
            )
        )
    balancer = None
    if pool.load_balancer is not None:
        balancer = PoolLoadBalancer(
            allowed_cidrs=list(pool.load_balancer.allowed_cidrs),
            internet_facing=pool.load_balancer.internet_facing,
            public_subnet_ids=(
                network.subnet_ids["public"] if pool.load_balancer.internet_facing else []
            ),
            ssh=pool.load_balancer.ssh,
        )
    return InstancePoolArgs(
        vpc_id=network.vpc_id,
        subnet_ids=network.subnet_ids["private"],
        availability_zones=network.availability_zones,
        key=key,
        alerts=alerts,
        instance_types=list(pool.instance_types),
        min_size=pool.min_size,
        max_size=pool.max_size,
        desired_capacity=pool.desired_capacity,
        spot=pool.spot,
        gpu=pool.gpu,
        image_id=pool.image_id,
        volume_size_gb=pool.volume_size_gb,
        key_name=pool.key_name,
        schedule=schedule,
        standby=standby,
        shared_file_system=(
            SharedFileSystem(
                automatic_backups=pool.shared_drive_backups(cfg.ephemeral),
                replication=replication,
                replica_file_system_id=replica_file_system_id,
            )
            if pool.efs
            else None
        ),
        load_balancer=balancer,
        log_retention_days=cfg.log_retention_days,
        protect=cfg.protect_stateful,
        tags={"pool": pool.name},
        launched_tags=default_tags(cfg, region, pulumi.get_stack()),
    )


def _replica_of(primary: RegionalPlatform | None, pool: str, region: str) -> pulumi.Output[str]:
    """The replica of the primary region's pool ``pool``'s drive (the primary builds first)."""
    found = primary.pools.get(pool) if primary is not None else None
    if found is None or found.replica_file_system_id is None:
        raise RuntimeError(
            f"{region}: the standby of pool {pool!r} mounts the replica of the primary "
            "region's pool drive; build the primary first and pass it as primary"
        )
    return found.replica_file_system_id


# --- serverless ---------------------------------------------------------------------------

#: The ingest function's code (handler ``handler.handler``), relative to the project root.
INGEST_SOURCE = ("services", "ingest")


def ingest_source_dir() -> str:
    """The absolute path of the ingest function's code (the plan records it relative)."""
    import pathlib

    return str(pathlib.Path(__file__).resolve().parent.parent.joinpath(*INGEST_SOURCE))


def ingest_service_args(
    cfg: PlatformConfig,
    key: RegionKey,
    alerts: AlertTopic | ExistingAlertTopic,
    network: Network,
    lake: DataLake,
    table: Table,
) -> LambdaServiceArgs:
    """The region's ingest function from ``mlops:ingest``: triggered by objects created in
    the raw zone (under ``rawPrefix``), allowed to read exactly those objects (versions
    included) and to write items to ``table``, nothing else."""
    ingest = cfg.ingest
    raw = lake.bucket("raw")
    prefix = ingest.raw_prefix
    environment: dict[str, pulumi.Input[str]] = {
        "TABLE_NAME": table.name,
        "SOURCE_BUCKET": raw.name,
        "MAX_OBJECT_BYTES": str(ingest.max_object_bytes),
        "LOG_LEVEL": ingest.log_level,
    }
    if prefix:
        environment["SOURCE_PREFIX"] = prefix
    return LambdaServiceArgs(
        source_dir=ingest_source_dir(),
        handler="handler.handler",
        function_name=f"mlops-{cfg.environment}-ingest",
        description="Ingests JSON Lines objects of the data lake's raw zone into DynamoDB",
        key=key,
        alert_topic=alerts,
        architecture=ingest.architecture,
        memory_mb=ingest.memory_mb,
        timeout_seconds=ingest.timeout_seconds,
        environment=environment,
        grants=[
            lambda role: lake.grant_read(role, "raw", prefix, versions=True),
            table.grant_write,
        ],
        log_retention_days=cfg.log_retention_days,
        reserved_concurrency=ingest.reserved_concurrency,
        maximum_retry_attempts=ingest.retry_attempts,
        maximum_event_age_seconds=ingest.max_event_age_seconds,
        tracing=ingest.tracing,
        vpc=(
            LambdaVpcPlacement(
                vpc_id=network.vpc_id,
                subnet_ids=network.subnet_ids["private"],
                availability_zones=network.availability_zones,
            )
            if ingest.in_vpc
            else None
        ),
        trigger=ObjectCreatedTrigger(bucket_name=raw.name, key_prefix=prefix),
        error_alarm_threshold=ingest.alarms.errors,
        throttle_alarm_threshold=ingest.alarms.throttles,
        alarm_period_seconds=ingest.alarms.period_seconds,
    )


# --- jobs -----------------------------------------------------------------------------------


def jobs_args(
    cfg: PlatformConfig,
    key: RegionKey,
    alerts: AlertTopic | ExistingAlertTopic,
    network: Network,
    lake: DataLake,
    is_primary: bool,
    *,
    is_active: bool = True,
) -> JobsArgs:
    """The region's :class:`JobsArgs` from ``mlops:jobs``: schedules and object triggers in
    every region, ENABLED only when ``is_active`` and switched at run time by ``failover``;
    Airflow only when ``is_primary``."""
    config = cfg.jobs
    specs = [
        JobSpec(
            name=job.name,
            image=job.image,
            build=JobBuild(job.build.context, job.build.dockerfile)
            if job.build is not None
            else None,
            command=job.command,
            vcpu=job.vcpu,
            memory_mib=job.memory_mib,
            timeout_seconds=job.timeout_seconds,
            parameters=dict(job.parameters),
            environment_variables={
                **continuous.scoring_job_environment(cfg, job.name),
                **dict(job.environment),
            },
            attempts=job.retries + 1,
            read=LakeAccess(job.read_zone, job.read_prefix) if job.read_zone else None,
            write=LakeAccess(job.write_zone, job.write_prefix) if job.write_zone else None,
            schedule=(
                JobScheduleArgs(
                    expression=job.schedule.expression,
                    timezone=job.schedule.timezone,
                    parameters=dict(job.schedule.parameters),
                    environment=dict(job.schedule.environment),
                    enabled=job.schedule.enabled,
                )
                if job.schedule is not None
                else None
            ),
            on_new_objects=(
                ObjectTriggerArgs(
                    zone="raw", prefix=f"{job.raw_prefix}/" if job.raw_prefix else None
                )
                if job.on_new_raw_data
                else None
            ),
            array_size=job.array_size,
        )
        for job in config.jobs
    ]
    airflow = config.airflow
    return JobsArgs(
        name_prefix=f"mlops-{cfg.environment}",
        key=key,
        alert_topic=alerts,
        vpc_id=network.vpc_id,
        private_subnet_ids=network.subnet_ids["private"],
        lake=lake,
        jobs=specs,
        max_vcpus=config.max_vcpus,
        triggers=TriggerState(active=is_active, switchable=True),
        # Airflow only in the primary: an MWAA environment costs money around the clock,
        # busy or not ("there is no automatic way to stop an MWAA environment when not in
        # use", only deleting it stops the cost: AWS Compute Blog, "Automating stopping and
        # starting Amazon MWAA environments to reduce cost"), so a standby copy would double
        # that cost; after a failover, runs are submitted by the switched schedules (or by
        # hand). Listing another region first moves it there.
        airflow=(
            AirflowSpec(
                environment_class=airflow.environment_class, max_workers=airflow.max_workers
            )
            if airflow.enabled and is_primary
            else None
        ),
        log_retention_days=cfg.log_retention_days,
        force_destroy=cfg.ephemeral,
        protect=cfg.protect_stateful,
        # Build contexts are relative to the project root (where `pulumi up` builds them).
        build_root=str(PROJECT_ROOT),
    )
