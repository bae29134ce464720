"""Limits AWS enforces that a stack file can break, checked across sections before anything
is registered: tags per resource, S3 key lengths, names after the platform's prefixes, the AZs
a load balancer or a function in a VPC needs, interface endpoints a region offers, and what
workloads need to reach AWS without a NAT gateway (``mlops:network.nat: none``).

Each rule uses the components' own functions and constants where they publish one, so a limit
is written once. Like every cross-key check these work on the decoded raw values and name the
key to change as written in the stack file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stacks.config.base import NAMESPACE, az_count, count, section
from stacks.config.data_lake import lake_zones

# Tags -----------------------------------------------------------------------------------------

#: At most 50 user tags per resource; ``aws:`` tags do not count ("Tag restrictions":
#: "Maximum number of tags per resource - 50 ... Tags with this prefix do not count against
#: your tags-per-resource limit", https://docs.aws.amazon.com/batch/latest/userguide/
#: tag-restrictions.html, the same rule as every service's tagging page).
MAX_TAGS_PER_RESOURCE = 50
#: The provider default tags every resource carries besides ``mlops:tags``
#: (stacks/regional.py ``default_tags``; the platform's keys win over the user's).
PLATFORM_TAG_KEYS = frozenset({"environment", "region", "stack", "managed-by"})
#: The keys a component adds to one resource, for every kind of resource that has any
#: (tests/test_config_limits.py holds both rendered plans to this list): the worst case is the
#: set with the most keys that ``mlops:tags`` does not already name.
RESOURCE_TAG_KEY_SETS: tuple[frozenset[str], ...] = (
    frozenset({"Name", "listener"}),
    frozenset({"Name", "tier"}),
    frozenset({"Name", "pool"}),
    frozenset({"Name", "job", "model"}),
    frozenset({"Name", "purpose", "zone"}),
)

# S3 keys --------------------------------------------------------------------------------------

#: "The name for a key is a sequence of Unicode characters with UTF-8 encoding of up to 1,024
#: bytes long" ("Naming Amazon S3 objects", https://docs.aws.amazon.com/AmazonS3/latest/
#: userguide/object-keys.html).
S3_KEY_MAX_BYTES = 1024


def limits_cross_checks(data: Mapping[str, Any]) -> list[str]:
    """Every AWS limit the stack file's values break (see the module doc)."""
    return (
        _tag_problems(data)
        + _prefix_problems(data)
        + _az_problems(data)
        + _name_problems(data)
        + _endpoint_region_problems(data)
        + egress_problems(data)
    )


def _tag_problems(data: Mapping[str, Any]) -> list[str]:
    tags = data.get("tags")
    if not isinstance(tags, dict):
        return []
    user = {k for k in tags if isinstance(k, str) and not k.lower().startswith("aws:")}
    worst_keys = max(
        (PLATFORM_TAG_KEYS | keys for keys in RESOURCE_TAG_KEY_SETS),
        key=lambda platform: len(user | platform),
    )
    worst = len(user | worst_keys)
    if worst <= MAX_TAGS_PER_RESOURCE:
        return []
    return [
        f"{NAMESPACE}:tags: {len(user)} tags; with the platform's own "
        f"({', '.join(sorted(worst_keys))}) some resources would carry {worst}, and AWS "
        f"allows {MAX_TAGS_PER_RESOURCE} per resource; remove {worst - MAX_TAGS_PER_RESOURCE}"
    ]


def prefix_problem(prefix: Any) -> str | None:
    """None when objects fit under ``prefix`` (stored with one trailing ``/``, as the
    components store it) within S3's key length; else why not."""
    if not isinstance(prefix, str):
        return None
    stored = prefix.strip("/") + "/"
    size = len(stored.encode("utf-8"))
    if size < S3_KEY_MAX_BYTES:
        return None
    return (
        f"{size} bytes of UTF-8 as a folder ('<prefix>/'); an S3 key, folder and object name "
        f"together, has at most {S3_KEY_MAX_BYTES} bytes"
    )


def _prefix_problems(data: Mapping[str, Any]) -> list[str]:
    """Folders under which the platform's workloads read or write objects."""
    found: list[tuple[str, Any]] = []
    ingest = section(data, "ingest")
    if ingest is not None:
        found.append((f"{NAMESPACE}:ingest.rawPrefix", ingest.get("rawPrefix")))
    jobs = section(data, "jobs")
    items = jobs.get("jobs") if jobs is not None else None
    for i, job in enumerate(items if isinstance(items, list) else []):
        if isinstance(job, dict):
            for key in ("readPrefix", "writePrefix", "rawPrefix"):
                found.append((f"{NAMESPACE}:jobs.jobs[{i}].{key}", job.get(key)))
    training = section(data, "training")
    if training is not None:
        found.append((f"{NAMESPACE}:training.dataPrefix", training.get("dataPrefix")))
        drift = training.get("drift")
        if isinstance(drift, dict):
            found.append((f"{NAMESPACE}:training.drift.prefix", drift.get("prefix")))
    return [f"{key}: {problem}" for key, value in found if (problem := prefix_problem(value))]


