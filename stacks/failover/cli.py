"""``python -m stacks failover <stack> --to REGION`` and ``python -m stacks failback <stack>``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from stacks.failover.clients import (
    DEFAULT_TIMEOUT_SECONDS,
    Clients,
    UsageError,
    caller_problem,
    credentials_problem,
)
from stacks.failover.run import (
    EXIT_BAD_INPUT,
    EXIT_NO_CREDENTIALS,
    Switch,
    render_json,
    render_text,
    switch_regions,
)

FAILOVER_HELP = (
    "make REGION the active region with boto3 only (no Pulumi): check its table replicas and "
    "lake buckets, scale its pools, enable its schedules and rules, write its active-region "
    "parameter; then disable the other regions' schedules and rules (an unreachable region "
    "is reported, not fatal). Idempotent. Exit 0 active, 1 a step failed, 2 bad input, 3 no "
    "or refused credentials"
)
FAILBACK_HELP = (
    "make the configured active region (mlops:resilience.activeRegion, else the first) active "
    "again and scale the standby pools back to zero; same steps and exit codes as failover"
)


def _switch(args: argparse.Namespace) -> tuple[Switch, Clients]:
    """The switch the arguments ask for (StackFileError/ConfigError/UsageError: exit 2)."""
    from stacks.config import load_stack_config
    from stacks.failover.clients import parse_endpoints
    from stacks.offline import PROJECT_DIR

    project_dir = Path(args.project_dir) if args.project_dir else PROJECT_DIR
    cfg = load_stack_config(project_dir, args.stack)
    regions = tuple(r.name for r in cfg.regions)
    if args.command == "failover":
        target = args.to
        if target not in regions:
            raise UsageError(
                f"--to {target!r} is not a region of stack {args.stack!r} (mlops:regions: "
                f"{', '.join(regions)})"
            )
    else:
        target = cfg.active_region
    clients = Clients(parse_endpoints(args.region_endpoint or [], regions), args.timeout)
    switch = Switch(
        command=args.command,
        stack=args.stack,
        environment=cfg.environment,
        regions=regions,
        target=target,
        dry_run=args.dry_run,
        standby_to_zero=args.command == "failback",
        stop_old_pools=bool(getattr(args, "stop_old_pools", False)),
        dns=cfg.dns is not None,
        airflow=cfg.jobs.airflow.enabled,
        primary=cfg.primary_region,
    )
    return switch, clients


def cmd_switch(args: argparse.Namespace) -> int:
    """Run ``failover`` or ``failback``; print every step; return the exit code."""
    try:
        switch, clients = _switch(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    problem = credentials_problem()
    if problem is not None:
        print(
            f"error: {args.command} {args.stack}: {problem}; nothing was read or changed",
            file=sys.stderr,
        )
        return EXIT_NO_CREDENTIALS
    refused, unasked = caller_problem(clients, switch.target)
    if refused is not None:
        print(
            f"error: {args.command} {args.stack}: {refused}; nothing was read or changed",
            file=sys.stderr,
        )
        return EXIT_NO_CREDENTIALS
    if unasked is not None:
        print(
            f"note: STS in {switch.target} could not check the credentials ({unasked}); going "
            "on: each step reports what the services answer",
            file=sys.stderr,
        )
    result = switch_regions(switch, clients)
    print(render_json(result) if args.json else render_text(result), end="", flush=True)
    return result.exit_code


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not 0 < value <= 300:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 300, got {value}")
    return value


def add_failover_commands(subparsers: Any) -> None:
    """Register ``failover`` and ``failback`` on the CLI's subparsers."""
    for name, text in (("failover", FAILOVER_HELP), ("failback", FAILBACK_HELP)):
        p = subparsers.add_parser(name, help=text.split(":")[0], description=text)
        p.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
        if name == "failover":
            p.add_argument("--to", required=True, metavar="REGION", help="the region to activate")
            p.add_argument(
                "--stop-old-pools",
                action="store_true",
                help="also scale every instance pool of the other regions to zero (min and "
                "desired 0), so users stop working, and writing to the shared drive, in the "
                "old region; an unreachable region is reported, not fatal",
            )
        p.add_argument("--dry-run", action="store_true", help="read only; print what would change")
        p.add_argument("--json", action="store_true", help="print the steps as JSON")
        p.add_argument(
            "--timeout",
            type=_timeout,
            default=DEFAULT_TIMEOUT_SECONDS,
            help="connect and read timeout per AWS call, seconds (default: "
            f"{DEFAULT_TIMEOUT_SECONDS:g}; two attempts per call)",
        )
        p.add_argument(
            "--region-endpoint",
            action="append",
            metavar="REGION=URL",
            help="send every call for REGION to URL (a local emulator, or a closed port to "
            "rehearse that region's outage); repeatable",
        )
        p.add_argument("--project-dir", default=None, help="default: this repository")
        p.set_defaults(func=cmd_switch)
