"""Pure parts of continuous training: names, event pattern, target input, metric statement,
the jobs' environments and the arguments' checks. Plain functions with plain tests; the stack
configuration shares the checks."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from components.iam import Statement

MEASURES = ("psi", "ks")
#: Default drift thresholds: PSI above 0.2 is the usual "significant shift"; a
#: Kolmogorov-Smirnov distance of 0.1 between the distributions.
DEFAULT_THRESHOLDS: Mapping[str, float] = {"psi": 0.2, "ks": 0.1}
#: Evaluation metrics the training job computes -> higher is better.
METRICS: Mapping[str, bool] = {"auc": True, "accuracy": True, "log_loss": False, "brier": False}
#: Metrics the jobs publish (``services/training``).
DRIFT_METRIC = "MaxDriftScore"
FEATURE_DRIFT_METRIC = "DriftScore"
HELD_METRIC = "CandidateAwaitingApproval"
#: Folders of the models zone: versions under ``<ARTEFACT_PREFIX>/<model>/v<n>/``, drift
#: reports under ``<REPORT_PREFIX>/<model>/``.
ARTEFACT_PREFIX = "registry"
REPORT_PREFIX = "drift"
MODEL_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,13}$")
MODEL_NAME_RULE = "1-14 lowercase letters, digits or '-', starting with a letter"


def metric_namespace(name_prefix: str) -> str:
    """The CloudWatch namespace of an environment's training metrics (``mlops-dev`` ->
    ``mlops-dev/training``); the jobs may publish to it only."""
    return f"{name_prefix}/training"


def artefact_folder(model: str) -> str:
    """Where a model's versions live in the models zone."""
    return f"{ARTEFACT_PREFIX}/{model}"


def report_folder(model: str) -> str:
    """Where a model's drift reports live in the models zone."""
    return f"{REPORT_PREFIX}/{model}"


def drift_alarm_pattern(alarm_arn: pulumi.Input[str]) -> dict[str, Any]:
    """CloudWatch ``Alarm State Change`` events of one alarm entering ``ALARM``.

    CloudWatch sends every alarm state change to EventBridge (source ``aws.cloudwatch``,
    detail type ``CloudWatch Alarm State Change``, the alarm's ARN in ``resources``, the new
    state in ``detail.state.value``): Amazon CloudWatch User Guide, "Alarm events and
    EventBridge", https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html.
    """
    return {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "resources": [alarm_arn],
        "detail": {"state": {"value": ["ALARM"]}},
    }


def retrain_input() -> tuple[dict[str, str], str]:
    """Input paths and template of the rule's Batch target: the run's ``reason`` parameter
    names the alarm and the time (the object trigger's form: ``{"Parameters": {...}}``;
    AWS Batch User Guide, "AWS Batch jobs as EventBridge targets",
    https://docs.aws.amazon.com/batch/latest/userguide/batch-cwe-target.html)."""
    paths = {"alarm": "$.detail.alarmName", "time": "$.time"}
    template = '{"Parameters": {"reason": "drift alarm <alarm> at <time>"}}'
    return paths, template


def put_metrics_statement(namespace: str) -> Statement:
    """PutMetricData into ``namespace`` only. The action supports no resource-level
    permissions; the ``cloudwatch:namespace`` condition key scopes it (Amazon CloudWatch
    User Guide, "Using condition keys to limit access to CloudWatch namespaces",
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/iam-cw-condition-keys-namespace.html)."""
    return Statement(
        sid="PublishTrainingMetrics",
        actions=("cloudwatch:PutMetricData",),
        resources=["*"],
        conditions={"StringEquals": {"cloudwatch:namespace": namespace}},
    )


def training_problems(
    *,
    model: str,
    measure: str,
    threshold: float,
    metrics: Sequence[str],
    promotion_metric: str,
    margin: float,
    holdout_fraction: float,
    window_days: int,
    drift_window_days: int,
    min_records: int,
    refresh_seconds: int,
) -> list[str]:
    """Every problem with the loop's settings, each naming its field."""
    out = []
    if not isinstance(model, str) or not MODEL_NAME_RE.match(model):
        out.append(f"model: {model!r} must be {MODEL_NAME_RULE}")
    if measure not in MEASURES:
        out.append(f"measure: {measure!r} is not one of {list(MEASURES)}")
    if not isinstance(threshold, (int, float)) or not math.isfinite(threshold) or threshold <= 0:
        out.append(f"threshold: {threshold!r} must be a number above 0")
    elif measure == "ks" and threshold > 1:
        out.append(f"threshold: {threshold} is above 1, the largest Kolmogorov-Smirnov distance")
    unknown = [m for m in metrics if m not in METRICS]
    if not metrics or unknown:
        out.append(
            f"metrics: give one or more of {list(METRICS)}"
            + (f" (not {unknown})" if unknown else "")
        )
    if promotion_metric not in metrics:
        out.append(
            f"promotion_metric: {promotion_metric!r} is not one of the metrics {list(metrics)}"
        )
    if not isinstance(margin, (int, float)) or not 0 <= margin <= 1:
        out.append(f"margin: {margin!r} must be from 0 to 1")
    if not isinstance(holdout_fraction, (int, float)) or not 0.05 <= holdout_fraction <= 0.5:
        out.append(f"holdout_fraction: {holdout_fraction!r} must be from 0.05 to 0.5")
    for field_name, days in (
        ("window_days", window_days),
        ("drift_window_days", drift_window_days),
    ):
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
            out.append(f"{field_name}: {days!r} must be a whole number of days from 1 to 3650")
    if isinstance(min_records, bool) or not isinstance(min_records, int) or min_records < 10:
        out.append(f"min_records: {min_records!r} must be a whole number, at least 10")
    if (
        isinstance(refresh_seconds, bool)
        or not isinstance(refresh_seconds, int)
        or not 5 <= refresh_seconds <= 3600
    ):
        out.append(f"refresh_seconds: {refresh_seconds!r} must be 5 to 3600 seconds")
    return out


def serving_environment(table: str, model: str, refresh_seconds: int) -> dict[str, str]:
    """What the web service needs to serve the approved version (services/forecast/serving.py)."""
    return {
        "MODEL_REGISTRY_TABLE": table,
        "MODEL_NAME": model,
        "MODEL_REFRESH_SECONDS": str(refresh_seconds),
    }


def scoring_environment(table: str, model: str) -> dict[str, str]:
    """What a batch scoring job needs to score with the approved version
    (services/batch_inference/registry.py)."""
    return {"BATCH_INFERENCE_REGISTRY_TABLE": table, "BATCH_INFERENCE_MODEL_NAME": model}
