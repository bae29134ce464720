"""Serving the model registry's approved version, reloaded without a redeploy.

Configuration (environment variables; the platform sets them when continuous training is on):

    MODEL_REGISTRY_TABLE   the registry (a DynamoDB table keyed by ``model`` and ``version``)
    MODEL_NAME             the model to serve; both or neither
    MODEL_REFRESH_SECONDS  how often each worker asks the registry for the approved version,
                           5-3600. Default: 60

**Reload time.** Each worker process checks the registry on the first request after
``MODEL_REFRESH_SECONDS`` have passed since its last check and, when another version is
approved, reads that version's ``model.json`` and serves it from then on. So every request
that arrives more than ``MODEL_REFRESH_SECONDS`` after an approval (or a rollback, which is
an approval) is answered by the newly approved version, with no deploy or restart. If the
registry or the artefact cannot be read, the worker keeps serving the version it has and
logs a warning; until a worker has loaded a version, it answers 503.

The service reaches AWS with the task role's credentials in the task's region (ECS sets
``AWS_REGION`` for every task: Amazon ECS Developer Guide, "Amazon ECS environment
variables", https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-environment-variables.html).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("forecast.serving")

DEFAULT_REFRESH_SECONDS = 60
REFRESH_RANGE = (5, 3600)


class ServingConfigError(RuntimeError):
    """The model serving variables are invalid (the server must not start)."""


@dataclass(frozen=True)
class ServingConfig:
    """Which model to serve and how often to look for a newly approved version."""

    table: str
    model: str
    refresh_seconds: int = DEFAULT_REFRESH_SECONDS


def load_serving_config(environ: Mapping[str, str]) -> ServingConfig | None:
    """The serving configuration, or None when model serving is not configured."""
    table = environ.get("MODEL_REGISTRY_TABLE", "").strip()
    model = environ.get("MODEL_NAME", "").strip()
    if not table and not model:
        return None
    if not table or not model:
        missing = "MODEL_REGISTRY_TABLE" if not table else "MODEL_NAME"
        raise ServingConfigError(
            f"{missing} is not set; set both MODEL_REGISTRY_TABLE and MODEL_NAME"
        )
    raw = environ.get("MODEL_REFRESH_SECONDS", "").strip()
    low, high = REFRESH_RANGE
    if raw and (not raw.isdigit() or not low <= int(raw) <= high):
        raise ServingConfigError(
            f"MODEL_REFRESH_SECONDS={raw!r} must be a whole number from {low} to {high}"
        )
    return ServingConfig(table, model, int(raw) if raw else DEFAULT_REFRESH_SECONDS)


@dataclass(frozen=True)
class LoadedModel:
    """One approved version, ready to score."""

    name: str
    version: int
    intercept: float
    coefficients: Mapping[str, float]
    link: str

    def predict(self, features: Mapping[str, float]) -> float:
        """``link(intercept + sum(coefficients[f] * features[f]))``, as the batch job scores."""
        total = self.intercept + sum(w * features[f] for f, w in self.coefficients.items())
        if self.link != "logistic":
            return total
        if total >= 0:
            return 1.0 / (1.0 + math.exp(-total))
        z = math.exp(total)
        return z / (1.0 + z)


def parse_artefact(body: bytes, version: int) -> LoadedModel:
    """A model artefact (``name``, ``intercept``, ``coefficients``, ``link``); ValueError when
    it is not one."""
    document = json.loads(body)
    coefficients = document.get("coefficients")
    if not isinstance(coefficients, dict) or not coefficients:
        raise ValueError("the artefact has no coefficients")
    values = {str(k): float(v) for k, v in coefficients.items()}
    intercept = float(document.get("intercept", 0.0))
    if not all(math.isfinite(v) for v in [*values.values(), intercept]):
        raise ValueError("the artefact holds a non-finite number")
    return LoadedModel(
        name=str(document.get("name", f"version {version}")),
        version=version,
        intercept=intercept,
        coefficients=values,
        link=str(document.get("link", "identity")),
    )


def _aws_clients() -> tuple[Any, Any]:
    import boto3

    session = boto3.session.Session()
    return session.client("dynamodb"), session.client("s3")


class ApprovedModel:
    """The approved version of one model, refreshed at most every ``refresh_seconds``."""

    def __init__(
        self,
        config: ServingConfig,
        clients: Callable[[], tuple[Any, Any]] = _aws_clients,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._clients_factory = clients
        self._clients: tuple[Any, Any] | None = None
        self._clock = clock
        self._lock = threading.Lock()
        self._model: LoadedModel | None = None
        self._checked_at: float | None = None

    def current(self) -> LoadedModel | None:
        """The version to serve now (refreshing first when the interval has passed)."""
        with self._lock:
            now = self._clock()
            if self._checked_at is None or now - self._checked_at >= self.config.refresh_seconds:
                self._checked_at = now
                self._refresh()
            return self._model

    def _refresh(self) -> None:
        try:
            if self._clients is None:
                self._clients = self._clients_factory()
            dynamodb, s3 = self._clients
            found = self._approved_item(dynamodb)
            if found is None:
                if self._model is None:
                    logger.warning("model %r has no approved version yet", self.config.model)
                return
            version = int(found["version"]["N"])
            if self._model is not None and self._model.version == version:
                return
            artefact = found["artefact"]["M"]
            body = s3.get_object(Bucket=artefact["bucket"]["S"], Key=artefact["model_key"]["S"])[
                "Body"
            ].read()
            previous = self._model.version if self._model else None
            self._model = parse_artefact(body, version)
            logger.info(
                "serving model %r version %s (was %s)", self.config.model, version, previous
            )
        except Exception:  # noqa: BLE001 - keep serving what we have; the log says why
            logger.exception("could not refresh the approved version of %r", self.config.model)

    def _approved_item(self, dynamodb: Any) -> dict[str, Any] | None:
        kwargs: dict[str, Any] = {
            "TableName": self.config.table,
            "KeyConditionExpression": "#m = :m AND #v > :zero",
            "FilterExpression": "#s = :approved",
            "ExpressionAttributeNames": {"#m": "model", "#v": "version", "#s": "stage"},
            "ExpressionAttributeValues": {
                ":m": {"S": self.config.model},
                ":zero": {"N": "0"},
                ":approved": {"S": "approved"},
            },
        }
        while True:
            page = dynamodb.query(**kwargs)
            if page.get("Items"):
                item: dict[str, Any] = page["Items"][0]
                return item
            if "LastEvaluatedKey" not in page:
                return None
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
