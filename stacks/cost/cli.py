"""``python -m stacks cost``: the monthly cost of a stack, the change between two plans, the
night's saving, and the refresh of the price table from AWS's Price List offer files."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def _project_dir(args: argparse.Namespace) -> Path:
    from stacks.offline import PROJECT_DIR

    given = getattr(args, "project_dir", None)
    return Path(given) if given else PROJECT_DIR


def _estimates(
    plan: dict[str, Any], project_dir: Path, assumptions_file: Path | None, stack: str | None = None
) -> tuple[Any, Any]:
    """(estimate as the schedules run, estimate as if the stack were never destroyed)."""
    from stacks.cost import estimate, load_assumptions, load_table, stack_lifetime
    from stacks.cost.schedules import Lifetime

    table = load_table()
    assumptions = load_assumptions(assumptions_file)
    lifetime = stack_lifetime(
        project_dir / ".github" / "workflows", stack or str(plan.get("stack"))
    )
    scheduled = estimate(plan, table, assumptions, lifetime)
    always = scheduled if lifetime.always else estimate(plan, table, assumptions, Lifetime())
    return scheduled, always


def _plan_of(args: argparse.Namespace) -> dict[str, Any]:
    if args.plan:
        from stacks.graph import load_plan_file

        return load_plan_file(Path(args.plan))
    from stacks.offline import render_stack

    return render_stack(args.stack, _project_dir(args)).to_dict()


def night_saving_text(stack: str, project_dir: Path, at: dt.datetime | None = None) -> str:
    """One paragraph: what destroying ``stack`` now saves until its scheduled rebuild."""
    from stacks.cost import night_saving
    from stacks.offline import render_stack

    plan = render_stack(stack, project_dir).to_dict()
    scheduled, always = _estimates(plan, project_dir, None, stack)
    when = at or dt.datetime.now(dt.UTC)
    return night_saving(scheduled, always, when).sentence()


def cmd_cost(args: argparse.Namespace) -> int:
    from stacks.cost import TableError, diff, night_saving, render, render_diff
    from stacks.cost.schedules import ScheduleError
    from stacks.graph import PlanFileError, load_plan_file

    try:
        if args.refresh:
            return _refresh(args)
        if args.diff:
            old_plan, new_plan = (load_plan_file(Path(p)) for p in args.diff)
            old, _ = _estimates(old_plan, _project_dir(args), args.assumptions)
            new, _ = _estimates(new_plan, _project_dir(args), args.assumptions)
            print(render_diff(diff(old, new), args.format), end="")
            return EXIT_OK
        if not args.stack:
            print(
                "error: name a stack (python -m stacks cost dev), or give --diff OLD NEW or --refresh",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
        plan = _plan_of(args)
        scheduled, always = _estimates(plan, _project_dir(args), args.assumptions, args.stack)
        saving = None
        if not scheduled.lifetime.always:
            at = (
                _parse_at(args.at)
                if args.at
                else scheduled.lifetime.destroy[0]
                .fire_times(dt.datetime.now(dt.UTC), dt.datetime.now(dt.UTC) + dt.timedelta(days=8))
                .__next__()
            )
            saving = night_saving(scheduled, always, at)
        if args.night:
            print(
                saving.sentence()
                if saving
                else f"Stack {args.stack} is not destroyed on a schedule: no night saving."
            )
            return EXIT_OK
        print(render(scheduled, args.format, saving), end="")
        return EXIT_OK
    except (PlanFileError, TableError, ScheduleError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _parse_at(text: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--at {text!r} is not an ISO date-time such as 2026-12-04T20:30"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _refresh(args: argparse.Namespace) -> int:
    from stacks.cost.refresh import RefreshError, download, from_directory, refresh_file
    from stacks.cost.table import PRICES_FILE

    fetch = from_directory(Path(args.offers)) if args.offers else download
    try:
        result = refresh_file(
            Path(args.table) if args.table else PRICES_FILE,
            fetch,
            set(args.region) if args.region else None,
        )
    except RefreshError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(result.render(), end="")
    return EXIT_FAILED if result.failed else EXIT_OK


def add_cost_command(sub: Any) -> None:
    """Register ``cost`` on the CLI's subparsers."""
    p = sub.add_parser(
        "cost",
        help="monthly cost of a stack from its offline plan (fixed and usage, per region and capability)",
        description="Monthly cost of a stack read from its offline plan and the price table "
        "(stacks/cost/prices.json). Unpriced resources are listed, never counted as zero.",
    )
    p.add_argument("stack", nargs="?", help="stack name: renders Pulumi.<stack>.yaml offline")
    p.add_argument(
        "--project-dir", default=None, help="project directory (default: this repository)"
    )
    p.add_argument(
        "--plan", help="price this plan file (from plan --out) instead of rendering the stack"
    )
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    p.add_argument(
        "--assumptions",
        type=Path,
        default=None,
        help="JSON/YAML mapping overriding usage assumptions (stacks/cost/assumptions.json)",
    )
    p.add_argument(
        "--diff",
        nargs=2,
        metavar=("OLD", "NEW"),
        help="change in monthly cost between two plan files, by resource",
    )
    p.add_argument(
        "--night",
        action="store_true",
        help="only print what destroying the stack saves until its scheduled rebuild",
    )
    p.add_argument(
        "--at",
        help="ISO date-time (UTC) of the destroy for the night saving (default: the next scheduled destroy)",
    )
    p.add_argument(
        "--refresh",
        action="store_true",
        help="update the price table from AWS's Price List bulk offer files",
    )
    p.add_argument(
        "--offers",
        help="with --refresh: read <DIR>/<offer>/<region>/index.json instead of downloading",
    )
    p.add_argument(
        "--table",
        help="with --refresh: the price table to update (default: stacks/cost/prices.json)",
    )
    p.add_argument(
        "--region", action="append", help="with --refresh: only this region (repeatable)"
    )
    p.set_defaults(func=cmd_cost)
