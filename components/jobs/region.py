"""One region's jobs: the environment, its jobs, their images and optional Airflow, from
plain specs.

:class:`Jobs` creates the :class:`~components.jobs.environment.BatchEnvironment` (when there
are jobs), the shared image repository and one image per distinct build (when a job gives a
``build`` instead of an ``image``; those jobs' execution roles may pull from that repository
only), one :class:`~components.jobs.definitions.BatchJob` per :class:`JobSpec`, and the
optional :class:`~components.jobs.airflow.Airflow`, whose DAG bucket logs into the data
lake's log bucket when there is a lake.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_awsx as awsx

from components.checks import duplicates, raise_problems
from components.containers import CPU_ARCHITECTURES
from components.data_lake import DataLake
from components.jobs.airflow import AIRFLOW_DAGS_LOG_PREFIX, Airflow, AirflowArgs
from components.jobs.definitions import BatchJob, BatchJobArgs, LakeAccess
from components.jobs.environment import BatchEnvironment, BatchEnvironmentArgs, JobBuild, job_images
from components.jobs.runs import JobScheduleArgs, ObjectTriggerArgs, TriggerState
from components.jobs.validators import key_input_problems, topic_input_problems
from components.kms import ExistingKey, KeyInput, RegionKey, as_key
from components.monitoring import AlertTopic, ExistingAlertTopic, TopicInput, Widget, as_alert_topic


@dataclass(frozen=True)
class JobSpec:
    """One job of :class:`Jobs`: its name and template (see :class:`BatchJobArgs`); exactly
    one of ``image`` and ``build``."""

    name: str
    command: Sequence[str]
    vcpu: float
    memory_mib: int
    timeout_seconds: int
    parameters: Mapping[str, str] = field(default_factory=dict)
    """Default: none beyond the platform's."""
    environment_variables: Mapping[str, str] = field(default_factory=dict)
    """Default: none."""
    attempts: int = 1
    """Default: one attempt."""
    read: LakeAccess | None = None
    """Default: no read access."""
    write: LakeAccess | None = None
    """Default: no write access."""
    schedule: JobScheduleArgs | None = None
    """Default: no schedule."""
    on_new_objects: ObjectTriggerArgs | None = None
    """Default: no event trigger."""
    array_size: int | None = None
    """Default: single-container runs."""
    image: str | None = field(default=None, kw_only=True)
    """Default: none (then ``build`` is required). A prebuilt image (see
    :attr:`BatchJobArgs.image`)."""
    build: JobBuild | None = field(default=None, kw_only=True)
    """Default: none (then ``image`` is required). Build the image and push it to the
    region's job image repository; jobs with the same build share one image."""


@dataclass(frozen=True)
class AirflowSpec:
    """Managed Airflow of :class:`Jobs` (see :class:`AirflowArgs`)."""

    environment_class: str = "mw1.small"
    """Default: mw1.small."""
    max_workers: int = 2
    """Default: two workers at most."""


