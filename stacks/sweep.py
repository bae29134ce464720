"""The leftover sweep (``python -m stacks sweep <stack>``): what of a stack still exists after
its destroy.

For each region of the stack it lists what the Resource Groups Tagging API knows tagged
``stack=<stack>`` and ``managed-by=pulumi`` (the default tags of the stack's providers), then
asks the owning service about each ARN: the tagging index keeps deleted resources for a while
(AWS re:Post, "Only get existing resources with ResourceGroupTaggingAPI get-resources":
get-resources returns deleted RDS clusters too), and some resources are never deleted at once
but only marked (KMS keys pending deletion, INACTIVE ECS task definitions and Batch job
definitions). What the service says is gone is reported as such and not counted; what it
still has, and every ARN of a service without a checker in :data:`CHECKERS`, is a leftover.

Auto Scaling groups are not in the tagging index (its GetResources returns nothing for them:
Resource Groups Tagging API Reference, "Services that support the Resource Groups Tagging
API"), so each region's groups with the stack's tags are listed through Auto Scaling itself
(DescribeAutoScalingGroups with ``tag:<key>`` filters: EC2 Auto Scaling API Reference,
Filter) and checked like the rest.

IAM roles and instance profiles are global and the regional tagging index does not cover
them: they are listed once per sweep through IAM itself (ListRoles/ListInstanceProfiles,
then GetRole/GetInstanceProfile for the tags, which the listing calls do not return: IAM API
Reference, ListRoles) and reported under ``global``.

Exit codes: 0 nothing left, 1 leftovers, 2 bad input, 3 a region or an ARN could not be
checked (the answer is incomplete; what could be listed is still printed).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks.delivery import (
    EXIT_ENVIRONMENT,
    EXIT_FAILED,
    EXIT_OK,
    DeliveryError,
    default_project_dir,
    read_stack_document,
    stack_config,
    stack_file_path,
    stack_regions,
)
from stacks.sweep_checks import (
    Checker,
    ServiceClientFactory,
    Verdict,
    is_not_found,
)

DEFAULT_MAX_ATTEMPTS = 10
RETRY_MODES = ("standard", "adaptive")
GLOBAL = "global"
"""The group name of global (IAM) leftovers in the report."""

ClientFactory = Callable[[str, Any], Any]
"""(region, botocore Config) -> a Resource Groups Tagging API client."""


@dataclass(frozen=True)
class SweepRequest:
    """What ``sweep`` looks for and how hard it retries."""

    stack: str
    project_dir: Path
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    """Total attempts per AWS call (first try included); throttling is retried up to this."""
    retry_mode: str = "standard"
    """botocore retry mode: "standard" or "adaptive" (adds client-side rate limiting)."""


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def sweep_tags(stack: str) -> dict[str, str]:
    """The tags the stack's providers put on everything by default."""
    return {"stack": stack, "managed-by": "pulumi"}


def sweep_tag_filters(stack: str) -> list[dict[str, Any]]:
    """Tagging API filters for what the stack's providers tag by default."""
    return [{"Key": key, "Values": [value]} for key, value in sweep_tags(stack).items()]


def retry_config(max_attempts: int, mode: str) -> Any:
    """A botocore Config retrying throttling and transient errors up to ``max_attempts`` in total."""
    from botocore.config import Config

    if max_attempts < 1:
        raise DeliveryError(f"--max-attempts must be at least 1, got {max_attempts}")
    if mode not in RETRY_MODES:
        raise DeliveryError(f"--retry-mode must be one of {', '.join(RETRY_MODES)}, got {mode!r}")
    # total_max_attempts counts the first try; botocore's "max_attempts" would count retries only.
    return Config(retries={"total_max_attempts": max_attempts, "mode": mode})


@functools.lru_cache(maxsize=1)
def _shared_loader() -> Any:
    """One botocore data loader for every client the sweep makes: a loader caches the
    service models it has parsed, and a new session gets a new, empty loader, so each client
    of each region would parse its service's JSON model again (most of a sweep's CPU time)."""
    from botocore.loaders import create_loader

    return create_loader()


_PER_THREAD = threading.local()
"""This thread's boto3 session and the clients it made (see :func:`aws_client`)."""

_MAX_CACHED_CLIENTS = 256
"""Bound on one thread's client cache (each run_sweep brings a new retry Config)."""


def _aws_environment() -> tuple[tuple[str, str], ...]:
    """The AWS_* environment (credentials, profile, config files, AWS_ENDPOINT_URL): a
    session resolves and keeps its credentials, so a changed environment needs a new one."""
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))


