"""``python -m stacks azs <stack>``: look up each region's availability zones with boto3 and
print the ``availabilityZones`` lines to paste into the stack file.

The program itself never looks AZs up (they are pinned in ``mlops:regions[i]``, so an outage
of one region's API blocks nothing else); this command is the one place that asks EC2, with
the caller's credentials, when a stack is set up or an AZ list is reviewed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stacks.config import ConfigError, StackFileError


def available_zones(region: str, count: int, client: Any) -> list[str]:
    """The first ``count`` AZ names (sorted) of ``region`` in state ``available`` (standard
    zones only: Local and Wavelength Zones are ``opt-in`` zone types)."""
    answer = client.describe_availability_zones(
        Filters=[
            {"Name": "state", "Values": ["available"]},
            {"Name": "zone-type", "Values": ["availability-zone"]},
        ]
    )
    names = sorted(z["ZoneName"] for z in answer["AvailabilityZones"])
    if len(names) < count:
        raise ValueError(f"{region} has {len(names)} available AZ(s); network.azCount is {count}")
    return names[:count]


def zone_lines(
    stack: str, client_for: Callable[[str], Any], project_dir: Path | None = None
) -> str:
    """The ``availabilityZones`` line of every region of ``stack``, as YAML to paste."""
    from stacks.config import load_stack_file
    from stacks.offline import PROJECT_DIR

    flat, _ = load_stack_file(project_dir or PROJECT_DIR, stack)
    try:
        regions = json.loads(flat["mlops:regions"])
        count = int(json.loads(flat["mlops:network"])["azCount"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"mlops:regions and mlops:network.azCount are needed ({exc})") from None
    lines = []
    for i, region in enumerate(regions):
        zones = available_zones(region["name"], count, client_for(region["name"]))
        lines.append(
            f"# mlops:regions[{i}] ({region['name']})\n"
            f"      availabilityZones: [{', '.join(zones)}]"
        )
    return "\n".join(lines) + "\n"


def cmd_azs(args: argparse.Namespace) -> int:
    import boto3

    try:
        print(zone_lines(args.stack, lambda r: boto3.client("ec2", region_name=r)), end="")
    except (StackFileError, ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def add_azs_command(sub: Any) -> None:
    p = sub.add_parser(
        "azs",
        help="print each region's availability zones to pin in the stack file (boto3)",
    )
    p.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    p.set_defaults(func=cmd_azs)
