"""``python -m stacks``: the platform's command line.

Offline commands (no credentials, no Pulumi CLI):
  plan <stack> [--out FILE]   render the stack under the mock runtime, print a summary
  diff OLD.json NEW.json      compare two recorded plans (exit 0 equal, 1 different, 2 bad input);
                              --format text|markdown|json
  check <stack>               run the policy rules over the offline plan
  cost <stack>                monthly cost from the price table (--diff OLD NEW, --refresh)
  timeline <stack>            critical path of `up` (or --destroy) with sourced durations

``models list|approve|reject <stack>`` (:mod:`stacks.models`) reads and decides model
versions in the stack's registry with boto3; ``failover <stack> --to REGION`` and
``failback <stack>`` (:mod:`stacks.failover`) switch the active region with boto3.
Commands that talk to a real Pulumi backend (preview, up, destroy, refresh) live in
:mod:`stacks.delivery`, the leftover sweep in :mod:`stacks.sweep`. ``plan`` says when the
stack's ``mlops:allowedAccountIds`` is still the placeholder those commands refuse, and how
much Lambda concurrency each region reserves (the account quota that needs).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stacks.config import ConfigError, StackFileError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def _project_dir(args: argparse.Namespace) -> Path:
    """``--project-dir`` (default: this repository); StackFileError (exit 2, one line) when it
    is missing, not a folder or holds no ``Pulumi.yaml``."""
    from stacks.config.loader import project_dir_problem
    from stacks.offline import PROJECT_DIR

    given = getattr(args, "project_dir", None)
    if not given:
        return PROJECT_DIR
    problem = project_dir_problem(Path(given))
    if problem:
        raise StackFileError(f"--project-dir {problem}")
    return Path(given)


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
    entry = _entry_note(plan.to_dict())
    if entry:
        print(f"\n{entry}")
    objectives = _recovery_note(plan.to_dict())
    if objectives:
        print(f"\n{objectives}")
    concurrency = _concurrency_notes(plan.to_dict())
    if concurrency:
        print("\n" + "\n".join(concurrency))
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


def _entry_note(plan: dict[str, Any]) -> str | None:
    """The service's public URL and worst-case failover time (``mlops:dns``), or why none."""
    entry = plan.get("outputs", {}).get("entry")
    if not isinstance(entry, dict):
        return None
    if not entry.get("url"):
        return f"Web entry: none ({entry.get('reason')}); each region's load balancer serves."
    return (
        f"Web entry: {entry['url']} ({entry['routing']} routing); worst-case failover "
        f"{entry['worstCaseFailoverSeconds']} s (health-check interval x failure threshold + "
        "60 s alias TTL), no human step."
    )


def _recovery_note(plan: dict[str, Any]) -> str | None:
    """What losing the active region costs, per capability (the ``recovery`` output)."""
    from stacks.recovery import format_table

    output = plan.get("outputs", {}).get("recovery")
    return format_table(output) if isinstance(output, dict) else None


def _concurrency_notes(plan: dict[str, Any]) -> list[str]:
    """Per region, the Lambda concurrency the plan reserves and the account quota it needs."""
    from components.serverless import reserved_concurrency_notes

    reserved = [
        (r["region"], r["inputs"]["name"], r["inputs"]["reservedConcurrentExecutions"])
        for r in plan["resources"]
        if r["type"] == "aws:lambda/function:Function"
        and isinstance(r["inputs"].get("reservedConcurrentExecutions"), int)
        and r["inputs"]["reservedConcurrentExecutions"] > 0
    ]
    return reserved_concurrency_notes(reserved, plan.get("outputs", {}).get("primaryRegion"))


def cmd_diff(args: argparse.Namespace) -> int:
    """Exit 0 when the engine would change nothing, 1 when it would, 2 for bad input."""
    from stacks import plan_diff

    try:
        old = plan_diff.load_plan_file(Path(args.old))
        new = plan_diff.load_plan_file(Path(args.new))
    except plan_diff.PlanFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.max_chars is not None and args.max_chars < 2000:
        print("error: --max-chars must be at least 2000", file=sys.stderr)
        return EXIT_BAD_INPUT
    result = plan_diff.diff_plans(old, new)
    if args.format == "json":
        text = plan_diff.render_json(result)
    elif args.format == "markdown":
        text = plan_diff.render_markdown(
            result,
            title=args.title,
            limit=args.max_chars or plan_diff.GITHUB_COMMENT_LIMIT,
            full_diff_at=args.full_diff_at,
        )
    else:
        text = plan_diff.render_text(result)
    print(text, end="")
    return EXIT_OK if result.equal else EXIT_FAILED


def check_plan(plan: Any) -> Any:
    """The policy check of a rendered plan (a ``policies.check.CheckResult``), its count
    described in the plan summary's words: both count every recorded resource."""
    from dataclasses import replace

    from policies.check import check, load_plan

    return replace(check(load_plan(plan.to_dict())), counted=plan.counts().describe())


def cmd_check(args: argparse.Namespace) -> int:
    from policies.check import format_report

    if args.plan:
        # The plan `plan --out` already wrote (the PR check renders once, not per command).
        from stacks import plan_diff
        from stacks.offline.plan import Plan

        try:
            data = plan_diff.load_plan_file(Path(args.plan))
        except plan_diff.PlanFileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if data["stack"] != args.stack:
            print(
                f"error: {args.plan} is a plan of stack {data['stack']!r}, not {args.stack!r}",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
        plan = Plan(data["project"], data["stack"], data["resources"], data.get("outputs", {}))
    else:
        plan = _render(args)
    result = check_plan(plan)
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

    diff = sub.add_parser(
        "diff",
        help="compare two plan files (exit 0 equal, 1 different, 2 bad input)",
        description="What the engine would add, change (in place or by replacement) and "
        "remove, by region and capability, with warnings for protected, retained or stateful "
        "resources that would be removed or replaced.",
    )
    diff.add_argument("old", help="the earlier plan (JSON from plan --out)")
    diff.add_argument("new", help="the later plan")
    diff.add_argument(
        "--format",
        choices=("text", "markdown", "json"),
        default="text",
        help="text (default, complete), markdown (a PR comment that fits GitHub's limit) "
        "or json (for tools)",
    )
    diff.add_argument("--title", help="markdown: a first line for the comment")
    diff.add_argument(
        "--max-chars",
        type=int,
        default=None,
        help="markdown: the most the comment may hold (default 65536, GitHub's limit)",
    )
    diff.add_argument(
        "--full-diff-at",
        default="the workflow run's artifact",
        help="markdown: where the truncation line says the full diff is",
    )
    diff.set_defaults(func=cmd_diff)

    check = with_stack(sub.add_parser("check", help="run the policy rules over the offline plan"))
    check.add_argument(
        "--plan", help="check this plan file (from plan --out) instead of rendering the stack"
    )
    check.set_defaults(func=cmd_check)

    from stacks.cost.cli import add_cost_command
    from stacks.timeline.cli import add_timeline_command

    add_cost_command(sub)
    add_timeline_command(sub)

    from stacks.models import add_models_command

    add_models_command(sub)

    from stacks.azs import add_azs_command

    add_azs_command(sub)

    from stacks.failover import add_failover_commands

    add_failover_commands(sub)

    from stacks import delivery

    delivery.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    from stacks.offline import PlanError

    if argv is None and args.command == "plan":
        # This process's own command line: once the summary is out, exit without tearing the
        # interpreter down (issue 15; MLOPS_OFFLINE_SPEEDUPS=0 turns it off).
        from stacks.offline.speedups import exit_when_done

        func = exit_when_done(func)

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
