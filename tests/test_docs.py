"""The project's documents refer only to files inside the repository, and the API reference
builds from the docstrings with the documented command."""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path

import pytest
from pdoc.__main__ import cli as pdoc_cli

from stacks.offline import PROJECT_DIR

DOCUMENTS = [
    PROJECT_DIR / "README.md",
    PROJECT_DIR / "docs" / "design.md",
    PROJECT_DIR / "tests" / "golden" / "README.md",
    *sorted((PROJECT_DIR / "deploy").rglob("*.md")),
]


def _code_paths(text: str) -> set[str]:
    """Repository paths a document names in backticks (`components/network.py`, `docs/`)."""
    found = set()
    for span in re.findall(r"`([^`\s]+)`", text):
        if re.fullmatch(
            r"(components|stacks|policies|services|examples|tests|docs|deploy|\.github|\.ci)/[\w./-]*",
            span,
        ):
            found.add(span.rstrip("."))
    return found


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(PROJECT_DIR)))
def test_documents_name_only_files_that_exist_in_the_repository(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    assert "../shared" not in text and "DESIGN.md" not in text
    for link in re.findall(r"\]\(([^)#\s]+)", text):
        if not re.match(r"[a-z]+://", link):
            assert (document.parent / link).exists(), f"{document.name}: broken link {link}"
    missing = sorted(
        p
        for p in _code_paths(text)
        if "*" not in p and "<" not in p and not (PROJECT_DIR / p).exists()
    )
    assert not missing, f"{document.name} names files that do not exist: {missing}"


def test_code_comments_point_at_the_repositorys_design_document() -> None:
    offenders = [
        str(path.relative_to(PROJECT_DIR))
        for top in ("components", "stacks", "policies", "services")
        for path in (PROJECT_DIR / top).rglob("*.py")
        if "DESIGN.md" in path.read_text(encoding="utf-8")
        or "DESIGN decision" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_the_api_reference_builds_with_the_documented_command(tmp_path: Path) -> None:
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    command = ".venv/bin/python -m pdoc components stacks.offline policies -o build/api"
    assert command in readme
    # pdoc's own command line (what `python -m pdoc` runs), in this process: the worker has
    # already imported the SDK the documented packages import (a process of its own spent
    # ~3 s of its ~9 s importing them again).
    assert command.split()[1:3] == ["-m", "pdoc"]
    args = command.split()[3:-1] + [str(tmp_path)]
    # pdoc prints warnings about Pulumi's own annotations, through a ``warnings.showwarning``
    # of its own: both are put back afterwards.
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        pdoc_cli(args)
    pages = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.html")}
    # A package's page shows the API its __init__ names (its __all__).
    for page in (
        "components/network.html",
        "components/kms.html",
        "components/compute.html",
        "components/jobs.html",
        "components/containers.html",
        "stacks/offline.html",
        "policies.html",
    ):
        assert page in pages
    offline = (tmp_path / "stacks" / "offline.html").read_text(encoding="utf-8")
    assert "render_components" in offline and "render_project" in offline
