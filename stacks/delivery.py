"""Delivery commands: ``preview``, ``up``, ``destroy``, ``refresh`` and ``sweep``.

The first four drive the Pulumi CLI through the Automation API on this project directory
(a local-program workspace), with the state backend taken from ``PULUMI_BACKEND_URL``
(default: a file backend in ``<project>/.pulumi-state``) and live progress printed as the
engine reports it. ``destroy`` only ever runs for a stack whose stack file says
``mlops:ephemeral: true`` and asks for confirmation (``--yes`` when not interactive).

``sweep`` runs after a destroy: for each region of the stack it lists what the Resource
Groups Tagging API still knows tagged ``stack=<stack>`` and ``managed-by=pulumi`` (the
default tags of the stack's providers) and exits non-zero when anything is left.

Exit codes (all commands):
    0  success / nothing left
    1  the operation failed, was cancelled, or the sweep found leftovers
    2  bad input: unknown stack, invalid stack file, destroy refused by the guard
    3  the environment is not ready: no Pulumi CLI, no passphrase, AWS not reachable

Pure logic (stack file reading, the ephemeral guard, backend choice, leftover formatting)
lives in small functions so tests need neither the CLI nor AWS.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ENVIRONMENT = 3

EPHEMERAL_KEY = "mlops:ephemeral"
REGIONS_KEY = "mlops:regions"
DEFAULT_STATE_DIR = ".pulumi-state"
DEFAULT_MAX_ATTEMPTS = 10
RETRY_MODES = ("standard", "adaptive")
SELF_MANAGED_SCHEMES = ("file://", "s3://", "gs://", "azblob://")

Operation = Literal["preview", "up", "destroy", "refresh"]
OPERATIONS: tuple[Operation, ...] = ("preview", "up", "destroy", "refresh")

_STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_REGION_NAME = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")

PULUMI_CLI_MISSING = (
    "The Pulumi CLI is not installed: no `pulumi` executable on PATH.\n"
    "preview, up, destroy and refresh drive it through Pulumi's Automation API. Install it with\n"
    "    curl -fsSL https://get.pulumi.com | sh\n"
    "and put $HOME/.pulumi/bin on PATH (the installer says how). `pip install pulumi` installs\n"
    "only the Python SDK, not the CLI. The offline commands (plan, diff, check, sweep) need no CLI."
)


class DeliveryError(Exception):
    """A problem the user can fix; the message says what and how. Never shown as a traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# --------------------------------------------------------------------------------------
# Stack files
# --------------------------------------------------------------------------------------


def default_project_dir() -> Path:
    """The repository root: the directory that holds ``stacks/`` (computed from this file)."""
    return Path(__file__).resolve().parent.parent


def stack_file_path(project_dir: Path, stack: str) -> Path:
    """Path of ``Pulumi.<stack>.yaml``; raises DeliveryError for a name that is not a stack name."""
    if not _STACK_NAME.match(stack):
        raise DeliveryError(
            f"{stack!r} is not a valid stack name: use letters, digits, '-', '_' or '.', "
            "starting with a letter or digit (for example: dev)"
        )
    return project_dir / f"Pulumi.{stack}.yaml"