@dataclass(frozen=True)
class JobsArgs:
    """Arguments of :class:`Jobs`."""

    name_prefix: str
    """E.g. ``mlops-dev``; see :class:`BatchEnvironmentArgs`."""
    key: KeyInput
    """The region key, or the ARN of an existing KMS key (its key policy must let the services
    of :class:`BatchEnvironmentArgs` and :class:`AirflowArgs` and ECR use it): encrypts the
    job log groups, dead-letter queues, the job image repository and Airflow."""
    alert_topic: TopicInput
    """The region's alert topic, or the ARN of an existing SNS topic (see
    :attr:`BatchEnvironmentArgs.alert_topic`): where failed runs and submissions are
    reported."""
    vpc_id: pulumi.Input[str]
    """The region's VPC."""
    private_subnet_ids: Sequence[pulumi.Input[str]]
    """The region's private subnets (Airflow uses the first two)."""
    lake: DataLake | None = None
    """Default: no data lake (jobs then may not read, write or be triggered by it)."""
    jobs: Sequence[JobSpec] = ()
    """Default: no jobs (and then no compute environment)."""
    max_vcpus: int = 16
    """Default: at most 16 vCPUs of runs at a time."""
    triggers: TriggerState = TriggerState()
    """Default: every job's schedule and object trigger are ENABLED and stay so. In a
    multi-region platform: ``active`` only in the active region (DISABLED elsewhere) and
    ``switchable`` (the state then belongs to ``failover``); see :class:`TriggerState`."""
    airflow: AirflowSpec | None = None
    """Default: no managed Airflow."""
    log_retention_days: int = 30
    """Default: logs are kept 30 days."""
    force_destroy: bool = False
    """Default: buckets holding objects cannot be deleted."""
    protect: bool = False
    """Default: unprotected."""
    cpu_architecture: str = "X86_64"
    """Default: the jobs run on x86-64 (Batch on Fargate); built images are built for
    ``linux/amd64`` (``ARM64``: ``linux/arm64``)."""
    build_root: str | None = None
    """Default: the current working directory. Where the jobs' relative build contexts and
    Dockerfiles are found to check them and to compute the image tags."""

    def resolve(self, path: str) -> Path:
        """``path`` as the build sees it: relative paths from ``build_root`` (default: cwd)."""
        base = Path(self.build_root) if self.build_root is not None else Path(os.getcwd())
        return base / path

    def problems(self) -> list[str]:
        """Problems with the key, the alert topic and the jobs' image sources, each naming
        its field (and the job)."""
        out: list[str] = key_input_problems(self.key) + topic_input_problems(self.alert_topic)
        names = [j.name for j in self.jobs]
        dupes = duplicates(names)
        if dupes:
            out.append(f"jobs: {dupes} listed more than once")
        if self.cpu_architecture not in CPU_ARCHITECTURES:
            out.append(
                f"cpu_architecture: {self.cpu_architecture!r} is not one of {list(CPU_ARCHITECTURES)}"
            )
        for i, spec in enumerate(self.jobs):
            at = f"jobs[{i}] ({spec.name})"
            if spec.image is not None and spec.build is not None:
                out.append(f"{at}: Only one of [image] and [build] can be given")
            elif spec.image is None and spec.build is None:
                out.append(
                    f"{at}: give [image] (a prebuilt image) or [build] (a Dockerfile to build)"
                )
            elif spec.build is not None:
                out += self._build_problems(at, spec.build)
        return out

    def _build_problems(self, at: str, build: JobBuild) -> list[str]:
        context = self.resolve(build.context)
        if not context.is_dir():
            return [
                f"{at}: build.context: directory {build.context!r} not found (looked in {context})"
            ]
        dockerfile = self.resolve(build.dockerfile) if build.dockerfile else context / "Dockerfile"
        if not dockerfile.is_file():
            key = "build.dockerfile" if build.dockerfile else "build.context"
            return [f"{at}: {key}: no Dockerfile at {dockerfile}"]
        return []