# AZs ------------------------------------------------------------------------------------------


def _az_problems(data: Mapping[str, Any]) -> list[str]:
    """The web service's load balancer and a function in a VPC need two AZs."""
    from components.containers.validators import load_balancer_az_problem
    from components.serverless.args import vpc_az_count_problem

    azs = count(az_count(data))
    if azs is None or azs < 1:
        return []  # reported at mlops:network.azCount
    problems = []
    web = section(data, "containers")
    if web is not None and web.get("enabled", True) is not False:
        problem = load_balancer_az_problem(azs)
        if problem:
            problems.append(
                f"{NAMESPACE}:network.azCount: the web service ({NAMESPACE}:containers): "
                f"{problem}; raise azCount to 2 or set {NAMESPACE}:containers.enabled to false"
            )
    ingest = section(data, "ingest")
    if ingest is not None and ingest.get("enabled", True) is not False:
        if ingest.get("inVpc") is True:
            problem = vpc_az_count_problem(azs)
            if problem:
                problems.append(
                    f"{NAMESPACE}:ingest.inVpc: {problem}, but {NAMESPACE}:network.azCount is "
                    f"{azs}; raise azCount to 2 or set inVpc to false"
                )
    return problems


# Names ----------------------------------------------------------------------------------------


def _name_problems(data: Mapping[str, Any]) -> list[str]:
    """Names the platform builds from config values, within AWS's limits: the primary
    region's lake replication role per zone (``<region>-lake-replication-<zone>-role-<7>``,
    stacks/regional.py ``DataLake(f"{name}-lake")``, ``DataLake.replicate_to`` and
    ``LakeReplication``'s role per zone)."""
    from components.iam import role_name_problem

    regions = data.get("regions")
    if not (isinstance(regions, list) and len(regions) >= 2 and isinstance(regions[0], dict)):
        return []
    primary = regions[0].get("name")
    zones = lake_zones(data)
    if not isinstance(primary, str) or not isinstance(zones, list):
        return []
    problems = []
    for i, zone in enumerate(zones):
        if not isinstance(zone, str):
            continue
        problem = role_name_problem(f"{primary}-lake-replication-{zone}")
        if problem:
            problems.append(
                f"{NAMESPACE}:dataLake.zones[{i}]: {zone!r} is too long for the primary region "
                f"{primary}: the zone's replication role: {problem}; use a shorter zone name"
            )
    return problems


# Interface endpoints ---------------------------------------------------------------------------


def _interface_endpoints(data: Mapping[str, Any]) -> list[str] | None:
    network = section(data, "network")
    names = network.get("interfaceEndpoints", []) if network is not None else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return None
    return names


def _endpoint_region_problems(data: Mapping[str, Any]) -> list[str]:
    """Each interface endpoint is offered in every region (botocore's endpoint data)."""
    from components.endpoints import interface_endpoint_problem, offered_in

    names = _interface_endpoints(data)
    regions = data.get("regions")
    if not names or not isinstance(regions, list):
        return []
    problems = []
    for j, name in enumerate(names):
        if interface_endpoint_problem(name):
            continue  # reported at the key itself
        missing = [
            r["name"]
            for r in regions
            if isinstance(r, dict)
            and isinstance(r.get("name"), str)
            and offered_in(name, r["name"]) is False
        ]
        if missing:
            problems.append(
                f"{NAMESPACE}:network.interfaceEndpoints[{j}]: {name!r} is not offered in "
                f"{', '.join(missing)} (botocore's endpoint data)"
            )
    return problems


# Egress without NAT ----------------------------------------------------------------------------

