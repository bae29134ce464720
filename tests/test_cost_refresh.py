"""``python -m stacks cost --refresh``: reading AWS Price List offer files (a recorded sample
of the format in tests/data/pricing) into the price table, with the download injectable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stacks.cost.refresh import (
    OFFER_URL,
    RefreshError,
    from_directory,
    on_demand_rates,
    refresh_table,
)
from stacks.cost.table import parse_table
from stacks.offline import PROJECT_DIR

SAMPLES = PROJECT_DIR / "tests" / "data" / "pricing"
BOX = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
}


def _row(
    key: str, region: str, offer: str, usagetype: str, attributes: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "key": key,
        "region": region,
        "offer": offer,
        "usagetype": usagetype,
        "attributes": attributes or {},
        "unit": "u",
        "usd": None,
        "source": OFFER_URL.format(offer=offer, region=region),
        "date": None,
        "unpriced_because": "not confirmed",
    }


def _table() -> dict[str, Any]:
    return {
        "format": "mlops-prices/1",
        "prices": [
            _row("nat_gateway_hour", "eu-west-1", "AmazonEC2", "EU-NatGateway-Hours"),
            _row(
                "ec2_instance_hour:t3.large", "eu-west-1", "AmazonEC2", "EU-BoxUsage:t3.large", BOX
            ),
            _row("ebs_gp3_gb_month", "eu-west-1", "AmazonEC2", "EU-EBS:VolumeUsage.gp3"),
            _row("interface_endpoint_gb", "eu-central-1", "AmazonVPC", "EUC1-VpcEndpoint-Bytes"),
            _row("alb_hour", "eu-central-1", "AWSELB", "EUC1-LoadBalancerUsage"),
        ],
        "free": [],
    }


def test_on_demand_rate_of_the_first_tier_and_matching_attributes() -> None:
    ec2 = json.loads((SAMPLES / "AmazonEC2" / "eu-west-1" / "index.json").read_text())
    assert on_demand_rates(ec2, "EU-BoxUsage:t3.large", BOX) == [(0.0912, "Hrs")]
    # Without the capacitystatus filter the unused-reservation row matches too.
    assert len(on_demand_rates(ec2, "EU-BoxUsage:t3.large", {})) == 2
    vpc = json.loads((SAMPLES / "AmazonVPC" / "eu-central-1" / "index.json").read_text())
    assert on_demand_rates(vpc, "EUC1-VpcEndpoint-Bytes", {}) == [(0.01, "GB")]


def test_refresh_fills_prices_with_source_and_date_and_reports_the_rest() -> None:
    asked: list[tuple[str, str]] = []
    read = from_directory(SAMPLES)

    def fetch(offer: str, region: str) -> Any:
        asked.append((offer, region))
        return read(offer, region)

    table = _table()
    result = refresh_table(table, fetch)
    rows = {(r["key"], r["region"]): r for r in table["prices"]}
    nat = rows[("nat_gateway_hour", "eu-west-1")]
    assert (nat["usd"], nat["date"]) == (0.048, "2026-09-25")
    assert (
        nat["source"]
        == "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current/eu-west-1/index.json"
    )
    assert "unpriced_because" not in nat and nat["confirmed_by"]
    assert rows[("ec2_instance_hour:t3.large", "eu-west-1")]["usd"] == 0.0912
    assert rows[("interface_endpoint_gb", "eu-central-1")]["usd"] == 0.01
    # Two different gp3 prices: reported, not guessed.
    assert rows[("ebs_gp3_gb_month", "eu-west-1")]["usd"] is None
    assert any("2 different prices" in m for m in result.missing)
    # The AWSELB file is not in the sample: reported as not read, row left unpriced.
    assert rows[("alb_hour", "eu-central-1")]["usd"] is None and result.failed
    # Each offer file is fetched once.
    assert sorted(asked) == [
        ("AWSELB", "eu-central-1"),
        ("AmazonEC2", "eu-west-1"),
        ("AmazonVPC", "eu-central-1"),
    ]
    parse_table(table)  # still a valid table


def test_a_fetch_failure_is_reported(tmp_path: Path) -> None:
    def broken(offer: str, region: str) -> Any:
        raise RefreshError(f"cannot download {offer} {region}")

    result = refresh_table(_table(), broken)
    assert len(result.failed) == 3 and not result.updated


@pytest.mark.subprocess
def test_refresh_command_reads_downloaded_offer_files(tmp_path: Path) -> None:
    table = tmp_path / "prices.json"
    table.write_text(json.dumps(_table()))
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stacks",
            "cost",
            "--refresh",
            "--offers",
            str(SAMPLES),
            "--table",
            str(table),
            "--region",
            "eu-west-1",
        ],
        cwd=PROJECT_DIR,
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "updated 2" in result.stdout
    assert json.loads(table.read_text())["prices"][0]["usd"] == 0.048
