"""``mlops:training``: continuous training of one model (components/training): where its data
lives, the drift measure and threshold, the evaluation metrics, the promotion margin, the
data windows, the drift schedule and which scoring jobs serve the approved version. On by
default; the loop's own checks (``training_problems``) validate the values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator, model_validator

from stacks.config.base import NAMESPACE, ConfigModel, count, field_default, section
from stacks.config.data_lake import lake_zones
from stacks.config.jobs import ScheduleConfig

KEY = f"{NAMESPACE}:training"


def _folder(value: str) -> str:
    clean = value.strip("/")
    if not clean or any(c in clean for c in "*?$") or "//" in clean:
        raise ValueError(
            f"{value!r} must be a literal folder like 'customers/daily' (no wildcards)"
        )
    return clean


class PromotionConfig(ConfigModel):
    """When a newly trained version replaces the serving one without a human."""

    metric: str = Field(default="auc", description="Metric that decides (one of metrics).")
    margin: float = Field(
        default=0.01, description="How much better than the serving version, 0-1."
    )
    automatic: bool = Field(default=True, description="false: every version waits for approval.")

    @field_validator("margin")
    @classmethod
    def _margin(cls, value: float) -> float:
        if not 0 <= value <= 1:
            raise ValueError(f"{value} is not a margin; use 0 to 1 (in units of the metric)")
        return value


class DriftScheduleConfig(ScheduleConfig):
    """When the drift check runs on its own: exactly one of ``cron`` and ``rate``."""

    @model_validator(mode="after")
    def _one_of(self) -> DriftScheduleConfig:
        if (self.cron is None) == (self.rate is None):
            raise ValueError("give exactly one of cron (e.g. '0 6 * * ? *') and rate ('1 day')")
        return self


class DriftConfig(ConfigModel):
    """The drift check: what it compares, with which measure, and when it runs."""

    measure: str = Field(default="psi", description="psi (population stability index) or ks.")
    threshold: float | None = Field(
        default=None,
        description="Alarm when a feature's score reaches it. Default: 0.2 (psi), 0.1 (ks).",
    )
    prefix: str = Field(
        default="customers/daily", description="Curated folder of the newest data to compare."
    )
    window_days: int = Field(default=1, description="Days of newest data compared, 1-3650.")
    schedule: DriftScheduleConfig = Field(
        default_factory=lambda: DriftScheduleConfig(rate="1 day"),
        description="When the check runs. Default: daily.",
    )
    on_new_data: bool = Field(
        default=True, description="Also check after each new curated object under prefix."
    )

    @field_validator("measure")
    @classmethod
    def _measure(cls, value: str) -> str:
        from components.training import MEASURES

        if value not in MEASURES:
            raise ValueError(f"{value!r} is not a drift measure; use one of {', '.join(MEASURES)}")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return _folder(value)

    @model_validator(mode="after")
    def _threshold(self) -> DriftConfig:
        value = self.threshold
        if value is not None and (value <= 0 or (self.measure == "ks" and value > 1)):
            upper = " and at most 1 for ks" if self.measure == "ks" else ""
            raise ValueError(f"threshold {value} must be above 0{upper}")
        return self

    @property
    def effective_threshold(self) -> float:
        from components.training import DEFAULT_THRESHOLDS

        return self.threshold if self.threshold is not None else DEFAULT_THRESHOLDS[self.measure]


class TrainingJobSizeConfig(ConfigModel):
    """vCPUs, memory and max run time of one of the loop's jobs (Fargate sizes)."""

    vcpu: float = Field(description="vCPUs: 0.25, 0.5, 1, 2, 4, 8 or 16.")
    memory_mib: int = Field(description="Memory in MiB, one Fargate allows with vcpu.")
    timeout_seconds: int = Field(description="Max run time of one attempt, at least 60.")

    @model_validator(mode="after")
    def _size(self) -> TrainingJobSizeConfig:
        from components.jobs import MIN_TIMEOUT_SECONDS, fargate_size_problem

        problem = fargate_size_problem(self.vcpu, self.memory_mib)
        if problem:
            raise ValueError(problem)
        if self.timeout_seconds < MIN_TIMEOUT_SECONDS:
            raise ValueError(f"timeoutSeconds must be at least {MIN_TIMEOUT_SECONDS}")
        return self


