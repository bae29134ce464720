"""Typed, validated stack configuration (namespace ``mlops``).

The stack files (``Pulumi.<stack>.yaml``) are the only input of the program. Everything a
user writes there is validated here, before any resource is registered, and every problem
is reported at once, each naming its key exactly as written in the file
(``mlops:regions[1].cidr``), what is wrong and what would be right.

One module per config section, each checking its keys with the rules of the component that
builds them (the components' published ``*_problem(s)`` functions, tables and limits):

- :mod:`stacks.config.network`: ``mlops:regions``, ``mlops:network``
- :mod:`stacks.config.alerts`, :mod:`stacks.config.iam`: ``mlops:alerts``, ``mlops:iam``
- :mod:`stacks.config.data_lake`: ``mlops:dataLake``
- :mod:`stacks.config.containers`: ``mlops:containers`` (the web service)
- :mod:`stacks.config.dns`: ``mlops:dns`` (the web service's global HTTPS entry)
- :mod:`stacks.config.compute`: ``mlops:compute`` (instance pools)
- :mod:`stacks.config.ingest`: ``mlops:ingest`` (the ingest Lambda)
- :mod:`stacks.config.jobs`: ``mlops:jobs`` (batch jobs, Airflow)
- :mod:`stacks.config.training`: ``mlops:training`` (continuous training)
- :mod:`stacks.config.resilience`: ``mlops:resilience`` (active region, replication, standby)
- :mod:`stacks.config.builds`: image builds from this repository (containers and jobs)
- :mod:`stacks.config.stack`: :class:`PlatformConfig`, the environment-wide keys and the
  order of the cross-key checks
- :mod:`stacks.config.loader`: stack files and the running program's config
- :mod:`stacks.config.errors`: :class:`ConfigError` and keys as written, "did you mean"
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stacks.lazy import lazy_names

if TYPE_CHECKING:
    from stacks.config.alerts import AlertsConfig
    from stacks.config.base import NAMESPACE, PRODUCTION_ENVIRONMENTS
    from stacks.config.builds import PROJECT_ROOT, ContainerBuildConfig
    from stacks.config.compute import (
        ComputeConfig,
        OfficeHoursConfig,
        PoolConfig,
        PoolLoadBalancerConfig,
        PoolScheduleConfig,
    )
    from stacks.config.containers import ContainersConfig
    from stacks.config.data_lake import DataLakeConfig, LakeTransitionConfig
    from stacks.config.dns import DnsConfig, HealthCheckConfig
    from stacks.config.errors import ConfigError, StackFileError
    from stacks.config.iam import IamConfig
    from stacks.config.ingest import IngestAlarmsConfig, IngestConfig
    from stacks.config.jobs import (
        AirflowConfig,
        JobBuildConfig,
        JobConfig,
        JobScheduleConfig,
        JobsConfig,
    )
    from stacks.config.loader import (
        available_stacks,
        current_program_config,
        load_stack_config,
        load_stack_file,
        parse_raw_config,
        stack_file_path,
    )
    from stacks.config.network import MAX_AZ_COUNT, NetworkConfig, RegionConfig, aws_region_names
    from stacks.config.resilience import LakeReplicationConfig, ResilienceConfig
    from stacks.config.stack import CLOUDWATCH_RETENTION_DAYS, PlatformConfig
    from stacks.config.training import (
        DriftConfig,
        DriftScheduleConfig,
        PromotionConfig,
        TrainingConfig,
        TrainingJobSizeConfig,
    )

# Each name is imported from its module on first use (PEP 562), so a command that needs only
# the errors or the loader (``diff``, ``cost --diff``, ``check --plan``, ``failover``) does not
# import every section's component rules, and with them Pulumi and pulumi_aws (about 1 s).
_MODULES: dict[str, str] = {
    "AlertsConfig": "stacks.config.alerts",
    "NAMESPACE": "stacks.config.base",
    "PRODUCTION_ENVIRONMENTS": "stacks.config.base",
    "PROJECT_ROOT": "stacks.config.builds",
    "ContainerBuildConfig": "stacks.config.builds",
    "ComputeConfig": "stacks.config.compute",
    "OfficeHoursConfig": "stacks.config.compute",
    "PoolConfig": "stacks.config.compute",
    "PoolLoadBalancerConfig": "stacks.config.compute",
    "PoolScheduleConfig": "stacks.config.compute",
    "ContainersConfig": "stacks.config.containers",
    "DataLakeConfig": "stacks.config.data_lake",
    "LakeTransitionConfig": "stacks.config.data_lake",
    "DnsConfig": "stacks.config.dns",
    "HealthCheckConfig": "stacks.config.dns",
    "ConfigError": "stacks.config.errors",
    "StackFileError": "stacks.config.errors",
    "IamConfig": "stacks.config.iam",
    "IngestAlarmsConfig": "stacks.config.ingest",
    "IngestConfig": "stacks.config.ingest",
    "AirflowConfig": "stacks.config.jobs",
    "JobBuildConfig": "stacks.config.jobs",
    "JobConfig": "stacks.config.jobs",
    "JobScheduleConfig": "stacks.config.jobs",
    "JobsConfig": "stacks.config.jobs",
    "available_stacks": "stacks.config.loader",
    "current_program_config": "stacks.config.loader",
    "load_stack_config": "stacks.config.loader",
    "load_stack_file": "stacks.config.loader",
    "parse_raw_config": "stacks.config.loader",
    "stack_file_path": "stacks.config.loader",
    "MAX_AZ_COUNT": "stacks.config.network",
    "NetworkConfig": "stacks.config.network",
    "RegionConfig": "stacks.config.network",
    "aws_region_names": "stacks.config.network",
    "LakeReplicationConfig": "stacks.config.resilience",
    "ResilienceConfig": "stacks.config.resilience",
    "CLOUDWATCH_RETENTION_DAYS": "stacks.config.stack",
    "PlatformConfig": "stacks.config.stack",
    "DriftConfig": "stacks.config.training",
    "DriftScheduleConfig": "stacks.config.training",
    "PromotionConfig": "stacks.config.training",
    "TrainingConfig": "stacks.config.training",
    "TrainingJobSizeConfig": "stacks.config.training",
}


__getattr__, __dir__ = lazy_names(__name__, globals(), _MODULES)

__all__ = [
    # constants
    "CLOUDWATCH_RETENTION_DAYS",
    "MAX_AZ_COUNT",
    "NAMESPACE",
    "PRODUCTION_ENVIRONMENTS",
    "PROJECT_ROOT",
    # errors
    "ConfigError",
    "StackFileError",
    # the model
    "PlatformConfig",
    "RegionConfig",
    "NetworkConfig",
    "AlertsConfig",
    "IamConfig",
    "DataLakeConfig",
    "LakeTransitionConfig",
    "ContainersConfig",
    "ContainerBuildConfig",
    "DnsConfig",
    "HealthCheckConfig",
    "ComputeConfig",
    "PoolConfig",
    "PoolScheduleConfig",
    "OfficeHoursConfig",
    "PoolLoadBalancerConfig",
    "IngestConfig",
    "IngestAlarmsConfig",
    "JobsConfig",
    "JobConfig",
    "JobScheduleConfig",
    "JobBuildConfig",
    "AirflowConfig",
    "TrainingConfig",
    "PromotionConfig",
    "DriftConfig",
    "DriftScheduleConfig",
    "TrainingJobSizeConfig",
    "ResilienceConfig",
    "LakeReplicationConfig",
    # reading and validating
    "aws_region_names",
    "available_stacks",
    "current_program_config",
    "load_stack_config",
    "load_stack_file",
    "parse_raw_config",
    "stack_file_path",
]