def aws_client(service: str, region: str, config: Any) -> Any:
    """A boto3 client of ``service`` in ``region`` (honours AWS_ENDPOINT_URL).

    Building a session costs 50-90 ms (most of a sweep's time when each client had its own),
    so each thread keeps ONE session, on the shared loader, and one client per (service,
    region, config): Boto3 guide, "Session", section "Multithreading or multiprocessing with
    sessions" (https://boto3.amazonaws.com/v1/documentation/api/latest/guide/session.html):
    Session objects are not thread safe and should not be shared across threads, a new
    Session is recommended for each thread; Boto3 guide, "Low-level clients", section
    "Multithreading or multiprocessing with clients"
    (https://boto3.amazonaws.com/v1/documentation/api/latest/guide/clients.html): clients
    are thread safe (not their metadata's mutation or custom event hooks, which is why
    clients stay per thread too). Both are rebuilt when the AWS_* environment changes.
    """
    import boto3
    import botocore.session

    environment = _aws_environment()
    state = getattr(_PER_THREAD, "state", None)
    if state is None or state[0] != environment:
        core = botocore.session.get_session()
        core.register_component("data_loader", _shared_loader())
        made_clients: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        state = (environment, boto3.session.Session(botocore_session=core), made_clients)
        _PER_THREAD.state = state
    session: Any = state[1]
    clients: dict[tuple[str, str, int], tuple[Any, Any]] = state[2]
    key = (service, region, id(config))
    cached = clients.get(key)
    if cached is not None and cached[0] is config:
        return cached[1]
    if len(clients) >= _MAX_CACHED_CLIENTS:
        clients.clear()
    made = session.client(service, region_name=region, config=config)
    # The config is kept with its client, so its id cannot be reused while the entry lives.
    clients[key] = (config, made)
    return made


def tagging_client(region: str, config: Any) -> Any:
    """A Resource Groups Tagging API client for ``region`` (honours AWS_ENDPOINT_URL)."""
    return aws_client("resourcegroupstaggingapi", region, config)


def list_tagged_arns(client: Any, stack: str) -> list[str]:
    """Every ARN the client's region still lists tagged with the stack, across all pages."""
    arns: list[str] = []
    paginator = client.get_paginator("get_resources")
    for page in paginator.paginate(TagFilters=sweep_tag_filters(stack)):
        arns.extend(item["ResourceARN"] for item in page.get("ResourceTagMappingList", []))
    return arns


def list_stack_auto_scaling_groups(client: Any, stack: str) -> list[str]:
    """ARNs of the region's Auto Scaling groups tagged with the stack's default tags (the
    tagging index never lists Auto Scaling groups), across all pages."""
    filters = [
        {"Name": f"tag:{key}", "Values": [value]} for key, value in sweep_tags(stack).items()
    ]
    arns: list[str] = []
    for page in client.get_paginator("describe_auto_scaling_groups").paginate(Filters=filters):
        arns.extend(group["AutoScalingGroupARN"] for group in page.get("AutoScalingGroups", []))
    return arns


def list_region(
    region: str,
    stack: str,
    config: Any,
    client_for: ClientFactory,
    service_client: ServiceClientFactory,
) -> list[str]:
    """Every ARN of the stack in ``region``: the tagging index, then the Auto Scaling groups it
    cannot list; each ARN once."""
    arns = list_tagged_arns(client_for(region, config), stack)
    arns += list_stack_auto_scaling_groups(service_client("autoscaling", region, config), stack)
    return list(dict.fromkeys(arns))


# --------------------------------------------------------------------------------------
# IAM: global, listed once
# --------------------------------------------------------------------------------------


def _has_tags(tags: Iterable[Mapping[str, str]] | None, wanted: Mapping[str, str]) -> bool:
    present = {t.get("Key"): t.get("Value") for t in tags or []}
    return all(present.get(key) == value for key, value in wanted.items())


def list_stack_iam(client: Any, stack: str) -> list[str]:
    """ARNs of the IAM roles and instance profiles tagged with the stack's default tags.

    ListRoles/ListInstanceProfiles do not return tags, so each one is read with
    GetRole/GetInstanceProfile. A role or profile deleted in between is skipped.
    """
    from botocore.exceptions import ClientError

    wanted = sweep_tags(stack)
    found: list[str] = []
    listings = (
        ("list_roles", "Roles", "get_role", "RoleName", "Role"),
        (
            "list_instance_profiles",
            "InstanceProfiles",
            "get_instance_profile",
            "InstanceProfileName",
            "InstanceProfile",
        ),
    )
    for list_method, key, get_method, name_key, item_key in listings:
        for page in client.get_paginator(list_method).paginate():
            for item in page.get(key, []):
                try:
                    full = getattr(client, get_method)(**{name_key: item[name_key]})[item_key]
                except ClientError as exc:
                    if is_not_found(str(exc.response.get("Error", {}).get("Code", ""))):
                        continue
                    raise
                if _has_tags(full.get("Tags"), wanted):
                    found.append(full["Arn"])
    return found


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


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


