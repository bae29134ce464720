"""``mlops:jobs``: batch jobs (AWS Batch on Fargate) of every region and the optional managed
Airflow (components/jobs). Fargate sizes, schedule expressions, time zones, images,
environment variables and the platform's parameters are the component's own checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator

from stacks.config.base import (
    NAMESPACE,
    ConfigModel,
    az_count,
    checked,
    count,
    field_default,
    short_name,
)
from stacks.config.builds import ContainerBuildConfig, build_path_problems
from stacks.config.data_lake import lake_zones

KEY = f"{NAMESPACE}:jobs"


def _job_prefix(value: str | None) -> str | None:
    """A data lake key prefix without surrounding '/'; no wildcards."""
    if value is None:
        return None
    clean = value.strip("/")
    if not clean:
        raise ValueError(f"{value!r} names the whole zone; remove the key to mean the whole zone")
    if any(c in clean for c in "*?$") or "//" in clean:
        raise ValueError(
            f"{value!r} must be a literal folder like 'customers/daily' (no wildcards, no '//')"
        )
    return clean


def _environment(value: dict[str, str]) -> dict[str, str]:
    """Plain environment variables, by the component's rules (names, nothing secret)."""
    from components.jobs import environment_problems

    problems = environment_problems("", value)
    if problems:
        raise ValueError("; ".join(p.lstrip(": ") for p in problems))
    return value


def _fargate_min_memory_mib() -> int:
    """The least memory of any Fargate size (the component's table)."""
    from components.jobs import FARGATE_MEMORY_MIB

    return min(min(sizes) for sizes in FARGATE_MEMORY_MIB.values())


class ScheduleConfig(ConfigModel):
    """When something runs on its own: a cron or a rate in a time zone, paused or not. The
    one schedule model of the config (jobs' schedules, the training drift check); the rules
    are the jobs component's (cron_problem, rate_problem, timezone_problem)."""

    cron: str | None = Field(
        default=None, description="EventBridge cron, 6 fields, e.g. '0 2 * * ? *' (02:00 daily)."
    )
    rate: str | None = Field(default=None, description="A rate, e.g. '1 day' or '6 hours'.")
    timezone: str = Field(default="UTC", description="IANA time zone of the cron fields.")
    enabled: bool = Field(default=True, description="false: the schedule exists but is paused.")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        from components.jobs import cron_problem

        return value if value is None else checked(cron_problem(value), value)

    @field_validator("rate")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        from components.jobs import rate_problem

        return value if value is None else checked(rate_problem(value), value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from components.jobs import timezone_problem

        return checked(timezone_problem(value), value)

    @property
    def expression(self) -> str:
        """The schedule expression: ``cron(...)`` or ``rate(...)``."""
        return f"cron({self.cron})" if self.cron is not None else f"rate({self.rate})"


class JobScheduleConfig(ScheduleConfig):
    """When a job runs on its own: exactly one of ``cron`` and ``rate``, and per-run overrides."""

    parameters: dict[str, str] = Field(
        default_factory=dict, description="Values of the command's Ref:: parameters for these runs."
    )
    environment: dict[str, str] = Field(
        default_factory=dict, description="Environment variables added or changed for these runs."
    )

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: dict[str, str]) -> dict[str, str]:
        return _environment(value)


class JobBuildConfig(ContainerBuildConfig):
    """Build a job's image from a Dockerfile in this repository (into the region's job image
    repository, for the jobs' CPU architecture)."""

    context: str = Field(description="Build context directory, relative to the project root.")


