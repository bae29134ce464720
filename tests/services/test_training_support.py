"""Helpers shared by the continuous-training tests (no tests here): synthetic curated data,
the registry table as the stack creates it, running the jobs in-process."""

from __future__ import annotations

import io
import json
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from services.training.__main__ import main as training_main

CURATED = "mlops-test-curated"
MODELS = "mlops-test-models"
TABLE = "mlops-test-model-registry"
MODEL = "churn"
NAMESPACE = "mlops-test/training"
LABELLED = "customers/labelled"
DAILY = "customers/daily"


def customers(
    n: int,
    seed: int,
    age_shift: float = 0.0,
    weights: tuple[float, float, float] = (-4.0, 0.08, 0.0003),
    labelled: bool = True,
) -> list[dict[str, Any]]:
    """``n`` customers with ``age`` and ``income``; labels drawn from a logistic model."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        age = rnd.gauss(40 + age_shift, 10)
        income = rnd.gauss(3000, 800)
        record: dict[str, Any] = {"id": f"c{seed}-{i}", "features": {"age": age, "income": income}}
        if labelled:
            z = weights[0] + weights[1] * age + weights[2] * income
            record["label"] = int(rnd.random() < 1 / (1 + math.exp(-z)))
        out.append(record)
    return out


def jsonl(records: Sequence[Mapping[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode("utf-8")


def create_registry_table(dynamodb: Any, name: str = TABLE) -> None:
    """The registry table with the component's key schema (components/training/registry.py)."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "model", "KeyType": "HASH"},
            {"AttributeName": "version", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "model", "AttributeType": "S"},
            {"AttributeName": "version", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def job_environment(kind: str) -> dict[str, str]:
    """The TRAINING_* variables the stack gives the job (see components/training/loop.py)."""
    common = {
        "TRAINING_DATA_BUCKET": CURATED,
        "TRAINING_MODELS_BUCKET": MODELS,
        "TRAINING_REGISTRY_TABLE": TABLE,
        "TRAINING_MODEL": MODEL,
        "TRAINING_METRIC_NAMESPACE": NAMESPACE,
    }
    if kind == "train":
        return {
            **common,
            "TRAINING_DATA_PREFIX": LABELLED,
            "TRAINING_MODELS_PREFIX": "registry",
            "TRAINING_IMAGE": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/train@sha256:abc",
        }
    return {**common, "TRAINING_DATA_PREFIX": DAILY, "TRAINING_REPORT_PREFIX": "drift"}


def run_job(
    argv: Sequence[str], environ: Mapping[str, str], clients: Mapping[str, Any]
) -> tuple[int, list[dict[str, Any]], str]:
    """Run ``python -m services.training`` in-process: exit code, log lines, stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = training_main(list(argv), dict(environ), out, err, clients=clients)
    return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def registry_items(dynamodb: Any, table: str = TABLE) -> list[dict[str, Any]]:
    """Every item of the registry table, counter included."""
    return dynamodb.scan(TableName=table).get("Items", [])


def keys_under(s3: Any, bucket: str, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))
