"""How the regional platform turns config into component arguments: one builder per
capability (web service, instance pools, ingest function, jobs) and the tags every resource
of a region carries. :mod:`stacks.regional` builds the components from these."""

from __future__ import annotations

import pulumi

from components.compute import (
    DriveReplication,
    InstancePoolArgs,
    PoolLoadBalancer,
    PoolSchedule,
    SharedFileSystem,
)
from components.containers import AutoscalingArgs, ContainerServiceArgs
from components.data_lake import DataLake
from components.jobs import (
    AirflowSpec,
    JobBuild,
    JobsArgs,
    JobScheduleArgs,
    JobSpec,
    LakeAccess,
    ObjectTriggerArgs,
    TriggerState,
)
from components.kms import RegionKey
from components.monitoring import (
    AlertTopic,
    ExistingAlertTopic,
)
from components.network import Network
from components.serverless import (
    LambdaServiceArgs,
    LambdaVpcPlacement,
    ObjectCreatedTrigger,
    Table,
)
from stacks import training as continuous
from stacks.config import PROJECT_ROOT, ContainersConfig, PlatformConfig, PoolConfig


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