#: What a Fargate task (web service, Batch job) needs without NAT: "For container images
#: hosted with Amazon ECR, you need the following endpoints: com.amazonaws.region.ecr.dkr,
#: com.amazonaws.region.ecr.api, Amazon S3 gateway endpoint" (layers come from S3, through
#: the gateway endpoint the network always has), and secrets referenced from Secrets Manager
#: or Parameter Store need those services' endpoints ("Migrating to Linux platform version
#: 1.4.0 on Amazon ECS", https://docs.aws.amazon.com/AmazonECS/latest/developerguide/
#: platform-version-migration.html); "If your Amazon VPC doesn't have an internet gateway and
#: your tasks use the awslogs log driver ..., you must create an interface VPC endpoint for
#: CloudWatch Logs" (https://docs.aws.amazon.com/cloud-map/latest/dg/
#: vpc-interface-endpoints.html, "Considerations"); Batch on Fargate needs the same ("Jobs
#: using Fargate resources ... you might need interface VPC endpoints for AWS Batch, Amazon
#: ECR, Secrets Manager, or Amazon CloudWatch Logs", https://docs.aws.amazon.com/batch/latest/
#: userguide/vpc-endpoint-considerations.html; the platform submits runs from EventBridge,
#: outside the VPC, so no batch endpoint).
FARGATE_ENDPOINTS = ("ecr.api", "ecr.dkr", "logs")
#: The training loop's drift job publishes its scores as CloudWatch metrics (PutMetricData,
#: services/training; endpoint ``monitoring``).
TRAINING_ENDPOINTS = ("monitoring",)
#: Instance pools: SSM Agent talks to ssm, ec2messages and ssmmessages, the last "required to
#: create and delete session channels with the Session Manager service" ("Reference:
#: ec2messages, ssmmessages, and other API operations", https://docs.aws.amazon.com/
#: systems-manager/latest/userguide/systems-manager-setting-up-messageAPIs.html); the
#: CloudWatch agent (components/compute/cloudwatch_agent.py) sends logs and metrics (logs,
#: monitoring).
POOL_ENDPOINTS = ("ssm", "ssmmessages", "ec2messages", "logs", "monitoring")


def _secret_endpoints(web: Mapping[str, Any]) -> list[str]:
    """ECS reads the web service's secrets from SSM or Secrets Manager at task start."""
    secrets = web.get("secrets")
    needed = []
    for arn in secrets.values() if isinstance(secrets, dict) else ():
        if isinstance(arn, str) and ":ssm:" in arn:
            needed.append("ssm")
        elif isinstance(arn, str) and ":secretsmanager:" in arn:
            needed.append("secretsmanager")
    return needed


def egress_needs(data: Mapping[str, Any]) -> dict[str, list[str]]:
    """Interface endpoints each workload of the stack needs when there is no NAT gateway
    (what needs them -> endpoint names)."""
    needs: dict[str, list[str]] = {}
    web = section(data, "containers")
    if web is not None and web.get("enabled", True) is not False:
        needs[f"the web service ({NAMESPACE}:containers)"] = [
            *FARGATE_ENDPOINTS,
            *_secret_endpoints(web),
        ]
    jobs = section(data, "jobs")
    if jobs is not None and isinstance(jobs.get("jobs"), list) and jobs["jobs"]:
        needs[f"the jobs ({NAMESPACE}:jobs)"] = list(FARGATE_ENDPOINTS)
    training = section(data, "training")
    if training is None or training.get("enabled", True) is not False:
        needs[f"continuous training ({NAMESPACE}:training)"] = [
            *FARGATE_ENDPOINTS,
            *TRAINING_ENDPOINTS,
        ]
    compute = section(data, "compute")
    if compute is not None and compute.get("enabled") is True:
        needs[f"the instance pools ({NAMESPACE}:compute)"] = list(POOL_ENDPOINTS)
    return needs


def egress_problems(data: Mapping[str, Any]) -> list[str]:
    """With ``nat: none`` the private subnets reach AWS only through endpoints: every
    endpoint a workload needs is listed in ``mlops:network.interfaceEndpoints``."""
    network = section(data, "network")
    if network is None or network.get("nat") != "none":
        return []
    listed = _interface_endpoints(data)
    if listed is None:
        return []  # reported at the key itself
    problems = []
    missing: dict[str, list[str]] = {}  # endpoint -> workloads that need it
    for workload, needed in egress_needs(data).items():
        for name in dict.fromkeys(needed):
            if name not in listed:
                missing.setdefault(name, []).append(workload)
    if missing:
        needs = "; ".join(f"{name} for {', '.join(who)}" for name, who in missing.items())
        problems.append(
            f"{NAMESPACE}:network.interfaceEndpoints: missing {', '.join(missing)}: with "
            f"{NAMESPACE}:network.nat: none the private subnets reach AWS (images, logs, "
            f"metrics, sessions) only through interface endpoints ({needs}); add them or use a "
            "NAT gateway"
        )
    web = section(data, "containers")
    image = web.get("imageUri") if web is not None else None
    if isinstance(image, str) and ".dkr.ecr." not in image and web is not None:
        if web.get("enabled", True) is not False:
            problems.append(
                f"{NAMESPACE}:containers.imageUri: {image!r} is not in ECR; without a NAT "
                f"gateway ({NAMESPACE}:network.nat: none) it cannot be pulled"
            )
    return problems