class Jobs(pulumi.ComponentResource):
    """One region's batch jobs: the environment, each job, and optional managed Airflow."""

    def __init__(
        self, name: str, args: JobsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        problems = args.problems()
        raise_problems(f"Jobs {name!r}", problems)
        key = as_key(args.key, "key")
        alert_topic = as_alert_topic(args.alert_topic, "alert_topic")
        super().__init__("mlops:jobs:Jobs", name, None, opts)
        self._name = name
        #: The resolved key and topic, handed to every part (an existing key or topic ARN
        #: becomes an object offering the same ``arn``).
        self.key: RegionKey | ExistingKey = key
        self.alert_topic: AlertTopic | ExistingAlertTopic = alert_topic
        self.environment: BatchEnvironment | None = None
        self.jobs: dict[str, BatchJob] = {}
        self.repository: aws.ecr.Repository | None = None
        self.lifecycle_policy: aws.ecr.LifecyclePolicy | None = None
        #: Built images by their build (context, Dockerfile).
        self.images: dict[JobBuild, awsx.ecr.Image] = {}
        self._build_images(args)
        if args.jobs:
            self._batch(args)
        self.airflow: Airflow | None = None
        if args.airflow is not None:
            self._airflow(args, args.airflow)
        self.register_outputs(self.outputs())

    def _build_images(self, args: JobsArgs) -> None:
        """The region's job image repository and one image per distinct build (named after
        the first job that uses it), when any job builds its image."""
        built = job_images(
            self._name,
            [(spec.name, spec.build) for spec in args.jobs if spec.build is not None],
            parent=self,
            key=self.key,
            cpu_architecture=args.cpu_architecture,
            resolve=args.resolve,
            force_delete=args.force_destroy,
            protect=args.protect,
        )
        if built is not None:
            self.repository, self.lifecycle_policy = built.repository, built.lifecycle_policy
            self.images.update(built.images)

    def _batch(self, args: JobsArgs) -> None:
        """The compute environment and one job per spec, children of the environment."""
        name = self._name
        environment = BatchEnvironment(
            f"{name}-batch",
            BatchEnvironmentArgs(
                name_prefix=args.name_prefix,
                vpc_id=args.vpc_id,
                subnet_ids=list(args.private_subnet_ids),
                key=self.key,
                alert_topic=self.alert_topic,
                max_vcpus=args.max_vcpus,
                log_retention_days=args.log_retention_days,
                protect=args.protect,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.environment = environment
        for spec in args.jobs:
            self.jobs[spec.name] = BatchJob(
                f"{name}-{spec.name}",
                BatchJobArgs(
                    job_name=spec.name,
                    environment=environment,
                    image=self._image(spec),
                    image_repository_arn=(
                        self.repository.arn
                        if spec.build is not None and self.repository is not None
                        else None
                    ),
                    cpu_architecture=args.cpu_architecture,
                    command=spec.command,
                    vcpu=spec.vcpu,
                    memory_mib=spec.memory_mib,
                    timeout_seconds=spec.timeout_seconds,
                    parameters=spec.parameters,
                    environment_variables=spec.environment_variables,
                    attempts=spec.attempts,
                    lake=args.lake,
                    read=spec.read,
                    write=spec.write,
                    schedule=spec.schedule,
                    on_new_objects=spec.on_new_objects,
                    array_size=spec.array_size,
                    triggers=args.triggers,
                ),
                opts=pulumi.ResourceOptions(parent=environment),
            )

    def _image(self, spec: JobSpec) -> pulumi.Input[str]:
        """The job's prebuilt image, or the URI of the image built for it."""
        if spec.build is not None:
            return self.images[spec.build].image_uri
        assert spec.image is not None  # JobsArgs.problems: exactly one of image and build
        return spec.image

    def _airflow(self, args: JobsArgs, spec: AirflowSpec) -> None:
        """Managed Airflow; the DAG bucket's access logs go to the lake's log bucket when
        there is a lake."""
        self.airflow = Airflow(
            f"{self._name}-airflow",
            AirflowArgs(
                environment_name=f"{args.name_prefix}-airflow",
                key=self.key,
                vpc_id=args.vpc_id,
                subnet_ids=list(args.private_subnet_ids)[:2],
                access_log_bucket=_log_bucket(args.lake),
                environment_class=spec.environment_class,
                max_workers=spec.max_workers,
                log_retention_days=args.log_retention_days,
                force_destroy=args.force_destroy,
                protect=args.protect,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        if args.lake is not None:
            args.lake.accept_access_logs(self.airflow.dag_bucket.arn, AIRFLOW_DAGS_LOG_PREFIX)

    def widgets(self) -> list[Widget]:
        """The environment's dashboard widgets (none without jobs)."""
        return self.environment.widgets() if self.environment is not None else []

    def outputs(self) -> dict[str, Any]:
        """What other stacks may reference: the queue, the job definitions and the
        repository of built job images (when a job builds its image)."""
        out: dict[str, Any] = {}
        if self.environment is not None:
            out["queueArn"] = self.environment.queue.arn
            out["jobDefinitions"] = {n: j.definition.arn for n, j in self.jobs.items()}
        if self.repository is not None:
            out["imageRepositoryUrl"] = self.repository.repository_url
        if self.airflow is not None:
            out["airflowArn"] = self.airflow.arn
        return out


def _log_bucket(lake: DataLake | None) -> pulumi.Input[str] | None:
    """Where Airflow's DAG bucket logs: the lake's log bucket (its own, or the existing one it
    was given), or None (Airflow then creates its own) without a lake."""
    if lake is None:
        return None
    return lake.log_bucket.id if lake.log_bucket is not None else lake.log_bucket_name
