"""The loop: drift check, alarm, retraining, on the region's Batch environment.

:class:`ContinuousTraining` builds, children of itself:

- the training image (``services/training``) in its own ECR repository (or a given image);
- the **drift job** (``drift-<model>``): on a schedule and, when ``drift_on_new_data``, for
  every new curated object under the drift folder (the lake's EventBridge notifications);
  it compares the newest curated data with the serving version's baseline and publishes
  ``MaxDriftScore``/``DriftScore`` to the environment's namespace;
- the **drift alarm**: ``MaxDriftScore >= threshold`` notifies the alert topic; missing data
  keeps its state (``ignore``: "the current alarm state is maintained", CloudWatch
  ``TreatMissingData``, https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_cloudwatch.TreatMissingData.html),
  so one drift episode is one ``ALARM`` transition, one retraining;
- an EventBridge rule on that alarm's transition to ``ALARM`` whose Batch target submits
  the **training job** (``train-<model>``) through a role that may submit only that job to
  only that queue (EventBridge needs such a role to submit Batch jobs: AWS Batch User
  Guide, "EventBridge IAM role", https://docs.aws.amazon.com/batch/latest/userguide/CWE_IAM_role.html),
  with retries, a dead-letter queue and its alarm;
- the **held-candidate alarm**: ``CandidateAwaitingApproval >= 1`` tells the alert topic
  that a trained version waits for ``python -m stacks models approve``.

Failed runs of both jobs are reported by the environment's FAILED-run rule (with the run's
log stream). Each job role reads and writes exactly its folders and the registry:

=========  =====================================  ==========================================
job        data lake                              other
=========  =====================================  ==========================================
train      read ``curated/<data_prefix>``;         registry read-write; PutMetricData in the
           read-write ``models/registry/<model>``  namespace only
drift      read ``curated/<drift_prefix>``, read   registry read; PutMetricData in the
           ``models/registry/<model>``; write      namespace only
           ``models/drift/<model>``
=========  =====================================  ==========================================

:meth:`ContinuousTraining.grant_serving` gives a scoring job or the web service what serving
needs: registry read and ``models/registry/<model>`` read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.checks import raise_problems
from components.containers import DOCKER_PLATFORMS, ImageBuild, ecr_image
from components.data_lake import DataLake
from components.iam import ServiceRole, ServiceRoleArgs
from components.jobs import BatchEnvironment, BatchJob, BatchJobArgs, JobBuild, job_images
from components.jobs.runs import (
    SUBMIT_MAX_EVENT_AGE_SECONDS,
    SUBMIT_RETRY_ATTEMPTS,
    JobScheduleArgs,
    ObjectTriggerArgs,
    SubmittedJob,
    TriggerState,
    dead_letter_queue,
    dead_letter_queue_policy,
    submit_statement,
)
from components.monitoring import AlarmArgs, Metric, MetricWidget, Widget, metric_alarm
from components.training.documents import (
    ARTEFACT_PREFIX,
    DEFAULT_THRESHOLDS,
    DRIFT_METRIC,
    HELD_METRIC,
    REPORT_PREFIX,
    artefact_folder,
    drift_alarm_pattern,
    metric_namespace,
    put_metrics_statement,
    report_folder,
    retrain_input,
    training_problems,
)
from components.training.registry import ModelRegistry


@dataclass(frozen=True)
class JobSize:
    """vCPUs, memory and max run time of one job's runs (Fargate sizes)."""

    vcpu: float
    memory_mib: int
    timeout_seconds: int


