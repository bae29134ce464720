"""Typed, validated stack configuration (namespace ``mlops``).

The stack files (``Pulumi.<stack>.yaml``) are the only input of the program. Everything a
user writes there is validated here, before any resource is registered, and every problem
is reported at once, each naming its key exactly as written in the file
(``mlops:regions[1].cidr``), what is wrong and what would be right.

The Pulumi CLI hands structured config values to the program as JSON strings and plain
values as strings; :func:`parse_raw_config` accepts that form, and :func:`load_stack_file`
produces the same form from a stack file for the offline plan, so both paths share one
validator.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, Mapping, Optional, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel

from components.checks import duplicates
from components.monitoring import LOG_RETENTION_DAYS, is_email

NAMESPACE = "mlops"

#: Retention values CloudWatch Logs accepts: the components' one table.
CLOUDWATCH_RETENTION_DAYS = LOG_RETENTION_DAYS

MAX_AZ_COUNT = 6
PRODUCTION_ENVIRONMENTS = frozenset({"prod", "production"})

_TAG_KEY_RE = re.compile(r"^[\w .:/=+\-@]{1,128}$")
_TAG_VALUE_RE = re.compile(r"^[\w .:/=+\-@]{0,256}$")
_ENDPOINT_RE = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$")


class ConfigError(Exception):
    """Raised with every problem found in a stack's configuration."""

    def __init__(self, problems: list[str], source: str = "") -> None:
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        lines = [f"Invalid configuration{where} ({len(problems)} problem(s)):"]
        lines += [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


@lru_cache(maxsize=1)
def aws_region_names() -> frozenset[str]:
    """Every region name botocore's endpoint data knows, across all partitions."""
    import botocore.session

    session = botocore.session.get_session()
    names: set[str] = set()
    for partition in session.get_available_partitions():
        names.update(session.get_available_regions("ec2", partition_name=partition))
    return frozenset(names)


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=False,
        str_strip_whitespace=True,
    )


def _short_name(value: str, kind: str) -> str:
    """Names that become part of AWS resource names (roles, load balancers) stay short."""
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,19}", value):
        raise ValueError(
            f"{value!r} is not a {kind} name; use 1-20 lowercase letters, digits or '-', "
            "starting with a letter"
        )
    return value


class RegionConfig(_Model):
    """One region of the environment. The first region in the list is the primary."""

    name: str = Field(description="AWS region name, e.g. eu-west-1.")
    cidr: str = Field(description="The region's VPC CIDR, /16 to /22, private range.")

    @field_validator("name")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in aws_region_names():
            close = difflib.get_close_matches(value, sorted(aws_region_names()), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"{value!r} is not an AWS region name{hint}")
        return value

    @field_validator("cidr")
    @classmethod
    def _valid_cidr(cls, value: str) -> str:
        try:
            net = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(
                f"{value!r} is not a valid IPv4 CIDR block ({exc}); write it like 10.0.0.0/16"
            ) from None
        if not 16 <= net.prefixlen <= 22:
            raise ValueError(
                f"{value} has prefix /{net.prefixlen}; a VPC CIDR must be between /16 and /22"
            )
        if not net.is_private:
            raise ValueError(f"{value} is not a private (RFC 1918) range")
        return str(net)

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr)


