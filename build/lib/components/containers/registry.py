"""The image registry: an ECR repository and the image pushed to it.

The repository has scan on push, immutable tags, KMS encryption and a lifecycle policy. The
image is either given as a URI or built from a Dockerfile with ``awsx.ecr.Image``, tagged with
the component's name and a digest of the build context and platform, so an immutable
repository gets a new tag exactly when the sources change, and two regions' builds never
share a tag (which awsx would turn into one duplicate resource). The batch jobs
(``components/jobs``) use the same helpers for their images.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_awsx as awsx

from components.kms import KeyInput, as_key

_IGNORED_BUILD_PARTS = ("__pycache__",)
_IGNORED_BUILD_SUFFIXES = (".pyc", ".pyo")


def _dockerignore_patterns(context: Path) -> list[str]:
    """Patterns of ``.dockerignore`` (comments, blanks and ``!`` exceptions left out)."""
    path = context / ".dockerignore"
    if not path.is_file():
        return []
    patterns = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")):
            patterns.append(line.strip("/"))
    return patterns


def build_context_digest(context: Path, dockerfile: Path | None = None) -> str:
    """SHA-256 over the build context's files (relative path and content, in path order) and
    the Dockerfile. Bytecode caches and ``.dockerignore`` matches (simple glob patterns) are
    left out, as Docker would not send them or they do not change the image."""
    digest = hashlib.sha256()
    ignored = _dockerignore_patterns(context)
    files = []
    for path in context.rglob("*"):
        rel = path.relative_to(context).as_posix()
        if not path.is_file() or any(
            p in _IGNORED_BUILD_PARTS for p in path.relative_to(context).parts
        ):
            continue
        if rel.endswith(_IGNORED_BUILD_SUFFIXES):
            continue
        if any(fnmatch.fnmatchcase(rel, p) or rel.startswith(f"{p}/") for p in ignored):
            continue
        files.append((rel, path))
    for rel, path in sorted(files):
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    if dockerfile is not None:
        digest.update(b"dockerfile\0" + dockerfile.read_bytes())
    return digest.hexdigest()


def built_image_tag(
    component: str, platform: str, context_digest: str, tag: str | None = None
) -> str:
    """The tag a built image is pushed with: ``<component>-<tag>``; by default
    ``<component>-ctx-`` and 16 hex digits of a digest of the build context and the platform.

    ``awsx.ecr.Image`` names the build resource it creates after the tag, and that name must
    be unique in the stack (two regions pushing the same tag would register the same URN
    twice), so the tag starts with the component's name. The platform is part of the default
    digest because the repository's tags are immutable: an image built for another CPU
    architecture from the same sources needs a tag of its own.
    """
    if tag is None:
        tag = "ctx-" + hashlib.sha256(f"{context_digest}\0{platform}".encode()).hexdigest()[:16]
    return f"{component}-{tag}"


# Documents -----------------------------------------------------------------------------------


def ecr_lifecycle_policy(untagged_expiry_days: int, keep_tagged_images: int) -> dict[str, Any]:
    """Expire untagged images after ``untagged_expiry_days``; keep the newest
    ``keep_tagged_images`` tagged images."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Expire untagged images after {untagged_expiry_days} days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": untagged_expiry_days,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"Keep the last {keep_tagged_images} tagged images",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": keep_tagged_images,
                },
                "action": {"type": "expire"},
            },
        ]
    }


# Repository and image ------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageBuild:
    """An image to build with its Dockerfile and push (see :func:`ecr_image`)."""

    context: str
    """The build context as ``awsx.ecr.Image`` gets it (relative to the program's working
    directory, the project root under ``pulumi up``)."""
    context_path: Path
    """The same directory as this process finds it (to compute the image tag)."""
    platform: str
    """The Docker platform (``linux/amd64``, ``linux/arm64``; see :data:`DOCKER_PLATFORMS`)."""
    dockerfile: str | None = None
    """Default: ``Dockerfile`` in the context. Otherwise its path, relative like ``context``."""
    dockerfile_path: Path | None = None
    """Default: none (the context's Dockerfile is part of the context digest). The
    Dockerfile as this process finds it, when ``dockerfile`` is given."""
    image_tag: str | None = None
    """Default: a digest of the context and the platform (see :func:`built_image_tag`)."""


