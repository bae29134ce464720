"""The recorded plan and what reading one needs, without Pulumi: :class:`Plan` (a rendered
stack, to and from JSON), the resource counts, the error a failed render raises, the project
directory, and the deterministic names, ids and ARNs the mocks answer with.

Kept apart from :mod:`stacks.offline.mocks` (which subclasses Pulumi's ``Mocks``) so that the
commands that only read plan files or talk to AWS (``diff``, ``cost --diff``, ``check
--plan``, ``failover``, the timeline of a plan file) start without importing Pulumi and
pulumi_aws, about a second of every such command's start.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The repository root: the Pulumi project directory of the reference program.
PROJECT_DIR = Path(__file__).resolve().parent.parent.parent

PLAN_FORMAT = "mlops-plan/1"

SECRET_MASK = "[secret]"

MOCK_ACCOUNT_ID = "123456789012"
PROVIDER_TYPE_PREFIX = "pulumi:providers:"


class PlanError(Exception):
    """The program could not be rendered offline (the message says why).

    ``registered`` lists the URNs registered before the failure.
    """

    registered: list[str] = []


# Deterministic answers -------------------------------------------------------------------


def _digest(*parts: str, size: int = 17) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:size]


def _partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _zone_letters(region: str) -> str:
    # Regions differ in AZ count; six letters cover every configurable azCount.
    return "abcdef"


def _region_code(region: str) -> str:
    parts = region.split("-")
    return "".join(
        p[:3] if i == 0 else p[0] + p[1:] if p.isdigit() else p[0] for i, p in enumerate(parts)
    )


#: ARN layout per resource type: (service, resource part). ``{name}`` is the physical name,
#: ``{id}`` the physical id. Types not listed get ``<module>:<region>:<account>:<type>/<id>``.
_ARN_LAYOUT: dict[str, tuple[str, str]] = {
    "aws:s3/bucket:Bucket": ("s3", "{name}"),
    "aws:iam/role:Role": ("iam", "role/{name}"),
    "aws:iam/policy:Policy": ("iam", "policy/{name}"),
    "aws:iam/instanceProfile:InstanceProfile": ("iam", "instance-profile/{name}"),
    "aws:kms/key:Key": ("kms", "key/{id}"),
    "aws:kms/alias:Alias": ("kms", "{name}"),
    "aws:cloudwatch/logGroup:LogGroup": ("logs", "log-group:{name}"),
    "aws:sns/topic:Topic": ("sns", "{name}"),
    "aws:sqs/queue:Queue": ("sqs", "{name}"),
    "aws:dynamodb/table:Table": ("dynamodb", "table/{name}"),
    "aws:lambda/function:Function": ("lambda", "function:{name}"),
    "aws:cloudtrail/trail:Trail": ("cloudtrail", "trail/{name}"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("cloudwatch", "alarm:{name}"),
    "aws:cloudwatch/eventRule:EventRule": ("events", "rule/{name}"),
    "aws:cloudwatch/dashboard:Dashboard": ("cloudwatch", "dashboard/{name}"),
    "aws:ecs/cluster:Cluster": ("ecs", "cluster/{name}"),
    "aws:ecs/service:Service": ("ecs", "service/{name}"),
    "aws:ecs/taskDefinition:TaskDefinition": ("ecs", "task-definition/{name}:1"),
    "aws:ecr/repository:Repository": ("ecr", "repository/{name}"),
    "aws:lb/loadBalancer:LoadBalancer": ("elasticloadbalancing", "loadbalancer/app/{name}/{id8}"),
    "aws:lb/targetGroup:TargetGroup": ("elasticloadbalancing", "targetgroup/{name}/{id8}"),
    "aws:lb/listener:Listener": ("elasticloadbalancing", "listener/app/{name}/{id8}"),
    "aws:autoscaling/group:Group": (
        "autoscaling",
        "autoScalingGroup:{id}:autoScalingGroupName/{name}",
    ),
    "aws:efs/fileSystem:FileSystem": ("elasticfilesystem", "file-system/{id}"),
    "aws:efs/accessPoint:AccessPoint": ("elasticfilesystem", "access-point/{id}"),
    "aws:batch/computeEnvironment:ComputeEnvironment": ("batch", "compute-environment/{name}"),
    "aws:batch/jobQueue:JobQueue": ("batch", "job-queue/{name}"),
    "aws:batch/jobDefinition:JobDefinition": ("batch", "job-definition/{name}:1"),
    "aws:scheduler/schedule:Schedule": ("scheduler", "schedule/default/{name}"),
    "aws:scheduler/scheduleGroup:ScheduleGroup": ("scheduler", "schedule-group/{name}"),
    "aws:ec2/vpc:Vpc": ("ec2", "vpc/{id}"),
    "aws:ec2/subnet:Subnet": ("ec2", "subnet/{id}"),
    "aws:ec2/securityGroup:SecurityGroup": ("ec2", "security-group/{id}"),
    "aws:ec2/launchTemplate:LaunchTemplate": ("ec2", "launch-template/{id}"),
    "aws:mwaa/environment:Environment": ("airflow", "environment/{name}"),
    "aws:ssm/parameter:Parameter": ("ssm", "parameter/{name}"),
    "aws:secretsmanager/secret:Secret": ("secretsmanager", "secret:{name}"),
}
_GLOBAL_SERVICES = {"s3", "iam"}
_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg",
    "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/eip:Eip": "eipalloc",
    "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce",
    "aws:ec2/flowLog:FlowLog": "fl",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt",
    "aws:efs/fileSystem:FileSystem": "fs",
    "aws:efs/accessPoint:AccessPoint": "fsap",
}
#: Input that holds a type's physical name, when the program sets it.
_NAME_INPUT = {
    "aws:s3/bucket:Bucket": "bucket",
    "aws:kms/alias:Alias": "name",
    "aws:cloudtrail/trail:Trail": "name",
    "aws:cloudwatch/dashboard:Dashboard": "dashboardName",
}
#: Types whose physical id is their name.
_ID_IS_NAME = {
    "aws:s3/bucket:Bucket",
    "aws:iam/role:Role",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:sns/topic:Topic",
    "aws:dynamodb/table:Table",
    "aws:lambda/function:Function",
    "aws:ecr/repository:Repository",
    "aws:cloudtrail/trail:Trail",
    "aws:cloudwatch/metricAlarm:MetricAlarm",
    "aws:iam/instanceProfile:InstanceProfile",
    "aws:kms/alias:Alias",
    "aws:autoscaling/group:Group",
    "aws:cloudwatch/dashboard:Dashboard",
    "aws:scheduler/schedule:Schedule",
}


def physical_name(typ: str, logical: str, urn: str, inputs: dict[str, Any]) -> str:
    """The name the resource gets: the program's, or Pulumi-style auto-naming."""
    key = _NAME_INPUT.get(typ, "name")
    given = inputs.get(key)
    if isinstance(given, str) and given:
        return given
    prefix = inputs.get("namePrefix") or inputs.get("bucketPrefix")
    base = prefix if isinstance(prefix, str) and prefix else f"{logical}-"
    suffix = _digest(urn, size=7)
    if typ == "aws:s3/bucket:Bucket":
        return (base + suffix).lower()[:63]
    return base + suffix