class NetworkConfig(_Model):
    """Network layout, the same in every region of the environment."""

    az_count: int = Field(
        description="Availability zones per region; public and private subnets in each."
    )
    nat: Literal["none", "single", "per_az"] = Field(
        description="NAT gateways: none, one for the region, or one per AZ."
    )
    isolated_subnets: bool = Field(
        default=False, description="Also create isolated subnets (no internet route)."
    )
    interface_endpoints: tuple[str, ...] = Field(
        default=(),
        description="Interface VPC endpoint service short names, e.g. ssm, ecr.api, logs.",
    )

    @field_validator("az_count")
    @classmethod
    def _az_range(cls, value: int) -> int:
        if not 1 <= value <= MAX_AZ_COUNT:
            raise ValueError(f"{value} is out of range; use 1 to {MAX_AZ_COUNT}")
        return value

    @field_validator("nat", mode="before")
    @classmethod
    def _nat_known(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in ("none", "single", "per_az"):
            raise ValueError(
                f"{value!r} is not a NAT strategy; use one of 'none', 'single', 'per_az'"
            )
        return value

    @field_validator("interface_endpoints")
    @classmethod
    def _endpoints(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not _ENDPOINT_RE.match(v)]
        if bad:
            raise ValueError(
                f"{bad} are not endpoint service short names (like 'ssm' or 'ecr.api')"
            )
        dupes = duplicates(value)
        if dupes:
            raise ValueError(f"{dupes} listed more than once")
        return value


class IamConfig(_Model):
    """Account-wide IAM settings."""

    permissions_boundary_arn: Optional[str] = Field(
        default=None,
        description="Managed policy set as the permissions boundary of every role the "
        "platform creates. Default: no boundary.",
    )

    @field_validator("permissions_boundary_arn")
    @classmethod
    def _policy_arn(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not re.fullmatch(
            r"arn:aws(-cn|-us-gov)?:iam::(\d{12}|aws):policy/[\w+=,.@/-]+", value
        ):
            raise ValueError(
                f"{value!r} is not an IAM managed policy ARN "
                "(like arn:aws:iam::123456789012:policy/platform-boundary)"
            )
        return value


class AlertsConfig(_Model):
    """Where alarms go."""

    emails: tuple[str, ...] = Field(
        default=(), description="Email addresses subscribed to each region's alert topic."
    )

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not is_email(v)]
        if bad:
            raise ValueError(f"{bad} are not email addresses (write them like ops@example.com)")
        dupes = duplicates(value)
        if dupes:
            raise ValueError(f"{dupes} listed more than once")
        return value


# --- data lake (components/data_lake.py) ------------------------------------------------


class LakeTransitionConfig(_Model):
    """One transition of a zone's current objects to a cheaper storage class."""

    days: int = Field(description="Days after creation.")
    storage_class: str = Field(description="Target storage class, e.g. STANDARD_IA, GLACIER_IR.")

    @field_validator("days")
    @classmethod
    def _days(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"{value} is negative; give the days after creation (0 or more)")
        return value

    @field_validator("storage_class")
    @classmethod
    def _storage_class(cls, value: str) -> str:
        from components.buckets import STORAGE_CLASSES

        if value not in STORAGE_CLASSES:
            close = difflib.get_close_matches(value.upper(), STORAGE_CLASSES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"{value!r} is not a storage class lifecycle rules move objects to; use one of "
                f"{', '.join(STORAGE_CLASSES)}{hint}"
            )
        return value


def _lake_transition_sequence(
    value: tuple[LakeTransitionConfig, ...],
) -> tuple[LakeTransitionConfig, ...]:
    from components.buckets import Transition
    from components.data_lake import transition_problems

    problems = transition_problems([Transition(t.days, t.storage_class) for t in value])
    if problems:
        raise ValueError("; ".join(problems))
    return value


class DataLakeConfig(_Model):
    """The data lake of every region: zones, retention, storage-class transitions."""

    zones: tuple[str, ...] = Field(
        default=("raw", "curated", "features", "models"),
        description="Zone names; one bucket per zone and region.",
    )
    noncurrent_version_expiration_days: int = Field(
        default=30, description="Days overwritten or deleted object versions are kept."
    )
    access_log_retention_days: int = Field(
        default=90, description="Days the server access logs of the lake are kept."
    )
    transitions: dict[
        str, Annotated[tuple[LakeTransitionConfig, ...], AfterValidator(_lake_transition_sequence)]
    ] = Field(
        default_factory=dict,
        description="Zone -> transitions of current objects: [{days, storageClass}, ...].",
    )

    @field_validator("zones")
    @classmethod
    def _zones(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from components.data_lake import zone_problems

        problems = zone_problems(list(value))
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("noncurrent_version_expiration_days", "access_log_retention_days")
    @classmethod
    def _positive_days(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"{value} days; give at least 1")
        return value


# --- containers (components/containers.py) ------------------------------------------------

#: The project root (this checkout): ``mlops:containers.build`` paths are relative to it, and
#: it is the working directory of ``pulumi up``, where the image is built.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ContainerBuildConfig(_Model):
    """Build the web service's image from a Dockerfile in this repository."""

    context: str = Field(
        default="services/forecast",
        description="Build context directory, relative to the project root.",
    )
    dockerfile: Optional[str] = Field(
        default=None,
        description="Dockerfile, relative to the project root. Default: <context>/Dockerfile.",
    )

    @field_validator("context", "dockerfile")
    @classmethod
    def _inside_project(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return value
        path = PurePosixPath(value)
        if not value or path.is_absolute() or ".." in path.parts or "\\" in value:
            raise ValueError(
                f"{value!r} must be a path inside the project, relative to its root and "
                "written with '/' (like services/forecast)"
            )
        return value


class ContainersConfig(_Model):
    """The web service of every region: ECS Fargate tasks behind a load balancer."""

    enabled: bool = Field(default=True, description="Create the service (false: switched off).")
    cpu: int = Field(default=256, description="Task CPU units (1024 = 1 vCPU), a Fargate size.")
    memory: int = Field(default=512, description="Task memory in MiB, valid for the cpu value.")
    cpu_architecture: Literal["X86_64", "ARM64"] = Field(
        default="X86_64", description="Fargate CPU architecture (the image is built for it)."
    )
    desired_count: int = Field(default=1, description="Tasks to run (production: at least 2).")
    min_count: Optional[int] = Field(
        default=None, description="Autoscaling minimum. Default: desiredCount."
    )
    max_count: Optional[int] = Field(
        default=None, description="Autoscaling maximum. Default: twice desiredCount (at least 1)."
    )
    target_cpu_percent: int = Field(default=60, description="Average CPU autoscaling keeps.")
    container_port: int = Field(default=8080, description="Port the container listens on.")
    health_check_path: str = Field(default="/health", description="Health-checked URL path.")
    certificate_arns: dict[str, str] = Field(
        default_factory=dict,
        description="Region -> ACM certificate ARN of that region. A region with one serves "
        "HTTPS (TLS 1.3) and redirects HTTP; a region without serves plain HTTP.",
    )
    image_uri: Optional[str] = Field(
        default=None, description="A prebuilt image. Default: build the image (see build)."
    )
    build: Optional[ContainerBuildConfig] = Field(
        default=None,
        description="Build the image from a Dockerfile. Default: services/forecast/Dockerfile.",
    )
    environment: dict[str, str] = Field(
        default_factory=dict, description="Non-secret environment variables."
    )
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="Environment variable -> SSM parameter or Secrets Manager secret ARN.",
    )
    deployment_minimum_healthy_percent: int = Field(
        default=100, description="Healthy tasks kept during a rolling update (% of desired)."
    )
    deployment_maximum_percent: int = Field(
        default=200, description="Tasks allowed during a rolling update (% of desired)."
    )
    container_insights: Literal["enabled", "enhanced"] = Field(
        default="enhanced", description="Container Insights level of the cluster."
    )

    @property
    def scaling_bounds(self) -> tuple[int, int]:
        """``(min, max)`` task counts of the autoscaling, defaults applied."""
        low = self.desired_count if self.min_count is None else self.min_count
        high = max(1, 2 * self.desired_count) if self.max_count is None else self.max_count
        return low, high

    @property
    def image_build(self) -> Optional[ContainerBuildConfig]:
        """What to build: ``build``, or the default build when no ``imageUri`` is given."""
        if self.image_uri is not None:
            return None
        return self.build or ContainerBuildConfig()

    @field_validator("cpu")
    @classmethod
    def _fargate_cpu(cls, value: int) -> int:
        from components.containers import FARGATE_MEMORY

        if value not in FARGATE_MEMORY:
            raise ValueError(
                f"{value} is not a Fargate task CPU value; use one of "
                f"{', '.join(map(str, FARGATE_MEMORY))}"
            )
        return value

    @field_validator("desired_count", "min_count")
    @classmethod
    def _not_negative(cls, value: Optional[int]) -> Optional[int]:
        if value is not None and value < 0:
            raise ValueError(f"{value} is below zero; give 0 or more tasks")
        return value

    @field_validator("max_count")
    @classmethod
    def _at_least_one(cls, value: Optional[int]) -> Optional[int]:
        if value is not None and value < 1:
            raise ValueError(f"{value}; the autoscaling maximum must be at least 1 task")
        return value

    @field_validator("target_cpu_percent")
    @classmethod
    def _percent(cls, value: int) -> int:
        if not 1 <= value <= 100:
            raise ValueError(f"{value} is outside 1..100 (percent)")
        return value

    @field_validator("container_port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            raise ValueError(f"{value} is not a port (1..65535)")
        return value

    @field_validator("health_check_path")
    @classmethod
    def _health_path(cls, value: str) -> str:
        from components.containers import health_check_path_problem

        problem = health_check_path_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("certificate_arns")
    @classmethod
    def _certificates(cls, value: dict[str, str]) -> dict[str, str]:
        from components.containers import certificate_arn_problem

        problems = [p for p in map(certificate_arn_problem, value.values()) if p]
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("image_uri")
    @classmethod
    def _image(cls, value: Optional[str]) -> Optional[str]:
        from components.containers import image_uri_problem

        problem = image_uri_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: dict[str, str]) -> dict[str, str]:
        from components.containers import environment_name_problem

        problems = [p for p in map(environment_name_problem, value) if p]
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, value: dict[str, str]) -> dict[str, str]:
        from components.containers import secret_arn_problem

        problems = [
            f"{name}: {problem}"
            for name, arn in value.items()
            if (problem := secret_arn_problem(arn))
        ]
        problems += [
            f"{name!r} is not an environment variable name"
            for name in value
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("deployment_minimum_healthy_percent")
    @classmethod
    def _minimum_percent(cls, value: int) -> int:
        if not 0 <= value <= 100:
            raise ValueError(f"{value} is outside 0..100 (percent of desiredCount)")
        return value

    @field_validator("deployment_maximum_percent")
    @classmethod
    def _maximum_percent(cls, value: int) -> int:
        if value < 100:
            raise ValueError(f"{value} is below 100 (percent of desiredCount)")
        return value


# --- compute (components/compute.py) -------------------------------------------------------


def _checked(problem: Optional[str], value: Any) -> Any:
    """``value`` when ``problem`` is None; else raise it (pydantic reports it under the key)."""
    if problem:
        raise ValueError(problem)
    return value


def _instance_type_name(value: str) -> str:
    from components.compute import instance_type_problem

    return _checked(instance_type_problem(value), value)


def _allowed_cidr(value: str) -> str:
    from components.compute import allowed_cidr_problem

    return _checked(allowed_cidr_problem(value), value)


class OfficeHoursConfig(_Model):
    """The hours a pool runs; it is scaled to zero outside them (evenings, other days)."""

    start: str = Field(default="08:00", description="Start, HH:MM in the schedule's time zone.")
    stop: str = Field(default="19:00", description="Stop, HH:MM, after start.")
    days: str = Field(default="MON-FRI", description="Days it runs: MON-FRI, MON,WED,FRI, ...")

    @field_validator("start", "stop")
    @classmethod
    def _time(cls, value: str) -> str:
        from components.compute import time_of_day_problem

        return _checked(time_of_day_problem(value), value)

    @field_validator("days")
    @classmethod
    def _days(cls, value: str) -> str:
        from components.compute import weekdays_problem

        return _checked(weekdays_problem(value), value)


class PoolScheduleConfig(_Model):
    """When a pool runs: office hours, or two cron expressions, in a time zone."""

    timezone: str = Field(description="IANA time zone, e.g. Europe/Rome or UTC.")
    office_hours: Optional[OfficeHoursConfig] = Field(
        default=None, description="Run during these hours (or give startCron and stopCron)."
    )
    start_cron: Optional[str] = Field(
        default=None, description="Unix cron: when the pool scales back to its size."
    )
    stop_cron: Optional[str] = Field(
        default=None, description="Unix cron: when the pool scales to zero."
    )

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from components.compute import time_zone_problem

        return _checked(time_zone_problem(value), value)

    @field_validator("start_cron", "stop_cron")
    @classmethod
    def _cron(cls, value: Optional[str]) -> Optional[str]:
        from components.compute import cron_problem

        return value if value is None else _checked(cron_problem(value), value)


class PoolLoadBalancerConfig(_Model):
    """A network load balancer in front of a pool (Jupyter; SSH only when asked)."""

    allowed_cidrs: tuple[Annotated[str, AfterValidator(_allowed_cidr)], ...] = Field(
        description="IPv4 CIDR blocks that may connect; never 0.0.0.0/0."
    )
    internet_facing: bool = Field(
        default=False, description="In the public subnets (default: internal)."
    )
    ssh: bool = Field(default=False, description="Also forward SSH (22); prefer Session Manager.")

    @field_validator("allowed_cidrs")
    @classmethod
    def _some_cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("is empty; list the networks that may connect, e.g. ['10.0.0.0/8']")
        return value


class PoolConfig(_Model):
    """One instance pool (Auto Scaling group of identical instances)."""

    name: str = Field(description="Pool name: 1-20 lowercase letters, digits, '-'.")
    instance_types: tuple[Annotated[str, AfterValidator(_instance_type_name)], ...] = Field(
        description="At least 2 interchangeable instance types, preferred first."
    )
    spot: bool = Field(default=False, description="Spot instances (default: on-demand).")
    gpu: bool = Field(default=False, description="GPU types and the deep learning image.")
    min_size: int = Field(default=0, description="Fewest instances.")
    max_size: int = Field(default=2, description="Most instances.")
    desired_capacity: int = Field(default=1, description="Instances while running.")
    volume_size_gb: Optional[int] = Field(
        default=None, description="Root volume GiB. Default: 30, or 100 for GPU pools."
    )
    image_id: Optional[str] = Field(
        default=None,
        description="AMI id or resolve:ssm:<parameter>. Default: latest Amazon Linux 2023 "
        "(deep learning base image for GPU pools).",
    )
    key_name: Optional[str] = Field(
        default=None, description="EC2 key pair for SSH. Default: none (Session Manager)."
    )
    efs: bool = Field(default=False, description="A shared EFS file system on /mnt/shared.")
    schedule: Optional[PoolScheduleConfig] = Field(
        default=None, description="When the pool runs. Default: always."
    )
    load_balancer: Optional[PoolLoadBalancerConfig] = Field(
        default=None, description="A network load balancer in front of the pool."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _short_name(value, "pool")

    @field_validator("instance_types")
    @classmethod
    def _two_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(value) < 2:
            raise ValueError(
                f"{len(value)} type(s) given; list at least 2 interchangeable instance types "
                "so a shortage of one does not stop the pool"
            )
        dupes = duplicates(value)
        if dupes:
            raise ValueError(f"{dupes} listed more than once")
        return value

    @field_validator("min_size", "max_size", "desired_capacity")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"{value} is below zero; give a number of instances, 0 or more")
        return value

    @field_validator("volume_size_gb")
    @classmethod
    def _volume(cls, value: Optional[int]) -> Optional[int]:
        if value is not None and not 8 <= value <= 16384:
            raise ValueError(f"{value} GiB is outside 8..16384")
        return value

    @field_validator("image_id")
    @classmethod
    def _image(cls, value: Optional[str]) -> Optional[str]:
        from components.compute import image_id_problem

        return value if value is None else _checked(image_id_problem(value), value)

    @field_validator("key_name")
    @classmethod
    def _key_name(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not re.fullmatch(r"[ -~]{1,255}", value):
            raise ValueError(f"{value!r} is not an EC2 key pair name (1-255 ASCII characters)")
        return value


class ComputeConfig(_Model):
    """Instance pools: the primary region runs them (see stacks/regional.py)."""

    enabled: bool = Field(default=False, description="Create the pools (default: no).")
    pools: tuple[PoolConfig, ...] = Field(default=(), description="The pools.")


# --- serverless ingest (components/serverless.py) -----------------------------------------


class IngestAlarmsConfig(_Model):
    """Alarm thresholds of the ingest function (per period, to the region's alert topic)."""

    errors: int = Field(default=1, description="Failed invocations per period that alarm.")
    throttles: int = Field(default=1, description="Throttled invocations per period that alarm.")
    period_seconds: int = Field(default=300, description="Alarm period: 60, 120, ... seconds.")

    @field_validator("errors", "throttles")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"{value} would alarm without any event; give at least 1")
        return value

    @field_validator("period_seconds")
    @classmethod
    def _period(cls, value: int) -> int:
        if value < 60 or value % 60:
            raise ValueError(f"{value} is not a whole number of minutes; use 60, 120, 300, ...")
        return value


class IngestConfig(_Model):
    """The ingest Lambda of every region: raw zone objects -> the records table.

    Absent from the stack file: no ingest. Present: on unless ``enabled: false``.
    """

    enabled: bool = Field(default=True, description="Create the table and the function.")
    memory_mb: int = Field(default=256, description="Function memory, 128-10240 MB.")
    timeout_seconds: int = Field(default=60, description="Invocation timeout, 1-900 seconds.")
    reserved_concurrency: Optional[int] = Field(
        default=None, description="Reserved concurrent executions (>= 1). Default: none."
    )
    in_vpc: bool = Field(
        default=False, description="Run in the private subnets (all AZs) with its own group."
    )
    raw_prefix: Optional[str] = Field(
        default=None,
        description="Only objects under this raw-zone key prefix are ingested (and readable).",
    )
    retry_attempts: int = Field(default=2, description="Retries of a failed invocation, 0-2.")
    max_event_age_seconds: int = Field(
        default=21600, description="Oldest event still processed, 60-21600 seconds."
    )
    max_object_bytes: int = Field(
        default=64 * 1024 * 1024,
        description="Larger objects are rejected; at most a quarter of memoryMb.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="The function's log level."
    )
    tracing: bool = Field(default=False, description="X-Ray active tracing.")
    architecture: Literal["arm64", "x86_64"] = Field(
        default="arm64", description="Instruction set of the function."
    )
    alarms: IngestAlarmsConfig = Field(default_factory=IngestAlarmsConfig)

    @field_validator("memory_mb")
    @classmethod
    def _memory(cls, value: int) -> int:
        if not 128 <= value <= 10240:
            raise ValueError(f"{value} MB is outside what Lambda offers; use 128 to 10240")
        return value

    @field_validator("timeout_seconds")
    @classmethod
    def _timeout(cls, value: int) -> int:
        if not 1 <= value <= 900:
            raise ValueError(f"{value} seconds is outside what Lambda allows; use 1 to 900")
        return value

    @field_validator("reserved_concurrency")
    @classmethod
    def _reserved(cls, value: Optional[int]) -> Optional[int]:
        if value is not None and value < 1:
            raise ValueError(
                f"{value} would stop the function; give at least 1, or remove the key for no "
                "reservation"
            )
        return value

    @field_validator("raw_prefix")
    @classmethod
    def _prefix(cls, value: Optional[str]) -> Optional[str]:
        from components.serverless import clean_key_prefix

        return clean_key_prefix(value)

    @field_validator("retry_attempts")
    @classmethod
    def _retries(cls, value: int) -> int:
        if not 0 <= value <= 2:
            raise ValueError(f"{value} is outside what Lambda allows; use 0, 1 or 2")
        return value

    @field_validator("max_event_age_seconds")
    @classmethod
    def _event_age(cls, value: int) -> int:
        if not 60 <= value <= 21600:
            raise ValueError(f"{value} seconds is outside what Lambda allows; use 60 to 21600")
        return value

    @field_validator("max_object_bytes")
    @classmethod
    def _object_bytes(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"{value} bytes; give a positive size")
        return value


# --- jobs (components/jobs.py) --------------------------------------------------------------


def _job_prefix(value: Optional[str]) -> Optional[str]:
    """A data lake key prefix without surrounding '/'; no wildcards."""
    if value is None:
        return None
    clean = value.strip("/")
    if not clean:
        raise ValueError(f"{value!r} names the whole zone; remove the key to mean the whole zone")
    if any(c in clean for c in "*?$") or "//" in clean:
        raise ValueError(f"{value!r} must be a literal folder like 'customers/daily' (no wildcards, no '//')")
    return clean


class JobScheduleConfig(_Model):
    """When a job runs on its own: exactly one of ``cron`` and ``rate``, and per-run overrides."""

    cron: Optional[str] = Field(
        default=None, description="EventBridge cron, 6 fields, e.g. '0 2 * * ? *' (02:00 daily)."
    )
    rate: Optional[str] = Field(default=None, description="A rate, e.g. '1 day' or '6 hours'.")
    timezone: str = Field(default="UTC", description="IANA time zone of the cron fields.")
    parameters: dict[str, str] = Field(
        default_factory=dict, description="Values of the command's Ref:: parameters for these runs."
    )
    environment: dict[str, str] = Field(
        default_factory=dict, description="Environment variables added or changed for these runs."
    )
    enabled: bool = Field(default=True, description="false: the schedule exists but is paused.")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: Optional[str]) -> Optional[str]:
        from components.jobs import cron_problem

        if value is not None:
            problem = cron_problem(value)
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("rate")
    @classmethod
    def _rate(cls, value: Optional[str]) -> Optional[str]:
        from components.jobs import rate_problem

        if value is not None:
            problem = rate_problem(value)
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from components.jobs import timezone_problem

        problem = timezone_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: dict[str, str]) -> dict[str, str]:
        from components.jobs import environment_problems

        problems = environment_problems("", value)
        if problems:
            raise ValueError("; ".join(p.lstrip(": ") for p in problems))
        return value

    @property
    def expression(self) -> str:
        """The schedule expression: ``cron(...)`` or ``rate(...)``."""
        return f"cron({self.cron})" if self.cron is not None else f"rate({self.rate})"


