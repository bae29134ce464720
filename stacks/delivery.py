"""Delivery commands: ``preview``, ``up``, ``destroy`` and ``refresh`` (the sweep lives in
:mod:`stacks.sweep`; its public names are re-exported here).

The four drive the Pulumi CLI through the Automation API on this project directory
(a local-program workspace), with the state backend taken from ``PULUMI_BACKEND_URL``
(default: a file backend in ``<project>/.pulumi-state``) and live progress printed as the
engine reports it. ``destroy`` only ever runs for a stack whose stack file says
``mlops:ephemeral: true`` and asks for confirmation (``--yes`` when not interactive). None of
them runs for a stack whose ``mlops:allowedAccountIds`` is missing or still holds the
placeholder account id :data:`PLACEHOLDER_ACCOUNT_ID` (the offline commands accept it).

Exit codes (all commands):
    0  success / nothing left
    1  the operation failed, was cancelled, or the sweep found leftovers
    2  bad input: unknown stack, invalid stack file, destroy refused by the guard, account
       ids missing or still the placeholder
    3  the environment is not ready: no Pulumi CLI, no passphrase, AWS not reachable

Pure logic (stack file reading, the guards, backend choice) lives in small functions so tests
need neither the CLI nor AWS.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # the sweep's names, re-exported at run time by __getattr__ below
    from stacks.sweep import (
        DEFAULT_MAX_ATTEMPTS,
        RETRY_MODES,
        SweepRequest,
        format_leftovers,
        group_leftovers,
        list_tagged_arns,
        retry_config,
        run_sweep,
        sweep_command,
        sweep_tag_filters,
        tagging_client,
    )

__all__ = [
    "ALLOWED_ACCOUNTS_KEY",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_STATE_DIR",
    "EPHEMERAL_KEY",
    "EXIT_ENVIRONMENT",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "OPERATIONS",
    "PLACEHOLDER_ACCOUNT_ID",
    "PULUMI_CLI_MISSING",
    "REGIONS_KEY",
    "RETRY_MODES",
    "SELF_MANAGED_SCHEMES",
    "Backend",
    "DeliveryError",
    "Operation",
    "OperationRequest",
    "SweepRequest",
    "account_ids_problem",
    "add_commands",
    "build_parser",
    "confirm_destroy",
    "default_project_dir",
    "destroy_command",
    "destroy_refusal",
    "format_leftovers",
    "group_leftovers",
    "is_ephemeral",
    "known_stacks",
    "list_tagged_arns",
    "local_state_dir",
    "main",
    "operation_command",
    "passphrase_problem",
    "placeholder_note",
    "preview_command",
    "pulumi_cli_available",
    "read_stack_document",
    "refresh_command",
    "resolve_backend",
    "retry_config",
    "run_operation",
    "run_sweep",
    "select_stack",
    "stack_config",
    "stack_file_path",
    "stack_regions",
    "sweep_command",
    "sweep_tag_filters",
    "tagging_client",
    "up_command",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ENVIRONMENT = 3

EPHEMERAL_KEY = "mlops:ephemeral"
REGIONS_KEY = "mlops:regions"
ALLOWED_ACCOUNTS_KEY = "mlops:allowedAccountIds"
PLACEHOLDER_ACCOUNT_ID = "123456789012"
"""THE placeholder account id: the example account of AWS's documentation. The stack files
carry it until someone writes the real account ids; the offline plan accepts it (and says
so), the engine commands refuse it."""
DEFAULT_STATE_DIR = ".pulumi-state"
SELF_MANAGED_SCHEMES = ("file://", "s3://", "gs://", "azblob://")

Operation = Literal["preview", "up", "destroy", "refresh"]
OPERATIONS: tuple[Operation, ...] = ("preview", "up", "destroy", "refresh")

#: ``up`` reads the real state first. What ``python -m stacks failover`` switches (the
#: schedules' and rules' state, the active-region parameter, the standby pools' sizes) is
#: ``ignore_changes`` in the program, and an update that touches another property of such a
#: resource sends the value recorded in Pulumi's state, which would undo a failover, unless
#: the state was refreshed first (Pulumi docs, "ignoreChanges"; pulumi/pulumi-aws#2524).
#: A whole-stack ``up`` refreshes everything (``--refresh``); a region-scoped one refreshes
#: only that region's own resources first (reading a resource calls its region's API, and
#: the other region may be down). ``preview`` does not refresh: the PR preview role may read
#: only the state, and ignored properties never show in a preview anyway.
REFRESHING: frozenset[Operation] = frozenset({"up"})

_STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_REGION_NAME = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")

PULUMI_CLI_MISSING = (
    "The Pulumi CLI is not installed: no `pulumi` executable on PATH.\n"
    "preview, up, destroy and refresh drive it through Pulumi's Automation API. Install it with\n"
    "    curl -fsSL https://get.pulumi.com | sh\n"
    "and put $HOME/.pulumi/bin on PATH (the installer says how). `pip install pulumi` installs\n"
    "only the Python SDK, not the CLI. The offline commands (plan, diff, check, sweep) need no CLI."
)

#: Names that moved to :mod:`stacks.sweep`, still importable from here.
_SWEEP_NAMES = frozenset(
    {
        "DEFAULT_MAX_ATTEMPTS",
        "RETRY_MODES",
        "SweepRequest",
        "format_leftovers",
        "group_leftovers",
        "list_tagged_arns",
        "retry_config",
        "run_sweep",
        "sweep_command",
        "sweep_tag_filters",
        "tagging_client",
    }
)


def __getattr__(name: str) -> Any:
    """Re-export the sweep's public names (imported lazily: :mod:`stacks.sweep` imports this module)."""
    if name in _SWEEP_NAMES:
        from stacks import sweep

        return getattr(sweep, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    return tuple(
        sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))
    )


