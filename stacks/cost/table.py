"""The price table (``prices.json``) and the usage assumptions (``assumptions.json``).

Every price row names its AWS source (the public Price List offer file of its service and
region, which ``python -m stacks cost refresh`` reads) and the date of the figure; a row
whose ``usd`` is null is unpriced and says why. A guessed price is a defect: a price nobody
could confirm stays null until a refresh fills it from AWS's own file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PRICES_FILE = Path(__file__).with_name("prices.json")
ASSUMPTIONS_FILE = Path(__file__).with_name("assumptions.json")
PRICES_FORMAT = "mlops-prices/1"
ASSUMPTIONS_FORMAT = "mlops-cost-assumptions/1"


class TableError(ValueError):
    """The price table or an assumptions file is malformed; the message names the entry."""


@dataclass(frozen=True)
class Price:
    """One price of one region."""

    key: str
    region: str
    usd: float | None
    unit: str
    offer: str
    usagetype: str | None
    source: str
    date: str | None
    attributes: Mapping[str, str] = field(default_factory=dict)
    why_unpriced: str | None = None


@dataclass(frozen=True)
class FreeType:
    """A resource type AWS does not charge for itself, with the page that says so."""

    type: str
    source: str
    date: str
    why: str


@dataclass
class PriceTable:
    prices: dict[tuple[str, str], Price]
    free: dict[str, FreeType]
    raw: dict[str, Any]

    def get(self, key: str, region: str) -> Price | None:
        return self.prices.get((key, region))

    def usd(self, key: str, region: str) -> float | None:
        price = self.get(key, region)
        return price.usd if price else None


_REQUIRED = ("key", "region", "unit", "offer", "source")


def parse_table(data: Mapping[str, Any], where: str = "prices.json") -> PriceTable:
    if data.get("format") != PRICES_FORMAT:
        raise TableError(f"{where}: format must be {PRICES_FORMAT!r}")
    prices: dict[tuple[str, str], Price] = {}
    problems: list[str] = []
    for i, row in enumerate(data.get("prices") or []):
        name = f"{where}: prices[{i}]"
        missing = [k for k in _REQUIRED if not row.get(k)]
        if missing:
            problems.append(f"{name} lacks {', '.join(missing)}")
            continue
        usd = row.get("usd")
        if usd is not None and (not isinstance(usd, int | float) or usd < 0):
            problems.append(
                f"{name} ({row['key']}, {row['region']}): usd must be a number >= 0 or null"
            )
            continue
        if usd is not None and not (row.get("date") and row.get("confirmed_by")):
            problems.append(
                f"{name} ({row['key']}, {row['region']}): a price needs its date and confirmed_by"
            )
            continue
        if usd is None and not row.get("unpriced_because"):
            problems.append(
                f"{name} ({row['key']}, {row['region']}): null usd needs unpriced_because"
            )
            continue
        key = (row["key"], row["region"])
        if key in prices:
            problems.append(f"{name}: {key[0]} in {key[1]} is listed twice")
            continue
        prices[key] = Price(
            key=row["key"],
            region=row["region"],
            usd=float(usd) if usd is not None else None,
            unit=row["unit"],
            offer=row["offer"],
            usagetype=row.get("usagetype"),
            source=row["source"],
            date=row.get("date"),
            attributes=dict(row.get("attributes") or {}),
            why_unpriced=row.get("unpriced_because"),
        )
    free: dict[str, FreeType] = {}
    for i, row in enumerate(data.get("free") or []):
        if not all(row.get(k) for k in ("type", "source", "date", "why")):
            problems.append(f"{where}: free[{i}] needs type, source, date and why")
            continue
        free[row["type"]] = FreeType(row["type"], row["source"], row["date"], row["why"])
    if problems:
        raise TableError("; ".join(problems))
    return PriceTable(prices=prices, free=free, raw=dict(data))


def load_table(path: Path = PRICES_FILE) -> PriceTable:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TableError(f"cannot read the price table {path}: {exc}") from None
    return parse_table(data, Path(path).name)


@dataclass(frozen=True)
class Assumption:
    key: str
    value: float
    unit: str
    description: str
    overridden: bool = False


def load_assumptions(override: Path | None = None) -> dict[str, Assumption]:
    """The default assumptions, with ``override`` (JSON or YAML mapping key -> number) applied.

    An unknown key or a value that is not a number >= 0 is an error naming the key.
    """
    data = json.loads(ASSUMPTIONS_FILE.read_text(encoding="utf-8"))
    defaults = {
        key: Assumption(key, float(item["value"]), item["unit"], item["description"])
        for key, item in data["assumptions"].items()
    }
    if override is None:
        return defaults
    try:
        given = yaml.safe_load(Path(override).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TableError(f"cannot read the assumptions file {override}: {exc}") from None
    if (
        isinstance(given, Mapping)
        and "assumptions" in given
        and isinstance(given["assumptions"], Mapping)
    ):
        given = {
            k: v.get("value") if isinstance(v, Mapping) else v
            for k, v in given["assumptions"].items()
        }
    if not isinstance(given, Mapping):
        raise TableError(f"{override}: must be a mapping of assumption names to numbers")
    problems: list[str] = []
    result = dict(defaults)
    for key, value in given.items():
        if key not in defaults:
            problems.append(
                f"{override}: unknown assumption {key!r} (known: {', '.join(sorted(defaults))})"
            )
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            problems.append(f"{override}: {key} must be a number >= 0, got {value!r}")
        else:
            base = defaults[key]
            result[key] = Assumption(
                key, float(value), base.unit, base.description, overridden=True
            )
    if problems:
        raise TableError("; ".join(problems))
    return result
