"""How long a stack's ``up`` and ``destroy`` take, read from its offline plan: the critical
path of the dependency graph with sourced durations per resource type
(``durations.json``), the resources that dominate, an SVG Gantt chart, and the explicit
dependencies that lengthen the path without an input reference or an ordering rule."""

from stacks.timeline.graph import (
    ORDERING_RULES,
    Durations,
    Node,
    Timeline,
    TimelineError,
    build,
    explicit_dependencies,
    list_schedule,
    load_durations,
    longest_path,
    timeline,
)
from stacks.timeline.report import render, render_svg, to_dict

__all__ = [
    "ORDERING_RULES",
    "Durations",
    "Node",
    "Timeline",
    "TimelineError",
    "build",
    "explicit_dependencies",
    "list_schedule",
    "load_durations",
    "longest_path",
    "render",
    "render_svg",
    "timeline",
    "to_dict",
]
