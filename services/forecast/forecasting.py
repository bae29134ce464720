"""Exponential-smoothing forecasts (pure functions, standard library only).

Two methods, chosen by how much history there is:

* ``holt-winters-additive`` (triple exponential smoothing) when the series has a season
  (``season_length >= 2``) and at least two full seasons of history. The initial level,
  trend and seasonal terms come from the first two seasons, so a series that is exactly
  "linear trend + repeating season" is continued exactly.
* ``holt-linear`` (double exponential smoothing: level + trend) otherwise, from two points
  up, initialised from a least-squares line through the first five points. A straight
  line is continued exactly.

Smoothing parameters are fixed (``SmoothingParameters``); ``rmse`` is the root mean square
of the in-sample one-step-ahead errors (Holt-Winters: after the two seasons used to
initialise), a rough measure of how well the method follows the series.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

HOLT_WINTERS = "holt-winters-additive"
HOLT_LINEAR = "holt-linear"
HOLT_INIT_POINTS = 5


@dataclass(frozen=True)
class SmoothingParameters:
    """Smoothing weights in (0, 1]: higher follows recent observations more closely."""

    alpha: float = 0.3
    """Weight of the newest observation in the level."""
    beta: float = 0.1
    """Weight of the newest level change in the trend."""
    gamma: float = 0.2
    """Weight of the newest observation in its seasonal term."""

    def __post_init__(self) -> None:
        for name in ("alpha", "beta", "gamma"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value!r}")


@dataclass(frozen=True)
class Forecast:
    """The result of ``forecast``: the method used and one value per future step."""

    method: str
    values: tuple[float, ...]
    rmse: float


def forecast(
    history: Sequence[float],
    horizon: int,
    season_length: int = 1,
    params: SmoothingParameters = SmoothingParameters(),
) -> Forecast:
    """Forecast ``horizon`` steps after ``history`` (see the module docstring).

    Raises ``ValueError`` for fewer than two points, a non-finite point, a horizon below one
    or a season length below one.
    """
    values = [float(v) for v in history]
    if len(values) < 2:
        raise ValueError(f"history needs at least 2 points, got {len(values)}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError("history values must be finite numbers")
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1, got {horizon}")
    if season_length < 1:
        raise ValueError(f"season_length must be at least 1, got {season_length}")
    if season_length >= 2 and len(values) >= 2 * season_length:
        return _holt_winters(values, horizon, season_length, params)
    return _holt_linear(values, horizon, params)


def _holt_linear(y: list[float], horizon: int, p: SmoothingParameters) -> Forecast:
    """Double exponential smoothing.

    Initial level and trend: the least-squares line through the first (up to)
    ``HOLT_INIT_POINTS`` points, at t = 0; less sensitive to one noisy first step than
    ``y[1] - y[0]``. State is then updated from t = 1 on.
    """
    level, trend = _line_fit(y[:HOLT_INIT_POINTS])
    errors: list[float] = []
    for t in range(1, len(y)):
        predicted = level + trend
        errors.append(y[t] - predicted)
        new_level = p.alpha * y[t] + (1 - p.alpha) * predicted
        trend = p.beta * (new_level - level) + (1 - p.beta) * trend
        level = new_level
    values = tuple(level + h * trend for h in range(1, horizon + 1))
    return Forecast(HOLT_LINEAR, values, _rmse(errors))


def _line_fit(y: list[float]) -> tuple[float, float]:
    """Least-squares ``(intercept, slope)`` of ``y`` against t = 0, 1, ... (two points or more)."""
    n = len(y)
    mean_t = (n - 1) / 2
    mean_y = sum(y) / n
    slope = sum((t - mean_t) * (v - mean_y) for t, v in enumerate(y)) / sum(
        (t - mean_t) ** 2 for t in range(n)
    )
    return mean_y - slope * mean_t, slope


def _holt_winters(y: list[float], horizon: int, period: int, p: SmoothingParameters) -> Forecast:
    """Additive Holt-Winters, initialised from the first two seasons.

    Trend = difference of the two seasons' means / period; level at the end of the first
    season = its mean moved along the trend to that point; seasonal term i = y[i] minus the
    trend line at i. State is then updated from t = period on.
    """
    first = sum(y[:period]) / period
    second = sum(y[period : 2 * period]) / period
    trend = (second - first) / period
    centre = (period - 1) / 2
    level = first + trend * centre
    season = [y[i] - (first + trend * (i - centre)) for i in range(period)]
    errors: list[float] = []
    for t in range(period, len(y)):
        s = season[t % period]
        errors.append(y[t] - (level + trend + s))
        new_level = p.alpha * (y[t] - s) + (1 - p.alpha) * (level + trend)
        trend = p.beta * (new_level - level) + (1 - p.beta) * trend
        season[t % period] = p.gamma * (y[t] - new_level) + (1 - p.gamma) * s
        level = new_level
    n = len(y)
    values = tuple(level + h * trend + season[(n - 1 + h) % period] for h in range(1, horizon + 1))
    return Forecast(HOLT_WINTERS, values, _rmse(errors))


def _rmse(errors: list[float]) -> float:
    """Root mean square of ``errors`` (both methods leave at least one step to check)."""
    return math.sqrt(sum(e * e for e in errors) / len(errors))