# Counting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceCounts:
    """What a plan holds. ``total`` is every resource the program registers: the cloud
    resources (custom resources, by package), the component resources and the providers. The
    stack resource itself (``pulumi:pulumi:Stack``) is not recorded, so not counted."""

    total: int
    by_package: dict[str, int]
    components: int
    providers: int

    def describe(self) -> str:
        """``"448 resources (384 AWS resources, 62 components, 2 providers)"``."""
        parts = [
            f"{n} {'AWS' if package == 'aws' else package} resource{'' if n == 1 else 's'}"
            for package, n in sorted(self.by_package.items())
        ]
        parts.append(f"{self.components} component{'' if self.components == 1 else 's'}")
        parts.append(f"{self.providers} provider{'' if self.providers == 1 else 's'}")
        return f"{self.total} resource{'' if self.total == 1 else 's'} ({', '.join(parts)})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "resources": self.total,
            "byPackage": dict(sorted(self.by_package.items())),
            "components": self.components,
            "providers": self.providers,
        }


def count_resources(resources: Iterable[Mapping[str, Any]]) -> ResourceCounts:
    """Count plan resources by kind: providers by type, components (``custom`` false), and
    custom resources by package (the type's first part, ``aws``)."""
    by_package: dict[str, int] = {}
    components = providers = total = 0
    for r in resources:
        total += 1
        if str(r["type"]).startswith(PROVIDER_TYPE_PREFIX):
            providers += 1
        elif not r.get("custom"):
            components += 1
        else:
            package = str(r["type"]).split(":", 1)[0]
            by_package[package] = by_package.get(package, 0) + 1
    return ResourceCounts(total, by_package, components, providers)


# The recorded plan ----------------------------------------------------------------------


@dataclass
class Plan:
    """A rendered stack: the recorded resources and the stack outputs."""

    project: str
    stack: str
    resources: list[dict[str, Any]]
    outputs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "project": self.project,
            "stack": self.stack,
            "counts": self.counts().to_dict(),
            "outputs": self.outputs,
            "resources": self.resources,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """A plan read back from :meth:`to_json` (whose ``to_json`` gives the same text)."""
        doc = json.loads(text)
        if doc.get("format") != PLAN_FORMAT:
            raise ValueError(f"not a plan of format {PLAN_FORMAT}: {doc.get('format')!r}")
        return cls(doc["project"], doc["stack"], doc["resources"], doc.get("outputs", {}))

    def counts(self) -> ResourceCounts:
        """What the plan holds, counted as the summary and ``check`` count it."""
        return count_resources(self.resources)

    # Queries used by tests, check and summaries.
    def of_type(self, typ: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["type"] == typ]

    def by_urn(self, urn: str) -> dict[str, Any]:
        for r in self.resources:
            if r["urn"] == urn:
                return r
        raise KeyError(urn)

    def in_region(self, region: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["region"] == region]

    def children_of(self, urn: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["parent"] == urn]

    def find(self, typ: str, name: str) -> dict[str, Any]:
        matches = [r for r in self.resources if r["type"] == typ and r["name"] == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources of type {typ} named {name}")
        return matches[0]
