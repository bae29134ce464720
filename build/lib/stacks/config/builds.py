"""Images built from a Dockerfile in this repository (``mlops:containers.build``,
``mlops:jobs.jobs[i].build``): paths inside the project, and a context and Dockerfile that
exist."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import Field, field_validator

from stacks.config.base import NAMESPACE, ConfigModel

#: The project root (this checkout): ``mlops:containers.build`` paths are relative to it, and
#: it is the working directory of ``pulumi up``, where the image is built.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class ContainerBuildConfig(ConfigModel):
    """Build the web service's image from a Dockerfile in this repository."""

    context: str = Field(
        default="services/forecast",
        description="Build context directory, relative to the project root.",
    )
    dockerfile: str | None = Field(
        default=None,
        description="Dockerfile, relative to the project root. Default: <context>/Dockerfile.",
    )

    @field_validator("context", "dockerfile")
    @classmethod
    def _inside_project(cls, value: str | None) -> str | None:
        if value is None:
            return value
        path = PurePosixPath(value)
        if not value or path.is_absolute() or ".." in path.parts or "\\" in value:
            raise ValueError(
                f"{value!r} must be a path inside the project, relative to its root and "
                "written with '/' (like services/forecast)"
            )
        return value


def build_path_problems(
    build: Any,
    key: str = f"{NAMESPACE}:containers.build",
    default_context: str | None = ContainerBuildConfig.model_fields["context"].default,
) -> list[str]:
    """The image build's context directory and Dockerfile (at ``key``) must exist in the
    project; a missing context means ``default_context`` (None: reported as missing)."""
    if build is None:
        build = {}
    if not isinstance(build, dict):
        return []
    context = build.get("context", default_context)
    if (
        not isinstance(context, str)
        or ".." in PurePosixPath(context).parts
        or context.startswith("/")
    ):
        return []  # reported by the field validator
    if not (PROJECT_ROOT / context).is_dir():
        return [f"{key}.context: {context!r} is not a directory of the project"]
    dockerfile = build.get("dockerfile")
    if dockerfile is None:
        if not (PROJECT_ROOT / context / "Dockerfile").is_file():
            return [
                f"{key}.context: {context!r} has no Dockerfile; add one or set {key}.dockerfile"
            ]
    elif isinstance(dockerfile, str) and ".." not in PurePosixPath(dockerfile).parts:
        if not (PROJECT_ROOT / dockerfile).is_file():
            return [f"{key}.dockerfile: {dockerfile!r} is not a file of the project"]
    return []
