"""The web service in both real stack files, and ``mlops:containers`` config errors.

Every region runs one ContainerService under its regional component and provider: dev small
and destroyable, prod highly available and protected; the image is built from
``services/forecast``; the plan passes the policy pack with only the recorded HTTP-listener
exception; bad ``mlops:containers`` values are reported by key.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

import pytest
from render_cache import (  # tests/render_cache.py
    DEV_CERTIFICATE,
    dev_with_certificate_and_waf,
    dev_without_service_or_jobs,
    relative_paths,
    remember,
    render_config,
    write_project,
)

from components.containers import (
    FARGATE_MEMORY,
    build_context_digest,
    built_image_tag,
    elb_log_delivery_principal,
)
from policies.check import check, load_plan
from stacks.config import ConfigError, PlatformConfig, load_stack_config, parse_raw_config
from stacks.offline import PROJECT_DIR, Plan, physical_name

SERVICE_COMPONENT = "mlops:containers:ContainerService"
LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
SERVICE = "aws:ecs/service:Service"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
TARGET = "aws:appautoscaling/target:Target"
ACCOUNT = "123456789012"


def config_of(plan: Plan) -> PlatformConfig:
    return load_stack_config(PROJECT_DIR, plan.stack)


def in_region(plan: Plan, region: str, typ: str) -> list[dict[str, Any]]:
    return [r for r in plan.in_region(region) if r["type"] == typ]


def one_in(plan: Plan, region: str, typ: str) -> dict[str, Any]:
    found = in_region(plan, region, typ)
    if typ == "aws:ecr/repository:Repository":  # the jobs' image repository is another one
        found = [r for r in found if f"${SERVICE_COMPONENT}$" in r["urn"]]
    assert len(found) == 1, (region, typ, [r["name"] for r in found])
    return found[0]


def ancestors(plan: Plan, resource: dict[str, Any]) -> list[str]:
    """URNs of the resource's parents, nearest first (the stack itself is not recorded)."""
    parents = {r["urn"]: r["parent"] for r in plan.resources}
    chain, parent = [], resource["parent"]
    while parent in parents:
        chain.append(parent)
        parent = parents[parent]
    return chain


def physical(resource: dict[str, Any]) -> str:
    return physical_name(resource["type"], resource["name"], resource["urn"], resource["inputs"])


# Both stacks ---------------------------------------------------------------------------------