class JobBuildConfig(ContainerBuildConfig):
    """Build a job's image from a Dockerfile in this repository (into the region's job image
    repository, for the jobs' CPU architecture)."""

    context: str = Field(description="Build context directory, relative to the project root.")


class JobConfig(_Model):
    """One job: a template (image or build, command, size, max run time, retries), its data
    and what submits its runs."""

    name: str = Field(description="Job name: 1-20 lowercase letters, digits, '-'.")
    image: Optional[str] = Field(
        default=None,
        description="Image URI; {account} and {region} stand for the account and region. "
        "Exactly one of image and build.",
    )
    build: Optional[JobBuildConfig] = Field(
        default=None, description="Build the image from a Dockerfile. Exactly one of image and build."
    )
    command: tuple[str, ...] = Field(description="Command (entrypoint arguments); Ref::name parameters.")
    parameters: dict[str, str] = Field(default_factory=dict, description="Defaults of Ref:: parameters.")
    environment: dict[str, str] = Field(default_factory=dict, description="Plain environment variables.")
    vcpu: float = Field(description="vCPUs: 0.25, 0.5, 1, 2, 4, 8 or 16.")
    memory_mib: int = Field(description="Memory in MiB, one Fargate allows with vcpu.")
    timeout_seconds: int = Field(description="Max run time of one attempt, at least 60.")
    retries: int = Field(default=0, description="Retries of storage errors/failed starts, 0-9.")
    read_zone: Optional[str] = Field(default=None, description="Data lake zone the job reads.")
    read_prefix: Optional[str] = Field(default=None, description="Folder of readZone it reads.")
    write_zone: Optional[str] = Field(default=None, description="Zone the job writes (and deletes in).")
    write_prefix: Optional[str] = Field(default=None, description="Folder of writeZone it writes.")
    schedule: Optional[JobScheduleConfig] = Field(default=None, description="Scheduled runs.")
    on_new_raw_data: bool = Field(default=False, description="New raw-zone objects submit a run.")
    raw_prefix: Optional[str] = Field(
        default=None, description="With onNewRawData: only objects under this folder."
    )
    array_size: Optional[int] = Field(
        default=None, description="Distributed runs: children per run, 2-10000."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _short_name(value, "job")

    @field_validator("image")
    @classmethod
    def _image(cls, value: Optional[str]) -> Optional[str]:
        from components.jobs import image_problem

        problem = image_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("command")
    @classmethod
    def _command(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or not all(part for part in value):
            raise ValueError("give the command as a list of non-empty strings")
        return value

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: dict[str, str]) -> dict[str, str]:
        from components.jobs import environment_problems

        problems = environment_problems("", value)
        if problems:
            raise ValueError("; ".join(p.lstrip(": ") for p in problems))
        return value

    @field_validator("vcpu")
    @classmethod
    def _vcpu(cls, value: float) -> float:
        from components.jobs import vcpu_problem

        problem = vcpu_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("memory_mib")
    @classmethod
    def _memory(cls, value: int) -> int:
        if value < 512:
            raise ValueError(f"{value} MiB; Fargate jobs have at least 512 MiB")
        return value

    @field_validator("timeout_seconds")
    @classmethod
    def _timeout(cls, value: int) -> int:
        from components.jobs import MIN_TIMEOUT_SECONDS

        if value <= 0:
            raise ValueError(
                f"{value} is not a max run time; give the seconds one attempt may run "
                f"(at least {MIN_TIMEOUT_SECONDS})"
            )
        if value < MIN_TIMEOUT_SECONDS:
            raise ValueError(
                f"{value} seconds is below the AWS Batch minimum; use at least {MIN_TIMEOUT_SECONDS}"
            )
        return value

    @field_validator("retries")
    @classmethod
    def _retries(cls, value: int) -> int:
        if not 0 <= value <= 9:
            raise ValueError(f"{value} retries; AWS Batch allows 0 to 9 (1 to 10 attempts)")
        return value

    @field_validator("read_prefix", "write_prefix", "raw_prefix")
    @classmethod
    def _prefix(cls, value: Optional[str]) -> Optional[str]:
        return _job_prefix(value)

    @field_validator("array_size")
    @classmethod
    def _array_size(cls, value: Optional[int]) -> Optional[int]:
        from components.jobs import MAX_ARRAY_SIZE

        if value is not None and not 2 <= value <= MAX_ARRAY_SIZE:
            raise ValueError(
                f"{value} children; an array job has 2 to {MAX_ARRAY_SIZE} (remove the key for "
                "single-container runs)"
            )
        return value


class AirflowConfig(_Model):
    """Managed Airflow (MWAA) in the primary region."""

    enabled: bool = Field(default=False, description="Create the Airflow environment.")
    environment_class: str = Field(default="mw1.small", description="mw1.micro ... mw1.2xlarge.")
    max_workers: int = Field(default=2, description="Most workers, 1-25.")

    @field_validator("environment_class")
    @classmethod
    def _class(cls, value: str) -> str:
        from components.jobs import MWAA_ENVIRONMENT_CLASSES

        if value not in MWAA_ENVIRONMENT_CLASSES:
            raise ValueError(f"{value!r} is not an MWAA environment class; use one of {', '.join(MWAA_ENVIRONMENT_CLASSES)}")
        return value

    @field_validator("max_workers")
    @classmethod
    def _workers(cls, value: int) -> int:
        if not 1 <= value <= 25:
            raise ValueError(f"{value} workers; MWAA allows 1 to 25")
        return value


class JobsConfig(_Model):
    """Batch jobs (AWS Batch on Fargate) of every region; schedules and triggers in the
    primary region only."""

    max_vcpus: int = Field(default=16, description="Most vCPUs of runs at a time, per region.")
    jobs: tuple[JobConfig, ...] = Field(default=(), description="The jobs.")
    airflow: AirflowConfig = Field(default_factory=AirflowConfig, description="Managed Airflow.")

    @field_validator("max_vcpus")
    @classmethod
    def _max_vcpus(cls, value: int) -> int:
        if not 1 <= value <= 4096:
            raise ValueError(f"{value} vCPUs; use 1 to 4096")
        return value


class PlatformConfig(_Model):
    """The whole ``mlops:`` namespace of a stack file."""

    environment: str = Field(description="Environment name: dev, staging, prod, ...")
    ephemeral: bool = Field(
        description="May the stack be destroyed on a schedule (nightly destroy)."
    )
    regions: tuple[RegionConfig, ...] = Field(
        description="Regions, the first being the primary; at least two."
    )
    network: NetworkConfig
    tags: dict[str, str] = Field(
        default_factory=dict, description="Tags added to every resource."
    )
    log_retention_days: int = Field(
        default=30, description="Retention of every CloudWatch log group, in days."
    )
    allowed_account_ids: tuple[str, ...] = Field(
        default=(),
        description="If set, the providers refuse to touch any other AWS account.",
    )
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    iam: IamConfig = Field(default_factory=IamConfig)
    data_lake: DataLakeConfig = Field(
        default_factory=DataLakeConfig, description="The data lake of every region."
    )
    containers: Optional[ContainersConfig] = Field(
        default=None, description="The web service of every region. Default: none."
    )
    compute: ComputeConfig = Field(
        default_factory=ComputeConfig,
        description="Instance pools (primary region). Default: switched off.",
    )
    ingest: IngestConfig = Field(
        default_factory=lambda: IngestConfig(enabled=False),
        description="The ingest Lambda and records table of every region. Default: none.",
    )
    jobs: JobsConfig = Field(
        default_factory=JobsConfig,
        description="Batch jobs and optional managed Airflow. Default: none.",
    )

    @field_validator("environment")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,15}", value):
            raise ValueError(
                f"{value!r} is not an environment name; use 1-16 lowercase letters, "
                "digits or '-', starting with a letter"
            )
        return value

    @field_validator("regions")
    @classmethod
    def _at_least_two(cls, value: tuple[RegionConfig, ...]) -> tuple[RegionConfig, ...]:
        if len(value) < 2:
            raise ValueError(
                f"{len(value)} region(s) given; list at least two (the first is the primary, "
                "the others hold replicas)"
            )
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        problems = []
        for key, val in value.items():
            if not _TAG_KEY_RE.match(key) or key.lower().startswith("aws:"):
                problems.append(f"tag key {key!r} is not allowed (1-128 chars, not 'aws:')")
            if not _TAG_VALUE_RE.match(val):
                problems.append(f"tag {key!r} has an invalid value {val!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in CLOUDWATCH_RETENTION_DAYS:
            raise ValueError(
                f"{value} is not a retention CloudWatch Logs accepts; use one of "
                f"{', '.join(map(str, CLOUDWATCH_RETENTION_DAYS))}"
            )
        return value

    @field_validator("allowed_account_ids")
    @classmethod
    def _accounts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not re.fullmatch(r"\d{12}", v)]
        if bad:
            raise ValueError(f"{bad} are not 12-digit AWS account ids")
        return value

    # Derived settings -------------------------------------------------------------------
    @property
    def primary_region(self) -> str:
        return self.regions[0].name

    @property
    def is_production(self) -> bool:
        return self.environment in PRODUCTION_ENVIRONMENTS

    @property
    def protect_stateful(self) -> bool:
        """Stateful resources are protected and retained unless the stack is ephemeral."""
        return not self.ephemeral


