"""Forecast web service: a plain WSGI application.

Why plain WSGI and not Flask: the service has two read-only GET routes. The standard
library covers them (query parsing, JSON), which keeps the image down to one third-party
package, the production WSGI server gunicorn (``requirements.txt``). The standard
library's ``http.server`` is documented as unfit for production, so it is not used to
serve; ``wsgiref`` is only used by the tests.

Routes
    GET /health    200 ``{"status": "ok"}``
    GET /forecast  200 forecast as JSON. Query parameters:
                   ``series``  name of a series in the catalogue. Default: the first one
                               (or ``FORECAST_DEFAULT_SERIES``)
                   ``horizon`` whole number of steps, 1..365. Default: 7
                   A bad, repeated or unknown parameter -> 400
                   ``{"error": ..., "parameter": name}``.
    GET /model     200 the model version served (continuous training: see ``serving``);
                   503 while no version is approved; 404 when model serving is off.
    GET /predict   200 ``{"prediction": p, "model": name, "version": n}`` for the features
                   given as query parameters (``?age=42&income=3100``: exactly the model's
                   features, finite numbers; else 400 naming the parameter); 503 / 404 as
                   ``/model``.
    Anything else: 404 (unknown path) or 405 (method other than GET/HEAD), JSON too.

Configuration (environment variables, read once at import; a problem raises
``ConfigError`` naming the variable, so the server fails to start)
    FORECAST_SERIES_FILE     optional: a JSON file that replaces the built-in series:
                             ``{"name": {"values": [numbers, at least 2],
                             "season_length": int >= 1 (optional, default 1),
                             "description": str (optional)}}``. Default: the built-in
                             series below.
    FORECAST_DEFAULT_SERIES  optional: the series used when the query names none.
                             Default: the first series of the catalogue.
    MODEL_REGISTRY_TABLE, MODEL_NAME, MODEL_REFRESH_SECONDS
                             optional: serve the registry's approved version of a model,
                             reloaded within MODEL_REFRESH_SECONDS of an approval (``serving``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from .forecasting import forecast
from .serving import ApprovedModel, LoadedModel, load_serving_config

MIN_HORIZON = 1
MAX_HORIZON = 365
DEFAULT_HORIZON = 7
QUERY_PARAMETERS = ("horizon", "series")
_MAX_QUERY_FIELDS = 20
_HORIZON_RE = re.compile(r"^[0-9]{1,6}$")
_SERIES_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_SERIES_FIELDS = ("values", "season_length", "description")

logger = logging.getLogger("forecast")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class ConfigError(RuntimeError):
    """The service's environment or series file is invalid."""


@dataclass(frozen=True)
class Series:
    """A named history to forecast from."""

    name: str
    values: tuple[float, ...]
    season_length: int = 1
    """Observations per season (7 for daily data with a weekly cycle); 1 means no season."""
    description: str = ""


BUILTIN_SERIES: tuple[Series, ...] = (
    Series(
        name="demand",
        description="daily units ordered over eight weeks (weekly cycle, rising trend)",
        season_length=7,
        values=(
            104.4,
            113.5,
            116.1,
            119.6,
            123.6,
            140.5,
            138.3,
            112.0,
            120.7,
            123.1,
            127.3,
            132.5,
            141.7,
            143.1,
            117.9,
            124.6,
            122.9,
            126.5,
            134.9,
            150.9,
            147.1,
            121.8,
            130.3,
            131.6,
            138.3,
            144.3,
            156.0,
            156.9,
            129.2,
            137.9,
            137.3,
            140.7,
            147.7,
            163.2,
            159.2,
            133.9,
            138.6,
            141.9,
            147.0,
            158.0,
            166.7,
            163.7,
            140.0,
            141.1,
            150.5,
            158.1,
            153.9,
            173.8,
            168.2,
            141.9,
            152.6,
            155.8,
            155.3,
            168.0,
            182.4,
            177.0,
        ),
    ),
    Series(
        name="monthly-sales",
        description="monthly sales over three years (yearly cycle, rising trend)",
        season_length=12,
        values=(
            1036,
            1096,
            1157,
            1154,
            1193,
            1120,
            1061,
            977,
            942,
            945,
            1022,
            1006,
            1108,
            1237,
            1334,
            1344,
            1274,
            1216,
            1225,
            1135,
            1082,
            1126,
            1162,
            1205,
            1294,
            1386,
            1482,
            1489,
            1479,
            1437,
            1321,
            1329,
            1278,
            1259,
            1229,
            1329,
        ),
    ),
    Series(
        name="signups",
        description="daily sign-ups over ten days (trend only)",
        values=(42, 41, 50, 57, 57, 68, 71, 75, 81, 86),
    ),
)


@dataclass(frozen=True)
class Catalogue:
    """The series the service can forecast, and the one used when none is named."""

    series: Mapping[str, Series]
    default: str


# --------------------------------------------------------------------------- configuration


