"""``mlops:containers``: the web service of every region, ECS Fargate tasks behind a load
balancer (components/containers). Sizes, image references, environment names, secret and
certificate ARNs and the health path are checked by the component's own problem functions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator

from stacks.config.base import (
    NAMESPACE,
    ConfigModel,
    checked,
    count,
    field_default,
    is_production,
    raise_joined,
    section,
)
from stacks.config.builds import ContainerBuildConfig, build_path_problems

KEY = f"{NAMESPACE}:containers"


class WafConfig(ConfigModel):
    """The WAFv2 web ACL on the service's internet-facing load balancer (components/entry)."""

    enabled: bool | None = Field(
        default=None, description="Attach the WAF. Default: on in production, off elsewhere."
    )
    rate_limit: int = Field(
        default=2000,
        description="Requests per client IP in 5 minutes before it is blocked (at least 10).",
    )

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: int) -> int:
        from components.entry.waf import MIN_RATE_LIMIT

        if value < MIN_RATE_LIMIT:
            raise ValueError(f"{value} is below WAF's minimum rate limit {MIN_RATE_LIMIT}")
        return value


class ContainersConfig(ConfigModel):
    """The web service of every region: ECS Fargate tasks behind a load balancer."""

    enabled: bool = Field(default=True, description="Create the service (false: switched off).")
    cpu: int = Field(default=256, description="Task CPU units (1024 = 1 vCPU), a Fargate size.")
    memory: int = Field(default=512, description="Task memory in MiB, valid for the cpu value.")
    cpu_architecture: Literal["X86_64", "ARM64"] = Field(
        default="X86_64", description="Fargate CPU architecture (the image is built for it)."
    )
    desired_count: int = Field(default=1, description="Tasks to run (production: at least 2).")
    min_count: int | None = Field(
        default=None, description="Autoscaling minimum. Default: desiredCount."
    )
    max_count: int | None = Field(
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
    image_uri: str | None = Field(
        default=None, description="A prebuilt image. Default: build the image (see build)."
    )
    waf: WafConfig = Field(
        default_factory=WafConfig,
        description="WAF on the load balancer. Default: on in production, off elsewhere.",
    )
    build: ContainerBuildConfig | None = Field(
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
    def image_build(self) -> ContainerBuildConfig | None:
        """What to build: ``build``, or the default build when no ``imageUri`` is given."""
        if self.image_uri is not None:
            return None
        return self.build or ContainerBuildConfig()

    @field_validator("cpu")
    @classmethod
    def _fargate_cpu(cls, value: int) -> int:
        # The CPU alone, named at its own key; the pair is checked by the component's
        # fargate_size_problem (containers_cross_checks).
        from components.containers import FARGATE_MEMORY

        if value not in FARGATE_MEMORY:
            raise ValueError(
                f"{value} is not a Fargate task CPU value; use one of "
                f"{', '.join(map(str, FARGATE_MEMORY))}"
            )
        return value

    @field_validator("desired_count", "min_count")
    @classmethod
    def _not_negative(cls, value: int | None) -> int | None:
        if value is not None and value < 0:
            raise ValueError(f"{value} is below zero; give 0 or more tasks")
        return value

    @field_validator("max_count")
    @classmethod
    def _at_least_one(cls, value: int | None) -> int | None:
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

        return checked(health_check_path_problem(value), value)

    @field_validator("certificate_arns")
    @classmethod
    def _certificates(cls, value: dict[str, str]) -> dict[str, str]:
        from components.containers import certificate_arn_problem

        raise_joined([p for p in map(certificate_arn_problem, value.values()) if p])
        return value

    @field_validator("image_uri")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        from components.containers import image_uri_problem

        return value if value is None else checked(image_uri_problem(value), value)

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: dict[str, str]) -> dict[str, str]:
        from components.containers import environment_name_problem

        raise_joined([p for p in map(environment_name_problem, value) if p])
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
        # The component checks secret names with its own (private) pattern; it publishes no
        # name-only check (environment_name_problem also refuses secret-looking names).
        problems += [
            f"{name!r} is not an environment variable name"
            for name in value
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)
        ]
        raise_joined(problems)
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


def containers_cross_checks(data: Mapping[str, Any]) -> list[str]:
    """Container service keys that depend on each other or on other keys: the CPU/memory
    pair, task counts (production: at least 2), image source, certificates per region."""
    web = section(data, "containers")
    if web is None:
        return []
    return (
        _size_problems(web)
        + _count_problems(web, is_production(data))
        + _image_problems(web)
        + _certificate_problems(web, data.get("regions"))
        + _secret_problems(web, _training_on(data))
        + _deployment_problems(web)
        + _waf_problems(web, is_production(data))
    )


def _training_on(data: Mapping[str, Any]) -> bool:
    """Continuous training is on (its default) and so sets the serving variables."""
    training = section(data, "training")
    return training is None or training.get("enabled", True) is not False


