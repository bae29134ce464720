"""Tags on every resource: each taggable resource of both real plans ends up with the stack's
tags (the regional provider's default tags), as the leftover sweep and cost reports need.

What is taggable is read from pulumi_aws itself: a resource class whose constructor takes
``tags``. Whether the provider's default tags reach it is read there too: such classes have a
``tags_all`` output, "including those inherited from the provider default_tags configuration
block" (its docstring). A class with ``tags`` but no ``tags_all`` (the Auto Scaling group,
whose tags are ``tag`` blocks) gets nothing from the provider, so its own tags must carry them.
"""

from __future__ import annotations

import importlib
import inspect
import json
from typing import Any

import pytest

from stacks.config import load_stack_config
from stacks.offline import PROJECT_DIR, Plan
from stacks.regional import default_tags

PROVIDER = "pulumi:providers:aws"
#: The keys the sweep and the README promise on everything (beside ``mlops:tags``).
PLATFORM_KEYS = ("environment", "region", "stack", "managed-by")


def resource_class(token: str) -> type[Any]:
    """The pulumi_aws class of a type token: ``aws:ec2/vpc:Vpc`` -> ``pulumi_aws.ec2.Vpc``
    (``lambda`` is the module ``lambda_``)."""
    _, path, name = token.split(":")
    module = path.split("/")[0]
    try:
        found = importlib.import_module(f"pulumi_aws.{module}")
    except ModuleNotFoundError:
        found = importlib.import_module(f"pulumi_aws.{module}_")
    return getattr(found, name)  # type: ignore[no-any-return]


def taggable(cls: type[Any]) -> bool:
    return "tags" in inspect.signature(cls._internal_init).parameters


def inherits_default_tags(cls: type[Any]) -> bool:
    doc = getattr(getattr(cls, "tags_all", None), "__doc__", "") or ""
    return "inherited from the provider `default_tags`" in doc


def own_tags(value: Any) -> dict[str, str]:
    """A resource's own tags: a map, or a list of ``{key, value}`` blocks (Auto Scaling)."""
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return {item["key"]: item["value"] for item in value}
    return {}


def provider_tags(plan: Plan) -> dict[str, dict[str, str]]:
    return {
        p["urn"]: json.loads(p["inputs"]["defaultTags"])["tags"] for p in plan.of_type(PROVIDER)
    }


def untagged(plan: Plan) -> list[str]:
    """Every taggable AWS resource of ``plan`` that ends up without one of its provider's
    default tags (or with a different value), with what it lacks."""
    defaults = provider_tags(plan)
    found = []
    for resource in plan.resources:
        if not resource["type"].startswith("aws:") or not resource["custom"]:
            continue
        cls = resource_class(resource["type"])
        if not taggable(cls):
            continue
        expected = defaults[resource["provider"]]
        own = own_tags(resource["inputs"].get("tags"))
        effective = {**expected, **own} if inherits_default_tags(cls) else own
        wrong = sorted(k for k, v in expected.items() if effective.get(k) != v)
        if wrong:
            found.append(f"{resource['type']} {resource['name']}: {', '.join(wrong)}")
    return found


def test_every_taggable_resource_carries_the_stack_tags(stack_plan: Plan) -> None:
    assert untagged(stack_plan) == []


def test_the_providers_default_tags_are_the_stack_tags(stack_plan: Plan) -> None:
    cfg = load_stack_config(PROJECT_DIR, stack_plan.stack)
    providers = stack_plan.of_type(PROVIDER)
    assert sorted(p["inputs"]["region"] for p in providers) == sorted(r.name for r in cfg.regions)
    for provider in providers:
        tags = json.loads(provider["inputs"]["defaultTags"])["tags"]
        region = provider["inputs"]["region"]
        assert tags == default_tags(cfg, region, stack_plan.stack)
        assert all(tags[k] for k in PLATFORM_KEYS)


def test_the_check_sees_what_the_provider_does_not_tag(dev_plan: Plan) -> None:
    """The check itself: an Auto Scaling group with only a Name tag is reported, a resource
    whose own tags override a platform key is reported, untaggable types and resources that
    inherit the provider's tags are not."""
    (provider, *_) = dev_plan.of_type(PROVIDER)
    fake = {"custom": True, "provider": provider["urn"], "name": "x", "urn": "urn:x"}
    plan = Plan(
        project=dev_plan.project,
        stack=dev_plan.stack,
        resources=[
            provider,
            {**fake, "type": "aws:autoscaling/group:Group", "inputs": {"tags": []}},
            {**fake, "type": "aws:sns/topic:Topic", "inputs": {"tags": {"stack": "other"}}},
            {**fake, "type": "aws:iam/rolePolicy:RolePolicy", "inputs": {}},
            {**fake, "type": "aws:ec2/vpc:Vpc", "inputs": {"tags": {"Name": "x"}}},
        ],
    )
    found = untagged(plan)
    assert [line.split(" ")[0] for line in found] == [
        "aws:autoscaling/group:Group",
        "aws:sns/topic:Topic",
    ]
    assert "environment" in found[0] and found[1].endswith(": stack")


@pytest.mark.parametrize(
    "token, can_tag, inherits",
    [
        ("aws:ec2/vpc:Vpc", True, True),
        ("aws:lambda/function:Function", True, True),
        ("aws:autoscaling/group:Group", True, False),
        ("aws:iam/rolePolicy:RolePolicy", False, False),
    ],
)
def test_what_pulumi_aws_says_is_taggable(token: str, can_tag: bool, inherits: bool) -> None:
    cls = resource_class(token)
    assert (taggable(cls), inherits_default_tags(cls)) == (can_tag, inherits)