@dataclass(frozen=True)
class ContinuousTrainingArgs:
    """Arguments of :class:`ContinuousTraining`."""

    environment: BatchEnvironment
    """The Batch environment (queue, key, alert topic, FAILED-run alerts) the jobs run in."""
    lake: DataLake
    """The data lake: needs the ``curated`` and ``models`` zones."""
    registry: ModelRegistry
    """The model registry table."""
    model: str
    """The model's name: 1-14 lowercase letters, digits or '-'."""
    data_prefix: str
    """Curated folder of labelled records the training job reads."""
    drift_prefix: str
    """Curated folder of the newest data the drift job compares (what the model scores)."""
    build: JobBuild | None = None
    """Default: none (then ``image`` is required). Build the training image (``services/training``)."""
    image: str | None = None
    """Default: none (then ``build`` is required). A prebuilt training image."""
    build_root: str | None = None
    """Default: the working directory. Where ``build`` paths are resolved."""
    image_repository: tuple[aws.ecr.Repository, aws.ecr.LifecyclePolicy] | None = None
    """Default: a built image gets an ECR repository of its own. When given (the region's
    job image repository and its lifecycle policy), it is pushed there."""
    measure: str = "psi"
    """Default: the population stability index. ``ks``: Kolmogorov-Smirnov."""
    threshold: float | None = None
    """Default: 0.2 for psi, 0.1 for ks. The alarm fires when the largest feature score reaches it."""
    metrics: Sequence[str] = ("auc", "log_loss")
    """Default: AUC and log loss on the held-out split."""
    promotion_metric: str = "auc"
    """Default: AUC decides promotion."""
    margin: float = 0.01
    """Default: a candidate must beat the serving version by 0.01 of the promotion metric."""
    auto_promote: bool = True
    """Default: a candidate that beats the serving version by the margin is approved at once."""
    holdout_fraction: float = 0.2
    """Default: one fifth of the window is held out for evaluation."""
    window_days: int = 90
    """Default: training reads the last 90 days of labelled data."""
    drift_window_days: int = 1
    """Default: the drift check reads the last day of new data."""
    min_records: int = 100
    """Default: a window of fewer than 100 records is refused."""
    drift_schedule: JobScheduleArgs | None = None
    """Default: no scheduled drift check."""
    drift_on_new_data: bool = True
    """Default: every new curated object under ``drift_prefix`` submits a drift check."""
    train_size: JobSize = JobSize(1, 2048, 3600)
    """Default: 1 vCPU, 2 GiB, one hour."""
    drift_size: JobSize = JobSize(0.5, 1024, 900)
    """Default: 0.5 vCPU, 1 GiB, 15 minutes."""
    triggers: TriggerState = TriggerState()
    """Default: the drift schedule and the new-data trigger are ENABLED and stay so. In a
    multi-region platform: ``active`` only in the active region (DISABLED elsewhere) and
    ``switchable`` (their state then belongs to ``failover``). The alarms and the retraining
    rule exist and are enabled in every region: the rule fires only on its own region's
    drift alarm, which only that region's drift runs feed."""
    cpu_architecture: str = "X86_64"
    """Default: x86-64 images and tasks."""
    force_delete: bool = False
    """Default: the image repository cannot be deleted while it holds images."""
    protect: bool = False
    """Default: unprotected."""
    tags: dict[str, str] = field(default_factory=dict)
    """Default: no extra tags beyond ``Name`` and ``model``."""

    @property
    def drift_threshold(self) -> float:
        return (
            self.threshold
            if self.threshold is not None
            else DEFAULT_THRESHOLDS.get(self.measure, 0.2)
        )

    def problems(self) -> list[str]:
        out = training_problems(
            model=self.model,
            measure=self.measure,
            threshold=self.drift_threshold,
            metrics=list(self.metrics),
            promotion_metric=self.promotion_metric,
            margin=self.margin,
            holdout_fraction=self.holdout_fraction,
            window_days=self.window_days,
            drift_window_days=self.drift_window_days,
            min_records=self.min_records,
            refresh_seconds=60,
        )
        if (self.build is None) == (self.image is None):
            out.append("Only one of [build] and [image] can be given (and one is required)")
        for zone in ("curated", "models"):
            if zone not in self.lake.zones:
                out.append(f"lake: has no {zone!r} zone (zones: {list(self.lake.zones)})")
        for name in ("data_prefix", "drift_prefix"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip("/") or any(c in value for c in "*?$"):
                out.append(f"{name}: {value!r} must be a literal folder such as 'customers/daily'")
        return out


class ContinuousTraining(pulumi.ComponentResource):
    """Drift check, alarm and retraining of one model (see the module docstring)."""

    def __init__(
        self, name: str, args: ContinuousTrainingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        raise_problems(f"ContinuousTraining {name!r}", args.problems())
        super().__init__("mlops:training:ContinuousTraining", name, None, opts)
        self._name = name
        self.args = args
        self.model = args.model
        env = args.environment
        self.namespace = metric_namespace(env.name_prefix)
        self._tags = {"model": args.model, **args.tags}
        self._image()
        self.train_job = self._job("train", args.train_size, ["train", "--reason", "Ref::reason"])
        self.drift_job = self._job(
            "drift",
            args.drift_size,
            [
                "drift",
                "--trigger-bucket",
                "Ref::trigger_bucket",
                "--trigger-key",
                "Ref::trigger_key",
            ],
        )
        self._grants()
        self.drift_alarm: aws.cloudwatch.MetricAlarm | None = None
        self.held_alarm: aws.cloudwatch.MetricAlarm | None = None
        self.retrain_rule: aws.cloudwatch.EventRule | None = None
        self.retrain_role: ServiceRole | None = None
        self.retrain_target: aws.cloudwatch.EventTarget | None = None
        self.retrain_dead_letters: aws.sqs.Queue | None = None
        self._alarms()
        self._retraining()
        self.register_outputs(
            {
                "train_definition": self.train_job.definition.arn,
                "drift_definition": self.drift_job.definition.arn,
            }
        )

    # The image and the jobs --------------------------------------------------------------

    def _image(self) -> None:
        args = self.args
        self.repository: aws.ecr.Repository | None = None
        if args.build is None:
            assert args.image is not None
            self.image: pulumi.Input[str] = args.image
            return
        base = Path(args.build_root) if args.build_root is not None else Path(os.getcwd())
        if args.image_repository is not None:
            self.repository, lifecycle = args.image_repository
            build = args.build
            image, _ = ecr_image(
                f"{self._name}-training",
                ImageBuild(
                    context=build.context,
                    context_path=base / build.context,
                    dockerfile=build.dockerfile,
                    dockerfile_path=base / build.dockerfile if build.dockerfile else None,
                    platform=DOCKER_PLATFORMS[args.cpu_architecture],
                ),
                parent=self,
                repository=self.repository,
                lifecycle_policy=lifecycle,
            )
            self.image = image.image_uri
            return
        built = job_images(
            self._name,
            [("training", args.build)],
            parent=self,
            key=self.args.environment.key,
            cpu_architecture=args.cpu_architecture,
            resolve=lambda path: base / path,
            force_delete=args.force_delete,
            protect=args.protect,
        )
        assert built is not None
        self.repository = built.repository
        self.image = built.images[args.build].image_uri

    def _job(self, kind: str, size: JobSize, command: list[str]) -> BatchJob:
        args = self.args
        lake, registry = args.lake, args.registry
        common: dict[str, pulumi.Input[str]] = {
            "TRAINING_DATA_BUCKET": lake.bucket("curated").name,
            "TRAINING_MODELS_BUCKET": lake.bucket("models").name,
            "TRAINING_REGISTRY_TABLE": registry.table_name,
            "TRAINING_MODEL": args.model,
            "TRAINING_METRIC_NAMESPACE": self.namespace,
        }
        if kind == "train":
            environment: dict[str, pulumi.Input[str]] = {
                **common,
                "TRAINING_DATA_PREFIX": args.data_prefix.strip("/"),
                "TRAINING_MODELS_PREFIX": ARTEFACT_PREFIX,
                "TRAINING_WINDOW_DAYS": str(args.window_days),
                "TRAINING_HOLDOUT_FRACTION": str(args.holdout_fraction),
                "TRAINING_MIN_RECORDS": str(args.min_records),
                "TRAINING_METRICS": ",".join(args.metrics),
                "TRAINING_PROMOTION_METRIC": args.promotion_metric,
                "TRAINING_MARGIN": str(args.margin),
                "TRAINING_AUTO_PROMOTE": "true" if args.auto_promote else "false",
                "TRAINING_IMAGE": self.image,
            }
            parameters: dict[str, pulumi.Input[str]] = {"reason": "manual"}
            schedule, trigger = None, None
        else:
            environment = {
                **common,
                "TRAINING_DATA_PREFIX": args.drift_prefix.strip("/"),
                "TRAINING_REPORT_PREFIX": REPORT_PREFIX,
                "TRAINING_MEASURE": args.measure,
                "TRAINING_THRESHOLD": str(args.drift_threshold),
                "TRAINING_WINDOW_DAYS": str(args.drift_window_days),
            }
            parameters = {}
            schedule = args.drift_schedule
            trigger = (
                ObjectTriggerArgs(zone="curated", prefix=f"{args.drift_prefix.strip('/')}/")
                if args.drift_on_new_data
                else None
            )
        return BatchJob(
            f"{self._name}-{kind}",
            BatchJobArgs(
                job_name=f"{kind}-{args.model}",
                environment=args.environment,
                image=self.image,
                image_repository_arn=self.repository.arn if self.repository is not None else None,
                cpu_architecture=args.cpu_architecture,
                command=command,
                vcpu=size.vcpu,
                memory_mib=size.memory_mib,
                timeout_seconds=size.timeout_seconds,
                parameters=parameters,
                environment_variables=environment,
                attempts=2,
                lake=lake,
                schedule=schedule,
                on_new_objects=trigger,
                triggers=args.triggers,
                tags=self._tags,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _grants(self) -> None:
        """Each job role: exactly its folders, the registry and the namespace."""
        args, lake, registry = self.args, self.args.lake, self.args.registry
        versions = artefact_folder(args.model)
        train, drift = self.train_job.job_role, self.drift_job.job_role
        lake.grant_read(train, "curated", args.data_prefix)
        lake.grant_read_write(train, "models", versions)
        registry.grant_read_write(train)
        train.grant("publish-training-metrics", [put_metrics_statement(self.namespace)])
        lake.grant_read(drift, "curated", args.drift_prefix)
        lake.grant_read(drift, "models", versions)
        lake.grant_write(drift, "models", report_folder(args.model))
        registry.grant_read(drift)
        drift.grant("publish-training-metrics", [put_metrics_statement(self.namespace)])

    def grant_serving(self, role: ServiceRole) -> list[aws.iam.RolePolicy]:
        """What serving the approved version needs: read the registry and the versions."""
        return [
            self.args.registry.grant_read(role),
            self.args.lake.grant_read(role, "models", artefact_folder(self.args.model)),
        ]

    # Alarms and retraining ---------------------------------------------------------------

    def _alarms(self) -> None:
        args, env = self.args, self.args.environment
        child = pulumi.ResourceOptions(parent=self)
        self.drift_alarm = metric_alarm(
            f"{self._name}-drift",
            AlarmArgs(
                namespace=self.namespace,
                metric_name=DRIFT_METRIC,
                dimensions={"Model": args.model},
                statistic="Maximum",
                threshold=args.drift_threshold,
                period=300,
                treat_missing_data="ignore",
                description=(
                    f"Model {args.model}: the newest curated data drifted from the serving "
                    f"version's training data ({args.measure} of a feature >= "
                    f"{args.drift_threshold}). A training run was submitted (job "
                    f"{env.name_prefix}-train-{args.model}); see the drift job's report under "
                    f"{report_folder(args.model)}/ in the models zone and "
                    "python -m stacks models list <stack>."
                ),
            ),
            env.alert_topic,
            child,
        )
        self.held_alarm = metric_alarm(
            f"{self._name}-held",
            AlarmArgs(
                namespace=self.namespace,
                metric_name=HELD_METRIC,
                dimensions={"Model": args.model},
                statistic="Maximum",
                threshold=1,
                period=300,
                treat_missing_data="notBreaching",
                description=(
                    f"Model {args.model}: a newly trained version waits for approval (it did not "
                    "beat the serving version by the margin, or there is none). Review it with "
                    "python -m stacks models list <stack>, then approve or reject it."
                ),
            ),
            env.alert_topic,
            child,
        )

    def _retraining(self) -> None:
        """Alarm -> EventBridge rule -> Batch SubmitJob of the training job."""
        assert self.drift_alarm is not None
        env, name = self.args.environment, self._name
        submitted = SubmittedJob(
            name=f"{name}-retrain",
            job_name=self.train_job.job_name,
            environment=env,
            definition=self.train_job.definition,
            definition_name=self.train_job.definition_name,
            definition_arn_pattern=self.train_job.definition_arn_pattern,
            array_size=None,
            parent=self,
            tags=self._tags,
        )
        self.retrain_dead_letters, self.retrain_dead_letter_alarm = dead_letter_queue(submitted)
        self.retrain_rule = aws.cloudwatch.EventRule(
            f"{name}-retrain",
            description=submitted.describe("the drift alarm entering ALARM submits a training run"),
            event_pattern=pulumi.Output.json_dumps(drift_alarm_pattern(self.drift_alarm.arn)),
            tags={"Name": f"{name}-retrain", **self._tags},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.retrain_role = ServiceRole(
            f"{name}-retrain-events",
            ServiceRoleArgs(
                service="events.amazonaws.com",
                description=submitted.describe("EventBridge submits training runs on drift"),
                source_arn=self.retrain_rule.arn,
                tags=self._tags,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        submit = self.retrain_role.grant("submit-runs", [submit_statement(submitted)])
        policy = aws.sqs.QueuePolicy(
            f"{name}-retrain-dlq-policy",
            queue_url=self.retrain_dead_letters.url,
            policy=pulumi.Output.json_dumps(
                dead_letter_queue_policy(self.retrain_dead_letters.arn, self.retrain_rule.arn)
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        paths, template = retrain_input()
        self.retrain_target = aws.cloudwatch.EventTarget(
            f"{name}-retrain-submit",
            rule=self.retrain_rule.name,
            arn=env.queue.arn,
            role_arn=self.retrain_role.arn,
            batch_target=aws.cloudwatch.EventTargetBatchTargetArgs(
                job_definition=self.train_job.definition.arn,
                job_name=f"{self.train_job.job_name}-on-drift",
            ),
            input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
                input_paths=paths, input_template=template
            ),
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_event_age_in_seconds=SUBMIT_MAX_EVENT_AGE_SECONDS,
                maximum_retry_attempts=SUBMIT_RETRY_ATTEMPTS,
            ),
            dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(
                arn=self.retrain_dead_letters.arn
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[submit, policy]),
        )

    # Dashboard and outputs ---------------------------------------------------------------

    def widgets(self) -> list[Widget]:
        """The largest drift score against its threshold, and held candidates."""
        dims = {"Model": self.model}
        return [
            MetricWidget(
                title=f"Model {self.model}: drift (alarm at {self.args.drift_threshold})",
                stat="Maximum",
                metrics=[
                    Metric(self.namespace, DRIFT_METRIC, dims, label=f"largest {self.args.measure}")
                ],
            ),
            MetricWidget(
                title=f"Model {self.model}: candidates awaiting approval",
                stat="Maximum",
                metrics=[Metric(self.namespace, HELD_METRIC, dims, label="held")],
            ),
        ]

    def outputs(self) -> dict[str, object]:
        return {
            "model": self.model,
            "registryTable": self.args.registry.table_name,
            "trainJobDefinition": self.train_job.definition.arn,
            "driftJobDefinition": self.drift_job.definition.arn,
            "metricNamespace": self.namespace,
            "driftAlarm": self.drift_alarm.name if self.drift_alarm is not None else None,
        }
