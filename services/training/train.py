"""The training run: fit, evaluate, compare with the serving model, write, register, promote.

Order (nothing is written before the data has passed every check):

1. Read the window of labelled curated data (:func:`services.training.data.read_window`):
   ``--data-prefix`` objects of the last ``--window-days`` days. An empty window, a missing
   feature, a non-finite value or a label other than 0/1 fails the run (exit 1).
2. Split it into a training and a held-out part (stratified by label, ``--holdout-fraction``,
   a fixed seed, so a rerun on the same data gives the same split); each part needs both
   labels and the window at least ``--min-records`` records.
3. Fit a logistic regression with scikit-learn (``LogisticRegression``, L2, lbfgs) on the
   standardised training part, and express it on the raw features: the batch inference
   job's JSON model format (``name``, ``intercept``, ``coefficients``, ``link: logistic``).
4. Evaluate it on the held-out part (``--metrics``: ``auc``, ``log_loss``, ``brier``,
   ``accuracy``), and the serving (approved) model on the *same* held-out part.
5. Decide: promote automatically when ``--auto-promote`` and the candidate beats the serving
   model by at least ``--margin`` on ``--promotion-metric`` (higher is better for auc and
   accuracy, lower for log_loss and brier); otherwise hold it for a human (no serving model,
   a serving model that cannot score these features, or not better by the margin).
6. Take a version number, write ``model.json``, ``baseline.json`` (feature statistics of the
   training part: :mod:`services.training.stats`) and ``metrics.json`` under
   ``<models-prefix>/<model>/v<version>/`` in the models zone, register the version as
   ``candidate``, then approve it if so decided. With ``--metric-namespace``, publish
   ``CandidateAwaitingApproval`` (1 held, 0 promoted) so a held candidate alerts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from services.training import stats
from services.training.data import Dataset, aws_failure, read_json, read_window, s3_uri, write_json
from services.training.errors import DataError, JsonLog, iso_utc
from services.training.registry import Registry

# scikit-learn (2-3 s to import) is imported where a model is fitted or evaluated, so that the
# drift job, which imports this module only for its argument types, starts without it.

#: Metric -> True when higher is better.
METRICS: Mapping[str, bool] = {"auc": True, "accuracy": True, "log_loss": False, "brier": False}
SPLIT_SEED = 20240501
HELD_METRIC = "CandidateAwaitingApproval"


@dataclass(frozen=True)
class TrainArgs:
    """The validated parameters of one training run (see ``__main__``)."""

    data_bucket: str
    data_prefix: str
    models_bucket: str
    models_prefix: str
    registry_table: str
    model: str
    run_id: str
    window_days: int = 90
    holdout_fraction: float = 0.2
    min_records: int = 100
    metrics: tuple[str, ...] = ("auc", "log_loss")
    promotion_metric: str = "auc"
    margin: float = 0.01
    auto_promote: bool = True
    features: tuple[str, ...] = ()
    image: str = "unknown"
    metric_namespace: str | None = None
    reason: str = "manual"

    def artefact_key(self, version: int, name: str) -> str:
        return f"{self.models_prefix}/{self.model}/v{version}/{name}"


@dataclass(frozen=True)
class Outcome:
    """What a run registered and decided."""

    version: int
    promoted: bool
    decision: str
    metrics: Mapping[str, float]
    retired: int | None = None


def code_digest() -> str:
    """SHA-256 over this package's sources: which code trained a model."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"sha256:{digest.hexdigest()}"


