"""Jobs and job runs: AWS Batch on Fargate, schedules, event triggers and failure alerts.

The model (seed 004): a **job** is a template (image, command, environment, vCPU/memory, max
run time, retries); a **run** is one execution of it with its own parameters, its own run id
(the Batch job id) and its own log stream, on capacity that exists only while runs need it.

One module per part; this package names the public API:

- :mod:`~components.jobs.environment`: :class:`BatchEnvironment`, a Fargate compute
  environment that scales to zero, its queue, schedule group and FAILED-run alert rule; and
  the region's shared job image repository (:class:`JobBuild`, :func:`job_images`).
- :mod:`~components.jobs.definitions`: :class:`BatchJob`, one job definition with its log
  group, execution role and job role (only the data lake grants given); the container
  properties and retry strategy; the platform's parameters and limits.
- :mod:`~components.jobs.runs`: what submits runs (EventBridge Scheduler schedules, new
  objects in a data lake zone) and in which state (:class:`TriggerState`: enabled only in
  the active region, switched at run time), their dead-letter queue and alarm, and the
  FAILED-run alert's pattern and message.
- :mod:`~components.jobs.airflow`: :class:`Airflow`, optional managed Airflow (MWAA) with
  its DAG bucket, log groups and a least-privilege execution role, only reachable from
  inside the VPC.
- :mod:`~components.jobs.region`: :class:`Jobs`, the environment, jobs, images and optional
  Airflow of one region, from plain :class:`JobSpec` values.
- :mod:`~components.jobs.validators`: pure checks (Fargate sizes, schedule expressions,
  time zones, command parameters, environment variables, image references) that
  ``stacks/config.py`` shares with the components.

Every component that takes the region key accepts a ``RegionKey`` or an existing KMS key
ARN; every one that takes the alert topic accepts an ``AlertTopic`` or an existing topic ARN.
"""

from __future__ import annotations

from components.jobs.airflow import (
    AIRFLOW_DAGS_LOG_PREFIX,
    MWAA_ENVIRONMENT_CLASSES,
    MWAA_LOG_MODULES,
    MWAA_SERVICES,
    Airflow,
    AirflowArgs,
    airflow_execution_statements,
    airflow_trust_policy,
)
from components.jobs.definitions import (
    ARRAY_SIZE_PARAMETER,
    DEFAULT_RETRY_EXIT_CODES,
    LAKE_PARAMETERS,
    LOG_STREAM_PREFIX,
    MAX_ARRAY_SIZE,
    MIN_TIMEOUT_SECONDS,
    PLATFORM_PARAMETERS,
    TMP_VOLUME,
    TRIGGER_PARAMETERS,
    BatchJob,
    BatchJobArgs,
    LakeAccess,
    container_properties,
    retry_strategy,
)
from components.jobs.environment import (
    UNSCHEDULABLE_CANCEL_SECONDS,
    UNSCHEDULABLE_REASONS,
    BatchEnvironment,
    BatchEnvironmentArgs,
    JobBuild,
    JobImages,
    job_images,
)
from components.jobs.region import AirflowSpec, Jobs, JobsArgs, JobSpec
from components.jobs.runs import (
    DLQ_RETENTION_SECONDS,
    FAILED_RUN_PATHS,
    SUBMIT_JOB_TARGET,
    SUBMIT_MAX_EVENT_AGE_SECONDS,
    SUBMIT_RETRY_ATTEMPTS,
    JobScheduleArgs,
    ObjectTriggerArgs,
    TriggerState,
    dead_letter_queue_policy,
    failed_run_message,
    failed_run_pattern,
    object_created_pattern,
    object_trigger_input,
    schedule_problems,
    submit_job_input,
)
from components.jobs.validators import (
    FARGATE_MEMORY_MIB,
    command_parameters,
    cron_problem,
    ecr_repository,
    environment_problems,
    fargate_size_problem,
    image_problem,
    rate_problem,
    schedule_expression_problem,
    timezone_problem,
    vcpu_problem,
    vcpu_value,
)

__all__ = [
    # region
    "Jobs",
    "JobsArgs",
    "JobSpec",
    "AirflowSpec",
    # environment
    "BatchEnvironment",
    "BatchEnvironmentArgs",
    "JobBuild",
    "JobImages",
    "job_images",
    "UNSCHEDULABLE_CANCEL_SECONDS",
    "UNSCHEDULABLE_REASONS",
    # definitions
    "BatchJob",
    "BatchJobArgs",
    "LakeAccess",
    "container_properties",
    "retry_strategy",
    "LAKE_PARAMETERS",
    "ARRAY_SIZE_PARAMETER",
    "TRIGGER_PARAMETERS",
    "PLATFORM_PARAMETERS",
    "DEFAULT_RETRY_EXIT_CODES",
    "LOG_STREAM_PREFIX",
    "TMP_VOLUME",
    "MAX_ARRAY_SIZE",
    "MIN_TIMEOUT_SECONDS",
    # runs
    "JobScheduleArgs",
    "ObjectTriggerArgs",
    "TriggerState",
    "schedule_problems",
    "submit_job_input",
    "failed_run_pattern",
    "FAILED_RUN_PATHS",
    "failed_run_message",
    "object_created_pattern",
    "object_trigger_input",
    "dead_letter_queue_policy",
    "SUBMIT_RETRY_ATTEMPTS",
    "SUBMIT_MAX_EVENT_AGE_SECONDS",
    "DLQ_RETENTION_SECONDS",
    "SUBMIT_JOB_TARGET",
    # airflow
    "Airflow",
    "AirflowArgs",
    "airflow_execution_statements",
    "airflow_trust_policy",
    "MWAA_ENVIRONMENT_CLASSES",
    "MWAA_LOG_MODULES",
    "MWAA_SERVICES",
    "AIRFLOW_DAGS_LOG_PREFIX",
    # validators
    "FARGATE_MEMORY_MIB",
    "vcpu_problem",
    "fargate_size_problem",
    "vcpu_value",
    "cron_problem",
    "rate_problem",
    "schedule_expression_problem",
    "timezone_problem",
    "command_parameters",
    "environment_problems",
    "image_problem",
    "ecr_repository",
]