class TrainingConfig(ConfigModel):
    """Continuous training of one model; schedules, alarms and the retraining rule exist in
    the primary region only, the registry, jobs and roles in every region."""

    enabled: bool = Field(default=True, description="Build the loop (needs curated, models zones).")
    model: str = Field(default="churn", description="The model's name, 1-14 chars: a-z 0-9 '-'.")
    data_prefix: str = Field(
        default="customers/labelled", description="Curated folder of labelled training records."
    )
    window_days: int = Field(default=90, description="Days of labelled data a run trains on.")
    holdout_fraction: float = Field(
        default=0.2, description="Share held out to evaluate, 0.05-0.5."
    )
    min_records: int = Field(default=100, description="Fewest records a window may hold.")
    metrics: tuple[str, ...] = Field(
        default=("auc", "log_loss"), description="auc, log_loss, brier, accuracy (held-out split)."
    )
    promotion: PromotionConfig = Field(default_factory=PromotionConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    scoring_jobs: tuple[str, ...] = Field(
        default=(), description="mlops:jobs names that score with the approved version."
    )
    serving_refresh_seconds: int = Field(
        default=60, description="Web service: at most this long until a new approval serves."
    )
    train_job: TrainingJobSizeConfig = Field(
        default_factory=lambda: TrainingJobSizeConfig.model_validate(
            {"vcpu": 1, "memoryMib": 2048, "timeoutSeconds": 3600}
        ),
        description="Size of a training run. Default: 1 vCPU, 2048 MiB, 3600 s.",
    )
    drift_job: TrainingJobSizeConfig = Field(
        default_factory=lambda: TrainingJobSizeConfig.model_validate(
            {"vcpu": 0.5, "memoryMib": 1024, "timeoutSeconds": 900}
        ),
        description="Size of a drift check. Default: 0.5 vCPU, 1024 MiB, 900 s.",
    )

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        from components.training import MODEL_NAME_RE, MODEL_NAME_RULE

        if not MODEL_NAME_RE.match(value):
            raise ValueError(f"{value!r} is not a model name; use {MODEL_NAME_RULE}")
        return value

    @field_validator("data_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return _folder(value)

    @field_validator("window_days")
    @classmethod
    def _days(cls, value: int) -> int:
        if not 1 <= value <= 3650:
            raise ValueError(f"{value} days; use 1 to 3650")
        return value

    @field_validator("holdout_fraction")
    @classmethod
    def _holdout(cls, value: float) -> float:
        if not 0.05 <= value <= 0.5:
            raise ValueError(f"{value}; hold out 0.05 to 0.5 of the window")
        return value

    @field_validator("min_records")
    @classmethod
    def _min_records(cls, value: int) -> int:
        if value < 10:
            raise ValueError(f"{value}; a model needs at least 10 records to train and evaluate")
        return value

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from components.training import METRICS

        unknown = [m for m in value if m not in METRICS]
        if not value or unknown:
            raise ValueError(
                f"{list(unknown) or 'nothing'} given; use some of {', '.join(METRICS)}"
            )
        return value

    @field_validator("serving_refresh_seconds")
    @classmethod
    def _refresh(cls, value: int) -> int:
        if not 5 <= value <= 3600:
            raise ValueError(f"{value} seconds; use 5 to 3600")
        return value


# Cross-key checks --------------------------------------------------------------------------


def training_cross_checks(data: Mapping[str, Any]) -> list[str]:
    """Training keys that depend on other keys: the lake's zones, the promotion metric among
    the metrics, the scoring jobs among ``mlops:jobs.jobs`` (and not pinned to an artefact),
    the jobs' sizes within ``mlops:jobs.maxVcpus``."""
    training = section(data, "training") or {}
    if training.get("enabled", True) is not True:
        return []
    from components.data_lake import zone_problems

    problems = []
    zones = lake_zones(data)
    valid = isinstance(zones, list) and not zone_problems(zones)  # else reported at the zones
    missing = [z for z in ("curated", "models") if valid and z not in zones]
    if missing:
        problems.append(
            f"{KEY}.enabled: continuous training reads the 'curated' zone and writes the "
            f"'models' zone, but {NAMESPACE}:dataLake.zones is {zones} (missing {missing}); add "
            "them or set enabled: false"
        )
    promotion = training.get("promotion")
    metric = promotion.get("metric", "auc") if isinstance(promotion, dict) else "auc"
    metrics = training.get("metrics", list(field_default(TrainingConfig, "metrics")))
    if isinstance(metrics, list) and isinstance(metric, str) and metric not in metrics:
        problems.append(f"{KEY}.promotion.metric: {metric!r} is not one of {KEY}.metrics {metrics}")
    return problems + _job_problems(data, training)


def _job_problems(data: Mapping[str, Any], training: Mapping[str, Any]) -> list[str]:
    from components.jobs import vcpu_value

    jobs = section(data, "jobs") or {}
    listed = jobs.get("jobs")
    by_name = {
        j.get("name"): j
        for j in (listed if isinstance(listed, list) else [])
        if isinstance(j, dict)
    }
    problems = []
    scoring = training.get("scoringJobs")
    for i, name in enumerate(scoring if isinstance(scoring, list) else []):
        job = by_name.get(name)
        at = f"{KEY}.scoringJobs[{i}]"
        if job is None:
            problems.append(
                f"{at}: {name!r} is not a job of {NAMESPACE}:jobs.jobs ({sorted(map(str, by_name))})"
            )
            continue
        command, environment = job.get("command"), job.get("environment")
        if (isinstance(command, list) and "--model-key" in command) or (
            isinstance(environment, dict) and "BATCH_INFERENCE_MODEL_KEY" in environment
        ):
            problems.append(
                f"{at}: job {name!r} is pinned to a model artefact (--model-key); remove it so the "
                "job scores with the registry's approved version, or remove the job here"
            )
    max_vcpus = jobs.get("maxVcpus", 16)
    for key in ("trainJob", "driftJob"):
        size = training.get(key)
        vcpu = size.get("vcpu") if isinstance(size, dict) else None
        if count(max_vcpus) is not None and isinstance(vcpu, (int, float)) and vcpu > max_vcpus:
            problems.append(
                f"{KEY}.{key}.vcpu: {vcpu_value(vcpu)} vCPU is more than {NAMESPACE}:jobs.maxVcpus "
                f"({max_vcpus}); its runs could never start"
            )
    return problems
