"""The components' own checks that the config layer reuses (issue 10): each component refuses
the bad value before registering anything, with the same rule the stack file is checked by."""

from __future__ import annotations

import pytest

from components.containers.validators import load_balancer_az_problem, secret_name_problem
from components.endpoints import GATEWAY_ENDPOINT_SERVICES, interface_endpoint_problems
from components.iam import ServiceRole, ServiceRoleArgs, role_name_problem
from components.kms import RegionKey, RegionKeyArgs
from components.network import Network, NetworkArgs
from components.serverless.args import vpc_az_count_problem
from stacks.offline import render_components


def _network(**kwargs: object) -> None:
    def build(opts):
        key = RegionKey("k", RegionKeyArgs(alias="test"), opts=opts)
        Network(
            "net",
            NetworkArgs(
                cidr="10.0.0.0/16",
                availability_zones=["eu-west-1a", "eu-west-1b"],
                key=key,
                **kwargs,  # type: ignore[arg-type]
            ),
            opts=opts,
        )

    render_components(build)


@pytest.mark.parametrize("service", GATEWAY_ENDPOINT_SERVICES)
def test_network_refuses_an_interface_endpoint_its_gateway_endpoint_serves(service: str) -> None:
    with pytest.raises(ValueError, match=f"interface_endpoints: '{service}' already has a gateway"):
        _network(interface_endpoints=[service])


def test_network_refuses_an_unknown_endpoint_with_the_name_meant() -> None:
    with pytest.raises(ValueError, match="did you mean 'ssmmessages'"):
        _network(interface_endpoints=["ssmmesages"])


def test_network_accepts_privatelink_names_botocore_spells_otherwise() -> None:
    _network(interface_endpoints=["ecr.api", "ecr.dkr", "ssmmessages", "ec2messages", "logs"])


def test_endpoints_offered_per_region_come_from_botocore() -> None:
    assert interface_endpoint_problems(["airflow"], "eu-west-1") == []
    [problem] = interface_endpoint_problems(["airflow"], "ap-east-2")
    assert "not offered in ap-east-2" in problem


def test_service_role_refuses_a_name_iam_would_refuse() -> None:
    long_name = "ap-southeast-1-lake-replication-" + "z" * 20  # 52 + "-role" + 8 = 65

    def build(opts):
        with pytest.raises(ValueError, match="IAM allows 64"):
            ServiceRole(
                long_name,
                ServiceRoleArgs(service="s3.amazonaws.com", description="test"),
                opts=opts,
            )
        ServiceRole(
            long_name[:-1],
            ServiceRoleArgs(service="s3.amazonaws.com", description="test"),
            opts=opts,
        )

    plan = render_components(build)
    [role] = plan.of_type("aws:iam/role:Role")
    assert role["name"] == f"{long_name[:-1]}-role"
    assert role_name_problem(long_name[:-1]) is None


def test_az_and_secret_rules_shared_with_the_config() -> None:
    assert load_balancer_az_problem(1) and load_balancer_az_problem(2) is None
    assert vpc_az_count_problem(1) and vpc_az_count_problem(2) is None
    assert "set by the platform" in str(secret_name_problem("PORT", {}))
    assert "also set in environment" in str(secret_name_problem("A", {"A": "1"}))
    assert secret_name_problem("API_TOKEN", {"A": "1"}) is None