def read_stack_document(project_dir: Path, stack: str) -> dict[str, Any]:
    """Load ``Pulumi.<stack>.yaml`` as a mapping.

    Raises DeliveryError (exit 2) naming the file when the folder or the file is missing, the
    file is not YAML as the Pulumi CLI reads it (a key written twice, for one), is not a
    mapping, or its ``config`` is not a mapping. An empty file is an empty document.
    """
    from stacks.config.errors import StackFileError
    from stacks.config.loader import read_pulumi_yaml

    path = stack_file_path(project_dir, stack)
    if not project_dir.is_dir():
        raise DeliveryError(
            f"{project_dir}: no such folder (the Pulumi project's root holds Pulumi.yaml)"
        )
    if not path.is_file():
        known = ", ".join(known_stacks(project_dir)) or "none"
        raise DeliveryError(
            f"no stack file {path.name} in {project_dir}: unknown stack {stack!r} (known stacks: {known})"
        )
    try:  # parsed as the Pulumi CLI parses it: duplicate keys are errors, `19:00` is a string
        document = read_pulumi_yaml(path)
    except StackFileError as exc:
        raise DeliveryError(str(exc)) from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise DeliveryError(
            f"{path.name}: the top level must be a mapping (with a `config:` key), got {type(document).__name__}"
        )
    config = document.get("config", {})
    if config is not None and not isinstance(config, dict):
        raise DeliveryError(
            f"{path.name}: `config` must be a mapping of keys to values, got {type(config).__name__}"
        )
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
        raise DeliveryError(
            f"{file_name}: config key {REGIONS_KEY} is missing: list the stack's regions, e.g. `- name: eu-west-1`"
        )
    if not isinstance(regions, list) or not regions:
        raise DeliveryError(
            f"{file_name}: {REGIONS_KEY} must be a non-empty list of mappings with `name`, got {regions!r}"
        )
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


def account_ids_problem(config: Mapping[str, Any], file_name: str) -> str | None:
    """Why the engine commands must not run yet: ``mlops:allowedAccountIds`` is missing, empty,
    not a list, or still holds :data:`PLACEHOLDER_ACCOUNT_ID`; None once it names real ids.

    An unquoted YAML number counts as the id it spells, so an unquoted placeholder is caught too.
    """
    ids = config.get(ALLOWED_ACCOUNTS_KEY)
    how = (
        f"Set it to the 12-digit id(s) of the AWS account(s) this stack deploys to, e.g. "
        f'`{ALLOWED_ACCOUNTS_KEY}: ["210987654321"]`. preview, up, refresh and destroy refuse to run '
        "until then; the offline commands (plan, diff, check) do not need it."
    )
    if ids is None or ids == []:
        return f"{file_name}: config key {ALLOWED_ACCOUNTS_KEY} is missing. {how}"
    if not isinstance(ids, list):
        return f"{file_name}: config key {ALLOWED_ACCOUNTS_KEY} must be a list of account ids, got {ids!r}. {how}"
    if PLACEHOLDER_ACCOUNT_ID in (str(i) for i in ids):
        return (
            f"{file_name}: config key {ALLOWED_ACCOUNTS_KEY} still holds the placeholder account id "
            f"{PLACEHOLDER_ACCOUNT_ID} (the example account of AWS's documentation). {how}"
        )
    return None