@dataclass(frozen=True)
class RepositoryAndImage:
    """What :func:`ecr_repository_and_image` created."""

    repository: aws.ecr.Repository
    lifecycle_policy: aws.ecr.LifecyclePolicy
    image: awsx.ecr.Image | None = None
    """The built image; none when nothing was built."""
    image_tag: str | None = None
    """The tag the built image is pushed with; none when nothing was built."""
    image_uri: pulumi.Output[str] | None = None
    """The built image's URI (with its digest); none when nothing was built."""


def create_ecr_repository(
    name: str,
    *,
    parent: pulumi.Resource,
    key: KeyInput,
    force_delete: bool,
    protect: bool,
    tags: Mapping[str, str],
    untagged_image_expiry_days: int = 7,
    keep_tagged_images: int = 20,
) -> tuple[aws.ecr.Repository, aws.ecr.LifecyclePolicy]:
    """An ECR repository ``<name>-repo`` (immutable tags, scan on push, encrypted with
    ``key``) and its lifecycle policy ``<name>-repo-lifecycle``, both children of ``parent``.

    ``key`` is the region key or the ARN of an existing KMS key (its key policy must let ECR
    use it through this account); anything else is a ``ValueError`` naming ``key``, raised
    before anything is registered. ``force_delete`` lets the repository be deleted with its
    images (ephemeral stacks); ``protect`` protects it and retains it on delete (production).
    """
    resolved = as_key(key, "key")
    repository = aws.ecr.Repository(
        f"{name}-repo",
        image_tag_mutability="IMMUTABLE",
        image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
            scan_on_push=True
        ),
        encryption_configurations=[
            aws.ecr.RepositoryEncryptionConfigurationArgs(
                encryption_type="KMS", kms_key=resolved.arn
            )
        ],
        force_delete=force_delete,
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent, protect=protect, retain_on_delete=protect),
    )
    lifecycle_policy = aws.ecr.LifecyclePolicy(
        f"{name}-repo-lifecycle",
        repository=repository.name,
        policy=pulumi.Output.json_dumps(
            ecr_lifecycle_policy(untagged_image_expiry_days, keep_tagged_images)
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return repository, lifecycle_policy


def ecr_image(
    name: str,
    build: ImageBuild,
    *,
    parent: pulumi.Resource,
    repository: aws.ecr.Repository,
    lifecycle_policy: aws.ecr.LifecyclePolicy,
) -> tuple[awsx.ecr.Image, str]:
    """Build ``build`` and push it to ``repository`` with ``awsx.ecr.Image`` (``<name>-image``,
    a child of ``parent``); returns the image and its tag ``<name>-<tag>`` (see
    :func:`built_image_tag`: ``name`` must be unique in the stack). Offline, nothing is built.
    """
    tag = built_image_tag(
        name,
        build.platform,
        build_context_digest(build.context_path, build.dockerfile_path),
        build.image_tag,
    )
    image = awsx.ecr.Image(
        f"{name}-image",
        repository_url=repository.repository_url,
        context=build.context,
        dockerfile=build.dockerfile,
        platform=build.platform,
        image_tag=tag,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[lifecycle_policy]),
    )
    return image, tag


def ecr_repository_and_image(
    name: str,
    *,
    parent: pulumi.Resource,
    key: KeyInput,
    force_delete: bool,
    protect: bool,
    tags: Mapping[str, str],
    untagged_image_expiry_days: int = 7,
    keep_tagged_images: int = 20,
    build: ImageBuild | None = None,
) -> RepositoryAndImage:
    """:func:`create_ecr_repository` and, when ``build`` is given, :func:`ecr_image` into it, all
    children of ``parent`` named after ``name``. ``key``: the region key or an existing KMS
    key's ARN, as for :func:`create_ecr_repository`."""
    repository, lifecycle_policy = create_ecr_repository(
        name,
        parent=parent,
        key=key,
        force_delete=force_delete,
        protect=protect,
        tags=tags,
        untagged_image_expiry_days=untagged_image_expiry_days,
        keep_tagged_images=keep_tagged_images,
    )
    if build is None:
        return RepositoryAndImage(repository, lifecycle_policy)
    image, tag = ecr_image(
        name, build, parent=parent, repository=repository, lifecycle_policy=lifecycle_policy
    )
    return RepositoryAndImage(repository, lifecycle_policy, image, tag, image.image_uri)
