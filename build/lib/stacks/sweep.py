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

IAM roles and instance profiles are global and the regional tagging index does not cover
them: they are listed once per sweep through IAM itself (ListRoles/ListInstanceProfiles,
then GetRole/GetInstanceProfile for the tags, which the listing calls do not return: IAM API
Reference, ListRoles) and reported under ``global``.

Exit codes: 0 nothing left, 1 leftovers, 2 bad input, 3 a region or an ARN could not be
checked (the answer is incomplete; what could be listed is still printed).
"""

from __future__ import annotations

import argparse
import sys
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

DEFAULT_MAX_ATTEMPTS = 10
RETRY_MODES = ("standard", "adaptive")
GLOBAL = "global"
"""The group name of global (IAM) leftovers in the report."""

ClientFactory = Callable[[str, Any], Any]
"""(region, botocore Config) -> a Resource Groups Tagging API client."""
ServiceClientFactory = Callable[[str, str, Any], Any]
"""(boto3 service name, region, botocore Config) -> a client of that service."""


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


def aws_client(service: str, region: str, config: Any) -> Any:
    """A boto3 client of ``service`` in ``region`` (honours AWS_ENDPOINT_URL)."""
    import boto3

    return boto3.session.Session().client(service, region_name=region, config=config)


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


# --------------------------------------------------------------------------------------
# ARNs and what each service says about them
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arn:
    """An ARN split into its parts; ``kind``/``name`` split the resource part at its first
    ``/`` or ``:`` (``key/1234`` -> ``key``, ``1234``; an SQS queue or S3 bucket has no kind)."""

    text: str
    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> Arn | None:
        parts = text.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            return None
        return cls(text, parts[1], parts[2], parts[3], parts[4], parts[5])

    @property
    def kind(self) -> str:
        cut = min(
            (i for i in (self.resource.find("/"), self.resource.find(":")) if i >= 0), default=-1
        )
        return self.resource[:cut] if cut >= 0 else ""

    @property
    def name(self) -> str:
        return self.resource[len(self.kind) + 1 :] if self.kind else self.resource


@dataclass(frozen=True)
class Describe:
    """How to ask a service about one kind of resource, and how to read its answer.

    The resource is gone when the call fails with a not-found error (or one of
    ``gone_codes``), when ``items`` finds nothing in the answer that ``match`` accepts, or
    when an item's status is one of ``gone`` (compared case-insensitively).
    """

    method: str
    request: Callable[[Arn], dict[str, Any]]
    items: Callable[[dict[str, Any]], list[dict[str, Any]]]
    status: Callable[[dict[str, Any]], Any] = lambda item: None
    gone: frozenset[str] = frozenset()
    gone_codes: frozenset[str] = frozenset()
    match: Callable[[dict[str, Any], Arn], bool] = lambda item, arn: True
    """Which of the answer's items is this resource (when the call can only filter by prefix)."""


@dataclass(frozen=True)
class ServiceChecker:
    """The boto3 client that owns an ARN service and a :class:`Describe` per resource kind."""

    client: str
    kinds: Mapping[str, Describe] = field(default_factory=dict)