def placeholder_note(config: Mapping[str, Any], file_name: str) -> str | None:
    """One line for the offline plan when the account ids are not real yet, else None."""
    ids = config.get(ALLOWED_ACCOUNTS_KEY)
    if isinstance(ids, list) and PLACEHOLDER_ACCOUNT_ID in (str(i) for i in ids):
        state = f"{ALLOWED_ACCOUNTS_KEY} in {file_name} is the placeholder {PLACEHOLDER_ACCOUNT_ID}"
    elif account_ids_problem(config, file_name) is not None:
        state = f"{file_name} sets no {ALLOWED_ACCOUNTS_KEY}"
    else:
        return None
    return (
        f"Note: {state}: the offline plan works with that, but preview, up, refresh and destroy "
        "refuse to run until it lists the real account id(s)."
    )


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
    return Backend(
        url=f"file://{(project_dir / DEFAULT_STATE_DIR).resolve()}", from_environment=False
    )


def local_state_dir(backend_url: str) -> Path | None:
    """The directory of a ``file://`` backend (``~`` expanded), or None for other backends."""
    if not backend_url.startswith("file://"):
        return None
    return Path(backend_url[len("file://") :]).expanduser()


def passphrase_problem(
    backend_url: str, document: Mapping[str, Any], environ: Mapping[str, str]
) -> str | None:
    """A message saying how to set the passphrase when Pulumi will need one and none is set.

    A stack created with ``--secrets-provider awskms://...`` names that provider in its stack
    file (``secretsprovider:``) and needs no passphrase: Pulumi decrypts the stack's data key
    with ``kms:Decrypt`` (https://www.pulumi.com/docs/iac/cli/commands/pulumi_stack_init/;
    pulumi/pulumi pkg/secrets/cloud/manager.go). CI uses only that provider.

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
        "it decrypts the secrets already in the stack. CI holds no passphrase: there every stack uses the\n"
        "awskms:// secrets provider (`secretsprovider:` in the stack file; see deploy/iam/README.md)."
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
    targets: tuple[str, ...] = ()
    """preview/up/refresh: only these URNs and their dependents (``--region``, computed by
    :mod:`stacks.region_targets`); empty: the whole stack. A targeted ``up`` first previews
    and refuses to delete or replace protected resources."""
    refresh_targets: tuple[str, ...] = ()
    """up with ``targets``: what to refresh first (the region's own resources, never another
    region's: :func:`stacks.region_targets.region_own_urns`)."""


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
        answer = ask(
            f"This destroys every resource of stack {stack!r}. Type the stack name to confirm: "
        )
    except EOFError:
        answer = ""
    return answer.strip() == stack


class _Stderr:
    """The CLI's stderr lines as they stream in, printed at once and kept (to know whether the
    user has already seen the CLI's own error)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def append_and_print(self, line: str) -> None:
        self.lines.append(line)
        _err(line)


def cli_error_text(error: Exception) -> str:
    """What the Pulumi CLI wrote to stderr, from an Automation API ``CommandError``.

    The error keeps only its text, ``"\n code: N\n stdout: ...\n stderr: ..."``
    (pulumi.automation ``CommandResult.__str__``); the part after ``stderr:`` is the CLI's
    own message ("error: ..."), or "" when it wrote nothing.
    """
    _, found, stderr = str(error).partition("\n stderr: ")
    return stderr.strip() if found else ""


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
    replica_client: Callable[[str], Any] | None = None,
) -> int:
    """Run one operation and return the exit code; every expected problem is one clear message.

    ``replica_client``: EFS clients by region for deleting the shared drives' replicas after a
    destroy (default: boto3's).

    Order: read the stack file, apply the destroy guard and the account-ids guard, check the
    CLI, choose the backend
    (creating a local state directory), check the passphrase, confirm a destroy, then run
    with live output (``on_output=print``).
    """
    from pulumi.automation import CommandError, ConcurrentUpdateError, InvalidVersionError

    env = os.environ if environ is None else environ
    streamed = _Stderr()
    try:
        document = read_stack_document(request.project_dir, request.stack)
        if request.operation == "destroy":
            refusal = destroy_refusal(request.project_dir, request.stack)
            if refusal:
                raise DeliveryError(refusal)
        accounts = account_ids_problem(
            stack_config(document), stack_file_path(request.project_dir, request.stack).name
        )
        if accounts:
            raise DeliveryError(accounts)
        if not pulumi_cli_available(which):
            raise DeliveryError(PULUMI_CLI_MISSING, EXIT_ENVIRONMENT)
        if not (request.project_dir / "Pulumi.yaml").is_file():
            raise DeliveryError(
                f"no Pulumi.yaml in {request.project_dir}: --project-dir must be the project root"
            )
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
        scope: dict[str, Any] = (
            {"target": list(request.targets), "target_dependents": True} if request.targets else {}
        )
        if request.operation == "refresh" and request.refresh_targets:
            # Reading calls each resource's region: the region's own resources only.
            scope = {"target": list(request.refresh_targets)}
        if request.operation in REFRESHING and not request.targets:
            scope["refresh"] = True
        if request.targets and request.operation == "up":
            if request.refresh_targets:
                stack.refresh(
                    target=list(request.refresh_targets),
                    on_output=print,
                    on_error=streamed.append_and_print,
                )
            _refuse_protected_deletions(stack, request, scope)
        replicas = _drive_replicas(stack) if request.operation == "destroy" else []
        result = method(on_output=print, on_error=streamed.append_and_print, **scope)
        if replicas:
            print(_summary_line(request.operation, request.stack, result), flush=True)
            return _delete_drive_replicas(request.stack, replicas, replica_client)
    except DeliveryError as exc:
        _err(str(exc))
        return exc.exit_code
    except FileNotFoundError as exc:
        if exc.filename and Path(str(exc.filename)).name == "pulumi":
            _err(PULUMI_CLI_MISSING)
            return EXIT_ENVIRONMENT
        raise
    except InvalidVersionError as exc:  # the CLI is too old (or too new) for this SDK
        _err(f"{request.operation} {request.stack}: the Pulumi CLI does not fit this SDK: {exc}")
        return EXIT_ENVIRONMENT
    except subprocess.CalledProcessError as exc:  # `pulumi version`, whose stderr is not captured
        _err(
            f"{request.operation} {request.stack}: `{' '.join(map(str, exc.cmd))}` failed "
            f"(exit code {exc.returncode}); the Pulumi CLI's own message is above."
        )
        return EXIT_ENVIRONMENT
    except ConcurrentUpdateError:
        _err(
            f"{request.operation} {request.stack}: the stack is locked by another update; wait for it to finish and retry."
        )
        return EXIT_FAILED
    except CommandError as exc:
        # Selecting the stack runs the CLI without streaming its output: show what it said.
        said = cli_error_text(exc)
        if said and not streamed.lines:
            _err(said)
        where = "its output is above" if said or streamed.lines else "it printed nothing"
        _err(f"{request.operation} {request.stack}: pulumi failed; {where}.")
        return EXIT_FAILED
    print(_summary_line(request.operation, request.stack, result), flush=True)
    return EXIT_OK


def _drive_replicas(stack: Any) -> list[Any]:
    """The shared drives' EFS replicas the stack outputs name (before a destroy: Pulumi does
    not manage them, so destroy deletes them afterwards; stacks/efs_replicas.py)."""
    from stacks.efs_replicas import replicas_in_outputs

    outputs = {name: getattr(value, "value", value) for name, value in stack.outputs().items()}
    return replicas_in_outputs(outputs)


def _delete_drive_replicas(
    stack_name: str, replicas: list[Any], client: Callable[[str], Any] | None
) -> int:
    """After a destroy: delete the replicas EFS created for the standby pools' drives."""
    from stacks.efs_replicas import delete_replicas, efs_client_factory

    print(
        f"destroy {stack_name}: deleting the EFS replica(s) of the shared drives, which EFS "
        "created and Pulumi does not manage:",
        flush=True,
    )
    problems = delete_replicas(replicas, client or efs_client_factory())
    for problem in problems:
        _err(f"destroy {stack_name}: {problem}")
    return EXIT_FAILED if problems else EXIT_OK


def _refuse_protected_deletions(stack: Any, request: OperationRequest, scope: Any) -> None:
    """Preview the targeted update; a DeliveryError when it would delete or replace a
    protected resource (the engine would stop half-way through)."""
    from stacks.region_targets import protected_deletion_message, protected_deletions

    events: list[Any] = []
    stack.preview(on_output=print, on_event=events.append, **scope)
    urns = protected_deletions(events)
    if urns:
        raise DeliveryError(protected_deletion_message(request.stack, urns), EXIT_FAILED)


def _region_targets(args: argparse.Namespace) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``--region`` as target URNs from the offline plan, and the region's own URNs (what a
    targeted up refreshes first); both empty without ``--region``."""
    regions = list(getattr(args, "region", None) or [])
    if not regions:
        return (), ()
    from stacks.offline import render_stack
    from stacks.region_targets import region_own_urns, region_target_urns

    plan = render_stack(args.stack, _project_dir(args)).to_dict()
    return tuple(region_target_urns(plan, regions)), tuple(region_own_urns(plan, regions))


def operation_command(operation: Operation) -> Callable[[argparse.Namespace], int]:
    """The argparse handler ``(args) -> exit code`` for one Automation API operation."""

    def handler(args: argparse.Namespace) -> int:
        from stacks.config.loader import project_dir_problem

        problem = getattr(args, "project_dir", None) and project_dir_problem(_project_dir(args))
        if problem:
            _err(f"--project-dir {problem}")
            return EXIT_USAGE
        from stacks.config import ConfigError, StackFileError
        from stacks.region_targets import RegionTargetError

        try:
            targets, own = _region_targets(args)
        except (RegionTargetError, ConfigError, StackFileError) as exc:
            _err(str(exc))
            return EXIT_USAGE
        request = OperationRequest(
            operation=operation,
            stack=args.stack,
            project_dir=_project_dir(args),
            yes=bool(getattr(args, "yes", False)),
            targets=targets,
            refresh_targets=own,
        )
        code = run_operation(request)
        if operation == "destroy" and code == EXIT_OK:
            _print_night_saving(request)
        return code

    handler.__name__ = f"{operation}_command"
    handler.__doc__ = f"`python -m stacks {operation} <stack>`."
    return handler


def _print_night_saving(request: OperationRequest) -> None:
    """After a destroy: what the night saves until the scheduled rebuild (stacks.cost). The
    destroy has succeeded by then, so an estimate that cannot be made is only a note."""
    try:
        from stacks.cost.cli import night_saving_text

        print(night_saving_text(request.stack, request.project_dir), flush=True)
    except Exception as exc:  # noqa: BLE001 (the estimate never fails a destroy)
        print(f"(no cost estimate of the night: {exc})", flush=True)


preview_command = operation_command("preview")
up_command = operation_command("up")
destroy_command = operation_command("destroy")
refresh_command = operation_command("refresh")


# --------------------------------------------------------------------------------------
# argparse
# --------------------------------------------------------------------------------------


def _project_dir(args: argparse.Namespace) -> Path:
    given = getattr(args, "project_dir", None)
    return Path(given).resolve() if given else default_project_dir()


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "stack", help="stack name; its config is Pulumi.<stack>.yaml in the project directory"
    )
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
    from stacks.sweep import add_sweep_command

    for operation in OPERATIONS:
        sub = subparsers.add_parser(
            operation, help=_OPERATION_HELP[operation], description=_OPERATION_HELP[operation]
        )
        _add_common(sub)
        if operation != "destroy":
            sub.add_argument(
                "--region",
                action="append",
                metavar="REGION",
                help="only this region's component tree and what depends on it (repeatable); "
                "the other regions' APIs are not needed",
            )
        if operation == "destroy":
            sub.add_argument(
                "--yes",
                action="store_true",
                help="do not ask for confirmation (required when not interactive)",
            )
        sub.set_defaults(func=_HANDLERS[operation])
    add_sweep_command(subparsers, _add_common)


def build_parser() -> argparse.ArgumentParser:
    """A parser with only the delivery commands (the full CLI is ``python -m stacks``)."""
    parser = argparse.ArgumentParser(
        prog="python -m stacks", description="Delivery commands for the mlops-platform stacks."
    )
    add_commands(parser.add_subparsers(dest="command", required=True, metavar="command"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen delivery command; returns its exit code (2 for usage errors)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    return int(args.func(args))
