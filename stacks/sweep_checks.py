"""What each service says about an ARN the tagging index still lists: the checkers the sweep
(:mod:`stacks.sweep`) asks before it calls a resource a leftover.

One :class:`ServiceChecker` per service in :data:`CHECKERS` names the describe call per
resource kind, how to find the item in its answer, and which states mean "gone" (KMS keys
pending deletion, INACTIVE ECS and Batch definitions, deleted NAT gateways...). A not-found
answer means gone too; an ARN of a service or kind without a checker is kept as a leftover.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ServiceClientFactory = Callable[[str, str, Any], Any]
"""(boto3 service name, region, botocore Config) -> a client of that service."""

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