def _key(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda item: item.get(name)


def _list(name: str) -> Callable[[dict[str, Any]], list[dict[str, Any]]]:
    return lambda answer: list(answer.get(name) or [])


def _one(name: str | None = None) -> Callable[[dict[str, Any]], list[dict[str, Any]]]:
    return lambda answer: [answer[name] if name else answer]


def _last(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _ec2(
    method: str, ids: str, items: str, state: str | None = None, gone: Iterable[str] = ()
) -> Describe:
    """EC2 describes every resource kind the same way: by a list of ids."""
    return Describe(
        method,
        lambda a: {ids: [a.name]},
        _list(items),
        _key(state) if state else lambda i: None,
        frozenset(gone),
    )


def _ec2_instances(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for r in answer.get("Reservations", []) for i in r.get("Instances", [])]


def _log_groups(arn: Arn) -> dict[str, Any]:
    return {"logGroupNamePrefix": arn.name.removesuffix(":*"), "limit": 50}


def _ecs_service(arn: Arn) -> dict[str, Any]:
    cluster = arn.name.split("/")[0] if "/" in arn.name else "default"
    return {"cluster": cluster, "services": [arn.text]}


def _rule(arn: Arn) -> dict[str, Any]:
    bus, _, name = arn.name.rpartition("/")
    return {"Name": name, "EventBusName": bus or "default"}


def _schedule(arn: Arn) -> dict[str, Any]:
    group, _, name = arn.name.rpartition("/")
    return {"Name": name, "GroupName": group or "default"}


def _asg_name(arn: Arn) -> str:
    return arn.name.split("autoScalingGroupName/", 1)[-1]


_DELETING = frozenset({"deleting", "deleted"})

#: ARN service -> how to check its resources. KMS key states: AWS KMS Developer Guide, "Key
#: states of AWS KMS keys" (PendingDeletion, PendingReplicaDeletion: waiting to be deleted).
CHECKERS: dict[str, ServiceChecker] = {
    "kms": ServiceChecker(
        "kms",
        {
            "key": Describe(
                "describe_key",
                lambda a: {"KeyId": a.text},
                _one("KeyMetadata"),
                _key("KeyState"),
                frozenset({"pendingdeletion", "pendingreplicadeletion"}),
            ),
        },
    ),
    "ecs": ServiceChecker(
        "ecs",
        {
            "cluster": Describe(
                "describe_clusters",
                lambda a: {"clusters": [a.text]},
                _list("clusters"),
                _key("status"),
                frozenset({"inactive"}),
            ),
            "service": Describe(
                "describe_services",
                _ecs_service,
                _list("services"),
                _key("status"),
                frozenset({"inactive"}),
            ),
            # A task definition that no longer exists: "ClientException: Unable to describe task definition".
            "task-definition": Describe(
                "describe_task_definition",
                lambda a: {"taskDefinition": a.text},
                _one("taskDefinition"),
                _key("status"),
                frozenset({"inactive", "delete_in_progress"}),
                frozenset({"ClientException"}),
            ),
        },
    ),
    "batch": ServiceChecker(
        "batch",
        {
            "job-definition": Describe(
                "describe_job_definitions",
                lambda a: {"jobDefinitions": [a.text]},
                _list("jobDefinitions"),
                _key("status"),
                frozenset({"inactive"}),
            ),
            "compute-environment": Describe(
                "describe_compute_environments",
                lambda a: {"computeEnvironments": [a.text]},
                _list("computeEnvironments"),
                _key("status"),
                _DELETING,
            ),
            "job-queue": Describe(
                "describe_job_queues",
                lambda a: {"jobQueues": [a.text]},
                _list("jobQueues"),
                _key("status"),
                _DELETING,
            ),
        },
    ),
    "logs": ServiceChecker(
        "logs",
        {
            # DescribeLogGroups filters by prefix only: the group is the one with exactly its name.
            "log-group": Describe(
                "describe_log_groups",
                _log_groups,
                _list("logGroups"),
                match=lambda item, a: item.get("logGroupName") == a.name.removesuffix(":*"),
            ),
        },
    ),
    "s3": ServiceChecker("s3", {"": Describe("head_bucket", lambda a: {"Bucket": a.name}, _one())}),
    "sns": ServiceChecker(
        "sns",
        {"": Describe("get_topic_attributes", lambda a: {"TopicArn": a.text}, _one("Attributes"))},
    ),
    "sqs": ServiceChecker(
        "sqs",
        {
            "": Describe(
                "get_queue_url",
                lambda a: {"QueueName": a.name, "QueueOwnerAWSAccountId": a.account},
                _one(),
            ),
        },
    ),
    "dynamodb": ServiceChecker(
        "dynamodb",
        {
            "table": Describe(
                "describe_table",
                lambda a: {"TableName": a.name},
                _one("Table"),
                _key("TableStatus"),
                frozenset({"deleting"}),
            ),
        },
    ),
    "lambda": ServiceChecker(
        "lambda",
        {
            "function": Describe(
                "get_function", lambda a: {"FunctionName": a.text}, _one("Configuration")
            ),
        },
    ),
    "elasticloadbalancing": ServiceChecker(
        "elbv2",
        {
            "loadbalancer": Describe(
                "describe_load_balancers",
                lambda a: {"LoadBalancerArns": [a.text]},
                _list("LoadBalancers"),
            ),
            "targetgroup": Describe(
                "describe_target_groups",
                lambda a: {"TargetGroupArns": [a.text]},
                _list("TargetGroups"),
            ),
            "listener": Describe(
                "describe_listeners", lambda a: {"ListenerArns": [a.text]}, _list("Listeners")
            ),
        },
    ),
    "elasticfilesystem": ServiceChecker(
        "efs",
        {
            "file-system": Describe(
                "describe_file_systems",
                lambda a: {"FileSystemId": a.name},
                _list("FileSystems"),
                _key("LifeCycleState"),
                _DELETING,
            ),
            "access-point": Describe(
                "describe_access_points",
                lambda a: {"AccessPointId": a.name},
                _list("AccessPoints"),
                _key("LifeCycleState"),
                _DELETING,
            ),
        },
    ),
    "ecr": ServiceChecker(
        "ecr",
        {
            "repository": Describe(
                "describe_repositories",
                lambda a: {"repositoryNames": [a.name], "registryId": a.account},
                _list("repositories"),
            ),
        },
    ),
    "events": ServiceChecker("events", {"rule": Describe("describe_rule", _rule, _one())}),
    "scheduler": ServiceChecker(
        "scheduler",
        {
            "schedule": Describe("get_schedule", _schedule, _one()),
            "schedule-group": Describe(
                "get_schedule_group",
                lambda a: {"Name": a.name},
                _one(),
                _key("State"),
                frozenset({"deleting"}),
            ),
        },
    ),
    "cloudwatch": ServiceChecker(
        "cloudwatch",
        {
            "alarm": Describe(
                "describe_alarms",
                lambda a: {"AlarmNames": [a.name]},
                lambda r: list(r.get("MetricAlarms") or []) + list(r.get("CompositeAlarms") or []),
            ),
        },
    ),
    "cloudtrail": ServiceChecker(
        "cloudtrail", {"trail": Describe("get_trail", lambda a: {"Name": a.text}, _one("Trail"))}
    ),
    "autoscaling": ServiceChecker(
        "autoscaling",
        {
            "autoScalingGroup": Describe(
                "describe_auto_scaling_groups",
                lambda a: {"AutoScalingGroupNames": [_asg_name(a)]},
                _list("AutoScalingGroups"),
                _key("Status"),
                frozenset({"delete in progress"}),
            ),
        },
    ),
    "airflow": ServiceChecker(
        "mwaa",
        {
            "environment": Describe(
                "get_environment",
                lambda a: {"Name": a.name},
                _one("Environment"),
                _key("Status"),
                _DELETING,
            ),
        },
    ),
    "iam": ServiceChecker(
        "iam",
        {
            "role": Describe("get_role", lambda a: {"RoleName": _last(a.name)}, _one("Role")),
            "instance-profile": Describe(
                "get_instance_profile",
                lambda a: {"InstanceProfileName": _last(a.name)},
                _one("InstanceProfile"),
            ),
        },
    ),
    "ec2": ServiceChecker(
        "ec2",
        {
            "vpc": _ec2("describe_vpcs", "VpcIds", "Vpcs"),
            "subnet": _ec2("describe_subnets", "SubnetIds", "Subnets"),
            "security-group": _ec2("describe_security_groups", "GroupIds", "SecurityGroups"),
            "natgateway": _ec2(
                "describe_nat_gateways", "NatGatewayIds", "NatGateways", "State", _DELETING
            ),
            "internet-gateway": _ec2(
                "describe_internet_gateways", "InternetGatewayIds", "InternetGateways"
            ),
            "route-table": _ec2("describe_route_tables", "RouteTableIds", "RouteTables"),
            "elastic-ip": _ec2("describe_addresses", "AllocationIds", "Addresses"),
            "launch-template": _ec2(
                "describe_launch_templates", "LaunchTemplateIds", "LaunchTemplates"
            ),
            "vpc-endpoint": _ec2(
                "describe_vpc_endpoints", "VpcEndpointIds", "VpcEndpoints", "State", _DELETING
            ),
            "vpc-flow-log": _ec2("describe_flow_logs", "FlowLogIds", "FlowLogs"),
            "network-interface": _ec2(
                "describe_network_interfaces", "NetworkInterfaceIds", "NetworkInterfaces"
            ),
            "volume": _ec2("describe_volumes", "VolumeIds", "Volumes", "State", _DELETING),
            "instance": Describe(
                "describe_instances",
                lambda a: {"InstanceIds": [a.name]},
                _ec2_instances,
                lambda i: (i.get("State") or {}).get("Name"),
                frozenset({"shutting-down", "terminated"}),
            ),
        },
    ),
}

#: Error codes that mean "no such resource", beyond the ``...NotFound``/``...NotFoundException`` family.
NOT_FOUND_CODES = frozenset(
    {
        "404",
        "NoSuchBucket",
        "NoSuchEntity",
        "NotFound",
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
    }
)


def is_not_found(code: str) -> bool:
    """Whether an AWS error code says the resource does not exist."""
    return code in NOT_FOUND_CODES or code.endswith(
        ("NotFound", "NotFoundException", "NotFoundFault")
    )


@dataclass(frozen=True)
class Verdict:
    """What the owning service says about one listed ARN."""

    left: bool
    """True when the resource still exists (or cannot be checked): a leftover."""
    reason: str


class Checker:
    """Checks listed ARNs against their services, one client per (service, region)."""

    def __init__(self, client_for: ServiceClientFactory, config: Any) -> None:
        self._client_for = client_for
        self._config = config
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str) -> Any:
        if (service, region) not in self._clients:
            self._clients[(service, region)] = self._client_for(service, region, self._config)
        return self._clients[(service, region)]

    def check(self, text: str, listed_in: str) -> Verdict:
        """Ask the owning service about ``text``; errors other than not-found propagate."""
        from botocore.exceptions import ClientError

        arn = Arn.parse(text)
        service = CHECKERS.get(arn.service) if arn else None
        if arn is None or service is None:
            return Verdict(True, f"no checker for {arn.service if arn else 'this ARN'}")
        describe = service.kinds.get(arn.kind)
        if describe is None:
            return Verdict(True, f"no checker for {arn.service} {arn.kind or 'resources'}")
        client = self.client(service.client, arn.region or listed_in)
        try:
            answer = getattr(client, describe.method)(**describe.request(arn))
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if is_not_found(code) or code in describe.gone_codes:
                return Verdict(False, f"not found ({code})")
            raise
        items = [item for item in describe.items(answer) if describe.match(item, arn)]
        if not items:
            return Verdict(False, "not found")
        for item in items:
            status = describe.status(item)
            if status is not None and str(status).lower() in describe.gone:
                return Verdict(False, f"{describe.method.split('_', 1)[1]}: {status}")
        return Verdict(True, "exists")


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
            arns = list_tagged_arns(client_for(region, config), request.stack)
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
            "List what the Resource Groups Tagging API still reports tagged stack=<stack> and "
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