def _cross_checks(data: Mapping[str, Any]) -> list[str]:
    """Problems that involve more than one key; each names the key to change.

    Works on the decoded raw values, so these are reported together with every per-key
    problem even when other keys are invalid.
    """
    problems: list[str] = []
    environment = data.get("environment")
    ephemeral = data.get("ephemeral")
    is_production = isinstance(environment, str) and environment in PRODUCTION_ENVIRONMENTS
    if is_production and ephemeral is True:
        problems.append(
            f"{NAMESPACE}:ephemeral: environment {environment!r} is production and must "
            "not be ephemeral (the nightly destroy would delete it); set it to false"
        )
    regions = data.get("regions")
    names: list[tuple[int, str]] = []
    networks: list[tuple[int, ipaddress.IPv4Network]] = []
    if isinstance(regions, list):
        for i, item in enumerate(regions):
            if not isinstance(item, dict):
                continue
            if isinstance(item.get("name"), str):
                names.append((i, item["name"]))
            try:
                networks.append((i, ipaddress.IPv4Network(str(item.get("cidr")), strict=True)))
            except ValueError:
                pass
    seen: dict[str, int] = {}
    for i, name in names:
        if name in seen:
            problems.append(
                f"{NAMESPACE}:regions[{i}].name: {name!r} is already listed at "
                f"{NAMESPACE}:regions[{seen[name]}]; each region may appear once"
            )
        else:
            seen[name] = i
    for n, (i, a) in enumerate(networks):
        for j, b in networks[:n]:
            if a.overlaps(b):
                problems.append(
                    f"{NAMESPACE}:regions[{i}].cidr: {a} overlaps {b} of "
                    f"{NAMESPACE}:regions[{j}]; regions need distinct address ranges so they "
                    "can be peered"
                )
    network = data.get("network")
    az_count = network.get("azCount") if isinstance(network, dict) else None
    if is_production and isinstance(az_count, int) and 1 <= az_count < 2:
        problems.append(
            f"{NAMESPACE}:network.azCount: {az_count} AZ in production; "
            "use at least 2 for high availability"
        )
    return problems


