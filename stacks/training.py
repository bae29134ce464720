"""Continuous training in one region, from ``mlops:training`` (the composition of
components/training with the region's lake, Batch environment, scoring jobs and web service).

Every region gets the registry table, both jobs and their roles (a standby region can train
or check by hand, on its replica of the lake), the alarms and the retraining rule (it fires
only on its own region's drift alarm); the drift schedule and the new-data trigger exist in
every region too but are ENABLED only in the active region, like every other schedule, so
nothing runs twice (``python -m stacks failover`` switches them). The scoring jobs named in ``scoringJobs`` and the web service read the
approved version: their environments name the registry and the model
(:func:`scoring_job_environment`, :func:`web_service_environment`) and their roles get the
serving grants (:func:`grant_serving`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi

from components.data_lake import DataLake
from components.iam import ServiceRole
from components.jobs import (
    BatchEnvironment,
    BatchEnvironmentArgs,
    JobBuild,
    Jobs,
    JobScheduleArgs,
    TriggerState,
)
from components.kms import KeyInput
from components.training import (
    ContinuousTraining,
    ContinuousTrainingArgs,
    JobSize,
    ModelRegistry,
    ModelRegistryArgs,
    registry_table_name,
    scoring_environment,
    serving_environment,
)
from stacks.config import PROJECT_ROOT, PlatformConfig, TrainingJobSizeConfig

#: The training image's build context, relative to the project root.
TRAINING_BUILD_CONTEXT = "services/training"


def name_prefix(cfg: PlatformConfig) -> str:
    return f"mlops-{cfg.environment}"


def model_registry(
    name: str,
    cfg: PlatformConfig,
    key: KeyInput,
    parent: pulumi.Resource,
    *,
    replica_keys: Mapping[str, KeyInput] | None = None,
    replica_of: ModelRegistry | None = None,
) -> ModelRegistry | None:
    """The region's registry (None when training is off): one global table, created in the
    primary with a replica per ``replica_keys`` region; elsewhere ``replica_of`` (the
    primary's registry) and this region's replica (stacks/resilience.py)."""
    if not cfg.training.enabled:
        return None
    return ModelRegistry(
        f"{name}-model-registry",
        ModelRegistryArgs(
            table_name=registry_table_name(name_prefix(cfg)),
            key=key,
            deletion_protection=cfg.protect_stateful,
            protect=cfg.protect_stateful,
            replica_keys=dict(replica_keys or {}),
            replica_of=replica_of,
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def web_service_environment(cfg: PlatformConfig) -> dict[str, str]:
    """The web service's model serving variables (none when training is off)."""
    training = cfg.training
    if not training.enabled:
        return {}
    return serving_environment(
        registry_table_name(name_prefix(cfg)), training.model, training.serving_refresh_seconds
    )


def scoring_job_environment(cfg: PlatformConfig, job: str) -> dict[str, str]:
    """A scoring job's registry variables (none unless it is in ``scoringJobs``)."""
    training = cfg.training
    if not training.enabled or job not in training.scoring_jobs:
        return {}
    return scoring_environment(registry_table_name(name_prefix(cfg)), training.model)


def continuous_training(
    name: str,
    cfg: PlatformConfig,
    *,
    registry: ModelRegistry,
    lake: DataLake,
    jobs: Jobs,
    vpc_id: pulumi.Input[str],
    private_subnet_ids: Sequence[pulumi.Input[str]],
    is_active: bool,
    parent: pulumi.Resource,
) -> ContinuousTraining:
    """The loop on the region's Batch environment (its own environment when ``mlops:jobs``
    has no jobs, hence no environment)."""
    training = cfg.training
    environment = jobs.environment
    if environment is None:
        environment = BatchEnvironment(
            f"{name}-training-batch",
            BatchEnvironmentArgs(
                name_prefix=name_prefix(cfg),
                vpc_id=vpc_id,
                subnet_ids=list(private_subnet_ids),
                key=jobs.key,
                alert_topic=jobs.alert_topic,
                max_vcpus=cfg.jobs.max_vcpus,
                log_retention_days=cfg.log_retention_days,
                protect=cfg.protect_stateful,
            ),
            opts=pulumi.ResourceOptions(parent=parent),
        )
    drift = training.drift
    return ContinuousTraining(
        f"{name}-training",
        ContinuousTrainingArgs(
            environment=environment,
            lake=lake,
            registry=registry,
            model=training.model,
            data_prefix=training.data_prefix,
            drift_prefix=drift.prefix,
            build=JobBuild(TRAINING_BUILD_CONTEXT),
            build_root=str(PROJECT_ROOT),
            # The region's job image repository when the jobs have one (else its own).
            image_repository=(
                (jobs.repository, jobs.lifecycle_policy)
                if jobs.repository is not None and jobs.lifecycle_policy is not None
                else None
            ),
            measure=drift.measure,
            threshold=drift.effective_threshold,
            metrics=training.metrics,
            promotion_metric=training.promotion.metric,
            margin=training.promotion.margin,
            auto_promote=training.promotion.automatic,
            holdout_fraction=training.holdout_fraction,
            window_days=training.window_days,
            drift_window_days=drift.window_days,
            min_records=training.min_records,
            drift_schedule=JobScheduleArgs(
                expression=drift.schedule.expression,
                timezone=drift.schedule.timezone,
                enabled=drift.schedule.enabled,
            ),
            drift_on_new_data=drift.on_new_data,
            train_size=_size(training.train_job),
            drift_size=_size(training.drift_job),
            triggers=TriggerState(active=is_active, switchable=True),
            force_delete=cfg.ephemeral,
            protect=cfg.protect_stateful,
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def _size(size: TrainingJobSizeConfig) -> JobSize:
    return JobSize(size.vcpu, size.memory_mib, size.timeout_seconds)


def grant_serving(
    cfg: PlatformConfig, loop: ContinuousTraining, jobs: Jobs, web_task_role: ServiceRole | None
) -> Mapping[str, object]:
    """The serving grants of the scoring jobs and the web service's task role."""
    granted: dict[str, object] = {}
    for job in cfg.training.scoring_jobs:
        if job in jobs.jobs:
            granted[job] = loop.grant_serving(jobs.jobs[job].job_role)
    if web_task_role is not None:
        granted["web"] = loop.grant_serving(web_task_role)
    return granted
