"""Batch inference job: score JSON Lines records from the data lake's curated zone with a
linear model and publish predictions plus a ``_SUCCESS`` manifest, one folder per run.

Run it with ``python -m services.batch_inference --help``; the behaviour is described in
``job`` (records, model artefact, outputs, outcomes, sharded runs), ``inputs`` (which
objects a run reads: the triggering object alone, or a listing without archived objects)
and ``__main__`` (parameters, environment variables, precedence, triggered runs, exit codes).
The other modules: ``scoring`` (reading and scoring), ``models`` (record and model formats),
``storage`` (S3 helpers), ``logs`` (JSON log lines), ``errors`` (failures and exit codes).
"""

from services.batch_inference.job import (
    DataError,
    JobError,
    LinearModel,
    MeanBaseline,
    RunArgs,
    RunResult,
    Shard,
    StorageError,
    UsageError,
    run,
)

__all__ = [
    "DataError",
    "JobError",
    "LinearModel",
    "MeanBaseline",
    "RunArgs",
    "RunResult",
    "Shard",
    "StorageError",
    "UsageError",
    "run",
]