def _data_lake_cross_checks(data: Mapping[str, Any]) -> list[str]:
    """Data lake keys that refer to each other: every zone in ``transitions`` must be listed
    in ``zones`` (or the default zones when ``zones`` is not set)."""
    lake = data.get("dataLake")
    if not isinstance(lake, dict) or not isinstance(lake.get("transitions"), dict):
        return []
    zones = lake.get("zones", list(DataLakeConfig.model_fields["zones"].default))
    if not isinstance(zones, list):
        return []
    return [
        f"{NAMESPACE}:dataLake.transitions.{zone}: {zone!r} is not a zone of the lake; "
        f"zones are {zones} ({NAMESPACE}:dataLake.zones): add it there or fix the name"
        for zone in lake["transitions"]
        if zone not in zones
    ]


def _count(value: Any) -> Optional[int]:
    """``value`` when it is a whole number (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _build_path_problems(
    build: Any,
    key: str = f"{NAMESPACE}:containers.build",
    default_context: Optional[str] = ContainerBuildConfig.model_fields["context"].default,
) -> list[str]:
    """The image build's context directory and Dockerfile (at ``key``) must exist in the
    project; a missing context means ``default_context`` (None: reported as missing)."""
    if build is None:
        build = {}
    if not isinstance(build, dict):
        return []
    context = build.get("context", default_context)
    if not isinstance(context, str) or ".." in PurePosixPath(context).parts or context.startswith("/"):
        return []  # reported by the field validator
    if not (PROJECT_ROOT / context).is_dir():
        return [f"{key}.context: {context!r} is not a directory of the project"]
    dockerfile = build.get("dockerfile")
    if dockerfile is None:
        if not (PROJECT_ROOT / context / "Dockerfile").is_file():
            return [f"{key}.context: {context!r} has no Dockerfile; add one or set {key}.dockerfile"]
    elif isinstance(dockerfile, str) and ".." not in PurePosixPath(dockerfile).parts:
        if not (PROJECT_ROOT / dockerfile).is_file():
            return [f"{key}.dockerfile: {dockerfile!r} is not a file of the project"]
    return []


def _containers_cross_checks(data: Mapping[str, Any]) -> list[str]:
    """Container service keys that depend on each other or on other keys: the CPU/memory
    pair, task counts (production: at least 2), image source, certificates per region."""
    web = data.get("containers")
    if not isinstance(web, dict):
        return []
    from components.containers import FARGATE_MEMORY, certificate_region, fargate_size_problem

    key = f"{NAMESPACE}:containers"
    problems: list[str] = []
    cpu = _count(web.get("cpu", ContainersConfig.model_fields["cpu"].default))
    memory = _count(web.get("memory", ContainersConfig.model_fields["memory"].default))
    if cpu in FARGATE_MEMORY and memory is not None:
        size = fargate_size_problem(cpu, memory)
        if size:
            problems.append(f"{key}.memory: {size} ({key}.cpu is {cpu})")
    desired = _count(web.get("desiredCount", 1))
    low = _count(web.get("minCount", desired))
    high = _count(web.get("maxCount", max(1, 2 * desired) if desired is not None else None))
    if None not in (desired, low, high) and min(desired, low) >= 0 and high >= 1:
        if low > high:
            problems.append(f"{key}.minCount: {low} is above {key}.maxCount ({high})")
        elif not low <= desired <= high:
            problems.append(
                f"{key}.desiredCount: {desired} is outside the autoscaling range {low}..{high} "
                f"({key}.minCount..{key}.maxCount)"
            )
    environment = data.get("environment")
    production = isinstance(environment, str) and environment in PRODUCTION_ENVIRONMENTS
    if production and web.get("enabled", True) is not False:
        for name, count in (("desiredCount", desired), ("minCount", _count(web.get("minCount")))):
            if count is not None and 0 <= count < 2:
                problems.append(
                    f"{key}.{name}: {count} task(s) in production; run at least 2 so the "
                    "service survives a task or AZ failure"
                )
    if web.get("imageUri") is not None and web.get("build") is not None:
        problems.append(f"{key}.build: Only one of [imageUri] and [build] can be given")
    elif web.get("imageUri") is None and web.get("enabled", True) is not False:
        problems += _build_path_problems(web.get("build"))
    regions = data.get("regions")
    names = [r.get("name") for r in regions if isinstance(r, dict)] if isinstance(regions, list) else []
    certificates = web.get("certificateArns")
    if isinstance(certificates, dict):
        for region, arn in certificates.items():
            if region not in names:
                problems.append(
                    f"{key}.certificateArns.{region}: {region!r} is not a region of "
                    f"{NAMESPACE}:regions ({', '.join(map(str, names))})"
                )
            elif isinstance(arn, str) and certificate_region(arn) not in (None, region):
                problems.append(
                    f"{key}.certificateArns.{region}: the certificate is in "
                    f"{certificate_region(arn)}; a load balancer needs one from its own region"
                )
    env, secrets = web.get("environment"), web.get("secrets")
    if isinstance(env, dict) and isinstance(secrets, dict):
        problems += [
            f"{key}.secrets.{name}: {name!r} is also set in {key}.environment; give it once"
            for name in secrets
            if name in env
        ]
    low_pct = _count(web.get("deploymentMinimumHealthyPercent", 100))
    high_pct = _count(web.get("deploymentMaximumPercent", 200))
    if low_pct is not None and high_pct is not None and 100 <= high_pct <= low_pct:
        problems.append(
            f"{key}.deploymentMaximumPercent: {high_pct} must be above "
            f"{key}.deploymentMinimumHealthyPercent ({low_pct}), or a rolling update cannot start"
        )
    return problems


def _compute_cross_checks(data: Mapping[str, Any]) -> list[str]:
    """Instance pool keys that depend on each other or on other keys: sizes, GPU types,
    schedules (one form, complete; none in production), unique names, production size, the
    load balancer's need for an image that serves Jupyter."""
    compute = data.get("compute")
    if not isinstance(compute, dict):
        return []
    key = f"{NAMESPACE}:compute"
    problems: list[str] = []
    pools = compute.get("pools", [])
    if compute.get("enabled") is True and isinstance(pools, list) and not pools:
        problems.append(
            f"{key}.pools: compute is enabled but no pool is listed; add one or set "
            f"{key}.enabled to false"
        )
    if not isinstance(pools, list):
        return problems
    network = data.get("network")
    az_count = network.get("azCount") if isinstance(network, dict) else None
    if compute.get("enabled") is True and pools and az_count == 1:
        problems.append(
            f"{key}.pools: pools spread over private subnets in at least 2 AZs, but "
            f"{NAMESPACE}:network.azCount is {az_count}; raise it or set {key}.enabled to false"
        )
    environment = data.get("environment")
    production = isinstance(environment, str) and environment in PRODUCTION_ENVIRONMENTS
    seen: dict[str, int] = {}
    for i, pool in enumerate(pools):
        if not isinstance(pool, dict):
            continue
        at = f"{key}.pools[{i}]"
        name = pool.get("name")
        if isinstance(name, str) and name in seen:
            problems.append(
                f"{at}.name: {name!r} is already used by {key}.pools[{seen[name]}]; "
                "pool names must be unique"
            )
        elif isinstance(name, str):
            seen[name] = i
        problems += _pool_size_problems(at, pool, production)
        problems += _pool_gpu_problems(at, pool)
        problems += _pool_schedule_problems(at, pool.get("schedule"), production)
        if isinstance(pool.get("loadBalancer"), dict) and not pool.get("imageId"):
            problems.append(
                f"{at}.loadBalancer: the load balancer health-checks Jupyter on port 8888, "
                "which the default Amazon Linux image does not serve; set "
                f"{at}.imageId to an image that runs Jupyter (or reach the instances with "
                "Session Manager port forwarding instead)"
            )
    return problems


