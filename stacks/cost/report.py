"""Rendering estimates (text, markdown, JSON), the change between two plans by resource, and
what a night without the stack saves."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stacks.cost.model import Estimate, LineItem

FORMATS = ("text", "markdown", "json")


def usd(value: float | None) -> str:
    return "unpriced" if value is None else f"${value:,.2f}"


def _lifetime_line(estimate: Estimate) -> str:
    lifetime = estimate.lifetime
    if lifetime.always:
        return "The stack exists around the clock (730 h a month): no workflow destroys it on a schedule."
    return (
        f"The stack exists {estimate.stack_hours_per_month:.1f} h of 730 h a month, from "
        + "; ".join(lifetime.sources)
        + ". Pushes that rebuild it between a destroy and the scheduled rebuild are not counted."
    )


def _by_region_capability(items: Iterable[LineItem]) -> dict[tuple[str, str], dict[str, float]]:
    table: dict[tuple[str, str], dict[str, float]] = defaultdict(
        lambda: {"fixed": 0.0, "usage": 0.0, "unpriced": 0.0}
    )
    for i in items:
        row = table[(i.region, i.capability)]
        if i.kind == "free":
            continue
        if i.monthly_usd is None:
            row["unpriced"] += 1
        else:
            row[i.kind] += i.monthly_usd
    return dict(sorted(table.items()))


def _unpriced_groups(estimate: Estimate) -> list[tuple[str, str, int]]:
    """(type, reason, count) of the lines without a price."""
    groups: dict[tuple[str, str], int] = defaultdict(int)
    for i in estimate.items:
        if not i.priced:
            groups[(f"{i.type} ({i.region}): {i.what}", i.unpriced_because or "")] += 1
    return sorted((k[0], k[1], n) for k, n in groups.items())


def to_dict(estimate: Estimate, saving: NightSaving | None = None) -> dict[str, Any]:
    return {
        "format": "mlops-cost/1",
        "stack": estimate.stack,
        "stack_hours_per_month": round(estimate.stack_hours_per_month, 2),
        "lifetime_sources": list(estimate.lifetime.sources),
        "monthly_usd": {
            "fixed": round(estimate.total("fixed"), 2),
            "usage": round(estimate.total("usage"), 2),
            "total": round(estimate.total(), 2),
        },
        "resources": estimate.resources,
        "unpriced_resources": len(estimate.unpriced_resources),
        "priced_share": round(estimate.priced_share, 4),
        "by_region_capability": [
            {"region": r, "capability": c, **{k: round(v, 2) for k, v in row.items()}}
            for (r, c), row in _by_region_capability(estimate.items).items()
        ],
        "unpriced": [
            {"what": w, "why": why, "count": n} for w, why, n in _unpriced_groups(estimate)
        ],
        "night_saving": saving.to_dict() if saving else None,
        "items": [i.to_dict() for i in estimate.items if i.kind != "free"],
    }


def render(estimate: Estimate, fmt: str = "text", saving: NightSaving | None = None) -> str:
    if fmt == "json":
        return json.dumps(to_dict(estimate, saving), indent=1, sort_keys=True) + "\n"
    md = fmt == "markdown"
    out: list[str] = []
    title = (
        f"Monthly cost of stack `{estimate.stack}`"
        if md
        else f"Monthly cost of stack {estimate.stack}"
    )
    out.append(f"### {title}" if md else title)
    out.append("")
    out.append(
        f"Fixed {usd(estimate.total('fixed'))} + usage {usd(estimate.total('usage'))} = "
        f"{usd(estimate.total())} a month (USD, before tax; priced lines only). "
        f"Priced: {estimate.resources - len(estimate.unpriced_resources)} of {estimate.resources} "
        f"resources ({estimate.priced_share:.0%}); the rest are listed below, not counted as zero."
    )
    out.append(_lifetime_line(estimate))
    if saving:
        out.append(saving.sentence())
    out.append("")
    rows = _by_region_capability(estimate.items)
    header = ("region", "capability", "fixed", "usage", "unpriced lines")
    body = [
        (r, c, usd(v["fixed"]), usd(v["usage"]), f"{int(v['unpriced'])}")
        for (r, c), v in rows.items()
    ]
    out.extend(_table(header, body, md))
    out.append("")
    fixed = sorted(
        (i for i in estimate.items if i.kind == "fixed" and i.monthly_usd),
        key=lambda i: -(i.monthly_usd or 0),
    )
    out.append("Fixed cost, largest first:" if not md else "**Fixed cost**, largest first:")
    out.extend(
        _table(
            ("resource", "what", "quantity", "monthly"),
            [
                (
                    f"{i.name} ({i.region})",
                    i.what,
                    f"{i.quantity:,.1f} {i.unit}",
                    usd(i.monthly_usd),
                )
                for i in fixed
            ],
            md,
        )
    )
    out.append("")
    usage = [i for i in estimate.items if i.kind == "usage"]
    assumed: dict[tuple[str, str, str], list[LineItem]] = defaultdict(list)
    for i in usage:
        assumed[(i.type.split(":")[-1], i.what, i.assumption or "")].append(i)
    out.append(
        "Usage-priced (per resource, with the assumption used):"
        if not md
        else "**Usage-priced** (per resource, with the assumption used):"
    )
    out.extend(
        _table(
            ("type", "what", "resources", "assumption", "monthly"),
            [
                (t, w, str(len(lines)), a, usd(_sum(lines)))
                for (t, w, a), lines in sorted(assumed.items())
            ],
            md,
        )
    )
    unpriced = _unpriced_groups(estimate)
    if unpriced:
        out.append("")
        out.append("Unpriced (not counted):" if not md else "**Unpriced** (not counted):")
        out.extend(
            _table(("what", "why", "lines"), [(w, why, str(n)) for w, why, n in unpriced], md)
        )
    return "\n".join(out) + "\n"


def _sum(lines: Iterable[LineItem]) -> float | None:
    values = [i.monthly_usd for i in lines]
    if any(v is None for v in values):
        priced = [v for v in values if v is not None]
        return sum(priced) if priced else None
    return sum(v for v in values if v is not None)


def _table(header: tuple[str, ...], rows: Sequence[Sequence[str]], md: bool) -> list[str]:
    if md:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        return lines
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    widths = [min(w, 70) for w in widths]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*header).rstrip()] + [
        fmt.format(*[c[:70] for c in row]).rstrip() for row in rows
    ]


# Night saving ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NightSaving:
    destroyed_at: dt.datetime
    rebuilt_at: dt.datetime | None
    hours: float
    usd: float
    fixed_hourly_usd: float
    monthly_usd: float | None
    unpriced_lines: int

    def sentence(self) -> str:
        if self.rebuilt_at is None:
            return "No scheduled rebuild: the stack stays destroyed, saving its whole fixed cost."
        monthly = (
            f" Over a month the schedule saves {usd(self.monthly_usd)} of fixed cost."
            if self.monthly_usd is not None
            else ""
        )
        unpriced = (
            f" ({self.unpriced_lines} unpriced fixed lines not counted)"
            if self.unpriced_lines
            else ""
        )
        return (
            f"Destroying at {self.destroyed_at:%a %Y-%m-%d %H:%M} UTC saves {usd(self.usd)} until the "
            f"rebuild at {self.rebuilt_at:%a %H:%M} UTC ({self.hours:.1f} h; {usd(self.fixed_hourly_usd)}"
            f" an hour of fixed cost while nothing scheduled is running){unpriced}.{monthly}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "destroyed_at": self.destroyed_at.isoformat(),
            "rebuilt_at": self.rebuilt_at.isoformat() if self.rebuilt_at else None,
            "hours": round(self.hours, 2),
            "usd": round(self.usd, 2),
            "fixed_hourly_usd": round(self.fixed_hourly_usd, 4),
            "monthly_usd": None if self.monthly_usd is None else round(self.monthly_usd, 2),
            "unpriced_fixed_lines": self.unpriced_lines,
        }


def night_saving(scheduled: Estimate, always: Estimate | None, at: dt.datetime) -> NightSaving:
    """What destroying the stack at ``at`` saves until the next scheduled rebuild: every priced
    fixed line's cost over those hours (a scheduled pool counts only what its schedule would
    have run). ``always`` (the same plan priced as if never destroyed) gives the monthly saving."""
    rebuilt = scheduled.lifetime.next_rebuild(at)
    end = rebuilt or at + dt.timedelta(hours=24)
    hours = (end - at).total_seconds() / 3600
    total = hourly = 0.0
    unpriced = 0
    for i in scheduled.items:
        if i.kind != "fixed":
            continue
        if i.unit_usd is None:
            unpriced += 1
            continue
        if i.window is not None:
            total += i.unit_usd * i.window(at, end)
        elif i.hourly_usd is not None:
            total += i.hourly_usd * hours
            hourly += i.hourly_usd
    monthly = always.total("fixed") - scheduled.total("fixed") if always else None
    return NightSaving(at, rebuilt, hours, total, hourly, monthly, unpriced)


# Diff -------------------------------------------------------------------------------------


def _per_resource(estimate: Estimate) -> dict[str, tuple[str, str, float | None]]:
    result: dict[str, tuple[str, str, float | None]] = {}
    groups: dict[str, list[LineItem]] = defaultdict(list)
    for i in estimate.items:
        groups[i.urn].append(i)
    for urn, lines in groups.items():
        values = [i.monthly_usd for i in lines]
        total = None if any(v is None for v in values) else sum(v for v in values if v is not None)
        result[urn] = (lines[0].name, lines[0].region, total)
    return result


def diff(old: Estimate, new: Estimate) -> dict[str, Any]:
    """The change in monthly cost between two estimates, by resource (added, removed, changed)."""
    a, b = _per_resource(old), _per_resource(new)
    rows = []
    for urn in sorted(set(a) | set(b)):
        before, after = a.get(urn), b.get(urn)
        old_usd = before[2] if before else 0.0
        new_usd = after[2] if after else 0.0
        if before and after and old_usd == new_usd:
            continue
        change = "added" if before is None else "removed" if after is None else "changed"
        name, region = (after or before)[:2]  # type: ignore[index]
        delta = None if old_usd is None or new_usd is None else new_usd - old_usd
        rows.append(
            {
                "urn": urn,
                "name": name,
                "region": region,
                "change": change,
                "old_usd": old_usd,
                "new_usd": new_usd,
                "delta_usd": delta,
            }
        )
    rows.sort(key=lambda r: -abs(float(r["delta_usd"] or 0)))
    return {
        "stack": new.stack,
        "old_monthly_usd": round(old.total(), 2),
        "new_monthly_usd": round(new.total(), 2),
        "delta_usd": round(new.total() - old.total(), 2),
        "resources": rows,
    }


def render_diff(result: Mapping[str, Any], fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps(result, indent=1, sort_keys=True) + "\n"
    md = fmt == "markdown"
    delta = result["delta_usd"]
    sign = "+" if delta >= 0 else "-"
    head = (
        f"Monthly cost of `{result['stack']}`: {usd(result['old_monthly_usd'])} -> "
        f"{usd(result['new_monthly_usd'])} ({sign}{usd(abs(delta))} a month, priced lines only)"
    )
    out = [f"### {head}" if md else head, ""]
    rows = result["resources"]
    if not rows:
        out.append("No resource changes its monthly cost.")
        return "\n".join(out) + "\n"

    def money(v: float | None) -> str:
        return usd(v) if v is None or v >= 0 else "-" + usd(-v)

    out.extend(
        _table(
            ("resource", "change", "before", "after", "delta"),
            [
                (
                    f"{r['name']} ({r['region']})",
                    r["change"],
                    usd(r["old_usd"]),
                    usd(r["new_usd"]),
                    money(r["delta_usd"]),
                )
                for r in rows
            ],
            md,
        )
    )
    return "\n".join(out) + "\n"