def load_catalogue(environ: Mapping[str, str]) -> Catalogue:
    """Build the catalogue from the environment (see the module docstring)."""
    path = environ.get("FORECAST_SERIES_FILE", "").strip()
    series = load_series_file(path) if path else {s.name: s for s in BUILTIN_SERIES}
    default = environ.get("FORECAST_DEFAULT_SERIES", "").strip() or next(iter(series))
    if default not in series:
        raise ConfigError(
            f"FORECAST_DEFAULT_SERIES={default!r} is not a known series "
            f"(known: {', '.join(series)})"
        )
    return Catalogue(series=series, default=default)


def load_series_file(path: str) -> dict[str, Series]:
    """Read and validate a series file; raise ``ConfigError`` listing every problem."""
    where = f"FORECAST_SERIES_FILE={path!r}"
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle, parse_constant=_reject_constant)
    except OSError as exc:
        raise ConfigError(f"{where} cannot be read: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ConfigError(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or not document:
        raise ConfigError(f"{where} must be a non-empty JSON object of series by name")
    problems: list[str] = []
    series: dict[str, Series] = {}
    for name, spec in document.items():
        parsed = _parse_series(name, spec, problems)
        if parsed is not None:
            series[name] = parsed
    if problems:
        raise ConfigError(f"{where} is invalid: " + "; ".join(problems))
    return series


def _parse_series(name: str, spec: Any, problems: list[str]) -> Series | None:
    """Validate one series entry; append problems (naming ``name.field``) and return it."""
    count = len(problems)
    if not _SERIES_NAME_RE.match(name):
        problems.append(
            f"series name {name!r} must be 1-64 characters of a-z 0-9 _ - starting with a letter or digit"
        )
    if not isinstance(spec, dict):
        problems.append(f"{name}: must be an object with 'values'")
        return None
    unknown = sorted(set(spec) - set(_SERIES_FIELDS))
    if unknown:
        problems.append(
            f"{name}: unknown field(s) {', '.join(unknown)} (allowed: {', '.join(_SERIES_FIELDS)})"
        )
    values: Any = spec.get("values")  # a list of numbers unless a problem says otherwise
    if not isinstance(values, list) or len(values) < 2:
        problems.append(f"{name}.values: must be a list of at least 2 numbers")
    else:
        for i, value in enumerate(values):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
            ):
                problems.append(f"{name}.values[{i}]: must be a finite number, got {value!r}")
    season_length = spec.get("season_length", 1)
    if isinstance(season_length, bool) or not isinstance(season_length, int) or season_length < 1:
        problems.append(f"{name}.season_length: must be a whole number >= 1, got {season_length!r}")
    description = spec.get("description", "")
    if not isinstance(description, str):
        problems.append(f"{name}.description: must be a string")
    if len(problems) > count:
        return None
    return Series(name, tuple(float(v) for v in values), season_length, description)


def _reject_constant(name: str) -> Any:
    """json ``parse_constant`` hook: NaN and Infinity are not valid history values."""
    raise ValueError(f"{name} is not a valid number")


# --------------------------------------------------------------------------- requests


class BadParameter(ValueError):
    """A query parameter is invalid; ``parameter`` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


def parse_forecast_query(query: str, catalogue: Catalogue) -> tuple[Series, int]:
    """Return ``(series, horizon)`` from a query string or raise ``BadParameter``."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=_MAX_QUERY_FIELDS)
    except ValueError:
        raise BadParameter(
            "query", f"too many query parameters (at most {_MAX_QUERY_FIELDS})"
        ) from None
    given: dict[str, str] = {}
    for name, value in pairs:
        if name not in QUERY_PARAMETERS:
            raise BadParameter(
                name, f"unknown query parameter {name!r} (allowed: {', '.join(QUERY_PARAMETERS)})"
            )
        if name in given:
            raise BadParameter(name, f"query parameter {name!r} is given more than once")
        given[name] = value
    return _series_param(given, catalogue), _horizon_param(given)


def _horizon_param(given: Mapping[str, str]) -> int:
    """The ``horizon`` parameter: a whole number in [MIN_HORIZON, MAX_HORIZON]."""
    raw = given.get("horizon")
    if raw is None:
        return DEFAULT_HORIZON
    expected = f"a whole number from {MIN_HORIZON} to {MAX_HORIZON}"
    if not _HORIZON_RE.match(raw):
        raise BadParameter("horizon", f"horizon must be {expected}, got {raw!r}")
    horizon = int(raw)
    if not MIN_HORIZON <= horizon <= MAX_HORIZON:
        raise BadParameter("horizon", f"horizon must be {expected}, got {raw!r}")
    return horizon


def _series_param(given: Mapping[str, str], catalogue: Catalogue) -> Series:
    """The ``series`` parameter: a name in the catalogue."""
    name = given.get("series", catalogue.default)
    if name not in catalogue.series:
        raise BadParameter(
            "series", f"unknown series {name!r} (known: {', '.join(catalogue.series)})"
        )
    return catalogue.series[name]


