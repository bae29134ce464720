"""``python -m stacks models list|approve|reject <stack> ...``: the model registry by hand.

The registry of a stack is the DynamoDB table ``mlops-<environment>-model-registry`` in each
of its regions (components/training); the command reads the stack file for the environment,
the regions and ``mlops:training.model``, and talks to DynamoDB with boto3 and the caller's
credentials (no Pulumi CLI, no stack outputs). Default region: the primary (first) one.

- ``list``: every version of the model, newest first: stage, when, the promotion metric
  (and the serving version's on the same held-out data), the data window, the decision.
- ``approve <version>``: make it the approved version; the one approved before is retired in
  the same transaction. Serving picks it up without a deploy (batch scoring at its next run,
  the web service within ``mlops:training.servingRefreshSeconds``). Rolling back is approving
  the previous version.
- ``reject <version>``: retire a candidate so it can never be approved by accident.

Exit codes: 0 done, 1 failed (AWS error, or the registry changed meanwhile), 2 bad input
(unknown stack, region or version, training switched off, a version in the wrong stage).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

ClientFactory = Callable[[str], Any]
"""region -> a boto3 DynamoDB client."""


def _dynamodb(region: str) -> Any:
    import boto3

    return boto3.session.Session().client("dynamodb", region_name=region)


def _registry(args: argparse.Namespace, project_dir: Path, clients: ClientFactory) -> Any:
    """The stack's registry of the model, in the chosen region; ValueError for bad input."""
    from components.training import registry_table_name
    from services.training.registry import Registry
    from stacks.config import load_stack_config

    cfg = load_stack_config(project_dir, args.stack)
    if not cfg.training.enabled:
        raise ValueError(
            f"stack {args.stack!r}: mlops:training.enabled is false; it has no registry"
        )
    regions = [r.name for r in cfg.regions]
    region = args.region or regions[0]
    if region not in regions:
        raise ValueError(f"--region {region!r} is not a region of stack {args.stack!r} ({regions})")
    model = args.model or cfg.training.model
    table = registry_table_name(f"mlops-{cfg.environment}")
    return Registry(clients(region), table, model), cfg.training.promotion.metric


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def format_versions(items: Sequence[dict[str, Any]], metric: str, model: str, table: str) -> str:
    """A plain-text table of the versions, newest first."""
    if not items:
        return f"model {model!r} has no versions in {table} yet\n"
    rows = [("version", "stage", "created", metric, f"serving {metric}", "window", "decision")]
    for item in items:
        serving = item.get("serving") or {}
        window = item.get("data_window") or {}
        rows.append(
            (
                str(item["version"]),
                str(item.get("stage")),
                _cell(item.get("created_at")),
                _cell((item.get("metrics") or {}).get(metric)),
                f"v{serving['version']} {_cell((serving.get('metrics') or {}).get(metric))}"
                if serving
                else "-",
                f"{window.get('start', '?')[:10]}..{window.get('end', '?')[:10]} "
                f"({window.get('records', '?')} records)",
                _cell(
                    item.get("reason") if item.get("stage") == "retired" else item.get("decision")
                ),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True))
        + "  "
        + row[-1]
        for row in rows
    ]
    return f"model {model!r} in {table}:\n" + "\n".join(lines) + "\n"


def run_models(
    args: argparse.Namespace,
    project_dir: Path,
    clients: ClientFactory = _dynamodb,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Run one ``models`` action; print the result; return the exit code."""
    from services.training.errors import JobError, UsageError
    from stacks.config import ConfigError, StackFileError

    try:
        registry, metric = _registry(args, project_dir, clients)
        by = args.by or f"{os.environ.get('USER') or 'someone'} (python -m stacks models)"
        if args.action == "list":
            items = registry.versions()
            print(
                json.dumps(items, indent=2, default=str)
                if args.json
                else format_versions(items, metric, registry.model, registry.table),
                end="" if not args.json else "\n",
            )
        elif args.action == "approve":
            retired = registry.approve(args.version, by, now(), args.reason or "approved by hand")
            after = f"; version {retired} retired" if retired is not None else ""
            print(f"model {registry.model!r}: version {args.version} approved{after}")
        else:
            registry.reject(args.version, by, now(), args.reason or "rejected by hand")
            print(f"model {registry.model!r}: version {args.version} rejected (retired)")
    except (ValueError, StackFileError, ConfigError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except JobError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _version(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a version number (1, 2, ...), got {text!r}")
    return int(text)


def add_models_command(subparsers: Any) -> None:
    """Register ``models`` (with ``list``, ``approve``, ``reject``) on the CLI's subparsers."""
    models = subparsers.add_parser(
        "models",
        help="list, approve or reject model versions in the stack's registry",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    actions = models.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (
        ("list", "every version, newest first"),
        ("approve", "serve this version (retires the approved one); also rolls back"),
        ("reject", "retire a candidate"),
    ):
        p = actions.add_parser(action, help=text)
        p.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
        if action != "list":
            p.add_argument("version", type=_version, help="the version number")
            p.add_argument("--reason", help="recorded with the decision")
            p.add_argument("--by", help="who decided (default: $USER)")
        else:
            p.add_argument("--json", action="store_true", help="the items as JSON")
        p.add_argument("--model", help="default: mlops:training.model")
        p.add_argument("--region", help="default: the stack's primary (first) region")
        p.add_argument("--project-dir", default=None, help="default: this repository")
        p.set_defaults(func=_cmd_models)


def _cmd_models(args: argparse.Namespace) -> int:
    from stacks.offline import PROJECT_DIR

    for name in ("reason", "by"):
        if not hasattr(args, name):
            setattr(args, name, None)
    return run_models(args, Path(args.project_dir) if args.project_dir else PROJECT_DIR)
