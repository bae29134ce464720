"""The mock runtime's answers: deterministic ids, names and ARNs for every resource, and the
invokes the offline engine answers (caller identity, partition, region, availability zones).
Any other invoke fails with :class:`PlanError`, naming its token.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pulumi.runtime import mocks as pulumi_mocks

from stacks.offline.plan import (
    _ARN_LAYOUT,
    _GLOBAL_SERVICES,
    _ID_IS_NAME,
    _ID_PREFIX,
    MOCK_ACCOUNT_ID,
    PROVIDER_TYPE_PREFIX,
    PlanError,
    _digest,
    _partition_of,
    _region_code,
    _zone_letters,
    physical_name,
)

__all__ = [
    "MOCK_ACCOUNT_ID",
    "PROVIDER_TYPE_PREFIX",
    "PlanError",
    "RecordingMocks",
    "physical_name",
]


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
