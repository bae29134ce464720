"""The mock runtime's answers: deterministic ids, names and ARNs for every resource, and the
invokes the offline engine answers (caller identity, partition, region, availability zones).
Any other invoke fails with :class:`PlanError`, naming its token.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pulumi.runtime import mocks as pulumi_mocks

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


class RecordingMocks(pulumi_mocks.Mocks):
    """Deterministic answers for resources and a fixed set of invokes."""

    def __init__(self, account_id: str = MOCK_ACCOUNT_ID) -> None:
        self.account_id = account_id
        self.provider_regions: dict[str, str] = {}  # provider urn -> region

    # Provider references look like "<urn>::<id>".
    def region_of_provider(self, ref: str | None) -> str | None:
        if not ref:
            return None
        urn = ref.rsplit("::", 1)[0]
        return self.provider_regions.get(urn)

    def call(self, args: pulumi_mocks.MockCallArgs):
        region = self.region_of_provider(args.provider) or args.args.get("region")
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": self.account_id,
                "arn": f"arn:aws:iam::{self.account_id}:user/offline-plan",
                "id": self.account_id,
                "userId": "AIDAOFFLINEPLAN",
            }
        if region is None:
            raise PlanError(
                f"invoke {token} has no AWS provider (no region): every invoke must go "
                "through a region's provider"
            )
        if token == "aws:index/getPartition:getPartition":
            part = _partition_of(region)
            suffix = "amazonaws.com.cn" if part == "aws-cn" else "amazonaws.com"
            return {
                "partition": part,
                "dnsSuffix": suffix,
                "id": part,
                "reverseDnsPrefix": ".".join(reversed(suffix.split("."))),
            }
        if token == "aws:index/getRegion:getRegion":
            return {
                "region": region,
                "name": region,
                "id": region,
                "endpoint": f"ec2.{region}.amazonaws.com",
                "description": region,
            }
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            letters = _zone_letters(region)
            return {
                "id": region,
                "names": [f"{region}{c}" for c in letters],
                "zoneIds": [f"{_region_code(region)}-az{i + 1}" for i in range(len(letters))],
                "groupNames": [region] * len(letters),
                "state": "available",
            }
        raise PlanError(
            f"offline plan: no deterministic answer for invoke {token!r}; add one to "
            "stacks/offline.py (RecordingMocks.call) or avoid the invoke"
        )

    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        return self.new_resource_at(args.name, args)

    def new_resource_at(self, urn: str, args: pulumi_mocks.MockResourceArgs):
        """Answer a registration; ``urn`` seeds every generated id and name."""
        inputs = dict(args.inputs)
        if args.typ.startswith(PROVIDER_TYPE_PREFIX):
            region = inputs.get("region")
            if isinstance(region, str):
                self.provider_regions[urn] = region
            return _digest(urn, size=32), inputs
        # pulumi-aws v7 lets a resource name its own region (``region`` input), which then
        # wins over its provider's (Pulumi registry, "AWS enhanced region support").
        own_region = inputs.get("region") if args.typ.startswith("aws:") else None
        region = (
            own_region
            if isinstance(own_region, str) and own_region
            else self.region_of_provider(args.provider) or "us-east-1"
        )
        name = physical_name(args.typ, args.name, urn, inputs)
        if args.typ in _ID_IS_NAME:
            ident = name
        elif args.typ == "aws:kms/key:Key":
            h = _digest(urn, size=32)
            ident = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        else:
            ident = f"{_ID_PREFIX.get(args.typ, 'id')}-{_digest(urn)}"
        state = dict(inputs)
        state.setdefault("name", name)
        state["id"] = ident
        partition = _partition_of(region)
        service, layout = _ARN_LAYOUT.get(
            args.typ,
            (args.typ.split(":")[1].split("/")[0], args.typ.split(":")[-1].lower() + "/{id}"),
        )
        resource = layout.format(name=name, id=ident, id8=_digest(urn, size=16))
        where = "" if service in _GLOBAL_SERVICES else region
        account = "" if service == "s3" else self.account_id
        state.setdefault("arn", f"arn:{partition}:{service}:{where}:{account}:{resource}")
        _add_type_attributes(args.typ, state, name, ident, region, self.account_id, urn)
        return ident, state


def _add_type_attributes(
    typ: str, state: dict[str, Any], name: str, ident: str, region: str, account: str, urn: str
) -> None:
    """Computed attributes components read from these types."""
    if typ == "aws:s3/bucket:Bucket":
        state["bucket"] = name
        state["bucketDomainName"] = f"{name}.s3.amazonaws.com"
        state["bucketRegionalDomainName"] = f"{name}.s3.{region}.amazonaws.com"
        state["region"] = region
    elif typ == "aws:kms/key:Key":
        state["keyId"] = ident
    elif typ == "aws:cloudwatch/dashboard:Dashboard":
        state["dashboardArn"] = state["arn"]
    elif typ == "aws:iam/role:Role":
        state["uniqueId"] = "AROA" + _digest(urn, size=17).upper()
    elif typ == "aws:sqs/queue:Queue":
        state["url"] = f"https://sqs.{region}.amazonaws.com/{account}/{name}"
    elif typ == "aws:lambda/function:Function":
        state["invokeArn"] = (
            f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/"
            f"{state['arn']}/invocations"
        )
        state["qualifiedArn"] = f"{state['arn']}:$LATEST"
        state["version"] = "$LATEST"
    elif typ == "aws:lb/loadBalancer:LoadBalancer":
        state["dnsName"] = f"{name}-{_digest(urn, size=10)}.{region}.elb.amazonaws.com"
        state["arnSuffix"] = state["arn"].split(":loadbalancer/")[-1]
        state["zoneId"] = "Z" + _digest(urn, size=12).upper()
    elif typ == "aws:lb/targetGroup:TargetGroup":
        state["arnSuffix"] = state["arn"].split(":")[-1]
    elif typ == "aws:ecr/repository:Repository":
        state["repositoryUrl"] = f"{account}.dkr.ecr.{region}.amazonaws.com/{name}"
        state["registryId"] = account
    elif typ == "awsx:ecr:Image":
        # The awsx component builds and pushes with docker; offline nothing is built. Its one
        # output is the pushed image's URI by digest (the digest follows the tag it pushes).
        digest = hashlib.sha256(f"{urn}\0{state.get('imageTag')}".encode()).hexdigest()
        state["imageUri"] = f"{state.get('repositoryUrl')}@sha256:{digest}"
    elif typ == "aws:ec2/eip:Eip":
        state["allocationId"] = ident
        state["publicIp"] = "203.0.113." + str(int(_digest(urn, size=2), 16) % 250 + 1)
    elif typ == "aws:ec2/launchTemplate:LaunchTemplate":
        state["latestVersion"] = 1
        state["defaultVersion"] = 1
    elif typ == "aws:efs/fileSystem:FileSystem":
        state["dnsName"] = f"{ident}.efs.{region}.amazonaws.com"
    elif typ == "aws:efs/replicationConfiguration:ReplicationConfiguration":
        # compute: EFS creates the replica in the destination region; its id is an output.
        destination = dict(state.get("destination") or {})
        destination.setdefault("fileSystemId", f"fs-{_digest(urn, 'replica')}")
        destination.setdefault("status", "ENABLED")
        state["destination"] = destination
    elif typ == "aws:ecs/taskDefinition:TaskDefinition":
        state["revision"] = 1
        state["arnWithoutRevision"] = state["arn"].rsplit(":", 1)[0]
    elif typ == "aws:batch/jobDefinition:JobDefinition":
        state["revision"] = 1
        state["arnPrefix"] = state["arn"].rsplit(":", 1)[0]
    elif typ == "aws:acm/certificate:Certificate":
        # DNS validation: one CNAME per domain name, the same in every region of the account
        # (ACM user guide, "DNS validation": the CNAME validation token works for any
        # Region), so the record is derived from the account and domain, never the region.
        domains = [state.get("domainName"), *(state.get("subjectAlternativeNames") or [])]
        state["domainValidationOptions"] = [
            {
                "domainName": domain,
                "resourceRecordName": f"_{_digest(account, domain, size=32)}.{domain}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": (
                    f"_{_digest(domain, account, size=32)}.{_digest(domain, size=10)}"
                    ".acm-validations.aws."
                ),
            }
            for domain in dict.fromkeys(d for d in domains if isinstance(d, str))
        ]
        state["status"] = "PENDING_VALIDATION"
    elif typ == "aws:dynamodb/table:Table":
        state["streamArn"] = f"{state['arn']}/stream/1970-01-01T00:00:00.000"
    elif typ == "aws:iam/serviceLinkedRole:ServiceLinkedRole":
        # compute: AWS names the role after the service (Auto Scaling's is known), plus
        # "_<customSuffix>", under the path aws-service-role/<service>/.
        service = str(state.get("awsServiceName", ""))
        role = {"autoscaling.amazonaws.com": "AWSServiceRoleForAutoScaling"}.get(
            service, "AWSServiceRoleFor" + service.split(".")[0].capitalize()
        )
        if state.get("customSuffix"):
            role += f"_{state['customSuffix']}"
        state["name"] = role
        state["arn"] = f"arn:aws:iam::{account}:role/aws-service-role/{service}/{role}"
