"""Checks every component's constructor shares: collect problems, report them together."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T", bound=Hashable)


def duplicates(values: Iterable[T]) -> list[T]:
    """The values that appear more than once, each once, sorted."""
    seen: set[T] = set()
    repeated: set[T] = set()
    for value in values:
        (repeated if value in seen else seen).add(value)
    return sorted(repeated)  # type: ignore[type-var]


def raise_problems(subject: str, problems: Sequence[str]) -> None:
    """Raise one ValueError naming ``subject`` and listing every problem, if there are any."""
    if problems:
        raise ValueError(f"{subject}: " + "; ".join(problems))


def present(*problems: str | None) -> list[str]:
    """The problems that are there: single checks return a message or None."""
    return [p for p in problems if p]