def test_one_service_per_region_under_its_regional_component(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    services = stack_plan.of_type(SERVICE_COMPONENT)
    assert sorted(s["name"] for s in services) == sorted(f"{r.name}-web" for r in cfg.regions)
    regional = {r["name"]: r["urn"] for r in stack_plan.of_type("mlops:stacks:RegionalPlatform")}
    for component in services:
        region = component["name"][: -len("-web")]
        assert component["parent"] == regional[region]
        children = [r for r in stack_plan.resources if component["urn"] in ancestors(stack_plan, r)]
        assert len(children) > 30
        for child in children:
            if child["custom"]:
                assert child["region"] == region, child["urn"]


def test_tasks_run_in_the_private_subnets_and_the_load_balancer_in_the_public(
    stack_plan: Plan,
) -> None:
    cfg = config_of(stack_plan)
    for region in cfg.regions:
        tiers: dict[str, set[str]] = {}
        for subnet in in_region(stack_plan, region.name, "aws:ec2/subnet:Subnet"):
            tiers.setdefault(subnet["inputs"]["tags"]["tier"], set()).add(subnet["id"])
        service = one_in(stack_plan, region.name, SERVICE)["inputs"]
        assert set(service["networkConfiguration"]["subnets"]) == tiers["private"]
        assert service["networkConfiguration"]["assignPublicIp"] is False
        assert len(tiers["private"]) == cfg.network.az_count
        lb = one_in(stack_plan, region.name, LB)["inputs"]
        assert set(lb["subnets"]) == tiers["public"]
        vpc = one_in(stack_plan, region.name, "aws:ec2/vpc:Vpc")
        for group in in_region(stack_plan, region.name, "aws:ec2/securityGroup:SecurityGroup"):
            assert group["inputs"]["vpcId"] == vpc["id"]


def test_sizes_and_counts_follow_the_config(stack_plan: Plan) -> None:
    web = config_of(stack_plan).containers
    assert web is not None and web.enabled
    low, high = web.scaling_bounds
    for region in config_of(stack_plan).regions:
        task = one_in(stack_plan, region.name, TASK)["inputs"]
        assert (int(task["cpu"]), int(task["memory"])) == (web.cpu, web.memory)
        assert web.memory in FARGATE_MEMORY[web.cpu]
        assert task["family"] == f"mlops-{stack_plan.stack}-web"
        service = one_in(stack_plan, region.name, SERVICE)
        assert service["inputs"]["desiredCount"] == web.desired_count
        assert service["options"]["ignoreChanges"] == ["desiredCount"]
        target = one_in(stack_plan, region.name, TARGET)["inputs"]
        assert (target["minCapacity"], target["maxCapacity"]) == (low, high)
        (container,) = json.loads(task["containerDefinitions"])
        assert container["portMappings"][0]["containerPort"] == web.container_port
        assert web.health_check_path in container["healthCheck"]["command"][-1]
        tg = one_in(stack_plan, region.name, "aws:lb/targetGroup:TargetGroup")["inputs"]
        assert tg["healthCheck"]["path"] == web.health_check_path


def test_dev_is_small_and_destroyable(dev_plan: Plan) -> None:
    for region in config_of(dev_plan).regions:
        task = one_in(dev_plan, region.name, TASK)["inputs"]
        assert (task["cpu"], task["memory"]) == ("256", "512")
        assert one_in(dev_plan, region.name, SERVICE)["inputs"]["desiredCount"] == 1
        assert one_in(dev_plan, region.name, LB)["inputs"]["enableDeletionProtection"] is False
        repo = one_in(dev_plan, region.name, "aws:ecr/repository:Repository")
        assert repo["inputs"]["forceDelete"] is True and not repo["options"]["protect"]
        bucket = dev_plan.find("aws:s3/bucket:Bucket", f"{region.name}-web-alb-logs")
        assert bucket["inputs"]["forceDestroy"] is True and not bucket["options"]["protect"]


def test_prod_is_highly_available_and_protected(prod_plan: Plan) -> None:
    for region in config_of(prod_plan).regions:
        assert one_in(prod_plan, region.name, SERVICE)["inputs"]["desiredCount"] >= 2
        assert one_in(prod_plan, region.name, TARGET)["inputs"]["minCapacity"] >= 2
        task = one_in(prod_plan, region.name, TASK)["inputs"]
        assert (task["cpu"], task["memory"]) == ("1024", "2048")
        assert one_in(prod_plan, region.name, LB)["inputs"]["enableDeletionProtection"] is True
        repo = one_in(prod_plan, region.name, "aws:ecr/repository:Repository")
        assert repo["inputs"]["forceDelete"] is False
        for typ, name in [
            ("aws:ecr/repository:Repository", f"{region.name}-web-repo"),
            ("aws:cloudwatch/logGroup:LogGroup", f"{region.name}-web-logs"),
            ("aws:s3/bucket:Bucket", f"{region.name}-web-alb-logs"),
        ]:
            options = prod_plan.find(typ, name)["options"]
            assert options["protect"] and options["retainOnDelete"], name


def test_image_is_built_from_the_forecast_dockerfile(stack_plan: Plan) -> None:
    context = PROJECT_DIR / "services" / "forecast"
    assert (context / "Dockerfile").is_file()
    digest = build_context_digest(context)
    for region in config_of(stack_plan).regions:
        (image,) = [
            r
            for r in stack_plan.of_type("awsx:ecr:Image")
            if r["name"] == f"{region.name}-web-image"
        ]
        repo = one_in(stack_plan, region.name, "aws:ecr/repository:Repository")
        assert image["inputs"] == {
            "context": "services/forecast",
            "imageTag": built_image_tag(f"{region.name}-web", "linux/amd64", digest),
            "platform": "linux/amd64",
            "repositoryUrl": f"{ACCOUNT}.dkr.ecr.{region.name}.amazonaws.com/{repo['id']}",
        }
        (container,) = json.loads(
            one_in(stack_plan, region.name, TASK)["inputs"]["containerDefinitions"]
        )
        assert container["image"].startswith(image["inputs"]["repositoryUrl"] + "@sha256:")


def test_each_regions_build_has_a_resource_name_of_its_own(stack_plan: Plan) -> None:
    """awsx.ecr.Image registers its build as a child named after the tag; every region's
    image has the same parent type chain, so equal tags would be one URN registered twice
    and the real `pulumi up` would stop ("Duplicate resource URN")."""
    images = stack_plan.of_type("awsx:ecr:Image")  # the web service's and the jobs' images
    web = [i for i in images if f"${SERVICE_COMPONENT}$" in i["urn"]]
    assert len(web) == len(config_of(stack_plan).regions) >= 2
    child_urns = [
        f"{image['urn'].split('::')[2]}$docker-build:index:Image::{image['inputs']['imageTag']}"
        for image in images
    ]
    assert len(set(child_urns)) == len(child_urns)


def test_the_dockerfile_serves_what_the_service_expects() -> None:
    """The service's port and health path (8080, /health) are the ones the stacks configure."""
    dockerfile = (PROJECT_DIR / "services" / "forecast" / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^EXPOSE 8080$", dockerfile, re.M)
    assert "/health" in dockerfile
    for stack in ("dev", "prod"):
        web = load_stack_config(PROJECT_DIR, stack).containers
        assert web is not None and (web.container_port, web.health_check_path) == (8080, "/health")


def test_load_balancer_logs_go_to_a_bucket_logged_into_the_lakes_access_log_bucket(
    stack_plan: Plan,
) -> None:
    for region in config_of(stack_plan).regions:
        bucket = stack_plan.find("aws:s3/bucket:Bucket", f"{region.name}-web-alb-logs")
        lake_logs = stack_plan.find("aws:s3/bucket:Bucket", f"{region.name}-lake-access-logs")
        lb = one_in(stack_plan, region.name, LB)["inputs"]
        assert lb["accessLogs"]["bucket"] == bucket["id"] and lb["accessLogs"]["enabled"] is True
        (logging,) = [
            r
            for r in stack_plan.of_type("aws:s3/bucketLogging:BucketLogging")
            if r["inputs"]["bucket"] == bucket["id"]
        ]
        assert logging["inputs"]["targetBucket"] == lake_logs["id"]
        # ...and the lake's log bucket accepts them, from this bucket, under its prefix only.
        lake_policy = json.loads(
            stack_plan.find(
                "aws:s3/bucketPolicy:BucketPolicy", f"{region.name}-lake-access-logs-policy"
            )["inputs"]["policy"]
        )
        (accept,) = [s for s in lake_policy["Statement"] if s["Effect"] == "Allow"]
        assert (
            f"arn:aws:s3:::{lake_logs['id']}/{logging['inputs']['targetPrefix']}*"
            in accept["Resource"]
        )
        assert f"arn:aws:s3:::{bucket['id']}" in accept["Condition"]["ArnLike"]["aws:SourceArn"]
        policy = json.loads(
            stack_plan.find(
                "aws:s3/bucketPolicy:BucketPolicy", f"{region.name}-web-alb-logs-policy"
            )["inputs"]["policy"]
        )
        (delivery,) = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
        assert delivery["Resource"] == f"arn:aws:s3:::{bucket['id']}/alb/AWSLogs/{ACCOUNT}/*"
        # Only the region's log delivery may write (tests/test_containers_deploy.py).
        assert delivery["Principal"] == elb_log_delivery_principal(region.name, "aws")


def test_outputs_name_the_load_balancer_and_the_repository(stack_plan: Plan) -> None:
    for region in config_of(stack_plan).regions:
        out = stack_plan.outputs["regions"][region.name]["webService"]
        lb = one_in(stack_plan, region.name, LB)
        repo = one_in(stack_plan, region.name, "aws:ecr/repository:Repository")
        assert out["repositoryUrl"] == f"{ACCOUNT}.dkr.ecr.{region.name}.amazonaws.com/{repo['id']}"
        assert out["loadBalancerDnsName"].startswith(f"{physical(lb)}-")
        assert out["loadBalancerDnsName"].endswith(f".{region.name}.elb.amazonaws.com")


def test_alarms_notify_the_regions_alert_topic(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    for region in cfg.regions:
        # A persistent topic (mlops:alerts.topicArns) when configured, else the stack's own.
        persistent = cfg.alerts.topic_arn(region.name)
        topic_arn = persistent or (
            f"arn:aws:sns:{region.name}:{ACCOUNT}:"
            + one_in(stack_plan, region.name, "aws:sns/topic:Topic")["id"]
        )
        alarms = [
            a
            for a in in_region(stack_plan, region.name, "aws:cloudwatch/metricAlarm:MetricAlarm")
            if a["name"].startswith(f"{region.name}-web-")
        ]
        assert sorted(a["name"][len(region.name) + 5 :] for a in alarms) == [
            "cpu-high",
            "elb-5xx",
            "target-5xx",
            "unhealthy-hosts",
        ]
        for alarm in alarms:
            assert alarm["inputs"]["alarmActions"] == [topic_arn]


def test_without_certificates_each_region_serves_plain_http_as_a_recorded_exception(
    dev_plan: Plan,
) -> None:
    # Dev has neither mlops:dns nor certificates; prod must have one (tests/test_entry.py).
    stack_plan = dev_plan
    result = check(load_plan(stack_plan.to_dict()))
    own = [v for v in result.violations if SERVICE_COMPONENT in v.urn]
    assert own == []
    waived = sorted(
        e.violation.urn.rsplit("::", 1)[-1]
        for e in result.exemptions
        if SERVICE_COMPONENT in e.violation.urn and e.violation.rule == "alb-listener-https"
    )
    assert waived == sorted(f"{r.name}-web-http" for r in config_of(stack_plan).regions)
    for listener in stack_plan.of_type(LISTENER):
        assert listener["inputs"]["tags"]["listener"] == "http-without-certificate"


@pytest.fixture(scope="module")
def certificate_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Plan, bool, int]:
    """dev with a certificate for eu-west-1 (and the WAF test_entry_waf checks), planned by
    ``python -m stacks plan --out`` (its ``main``, in-process) with a ``docker`` first on
    PATH that records any call: (the plan written, whether docker was called, exit code).

    prod has mlops:dns, which excludes certificateArns. The plan is kept for test_entry_waf.
    """
    from stacks.cli import main

    config = dev_with_certificate_and_waf()
    folder = tmp_path_factory.mktemp("certificate")
    shim, calls = folder / "bin", folder / "docker-calls"
    shim.mkdir()
    (shim / "docker").write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit 1\n')
    (shim / "docker").chmod(0o755)
    out = folder / "plan.json"
    project = write_project(config, folder / "project")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{shim}{os.pathsep}{os.environ.get('PATH', '')}")
        code = main(["plan", "test", "--project-dir", str(project), "--out", str(out)])
    plan = relative_paths(Plan.from_json(out.read_text(encoding="utf-8")))
    if code == 0:
        remember(config, tmp_path_factory, plan)
    return plan, calls.exists(), code


def test_a_region_with_a_certificate_serves_https_and_redirects(
    certificate_run: tuple[Plan, bool, int],
) -> None:
    plan, _, _ = certificate_run
    cert = DEV_CERTIFICATE
    assert cert.split(":")[4] == ACCOUNT
    https = plan.find(LISTENER, "eu-west-1-web-https")["inputs"]
    assert (https["protocol"], https["port"], https["certificateArn"]) == ("HTTPS", 443, cert)
    assert https["sslPolicy"].startswith("ELBSecurityPolicy-TLS13-")
    redirect = plan.find(LISTENER, "eu-west-1-web-http")["inputs"]
    assert redirect["defaultActions"][0]["redirect"]["protocol"] == "HTTPS"
    # The other region has no certificate of its own and keeps plain HTTP.
    assert (
        plan.find(LISTENER, "eu-central-1-web-http")["inputs"]["defaultActions"][0]["type"]
        == "forward"
    )
    assert [r for r in plan.of_type(LISTENER) if r["name"] == "eu-central-1-web-https"] == []
    result = check(load_plan(plan.to_dict()))
    assert result.mandatory == ()


def test_the_offline_plan_never_runs_docker(certificate_run: tuple[Plan, bool, int]) -> None:
    """``python -m stacks plan`` registers the awsx image; it builds nothing (PR checks have
    no Docker daemon). A ``docker`` first on PATH records any call (``certificate_run``)."""
    plan, docker_called, code = certificate_run
    assert code == 0
    assert not docker_called
    images = [r for r in plan.resources if r["type"] == "awsx:ecr:Image"]
    assert len([i for i in images if f"${SERVICE_COMPONENT}$" in i["urn"]]) == 2


def test_switched_off_service_is_not_built(tmp_path_factory) -> None:
    # dev with mlops:containers.enabled false (and changes other files check: render_cache).
    config = dev_without_service_or_jobs()
    assert config["mlops:containers"]["enabled"] is False
    plan = render_config(config, tmp_path_factory)
    assert plan.of_type(SERVICE_COMPONENT) == []
    assert plan.of_type(LB) == []
    assert all(out["webService"] is None for out in plan.outputs["regions"].values())


# Config ----------------------------------------------------------------------------------------


def flat(config: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def container_problems(
    stack_config: Callable[[str], dict[str, Any]], stack: str, **changes: Any
) -> list[str]:
    config = stack_config(stack)
    config["mlops:containers"].update(changes)
    with pytest.raises(ConfigError) as info:
        parse_raw_config(flat(config))
    return info.value.problems


def test_defaults_without_the_key_and_inside_it(stack_config) -> None:
    config = stack_config("dev")
    del config["mlops:containers"]
    assert parse_raw_config(flat(config)).containers is None
    config["mlops:containers"] = {}
    web = parse_raw_config(flat(config)).containers
    assert web is not None and web.enabled
    assert (web.cpu, web.memory, web.desired_count, web.scaling_bounds) == (256, 512, 1, (1, 2))
    assert web.image_build is not None and web.image_build.context == "services/forecast"
    config["mlops:containers"] = {"imageUri": "nginx:1.27", "desiredCount": 0}
    web = parse_raw_config(flat(config)).containers
    assert web is not None and web.image_build is None and web.scaling_bounds == (0, 1)


@pytest.mark.parametrize(
    "stack, changes, expected",
    [
        (
            "dev",
            {"cpu": 256, "memory": 4096},
            "mlops:containers.memory: Fargate does not support memory 4096 MiB with cpu 256; use 512, 1024, 2048",
        ),
        (
            "dev",
            {"cpu": 1024, "memory": 1024},
            "mlops:containers.memory: Fargate does not support memory 1024 MiB with cpu 1024",
        ),
        ("dev", {"cpu": 300}, "mlops:containers.cpu: 300 is not a Fargate task CPU value"),
        ("dev", {"desiredCount": -1}, "mlops:containers.desiredCount: -1 is below zero"),
        ("dev", {"minCount": -1}, "mlops:containers.minCount: -1 is below zero"),
        (
            "prod",
            {"desiredCount": 1, "minCount": 1},
            "mlops:containers.desiredCount: 1 task(s) in production; run at least 2",
        ),
        (
            "prod",
            {"minCount": 1},
            "mlops:containers.minCount: 1 task(s) in production; run at least 2",
        ),
        (
            "dev",
            {"minCount": 3, "maxCount": 2},
            "mlops:containers.minCount: 3 is above mlops:containers.maxCount (2)",
        ),
        (
            "dev",
            {"desiredCount": 5},
            "mlops:containers.desiredCount: 5 is outside the autoscaling range 1..2",
        ),
        (
            "dev",
            {"imageUri": "nginx:1.27", "build": {"context": "services/forecast"}},
            "mlops:containers.build: Only one of [imageUri] and [build] can be given",
        ),
        (
            "dev",
            {"imageUri": "Not An Image"},
            "mlops:containers.imageUri: 'Not An Image' is not an image reference",
        ),
        (
            "dev",
            {"build": {"context": "../elsewhere"}},
            "mlops:containers.build.context: '../elsewhere' must be a path inside the project",
        ),
        (
            "dev",
            {"build": {"context": "services/nope"}},
            "mlops:containers.build.context: 'services/nope' is not a directory of the project",
        ),
        (
            "dev",
            {"build": {"context": "services"}},
            "mlops:containers.build.context: 'services' has no Dockerfile",
        ),
        (
            "dev",
            {
                "build": {
                    "context": "services/forecast",
                    "dockerfile": "services/forecast/Missing.Dockerfile",
                }
            },
            "mlops:containers.build.dockerfile: 'services/forecast/Missing.Dockerfile' is not a file of the project",
        ),
        (
            "dev",
            {"environment": {"API_TOKEN": "abc"}},
            "mlops:containers.environment: 'API_TOKEN' looks like a secret",
        ),
        (
            "dev",
            {"secrets": {"DB_PASSWORD": "hunter2"}},
            "mlops:containers.secrets: DB_PASSWORD: 'hunter2' is not an SSM parameter ARN",
        ),
        (
            "dev",
            {"healthCheckPath": "health"},
            "mlops:containers.healthCheckPath: 'health' must be a URL path",
        ),
        ("dev", {"containerPort": 0}, "mlops:containers.containerPort: 0 is not a port"),
        (
            "dev",
            {"certificateArns": {"us-east-1": f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/abc"}},
            "mlops:containers.certificateArns.us-east-1: 'us-east-1' is not a region of mlops:regions",
        ),
        (
            "dev",
            {"certificateArns": {"eu-west-1": f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/abc"}},
            "mlops:containers.certificateArns.eu-west-1: the certificate is in us-east-1",
        ),
        (
            "dev",
            {"certificateArns": {"eu-west-1": "not-an-arn"}},
            "mlops:containers.certificateArns: 'not-an-arn' is not an ACM certificate ARN",
        ),
        (
            "dev",
            {"deploymentMinimumHealthyPercent": 100, "deploymentMaximumPercent": 100},
            "mlops:containers.deploymentMaximumPercent: 100 must be above mlops:containers.deploymentMinimumHealthyPercent (100)",
        ),
        ("dev", {"cpuArchitecture": "ARM"}, "mlops:containers.cpuArchitecture:"),
        (
            "dev",
            {"desiredcount": 1},
            "mlops:containers.desiredcount: unknown key; did you mean mlops:containers.desiredCount?",
        ),
    ],
)
def test_bad_container_config_names_the_key(
    stack_config, stack: str, changes: dict[str, Any], expected: str
) -> None:
    problems = container_problems(stack_config, stack, **changes)
    assert any(p.startswith(expected) for p in problems), problems


def test_every_container_problem_is_reported_at_once(stack_config) -> None:
    problems = container_problems(
        stack_config, "prod", memory=1024, desiredCount=1, environment={"SECRET": "x"}
    )
    keys = {p.split(": ", 1)[0] for p in problems}
    assert {
        "mlops:containers.memory",
        "mlops:containers.desiredCount",
        "mlops:containers.environment",
    } <= keys


def test_a_switched_off_service_in_prod_may_run_fewer_tasks(stack_config) -> None:
    config = stack_config("prod")
    config["mlops:containers"].update(enabled=False, desiredCount=0, minCount=0)
    web = parse_raw_config(flat(config)).containers
    assert web is not None and not web.enabled


def test_stack_files_keep_prod_at_two_tasks_or_more() -> None:
    web = load_stack_config(PROJECT_DIR, "prod").containers
    assert web is not None and web.desired_count >= 2 and web.scaling_bounds[0] >= 2
