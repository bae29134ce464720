"""Records and models: the input record schema (strict JSON), the linear model artefact and
the built-in baseline (see ``job`` for the formats)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.batch_inference.errors import DataError, RecordError, UsageError

BASELINE_MODEL_NAME = "baseline-mean"
LINKS = ("identity", "logistic")
MODEL_ARTEFACT_KEYS = ("name", "intercept", "coefficients", "link")


def _reject_constant(name: str) -> float:
    raise RecordError(f"{name} is not allowed (numbers must be finite)")


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise RecordError(f"duplicate key {key!r}")
        result[key] = value
    return result


def strict_json_loads(text: str) -> Any:
    """Parse JSON, rejecting ``NaN``/``Infinity`` and duplicate object keys (``RecordError``)."""
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_pairs)
    except json.JSONDecodeError as exc:
        raise RecordError(f"invalid JSON: {exc.msg} at column {exc.colno}") from None


def finite_number(value: Any, what: str) -> float:
    """``value`` as a finite float; ``RecordError`` naming ``what`` for anything else.

    Booleans are refused although Python treats them as integers.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(f"{what} must be a number, got {type(value).__name__} {value!r}")
    try:
        number = float(value)
    except OverflowError:
        raise RecordError(f"{what} is too large to be a float") from None
    if not math.isfinite(number):
        raise RecordError(f"{what} must be finite, got {value!r}")
    return number


# --------------------------------------------------------------------------- models


class Model(Protocol):
    """What a run needs from a model."""

    @property
    def name(self) -> str:
        """The model's name (the manifest's ``model.name``)."""
        ...

    def predict(self, features: Mapping[str, float]) -> float:
        """The score for one record's features; ``RecordError`` when it cannot be computed."""
        ...

    def describe(self) -> dict[str, Any]:
        """What the manifest records about the model (lineage)."""
        ...

    @property
    def link(self) -> str:
        """``identity`` or ``logistic`` (decides which thresholds make sense)."""
        ...


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


@dataclass(frozen=True)
class LinearModel:
    """``link(intercept + sum(coefficients[f] * features[f]))`` over the named features."""

    name: str
    coefficients: Mapping[str, float]
    intercept: float = 0.0
    link: str = "identity"
    source: Mapping[str, Any] = field(default_factory=dict)
    """Where the model came from (``uri``, ``etag``, ``version_id``, ``registry``), for the
    manifest."""
    version: int | None = None
    """The registry version this model is (None: an artefact given by key)."""

    def predict(self, features: Mapping[str, float]) -> float:
        """Score one record; every coefficient's feature must be present."""
        missing = [name for name in self.coefficients if name not in features]
        if missing:
            raise RecordError(f"features missing for model {self.name!r}: {', '.join(missing)}")
        total = self.intercept + sum(
            weight * features[name] for name, weight in self.coefficients.items()
        )
        if not math.isfinite(total):
            raise RecordError("the linear score is not a finite number (values too large)")
        return _sigmoid(total) if self.link == "logistic" else total

    def describe(self) -> dict[str, Any]:
        """Name, kind, link, parameters and source of the model."""
        return {
            "name": self.name,
            "kind": "linear",
            "link": self.link,
            "intercept": self.intercept,
            "coefficients": dict(self.coefficients),
            **({"version": self.version} if self.version is not None else {}),
            **({"source": dict(self.source)} if self.source else {}),
        }


@dataclass(frozen=True)
class MeanBaseline:
    """The built-in model used without an artefact: the mean of the record's feature values."""

    name: str = BASELINE_MODEL_NAME
    link: str = "identity"

    def predict(self, features: Mapping[str, float]) -> float:
        """Mean of all feature values; a record with no features is an error."""
        if not features:
            raise RecordError(
                f"model {self.name!r} needs at least one feature, 'features' is empty"
            )
        mean = math.fsum(features.values()) / len(features)
        if not math.isfinite(mean):
            raise RecordError("the mean of the features is not a finite number (values too large)")
        return mean

    def describe(self) -> dict[str, Any]:
        """Name and kind of the built-in model."""
        return {"name": self.name, "kind": "builtin", "link": self.link}


def parse_model_artefact(
    body: bytes, uri: str, default_name: str, source: Mapping[str, Any]
) -> LinearModel:
    """Build a ``LinearModel`` from an artefact's bytes.

    All problems are collected and raised together as one ``DataError`` naming ``uri`` and
    each offending field (``coefficients.age``).
    """
    try:
        document = strict_json_loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise DataError(f"model artefact {uri} is not UTF-8 text") from None
    except RecordError as exc:
        raise DataError(f"model artefact {uri}: {exc}") from None
    if not isinstance(document, dict):
        raise DataError(
            f"model artefact {uri} must be a JSON object, got {type(document).__name__}"
        )

    problems: list[str] = []
    unknown = sorted(set(document) - set(MODEL_ARTEFACT_KEYS))
    for key in unknown:
        problems.append(f"unknown key {key!r} (allowed: {', '.join(MODEL_ARTEFACT_KEYS)})")

    name = document.get("name", default_name)
    if not isinstance(name, str) or not name:
        problems.append("name must be a non-empty string")

    intercept = 0.0
    if "intercept" in document:
        try:
            intercept = finite_number(document["intercept"], "intercept")
        except RecordError as exc:
            problems.append(str(exc))

    link = document.get("link", "identity")
    if link not in LINKS:
        problems.append(f"link must be one of {', '.join(LINKS)}, got {link!r}")

    coefficients: dict[str, float] = {}
    raw = document.get("coefficients")
    if raw is None:
        problems.append("coefficients is required (an object of feature name -> number)")
    elif not isinstance(raw, dict) or not raw:
        problems.append("coefficients must be a non-empty object of feature name -> number")
    else:
        for feature, weight in raw.items():
            try:
                coefficients[feature] = finite_number(weight, f"coefficients.{feature}")
            except RecordError as exc:
                problems.append(str(exc))

    if problems:
        raise DataError(f"model artefact {uri} is invalid: " + "; ".join(problems))
    return LinearModel(
        name=name, coefficients=coefficients, intercept=intercept, link=link, source=source
    )


def check_threshold(threshold: float | None, model: Model) -> None:
    """A logistic model scores in (0, 1); any other threshold is a ``UsageError``."""
    if threshold is None or model.link != "logistic":
        return
    if not 0.0 < threshold < 1.0:
        raise UsageError(
            f"--threshold {threshold!r} is outside (0, 1), the range of model "
            f"{model.name!r} (logistic link); no record could get a different label"
        )


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Record:
    """One input record: its id and its numeric features."""

    id: str | int
    features: Mapping[str, float]


def parse_record(line: str) -> Record:
    """Parse and validate one JSON Lines record; ``RecordError`` names the bad field."""
    document = strict_json_loads(line)
    if not isinstance(document, dict):
        raise RecordError(f"a record must be a JSON object, got {type(document).__name__}")
    if "id" not in document:
        raise RecordError("field 'id' is missing")
    record_id = document["id"]
    if isinstance(record_id, bool) or not isinstance(record_id, (str, int)) or record_id == "":
        raise RecordError(f"field 'id' must be a non-empty string or an integer, got {record_id!r}")
    if "features" not in document:
        raise RecordError("field 'features' is missing")
    raw = document["features"]
    if not isinstance(raw, dict):
        raise RecordError(f"field 'features' must be an object, got {type(raw).__name__}")
    features = {name: finite_number(value, f"features.{name}") for name, value in raw.items()}
    return Record(id=record_id, features=features)
