"""The timeline as text, JSON and an SVG Gantt chart (written by hand: no dependency)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from stacks.timeline.graph import Timeline, minutes


def to_dict(t: Timeline) -> dict[str, Any]:
    return {
        "format": "mlops-timeline/1",
        "operation": t.operation,
        "critical_path_seconds": round(t.total, 1),
        "parallel": "unbounded" if t.parallel >= len(t.nodes) else t.parallel,
        "estimated_seconds": round(t.scheduled_total, 1),
        "resources": len(t.nodes),
        "critical_path": [
            {
                "urn": u,
                "name": t.nodes[u].name,
                "type": t.nodes[u].type,
                "start": round(t.nodes[u].start, 1),
                "seconds": t.nodes[u].seconds,
                "source": t.nodes[u].source,
            }
            for u in t.critical_path
        ],
        "dominating": [
            {
                "urn": n.urn,
                "name": n.name,
                "type": n.type,
                "seconds": n.seconds,
                "on_critical_path": n.urn in t.critical_path,
            }
            for n in t.dominating()
        ],
        "stated_default": dict(sorted(t.defaults.items())),
        "protected": t.protected,
        "unneeded_dependencies": [
            {
                "dependent": u.dependent,
                "dependency": u.dependency,
                "saving_seconds": round(u.saving, 1),
            }
            for u in t.unneeded
        ],
    }


def render_text(t: Timeline) -> str:
    bounded = t.parallel < len(t.nodes)
    out = [
        f"`{t.operation}` of {len(t.nodes)} resources: critical path {minutes(t.total)}"
        + (
            f"; with --parallel {t.parallel}: {minutes(t.scheduled_total)}"
            if bounded
            else " (the engine's parallelism is unbounded by default, so this is the estimate)"
        ),
        "",
        "Critical path (start, duration, resource):",
    ]
    for u in t.critical_path:
        n = t.nodes[u]
        out.append(f"  {minutes(n.start):>8}  {minutes(n.seconds):>7}  {n.name} ({n.type})")
    out += ["", "Resources that dominate (critical path first, then longest):"]
    for n in t.dominating():
        mark = "*" if n.urn in t.critical_path else " "
        out.append(f"  {mark} {minutes(n.seconds):>7}  {n.name} ({n.type}, {n.region or '-'})")
    out += ["", "Where the durations come from:"]
    sources = {}
    for u in t.critical_path:
        n = t.nodes[u]
        if n.seconds and n.source != "default":
            sources[n.type] = n.source
    for typ, source in sorted(sources.items()):
        out.append(f"  {typ}: {source}")
    if t.defaults:
        count = sum(t.defaults.values())
        out.append(
            f"  {count} resources of {len(t.defaults)} types take the stated default "
            "(stacks/timeline/durations.json)"
        )
    if t.protected:
        out += [
            "",
            f"{len(t.protected)} protected resources: a destroy stops at the first of them.",
        ]
    out += [""]
    if t.unneeded:
        out.append(
            "Dependencies that lengthen the critical path without an input reference or a recorded ordering rule:"
        )
        for flag in t.unneeded:
            out.append(
                f"  - {_short(flag.dependent)} depends on {_short(flag.dependency)}: removing it saves {minutes(flag.saving)}"
            )
    else:
        out.append(
            "No explicit dependency lengthens the critical path without an input reference or ordering rule."
        )
    return "\n".join(out) + "\n"


def _short(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def render_svg(t: Timeline, max_rows: int = 40) -> str:
    """A Gantt chart: the critical path (red) and the other resources that dominate (grey)."""
    rows = list(t.critical_path)
    for n in t.dominating(max_rows):
        if n.urn not in rows and len(rows) < max_rows:
            rows.append(n.urn)
    rows.sort(key=lambda u: (t.nodes[u].start, u))
    label_w, chart_w, row_h, top = 360, 760, 18, 40
    span = max(t.total, 1.0)
    scale = chart_w / span
    height = top + row_h * len(rows) + 40
    width = label_w + chart_w + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="20" font-size="14">{escape(t.operation)}: critical path '
        f"{escape(minutes(t.total))} ({len(t.nodes)} resources)</text>",
    ]
    step = _tick(span)
    tick = 0.0
    while tick <= span + 1e-9:
        x = label_w + tick * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 30}" stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{height - 16}" text-anchor="middle">{escape(minutes(tick))}</text>'
        )
        tick += step
    critical = set(t.critical_path)
    for i, u in enumerate(rows):
        n = t.nodes[u]
        y = top + i * row_h
        colour = "#c0392b" if u in critical else "#95a5a6"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{escape(n.name[:55])}</text>'
        )
        w = max(n.seconds * scale, 1.0)
        parts.append(
            f'<rect x="{label_w + n.start * scale:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
            f'fill="{colour}"><title>{escape(n.type)}: {escape(minutes(n.seconds))} from '
            f"{escape(minutes(n.start))}</title></rect>"
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _tick(span: float) -> float:
    for step in (30, 60, 120, 300, 600, 900, 1800, 3600):
        if span / step <= 12:
            return float(step)
    return 7200.0


def render(t: Timeline, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(to_dict(t), indent=1, sort_keys=True) + "\n"
    return render_text(t)
