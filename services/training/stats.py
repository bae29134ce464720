"""Feature statistics (the baseline written beside every model) and the drift measures.

The baseline of a model is the distribution of each feature in its training data::

    {"features": {"age": {"count": 1200, "mean": 41.3, "std": 9.8, "min": 18, "max": 80,
                          "quantiles": {"levels": [0, 0.01, ..., 1], "values": [...]},
                          "histogram": {"edges": [9 interior decile edges],
                                        "proportions": [10 shares summing to 1]}}},
     "measure_notes": "..."}

The drift check compares the newest curated data with it, feature by feature, with one of
two standard measures (``mlops:training.drift.measure``):

- ``psi``, the population stability index over the baseline's decile bins:
  ``sum((a - e) * ln(a / e))`` with ``e`` the baseline's share of a bin and ``a`` the new
  data's, both floored at :data:`PSI_FLOOR` so an empty bin counts as a large shift, not an
  infinite one. Common reading: below 0.1 stable, 0.1-0.25 a moderate shift, above 0.25 a
  large one.
- ``ks``, the two-sample Kolmogorov-Smirnov statistic ``D = max |F_base(x) - F_new(x)|``,
  with ``F_base`` taken from the baseline's 101 quantiles (evaluated at each quantile value
  and just below it, so discrete features are handled), and ``F_new`` the exact empirical
  distribution of the new data: within 0.01 of the statistic over the full training data.
  It lies in [0, 1].

Both are computed with numpy, from the stored statistics alone (the training data is not
read again).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from services.training.errors import DataError

MEASURES = ("psi", "ks")
QUANTILE_LEVELS: tuple[float, ...] = tuple(i / 100 for i in range(101))
HISTOGRAM_BINS = 10
PSI_FLOOR = 1e-4


def _histogram(values: np.ndarray, edges: np.ndarray) -> list[float]:
    """Shares of ``values`` in the bins ``(-inf, e1], (e1, e2], ..., (ek, inf)``."""
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    return [float(c) / len(values) for c in counts]


def feature_statistics(column: np.ndarray) -> dict[str, Any]:
    """Count, mean, standard deviation, extremes, 101 quantiles and decile-bin shares of one
    feature's training values."""
    quantiles = np.quantile(column, QUANTILE_LEVELS)
    inner = np.quantile(column, [i / HISTOGRAM_BINS for i in range(1, HISTOGRAM_BINS)])
    edges = np.unique(inner)
    return {
        "count": int(column.size),
        "mean": float(np.mean(column)),
        "std": float(np.std(column)),
        "min": float(np.min(column)),
        "max": float(np.max(column)),
        "quantiles": {"levels": list(QUANTILE_LEVELS), "values": [float(v) for v in quantiles]},
        "histogram": {"edges": [float(e) for e in edges], "proportions": _histogram(column, edges)},
    }


def baseline(features: Sequence[str], x: np.ndarray) -> dict[str, Any]:
    """The baseline document of a training set (``x``: one column per feature)."""
    return {
        "features": {name: feature_statistics(x[:, i]) for i, name in enumerate(features)},
        "records": int(x.shape[0]),
    }


def psi(stats: Mapping[str, Any], values: np.ndarray) -> float:
    """Population stability index of ``values`` against one feature's baseline bins."""
    edges = np.asarray(stats["histogram"]["edges"], dtype=np.float64)
    expected = np.maximum(np.asarray(stats["histogram"]["proportions"]), PSI_FLOOR)
    actual = np.maximum(np.asarray(_histogram(values, edges)), PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def ks(stats: Mapping[str, Any], values: np.ndarray) -> float:
    """Kolmogorov-Smirnov statistic of ``values`` against one feature's baseline quantiles."""
    levels = np.asarray(stats["quantiles"]["levels"], dtype=np.float64)
    points = np.asarray(stats["quantiles"]["values"], dtype=np.float64)
    ordered = np.sort(values)
    distance = 0.0
    for point in np.unique(points):
        at = float(np.max(levels[points <= point]))
        below_levels = levels[points < point]
        below = float(np.max(below_levels)) if below_levels.size else 0.0
        new_at = np.searchsorted(ordered, point, side="right") / ordered.size
        new_below = np.searchsorted(ordered, point, side="left") / ordered.size
        distance = max(distance, abs(at - new_at), abs(below - new_below))
    return float(distance)


def drift_scores(
    measure: str, baseline_doc: Mapping[str, Any], features: Sequence[str], x: np.ndarray
) -> dict[str, float]:
    """The drift score of every baseline feature; ``DataError`` when the baseline is not one
    or a baseline feature is not in the data."""
    if measure not in MEASURES:
        raise ValueError(f"unknown drift measure {measure!r}; use one of {', '.join(MEASURES)}")
    known = baseline_doc.get("features")
    if not isinstance(known, dict) or not known:
        raise DataError("the baseline has no feature statistics")
    missing = [name for name in known if name not in features]
    if missing:
        raise DataError(
            f"feature(s) of the serving model's baseline missing from the new data: "
            f"{', '.join(missing)}"
        )
    score = psi if measure == "psi" else ks
    out = {}
    for name, stats in known.items():
        try:
            value = score(stats, x[:, list(features).index(name)])
        except (KeyError, TypeError, ValueError):
            raise DataError(
                f"the baseline's statistics of feature {name!r} are malformed"
            ) from None
        if not math.isfinite(value):
            raise DataError(f"the {measure} of feature {name!r} is not a finite number")
        out[name] = value
    return out
