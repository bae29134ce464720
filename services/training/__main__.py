"""Command line of the training image: ``python -m services.training train|drift ...``.

Every option may also come from the environment variable ``TRAINING_<OPTION>`` (dashes as
underscores, e.g. ``TRAINING_DATA_BUCKET``); the command line wins. An empty value and an
unresolved AWS Batch placeholder (``Ref::name``) count as not given. ``--run-id`` falls back
to ``AWS_BATCH_JOB_ID``. The platform's job definitions set the environment and pass only
``Ref::reason`` (training) or ``Ref::trigger_bucket``/``Ref::trigger_key`` (drift) on the
command line.

``train`` (see :mod:`services.training.train`)::

    --data-bucket --data-prefix          labelled curated data (required)
    --models-bucket --models-prefix      where versions are written (required)
    --registry-table --model             the registry and the model's name (required)
    --run-id                             default: $AWS_BATCH_JOB_ID
    --window-days 90 --holdout-fraction 0.2 --min-records 100
    --metrics auc,log_loss --promotion-metric auc --margin 0.01 --auto-promote true
    --features a,b,c                     default: the first record's features
    --image --metric-namespace --reason  lineage, held-candidate metric, why it ran

``drift`` (see :mod:`services.training.drift`)::

    --data-bucket --data-prefix          the newest curated data (required)
    --models-bucket --report-prefix      where reports go (required)
    --registry-table --model --metric-namespace   (required)
    --run-id --measure psi|ks --threshold 0.2 --window-days 1
    --trigger-bucket --trigger-key       the new object that submitted the run (logged only:
                                         a check always compares the whole window)

Exit codes: 0 success (also: no serving model to compare with), 1 data error (nothing
registered or published), 2 usage error, 3 storage error (worth a retry). Every outcome is a
JSON line on stdout; usage errors are also printed to stderr.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import re
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn, TextIO

from services.training import drift, train
from services.training.errors import JobError, JsonLog, UsageError, utc_now
from services.training.stats import MEASURES

PROG = "python -m services.training"
ENV_PREFIX = "TRAINING_"
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")

COMMON = (
    "data_bucket",
    "data_prefix",
    "models_bucket",
    "registry_table",
    "model",
    "run_id",
    "window_days",
    "metric_namespace",
)
OPTIONS: Mapping[str, tuple[str, ...]] = {
    "train": COMMON
    + (
        "models_prefix",
        "holdout_fraction",
        "min_records",
        "metrics",
        "promotion_metric",
        "margin",
        "auto_promote",
        "features",
        "image",
        "reason",
    ),
    "drift": COMMON + ("report_prefix", "measure", "threshold", "trigger_bucket", "trigger_key"),
}
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "train": (
        "data_bucket",
        "data_prefix",
        "models_bucket",
        "models_prefix",
        "registry_table",
        "model",
        "run_id",
    ),
    "drift": (
        "data_bucket",
        "data_prefix",
        "models_bucket",
        "report_prefix",
        "registry_table",
        "model",
        "run_id",
        "metric_namespace",
    ),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG, description="Train and register models; check drift.", allow_abbrev=False
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command, names in OPTIONS.items():
        p = sub.add_parser(command, allow_abbrev=False)
        for name in names:
            p.add_argument(
                f"--{name.replace('_', '-')}",
                dest=name,
                default=None,
                help=f"[env: {ENV_PREFIX}{name.upper()}]",
            )
    return parser


def _given(value: str | None) -> bool:
    return value is not None and value.strip() != "" and not value.startswith("Ref::")


def resolve(name: str, cli: str | None, environ: Mapping[str, str]) -> str | None:
    """Command line, then ``TRAINING_<NAME>``, then (run id) ``AWS_BATCH_JOB_ID``."""
    for value in (
        cli,
        environ.get(f"{ENV_PREFIX}{name.upper()}"),
        environ.get("AWS_BATCH_JOB_ID") if name == "run_id" else None,
    ):
        if _given(value):
            return value.strip()  # type: ignore[union-attr]
    return None


def _number(
    values: dict[str, str | None],
    name: str,
    kind: type,
    low: float,
    high: float,
    problems: list[str],
) -> Any:
    raw = values.get(name)
    if raw is None:
        return None
    try:
        number = kind(raw)
    except ValueError:
        problems.append(f"--{name.replace('_', '-')}: {raw!r} is not a {kind.__name__}")
        return None
    if not (math.isfinite(number) and low <= number <= high):
        problems.append(f"--{name.replace('_', '-')}: {raw!r} must be from {low} to {high}")
        return None
    return number


def _words(raw: str | None) -> tuple[str, ...]:
    return tuple(w.strip() for w in (raw or "").split(",") if w.strip())


def build_args(
    command: str, namespace: argparse.Namespace, environ: Mapping[str, str]
) -> train.TrainArgs | drift.DriftArgs:
    """Resolve and validate every option of ``command``; one UsageError lists all problems."""
    values = {n: resolve(n, getattr(namespace, n), environ) for n in OPTIONS[command]}
    problems = [
        f"--{n.replace('_', '-')} is required (or set {ENV_PREFIX}{n.upper()})"
        for n in REQUIRED[command]
        if values[n] is None
    ]
    for name in ("data_prefix", "models_prefix", "report_prefix"):
        if values.get(name) is not None:
            values[name] = values[name].strip("/")  # type: ignore[union-attr]
    if values["model"] is not None and not _NAME_RE.match(values["model"]):
        problems.append(f"--model: {values['model']!r} must be lowercase letters, digits or '-'")
    if values["run_id"] is not None and not _RUN_ID_RE.match(values["run_id"]):
        problems.append(f"--run-id: {values['run_id']!r} is not a valid run id")
    window = _number(values, "window_days", int, 1, 3650, problems)
    # Each required value is a string by now (a missing one is a problem reported above).
    common: dict[str, Any] = {n: values[n] for n in REQUIRED[command]}
    if command == "drift":
        measure = values["measure"] or "psi"
        if measure not in MEASURES:
            problems.append(f"--measure: {measure!r} is not one of {', '.join(MEASURES)}")
        threshold = _number(values, "threshold", float, 0.0, 1e6, problems)
        if problems:
            raise UsageError("; ".join(problems))
        return drift.DriftArgs(
            **common,
            measure=measure,
            threshold=0.2 if threshold is None else threshold,
            window_days=window or 1,
            trigger_key=values["trigger_key"],
            trigger_bucket=values["trigger_bucket"],
        )
    metrics = _words(values["metrics"]) or ("auc", "log_loss")
    unknown = [m for m in metrics if m not in train.METRICS]
    if unknown:
        problems.append(f"--metrics: {unknown} are not among {', '.join(train.METRICS)}")
    promotion = values["promotion_metric"] or metrics[0]
    if promotion not in metrics:
        problems.append(
            f"--promotion-metric: {promotion!r} is not one of --metrics {list(metrics)}"
        )
    holdout = _number(values, "holdout_fraction", float, 0.05, 0.5, problems)
    min_records = _number(values, "min_records", int, 10, 10**9, problems)
    margin = _number(values, "margin", float, 0.0, 1.0, problems)
    auto = (values["auto_promote"] or "true").lower()
    if auto not in ("true", "false"):
        problems.append(f"--auto-promote: {auto!r} must be true or false")
    if problems:
        raise UsageError("; ".join(problems))
    return train.TrainArgs(
        **common,
        window_days=window or 90,
        holdout_fraction=0.2 if holdout is None else holdout,
        min_records=100 if min_records is None else min_records,
        metrics=metrics,
        promotion_metric=promotion,
        margin=0.01 if margin is None else margin,
        auto_promote=auto == "true",
        features=_words(values["features"]),
        image=values["image"] or "unknown",
        metric_namespace=values["metric_namespace"],
        reason=values["reason"] or "manual",
    )


@functools.cache
def _session() -> Any:
    """One boto3 session for the job's clients: each session loads botocore's endpoint data
    and service models again (about half a second per client in a job's start)."""
    import boto3

    return boto3.session.Session()


def make_client(service: str) -> Any:
    """A boto3 client from the standard AWS environment (``AWS_ENDPOINT_URL`` honoured)."""
    from botocore.config import Config

    return _session().client(
        service, config=Config(retries={"mode": "standard", "max_attempts": 5})
    )


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    clients: Mapping[str, Any] | None = None,
    now: Callable[[], datetime] = utc_now,
) -> int:
    """Run ``train`` or ``drift``; return the process exit code."""
    environ = os.environ if environ is None else environ
    err = sys.stderr if stderr is None else stderr
    log = JsonLog(sys.stdout if stdout is None else stdout, "training", now)
    parser = build_parser()
    try:
        namespace = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
        args = build_args(namespace.command, namespace, environ)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except UsageError as exc:
        log.error("run_failed", error=exc.kind, message=str(exc), exit_code=exc.exit_code)
        err.write(f"{PROG}: error: {exc}\n")
        return exc.exit_code
    run_log = log.bind(run_id=args.run_id, job=namespace.command, model=args.model)
    given = dict(clients or {})
    try:
        s3 = given.get("s3") or make_client("s3")
        dynamodb = given.get("dynamodb") or make_client("dynamodb")
        cloudwatch = given.get("cloudwatch") or make_client("cloudwatch")
        if isinstance(args, train.TrainArgs):
            train.run(args, s3, dynamodb, cloudwatch, run_log, now)
        else:
            drift.run(args, s3, dynamodb, cloudwatch, run_log, now)
    except JobError as exc:
        run_log.error("run_failed", error=exc.kind, message=str(exc), exit_code=exc.exit_code)
        if isinstance(exc, UsageError):
            err.write(f"{PROG}: error: {exc}\n")
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - one structured line, not a bare traceback
        run_log.error(
            "run_failed",
            error="internal_error",
            message=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
            exit_code=1,
        )
        return 1
    run_log.info("run_succeeded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