def _pool_size_problems(at: str, pool: Mapping[str, Any], production: bool) -> list[str]:
    """minSize <= desiredCapacity <= maxSize, maxSize >= 1; production: minSize >= 2."""
    defaults = PoolConfig.model_fields
    values = []
    for field_name, alias in (
        ("min_size", "minSize"),
        ("max_size", "maxSize"),
        ("desired_capacity", "desiredCapacity"),
    ):
        value = pool.get(alias, defaults[field_name].default)
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        values.append(value if ok else None)
    low, high, desired = values
    problems = []
    if high == 0:
        problems.append(f"{at}.maxSize: 0; give at least 1 (a schedule scales the pool to zero)")
    elif None not in values:
        if low > high:
            problems.append(f"{at}.minSize: {low} is above {at}.maxSize ({high})")
        elif not low <= desired <= high:
            problems.append(
                f"{at}.desiredCapacity: {desired} is outside {at}.minSize..{at}.maxSize "
                f"({low}..{high})"
            )
    if production and low is not None and low < 2:
        problems.append(
            f"{at}.minSize: {low} instance(s) in production; keep at least 2 (spread over 2 "
            "AZs) so the pool survives the loss of an instance or an AZ"
        )
    return problems


def _pool_gpu_problems(at: str, pool: Mapping[str, Any]) -> list[str]:
    """A GPU pool lists GPU instance types only."""
    from components.compute import INSTANCE_TYPE_RE, is_gpu_instance_type

    types = pool.get("instanceTypes")
    if pool.get("gpu") is not True or not isinstance(types, list):
        return []
    return [
        f"{at}.instanceTypes[{j}]: {value!r} has no GPU but {at}.gpu is true; use GPU types "
        "such as 'g5.xlarge' or 'g6.xlarge'"
        for j, value in enumerate(types)
        if isinstance(value, str)
        and INSTANCE_TYPE_RE.fullmatch(value)
        and not is_gpu_instance_type(value)
    ]


