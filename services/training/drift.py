"""The drift check: the newest curated data against the serving model's baseline.

Order:

1. Find the approved version in the registry. None approved: nothing to compare with; the
   run logs ``no_serving_model`` and succeeds without publishing (a fresh stack has no model
   until the first training run is approved).
2. Read the serving version's ``baseline.json`` and the window of new data (``--data-prefix``
   objects of the last ``--window-days`` days; labels are not needed). An empty window, a
   baseline feature missing from a record, or a non-finite value fails the run (exit 1):
   nothing is published, and the job's failure alert names the run.
3. Score every feature with ``--measure`` (``psi`` or ``ks``: :mod:`services.training.stats`).
4. Write a report (scores, threshold, drifted features, serving version, window) to
   ``<report-prefix>/<model>/<run id>.json`` in the models zone, then publish to CloudWatch
   namespace ``--metric-namespace``: ``DriftScore`` per feature (dimensions ``Model``,
   ``Feature``) and ``MaxDriftScore`` (dimension ``Model``). The platform's alarm on
   ``MaxDriftScore >= threshold`` notifies the alert topic and, through EventBridge, submits a
   training run; ``--threshold`` here only marks drifted features in the report and the log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from services.training import stats
from services.training.data import aws_failure, read_json, read_window, s3_uri, write_json
from services.training.errors import JsonLog, iso_utc
from services.training.registry import Registry

SCORE_METRIC = "DriftScore"
MAX_SCORE_METRIC = "MaxDriftScore"
_METRICS_PER_CALL = 20


@dataclass(frozen=True)
class DriftArgs:
    """The validated parameters of one drift check (see ``__main__``)."""

    data_bucket: str
    data_prefix: str
    models_bucket: str
    report_prefix: str
    registry_table: str
    model: str
    run_id: str
    metric_namespace: str
    measure: str = "psi"
    threshold: float = 0.2
    window_days: int = 1
    trigger_key: str | None = None
    trigger_bucket: str | None = None


@dataclass(frozen=True)
class DriftResult:
    """What a check found (None scores: no serving model, nothing compared)."""

    version: int | None
    scores: Mapping[str, float]
    drifted: tuple[str, ...]
    report_key: str | None

    @property
    def max_score(self) -> float:
        return max(self.scores.values(), default=0.0)


def run(
    args: DriftArgs,
    s3: Any,
    dynamodb: Any,
    cloudwatch: Any,
    log: JsonLog,
    now: Callable[[], datetime],
) -> DriftResult:
    """One drift check end to end (see the module docstring)."""
    started = now()
    log.info(
        "drift_check_started",
        model=args.model,
        measure=args.measure,
        trigger=args.trigger_key,
        trigger_bucket=args.trigger_bucket,
    )
    serving = Registry(dynamodb, args.registry_table, args.model).approved()
    if serving is None:
        log.warning(
            "no_serving_model",
            message=f"model {args.model!r} has no approved version in {args.registry_table}: "
            "nothing to compare with; train one and approve it (see the README)",
        )
        return DriftResult(None, {}, (), None)
    version = int(serving["version"])
    artefact = serving.get("artefact", {})
    baseline = read_json(
        s3,
        artefact.get("bucket", ""),
        artefact.get("baseline_key", ""),
        f"baseline of version {version}",
    )
    features = tuple(baseline.get("features", {}))
    data = read_window(
        s3,
        args.data_bucket,
        args.data_prefix,
        args.window_days,
        started,
        log,
        labelled=False,
        features=features,
    )
    scores = stats.drift_scores(args.measure, baseline, data.features, data.x)
    drifted = tuple(sorted(name for name, score in scores.items() if score >= args.threshold))
    report_key = f"{args.report_prefix}/{args.model}/{args.run_id}.json"
    result = DriftResult(version, scores, drifted, report_key)
    write_json(
        s3,
        args.models_bucket,
        report_key,
        {
            "model": args.model,
            "version": version,
            "checked_at": iso_utc(started),
            "measure": args.measure,
            "threshold": args.threshold,
            "scores": dict(scores),
            "max_score": result.max_score,
            "drifted": list(drifted),
            "data_window": data.window.describe(),
            "baseline": s3_uri(artefact["bucket"], artefact["baseline_key"]),
        },
    )
    publish(cloudwatch, args, scores, started)
    log.info(
        "drift_checked",
        version=version,
        max_score=result.max_score,
        threshold=args.threshold,
        drifted=list(drifted),
        scores=dict(scores),
        report=s3_uri(args.models_bucket, report_key),
    )
    return result


def publish(cloudwatch: Any, args: DriftArgs, scores: Mapping[str, float], when: datetime) -> None:
    """``DriftScore`` per feature and ``MaxDriftScore`` for the model, in batches."""
    data = [
        {
            "MetricName": SCORE_METRIC,
            "Dimensions": [
                {"Name": "Model", "Value": args.model},
                {"Name": "Feature", "Value": feature},
            ],
            "Timestamp": when,
            "Value": score,
        }
        for feature, score in sorted(scores.items())
    ]
    data.append(
        {
            "MetricName": MAX_SCORE_METRIC,
            "Dimensions": [{"Name": "Model", "Value": args.model}],
            "Timestamp": when,
            "Value": max(scores.values(), default=0.0),
        }
    )
    try:
        for start in range(0, len(data), _METRICS_PER_CALL):
            cloudwatch.put_metric_data(
                Namespace=args.metric_namespace, MetricData=data[start : start + _METRICS_PER_CALL]
            )
    except (ClientError, BotoCoreError) as exc:
        raise aws_failure(f"publishing drift scores to {args.metric_namespace}", exc) from None
