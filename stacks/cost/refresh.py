"""Refresh the price table from AWS's public Price List bulk offer files (no credentials).

A regional offer file lives at
``https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/<offer>/current/<region>/index.json``
and holds ``products`` (by SKU: ``productFamily`` and ``attributes``, among them
``usagetype``) and ``terms`` (``OnDemand`` -> SKU -> term -> ``priceDimensions`` -> rate
with ``unit``, ``beginRange`` and ``pricePerUnit.USD``), plus the file's ``publicationDate``
(https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/reading-service-price-list-file-for-services.html).

A price row names the offer, the exact ``usagetype`` and, where several products share it,
more attributes that must match. The row takes the OnDemand rate of the first tier (the one
whose range begins at 0) and the file's publication date. Rows that match nothing, or more
than one distinct price, keep their value and are reported.

Downloading is a function passed in (:data:`Fetch`): the tests read a recorded sample from
disk, ``--offers DIR`` reads files already downloaded, and by default the command downloads.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks.cost.table import PRICES_FILE, parse_table

OFFER_URL = (
    "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/{offer}/current/{region}/index.json"
)

Fetch = Callable[[str, str], Mapping[str, Any]]
"""(offer code, region) -> the parsed offer file."""


class RefreshError(Exception):
    """An offer file could not be fetched or read."""


def download(offer: str, region: str, timeout: float = 300) -> Mapping[str, Any]:
    """The offer file from AWS's public endpoint (large: EC2's regional file is hundreds of MB)."""
    url = OFFER_URL.format(offer=offer, region=region)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (fixed https URL)
            return json.load(response)
    except (OSError, ValueError) as exc:
        raise RefreshError(f"cannot download {url}: {exc}") from None


def from_directory(root: Path) -> Fetch:
    """Read ``<root>/<offer>/<region>/index.json`` (the URL's layout without ``current``)."""

    def fetch(offer: str, region: str) -> Mapping[str, Any]:
        path = Path(root) / offer / region / "index.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RefreshError(f"cannot read {path}: {exc}") from None

    return fetch


def on_demand_rates(
    offer: Mapping[str, Any], usagetype: str, attributes: Mapping[str, str]
) -> list[tuple[float, str]]:
    """(USD per unit, unit) of the first tier of every OnDemand rate of the matching products."""
    skus = [
        sku
        for sku, product in (offer.get("products") or {}).items()
        if (product.get("attributes") or {}).get("usagetype") == usagetype
        and all(
            (product.get("attributes") or {}).get(k, product.get(k)) == v
            for k, v in attributes.items()
        )
    ]
    rates: list[tuple[float, str]] = []
    on_demand = (offer.get("terms") or {}).get("OnDemand") or {}
    for sku in skus:
        for term in (on_demand.get(sku) or {}).values():
            for dim in (term.get("priceDimensions") or {}).values():
                begin = str(dim.get("beginRange", dim.get("startingRange", "0")))
                if begin not in ("0", "0.0", "0.0000000000"):
                    continue
                price = (dim.get("pricePerUnit") or {}).get("USD")
                if price is not None:
                    rates.append((float(price), str(dim.get("unit", ""))))
    return rates


@dataclass
class RefreshResult:
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = [
            f"updated {len(self.updated)}, unchanged {len(self.unchanged)}, "
            f"not found {len(self.missing)}, offer files not read {len(self.failed)}"
        ]
        lines += [f"  updated: {x}" for x in self.updated]
        lines += [f"  not found: {x}" for x in self.missing]
        lines += [f"  not read: {x}" for x in self.failed]
        return "\n".join(lines) + "\n"


def refresh_table(
    table: dict[str, Any], fetch: Fetch, regions: set[str] | None = None
) -> RefreshResult:
    """Update ``table`` (the parsed ``prices.json``) in place from offer files."""
    result = RefreshResult()
    cache: dict[tuple[str, str], Mapping[str, Any] | None] = {}
    for row in table.get("prices") or []:
        label = f"{row['key']} {row['region']}"
        if regions and row["region"] not in regions:
            continue
        if not row.get("usagetype"):
            result.missing.append(f"{label}: no usagetype to look up")
            continue
        where = (row["offer"], row["region"])
        if where not in cache:
            try:
                cache[where] = fetch(*where)
            except RefreshError as exc:
                cache[where] = None
                result.failed.append(str(exc))
        offer = cache[where]
        if offer is None:
            continue
        rates = {
            r for r, _ in on_demand_rates(offer, row["usagetype"], row.get("attributes") or {})
        }
        if len(rates) != 1:
            why = "no product" if not rates else f"{len(rates)} different prices"
            result.missing.append(f"{label}: {why} for usagetype {row['usagetype']}")
            continue
        value = rates.pop()
        date = str(offer.get("publicationDate", ""))[:10] or None
        url = OFFER_URL.format(offer=row["offer"], region=row["region"])
        if row.get("usd") == value and row.get("date") == date:
            result.unchanged.append(label)
            continue
        old = row.get("usd")
        row.update(
            usd=value,
            date=date,
            source=url,
            confirmed_by=f"the OnDemand rate of usagetype {row['usagetype']} in the offer file published {offer.get('publicationDate')}",
        )
        row.pop("unpriced_because", None)
        result.updated.append(f"{label}: {old} -> {value} ({date})")
    parse_table(table)  # the result must still be a valid table
    return result


def refresh_file(
    path: Path = PRICES_FILE, fetch: Fetch = download, regions: set[str] | None = None
) -> RefreshResult:
    table = json.loads(Path(path).read_text(encoding="utf-8"))
    result = refresh_table(table, fetch, regions)
    Path(path).write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    return result
