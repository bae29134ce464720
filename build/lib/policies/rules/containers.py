"""Container rules: ECR repositories, ECS clusters, services and task definitions, and the
load balancers in front of them (listeners, TLS, access logs, deletion protection)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from components.baseline import looks_like_secret
from policies.model import (
    SECRET,
    Resource,
    Stack,
    as_list,
    as_mapping,
    is_true,
    is_unknown,
    present,
)
from policies.rules.helpers import children, is_protected_stack, quote
from policies.rules.registry import Finding, rule
from policies.rules.types import (
    ECR_LIFECYCLE_POLICY,
    ECR_REPOSITORY,
    ECS_CLUSTER,
    ECS_SERVICE,
    ECS_TASK_DEFINITION,
    LISTENERS,
    LOAD_BALANCERS,
)

# ---------------------------------------------------------------------------------------------
# ECR


@rule("ecr-scan-on-push", "ECR repositories scan images on push.")
def ecr_scan_on_push(stack: Stack) -> Iterable[Finding]:
    """`imageScanningConfiguration.scanOnPush` true."""
    for repo in stack.of(ECR_REPOSITORY):
        scan = repo.get("imageScanningConfiguration", "scanOnPush")
        if not is_unknown(scan) and not is_true(scan):
            yield (
                repo,
                f"imageScanningConfiguration.scanOnPush is {quote(scan)}; expected true",
                "Set image_scanning_configuration={'scan_on_push': True}.",
            )


@rule("ecr-immutable-tags", "ECR repositories have immutable tags.")
def ecr_immutable_tags(stack: Stack) -> Iterable[Finding]:
    """`imageTagMutability` IMMUTABLE."""
    for repo in stack.of(ECR_REPOSITORY):
        mutability = repo.props.get("imageTagMutability")
        if not is_unknown(mutability) and mutability != "IMMUTABLE":
            yield (
                repo,
                f"imageTagMutability is {quote(mutability)}; expected 'IMMUTABLE'",
                "Set image_tag_mutability='IMMUTABLE' and tag images by digest/commit.",
            )


@rule("ecr-lifecycle-policy", "ECR repositories have a lifecycle policy.")
def ecr_lifecycle_policy(stack: Stack) -> Iterable[Finding]:
    """A LifecyclePolicy whose `repository` is the repository."""
    for repo in stack.of(ECR_REPOSITORY):
        if not children(stack, repo, (ECR_LIFECYCLE_POLICY,), "repository"):
            yield (
                repo,
                "no aws:ecr/lifecyclePolicy:LifecyclePolicy refers to this repository",
                "Create aws.ecr.LifecyclePolicy(repository=repo.name, policy=...) expiring "
                "untagged and old images.",
            )


@rule("ecr-kms", "ECR repositories are encrypted with a KMS key.")
def ecr_kms(stack: Stack) -> Iterable[Finding]:
    """`encryptionConfigurations[0].encryptionType` KMS with `kmsKey`."""
    for repo in stack.of(ECR_REPOSITORY):
        enc = repo.get("encryptionConfigurations", 0)
        if is_unknown(enc) or is_unknown(repo.props.get("encryptionConfigurations")):
            continue
        kind, key = as_mapping(enc).get("encryptionType"), as_mapping(enc).get("kmsKey")
        if is_unknown(kind):
            continue
        if kind != "KMS" or not present(key):
            yield (
                repo,
                f"encryptionConfigurations[0] is encryptionType {quote(kind)}, kmsKey "
                f"{quote(key)}; expected 'KMS' with the region's key",
                "Set encryption_configurations=[{'encryption_type': 'KMS', 'kms_key': key.arn}].",
            )


# ---------------------------------------------------------------------------------------------
# ECS


@rule("ecs-no-public-ip", "ECS services do not assign public IPs to tasks.")
def ecs_no_public_ip(stack: Stack) -> Iterable[Finding]:
    """`networkConfiguration.assignPublicIp` not true."""
    for svc in stack.of(ECS_SERVICE):
        if is_true(svc.get("networkConfiguration", "assignPublicIp")):
            yield (
                svc,
                "networkConfiguration.assignPublicIp is true; expected false",
                "Run tasks in private subnets with assign_public_ip=False.",
            )


@rule("ecs-platform-version", "Fargate services use platform version LATEST.")
def ecs_platform_version(stack: Stack) -> Iterable[Finding]:
    """`platformVersion` unset or "LATEST"."""
    for svc in stack.of(ECS_SERVICE):
        version = svc.props.get("platformVersion")
        if present(version) and not is_unknown(version) and version != "LATEST":
            yield (
                svc,
                f"platformVersion is {quote(version)}; expected 'LATEST' (or not set)",
                "Remove platform_version or set it to 'LATEST'.",
            )


@rule("ecs-container-insights", "ECS clusters have Container Insights enabled.")
def ecs_container_insights(stack: Stack) -> Iterable[Finding]:
    """A `settings` entry containerInsights = enabled|enhanced."""
    for cluster in stack.of(ECS_CLUSTER):
        settings = cluster.props.get("settings")
        if is_unknown(settings):
            continue
        values = [
            as_mapping(s).get("value")
            for s in as_list(settings)
            if as_mapping(s).get("name") == "containerInsights"
        ]
        if not any(v in ("enabled", "enhanced") or is_unknown(v) for v in values):
            found = quote(values[0] if values else None)
            yield (
                cluster,
                f"settings containerInsights is {found}; expected 'enabled' or 'enhanced'",
                "Set settings=[{'name': 'containerInsights', 'value': 'enhanced'}].",
            )


def _containers(task: Resource) -> list[Mapping[str, Any]] | None:
    """The task definition's container definitions, or None when they cannot be read."""
    raw = task.props.get("containerDefinitions")
    if isinstance(raw, list):
        return [c for c in raw if isinstance(c, Mapping)]
    if not isinstance(raw, str) or raw == SECRET:
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    return [c for c in parsed if isinstance(c, Mapping)] if isinstance(parsed, list) else None