def format_gone(gone: Mapping[str, str]) -> str:
    """One line per listed ARN its service says is already gone (not counted as a leftover)."""
    return "\n".join(
        f"already deleted, not counted: {arn} ({reason})" for arn, reason in sorted(gone.items())
    )


# --------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------


@dataclass
class _Sweep:
    """The running state of one sweep."""

    stack: str
    checker: Checker
    listings: list[tuple[str, list[str]]] = field(default_factory=list)
    gone: dict[str, str] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    checked: dict[str, bool] = field(default_factory=dict)

    def region(self, region: str, arns: list[str]) -> None:
        """Keep what the services still have; ARNs already checked keep their verdict."""
        from botocore.exceptions import BotoCoreError, ClientError

        left: list[str] = []
        for arn in arns:
            if arn not in self.checked:
                try:
                    verdict = self.checker.check(arn, region)
                except (BotoCoreError, ClientError) as exc:
                    _err(f"sweep {self.stack}: could not check {arn}: {exc}")
                    self.failed.append(f"{region} ({arn})")
                    verdict = Verdict(True, "could not be checked")
                self.checked[arn] = verdict.left
                if not verdict.left:
                    self.gone[arn] = verdict.reason
            if self.checked[arn]:
                left.append(arn)
        self.listings.append((region, left))


def run_sweep(
    request: SweepRequest,
    client_for: ClientFactory = tagging_client,
    service_client: ServiceClientFactory = aws_client,
) -> int:
    """List leftovers of the stack in each of its regions and in IAM; 0 clean, 1 leftovers,
    2 bad input, 3 AWS error.

    A region that cannot be listed (no credentials, access denied, retries exhausted) is
    reported by name; the other regions are still listed, and the exit code is 3 because the
    answer is incomplete. The same holds for IAM and for an ARN whose service cannot answer
    (that ARN is reported as left).
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
    sweep = _Sweep(request.stack, Checker(service_client, config))
    for region in regions:
        try:
            arns = list_region(region, request.stack, config, client_for, service_client)
        except (BotoCoreError, ClientError) as exc:
            _err(f"sweep {request.stack}: could not list {region}: {exc}")
            sweep.failed.append(region)
            continue
        sweep.region(region, arns)
    try:
        # IAM is global: its endpoint is reached through the primary region's partition.
        sweep.listings.append(
            (GLOBAL, list_stack_iam(service_client("iam", regions[0], config), request.stack))
        )
    except (BotoCoreError, ClientError) as exc:
        _err(f"sweep {request.stack}: could not list IAM roles and instance profiles: {exc}")
        sweep.failed.append(f"{GLOBAL} (IAM)")
    leftovers = group_leftovers(sweep.listings)
    if leftovers:
        print(format_leftovers(request.stack, leftovers), flush=True)
    if sweep.gone:
        print(format_gone(sweep.gone), flush=True)
    if sweep.failed:
        _err(f"sweep {request.stack}: incomplete, not listed: {', '.join(sweep.failed)}")
        return EXIT_ENVIRONMENT
    return EXIT_FAILED if any(leftovers.values()) else EXIT_OK


def sweep_command(args: argparse.Namespace) -> int:
    """`python -m stacks sweep <stack>`."""
    given = getattr(args, "project_dir", None)
    return run_sweep(
        SweepRequest(
            stack=args.stack,
            project_dir=Path(given).resolve() if given else default_project_dir(),
            max_attempts=args.max_attempts,
            retry_mode=args.retry_mode,
        )
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_sweep_command(
    subparsers: Any, add_common: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Register ``sweep`` on an argparse subparsers object (``add_common`` adds stack and
    --project-dir)."""
    sweep = subparsers.add_parser(
        "sweep",
        help="list resources of the stack still left in each of its regions and in IAM",
        description=(
            "List what the Resource Groups Tagging API (and, for Auto Scaling groups, which it "
            "does not index, Auto Scaling itself) still reports tagged stack=<stack> and "
            "managed-by=pulumi in each region of the stack, checked against the owning service "
            "(resources already deleted or pending deletion are not counted), and the IAM roles "
            "and instance profiles with those tags. Exit 0 when clean, 1 when anything is left, "
            "2 on bad input, 3 when a region or resource could not be checked."
        ),
    )
    add_common(sweep)
    sweep.add_argument(
        "--max-attempts",
        type=_positive_int,
        default=DEFAULT_MAX_ATTEMPTS,
        help=f"attempts per AWS call, throttling included (default: {DEFAULT_MAX_ATTEMPTS})",
    )
    sweep.add_argument(
        "--retry-mode",
        choices=RETRY_MODES,
        default="standard",
        help="botocore retry mode (default: standard)",
    )
    sweep.set_defaults(func=sweep_command)
