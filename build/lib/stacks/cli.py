"""``python -m stacks``: the platform's command line.

Offline commands (no credentials, no Pulumi CLI):
  plan <stack> [--out FILE]   render the stack under the mock runtime, print a summary
  diff OLD.json NEW.json      compare two recorded plans (exit 0 equal, 1 different, 2 bad input)
  check <stack>               run the policy rules over the offline plan

Commands that talk to a real Pulumi backend (preview, up, destroy, refresh) live in
:mod:`stacks.delivery`, the leftover sweep in :mod:`stacks.sweep`. ``plan`` says when the
stack's ``mlops:allowedAccountIds`` is still the placeholder those commands refuse.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from stacks.config import ConfigError, StackFileError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def _project_dir(args: argparse.Namespace) -> Path:
    from stacks.offline import PROJECT_DIR

    return Path(args.project_dir) if getattr(args, "project_dir", None) else PROJECT_DIR


def _render(args: argparse.Namespace):
    from stacks.offline import render_stack

    return render_stack(args.stack, _project_dir(args))


def cmd_plan(args: argparse.Namespace) -> int:
    from stacks.graph import summary

    plan = _render(args)
    if args.out:
        out = Path(args.out)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(plan.to_json(), encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write {out}: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    print(summary(plan.to_dict()), end="")
    note = _placeholder_note(args)
    if note:
        print(f"\n{note}")
    if args.out:
        print(f"\nPlan written to {args.out}")
    return EXIT_OK


def _placeholder_note(args: argparse.Namespace) -> str | None:
    """The line saying the stack's account ids are still the placeholder (or unset), if so."""
    from stacks import delivery

    project_dir = _project_dir(args)
    document = delivery.read_stack_document(project_dir, args.stack)
    file_name = delivery.stack_file_path(project_dir, args.stack).name
    return delivery.placeholder_note(delivery.stack_config(document), file_name)


def cmd_diff(args: argparse.Namespace) -> int:
    from stacks.graph import PlanFileError, diff_plans, load_plan_file

    try:
        old = load_plan_file(Path(args.old))
        new = load_plan_file(Path(args.new))
    except PlanFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    result = diff_plans(old, new)
    print(result.render(), end="")
    return EXIT_OK if result.equal else EXIT_FAILED


def cmd_check(args: argparse.Namespace) -> int:
    from policies.check import check, format_report, load_plan

    plan = _render(args)
    result = check(load_plan(plan.to_dict()))
    print(format_report(result), end="")
    return EXIT_FAILED if result.exit_code else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stacks",
        description="mlops-platform: offline plans, checks and deployments of the stacks.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_stack(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
        p.add_argument(
            "--project-dir", help="project directory (default: this repository)", default=None
        )
        return p

    plan = with_stack(sub.add_parser("plan", help="render a stack offline and summarise it"))
    plan.add_argument("--out", help="write the recorded graph as JSON to this file")
    plan.set_defaults(func=cmd_plan)

    diff = sub.add_parser("diff", help="compare two plan files")
    diff.add_argument("old", help="the earlier plan (JSON from plan --out)")
    diff.add_argument("new", help="the later plan")
    diff.set_defaults(func=cmd_diff)

    check = with_stack(sub.add_parser("check", help="run the policy rules over the offline plan"))
    check.set_defaults(func=cmd_check)

    from stacks import delivery

    delivery.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    from stacks.offline import PlanError

    try:
        return func(args)
    except StackFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except PlanError as exc:
        print(f"error: the program failed offline: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
