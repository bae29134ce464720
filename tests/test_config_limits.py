"""Config checks of what a component or AWS would reject (issue 10): each bad value is one
problem naming its key as written; each good value passes. Plus ``python -m stacks plan`` on a
few of them as a user runs it: exit 2, the key named, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from components.compute import instance_type_problem
from components.endpoints import interface_endpoint_problems
from stacks.config import ConfigError, parse_raw_config
from stacks.config.limits import PLATFORM_TAG_KEYS, RESOURCE_TAG_KEY_SETS
from stacks.offline import PROJECT_DIR, Plan, render_stack

Config = dict[str, Any]


def flat(config: Config) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def problems_of(config: Config) -> list[str]:
    try:
        parse_raw_config(flat(config))
    except ConfigError as error:
        return error.problems
    return []


def one_az(config: Config) -> None:
    config["mlops:network"]["azCount"] = 1
    for region in config["mlops:regions"]:
        region["availabilityZones"] = region["availabilityZones"][:1]
    config["mlops:compute"]["enabled"] = False


def job(config: Config) -> dict[str, Any]:
    return config["mlops:jobs"]["jobs"][0]


def nat_none(config: Config) -> None:
    config["mlops:network"]["nat"] = "none"
    config["mlops:compute"]["enabled"] = False


ARN = "arn:aws:ssm:eu-west-1:123456789012:parameter/forecast/token"

#: (name, change making the dev stack bad, key named, text in the problem, change making it good)
CASES: list[tuple[str, Callable[[Config], None], str, str, Callable[[Config], None]]] = [
    (
        "one AZ with the web service",
        one_az,
        "mlops:network.azCount:",
        "load balancer needs subnets in at least two AZs",
        lambda c: c.pop("mlops:containers"),
    ),
    (
        "one AZ with the ingest function in the VPC",
        lambda c: (one_az(c), c.pop("mlops:containers"), c["mlops:ingest"].update(inVpc=True)),
        "mlops:ingest.inVpc:",
        "at least 2 AZs",
        lambda c: c["mlops:ingest"].update(inVpc=False),
    ),
    (
        "PORT as a secret",
        lambda c: c["mlops:containers"].update(secrets={"PORT": ARN}),
        "mlops:containers.secrets.PORT:",
        "set by the platform",
        lambda c: c["mlops:containers"].update(secrets={"API_TOKEN": ARN}),
    ),
    (
        "a model serving variable as a secret",
        lambda c: c["mlops:containers"].update(secrets={"MODEL_NAME": ARN}),
        "mlops:containers.secrets.MODEL_NAME:",
        "set by the platform",
        lambda c: c["mlops:training"].update(enabled=False),
    ),
    (
        "a Ref:: without a value",
        lambda c: job(c)["command"].extend(["--limit", "Ref::limit"]),
        "mlops:jobs.jobs[0].command:",
        "Ref::limit has no value",
        lambda c: job(c)["parameters"].update(limit="10"),
    ),
    (
        "Ref::trigger_key in a scheduled-only job",
        lambda c: job(c)["command"].extend(["--trigger-key", "Ref::trigger_key"]),
        "mlops:jobs.jobs[0].command:",
        "Ref::trigger_key has no value",
        lambda c: job(c).update(onNewRawData=True, rawPrefix="incoming/"),
    ),
    (
        "Ref::read_prefix without readPrefix",
        lambda c: job(c).pop("readPrefix"),
        "mlops:jobs.jobs[0].command:",
        "Ref::read_prefix has no value",
        lambda c: job(c).update(readPrefix="customers/daily"),
    ),
    (
        "a misspelt instance type",
        lambda c: c["mlops:compute"]["pools"][0].update(instanceTypes=["t3.lrage", "t3a.large"]),
        "mlops:compute.pools[0].instanceTypes[0]:",
        "did you mean 't3.large'?",
        lambda c: c["mlops:compute"]["pools"][0].update(instanceTypes=["m7i.large", "t3a.large"]),
    ),
    (
        "a misspelt interface endpoint",
        lambda c: c["mlops:network"].update(interfaceEndpoints=["ecr.apii"]),
        "mlops:network.interfaceEndpoints:",
        "did you mean 'ecr.api'?",
        lambda c: c["mlops:network"].update(interfaceEndpoints=["ecr.api", "ssmmessages"]),
    ),
    (
        "s3 as an interface endpoint",
        lambda c: c["mlops:network"].update(interfaceEndpoints=["s3"]),
        "mlops:network.interfaceEndpoints:",
        "gateway endpoint",
        lambda c: c["mlops:network"].update(interfaceEndpoints=["sts"]),
    ),
    (
        "an endpoint the region does not offer",
        lambda c: (
            c["mlops:network"].update(interfaceEndpoints=["airflow"]),
            c["mlops:regions"][1].update(
                name="ap-east-2", availabilityZones=["ap-east-2a", "ap-east-2b"]
            ),
            c["mlops:alerts"].pop("topicArns"),
        ),
        "mlops:network.interfaceEndpoints[0]:",
        "not offered in ap-east-2",
        lambda c: c["mlops:network"].update(interfaceEndpoints=["logs"]),
    ),
    (
        "too many tags with the platform's",
        lambda c: c.update({"mlops:tags": {f"tag{i}": "x" for i in range(45)}}),
        "mlops:tags:",
        "AWS allows 50 per resource",
        lambda c: c.update({"mlops:tags": {f"tag{i}": "x" for i in range(43)}}),
    ),
    (
        "a parameter name longer than Ref:: takes",
        lambda c: (
            job(c)["command"].append("Ref::" + "p" * 129),
            job(c)["parameters"].update({"p" * 129: "1"}),
        ),
        f"mlops:jobs.jobs[0].parameters.{'p' * 129}:",
        "1-128 letters",
        lambda c: (
            job(c)["command"].pop(),
            job(c)["parameters"].pop("p" * 129),
            job(c)["command"].append("Ref::" + "p" * 128),
            job(c)["parameters"].update({"p" * 128: "1"}),
        ),
    ),
    (
        "a job folder longer than an S3 key",
        lambda c: job(c).update(writePrefix="p" * 1023),
        "mlops:jobs.jobs[0].writePrefix:",
        "at most 1024 bytes",
        lambda c: job(c).update(writePrefix="p" * 1022),
    ),
    (
        "an ingest folder longer than an S3 key in UTF-8",
        lambda c: c["mlops:ingest"].update(rawPrefix="é" * 512),
        "mlops:ingest.rawPrefix:",
        "1025 bytes",
        lambda c: c["mlops:ingest"].update(rawPrefix="é" * 511),
    ),
    (
        "a zone name too long for its replication role",
        lambda c: (
            c["mlops:regions"][0].update(
                name="ap-southeast-1", availabilityZones=["ap-southeast-1a", "ap-southeast-1b"]
            ),
            c["mlops:alerts"].pop("topicArns"),
            c.update({"mlops:dataLake": {"zones": ["raw", "curated", "models", "z" * 20]}}),
        ),
        "mlops:dataLake.zones[3]:",
        "IAM allows 64",
        lambda c: c["mlops:dataLake"].update(zones=["raw", "curated", "models", "z" * 19]),
    ),
    (
        "nat none without the endpoints the workloads need",
        nat_none,
        "mlops:network.interfaceEndpoints:",
        "missing ecr.api, ecr.dkr, logs",
        lambda c: c["mlops:network"].update(
            interfaceEndpoints=["ecr.api", "ecr.dkr", "logs", "monitoring"]
        ),
    ),
    (
        "nat none with an SSM secret and no ssm endpoint",
        lambda c: (
            nat_none(c),
            c["mlops:network"].update(
                interfaceEndpoints=["ecr.api", "ecr.dkr", "logs", "monitoring"]
            ),
            c["mlops:containers"].update(secrets={"API_TOKEN": ARN}),
        ),
        "mlops:network.interfaceEndpoints:",
        "missing ssm",
        lambda c: c["mlops:network"]["interfaceEndpoints"].append("ssm"),
    ),
]


CASE = {case[0]: case[1] for case in CASES}


@pytest.mark.parametrize(("case", "bad", "key", "text", "fix"), CASES, ids=[c[0] for c in CASES])
def test_bad_value_is_one_problem_at_its_key_and_the_fix_passes(
    stack_config, case: str, bad, key: str, text: str, fix
) -> None:
    config = stack_config("dev")
    bad(config)
    problems = problems_of(config)
    named = [p for p in problems if p.startswith(key)]
    assert len(named) == 1 and text in named[0], (case, problems)
    fix(config)
    assert problems_of(config) == [], (case, problems_of(config))


def test_real_stack_files_pass_the_new_checks(stack_config) -> None:
    for stack in ("dev", "prod"):
        assert problems_of(stack_config(stack)) == []


def test_components_share_the_checks() -> None:
    assert instance_type_problem("t3.large") is None
    assert "did you mean 't3.large'" in str(instance_type_problem("t3.lrage"))
    assert interface_endpoint_problems(["ecr.dkr", "ec2messages", "logs"], "eu-west-1") == []
    assert "gateway" in interface_endpoint_problems(["dynamodb"])[0]
    assert "'ecr.api'" in interface_endpoint_problems(["api.ecr"])[0]


def test_declared_tag_keys_cover_every_rendered_resource(stack_plan: Plan) -> None:
    """The tag limit counts the platform's keys from RESOURCE_TAG_KEY_SETS: every resource's
    own tags must fit one of them, or the count would not be the worst case."""
    for resource in stack_plan.resources:
        tags = resource["inputs"].get("tags")
        if isinstance(tags, list):  # Auto Scaling group tags carry the default tags too
            keys = {t["key"] for t in tags} - PLATFORM_TAG_KEYS
            keys -= set(json.loads(_stack_tags(stack_plan.stack)))
        elif isinstance(tags, dict):
            keys = set(tags)
        else:
            continue
        assert any(keys <= declared for declared in RESOURCE_TAG_KEY_SETS) or keys <= {"Name"}, (
            resource["urn"],
            sorted(keys),
        )


def _stack_tags(stack: str) -> str:
    import yaml

    text = (PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
    return json.dumps(sorted(yaml.safe_load(text)["config"].get("mlops:tags", {})))


def test_default_tags_are_the_declared_platform_keys(stack_config) -> None:
    from stacks.regional import default_tags

    cfg = parse_raw_config(flat(stack_config("dev")))
    assert set(default_tags(cfg, "eu-west-1", "dev")) - set(cfg.tags) == PLATFORM_TAG_KEYS


@pytest.mark.parametrize(
    ("bad", "key"),
    [
        (CASE["one AZ with the web service"], "mlops:network.azCount:"),
        (CASE["PORT as a secret"], "mlops:containers.secrets.PORT:"),
        (CASE["s3 as an interface endpoint"], "mlops:network.interfaceEndpoints:"),
        (
            CASE["nat none without the endpoints the workloads need"],
            "mlops:network.interfaceEndpoints:",
        ),
    ],
    ids=["one-az-web", "port-secret", "s3-interface", "nat-none"],
)
def test_plan_reports_the_key_and_exits_2(
    project_with, stack_config, capsys, bad, key: str
) -> None:
    """``plan``'s ``main`` in-process: its exit code and stderr, as the process gives them
    (the next test runs the process itself once)."""
    from stacks.cli import main

    config = stack_config("dev")
    bad(config)
    root = project_with(config)
    code = main(["plan", "test", "--project-dir", str(root)])
    stderr = capsys.readouterr().err
    assert code == 2, stderr
    assert key in stderr
    assert "Traceback" not in stderr


@pytest.mark.subprocess
def test_plan_as_a_process_reports_the_key_and_exits_2(project_with, stack_config) -> None:
    """``python -m stacks plan`` as a real process: exit code 2, the key on stderr, no
    traceback (the config-error path every in-process test of this in tests/ relies on)."""
    config = stack_config("dev")
    CASE["PORT as a secret"](config)
    root = project_with(config)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    result = subprocess.run(
        [sys.executable, "-m", "stacks", "plan", "test", "--project-dir", str(root)],
        cwd=PROJECT_DIR,
        env=env,
        text=True,
        capture_output=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert "mlops:containers.secrets.PORT:" in result.stderr
    assert "Traceback" not in result.stderr


#: Name limits of the types whose names the platform builds from config values: IAM
#: CreateRole RoleName / CreateInstanceProfile 64 / 128, ELB CreateLoadBalancer and
#: CreateTargetGroup Name 32, Lambda FunctionName 64, EventBridge rule Name 64, Scheduler
#: schedule Name 64, SQS QueueName 80, Batch job definition name 128, S3 bucket 63, CloudWatch
#: Logs log group 512 (each service's API reference).
NAME_LIMITS = {
    "aws:iam/role:Role": 64,
    "aws:iam/instanceProfile:InstanceProfile": 128,
    "aws:lb/loadBalancer:LoadBalancer": 32,
    "aws:lb/targetGroup:TargetGroup": 32,
    "aws:lambda/function:Function": 64,
    "aws:cloudwatch/eventRule:EventRule": 64,
    "aws:scheduler/schedule:Schedule": 64,
    "aws:sqs/queue:Queue": 80,
    "aws:batch/jobDefinition:JobDefinition": 128,
    "aws:s3/bucket:Bucket": 63,
    "aws:cloudwatch/logGroup:LogGroup": 512,
}


def _name_length(resource: dict[str, Any]) -> int:
    """The physical name's length as a deploy would make it: the given name, a name prefix
    plus the 26 characters the provider appends, or Pulumi's auto-name (``-`` + 7)."""
    inputs = resource["inputs"]
    given = inputs.get("bucket" if resource["type"] == "aws:s3/bucket:Bucket" else "name")
    if isinstance(given, str) and given:
        return len(given)
    prefix = inputs.get("namePrefix") or inputs.get("bucketPrefix")
    if isinstance(prefix, str) and prefix:
        return len(prefix) + 26
    return len(resource["name"]) + 8


def test_longest_names_the_config_allows_fit_aws_limits(project_with, stack_config) -> None:
    """Every name the platform builds stays within its type's limit with the longest values
    the config accepts (environment 16, pool, job and zone names at their longest for a
    14-character primary region), so name lengths need no check beyond the zone's."""
    config = stack_config("dev")
    config["mlops:environment"] = "e" * 16
    config["mlops:regions"][0].update(
        name="ap-southeast-1", availabilityZones=["ap-southeast-1a", "ap-southeast-1b"]
    )
    config["mlops:alerts"] = {"emails": ["ops@example.com"]}
    config["mlops:compute"]["pools"][0]["name"] = "p" * 20
    job(config)["name"] = "j" * 20
    config["mlops:training"]["scoringJobs"] = ["j" * 20]
    config["mlops:dataLake"] = {"zones": ["raw", "curated", "features", "models", "z" * 19]}
    assert problems_of(config) == []
    plan = render_stack("test", project_with(config))
    too_long = [
        (r["type"], r["name"], _name_length(r))
        for r in plan.resources
        if r["type"] in NAME_LIMITS and _name_length(r) > NAME_LIMITS[r["type"]]
    ]
    assert too_long == []
