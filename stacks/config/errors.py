"""Reporting configuration problems: the errors, and every problem named by its key exactly as
written in the stack file (``mlops:regions[1].cidr``), with what was wrong and, for a typo,
the key that was probably meant ("did you mean").

Problems come from three places and all end up here in the same form: pydantic's errors
(:func:`describe`), the config's cross-key checks, and the components' own problem functions,
whose argument names are turned into the keys as written (:func:`as_written`).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, get_origin

from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from stacks.config.base import NAMESPACE


class ConfigError(Exception):
    """Raised with every problem found in a stack's configuration."""

    def __init__(self, problems: list[str], source: str = "") -> None:
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        lines = [f"Invalid configuration{where} ({len(problems)} problem(s)):"]
        lines += [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


class StackFileError(Exception):
    """The stack file is missing, unreadable or not a Pulumi stack file."""


def did_you_mean(value: str, choices: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` naming the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(value, choices, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def namespace_problems(
    keys: Iterable[str], known: Sequence[str], project: str | None = None
) -> list[str]:
    """A problem for each key whose namespace (before the first ``:``) is not in ``known``.

    Such a key is a typo (``mlop:tags``): nothing reads it. The Pulumi CLI gives a key written
    without a namespace the project's name (https://www.pulumi.com/docs/iac/concepts/config/,
    "Configuration Keys"; pulumi/pulumi sdk/go/common/workspace/loaders.go
    ``stackConfigNamespacedWithProject``), so a key in ``project``'s namespace is explained as
    that. Each problem names the key and, where one is close, the key probably meant.
    """
    problems = []
    for key in keys:
        namespace, _, name = key.partition(":")
        if namespace in known:
            continue
        if project is not None and namespace == project:
            problems.append(
                f"{key}: {namespace!r} is the project's name, the namespace the Pulumi CLI gives "
                f"a key written without one; this program reads {NAMESPACE}: keys; did you "
                f"mean {NAMESPACE}:{name}?"
            )
            continue
        close = difflib.get_close_matches(namespace, known, n=1)
        hint = f"; did you mean {close[0]}:{name}?" if close else ""
        problems.append(f"{key}: unknown namespace {namespace!r} (known: {', '.join(known)}){hint}")
    return problems


_SNAKE_RE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


def as_written(problems: Iterable[str], fields: Iterable[str]) -> list[str]:
    """A component's problems with its argument names (``stop_cron``) replaced by the keys as
    written in the stack file (``stopCron``), wherever they appear.

    The component is asked to prefix its problems with the config key that holds its
    arguments (e.g. ``PoolSchedule.problems("mlops:compute.pools[0].schedule")``); only the
    names listed in ``fields`` are renamed, so other words stay as the component wrote them.
    """
    names = {name: to_camel(name) for name in fields}

    def rename(match: re.Match[str]) -> str:
        return names.get(match.group(0), match.group(0))

    return [_SNAKE_RE.sub(rename, problem) for problem in problems]


# pydantic's errors -----------------------------------------------------------------------


def key_of(loc: tuple[Any, ...]) -> str:
    """The key as written for a pydantic error location: ``mlops:regions[1].cidr``."""
    key = f"{NAMESPACE}:"
    for i, part in enumerate(loc):
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += ("" if i == 0 else ".") + str(part)
    return key


def known_keys(model: type[BaseModel]) -> list[str]:
    """The keys a model accepts, as written."""
    return [f.alias or name for name, f in model.model_fields.items()]


def _models_in(ann: Any) -> list[type[BaseModel]]:
    """Models in a type annotation, nested ones included (tuple items, mapping values)."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    return [m for arg in getattr(ann, "__args__", ()) for m in _models_in(arg)]


def model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model that owns the last key of ``loc``, to suggest a correction for a typo."""
    model: Any = root
    mapping_key = False  # the next part is a key of a mapping field (e.g. a zone name)
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if mapping_key:
            mapping_key = False
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return None
        ann = field.annotation
        mapping_key = get_origin(ann) is dict
        found = _models_in(ann)
        model = found[0] if found else None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unknown_key(loc: tuple[Any, ...], root: type[BaseModel]) -> str:
    """An unknown key, with the known key it is closest to (or every known key there)."""
    model = model_at(root, loc)
    hint = ""
    if model is not None:
        close = difflib.get_close_matches(str(loc[-1]), known_keys(model), n=1)
        if close:
            hint = f"; did you mean {key_of(loc[:-1] + (close[0],))}?"
        else:
            hint = f"; known keys here: {', '.join(known_keys(model))}"
    return f"{key_of(loc)}: unknown key{hint}"


def describe(error: Mapping[str, Any], root: type[BaseModel]) -> str:
    """One pydantic error as a problem: the key as written, then what is wrong.

    ``root`` is the model of the whole namespace (to find the model of an unknown key).
    """
    loc = tuple(error["loc"])
    key = key_of(loc)
    kind = error["type"]
    if kind == "missing":
        return f"{key}: required key is missing"
    if kind == "extra_forbidden":
        return _unknown_key(loc, root)
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    value = error.get("input")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{key}: {message} (got {json.dumps(value, default=str)})"
    return f"{key}: {message}"
