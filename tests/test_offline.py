"""The offline engine: what it records, how it answers, how it fails."""

from __future__ import annotations

import json
import runpy

import pulumi
import pulumi_aws as aws
import pytest

from stacks.config import load_stack_file
from stacks.offline import (
    PLAN_FORMAT,
    PROJECT_DIR,
    PlanError,
    render_components,
    render_program,
    render_stack,
)


def test_plan_document_shape(dev_plan) -> None:
    doc = json.loads(dev_plan.to_json())
    assert (
        doc["format"] == PLAN_FORMAT
        and doc["project"] == "mlops-platform"
        and doc["stack"] == "dev"
    )
    for r in doc["resources"]:
        assert set(r) == {
            "urn",
            "type",
            "name",
            "id",
            "custom",
            "region",
            "provider",
            "parent",
            "dependencies",
            "inputs",
            "options",
        }
        assert set(r["options"]) == {
            "protect",
            "ignoreChanges",
            "retainOnDelete",
            "deleteBeforeReplace",
        }
        assert r["urn"].startswith("urn:pulumi:dev::mlops-platform::")
    urns = [r["urn"] for r in doc["resources"]]
    assert urns == sorted(urns) and len(set(urns)) == len(urns)
    # Dependencies point at recorded resources.
    for r in doc["resources"]:
        assert set(r["dependencies"]) <= set(urns)


def test_dependencies_and_parents_are_recorded(dev_plan) -> None:
    subnet = dev_plan.find("aws:ec2/subnet:Subnet", "eu-west-1-network-private-0")
    vpc = dev_plan.find("aws:ec2/vpc:Vpc", "eu-west-1-network-vpc")
    network = dev_plan.find("mlops:network:Network", "eu-west-1-network")
    assert subnet["dependencies"] == [vpc["urn"]]
    assert subnet["parent"] == network["urn"]
    assert subnet["inputs"]["vpcId"] == vpc["id"]
    assert network["custom"] is False and network["id"] is None


def test_main_program_entry_point_renders_the_same_graph(dev_plan) -> None:
    """``__main__.py`` (what ``pulumi up`` runs) builds exactly what ``plan`` renders."""
    config, secrets = load_stack_file(PROJECT_DIR, "dev")
    plan = render_program(
        lambda: runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__"),
        project="mlops-platform",
        stack="dev",
        config=config,
        secret_keys=secrets,
        project_dir=PROJECT_DIR,
    )
    assert plan.to_json() == dev_plan.to_json()


def test_main_program_reports_config_errors_without_registering(stack_config) -> None:
    config = stack_config("dev")
    config["mlops:network"]["nat"] = "sometimes"
    flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    with pytest.raises(PlanError) as info:
        render_program(
            lambda: runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__"),
            project="mlops-platform",
            stack="dev",
            config=flat,
        )
    assert "mlops:network.nat: 'sometimes' is not a NAT strategy" in str(info.value)
    assert info.value.registered == []


def test_unanswered_invoke_fails_naming_its_token() -> None:
    def build(opts: pulumi.ResourceOptions) -> None:
        aws.ec2.get_ami(
            most_recent=True,
            owners=["amazon"],
            opts=pulumi.InvokeOptions(provider=opts.providers["aws"]),
        )

    with pytest.raises(Exception, match="aws:ec2/getAmi:getAmi"):
        render_components(build)


def test_resource_without_provider_fails_when_defaults_are_disabled() -> None:
    def build(opts: pulumi.ResourceOptions) -> None:
        aws.sns.Topic("escaped")  # neither parent nor provider: would use a default provider

    with pytest.raises(PlanError, match="'escaped' has no explicit provider"):
        render_components(build)


def test_invokes_are_answered_per_region() -> None:
    seen = {}

    def build(opts: pulumi.ResourceOptions) -> None:
        provider = opts.providers["aws"]
        zones = aws.get_availability_zones(opts=pulumi.InvokeOptions(provider=provider))
        seen["zones"] = zones.names
        seen["account"] = aws.get_caller_identity(
            opts=pulumi.InvokeOptions(provider=provider)
        ).account_id
        seen["partition"] = aws.get_partition(
            opts=pulumi.InvokeOptions(provider=provider)
        ).partition

    render_components(build, region="ap-southeast-2")
    assert seen["zones"][:3] == ["ap-southeast-2a", "ap-southeast-2b", "ap-southeast-2c"]
    assert seen == {**seen, "account": "123456789012", "partition": "aws"}


def test_secrets_are_masked() -> None:
    def build(opts: pulumi.ResourceOptions) -> None:
        aws.ssm.Parameter(
            "p", type="SecureString", value=pulumi.Output.secret("hunter2"), opts=opts
        )

    plan = render_components(build)
    param = plan.of_type("aws:ssm/parameter:Parameter")[0]
    assert param["inputs"]["value"] == "[secret]"
    assert "hunter2" not in plan.to_json()


def test_options_are_recorded() -> None:
    def build(opts: pulumi.ResourceOptions) -> None:
        aws.sns.Topic(
            "t",
            opts=pulumi.ResourceOptions.merge(
                opts,
                pulumi.ResourceOptions(
                    protect=True,
                    retain_on_delete=True,
                    ignore_changes=["tags"],
                    delete_before_replace=True,
                ),
            ),
        )

    plan = render_components(build)
    topic = plan.of_type("aws:sns/topic:Topic")[0]
    assert topic["options"] == {
        "protect": True,
        "ignoreChanges": ["tags"],
        "retainOnDelete": True,
        "deleteBeforeReplace": True,
    }


def test_renders_are_isolated_from_each_other() -> None:
    first = render_stack("dev").to_json()
    render_stack("prod")
    assert render_stack("dev").to_json() == first