def _waf_problems(web: Mapping[str, Any], production: bool) -> list[str]:
    """Production keeps the WAF on every internet-facing load balancer."""
    waf = web.get("waf")
    if production and web.get("enabled") is not False and isinstance(waf, dict):
        if waf.get("enabled") is False:
            return [
                f"{KEY}.waf.enabled: production serves the web service behind a WAF; remove "
                "the key or set it to true"
            ]
    return []


def _size_problems(web: Mapping[str, Any]) -> list[str]:
    """The task's CPU and memory, a pair Fargate supports (the component's rule)."""
    from components.containers import FARGATE_MEMORY, fargate_size_problem

    cpu = count(web.get("cpu", field_default(ContainersConfig, "cpu")))
    memory = count(web.get("memory", field_default(ContainersConfig, "memory")))
    if cpu is not None and cpu in FARGATE_MEMORY and memory is not None:
        size = fargate_size_problem(cpu, memory)
        if size:
            return [f"{KEY}.memory: {size} ({KEY}.cpu is {cpu})"]
    return []


def _count_problems(web: Mapping[str, Any], production: bool) -> list[str]:
    """minCount <= desiredCount <= maxCount; production runs at least 2 tasks."""
    problems: list[str] = []
    desired = count(web.get("desiredCount", 1))
    low = count(web.get("minCount", desired))
    high = count(web.get("maxCount", max(1, 2 * desired) if desired is not None else None))
    if (
        desired is not None
        and low is not None
        and high is not None
        and min(desired, low) >= 0
        and high >= 1
    ):
        if low > high:
            problems.append(f"{KEY}.minCount: {low} is above {KEY}.maxCount ({high})")
        elif not low <= desired <= high:
            problems.append(
                f"{KEY}.desiredCount: {desired} is outside the autoscaling range {low}..{high} "
                f"({KEY}.minCount..{KEY}.maxCount)"
            )
    if production and web.get("enabled", True) is not False:
        for name, tasks in (("desiredCount", desired), ("minCount", count(web.get("minCount")))):
            if tasks is not None and 0 <= tasks < 2:
                problems.append(
                    f"{KEY}.{name}: {tasks} task(s) in production; run at least 2 so the "
                    "service survives a task or AZ failure"
                )
    return problems


def _image_problems(web: Mapping[str, Any]) -> list[str]:
    """Only one of imageUri and build; a build (or the default one) that exists."""
    if web.get("imageUri") is not None and web.get("build") is not None:
        return [f"{KEY}.build: Only one of [imageUri] and [build] can be given"]
    if web.get("imageUri") is None and web.get("enabled", True) is not False:
        return build_path_problems(web.get("build"))
    return []


def _certificate_problems(web: Mapping[str, Any], regions: Any) -> list[str]:
    """Each certificate belongs to a listed region and was issued in that region."""
    from components.containers import certificate_region

    names = (
        [r.get("name") for r in regions if isinstance(r, dict)] if isinstance(regions, list) else []
    )
    certificates = web.get("certificateArns")
    problems: list[str] = []
    for region, arn in certificates.items() if isinstance(certificates, dict) else ():
        if region not in names:
            problems.append(
                f"{KEY}.certificateArns.{region}: {region!r} is not a region of "
                f"{NAMESPACE}:regions ({', '.join(map(str, names))})"
            )
        elif isinstance(arn, str) and certificate_region(arn) not in (None, region):
            problems.append(
                f"{KEY}.certificateArns.{region}: the certificate is in "
                f"{certificate_region(arn)}; a load balancer needs one from its own region"
            )
    return problems


def _secret_problems(web: Mapping[str, Any], training_on: bool = True) -> list[str]:
    """A variable is either plain environment or a secret, not both, and not one the platform
    sets (the container port; the model serving variables while training is on)."""
    from components.containers.validators import PLATFORM_ENVIRONMENT
    from components.training.documents import serving_environment

    env, secrets = web.get("environment"), web.get("secrets")
    if not isinstance(secrets, dict):
        return []
    platform = set(PLATFORM_ENVIRONMENT)
    if training_on:
        platform |= set(serving_environment("table", "model", 60))
    problems = []
    for name in secrets:
        if name in platform:
            problems.append(
                f"{KEY}.secrets.{name}: {name} is set by the platform"
                + (" (the container port)" if name in PLATFORM_ENVIRONMENT else " (model serving)")
                + "; use another name"
            )
        elif isinstance(env, dict) and name in env:
            problems.append(
                f"{KEY}.secrets.{name}: {name!r} is also set in {KEY}.environment; give it once"
            )
    return problems


def _deployment_problems(web: Mapping[str, Any]) -> list[str]:
    """A rolling update can start: the maximum percent is above the minimum healthy one."""
    low_pct = count(web.get("deploymentMinimumHealthyPercent", 100))
    high_pct = count(web.get("deploymentMaximumPercent", 200))
    if low_pct is not None and high_pct is not None and 100 <= high_pct <= low_pct:
        return [
            f"{KEY}.deploymentMaximumPercent: {high_pct} must be above "
            f"{KEY}.deploymentMinimumHealthyPercent ({low_pct}), or a rolling update cannot start"
        ]
    return []
