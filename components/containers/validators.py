"""Pure checks of the container service's inputs: Fargate sizes, image references, secret and
certificate ARNs, environment variable names and health-check paths.

Each ``*_problem`` function returns None when its value is acceptable, otherwise what is
wrong and what would be right; the stack configuration (``stacks/config.py``) and
:class:`~components.containers.ContainerServiceArgs` share them, so a mistake reads the same
wherever it is caught.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from components.baseline import looks_like_secret

# Fargate sizes -------------------------------------------------------------------------------

#: Task memory (MiB) Fargate supports for each task CPU value (CPU units; 1024 = 1 vCPU).
FARGATE_MEMORY: Mapping[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

CPU_ARCHITECTURES = ("X86_64", "ARM64")
#: The Docker platform an image must be built for to run on each Fargate architecture.
DOCKER_PLATFORMS: Mapping[str, str] = {"X86_64": "linux/amd64", "ARM64": "linux/arm64"}
CONTAINER_INSIGHTS = ("enabled", "enhanced")
DEFAULT_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
#: The load balancer's health check times out after this many seconds.
HEALTH_CHECK_TIMEOUT_SECONDS = 5

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_CONTAINER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEALTH_PATH_RE = re.compile(r"^/[A-Za-z0-9\-._~%!$&()*+,;=:@/]{0,1023}$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REPOSITORY_PATH_RE = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_REGISTRY_RE = re.compile(r"^[A-Za-z0-9.-]+(?::[0-9]{1,5})?$")
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_SSM_PARAMETER_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter/[A-Za-z0-9_.\-/]+$"
)
_SECRET_ARN_RE = re.compile(
    r"^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+)"
    r"(?::[^:]*:[^:]*:[^:]*)?$"
)
_CERTIFICATE_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$"
)
#: An S3 bucket name (an existing bucket given by name).
_BUCKET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def fargate_size_problem(cpu: int, memory: int) -> str | None:
    """None when Fargate runs tasks of ``cpu`` units and ``memory`` MiB; else what is wrong
    and which values would be right."""
    if cpu not in FARGATE_MEMORY:
        return f"cpu {cpu} is not a Fargate task size; use one of {sorted(FARGATE_MEMORY)}"
    allowed = FARGATE_MEMORY[cpu]
    if memory not in allowed:
        step = allowed[1] - allowed[0]
        listed = (
            ", ".join(map(str, allowed))
            if len(allowed) <= 4
            else f"{allowed[0]} to {allowed[-1]} in steps of {step}"
        )
        return f"Fargate does not support memory {memory} MiB with cpu {cpu}; use {listed}"
    return None


# Image references ----------------------------------------------------------------------------


def image_uri_problem(uri: str) -> str | None:
    """None when ``uri`` is a container image reference (``registry/repository[:tag][@digest]``
    or a Docker Hub name); else what is wrong."""
    rest, _, digest = uri.partition("@")
    if digest and not _DIGEST_RE.match(digest):
        return f"{uri!r}: the digest must look like sha256:<64 hex digits>"
    path, tag = rest, ""
    if ":" in rest.rsplit("/", 1)[-1]:
        path, tag = rest.rsplit(":", 1)
        if not _TAG_RE.match(tag):
            return f"{uri!r}: tag {tag!r} is not a valid image tag"
    parts = path.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        if not _REGISTRY_RE.match(parts[0]):
            return f"{uri!r}: {parts[0]!r} is not a registry host"
        parts = parts[1:]
    if not parts or not _REPOSITORY_PATH_RE.match("/".join(parts)):
        return (
            f"{uri!r} is not an image reference; write it like "
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/forecast@sha256:<digest>"
        )
    return None


def secret_grant_resource(arn: str) -> tuple[str, str] | None:
    """``(IAM action, resource ARN)`` that lets the execution role read secret ``arn``, or
    None when ``arn`` is neither an SSM parameter nor a Secrets Manager secret ARN.

    A Secrets Manager reference may select a JSON key and version
    (``...:secret:name-AbCdEf:key:stage:version``); the grant names the secret itself.
    """
    if _SSM_PARAMETER_ARN_RE.match(arn):
        return "ssm:GetParameters", arn
    match = _SECRET_ARN_RE.match(arn)
    if match:
        return "secretsmanager:GetSecretValue", match.group(1)
    return None


def secret_arn_problem(arn: Any) -> str | None:
    """None when ``arn`` names an SSM parameter or a Secrets Manager secret; else why not."""
    if isinstance(arn, str) and secret_grant_resource(arn) is not None:
        return None
    return (
        f"{arn!r} is not an SSM parameter ARN (arn:aws:ssm:<region>:<account>:parameter/<name>) "
        "or a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)"
    )


#: An application load balancer needs subnets in at least two AZs (CreateLoadBalancer,
#: ``Subnets``: "[Application Load Balancers] You must specify subnets from at least two
#: Availability Zones", https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/
#: API_CreateLoadBalancer.html).
MIN_LOAD_BALANCER_AZS = 2

#: Environment variables the service sets itself: the container port.
PLATFORM_ENVIRONMENT = ("PORT",)


def load_balancer_az_problem(az_count: int) -> str | None:
    """None when the service's load balancer can use public subnets of ``az_count`` AZs."""
    if az_count >= MIN_LOAD_BALANCER_AZS:
        return None
    return f"an application load balancer needs subnets in at least two AZs, not {az_count}"


def secret_name_problem(name: str, environment: Mapping[str, Any]) -> str | None:
    """None when ``name`` may be injected as a secret next to the plain ``environment``;
    else why not (a variable is set once: secrets, environment or the platform's)."""
    if not _ENV_NAME_RE.match(name):
        return f"{name!r} is not an environment variable name"
    if name in PLATFORM_ENVIRONMENT:
        return f"{name} is set by the platform (the container port); do not set it"
    if name in environment:
        return f"{name!r} is also set in environment"
    return None


def environment_name_problem(name: str) -> str | None:
    """None when ``name`` may be a plain (non-secret) environment variable; else why not."""
    if not _ENV_NAME_RE.match(name):
        return (
            f"{name!r} is not an environment variable name (letters, digits and '_', not "
            "starting with a digit)"
        )
    if name == "PORT":
        return "PORT is set from the container port; do not set it"
    if looks_like_secret(name):
        return (
            f"{name!r} looks like a secret; store the value in SSM Parameter Store or Secrets "
            "Manager and give its ARN under secrets instead of plain environment"
        )
    return None


def health_check_path_problem(path: str) -> str | None:
    """None when ``path`` is a health-check URL path; else why not."""
    if _HEALTH_PATH_RE.match(path):
        return None
    return f"{path!r} must be a URL path starting with '/' (no quotes, spaces or query string)"


def certificate_arn_problem(arn: str) -> str | None:
    """None when ``arn`` is an ACM certificate ARN; else why not."""
    if _CERTIFICATE_ARN_RE.match(arn):
        return None
    return (
        f"{arn!r} is not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)"
    )


def certificate_region(arn: str) -> str | None:
    """The region of an ACM certificate ARN (a load balancer needs one of its own region)."""
    return arn.split(":")[3] if _CERTIFICATE_ARN_RE.match(arn) else None


def bucket_name_problem(name: Any) -> str | None:
    """None when ``name`` is an S3 bucket name (or an Output, checked by AWS); else why not."""
    if not isinstance(name, str) or _BUCKET_NAME_RE.match(name):
        return None
    return f"{name!r} is not an S3 bucket name (3-63 lowercase letters, digits, '.' or '-')"