def _container_findings(
    stack: Stack, check: Callable[[Mapping[str, Any]], str | None], fix: str
) -> Iterable[Finding]:
    """Apply `check` to every container of every task definition."""
    for task in stack.of(ECS_TASK_DEFINITION):
        for i, container in enumerate(_containers(task) or []):
            problem = check(container)
            if problem:
                name = container.get("name", f"#{i}")
                yield (task, f"containerDefinitions[{i}] ({name}): {problem}", fix)


@rule("ecs-not-privileged", "ECS containers are not privileged.")
def ecs_not_privileged(stack: Stack) -> Iterable[Finding]:
    """`privileged` not true in any container definition."""
    yield from _container_findings(
        stack,
        lambda c: "privileged is true; expected false" if is_true(c.get("privileged")) else None,
        "Remove privileged (Fargate rejects it; on EC2 it gives root on the host).",
    )


@rule("ecs-readonly-root", "ECS containers have a read-only root filesystem.")
def ecs_readonly_root(stack: Stack) -> Iterable[Finding]:
    """`readonlyRootFilesystem` true in every container definition."""
    yield from _container_findings(
        stack,
        lambda c: (
            None
            if is_true(c.get("readonlyRootFilesystem"))
            else f"readonlyRootFilesystem is {quote(c.get('readonlyRootFilesystem'))}; expected true"
        ),
        "Set readonlyRootFilesystem: true and mount writable paths as volumes (e.g. /tmp).",
    )


@rule("ecs-container-logging", "Every ECS container has a log configuration.")
def ecs_container_logging(stack: Stack) -> Iterable[Finding]:
    """`logConfiguration.logDriver` set in every container definition."""
    yield from _container_findings(
        stack,
        lambda c: (
            None
            if present(as_mapping(c.get("logConfiguration")).get("logDriver"))
            else "logConfiguration.logDriver is not set; expected 'awslogs' (or firelens)"
        ),
        "Add logConfiguration {logDriver: 'awslogs', options: {awslogs-group, awslogs-region, "
        "awslogs-stream-prefix}}.",
    )


