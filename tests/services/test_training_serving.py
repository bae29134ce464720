"""Serving the registry's approved version: the batch inference job (manifest and every
prediction name the version) and the web service (reloads a new approval without a redeploy,
within MODEL_REFRESH_SECONDS)."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime
from typing import Any
from wsgiref.util import setup_testing_defaults

import boto3
import pytest
from batch_support import CURATED, MODELS, FakeClock, read_json, read_jsonl
from test_training_support import create_registry_table

from services.batch_inference.__main__ import main as scoring_main
from services.forecast.app import BUILTIN_SERIES, Catalogue, create_app
from services.forecast.serving import (
    ApprovedModel,
    ServingConfig,
    ServingConfigError,
    load_serving_config,
)
from services.training.registry import Registry

TABLE = "registry"
INPUT = "customers/daily"


def register(s3: Any, dynamodb: Any, intercept: float) -> int:
    """A version whose model scores ``sigmoid(intercept + 0.1 * age)``."""
    registry = Registry(dynamodb, TABLE, "churn")
    version = registry.next_version()
    key = f"registry/churn/v{version}/model.json"
    artefact = {
        "name": f"churn-v{version}",
        "intercept": intercept,
        "coefficients": {"age": 0.1},
        "link": "logistic",
    }
    s3.put_object(Bucket=MODELS, Key=key, Body=json.dumps(artefact).encode())
    registry.register(version, {"artefact": {"bucket": MODELS, "model_key": key}})
    return version


def approve(dynamodb: Any, version: int) -> None:
    Registry(dynamodb, TABLE, "churn").approve(version, "test", datetime.now(UTC), "test")


@pytest.fixture
def dynamodb(s3: Any) -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_registry_table(client, TABLE)
    return client


def score(
    s3: Any, dynamodb: Any, run_id: str, *extra: str
) -> tuple[int, list[dict[str, Any]], str]:
    out, err = io.StringIO(), io.StringIO()
    argv = [
        "--input-bucket",
        CURATED,
        "--input-prefix",
        INPUT,
        "--output-bucket",
        MODELS,
        "--output-prefix",
        "predictions/churn",
        "--run-id",
        run_id,
        *extra,
    ]
    environ = {"BATCH_INFERENCE_REGISTRY_TABLE": TABLE, "BATCH_INFERENCE_MODEL_NAME": "churn"}
    code = scoring_main(argv, environ, out, err, s3=s3, now=FakeClock(), dynamodb=dynamodb)
    return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


# --------------------------------------------------------------------------- batch scoring


def test_scoring_uses_the_approved_version_and_names_it_everywhere(s3, dynamodb) -> None:
    s3.put_object(
        Bucket=CURATED, Key=f"{INPUT}/a.jsonl", Body=b'{"id": "a", "features": {"age": 10}}\n'
    )
    approve(dynamodb, register(s3, dynamodb, intercept=0.0))
    approve(dynamodb, register(s3, dynamodb, intercept=-1.0))
    register(s3, dynamodb, intercept=5.0)  # a candidate: never used
    code, logs, _ = score(s3, dynamodb, "r1")
    assert code == 0, logs
    manifest = read_json(s3, MODELS, "predictions/churn/run_id=r1/_SUCCESS")
    assert manifest["model"]["version"] == 2 and manifest["model"]["name"] == "churn-v2"
    assert manifest["model"]["source"]["registry"] == {
        "table": TABLE,
        "model": "churn",
        "version": 2,
    }
    (line,) = read_jsonl(s3, MODELS, "predictions/churn/run_id=r1/part-00000.jsonl")
    assert line["model_version"] == 2
    assert line["prediction"] == pytest.approx(1 / (1 + math.exp(-(-1.0 + 1.0))))


def test_without_an_approved_version_scoring_keeps_the_builtin_model_and_warns(
    s3, dynamodb
) -> None:
    s3.put_object(
        Bucket=CURATED, Key=f"{INPUT}/a.jsonl", Body=b'{"id": "a", "features": {"age": 10}}\n'
    )
    register(s3, dynamodb, intercept=0.0)
    code, logs, _ = score(s3, dynamodb, "r2")
    assert code == 0
    assert [line["event"] for line in logs if line["level"] == "WARNING"] == ["no_approved_model"]
    manifest = read_json(s3, MODELS, "predictions/churn/run_id=r2/_SUCCESS")
    assert manifest["model"]["name"] == "baseline-mean" and "version" not in manifest["model"]


@pytest.mark.parametrize(
    "extra, environ, message",
    [
        ((), {"BATCH_INFERENCE_REGISTRY_TABLE": TABLE}, "is given but --model-name is not"),
        (
            ("--model-key", "m.json"),
            None,
            "Only one of [--model-key] and [BATCH_INFERENCE_REGISTRY_TABLE]",
        ),
    ],
)
def test_registry_parameters_must_be_complete_and_not_conflict(
    s3, dynamodb, extra, environ, message
) -> None:
    out, err = io.StringIO(), io.StringIO()
    argv = [
        "--input-bucket",
        CURATED,
        "--input-prefix",
        INPUT,
        "--output-bucket",
        MODELS,
        "--output-prefix",
        "p",
        "--run-id",
        "r",
        *extra,
    ]
    env = environ or {
        "BATCH_INFERENCE_REGISTRY_TABLE": TABLE,
        "BATCH_INFERENCE_MODEL_NAME": "churn",
    }
    assert scoring_main(argv, env, out, err, s3=s3, dynamodb=dynamodb) == 2
    assert message in err.getvalue()


# --------------------------------------------------------------------------- the web service


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def get(app: Any, path: str, query: str = "") -> tuple[str, dict[str, Any]]:
    environ: dict[str, Any] = {"PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    status: list[str] = []
    body = b"".join(app(environ, lambda s, h: status.append(s)))
    return status[0], json.loads(body)


def test_the_web_service_serves_a_new_approval_within_the_refresh_interval(s3, dynamodb) -> None:
    clock = Clock()
    model = ApprovedModel(
        ServingConfig(TABLE, "churn", 60), clients=lambda: (dynamodb, s3), clock=clock
    )
    app = create_app(Catalogue({s.name: s for s in BUILTIN_SERIES}, "demand"), model)
    status, body = get(app, "/predict", "age=10")
    assert status.startswith("503") and "no approved version yet" in body["error"]
    approve(dynamodb, register(s3, dynamodb, intercept=0.0))
    clock.now += 60
    status, body = get(app, "/predict", "age=10")
    assert status.startswith("200") and body["version"] == 1
    assert body["prediction"] == pytest.approx(1 / (1 + math.exp(-1.0)))
    approve(dynamodb, register(s3, dynamodb, intercept=-1.0))
    clock.now += 59  # the worker checked 59 s ago: still the old version
    assert get(app, "/model")[1]["version"] == 1
    clock.now += 1  # MODEL_REFRESH_SECONDS after the last check: the new approval serves
    status, body = get(app, "/model")
    assert body == {
        "model": "churn",
        "name": "churn-v2",
        "version": 2,
        "features": ["age"],
        "refresh_seconds": 60,
    }
    assert get(app, "/predict", "age=10")[1]["prediction"] == pytest.approx(0.5)
    approve(dynamodb, 1)  # rolling back is approving the previous version
    clock.now += 60
    assert get(app, "/model")[1]["version"] == 1


def test_the_web_service_keeps_serving_when_the_registry_is_unreachable(s3, dynamodb) -> None:
    approve(dynamodb, register(s3, dynamodb, intercept=0.0))
    clock = Clock()
    calls = {"n": 0}

    def clients() -> tuple[Any, Any]:
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("unreachable")
        return dynamodb, s3

    model = ApprovedModel(ServingConfig(TABLE, "churn", 60), clients=clients, clock=clock)
    assert model.current() is not None
    model._clients = None  # the next refresh must build clients again, which fails
    clock.now += 120
    current = model.current()
    assert current is not None and current.version == 1


@pytest.mark.parametrize(
    "query, parameter, message",
    [
        ("", "age", "feature(s) missing: age"),
        ("age=x", "age", "age must be a number"),
        ("age=nan", "age", "must be a finite number"),
        ("age=1&height=2", "height", "unknown feature 'height'"),
        ("age=1&age=2", "age", "given more than once"),
    ],
)
def test_predict_refuses_bad_features_by_name(s3, dynamodb, query, parameter, message) -> None:
    approve(dynamodb, register(s3, dynamodb, intercept=0.0))
    model = ApprovedModel(ServingConfig(TABLE, "churn", 60), clients=lambda: (dynamodb, s3))
    app = create_app(Catalogue({s.name: s for s in BUILTIN_SERIES}, "demand"), model)
    status, body = get(app, "/predict", query)
    assert status.startswith("400") and body["parameter"] == parameter and message in body["error"]


def test_model_serving_configuration() -> None:
    assert load_serving_config({}) is None
    assert load_serving_config({"MODEL_REGISTRY_TABLE": "t", "MODEL_NAME": "m"}) == ServingConfig(
        "t", "m", 60
    )
    with pytest.raises(ServingConfigError, match="MODEL_REGISTRY_TABLE is not set"):
        load_serving_config({"MODEL_NAME": "m"})
    with pytest.raises(ServingConfigError, match="MODEL_REFRESH_SECONDS='1' must be"):
        load_serving_config(
            {"MODEL_REGISTRY_TABLE": "t", "MODEL_NAME": "m", "MODEL_REFRESH_SECONDS": "1"}
        )
    app = create_app(Catalogue({s.name: s for s in BUILTIN_SERIES}, "demand"))
    assert get(app, "/model")[0].startswith("404")
