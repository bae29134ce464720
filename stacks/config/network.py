"""``mlops:regions`` and ``mlops:network``: the regions of the environment, their address
ranges, and the network layout every region shares (components/network.py builds it)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from components.checks import duplicates
from components.network import NAT_STRATEGIES
from stacks.config.base import NAMESPACE, ConfigModel, az_count, is_production
from stacks.config.errors import did_you_mean

MAX_AZ_COUNT = 6

_ENDPOINT_RE = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$")
#: An AZ ID (``euw1-az1``): "the first three letters of the Region code, followed by the
#: number at the end of the Region code, followed by -az, followed by a number" ("AWS
#: Availability Zones", https://docs.aws.amazon.com/global-infrastructure/latest/regions/
#: aws-availability-zones.html). Longer region codes take more letters (``apse1``), so the
#: prefix is checked as: the region's first part, the initial of its second part, ..., its
#: number (``euw1`` is eu-west-1, never eu-central-1).
_AZ_ID_RE = re.compile(r"^([a-z]{3,6})(\d+)-az(\d+)$")


@lru_cache(maxsize=1)
def aws_region_names() -> frozenset[str]:
    """Every region name botocore's endpoint data knows, across all partitions (the regions
    with an EC2 endpoint). Read with botocore's loader and endpoint resolver, as a session's
    ``get_available_regions`` does, without building a session, which would also load the
    whole EC2 service model to learn that its endpoint prefix is ``ec2`` (issue 15)."""
    from botocore.loaders import create_loader
    from botocore.regions import EndpointResolver

    resolver = EndpointResolver(create_loader().load_data("endpoints"))
    return frozenset(
        name
        for partition in resolver.get_available_partitions()
        for name in resolver.get_available_endpoints("ec2", partition)
    )


class RegionConfig(ConfigModel):
    """One region of the environment. The first region in the list is the primary."""

    name: str = Field(description="AWS region name, e.g. eu-west-1.")
    cidr: str = Field(description="The region's VPC CIDR, /16 to /22, private range.")
    availability_zones: tuple[str, ...] = Field(
        description="The region's AZs, pinned: names (eu-west-1a) or AZ IDs (euw1-az1), as "
        "many as network.azCount (`python -m stacks azs <stack>` prints them); the program "
        "never looks them up."
    )

    @field_validator("name")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in aws_region_names():
            hint = did_you_mean(value, sorted(aws_region_names()))
            raise ValueError(f"{value!r} is not an AWS region name{hint}")
        return value

    @field_validator("availability_zones")
    @classmethod
    def _zones_of_region(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        region = info.data.get("name")
        problems = availability_zone_problems(value, region if isinstance(region, str) else None)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("cidr")
    @classmethod
    def _valid_cidr(cls, value: str) -> str:
        try:
            net = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(
                f"{value!r} is not a valid IPv4 CIDR block ({exc}); write it like 10.0.0.0/16"
            ) from None
        if not 16 <= net.prefixlen <= 22:
            raise ValueError(
                f"{value} has prefix /{net.prefixlen}; a VPC CIDR must be between /16 and /22"
            )
        if not net.is_private:
            raise ValueError(f"{value} is not a private (RFC 1918) range")
        return str(net)

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr)


class NetworkConfig(ConfigModel):
    """Network layout, the same in every region of the environment."""

    az_count: int = Field(
        description="Availability zones per region; public and private subnets in each."
    )
    nat: Literal["none", "single", "per_az"] = Field(
        description="NAT gateways: none, one for the region, or one per AZ."
    )
    isolated_subnets: bool = Field(
        default=False, description="Also create isolated subnets (no internet route)."
    )
    interface_endpoints: tuple[str, ...] = Field(
        default=(),
        description="Interface VPC endpoint service short names, e.g. ssm, ecr.api, logs.",
    )

    @field_validator("az_count")
    @classmethod
    def _az_range(cls, value: int) -> int:
        if not 1 <= value <= MAX_AZ_COUNT:
            raise ValueError(f"{value} is out of range; use 1 to {MAX_AZ_COUNT}")
        return value

    @field_validator("nat", mode="before")
    @classmethod
    def _nat_known(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in NAT_STRATEGIES:
            raise ValueError(
                f"{value!r} is not a NAT strategy; use one of "
                f"{', '.join(map(repr, NAT_STRATEGIES))}"
            )
        return value

    @field_validator("interface_endpoints")
    @classmethod
    def _endpoints(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not _ENDPOINT_RE.match(v)]
        if bad:
            raise ValueError(
                f"{bad} are not endpoint service short names (like 'ssm' or 'ecr.api')"
            )
        dupes = duplicates(value)
        if dupes:
            raise ValueError(f"{dupes} listed more than once")
        # The names botocore's endpoint data knows, S3 and DynamoDB left to their gateway
        # endpoints (components/endpoints.py); loaded only when endpoints are listed.
        from components.endpoints import interface_endpoint_problem

        problems = [
            f"[{i}] {problem}"
            for i, name in enumerate(value)
            if (problem := interface_endpoint_problem(name))
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return value


def availability_zone_problems(zones: tuple[str, ...], region: str | None) -> list[str]:
    """Why ``zones`` cannot be the pinned AZs of ``region`` (empty when they can).

    botocore ships no AZ list (its endpoint data stops at regions), so each entry is checked
    against the formats AWS documents: an AZ name is its Region code followed by a letter
    (``eu-west-1a``) and an AZ ID is the short region code, ``-az`` and a number
    (:data:`_AZ_ID_RE`). Names and IDs are not mixed within a region.
    """
    problems: list[str] = []
    ids = [z for z in zones if _AZ_ID_RE.match(z)]
    if ids and len(ids) != len(zones):
        problems.append(f"{list(zones)} mixes AZ names and AZ IDs; use one kind per region")
    for i, zone in enumerate(zones):
        if region is None:
            continue
        match = _AZ_ID_RE.match(zone)
        if match:
            letters, number = match.group(1), match.group(2)
            parts = region.split("-")
            if not (
                letters.startswith(parts[0])
                and len(letters) > len(parts[0])
                and letters[len(parts[0])] == parts[1][:1]
                and parts[-1] == number
            ):
                problems.append(f"[{i}] {zone!r} is not an AZ ID of {region}")
        elif not re.fullmatch(re.escape(region) + r"[a-z]", zone):
            problems.append(
                f"[{i}] {zone!r} is not an availability zone of {region} (write "
                f"{region}a, {region}b, ... or AZ IDs)"
            )
    dupes = duplicates(zones)
    if dupes:
        problems.append(f"{dupes} listed more than once")
    return problems


def network_cross_checks(data: Mapping[str, Any]) -> list[str]:
    """Regions listed once each, with address ranges that do not overlap (so they can be
    peered), each pinning exactly ``network.azCount`` AZs; production spreads over at least
    2 AZs."""
    problems = _region_problems(data.get("regions"))
    count = az_count(data)
    problems += _zone_count_problems(data.get("regions"), count)
    if is_production(data) and isinstance(count, int) and 1 <= count < 2:
        problems.append(
            f"{NAMESPACE}:network.azCount: {count} AZ in production; "
            "use at least 2 for high availability"
        )
    return problems


def _zone_count_problems(regions: Any, count: Any) -> list[str]:
    """Each region lists as many AZs as ``network.azCount`` (a different count would leave
    subnets without a zone or zones without subnets)."""
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_AZ_COUNT:
        return []  # mlops:network.azCount reports its own problem
    problems: list[str] = []
    for i, item in enumerate(regions if isinstance(regions, list) else []):
        zones = item.get("availabilityZones") if isinstance(item, dict) else None
        if isinstance(zones, list) and len(zones) != count:
            problems.append(
                f"{NAMESPACE}:regions[{i}].availabilityZones: {len(zones)} AZ(s) listed but "
                f"{NAMESPACE}:network.azCount is {count}; list exactly {count}"
            )
    return problems


def _region_problems(regions: Any) -> list[str]:
    names: list[tuple[int, str]] = []
    networks: list[tuple[int, ipaddress.IPv4Network]] = []
    for i, item in enumerate(regions if isinstance(regions, list) else []):
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("name"), str):
            names.append((i, item["name"]))
        try:
            networks.append((i, ipaddress.IPv4Network(str(item.get("cidr")), strict=True)))
        except ValueError:
            pass
    problems: list[str] = []
    seen: dict[str, int] = {}
    for i, name in names:
        if name in seen:
            problems.append(
                f"{NAMESPACE}:regions[{i}].name: {name!r} is already listed at "
                f"{NAMESPACE}:regions[{seen[name]}]; each region may appear once"
            )
        else:
            seen[name] = i
    for n, (i, a) in enumerate(networks):
        for j, b in networks[:n]:
            if a.overlaps(b):
                problems.append(
                    f"{NAMESPACE}:regions[{i}].cidr: {a} overlaps {b} of "
                    f"{NAMESPACE}:regions[{j}]; regions need distinct address ranges so they "
                    "can be peered"
                )
    return problems