def evaluate(names: Sequence[str], y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """The named metrics of probabilities ``p`` for labels ``y``."""
    from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score

    clipped = np.clip(p, 1e-15, 1 - 1e-15)
    out = {}
    for name in names:
        if name == "auc":
            out[name] = float(roc_auc_score(y, p))
        elif name == "log_loss":
            out[name] = float(log_loss(y, clipped, labels=[0, 1]))
        elif name == "brier":
            out[name] = float(brier_score_loss(y, p))
        elif name == "accuracy":
            out[name] = float(accuracy_score(y, (p >= 0.5).astype(int)))
        else:
            raise ValueError(f"unknown metric {name!r}")
    return out


def fit(x: np.ndarray, y: np.ndarray, features: Sequence[str], name: str) -> dict[str, Any]:
    """A logistic regression on standardised features, as a model artefact on raw features:
    ``w_raw = w / scale`` and ``b_raw = b - sum(w * mean / scale)`` give the same scores."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    model = LogisticRegression(max_iter=1000).fit((x - scaler.mean_) / scale, y)
    weights = model.coef_[0] / scale
    intercept = float(model.intercept_[0] - np.sum(model.coef_[0] * scaler.mean_ / scale))
    return {
        "name": name,
        "intercept": intercept,
        "coefficients": {f: float(w) for f, w in zip(features, weights, strict=True)},
        "link": "logistic",
    }


def predict(artefact: Mapping[str, Any], features: Sequence[str], x: np.ndarray) -> np.ndarray:
    """Scores of a linear model artefact (the batch inference job's formula) for ``x``."""
    coefficients = artefact.get("coefficients")
    if not isinstance(coefficients, dict) or not coefficients:
        raise DataError("the model artefact has no coefficients")
    missing = [f for f in coefficients if f not in features]
    if missing:
        raise DataError(f"the model needs feature(s) the data lacks: {', '.join(missing)}")
    total = np.full(x.shape[0], float(artefact.get("intercept", 0.0)))
    for feature, weight in coefficients.items():
        total = total + float(weight) * x[:, list(features).index(feature)]
    if artefact.get("link", "identity") == "logistic":
        return np.asarray(1.0 / (1.0 + np.exp(-total)))
    return np.asarray(total)


def split(data: Dataset, args: TrainArgs) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified training/held-out split; DataError when either part would lack a label."""
    from sklearn.model_selection import train_test_split

    assert data.y is not None
    if data.x.shape[0] < args.min_records:
        raise DataError(
            f"the window holds {data.x.shape[0]} records, fewer than the {args.min_records} "
            "needed to train and evaluate (--min-records)"
        )
    counts = np.bincount(data.y, minlength=2)
    needed = max(2, int(np.ceil(1 / min(args.holdout_fraction, 1 - args.holdout_fraction))))
    if counts.min() < needed:
        raise DataError(
            f"the window holds {int(counts[0])} records labelled 0 and {int(counts[1])} labelled "
            f"1; each label needs at least {needed} records so that both parts of the split "
            "have both labels"
        )
    x_train, x_hold, y_train, y_hold = train_test_split(
        data.x, data.y, test_size=args.holdout_fraction, stratify=data.y, random_state=SPLIT_SEED
    )
    return x_train, x_hold, y_train, y_hold


def decide(
    args: TrainArgs, candidate: Mapping[str, float], serving: Mapping[str, Any] | None
) -> tuple[bool, str]:
    """Promote or hold, and why (the registry's ``decision``)."""
    metric = args.promotion_metric
    if serving is None:
        return False, "held for approval: no approved version to compare with"
    if "metrics" not in serving:
        return False, f"held for approval: {serving['reason']}"
    old, new = serving["metrics"][metric], candidate[metric]
    gain = new - old if METRICS[metric] else old - new
    versus = (
        f"{metric} {new:.4f} vs {old:.4f} of version {serving['version']} (margin {args.margin})"
    )
    if gain >= args.margin and args.auto_promote:
        return True, f"promoted automatically: {versus}"
    if gain >= args.margin:
        return False, f"held for approval (automatic promotion is off): {versus}"
    return False, f"held for approval: not better by the margin: {versus}"


def _serving(
    registry: Registry,
    s3: Any,
    data: Dataset,
    x_hold: np.ndarray,
    y_hold: np.ndarray,
    args: TrainArgs,
) -> dict[str, Any] | None:
    """The approved version and its metrics on the held-out part (or why it has none)."""
    item = registry.approved()
    if item is None:
        return None
    artefact = item.get("artefact", {})
    out: dict[str, Any] = {"version": int(item["version"])}
    try:
        model = read_json(s3, artefact["bucket"], artefact["model_key"], "model artefact")
        out["metrics"] = evaluate(args.metrics, y_hold, predict(model, data.features, x_hold))
    except (DataError, KeyError) as exc:
        out["reason"] = f"the serving version {out['version']} cannot be evaluated: {exc}"
    return out


def run(
    args: TrainArgs,
    s3: Any,
    dynamodb: Any,
    cloudwatch: Any | None,
    log: JsonLog,
    now: Callable[[], datetime],
) -> Outcome:
    """One training run end to end (see the module docstring)."""
    started = now()
    log.info("training_started", model=args.model, reason=args.reason, window_days=args.window_days)
    data = read_window(
        s3,
        args.data_bucket,
        args.data_prefix,
        args.window_days,
        started,
        log,
        labelled=True,
        features=args.features,
    )
    x_train, x_hold, y_train, y_hold = split(data, args)
    registry = Registry(dynamodb, args.registry_table, args.model)
    serving = _serving(registry, s3, data, x_hold, y_hold, args)
    version = registry.next_version()
    artefact = fit(x_train, y_train, data.features, f"{args.model}-v{version}")
    metrics = evaluate(args.metrics, y_hold, predict(artefact, data.features, x_hold))
    promote, decision = decide(args, metrics, serving)
    log.info(
        "model_evaluated", version=version, metrics=metrics, serving=serving, decision=decision
    )

    keys = {
        name: args.artefact_key(version, f"{name}.json")
        for name in ("model", "baseline", "metrics")
    }
    evaluation = {
        "split": {
            "holdout_fraction": args.holdout_fraction,
            "seed": SPLIT_SEED,
            "train_records": int(x_train.shape[0]),
            "holdout_records": int(x_hold.shape[0]),
        },
        "metrics": metrics,
        "serving": serving,
        "promotion": {
            "metric": args.promotion_metric,
            "margin": args.margin,
            "automatic": args.auto_promote,
        },
        "decision": decision,
        "data_window": data.window.describe(),
    }
    write_json(s3, args.models_bucket, keys["model"], artefact)
    write_json(s3, args.models_bucket, keys["baseline"], stats.baseline(data.features, x_train))
    write_json(s3, args.models_bucket, keys["metrics"], evaluation)
    registry.register(
        version,
        {
            "created_at": iso_utc(now()),
            "metrics": metrics,
            "serving": serving,
            "decision": decision,
            "data_window": data.window.describe(),
            "evaluation": evaluation["split"],
            "artefact": {"bucket": args.models_bucket, **{f"{k}_key": v for k, v in keys.items()}},
            "features": list(data.features),
            "image": args.image,
            "code_digest": code_digest(),
            "run_id": args.run_id,
            "reason": args.reason,
        },
    )
    log.info(
        "candidate_registered",
        version=version,
        table=args.registry_table,
        artefact=s3_uri(args.models_bucket, keys["model"]),
    )
    retired = None
    if promote:
        retired = registry.approve(version, f"training run {args.run_id}", now(), decision)
        log.info("candidate_promoted", version=version, retired=retired, decision=decision)
    else:
        log.warning(
            "candidate_awaiting_approval",
            version=version,
            decision=decision,
            message=f"approve with: python -m stacks models approve <stack> {version} "
            f"--model {args.model} (or reject it)",
        )
    _publish_held(cloudwatch, args, held=not promote, when=now())
    return Outcome(version, promote, decision, metrics, retired)


def _publish_held(cloudwatch: Any | None, args: TrainArgs, held: bool, when: datetime) -> None:
    if cloudwatch is None or args.metric_namespace is None:
        return
    try:
        cloudwatch.put_metric_data(
            Namespace=args.metric_namespace,
            MetricData=[
                {
                    "MetricName": HELD_METRIC,
                    "Dimensions": [{"Name": "Model", "Value": args.model}],
                    "Timestamp": when,
                    "Value": 1.0 if held else 0.0,
                }
            ],
        )
    except (ClientError, BotoCoreError) as exc:
        raise aws_failure(f"publishing {HELD_METRIC} to {args.metric_namespace}", exc) from None
