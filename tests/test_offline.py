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
    """``__main__.py`` (what ``pulumi up`` runs) builds exactly what ``plan`` renders, also
    right after another stack's render in the same process: renders are isolated from each
    other (``dev_plan`` is the session's, rendered first, or by another test worker)."""
    render_stack("prod")
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


# What is counted, and endpoint names ----------------------------------------------------------


def test_summary_plan_json_and_check_count_the_same_resources(stack_plan) -> None:
    """One definition: every recorded resource (cloud resources, components, providers)."""
    from policies.check import check, format_report, load_plan
    from stacks.cli import check_plan
    from stacks.graph import summary

    doc = json.loads(stack_plan.to_json())
    counts = doc["counts"]
    assert counts["resources"] == len(doc["resources"])
    assert counts["resources"] == (
        sum(counts["byPackage"].values()) + counts["components"] + counts["providers"]
    )
    described = (
        f"{counts['resources']} resources ({counts['byPackage']['aws']} AWS resources, "
        f"{counts['components']} components, {counts['providers']} providers)"
    )
    lines = summary(doc).splitlines()
    assert lines[0].startswith(f"Stack {stack_plan.stack} of mlops-platform: {described} in ")
    assert check(load_plan(doc)).resource_count == counts["resources"]
    report = format_report(check_plan(stack_plan))  # what `python -m stacks check` prints
    assert f"; {described}, " in report.splitlines()[0]
    # The region headers add up to the total.
    regions = [int(line.split(": ")[1].split()[0]) for line in lines if line.startswith("== ")]
    assert sum(regions) == counts["resources"]


def test_endpoints_are_summarised_by_the_names_configured(prod_plan) -> None:
    from stacks.config import load_stack_config
    from stacks.graph import summary

    configured = load_stack_config(PROJECT_DIR, "prod").network.interface_endpoints
    assert "ecr.api" in configured
    expected = ", ".join(sorted([*configured, "dynamodb (gateway)", "s3 (gateway)"]))
    lines = [line for line in summary(prod_plan.to_dict()).splitlines() if "VPC endpoints:" in line]
    assert lines and all(line.split("VPC endpoints:")[1].strip() == expected for line in lines)


def test_flattened_config_is_what_the_cli_passes() -> None:
    from stacks.offline import flatten_stack_config

    assert flatten_stack_config(
        {"p:a": None, "p:b": True, "p:c": {"z": 1.0, "a": [1, "x"]}, "p:d": "text"}
    ) == {"p:a": "", "p:b": "true", "p:c": '{"a":[1,"x"],"z":1}', "p:d": "text"}
