"""Continuous training: drift check, alarm, retraining, model registry, serving grants.

The loop (seed 002, "data drift triggers retraining"): new curated data arrives, the drift
job compares it with the serving model's baseline and publishes the score per feature; an
alarm on the score notifies the alert topic and, through EventBridge, submits the training
job; the training job fits, evaluates and registers a new version, promoting it when it beats
the serving version by a margin; batch scoring jobs and the web service serve the approved
version. The jobs' code is ``services/training``; the registry's item format is
``services/training/registry.py``.

- :mod:`~components.training.registry`: :class:`ModelRegistry`, the registry's DynamoDB
  table (fixed name per environment) and its read / read-write grants.
- :mod:`~components.training.loop`: :class:`ContinuousTraining`, the training image, the
  drift and training jobs with their grants, the drift and held-candidate alarms, and the
  rule from the drift alarm to the training job; :meth:`ContinuousTraining.grant_serving`.
- :mod:`~components.training.documents`: pure parts (names, the alarm event pattern, the
  target input, the metrics statement, the settings' checks, the serving environments).
"""

from __future__ import annotations

from components.training.documents import (
    ARTEFACT_PREFIX,
    DEFAULT_THRESHOLDS,
    DRIFT_METRIC,
    FEATURE_DRIFT_METRIC,
    HELD_METRIC,
    MEASURES,
    METRICS,
    MODEL_NAME_RE,
    MODEL_NAME_RULE,
    REPORT_PREFIX,
    artefact_folder,
    drift_alarm_pattern,
    metric_namespace,
    put_metrics_statement,
    report_folder,
    retrain_input,
    scoring_environment,
    serving_environment,
    training_problems,
)
from components.training.loop import ContinuousTraining, ContinuousTrainingArgs, JobSize
from components.training.registry import (
    ModelRegistry,
    ModelRegistryArgs,
    registry_table_name,
)

__all__ = [
    "ContinuousTraining",
    "ContinuousTrainingArgs",
    "JobSize",
    "ModelRegistry",
    "ModelRegistryArgs",
    "registry_table_name",
    "ARTEFACT_PREFIX",
    "REPORT_PREFIX",
    "DEFAULT_THRESHOLDS",
    "DRIFT_METRIC",
    "FEATURE_DRIFT_METRIC",
    "HELD_METRIC",
    "MEASURES",
    "METRICS",
    "MODEL_NAME_RE",
    "MODEL_NAME_RULE",
    "artefact_folder",
    "drift_alarm_pattern",
    "metric_namespace",
    "put_metrics_statement",
    "report_folder",
    "retrain_input",
    "scoring_environment",
    "serving_environment",
    "training_problems",
]