class JobConfig(ConfigModel):
    """One job: a template (image or build, command, size, max run time, retries), its data
    and what submits its runs."""

    name: str = Field(description="Job name: 1-20 lowercase letters, digits, '-'.")
    image: str | None = Field(
        default=None,
        description="Image URI; {account} and {region} stand for the account and region. "
        "Exactly one of image and build.",
    )
    build: JobBuildConfig | None = Field(
        default=None,
        description="Build the image from a Dockerfile. Exactly one of image and build.",
    )
    command: tuple[str, ...] = Field(
        description="Command (entrypoint arguments); Ref::name parameters."
    )
    parameters: dict[str, str] = Field(
        default_factory=dict, description="Defaults of Ref:: parameters."
    )
    environment: dict[str, str] = Field(
        default_factory=dict, description="Plain environment variables."
    )
    vcpu: float = Field(description="vCPUs: 0.25, 0.5, 1, 2, 4, 8 or 16.")
    memory_mib: int = Field(description="Memory in MiB, one Fargate allows with vcpu.")
    timeout_seconds: int = Field(description="Max run time of one attempt, at least 60.")
    retries: int = Field(default=0, description="Retries of storage errors/failed starts, 0-9.")
    read_zone: str | None = Field(default=None, description="Data lake zone the job reads.")
    read_prefix: str | None = Field(default=None, description="Folder of readZone it reads.")
    write_zone: str | None = Field(
        default=None, description="Zone the job writes (and deletes in)."
    )
    write_prefix: str | None = Field(default=None, description="Folder of writeZone it writes.")
    schedule: JobScheduleConfig | None = Field(default=None, description="Scheduled runs.")
    on_new_raw_data: bool = Field(default=False, description="New raw-zone objects submit a run.")
    raw_prefix: str | None = Field(
        default=None, description="With onNewRawData: only objects under this folder."
    )
    array_size: int | None = Field(
        default=None, description="Distributed runs: children per run, 2-10000."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return short_name(value, "job")

    @field_validator("image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        from components.jobs import image_problem

        return value if value is None else checked(image_problem(value), value)

    @field_validator("command")
    @classmethod
    def _command(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or not all(part for part in value):
            raise ValueError("give the command as a list of non-empty strings")
        return value

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: dict[str, str]) -> dict[str, str]:
        return _environment(value)

    @field_validator("vcpu")
    @classmethod
    def _vcpu(cls, value: float) -> float:
        from components.jobs import vcpu_problem

        return checked(vcpu_problem(value), value)

    @field_validator("memory_mib")
    @classmethod
    def _memory(cls, value: int) -> int:
        least = _fargate_min_memory_mib()
        if value < least:
            raise ValueError(f"{value} MiB; Fargate jobs have at least {least} MiB")
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
    def _prefix(cls, value: str | None) -> str | None:
        return _job_prefix(value)

    @field_validator("array_size")
    @classmethod
    def _array_size(cls, value: int | None) -> int | None:
        from components.jobs import MAX_ARRAY_SIZE

        if value is not None and not 2 <= value <= MAX_ARRAY_SIZE:
            raise ValueError(
                f"{value} children; an array job has 2 to {MAX_ARRAY_SIZE} (remove the key for "
                "single-container runs)"
            )
        return value


class AirflowConfig(ConfigModel):
    """Managed Airflow (MWAA) in the primary region."""

    enabled: bool = Field(default=False, description="Create the Airflow environment.")
    environment_class: str = Field(default="mw1.small", description="mw1.micro ... mw1.2xlarge.")
    max_workers: int = Field(default=2, description="Most workers, 1-25.")

    @field_validator("environment_class")
    @classmethod
    def _class(cls, value: str) -> str:
        from components.jobs import MWAA_ENVIRONMENT_CLASSES

        if value not in MWAA_ENVIRONMENT_CLASSES:
            raise ValueError(
                f"{value!r} is not an MWAA environment class; use one of {', '.join(MWAA_ENVIRONMENT_CLASSES)}"
            )
        return value

    @field_validator("max_workers")
    @classmethod
    def _workers(cls, value: int) -> int:
        if not 1 <= value <= 25:
            raise ValueError(f"{value} workers; MWAA allows 1 to 25")
        return value


class JobsConfig(ConfigModel):
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


# Cross-key checks --------------------------------------------------------------------------


def jobs_cross_checks(data: Mapping[str, Any]) -> list[str]:
    """Job keys that depend on other keys: vcpu with memoryMib (Fargate pairs) and
    maxVcpus, zones with ``mlops:dataLake.zones``, parameters with the command, the schedule's
    cron/rate, the event trigger with the written zone, Airflow with the AZ count."""
    from components.data_lake import zone_problems

    jobs = data.get("jobs")
    if not isinstance(jobs, dict):
        return []
    problems: list[str] = []
    zones = lake_zones(data)
    max_vcpus = jobs.get("maxVcpus", field_default(JobsConfig, "max_vcpus"))
    items = jobs.get("jobs")
    seen: dict[str, int] = {}
    for i, job in enumerate(items if isinstance(items, list) else []):
        if not isinstance(job, dict):
            continue
        at = f"{KEY}.jobs[{i}]"
        name = job.get("name")
        if isinstance(name, str):
            if name in seen:
                problems.append(f"{at}.name: {name!r} is already used by {KEY}.jobs[{seen[name]}]")
            seen.setdefault(name, i)
        problems += _job_size_problems(at, job, max_vcpus)
        problems += _job_image_problems(at, job)
        if isinstance(zones, list) and not zone_problems(zones):  # else reported at the zones
            problems += _job_zone_problems(at, job, zones)
            problems += _job_trigger_problems(at, job, zones)
        problems += _job_parameter_problems(at, job)
    return problems + _airflow_problems(data, jobs)


def _airflow_problems(data: Mapping[str, Any], jobs: Mapping[str, Any]) -> list[str]:
    """Managed Airflow needs private subnets in two AZs."""
    airflow = jobs.get("airflow")
    azs = az_count(data)
    if (
        isinstance(airflow, dict)
        and airflow.get("enabled") is True
        and isinstance(azs, int)
        and azs < 2
    ):
        return [
            f"{KEY}.airflow.enabled: managed Airflow needs private subnets in two AZs, "
            f"but {NAMESPACE}:network.azCount is {azs}; raise it to 2 or disable Airflow"
        ]
    return []


def _job_image_problems(at: str, job: Mapping[str, Any]) -> list[str]:
    """Exactly one of ``image`` and ``build``; a build's context and Dockerfile exist."""
    if job.get("image") is not None and job.get("build") is not None:
        return [
            f"{at}.build: Only one of [image] and [build] can be given (remove {at}.image or {at}.build)"
        ]
    if job.get("image") is None and job.get("build") is None:
        return [
            f"{at}.image: give image (an image URI) or build ({{context: <directory with a "
            f"Dockerfile>}}) as {at}.build"
        ]
    if job.get("build") is not None:
        return build_path_problems(job.get("build"), key=f"{at}.build", default_context=None)
    return []


def _job_size_problems(at: str, job: Mapping[str, Any], max_vcpus: Any) -> list[str]:
    """vcpu and memoryMib, a pair Fargate supports (the component's rule); vcpu within
    ``mlops:jobs.maxVcpus``."""
    from components.jobs import fargate_size_problem, vcpu_problem, vcpu_value

    vcpu, memory = job.get("vcpu"), count(job.get("memoryMib"))
    if not isinstance(vcpu, (int, float)) or isinstance(vcpu, bool) or vcpu_problem(vcpu):
        return []  # reported at the key itself
    problems = []
    if memory is not None and memory >= _fargate_min_memory_mib():
        problem = fargate_size_problem(vcpu, memory)
        if problem:
            problems.append(f"{at}.memoryMib: {problem}")
    if count(max_vcpus) is not None and vcpu > max_vcpus:
        problems.append(
            f"{at}.vcpu: {vcpu_value(vcpu)} vCPU is more than {KEY}.maxVcpus ({max_vcpus}); "
            "its runs could never start; lower vcpu or raise maxVcpus"
        )
    return problems


def _job_zone_problems(at: str, job: Mapping[str, Any], zones: list[Any]) -> list[str]:
    """readZone and writeZone are zones of the lake; a folder comes with its zone."""
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
    return problems


def _job_trigger_problems(at: str, job: Mapping[str, Any], zones: list[Any]) -> list[str]:
    """The event trigger watches the raw zone, and the job does not write where it watches."""
    problems = []
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
    """Parameters the command uses and the platform does not set; the schedule's form and
    overrides."""
    from components.jobs import PLATFORM_PARAMETERS, command_parameters
    from components.jobs.validators import parameter_name_problem

    command = job.get("command")
    if not isinstance(command, list) or not all(isinstance(c, str) for c in command):
        return []
    referenced = command_parameters(command)
    problems = []
    parameters = job.get("parameters")
    for name in parameters if isinstance(parameters, dict) else {}:
        if parameter_name_problem(name):
            problems.append(f"{at}.parameters.{name}: {parameter_name_problem(name)}")
        elif name in PLATFORM_PARAMETERS:
            problems.append(
                f"{at}.parameters.{name}: set by the platform (from readZone/readPrefix, "
                "writeZone/writePrefix, arraySize or the event trigger); remove it here"
            )
        elif name not in referenced:
            problems.append(
                f"{at}.parameters.{name}: the command has no Ref::{name}; it would be ignored"
            )
    problems += _unresolved_reference_problems(at, job, referenced)
    return problems + _job_schedule_problems(at, job.get("schedule"), referenced)


def platform_parameters_of(job: Mapping[str, Any]) -> list[str]:
    """The parameters the platform gives this job's runs (components/jobs: the lake's
    buckets and folders of readZone/readPrefix and writeZone/writePrefix, ``array_size`` of an
    array job, ``trigger_bucket``/``trigger_key`` of the runs a new raw object submits)."""
    from components.jobs import ARRAY_SIZE_PARAMETER, TRIGGER_PARAMETERS

    given = []
    for kind in ("read", "write"):
        if job.get(f"{kind}Zone") is not None:
            given.append(f"{kind}_bucket")
            prefix = job.get(f"{kind}Prefix")
            if isinstance(prefix, str) and prefix.strip("/"):
                given.append(f"{kind}_prefix")
    if job.get("arraySize") is not None:
        given.append(ARRAY_SIZE_PARAMETER)
    if job.get("onNewRawData") is True:
        given += list(TRIGGER_PARAMETERS)
    return given


def _unresolved_reference_problems(
    at: str, job: Mapping[str, Any], referenced: list[str]
) -> list[str]:
    """Every ``Ref::name`` of the command gets a value: a default in ``parameters`` or one the
    platform gives. Batch substitutes only parameters it has (defaults of the definition or
    the SubmitJob request's; "Parameter substitution", https://docs.aws.amazon.com/batch/
    latest/userguide/example-use-parameters.html); the rest reach the container as the literal
    text ``Ref::name``. The trigger's parameters exist only on runs a new raw object submits,
    which the batch inference job handles (it treats ``Ref::trigger_key`` as absent), so they
    need ``onNewRawData`` and nothing more."""
    parameters = job.get("parameters")
    defaults = set(parameters) if isinstance(parameters, dict) else set()
    given = set(platform_parameters_of(job))
    problems = []
    for name in referenced:
        if name in defaults or name in given:
            continue
        if name in ("trigger_bucket", "trigger_key"):
            why = f"only runs submitted by a new raw object get it; set {at}.onNewRawData: true"
        elif name in ("read_bucket", "read_prefix", "write_bucket", "write_prefix"):
            kind = name.split("_")[0]
            what = "Zone" if name.endswith("bucket") else "Prefix"
            why = f"the platform sets it from {at}.{kind}{what}, which is not given"
        elif name == "array_size":
            why = f"the platform sets it from {at}.arraySize, which is not given"
        else:
            why = f"give a default in {at}.parameters"
        problems.append(f"{at}.command: Ref::{name} has no value ({why})")
    return problems


def _job_schedule_problems(at: str, schedule: Any, referenced: list[str]) -> list[str]:
    """Exactly one of cron and rate; overrides only of parameters the command uses."""
    if not isinstance(schedule, dict):
        return []
    problems = []
    if ("cron" in schedule) == ("rate" in schedule):
        problems.append(
            f"{at}.schedule: "
            + (
                "Only one of [cron] and [rate] can be given"
                if "cron" in schedule
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