def _pool_schedule_problems(at: str, schedule: Any, production: bool) -> list[str]:
    """One complete form (officeHours, or startCron and stopCron); stop after start; no
    schedule in production."""
    if schedule is None:
        return []
    if production:
        return [
            f"{at}.schedule: production pools run around the clock; office-hours schedules "
            "are for non-production stacks (remove the schedule)"
        ]
    if not isinstance(schedule, dict):
        return []
    crons = [k for k in ("startCron", "stopCron") if k in schedule]
    if "officeHours" in schedule and crons:
        return [f"{at}.schedule: Only one of [officeHours] and [startCron, stopCron] can be given"]
    if "officeHours" not in schedule and len(crons) != 2:
        return [f"{at}.schedule: give officeHours, or both startCron and stopCron"]
    if crons and str(schedule["startCron"]).split() == str(schedule["stopCron"]).split():
        return [f"{at}.schedule.stopCron: is the same as startCron; the pool would never run"]
    office = schedule.get("officeHours")
    if isinstance(office, dict):
        start, stop = office.get("start", "08:00"), office.get("stop", "19:00")
        times = [t for t in (start, stop) if isinstance(t, str) and re.fullmatch(r"\d\d:\d\d", t)]
        if len(times) == 2 and stop <= start:
            return [f"{at}.schedule.officeHours.stop: {stop!r} is not after start {start!r}"]
    return []