def forecast_document(series: Series, horizon: int) -> dict[str, Any]:
    """The JSON body of ``GET /forecast`` for one series and horizon."""
    result = forecast(series.values, horizon, series.season_length)
    return {
        "series": series.name,
        "description": series.description,
        "method": result.method,
        "season_length": series.season_length,
        "horizon": horizon,
        "history": {"points": len(series.values), "last": series.values[-1]},
        "rmse": result.rmse,
        "forecast": [{"step": i, "value": v} for i, v in enumerate(result.values, start=1)],
    }


# --------------------------------------------------------------------------- WSGI


def create_app(catalogue: Catalogue, model: ApprovedModel | None = None) -> WsgiApp:
    """Return the WSGI application serving ``catalogue`` (and ``model`` when given)."""

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "") or "/"
        try:
            status, body, extra = _route(
                method, path, environ.get("QUERY_STRING", ""), catalogue, model
            )
        except Exception:  # noqa: BLE001 - answer JSON, log the traceback
            logger.exception("unhandled error for %s %s", method, path)
            status, body, extra = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"}, []
        payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            *extra,
        ]
        start_response(f"{status.value} {status.phrase}", headers)
        return [b""] if method == "HEAD" else [payload]

    return application


def _route(
    method: str, path: str, query: str, catalogue: Catalogue, model: ApprovedModel | None = None
) -> tuple[HTTPStatus, dict[str, Any], list[tuple[str, str]]]:
    """Dispatch one request; return status, JSON body and extra headers."""
    if path not in ("/health", "/forecast", "/model", "/predict"):
        return HTTPStatus.NOT_FOUND, {"error": "not found", "path": path}, []
    if method not in ("GET", "HEAD"):
        body = {"error": f"method {method} not allowed", "allowed": ["GET", "HEAD"]}
        return HTTPStatus.METHOD_NOT_ALLOWED, body, [("Allow", "GET, HEAD")]
    if path == "/health":
        return HTTPStatus.OK, {"status": "ok"}, []
    if path in ("/model", "/predict"):
        return _model_route(path, query, model)
    try:
        series, horizon = parse_forecast_query(query, catalogue)
    except BadParameter as exc:
        return HTTPStatus.BAD_REQUEST, {"error": str(exc), "parameter": exc.parameter}, []
    return HTTPStatus.OK, forecast_document(series, horizon), []


def _model_route(
    path: str, query: str, model: ApprovedModel | None
) -> tuple[HTTPStatus, dict[str, Any], list[tuple[str, str]]]:
    """``/model`` and ``/predict``: the approved version of the configured model."""
    if model is None:
        return HTTPStatus.NOT_FOUND, {"error": "model serving is not configured"}, []
    current = model.current()
    if current is None:
        body = {"error": f"model {model.config.model!r} has no approved version yet"}
        return (
            HTTPStatus.SERVICE_UNAVAILABLE,
            body,
            [("Retry-After", str(model.config.refresh_seconds))],
        )
    about = {"model": model.config.model, "name": current.name, "version": current.version}
    if path == "/model":
        names = sorted(current.coefficients)
        return (
            HTTPStatus.OK,
            {**about, "features": names, "refresh_seconds": model.config.refresh_seconds},
            [],
        )
    try:
        features = parse_features(query, current)
    except BadParameter as exc:
        return HTTPStatus.BAD_REQUEST, {"error": str(exc), "parameter": exc.parameter}, []
    return HTTPStatus.OK, {"prediction": current.predict(features), **about}, []


def parse_features(query: str, model: LoadedModel) -> dict[str, float]:
    """The model's features from a query string; ``BadParameter`` naming the first problem."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=_MAX_QUERY_FIELDS)
    except ValueError:
        raise BadParameter(
            "query", f"too many query parameters (at most {_MAX_QUERY_FIELDS})"
        ) from None
    given: dict[str, float] = {}
    for name, raw in pairs:
        if name not in model.coefficients:
            known = ", ".join(sorted(model.coefficients))
            raise BadParameter(name, f"unknown feature {name!r} (the model uses: {known})")
        if name in given:
            raise BadParameter(name, f"feature {name!r} is given more than once")
        try:
            value = float(raw)
        except ValueError:
            raise BadParameter(name, f"{name} must be a number, got {raw!r}") from None
        if not math.isfinite(value):
            raise BadParameter(name, f"{name} must be a finite number, got {raw!r}")
        given[name] = value
    missing = sorted(set(model.coefficients) - set(given))
    if missing:
        raise BadParameter(missing[0], f"feature(s) missing: {', '.join(missing)}")
    return given


def _serving_from_environment(environ: Mapping[str, str]) -> ApprovedModel | None:
    config = load_serving_config(environ)
    return ApprovedModel(config) if config is not None else None


application = create_app(load_catalogue(os.environ), _serving_from_environment(os.environ))