def known_stacks(project_dir: Path) -> tuple[str, ...]:
    """Names of the stacks that have a stack file in ``project_dir``, sorted."""
    return tuple(sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml")))


def read_stack_document(project_dir: Path, stack: str) -> dict[str, Any]:
    """Load ``Pulumi.<stack>.yaml`` as a mapping.

    Raises DeliveryError (exit 2) naming the file when it is missing, is not YAML, is not a
    mapping, or its ``config`` is not a mapping. An empty file is an empty document.
    """
    path = stack_file_path(project_dir, stack)
    if not path.is_file():
        known = ", ".join(known_stacks(project_dir)) or "none"
        raise DeliveryError(f"no stack file {path.name} in {project_dir}: unknown stack {stack!r} (known stacks: {known})")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DeliveryError(f"{path.name} is not valid YAML: {exc}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise DeliveryError(f"{path.name}: the top level must be a mapping (with a `config:` key), got {type(document).__name__}")
    config = document.get("config", {})
    if config is not None and not isinstance(config, dict):
        raise DeliveryError(f"{path.name}: `config` must be a mapping of keys to values, got {type(config).__name__}")
    return document


def stack_config(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``config:`` mapping of a stack document (empty when absent)."""
    return document.get("config") or {}


def is_ephemeral(config: Mapping[str, Any], file_name: str) -> bool:
    """True only when ``mlops:ephemeral`` is the YAML boolean ``true``; absent means False.

    Any other value (a quoted "true", a number) raises DeliveryError naming the key, so a
    destroy guard built on this fails closed.
    """
    value = config.get(EPHEMERAL_KEY, False)
    if not isinstance(value, bool):
        raise DeliveryError(
            f"{file_name}: config key {EPHEMERAL_KEY} must be the YAML boolean true or false "
            f"(unquoted), got {value!r}"
        )
    return value


def stack_regions(config: Mapping[str, Any], file_name: str) -> tuple[str, ...]:
    """The region names listed under ``mlops:regions`` (items with ``name``), in order.

    Every problem is collected and reported in one DeliveryError, each naming its key as
    written in the stack file (``mlops:regions[1].name``).
    """
    regions = config.get(REGIONS_KEY)
    if regions is None:
        raise DeliveryError(f"{file_name}: config key {REGIONS_KEY} is missing: list the stack's regions, e.g. `- name: eu-west-1`")
    if not isinstance(regions, list) or not regions:
        raise DeliveryError(f"{file_name}: {REGIONS_KEY} must be a non-empty list of mappings with `name`, got {regions!r}")
    problems: list[str] = []
    names: list[str] = []
    for index, item in enumerate(regions):
        key = f"{REGIONS_KEY}[{index}].name"
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(item, dict):
            problems.append(f"{REGIONS_KEY}[{index}] must be a mapping with `name`, got {item!r}")
        elif not isinstance(name, str) or not _REGION_NAME.match(name):
            problems.append(f"{key} must be an AWS region name such as eu-west-1, got {name!r}")
        elif name in names:
            problems.append(f"{key}: region {name} is listed twice")
        else:
            names.append(name)
    if problems:
        raise DeliveryError(f"{file_name}: " + "; ".join(problems))
    return tuple(names)


def destroy_refusal(project_dir: Path, stack: str) -> str | None:
    """Why ``destroy`` must not run for this stack, or None when its stack file allows it.

    Only a stack whose stack file sets ``mlops:ephemeral: true`` may be destroyed.
    """
    document = read_stack_document(project_dir, stack)
    file_name = stack_file_path(project_dir, stack).name
    if is_ephemeral(stack_config(document), file_name):
        return None
    return (
        f"Refusing to destroy stack {stack!r}: {file_name} does not set `{EPHEMERAL_KEY}: true`. "
        "Only ephemeral stacks (like dev) are ever destroyed by this command."
    )


# --------------------------------------------------------------------------------------
# Backend, passphrase, CLI
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """The Pulumi state backend a command uses."""

    url: str
    """Backend URL as given to ``pulumi login``."""
    from_environment: bool
    """True when taken from PULUMI_BACKEND_URL, False for the project-local default."""


def resolve_backend(project_dir: Path, environ: Mapping[str, str]) -> Backend:
    """``PULUMI_BACKEND_URL`` when set and non-empty; otherwise ``file://<project>/.pulumi-state``."""
    url = environ.get("PULUMI_BACKEND_URL", "").strip()
    if url:
        return Backend(url=url, from_environment=True)
    return Backend(url=f"file://{(project_dir / DEFAULT_STATE_DIR).resolve()}", from_environment=False)


def local_state_dir(backend_url: str) -> Path | None:
    """The directory of a ``file://`` backend (``~`` expanded), or None for other backends."""
    if not backend_url.startswith("file://"):
        return None
    return Path(backend_url[len("file://") :]).expanduser()


def passphrase_problem(backend_url: str, document: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    """A message saying how to set the passphrase when Pulumi will need one and none is set.

    Needed on a self-managed backend (file://, s3://, gs://, azblob://) when the stack file
    names no secrets provider or the passphrase one. An empty PULUMI_CONFIG_PASSPHRASE counts
    as set (Pulumi accepts it).
    """
    if not backend_url.startswith(SELF_MANAGED_SCHEMES):
        return None
    provider = str(document.get("secretsprovider") or "passphrase")
    if not provider.startswith("passphrase"):
        return None
    if "PULUMI_CONFIG_PASSPHRASE" in environ or environ.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        return None
    return (
        f"The backend {backend_url} keeps stack secrets encrypted with a passphrase, and no passphrase is set.\n"
        "Set it before running this command, for example\n"
        "    export PULUMI_CONFIG_PASSPHRASE='<your passphrase>'\n"
        "or point PULUMI_CONFIG_PASSPHRASE_FILE at a file holding it. Use the same passphrase every time:\n"
        "it decrypts the secrets already in the stack. In CI it comes from the repository secret\n"
        "PULUMI_CONFIG_PASSPHRASE."
    )


def pulumi_cli_available(which: Callable[[str], str | None] | None = None) -> bool:
    """True when a ``pulumi`` executable is on PATH (``which`` defaults to shutil.which)."""
    return (which or shutil.which)("pulumi") is not None


# --------------------------------------------------------------------------------------
# preview / up / destroy / refresh
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OperationRequest:
    """One Automation API operation on one stack."""

    operation: Operation
    stack: str
    project_dir: Path
    yes: bool = False
    """destroy only: skip the confirmation question (required when not interactive)."""


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def select_stack(stack: str, project_dir: Path, env_vars: Mapping[str, str]) -> Any:
    """Create or select ``stack`` in a local-program workspace on ``project_dir``."""
    from pulumi import automation as auto

    return auto.create_or_select_stack(
        stack_name=stack,
        work_dir=str(project_dir),
        opts=auto.LocalWorkspaceOptions(env_vars=dict(env_vars)),
    )


def confirm_destroy(stack: str, yes: bool, interactive: bool, ask: Callable[[str], str]) -> bool:
    """Whether destroy may go ahead: ``--yes``, or the user types the stack name when asked.

    Raises DeliveryError (exit 2) when not interactive and ``--yes`` was not given.
    """
    if yes:
        return True
    if not interactive:
        raise DeliveryError(
            f"destroy {stack}: not running interactively, so there is nobody to confirm. "
            f"Pass --yes to destroy stack {stack!r} without a question."
        )
    try:
        answer = ask(f"This destroys every resource of stack {stack!r}. Type the stack name to confirm: ")
    except EOFError:
        answer = ""
    return answer.strip() == stack


def _summary_line(operation: Operation, stack: str, result: Any) -> str:
    """One line naming what changed, from an Automation API result."""
    changes = getattr(result, "change_summary", None)
    if changes is None:
        summary = getattr(result, "summary", None)
        changes = getattr(summary, "resource_changes", None)
    # Keys are OpType members (a str Enum) in previews and plain strings elsewhere.
    named = {str(getattr(kind, "value", kind)): count for kind, count in (changes or {}).items()}
    counts = ", ".join(f"{kind}: {count}" for kind, count in sorted(named.items()))
    return f"{operation} {stack}: done" + (f" ({counts})" if counts else "")


def run_operation(
    request: OperationRequest,
    *,
    environ: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] | None = None,
    interactive: bool | None = None,
    ask: Callable[[str], str] = input,
    selector: Callable[[str, Path, Mapping[str, str]], Any] = select_stack,
) -> int:
    """Run one operation and return the exit code; every expected problem is one clear message.

    Order: read the stack file, apply the destroy guard, check the CLI, choose the backend
    (creating a local state directory), check the passphrase, confirm a destroy, then run
    with live output (``on_output=print``).
    """
    from pulumi.automation import CommandError, ConcurrentUpdateError

    env = os.environ if environ is None else environ
    try:
        document = read_stack_document(request.project_dir, request.stack)
        if request.operation == "destroy":
            refusal = destroy_refusal(request.project_dir, request.stack)
            if refusal:
                raise DeliveryError(refusal)
        if not pulumi_cli_available(which):
            raise DeliveryError(PULUMI_CLI_MISSING, EXIT_ENVIRONMENT)
        if not (request.project_dir / "Pulumi.yaml").is_file():
            raise DeliveryError(f"no Pulumi.yaml in {request.project_dir}: --project-dir must be the project root")
        backend = resolve_backend(request.project_dir, env)
        problem = passphrase_problem(backend.url, document, env)
        if problem:
            raise DeliveryError(problem, EXIT_ENVIRONMENT)
        if request.operation == "destroy":
            tty = sys.stdin.isatty() if interactive is None else interactive
            if not confirm_destroy(request.stack, request.yes, tty, ask):
                _err(f"destroy {request.stack}: cancelled, nothing was changed.")
                return EXIT_FAILED
        state_dir = local_state_dir(backend.url)
        if state_dir is not None:
            state_dir.mkdir(parents=True, exist_ok=True)
        print(f"{request.operation} {request.stack}: backend {backend.url}", flush=True)
        stack = selector(request.stack, request.project_dir, {"PULUMI_BACKEND_URL": backend.url})
        method = getattr(stack, request.operation)
        result = method(on_output=print, on_error=_err)
    except DeliveryError as exc:
        _err(str(exc))
        return exc.exit_code
    except FileNotFoundError as exc:
        if exc.filename and Path(str(exc.filename)).name == "pulumi":
            _err(PULUMI_CLI_MISSING)
            return EXIT_ENVIRONMENT
        raise
    except ConcurrentUpdateError:
        _err(f"{request.operation} {request.stack}: the stack is locked by another update; wait for it to finish and retry.")
        return EXIT_FAILED
    except CommandError:
        _err(f"{request.operation} {request.stack}: pulumi failed; its output is above.")
        return EXIT_FAILED
    print(_summary_line(request.operation, request.stack, result), flush=True)
    return EXIT_OK


def operation_command(operation: Operation) -> Callable[[argparse.Namespace], int]:
    """The argparse handler ``(args) -> exit code`` for one Automation API operation."""

    def handler(args: argparse.Namespace) -> int:
        request = OperationRequest(
            operation=operation,
            stack=args.stack,
            project_dir=_project_dir(args),
            yes=bool(getattr(args, "yes", False)),
        )
        return run_operation(request)

    handler.__name__ = f"{operation}_command"
    handler.__doc__ = f"`python -m stacks {operation} <stack>`."
    return handler


preview_command = operation_command("preview")
up_command = operation_command("up")
destroy_command = operation_command("destroy")
refresh_command = operation_command("refresh")


# --------------------------------------------------------------------------------------
# sweep
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepRequest:
    """What ``sweep`` looks for and how hard it retries."""

    stack: str
    project_dir: Path
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    """Total attempts per AWS call (first try included); throttling is retried up to this."""
    retry_mode: str = "standard"
    """botocore retry mode: "standard" or "adaptive" (adds client-side rate limiting)."""


def sweep_tag_filters(stack: str) -> list[dict[str, Any]]:
    """Tagging API filters for what the stack's providers tag by default."""
    return [
        {"Key": "stack", "Values": [stack]},
        {"Key": "managed-by", "Values": ["pulumi"]},
    ]


def retry_config(max_attempts: int, mode: str) -> Any:
    """A botocore Config retrying throttling and transient errors up to ``max_attempts`` in total."""
    from botocore.config import Config

    if max_attempts < 1:
        raise DeliveryError(f"--max-attempts must be at least 1, got {max_attempts}")
    if mode not in RETRY_MODES:
        raise DeliveryError(f"--retry-mode must be one of {', '.join(RETRY_MODES)}, got {mode!r}")
    # total_max_attempts counts the first try; botocore's "max_attempts" would count retries only.
    return Config(retries={"total_max_attempts": max_attempts, "mode": mode})


def tagging_client(region: str, config: Any) -> Any:
    """A Resource Groups Tagging API client for ``region`` (honours AWS_ENDPOINT_URL)."""
    import boto3

    return boto3.session.Session().client("resourcegroupstaggingapi", region_name=region, config=config)


def list_tagged_arns(client: Any, stack: str) -> list[str]:
    """Every ARN the client's region still lists tagged with the stack, across all pages."""
    arns: list[str] = []
    paginator = client.get_paginator("get_resources")
    for page in paginator.paginate(TagFilters=sweep_tag_filters(stack)):
        arns.extend(item["ResourceARN"] for item in page.get("ResourceTagMappingList", []))
    return arns


def group_leftovers(listings: Iterable[tuple[str, Iterable[str]]]) -> dict[str, tuple[str, ...]]:
    """Region -> sorted ARNs, regions in the given order; each ARN appears once only.

    An ARN listed by several regions (global resources such as S3 bucket ARNs, which carry
    no region) stays with the first region that listed it.
    """
    seen: set[str] = set()
    grouped: dict[str, tuple[str, ...]] = {}
    for region, arns in listings:
        fresh = sorted(set(arns) - seen)
        seen.update(fresh)
        grouped[region] = tuple(fresh)
    return grouped


def format_leftovers(stack: str, leftovers: Mapping[str, Sequence[str]]) -> str:
    """Human-readable report: each region with its leftover ARNs, or one line when all clean."""
    label = f"stack={stack}, managed-by=pulumi"
    total = sum(len(arns) for arns in leftovers.values())
    regions = ", ".join(leftovers)
    if total == 0:
        return f"Clean: nothing tagged {label} is left in {regions}."
    lines = [f"{total} resource(s) still tagged {label}:"]
    for region, arns in leftovers.items():
        if arns:
            lines.append(f"{region} ({len(arns)}):")
            lines.extend(f"  {arn}" for arn in arns)
        else:
            lines.append(f"{region}: clean")
    return "\n".join(lines)


def run_sweep(request: SweepRequest, client_for: Callable[[str, Any], Any] = tagging_client) -> int:
    """List leftovers of the stack in each of its regions; 0 clean, 1 leftovers, 2 bad input, 3 AWS error.

    A region that cannot be listed (no credentials, access denied, retries exhausted) is
    reported by name; the other regions are still listed, and the exit code is 3 because the
    answer is incomplete.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        document = read_stack_document(request.project_dir, request.stack)
        file_name = stack_file_path(request.project_dir, request.stack).name
        regions = stack_regions(stack_config(document), file_name)
        config = retry_config(request.max_attempts, request.retry_mode)
    except DeliveryError as exc:
        _err(str(exc))
        return exc.exit_code
    listings: list[tuple[str, list[str]]] = []
    failed: list[str] = []
    for region in regions:
        try:
            listings.append((region, list_tagged_arns(client_for(region, config), request.stack)))
        except (BotoCoreError, ClientError) as exc:
            _err(f"sweep {request.stack}: could not list {region}: {exc}")
            failed.append(region)
    leftovers = group_leftovers(listings)
    if leftovers:
        print(format_leftovers(request.stack, leftovers), flush=True)
    if failed:
        _err(f"sweep {request.stack}: incomplete, not listed: {', '.join(failed)}")
        return EXIT_ENVIRONMENT
    return EXIT_FAILED if any(leftovers.values()) else EXIT_OK


def sweep_command(args: argparse.Namespace) -> int:
    """`python -m stacks sweep <stack>`."""
    return run_sweep(
        SweepRequest(
            stack=args.stack,
            project_dir=_project_dir(args),
            max_attempts=args.max_attempts,
            retry_mode=args.retry_mode,
        )
    )


# --------------------------------------------------------------------------------------
# argparse
# --------------------------------------------------------------------------------------


def _project_dir(args: argparse.Namespace) -> Path:
    given = getattr(args, "project_dir", None)
    return Path(given).resolve() if given else default_project_dir()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", help="stack name; its config is Pulumi.<stack>.yaml in the project directory")
    parser.add_argument(
        "--project-dir",
        default=None,
        help="the Pulumi project directory (holds Pulumi.yaml and the stack files). Default: this repository's root",
    )


_OPERATION_HELP: dict[Operation, str] = {
    "preview": "show what `up` would change (Pulumi Automation API)",
    "up": "create or update the stack's resources (Pulumi Automation API)",
    "destroy": "destroy an ephemeral stack's resources (refused unless mlops:ephemeral: true)",
    "refresh": "update the stack's state from what really exists (Pulumi Automation API)",
}

_HANDLERS: dict[Operation, Callable[[argparse.Namespace], int]] = {
    "preview": preview_command,
    "up": up_command,
    "destroy": destroy_command,
    "refresh": refresh_command,
}


def add_commands(subparsers: Any) -> None:
    """Register preview, up, destroy, refresh and sweep on an argparse subparsers object.

    Each subcommand sets ``func`` to a handler ``(args) -> exit code``.
    """
    for operation in OPERATIONS:
        sub = subparsers.add_parser(operation, help=_OPERATION_HELP[operation], description=_OPERATION_HELP[operation])
        _add_common(sub)
        if operation == "destroy":
            sub.add_argument("--yes", action="store_true", help="do not ask for confirmation (required when not interactive)")
        sub.set_defaults(func=_HANDLERS[operation])
    sweep = subparsers.add_parser(
        "sweep",
        help="list resources still tagged with the stack in each of its regions",
        description=(
            "List what the Resource Groups Tagging API still reports tagged stack=<stack> and "
            "managed-by=pulumi in each region of the stack. Exit 0 when clean, 1 when anything "
            "is left, 2 on bad input, 3 when a region could not be listed."
        ),
    )
    _add_common(sweep)
    sweep.add_argument(
        "--max-attempts",
        type=_positive_int,
        default=DEFAULT_MAX_ATTEMPTS,
        help=f"attempts per AWS call, throttling included (default: {DEFAULT_MAX_ATTEMPTS})",
    )
    sweep.add_argument("--retry-mode", choices=RETRY_MODES, default="standard", help="botocore retry mode (default: standard)")
    sweep.set_defaults(func=sweep_command)


def build_parser() -> argparse.ArgumentParser:
    """A parser with only the delivery commands (the full CLI is ``python -m stacks``)."""
    parser = argparse.ArgumentParser(prog="python -m stacks", description="Delivery commands for the mlops-platform stacks.")
    add_commands(parser.add_subparsers(dest="command", required=True, metavar="command"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen delivery command; returns its exit code (2 for usage errors)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    return int(args.func(args))
