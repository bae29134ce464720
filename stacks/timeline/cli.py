"""``python -m stacks timeline <stack> [--destroy]``: how long a deploy or a destroy takes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def cmd_timeline(args: argparse.Namespace) -> int:
    from stacks.graph import PlanFileError, load_plan_file
    from stacks.timeline import TimelineError, render, render_svg, timeline

    try:
        if args.plan:
            plan: dict[str, Any] = load_plan_file(Path(args.plan))
        else:
            from stacks.offline import PROJECT_DIR, render_stack

            project = Path(args.project_dir) if args.project_dir else PROJECT_DIR
            plan = render_stack(args.stack, project).to_dict()
        if args.parallel is not None and args.parallel < 1:
            raise TimelineError("--parallel must be at least 1")
        kwargs = {} if args.parallel is None else {"parallel": args.parallel}
        result = timeline(plan, destroy=args.destroy, **kwargs)
    except (PlanFileError, TimelineError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(render(result, args.format), end="")
    if args.svg:
        try:
            Path(args.svg).parent.mkdir(parents=True, exist_ok=True)
            Path(args.svg).write_text(render_svg(result), encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write {args.svg}: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if args.format != "json":
            print(f"Gantt chart written to {args.svg}")
    return EXIT_OK


def add_timeline_command(sub: Any) -> None:
    p = sub.add_parser(
        "timeline",
        help="how long `up` (or `--destroy`) of a stack takes: critical path of the offline plan",
        description="Critical path of a stack's `up` or `destroy` from its offline plan and the "
        "duration table (stacks/timeline/durations.json, each with its source).",
    )
    p.add_argument(
        "stack", nargs="?", default=None, help="stack name: renders Pulumi.<stack>.yaml offline"
    )
    p.add_argument(
        "--project-dir", default=None, help="project directory (default: this repository)"
    )
    p.add_argument(
        "--plan", help="read this plan file (from plan --out) instead of rendering the stack"
    )
    p.add_argument("--destroy", action="store_true", help="the destroy instead of a full up")
    p.add_argument(
        "--parallel",
        type=int,
        default=None,
        help="at most N operations at once (default: unbounded, as `pulumi up`)",
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--svg", help="also draw the Gantt chart into this SVG file")
    p.set_defaults(func=cmd_timeline)