@rule("ecs-no-plaintext-secrets", "ECS containers take secrets from `secrets`, not `environment`.")
def ecs_no_plaintext_secrets(stack: Stack) -> Iterable[Finding]:
    """No `environment` entry whose name looks like a secret (see looks_like_secret)."""

    def check(container: Mapping[str, Any]) -> str | None:
        names = [as_mapping(e).get("name") for e in as_list(container.get("environment"))]
        bad = [n for n in names if isinstance(n, str) and looks_like_secret(n)]
        return (
            f"environment has {', '.join(bad)}, which look(s) like secrets in plain text"
            if bad
            else None
        )

    yield from _container_findings(
        stack,
        check,
        "Move the value to Secrets Manager or SSM Parameter Store and reference "
        "it under secrets [{name, valueFrom}].",
    )


# ---------------------------------------------------------------------------------------------
# Load balancers


def _lb_type(lb: Resource) -> Any:
    """The load balancer's type (application when not set)."""
    return lb.props.get("loadBalancerType") or "application"


def listener_lbs(stack: Stack, listener: Resource) -> list[Resource]:
    """The load balancers the listener belongs to."""
    return stack.refers(
        listener,
        "loadBalancerArn",
        listener.props.get("loadBalancerArn"),
        stack.of(*LOAD_BALANCERS),
    )


def _listener_protocol(stack: Stack, listener: Resource) -> Any:
    """The listener's protocol; HTTP when not set on an application load balancer."""
    protocol = listener.props.get("protocol")
    if protocol is None:
        lbs = listener_lbs(stack, listener)
        if not lbs or _lb_type(lbs[0]) == "application":
            return "HTTP"
    return protocol


def redirects_to_https(listener: Resource) -> bool:
    """True when every default action of the listener redirects to HTTPS."""
    actions = as_list(listener.props.get("defaultActions"))
    return bool(actions) and all(
        as_mapping(a).get("type") == "redirect"
        and as_mapping(as_mapping(a).get("redirect")).get("protocol") == "HTTPS"
        for a in actions
    )


def has_https_listener(stack: Stack, lb: Resource) -> bool:
    """True when any listener of `lb` uses HTTPS."""
    return any(
        _listener_protocol(stack, li) == "HTTPS" and lb in listener_lbs(stack, li)
        for li in stack.of(*LISTENERS)
    )


@rule("alb-drop-invalid-headers", "Application load balancers drop invalid header fields.")
def alb_drop_invalid_headers(stack: Stack) -> Iterable[Finding]:
    """`dropInvalidHeaderFields` true on application load balancers."""
    for lb in stack.of(*LOAD_BALANCERS):
        value = lb.props.get("dropInvalidHeaderFields")
        if _lb_type(lb) == "application" and not is_unknown(value) and not is_true(value):
            yield (
                lb,
                f"dropInvalidHeaderFields is {quote(value)}; expected true",
                "Set drop_invalid_header_fields=True.",
            )


@rule(
    "alb-desync-mitigation",
    "Application load balancers use desync mitigation 'defensive' or 'strictest'.",
)
def alb_desync_mitigation(stack: Stack) -> Iterable[Finding]:
    """`desyncMitigationMode` defensive (the AWS default when unset) or strictest."""
    for lb in stack.of(*LOAD_BALANCERS):
        mode = lb.props.get("desyncMitigationMode")
        if (
            _lb_type(lb) == "application"
            and mode is not None
            and not is_unknown(mode)
            and mode not in ("defensive", "strictest")
        ):
            yield (
                lb,
                f"desyncMitigationMode is {quote(mode)}; expected 'defensive' or 'strictest'",
                "Set desync_mitigation_mode='defensive' (or 'strictest').",
            )


