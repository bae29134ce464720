"""``mlops:regions`` and ``mlops:network``: the regions of the environment, their address
ranges, and the network layout every region shares (components/network.py builds it)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, field_validator

from components.checks import duplicates
from components.network import NAT_STRATEGIES
from stacks.config.base import NAMESPACE, ConfigModel, az_count, is_production
from stacks.config.errors import did_you_mean

MAX_AZ_COUNT = 6

_ENDPOINT_RE = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$")


@lru_cache(maxsize=1)
def aws_region_names() -> frozenset[str]:
    """Every region name botocore's endpoint data knows, across all partitions."""
    import botocore.session

    session = botocore.session.get_session()
    names: set[str] = set()
    for partition in session.get_available_partitions():
        names.update(session.get_available_regions("ec2", partition_name=partition))
    return frozenset(names)


class RegionConfig(ConfigModel):
    """One region of the environment. The first region in the list is the primary."""

    name: str = Field(description="AWS region name, e.g. eu-west-1.")
    cidr: str = Field(description="The region's VPC CIDR, /16 to /22, private range.")

    @field_validator("name")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in aws_region_names():
            hint = did_you_mean(value, sorted(aws_region_names()))
            raise ValueError(f"{value!r} is not an AWS region name{hint}")
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
        return value


def network_cross_checks(data: Mapping[str, Any]) -> list[str]:
    """Regions listed once each, with address ranges that do not overlap (so they can be
    peered); production spreads over at least 2 AZs."""
    problems = _region_problems(data.get("regions"))
    count = az_count(data)
    if is_production(data) and isinstance(count, int) and 1 <= count < 2:
        problems.append(
            f"{NAMESPACE}:network.azCount: {count} AZ in production; "
            "use at least 2 for high availability"
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
