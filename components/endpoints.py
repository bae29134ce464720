"""Which interface VPC endpoints a region can have, from the endpoint data botocore ships.

An interface endpoint is named by its PrivateLink service name ``com.amazonaws.<region>.<name>``
(``ecr.api``, ``logs``, ``ssmmessages``); :class:`~components.network.Network` takes the
``<name>`` part. botocore's ``endpoints.json`` (read with ``botocore.loaders``, as a session's
``get_available_regions`` reads it) lists every service's endpoint prefix and the regions it
is offered in; most PrivateLink names are that prefix. The others are mapped in
:data:`PRIVATELINK_TO_BOTOCORE`, each with its source. S3 and DynamoDB are refused as
interface endpoints: the network always gives them gateway endpoints (see
:data:`GATEWAY_ENDPOINT_SERVICES`).

The data is loaded only when a name is checked, once per process.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

#: Services the network always reaches through free gateway endpoints on the private (and
#: isolated) route tables. An interface endpoint for them adds cost and nothing for traffic
#: from inside the VPC: gateway endpoints serve the VPC, interface endpoints add access from
#: on premises and peered VPCs ("AWS PrivateLink for Amazon S3", "Types of VPC endpoints for
#: Amazon S3", https://docs.aws.amazon.com/AmazonS3/latest/userguide/
#: privatelink-interface-endpoints.html). With both, private DNS of the interface endpoint
#: must be limited to inbound resolver endpoints so VPC traffic keeps using the gateway
#: (DnsOptionsSpecification ``PrivateDnsOnlyForInboundResolverEndpoint``: "available only
#: for services that support both gateway and interface endpoints. It routes traffic that
#: originates from the VPC to the gateway endpoint", https://docs.aws.amazon.com/AWSEC2/
#: latest/APIReference/API_DnsOptionsSpecification.html), which the network does not set;
#: and both would share the gateway endpoint's child name. So they are refused.
GATEWAY_ENDPOINT_SERVICES = ("s3", "dynamodb")

#: PrivateLink service names whose botocore endpoint prefix differs (name -> prefix).
PRIVATELINK_TO_BOTOCORE: Mapping[str, str] = {
    # "Amazon ECR interface VPC endpoints": com.amazonaws.region.ecr.api (the ECR API) and
    # com.amazonaws.region.ecr.dkr (the Docker Registry API), https://docs.aws.amazon.com/
    # AmazonECR/latest/userguide/vpc-endpoints.html; botocore's prefix is api.ecr and the
    # registry has no entry of its own (it is served with the ECR API).
    "ecr.api": "api.ecr",
    "ecr.dkr": "api.ecr",
    # SSM Agent's message endpoints (ssmmessages, ec2messages) are parts of Systems Manager
    # ("Reference: ec2messages, ssmmessages, and other API operations",
    # https://docs.aws.amazon.com/systems-manager/latest/userguide/
    # systems-manager-setting-up-messageAPIs.html); botocore has no entry for them: ssm.
    "ssmmessages": "ssm",
    "ec2messages": "ssm",
    # ECS's agent and telemetry endpoints (com.amazonaws.region.ecs-agent, .ecs-telemetry,
    # "Amazon ECS interface VPC endpoints", https://docs.aws.amazon.com/AmazonECS/latest/
    # developerguide/vpc-endpoints.html) belong to ECS (botocore: ecs).
    "ecs-agent": "ecs",
    "ecs-telemetry": "ecs",
}

#: botocore prefixes that are not PrivateLink names themselves (the name to write instead).
_WRITE_INSTEAD = {
    prefix: name
    for name, prefix in PRIVATELINK_TO_BOTOCORE.items()
    if "." in prefix and name.split(".")[::-1] == prefix.split(".")
}


@lru_cache(maxsize=1)
def _endpoint_data() -> dict[str, Any]:
    from botocore.loaders import create_loader

    data: dict[str, Any] = create_loader().load_data("endpoints")
    return data


@lru_cache(maxsize=1)
def _resolver() -> Any:
    from botocore.regions import EndpointResolver

    return EndpointResolver(_endpoint_data())


@lru_cache(maxsize=1)
def endpoint_service_names() -> frozenset[str]:
    """Every interface endpoint name accepted: botocore's endpoint prefixes (across all
    partitions) with the mapped names, without the prefixes that are written otherwise."""
    prefixes = {
        service for partition in _endpoint_data()["partitions"] for service in partition["services"]
    }
    return frozenset((prefixes - set(_WRITE_INSTEAD)) | set(PRIVATELINK_TO_BOTOCORE))


def botocore_prefix(name: str) -> str:
    """The botocore endpoint prefix of an interface endpoint name."""
    return PRIVATELINK_TO_BOTOCORE.get(name, name)


def _partition_of(region: str) -> str | None:
    resolver = _resolver()
    for partition in resolver.get_available_partitions():
        if region in resolver.get_available_endpoints("ec2", partition):
            return str(partition)
    return None


def offered_in(name: str, region: str) -> bool | None:
    """Is service ``name`` offered in ``region`` (None when botocore does not know the
    region, so that the region's own check reports it)."""
    partition = _partition_of(region)
    if partition is None:
        return None
    return region in _resolver().get_available_endpoints(botocore_prefix(name), partition)


def interface_endpoint_problem(name: str) -> str | None:
    """None when ``name`` may be an interface endpoint of the network; else why not."""
    if name in GATEWAY_ENDPOINT_SERVICES:
        return (
            f"{name!r} already has a gateway endpoint on every private route table (free, and "
            "what traffic from the VPC uses); remove it from the interface endpoints"
        )
    if name in _WRITE_INSTEAD:
        return f"{name!r} is botocore's name; the endpoint service is {_WRITE_INSTEAD[name]!r}"
    if name not in endpoint_service_names():
        close = difflib.get_close_matches(name, sorted(endpoint_service_names()), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{name!r} is not an AWS service in botocore's endpoint data{hint}"
    return None


def interface_endpoint_problems(names: Iterable[str], region: str | None = None) -> list[str]:
    """A problem for each of ``names`` that cannot be an interface endpoint (in ``region``,
    when given: the service must be offered there)."""
    problems = []
    for name in names:
        problem = interface_endpoint_problem(name)
        if problem is None and region is not None and offered_in(name, region) is False:
            problem = f"{name!r} is not offered in {region} (botocore's endpoint data)"
        if problem:
            problems.append(problem)
    return problems