@rule("lb-access-logs", "Load balancers write access logs to S3.")
def lb_access_logs(stack: Stack) -> Iterable[Finding]:
    """`accessLogs.enabled` true with `accessLogs.bucket` on application/network LBs."""
    for lb in stack.of(*LOAD_BALANCERS):
        if _lb_type(lb) not in ("application", "network"):
            continue
        enabled, bucket = lb.get("accessLogs", "enabled"), lb.get("accessLogs", "bucket")
        if is_unknown(enabled):
            continue
        if not is_true(enabled) or not present(bucket):
            yield (
                lb,
                f"accessLogs.enabled is {quote(enabled)}, "
                f"accessLogs.bucket {quote(bucket)}; expected enabled true with a bucket",
                "Set access_logs={'enabled': True, 'bucket': log_bucket.id, 'prefix': ...}.",
            )


@rule(
    "lb-deletion-protection", "Load balancers of a protected (prod) stack have deletion protection."
)
def lb_deletion_protection(stack: Stack) -> Iterable[Finding]:
    """In a protected stack, `enableDeletionProtection` true."""
    if not is_protected_stack(stack):
        return
    for lb in stack.of(*LOAD_BALANCERS):
        value = lb.props.get("enableDeletionProtection")
        if not is_unknown(value) and not is_true(value):
            yield (
                lb,
                f"enableDeletionProtection is {quote(value)} in a protected stack; expected true",
                "Set enable_deletion_protection=True when the stack is protected.",
            )


@rule("alb-listener-https", "Application load balancer listeners serve HTTPS, not plain HTTP.")
def alb_listener_https(stack: Stack) -> Iterable[Finding]:
    """Every listener with protocol HTTP is a violation; the redirect-only listener and the
    listener of a load balancer without certificate are recorded in EXCEPTIONS."""
    for listener in stack.of(*LISTENERS):
        if _listener_protocol(stack, listener) == "HTTP":
            yield (
                listener,
                f"protocol is 'HTTP' on port {quote(listener.props.get('port'))}; "
                "expected 'HTTPS' with a certificate",
                "Serve HTTPS (protocol='HTTPS', certificate_arn, a TLS 1.3 ssl_policy) and "
                "keep port 80 only as a redirect to HTTPS.",
            )


@rule(
    "alb-http-redirect",
    "When a load balancer has an HTTPS listener, its HTTP listeners redirect to HTTPS.",
)
def alb_http_redirect(stack: Stack) -> Iterable[Finding]:
    """HTTP listeners on a load balancer with an HTTPS listener only redirect to HTTPS."""
    for listener in stack.of(*LISTENERS):
        if _listener_protocol(stack, listener) != "HTTP":
            continue
        if any(has_https_listener(stack, lb) for lb in listener_lbs(stack, listener)):
            if not redirects_to_https(listener):
                yield (
                    listener,
                    "the load balancer has an HTTPS listener but this HTTP "
                    "listener's defaultActions do not all redirect to HTTPS",
                    "Set default_actions=[{'type': 'redirect', 'redirect': {'protocol': "
                    "'HTTPS', 'port': '443', 'status_code': 'HTTP_301'}}].",
                )


@rule("alb-tls13-policy", "HTTPS/TLS listeners use a TLS 1.3 security policy.")
def alb_tls13_policy(stack: Stack) -> Iterable[Finding]:
    """`sslPolicy` starts with ELBSecurityPolicy-TLS13- on HTTPS/TLS listeners."""
    for listener in stack.of(*LISTENERS):
        if _listener_protocol(stack, listener) not in ("HTTPS", "TLS"):
            continue
        policy = listener.props.get("sslPolicy")
        if not is_unknown(policy) and not (
            isinstance(policy, str) and policy.startswith("ELBSecurityPolicy-TLS13-")
        ):
            yield (
                listener,
                f"sslPolicy is {quote(policy)}; expected an ELBSecurityPolicy-TLS13-* policy",
                "Set ssl_policy='ELBSecurityPolicy-TLS13-1-2-2021-06'.",
            )