def _ingest_cross_checks(data: Mapping[str, Any]) -> list[str]:
    """Ingest keys that depend on other keys: the lake must have a ``raw`` zone, and the
    largest accepted object must fit the function's memory (the handler holds the bytes,
    the decoded text and the parsed records at once, so at most a quarter of it)."""
    ingest = data.get("ingest")
    if not isinstance(ingest, dict) or ingest.get("enabled", True) is not True:
        return []
    problems = []
    lake = data.get("dataLake")
    zones = (lake.get("zones") if isinstance(lake, dict) else None) or list(
        DataLakeConfig.model_fields["zones"].default
    )
    if isinstance(zones, list) and "raw" not in zones:
        problems.append(
            f"{NAMESPACE}:ingest.enabled: the ingest function reads the lake's 'raw' zone, but "
            f"{NAMESPACE}:dataLake.zones is {zones}; add 'raw' there or set enabled: false"
        )
    memory = ingest.get("memoryMb", IngestConfig.model_fields["memory_mb"].default)
    size = ingest.get("maxObjectBytes", IngestConfig.model_fields["max_object_bytes"].default)
    if (isinstance(memory, int) and isinstance(size, int) and not isinstance(size, bool)
            and 128 <= memory and size > memory * 1024 * 1024 // 4):
        problems.append(
            f"{NAMESPACE}:ingest.maxObjectBytes: {size} bytes does not fit a {memory} MB "
            f"function; use at most a quarter of {NAMESPACE}:ingest.memoryMb "
            f"({memory * 1024 * 1024 // 4} bytes) or raise memoryMb"
        )
    return problems


def _jobs_cross_checks(data: Mapping[str, Any]) -> list[str]:
    """Job keys that depend on other keys: vcpu with memoryMib (Fargate pairs) and
    maxVcpus, zones with ``mlops:dataLake.zones``, parameters with the command, the schedule's
    cron/rate, the event trigger with the written zone, Airflow with the AZ count."""
    from components.data_lake import zone_problems

    jobs = data.get("jobs")
    if not isinstance(jobs, dict):
        return []
    problems: list[str] = []
    lake = data.get("dataLake")
    zones = (lake.get("zones") if isinstance(lake, dict) else None) or list(
        DataLakeConfig.model_fields["zones"].default
    )
    max_vcpus = jobs.get("maxVcpus", JobsConfig.model_fields["max_vcpus"].default)
    items = jobs.get("jobs")
    seen: dict[str, int] = {}
    for i, job in enumerate(items if isinstance(items, list) else []):
        if not isinstance(job, dict):
            continue
        at = f"{NAMESPACE}:jobs.jobs[{i}]"
        name = job.get("name")
        if isinstance(name, str):
            if name in seen:
                problems.append(f"{at}.name: {name!r} is already used by {NAMESPACE}:jobs.jobs[{seen[name]}]")
            seen.setdefault(name, i)
        problems += _job_size_problems(at, job, max_vcpus)
        problems += _job_image_problems(at, job)
        if isinstance(zones, list) and not zone_problems(zones):  # else reported at the zones
            problems += _job_zone_problems(at, job, zones)
        problems += _job_parameter_problems(at, job)
    airflow = jobs.get("airflow")
    network = data.get("network")
    az_count = network.get("azCount") if isinstance(network, dict) else None
    if isinstance(airflow, dict) and airflow.get("enabled") is True and isinstance(az_count, int) and az_count < 2:
        problems.append(
            f"{NAMESPACE}:jobs.airflow.enabled: managed Airflow needs private subnets in two AZs, "
            f"but {NAMESPACE}:network.azCount is {az_count}; raise it to 2 or disable Airflow"
        )
    return problems


def _job_image_problems(at: str, job: Mapping[str, Any]) -> list[str]:
    """Exactly one of ``image`` and ``build``; a build's context and Dockerfile exist."""
    if job.get("image") is not None and job.get("build") is not None:
        return [f"{at}.build: Only one of [image] and [build] can be given (remove {at}.image or {at}.build)"]
    if job.get("image") is None and job.get("build") is None:
        return [
            f"{at}.image: give image (an image URI) or build ({{context: <directory with a "
            f"Dockerfile>}}) as {at}.build"
        ]
    if job.get("build") is not None:
        return _build_path_problems(job.get("build"), key=f"{at}.build", default_context=None)
    return []


def _job_size_problems(at: str, job: Mapping[str, Any], max_vcpus: Any) -> list[str]:
    from components.jobs import fargate_size_problem, vcpu_problem, vcpu_value

    vcpu, memory = job.get("vcpu"), job.get("memoryMib")
    if not isinstance(vcpu, (int, float)) or isinstance(vcpu, bool) or vcpu_problem(vcpu):
        return []  # reported at the key itself
    problems = []
    if isinstance(memory, int) and not isinstance(memory, bool) and memory >= 512:
        problem = fargate_size_problem(vcpu, memory)
        if problem:
            problems.append(f"{at}.memoryMib: {problem}")
    if isinstance(max_vcpus, int) and not isinstance(max_vcpus, bool) and vcpu > max_vcpus:
        problems.append(
            f"{at}.vcpu: {vcpu_value(vcpu)} vCPU is more than {NAMESPACE}:jobs.maxVcpus ({max_vcpus}); "
            "its runs could never start; lower vcpu or raise maxVcpus"
        )
    return problems


def _job_zone_problems(at: str, job: Mapping[str, Any], zones: list[Any]) -> list[str]:
    problems = []
    for key in ("readZone", "writeZone"):
        zone = job.get(key)
        if zone is not None and zone not in zones:
            problems.append(
                f"{at}.{key}: {zone!r} is not a zone of the data lake; zones are {zones} "
                f"({NAMESPACE}:dataLake.zones)"
            )
    for prefix_key, zone_key in (("readPrefix", "readZone"), ("writePrefix", "writeZone")):
        if job.get(prefix_key) is not None and job.get(zone_key) is None:
            problems.append(f"{at}.{prefix_key}: a folder without {zone_key}; give {zone_key} too")
    triggered = job.get("onNewRawData") is True
    if triggered and "raw" not in zones:
        problems.append(
            f"{at}.onNewRawData: the data lake has no 'raw' zone ({NAMESPACE}:dataLake.zones is "
            f"{zones}); add it or set onNewRawData: false"
        )
    if job.get("rawPrefix") is not None and not triggered:
        problems.append(f"{at}.rawPrefix: only used with onNewRawData: true")
    if triggered and job.get("writeZone") == "raw":
        written = str(job.get("writePrefix") or "").strip("/")
        watched = str(job.get("rawPrefix") or "").strip("/")
        if written.startswith(watched) or watched.startswith(written):
            problems.append(
                f"{at}.writeZone: the job writes into the raw zone it is triggered by "
                f"(writePrefix {written or '(whole zone)'!r}, rawPrefix {watched or '(whole zone)'!r}); "
                "every output object would submit another run"
            )
    return problems


def _job_parameter_problems(at: str, job: Mapping[str, Any]) -> list[str]:
    from components.jobs import PLATFORM_PARAMETERS, command_parameters

    command = job.get("command")
    if not isinstance(command, list) or not all(isinstance(c, str) for c in command):
        return []
    referenced = command_parameters(command)
    problems = []
    parameters = job.get("parameters")
    for name in parameters if isinstance(parameters, dict) else {}:
        if name in PLATFORM_PARAMETERS:
            problems.append(
                f"{at}.parameters.{name}: set by the platform (from readZone/readPrefix, "
                "writeZone/writePrefix, arraySize or the event trigger); remove it here"
            )
        elif name not in referenced:
            problems.append(f"{at}.parameters.{name}: the command has no Ref::{name}; it would be ignored")
    schedule = job.get("schedule")
    if not isinstance(schedule, dict):
        return problems
    if ("cron" in schedule) == ("rate" in schedule):
        problems.append(
            f"{at}.schedule: " + (
                "Only one of [cron] and [rate] can be given" if "cron" in schedule
                else "give cron (e.g. '0 2 * * ? *') or rate (e.g. '1 day')"
            )
        )
    overrides = schedule.get("parameters")
    for name in overrides if isinstance(overrides, dict) else {}:
        if name not in referenced:
            problems.append(
                f"{at}.schedule.parameters.{name}: the command has no Ref::{name}; the override "
                "would have no effect"
            )
    return problems


# Parsing -------------------------------------------------------------------------------


def _format_loc(loc: tuple[Any, ...]) -> str:
    key = f"{NAMESPACE}:"
    for i, part in enumerate(loc):
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += ("" if i == 0 else ".") + str(part)
    return key


def _known_fields(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _models_in(ann: Any) -> list[type[BaseModel]]:
    """Models in a type annotation, nested ones included (tuple items, mapping values)."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    return [m for arg in getattr(ann, "__args__", ()) for m in _models_in(arg)]


def _model_at(loc: tuple[Any, ...]) -> Optional[type[BaseModel]]:
    """The model that owns the last key of ``loc``, to suggest a correction for a typo."""
    model: Any = PlatformConfig
    mapping_key = False  # the next part is a key of a mapping field (e.g. a zone name)
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if mapping_key:
            mapping_key = False
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = next(
            (f for n, f in model.model_fields.items() if (f.alias or n) == part), None
        )
        if field is None:
            return None
        ann = field.annotation
        mapping_key = get_origin(ann) is dict
        found = _models_in(ann)
        model = found[0] if found else None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _describe(error: Mapping[str, Any]) -> str:
    loc = tuple(error["loc"])
    key = _format_loc(loc)
    kind = error["type"]
    if kind == "missing":
        return f"{key}: required key is missing"
    if kind == "extra_forbidden":
        model = _model_at(loc)
        hint = ""
        if model is not None:
            close = difflib.get_close_matches(str(loc[-1]), _known_fields(model), n=1)
            if close:
                hint = f"; did you mean {_format_loc(loc[:-1] + (close[0],))}?"
            else:
                hint = f"; known keys here: {', '.join(_known_fields(model))}"
        return f"{key}: unknown key{hint}"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    value = error.get("input")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{key}: {message} (got {json.dumps(value, default=str)})"
    return f"{key}: {message}"


def _decode(value: Any) -> Any:
    """Decode a config value as the Pulumi CLI hands it over (JSON text or plain string)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def parse_raw_config(raw: Mapping[str, Any], source: str = "") -> PlatformConfig:
    """Validate the ``mlops:`` keys of a flat Pulumi config map.

    ``raw`` maps full keys (``mlops:regions``) to values as the Pulumi CLI passes them to a
    program. Keys of other namespaces are ignored. Raises :class:`ConfigError` listing every
    problem.
    """
    data: dict[str, Any] = {}
    prefix = f"{NAMESPACE}:"
    for full_key, value in raw.items():
        if full_key.startswith(prefix):
            data[full_key[len(prefix):]] = _decode(value)
    problems: list[str] = []
    cfg: Optional[PlatformConfig] = None
    try:
        cfg = PlatformConfig.model_validate(data)
    except ValidationError as exc:
        problems += [_describe(e) for e in exc.errors()]
    problems += _cross_checks(data)
    problems += _data_lake_cross_checks(data)
    problems += _containers_cross_checks(data)
    problems += _compute_cross_checks(data)
    problems += _ingest_cross_checks(data)
    problems += _jobs_cross_checks(data)
    if problems or cfg is None:
        raise ConfigError(problems, source)
    return cfg


# Stack files ----------------------------------------------------------------------------


class StackFileError(Exception):
    """The stack file is missing, unreadable or not a Pulumi stack file."""


def stack_file_path(project_dir: Path, stack: str) -> Path:
    return Path(project_dir) / f"Pulumi.{stack}.yaml"


def available_stacks(project_dir: Path) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in Path(project_dir).glob("Pulumi.*.yaml"))


def load_stack_file(project_dir: Path, stack: str) -> tuple[dict[str, str], list[str]]:
    """Read ``Pulumi.<stack>.yaml`` and return its config as the Pulumi CLI would pass it.

    Returns ``(config, secret_keys)``: values are strings (structured values as JSON);
    ``secure:`` values cannot be decrypted offline and become a placeholder marked secret.
    """
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", stack):
        raise StackFileError(f"{stack!r} is not a valid stack name")
    path = stack_file_path(project_dir, stack)
    if not path.is_file():
        known = available_stacks(project_dir)
        raise StackFileError(
            f"unknown stack {stack!r}: {path.name} does not exist"
            + (f" (stacks here: {', '.join(known)})" if known else "")
        )
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise StackFileError(f"cannot read {path.name}: {exc}") from None
    except yaml.YAMLError as exc:
        raise StackFileError(f"{path.name} is not valid YAML: {exc}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise StackFileError(f"{path.name}: the top level must be a mapping")
    config = document.get("config", {}) or {}
    if not isinstance(config, dict):
        raise StackFileError(f"{path.name}: 'config' must be a mapping of keys to values")
    flat: dict[str, str] = {}
    secrets: list[str] = []
    for key, value in config.items():
        key = str(key)
        if ":" not in key:
            raise StackFileError(
                f"{path.name}: config key {key!r} has no namespace; write it as "
                f"{NAMESPACE}:{key}"
            )
        if isinstance(value, dict) and set(value) == {"secure"}:
            flat[key] = "[secret]"
            secrets.append(key)
        elif isinstance(value, str):
            flat[key] = value
        else:
            flat[key] = json.dumps(value)
    return flat, secrets


def load_stack_config(project_dir: Path, stack: str) -> PlatformConfig:
    """Read and validate a stack file (raises StackFileError or ConfigError)."""
    flat, _ = load_stack_file(project_dir, stack)
    return parse_raw_config(flat, source=stack_file_path(project_dir, stack).name)


def disabled_default_providers(raw: Mapping[str, Any]) -> list[str]:
    """The packages listed in ``pulumi:disable-default-providers``."""
    value = _decode(raw.get("pulumi:disable-default-providers", "[]"))
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def current_program_config() -> PlatformConfig:
    """Validate the config of the running Pulumi program (real engine or mock runtime)."""
    from pulumi.runtime import config as runtime_config

    import pulumi

    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return parse_raw_config(raw, source=f"Pulumi.{pulumi.get_stack()}.yaml")
