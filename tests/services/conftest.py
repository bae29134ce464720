"""Make the project root importable (``import services.ingest.handler``) for these tests, and
the fixtures the batch inference job's tests share (helpers: ``batch_support``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from batch_support import CURATED, ENV_NAMES, LINEAR_MODEL, MODEL_KEY, MODELS, put  # noqa: E402
from moto_support import fresh_mock_aws  # noqa: E402


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials, one region, and no endpoint or job variables from the developer."""
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_SESSION_TOKEN",
        *ENV_NAMES,
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def s3(aws_env: None) -> Iterator[Any]:
    """A moto S3 with the curated and models zone buckets and the linear model artefact."""
    with fresh_mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=CURATED)
        client.create_bucket(Bucket=MODELS)
        put(client, MODELS, MODEL_KEY, json.dumps(LINEAR_MODEL))
        yield client
